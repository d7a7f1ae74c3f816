"""GPU check of the training path: Qwen3-0.6B (its shapes, tied embeddings as the real model) on the Transformer
Engine spec, bf16, distributed optimizer, packed THD rows of 4K, 8K and 16K tokens; prints tokens/s and MFU.

Runs the real stage loop (:func:`nemo_math.training.loop.train_stage`) over synthetic packed buckets (documents
of 512 tokens up to the row length), without checkpoints, on one GPU or under torchrun on several (data
parallel: the global batch is ``--rows-per-gpu`` x the number of GPUs, valid for any count). Under 10 minutes
on one H100:

    python benchmarks/training_gpu.py [--steps 8] [--lengths 4096 8192 16384]
    torchrun --nproc-per-node 8 benchmarks/training_gpu.py

tokens/s counts real tokens only (padding of the packed rows excluded). MFU = tokens/s x training FLOPs per
token (6 x active parameters + causal attention over each document's own length, the LM head included) / the
GPUs' dense bf16 peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "B200": 2250e12}


def write_bucket(path: Path, seq_len: int, rows: int, vocab: int, seed: int = 0) -> tuple[float, float]:
    """Rows filled with documents of 512..seq_len tokens; returns the token-weighted mean document length and
    the share of real (not padding) tokens in the rows."""
    from nemo_math.packing.format import PackedWriter

    rng = np.random.default_rng(seed)
    writer = PackedWriter(path, seq_len=seq_len, pad_token_id=0, multiple=16)
    weighted, total = 0.0, 0
    for _ in range(rows):
        docs, room = [], seq_len
        while room >= 512:
            n = int(min(room, rng.integers(512, seq_len + 1)))
            docs.append((rng.integers(1, vocab, n), np.ones(n, dtype=np.uint8)))
            weighted, total, room = weighted + n * n, total + n, room - n
        writer.add_row(docs)
    manifest = writer.close(source="benchmark")
    row_tokens = writer.row_offsets[-1]
    return weighted / total, manifest["num_tokens"] / row_tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per length (after 2 warm-up steps)")
    parser.add_argument("--rows-per-gpu", type=int, default=2, help="packed rows per GPU per step")
    parser.add_argument("--model", default="qwen3_0p6b")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("training_gpu.py needs a GPU (Transformer Engine path); nothing measured", file=sys.stderr)
        return 2
    from nemo_math import progress
    from nemo_math.training import models
    from nemo_math.training.config import StageConfig, TrainConfig
    from nemo_math.training.launch import init_distributed
    from nemo_math.training.loop import train_stage

    progress.configure(quiet=True)
    if "RANK" in os.environ:
        init_distributed()
    else:  # plain `python benchmarks/training_gpu.py`: one process
        models.init_single_process()
    name = torch.cuda.get_device_name()
    world = torch.distributed.get_world_size()
    peak = next((v for k, v in PEAK_BF16.items() if k in name), 989e12) * world
    global_batch = args.rows_per_gpu * world
    model = models.preset(args.model)
    warmup = 2
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seq_len in args.lengths:
            bucket = Path(tmp) / f"bucket_{seq_len}"
            mean_doc, real = write_bucket(bucket, seq_len, global_batch * (args.steps + warmup), model.vocab_size)
            stage = StageConfig(name=f"s{seq_len}", bucket=str(bucket), global_batch_size=global_batch,
                                steps=args.steps + warmup, lr=2e-4)
            cfg = TrainConfig(data_dir=tmp, output_dir=str(Path(tmp) / "train"), model=args.model, stages=[stage],
                              seed=0, precision="bf16", recompute="selective" if seq_len >= 16384 else "none",
                              tensorboard=False, save_checkpoints=False)
            gc.collect()  # the previous length's model and optimizer
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            train_stage(cfg, 0)
            if torch.distributed.get_rank() != 0:  # rank 0 writes the metrics (in its own temp folder)
                continue
            rows = [json.loads(line) for line in (Path(cfg.output_dir) / stage.name / "metrics.jsonl")
                    .read_text().splitlines()][warmup:]
            tokens_per_s = real * sum(r["tokens"] for r in rows) / sum(r["step_time_s"] for r in rows)
            mfu = tokens_per_s * model.flops_per_token(int(mean_doc)) / peak
            results.append({"seq_len": seq_len, "gpus": world, "global_batch": global_batch,
                            "tokens_per_s": round(tokens_per_s), "mfu": round(mfu, 4),
                            "loss": round(rows[-1]["loss"], 4), "mean_doc_tokens": int(mean_doc),
                            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 1),
                            "recompute": cfg.recompute})
            print(json.dumps({"gpu": name, "model": args.model, **results[-1]}), flush=True)
    if torch.distributed.get_rank() == 0:
        print(f"\n{name}, {args.model} ({model.num_parameters() / 1e9:.2f}B params), bf16, TE spec")
        print(f"{'seq_len':>8} {'tokens/s':>10} {'MFU':>6} {'mem GB':>7}")
        for r in results:
            print(f"{r['seq_len']:>8} {r['tokens_per_s']:>10,} {r['mfu']:>6.1%} {r['peak_memory_gb']:>7}")
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
