"""Megatron distributed checkpoints: save, load at any TP/EP layout, and an atomic ``latest`` pointer.

A checkpoint root holds ``iter_0000100/`` folders written by ``megatron.core.dist_checkpointing`` plus
``latest.json`` naming the newest complete one. A folder is written under a temp name and renamed when every
rank has finished, and ``latest.json`` is replaced atomically after that, so a kill at any moment leaves the
previous checkpoint usable. Because dist-checkpointing stores global tensors, a checkpoint saved at one layout
loads at another (TP=2 -> TP=1, dense TP -> EP): that is how bucketed stages hand over.

Contents: ``model`` (sharded), optionally ``optimizer`` (sharded, Megatron's optimizer state), ``rng``
(one object per rank, restored only when resuming at the same layout) and ``meta`` (common: iteration,
consumed rows, LR-scheduler state, layout, the optimizer-state format, anything the caller adds).

One key layout for the local (CPU) and Transformer Engine specs: a checkpoint written by either loads into the
other. The norms of TE carry an ``_extra_state`` (FP8 metadata, empty in bf16) that local modules do not
write; a load tolerates exactly those absent objects (as Megatron-LM does with its non-strict load) and still
fails on any other missing tensor, naming it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from nemo_math.io import write_json

LATEST = "latest.json"
# How the distributed optimizer's state is stored. dp_reshardable: each rank writes its own shard, no gather (the
# memory-efficient default; loads at the same TP/CP/EP layout, any DP). fully_reshardable: per parameter, so
# it loads at another layout; gathered over DP with gloo on DP rank 0 ("mem_efficient") instead of NCCL on
# every rank, which for 8B at TP2 would hold ~48 GB per GPU. Only matters with the distributed optimizer.
OPTIMIZER_FORMATS = {
    "dp_reshardable": {"distrib_optim_sharding_type": "dp_reshardable"},
    "fully_reshardable": {"distrib_optim_sharding_type": "fully_reshardable",
                          "distrib_optim_fully_reshardable_mem_efficient": True}}
EXTRA_STATE = "_extra_state"
_PR_SET_PDEATHSIG = 1


def optimizer_metadata(fmt: str) -> dict[str, Any]:
    """Megatron's ``sharded_state_dict`` metadata for an optimizer-state format; the same keys whether or not
    Megatron chains optimizers (EP > 1 splits expert params off)."""
    if fmt not in OPTIMIZER_FORMATS:
        raise ValueError(f"optimizer checkpoint format {fmt!r} is not one of {', '.join(OPTIMIZER_FORMATS)}")
    return {"chained_optim_avoid_prefix": True, **OPTIMIZER_FORMATS[fmt]}


def iteration_dir(root: str | os.PathLike, iteration: int) -> Path:
    return Path(root) / f"iter_{iteration:07d}"


def latest(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under ``root`` (``None`` if there is none)."""
    pointer = Path(root) / LATEST
    if not pointer.exists():
        return None
    path = Path(root) / json.loads(pointer.read_text())["checkpoint"]
    return path if path.is_dir() else None


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or a root whose ``latest.json`` names one."""
    path = Path(path)
    if (path / "metadata.json").exists():
        return path
    found = latest(path)
    if found is None:
        raise FileNotFoundError(f"{path}: neither a dist checkpoint (metadata.json) nor a root with {LATEST}")
    return found


def _rank() -> int:
    import torch

    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def _barrier() -> None:
    import torch

    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def _rng_object(layout_key: str, data: Any = None):
    """This rank's RNG state; the key has no ``/`` (dist-checkpointing splits object keys there)."""
    import torch
    from megatron.core.dist_checkpointing.mapping import ShardedObject

    world = torch.distributed.get_world_size()
    return ShardedObject(f"rng_state.{layout_key}", data, (world,), (_rank(),), replica_id=0)


def _rng_state() -> dict[str, Any]:
    import random

    import numpy as np
    import torch
    from megatron.core import tensor_parallel

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "tracker": tensor_parallel.get_cuda_rng_tracker().get_states()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch
    from megatron.core import tensor_parallel

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    tensor_parallel.get_cuda_rng_tracker().set_states(state["tracker"])


