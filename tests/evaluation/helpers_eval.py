"""Graded samples built by hand for the evaluation tests."""

from nemo_math.records import GradedTrajectory, Trajectory


def sample(problem_id: str, seed: int, answer: str | None, correct: bool, *, mode: str = "high",
           with_tool: bool = False, benchmark: str = "bench", subset: str | None = None, tokens: int = 100,
           tool_calls: int = 0, judge: bool | None = None) -> GradedTrajectory:
    return GradedTrajectory(
        job_id=Trajectory.make_job_id(problem_id, mode, with_tool, seed), problem_id=problem_id,
        problem="p", mode=mode, with_tool=with_tool, seed=seed, messages=[], data_source=benchmark,
        completion_tokens=tokens, num_tool_calls=tool_calls,
        problem_metadata={"subset": subset or benchmark}, predicted_answer=answer,
        symbolic_correct=correct if judge is not None else None, judge_correct=judge,
        is_correct=correct if judge is None else (correct or judge))
