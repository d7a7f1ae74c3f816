"""Exact and near deduplication.

Exact: a SHA-1 of the normalised text; the first occurrence wins. Near: MinHash sketches of word or character
shingles, candidates from an LSH band index (:mod:`nemo_math.problems.minhash`), kept only when the estimated
Jaccard similarity reaches the threshold; the first occurrence wins again, so the order of ``problems.sources``
is a priority. Two templated problems that differ in one number are different problems, yet on a long statement
they share most shingles; with ``match_numbers`` (default) a pair counts only when both hold the same numbers in
the same order. Word shingles keep operators as tokens for the same reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import batched

import numpy as np

from nemo_math.config import ConfigError
from nemo_math.problems.config import NearDedupConfig
from nemo_math.problems.minhash import BandIndex, MinHasher, jaccard
from nemo_math.problems.pipeline import Doc, Step

_TOKENS = re.compile(r"\w+|[^\w\s]")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
SKETCH_BATCH = 2048


def numbers(text: str) -> list[str]:
    """The numbers of a problem in order (swapping two numbers makes a different problem too)."""
    return _NUMBERS.findall(text)


def band_index(threshold: float, num_perm: int, key: str) -> BandIndex:
    """An empty LSH index; a threshold outside (0, 1) is a config error naming ``key``."""
    if not 0 < threshold < 1:
        raise ConfigError(f"{key}: must be between 0 and 1 (exclusive), got {threshold}")
    return BandIndex(threshold, num_perm)


class Sketcher:
    """Shingles and MinHash sketches with one set of parameters (shared by near dedup and decontamination)."""

    def __init__(self, cfg: NearDedupConfig):
        if cfg.shingle not in ("word", "char"):
            raise ConfigError(f"problems.near_dedup.shingle: expected word or char, got {cfg.shingle!r}")
        if cfg.shingle_size < 1:
            raise ConfigError(f"problems.near_dedup.shingle_size: must be >= 1, got {cfg.shingle_size}")
        self.cfg = cfg
        self.hasher = MinHasher(cfg.num_perm, cfg.seed)

    def shingles(self, text: str) -> set[bytes]:
        """The shingle set of ``text``; a text shorter than one shingle is one shingle."""
        n, text = self.cfg.shingle_size, text.casefold()
        units: list[str] | str = _TOKENS.findall(text) if self.cfg.shingle == "word" else " ".join(text.split())
        joiner = " " if self.cfg.shingle == "word" else ""
        if len(units) <= n:
            return {joiner.join(units).encode()}
        return {joiner.join(units[i:i + n]).encode() for i in range(len(units) - n + 1)}

    def minhashes(self, texts: Iterable[str]) -> np.ndarray:
        return self.hasher.sketch([self.shingles(t) for t in texts])

    def sketch(self, docs: Sequence[Doc]) -> np.ndarray:
        """Give every doc its MinHash signature (computed once, shared by later steps); return them stacked."""
        todo = [d for d in docs if d.minhash is None]
        if todo:
            for doc, row in zip(todo, self.minhashes(d.problem.problem for d in todo), strict=True):
                doc.minhash = row
        return np.stack([d.minhash for d in docs])


class ExactDedup(Step):
    """Drop a problem whose normalised text was seen before."""

    name = "exact_dedup"

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        first: dict[bytes, Doc] = {}
        for doc in docs:
            key = hashlib.sha1(doc.problem.problem.encode()).digest()
            if key in first:
                kept = first[key]
                self.drop(doc, "exact_duplicate", kept=kept.problem.id, kept_source=kept.source)
                continue
            first[key] = doc
            yield self.keep(doc)


class NearDedup(Step):
    """Drop a problem whose estimated Jaccard similarity to an earlier kept one reaches the threshold."""

    name = "near_dedup"

    def __init__(self, cfg: NearDedupConfig, sketcher: Sketcher):
        super().__init__()
        self.threshold = cfg.threshold
        self.match_numbers = cfg.match_numbers
        self.sketcher = sketcher
        self.index = band_index(cfg.threshold, cfg.num_perm, "problems.near_dedup.threshold")
        self.kept: list[tuple[Doc, list[str] | None]] = []  # index item -> (doc, its numbers)

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        for batch in batched(docs, SKETCH_BATCH):
            band_keys = self.index.band_keys(self.sketcher.sketch(batch))
            for doc, keys in zip(batch, band_keys, strict=True):
                digits = numbers(doc.problem.problem) if self.match_numbers else None
                if digits is not None:  # bucket only with problems holding the same numbers, or in a
                    salt = hash(tuple(digits))  # templated set every bucket is a crowd of candidates
                    keys = [key ^ salt for key in keys]
                candidates = [self.kept[i][0] for i in sorted(self.index.query(keys)) if self.kept[i][1] == digits]
                if candidates:
                    scores = jaccard(doc.minhash, np.stack([c.minhash for c in candidates]))
                    best = int(np.argmax(scores))
                    if scores[best] >= self.threshold:
                        self.drop(doc, "near_duplicate", kept=candidates[best].problem.id,
                                  kept_source=candidates[best].source, jaccard=round(float(scores[best]), 4))
                        continue
                self.index.insert(len(self.kept), keys)
                self.kept.append((doc, digits))
                yield self.keep(doc)
