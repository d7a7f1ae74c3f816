"""The on-disk format of packed training data: the contract between ``nemo-math pack`` and ``nemo-math train``.

One folder per bucket (``bucket_16384/``), written by :class:`PackedWriter`, read by memory map with
:class:`PackedDataset`::

    manifest.json     seq_len, pad_multiple, pad_token_id, counts, fill rate, anything the writer adds
    input_ids.bin     int32, every packed row concatenated (a row = documents back to back + padding)
    loss_mask.bin     uint8, aligned with input_ids: 1 where the token is one the model must learn to produce
    row_offsets.npy   int64 [rows + 1], row r is input_ids[row_offsets[r]:row_offsets[r + 1]]
    cu_seqlens.bin    int32, per row the document boundaries [0, len0, len0 + len1, ..., row_len]; padding,
                      if any, is the last segment (so attention never crosses documents, padding included)
    cu_offsets.npy    int64 [rows + 1], row r's boundaries are cu_seqlens[cu_offsets[r]:cu_offsets[r + 1]]

Labels are not stored: :meth:`PackedDataset.__getitem__` derives them by shifting within each document, so the
rule "position p predicts token p + 1 of the same document, counted where that token is trained on" lives in
exactly one place. A plain numpy memmap format (rather than Megatron's ``IndexedDataset``) because we need two
aligned arrays plus per-row boundaries, and readers on login nodes should not need megatron installed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

IGNORE_INDEX = -100


def pad_multiple(tp: int = 1, cp: int = 1, sequence_parallel: bool = False) -> int:
    """The multiple a packed row's length must have: ``2*CP`` for context parallel (load-balanced halves),
    times ``TP`` when sequence parallel splits the sequence across tensor-parallel ranks."""
    multiple = 2 * cp if cp > 1 else 1
    return math.lcm(multiple, tp) if sequence_parallel else multiple


class PackedWriter:
    """Writes one bucket folder. Rows are appended with :meth:`add_row`; :meth:`close` writes the manifest and
    renames the temp folder into place, so a bucket folder either is complete or does not exist."""

    def __init__(self, path: str | os.PathLike, seq_len: int, pad_token_id: int = 0, multiple: int = 1):
        self.path = Path(path)
        self.seq_len = seq_len
        self.pad_token_id = pad_token_id
        self.multiple = multiple
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self._ids = open(self.tmp / "input_ids.bin", "wb")
        self._mask = open(self.tmp / "loss_mask.bin", "wb")
        self._cu = open(self.tmp / "cu_seqlens.bin", "wb")
        self.row_offsets = [0]
        self.cu_offsets = [0]
        self.num_documents = 0
        self.num_tokens = 0  # real tokens, padding excluded
        self.num_loss_tokens = 0

    def add_row(self, documents: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        """Append one packed row made of ``(token_ids, loss_mask)`` documents, padded to the multiple."""
        ids = [np.asarray(d[0], dtype=np.int32) for d in documents]
        masks = [np.asarray(d[1], dtype=np.uint8) for d in documents]
        for i, (a, m) in enumerate(zip(ids, masks)):
            if len(a) != len(m) or len(a) == 0:
                raise ValueError(f"document {i}: {len(a)} tokens but {len(m)} mask values")
        used = int(sum(len(a) for a in ids))
        if used > self.seq_len:
            raise ValueError(f"row of {used} tokens does not fit seq_len {self.seq_len}")
        length = min(self.seq_len, -(-used // self.multiple) * self.multiple)
        pad = length - used
        if pad:
            ids.append(np.full(pad, self.pad_token_id, dtype=np.int32))
            masks.append(np.zeros(pad, dtype=np.uint8))
        bounds = np.concatenate([[0], np.cumsum([len(a) for a in ids])]).astype(np.int32)
        self._ids.write(np.concatenate(ids).tobytes())
        self._mask.write(np.concatenate(masks).tobytes())
        self._cu.write(bounds.tobytes())
        self.row_offsets.append(self.row_offsets[-1] + length)
        self.cu_offsets.append(self.cu_offsets[-1] + len(bounds))
        self.num_documents += len(documents)
        self.num_tokens += used
        self.num_loss_tokens += int(sum(int(m.sum()) for m in masks))

    def close(self, **manifest: Any) -> dict[str, Any]:
        for fh in (self._ids, self._mask, self._cu):
            fh.close()
        np.save(self.tmp / "row_offsets.npy", np.asarray(self.row_offsets, dtype=np.int64))
        np.save(self.tmp / "cu_offsets.npy", np.asarray(self.cu_offsets, dtype=np.int64))
        rows = len(self.row_offsets) - 1
        info = {
            "seq_len": self.seq_len,
            "pad_multiple": self.multiple,
            "pad_token_id": self.pad_token_id,
            "num_sequences": rows,
            "num_documents": self.num_documents,
            "num_tokens": self.num_tokens,
            "num_loss_tokens": self.num_loss_tokens,
            "fill_rate": self.num_tokens / (rows * self.seq_len) if rows else 0.0,
            **manifest,
        }
        (self.tmp / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
        shutil.rmtree(self.path, ignore_errors=True)
        os.replace(self.tmp, self.path)
        return info


class PackedDataset:
    """Memory-mapped reader of one bucket folder. ``ds[i]`` is a dict of numpy arrays for packed row ``i``:
    ``input_ids``, ``labels`` (next token within the document, ``IGNORE_INDEX`` where not trained),
    ``loss_mask`` (float32, 1 where ``labels`` counts), ``position_ids`` (restart at every document) and
    ``cu_seqlens`` (int32 document boundaries)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"{self.path}: not a packed bucket (no manifest.json)")
        self.manifest: dict[str, Any] = json.loads(manifest.read_text())
        self.seq_len = int(self.manifest["seq_len"])
        self.row_offsets = np.load(self.path / "row_offsets.npy")
        self.cu_offsets = np.load(self.path / "cu_offsets.npy")
        self.input_ids = np.memmap(self.path / "input_ids.bin", dtype=np.int32, mode="r")
        self.mask = np.memmap(self.path / "loss_mask.bin", dtype=np.uint8, mode="r")
        self.cu_seqlens = np.memmap(self.path / "cu_seqlens.bin", dtype=np.int32, mode="r")

    def __len__(self) -> int:
        return len(self.row_offsets) - 1

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        lo, hi = self.row_offsets[i], self.row_offsets[i + 1]
        ids = np.asarray(self.input_ids[lo:hi], dtype=np.int64)
        trained = np.asarray(self.mask[lo:hi], dtype=bool)
        cu = np.asarray(self.cu_seqlens[self.cu_offsets[i]:self.cu_offsets[i + 1]], dtype=np.int32)
        labels = np.full_like(ids, IGNORE_INDEX)
        labels[:-1] = np.where(trained[1:], ids[1:], IGNORE_INDEX)
        labels[cu[1:] - 1] = IGNORE_INDEX  # the last token of a document predicts nothing
        positions = np.arange(len(ids)) - np.repeat(cu[:-1], np.diff(cu))
        return {
            "input_ids": ids,
            "labels": labels,
            "loss_mask": (labels != IGNORE_INDEX).astype(np.float32),
            "position_ids": positions.astype(np.int64),
            "cu_seqlens": cu,
        }
