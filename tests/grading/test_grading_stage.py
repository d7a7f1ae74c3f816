"""``nemo-math grade`` end to end: sharded over tasks, with the judge on a real local server."""

from __future__ import annotations

import json

import pytest
from test_grading_judge import WordJudge, _trajectory

from nemo_math.cli import main as cli
from nemo_math.generation.server import ServerThread, make_app
from nemo_math.io import done_summary, is_done, load_records, mark_done, write_records
from nemo_math.records import GradedTrajectory


@pytest.mark.slow
def test_grade_stage_sharded_with_judge(tmp_path):
    cases = [("\\text{two}", "2", True), ("3", "2", False), ("016", "16", True), ("\\text{seven}", "8", False)]
    trajectories = [_trajectory(i, a, r) for i, (a, r, _) in enumerate(cases)]
    gen = tmp_path / "generate"
    write_records(gen / "trajectories-00000-of-00002.jsonl", trajectories[:2])
    write_records(gen / "trajectories-00001-of-00002.jsonl", trajectories[2:])
    mark_done(gen, {})
    backend = WordJudge()
    with ServerThread(make_app(backend, "judge")) as url:
        args = ["-q", f"run_dir={tmp_path}", "grade.judge.mode=fallback", f"grade.judge.client.base_urls=[{url}]",
                "grade.judge.client.model=judge"]
        assert cli(["grade", *args, "--shard", "1", "--num-shards", "2"]) == 0
        assert not is_done(tmp_path / "grade")  # shard 0 is still to do
        assert cli(["grade", *args, "--shard", "0", "--num-shards", "2"]) == 0
    assert is_done(tmp_path / "grade")
    graded = sorted(load_records(tmp_path / "grade", GradedTrajectory), key=lambda g: g.job_id)
    assert [g.is_correct for g in graded] == [c for _, _, c in cases]
    assert [g.symbolic_correct for g in graded] == [False, False, True, False]
    assert len(backend.prompts) == 3  # sympy settled 016 = 16
    summary = done_summary(tmp_path / "grade")
    assert {k: summary[k] for k in ("trajectories", "answered", "correct", "judged", "shards", "judge")} == {
        "trajectories": 4, "answered": 4, "correct": 2, "judged": 3, "shards": 2, "judge": "fallback"}
    assert summary["verdict_timeout"] == summary["verdict_error"] == 0


def test_grade_regrades_a_shard_that_grew(tmp_path):
    gen = tmp_path / "generate"
    shard = gen / "trajectories-00000-of-00001.jsonl"
    write_records(shard, [_trajectory(0, "2", "2")])
    mark_done(gen, {})
    assert cli(["grade", "-q", f"run_dir={tmp_path}"]) == 0
    assert done_summary(tmp_path / "grade")["trajectories"] == 1
    with open(shard, "a") as fh:  # generation resumed and appended to its log
        fh.write(json.dumps(_trajectory(1, "3", "2").to_dict()) + "\n")
    assert cli(["grade", "-q", f"run_dir={tmp_path}"]) == 0
    assert done_summary(tmp_path / "grade")["trajectories"] == 2
    assert done_summary(tmp_path / "grade")["correct"] == 1


def test_grade_records_answers_it_cannot_compare_and_never_aborts(tmp_path):
    """Answers no grader can read, or integers past Python's 4300-digit limit, get verdicts, not a crash."""
    cases = [("9" * 5000, "9" * 5000), ("9" * 5000, "8" * 5000), ("?!", "2"), ("\\begin{pmatrix}", "3"), ("4", "4")]
    gen = tmp_path / "generate"
    write_records(gen / "trajectories-00000-of-00001.jsonl", [_trajectory(i, a, r) for i, (a, r) in enumerate(cases)])
    mark_done(gen, {})
    assert cli(["grade", "-q", f"run_dir={tmp_path}", "grade.workers=1"]) == 0
    summary = done_summary(tmp_path / "grade")
    assert (summary["trajectories"], summary["correct"], summary["verdict_unparseable"]) == (5, 2, 2)
    graded = sorted(load_records(tmp_path / "grade", GradedTrajectory), key=lambda g: g.job_id)
    assert [g.symbolic_correct for g in graded] == [True, False, None, None, True]
