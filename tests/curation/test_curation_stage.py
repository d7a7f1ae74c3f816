"""``nemo-math grade`` then ``nemo-math curate`` on a generation output whose outcome is known by construction."""

from __future__ import annotations

import json

import pytest
from curation_fixtures import setting, trajectory, write_generation, write_problems

from nemo_math.generation.server import Reply, ServerThread, make_app

from nemo_math.cli import main as cli
from nemo_math.io import is_done, load_records
from nemo_math.records import GradedTrajectory, SFTRecord


def build(run_dir):
    t = []
    # p1: forum answer 16 kept; half right in low mode; the four trace filters in medium mode
    t += setting("p1", "high", True, ["16", "016", "$16$", "16", "16", "15", "16", "16"], "16")
    t += setting("p1", "high", False, ["16"] * 6 + ["15", "16"], "16")
    t += setting("p1", "low", True, ["16"] * 4 + ["3"] * 4, "16", tokens=10)
    t += setting("p1", "low", False, ["16"] * 4 + ["3"] * 4, "16", tokens=10)
    t += [trajectory("p1", "medium", True, 0, None, "16", finish="length"),
          trajectory("p1", "medium", True, 1, "16", "16", tool_errors=12),
          trajectory("p1", "medium", True, 2, None, "16", finish="error"),
          trajectory("p1", "medium", True, 3, None, "16")]
    t += [trajectory("p1", "medium", True, s, "16", "16") for s in range(4, 8)]
    # p2: too easy (low mode always right)
    t += setting("p2", "low", True, ["5"] * 8, "5") + setting("p2", "low", False, ["5"] * 8, "5")
    t += setting("p2", "high", True, ["5"] * 8, "5")
    # p3: the forum answer 7 is wrong; the majority (0.5 = \frac{1}{2}, 9 of 16) replaces it
    t += setting("p3", "high", True, ["0.5"] * 5 + ["2"] * 3, "7")
    t += setting("p3", "high", False, ["\\frac{1}{2}"] * 4 + ["2"] * 4, "7")
    t += setting("p3", "low", True, ["\\frac{1}{2}"] * 2 + ["7"] * 6, "7")
    t += setting("p3", "low", False, ["7"] * 8, "7")
    # p4: no forum answer; x=3 and 3 together (9) beat 4 (7)
    t += setting("p4", "high", True, ["x=3"] * 5 + ["4"] * 3, None)
    t += setting("p4", "high", False, ["3"] * 4 + ["4"] * 4, None)
    # p5: no forum answer and no candidate answer
    t += setting("p5", "high", True, [None] * 8, None)
    write_generation(run_dir / "generate", t)
    write_problems(run_dir / "problems" / "problems.jsonl", ["p1", "p2", "p3", "p4", "p5"])
    return t


@pytest.mark.slow
def test_grade_then_curate(tmp_path, capsys):
    build(tmp_path)
    args = ["-q", f"run_dir={tmp_path}"]
    assert cli(["grade", *args]) == 0
    graded_files = sorted((tmp_path / "grade").glob("graded-*.jsonl"))
    assert len(graded_files) == 2 and is_done(tmp_path / "grade")
    graded = {g.job_id: g for g in load_records(tmp_path / "grade", GradedTrajectory)}
    assert len(graded) == 120
    assert graded["p1/high/tool/1"].predicted_answer == "016" and graded["p1/high/tool/1"].is_correct
    assert not graded["p3/high/tool/0"].is_correct  # 0.5 against the forum's 7, before repair
    mtimes = [f.stat().st_mtime_ns for f in graded_files]
    assert cli(["grade", *args]) == 0  # a rerun finds every shard graded
    assert [f.stat().st_mtime_ns for f in graded_files] == mtimes

    assert cli(["curate", *args]) == 0
    out = tmp_path / "curate"
    assert is_done(out)
    report = json.loads((out / "report.json").read_text())
    assert report["answers"] == {"forum": 2, "majority": 1, "replaced": 1, "none": 1}
    assert report["dropped_problems"] == {"too_easy": 1, "no_reference": 1}
    assert report["trajectories"] == {"input": 120, "kept": 46}
    assert report["dropped_trajectories"] == {"no_reference": 8, "too_easy": 24, "generation_error": 1,
                                              "truncated": 1, "tool_error_loop": 1, "no_answer": 1,
                                              "wrong_answer": 38}
    expected_files = {"reason_high_with_tool": 17, "reason_high_no_tool": 15, "reason_low_with_tool": 6,
                      "reason_low_no_tool": 4, "reason_medium_with_tool": 4}
    assert report["files"] == dict(sorted(expected_files.items()))
    for name in ("lengths.png", "pass_rates.png", "report.md"):
        assert (out / name).stat().st_size > 0
    assert (out / "lengths.png").read_bytes()[:4] == b"\x89PNG"

    records = {stem: load_records(out / "sft" / f"{stem}.jsonl", SFTRecord) for stem in expected_files}
    assert {stem: len(r) for stem, r in records.items()} == expected_files
    p3 = [r for r in records["reason_low_with_tool"] if r.problem == "Solve problem p3."]
    assert len(p3) == 2
    assert (p3[0].expected_answer, p3[0].original_expected_answer, p3[0].changed_answer_to_majority) == (
        "0.5", "7", True)
    assert p3[0].metadata["reason_low_with_tool"] == {"count": 8, "pass": 2, "accuracy": 0.25}
    assert p3[0].metadata["reason_high_no_tool"] == {"count": 8, "pass": 4, "accuracy": 0.5}
    assert p3[0].mode == "low" and p3[0].with_tool and p3[0].tools[0]["function"]["name"] == "python"
    assert p3[0].url == "https://aops.example/p3" and p3[0].license == "CC BY 4.0" and p3[0].tool_usage == 1
    p4 = [r for r in records["reason_high_no_tool"] if r.problem == "Solve problem p4."]
    assert len(p4) == 4 and p4[0].expected_answer == "x=3" and p4[0].original_expected_answer is None
    assert not p4[0].changed_answer_to_majority and p4[0].tools == []
    answers = {row["problem_id"]: row for row in map(json.loads, (out / "answers.jsonl").read_text().splitlines())}
    assert answers["p4"]["source"] == "majority" and answers["p4"]["votes"] == 9

    # one mixed file instead; the per-setting files of the first run go
    assert cli(["curate", *args, "curate.split_by_setting=false"]) == 0
    assert sorted(p.name for p in (out / "sft").iterdir()) == ["mixed.jsonl"]
    assert len(load_records(out / "sft" / "mixed.jsonl", SFTRecord)) == 46


