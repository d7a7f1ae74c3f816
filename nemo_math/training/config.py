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
    pp: int = 1
    sequence_parallel: bool = False
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
    # optimizer (AdamW, Megatron's optimizer; distributed optimizer on GPU)
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    clip_grad: float = 1.0
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    distributed_optimizer: str = "auto"  # auto (on GPU) | true | false
    recompute: bool = False  # full activation recomputation (long buckets on GPU)
    log_interval: int = 1
    tensorboard: bool = True
    save_checkpoints: bool = True  # false only for throughput benchmarks (no handoff, no resume)
