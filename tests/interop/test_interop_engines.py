"""The tiny student served by real engines (vLLM CPU, ``transformers serve``), started and stopped by the stage
machinery (:mod:`nemo_math.generation.engine`), through both transports of the generate stage."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from nemo_math.generation.client import ContextLengthError, GenerationClient
from nemo_math.generation.config import ClientConfig, LocalServerConfig
from nemo_math.generation.engine import serving
from nemo_math.io import load_records, write_records
from nemo_math.records import Problem, Trajectory

pytestmark = pytest.mark.interop

VLLM_ARGS = ["--max-model-len", "512", "--no-enable-chunked-prefill", "--max-num-batched-tokens", "2048",
             "--dtype", "float32"]


def run_generate(tmp_path: Path, url: str, model: str, engine: str, transport: str) -> list[Trajectory]:
    problems = tmp_path / "problems.jsonl"
    write_records(problems, [Problem(id="p", problem="What is 3+4?", expected_answer="7")])
    run = tmp_path / f"run-{transport}"
    cmd = [sys.executable, "-m", "nemo_math.cli", "generate", "--quiet", f"run_dir={run}",
           f"generate.input={problems}", f"generate.client.base_urls=[{url}]", f"generate.client.model={model}",
           f"generate.client.engine={engine}", f"generate.transport={transport}", "generate.num_samples=2",
           "generate.modes=[low]", "generate.tools=[false]", "generate.temperature=0.0", "generate.max_tokens=64"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return load_records(run / "generate", Trajectory)


def finals(trajs: list[Trajectory]) -> Counter:
    return Counter((t.finish_reason, tuple((m["channel"], m["content"]) for m in t.messages[2:])) for t in trajs)


@pytest.mark.slow
def test_vllm_cpu_serves_the_student_on_both_transports(vllm, student, tmp_path):
    server = LocalServerConfig(backend="vllm", model_path=str(student), python=vllm, args=VLLM_ARGS,
                               env={"VLLM_CPU_KVCACHE_SPACE": "1"}, health_timeout_s=600)
    with serving(server, ClientConfig(model="student"), tmp_path / "logs") as client:
        for transport in ("completions", "chat"):
            trajs = run_generate(tmp_path, client.base_urls[0], "student", "vllm", transport)
            assert finals(trajs) == {("final", (("final", "\\boxed{7}"),)): 2}, transport

        async def too_long():
            async with GenerationClient(client) as c:
                with pytest.raises(ContextLengthError, match="maximum context length"):
                    await c.complete("hi " * 600, max_tokens=8)
                return await c.complete("<|start|>assistant", max_tokens=10_000, temperature=0.0, seed=3)
        cut = asyncio.run(too_long())  # max_tokens past the context is cut to it, the seed is accepted
        assert cut.text.startswith("<|channel|>final<|message|>")
    log = next((tmp_path / "logs").glob("vllm-*.log")).read_text()
    assert "model_len" in log or "max_model_len" in log


@pytest.mark.slow
def test_transformers_serve_serves_the_student_on_both_transports(transformers_cli, student, tmp_path):
    server = LocalServerConfig(backend="transformers", model_path=str(student), python=sys.executable,
                               args=["--device", "cpu"], health_timeout_s=300)
    with serving(server, ClientConfig(model="student"), tmp_path / "logs") as client:
        assert client.model == str(student) and client.extra_body == {}
        results = {t: run_generate(tmp_path, client.base_urls[0], client.model, "transformers", t)
                   for t in ("completions", "chat")}
    # chat: the reply echoes the prompt with its special tokens; the reply after the user turn is parsed
    assert finals(results["chat"]) == {("final", (("final", "\\boxed{7}"),)): 2}
    # completions: transformers serve always decodes without special tokens (and rejects skip_special_tokens),
    # so the harmony headers are lost: the text cannot be read as channels and the turn ends unclassified
    assert finals(results["completions"]) == {("error", (("analysis", "final\\boxed{7}"),)): 2}
