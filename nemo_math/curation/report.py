"""The curation report: counts per step and reason (JSON + Markdown) and PNG histograms a person can look at,
with a breakdown by teacher (``Trajectory.teacher``) for multi-teacher runs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nemo_math.curation.filters import pass_rates
from nemo_math.io import atomic_path, write_json, write_text
from nemo_math.records import MODES, GradedTrajectory, setting_key

KEPT = "kept"


def teacher_breakdown(outcomes: Iterable[tuple[GradedTrajectory, str]]) -> dict[str, dict[str, Any]]:
    """Per teacher, from (trajectory, ``kept`` or its drop reason) pairs: trajectories, correct and pass rate
    (against the reference after answer repair), kept, drops by reason and the pass rate per setting."""
    by_teacher: dict[str, list[tuple[GradedTrajectory, str]]] = defaultdict(list)
    for t, outcome in outcomes:
        by_teacher[t.teacher].append((t, outcome))
    breakdown = {}
    for teacher, rows in sorted(by_teacher.items()):
        outcome_counts = Counter(outcome for _, outcome in rows)
        correct = sum(bool(t.is_correct) for t, _ in rows)
        breakdown[teacher] = {
            "trajectories": len(rows), "correct": correct, "pass_rate": round(correct / len(rows), 4),
            "kept": outcome_counts.pop(KEPT, 0), "dropped": dict(sorted(outcome_counts.items())),
            "settings": {key: rate.to_dict() for key, rate in pass_rates(t for t, _ in rows).items()}}
    return breakdown


def _teacher_markdown(teachers: dict[str, dict[str, Any]]) -> list[str]:
    kept = sum(row["kept"] for row in teachers.values()) or 1
    lines = ["## teachers", "", "Pass rates are against the reference after answer repair.", "",
             "| teacher | trajectories | correct | pass rate | kept | share of kept | dropped |",
             "|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {name} | {row['trajectories']} | {row['correct']} | {row['pass_rate']:.3f} | {row['kept']} | "
              f"{row['kept'] / kept:.1%} | {', '.join(f'{r}={n}' for r, n in row['dropped'].items()) or '-'} |"
              for name, row in teachers.items()]
    settings = sorted({key for row in teachers.values() for key in row["settings"]})
    lines += ["", "| teacher | " + " | ".join(settings) + " |", "|---|" + "---:|" * len(settings)]
    for name, row in teachers.items():
        cells = [row["settings"].get(key) for key in settings]
        lines.append(f"| {name} | " + " | ".join(
            f"{c['accuracy']:.3f} ({c['pass']}/{c['count']})" if c else "-" for c in cells) + " |")
    return lines + [""]


def _plot_lengths(lengths: dict[str, list[int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 4.5))
    everything = [n for mode in MODES for n in lengths.get(mode, [])]
    bins = np.histogram_bin_edges(everything, bins=40) if everything else 40  # one set of bins for all modes
    for mode in MODES:
        if lengths.get(mode):
            ax.hist(lengths[mode], bins=bins, alpha=0.5, label=f"{mode} (n={len(lengths[mode])})")
    ax.set_xlabel("completion tokens per kept trajectory")
    ax.set_ylabel("trajectories")
    ax.set_title("SFT trajectory length by reasoning mode")
    if any(lengths.values()):
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _plot_pass_rates(rates: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
    for col, mode in enumerate(MODES):
        for row, tool in enumerate((True, False)):
            key = setting_key(mode, tool)
            ax = axes[row][col]
            ax.hist(rates.get(key, []), bins=[i / 16 for i in range(17)], color="tab:blue")
            ax.set_title(f"{key} (problems={len(rates.get(key, []))})", fontsize=9)
    for ax in axes[1]:
        ax.set_xlabel("pass rate")
    fig.suptitle("per-problem pass rate by setting (after answer repair)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _markdown(summary: dict[str, Any]) -> str:
    lines = ["# Curation report", ""]
    for section in ("problems", "answers", "dropped_problems", "trajectories", "dropped_trajectories", "kept"):
        lines += [f"## {section.replace('_', ' ')}", "", "| | count |", "|---|---:|"]
        lines += [f"| {key} | {value} |" for key, value in summary.get(section, {}).items()]
        lines.append("")
    if summary.get("teachers"):
        lines += _teacher_markdown(summary["teachers"])
    lines += ["![lengths](lengths.png)", "", "![pass rates](pass_rates.png)", ""]
    return "\n".join(lines)


def write_report(output_dir: str | Path, summary: dict[str, Any], lengths: dict[str, list[int]],
                 rates: dict[str, list[float]]) -> None:
    """``report.json``, ``report.md``, ``lengths.png`` and ``pass_rates.png`` in ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / "report.json", summary)
    write_text(output_dir / "report.md", _markdown(summary))
    _plot_lengths(lengths, output_dir / "lengths.png")
    _plot_pass_rates(rates, output_dir / "pass_rates.png")
