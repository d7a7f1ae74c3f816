"""``nemo-math curate``: graded trajectories -> answer repair -> pass rates -> filters -> SFT records + report.

Two streaming passes over ``curate.input`` keep memory to the per-trajectory verdicts, not the traces:

1. read every :class:`~nemo_math.records.GradedTrajectory` without its messages; per problem, repair the
   reference (:mod:`~nemo_math.curation.repair`), grade again against a new reference (sympy, then the judge of
   ``grade.judge`` where configured, logged in ``curate.output_dir/judge`` so a rerun does not ask twice),
   compute pass rates and apply the difficulty and trace filters;
2. read again and write the kept trajectories as ``nvidia/Nemotron-Math-v2`` records to
   ``curate.output_dir/sft/<reason_mode_tool>.jsonl`` (or ``mixed.jsonl``), atomically.

Then ``answers.jsonl`` (one decision per problem), ``report.{json,md}``, ``lengths.png``, ``pass_rates.png``
and ``_SUCCESS.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
from collections import Counter, defaultdict
from pathlib import Path

from nemo_math import progress
from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.curation.assemble import sft_file_stem, to_sft
from nemo_math.curation.filters import TRACE_REASONS, pass_rates, too_easy, trace_reason
from nemo_math.curation.repair import SOURCES, AnswerDecision, candidate_answers, decide_reference, vote_pairs
from nemo_math.curation.report import KEPT, teacher_breakdown, write_report
from nemo_math.grading import pool
from nemo_math.grading.equivalence import Verdict, compare_many
from nemo_math.grading.verdict import add_judgements, grade_symbolic_many
from nemo_math.io import (
    atomic_path,
    is_done,
    load_records,
    mark_done,
    read_records,
    write_records,
)
from nemo_math.progress import log
from nemo_math.records import MODES, GradedTrajectory, PassRate, Problem


@dataclasses.dataclass
class Curation:
    """Pass 1's outcome: what to keep and the numbers for the report."""

    decisions: dict[str, AnswerDecision]
    rates: dict[str, dict[str, PassRate]]
    kept: set[str]
    counts: dict[str, Counter]
    lengths: dict[str, list[int]]
    outcomes: list[tuple[GradedTrajectory, str]]  # every trajectory with "kept" or its drop reason


def check_config(cfg: NemoMathConfig) -> None:
    c = cfg.curate
    for name in ("repair_mode", "difficulty_mode"):
        if getattr(c, name) not in MODES:
            raise ConfigError(f"curate.{name}: {getattr(c, name)!r} is not one of {list(MODES)}")
    if not 0.0 <= c.max_pass_rate <= 1.0:
        raise ConfigError(f"curate.max_pass_rate: {c.max_pass_rate} is not in [0, 1]")


def _read_verdicts(path: str) -> tuple[dict[str, list[GradedTrajectory]], dict[str, str], dict[str, str | None]]:
    """Per problem: its trajectories without their texts (messages, judge's reasoning), its text, its forum answer."""
    by_problem: dict[str, list[GradedTrajectory]] = defaultdict(list)
    texts: dict[str, str] = {}
    originals: dict[str, str | None] = {}
    for g in progress.track(read_records(path, GradedTrajectory), description="reading verdicts"):
        texts.setdefault(g.problem_id, g.problem)
        originals.setdefault(g.problem_id, g.expected_answer)
        by_problem[g.problem_id].append(dataclasses.replace(g, messages=[], problem="", problem_metadata={},
                                                            judgement=None))
    return by_problem, texts, originals


def _decide_all(cfg: NemoMathConfig, by_problem: dict[str, list[GradedTrajectory]],
                originals: dict[str, str | None]) -> dict[str, AnswerDecision]:
    """Every problem's reference; the votes' comparisons of all problems are graded in one parallel batch."""
    c = cfg.curate
    if not c.repair:
        return {pid: AnswerDecision(pid, original, original, "forum" if original is not None else "none")
                for pid, original in originals.items()}
    candidates = {pid: [g for g in group if g.mode == c.repair_mode and g.with_tool in c.repair_tools]
                  for pid, group in by_problem.items()}
    pairs = list(dict.fromkeys(pair for group in candidates.values() for pair in vote_pairs(candidate_answers(group))))
    equal = dict(zip(pairs, (v is Verdict.EQUAL for v in compare_many(pairs, cfg.grade.timeout_s)), strict=True))
    return {pid: decide_reference(pid, originals[pid], group, equal=lambda a, b: equal[a, b],
                                  min_candidates=c.repair_min_candidates)
            for pid, group in progress.track(candidates.items(), description="repairing answers")}


