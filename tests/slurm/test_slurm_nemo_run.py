"""The nemo-run experiment on the real one-node SLURM: ``recipes/pipeline.py --executor slurm`` renders and
submits the sbatch script itself (SlurmExecutor, LocalTunnel) and the stage runs to completion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemo_math.io import is_done

REPO = Path(__file__).resolve().parents[2]


def _cluster_up() -> bool:
    if not os.environ.get("SLURM_CONF") or not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc"))


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (scripts/slurm_cluster.sh up)")
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
