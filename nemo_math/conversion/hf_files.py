"""A Hugging Face checkpoint folder on disk: sharded safetensors + index, ``config.json``, tokenizer files.

We read and write the folder with ``safetensors`` directly instead of ``model.save_pretrained``: that would
build the whole HF model in memory (a second copy of the weights) and, in transformers 5, re-fuse MoE experts
on load and split them again on save. The folder written here is what ``from_pretrained`` and vLLM read.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from nemo_math.io import atomic_path, read_json, write_json

INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                   "merges.txt", "chat_template.jinja", "generation_config.json", "added_tokens.json")


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a Hugging Face checkpoint (no config.json)")
    return read_json(path)


def read_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint (one ``model.safetensors`` or the shards its index lists)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    index = folder / INDEX_FILE
    files = (sorted(set(read_json(index)["weight_map"].values())) if index.exists()
             else [p.name for p in sorted(folder.glob("*.safetensors"))])
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for name in files:
        state.update(load_file(folder / name))
    return state


def write_state(folder: str | os.PathLike, state: dict[str, torch.Tensor], max_shard_bytes: int = 5 << 30) -> None:
    """Write ``state`` as safetensors shards of at most ``max_shard_bytes`` (plus an index when several)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = state[key]
        size += nbytes
    if len(shards) == 1:
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(shards[0], tmp, metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        with atomic_path(folder / name) as tmp:
            save_file(shard, tmp, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for t in state.values())
    write_json(folder / INDEX_FILE, {"metadata": {"total_size": total}, "weight_map": weight_map})


def copy_tokenizer(src: str | os.PathLike, folder: str | os.PathLike) -> list[str]:
    """Put the tokenizer next to the weights: its files copied from a local folder, or saved by transformers
    from a hub id (online only). Returns the file names written."""
    src_path = Path(src)
    if not src_path.is_dir():
        from transformers import AutoTokenizer

        return sorted(Path(p).name for p in AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(folder)))
    if not (src_path / "tokenizer.json").exists() and not (src_path / "tokenizer_config.json").exists():
        raise FileNotFoundError(f"{src_path}: no tokenizer.json or tokenizer_config.json")
    copied = []
    for name in TOKENIZER_FILES:
        if (src_path / name).exists():
            with atomic_path(Path(folder) / name) as tmp:
                shutil.copyfile(src_path / name, tmp)
            copied.append(name)
    return copied


def finish_tokenizer(folder: str | os.PathLike, chat_template: str | None, context_length: int) -> None:
    """Fit the copied tokenizer to the student: ``chat_template`` (when given) as ``chat_template.jinja``, which
    transformers and so vLLM read first, and in ``tokenizer_config.json`` too when that carries a template of its
    own (older readers take that one); ``model_max_length`` set to the context the model was built for."""
    folder = Path(folder)
    if chat_template is not None:
        with atomic_path(folder / "chat_template.jinja") as tmp:
            tmp.write_text(chat_template)
    path = folder / "tokenizer_config.json"
    config = read_json(path) if path.exists() else {}
    if chat_template is not None and "chat_template" in config:
        config["chat_template"] = chat_template
    write_json(path, {**config, "model_max_length": context_length})


def special_token_ids(tokenizer_dir: str | os.PathLike | None) -> dict[str, int]:
    """bos/eos/pad token ids for ``config.json``, read from the tokenizer (empty without one)."""
    if tokenizer_dir is None:
        return {}
    path = Path(tokenizer_dir) / "tokenizer_config.json"
    if not path.exists():
        return {}
    from tokenizers import Tokenizer

    config = json.loads(path.read_text())
    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    out = {}
    for field in ("bos_token", "eos_token", "pad_token"):
        token = config.get(field)
        token = token.get("content") if isinstance(token, dict) else token
        if token and (token_id := tok.token_to_id(token)) is not None:
            out[f"{field}_id"] = token_id
    return out
