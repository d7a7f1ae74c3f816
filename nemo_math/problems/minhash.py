"""MinHash sketches and an LSH band index, computed for whole batches with numpy.

``datasketch`` supplies the parameters: the affine permutations of its default MinHash scheme (``a * h + b``
mod 2^32 after a MurmurHash3 finaliser) and the band/row split that minimises false positives plus false
negatives at a threshold. We apply them to a batch of problems at once instead of using its per-object API
(one ``MinHash`` and one ``MinHashLSH.query`` per problem), which spends most of its time in per-call Python
and numpy overhead: sketching and indexing 20K problems takes 1.45 CPU-s here against 3.6 with
``MinHash.bulk`` + ``MinHashLSH`` (measured on the 2-core dev machine).
Shingles are hashed with CRC-32 (fast, stable across runs and machines); the finaliser spreads its bits.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np

_ROWS_PER_CHUNK = 1 << 15  # shingle rows per (rows x num_perm) product, bounds memory at ~16 MB for 128 perms


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


class MinHasher:
    """``sketch(shingle_sets)`` -> a ``(len, num_perm)`` uint32 matrix, one MinHash signature per row."""

    def __init__(self, num_perm: int = 128, seed: int = 1):
        from datasketch import MinHash  # here, not at import: it loads scipy, which the CLI need not pay for

        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        self.a = np.asarray(a, dtype=np.uint32)
        self.b = np.asarray(b, dtype=np.uint32)
        self.num_perm = num_perm

    def sketch(self, shingle_sets: Sequence[Iterable[bytes]]) -> np.ndarray:
        sets = [list(s) or [b""] for s in shingle_sets]
        out = np.empty((len(sets), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(sets):  # chunks of documents with at most ~_ROWS_PER_CHUNK shingles in all
            stop, rows = start, 0
            while stop < len(sets) and (rows == 0 or rows + len(sets[stop]) <= _ROWS_PER_CHUNK):
                rows += len(sets[stop])
                stop += 1
            chunk = sets[start:stop]
            hashes = np.fromiter((zlib.crc32(s) for shingles in chunk for s in shingles), dtype=np.uint32,
                                 count=rows)
            permuted = _fmix32(hashes)[:, None] * self.a + self.b  # wraps mod 2^32, as datasketch's affine32
            offsets = np.cumsum([0] + [len(s) for s in chunk[:-1]])
            out[start:stop] = np.minimum.reduceat(permuted, offsets, axis=0)
            start = stop
        return out


def jaccard(sketch: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of one signature to each row of ``others``."""
    return np.count_nonzero(others == sketch, axis=-1) / sketch.shape[-1]


class BandIndex:
    """LSH over signatures: ``bands`` buckets of ``rows`` values each; a shared bucket makes a candidate."""

    def __init__(self, threshold: float, num_perm: int):
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)  # only for its optimal (bands, rows)
        self.bands, self.rows = lsh.b, lsh.r
        self.tables: list[dict[int, list[int]]] = [{} for _ in range(self.bands)]
        rng = np.random.RandomState(0)
        self._mix = rng.randint(1, 2**63, size=self.rows, dtype=np.uint64) | np.uint64(1)

    def band_keys(self, sketches: np.ndarray) -> list[list[int]]:
        """One integer key per band for every signature (a random linear hash of the band's values)."""
        bands = sketches[:, :self.bands * self.rows].reshape(len(sketches), self.bands, self.rows)
        return (bands.astype(np.uint64) * self._mix).sum(axis=2, dtype=np.uint64).tolist()

    def query(self, keys: list[int]) -> set[int]:
        found: set[int] = set()
        for table, key in zip(self.tables, keys, strict=True):
            if key in table:
                found.update(table[key])
        return found

    def insert(self, item: int, keys: list[int]) -> None:
        for table, key in zip(self.tables, keys, strict=True):
            table.setdefault(key, []).append(item)
