"""``nemo-math convert``: a trained Megatron checkpoint -> HF folder, or an HF folder -> Megatron initial checkpoint.

``direction: auto`` looks at the input: an HF folder (``config.json``) becomes a Megatron checkpoint, anything
else is read as a Megatron checkpoint (a root with ``latest.json``, an ``iter_*`` folder, or a ``nemo-math train``
output, whose last stage's newest checkpoint is taken). It runs on the CPU of one process, GPUs hidden: the
mapping knows the local-spec module names, and dist-checkpointing reshards any training layout to TP=1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nemo_math.config import NemoMathConfig
from nemo_math.io import mark_done
from nemo_math.progress import log


def find_checkpoint(path: str | Path, stage_names: list[str]) -> Path:
    """The Megatron checkpoint at ``path``: itself, its ``latest.json``, or the newest of the last trained stage
    of a ``nemo-math train`` output (``<stage>/checkpoints``)."""
    from nemo_math.training import checkpoint

    path = Path(path)
    candidates = [path, path / "checkpoints"]
    for name in reversed(stage_names):
        candidates += [path / name / "checkpoints", path / name]
    for candidate in candidates:
        try:
            return checkpoint.resolve(candidate)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{path}: no Megatron checkpoint (looked for latest.json in "
                            f"{', '.join(str(c) for c in candidates)})")


def main(cfg: NemoMathConfig, args) -> int:
    if "torch" not in sys.modules:  # conversion is a CPU job (see convert.build_uninitialized)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from nemo_math.conversion import convert
    from nemo_math.training.models import preset

    c = cfg.convert
    direction = c.direction
    if direction == "auto":
        direction = "to_megatron" if (Path(c.input) / "config.json").exists() else "to_hf"
    if direction == "to_megatron":
        summary = convert.to_megatron(c.input, c.output_dir)
    elif direction == "to_hf":
        source = find_checkpoint(c.input, [s.name for s in cfg.train.stages])
        summary = convert.to_hf(source, c.output_dir, preset(c.model, **c.model_overrides), c.tokenizer, c.dtype,
                               c.renderer)
    else:
        raise ValueError(f"convert.direction: expected auto, to_hf or to_megatron, got {direction!r}")
    log.info("converted %s -> %s (%s parameters)", summary["source"], summary["output"],
             f"{summary['parameters']:,}")
    mark_done(c.output_dir, summary)
    return 0
