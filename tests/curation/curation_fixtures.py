"""Trajectory fixtures shaped like generation's output, with outcomes known by construction."""

from __future__ import annotations

from pathlib import Path

from nemo_math.io import mark_done, write_records
from nemo_math.records import Problem, Trajectory


def msg(role, content, channel=None, recipient=None, name=None):
    return {"role": role, "content": content, "channel": channel, "recipient": recipient, "name": name}


def trajectory(pid: str, mode: str, with_tool: bool, seed: int, answer: str | None, reference: str | None, *,
               finish: str = "final", tool_errors: int = 0, tokens: int = 100) -> Trajectory:
    """A solved (or not) trajectory; ``answer`` None ends without a final message."""
    messages = [msg("system", f"Reasoning: {mode}"), msg("user", f"Solve problem {pid}.")]
    if with_tool:
        messages += [msg("assistant", "print(1)", "analysis", "python"), msg("tool", "1", None, None, "python")]
    messages.append(msg("assistant", "thinking about it", "analysis"))
    if answer is not None:
        messages.append(msg("assistant", f"So the answer is $\\boxed{{{answer}}}$.", "final"))
    return Trajectory(job_id=Trajectory.make_job_id(pid, mode, with_tool, seed), problem_id=pid,
                      problem=f"Solve problem {pid}.", mode=mode, with_tool=with_tool, seed=seed, messages=messages,
                      expected_answer=reference, data_source="AoPS", model="teacher", finish_reason=finish,
                      num_tool_calls=1 if with_tool else 0, num_tool_errors=tool_errors,
                      completion_tokens=tokens)


def setting(pid: str, mode: str, with_tool: bool, answers: list[str | None], reference: str | None,
            tokens: int = 100) -> list[Trajectory]:
    return [trajectory(pid, mode, with_tool, seed, a, reference, tokens=tokens) for seed, a in enumerate(answers)]


def write_generation(folder: Path, trajectories: list[Trajectory], shards: int = 2) -> Path:
    """``trajectories-<i>-of-<n>.jsonl`` shards plus ``_SUCCESS.json``, as ``nemo-math generate`` leaves them."""
    for i in range(shards):
        write_records(folder / f"trajectories-{i:05d}-of-{shards:05d}.jsonl", trajectories[i::shards])
    mark_done(folder, {"jobs": len(trajectories)})
    return folder


def write_problems(path: Path, ids: list[str]) -> Path:
    write_records(path, [Problem(id=pid, problem=f"Solve problem {pid}.", url=f"https://aops.example/{pid}",
                                 user_name="poster", license="CC BY 4.0") for pid in ids])
    return path
