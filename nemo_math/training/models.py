"""Model providers for the Qwen3 family on Megatron-Core: hyper-parameters as data, one builder.

A :class:`ModelConfig` holds what defines a Qwen3 checkpoint (the fields of its HF ``config.json``);
:func:`transformer_config` maps it onto Megatron's ``TransformerConfig`` (GQA, qk-layernorm, SwiGLU, RMSNorm,
RoPE or YaRN, untied embeddings, MoE routing as Qwen3 does it: softmax then top-k, renormalised);
:func:`build_model` returns a ``GPTModel`` with the Transformer Engine spec on GPU (grouped GEMM, all-to-all
dispatcher for MoE) and the local spec plus the CPU shims of :mod:`nemo_math.training.cpu` otherwise.

Building a model in one CPU process (what conversion and tests do)::

    from nemo_math.training import models
    models.init_single_process()              # gloo, world size 1, TP=PP=EP=1, seeded model-parallel RNG
    model = models.build_model(models.preset("tiny_dense"))
    # ... model.sharded_state_dict() / checkpoint.load_model(...) / model.state_dict()

Under torchrun, :func:`nemo_math.training.parallel.initialize` sets up the process groups of a layout first.
Megatron and torch are imported inside the functions so that reading configs stays light.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class ModelConfig:
    """Qwen3 hyper-parameters (names follow the HF config where one exists)."""

    vocab_size: int = 151936  # padded embedding rows; the tokenizer may use fewer
    hidden_size: int = 4096
    ffn_hidden_size: int = 12288  # dense MLP intermediate size
    num_layers: int = 36
    num_attention_heads: int = 32
    num_query_groups: int = 8  # key/value heads (GQA)
    head_dim: int = 128
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    qk_layernorm: bool = True
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 40960
    # MoE (num_experts = 0: dense)
    num_experts: int = 0
    moe_router_topk: int = 8
    moe_ffn_hidden_size: int = 768
    moe_aux_loss_coeff: float = 1e-3
    # YaRN RoPE scaling (yarn_factor = 1: plain RoPE); 4 x 32K = 128K as Qwen3 documents
    yarn_factor: float = 1.0
    yarn_original_max_position_embeddings: int = 32768
    yarn_beta_fast: float = 32.0
    yarn_beta_slow: float = 1.0
    init_method_std: float = 0.02

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def num_parameters(self) -> int:
        """Total parameters (embeddings and output layer included)."""
        h, d = self.hidden_size, self.head_dim
        attn = h * d * (self.num_attention_heads + 2 * self.num_query_groups) + self.num_attention_heads * d * h
        attn += 2 * d  # q/k norms
        if self.is_moe:
            mlp = self.num_experts * 3 * h * self.moe_ffn_hidden_size + h * self.num_experts
        else:
            mlp = 3 * h * self.ffn_hidden_size
        layer = attn + mlp + 2 * h
        embed = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * layer + embed + h

    def num_active_parameters(self) -> int:
        """Parameters a token passes through (MoE: top-k experts), without embeddings: the MFU numerator."""
        h, d = self.hidden_size, self.head_dim
        attn = h * d * (self.num_attention_heads + 2 * self.num_query_groups) + self.num_attention_heads * d * h
        ffn = self.moe_router_topk * self.moe_ffn_hidden_size if self.is_moe else self.ffn_hidden_size
        return self.num_layers * (attn + 3 * h * ffn) + self.vocab_size * h

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward = 3x forward), causal attention included."""
        attention = 2 * self.num_layers * self.num_attention_heads * self.head_dim * seq_len  # QK^T + AV, causal
        return 3 * (2 * self.num_active_parameters() + attention)


