"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NEMO_MATH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` (real tokenizers, benchmarks); tests that need it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    return SHARED


@pytest.fixture(scope="session")
def qwen3_tokenizer_dir(shared_dir: Path) -> Path:
    path = shared_dir / "tokenizers" / "qwen3"
    if not (path / "tokenizer.json").exists():
        pytest.skip(f"{path} not present")
    return path
