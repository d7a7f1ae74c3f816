"""Config of the packing stage (``nemo-math pack``) and of the bucket planner (``nemo-math plan``)."""

from dataclasses import dataclass, field


@dataclass
class ClusterConfig:
    """What the planner may use. Bandwidths are per GPU, one direction, as collectives achieve them."""

    num_gpus: int = 64
    gpus_per_node: int = 8
    gpu_memory_gb: float = 80.0
    memory_reserve_gb: float = 8.0        # CUDA context, allocator fragmentation, NCCL buffers
    peak_tflops: float = 989.0            # dense bf16 (H100 SXM)
    mfu: float = 0.45                     # model FLOPs utilisation of large GEMMs and attention
    intra_node_gbps: float = 360.0        # NVLink, GB/s
    inter_node_gbps: float = 45.0         # InfiniBand, GB/s


@dataclass
class PlanConfig:
    input: str | None = "${pack.output_dir}"  # a pack output (its tokens/ index) for the length histogram
    output_dir: str = "${pack.output_dir}/plan"
    model: str = "qwen3-8b"               # qwen3-8b | qwen3-30b-a3b
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    candidate_buckets: list[int] = field(default_factory=lambda: [8192, 16384, 32768, 65536, 131072])
    max_buckets: int = 4
    stage_overhead_s: float = 600.0       # per extra stage: checkpoint save, reload, warm-up
    recompute: str = "selective"          # selective (core attention) | full (whole layers) recomputation
    # synthetic lengths when there is no pack output yet: log-normal median/sigma, clipped to the largest bucket
    synthetic_samples: int = 0
    synthetic_median: float = 6000.0
    synthetic_sigma: float = 1.0
    scale: float = 1.0                    # multiply sample counts (the histogram was of a subset)
    epochs: float = 1.0


@dataclass
class PackConfig:
    input: str = "${curate.output_dir}/sft"  # curate writes its SFT records under sft/
    output_dir: str = "${run_dir}/pack"
    buckets: list[int] = field(default_factory=lambda: [16384, 32768, 65536, 131072])
    renderer: str = "harmony"             # harmony (as the paper trained) | chat_template (student's own)
    tokenizer: str = "Qwen/Qwen3-8B"      # student tokenizer: local folder or hub id
    chat_template: str | None = None      # training template with {% generation %} markers (chat_template)
    num_workers: int = 2                  # tokenising processes; 0 = in this process
    algo: str = "bfd"                     # bfd (best-fit decreasing) | ffd (first-fit decreasing)
    pad_multiple: int = 32                # rows padded to a multiple of lcm(2*CP, TP); 32 suits TP <= 8, CP <= 16
    pad_token_id: int | None = None       # null = the tokenizer's pad token (else EOS)
    balance_buckets: list[int] | None = None  # buckets whose mode mix is resampled; null = the longest, [] = none
    mode_mix: dict[str, float] = field(default_factory=lambda: {"high": 1.0, "medium": 1.0, "low": 1.0})
    balance_method: str = "resample"      # resample (keep the count) | down | up
    backfill: bool = False                # fill long buckets' free room with shorter samples
    backfill_prefer: list[str] = field(default_factory=lambda: ["low", "medium"])
    shuffle: bool = True                  # shuffle rows within a bucket (seeded by ``seed``)
    seed: int = "${seed}"  # type: ignore[assignment]
    plan: PlanConfig = field(default_factory=PlanConfig)
