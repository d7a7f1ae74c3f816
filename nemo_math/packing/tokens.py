"""Tokenise SFT records in parallel into one on-disk token store, the input of bucketing and packing.

The store keeps every sample's ids and mask back to back (``ids.bin`` int32, ``mask.bin`` uint8) with an index
(``index.npz``: offsets, lengths, modes, tool use, uuids, the pad id). Packing then plans on lengths alone and
copies tokens out of the memory map row by row, so paper-scale data never has to fit in memory. The store is
written to a temp folder and renamed into place; a complete store whose settings match is reused on the next run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nemo_math import progress
from nemo_math.io import iter_dicts, record_files
from nemo_math.packing.render import RENDER_RULE, build_renderer, pad_token_id
from nemo_math.records import RecordError, SFTRecord

_worker: dict[str, Any] = {}


def _init_worker(kind: str, tokenizer: str, chat_template: str | None) -> None:
    """Build the renderer in this process; forked workers inherit it instead of loading it again."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _worker["render"] = build_renderer(kind, tokenizer, chat_template)


def _render_batch(batch: list[tuple[str, int, dict]]) -> list[tuple] | tuple[str, str, str, int]:
    """Rendered samples of a batch, or its first bad record as ``(field, message, file, line)`` (returned, not
    raised: ``RecordError`` does not survive pickling back from a worker)."""
    out = []
    for file, line, data in batch:
        try:
            record = SFTRecord.from_dict(data)
            ids, mask = _worker["render"](record.messages, record.tools)
            if not ids:
                raise RecordError("messages", "renders to no tokens")
        except RecordError as err:
            return (err.field, err.message, file, line)
        out.append((np.asarray(ids, dtype=np.int32), np.asarray(mask, dtype=np.uint8),
                    record.mode or "unknown", record.with_tool, record.uuid))
    return out


def _raise_error(result: list[tuple] | tuple) -> list[tuple]:
    if isinstance(result, tuple):
        field_name, message, path, line = result
        raise RecordError(field_name, message, path=path, line=line)
    return result


def _bounded_map(pool, batches: Iterator[list], in_flight: int) -> Iterator[list]:
    """``pool.imap`` in order, with at most ``in_flight`` batches read ahead (``imap`` reads all input)."""
    pending: deque = deque()
    for batch in batches:
        pending.append(pool.apply_async(_render_batch, (batch,)))
        if len(pending) >= in_flight:
            yield _raise_error(pending.popleft().get())
    while pending:
        yield _raise_error(pending.popleft().get())


def _batches(path: str, size: int) -> Iterator[list[tuple[str, int, dict]]]:
    batch = []
    for item in iter_dicts(path):
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _count(path: str) -> int:
    total = 0
    for file in record_files(path):
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(file).metadata.num_rows
        else:
            with open(file, "rb") as fh:
                total += sum(1 for line in fh if line.strip())
    return total


@dataclass
class TokenStore:
    """A complete token store, memory-mapped."""

    path: Path

    def __post_init__(self) -> None:
        index = np.load(self.path / "index.npz")
        self.offsets = index["offsets"]
        self.lengths = index["lengths"]
        self.modes = index["modes"].astype(object)
        self.with_tool = index["with_tool"]
        self.uuids = index["uuids"]
        self.pad_token_id = int(index["pad_token_id"])
        self.ids = np.memmap(self.path / "ids.bin", dtype=np.int32, mode="r")
        self.mask = np.memmap(self.path / "mask.bin", dtype=np.uint8, mode="r")
        self.settings = json.loads((self.path / "settings.json").read_text())

    def __len__(self) -> int:
        return len(self.lengths)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return self.ids[lo:hi], self.mask[lo:hi]

    @staticmethod
    def exists(path: Path, settings: dict[str, Any]) -> bool:
        file = path / "settings.json"
        return file.exists() and json.loads(file.read_text()) == settings


def input_fingerprint(path: str) -> list[list]:
    """Name, size and mtime of every input file: a changed input invalidates the store."""
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in record_files(path)]


def _write_store(input_path: str, tmp: Path, kind: str, tokenizer: str, chat_template: str | None,
                 num_workers: int, batch_size: int) -> None:
    offsets, modes, tools, uuids = [0], [], [], []
    total = _count(input_path)
    _init_worker(kind, tokenizer, chat_template)
    # fork before the progress bar starts its thread; the workers inherit the loaded renderer
    pool = multiprocessing.get_context("fork").Pool(num_workers) if num_workers > 0 else None
    if pool is not None:
        results = _bounded_map(pool, _batches(input_path, batch_size), 4 * num_workers)
    else:
        results = (_raise_error(_render_batch(b)) for b in _batches(input_path, batch_size))
    with open(tmp / "ids.bin", "wb") as ids_fh, open(tmp / "mask.bin", "wb") as mask_fh, \
            progress.bar(total, "tokenising") as advance:
        try:
            for batch in results:
                for ids, mask, mode, with_tool, uuid in batch:
                    ids_fh.write(ids.tobytes())
                    mask_fh.write(mask.tobytes())
                    offsets.append(offsets[-1] + len(ids))
                    modes.append(mode)
                    tools.append(with_tool)
                    uuids.append(uuid)
                advance(len(batch), description=f"tokenising ({offsets[-1]:,} tokens)")
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    offsets_arr = np.asarray(offsets, dtype=np.int64)
    np.savez(tmp / "index.npz", offsets=offsets_arr, lengths=np.diff(offsets_arr),
             modes=np.asarray(modes, dtype=str), with_tool=np.asarray(tools, dtype=bool),
             uuids=np.asarray(uuids, dtype=str), pad_token_id=pad_token_id(_worker["render"].tokenizer))


def tokenise(input_path: str, out: Path, kind: str, tokenizer: str, chat_template: str | None = None,
             num_workers: int = 2, batch_size: int = 64) -> TokenStore:
    """Render and tokenise every SFT record under ``input_path`` into the store at ``out`` (reused if current)."""
    settings = {"input": input_fingerprint(input_path), "renderer": kind, "render_rule": RENDER_RULE,
                "tokenizer": tokenizer, "chat_template": chat_template}
    if TokenStore.exists(out, settings):
        progress.log.info("token store %s is current, reusing it", out)
        return TokenStore(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_store(input_path, tmp, kind, tokenizer, chat_template, num_workers, batch_size)
        (tmp / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return TokenStore(out)
