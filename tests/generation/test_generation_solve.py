"""The TIR loop against the scripted teacher over real HTTP, with the real sandbox."""

from __future__ import annotations

import asyncio
import re

import pytest

from nemo_math.generation.client import GenerationClient
from nemo_math.generation.config import ClientConfig
from nemo_math.generation.scripted import ScriptedTeacher
from nemo_math.generation.server import ScriptedBackend, ServerThread, make_app
from nemo_math.generation.solve import SolveSettings, solve
from nemo_math.generation.transports import ChatTransport, CompletionsTransport
from nemo_math.problems.synthetic import evaluate, format_answer, generate
from nemo_math.records import Problem

PROBLEMS = generate(8, seed=3)
SLOW = Problem(id="slow", problem="Count forever.", expected_answer="0",
               metadata={"python": "sum(1 for _ in iter(int, 1))"})
CRASH = Problem(id="crash", problem="Crash the kernel.", expected_answer="0",
                metadata={"python": "__import__('os')._exit(1)"})


@pytest.fixture(scope="module")
def sandbox():
    from nemo_math.sandbox import SandboxConfig, make_sandbox

    sb = make_sandbox(SandboxConfig(timeout_s=5.0))
    yield sb
    sb.close()


def run(coro_fn, latency_s: float = 0.0):
    app = make_app(ScriptedBackend(ScriptedTeacher(PROBLEMS + [SLOW, CRASH])), latency_s=latency_s)
    with ServerThread(app) as url:
        async def go():
            async with GenerationClient(ClientConfig(base_urls=[url], backoff_initial_s=0.01)) as client:
                return await coro_fn(client)
        return asyncio.run(go())


def boxed(text: str) -> str | None:
    match = re.search(r"\\boxed\{(.*)\}", text)
    return match.group(1) if match else None


def test_tool_trajectory_runs_real_code_and_both_transports_agree(sandbox):
    problem = PROBLEMS[0]

    async def go(client):
        return [await solve(problem, "high", True, 0, transport(client), sandbox)
                for transport in (CompletionsTransport, ChatTransport)]

    raw, chat = run(go)
    assert raw.messages == chat.messages and raw.completion_tokens == chat.completion_tokens
    assert raw.finish_reason == "final" and raw.num_tool_calls == 2 and raw.num_tool_errors == 0
    roles = [(m["role"], m["channel"], m["recipient"]) for m in raw.messages]
    assert roles[:4] == [("system", None, None), ("user", None, None), ("assistant", "analysis", None),
                         ("assistant", "analysis", "python")]
    tool_outputs = [m["content"] for m in raw.messages if m["role"] == "tool"]
    assert len(tool_outputs) == 2 and all(m["name"] == "python" for m in raw.messages if m["role"] == "tool")
    code = raw.messages[3]["content"]
    assert problem.metadata["python"] in code
    # the answer is what the sandbox really printed
    printed = tool_outputs[-1].strip()
    assert boxed(raw.final_text) == format_answer(__import__("fractions").Fraction(printed))
    assert raw.prompt_tokens > 0 and raw.completion_tokens > 0 and raw.job_id == f"{problem.id}/high/tool/0"


def test_stops_at_code_and_token_limits(sandbox):
    async def go(client):
        limited = await solve(PROBLEMS[1], "high", True, 0, CompletionsTransport(client), sandbox,
                              SolveSettings(max_code_executions=1))
        short = await solve(PROBLEMS[1], "high", False, 0, ChatTransport(client), sandbox,
                            SolveSettings(max_tokens=25))
        return limited, short

    limited, short = run(go)
    assert limited.finish_reason == "max_code_executions" and limited.num_tool_calls == 1
    assert limited.messages[-1]["recipient"] == "python"  # the call past the limit is recorded, not run
    assert short.finish_reason == "length" and short.completion_tokens == 25 and short.final_text == ""


def test_sandbox_timeout_and_crash_are_counted(sandbox):
    async def go(client):
        slow = await solve(SLOW, "low", True, 0, CompletionsTransport(client), sandbox,
                           SolveSettings(code_timeout_s=0.5))
        crash = await solve(CRASH, "low", True, 0, CompletionsTransport(client), sandbox)
        return slow, crash

    slow, crash = run(go)
    assert slow.num_tool_timeouts == 1 and slow.finish_reason == "final" and boxed(slow.final_text)
    assert crash.num_tool_errors == 1 and crash.finish_reason == "final"


def test_wall_time_budget():
    async def go(client):
        return await solve(PROBLEMS[2], "medium", False, 0, CompletionsTransport(client), None,
                           SolveSettings(max_wall_time_s=0.2))

    traj = run(go, latency_s=1.0)
    assert traj.finish_reason == "wall_time" and traj.elapsed_s < 1.0


def test_deterministic_and_pass_rates_vary_by_mode():
    async def go(client):
        transport = CompletionsTransport(client)
        jobs = [solve(p, mode, False, seed, transport) for p in PROBLEMS for mode in ("high", "low")
                for seed in range(8)]
        return await asyncio.gather(*jobs), await solve(PROBLEMS[0], "low", False, 5, transport)

    trajs, again = run(go)
    same = next(t for t in trajs if t.job_id == again.job_id)
    assert same.messages == again.messages
    accuracy = {}
    for mode in ("high", "low"):
        runs = [t for t in trajs if t.mode == mode]
        correct = [boxed(t.final_text) == format_answer(evaluate(t.problem_metadata["python"])) for t in runs]
        accuracy[mode] = sum(correct) / len(correct)
    assert 0.6 < accuracy["high"] < 1.0 and 0.3 < accuracy["low"] < accuracy["high"]
    lengths = {m: sum(t.completion_tokens for t in trajs if t.mode == m) for m in ("high", "low")}
    assert lengths["high"] > 3 * lengths["low"]
