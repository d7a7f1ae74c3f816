"""Bucket assignment, mode balance and backfill on lengths alone."""

from __future__ import annotations

from collections import Counter

import numpy as np

from nemo_math.packing.balance import mode_mix, rebalance
from nemo_math.packing.buckets import assign_buckets, plan_buckets

BUCKETS = [512, 1024, 2048]


def test_smallest_bucket_that_holds_the_sample():
    which = assign_buckets(np.array([1, 512, 513, 1024, 1025, 2048, 2049]), BUCKETS)
    assert which.tolist() == [0, 0, 1, 1, 2, 2, -1]


def synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(300), 0.9, n).round(), 10, 2600).astype(np.int64)
    # long samples are mostly high mode, as in the teacher's traces
    modes = np.where(rng.random(n) < lengths / 2600, "high", rng.choice(["low", "medium"], n)).astype(object)
    return lengths, modes


def test_plan_packs_every_sample_once_and_drops_the_too_long():
    lengths, modes = synthetic()
    plans, dropped = plan_buckets(lengths, modes, BUCKETS, balance=[])
    assert dropped == int((lengths > 2048).sum()) > 0
    packed = [i for p in plans for row in p.rows for i in row]
    assert sorted(packed) == np.flatnonzero(lengths <= 2048).tolist()
    for p in plans:
        assert all(lengths[row].sum() <= p.seq_len for row in p.rows)
        assert p.mix_before == p.mix_after
    assert plans[0].fill_rate > 0.95  # many short samples: near-full rows


def test_rebalance_gives_each_mode_its_share():
    modes = np.array(["high"] * 60 + ["medium"] * 30 + ["low"] * 10 + ["unknown"] * 5, dtype=object)
    rng = np.random.default_rng(0)
    shares = {"high": 1, "medium": 1, "low": 1}
    out = rebalance(np.arange(105), modes, shares, "resample", rng)
    assert Counter(modes[out].tolist()) == {"high": 33, "medium": 33, "low": 33, "unknown": 5}
    assert len(set(out[modes[out] == "high"].tolist())) == 33          # subsampled without repeats
    assert set(out[modes[out] == "low"].tolist()) == set(range(90, 100))  # every low kept, then repeated
    down = rebalance(np.arange(105), modes, shares, "down", rng)
    assert Counter(modes[down].tolist()) == {"high": 10, "medium": 10, "low": 10, "unknown": 5}
    up = rebalance(np.arange(105), modes, {"high": 2, "medium": 1, "low": 1}, "up", rng)
    assert Counter(modes[up].tolist()) == {"high": 60, "medium": 30, "low": 30, "unknown": 5}


def test_longest_bucket_is_balanced_and_reported():
    lengths, modes = synthetic()
    plans, _ = plan_buckets(lengths, modes, BUCKETS, balance=[2048], mode_shares={"high": 1, "medium": 1, "low": 1})
    longest = plans[-1]
    assert longest.mix_before["high"] > longest.mix_before.get("low", 0) + longest.mix_before.get("medium", 0)
    after = longest.mix_after
    assert max(after.values()) - min(after.values()) <= 1
    assert sum(after.values()) == sum(longest.mix_before.values())
    assert plans[0].mix_after == plans[0].mix_before  # other buckets untouched


def test_backfill_fills_long_rows_with_short_samples():
    lengths, modes = synthetic(seed=1)
    plain, _ = plan_buckets(lengths, modes, BUCKETS, balance=[])
    filled, _ = plan_buckets(lengths, modes, BUCKETS, balance=[], backfill=True)
    assert sorted(i for p in filled for r in p.rows for i in r) == sorted(i for p in plain for r in p.rows for i in r)
    for p in filled:
        assert all(lengths[row].sum() <= p.seq_len for row in p.rows)
    rows = lambda plans: sum(p.num_rows for p in plans)
    capacity = lambda plans: sum(p.num_rows * p.seq_len for p in plans)
    assert rows(filled) < rows(plain) and capacity(filled) < capacity(plain)
    assert filled[-1].num_rows == plain[-1].num_rows  # the longest bucket keeps its rows, fuller
    assert filled[-1].fill_rate > plain[-1].fill_rate and filled[-1].num_backfilled > 0
    # low and medium go first: the backfilled samples of the longest bucket are mostly not high mode
    donated = Counter(modes[[i for r in filled[-1].rows for i in r if lengths[i] <= 1024]].tolist())
    assert donated["high"] < donated["low"] + donated["medium"]


def test_mode_mix_counts():
    assert mode_mix(np.array(["low", "high", "low"], dtype=object)) == {"high": 1, "low": 2}
