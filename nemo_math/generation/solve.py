"""The tool-integrated reasoning (TIR) loop: one problem, one (mode, tool, seed), one :class:`Trajectory`.

Transport-agnostic: the model is asked for its next turn through a :class:`~nemo_math.generation.transports.
Transport`; when the turn ends in a ``python`` call, the code runs in this trajectory's sandbox session and the
(truncated) output goes back as a ``python`` tool message. The loop stops at the final answer, at
``max_code_executions`` (the call past the limit is not run), at the token budget (completion tokens summed over
turns) or at the wall-time budget. Evaluation reuses it for the student.

Token counts come from the server's usage: ``prompt_tokens`` and ``completion_tokens`` are sums over the
trajectory's requests (what the server processed and generated).

A request that fails after the client's retries raises: the job is then not written and the next run redoes it.
A prompt that outgrows the server's context (at the first turn or mid-way) ends the trajectory with
``finish_reason: context_length``: a rerun would hit the same wall, so the job is recorded, not retried.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from nemo_math.generation.client import ContextLengthError
from nemo_math.generation.harmony import initial_messages, message
from nemo_math.generation.transports import Transport
from nemo_math.records import Problem, Trajectory, stable_id

TOOL_ERROR_STATUSES = frozenset({"error", "killed", "crashed"})


@dataclass
class SolveSettings:
    max_tokens: int = 120000
    max_code_executions: int = 100
    max_wall_time_s: float | None = None
    code_timeout_s: float | None = None
    model: str = ""


def sampling_seed(job_id: str, base_seed: int = 0) -> int:
    """The ``seed`` sent to the server: stable per job, different across jobs and base seeds."""
    return int(stable_id(job_id, base_seed), 16) % 2**31


async def solve(problem: Problem, mode: str, with_tool: bool, seed: int, transport: Transport,
                sandbox: Any = None, settings: SolveSettings | None = None, base_seed: int = 0) -> Trajectory:
    """Solve ``problem`` once; ``sandbox`` (a :class:`nemo_math.sandbox.Sandbox` or ``SandboxClient``: cells run
    through its ``execute_async``) is needed when ``with_tool``."""
    settings = settings or SolveSettings()
    job_id = Trajectory.make_job_id(problem.id, mode, with_tool, seed)
    traj = Trajectory(job_id=job_id, problem_id=problem.id, problem=problem.problem, mode=mode,
                      with_tool=with_tool, seed=seed, messages=initial_messages(problem.problem, mode, with_tool),
                      expected_answer=problem.expected_answer, data_source=problem.data_source,
                      model=settings.model, problem_metadata=problem.metadata)
    start = time.monotonic()
    deadline = None if settings.max_wall_time_s is None else start + settings.max_wall_time_s
    request_seed = sampling_seed(job_id, base_seed)
    try:
        traj.finish_reason = await _loop(traj, transport, sandbox, settings, deadline, request_seed)
    finally:
        if with_tool and sandbox is not None:
            await asyncio.to_thread(sandbox.close_session, job_id)
        traj.elapsed_s = round(time.monotonic() - start, 3)
    return traj


async def _loop(traj: Trajectory, transport: Transport, sandbox: Any, settings: SolveSettings,
                deadline: float | None, request_seed: int) -> str:
    while True:
        remaining = settings.max_tokens - traj.completion_tokens
        if remaining <= 0:
            return "length"
        try:
            turn = await _within(deadline, transport.step(traj.messages, with_tool=traj.with_tool,
                                                          max_tokens=remaining, seed=request_seed))
        except TimeoutError:
            return "wall_time"
        except ContextLengthError as err:
            traj.error = str(err)[:500]
            return "context_length"
        traj.messages.extend(turn.messages)
        traj.prompt_tokens += turn.prompt_tokens
        traj.completion_tokens += turn.completion_tokens
        if turn.finish == "length":
            return "length"
        if turn.finish == "final":
            return "final"
        if turn.finish != "call":
            traj.error = "the model stopped without a final answer"
            return "error"
        if traj.num_tool_calls >= settings.max_code_executions:
            return "max_code_executions"
        traj.num_tool_calls += 1
        try:
            output = await _within(deadline, _run_tool(traj, turn.messages[-1], sandbox, settings))
        except TimeoutError:
            return "wall_time"
        traj.messages.append(message("tool", output, "analysis", None, "python"))


async def _within(deadline: float | None, coro):
    if deadline is None:
        return await coro
    return await asyncio.wait_for(coro, timeout=max(0.0, deadline - time.monotonic()))


async def _run_tool(traj: Trajectory, call: dict[str, Any], sandbox: Any, settings: SolveSettings) -> str:
    """Run one tool call; count errors and timeouts; return the text the model sees."""
    if call.get("recipient") != "python" or not traj.with_tool or sandbox is None:
        traj.num_tool_errors += 1
        return f"Error: no tool named {call.get('recipient')!r} is available."
    kwargs = {"session_id": traj.job_id}
    if settings.code_timeout_s is not None:
        kwargs["timeout"] = settings.code_timeout_s
    result = await sandbox.execute_async(call["content"], **kwargs)
    if result.status == "timeout":
        traj.num_tool_timeouts += 1
    elif result.status in TOOL_ERROR_STATUSES:
        traj.num_tool_errors += 1
    return result.output
