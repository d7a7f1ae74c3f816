"""``nemo-math pipeline``: runs the configured stages as subprocesses, skips complete ones, --force redoes one,
fails clearly on a stage that is not built, and writes the report. Uses the real problems stage (fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_math import cli, pipeline
from nemo_math.config import load_config

PROBLEMS = ["problems.sources=[{kind: synthetic, count: 12}]", "problems.decontaminate.enabled=false",
            "problems.near_dedup.enabled=false", "pipeline.stages=[problems]"]


def nemo_math(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nemo_math.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_pipeline_runs_skips_and_forces(tmp_path: Path):
    run_dir = tmp_path / "run"
    args = ["pipeline", "--quiet", f"run_dir={run_dir}", *PROBLEMS]

    first = nemo_math(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    marker = run_dir / "problems" / "_SUCCESS.json"
    problems = (run_dir / "problems" / "problems.jsonl").read_text().splitlines()
    assert len(problems) == 12 and json.loads(problems[0])["expected_answer"]
    timings = json.loads((run_dir / "report" / "timings.json").read_text())
    assert set(timings) == {"problems"} and timings["problems"]["exit_code"] == 0
    report = (run_dir / "report" / "report.md").read_text()
    assert "](../problems)" in report and "](../problems/report.png)" in report
    assert (run_dir / "report" / "wall_time.png").stat().st_size > 0
    assert "run_dir: " + str(run_dir) in (run_dir / "report" / "config.yaml").read_text()

    stamp = marker.stat().st_mtime_ns
    again = nemo_math(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert marker.stat().st_mtime_ns == stamp  # complete: skipped

    stray = run_dir / "problems" / "stray.txt"
    stray.write_text("from an earlier run")
    forced = nemo_math(*args, "--force", "problems", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert marker.stat().st_mtime_ns != stamp and not stray.exists()  # deleted and redone


def test_plan_lists_stages_and_status(tmp_path: Path):
    run_dir = tmp_path / "run"
    (run_dir / "grade").mkdir(parents=True)
    (run_dir / "grade" / "_SUCCESS.json").write_text("{}")
    out = nemo_math("pipeline", "--plan", f"run_dir={run_dir}", "pipeline.stages=[problems,grade]", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"run_dir {run_dir}", f"problems pending {run_dir / 'problems'}",
                                       f"grade done {run_dir / 'grade'}"]


def test_stage_not_built_fails_before_running_anything(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "grade", ("nemo_math.grading.no_such_stage", "grading"))
    run_dir = tmp_path / "run"
    rc = cli.main(["pipeline", "--quiet", f"run_dir={run_dir}", *PROBLEMS[:-1], "pipeline.stages=[problems,grade]"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "not built yet: grade" in err and "nemo_math.grading.no_such_stage" in err
    assert not (run_dir / "problems").exists()  # nothing ran


def test_unknown_stage_and_unsafe_force_are_refused(tmp_path: Path):
    with pytest.raises(Exception, match="unknown stage"):
        pipeline.plan(load_config(overrides=["pipeline.stages=[problems,bake]"]))
    cfg = load_config(overrides=[f"run_dir={tmp_path}", f"problems.output_dir={tmp_path}"])
    with pytest.raises(Exception, match="refusing to delete"):
        pipeline.clear_output(cfg, "problems")
    assert tmp_path.exists()