PRESETS: dict[str, dict[str, Any]] = {
    # https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json
    "qwen3_8b": dict(hidden_size=4096, ffn_hidden_size=12288, num_layers=36, num_attention_heads=32,
                     num_query_groups=8, head_dim=128),
    # https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json
    "qwen3_30b_a3b": dict(hidden_size=2048, ffn_hidden_size=6144, num_layers=48, num_attention_heads=32,
                          num_query_groups=4, head_dim=128, num_experts=128, moe_router_topk=8,
                          moe_ffn_hidden_size=768),
    # https://huggingface.co/Qwen/Qwen3-0.6B/blob/main/config.json (tied embeddings): the GPU benchmark's model
    "qwen3_0p6b": dict(hidden_size=1024, ffn_hidden_size=3072, num_layers=28, num_attention_heads=16,
                       num_query_groups=8, head_dim=128, tie_word_embeddings=True),
    # CPU tests and the tiny pipeline: vocab is set to the tokenizer's by the config
    "tiny_dense": dict(vocab_size=1024, hidden_size=64, ffn_hidden_size=128, num_layers=2, num_attention_heads=8,
                       num_query_groups=2, head_dim=8, max_position_embeddings=4096),
    "tiny_moe": dict(vocab_size=1024, hidden_size=64, ffn_hidden_size=128, num_layers=2, num_attention_heads=8,
                     num_query_groups=2, head_dim=8, max_position_embeddings=4096, num_experts=4,
                     moe_router_topk=2, moe_ffn_hidden_size=32),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A preset by name with field overrides, e.g. ``preset("tiny_dense", vocab_size=151936)``."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"train.model_overrides: unknown field(s) {unknown} (ModelConfig has {sorted(fields)})")
    return ModelConfig(**{**PRESETS[name], **overrides})


def use_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def transformer_config(model: ModelConfig, tp: int = 1, cp: int = 1, ep: int = 1, pp: int = 1,
                       sequence_parallel: bool = False, bf16: bool | None = None, etp: int = 1, **extra: Any):
    """The Megatron ``TransformerConfig`` of ``model`` under one parallel layout; ``extra`` sets any other field
    (fusions, recompute), overriding the defaults here (fusions off: what runs everywhere)."""
    import torch
    import torch.nn.functional as F
    from megatron.core.transformer import TransformerConfig

    gpu = use_gpu()
    bf16 = gpu if bf16 is None else bf16
    moe = dict(num_moe_experts=model.num_experts, moe_router_topk=model.moe_router_topk,
               moe_ffn_hidden_size=model.moe_ffn_hidden_size, moe_router_pre_softmax=False,
               moe_router_load_balancing_type="aux_loss", moe_aux_loss_coeff=model.moe_aux_loss_coeff,
               moe_token_dispatcher_type="alltoall", moe_grouped_gemm=gpu, moe_router_dtype="fp32",
               moe_permute_fusion=False, expert_tensor_parallel_size=etp) if model.is_moe else {}
    if not model.is_moe:
        extra.pop("moe_permute_fusion", None)
    fields = dict(
        bias_activation_fusion=gpu, masked_softmax_fusion=False, persist_layer_norm=False,
        bias_dropout_fusion=False, apply_rope_fusion=False, gradient_accumulation_fusion=False,
        cross_entropy_loss_fusion=False, **moe)
    fields.update(extra)
    cfg = TransformerConfig(
        num_layers=model.num_layers, hidden_size=model.hidden_size, ffn_hidden_size=model.ffn_hidden_size,
        num_attention_heads=model.num_attention_heads, num_query_groups=model.num_query_groups,
        kv_channels=model.head_dim, layernorm_epsilon=model.rms_norm_eps, normalization="RMSNorm",
        qk_layernorm=model.qk_layernorm, gated_linear_unit=True, activation_func=F.silu, add_bias_linear=False,
        add_qkv_bias=False, hidden_dropout=0.0, attention_dropout=0.0, init_method_std=model.init_method_std,
        tensor_model_parallel_size=tp, context_parallel_size=cp, expert_model_parallel_size=ep,
        pipeline_model_parallel_size=pp, sequence_parallel=sequence_parallel and tp > 1,
        bf16=bf16, params_dtype=torch.bfloat16 if bf16 else torch.float32,
        pipeline_dtype=torch.bfloat16 if bf16 else torch.float32,
        use_cpu_initialization=not gpu, perform_initialization=True, calculate_per_token_loss=True, **fields)
    if model.yarn_factor != 1.0:  # GPTModel reads these by name for position_embedding_type="yarn"
        cfg.yarn_rotary_scaling_factor = model.yarn_factor
        cfg.yarn_original_max_position_embeddings = model.yarn_original_max_position_embeddings
        cfg.yarn_beta_fast = model.yarn_beta_fast
        cfg.yarn_beta_slow = model.yarn_beta_slow
        cfg.yarn_mscale = 1.0
        cfg.yarn_mscale_all_dim = 0.0
        cfg.yarn_correction_range_round_to_int = True
    return cfg


GPU_ROUTE = ("install the GPU route: `pip install -e '.[gpu]'` (Transformer Engine wheels for CUDA 12) in this "
             "venv, or run inside an NGC PyTorch container (nvcr.io/nvidia/pytorch, Transformer Engine included) "
             "with `pip install --no-deps -e .` (README: GPU route)")


def require_transformer_engine() -> None:
    """On CUDA, training needs Transformer Engine (the layer spec, THD attention, context parallelism)."""
    from megatron.core.extensions.transformer_engine import HAVE_TE

    if not HAVE_TE:
        raise RuntimeError(f"CUDA is available but Transformer Engine is not importable: {GPU_ROUTE}")


def layer_spec(model: ModelConfig, config=None):
    """Transformer Engine layer spec on GPU, the CPU block spec (local modules, SDPA attention) otherwise."""
    num_experts = model.num_experts or None
    if use_gpu():
        require_transformer_engine()
        from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_with_transformer_engine_spec

        return get_gpt_layer_with_transformer_engine_spec(num_experts=num_experts, moe_grouped_gemm=bool(num_experts),
                                                          qk_layernorm=model.qk_layernorm)
    from nemo_math.training.cpu import cpu_block_spec, enable_cpu_megatron

    enable_cpu_megatron()
    return cpu_block_spec(model.num_layers, num_experts)


def build_model(model: ModelConfig, config=None, pre_process: bool = True, post_process: bool = True, spec=None):
    """A Megatron ``GPTModel`` of ``model`` on the current device; ``config`` defaults to
    :func:`transformer_config` at the layout of the initialised model-parallel state, ``spec`` to
    :func:`layer_spec`."""
    import torch
    from megatron.core import parallel_state as ps
    from megatron.core.models.gpt import GPTModel

    if config is None:
        config = transformer_config(model, tp=ps.get_tensor_model_parallel_world_size(),
                                    cp=ps.get_context_parallel_world_size(),
                                    ep=ps.get_expert_model_parallel_world_size(),
                                    pp=ps.get_pipeline_model_parallel_world_size(),
                                    etp=ps.get_expert_tensor_parallel_world_size())
    spec = layer_spec(model, config) if spec is None else spec
    gpt = GPTModel(config=config, transformer_layer_spec=spec, vocab_size=model.vocab_size,
                   max_sequence_length=max(model.max_position_embeddings,
                                           int(model.yarn_original_max_position_embeddings * model.yarn_factor)),
                   pre_process=pre_process, post_process=post_process, parallel_output=True,
                   share_embeddings_and_output_weights=model.tie_word_embeddings,
                   position_embedding_type="yarn" if model.yarn_factor != 1.0 else "rope",
                   rotary_percent=1.0, rotary_base=int(model.rope_theta))
    if use_gpu():
        gpt.cuda(torch.cuda.current_device())
    return gpt


def init_single_process(seed: int = 1234) -> None:
    """One process, world size 1 (gloo on CPU, nccl on GPU), TP=PP=EP=CP=1: enough to build, load or convert a
    model without torchrun. The rendezvous is an in-process store: no port is taken and nothing is written to
    ``os.environ``, so subprocesses started later (torchrun, sbatch) inherit no stale MASTER_PORT."""
    import torch

    from nemo_math.training.parallel import Layout, initialize

    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_gpu() else "gloo", store=torch.distributed.HashStore(),
                                             rank=0, world_size=1)
    initialize(Layout(), seed=seed)
