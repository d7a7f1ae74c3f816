"""Mode-collapse monitor: do medium and low reasoning modes stay shorter than high?

The paper leaves open that a student trained on all three modes may drift: medium/low answers grow into long
high-mode reasoning and the modes stop meaning anything. We measure, per benchmark and tool setting, how well
response length separates high from each lower mode, as the probability that a random high sample is longer
than a random lower-mode one (the Mann-Whitney AUC, ties count half): 1.0 is perfectly separated, 0.5 is
indistinguishable. A mode whose separation falls below ``min_separation`` is flagged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

from nemo_math.records import GradedTrajectory


def separation(high: Iterable[float], other: Iterable[float]) -> float:
    """P(high sample longer than ``other`` sample) + 0.5 P(equal lengths)."""
    high, other = np.asarray(list(high), float), np.asarray(list(other), float)
    if not len(high) or not len(other):
        raise ValueError("separation needs samples of both modes")
    statistic = mannwhitneyu(high, other, alternative="two-sided").statistic
    return float(statistic / (len(high) * len(other)))


def lengths_by_mode(samples: Iterable[GradedTrajectory]) -> dict[tuple[str, bool], dict[str, list[int]]]:
    """{(benchmark, with_tool): {mode: completion lengths}}."""
    out: dict[tuple[str, bool], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        out[(s.data_source, s.with_tool)][s.mode].append(s.completion_tokens)
    return {k: dict(v) for k, v in out.items()}


def mode_collapse(samples: Iterable[GradedTrajectory], min_separation: float = 0.75) -> list[dict[str, Any]]:
    """One row per benchmark x tool x lower mode, with its separation from high and whether it is flagged."""
    rows = []
    for (benchmark, with_tool), modes in sorted(lengths_by_mode(samples).items()):
        high = modes.get("high")
        if not high:
            continue
        for mode in ("medium", "low"):
            if not modes.get(mode):
                continue
            score = separation(high, modes[mode])
            rows.append({
                "benchmark": benchmark, "with_tool": with_tool, "mode": mode,
                "median_length": float(np.median(modes[mode])),
                "high_median_length": float(np.median(high)),
                "length_ratio": float(np.median(modes[mode]) / max(np.median(high), 1.0)),
                "separation": score,
                "flagged": score < min_separation,
            })
    return rows
