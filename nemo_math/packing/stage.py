"""``nemo-math pack``: SFT records -> token store -> buckets (balanced, optionally backfilled) -> packed rows.

Output folder::

    tokens/            the token store (reused while input and renderer settings are unchanged)
    bucket_<len>/      one packed bucket per length, in the format of :mod:`nemo_math.packing.format` (none
                       for a bucket no sample falls in: its manifest entry has ``path: null``)
    manifest.json      every bucket's counts, fill rate and mode mix before/after, dropped samples, settings
    report.png         lengths per mode with bucket edges, fill rate per bucket, mode mix per bucket
    _SUCCESS.json      written last
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from nemo_math import progress
from nemo_math.config import ConfigError
from nemo_math.io import mark_done, write_json
from nemo_math.packing.balance import METHODS
from nemo_math.packing.binpack import ALGORITHMS
from nemo_math.packing.buckets import plan_buckets
from nemo_math.packing.config import PackConfig
from nemo_math.packing.format import PackedWriter
from nemo_math.packing.render import RENDERERS
from nemo_math.packing.report import plot_report
from nemo_math.packing.tokens import TokenStore, tokenise

WRITER_KEYS = ("seq_len", "num_tokens", "num_sequences", "fill_rate")  # the writer counts these itself


def bucket_dir(output_dir: str | Path, seq_len: int) -> Path:
    return Path(output_dir) / f"bucket_{seq_len}"


def write_bucket(store: TokenStore, rows: list[np.ndarray], path: Path, seq_len: int, pad_id: int,
                 multiple: int, **manifest) -> dict:
    writer = PackedWriter(path, seq_len, pad_token_id=pad_id, multiple=multiple)
    for row in progress.track(rows, description=f"writing {path.name}"):
        writer.add_row([store.sample(i) for i in row])
    return writer.close(**manifest)


def run(cfg: PackConfig) -> dict:
    out = Path(cfg.output_dir)
    if not cfg.buckets or cfg.pad_multiple < 1 or any(b % cfg.pad_multiple for b in cfg.buckets):
        raise ConfigError(f"pack.pad_multiple={cfg.pad_multiple} must be >= 1 and divide every bucket {cfg.buckets}")
    unknown = sorted(set(cfg.balance_buckets or ()) - set(cfg.buckets))
    if unknown:
        raise ConfigError(f"pack.balance_buckets: {unknown} are not in pack.buckets {cfg.buckets}")
    for key, value, known in (("renderer", cfg.renderer, RENDERERS), ("algo", cfg.algo, tuple(ALGORITHMS)),
                              ("balance_method", cfg.balance_method, METHODS)):
        if value not in known:
            raise ConfigError(f"pack.{key}={value!r}: expected one of {', '.join(known)}")
    store = tokenise(cfg.input, out / "tokens", cfg.renderer, cfg.tokenizer, cfg.chat_template, cfg.num_workers)
    pad_id = store.pad_token_id if cfg.pad_token_id is None else cfg.pad_token_id
    balance = [max(cfg.buckets)] if cfg.balance_buckets is None else list(cfg.balance_buckets)
    options = {"algo": cfg.algo, "balance": balance, "mode_shares": cfg.mode_mix,
               "balance_method": cfg.balance_method, "backfill_prefer": cfg.backfill_prefer, "seed": cfg.seed}
    plans, dropped = plan_buckets(store.lengths, store.modes, cfg.buckets, backfill=cfg.backfill, **options)
    if dropped:
        progress.log.warning("%d samples longer than the largest bucket (%d tokens) dropped", dropped,
                             max(cfg.buckets))
    rng = np.random.default_rng(cfg.seed)
    buckets = []
    for plan in plans:
        order = rng.permutation(plan.num_rows) if cfg.shuffle else np.arange(plan.num_rows)
        rows = [plan.row(r) for r in order]
        path = bucket_dir(out, plan.seq_len)
        if not rows:  # nothing this long: no folder, so training never opens an empty bucket
            shutil.rmtree(path, ignore_errors=True)
            buckets.append({"path": None, **plan.summary()})
            continue
        extra = {k: v for k, v in plan.summary().items() if k not in WRITER_KEYS}
        info = write_bucket(store, rows, path, plan.seq_len, pad_id, cfg.pad_multiple, **extra)
        buckets.append({"path": path.name, **info})
        progress.log.info("bucket %d: %d rows, %d samples (%d backfilled), fill %.4f, modes %s -> %s",
                          plan.seq_len, info["num_sequences"], info["num_documents"], plan.num_backfilled,
                          info["fill_rate"], plan.mix_before, plan.mix_after)
    summary = {
        "num_samples": len(store), "num_dropped_too_long": dropped, "buckets": buckets,
        "num_sequences": sum(b["num_sequences"] for b in buckets),
        "capacity_tokens": sum(b["num_sequences"] * b["seq_len"] for b in buckets),
        "settings": {"renderer": cfg.renderer, "tokenizer": cfg.tokenizer, "algo": cfg.algo,
                     "balance_buckets": balance, "mode_mix": cfg.mode_mix, "balance_method": cfg.balance_method,
                     "backfill": cfg.backfill, "pad_multiple": cfg.pad_multiple, "pad_token_id": pad_id},
    }
    if cfg.backfill:  # what the same data costs without backfill (lengths only, cheap)
        plain, _ = plan_buckets(store.lengths, store.modes, cfg.buckets, backfill=False, **options)
        sequences = sum(p.num_rows for p in plain)
        capacity = sum(p.num_rows * p.seq_len for p in plain)
        summary["backfill_saves"] = {"sequences": sequences - summary["num_sequences"],
                                     "capacity_tokens": capacity - summary["capacity_tokens"],
                                     "capacity_fraction": round(1 - summary["capacity_tokens"] / capacity, 6)}
        progress.log.info("backfill saves %d packed sequences, %.1f%% of the token capacity",
                          summary["backfill_saves"]["sequences"], 100 * summary["backfill_saves"]["capacity_fraction"])
    write_json(out / "manifest.json", summary)
    plot_report(store.lengths, store.modes, plans, out / "report.png")
    mark_done(out, {"num_sequences": summary["num_sequences"], "buckets": [b["path"] for b in buckets if b["path"]]})
    return summary


def main(cfg, args) -> int:
    run(cfg.pack)
    return 0