def curate(cfg: NemoMathConfig) -> Curation | None:
    """Pass 1 (see the module docstring); ``None`` if some judgements failed (rerun to retry them)."""
    c = cfg.curate
    pool.set_workers(cfg.grade.workers)
    by_problem, texts, originals = _read_verdicts(c.input)
    decisions = _decide_all(cfg, by_problem, originals)
    changed = [pid for pid, decision in decisions.items() if decision.changed]
    regraded, _ = grade_symbolic_many([(dataclasses.replace(g, problem=texts[pid]), g.predicted_answer,
                                        decisions[pid].reference) for pid in changed for g in by_problem[pid]],
                                      cfg.grade.timeout_s)
    graded = iter(regraded)
    for pid in changed:
        by_problem[pid] = [next(graded) for _ in by_problem[pid]]
    missing = add_judgements(regraded, cfg.grade.judge, Path(c.output_dir) / "judge")
    if missing:
        log.warning("%d judgements failed after retries; rerun to retry them", missing)
        return None

    result = Curation(decisions, {}, set(), defaultdict(Counter), defaultdict(list), [])
    counts = result.counts
    counts["problems"]["input"] = len(by_problem)
    for pid, group in by_problem.items():
        decision = decisions[pid]
        rates = result.rates[pid] = pass_rates(group)
        counts["answers"][decision.source] += 1
        counts["trajectories"]["input"] += len(group)
        problem_drop = "no_reference" if decision.reference is None else "too_easy" if too_easy(rates, c) else None
        if problem_drop:
            counts["dropped_problems"][problem_drop] += 1
            counts["dropped_trajectories"][problem_drop] += len(group)
            result.outcomes += [(g, problem_drop) for g in group]
            continue
        kept_any = False
        for g in group:
            reason = trace_reason(g, c)
            result.outcomes.append((g, reason or KEPT))
            if reason:
                counts["dropped_trajectories"][reason] += 1
                continue
            kept_any = True
            result.kept.add(g.job_id)
            counts["kept"][sft_file_stem(g.mode, g.with_tool, True)] += 1
            result.lengths[g.mode].append(g.completion_tokens)
        counts["problems"]["kept" if kept_any else "no_trajectory_kept"] += 1
    counts["trajectories"]["kept"] = len(result.kept)
    return result


def _load_problems(path: str | None) -> dict[str, Problem]:
    if not path or not Path(path).exists():
        log.info("no problems at %s: url, user and license fields stay empty", path)
        return {}
    return {p.id: p for p in load_records(path, Problem)}


def write_sft(cfg: NemoMathConfig, result: Curation) -> dict[str, int]:
    """Pass 2: stream the graded records again and write the kept ones as SFT records; return counts per file."""
    c = cfg.curate
    problems = _load_problems(c.problems)
    sft_dir = Path(c.output_dir) / "sft"
    written: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        files = {}
        for g in progress.track(read_records(c.input, GradedTrajectory), total=result.counts["trajectories"]["input"],
                                description="writing SFT records"):
            if g.job_id not in result.kept:
                continue
            stem = sft_file_stem(g.mode, g.with_tool, c.split_by_setting)
            if stem not in files:
                files[stem] = stack.enter_context(open(stack.enter_context(atomic_path(sft_dir / f"{stem}.jsonl")),
                                                       "w", encoding="utf-8"))
            record = to_sft(g, result.decisions[g.problem_id], result.rates[g.problem_id],
                            problems.get(g.problem_id), c.used_in)
            files[stem].write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            written[stem] += 1
    for stale in sft_dir.glob("*.jsonl"):  # a file an earlier run with other settings wrote
        if stale.stem not in written:
            stale.unlink()
    return dict(sorted(written.items()))


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    check_config(cfg)
    c = cfg.curate
    if not is_done(c.input):
        log.warning("%s has no _SUCCESS.json: curating the graded trajectories there so far", c.input)
    result = curate(cfg)
    if result is None:
        return 1
    files = write_sft(cfg, result)
    out = Path(c.output_dir)
    write_records(out / "answers.jsonl", (dataclasses.asdict(d) for d in result.decisions.values()))
    summary = {section: dict(result.counts[section]) for section in
               ("problems", "answers", "dropped_problems", "trajectories", "dropped_trajectories", "kept")}
    summary["answers"] = {s: summary["answers"].get(s, 0) for s in SOURCES}
    summary["dropped_trajectories"] = {r: summary["dropped_trajectories"].get(r, 0)
                                       for r in ("no_reference", "too_easy", *TRACE_REASONS)}
    summary["files"] = files
    summary["teachers"] = teacher_breakdown(result.outcomes)
    rates_by_setting: dict[str, list[float]] = defaultdict(list)
    for rates in result.rates.values():
        for key, rate in rates.items():
            rates_by_setting[key].append(rate.accuracy)
    write_report(out, summary, result.lengths, rates_by_setting)
    mark_done(out, {"sft_records": sum(files.values()), "files": files,
                    "problems_kept": summary["problems"].get("kept", 0),
                    "kept_by_teacher": {name: row["kept"] for name, row in summary["teachers"].items()}})
    log.info("kept %d of %d trajectories (%s); report in %s", summary["trajectories"]["kept"],
             summary["trajectories"]["input"], ", ".join(f"{k}={v}" for k, v in files.items()), out / "report.md")
    return 0
