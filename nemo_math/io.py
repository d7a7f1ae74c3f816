"""Reading and writing records: JSONL and parquet, sharded, atomic, resumable.

Three rules every stage gets from here:

* A bad input line fails with ``file:line: field: what is wrong`` (:class:`~nemo_math.records.RecordError`).
* A whole-file write is atomic: it goes to a temp file in the same folder and is renamed into place, so a crash
  leaves either the old file or the new one, never half of one.
* Work that completes record by record (generation, judging, evaluation) goes to an :class:`AppendLog`: one
  fsynced JSON line per finished job. On restart a torn last line (a kill mid-write) is cut off and the ids of
  finished jobs are read back, so every job is written exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from nemo_math.records import Record, RecordError

R = TypeVar("R", bound=Record)

DONE_MARKER = "_SUCCESS.json"
RECORD_SUFFIXES = (".jsonl", ".parquet")
JSON_COLUMNS_KEY = b"nemo_math.json_columns"  # parquet schema metadata: the columns stored as JSON text


# --------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success fsync and rename it into place, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecordError("<file>", f"invalid JSON: {err.msg}", path=str(path), line=err.lineno) from None


# --------------------------------------------------------------------------------------------- reading
def _as_dict(record: Record | dict[str, Any]) -> dict[str, Any]:
    return record.to_dict() if isinstance(record, Record) else record


def record_files(path: str | os.PathLike) -> list[Path]:
    """A file, or every record file in a folder (sorted, so shard order is stable)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in RECORD_SUFFIXES and not p.name.startswith("."))
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [path]


def iter_dicts(path: str | os.PathLike) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield ``(file, line, dict)`` for every record under ``path``. Parquet rows count from 1 like lines."""
    for file in record_files(path):
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(file)
            json_columns = json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
            for row, data in enumerate(table.to_pylist(), start=1):
                for key in json_columns:
                    if data.get(key) is not None:
                        data[key] = json.loads(data[key])
                yield str(file), row, data
            continue
        with open(file, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as err:
                    raise RecordError("<line>", f"invalid JSON: {err.msg} (column {err.colno})",
                                      path=str(file), line=line_no) from None
                if not isinstance(data, dict):
                    raise RecordError("<line>", f"expected a JSON object, got {type(data).__name__}",
                                      path=str(file), line=line_no)
                yield str(file), line_no, data


def read_records(path: str | os.PathLike, cls: type[R]) -> Iterator[R]:
    """Yield validated records of type ``cls``; the first bad one raises ``file:line: field: ...``."""
    for file, line, data in iter_dicts(path):
        try:
            yield cls.from_dict(data)
        except RecordError as err:
            raise err.at(file, line) from None


def load_records(path: str | os.PathLike, cls: type[R]) -> list[R]:
    """All records under ``path``, validated in full before any is returned."""
    return list(read_records(path, cls))


# --------------------------------------------------------------------------------------------- writing
def _parquet_table(pa, rows: list[dict[str, Any]]):
    """A table with the union of the rows' keys (a key missing from a row reads back as null). Free-form nested
    columns (dicts, lists of dicts) are stored as JSON strings, named in the schema metadata: Arrow structs cannot
    hold an empty dict and fill keys missing from some rows with nulls, so a struct column would not read back as
    written. Published files with struct columns still read as they are."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    nested = {key for row in rows for key, value in row.items() if isinstance(value, dict)
              or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))}
    columns = {key: [row.get(key) for row in rows] for key in keys}
    for key in nested:
        columns[key] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in columns[key]]
    table = pa.Table.from_pydict(columns)
    return table.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(sorted(nested))})


def write_records(path: str | os.PathLike, records: Iterable[Record | dict[str, Any]]) -> int:
    """Write all ``records`` to ``path`` (``.jsonl`` or ``.parquet``) atomically; return how many."""
    path = Path(path)
    rows = (_as_dict(r) for r in records)
    count = 0
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = _parquet_table(pa, list(rows))
            count = table.num_rows
            pq.write_table(table, tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
    return count


def shard_name(stem: str, shard: int, num_shards: int, suffix: str = ".jsonl") -> str:
    """``stem-00003-of-00008.jsonl``: the name of one shard of a sharded output."""
    return f"{stem}-{shard:05d}-of-{num_shards:05d}{suffix}"


# --------------------------------------------------------------------------------------------- exactly-once log
class AppendLog:
    """An append-only JSONL file of finished jobs, keyed by ``key`` (e.g. ``job_id``), safe against kill -9.

    ``append`` writes one line and fsyncs it before returning, so a job counts as done only once its record is
    on disk. Opening repairs a torn last line left by a kill mid-write. Use one log per writer process (one per
    shard); :func:`done_keys` reads the keys of all logs in a folder.
    """

    def __init__(self, path: str | os.PathLike, key: str = "job_id", fsync: bool = True):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, record: Record | dict[str, Any]) -> None:
        data = _as_dict(record)
        if self.key not in data:
            raise RecordError(self.key, "required field is missing", path=str(self.path))
        self._fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "AppendLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def repair_torn_tail(path: Path) -> None:
    """Cut a file back to its last complete line (a kill can leave a half-written one)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            if pos == size and chunk.endswith(b"\n"):
                return
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


def done_keys(folder: str | os.PathLike, key: str = "job_id", pattern: str = "*.jsonl") -> set[str]:
    """The keys of every complete line of every log in ``folder`` (a torn last line is ignored)."""
    keys: set[str] = set()
    folder = Path(folder)
    if not folder.exists():
        return keys
    for file in sorted(folder.glob(pattern)):
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                with contextlib.suppress(json.JSONDecodeError):
                    keys.add(json.loads(line)[key])
    return keys


# --------------------------------------------------------------------------------------------- stage markers
def mark_done(output_dir: str | os.PathLike, summary: dict[str, Any]) -> None:
    """Record that a stage finished in ``output_dir`` (written last, atomically)."""
    write_json(Path(output_dir) / DONE_MARKER, summary)


def is_done(output_dir: str | os.PathLike) -> bool:
    return (Path(output_dir) / DONE_MARKER).exists()


def done_summary(output_dir: str | os.PathLike) -> dict[str, Any]:
    return read_json(Path(output_dir) / DONE_MARKER)