def test_bad_trajectory_line_names_file_line_and_field(tmp_path, capsys):
    folder = tmp_path / "generate"
    write_generation(folder, [trajectory("p1", "high", True, 0, "1", "1")], shards=1)
    shard = folder / "trajectories-00000-of-00001.jsonl"
    row = json.loads(shard.read_text())
    row["mode"] = "extreme"
    shard.write_text(shard.read_text() + json.dumps(row) + "\n")
    assert cli(["grade", "-q", f"run_dir={tmp_path}"]) == 2
    assert f"{shard}:2: mode: expected one of" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["curate.difficulty_mode=extreme", "curate.max_pass_rate=1.5"])
def test_bad_curate_config_is_refused(tmp_path, capsys, override):
    assert cli(["curate", "-q", f"run_dir={tmp_path}", override]) == 2
    assert "curate." in capsys.readouterr().err


class NumberWordJudge:
    """A judge server backend that knows "two" is 2 (sympy does not) and records what it was asked."""

    def __init__(self):
        self.asked: list[tuple[str, str]] = []

    async def chat(self, body):
        prompt = body["messages"][-1]["content"]
        pred = prompt.split("Predicted answer: ", 1)[1].split("\n", 1)[0]
        ref = prompt.split("Reference answer: ", 1)[1].split("\n", 1)[0]
        self.asked.append((pred, ref))
        same = pred.replace("\\text{two}", "2") == ref
        return Reply("stop", 20, 5, messages=[{"role": "assistant", "content": f"Judgement: {'Yes' if same else 'No'}",
                                               "channel": "final", "recipient": None, "name": None}])


@pytest.mark.slow
def test_replaced_reference_is_judged_again(tmp_path):
    # the forum says 9; all 16 disagree; "2" (10 votes) beats "\text{two}" (6, which sympy cannot read as 2)
    t = setting("q", "high", True, ["2"] * 5 + ["\\text{two}"] * 3, "9")
    t += setting("q", "high", False, ["2"] * 5 + ["\\text{two}"] * 3, "9")
    write_generation(tmp_path / "generate", t)
    backend = NumberWordJudge()
    with ServerThread(make_app(backend, "judge")) as url:
        args = ["-q", f"run_dir={tmp_path}", "grade.judge.mode=fallback", f"grade.judge.client.base_urls=[{url}]"]
        assert cli(["grade", *args]) == 0
        assert sorted(backend.asked) == [("2", "9"), ("\\text{two}", "9")]
        assert cli(["curate", *args]) == 0
    # one request per distinct answer; after repair only "\text{two}" needs the judge, against the new reference
    assert backend.asked[2:] == [("\\text{two}", "2")]
    records = load_records(tmp_path / "curate" / "sft", SFTRecord)
    assert len(records) == 16
    assert {(r.expected_answer, r.original_expected_answer, r.changed_answer_to_majority) for r in records} == {
        ("2", "9", True)}
    assert records[0].metadata["reason_high_with_tool"] == {"count": 8, "pass": 8, "accuracy": 1.0}
