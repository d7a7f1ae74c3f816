"""``nemo-math problems``: read -> normalise -> exact dedup -> near dedup -> decontaminate -> mix -> write.

Outputs in ``problems.output_dir``: ``problems.jsonl`` (:class:`Problem` records), ``report.json`` (counts per
step, source and reason; the removed pairs), ``report.png`` and the ``_SUCCESS.json`` marker, written last. A
finished stage is skipped on re-run unless ``--force``. A config, e.g. AoPS and StackExchange mixed 50:50::

    problems:
      sources:
        - {path: data/aops.jsonl, name: AoPS, weight: 1}
        - {path: data/stackexchange.parquet, name: StackExchange-Math, weight: 1,
           problem_field: question, answer_field: answer, id_field: question_id}
      near_dedup: {threshold: 0.7, shingle: word, shingle_size: 3}
      decontaminate: {benchmarks: [aime24, aime25, comp-math-24-25], ngram: 13}

and ``sources: [{kind: synthetic, count: 300}]`` for the procedural problems of the laptop pipeline.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from nemo_math import progress
from nemo_math.io import done_summary, is_done, mark_done, write_json, write_records
from nemo_math.problems.config import ProblemsConfig
from nemo_math.problems.decontaminate import Decontaminate
from nemo_math.problems.dedup import ExactDedup, NearDedup, Sketcher
from nemo_math.problems.mix import Mix
from nemo_math.problems.normalise import Normalise
from nemo_math.problems.pipeline import Step, run_pipeline
from nemo_math.problems.readers import ReadSources
from nemo_math.problems.report import build_report, plot_report

OUTPUT_NAME = "problems.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="run again even if the output is complete")


def build_steps(cfg: ProblemsConfig) -> list[Step]:
    """The pipeline the config asks for, in order."""
    sketcher = Sketcher(cfg.near_dedup)
    steps: list[Step] = [ReadSources(cfg.sources), Normalise()]
    if cfg.exact_dedup:
        steps.append(ExactDedup())
    if cfg.near_dedup.enabled:
        steps.append(NearDedup(cfg.near_dedup, sketcher))
    if cfg.decontaminate.enabled:
        steps.append(Decontaminate(cfg.decontaminate, sketcher))
    steps.append(Mix(cfg.sources, seed=cfg.seed, max_problems=cfg.max_problems))
    return steps


def run(cfg: ProblemsConfig, force: bool = False) -> dict[str, Any]:
    """Run the stage into ``cfg.output_dir``; return the report (or the finished run's summary when skipped)."""
    out = Path(cfg.output_dir)
    if is_done(out) and not force:
        progress.log.info("problems: %s is complete, skipping (--force to redo)", out)
        return done_summary(out)
    start = time.perf_counter()
    steps = build_steps(cfg)
    read, rest = steps[0], steps[1:]
    docs = progress.track(read.run(), description="problems")
    problems = [doc.problem for doc in run_pipeline(rest, docs)]
    write_records(out / OUTPUT_NAME, problems)
    report = build_report(steps, cfg)
    report["elapsed_s"] = round(time.perf_counter() - start, 3)
    write_json(out / "report.json", report)
    plot_report(report, out / "report.png")
    summary = {k: report[k] for k in ("input", "output", "removed", "elapsed_s")}
    mark_done(out, summary)
    progress.log.info("problems: %d read, %d written to %s; removed %s", report["input"], report["output"],
                      out / OUTPUT_NAME, report["removed"])
    return report


def main(cfg, args) -> int:
    run(cfg.problems, force=getattr(args, "force", False))
    return 0
