"""The batched MinHash and LSH band index: estimates track true Jaccard, and similar pairs become candidates."""

from __future__ import annotations

import random

import numpy as np
from datasketch import MinHash

from nemo_math.problems.minhash import BandIndex, MinHasher, jaccard


def random_sets(n: int, size: int, overlap: float, rng: random.Random) -> tuple[list[set[bytes]], list[float]]:
    """Pairs of sets (a, b) sharing ``overlap`` of their elements; returns the flat list and the true Jaccards."""
    sets, truths = [], []
    for i in range(n):
        shared = {f"s{i}-{k}".encode() for k in range(int(size * overlap))}
        a = shared | {f"a{i}-{k}-{rng.random()}".encode() for k in range(size - len(shared))}
        b = shared | {f"b{i}-{k}-{rng.random()}".encode() for k in range(size - len(shared))}
        sets += [a, b]
        truths.append(len(a & b) / len(a | b))
    return sets, truths


def test_estimates_track_true_jaccard_like_datasketch():
    rng = random.Random(0)
    sets, truths = random_sets(60, 80, 0.75, rng)
    hasher = MinHasher(num_perm=128, seed=1)
    sketches = hasher.sketch(sets)
    assert sketches.shape == (120, 128) and sketches.dtype == np.uint32
    ours = np.array([jaccard(sketches[2 * i], sketches[2 * i + 1]) for i in range(60)])
    theirs = []
    for i in range(60):
        a, b = MinHash(num_perm=128, seed=1), MinHash(num_perm=128, seed=1)
        a.update_batch(sets[2 * i])
        b.update_batch(sets[2 * i + 1])
        theirs.append(a.jaccard(b))
    truth = np.array(truths)
    assert abs(ours.mean() - truth.mean()) < 0.02  # unbiased, like datasketch's own estimate
    assert np.abs(ours - truth).mean() < 0.06 and np.abs(np.array(theirs) - truth).mean() < 0.06
    assert np.array_equal(hasher.sketch(sets[:7]), sketches[:7])  # a row does not depend on its batch
    assert jaccard(sketches[0], sketches[:1])[0] == 1.0


def test_chunking_does_not_change_signatures(monkeypatch):
    sets = [{f"{i}-{k}".encode() for k in range(i % 50 + 1)} for i in range(300)]
    whole = MinHasher(64, seed=3).sketch(sets)
    monkeypatch.setattr("nemo_math.problems.minhash._ROWS_PER_CHUNK", 97)
    assert np.array_equal(MinHasher(64, seed=3).sketch(sets), whole)
    assert not np.array_equal(MinHasher(64, seed=4).sketch(sets), whole)


def test_band_index_finds_similar_not_dissimilar():
    rng = random.Random(1)
    similar, _ = random_sets(40, 60, 0.95, rng)  # Jaccard 0.9: found with p > 0.99
    dissimilar, _ = random_sets(40, 60, 0.1, rng)
    hasher, index = MinHasher(128), BandIndex(0.7, 128)
    assert index.bands * index.rows <= 128 and index.bands >= 2
    for sets, expect in ((similar, 40), (dissimilar, 0)):
        index = BandIndex(0.7, 128)
        keys = index.band_keys(hasher.sketch(sets))
        found = 0
        for i in range(0, len(sets), 2):
            index.insert(i, keys[i])
            found += i in index.query(keys[i + 1])
        assert abs(found - expect) <= 1
