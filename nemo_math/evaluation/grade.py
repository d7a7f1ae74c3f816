"""Grading the student's samples with the grading stage's parts: the answer extractor and symbolic equivalence
for every benchmark, and for ``evaluate.judge_benchmarks`` (HLE-math, whose answers are often not sympy-checkable)
the LLM judge on every extracted answer as well, which then decides ``is_correct``. Judgements are logged under
the evaluation folder through the judge's exactly-once job runner, so a rerun does not ask the judge again."""

from __future__ import annotations

from pathlib import Path

from nemo_math.config import NemoMathConfig
from nemo_math.records import GradedTrajectory, Trajectory

JUDGEMENTS = "judgements"


def symbolic(trajectories: list[Trajectory], relaxed: bool = False, timeout_s: float | None = None
             ) -> list[GradedTrajectory]:
    """Every sample graded against its reference in one batch (extracted and compared by the grading pool)."""
    from nemo_math.grading import Verdict, grade_solutions

    found = grade_solutions([(t.final_text, t.expected_answer) for t in trajectories], relaxed, timeout_s)
    return [GradedTrajectory.from_trajectory(t, reference_answer=t.expected_answer, predicted_answer=p,
                                             symbolic_correct=v is Verdict.EQUAL, is_correct=v is Verdict.EQUAL)
            for t, (p, v) in zip(trajectories, found, strict=True)]


def with_judge(graded: list[GradedTrajectory], cfg: NemoMathConfig) -> None:
    """Add judge verdicts in place; a sample without an answer is wrong for the judge too."""
    from nemo_math.grading.judge import JudgeRequest, judge

    requests = {g.job_id: JudgeRequest(g.problem, g.predicted_answer, g.reference_answer)
                for g in graded if g.predicted_answer is not None and g.reference_answer is not None}
    verdicts = judge(list(requests.values()), cfg.grade.judge, Path(cfg.evaluate.output_dir) / JUDGEMENTS)
    missing = [job_id for job_id, r in requests.items() if r.id not in verdicts]
    if missing:
        raise RuntimeError(f"the judge did not answer {len(missing)} samples (first: {missing[0]}); "
                           "rerun `nemo-math evaluate` to retry them")
    for g in graded:
        request = requests.get(g.job_id)
        verdict, text = verdicts[request.id] if request else (False, None)
        g.judge_correct, g.judgement = bool(verdict), text
        g.is_correct = g.judge_correct


def grade(cfg: NemoMathConfig, trajectories: list[Trajectory]) -> list[GradedTrajectory]:
    """Symbolic verdicts for every sample; judge verdicts too for the judge benchmarks."""
    from nemo_math.grading import pool

    g = cfg.grade
    pool.set_workers(g.workers)
    graded = symbolic(trajectories, g.relaxed_extraction, g.timeout_s)
    judged = [x for x in graded if x.data_source in cfg.evaluate.judge_benchmarks]
    if judged:
        with_judge(judged, cfg)
    return graded
