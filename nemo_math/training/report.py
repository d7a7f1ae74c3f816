"""The end of a schedule: the root ``latest.json`` naming the final checkpoint, ``loss.png`` across stages,
and ``_SUCCESS.json`` with every stage's figures (layout, steps, final loss, tokens/s)."""

from __future__ import annotations

import json
from pathlib import Path

from nemo_math.io import done_summary, mark_done, write_json
from nemo_math.training.config import TrainConfig


def plot_losses(cfg: TrainConfig, path: Path) -> None:
    """Loss against the global step, one colour per stage, dashed lines at the handoffs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    offset = 0
    for stage in cfg.stages:
        metrics = Path(cfg.output_dir) / stage.name / "metrics.jsonl"
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] \
            if metrics.exists() else []
        if not rows:
            continue
        ax.plot([offset + r["step"] for r in rows], [r["loss"] for r in rows], label=stage.name)
        offset += rows[-1]["step"]
        ax.axvline(offset, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("optimizer step (all stages)")
    ax.set_ylabel("LM loss (per token)")
    ax.set_title(f"{cfg.model}: bucketed SFT stages")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def finish(cfg: TrainConfig) -> dict:
    """After the last stage: the root ``latest.json``, the loss plot and ``_SUCCESS.json``."""
    out = Path(cfg.output_dir)
    stages = [done_summary(out / s.name) for s in cfg.stages]
    final = Path(stages[-1]["final_checkpoint"])
    write_json(out / "latest.json", {"checkpoint": str(final.relative_to(out)),
                                     "iteration": int(final.name.split("_")[-1])})
    plot_losses(cfg, out / "loss.png")
    summary = {"final_checkpoint": str(final), "model": cfg.model, "stages": stages}
    mark_done(out, summary)
    return summary