def _die_with_parent() -> None:
    """Initializer of the manager process: the kernel kills it when the rank that started it dies."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the rank died before the line above ran
        os._exit(0)


def _results_queue_dies_with_this_process() -> None:
    """Megatron's checkpoint writer reports through a ``multiprocessing.Manager`` queue that it starts on the first
    save and never stops; its server process outlives a rank that is killed (kill -9, a lost node, ``scancel``) and
    stays reparented to init. Start that queue ourselves, from a manager whose process dies with this rank."""
    import multiprocessing
    from multiprocessing.managers import SyncManager

    from megatron.core.dist_checkpointing.strategies import filesystem_async

    if filesystem_async._results_queue is None:
        manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
        manager.start(_die_with_parent)
        filesystem_async._results_queue = manager.Queue()


def save(root: str | os.PathLike, iteration: int, model, optimizer=None, meta: dict[str, Any] | None = None,
         layout_key: str = "default", optimizer_format: str = "fully_reshardable") -> Path:
    """Save ``model`` (a Megatron module, unwrapped) and, if given, ``optimizer`` as ``root/iter_N``, then point
    ``root/latest.json`` at it. Every rank must call this. ``layout_key`` names the layout the RNG state is for;
    ``optimizer_format`` is one of :data:`OPTIMIZER_FORMATS`."""
    from megatron.core import dist_checkpointing

    _results_queue_dies_with_this_process()
    root = Path(root)
    final = iteration_dir(root, iteration)
    tmp = root / f".{final.name}.tmp"
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    state: dict[str, Any] = {"model": model.sharded_state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.sharded_state_dict(state["model"],
                                                          metadata=optimizer_metadata(optimizer_format))
    state["rng"] = _rng_object(layout_key, _rng_state())
    state["meta"] = {"iteration": iteration, "layout_key": layout_key, **(meta or {})}
    if optimizer is not None:
        state["meta"]["optimizer_parts"] = _optimizer_parts(optimizer)
        state["meta"]["optimizer_format"] = optimizer_format
    dist_checkpointing.save(state, str(tmp))
    _barrier()
    if _rank() == 0:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        write_json(root / LATEST, {"checkpoint": final.name, "iteration": iteration})
    _barrier()
    return final


def _optimizer_parts(optimizer) -> int:
    return len(getattr(optimizer, "chained_optimizers", [optimizer]))


def _is_distributed(optimizer) -> bool:
    from megatron.core.optimizer.distrib_optimizer import DistributedOptimizer

    return any(isinstance(o, DistributedOptimizer) for o in getattr(optimizer, "chained_optimizers", [optimizer]))


def _without_absent_extra_state(sharded: dict[str, Any], path: Path) -> dict[str, Any]:
    """``sharded`` less the ``_extra_state`` objects the checkpoint does not have (TE norms reading a checkpoint
    written by local modules); any other absent key fails here, named."""
    from megatron.core.dist_checkpointing.dict_utils import extract_matching_values, nested_values
    from megatron.core.dist_checkpointing.serialization import load_sharded_metadata

    stored = set(load_sharded_metadata(str(path)))
    absent = sorted({v.key for v in nested_values(sharded) if v.key not in stored})
    wrong = [key for key in absent if not key.endswith(EXTRA_STATE)]
    if wrong:
        raise KeyError(f"{path}: the checkpoint lacks {len(wrong)} tensor(s) this model needs, e.g. {wrong[:3]} "
                       f"(another model, or another key layout)")
    _, kept = extract_matching_values(sharded, lambda v: v.key in absent)
    return kept


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The common ``meta`` of a checkpoint (iteration, consumed rows, scheduler, layout), without loading tensors."""
    from megatron.core import dist_checkpointing

    return dist_checkpointing.load_common_state_dict(str(resolve(path))).get("meta", {})


def load(path: str | os.PathLike, model, optimizer=None, layout_key: str | None = None) -> dict[str, Any]:
    """Load a checkpoint (folder or root) into ``model`` at the current layout, and ``optimizer`` state if given;
    restore this rank's RNG when ``layout_key`` matches the one saved. Returns the checkpoint's ``meta``."""
    import torch
    from megatron.core import dist_checkpointing

    path = resolve(path)
    meta = load_meta(path)
    if optimizer is not None and meta.get("optimizer_parts") != _optimizer_parts(optimizer):
        raise ValueError(f"{path}: optimizer state has {meta.get('optimizer_parts')} part(s) but this layout's "
                         f"optimizer has {_optimizer_parts(optimizer)} (Megatron splits expert parameters into "
                         f"their own optimizer when the expert data-parallel group differs): set "
                         f"carry_optimizer: false for this stage")
    if optimizer is not None and meta.get("layout_key") != layout_key \
            and meta.get("optimizer_format", "fully_reshardable") != "fully_reshardable" \
            and _is_distributed(optimizer):
        raise ValueError(f"{path}: the optimizer state was saved {meta['optimizer_format']} (loads only at the "
                         f"layout {meta.get('layout_key')}), not at {layout_key}: set carry_optimizer: false")
    state: dict[str, Any] = {"model": model.sharded_state_dict()}
    if optimizer is not None:
        fmt = meta.get("optimizer_format", "fully_reshardable")
        state["optimizer"] = optimizer.sharded_state_dict(state["model"], is_loading=True,
                                                          metadata=optimizer_metadata(fmt))
    same_layout = layout_key is not None and meta.get("layout_key") == layout_key
    if same_layout:
        state["rng"] = _rng_object(layout_key)
    state["model"] = _without_absent_extra_state(state["model"], path)
    loaded = dist_checkpointing.load(state, str(path))
    result = model.load_state_dict(loaded["model"], strict=False)
    wrong = [k for k in (*result.missing_keys, *result.unexpected_keys) if not k.endswith(EXTRA_STATE)]
    if wrong:
        raise KeyError(f"{path}: state dict does not fit the model: {wrong[:5]}")
    if optimizer is not None:
        with torch.no_grad():
            optimizer.load_state_dict(loaded["optimizer"])
    if same_layout:
        _set_rng_state(loaded["rng"])
    return meta
