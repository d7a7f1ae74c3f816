"""The packing report as a PNG: where the lengths fall, how full each bucket's rows are, and the mode mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nemo_math.packing.buckets import BucketPlan

MODE_COLOURS = {"high": "tab:red", "medium": "tab:orange", "low": "tab:green", "unknown": "tab:gray"}


def plot_report(lengths: np.ndarray, modes: np.ndarray, plans: list[BucketPlan], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (hist, fill, mix) = plt.subplots(1, 3, figsize=(17, 4.5))
    lengths = np.asarray(lengths)
    modes = np.asarray(modes, dtype=object).astype(str)
    top = max([p.seq_len for p in plans] + [int(lengths.max()) if len(lengths) else 1])
    edges = np.geomspace(max(1, int(lengths.min()) if len(lengths) else 1), top * 1.05, 60)
    for mode in sorted(set(modes.tolist())):
        hist.hist(lengths[modes == mode], bins=edges, histtype="step", linewidth=1.5, label=mode,
                  color=MODE_COLOURS.get(mode))
    for p in plans:
        hist.axvline(p.seq_len, color="black", linestyle="--", linewidth=0.8)
    hist.set(xscale="log", xlabel="sample length (tokens)", ylabel="samples", title="lengths per mode, buckets")
    hist.legend()

    names = [f"{p.seq_len // 1024}K" if p.seq_len >= 1024 else str(p.seq_len) for p in plans]
    rates = [p.fill_rate for p in plans]
    fill.bar(names, rates, color="tab:blue")
    for x, (rate, p) in enumerate(zip(rates, plans)):
        fill.text(x, rate, f"{rate:.3f}\n{p.num_rows} rows", ha="center", va="bottom", fontsize=8)
    fill.set(ylim=(0, 1.15), ylabel="fill rate (tokens / capacity)", title="fill rate per bucket")

    all_modes = sorted({m for p in plans for m in (*p.mix_before, *p.mix_after)})
    width = 0.4
    for offset, attr in ((-width / 2, "mix_before"), (width / 2, "mix_after")):
        bottom = np.zeros(len(plans))
        for mode in all_modes:
            counts = np.array([getattr(p, attr).get(mode, 0) for p in plans], dtype=float)
            totals = np.array([max(1, sum(getattr(p, attr).values())) for p in plans], dtype=float)
            share = counts / totals
            mix.bar(np.arange(len(plans)) + offset, share, width * 0.95, bottom=bottom,
                    color=MODE_COLOURS.get(mode), label=mode if attr == "mix_before" else None,
                    hatch="" if attr == "mix_before" else "//", edgecolor="white")
            bottom += share
    mix.set_xticks(np.arange(len(plans)), names)
    mix.set(ylabel="share of samples", title="mode mix per bucket (left: assigned, right: packed)")
    mix.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
