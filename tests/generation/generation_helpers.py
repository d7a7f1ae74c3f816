"""Helpers of the generation tests: real OpenAI-compatible servers on 127.0.0.1 in their own processes."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
import sys


@contextlib.contextmanager
def server_process(*args: str):
    """``python -m nemo_math.generation.server ARGS`` on a free port; yields its ``/v1`` URL."""
    proc = subprocess.Popen([sys.executable, "-m", "nemo_math.generation.server", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "serving <url>" once listening, "" if it died
        if not line.startswith("serving "):
            raise RuntimeError(f"server did not start: {line}{proc.stderr.read()[-2000:]}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(10)


TINY_TOKENIZER = Path(__file__).resolve().parents[2] / "nemo_math" / "data" / "tokenizers" / "tiny"


def build_chain_model(out: Path, prompt_end: str, text: str, *, head_dim: int = 32) -> list[int]:
    """A real tiny Qwen3 HF folder (package's tiny tokenizer) that, greedily, always answers ``text`` after a
    prompt ending in ``prompt_end``: attention and MLP outputs are zeroed, so the last hidden state is the
    current token's embedding, and the embeddings and the LM head spell a successor table (token k -> token
    k+1). Deterministic in any engine, so tests can assert exact text. Tokens of the chain must be distinct
    and fewer than the hidden size. Returns the chain's token ids."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(TINY_TOKENIZER)
    chain = tok(prompt_end, add_special_tokens=False).input_ids[-1:] + tok(text, add_special_tokens=False).input_ids
    hidden = 2 * head_dim
    if len(set(chain)) != len(chain) or len(chain) > hidden:
        raise ValueError(f"chain tokens must be distinct and at most {hidden}: {chain}")
    config = transformers.Qwen3Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                      head_dim=head_dim, max_position_embeddings=4096, tie_word_embeddings=False,
                                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = transformers.Qwen3ForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        for k, token in enumerate(chain):
            embed[token, k] = 1.0
            if k + 1 < len(chain):
                head[chain[k + 1], k] = 10.0
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return chain
