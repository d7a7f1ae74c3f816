"""Bucket planner: which bucket boundaries, and which TP/CP/EP and micro-batch per bucket, for a cluster.

An analytic cost model, in the spirit of the Megatron-LM scaling papers (Narayanan et al. 2021, Korthikanti et
al. 2022), simple enough to read in one sitting:

* compute: FLOPs of the linear layers (6 x active parameters per token, 8 with full recompute; padding included
  since packed rows run whole) plus causal attention per document (8 x s^2 x heads x head_dim per layer: forward,
  backward, recomputed forward), at ``peak x mfu``. Linear layers lose efficiency when TP narrows their GEMMs
  (``n / (n + 256)`` of the sharded width) and when CP and the micro-batch leave few tokens per GPU
  (``m / (m + 1024)``); attention loses it on the short pieces CP cuts each document into (a document of d
  tokens costs as if it had ``d^2 + 512 x CP x d``). This is what makes joint training at the longest length
  slower: every short document pays the long bucket's TP and CP;
* communication, per micro-batch: TP with sequence parallelism (8 all-gather/reduce-scatter of the activations
  per layer, exposed), CP ring attention (K/V around the ring, 3 passes, hidden behind attention compute where it
  can be), MoE all-to-all for EP (4 per MoE layer, exposed); a group that does not fit in one node runs at
  the inter-node bandwidth. Data-parallel gradient traffic overlaps the backward pass and is left out;
* memory: bf16 weights + fp32 gradients per model-parallel shard, the distributed optimizer's 12 bytes per
  parameter sharded over data parallel, activations (34 s h / TP bytes per layer with selective recompute,
  2 s h / TP plus one layer with full recompute), fp32 logits; a layout fits if it stays under
  ``gpu_memory_gb - memory_reserve_gb``.

The absolute numbers are estimates; the ranking of layouts and buckets is what the planner is for.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from nemo_math.packing.binpack import lower_bound
from nemo_math.packing.config import ClusterConfig

GB = 1e9
ATTN_TILE = 512          # tokens: a document piece this short runs attention at half efficiency
GEMM_WIDTH_HALF = 256    # columns: a GEMM this narrow (after TP) runs at half efficiency
GEMM_TOKENS_HALF = 1024  # tokens per GPU per micro-batch at which GEMMs run at half efficiency
RECOMPUTE = ("selective", "full")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    ffn: int = 0                 # dense MLP width
    experts: int = 0             # MoE: routed experts per layer
    top_k: int = 0
    expert_ffn: int = 0
    tied_embeddings: bool = False

    @property
    def attention_params(self) -> int:
        return self.hidden * (self.heads + 2 * self.kv_heads) * self.head_dim + self.heads * self.head_dim * self.hidden

    @property
    def expert_params(self) -> int:
        """All routed-expert weights of the model (sharded by EP x expert TP)."""
        return self.layers * self.experts * 3 * self.hidden * self.expert_ffn

    @property
    def dense_params(self) -> int:
        """Everything but routed experts: attention, dense MLP, router, embeddings (sharded by TP)."""
        mlp = 3 * self.hidden * self.ffn + self.hidden * self.experts
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * (self.attention_params + mlp) + embeddings

    @property
    def active_params_per_token(self) -> int:
        """Weights one token multiplies through (no embedding lookup, with the output head)."""
        mlp = 3 * self.hidden * (self.ffn + self.top_k * self.expert_ffn) + self.hidden * self.experts
        return self.layers * (self.attention_params + mlp) + self.vocab * self.hidden

    @property
    def is_moe(self) -> bool:
        return self.experts > 0


MODELS: dict[str, ModelSpec] = {
    "qwen3-8b": ModelSpec("qwen3-8b", layers=36, hidden=4096, heads=32, kv_heads=8, head_dim=128, vocab=151936,
                          ffn=12288),
    "qwen3-30b-a3b": ModelSpec("qwen3-30b-a3b", layers=48, hidden=2048, heads=32, kv_heads=4, head_dim=128,
                               vocab=151936, experts=128, top_k=8, expert_ffn=768),
}

# (TP, CP, EP) per bucket, as the paper trained
PAPER_LAYOUTS: dict[str, dict[int, tuple[int, int, int]]] = {
    "qwen3-8b": {16384: (2, 2, 1), 32768: (2, 4, 1), 65536: (4, 4, 1), 131072: (8, 8, 1)},
    "qwen3-30b-a3b": {16384: (4, 2, 4), 32768: (4, 4, 8), 65536: (4, 8, 8), 131072: (4, 8, 8)},
}


@dataclass(frozen=True)
class Layout:
    tp: int
    cp: int
    ep: int = 1
    mbs: int = 1

    def __str__(self) -> str:
        return f"TP{self.tp} CP{self.cp}" + (f" EP{self.ep}" if self.ep > 1 else "") + f" MBS{self.mbs}"


@dataclass
class Estimate:
    """Predicted cost of training one bucket with one layout."""

    layout: Layout
    feasible: bool
    why_not: str
    seconds: float
    compute_s: float
    tp_comm_s: float
    cp_comm_s: float
    ep_comm_s: float
    memory_gb: float

    def to_dict(self) -> dict:
        return {**asdict(self), "layout": str(self.layout)}


@dataclass
class BucketWork:
    """What one bucket has to train: packed rows of ``seq_len`` and the documents' sum of squared lengths."""

    seq_len: int
    num_samples: int
    num_rows: int
    sum_len: float               # real tokens
    sum_sq: float                # sum of squared document lengths (attention)

    @classmethod
    def of(cls, lengths: np.ndarray, seq_len: int, scale: float = 1.0) -> BucketWork:
        lengths = np.asarray(lengths, dtype=np.float64)
        return cls(seq_len, round(len(lengths) * scale), math.ceil(lower_bound(lengths, seq_len) * scale),
                   float(lengths.sum() * scale), float((lengths ** 2).sum() * scale))


