"""Teacher generation, and the model-server machinery other stages reuse.

``harmony`` (gpt-oss format), ``client`` (async OpenAI-compatible client), ``jobs`` (exactly-once job runner),
``transports`` + ``solve`` (the TIR loop), ``scripted`` + ``server`` (offline backends over HTTP), ``engine``
(starting a real engine, vLLM/SGLang/transformers serve, for a run, and each server's request fields), ``stage``
(``nemo-math generate``). Nothing heavy is imported here.
"""
