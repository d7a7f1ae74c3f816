"""Entry point of every training rank: ``torchrun --nproc-per-node N -m nemo_math.training.launch -c F.yaml``.

``nemo-math train`` spawns this once per stage (``--stage NAME``); users may also run it directly under torchrun
or srun for all stages in one job (``--stage all``, the default). Each rank initialises the default process group
(NCCL on GPU, gloo on CPU) from the torchrun/SLURM environment and runs the stages that are not done yet.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from nemo_math import progress
from nemo_math.config import NemoMathConfig, load_config
from nemo_math.threads import set_cpu_threads
from nemo_math.training.loop import train_stage
from nemo_math.training.report import finish
from nemo_math.training.schedule import stage_is_done


def init_distributed() -> None:
    """The default process group from torchrun's (or srun's) environment."""
    if torch.distributed.is_initialized():
        return
    for ours, slurm in (("RANK", "SLURM_PROCID"), ("WORLD_SIZE", "SLURM_NTASKS"), ("LOCAL_RANK", "SLURM_LOCALID")):
        if ours not in os.environ and slurm in os.environ:
            os.environ[ours] = os.environ[slurm]
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl")
    else:
        torch.distributed.init_process_group("gloo")


def stage_indices(cfg: NemoMathConfig, stage: str) -> list[int]:
    names = [s.name for s in cfg.train.stages]
    if stage == "all":
        return list(range(len(names)))
    if stage in names:
        return [names.index(stage)]
    raise ValueError(f"--stage {stage!r}: no such stage (stages: {', '.join(names)})")


def run(cfg: NemoMathConfig, stage: str = "all") -> list[dict]:
    """Run the selected stages on this rank (the process group is created if needed); when every stage is
    done, rank 0 writes the schedule's summary (:func:`~nemo_math.training.report.finish`)."""
    init_distributed()
    set_cpu_threads(cfg.train.cpu_threads)
    rank = torch.distributed.get_rank()
    progress.configure(quiet=progress.is_quiet() or rank != 0)
    summaries = []
    for index in stage_indices(cfg, stage):
        if stage_is_done(cfg.train, index):
            if rank == 0:
                progress.log.info("stage %s is done, skipping", cfg.train.stages[index].name)
            continue
        summaries.append(train_stage(cfg.train, index))
    if rank == 0 and all(stage_is_done(cfg.train, i) for i in range(len(cfg.train.stages))):
        finish(cfg.train)
    return summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nemo_math.training.launch")
    parser.add_argument("--config", "-c", action="append", default=[])
    parser.add_argument("--stage", default="all", help="a stage name, or all")
    parser.add_argument("--quiet", "-q", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    progress.configure(quiet=args.quiet)
    cfg = load_config(args.config, args.overrides)
    run(cfg, args.stage)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