def _bandwidth(group_span: int, cluster: ClusterConfig) -> float:
    return (cluster.intra_node_gbps if group_span <= cluster.gpus_per_node else cluster.inter_node_gbps) * GB


def estimate(model: ModelSpec, work: BucketWork, layout: Layout, cluster: ClusterConfig,
             recompute: str = "selective", row_multiple: int = 0) -> Estimate:
    """Time, memory and feasibility of one layout; ``row_multiple`` (the packed rows' pad multiple, 0 = any)
    must be a multiple of what the layout needs, ``lcm(2 CP, TP)``."""
    tp, cp, ep, mbs = layout.tp, layout.cp, layout.ep, layout.mbs
    world = cluster.num_gpus
    reasons = []
    if world % (tp * cp):
        reasons.append(f"TP x CP = {tp * cp} does not divide {world} GPUs")
    if tp > cluster.gpus_per_node:
        reasons.append(f"TP{tp} spans nodes")
    if model.kv_heads % tp and tp % model.kv_heads:
        reasons.append(f"{model.kv_heads} KV heads do not split over TP{tp}")
    needed = math.lcm(2 * cp if cp > 1 else 1, tp)
    if row_multiple and row_multiple % needed:
        reasons.append(f"rows are padded to a multiple of {row_multiple}, TP{tp} CP{cp} needs {needed}")
    if work.seq_len % (2 * cp if cp > 1 else 1):
        reasons.append(f"seq_len not divisible by 2 x CP{cp}")
    if model.is_moe and (world % (ep * tp) or model.experts % ep):
        reasons.append(f"EP{ep} x expert TP{tp} does not divide {world} GPUs or {model.experts} experts")
    if not model.is_moe and ep > 1:
        reasons.append("EP on a dense model")
    dp = max(1, world // (tp * cp))
    s = work.seq_len / cp * mbs           # tokens per GPU per micro-batch (before TP's sequence split)
    h, layers = model.hidden, model.layers

    # compute
    if recompute not in RECOMPUTE:
        raise ValueError(f"recompute={recompute!r}: expected one of {', '.join(RECOMPUTE)}")
    attn_factor = 8                                   # core attention is recomputed either way
    linear_factor = 8 if recompute == "full" else 6
    # attention kernels lose efficiency on the short pieces CP cuts each document into: a document of d
    # tokens costs as if it had d^2 + ATTN_TILE * CP * d (what d / CP tokens per GPU do to a tiled kernel)
    attn_flops = attn_factor * layers * model.heads * model.head_dim * (work.sum_sq + ATTN_TILE * cp * work.sum_len)
    linear_flops = linear_factor * model.active_params_per_token * work.num_rows * work.seq_len
    width = min(h, model.ffn or model.expert_ffn * max(1, model.top_k)) / tp
    efficiency = width / (width + GEMM_WIDTH_HALF) * s / (s + GEMM_TOKENS_HALF)
    steps = math.ceil(work.num_rows / (dp * mbs))   # micro-batches per data-parallel rank
    compute_s = (linear_flops / efficiency + attn_flops) / (world * cluster.peak_tflops * 1e12 * cluster.mfu)

    # communication per micro-batch, times micro-batches
    tp_comm = 8 * layers * (tp - 1) / tp * s * h * 2 / _bandwidth(tp, cluster) if tp > 1 else 0.0
    attn_per_mb = attn_factor * layers * model.heads * model.head_dim * work.sum_sq / max(1, work.num_rows) * mbs
    attn_per_mb_s = attn_per_mb / (tp * cp * cluster.peak_tflops * 1e12 * cluster.mfu)
    kv_dim = 2 * model.kv_heads * model.head_dim / min(tp, model.kv_heads)
    cp_comm = 3 * layers * (cp - 1) * s * kv_dim * 2 / _bandwidth(tp * cp, cluster) if cp > 1 else 0.0
    cp_comm = max(0.0, cp_comm - attn_per_mb_s)
    ep_comm = 0.0
    if model.is_moe and ep > 1:
        ep_comm = 4 * layers * (ep - 1) / ep * (s / tp) * model.top_k * h * 2 / _bandwidth(ep * tp, cluster)
    tp_comm_s, cp_comm_s, ep_comm_s = tp_comm * steps, cp_comm * steps, ep_comm * steps

    # memory
    expert_dp = max(1, world // (ep * tp))
    dense_shard, expert_shard = model.dense_params / tp, model.expert_params / (ep * tp)
    weights = 6 * (dense_shard + expert_shard) + 12 * (model.dense_params / (tp * dp * cp)
                                                        + model.expert_params / (ep * tp * expert_dp))
    per_token_layer = 34 * h if not model.is_moe else 14 * h + 2 * model.top_k * (h + 3 * model.expert_ffn)
    if recompute == "full":
        activations = (2 * h * layers + per_token_layer) * s / tp
    else:
        activations = per_token_layer * layers * s / tp
    logits = 6 * s * model.vocab / tp
    memory = (weights + activations + logits) / GB
    budget = cluster.gpu_memory_gb - cluster.memory_reserve_gb
    if memory > budget:
        reasons.append(f"needs {memory:.0f} GB > {budget:.0f} GB")
    seconds = compute_s + tp_comm_s + cp_comm_s + ep_comm_s
    return Estimate(layout, not reasons, "; ".join(reasons), seconds, compute_s, tp_comm_s, cp_comm_s, ep_comm_s,
                    memory)


def candidate_layouts(model: ModelSpec, cluster: ClusterConfig) -> list[Layout]:
    powers = [2 ** i for i in range(int(math.log2(cluster.num_gpus)) + 1)]
    eps = [e for e in powers if e <= model.experts] if model.is_moe else [1]
    return [Layout(tp, cp, ep, mbs) for tp, cp, ep, mbs in itertools.product(
        [p for p in powers if p <= cluster.gpus_per_node], powers, eps, (1, 2, 4))]


def best_layout(model: ModelSpec, work: BucketWork, cluster: ClusterConfig, recompute: str = "selective",
                row_multiple: int = 0) -> Estimate | None:
    estimates = (estimate(model, work, lay, cluster, recompute, row_multiple)
                 for lay in candidate_layouts(model, cluster))
    feasible = [e for e in estimates if e.feasible]
    # fastest; among near ties (1%) the smallest model-parallel group, then the smallest micro-batch
    if not feasible:
        return None
    fastest = min(e.seconds for e in feasible)
    return min((e for e in feasible if e.seconds <= fastest * 1.01),
               key=lambda e: (e.layout.tp * e.layout.cp * e.layout.ep, e.layout.mbs, e.seconds))


def explain(chosen: Estimate, other: Estimate) -> str:
    """Why ``chosen`` beats ``other`` (the paper's layout), in one line."""
    if not other.feasible:
        return f"paper's {other.layout} infeasible here: {other.why_not}"
    if chosen.layout == other.layout:
        return "same as the paper"
    parts = {"compute (GEMM/token efficiency)": other.compute_s - chosen.compute_s,
             "TP communication": other.tp_comm_s - chosen.tp_comm_s,
             "CP communication": other.cp_comm_s - chosen.cp_comm_s,
             "EP all-to-all": other.ep_comm_s - chosen.ep_comm_s}
    main, delta = max(parts.items(), key=lambda kv: kv[1])
    gain = other.seconds / chosen.seconds - 1 if chosen.seconds else 0.0
    if gain <= 0.01:
        return (f"paper's {other.layout} is as fast (within 1%); {chosen.layout} uses fewer GPUs per model "
                f"replica ({chosen.memory_gb:.0f} vs {other.memory_gb:.0f} GB per GPU)")
    return (f"{chosen.layout} predicted {gain:.0%} faster than the paper's {other.layout}, mostly {main} "
            f"({delta / 3600:.2f} h less); paper's layout fits too ({other.memory_gb:.0f} GB per GPU)")


@dataclass
class StagePlan:
    work: BucketWork
    chosen: Estimate | None
    paper: Estimate | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return {"work": asdict(self.work), "chosen": self.chosen.to_dict() if self.chosen else None,
                "paper": self.paper.to_dict() if self.paper else None, "note": self.note}


@dataclass
class Plan:
    model: str
    buckets: list[int]
    stages: list[StagePlan]
    seconds: float               # all stages, plus stage switches
    joint: Estimate | None       # everything packed at the longest bucket, with that bucket's layout
    joint_best: Estimate | None  # everything packed at the longest bucket, with the best layout for that
    alternatives: list[dict] = field(default_factory=list)  # other bucket sets considered, with their time

    @property
    def speedup(self) -> float:
        return self.joint.seconds / self.seconds if self.joint and self.seconds else float("nan")

    def to_dict(self) -> dict:
        return {"model": self.model, "buckets": self.buckets, "stages": [s.to_dict() for s in self.stages],
                "seconds": self.seconds, "joint": self.joint.to_dict() if self.joint else None,
                "joint_best": self.joint_best.to_dict() if self.joint_best else None,
                "speedup_over_joint": self.speedup, "alternatives": self.alternatives}


def plan_stages(model: ModelSpec, lengths: np.ndarray, buckets: list[int], cluster: ClusterConfig,
                recompute: str = "selective", scale: float = 1.0, stage_overhead_s: float = 0.0,
                row_multiple: int = 0) -> Plan:
    """Best layout per bucket for these boundaries, the paper's where it has one, and joint training."""
    buckets = sorted(buckets)
    lengths = np.asarray(lengths, dtype=np.int64)
    lengths = lengths[lengths <= buckets[-1]]
    which = np.searchsorted(np.asarray(buckets), lengths, side="left")
    stages = []
    for k, seq_len in enumerate(buckets):
        work = BucketWork.of(lengths[which == k], seq_len, scale)
        chosen = best_layout(model, work, cluster, recompute, row_multiple) if work.num_rows else None
        paper_layout = PAPER_LAYOUTS.get(model.name, {}).get(seq_len)
        paper = estimate(model, work, Layout(*paper_layout), cluster, recompute, row_multiple) if paper_layout else None
        note = explain(chosen, paper) if chosen and paper else ""
        stages.append(StagePlan(work, chosen, paper, note))
    used = [s for s in stages if s.chosen]
    seconds = sum(s.chosen.seconds for s in used) + stage_overhead_s * max(0, len(used) - 1)
    everything = BucketWork.of(lengths, buckets[-1], scale)
    longest = stages[-1].chosen or stages[-1].paper
    joint = estimate(model, everything, longest.layout, cluster, recompute, row_multiple) if longest else None
    joint_best = best_layout(model, everything, cluster, recompute, row_multiple)
    return Plan(model.name, buckets, stages, seconds, joint, joint_best)


def propose(model: ModelSpec, lengths: np.ndarray, candidates: list[int], cluster: ClusterConfig,
            max_buckets: int = 4, recompute: str = "selective", scale: float = 1.0,
            stage_overhead_s: float = 600.0, row_multiple: int = 0) -> Plan:
    """The bucket boundaries (a subset of ``candidates`` ending at the largest) with the least predicted time."""
    candidates = sorted(candidates)
    top, rest = candidates[-1], candidates[:-1]
    plans = []
    for n in range(min(max_buckets, len(candidates))):
        for subset in itertools.combinations(rest, n):
            plan = plan_stages(model, lengths, [*subset, top], cluster, recompute, scale, stage_overhead_s,
                               row_multiple)
            if all(s.chosen for s in plan.stages if s.work.num_rows):
                plans.append(plan)
    if not plans:
        raise ValueError(f"no feasible layout for {model.name} on {cluster.num_gpus} GPUs of "
                         f"{cluster.gpu_memory_gb} GB at {top} tokens")
    plans.sort(key=lambda p: p.seconds)
    best = plans[0]
    best.alternatives = [{"buckets": p.buckets, "seconds": p.seconds} for p in plans[1:6]]
    return best
