"""Bucketed stages end to end on 2 CPU ranks: layouts change at every handoff and the loss keeps falling;
a stage killed mid-way resumes from its checkpoint with the losses of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from training_helpers import REPO, VOCAB, run_torchrun

from nemo_math.training import checkpoint


def write_config(tmp_path: Path, model: str, stages: list[dict], name: str = "train") -> Path:
    cfg = {"run_dir": str(tmp_path), "seed": 1,
           "train": {"data_dir": str(tmp_path / "pack"), "output_dir": str(tmp_path / name), "model": model,
                     "model_overrides": {"vocab_size": VOCAB}, "nproc_per_node": 2, "tensorboard": False,
                     "stages": stages}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def losses(run_dir: Path, stage: str) -> list[float]:
    lines = (run_dir / stage / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def stage(name, bucket, **layout):
    return {"name": name, "bucket": bucket, "global_batch_size": 4, "steps": 4, "lr": 3e-3, **layout}


@pytest.mark.slow
def test_dense_stages_in_one_torchrun_job(tmp_path, make_bucket):
    """``train.launcher=none``: the ranks already exist (torchrun or srun) and run every stage in-process."""
    make_bucket("bucket_128", 128, rows=24, seed=0)
    make_bucket("bucket_256", 256, rows=16, seed=1)
    config = write_config(tmp_path, "tiny_dense", [
        stage("s1", "bucket_128", tp=1),
        stage("s2", "bucket_256", tp=2),
        stage("s3", "bucket_256", tp=2, sequence_parallel=True, carry_optimizer=True)])
    run_torchrun(2, ["-m", "nemo_math.cli", "train", "--config", str(config), "train.launcher=none", "--quiet"],
                 cwd=REPO)
    run = tmp_path / "train"
    means = [mean(losses(run, s)) for s in ("s1", "s2", "s3")]
    assert means[0] > means[1] > means[2], means
    summary = json.loads((run / "_SUCCESS.json").read_text())
    assert [s["layout"] for s in summary["stages"]] == ["TP1 CP1 EP1 PP1", "TP2 CP1 EP1 PP1", "TP2+SP CP1 EP1 PP1"]
    assert checkpoint.resolve(run) == run / "s3" / "checkpoints" / "iter_0000004"
    assert checkpoint.load_meta(run)["layout"] == "TP2+SP CP1 EP1 PP1"
    assert (run / "loss.png").stat().st_size > 0


@pytest.mark.slow
def test_moe_stages_reshard_between_tp_and_ep(tmp_path, make_bucket):
    make_bucket("bucket_128", 128, rows=24, seed=0)
    make_bucket("bucket_256", 256, rows=16, seed=1)
    config = write_config(tmp_path, "tiny_moe", [
        stage("m1", "bucket_128", tp=1),
        stage("m2", "bucket_256", ep=2),
        stage("m3", "bucket_256", tp=2, sequence_parallel=True)])
    run_torchrun(2, ["-m", "nemo_math.training.launch", "--config", str(config), "--quiet"], cwd=REPO)
    run = tmp_path / "train"
    means = [mean(losses(run, s)) for s in ("m1", "m2", "m3")]
    assert means[0] > means[1] > means[2], means
    assert checkpoint.load_meta(run / "m3" / "checkpoints")["layout"] == "TP2+SP CP1 EP1 PP1"


def cli(config: Path) -> list[str]:
    return [sys.executable, "-m", "nemo_math.cli", "train", "--config", str(config), "--quiet"]


@pytest.mark.slow
def test_killed_stage_resumes_with_the_same_losses(tmp_path, make_bucket):
    """``nemo-math train`` (one torchrun per stage): kill -9 the whole job mid-stage, run it again."""
    make_bucket("bucket_128", 128, rows=24, seed=2)
    one = [stage("s1", "bucket_128", tp=1, steps=6, save_interval=2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    reference = write_config(tmp_path, "tiny_dense", one, name="reference")
    proc = subprocess.run(cli(reference), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]

    killed = write_config(tmp_path, "tiny_dense", one, name="killed")
    # the stage holds after step 3 (NEMO_MATH_HOLD_AFTER_STEP) and says so with a marker file: the kill lands
    # there, between the checkpoints of steps 2 and 4, however slow the machine
    job = subprocess.Popen(cli(killed), cwd=REPO, env={**env, "NEMO_MATH_HOLD_AFTER_STEP": "3"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = tmp_path / "killed" / "s1" / "held_at_step_3"
    try:
        while not marker.exists():
            assert job.poll() is None, f"the stage exited ({job.returncode}) before holding at step 3"
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert len(losses(tmp_path / "killed", "s1")) == 3
    assert checkpoint.load_meta(tmp_path / "killed" / "s1" / "checkpoints")["iteration"] == 2
    assert not (tmp_path / "killed" / "_SUCCESS.json").exists()

    proc = subprocess.run(cli(killed), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert losses(tmp_path / "killed", "s1") == losses(tmp_path / "reference", "s1")
    assert len(losses(tmp_path / "reference", "s1")) == 6
    # a finished schedule is not trained again
    mark = (tmp_path / "killed" / "s1" / "_SUCCESS.json").stat().st_mtime_ns
    proc = subprocess.run(cli(killed), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and (tmp_path / "killed" / "s1" / "_SUCCESS.json").stat().st_mtime_ns == mark
