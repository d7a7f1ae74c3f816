"""Qwen3 and Qwen3-MoE weights, Hugging Face <-> Megatron-Core: the name and layout mapping, both ways.

Megatron-Bridge (``AutoBridge``) is the usual library for this, but its 0.6 release cannot be installed on a
machine without CUDA (hard dependencies on flashinfer and fast-hadamard-transform, which needs nvcc, and an
unguarded Transformer Engine import), and conversion must run on a laptop and a CPU login node. The Qwen3
mapping is small, so it lives here:

* ``q_proj``/``k_proj``/``v_proj`` <-> one ``linear_qkv`` fused by query group: for each of the
  ``num_query_groups`` groups, that group's query heads, then its key head, then its value head;
* ``gate_proj``/``up_proj`` <-> one ``linear_fc1`` (gate rows first, as Megatron's SwiGLU chunks it);
* ``q_norm``/``k_norm`` <-> ``q_layernorm``/``k_layernorm``; ``post_attention_layernorm`` <-> ``pre_mlp_layernorm``;
* MoE: ``mlp.gate`` <-> ``mlp.router`` and expert ``e`` <-> ``mlp.experts.local_experts.e`` (the per-expert
  layout of the local spec, which is how dist checkpoints load on one CPU process).

Both directions only move and concatenate tensors, so HF -> Megatron -> HF is bit-exact. Keys are the HF
on-disk (safetensors) names, which is also what vLLM reads.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from nemo_math.training.models import ModelConfig

Tensor = torch.Tensor


class ConversionError(ValueError):
    """A checkpoint this mapping cannot express (names the key or config field)."""


# --------------------------------------------------------------------------------------------- configs
def hf_config(model: ModelConfig, dtype: torch.dtype = torch.bfloat16, **special_tokens: Any) -> dict[str, Any]:
    """The HF ``config.json`` of ``model`` (built by transformers' own config class, so it is what its version
    writes), with ``bos_token_id``/``eos_token_id``/``pad_token_id`` from ``special_tokens``."""
    from transformers import Qwen3Config, Qwen3MoeConfig

    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": model.rope_theta}
    if model.yarn_factor != 1.0:
        rope = {"rope_type": "yarn", "rope_theta": model.rope_theta, "factor": model.yarn_factor,
                "original_max_position_embeddings": model.yarn_original_max_position_embeddings,
                "beta_fast": model.yarn_beta_fast, "beta_slow": model.yarn_beta_slow}
    common = dict(vocab_size=model.vocab_size, hidden_size=model.hidden_size, intermediate_size=model.ffn_hidden_size,
                  num_hidden_layers=model.num_layers, num_attention_heads=model.num_attention_heads,
                  num_key_value_heads=model.num_query_groups, head_dim=model.head_dim,
                  rms_norm_eps=model.rms_norm_eps, tie_word_embeddings=model.tie_word_embeddings,
                  max_position_embeddings=model.max_position_embeddings, rope_parameters=rope,
                  attention_bias=False, hidden_act="silu", initializer_range=model.init_method_std,
                  **special_tokens)
    if model.is_moe:
        # Megatron routes softmax-after-top-k (moe_router_pre_softmax=False): HF's norm_topk_prob=True
        config = Qwen3MoeConfig(**common, num_experts=model.num_experts, num_experts_per_tok=model.moe_router_topk,
                                moe_intermediate_size=model.moe_ffn_hidden_size, norm_topk_prob=True,
                                decoder_sparse_step=1, mlp_only_layers=[],
                                router_aux_loss_coef=model.moe_aux_loss_coeff)
        config.architectures = ["Qwen3MoeForCausalLM"]
    else:
        config = Qwen3Config(**common)
        config.architectures = ["Qwen3ForCausalLM"]
    config.dtype = dtype
    out = json.loads(config.to_json_string())  # what save_pretrained writes: the fields that differ from defaults
    # transformers < 5 (and so older vLLM) reads these names instead of rope_parameters / num_local_experts
    out["rope_theta"] = model.rope_theta
    if model.is_moe:
        out["num_experts"] = model.num_experts
    return out


def context_length(model: ModelConfig) -> int:
    """The longest sequence the exported model serves: YaRN's scaled window (what vLLM derives from
    ``rope_parameters``), else ``max_position_embeddings``."""
    if model.yarn_factor > 1.0:
        return int(model.yarn_original_max_position_embeddings * model.yarn_factor)
    return model.max_position_embeddings


def model_config(hf: dict[str, Any]) -> ModelConfig:
    """The :class:`ModelConfig` of an HF Qwen3 / Qwen3-MoE ``config.json``; refuses what Megatron cannot match."""
    model_type = hf.get("model_type")
    if model_type not in ("qwen3", "qwen3_moe"):
        raise ConversionError(f"config.json: model_type: expected qwen3 or qwen3_moe, got {model_type!r}")
    if hf.get("attention_bias"):
        raise ConversionError("config.json: attention_bias: Qwen3 has no attention bias; this checkpoint does")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))

    def need(name: str) -> Any:
        if name not in hf:
            raise ConversionError(f"config.json: {name}: required field is missing")
        return hf[name]

    fields: dict[str, Any] = {
        "vocab_size": need("vocab_size"), "hidden_size": need("hidden_size"),
        "ffn_hidden_size": need("intermediate_size"), "num_layers": need("num_hidden_layers"),
        "num_attention_heads": need("num_attention_heads"), "num_query_groups": need("num_key_value_heads"),
        "head_dim": hf.get("head_dim") or need("hidden_size") // need("num_attention_heads"),
        "rope_theta": float(theta), "rms_norm_eps": hf.get("rms_norm_eps", 1e-6),
        "tie_word_embeddings": bool(hf.get("tie_word_embeddings", False)),
        "max_position_embeddings": need("max_position_embeddings"),
        "init_method_std": hf.get("initializer_range", 0.02)}
    if rope.get("rope_type", rope.get("type", "default")) == "yarn":
        fields.update(yarn_factor=float(rope["factor"]),
                      yarn_original_max_position_embeddings=int(rope["original_max_position_embeddings"]),
                      yarn_beta_fast=float(rope.get("beta_fast", 32.0)),
                      yarn_beta_slow=float(rope.get("beta_slow", 1.0)))
    if model_type == "qwen3_moe":
        if not hf.get("norm_topk_prob", False):
            raise ConversionError("config.json: norm_topk_prob: Megatron's router renormalises the top-k "
                                  "probabilities; a checkpoint with norm_topk_prob=false would route differently")
        if hf.get("mlp_only_layers") or hf.get("decoder_sparse_step", 1) != 1:
            raise ConversionError("config.json: mlp_only_layers/decoder_sparse_step: mixed dense and MoE "
                                  "layers are not supported")
        fields.update(num_experts=hf.get("num_local_experts") or need("num_experts"),
                      moe_router_topk=need("num_experts_per_tok"), moe_ffn_hidden_size=need("moe_intermediate_size"),
                      moe_aux_loss_coeff=hf.get("router_aux_loss_coef", 1e-3))
    return ModelConfig(**fields)


# --------------------------------------------------------------------------------------------- weights
def _take(state: dict[str, Tensor], key: str, where: str) -> Tensor:
    if key not in state:
        raise ConversionError(f"{where}: missing tensor {key!r}")
    return state[key]


# the tensors renamed one to one, (HF name, Megatron name): at the top, then within layer ``i`` (prefixes
# ``model.layers.{i}.`` and ``decoder.layers.{i}.``); q/k/v and gate/up are fused, see the module docstring
TOP_RENAMES = [("model.embed_tokens.weight", "embedding.word_embeddings.weight"),
               ("model.norm.weight", "decoder.final_layernorm.weight")]
LAYER_RENAMES = [("self_attn.o_proj.weight", "self_attention.linear_proj.weight"),
                 ("self_attn.q_norm.weight", "self_attention.q_layernorm.weight"),
                 ("self_attn.k_norm.weight", "self_attention.k_layernorm.weight"),
                 ("input_layernorm.weight", "input_layernorm.weight"),
                 ("post_attention_layernorm.weight", "pre_mlp_layernorm.weight")]
MOE_RENAMES = [("mlp.gate.weight", "mlp.router.weight")]


def _renames(model: ModelConfig) -> list[tuple[str, str]]:
    """Every one-to-one (HF, Megatron) pair of ``model``."""
    pairs = list(TOP_RENAMES)
    if not model.tie_word_embeddings:
        pairs.append(("lm_head.weight", "output_layer.weight"))
    for i in range(model.num_layers):
        hf, mc = f"model.layers.{i}.", f"decoder.layers.{i}."
        pairs += [(hf + a, mc + b) for a, b in LAYER_RENAMES + (MOE_RENAMES if model.is_moe else [])]
    return pairs


def _mlps(model: ModelConfig, layer: int) -> list[tuple[str, str]]:
    """The (HF, Megatron) prefixes of layer ``layer``'s SwiGLU MLPs: its experts', or its dense one."""
    hf, mc = f"model.layers.{layer}.mlp.", f"decoder.layers.{layer}.mlp."
    if model.is_moe:
        return [(f"{hf}experts.{e}.", f"{mc}experts.local_experts.{e}.") for e in range(model.num_experts)]
    return [(hf, mc)]


def hf_to_megatron(hf: dict[str, Tensor], model: ModelConfig) -> dict[str, Tensor]:
    """HF state dict (on-disk names) -> Megatron GPTModel state dict (local spec names). A tensor of the HF
    checkpoint that the mapping does not use is an error (e.g. attention biases): dropping it would silently
    change the model."""
    used: set[str] = set()

    def get(key: str) -> Tensor:
        used.add(key)
        return _take(hf, key, "hf checkpoint")

    groups, d, h = model.num_query_groups, model.head_dim, model.hidden_size
    out = {mc: get(hf_name) for hf_name, mc in _renames(model)}
    for i in range(model.num_layers):
        src, dst = f"model.layers.{i}.self_attn.", f"decoder.layers.{i}.self_attention."
        q = get(src + "q_proj.weight").reshape(groups, -1, h)
        k = get(src + "k_proj.weight").reshape(groups, d, h)
        v = get(src + "v_proj.weight").reshape(groups, d, h)
        out[dst + "linear_qkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, h)
        for s, t in _mlps(model, i):
            out[t + "linear_fc1.weight"] = torch.cat([get(s + "gate_proj.weight"), get(s + "up_proj.weight")])
            out[t + "linear_fc2.weight"] = get(s + "down_proj.weight")
    # a tied checkpoint may still hold lm_head (a copy of the embedding); rotary caches are not weights
    unused = sorted(k for k in hf.keys() - used if not k.endswith("rotary_emb.inv_freq")
                    and not (k == "lm_head.weight" and model.tie_word_embeddings))
    if unused:
        more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
        raise ConversionError(f"hf checkpoint: tensors the Qwen3 mapping does not know: {', '.join(unused[:5])}{more}"
                              " (is it a Qwen3 model with this config?)")
    return out


def megatron_to_hf(mcore: dict[str, Tensor], model: ModelConfig) -> dict[str, Tensor]:
    """Megatron GPTModel state dict (local spec names; ``_extra_state`` ignored) -> HF state dict."""
    def get(key: str) -> Tensor:
        return _take(mcore, key, "megatron checkpoint")

    groups, d, h = model.num_query_groups, model.head_dim, model.hidden_size
    per_group = model.num_attention_heads // groups * d
    out = {hf_name: get(mc) for hf_name, mc in _renames(model)}
    for i in range(model.num_layers):
        src, dst = f"decoder.layers.{i}.self_attention.", f"model.layers.{i}.self_attn."
        qkv = get(src + "linear_qkv.weight").reshape(groups, per_group + 2 * d, h)
        q, k, v = qkv.split([per_group, d, d], dim=1)
        out[dst + "q_proj.weight"] = q.reshape(-1, h)
        out[dst + "k_proj.weight"] = k.reshape(-1, h)
        out[dst + "v_proj.weight"] = v.reshape(-1, h)
        for hf_prefix, mc_prefix in _mlps(model, i):
            gate, up = get(mc_prefix + "linear_fc1.weight").chunk(2)
            out[hf_prefix + "gate_proj.weight"], out[hf_prefix + "up_proj.weight"] = gate, up
            out[hf_prefix + "down_proj.weight"] = get(mc_prefix + "linear_fc2.weight")
    return {k: v.contiguous() for k, v in out.items()}


def load_into(module: torch.nn.Module, state: dict[str, Tensor]) -> None:
    """Load a converted state dict into a Megatron model; every parameter must be covered, shapes must match."""
    own = {k: v for k, v in module.state_dict().items() if not k.endswith("_extra_state")}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConversionError(f"state dict does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise ConversionError(f"{key}: shape {tuple(tensor.shape)} does not fit the model's {tuple(own[key].shape)}")
    module.load_state_dict(state, strict=False)
