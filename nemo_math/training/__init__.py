"""Bucketed SFT on Megatron-Core (``nemo-math train``).

``models`` (Qwen3 providers), ``parallel`` (layouts and their rules), ``data`` (THD micro-batches from packed
buckets), ``loop`` (one stage), ``checkpoint`` (dist checkpoints, resharding), ``schedule``/``stage``/``launch``
(stages in order, torchrun), ``report`` (final summary), ``cpu`` (the CPU shims; never imported on GPU).
Nothing here is imported at package import time, so configs load without torch.
"""
