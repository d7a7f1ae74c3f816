"""``report.json`` and ``report.png`` of the problems stage: what each step kept and removed, and why."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nemo_math.io import atomic_path
from nemo_math.problems.config import ProblemsConfig
from nemo_math.problems.pipeline import Step

REASONS = ("empty", "exact_duplicate", "near_duplicate", "contaminated", "downsampled")


def build_report(steps: list[Step], cfg: ProblemsConfig) -> dict[str, Any]:
    read, last = steps[0], steps[-1]
    removed: Counter = Counter()
    per_source: dict[str, Counter] = defaultdict(Counter)
    pairs: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        for source, counts in step.by_source.items():
            if step is read:
                per_source[source]["read"] += counts["kept"]
            if step is last:
                per_source[source]["kept"] += counts["kept"]
            for reason in REASONS:
                per_source[source][reason] += counts[reason]
        for reason in REASONS:
            removed[reason] += step.stats[reason]
        for pair in step.pairs:
            pairs.setdefault(pair["reason"], []).append(pair)
    return {
        "input": read.stats["kept"],
        "output": last.stats["kept"],
        "removed": {reason: removed[reason] for reason in REASONS},
        "per_source": {name: dict(counts) for name, counts in per_source.items()},
        "steps": {step.name: dict(step.stats) for step in steps},
        "pairs": pairs,
        "config": asdict(cfg),
    }


def plot_report(report: dict[str, Any], path: str | Path) -> None:
    """One stacked bar per source: kept, then each removal reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(report["per_source"])
    fig, ax = plt.subplots(figsize=(max(5, 1.5 * len(sources) + 3), 4))
    bottom = [0] * len(sources)
    for label in ("kept", *REASONS):
        values = [report["per_source"][s].get(label, 0) for s in sources]
        if any(values):
            ax.bar(sources, values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("problems")
    ax.set_title(f"problems: {report['input']} read, {report['output']} kept")
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
