"""Torch's CPU threads, for the stages that run a model on a CPU (training ranks, the hf serving backend).

OpenMP threads spin-wait for each other, so on a machine that other work shares (a laptop, a CI runner) they
stall: a tiny training step took 3.9 s with torch's default two threads and 0.19 s with one on 2 shared cores,
and the tiny student decoded 9-54 tokens/s with two and 323-591 with one. ``train.cpu_threads`` and
``local_server.cpu_threads`` choose the count; the tiny preset sets one.
"""

from __future__ import annotations

import torch


def set_cpu_threads(threads: int) -> None:
    """``threads`` torch threads for this process on a CPU (0 leaves torch's default); GPU runs are left alone."""
    if threads > 0 and not torch.cuda.is_available():
        torch.set_num_threads(threads)
