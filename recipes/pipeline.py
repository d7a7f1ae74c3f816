"""The whole nemo-math chain as one nemo-run experiment: every configured stage in order, each after the last.

    python recipes/pipeline.py --preset tiny                          # run here, stage after stage
    python recipes/pipeline.py --preset tiny --dryrun                 # print what would run
    python recipes/pipeline.py --config configs/qwen3_8b.yaml --executor slurm --account ACC --partition batch \
        --gpus-per-node 8 --nodes 8 --dryrun                          # the sbatch scripts nemo-run would submit

On SLURM, ``run(sequential=True)`` submits all jobs at once chained with ``afterok`` dependencies. Stages
already complete (``_SUCCESS.json``) are left out, as ``nemo-math pipeline`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nemo_run as run
from nemo_run.config import get_nemorun_home

sys.path.insert(0, str(Path(__file__).resolve().parent))

from executors import local_executor, slurm_executor  # noqa: E402
from stages import stage_recipe  # noqa: E402

from nemo_math.config import load_config  # noqa: E402
from nemo_math.pipeline import plan  # noqa: E402


def add_stages(experiment: run.Experiment, args: argparse.Namespace) -> None:
    """One job per configured, not yet complete stage, in pipeline order."""
    files = [*([args.preset] if args.preset else []), *args.config]
    cfg = load_config(files, args.overrides)
    # jobs run from nemo-run's own folders: pin the run folder and config files to absolute paths
    files = [str(Path(f).resolve()) if Path(f).exists() else f for f in files]
    overrides = [*args.overrides, f"run_dir={Path(cfg.run_dir).resolve()}"]
    for step in plan(cfg):
        if step.done:
            continue
        if args.executor == "slurm":
            executor = slurm_executor(step.stage, account=args.account, partition=args.partition,
                                      job_dir=str(Path(args.base_dir or get_nemorun_home()) / "experiments"),
                                      time=args.time, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
                                      container_image=args.container_image)
        else:
            executor = local_executor(step.stage, nproc_per_node=cfg.train.nproc_per_node)
        layout = []
        if step.stage == "train" and args.executor == "slurm":  # the ranks the executor starts
            layout = [f"train.nnodes={args.nodes}", f"train.nproc_per_node={args.gpus_per_node or 1}"]
        experiment.add(stage_recipe(step.stage, files, overrides + layout), executor=executor, name=step.stage)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", help="a preset in configs/ (e.g. tiny)")
    p.add_argument("--config", action="append", default=[], help="YAML config files (later win)")
    p.add_argument("--executor", choices=["local", "slurm"], default="local")
    p.add_argument("--dryrun", action="store_true", help="print what would be submitted, run nothing")
    p.add_argument("--name", default="nemo-math", help="experiment title")
    p.add_argument("--base-dir", default=None, help="nemo-run's experiment folder (default ~/.nemo_run)")
    p.add_argument("--account", default="", help="slurm: account")
    p.add_argument("--partition", default=None, help="slurm: partition")
    p.add_argument("--time", default="04:00:00", help="slurm: time limit per job")
    p.add_argument("--nodes", type=int, default=1, help="slurm: nodes for training")
    p.add_argument("--gpus-per-node", type=int, default=None, help="slurm: GPUs (ranks) per training node")
    p.add_argument("--container-image", default=None, help="slurm: pyxis image")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # jobs start `python -m nemo_run...`: make that this interpreter, venv activated or not
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with run.Experiment(args.name, base_dir=args.base_dir, log_level="WARN") as experiment:
        add_stages(experiment, args)
        if not experiment.jobs:
            print("every stage is complete; nothing to run")
            return 0
        if args.dryrun:
            experiment.dryrun(delete_exp_dir=True)
        else:
            experiment.run(sequential=True, detach=args.executor == "slurm", tail_logs=False)
    if args.dryrun or args.executor == "slurm":
        return 0
    files = [*([args.preset] if args.preset else []), *args.config]
    unfinished = [s.stage for s in plan(load_config(files, args.overrides)) if not s.done]
    if unfinished:
        print(f"error: stage(s) not complete: {', '.join(unfinished)} (see the logs above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
