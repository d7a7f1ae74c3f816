"""Checkpoints cross between the local (CPU) and Transformer Engine specs, dense and MoE, on one CPU process.

Transformer Engine cannot be installed without CUDA, so the TE side is emulated, and only where it differs for a
checkpoint: the layer is built by Megatron's own ``get_gpt_layer_with_transformer_engine_spec`` (so the module
tree, the fused-norm key names and the spec's ``sharded_state_dict_keys_map`` are Megatron's), with
``TESpecProvider`` replaced by a provider whose modules have TE's state-dict surface:

* TE ``RMSNorm`` (``TENorm``; TE >= 1.13): ``weight`` plus an ``_extra_state`` (FP8 metadata) -> ``_TENorm``;
* ``TELayerNormColumnParallelLinear``: the input norm fused into the linear, ``layer_norm_weight`` next to
  ``weight`` -> ``_LayerNormColumnLinear``;
* experts stay Megatron's ``SequentialMLP`` (its checkpoints and ``TEGroupedMLP``'s are interchangeable).
"""

from __future__ import annotations

import pytest
import torch

from nemo_math.training import checkpoint, models


def _te_modules():
    from megatron.core.models.backends import LocalSpecProvider
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear

    from nemo_math.training.cpu import SdpaCoreAttention

    class _TENorm(torch.nn.RMSNorm):
        def __init__(self, config, hidden_size, eps=1e-5, **_unused):
            super().__init__(hidden_size, eps=eps, dtype=config.params_dtype)

        def get_extra_state(self):
            return torch.empty(0, dtype=torch.uint8)

        def set_extra_state(self, state):
            pass

    class _LayerNormColumnLinear(ColumnParallelLinear):
        def __init__(self, input_size, output_size, *, config, **kwargs):
            super().__init__(input_size, output_size, config=config, **kwargs)
            self.layer_norm_weight = torch.nn.Parameter(torch.ones(input_size, dtype=config.params_dtype))

    class _TEKeysProvider(LocalSpecProvider):
        def fuse_layernorm_and_linear(self):
            return True

        def column_parallel_layer_norm_linear(self):
            return _LayerNormColumnLinear

        def layer_norm(self, rms_norm=False, for_qk=False, has_residual=False):
            return _TENorm

        def core_attention(self):
            return SdpaCoreAttention

    return _TENorm, _TEKeysProvider


def _te_like_model(cfg: models.ModelConfig, monkeypatch):
    from megatron.core.models.gpt import gpt_layer_specs
    from megatron.core.transformer.transformer_block import TransformerBlockSubmodules

    norm, provider = _te_modules()
    monkeypatch.setattr(gpt_layer_specs, "TESpecProvider", provider)
    layer = gpt_layer_specs.get_gpt_layer_with_transformer_engine_spec(
        num_experts=cfg.num_experts or None, moe_grouped_gemm=False, qk_layernorm=True)
    block = TransformerBlockSubmodules(layer_specs=[layer] * cfg.num_layers, layer_norm=norm)  # final norm: TENorm
    return models.build_model(cfg, spec=block)


def _keys(model) -> set[str]:
    from megatron.core.dist_checkpointing.dict_utils import nested_values

    return {sh.key for sh in nested_values(model.sharded_state_dict())}


def _randomise(model, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen))


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.endswith("_extra_state")}


@pytest.fixture(params=["tiny_dense", "tiny_moe"])
def preset(request):
    models.init_single_process()
    return models.preset(request.param, vocab_size=128)


def test_local_and_te_specs_checkpoint_the_same_keys(preset, monkeypatch):
    local, te = _keys(models.build_model(preset)), _keys(_te_like_model(preset, monkeypatch))
    extra = {k for k in te - local if k.endswith("_extra_state")}
    assert extra  # the emulation requests TE's norm extra state (else this test checks nothing)
    assert te - extra == local, (sorted(te - extra - local), sorted(local - te))
    if preset.is_moe:  # TE's MoE layer keeps its own pre-MLP norm (no fused fc1 in front of the router)
        assert "decoder.layers.pre_mlp_layernorm.weight" in local
    else:
        assert "decoder.layers.mlp.linear_fc1.layer_norm_weight" in local


def test_checkpoints_cross_between_local_and_te_specs(preset, monkeypatch, tmp_path):
    """local -> TE: the TE norms' ``_extra_state`` is absent from the checkpoint and must not fail the load;
    TE -> local: the checkpoint's extra state is not requested. Every weight arrives."""
    local = models.build_model(preset)
    _randomise(local, 1)
    checkpoint.save(tmp_path / "local", 1, local)
    te = _te_like_model(preset, monkeypatch)
    checkpoint.load(tmp_path / "local", te)
    te_weights = _weights(te)
    for key, value in _weights(local).items():  # local names, mapped to where the TE layer holds them
        te_key = key.replace("input_layernorm.", "self_attention.linear_qkv.layer_norm_")
        if not preset.is_moe:
            te_key = te_key.replace("pre_mlp_layernorm.", "mlp.linear_fc1.layer_norm_")
        assert torch.equal(te_weights[te_key], value), key

    _randomise(te, 2)
    checkpoint.save(tmp_path / "te", 1, te)
    back = models.build_model(preset)
    checkpoint.load(tmp_path / "te", back)
    checkpoint.save(tmp_path / "back", 1, back)
    again = _te_like_model(preset, monkeypatch)
    checkpoint.load(tmp_path / "back", again)
    for key, value in _weights(te).items():
        assert torch.equal(_weights(again)[key], value), key


def test_a_missing_weight_still_fails_the_load(tmp_path):
    models.init_single_process()
    checkpoint.save(tmp_path / "dense", 1, models.build_model(models.preset("tiny_dense", vocab_size=128)))
    moe = models.build_model(models.preset("tiny_moe", vocab_size=128))
    with pytest.raises(KeyError, match=r"lacks \d+ tensor.*mlp\.(experts|router)"):
        checkpoint.load(tmp_path / "dense", moe)


def test_cuda_without_transformer_engine_names_the_gpu_route(monkeypatch):
    """No GPU here: CUDA's presence is the one thing faked; Transformer Engine really is absent."""
    from megatron.core.extensions.transformer_engine import HAVE_TE

    assert not HAVE_TE
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[gpu\]'.*NGC PyTorch container"):
        models.layer_spec(models.preset("tiny_dense"))
