"""Whole-checkpoint conversion in one process: Megatron dist checkpoint -> HF folder, and HF folder -> Megatron.

Both directions build the Megatron model at TP=PP=EP=1 (gloo on CPU) and go through its plain ``state_dict``:
dist-checkpointing reshards whatever layout training used, so the mapping (:mod:`nemo_math.conversion.qwen3`)
only ever sees full tensors. The model's hyper-parameters travel with the checkpoint (``meta.model``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from nemo_math.conversion import hf_files, qwen3
from nemo_math.io import write_json
from nemo_math.training import checkpoint, models
from nemo_math.training.models import ModelConfig

DTYPES = ("bfloat16", "float16", "float32")


def model_of_checkpoint(path: str | os.PathLike, fallback: ModelConfig | None = None) -> ModelConfig:
    """The :class:`ModelConfig` stored in a checkpoint's ``meta.model``, else ``fallback``."""
    stored = checkpoint.load_meta(path).get("model")
    if isinstance(stored, dict):
        return ModelConfig(**stored)
    if fallback is None:
        raise ValueError(f"{path}: the checkpoint does not record its model (meta.model); "
                         "set convert.model / convert.model_overrides")
    return fallback


def build_uninitialized(model: ModelConfig, bf16: bool):
    """The Megatron model on the CPU, in bf16 or fp32, without random initialisation (a load overwrites every
    weight). Dist-checkpointing casts on load, so the dtype only sets the memory a conversion needs."""
    import torch

    if torch.cuda.is_available():
        raise RuntimeError("conversion runs on the CPU (local-spec module names): hide the GPUs with "
                           "CUDA_VISIBLE_DEVICES= (`nemo-math convert` does)")
    config = models.transformer_config(model, bf16=bf16)
    config.perform_initialization = False
    return models.build_model(model, config)


def _torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise ValueError(f"convert.dtype: expected one of {DTYPES}, got {name!r}")
    return getattr(torch, name)


def served_chat_template(renderer: str) -> str | None:
    """The chat template a student trained with ``renderer`` is served with: for ``harmony``, the template that
    renders chat messages to the harmony text it trained on; for ``chat_template``, None: the tokenizer's own
    template, copied with it, is the one it trained on."""
    from nemo_math.generation.chat import harmony_chat_template
    from nemo_math.packing.render import RENDERERS

    if renderer not in RENDERERS:
        raise ValueError(f"convert.renderer: expected one of {RENDERERS}, got {renderer!r}")
    return harmony_chat_template() if renderer == "harmony" else None


def to_hf(megatron_checkpoint: str | os.PathLike, output_dir: str | os.PathLike, model: ModelConfig | None = None,
          tokenizer: str | os.PathLike | None = None, dtype: str = "bfloat16",
          renderer: str = "harmony") -> dict[str, Any]:
    """Write an HF folder (safetensors, ``config.json``, tokenizer files with the chat template of ``renderer``,
    the renderer the student was trained with) from a Megatron dist checkpoint."""
    torch_dtype = _torch_dtype(dtype)  # a bad dtype or renderer fails before anything is loaded
    chat_template = served_chat_template(renderer)
    models.init_single_process()
    path = checkpoint.resolve(megatron_checkpoint)
    model = model_of_checkpoint(path, model)
    module = build_uninitialized(model, bf16=dtype == "bfloat16")
    checkpoint.load(path, module)
    mcore = {k: v for k, v in module.state_dict().items() if not k.endswith("_extra_state")}
    state = {k: v.detach().to("cpu", torch_dtype) for k, v in qwen3.megatron_to_hf(mcore, model).items()}
    out = Path(output_dir)
    hf_files.write_state(out, state)
    copied = hf_files.copy_tokenizer(tokenizer, out) if tokenizer else []
    if tokenizer:
        hf_files.finish_tokenizer(out, chat_template, qwen3.context_length(model))
    config = qwen3.hf_config(model, torch_dtype, **hf_files.special_token_ids(tokenizer))
    write_json(out / "config.json", config)
    return {"direction": "to_hf", "source": str(path), "output": str(out), "tensors": len(state),
            "parameters": sum(t.numel() for t in state.values()), "dtype": dtype,
            "architecture": config["architectures"][0], "tokenizer_files": copied}


def to_megatron(hf_dir: str | os.PathLike, output_dir: str | os.PathLike) -> dict[str, Any]:
    """Write a Megatron dist checkpoint (``output_dir/iter_0000000`` + ``latest.json``) from an HF folder: the
    initial checkpoint of a training run (``train.init_checkpoint``)."""
    import torch

    model = qwen3.model_config(hf_files.read_config(hf_dir))
    hf_state = hf_files.read_state(hf_dir)
    models.init_single_process()
    module = build_uninitialized(model, bf16=any(t.dtype == torch.bfloat16 for t in hf_state.values()))
    params_dtype = next(module.parameters()).dtype
    state = {k: v.to(params_dtype) for k, v in qwen3.hf_to_megatron(hf_state, model).items()}
    with torch.no_grad():
        qwen3.load_into(module, state)
    saved = checkpoint.save(output_dir, 0, module, meta={"model": dataclasses.asdict(model),
                                                         "source": str(hf_dir)})
    return {"direction": "to_megatron", "source": str(hf_dir), "output": str(saved),
            "parameters": sum(p.numel() for p in module.parameters()), "dtype": str(params_dtype)}
