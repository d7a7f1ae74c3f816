"""Fixtures of the packing tests (plain helpers live in ``packing_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packing_helpers import build_bpe_tokenizer, build_char_tokenizer


@pytest.fixture(scope="session")
def char_tokenizer_dir(tmp_path_factory) -> Path:
    return build_char_tokenizer(tmp_path_factory.mktemp("char_tokenizer"))


@pytest.fixture(scope="session")
def qwen3_tokenizer(qwen3_tokenizer_dir):
    from nemo_math.packing.render import load_tokenizer

    return load_tokenizer(str(qwen3_tokenizer_dir))


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory) -> Path:
    return build_bpe_tokenizer(tmp_path_factory.mktemp("bpe_tokenizer"))
