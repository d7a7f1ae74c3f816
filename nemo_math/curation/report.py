"""The curation report: counts per step and reason (JSON + Markdown) and PNG histograms a person can look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nemo_math.io import atomic_path, write_json, write_text
from nemo_math.records import MODES, setting_key


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
