"""The nemo-run recipe renders the chained schedule for SLURM without a cluster (dry run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from training_helpers import REPO


@pytest.mark.slow
def test_slurm_recipe_renders_one_multinode_torchrun_per_stage(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "400", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "train.py"), "--config", str(REPO / "configs" / "qwen3_8b.yaml"),
         "--executor", "slurm", "--account", "acct", "--partition", "batch", "--dryrun",
         f"train.output_dir={tmp_path / 'train'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = " ".join((proc.stdout + proc.stderr).split())
    for stage in ("s16k", "s32k", "s64k", "s128k"):
        assert f"--stage {stage}" in text
    assert text.count("--nnodes 8 --nproc-per-node 8") == 4
    assert "#SBATCH --nodes=8" in text and "#SBATCH --ntasks-per-node=1" in text
    frozen = (tmp_path / "train" / "config.yaml").read_text()
    assert "qwen3_8b" in frozen and "${" not in frozen  # resolved, so every node reads the same values
