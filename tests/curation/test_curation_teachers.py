"""Two teachers through the real ``generate`` (each on a scripted server the stage starts), then ``grade`` and
``curate``: SFT records carry their teacher and the report breaks pass rates and kept samples down by teacher."""

from __future__ import annotations

import json
import yaml
from curation_fixtures import setting, write_generation, write_problems

from nemo_math.cli import main as cli
from nemo_math.io import load_records, write_records
from nemo_math.problems.synthetic import generate
from nemo_math.records import GradedTrajectory, SFTRecord, Trajectory


def test_generate_grade_curate_break_down_by_teacher(tmp_path):
    problems = tmp_path / "problems.jsonl"
    write_records(problems, generate(4, seed=5))
    config = tmp_path / "teachers.yaml"
    # "strong" knows the problems; "weak" is served without them and guesses
    config.write_text(yaml.safe_dump({"generate": {"teachers": [
        {"name": "strong", "weight": 1, "client": {"model": "strong-model"}, "local_server": {"backend": "scripted"}},
        {"name": "weak", "weight": 1, "client": {"model": "weak-model"},
         "local_server": {"backend": "scripted", "problems": None}}]}}))
    args = ["--quiet", "--config", str(config), f"run_dir={tmp_path}", f"generate.input={problems}",
            "generate.tools=[false]", "generate.modes=[low,high]", "generate.num_samples=4",
            "curate.max_pass_rate=1.0", "curate.repair=false"]
    for stage in ("generate", "grade", "curate"):
        assert cli([stage, *args]) == 0, stage

    graded = load_records(tmp_path / "grade", GradedTrajectory)
    assert len(graded) == 4 * 2 * 4 and {g.teacher for g in graded} == {"strong", "weak"}
    assert all(g.model == f"{g.teacher}-model" for g in graded)
    sft = load_records(tmp_path / "curate" / "sft", SFTRecord)
    assert sft and all(r.metadata["teacher"] in ("strong", "weak") for r in sft)

    report = json.loads((tmp_path / "curate" / "report.json").read_text())
    teachers = report["teachers"]
    assert list(teachers) == ["strong", "weak"]
    for name, row in teachers.items():
        mine = [g for g in graded if g.teacher == name]
        assert row["trajectories"] == len(mine) and row["correct"] == sum(g.is_correct for g in mine)
        assert row["kept"] == sum(r.metadata["teacher"] == name for r in sft)
        assert row["kept"] + sum(row["dropped"].values()) == row["trajectories"]
        low = [g for g in mine if g.mode == "low"]
        assert row["settings"]["reason_low_no_tool"] == {
            "count": len(low), "pass": sum(g.is_correct for g in low),
            "accuracy": sum(g.is_correct for g in low) / len(low)}
    assert teachers["strong"]["pass_rate"] >= 0.5 and teachers["weak"]["pass_rate"] <= 0.1
    assert teachers["strong"]["kept"] > teachers["weak"]["kept"]
    assert teachers["weak"]["dropped"]["wrong_answer"] > teachers["strong"]["dropped"].get("wrong_answer", 0)
    page = (tmp_path / "curate" / "report.md").read_text()
    assert "## teachers" in page and "| strong | " in page and "| weak | " in page
    done = json.loads((tmp_path / "curate" / "_SUCCESS.json").read_text())
    assert done["kept_by_teacher"] == {name: row["kept"] for name, row in teachers.items()}


def test_records_without_a_teacher_curate_under_their_model(tmp_path):
    trajectories = setting("p1", "high", False, ["4"] * 6 + ["5"] * 2, "4")
    write_generation(tmp_path / "generate", trajectories)
    for shard in (tmp_path / "generate").glob("trajectories-*.jsonl"):  # as written before `teacher` existed
        rows = [json.loads(line) for line in shard.read_text().splitlines()]
        shard.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "teacher"}) + "\n" for r in rows))
    assert all("teacher" not in json.loads(line) for line in
               next((tmp_path / "generate").glob("trajectories-*.jsonl")).read_text().splitlines())
    write_problems(tmp_path / "problems" / "problems.jsonl", ["p1"])
    args = ["-q", f"run_dir={tmp_path}", "curate.max_pass_rate=1.0"]
    assert cli(["grade", *args]) == 0 and cli(["curate", *args]) == 0
    assert {t.teacher for t in load_records(tmp_path / "generate", Trajectory)} == {"teacher"}
    report = json.loads((tmp_path / "curate" / "report.json").read_text())
    assert report["teachers"] == {"teacher": {
        "trajectories": 8, "correct": 6, "pass_rate": 0.75, "kept": 6, "dropped": {"wrong_answer": 2},
        "settings": {"reason_high_no_tool": {"count": 8, "pass": 6, "accuracy": 0.75}}}}
    sft = load_records(tmp_path / "curate" / "sft", SFTRecord)
    assert len(sft) == 6 and {r.metadata["teacher"] for r in sft} == {"teacher"}
