"""Megatron-Core on a CPU with gloo: the shims, applied by one call, and a THD core attention.

Megatron-Core assumes CUDA. For tests and tiny laptop runs we route what it asks of CUDA to the CPU instead of
forking Megatron: every failure measured on a CPU-only machine (``../shared/notes/megatron-cpu.md``) has one small
fix here, and nothing else in nemo-math patches Megatron. :func:`enable_cpu_megatron` applies them all; it is
called only when no GPU is present, so this module is never imported on a GPU run.

The local ``DotProductAttention`` rejects packed (THD) sequences, so :class:`SdpaCoreAttention` replaces it on
CPU: causal torch SDPA per document of the pack (exact against running the documents one by one, and twice as
fast as one block-diagonal mask on a CPU). Context parallelism needs Transformer Engine and has no CPU path.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_ENABLED = {"done": False}
_CPU = torch.device("cpu")


def _is_cuda(device) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.startswith("cuda")
    return isinstance(device, int) and not isinstance(device, bool)


class _CudaToCpu(TorchFunctionMode):
    """Rewrites ``device='cuda'`` (and bare device indices) to the CPU and makes ``.cuda()`` a no-op: Megatron's
    DDP buffers, optimizer and pipeline schedules allocate on 'cuda' by name. ``tensor.type()`` (no argument)
    answers the CUDA type name: Megatron's mixed-precision and distributed optimizers pick fp32 main params by
    ``param.type() in ('torch.cuda.BFloat16Tensor', ...)``, so bf16 training runs on the CPU too."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.type and len(args) == 1 and not kwargs:
            name = func(*args)
            return name if ".cuda." in name else name.replace("torch.", "torch.cuda.", 1)
        if _is_cuda(kwargs.get("device")):
            kwargs = {**kwargs, "device": _CPU}
        if func is torch.Tensor.to and len(args) > 1 and _is_cuda(args[1]):
            args = (args[0], _CPU, *args[2:])
        return func(*args, **kwargs)


class _NoStream:
    """Stands in for torch.cuda.Stream / Event: every method is a no-op returning another stand-in (so
    ``stream.record_event().synchronize()`` works), usable as a context manager."""

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: _NoStream()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _patch_cuda_runtime() -> None:
    """torch.cuda RNG, device, stream and memory calls, routed to the CPU or made no-ops."""
    cuda = torch.cuda
    cuda.get_rng_state = lambda device="cuda": torch.get_rng_state()
    cuda.set_rng_state = lambda state, device="cuda": torch.set_rng_state(state)
    cuda.manual_seed = cuda.manual_seed_all = lambda seed: torch.default_generator.manual_seed(int(seed))
    cuda.random.get_rng_state = cuda.get_rng_state
    cuda.current_device = lambda: _CPU
    cuda.Stream = cuda.Event = _NoStream
    cuda.current_stream = cuda.default_stream = lambda *args, **kwargs: _NoStream()
    cuda.stream = lambda *args, **kwargs: contextlib.nullcontext()
    cuda.synchronize = cuda.empty_cache = lambda *args, **kwargs: None

    from megatron.core.tensor_parallel import random as mp_random

    mp_random._get_cuda_rng_state = lambda *args, **kwargs: torch.get_rng_state()
    mp_random._set_cuda_rng_state = lambda state, *args, **kwargs: torch.set_rng_state(state)


def _patch_moe_split_sizes() -> None:
    """The all-to-all dispatcher turns split sizes into host lists only when they are on CUDA."""
    from megatron.core.transformer.moe import token_dispatcher

    def to_host(tensor, as_numpy=False, record_stream=False):
        if torch.is_tensor(tensor) and as_numpy:
            return tensor.numpy()
        return tensor

    token_dispatcher.maybe_move_tensor_to_cpu = to_host


def _patch_grad_clipping() -> None:
    """Megatron's clip asserts ``torch.cuda.FloatTensor`` grads; the CPU version scales them in place."""
    from megatron.core.optimizer import clip_grads, optimizer
    from megatron.core.utils import to_local_if_dtensor

    def clip_grad_by_total_norm_fp32(parameters, max_norm, total_norm, use_decoupled_grad=False):
        attr = "decoupled_grad" if use_decoupled_grad else "grad"
        grads = [to_local_if_dtensor(getattr(p, attr)).detach() for p in parameters
                 if getattr(p, attr, None) is not None]
        clip_coeff = max_norm / (float(total_norm) + 1.0e-6)
        if clip_coeff < 1.0:
            torch._foreach_mul_(grads, clip_coeff)

    clip_grads.clip_grad_by_total_norm_fp32 = clip_grad_by_total_norm_fp32
    optimizer.clip_grad_by_total_norm_fp32 = clip_grad_by_total_norm_fp32


