"""The nemo-run experiment on the real one-node SLURM: ``recipes/pipeline.py --executor slurm`` renders and
submits the sbatch script itself (SlurmExecutor, LocalTunnel) and the stage runs to completion."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemo_math.io import is_done
from slurm_helpers import REPO, needs_cluster

@pytest.mark.slurm
@pytest.mark.slow
@needs_cluster
def test_nemo_run_slurm_executor_runs_a_stage(tmp_path: Path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "recipes" / "pipeline.py"), "--executor", "slurm", "--account", "test",
           "--partition", "debug", "--time", "00:10:00", "--base-dir", str(tmp_path / "exp"), f"run_dir={run_dir}",
           "problems.sources=[{kind: synthetic, count: 6}]", "pipeline.stages=[problems]"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "1000"})
    assert out.returncode == 0, out.stderr[-3000:]
    deadline = time.monotonic() + 240
    while not is_done(run_dir / "problems"):
        logs = "\n".join(p.read_text()[-2000:] for p in (tmp_path / "exp").rglob("*.out"))
        assert time.monotonic() < deadline, f"the nemo-run job did not finish\n{logs}"
        time.sleep(2)
    assert len((run_dir / "problems" / "problems.jsonl").read_text().splitlines()) == 6
