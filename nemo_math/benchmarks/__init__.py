"""The evaluation benchmarks shipped with the package, and a loader for any benchmark file.

Shipped (``nemo_math/data/benchmarks``, from NVIDIA NeMo-Skills, Apache-2.0, see NOTICE): ``aime24``,
``aime25`` and ``comp-math-24-25`` (AIME24 + AIME25 + HMMT Feb 24/25, 256 problems, with a
``subset_for_metrics`` field). Any JSONL or parquet file with ``problem`` and ``expected_answer`` works too.
"""

from __future__ import annotations

import os
from pathlib import Path

from nemo_math.io import iter_dicts
from nemo_math.records import Problem, RecordError

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "benchmarks"


def available() -> list[str]:
    return sorted(p.stem for p in DATA_DIR.glob("*.jsonl"))


def benchmark_path(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = DATA_DIR / f"{name_or_path}.jsonl"
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"{name_or_path}: not a file and not a shipped benchmark ({', '.join(available())})")


def load_benchmark(name_or_path: str | os.PathLike) -> list[Problem]:
    """The benchmark's problems as :class:`Problem` records; ``metadata.subset`` is the subset for metrics."""
    path = benchmark_path(name_or_path)
    name = path.stem
    problems = []
    for file, line, row in iter_dicts(path):
        for key in ("problem", "expected_answer"):
            if not isinstance(row.get(key), str):
                raise RecordError(key, "required string field is missing", path=file, line=line)
        problems.append(Problem(
            id=str(row.get("id", f"{name}-{line - 1}")),
            problem=row["problem"],
            expected_answer=row["expected_answer"],
            data_source=name,
            metadata={"subset": row.get("subset_for_metrics") or name,
                      **{k: row[k] for k in ("reference_solution", "source") if k in row}},
        ))
    return problems
