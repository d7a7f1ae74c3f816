"""From sample lengths to packed rows per bucket: bucket assignment, mode balance, backfill, bin packing.

Works on lengths and modes only (numpy), so the benchmark and the planner run it on millions of synthetic lengths
and the pack stage runs it before it reads a single token back from disk. Rows are kept in CSR form (sample
indices row after row, plus row offsets) because a million small Python lists cost more than the packing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nemo_math.packing.balance import rebalance
from nemo_math.packing.binpack import (
    ALGORITHMS,
    UNPLACED,
    best_fit_decreasing,
    group_by_bin,
)


@dataclass
class BucketPlan:
    """The packed rows of one bucket: row ``r`` holds samples ``samples[offsets[r]:offsets[r + 1]]`` (a sample
    may repeat when its mode was upsampled)."""

    seq_len: int
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    num_assigned: int = 0                # samples whose length falls in this bucket
    mix_before: dict[str, int] = field(default_factory=dict)
    mix_after: dict[str, int] = field(default_factory=dict)  # of the samples packed here, backfill included
    num_backfilled: int = 0              # samples from shorter buckets packed into this bucket's rows
    num_tokens: int = 0

    @property
    def num_rows(self) -> int:
        return len(self.offsets) - 1

    def row(self, r: int) -> np.ndarray:
        return self.samples[self.offsets[r]:self.offsets[r + 1]]

    @property
    def rows(self) -> list[np.ndarray]:
        return [self.row(r) for r in range(self.num_rows)]

    @property
    def fill_rate(self) -> float:
        return self.num_tokens / (self.num_rows * self.seq_len) if self.num_rows else 0.0

    def summary(self) -> dict:
        return {"seq_len": self.seq_len, "num_sequences": self.num_rows, "num_assigned": self.num_assigned,
                "num_packed": len(self.samples), "num_backfilled": self.num_backfilled,
                "num_tokens": self.num_tokens, "fill_rate": round(self.fill_rate, 6),
                "mix_before": self.mix_before, "mix_after": self.mix_after}


def assign_buckets(lengths: np.ndarray, buckets: Sequence[int]) -> np.ndarray:
    """Index of the smallest bucket holding each sample, ``-1`` for samples longer than the largest."""
    edges = np.asarray(sorted(buckets), dtype=np.int64)
    which = np.searchsorted(edges, np.asarray(lengths, dtype=np.int64), side="left")
    return np.where(which < len(edges), which, -1)


def plan_buckets(lengths: np.ndarray, modes: np.ndarray, buckets: Sequence[int], *, algo: str = "bfd",
                 balance: Sequence[int] = (), mode_shares: Mapping[str, float] | None = None,
                 balance_method: str = "resample", backfill: bool = False,
                 backfill_prefer: Sequence[str] = ("low", "medium"), seed: int = 0) -> tuple[list[BucketPlan], int]:
    """Plan every bucket's rows. Returns the plans (buckets ascending) and the number of dropped samples.

    ``balance`` lists the bucket lengths whose mode mix is resampled to ``mode_shares``. With ``backfill``,
    the free room of each longer bucket's rows (longest first) is filled by best fit with samples of the shorter
    buckets, ``backfill_prefer`` modes first; what is left of each bucket is then packed on its own.
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown packing algorithm {algo!r} (known: {', '.join(ALGORITHMS)})")
    lengths = np.asarray(lengths, dtype=np.int64)
    names, codes = np.unique(np.asarray(modes).astype(str), return_inverse=True)
    mode_names = names[codes]

    def mix(idx: np.ndarray) -> dict[str, int]:
        counts = np.bincount(codes[idx], minlength=len(names))
        return {str(n): int(c) for n, c in zip(names, counts) if c}

    buckets = sorted(int(b) for b in buckets)
    rng = np.random.default_rng(seed)
    which = assign_buckets(lengths, buckets)
    plans, pools = [], []
    for k, seq_len in enumerate(buckets):
        members = np.flatnonzero(which == k)
        plans.append(BucketPlan(seq_len, num_assigned=len(members), mix_before=mix(members)))
        if seq_len in balance and len(members):
            members = rebalance(members, mode_names, mode_shares or {}, balance_method, rng)
        pools.append(members)

    preferred = np.isin(names, list(backfill_prefer))[codes]
    for k in range(len(buckets) - 1, -1, -1):
        plan, members = plans[k], pools[k]
        bin_of = ALGORITHMS[algo](lengths[members], plan.seq_len)
        plan.samples, plan.offsets = _csr(members, bin_of)
        if backfill and k > 0 and plan.num_rows:
            _backfill(plan, lengths, preferred, pools, k)
        plan.mix_after = mix(plan.samples)
        plan.num_tokens = int(lengths[plan.samples].sum())
    return plans, int((which < 0).sum())


def _csr(samples: np.ndarray, bin_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index, offsets = group_by_bin(bin_of)
    return samples[index], offsets


def _backfill(plan: BucketPlan, lengths: np.ndarray, preferred: np.ndarray, pools: list[np.ndarray],
              k: int) -> None:
    """Fill the free room of ``plan``'s rows from ``pools[:k]`` (removing what is taken), preferred first."""
    rows = np.repeat(np.arange(plan.num_rows), np.diff(plan.offsets))
    samples = plan.samples
    for want_preferred in (True, False):
        used = np.bincount(rows, weights=lengths[samples], minlength=plan.num_rows).astype(np.int64)
        free = plan.seq_len - used
        donors = np.concatenate(pools[:k])
        donors = donors[(preferred[donors] == want_preferred) & (lengths[donors] <= free.max())]
        if not len(donors):
            continue
        bin_of = best_fit_decreasing(lengths[donors], plan.seq_len, free=free.tolist(),
                                     open_new=False)
        taken = bin_of != UNPLACED
        rows = np.concatenate([rows, bin_of[taken]])
        samples = np.concatenate([samples, donors[taken]])
        plan.num_backfilled += int(taken.sum())
        for j in range(k):
            pools[j] = _remove_once(pools[j], donors[taken])
    plan.samples, plan.offsets = _csr(samples, rows)


def _remove_once(pool: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """``pool`` minus the multiset ``gone``: each taken index removes one occurrence (upsampled copies stay)."""
    if not len(gone) or not len(pool):
        return pool
    order = np.argsort(pool, kind="stable")
    sorted_pool = pool[order]
    rank = np.arange(len(pool)) - np.searchsorted(sorted_pool, sorted_pool, side="left")
    values, counts = np.unique(gone, return_counts=True)
    pos = np.minimum(np.searchsorted(values, sorted_pool), len(values) - 1)
    limit = np.where(values[pos] == sorted_pool, counts[pos], 0)
    drop = np.zeros(len(pool), dtype=bool)
    drop[order] = rank < limit
    return pool[~drop]
