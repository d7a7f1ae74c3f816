"""Reasoning-mode balance inside a bucket.

Long buckets are dominated by high-mode traces (low and medium rarely reach 64K tokens), so a student trained on
them learns to think long whatever mode it is asked for. Resampling each mode of a bucket to a target share
counters that; the mix before and after is reported for every bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

METHODS = ("resample", "down", "up")


def mode_mix(modes: Sequence[str] | np.ndarray) -> dict[str, int]:
    """Samples per mode, modes sorted by name."""
    values, counts = np.unique(np.asarray(modes, dtype=object).astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts)}


def _targets(counts: Mapping[str, int], shares: Mapping[str, float], method: str) -> dict[str, int]:
    present = {m: c for m, c in counts.items() if c > 0 and shares.get(m, 0) > 0}
    if not present:
        return {}
    total_share = sum(shares[m] for m in present)
    share = {m: shares[m] / total_share for m in present}
    if method == "down":
        total = min(c / share[m] for m, c in present.items())
    elif method == "up":
        total = max(c / share[m] for m, c in present.items())
    elif method == "resample":
        total = sum(present.values())
    else:
        raise ValueError(f"unknown balance method {method!r} (known: {', '.join(METHODS)})")
    return {m: round(total * share[m]) for m in present}


def rebalance(indices: np.ndarray, modes: np.ndarray, shares: Mapping[str, float], method: str,
              rng: np.random.Generator) -> np.ndarray:
    """Resample ``indices`` (into ``modes``) so each mode present gets its share of the samples.

    A mode over its target is subsampled without replacement; one under it keeps every sample and repeats
    random ones (whole copies first). Modes absent from the bucket cannot be created: their share goes to the
    others. Samples whose mode is not in ``shares`` (unknown mode, zero share) pass through unchanged.
    """
    indices = np.asarray(indices, dtype=np.int64)
    bucket_modes = np.asarray(modes, dtype=object)[indices].astype(str)
    targets = _targets(mode_mix(bucket_modes), shares, method)
    keep = [indices[~np.isin(bucket_modes, list(targets))]]
    for mode, target in targets.items():
        own = indices[bucket_modes == mode]
        if target <= len(own):
            keep.append(rng.choice(own, size=target, replace=False))
        else:
            copies, extra = divmod(target, len(own))
            keep.append(np.concatenate([np.tile(own, copies), rng.choice(own, size=extra, replace=False)]))
    return np.sort(np.concatenate(keep))
