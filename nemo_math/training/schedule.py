"""The staged schedule as data: where each stage reads and writes, its layout, and the plan checked up front.

No torch here, so ``nemo-math train --dry-run`` and login-node tools can check a 64-GPU schedule instantly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from nemo_math.io import is_done
from nemo_math.training import models
from nemo_math.training.config import StageConfig, TrainConfig
from nemo_math.training.parallel import Layout, validate


def stage_dir(cfg: TrainConfig, index: int) -> Path:
    return Path(cfg.output_dir) / cfg.stages[index].name


def stage_is_done(cfg: TrainConfig, index: int) -> bool:
    return is_done(stage_dir(cfg, index))


def bucket_dir(cfg: TrainConfig, stage: StageConfig) -> Path:
    path = Path(stage.bucket)
    return path if path.is_absolute() else Path(cfg.data_dir) / path


def layout_of(stage: StageConfig) -> Layout:
    return Layout(stage.tp, stage.cp, stage.ep, stage.pp, stage.sequence_parallel, stage.etp)


def model_config(cfg: TrainConfig, stage: StageConfig | None = None) -> models.ModelConfig:
    """The model of ``cfg``; with ``stage``, at that stage's RoPE (``stage.yarn_factor``, when set): YaRN only
    where the bucket needs it. A checkpoint records the model it was trained with, so the HF export's
    ``rope_scaling`` is that of the last stage."""
    model = models.preset(cfg.model, **cfg.model_overrides)
    if stage is not None and stage.yarn_factor:
        if stage.yarn_factor < 1:
            raise ValueError(f"stage {stage.name}: yarn_factor {stage.yarn_factor} must be 0 (the model's), 1 "
                             f"(plain RoPE) or > 1")
        model = dataclasses.replace(model, yarn_factor=stage.yarn_factor)
    return model


def plan(cfg: TrainConfig, gpu: bool, check_data: bool = True) -> list[dict]:
    """Validate every stage; one row per stage with its layout, DP size and data (raises LayoutError)."""
    if not cfg.stages:
        raise ValueError("train.stages is empty: add at least one stage")
    names = [s.name for s in cfg.stages]
    if len(set(names)) != len(names):
        raise ValueError(f"train.stages: stage names must be unique, got {names}")
    world = cfg.nproc_per_node * cfg.nnodes
    rows = []
    for index, stage in enumerate(cfg.stages):
        model = model_config(cfg, stage)
        bucket = bucket_dir(cfg, stage)
        manifest_path = bucket / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        if check_data and manifest is None:
            raise FileNotFoundError(f"train.stages[{index}] ({stage.name}): {bucket} is not a packed bucket "
                                    f"(no manifest.json); run `nemo-math pack` or fix train.data_dir / bucket")
        dp = validate(layout_of(stage), world, model, micro_batch_size=stage.micro_batch_size,
                      global_batch_size=stage.global_batch_size,
                      row_multiple=manifest.get("pad_multiple") if manifest else None, gpu=gpu,
                      where=f"train.stages[{index}] ({stage.name})")
        rows.append({"stage": stage.name, "layout": str(layout_of(stage)), "dp": dp, "bucket": str(bucket),
                     "rows": manifest.get("num_sequences") if manifest else None, "steps": stage.steps or None,
                     "epochs": stage.epochs, "global_batch_size": stage.global_batch_size, "lr": stage.lr,
                     "lr_schedule": stage.lr_schedule, "yarn_factor": model.yarn_factor})
    return rows
