"""Config of the training stage (``nemo-math train``): a model, an optimizer, and bucketed stages run in order.

Each entry of ``stages`` trains on one packed bucket at its own parallel layout and starts from the previous
stage's final checkpoint (stage 1 from ``init_checkpoint`` if set), so the Nemotron-Math schedule
(16K -> 32K -> 64K -> 128K) is data, not code.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageConfig:
    name: str = "stage1"
    bucket: str = "bucket_16384"  # folder under data_dir (or an absolute path)
    tp: int = 1
    cp: int = 1
    ep: int = 1
    etp: int = 1  # expert tensor parallel: 1 keeps each expert whole under TP (Megatron-Bridge's Qwen3-MoE recipes)
    pp: int = 1
    sequence_parallel: bool = False
    yarn_factor: float = 0.0  # RoPE of this stage: 0 = the model's (train.model_overrides), 1 = plain, > 1 = YaRN
    micro_batch_size: int = 1  # packed rows per micro-batch (concatenated into one THD sequence)
    global_batch_size: int = 8  # packed rows per optimizer step, over all data-parallel ranks
    steps: int = 0  # 0: derive from epochs
    epochs: float = 1.0
    lr: float = 2e-4
    min_lr: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine | linear (decay from lr to min_lr over the stage)
    warmup_steps: int = 0
    carry_optimizer: bool = False  # keep Adam moments from the previous stage (else reset)
    save_interval: int = 0  # steps between checkpoints (0: only at the end)


@dataclass
class PerformanceConfig:
    """GPU speed settings Megatron-Bridge uses for Qwen3: ``auto`` is on with a GPU, off on CPU (no kernels);
    ``true``/``false`` force them. None changes the maths (fusions compute the same loss)."""

    moe_permute_fusion: str = "auto"  # fused token permute/unpermute of the MoE dispatcher
    apply_rope_fusion: str = "auto"  # fused RoPE kernel
    gradient_accumulation_fusion: str = "auto"  # weight grads accumulated into the fp32 main grad in the GEMM
    cross_entropy_loss_fusion: str = "auto"  # fused vocab-parallel cross entropy
    overlap_grad_reduce: str = "auto"  # reduce-scatter of grads overlapped with backward (distributed optimizer)
    overlap_param_gather: str = "auto"  # all-gather of params overlapped with the next forward


@dataclass
class TrainConfig:
    data_dir: str = "${pack.output_dir}"
    output_dir: str = "${run_dir}/train"
    model: str = "tiny_dense"  # a preset of nemo_math.training.models.PRESETS
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {vocab_size: 151936}
    init_checkpoint: str = ""  # Megatron dist checkpoint (root or iter folder) to start stage 1 from
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    seed: int = "${seed}"  # type: ignore[assignment]
    # launch
    nproc_per_node: int = 1
    nnodes: int = 1
    launcher: str = "torchrun"  # torchrun: the stage command spawns torchrun; none: already under torchrun/srun
    cpu_threads: int = 0  # torch threads per rank on a CPU run (0: torch's default); see nemo_math/threads.py
    # optimizer (AdamW, Megatron's optimizer; distributed optimizer on GPU)
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    clip_grad: float = 1.0
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32 (bf16 also runs on CPU)
    distributed_optimizer: str = "auto"  # auto (on GPU) | true | false
    # distributed-optimizer state in checkpoints: dp_reshardable (each rank its shard, no gather; resumes at the
    # same layout) | fully_reshardable (loads at any layout, gathered with gloo on DP rank 0). A stage's final
    # checkpoint is fully_reshardable when the next stage carries the optimizer to another layout.
    optimizer_checkpoint: str = "dp_reshardable"
    recompute: str = "none"  # none | selective (core attention, Megatron-Bridge's Qwen3 choice) | full
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    log_interval: int = 1
    tensorboard: bool = True
    save_checkpoints: bool = True  # false only for throughput benchmarks (no handoff, no resume)
