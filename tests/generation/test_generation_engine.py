"""Starting and stopping a server for a run (:mod:`nemo_math.generation.engine`) with a real subprocess: our
own server behind a ``command`` template stands in for an engine (the real engines: tests/interop)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from nemo_math.generation.client import GenerationClient, healthy
from nemo_math.generation.config import ClientConfig, LocalServerConfig
from nemo_math.generation.engine import EngineError, command, serving

OUR_SERVER = "{python} -m nemo_math.generation.server --backend instant --model {model} --host {host} --port {port}"


def test_a_command_template_is_started_waited_for_logged_and_stopped(tmp_path):
    server = LocalServerConfig(backend="vllm", command=OUR_SERVER, python=sys.executable, health_timeout_s=120)
    with serving(server, ClientConfig(model="m"), tmp_path) as client:
        root = client.base_urls[0].removesuffix("/v1")
        assert healthy(root) and client.engine == "vllm" and client.extra_body == {"skip_special_tokens": False}

        async def ask():
            async with GenerationClient(client) as c:
                return await c.complete("hi", max_tokens=4)
        assert asyncio.run(ask()).text.endswith("ok")
    assert not healthy(root)  # stopped with the run
    log = next(tmp_path.glob("vllm-*.log")).read_text()
    assert log.startswith(f"$ {sys.executable} -m nemo_math.generation.server") and "serving http" in log


def test_an_engine_that_dies_fails_at_once_with_its_log(tmp_path):
    server = LocalServerConfig(backend="sglang", health_timeout_s=600,
                               command="{python} -c \"print('no such model'); raise SystemExit(3)\"")
    with pytest.raises(EngineError, match=r"exited with 3 before it was healthy(.|\n)*no such model"):
        with serving(server, ClientConfig(), tmp_path):
            pass


def test_default_commands_fill_in_the_model_and_port():
    server = LocalServerConfig(backend="vllm", model_path="/m/student", python="/v/bin/python",
                               args=["--max-model-len", "4096"])
    assert command(server, "student", "127.0.0.1", 8123) == [
        "/v/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", "/m/student",
        "--served-model-name", "student", "--host", "127.0.0.1", "--port", "8123", "--max-model-len", "4096"]
    with pytest.raises(ValueError, match="model_path"):
        command(LocalServerConfig(backend="transformers"), "m", "127.0.0.1", 1)
    with pytest.raises(ValueError, match="not one of"):
        command(LocalServerConfig(backend="llama.cpp"), "m", "127.0.0.1", 1)


def test_the_tiny_preset_serves_its_student_with_one_torch_thread(tmp_path):
    """Two OpenMP threads stall on a shared machine (configs/tiny.yaml): the preset's hf server, started in this
    process, decodes with one."""
    import dataclasses

    import torch

    from nemo_math.config import load_config

    cfg = load_config(["tiny"])
    server = dataclasses.replace(cfg.evaluate.local_server, model_path=None, tokenizer_path=cfg.pack.tokenizer)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with serving(server, ClientConfig(model="m"), tmp_path) as client:
            assert healthy(client.base_urls[0].removesuffix("/v1"))
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
