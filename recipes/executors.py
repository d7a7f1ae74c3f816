"""Where recipes run: this machine (``LocalExecutor``) or a SLURM cluster (``SlurmExecutor``, which renders and
submits the sbatch script itself). Training gets torchrun and the GPU nodes; every other stage one task."""

from __future__ import annotations

import nemo_run as run


def local_executor(stage: str, nproc_per_node: int = 1) -> run.LocalExecutor:
    if stage == "train":
        return run.LocalExecutor(ntasks_per_node=nproc_per_node, launcher="torchrun")
    return run.LocalExecutor()


def slurm_executor(stage: str, *, account: str, partition: str | None, job_dir: str, time: str = "04:00:00",
                   nodes: int = 1, gpus_per_node: int | None = None,
                   container_image: str | None = None) -> run.SlurmExecutor:
    """A SLURM job submitted from this machine (LocalTunnel: run on a login node; ``job_dir`` is the
    experiments folder, which the compute nodes must see); training gets ``nodes`` with torchrun over
    ``gpus_per_node`` ranks each, and is requeued on preemption."""
    training = stage == "train"
    executor = run.SlurmExecutor(
        account=account,
        partition=partition,
        time=time,
        nodes=nodes if training else 1,
        ntasks_per_node=(gpus_per_node or 1) if training else 1,
        gpus_per_node=gpus_per_node if training else None,
        container_image=container_image,
        tunnel=run.LocalTunnel(job_dir=job_dir),
        packager=run.Packager(),  # no code copy: nemo-math is installed in the venv on the shared filesystem
        additional_parameters={"requeue": True} if training else None,
        retries=3 if training else 0,  # nemo-run requeues a failed training job; it resumes from its checkpoint
        job_name_prefix="nemo-math.",
    )
    if training:
        executor.launcher = "torchrun"
    return executor
