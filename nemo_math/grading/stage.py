"""``nemo-math grade``: every trajectory's final answer, extracted and judged against its problem's reference.

Reads the :class:`~nemo_math.records.Trajectory` shards of ``grade.input`` and writes one
:class:`~nemo_math.records.GradedTrajectory` shard per input shard to ``grade.output_dir`` (``graded-<name>``),
atomically, then ``_SUCCESS.json``. A rerun skips the shards already written and reuses logged judgements, so a
crash costs at most one shard of sympy work. ``--shard i --num-shards n`` splits the input shards over array
tasks. The judge (``grade.judge.mode``) runs only where configured; the verdict is sympy's or the judge's yes.
Comparisons run in parallel on ``grade.workers`` processes, each under ``grade.timeout_s``; every answer gets a
verdict, and the shard's counts record how many were unparseable, timed out, refused or failed.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.grading import pool
from nemo_math.grading.equivalence import Verdict, grade_solutions
from nemo_math.grading.judge import JUDGE_MODES
from nemo_math.grading.verdict import add_judgements, graded_trajectory
from nemo_math.io import is_done, load_records, mark_done, read_json, record_files, write_json, write_records
from nemo_math.progress import log
from nemo_math.records import GradedTrajectory, Trajectory

PREFIX = "graded-"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_ID", "0")),
                        help="this task's index (default: $SLURM_ARRAY_TASK_ID or 0)")
    parser.add_argument("--num-shards", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_COUNT", "1")),
                        help="number of tasks sharing the input shards (default: $SLURM_ARRAY_TASK_COUNT or 1)")


def output_path(output_dir: str | Path, input_file: Path) -> Path:
    return Path(output_dir) / f"{PREFIX}{input_file.stem}.jsonl"


def counts_path(output: Path) -> Path:
    return output.with_suffix(".counts.json")


def fingerprint(file: Path) -> list[int]:
    stat = file.stat()
    return [stat.st_size, stat.st_mtime_ns]


def is_current(input_file: Path, output: Path) -> bool:
    """Graded from the input shard as it is now (generation may have appended since)."""
    counts = counts_path(output)
    return counts.exists() and read_json(counts).get("input") == fingerprint(input_file)


def grade_file(file: Path, cfg: NemoMathConfig, judge_stem: str
               ) -> tuple[list[GradedTrajectory], Counter[str], int]:
    """Grade one input shard; return the graded records, the count of each verdict (``no_answer`` where
    nothing was extracted) and how many judgements are still missing."""
    g = cfg.grade
    trajectories = load_records(file, Trajectory)
    log.info("grading %d trajectories of %s", len(trajectories), file.name)
    found = grade_solutions([(t.final_text, t.expected_answer) for t in trajectories], g.relaxed_extraction,
                            g.timeout_s)
    graded_records = [graded_trajectory(t, p, t.expected_answer, v)
                      for t, (p, v) in zip(trajectories, found, strict=True)]
    outcomes = Counter("no_answer" if p is None else str(v) for p, v in found)
    undecided = {k: n for k, n in outcomes.items() if k not in ("no_answer", Verdict.EQUAL, Verdict.UNEQUAL)}
    if undecided:
        log.warning("%s: %s answers could not be compared: %s", file.name, sum(undecided.values()), undecided)
    missing = add_judgements(graded_records, g.judge, Path(g.output_dir) / "judge", stem=judge_stem)
    return graded_records, outcomes, missing


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    g = cfg.grade
    if g.judge.mode not in JUDGE_MODES:
        raise ConfigError(f"grade.judge.mode: {g.judge.mode!r} is not one of {list(JUDGE_MODES)}")
    shard, num_shards = getattr(args, "shard", 0), getattr(args, "num_shards", 1)
    if not 0 <= shard < num_shards:
        raise ConfigError(f"--shard {shard} --num-shards {num_shards}: need 0 <= shard < num_shards")
    complete_input = is_done(g.input)
    if not complete_input:
        log.warning("%s has no _SUCCESS.json: grading the trajectories there so far, not marking done", g.input)
    files = record_files(g.input)
    pool.set_workers(g.workers)
    failed = 0
    for file in files[shard::num_shards]:
        out = output_path(g.output_dir, file)
        if is_current(file, out):
            continue
        source = fingerprint(file)
        graded, outcomes, missing = grade_file(file, cfg, judge_stem=f"judgements-task{shard:05d}")
        if missing:
            log.warning("%s: %d judgements failed after retries; rerun to retry them", file.name, missing)
            failed += 1
            continue
        write_records(out, graded)
        write_json(counts_path(out), {"trajectories": len(graded),
                                      "answered": sum(r.predicted_answer is not None for r in graded),
                                      "correct": sum(r.is_correct for r in graded),
                                      "judged": sum(r.judgement is not None for r in graded),
                                      **{f"verdict_{v}": outcomes[str(v)] for v in Verdict},
                                      "input": source})
    if failed:
        return 1
    if complete_input and all(is_current(f, output_path(g.output_dir, f)) for f in files):
        counts: Counter[str] = Counter()
        for file in files:
            shard_counts = read_json(counts_path(output_path(g.output_dir, file)))
            counts.update({k: v for k, v in shard_counts.items() if k != "input"})
        mark_done(g.output_dir, {**counts, "shards": len(files), "judge": g.judge.mode})
        log.info("graded %d trajectories: %d with an answer, %d correct", counts["trajectories"],
                 counts["answered"], counts["correct"])
    return 0
