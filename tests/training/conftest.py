"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import write_bucket


@pytest.fixture
def make_bucket(tmp_path):
    def make(name: str, seq_len: int, rows: int, multiple: int = 2, seed: int = 0) -> Path:
        return write_bucket(tmp_path / "pack" / name, seq_len, rows, multiple, seed)

    return make
