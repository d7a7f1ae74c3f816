"""Read problem sets into :class:`Problem` records: JSONL/parquet files (``io.iter_dicts``), Hugging Face
datasets (the optional ``datasets`` package, imported only when a source needs it) or the procedural generator.

Field names are configurable per source. Ids are the source's own (``id_field``) when it has them, else
``stable_id(source name, problem)`` (plus an occurrence number for a repeated text), so the same problem gets
the same id on every run. Two rows with the same source id are an error.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nemo_math.config import ConfigError
from nemo_math.io import iter_dicts
from nemo_math.problems.config import SourceConfig
from nemo_math.problems.pipeline import Doc, Step
from nemo_math.records import Problem, RecordError, stable_id

_PROBLEM_FIELDS = ("url", "user_url", "user_name", "license")  # copied when a row has them


def source_kind(source: SourceConfig) -> str:
    if source.kind != "auto":
        if source.kind not in ("file", "hf", "synthetic"):
            raise ConfigError(f"problems.sources: kind: expected auto, file, hf or synthetic, got {source.kind!r}")
        return source.kind
    if not source.path:
        raise ConfigError("problems.sources: path: a source needs a file, folder or dataset name "
                          "(or kind: synthetic)")
    return "file" if Path(source.path).exists() or Path(source.path).suffix in (".jsonl", ".parquet") else "hf"


def source_name(source: SourceConfig) -> str:
    if source.name:
        return source.name
    if source_kind(source) == "synthetic":
        return "synthetic"
    return Path(source.path).stem if source_kind(source) == "file" else source.path


def _require_datasets(source: SourceConfig) -> None:
    if importlib.util.find_spec("datasets") is None:
        raise ConfigError(f"problems.sources: path: {source.path!r} is not a local file, so it is read as a "
                          "Hugging Face dataset, which needs the optional package: pip install 'nemo-math[hf]'")


def _hf_rows(source: SourceConfig) -> Iterator[tuple[str, int, dict[str, Any]]]:
    import datasets

    rows = datasets.load_dataset(source.path, source.subset, split=source.split, streaming=True)
    for i, row in enumerate(rows, start=1):
        yield f"hf:{source.path}[{source.split}]", i, dict(row)


def _optional_str(row: dict[str, Any], key: str, file: str, line: int) -> str | None:
    value = row.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(key, f"expected a string, got {type(value).__name__}", path=file, line=line)


def row_to_problem(row: dict[str, Any], source: SourceConfig, name: str, file: str, line: int) -> Problem:
    """One input row as a :class:`Problem` (id left empty when the row has none, :class:`ReadSources` derives
    it); a missing or non-string problem fails with ``file:line: field``."""
    text = row.get(source.problem_field)
    if not isinstance(text, str):
        what = "required field is missing" if text is None else f"expected a string, got {type(text).__name__}"
        raise RecordError(source.problem_field, what, path=file, line=line)
    answer = _optional_str(row, source.answer_field, file, line)
    source_id = _optional_str(row, source.id_field, file, line)
    extra = {k: _optional_str(row, k, file, line) for k in _PROBLEM_FIELDS if k in row}
    extra["license"] = extra.get("license") or source.license
    metadata = row.get("metadata")
    return Problem(id=source_id or "", problem=text, expected_answer=answer,
                   data_source=name, metadata=dict(metadata) if isinstance(metadata, dict) else {}, **extra)


class ReadSources(Step):
    """Read every configured source in order; rows become :class:`Doc` s."""

    name = "read"

    def __init__(self, sources: list[SourceConfig]):
        super().__init__()
        if not sources:
            raise ConfigError("problems.sources: no problem sources configured")
        self.sources = sources
        for source in sources:  # fail before any work, not after the first sources were read
            if source_kind(source) == "hf":
                _require_datasets(source)

    def _rows(self, source: SourceConfig) -> Iterator[tuple[str, int, Problem]]:
        kind, name = source_kind(source), source_name(source)
        if kind == "synthetic":
            from nemo_math.problems.synthetic import generate

            for i, problem in enumerate(generate(source.count, seed=source.seed, name=name), start=1):
                yield f"synthetic(seed={source.seed})", i, problem
            return
        rows = _hf_rows(source) if kind == "hf" else iter_dicts(source.path)
        for file, line, row in rows:
            yield file, line, row_to_problem(row, source, name, file, line)

    def run(self, docs: Iterable[Doc] = ()) -> Iterator[Doc]:
        seen: dict[str, str] = {}
        for source in self.sources:
            for count, (file, line, problem) in enumerate(self._rows(source), start=1):
                if source.limit and count > source.limit:
                    break
                where = f"{file}:{line}"
                if not problem.id:
                    problem.id = stable_id(problem.data_source, problem.problem)
                    repeat = 1
                    while problem.id in seen:
                        repeat += 1
                        problem.id = stable_id(problem.data_source, problem.problem, repeat)
                elif problem.id in seen:
                    raise RecordError(source.id_field, f"duplicate id {problem.id!r} (first at {seen[problem.id]})",
                                      path=file, line=line)
                seen[problem.id] = where
                yield self.keep(Doc(problem, where))
