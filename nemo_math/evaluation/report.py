"""The evaluation report: ``metrics.json``, a markdown table shaped like the paper's, PNG plots, and a comparison.

Rows are model x mode x tool; columns are benchmark subsets, each with pass@1 (avg-of-k, +- std-err) and maj@k.
Details (pass@k, no-answer rate, length percentiles, tool calls), the judge columns where an LLM judge ran, and the
mode-collapse monitor follow. ``compare`` puts two runs' ``metrics.json`` side by side with their difference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nemo_math.io import read_json, write_json, write_text

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
ACCURACY_PLOT = "accuracy_vs_mode.png"
LENGTH_PLOT = "length_by_mode.png"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for r in rows:
        seen[(r["benchmark"], r["subset"])] = None
    return list(seen)


def _column_name(benchmark: str, subset: str) -> str:
    return benchmark if subset == benchmark else f"{benchmark}/{subset}"


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def accuracy_table(model: str, rows: Sequence[dict[str, Any]], method: str = "correct") -> str:
    """The paper's table: one line per mode x tool, pass@1 (+- std-err) and maj@k per benchmark subset."""
    columns = _columns(rows)
    by_key = {(r["benchmark"], r["subset"], r["mode"], r["with_tool"]): r for r in rows}
    settings = list(dict.fromkeys((r["mode"], r["with_tool"]) for r in rows))
    header = ["model", "mode", "tool"]
    for b, s in columns:
        k = next(r["k"] for r in rows if (r["benchmark"], r["subset"]) == (b, s))
        header += [f"{_column_name(b, s)} pass@1[avg-of-{k}]", f"{_column_name(b, s)} maj@{k}"]
    lines = []
    for mode, tool in settings:
        line = [model, mode, "yes" if tool else "no"]
        for b, s in columns:
            r = by_key.get((b, s, mode, tool))
            if r is None or method not in r:
                line += ["-", "-"]
                continue
            m = r[method]
            line += [f"{_pct(m['pass@1'])} ± {_pct(m['pass@1_std_err'])}", _pct(m[f"maj@{r['k']}"])]
        lines.append(line)
    return _table(header, lines)


def judge_table(rows: Sequence[dict[str, Any]]) -> str | None:
    """symbolic / judge / both / any pass@1 for groups graded both ways (HLE-math), or None."""
    judged = [r for r in rows if "judge" in r]
    if not judged:
        return None
    methods = ("symbolic", "judge", "both", "any")
    lines = [[_column_name(r["benchmark"], r["subset"]), r["mode"], "yes" if r["with_tool"] else "no"]
             + [_pct(r[m]["pass@1"]) for m in methods] for r in judged]
    return _table(["benchmark", "mode", "tool"] + [f"{m} pass@1" for m in methods], lines)


def details_table(rows: Sequence[dict[str, Any]]) -> str:
    percentiles = sorted(int(k[len("length_p"):]) for k in rows[0] if k.startswith("length_p"))
    header = (["benchmark", "mode", "tool", "problems", "samples", "pass@k", "no answer %", "length mean"]
              + [f"length p{p}" for p in percentiles] + ["tool calls mean", "tool use %"])
    lines = []
    for r in rows:
        pass_k = r["correct"][f"pass@{r['k']}"]
        lines.append([_column_name(r["benchmark"], r["subset"]), r["mode"], "yes" if r["with_tool"] else "no",
                      str(r["num_problems"]), str(r["num_samples"]),
                      f"{_pct(pass_k)} (k={r['k']})", _pct(r["no_answer"]),
                      f"{r['length_mean']:.0f}"] + [f"{r[f'length_p{p}']:.0f}" for p in percentiles]
                     + [f"{r['tool_calls_mean']:.2f}", _pct(r["tool_use_rate"])])
    return _table(header, lines)


def collapse_table(collapse: Sequence[dict[str, Any]], min_separation: float) -> str:
    lines = [[c["benchmark"], "yes" if c["with_tool"] else "no", c["mode"], f"{c['median_length']:.0f}",
              f"{c['high_median_length']:.0f}", f"{c['length_ratio']:.2f}", f"{c['separation']:.3f}",
              "**COLLAPSE**" if c["flagged"] else "ok"] for c in collapse]
    return (f"Separation = P(a high-mode response is longer than this mode's); flagged below {min_separation}.\n\n"
            + _table(["benchmark", "tool", "mode", "median length", "high median length", "length ratio",
                      "separation", "status"], lines))


