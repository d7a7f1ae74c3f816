"""Batches of packed rows for one data-parallel rank: a deterministic order, resumable at any step.

The order of packed rows is a fixed function of (seed, epoch), and global batch ``k`` is the ``k``-th slice of
that order, so resuming at step ``k`` (or re-running a stage at another layout) sees exactly the same data
without saving loader state. A micro-batch concatenates ``micro_batch_size`` rows into one THD sequence with
merged ``cu_seqlens`` (attention stays inside each document). Under context parallelism each document is padded
to a multiple of ``2*CP`` (``cu_seqlens_padded``), as per-document zigzag splitting requires.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nemo_math.packing.format import IGNORE_INDEX, PackedDataset


@dataclass
class MicroBatch:
    """One THD micro-batch (numpy, ``[total_tokens]``); ``cu_seqlens_padded`` is set only under CP."""

    input_ids: np.ndarray
    labels: np.ndarray
    loss_mask: np.ndarray
    position_ids: np.ndarray
    cu_seqlens: np.ndarray
    cu_seqlens_padded: np.ndarray | None = None

    @property
    def max_seqlen(self) -> int:
        cu = self.cu_seqlens if self.cu_seqlens_padded is None else self.cu_seqlens_padded
        return int(np.diff(cu).max())


def concat_rows(rows: list[dict[str, np.ndarray]], doc_multiple: int = 1) -> MicroBatch:
    """Join packed rows into one THD sequence; pad every document to ``doc_multiple`` when it is > 1."""
    pieces: dict[str, list[np.ndarray]] = {k: [] for k in ("input_ids", "labels", "loss_mask", "position_ids")}
    real, padded = [0], [0]
    for row in rows:
        cu = row["cu_seqlens"]
        for lo, hi in zip(cu[:-1], cu[1:]):
            n = int(hi - lo)
            pad = (-n) % doc_multiple
            for key, fill in (("input_ids", 0), ("labels", IGNORE_INDEX), ("loss_mask", 0), ("position_ids", 0)):
                part = row[key][lo:hi]
                pieces[key].append(part)
                if pad:
                    tail = np.arange(n, n + pad) if key == "position_ids" else np.full(pad, fill, dtype=part.dtype)
                    pieces[key].append(tail.astype(part.dtype))
            real.append(real[-1] + n)
            padded.append(padded[-1] + n + pad)
    arrays = {k: np.concatenate(v) for k, v in pieces.items()}
    if doc_multiple > 1:
        return MicroBatch(**arrays, cu_seqlens=np.asarray(real, dtype=np.int32),
                          cu_seqlens_padded=np.asarray(padded, dtype=np.int32))
    return MicroBatch(**arrays, cu_seqlens=np.asarray(padded, dtype=np.int32))


class StageData:
    """Global batches of ``global_batch_size`` rows from one bucket; this rank's share as micro-batches.

    Rows form an endless stream of per-epoch shuffles; global batch ``k`` is stream positions
    ``[k*G, (k+1)*G)``, so a bucket smaller than one global batch still trains and no row is dropped."""

    def __init__(self, bucket: str | os.PathLike, global_batch_size: int, micro_batch_size: int = 1,
                 dp_rank: int = 0, dp_size: int = 1, seed: int = 0, doc_multiple: int = 1,
                 vocab_size: int | None = None):
        self.dataset = PackedDataset(Path(bucket))
        self.vocab_size = vocab_size
        if len(self.dataset) == 0:
            raise ValueError(f"{bucket}: the bucket has no packed rows")
        if global_batch_size % (micro_batch_size * dp_size):
            raise ValueError(f"global_batch_size {global_batch_size} is not a multiple of micro_batch_size x DP "
                             f"= {micro_batch_size} x {dp_size}")
        self.global_batch_size = global_batch_size
        self.micro_batch_size = micro_batch_size
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.seed = seed
        self.doc_multiple = doc_multiple
        self._orders: dict[int, np.ndarray] = {}

    def steps(self, epochs: float) -> int:
        """Optimizer steps that cover ``epochs`` passes over the bucket (at least one)."""
        return max(1, math.ceil(len(self.dataset) * epochs / self.global_batch_size))

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))}
        return self._orders[epoch]

    def global_batch(self, step: int) -> np.ndarray:
        """Row indices of global batch ``step`` (a new shuffle every epoch)."""
        n = len(self.dataset)
        positions = range(step * self.global_batch_size, (step + 1) * self.global_batch_size)
        return np.asarray([self._order(p // n)[p % n] for p in positions])

    def micro_batches(self, step: int) -> list[MicroBatch]:
        """This rank's micro-batches of global batch ``step``."""
        rows = self.global_batch(step)[self.dp_rank::self.dp_size]
        if self.vocab_size is not None:
            for i in rows:
                top = int(self.dataset[int(i)]["input_ids"].max())
                if top >= self.vocab_size:
                    raise ValueError(f"{self.dataset.path}: row {int(i)} has token id {top} but the model's "
                                     f"vocab_size is {self.vocab_size}: set train.model_overrides.vocab_size to "
                                     f"the tokenizer's size (padded to a multiple of 128)")
        mbs = self.micro_batch_size
        return [concat_rows([self.dataset[int(i)] for i in rows[j:j + mbs]], self.doc_multiple)
                for j in range(0, len(rows), mbs)]