def enable_cpu_megatron() -> None:
    """Apply every CPU shim once per process (idempotent). Call before building models or optimizers."""
    if _ENABLED["done"]:
        return
    if torch.cuda.is_available():
        raise RuntimeError("enable_cpu_megatron() is for machines without a GPU; this one has CUDA")
    _patch_cuda_runtime()
    _patch_moe_split_sizes()
    _patch_grad_clipping()
    _CudaToCpu().__enter__()  # stays on the mode stack for the life of the process
    _ENABLED["done"] = True


# --------------------------------------------------------------------------------------------- modules
class TorchNorm:
    """RMSNorm (or LayerNorm) from torch that, unlike ``WrappedTorchNorm``, allows sequence parallelism: its
    parameters are tagged ``sequence_parallel`` so ``finalize_model_grads`` sums their grads across TP ranks."""

    def __new__(cls, config, hidden_size: int, eps: float = 1e-5, **_unused):
        norm_cls = torch.nn.RMSNorm if config.normalization == "RMSNorm" else torch.nn.LayerNorm
        norm = norm_cls(hidden_size, eps=eps, dtype=config.params_dtype)
        for param in norm.parameters():
            param.sequence_parallel = config.sequence_parallel
        return norm


class SdpaCoreAttention(torch.nn.Module):
    """Causal core attention with torch SDPA: per document for packed THD input (``packed_seq_params``),
    over the whole sequence for ``[s, b, h, d]`` input. Grouped-query heads are expanded by SDPA itself."""

    def __init__(self, config, layer_number, attn_mask_type, attention_type, attention_dropout=None,
                 softmax_scale=None, cp_comm_type=None, pg_collection=None):
        super().__init__()
        if config.context_parallel_size > 1:
            raise ValueError("context parallelism needs Transformer Engine (GPU); use context_parallel=1 on CPU")
        self.config = config
        self.scale = softmax_scale or 1.0 / math.sqrt(config.kv_channels)
        self.dropout = config.attention_dropout if attention_dropout is None else attention_dropout

    def _attend(self, q, k, v):  # [..., h, s, d]
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale, enable_gqa=True,
                                              dropout_p=self.dropout if self.training else 0.0)

    def forward(self, query, key, value, attention_mask=None, attn_mask_type=None, attention_bias=None,
                packed_seq_params=None):
        if attention_bias is not None:
            raise ValueError("SdpaCoreAttention: attention_bias is not supported")
        if packed_seq_params is None:  # [s, b, h, d]
            out = self._attend(*(t.permute(1, 2, 0, 3) for t in (query, key, value)))
            return out.permute(2, 0, 1, 3).reshape(query.shape[0], query.shape[1], -1)
        cu = packed_seq_params.cu_seqlens_q_padded
        cu = (packed_seq_params.cu_seqlens_q if cu is None else cu).tolist()
        outs = [self._attend(*(t[lo:hi].transpose(0, 1) for t in (query, key, value))).transpose(0, 1)
                for lo, hi in zip(cu[:-1], cu[1:]) if hi > lo]
        return torch.cat(outs).reshape(query.shape[0], -1)  # [t, h * d]


def cpu_block_spec(num_layers: int, num_experts: int | None):
    """The local (no Transformer Engine) GPT block spec with :class:`SdpaCoreAttention` and :class:`TorchNorm`,
    checkpointing under the Transformer Engine spec's keys. Megatron's local spec renames both norms to the
    fused TE names (``self_attention.linear_qkv.layer_norm_weight``, ``mlp.linear_fc1.layer_norm_weight``); that
    is right for dense layers, where TE fuses the norms into those linears, but the TE MoE spec keeps a separate
    ``pre_mlp_layernorm`` (there is no fc1 in front of the router), so for MoE that rename is dropped."""
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
    from megatron.core.transformer.transformer_block import TransformerBlockSubmodules

    layer = get_gpt_layer_local_spec(num_experts=num_experts, moe_grouped_gemm=False, qk_layernorm=True,
                                     normalization="RMSNorm")
    sub = layer.submodules
    if num_experts:
        sub.sharded_state_dict_keys_map = {k: v for k, v in sub.sharded_state_dict_keys_map.items()
                                           if k != "pre_mlp_layernorm."}
    sub.input_layernorm = sub.pre_mlp_layernorm = TorchNorm
    attn = sub.self_attention.submodules
    attn.core_attention = SdpaCoreAttention
    attn.q_layernorm = attn.k_layernorm = TorchNorm
    return TransformerBlockSubmodules(layer_specs=[layer] * num_layers, layer_norm=TorchNorm)
