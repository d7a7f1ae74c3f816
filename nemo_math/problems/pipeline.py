"""The problems stage as a datatrove-like pipeline: a list of small steps, each a generator over documents.

Every step has one method, ``run(docs) -> docs``, and keeps its own counters (``stats``: kept, dropped per
reason) and, where it removes something because of another problem, the pairs (``pairs``). The stage chains the
steps and gathers counters and pairs into ``report.json``. We keep this small shape instead of depending on
datatrove itself: its readers, executors and dedup stages are built for web-scale sharded text on disk, while
problem sets fit in memory and need a global (not per-shard) dedup and decontamination.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from nemo_math.records import Problem


@dataclass
class Doc:
    """A problem on its way through the pipeline, with where it came from (for reports and errors)."""

    problem: Problem
    where: str  # "file:line"
    minhash: Any = None  # its MinHash signature (numpy row), set by the first step that needs it

    @property
    def source(self) -> str:
        return self.problem.data_source


class Step:
    """One stage of the pipeline. Subclasses set ``name`` and implement ``run``."""

    name = "step"

    def __init__(self) -> None:
        self.stats: Counter = Counter()  # "kept" and one count per removal reason
        self.by_source: dict[str, Counter] = defaultdict(Counter)
        self.pairs: list[dict[str, Any]] = []

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        raise NotImplementedError

    def keep(self, doc: Doc) -> Doc:
        self.stats["kept"] += 1
        self.by_source[doc.source]["kept"] += 1
        return doc

    def drop(self, doc: Doc, reason: str, **pair: Any) -> None:
        """Count ``doc`` as removed for ``reason``; ``pair`` (the other problem, a score) goes to the report."""
        self.stats[reason] += 1
        self.by_source[doc.source][reason] += 1
        if pair:
            self.pairs.append({"reason": reason, "removed": doc.problem.id, "removed_source": doc.source, **pair})


def run_pipeline(steps: list[Step], docs: Iterable[Doc] = ()) -> Iterator[Doc]:
    """Chain the steps lazily; the first step usually ignores ``docs`` and reads its own."""
    for step in steps:
        docs = step.run(docs)
    yield from docs
