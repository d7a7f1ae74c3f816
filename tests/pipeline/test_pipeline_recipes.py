"""The nemo-run recipes: the experiment renders real sbatch scripts for SlurmExecutor (dry run: torchrun over the
training nodes, requeue) and runs a stage for real with LocalExecutor, then finds nothing left to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = ["problems.sources=[{kind: synthetic, count: 6}]", "problems.decontaminate.enabled=false"]


def recipe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "1000", "NEMORUN_HOME": str(cwd / "nemo_run_home")}
    return subprocess.run([sys.executable, str(REPO / "recipes" / "pipeline.py"), "--base-dir", str(cwd / "exp"),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_slurm_dryrun_renders_the_chain(tmp_path: Path):
    out = recipe("--executor", "slurm", "--account", "acc", "--partition", "batch", "--nodes", "2",
                 "--gpus-per-node", "8", "--dryrun", f"run_dir={tmp_path / 'run'}", *PROBLEMS,
                 "pipeline.stages=[problems,train]", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "fdl_runner -n problems" in text and "fdl_runner -n train" in text
    train = text[text.index("Task train"):]
    assert "#SBATCH --nodes=2" in train and "#SBATCH --requeue" in train and "#SBATCH --partition=batch" in train
    assert "torchrun" in train and "--nproc-per-node 8" in train
    assert not (tmp_path / "run" / "problems").exists()  # a dry run runs nothing


@pytest.mark.slow
def test_local_executor_runs_the_stage_then_skips_it(tmp_path: Path):
    args = [f"run_dir={tmp_path / 'run'}", *PROBLEMS, "pipeline.stages=[problems]"]
    out = recipe(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    problems = (tmp_path / "run" / "problems" / "problems.jsonl").read_text().splitlines()
    assert len(problems) == 6 and (tmp_path / "run" / "problems" / "_SUCCESS.json").exists()
    again = recipe(*args, cwd=tmp_path)
    assert again.returncode == 0 and "every stage is complete" in again.stdout