def plot_accuracy(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """pass@1 (+- std-err) against reasoning mode, one line per benchmark subset, one panel per tool setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(r["mode"] for r in rows))
    tools = sorted({r["with_tool"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(tools), figsize=(5.5 * len(tools), 4.5), squeeze=False, sharey=True)
    for ax, tool in zip(axes[0], tools):
        for b, s in _columns(rows):
            pts = [(modes.index(r["mode"]), 100 * r["correct"]["pass@1"], 100 * r["correct"]["pass@1_std_err"])
                   for r in rows if (r["benchmark"], r["subset"], r["with_tool"]) == (b, s, tool)]
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=_column_name(b, s))
        ax.set_xticks(range(len(modes)), modes)
        ax.set_xlabel("reasoning mode")
        ax.set_title("with python" if tool else "without python")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("pass@1 (%)")
    fig.suptitle("Accuracy by reasoning mode")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lengths(lengths: dict[tuple[str, bool], dict[str, list[int]]], path: Path) -> None:
    """Response-length distribution per mode (box plots), one panel per benchmark x tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(lengths)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.5 * len(keys) + 1, 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        modes = [m for m in ("high", "medium", "low") if m in lengths[key]]
        ax.boxplot([lengths[key][m] for m in modes], tick_labels=modes)
        ax.set_title(f"{key[0]} ({'tool' if key[1] else 'no tool'})", fontsize=9)
        ax.set_ylabel("completion tokens")
        ax.grid(alpha=0.3)
    fig.suptitle("Response length by reasoning mode")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(output_dir: str | os.PathLike, model: str, rows: list[dict[str, Any]],
                 collapse: list[dict[str, Any]], lengths: dict[tuple[str, bool], dict[str, list[int]]],
                 min_separation: float) -> Path:
    """Write metrics.json, the PNG plots and report.md into ``output_dir``; return the report's path."""
    out = Path(output_dir)
    write_json(out / METRICS_FILE, {"model": model, "rows": rows, "collapse": collapse,
                                    "collapse_min_separation": min_separation})
    plot_accuracy(rows, out / ACCURACY_PLOT)
    plot_lengths(lengths, out / LENGTH_PLOT)
    parts = [f"# Evaluation of {model}", "", "## Accuracy (%)", "", accuracy_table(model, rows), ""]
    if (judged := judge_table(rows)) is not None:
        parts += ["## Symbolic vs LLM judge (pass@1, %)", "", judged, ""]
    parts += ["## Details", "", details_table(rows), "",
              "## Mode collapse", "", collapse_table(collapse, min_separation), "",
              "## Plots", "", f"![accuracy by mode]({ACCURACY_PLOT})", "", f"![length by mode]({LENGTH_PLOT})", ""]
    write_text(out / REPORT_FILE, "\n".join(parts))
    return out / REPORT_FILE


def _metrics_of(run: str | os.PathLike) -> dict[str, Any]:
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no {METRICS_FILE} (run `nemo-math evaluate` for that run first)")
    return read_json(path)


def compare(run_a: str | os.PathLike, run_b: str | os.PathLike) -> str:
    """A side-by-side markdown table of two runs: pass@1 and maj@k per subset x mode x tool, and B - A."""
    a, b = _metrics_of(run_a), _metrics_of(run_b)
    name_a, name_b = f"A ({a['model']})", f"B ({b['model']})"
    index_b = {(r["benchmark"], r["subset"], r["mode"], r["with_tool"]): r for r in b["rows"]}
    lines = []
    for ra in a["rows"]:
        rb = index_b.get((ra["benchmark"], ra["subset"], ra["mode"], ra["with_tool"]))
        if rb is None:
            continue
        ka, kb = ra["k"], rb["k"]
        pa, pb = ra["correct"]["pass@1"], rb["correct"]["pass@1"]
        ma, mb = ra["correct"][f"maj@{ka}"], rb["correct"][f"maj@{kb}"]
        lines.append([_column_name(ra["benchmark"], ra["subset"]), ra["mode"], "yes" if ra["with_tool"] else "no",
                      _pct(pa), _pct(pb), f"{100 * (pb - pa):+.1f}",
                      f"{_pct(ma)} (k={ka})", f"{_pct(mb)} (k={kb})", f"{100 * (mb - ma):+.1f}"])
    if not lines:
        raise ValueError(f"{run_a} and {run_b} share no benchmark x mode x tool rows")
    header = ["benchmark", "mode", "tool", f"pass@1 {name_a}", f"pass@1 {name_b}", "Δ pass@1",
              f"maj {name_a}", f"maj {name_b}", "Δ maj"]
    return f"# {a['model']} vs {b['model']}\n\n" + _table(header, lines) + "\n"
