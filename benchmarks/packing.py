"""Packing benchmark: a million log-normal sample lengths into the default buckets.

Prints, per bucket and algorithm, bins used against the lower bound ``max(ceil(sum / bin), #samples > bin/2)``
and wall time, one ``key=value`` line each; then the packed sequences of every bucket with and without backfill.

    .venv/bin/python benchmarks/packing.py [--samples 1000000] [--buckets 16384 32768 65536 131072]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nemo_math.packing.binpack import ALGORITHMS, lower_bound
from nemo_math.packing.buckets import assign_buckets, plan_buckets
from nemo_math.records import MODES


def sample_lengths(n: int, median: float = 6000, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.lognormal(np.log(median), sigma, n)), 200, 131072).astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--buckets", type=int, nargs="+", default=[16384, 32768, 65536, 131072])
    args = parser.parse_args()
    lengths = sample_lengths(args.samples)
    which = assign_buckets(lengths, args.buckets)
    total, cpu = {}, {}
    for algo, fn in ALGORITHMS.items():
        total[algo] = cpu[algo] = 0.0
        for k, seq_len in enumerate(sorted(args.buckets)):
            x = lengths[which == k]
            start, start_cpu = time.perf_counter(), time.process_time()
            bins = int(fn(x, seq_len).max() + 1) if len(x) else 0
            seconds = time.perf_counter() - start
            total[algo] += seconds
            cpu[algo] += time.process_time() - start_cpu
            lb = lower_bound(x, seq_len)
            print(f"algo={algo} bucket={seq_len} samples={len(x)} bins={bins} lower_bound={lb} "
                  f"ratio={bins / lb if lb else 1.0:.5f} seconds={seconds:.3f}")
    for algo, seconds in total.items():  # CPU time too: on a shared machine wall time includes waiting
        print(f"algo={algo} total_seconds={seconds:.3f} cpu_seconds={cpu[algo]:.3f}")

    # backfill: modes drawn so that long samples are mostly high mode, as in the teacher's traces
    rng = np.random.default_rng(1)
    p_high = np.clip(np.log(lengths / 200) / np.log(131072 / 200), 0, 1)
    modes = np.where(rng.random(len(lengths)) < p_high, "high", rng.choice(np.array(MODES[1:]), len(lengths)))
    for backfill in (False, True):
        start = time.perf_counter()
        plans, dropped = plan_buckets(lengths, modes, args.buckets, backfill=backfill)
        seconds = time.perf_counter() - start
        per_bucket = " ".join(f"bucket_{p.seq_len}={p.num_rows}" for p in plans)
        capacity = sum(p.num_rows * p.seq_len for p in plans)
        print(f"backfill={backfill} sequences={sum(p.num_rows for p in plans)} {per_bucket} "
              f"capacity_tokens={capacity} fill={lengths[lengths <= max(args.buckets)].sum() / capacity:.4f} "
              f"dropped={dropped} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
