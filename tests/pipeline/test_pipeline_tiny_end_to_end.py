"""The README's main command, ``nemo-math pipeline --preset tiny``, end to end on the CPU with the tiniest
settings (``tiniest.yaml``): every stage runs for real, in order, and the report links every stage's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_math.io import is_done

TINIEST = Path(__file__).with_name("tiniest.yaml")
STAGE_DIRS = {"problems": "problems", "generate": "generate", "grade": "grade", "curate": "curate",
              "pack": "pack", "train": "train", "convert": "hf", "evaluate": "evaluate"}


@pytest.mark.slow
def test_tiny_pipeline_end_to_end(tmp_path: Path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "nemo_math.cli", "pipeline", "--quiet", "--preset", "tiny", "--config",
           str(TINIEST), f"run_dir={run_dir}"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-5000:]

    for stage, folder in STAGE_DIRS.items():
        assert is_done(run_dir / folder), f"{stage} did not complete"
    timings = json.loads((run_dir / "report" / "timings.json").read_text())
    assert list(timings) == list(STAGE_DIRS) and all(t["exit_code"] == 0 for t in timings.values())
    # the data really went through: problems -> trajectories in all six settings -> packed rows -> a model
    assert len((run_dir / "problems" / "problems.jsonl").read_text().splitlines()) == 12
    assert sorted(p.name for p in (run_dir / "pack").glob("bucket_*")) == ["bucket_2048", "bucket_512"]
    assert json.loads((run_dir / "train" / "latest.json").read_text())["iteration"] == 2
    assert (run_dir / "hf" / "config.json").exists()

    report = (run_dir / "report" / "report.md").read_text()
    for stage, folder in STAGE_DIRS.items():
        assert f"](../{folder})" in report, stage
    assert "](../train/loss.png)" in report
    assert (run_dir / "report" / "wall_time.png").stat().st_size > 0
