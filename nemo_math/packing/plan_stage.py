"""``nemo-math plan``: propose bucket boundaries and per-bucket TP/CP/EP and micro-batch for a cluster.

Lengths come from a pack output's token store (``pack.plan.input``) or, before any data exists, from a
log-normal (``pack.plan.synthetic_samples > 0``). Prints the chosen plan, each stage next to the paper's layout
with the reason for any difference, and the speedup over training everything at the longest length; writes
``plan.json`` to ``pack.plan.output_dir``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nemo_math.config import ConfigError
from nemo_math.io import write_json
from nemo_math.packing.config import PlanConfig
from nemo_math.packing.planner import MODELS, RECOMPUTE, Plan, plan_stages, propose


def load_lengths(cfg: PlanConfig, seed: int = 0) -> np.ndarray:
    if cfg.synthetic_samples > 0:
        rng = np.random.default_rng(seed)
        lengths = rng.lognormal(np.log(cfg.synthetic_median), cfg.synthetic_sigma, cfg.synthetic_samples)
        return np.clip(np.round(lengths), 1, max(cfg.candidate_buckets)).astype(np.int64)
    index = Path(cfg.input or "") / "tokens" / "index.npz"
    if not index.exists():
        raise FileNotFoundError(f"{index}: no token store; run `nemo-math pack` first or set "
                                "pack.plan.synthetic_samples")
    return np.load(index)["lengths"]


def format_plan(plan: Plan, title: str) -> str:
    lines = [f"{title}: {plan.model}, buckets {plan.buckets}"]
    for stage in plan.stages:
        w, c, p = stage.work, stage.chosen, stage.paper
        head = f"  {w.seq_len:>7}: {w.num_samples:>9} samples {w.num_rows:>8} rows  "
        if c is None:
            lines.append(head + "no samples" if not w.num_rows else head + "no feasible layout")
            continue
        line = head + f"{c.layout!s:<22} {c.seconds / 3600:8.2f} h  {c.memory_gb:5.1f} GB/GPU"
        if p is not None:
            line += f"   paper {p.layout!s:<22} " + (f"{p.seconds / 3600:8.2f} h" if p.feasible else "infeasible")
        lines.append(line)
        if stage.note and stage.note != "same as the paper":
            lines.append(f"           why: {stage.note}")
    lines.append(f"  total {plan.seconds / 3600:.2f} h (stage switches included)")
    if plan.joint is not None:
        lines.append(f"  joint training at {plan.buckets[-1]} with {plan.joint.layout}: "
                     f"{plan.joint.seconds / 3600:.2f} h -> bucketed speedup {plan.speedup:.2f}x")
    if plan.joint_best is not None:
        lines.append(f"  joint training at {plan.buckets[-1]}, best layout {plan.joint_best.layout}: "
                     f"{plan.joint_best.seconds / 3600:.2f} h")
    return "\n".join(lines)


def main(cfg, args) -> int:
    plan_cfg: PlanConfig = cfg.pack.plan
    if plan_cfg.model not in MODELS:
        raise ConfigError(f"pack.plan.model={plan_cfg.model!r}: known models are {', '.join(MODELS)}")
    if plan_cfg.recompute not in RECOMPUTE:
        raise ConfigError(f"pack.plan.recompute={plan_cfg.recompute!r}: expected one of {', '.join(RECOMPUTE)}")
    model = MODELS[plan_cfg.model]
    lengths = load_lengths(plan_cfg, cfg.seed)
    scale = plan_cfg.scale * plan_cfg.epochs
    common = {"recompute": plan_cfg.recompute, "scale": scale, "stage_overhead_s": plan_cfg.stage_overhead_s,
              "row_multiple": cfg.pack.pad_multiple}
    current = plan_stages(model, lengths, list(cfg.pack.buckets), plan_cfg.cluster, **common)
    proposed = propose(model, lengths, list(plan_cfg.candidate_buckets), plan_cfg.cluster,
                       max_buckets=plan_cfg.max_buckets, **common)
    print(format_plan(current, "configured buckets"))
    print(format_plan(proposed, "proposed buckets"))
    write_json(Path(plan_cfg.output_dir) / "plan.json",
               {"configured": current.to_dict(), "proposed": proposed.to_dict(), "num_lengths": len(lengths)})
    return 0
