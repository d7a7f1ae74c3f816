"""Helpers of the training tests: packed buckets of learnable synthetic documents, and a torchrun runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nemo_math.packing.format import PackedWriter

REPO = Path(__file__).resolve().parents[2]
VOCAB = 256


def write_bucket(path: Path, seq_len: int, rows: int, multiple: int = 2, seed: int = 0) -> Path:
    """Rows of 1-3 documents; a document is a prompt (not trained) then a run ``t, t+s, t+2s ...`` (mod VOCAB)
    whose stride ``s`` in {1, 2, 3} the model can read off the prompt, so the loss keeps falling."""
    rng = np.random.default_rng(seed)
    writer = PackedWriter(path, seq_len=seq_len, pad_token_id=0, multiple=multiple)
    for _ in range(rows):
        docs, budget = [], seq_len
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(8, max(9, budget // 2)))
            if n > budget or n < 8:
                break
            stride, start = int(rng.integers(1, 4)), int(rng.integers(1, VOCAB))
            ids = (start + stride * np.arange(n)) % VOCAB
            mask = np.ones(n, dtype=np.uint8)
            mask[:3] = 0  # the prompt
            docs.append((ids, mask))
            budget -= n
        writer.add_row(docs)
    writer.close(source="tests")
    return path


def run_torchrun(nproc: int, args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node N`` (gloo on CPU), failing the test with its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc
