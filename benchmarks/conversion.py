"""Conversion benchmark: a random HF Qwen3 of a model preset -> Megatron dist checkpoint -> HF, timed.

Prints ``key=value`` lines: parameters, seconds and GB/s of each direction, and whether the round trip is
bit-exact. The default preset (Qwen3-0.6B shapes, bf16, 1.2 GB) runs on a laptop CPU.

    .venv/bin/python benchmarks/conversion.py [--preset qwen3_0p6b] [--dtype bfloat16] [--layers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def random_hf_folder(folder: Path, preset: str, dtype: torch.dtype, layers: int | None) -> int:
    """Write a random HF checkpoint of ``preset`` (weights drawn directly, no model init); return its bytes."""
    from nemo_math.conversion import hf_files, qwen3
    from nemo_math.io import write_json
    from nemo_math.training.models import preset as model_preset

    model = model_preset(preset, **({"num_layers": layers} if layers else {}))
    shapes = {k: v.shape for k, v in qwen3.megatron_to_hf(_random_megatron(model, dtype), model).items()}
    state = {k: torch.randn(shape, dtype=dtype) * 0.02 for k, shape in shapes.items()}
    hf_files.write_state(folder, state)
    write_json(folder / "config.json", qwen3.hf_config(model, dtype))
    return sum(t.numel() * t.element_size() for t in state.values())


def _random_megatron(model, dtype):
    """Zero-stride placeholders with the Megatron shapes (the mapping only reshapes and concatenates)."""
    h, d = model.hidden_size, model.head_dim
    qkv = (model.num_attention_heads + 2 * model.num_query_groups) * d
    out = {"embedding.word_embeddings.weight": (model.vocab_size, h), "decoder.final_layernorm.weight": (h,),
           "output_layer.weight": (model.vocab_size, h)}
    for i in range(model.num_layers):
        p = f"decoder.layers.{i}."
        out.update({p + "self_attention.linear_qkv.weight": (qkv, h),
                    p + "self_attention.linear_proj.weight": (h, model.num_attention_heads * d),
                    p + "self_attention.q_layernorm.weight": (d,), p + "self_attention.k_layernorm.weight": (d,),
                    p + "input_layernorm.weight": (h,), p + "pre_mlp_layernorm.weight": (h,)})
        if model.is_moe:
            out[p + "mlp.router.weight"] = (model.num_experts, h)
            for e in range(model.num_experts):
                q = f"{p}mlp.experts.local_experts.{e}."
                out[q + "linear_fc1.weight"] = (2 * model.moe_ffn_hidden_size, h)
                out[q + "linear_fc2.weight"] = (h, model.moe_ffn_hidden_size)
        else:
            out[p + "mlp.linear_fc1.weight"] = (2 * model.ffn_hidden_size, h)
            out[p + "mlp.linear_fc2.weight"] = (h, model.ffn_hidden_size)
    return {k: torch.zeros(1, dtype=dtype).expand(shape) for k, shape in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="qwen3_0p6b")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--layers", type=int, default=None, help="override the preset's layer count")
    args = parser.parse_args()
    from nemo_math.conversion import convert, hf_files

    dtype = getattr(torch, args.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nbytes = random_hf_folder(root / "hf_in", args.preset, dtype, args.layers)
        start = time.perf_counter()
        to_mcore = convert.to_megatron(root / "hf_in", root / "megatron")
        t_mcore = time.perf_counter() - start
        start = time.perf_counter()
        convert.to_hf(root / "megatron", root / "hf_out", dtype=args.dtype)
        t_hf = time.perf_counter() - start
        a, b = hf_files.read_state(root / "hf_in"), hf_files.read_state(root / "hf_out")
        exact = sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    print(f"preset={args.preset} dtype={args.dtype} parameters={to_mcore['parameters']} gigabytes={nbytes / 1e9:.2f}")
    print(f"hf_to_megatron_s={t_mcore:.1f} hf_to_megatron_gbps={nbytes / 1e9 / t_mcore:.3f}")
    print(f"megatron_to_hf_s={t_hf:.1f} megatron_to_hf_gbps={nbytes / 1e9 / t_hf:.3f}")
    print(f"round_trip_bit_exact={exact}")


if __name__ == "__main__":
    main()
