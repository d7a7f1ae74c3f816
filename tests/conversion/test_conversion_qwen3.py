"""HF Qwen3 / Qwen3-MoE -> Megatron dist checkpoint -> HF: bit-exact weights and equal logits (fp32, 1e-5)."""

import json

import pytest
import torch

from nemo_math.conversion import hf_files, qwen3

VOCAB, SEQ = 256, 24
ARCH = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 16, "rope_theta": 1e6,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6}


def _hf_model(moe: bool, tied: bool = False):
    from transformers import (
        Qwen3Config,
        Qwen3ForCausalLM,
        Qwen3MoeConfig,
        Qwen3MoeForCausalLM,
    )

    torch.manual_seed(0)
    if moe:
        config = Qwen3MoeConfig(**ARCH, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                norm_topk_prob=True)
        model = Qwen3MoeForCausalLM(config)
    else:
        model = Qwen3ForCausalLM(Qwen3Config(**ARCH, tie_word_embeddings=tied))
    with torch.no_grad():  # HF initialises norms to ones: randomise them so a swapped norm cannot pass
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    return model.eval()


def _megatron_logits(checkpoint_dir, tokens):
    from nemo_math.conversion.convert import model_of_checkpoint
    from nemo_math.training import checkpoint, models

    module = models.build_model(model_of_checkpoint(checkpoint_dir)).eval()
    checkpoint.load(checkpoint_dir, module)
    positions = torch.arange(tokens.shape[1]).unsqueeze(0).expand_as(tokens)
    with torch.no_grad():
        return module(tokens, positions, None)


@pytest.mark.slow
@pytest.mark.parametrize(("moe", "tied"), [(False, False), (False, True), (True, False)],
                         ids=["dense", "dense-tied-embeddings", "moe"])
def test_hf_megatron_hf_is_exact_and_logits_match(tmp_path, moe, tied):
    from transformers import AutoModelForCausalLM

    from nemo_math import cli
    from nemo_math.conversion.convert import to_hf

    hf = _hf_model(moe, tied)
    hf.save_pretrained(tmp_path / "hf_in")
    # an HF folder in: `nemo-math convert` writes a Megatron initial checkpoint
    assert cli.main(["convert", "-q", f"convert.input={tmp_path / 'hf_in'}",
                     f"convert.output_dir={tmp_path / 'megatron'}"]) == 0
    summary = to_hf(tmp_path / "megatron", tmp_path / "hf_out", dtype="float32")
    assert summary["architecture"] == ("Qwen3MoeForCausalLM" if moe else "Qwen3ForCausalLM")

    original, back = hf_files.read_state(tmp_path / "hf_in"), hf_files.read_state(tmp_path / "hf_out")
    assert sorted(original) == sorted(back)
    for key in original:
        assert torch.equal(original[key], back[key]), key

    tokens = torch.randint(0, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(tokens).logits
    torch.testing.assert_close(_megatron_logits(tmp_path / "megatron", tokens), expected, rtol=0, atol=1e-5)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf_out").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(tokens).logits, expected, rtol=0, atol=1e-5)
    assert qwen3.model_config(json.loads((tmp_path / "hf_out" / "config.json").read_text())) == \
        qwen3.model_config(hf.config.to_dict())


def test_config_mapping_refuses_what_megatron_cannot_match():
    from transformers import Qwen3MoeConfig

    moe = Qwen3MoeConfig(**ARCH, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32).to_dict()
    with pytest.raises(qwen3.ConversionError, match="norm_topk_prob"):
        qwen3.model_config({**moe, "norm_topk_prob": False})
    with pytest.raises(qwen3.ConversionError, match="mlp_only_layers"):
        qwen3.model_config({**moe, "norm_topk_prob": True, "mlp_only_layers": [0]})
    with pytest.raises(qwen3.ConversionError, match="model_type"):
        qwen3.model_config({**moe, "model_type": "llama"})
    yarn = qwen3.model_config({**moe, "norm_topk_prob": True, "rope_parameters": {
        "rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0, "original_max_position_embeddings": 32768}})
    assert (yarn.yarn_factor, yarn.num_experts, yarn.moe_router_topk) == (4.0, 4, 2)
    assert qwen3.model_config(qwen3.hf_config(yarn)) == yarn


def test_missing_tensor_is_named():
    model = qwen3.model_config({**_hf_model(False).config.to_dict()})
    state = {k: v for k, v in _hf_model(False).state_dict().items() if "layers.1.mlp.up_proj" not in k}
    with pytest.raises(qwen3.ConversionError, match="model.layers.1.mlp.up_proj.weight"):
        qwen3.hf_to_megatron(state, model)


def test_unknown_tensor_is_an_error_not_dropped():
    """A tensor the mapping does not use (here a bias Qwen3 has not) would silently change the model if dropped."""
    hf_model = _hf_model(False)
    model = qwen3.model_config(hf_model.config.to_dict())
    state = dict(hf_model.state_dict())
    qwen3.hf_to_megatron(state, model)  # the model's own tensors: all used
    state["model.layers.0.self_attn.q_proj.bias"] = torch.zeros(4)
    with pytest.raises(qwen3.ConversionError, match="model.layers.0.self_attn.q_proj.bias"):
        qwen3.hf_to_megatron(state, model)


def test_sharded_safetensors_round_trip(tmp_path):
    state = {f"w{i}": torch.full((64,), float(i)) for i in range(5)}
    hf_files.write_state(tmp_path, state, max_shard_bytes=600)  # 256 bytes each: 2 per shard
    index = json.loads((tmp_path / hf_files.INDEX_FILE).read_text())
    assert len(set(index["weight_map"].values())) == 3
    back = hf_files.read_state(tmp_path)
    assert all(torch.equal(back[k], state[k]) for k in state)


@pytest.mark.parametrize(("stage", "rope"), [(1, "default"), (3, "yarn")], ids=["s32k", "s128k"])
def test_exported_rope_is_the_last_trained_stages(tmp_path, stage, rope):
    """YaRN is a per-stage setting (configs/qwen3_8b.yaml: only past 32K); a checkpoint records the model its
    stage trained, so the HF config of the export carries that stage's rope scaling."""
    import dataclasses

    from transformers import AutoConfig

    from nemo_math.config import load_config
    from nemo_math.conversion.convert import to_hf
    from nemo_math.training import checkpoint, models
    from nemo_math.training.schedule import model_config

    cfg = load_config(["qwen3_8b"], ["train.model=tiny_dense", f"train.model_overrides.vocab_size={VOCAB}"])
    model = model_config(cfg.train, cfg.train.stages[stage])
    models.init_single_process()
    checkpoint.save(tmp_path / "ckpt", 1, models.build_model(model), meta={"model": dataclasses.asdict(model)})
    to_hf(tmp_path / "ckpt", tmp_path / "hf", dtype="float32")
    exported = AutoConfig.from_pretrained(tmp_path / "hf")
    assert exported.rope_parameters["rope_type"] == rope
    if rope == "yarn":
        assert exported.rope_parameters["factor"] == 4.0
        assert exported.rope_parameters["original_max_position_embeddings"] == 32768
