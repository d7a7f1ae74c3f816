"""The sbatch scripts on a real one-node SLURM (``scripts/slurm_cluster.sh up``): the tiny chain submitted by
``slurm/submit_pipeline.sh`` completes job by job, and a training job told to stop (USR1, as before a time limit)
requeues itself and resumes from its latest checkpoint. Skipped when no cluster is up (``SLURM_CONF`` unset)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from nemo_math.io import is_done
from slurm_helpers import REPO, needs_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow, needs_cluster]

TINIEST = REPO / "tests" / "pipeline" / "tiniest.yaml"  # 8 problems, two SFT stages of two steps, one eval problem
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
            "DEADLINE", "BOOT_FAIL"}


def job_info(job_id: str) -> list[dict[str, str]]:
    """``scontrol show job`` as one dict per job (an array gives one per task); [] once SLURM forgot it."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return []
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.stdout.splitlines() if line.strip()]


def wait_for(job_ids: list[str], timeout_s: float) -> dict[str, list[dict[str, str]]]:
    deadline = time.monotonic() + timeout_s
    while True:
        infos = {j: job_info(j) for j in job_ids}
        if all(info and all(t["JobState"] in TERMINAL for t in info) for info in infos.values()):
            return infos
        if time.monotonic() > deadline:
            subprocess.run(["scancel", *job_ids], timeout=30)
            pytest.fail(f"jobs not finished after {timeout_s:.0f} s: "
                        f"{ {j: [t['JobState'] for t in i] for j, i in infos.items()} }")
        time.sleep(2)


def logs_of(run_dir: Path) -> str:
    return "\n".join(f"==> {p.name}\n{p.read_text()[-3000:]}" for p in sorted((run_dir / "slurm-logs").glob("*")))


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The tiny chain through slurm/submit_pipeline.sh, generation and grading as 2-task arrays; waits for
    every job."""
    run_dir = tmp_path_factory.mktemp("slurm") / "run"
    env = {**os.environ, "NEMO_MATH_GENERATE_SHARDS": "2", "NEMO_MATH_GRADE_SHARDS": "2", "COLUMNS": "200"}
    submit = [str(REPO / "slurm" / "submit_pipeline.sh"), "--config", "tiny", "--config", str(TINIEST),
              f"run_dir={run_dir}"]
    out = subprocess.run(submit, capture_output=True, text=True, env=env, cwd=run_dir.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    jobs = dict(line.split() for line in out.stdout.splitlines())
    infos = wait_for(list(jobs.values()), timeout_s=600)
    failed = {name: [t["JobState"] for t in infos[j]] for name, j in jobs.items()
              if any(t["JobState"] != "COMPLETED" for t in infos[j])}
    assert not failed, f"{failed}\n{logs_of(run_dir)}"
    return run_dir, jobs


def test_chain_of_sbatch_jobs_completes(chain):
    run_dir, jobs = chain
    assert list(jobs) == ["problems", "generate", "grade", "curate", "pack", "train.s512", "train.s2048",
                          "convert", "evaluate", "report"]
    assert len(job_info(jobs["generate"])) == len(job_info(jobs["grade"])) == 2  # the arrays' two tasks
    for stage in ("problems", "generate", "grade", "curate", "pack", "train", "hf", "evaluate"):
        assert is_done(run_dir / stage), f"{stage} not complete\n{logs_of(run_dir)}"
    shards = sorted(p.name for p in (run_dir / "generate").glob("trajectories-*.jsonl"))
    assert shards == ["trajectories-00000-of-00002.jsonl", "trajectories-00001-of-00002.jsonl"]
    assert json.loads((run_dir / "train" / "latest.json").read_text())["iteration"] == 2
    assert (run_dir / "hf" / "config.json").exists()
    report = (run_dir / "report" / "report.md").read_text()
    assert "](../evaluate" in report and "| complete | - |" not in report  # every stage's wall time, from the jobs
    # the chain is complete: submitting again submits only the report
    submit = [str(REPO / "slurm" / "submit_pipeline.sh"), "--dry-run", "--config", "tiny", "--config", str(TINIEST),
              f"run_dir={run_dir}"]
    again = subprocess.run(submit, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["report"]


def test_training_job_requeues_and_resumes(chain, tmp_path: Path):
    run_dir, _ = chain
    config = yaml.safe_load((run_dir / "slurm-config.yaml").read_text())
    out_dir = tmp_path / "train"
    config["train"]["output_dir"] = str(out_dir)
    config["train"]["stages"] = [{"name": "long", "bucket": "bucket_2048", "global_batch_size": 2, "steps": 16,
                                  "save_interval": 1}]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "NEMO_MATH_HOME": str(REPO), "NEMO_MATH_CONFIG": str(tmp_path / "config.yaml"),
           "NEMO_MATH_OVERRIDES": "", "NEMO_MATH_TRAIN_ARGS": "--stage long", "COLUMNS": "200"}
    log = tmp_path / "train.out"
    job = subprocess.run(["sbatch", "--parsable", f"--output={log}", str(REPO / "slurm" / "train.sbatch")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60).stdout.strip()
    assert job, "sbatch failed"

    ckpts = out_dir / "long" / "checkpoints"
    deadline = time.monotonic() + 300
    while not any(ckpts.glob("iter_*")):  # mid-stage: a checkpoint exists, the stage is not done
        assert time.monotonic() < deadline, f"no checkpoint\n{log.read_text() if log.exists() else ''}"
        assert job_info(job)[0]["JobState"] in ("PENDING", "RUNNING"), log.read_text()
        time.sleep(1)
    # what SLURM sends before a time limit (--signal=B:USR1@300): the script's trap requeues the job
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True, timeout=30)
    deadline = time.monotonic() + 120
    while True:
        info = job_info(job)[0]
        if info.get("Restarts") == "1" and info["JobState"] in ("RUNNING", *TERMINAL):
            break  # requeued and started again
        if info.get("Restarts") == "1" and info["JobState"] == "PENDING":
            # SLURM holds a requeued job back for two minutes; let it start now
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True, timeout=30)
        assert time.monotonic() < deadline, f"not requeued and restarted: {info}\n{log.read_text()}"
        time.sleep(1)
    info = wait_for([job], timeout_s=400)[job][0]
    text = log.read_text()
    assert info["JobState"] == "COMPLETED", text
    assert "requeueing job" in text and "(restart 1)" in text
    resumed = re.search(r"resumed\s+long\s+at\s+step\s+(\d+)", text)
    assert resumed and 0 < int(resumed.group(1)) < 16, text
    summary = json.loads((out_dir / "long" / "_SUCCESS.json").read_text())
    assert summary["steps"] == 16
    steps = [json.loads(line)["step"] for line in (out_dir / "long" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 17))  # every step once: the first run's and the resumed run's
