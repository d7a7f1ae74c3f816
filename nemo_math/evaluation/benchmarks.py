"""The evaluation benchmarks by name: shipped files, Hugging Face datasets, any local file, and their subsets.

A benchmark spec is ``NAME`` or ``NAME:SUBSET`` (``comp-math-24-25:hmmt-24-25``), where ``NAME`` is

* a benchmark shipped in ``nemo_math/data/benchmarks`` (aime24, aime25, comp-math-24-25),
* ``synthetic-heldout``: procedural problems of the kinds the tiny pipeline trains on, from the held-out split of
  :mod:`nemo_math.problems.synthetic` (never in a training set), to check that a tiny student learned anything,
* a known Hugging Face benchmark (``hmmt_feb25``, ``hle-math``; needs ``pip install nemo-math[hf]`` and network),
* any JSONL/parquet file with ``problem`` and ``expected_answer``,
* or any Hugging Face dataset id ``org/name`` with those two fields.

Every problem's ``data_source`` is the benchmark name and ``metadata.subset`` its subset for metrics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemo_math.benchmarks import DATA_DIR, load_benchmark
from nemo_math.records import Problem, RecordError


@dataclass(frozen=True)
class HFBenchmark:
    """Where a benchmark lives on the Hugging Face hub and which of its columns hold the problem and answer."""

    dataset: str
    split: str = "test"
    problem: str = "problem"
    answer: str = "expected_answer"
    keep: dict[str, Any] = field(default_factory=dict)  # column == value filters (e.g. HLE: text-only math)


HF_BENCHMARKS: dict[str, HFBenchmark] = {
    "hmmt_feb25": HFBenchmark("MathArena/hmmt_feb_2025", split="train", answer="answer"),
    # HLE-math as in the paper: the text-only questions of HLE's Math category (the dataset is gated).
    "hle-math": HFBenchmark("cais/hle", split="test", problem="question", answer="answer",
                            keep={"category": "Math", "image": ""}),
}


SYNTHETIC_HELDOUT = "synthetic-heldout"
SYNTHETIC_HELDOUT_COUNT = 200


def _synthetic_heldout() -> list[Problem]:
    from nemo_math.problems import synthetic

    problems = synthetic.generate(SYNTHETIC_HELDOUT_COUNT, synthetic.HELDOUT_SEED, SYNTHETIC_HELDOUT, "heldout")
    return [dataclasses.replace(p, metadata={**p.metadata, "subset": SYNTHETIC_HELDOUT}) for p in problems]


def split_spec(spec: str) -> tuple[str, str | None]:
    """``NAME[:SUBSET]`` -> (name, subset); a path with a drive-like colon is still a path."""
    if ":" in spec and not Path(spec).exists():
        name, subset = spec.rsplit(":", 1)
        return name, subset or None
    return spec, None


def _from_hf(name: str, source: HFBenchmark) -> list[Problem]:
    try:
        import datasets
    except ImportError:
        raise ImportError(f"benchmark {name!r} comes from the Hugging Face hub ({source.dataset}): "
                          "pip install 'nemo-math[hf]', or pass a local JSONL file") from None
    rows = datasets.load_dataset(source.dataset, split=source.split)
    problems = []
    for i, row in enumerate(rows):
        if any(row.get(k) != v for k, v in source.keep.items()):
            continue
        for column in (source.problem, source.answer):
            if not isinstance(row.get(column), (str, int, float)):
                raise RecordError(column, "missing or not a string", path=f"hf://{source.dataset}", line=i + 1)
        problems.append(Problem(id=str(row.get("id", f"{name}-{i}")), problem=str(row[source.problem]),
                                expected_answer=str(row[source.answer]), data_source=name,
                                metadata={"subset": name}))
    return problems


def load(spec: str) -> list[Problem]:
    """The problems of one benchmark spec (see the module docstring)."""
    name, subset = split_spec(spec)
    if name == SYNTHETIC_HELDOUT:
        problems = _synthetic_heldout()
    elif name in HF_BENCHMARKS:
        problems = _from_hf(name, HF_BENCHMARKS[name])
    elif Path(name).exists() or (DATA_DIR / f"{name}.jsonl").exists():
        problems = load_benchmark(name)
    elif name.count("/") == 1 and not name.startswith((".", "/")):
        problems = _from_hf(name.split("/")[1], HFBenchmark(name))
    else:
        raise FileNotFoundError(f"{name}: not a file, a shipped benchmark or a known Hugging Face benchmark "
                                f"({', '.join(known())})")
    if subset is None:
        return problems
    chosen = [p for p in problems if p.metadata.get("subset") == subset]
    if not chosen:
        subsets = sorted({str(p.metadata.get("subset")) for p in problems})
        raise ValueError(f"{spec}: no problems in subset {subset!r} (subsets: {', '.join(subsets)})")
    return chosen


def known() -> list[str]:
    return sorted({p.stem for p in DATA_DIR.glob("*.jsonl")} | set(HF_BENCHMARKS) | {SYNTHETIC_HELDOUT})


def load_all(specs: list[str], max_problems: int | None = None) -> list[Problem]:
    """Problems of every spec in order; ``max_problems`` keeps the first N of each (tiny runs)."""
    problems: list[Problem] = []
    for spec in specs:
        problems.extend(load(spec)[:max_problems])
    return problems
