"""``nemo-math train``: check every stage's layout, then run the stages in order, each under torchrun.

Every stage is validated before the first one launches (world size, TP/CP/EP/PP, sequence parallel, the
bucket's row multiple), so a bad layout in stage 4 fails in seconds, not after stages 1-3. Each stage is its own
``torchrun -m nemo_math.training.launch --stage NAME`` (a fresh process per layout; the handoff goes through
the checkpoint). A finished stage has ``_SUCCESS.json`` and is skipped on re-run; a killed one resumes from its
latest checkpoint. With ``train.launcher=none`` the ranks already exist (srun, torchrun) and run in-process.
When all stages are done: ``latest.json`` at the output root names the final checkpoint, ``loss.png`` plots the
loss across stages and ``_SUCCESS.json`` holds the per-stage figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nemo_math import progress
from nemo_math.config import NemoMathConfig, to_yaml
from nemo_math.io import write_text
from nemo_math.training.config import TrainConfig
from nemo_math.training.report import finish
from nemo_math.training.schedule import plan, stage_is_done

log = progress.log


def add_arguments(parser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="validate every stage's layout as on GPUs (no data needed), print the plan, exit")
    parser.add_argument("--stage", default="all", help="run only this stage (by name)")


def torchrun_command(cfg: TrainConfig, config_file: Path, stage: str, quiet: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={cfg.nproc_per_node}",
           f"--nnodes={cfg.nnodes}"]
    if cfg.nnodes > 1:  # one agent per node meets at MASTER_ADDR (SLURM sets it in the recipe's sbatch)
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={os.environ.get('MASTER_ADDR', 'localhost')}:"
                f"{os.environ.get('MASTER_PORT', '29500')}", f"--rdzv-id={os.environ.get('SLURM_JOB_ID', 'nemo-math')}"]
    else:
        cmd += ["--standalone"]
    cmd += ["-m", "nemo_math.training.launch", "--config", str(config_file), "--stage", stage]
    return cmd + (["--quiet"] if quiet else [])


def main(cfg: NemoMathConfig, args) -> int:
    import torch

    from nemo_math.training.launch import stage_indices

    train = cfg.train
    rows = plan(train, gpu=torch.cuda.is_available() or args.dry_run, check_data=not args.dry_run)
    for row in rows:
        log.info("plan: %s", row)
    if args.dry_run:
        print(json.dumps(rows, indent=2))
        return 0
    out = Path(train.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "config.yaml"
    write_text(config_file, to_yaml(cfg))
    if train.launcher == "none":
        from nemo_math.training.launch import run

        run(cfg, args.stage)
        if torch.distributed.get_rank() != 0:
            return 0
    elif train.launcher == "torchrun":
        for index in stage_indices(cfg, args.stage):
            name = train.stages[index].name
            if stage_is_done(train, index):
                log.info("stage %s is done, skipping", name)
                continue
            cmd = torchrun_command(train, config_file, name, quiet=args.quiet)
            log.info("stage %s: %s", name, " ".join(cmd))
            proc = subprocess.run(cmd)
            if proc.returncode:
                log.error("stage %s failed (exit %d); re-run the same command to resume it", name, proc.returncode)
                return proc.returncode
    else:
        raise ValueError(f"train.launcher: {train.launcher!r} is not torchrun or none")
    if all(stage_is_done(train, i) for i in range(len(train.stages))):
        summary = finish(train)
        log.info("final checkpoint: %s", summary["final_checkpoint"])
        for stage in summary["stages"]:
            log.info("%s: %s, final loss %.4f, %.0f tokens/s", stage["stage"], stage["layout"],
                     stage["final_loss"], stage["tokens_per_s"])
    return 0
