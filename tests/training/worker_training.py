"""Run under torchrun (2 ranks, gloo) by the training tests: checks that switch layouts inside one process.

``packed OUT``: logits of a packed THD sequence at TP1, TP2 and TP2+SP against its documents run one by one.
``tp OUT DATA``: the same stage trained at TP1 (DP2) and at TP2 (DP1); per-step losses for both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from nemo_math.training import models
from nemo_math.training.config import StageConfig, TrainConfig
from nemo_math.training.launch import init_distributed
from nemo_math.training.loop import train_stage
from nemo_math.training.parallel import Layout, initialize

VOCAB = 256


def full_logits(model, tokens, positions, params=None):
    from megatron.core.tensor_parallel import gather_from_tensor_model_parallel_region

    with torch.no_grad():
        logits = model(tokens, positions, None, packed_seq_params=params)  # [1, t, V/tp]
        return gather_from_tensor_model_parallel_region(logits)


def packed(out: Path) -> None:
    from megatron.core.packed_seq_params import PackedSeqParams

    gen = torch.Generator().manual_seed(3)
    lengths = [5, 9, 3, 7]
    docs = [torch.randint(0, VOCAB, (n,), generator=gen) for n in lengths]
    tokens = torch.cat(docs)[None]
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    params = PackedSeqParams(qkv_format="thd", cu_seqlens_q=cu, cu_seqlens_kv=cu, max_seqlen_q=max(lengths),
                             max_seqlen_kv=max(lengths))
    result, reference = {}, None
    for layout in (Layout(tp=1), Layout(tp=2), Layout(tp=2, sequence_parallel=True)):
        initialize(layout, seed=11)
        cfg = models.preset("tiny_dense", vocab_size=VOCAB)
        model = models.build_model(cfg, models.transformer_config(cfg, tp=layout.tp,
                                                                  sequence_parallel=layout.sequence_parallel))
        model.eval()
        logits = full_logits(model, tokens, positions, params)
        if reference is None:  # documents one by one, at TP1
            reference = torch.cat([full_logits(model, d[None], torch.arange(len(d))[None]) for d in docs], dim=1)
        result[str(layout)] = (logits - reference).abs().max().item()
    result["reference_scale"] = reference.abs().max().item()
    if torch.distributed.get_rank() == 0:
        out.write_text(json.dumps(result))


def tp(out: Path, data: Path) -> None:
    losses = {}
    for tp_size in (1, 2):
        stage = StageConfig(name="s", bucket=str(data), tp=tp_size, global_batch_size=4, steps=3, lr=3e-3)
        cfg = TrainConfig(data_dir=str(data.parent), output_dir=str(out.parent / f"tp{tp_size}"), model="tiny_dense",
                          model_overrides={"vocab_size": VOCAB}, stages=[stage], seed=5, tensorboard=False)
        train_stage(cfg, 0)
        metrics = Path(cfg.output_dir) / "s" / "metrics.jsonl"
        if torch.distributed.get_rank() == 0:
            losses[f"tp{tp_size}"] = [json.loads(line)["loss"] for line in metrics.read_text().splitlines()]
    if torch.distributed.get_rank() == 0:
        out.write_text(json.dumps(losses))


if __name__ == "__main__":
    init_distributed()
    {"packed": packed, "tp": tp}[sys.argv[1]](*map(Path, sys.argv[2:]))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
