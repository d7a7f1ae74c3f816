"""nemo-run recipes for training: one task per bucketed stage, and the chained schedule as an experiment.

A recipe only builds tasks from a nemo-math config file (executors come from ``recipes/executors.py``); the
config stays the single source of truth (layouts, buckets, LR), and every task is
``python -m nemo_math.training.launch --stage NAME`` under the executor's torchrun launcher. Stages run in order,
each resuming from the previous stage's checkpoint; a stage that is already done exits at once, so re-submitting
the experiment continues a partial schedule. (``recipes/pipeline.py`` runs all stages as one training job.)

    python recipes/train.py --config configs/tiny_cpu.yaml --executor local            # 2 CPU ranks, here
    python recipes/train.py --config configs/qwen3_8b.yaml --executor slurm --account A --partition P --dryrun
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nemo_run as run
from nemo_run.config import get_nemorun_home

sys.path.insert(0, str(Path(__file__).resolve().parent))

from executors import local_executor, slurm_executor  # noqa: E402

from nemo_math.config import load_config, to_yaml  # noqa: E402
from nemo_math.io import write_text  # noqa: E402
from nemo_math.training.schedule import plan  # noqa: E402


def stage_task(config_file: str | Path, stage: str) -> run.Script:
    """One bucketed stage: all ranks run the launch module (torchrun comes from the executor)."""
    return run.Script(path="nemo_math.training.launch", m=True, entrypoint="python",
                      args=["--config", str(config_file), "--stage", stage])


def add_schedule(exp: run.Experiment, config_file: str | Path, executor,
                 overrides: list[str] | None = None) -> list[str]:
    """The chained schedule: the stages of ``config_file`` as tasks of ``exp`` (an open experiment, run with
    ``sequential=True``). The config (with ``overrides``) is validated, resolved and frozen next to the
    training output first. Returns the task names."""
    cfg = load_config([config_file], overrides)
    import torch

    plan(cfg.train, gpu=torch.cuda.is_available() or isinstance(executor, run.SlurmExecutor), check_data=False)
    frozen = Path(cfg.train.output_dir) / "config.yaml"
    write_text(frozen, to_yaml(cfg))
    for stage in cfg.train.stages:
        exp.add(stage_task(frozen.resolve(), stage.name), executor=executor.clone(), name=stage.name)
    return [stage.name for stage in cfg.train.stages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--executor", choices=["local", "slurm"], default="local")
    parser.add_argument("--account", default="")
    parser.add_argument("--partition", default="")
    parser.add_argument("--time", default="04:00:00")
    parser.add_argument("--container-image", default=None)
    parser.add_argument("--dryrun", action="store_true", help="print what would run, launch nothing")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    cfg = load_config([args.config], args.overrides)
    if args.executor == "local":
        executor = local_executor("train", nproc_per_node=cfg.train.nproc_per_node)
    else:
        executor = slurm_executor("train", account=args.account, partition=args.partition,
                                  job_dir=str(Path(get_nemorun_home()) / "experiments"), time=args.time,
                                  nodes=cfg.train.nnodes, gpus_per_node=cfg.train.nproc_per_node,
                                  container_image=args.container_image)
    with run.Experiment("nemo-math-train") as exp:
        add_schedule(exp, args.config, executor, args.overrides)
        if args.dryrun:
            exp.dryrun(delete_exp_dir=True)
        else:
            exp.run(sequential=True, detach=args.executor == "slurm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
