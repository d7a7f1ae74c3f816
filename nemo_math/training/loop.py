"""One bucketed SFT stage on Megatron-Core, run by every rank: build, load, train, checkpoint.

Reads top to bottom like torchtitan's ``train.py``: layout -> model -> DDP -> Megatron optimizer and LR schedule
-> start point (resume this stage, else the previous stage's final checkpoint, else ``init_checkpoint``) -> steps
of ``forward_backward_func`` over THD micro-batches with a per-token loss -> periodic and final checkpoints.
The loss is summed over trained tokens and divided by the global count (``calculate_per_token_loss``), so it
does not depend on how rows are split across micro-batches, DP or TP ranks.

The optimizer is built before the weights are loaded (Megatron's DDP wraps the model first), and in bf16 it holds
fp32 main copies made at construction; after a weights-only load ``reload_model_params`` refreshes them from
the loaded weights, as Megatron-LM does, or the first step would copy the random init back.

``NEMO_MATH_HOLD_AFTER_STEP=N`` (fault-injection for kill/resume tests): after step N and any checkpoint of that
step, rank 0 writes ``<stage>/held_at_step_N`` and every rank waits there until killed, so a test kills the job
at a known step instead of racing it.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import torch

from nemo_math import progress
from nemo_math.io import mark_done, write_text
from nemo_math.training import checkpoint, models
from nemo_math.training.config import StageConfig, TrainConfig
from nemo_math.training.data import MicroBatch, StageData
from nemo_math.training.parallel import initialize, validate
from nemo_math.training.schedule import bucket_dir, layout_of, model_config, stage_dir

log = progress.log


def _bf16(cfg: TrainConfig) -> bool:
    if cfg.precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"train.precision: {cfg.precision!r} is not one of auto, bf16, fp32")
    return torch.cuda.is_available() if cfg.precision == "auto" else cfg.precision == "bf16"


def _switch(value: Any, key: str) -> bool:
    """An ``auto | true | false`` setting: auto is on with a GPU."""
    value = str(value).lower()
    if value not in ("auto", "true", "false"):
        raise ValueError(f"train.{key}: {value!r} is not one of auto, true, false")
    return torch.cuda.is_available() if value == "auto" else value == "true"


def _recompute(cfg: TrainConfig) -> dict[str, Any]:
    if cfg.recompute == "none":
        return {}
    if cfg.recompute == "selective":  # core attention only: the activations that grow with the sequence
        return dict(recompute_granularity="selective", recompute_modules=["core_attn"])
    if cfg.recompute == "full":
        return dict(recompute_granularity="full", recompute_method="uniform", recompute_num_layers=1)
    raise ValueError(f"train.recompute: {cfg.recompute!r} is not one of none, selective, full")


def _fusions(cfg: TrainConfig) -> dict[str, bool]:
    perf = cfg.performance
    return {key: _switch(getattr(perf, key), f"performance.{key}") for key in
            ("moe_permute_fusion", "apply_rope_fusion", "gradient_accumulation_fusion", "cross_entropy_loss_fusion")}


def _hold_if_asked(step: int, out_dir: Path, rank: int) -> None:
    """The fault-injection hook of the module docstring."""
    if os.environ.get("NEMO_MATH_HOLD_AFTER_STEP") != str(step):
        return
    if rank == 0:
        (out_dir / f"held_at_step_{step}").write_text(f"{step}\n")
    # hold until the launcher that started this rank is gone (the test's kill -9), then leave: torchrun's ranks
    # are not in the launcher's process group, and a held rank must not outlive the job it belongs to
    parent = os.getppid()
    while os.getppid() == parent:
        threading.Event().wait(0.2)
    os._exit(1)


def _device():
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def _to_device(mb: MicroBatch, cp_group=None):
    """Tensors and PackedSeqParams of a micro-batch, split to this CP rank when CP > 1."""
    from megatron.core.packed_seq_params import PackedSeqParams

    device = _device()
    batch = {"tokens": torch.from_numpy(mb.input_ids)[None],
             "labels": torch.from_numpy(mb.labels).clamp_min(0)[None],
             "loss_mask": torch.from_numpy(mb.loss_mask)[None],
             "position_ids": torch.from_numpy(mb.position_ids)[None]}
    batch = {k: v.to(device) for k, v in batch.items()}
    cu = torch.from_numpy(mb.cu_seqlens).to(device)
    cu_padded = None if mb.cu_seqlens_padded is None else torch.from_numpy(mb.cu_seqlens_padded).to(device)
    if cp_group is not None and cp_group.size() > 1:
        from megatron.core.utils import get_batch_on_this_cp_rank

        batch = get_batch_on_this_cp_rank({**batch, "cu_seqlens": cu[None], "cu_seqlens_padded": cu_padded[None]},
                                          is_hybrid_cp=False, cp_group=cp_group)
    params = PackedSeqParams(qkv_format="thd", cu_seqlens_q=cu, cu_seqlens_kv=cu, cu_seqlens_q_padded=cu_padded,
                             cu_seqlens_kv_padded=cu_padded, max_seqlen_q=mb.max_seqlen,
                             max_seqlen_kv=mb.max_seqlen)
    return batch, params


def _forward_step(cp_group):
    def forward_step(data_iterator, model):
        batch, params = _to_device(next(data_iterator), cp_group)
        out = model(batch["tokens"], batch["position_ids"], None, labels=batch["labels"],
                    packed_seq_params=params)
        mask = batch["loss_mask"].reshape(-1).float()

        def loss_func(output_tensor):
            loss_sum = (output_tensor.float().reshape(-1) * mask).sum()
            num_tokens = mask.sum().to(torch.int)
            return loss_sum, num_tokens, {"lm loss": torch.stack([loss_sum.detach(), mask.sum()])}

        return out, loss_func

    return forward_step


class MetricsLog:
    """``metrics.jsonl`` (one line per step, rank 0) plus TensorBoard; a resumed stage first drops the steps
    after its checkpoint so the file reads like one uninterrupted run."""

    def __init__(self, folder: Path, start: int, tensorboard: bool, enabled: bool):
        self.enabled = enabled
        self.path = folder / "metrics.jsonl"
        self.writer = None
        self.last: dict[str, Any] = {}
        if not enabled:
            return
        kept = []
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and _is_json(line) and json.loads(line)["step"] <= start]
        self.last = json.loads(kept[-1]) if kept else {}
        write_text(self.path, "".join(line + "\n" for line in kept))
        self.fh = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(folder / "tensorboard"), purge_step=start + 1)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.fh.write(json.dumps(row) + "\n")
        self.fh.flush()
        if self.writer is not None:
            for key in ("loss", "lr", "grad_norm", "tokens_per_s"):
                self.writer.add_scalar(f"train/{key}", row[key], row["step"])

    def close(self) -> None:
        if self.enabled:
            self.fh.close()
            if self.writer is not None:
                self.writer.close()


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def _scheduler(optimizer, stage: StageConfig, steps: int, weight_decay: float):
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    if stage.lr_schedule not in ("constant", "cosine", "linear"):
        raise ValueError(f"stage {stage.name}: lr_schedule {stage.lr_schedule!r} is not constant, cosine or linear")
    return OptimizerParamScheduler(
        optimizer, init_lr=0.0 if stage.warmup_steps else stage.lr, max_lr=stage.lr,
        min_lr=stage.lr if stage.lr_schedule == "constant" else stage.min_lr,
        lr_warmup_steps=stage.warmup_steps, lr_decay_steps=max(steps, stage.warmup_steps + 1),
        lr_decay_style=stage.lr_schedule, start_wd=weight_decay, end_wd=weight_decay,
        wd_incr_steps=max(steps, 1), wd_incr_style="constant")


def train_stage(cfg: TrainConfig, index: int) -> dict[str, Any]:
    """Run stage ``index`` of ``cfg`` on the initialised default process group; return its summary."""
    from megatron.core import parallel_state as ps
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
    from megatron.core.pipeline_parallel import get_forward_backward_func

    stage = cfg.stages[index]
    out_dir = stage_dir(cfg, index)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    model_cfg = model_config(cfg, stage)
    layout = layout_of(stage)
    data_path = bucket_dir(cfg, stage)
    manifest = json.loads((data_path / "manifest.json").read_text()) if (data_path / "manifest.json").exists() else {}
    validate(layout, world, model_cfg, micro_batch_size=stage.micro_batch_size,
             global_batch_size=stage.global_batch_size, row_multiple=manifest.get("pad_multiple"),
             gpu=torch.cuda.is_available(), where=f"train.stages[{index}] ({stage.name})")
    initialize(layout, seed=cfg.seed)
    bf16 = _bf16(cfg)
    dist_opt = _switch(cfg.distributed_optimizer, "distributed_optimizer")
    overlap_grad = dist_opt and _switch(cfg.performance.overlap_grad_reduce, "performance.overlap_grad_reduce")
    overlap_param = overlap_grad and _switch(cfg.performance.overlap_param_gather,
                                             "performance.overlap_param_gather")
    tcfg = models.transformer_config(model_cfg, layout.tp, layout.cp, layout.ep, layout.pp,
                                     layout.sequence_parallel, bf16=bf16, etp=layout.etp, **_recompute(cfg),
                                     **_fusions(cfg))
    model = models.build_model(model_cfg, tcfg)
    module = model
    if bf16:  # bf16 in, fp32 logits out, as Megatron's own training wraps half-precision models
        from megatron.core.transformer.module import Float16Module

        module = Float16Module(tcfg, model)
    ddp = DistributedDataParallel(tcfg, DistributedDataParallelConfig(
        grad_reduce_in_fp32=True, use_distributed_optimizer=dist_opt, overlap_grad_reduce=overlap_grad,
        overlap_param_gather=overlap_param), module)
    optimizer = get_megatron_optimizer(OptimizerConfig(
        optimizer="adam", lr=stage.lr, min_lr=stage.min_lr, weight_decay=cfg.weight_decay,
        adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2, adam_eps=cfg.adam_eps, clip_grad=cfg.clip_grad,
        bf16=bf16, params_dtype=tcfg.params_dtype, use_distributed_optimizer=dist_opt,
        overlap_param_gather=overlap_param), [ddp])
    tcfg.finalize_model_grads_func = finalize_model_grads
    tcfg.no_sync_func = ddp.no_sync
    tcfg.grad_scale_func = optimizer.scale_loss

    dp_rank, dp_size = ps.get_data_parallel_rank(), ps.get_data_parallel_world_size()
    doc_multiple = 1
    if layout.cp > 1:
        doc_multiple = 2 * layout.cp * (layout.tp if layout.sequence_parallel else 1)
    data = StageData(data_path, stage.global_batch_size, stage.micro_batch_size, dp_rank, dp_size,
                     seed=cfg.seed + index, doc_multiple=doc_multiple, vocab_size=model_cfg.vocab_size)
    steps = stage.steps or data.steps(stage.epochs)
    scheduler = _scheduler(optimizer, stage, steps, cfg.weight_decay)
    layout_key = f"{layout}-world{world}"

    # ---- start point
    ckpt_root = out_dir / "checkpoints"
    start = 0
    if checkpoint.latest(ckpt_root) is not None:
        meta = checkpoint.load(ckpt_root, model, optimizer, layout_key=layout_key)
        scheduler.load_state_dict(meta["scheduler"])
        start = int(meta["iteration"])
        source = f"resumed {stage.name} at step {start}"
    elif index > 0:
        prev = stage_dir(cfg, index - 1) / "checkpoints"
        checkpoint.load(prev, model, optimizer if stage.carry_optimizer else None)
        if not stage.carry_optimizer:
            optimizer.reload_model_params()
        carried = "optimizer carried" if stage.carry_optimizer else "new optimizer"
        source = f"from {cfg.stages[index - 1].name} ({carried})"
    elif cfg.init_checkpoint:
        checkpoint.load(cfg.init_checkpoint, model)
        optimizer.reload_model_params()  # the fp32 main params still hold the random init
        source = f"from {cfg.init_checkpoint}"
    else:
        source = "from random init"
    if rank == 0:
        log.info("stage %s: %s, %s, DP%d, %d steps x %d rows of %s, %s", stage.name, layout, "bf16" if bf16 else
                 "fp32", dp_size, steps, stage.global_batch_size, data_path.name, source)

    metrics = MetricsLog(out_dir, start, cfg.tensorboard, enabled=rank == 0)
    forward_backward = get_forward_backward_func()
    forward_step = _forward_step(ps.get_context_parallel_group() if layout.cp > 1 else None)
    last: dict[str, Any] = metrics.last
    timed = [0.0, 0.0]  # tokens, seconds over this run's steps after its first (warm-up) step

    handoff = index + 1 < len(cfg.stages) and cfg.stages[index + 1].carry_optimizer

    def save(step: int) -> None:
        if not cfg.save_checkpoints:
            return
        fmt = "fully_reshardable" if handoff and step == steps else cfg.optimizer_checkpoint
        if overlap_param:  # finish the in-flight param all-gather first, as Megatron-LM does before a save
            ddp.disable_forward_pre_hook(param_sync=True)
        checkpoint.save(ckpt_root, step, model, optimizer, layout_key=layout_key, optimizer_format=fmt, meta={
            "scheduler": scheduler.state_dict(), "stage": stage.name, "consumed_rows": step * stage.global_batch_size,
            "layout": str(layout), "model": model_cfg.__dict__})
        if overlap_param:
            ddp.enable_forward_pre_hook()

    ddp.train()
    with progress.bar(steps, f"train {stage.name}", "loss {task.fields[loss]:.4f} {task.fields[tps]:,.0f} tok/s",
                      loss=math.nan, tps=0.0) if rank == 0 else _null_bar() as advance:
        advance(start)
        for step in range(start, steps):
            t0 = time.perf_counter()
            micro = data.micro_batches(step)
            ddp.zero_grad_buffer()
            optimizer.zero_grad()
            reduced = forward_backward(forward_step_func=forward_step, data_iterator=iter(micro), model=[ddp],
                                       num_microbatches=len(micro), seq_length=0, micro_batch_size=1,
                                       forward_only=False)
            ok, grad_norm, _ = optimizer.step()
            if ok:
                scheduler.step(increment=1)
            loss = _global_loss(reduced)
            elapsed = time.perf_counter() - t0
            tokens = torch.tensor([sum(len(m.input_ids) for m in micro)], dtype=torch.float64, device=_device())
            torch.distributed.all_reduce(tokens)
            tokens_total = tokens.item() / (layout.tp * layout.cp * layout.pp)  # replicas count once
            row = {"step": step + 1, "loss": loss, "lr": optimizer.param_groups[0]["lr"],
                   "grad_norm": float(grad_norm or 0.0), "tokens": tokens_total, "tokens_per_s": tokens_total / elapsed,
                   "step_time_s": elapsed, "skipped": not ok}
            if (step + 1) % cfg.log_interval == 0 or step + 1 == steps:
                metrics.write(row)
            advance(1, loss=loss, tps=row["tokens_per_s"])
            last = row
            if step > start:
                timed[0] += tokens_total
                timed[1] += elapsed
            if step + 1 < steps and stage.save_interval and (step + 1) % stage.save_interval == 0:
                save(step + 1)
            _hold_if_asked(step + 1, out_dir, rank)
    if cfg.save_checkpoints and (checkpoint.latest(ckpt_root) is None
                                 or int(checkpoint.load_meta(ckpt_root)["iteration"]) != steps):
        save(steps)
    metrics.close()
    summary = {"stage": stage.name, "steps": steps, "layout": str(layout), "world_size": world,
               "final_checkpoint": str(checkpoint.latest(ckpt_root)), "final_loss": last.get("loss", math.nan),
               "tokens_per_s": timed[0] / timed[1] if timed[1] else last.get("tokens_per_s", math.nan)}
    torch.distributed.barrier()
    if rank == 0:
        mark_done(out_dir, summary)
    return summary


def _global_loss(reduced: list[dict[str, torch.Tensor]]) -> float:
    """Token-weighted LM loss of the step over all micro-batches and data-parallel ranks."""
    from megatron.core import parallel_state as ps

    if not reduced:  # not the last pipeline stage
        return math.nan
    total = torch.stack([r["lm loss"] for r in reduced]).sum(0).to(torch.float64)
    torch.distributed.all_reduce(total, group=ps.get_data_parallel_group(with_context_parallel=True))
    return (total[0] / total[1].clamp_min(1)).item()


class _null_bar:
    def __enter__(self):
        return lambda *args, **kwargs: None

    def __exit__(self, *exc):
        return False
