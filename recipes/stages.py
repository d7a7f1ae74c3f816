"""nemo-run recipes for the nemo-math stages: each is a ``run.Partial`` of :func:`nemo_math.pipeline.run_stage`.

A recipe only says *what* runs (the stage, its config and overrides); *where* it runs is the executor's job
(``executors.py``), as in Megatron-Bridge. The entry point is our own CLI path, so a stage runs the same under
nemo-run, sbatch (``slurm/``) and ``nemo-math pipeline``.
"""

from __future__ import annotations

import nemo_run as run

from nemo_math.pipeline import STAGES, run_stage


def stage_recipe(stage: str, config: list[str], overrides: list[str] | None = None) -> run.Partial:
    """One stage with the given config files/presets and dotted overrides."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    extra = list(overrides or [])
    if stage == "train":
        extra.append("train.launcher=none")  # the executor's torchrun launcher starts the ranks
    return run.Partial(run_stage, stage=stage, config=list(config), overrides=extra, quiet=True)
