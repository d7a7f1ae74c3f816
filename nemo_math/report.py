"""The final pipeline report: one markdown page linking every stage's output, summary and figures.

Stages already write their own summaries (``_SUCCESS.json``), figures (PNG) and pages (markdown); this module
only collects them, adds the wall time per stage (a table and ``wall_time.png``; for a chain run by SLURM, from
the jobs' own records) and writes ``<pipeline.output_dir>/report.md`` with links relative to it, so the run
folder can be moved or zipped whole.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from nemo_math.config import NemoMathConfig
from nemo_math.io import DONE_MARKER, done_summary, is_done, write_text

MAX_SUMMARY_ITEMS = 24
MAX_FIGURES_PER_STAGE = 12


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar leaves of a nested summary as ``(dotted.key, value)``; records in a list get an index, a long
    list of scalars is shown by its length."""
    if isinstance(obj, dict):
        items: list[tuple[str, Any]] = []
        for key, value in obj.items():
            items += _flatten(value, f"{prefix}{key}.")
        return items
    if isinstance(obj, list) and any(isinstance(v, dict | list) for v in obj):
        return [item for i, value in enumerate(obj) for item in _flatten(value, f"{prefix[:-1]}[{i}].")]
    if isinstance(obj, list):
        return [(prefix[:-1], f"[{len(obj)} items]" if len(obj) > 8 else ", ".join(map(str, obj)))]
    return [(prefix[:-1], obj)]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _files(folder: Path, suffix: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob(f"*{suffix}") if not any(part.startswith(".") for part in p.parts))


def slurm_timings(path: Path) -> dict[str, dict]:
    """Per stage, from the ``timings.jsonl`` the sbatch jobs append to (``slurm/common.sh``): the span from the
    first start to the last end of its successful jobs (array tasks and training stages together; failed
    attempts of a resubmitted chain left out)."""
    spans: dict[str, tuple[float, float]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            row = json.loads(line)
            if row["exit_code"] == 0:
                start, end = spans.get(row["stage"], (row["start"], row["end"]))
                spans[row["stage"]] = (min(start, row["start"]), max(end, row["end"]))
    return {stage: {"wall_s": round(end - start, 2), "source": "slurm"} for stage, (start, end) in spans.items()}


def plot_wall_time(timings: dict[str, dict], path: Path) -> None:
    """A horizontal bar per stage: where the pipeline's time went."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(timings)
    seconds = [timings[s]["wall_s"] for s in stages]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(stages) + 1.2))
    ax.barh(stages[::-1], seconds[::-1], color="#4c72b0")
    for y, value in enumerate(seconds[::-1]):
        ax.text(value, y, f" {value:.1f}s", va="center", fontsize=8)
    ax.set_xlabel("wall time (s)")
    ax.set_title(f"pipeline wall time per stage (total {sum(seconds):.0f} s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(cfg: NemoMathConfig, timings: dict[str, dict]) -> Path:
    """Write ``report.md`` (and ``wall_time.png``) into ``cfg.pipeline.output_dir``; return the markdown path."""
    out = Path(cfg.pipeline.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, out)).as_posix()

    lines = ["# nemo-math pipeline report", "",
             f"Run folder: `{cfg.run_dir}` · config: [config.yaml](config.yaml)", ""]
    timed = {s: timings[s] for s in cfg.pipeline.stages if s in timings}
    if timed:
        plot_wall_time(timed, out / "wall_time.png")
        total = sum(t["wall_s"] for t in timed.values())
        lines += [f"Wall time of the last run of each stage: {total:.1f} s in all.", "", "![wall time](wall_time.png)",
                  ""]
    lines += ["| stage | status | wall time (s) | output |", "|---|---|---|---|"]
    for stage in cfg.pipeline.stages:
        folder = Path(getattr(cfg, stage).output_dir)
        status = "complete" if is_done(folder) else "incomplete"
        wall = f"{timings[stage]['wall_s']:.1f}" if stage in timings else "-"
        lines.append(f"| [{stage}](#{stage}) | {status} | {wall} | [{folder}]({rel(folder)}) |")
    lines.append("")

    for stage in cfg.pipeline.stages:
        folder = Path(getattr(cfg, stage).output_dir)
        lines += [f"## {stage}", "", f"Output: [{folder}]({rel(folder)})", ""]
        if is_done(folder):
            items = [(k, v) for k, v in _flatten(done_summary(folder)) if k]
            if items:
                lines += ["| summary | value |", "|---|---|"]
                lines += [f"| {k} | {_fmt(v)} |" for k, v in items[:MAX_SUMMARY_ITEMS]]
                if len(items) > MAX_SUMMARY_ITEMS:
                    lines.append(f"| ... | {len(items) - MAX_SUMMARY_ITEMS} more in [{DONE_MARKER}]"
                                 f"({rel(folder / DONE_MARKER)}) |")
                lines.append("")
        pages = _files(folder, ".md")
        if pages:
            lines += ["Reports: " + ", ".join(f"[{p.relative_to(folder)}]({rel(p)})" for p in pages), ""]
        figures = _files(folder, ".png")
        for fig in figures[:MAX_FIGURES_PER_STAGE]:
            lines += [f"![{fig.stem}]({rel(fig)})", ""]
        if len(figures) > MAX_FIGURES_PER_STAGE:
            lines += [f"... and {len(figures) - MAX_FIGURES_PER_STAGE} more figures in [{folder}]({rel(folder)})", ""]

    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path
