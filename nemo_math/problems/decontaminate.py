"""Decontamination against the evaluation benchmarks: a training problem must not be a benchmark problem.

Two tests, either one removes a problem: (1) it shares a word n-gram (default 13, lower-cased, punctuation
dropped, the usual test of contamination studies) with a benchmark problem; a benchmark problem shorter than
``n`` words must appear whole; (2) its MinHash sketch (the near-dedup shingles) is at least
``minhash_threshold`` similar to a benchmark problem's, which catches light paraphrases that break every n-gram.
Benchmarks are normalised like the training problems before indexing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import batched

import numpy as np

from nemo_math.benchmarks import load_benchmark
from nemo_math.config import ConfigError
from nemo_math.problems.config import DecontaminateConfig
from nemo_math.problems.dedup import SKETCH_BATCH, Sketcher, band_index
from nemo_math.problems.minhash import jaccard
from nemo_math.problems.normalise import normalise_text
from nemo_math.problems.pipeline import Doc, Step
from nemo_math.records import Problem

_WORDS = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.casefold())


class Decontaminate(Step):
    """Drop problems that overlap a benchmark problem; each removal names the benchmark problem and the evidence."""

    name = "decontaminate"

    def __init__(self, cfg: DecontaminateConfig, sketcher: Sketcher):
        super().__init__()
        if cfg.ngram < 1:
            raise ConfigError(f"problems.decontaminate.ngram: must be >= 1, got {cfg.ngram}")
        self.n = cfg.ngram
        self.threshold = cfg.minhash_threshold
        self.sketcher = sketcher
        self.benchmark: list[Problem] = [p for name in cfg.benchmarks for p in load_benchmark(name)]
        for problem in self.benchmark:
            problem.problem = normalise_text(problem.problem)
        # n-gram -> index in self.benchmark, one table per length (short benchmark problems add lengths < n)
        self.grams: dict[int, dict[tuple[str, ...], int]] = {}
        for key, problem in enumerate(self.benchmark):
            tokens = words(problem.problem)
            if not tokens:
                continue
            n = min(self.n, len(tokens))
            table = self.grams.setdefault(n, {})
            for i in range(len(tokens) - n + 1):
                table.setdefault(tuple(tokens[i:i + n]), key)
        self.index = None
        if self.threshold is not None:
            self.index = band_index(self.threshold, sketcher.cfg.num_perm, "problems.decontaminate.minhash_threshold")
            self.sketches = sketcher.minhashes(p.problem for p in self.benchmark)
            for key, keys in enumerate(self.index.band_keys(self.sketches)):
                self.index.insert(key, keys)

    def ngram_match(self, text: str) -> tuple[int, tuple[str, ...]] | None:
        tokens = words(text)
        for n, table in self.grams.items():
            for i in range(len(tokens) - n + 1):
                gram = tuple(tokens[i:i + n])
                if gram in table:
                    return table[gram], gram
        return None

    def minhash_match(self, doc: Doc, keys: list[int]) -> tuple[int, float] | None:
        """The most similar benchmark problem at or above the threshold (``keys``: the doc's band keys)."""
        candidates = sorted(self.index.query(keys))
        if not candidates:
            return None
        scores = jaccard(doc.minhash, self.sketches[candidates])
        best = int(np.argmax(scores))
        return (candidates[best], float(scores[best])) if scores[best] >= self.threshold else None

    def _drop(self, doc: Doc, key: int, **evidence) -> None:
        match = self.benchmark[key]
        self.drop(doc, "contaminated", benchmark=match.data_source, benchmark_id=match.id, **evidence)

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        for batch in batched(docs, SKETCH_BATCH):
            band_keys = self.index.band_keys(self.sketcher.sketch(batch)) if self.index else [None] * len(batch)
            for doc, keys in zip(batch, band_keys, strict=True):
                if hit := self.ngram_match(doc.problem.problem):
                    self._drop(doc, hit[0], match="ngram", ngram=" ".join(hit[1]))
                elif keys is not None and (hit := self.minhash_match(doc, keys)):
                    self._drop(doc, hit[0], match="minhash", jaccard=round(hit[1], 4))
                else:
                    yield self.keep(doc)
