"""load_benchmark: the shipped benchmarks, a user's file, and bad files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from nemo_math.benchmarks import available, load_benchmark
from nemo_math.records import RecordError


def test_shipped_benchmarks():
    assert {"aime24", "aime25", "comp-math-24-25"} <= set(available())
    aime = load_benchmark("aime24")
    assert len(aime) == 30 and len({p.id for p in aime}) == 30
    assert all(p.data_source == "aime24" and p.expected_answer and p.metadata["subset"] == "aime24" for p in aime)
    assert "Aimeville" in aime[0].problem and aime[0].expected_answer == "73"
    subsets = Counter(p.metadata["subset"] for p in load_benchmark("comp-math-24-25"))
    assert sum(subsets.values()) == 256 and len(subsets) > 1


def test_shared_copy_matches_shipped(shared_dir):
    for name in ("aime24", "aime25"):
        shared = load_benchmark(shared_dir / "benchmarks" / f"{name}.jsonl")
        assert [p.problem for p in shared] == [p.problem for p in load_benchmark(name)]


def test_user_file_and_errors(tmp_path):
    path = tmp_path / "mybench.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "expected_answer": "2"}) + "\n"
                    + json.dumps({"problem": "2+2?", "expected_answer": "4", "subset_for_metrics": "easy"}) + "\n")
    problems = load_benchmark(path)
    assert [(p.id, p.data_source, p.metadata["subset"]) for p in problems] == [
        ("mybench-0", "mybench", "mybench"), ("mybench-1", "mybench", "easy")]
    path.write_text(json.dumps({"problem": "1+1?", "expected_answer": "2"}) + "\n"
                    + json.dumps({"problem": "2+2?"}) + "\n")
    with pytest.raises(RecordError, match=r"mybench.jsonl:2: expected_answer: required string field is missing"):
        load_benchmark(path)
    with pytest.raises(FileNotFoundError, match="not a shipped benchmark"):
        load_benchmark("aime99")
