"""``nemo-math generate`` end to end: the scripted teacher over real HTTP, the real sandbox, kill -9 resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from generation_helpers import server_process

from nemo_math.generation.harmony import count_tokens, initial_messages, render_prompt
from nemo_math.io import is_done, load_records, write_records
from nemo_math.problems.synthetic import generate
from nemo_math.records import MODES, Problem, Trajectory


def generate_cmd(run_dir: Path, problems: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nemo_math.cli", "generate", "--quiet", f"run_dir={run_dir}",
            f"generate.input={problems}", f"generate.client.base_urls=[{url}]", "generate.client.max_retries=3",
            "generate.client.backoff_initial_s=0.05", "sandbox.timeout_s=10", *extra]


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "problems.jsonl"
    write_records(path, generate(2, seed=7))
    return path


def comparable(folder: Path) -> dict[str, dict]:
    rows = {}
    for t in load_records(folder, Trajectory):
        data = t.to_dict()
        data.pop("elapsed_s")
        assert t.job_id not in rows, f"duplicate {t.job_id}"
        rows[t.job_id] = data
    return rows


@pytest.mark.slow
def test_generate_fans_out_48_ways_per_problem_over_http(tmp_path):
    problems = tmp_path / "one.jsonl"
    write_records(problems, generate(1, seed=11))
    with server_process("--backend", "scripted", "--problems", str(problems)) as url:
        for shard in (0, 1):
            cmd = generate_cmd(tmp_path / "run", problems, url, "--shard", str(shard), "--num-shards", "2")
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, out.stderr[-3000:]
            assert is_done(tmp_path / "run" / "generate") == (shard == 1)
    trajs = load_records(tmp_path / "run" / "generate", Trajectory)
    assert len(trajs) == 48 and len({t.job_id for t in trajs}) == 48
    per_setting = Counter((t.mode, t.with_tool) for t in trajs)
    assert set(per_setting.values()) == {8} and len(per_setting) == len(MODES) * 2
    tool = [t for t in trajs if t.with_tool]
    assert all(t.num_tool_calls >= 1 and any(m["role"] == "tool" for m in t.messages) for t in tool)
    assert all(t.num_tool_calls == 0 for t in trajs if not t.with_tool)
    assert all(t.finish_reason == "final" and t.completion_tokens > 0 for t in trajs)
    assert all(t.messages[0]["role"] == "system" and f"Reasoning: {t.mode}" in t.messages[0]["content"]
               for t in trajs)
    summaries = sorted((tmp_path / "run" / "generate").glob("summary-*.json"))
    assert [json.loads(p.read_text())["failed"] for p in summaries] == [0, 0]


def finished_lines(folder: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("trajectories-*.jsonl"))


@pytest.mark.slow
def test_kill_9_and_server_faults_resume_exactly_once(tmp_path, problems_file):
    args = ("generate.num_samples=2", "generate.client.max_in_flight=2", "generate.client.request_timeout_s=1")
    out = tmp_path / "run" / "generate"
    # one request in ten fails (500, 429, hang, dropped connection, malformed JSON) on top of the kills
    with server_process("--backend", "scripted", "--problems", str(problems_file), "--latency-s", "0.03",
                        "--fault-rate", "0.1") as url:
        reference = subprocess.run(generate_cmd(tmp_path / "ref", problems_file, url, *args),
                                   capture_output=True, text=True, timeout=300)
        assert reference.returncode == 0, reference.stderr[-3000:]
        rng = random.Random(0)
        killed = 0
        for _ in range(20):
            # kill once 0-1 more records are on disk, plus a random moment: during start-up, between jobs,
            # in the middle of requests, tool calls and writes
            target = finished_lines(out) + rng.randint(0, 1)
            proc = subprocess.Popen(generate_cmd(tmp_path / "run", problems_file, url, *args),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            while proc.poll() is None and finished_lines(out) < target:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.1))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the generator and the sandbox processes it started
                killed += 1
            proc.wait(30)
        assert killed >= 15  # most kills landed while the generator was running
        final = subprocess.run(generate_cmd(tmp_path / "run", problems_file, url, *args),
                               capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-3000:]
    expected, got = comparable(tmp_path / "ref" / "generate"), comparable(out)
    assert len(expected) == 2 * len(MODES) * 2 * 2
    assert got == expected
    assert is_done(out)


def test_local_scripted_server_chat_transport_and_bad_config(tmp_path, problems_file, capsys):
    from nemo_math.cli import main

    argv = ["generate", "--quiet", f"run_dir={tmp_path}", f"generate.input={problems_file}",
            "generate.local_server.backend=scripted", "generate.transport=chat", "generate.tools=[false]",
            "generate.modes=[low,high]", "generate.num_samples=2"]
    assert main(argv) == 0
    trajs = load_records(tmp_path / "generate", Trajectory)
    assert len(trajs) == 2 * 2 * 2 and all(t.finish_reason == "final" for t in trajs)
    assert {t.expected_answer for t in trajs} <= {t.final_text.split("boxed{")[1][:-1] for t in trajs}
    assert main(argv + ["generate.modes=[extreme]"]) == 2
    assert "generate.modes: 'extreme'" in capsys.readouterr().err


@pytest.mark.slow
def test_trajectories_past_the_context_are_recorded_and_the_stage_completes(tmp_path, problems_file):
    # issue 13: a 400 "maximum context length" failed the job on every rerun, so the stage never finished
    problem = load_records(problems_file, Problem)[0]
    first_turn = count_tokens(render_prompt(initial_messages(problem.problem, "low", True)))
    single = tmp_path / "one.jsonl"
    write_records(single, [problem])
    # the first prompt fits (max_tokens=120000 is cut to the context); with a tool, the second does not
    with server_process("--backend", "scripted", "--problems", str(single), "--max-model-len",
                        str(first_turn + 40)) as url:
        cmd = generate_cmd(tmp_path / "run", single, url, "generate.num_samples=1", "generate.modes=[low]")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert is_done(tmp_path / "run" / "generate")
    trajs = {t.with_tool: t for t in load_records(tmp_path / "run" / "generate", Trajectory)}
    assert trajs[True].finish_reason == "context_length" and trajs[True].num_tool_calls == 1
    assert "maximum context length" in trajs[True].error
    assert trajs[False].finish_reason == "final"
    summary = json.loads(next((tmp_path / "run" / "generate").glob("summary-*.json")).read_text())
    assert summary["finish_reasons"] == {"context_length": 1, "final": 1} and summary["failed"] == 0
