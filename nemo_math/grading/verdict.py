"""Verdicts on trajectories: the symbolic one for every trajectory, the judge's where configured.

Shared by ``nemo-math grade`` (against the forum reference) and ``nemo-math curate`` (again, against a repaired
reference). A trajectory is correct when sympy or the judge says so. ``symbolic_correct`` is ``True`` or ``False``
where the comparison decided, ``None`` where it could not (no answer, unparseable, timed out, refused, error):
those are counted by the stage and are the ones the judge (mode ``fallback``) is asked about.
"""

from __future__ import annotations

from pathlib import Path

from nemo_math.grading.config import JudgeConfig
from nemo_math.grading.equivalence import Verdict, compare_many
from nemo_math.grading.judge import JUDGE_MODES, JudgeRequest, judge
from nemo_math.records import GradedTrajectory, Trajectory


def grade_symbolic_many(items: list[tuple[Trajectory, str | None, str | None]], timeout_s: float | None
                        ) -> tuple[list[GradedTrajectory], list[Verdict]]:
    """Every ``(trajectory, predicted, reference)`` graded by sympy alone (judge fields cleared), compared in
    parallel, with each comparison's verdict."""
    verdicts = compare_many([(p, r) for _, p, r in items], timeout_s)
    return [graded_trajectory(t, p, r, v) for (t, p, r), v in zip(items, verdicts, strict=True)], verdicts


def graded_trajectory(t: Trajectory, predicted: str | None, reference: str | None,
                      verdict: Verdict) -> GradedTrajectory:
    """``t`` with sympy's ``verdict`` on ``predicted`` against ``reference`` (judge fields cleared)."""
    return GradedTrajectory.from_trajectory(
        t, reference_answer=reference, predicted_answer=predicted,
        symbolic_correct=(verdict is Verdict.EQUAL) if verdict.decided else None, judge_correct=None,
        judgement=None, is_correct=verdict is Verdict.EQUAL)


def grade_symbolic(t: Trajectory, predicted: str | None, reference: str | None,
                   timeout_s: float | None) -> GradedTrajectory:
    """``t`` graded against ``reference`` by sympy alone (judge fields cleared)."""
    return grade_symbolic_many([(t, predicted, reference)], timeout_s)[0][0]


def needs_judge(g: GradedTrajectory, mode: str) -> bool:
    if mode not in JUDGE_MODES:
        raise ValueError(f"judge mode {mode!r}: expected one of {', '.join(JUDGE_MODES)}")
    if mode == "none" or g.predicted_answer is None or g.reference_answer is None:
        return False
    return mode == "all" or not g.symbolic_correct


def add_judgements(graded: list[GradedTrajectory], cfg: JudgeConfig, log_dir: str | Path,
                   stem: str = "judgements") -> int:
    """Judge the trajectories that need it (in place); return how many still lack a judgement (failed)."""
    requests = {g.job_id: JudgeRequest(g.problem, g.predicted_answer, g.reference_answer)
                for g in graded if needs_judge(g, cfg.mode)}
    if not requests:
        return 0
    verdicts = judge(list(set(requests.values())), cfg, log_dir, stem)
    missing = 0
    for g in graded:
        request = requests.get(g.job_id)
        if request is None:
            continue
        if request.id not in verdicts:
            missing += 1
            continue
        g.judge_correct, g.judgement = verdicts[request.id]
        g.is_correct = bool(g.symbolic_correct) or bool(g.judge_correct)
    return missing
