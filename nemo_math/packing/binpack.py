"""Bin packing of sample lengths into fixed-size packed sequences.

Best-fit decreasing (``bfd``) is the default: sort lengths longest first and put each into the open bin whose free
room is the smallest that still holds it. The index of open bins is a sorted list of distinct free capacities
(``bisect``) with a stack of bins per capacity: capacities are integers no larger than the bin, so the list stays
short and each step is a C-level binary search plus a small memmove; a million samples pack in about a second of
pure Python. We write it ourselves because the bin-packing packages on PyPI are pure-Python O(n * bins) loops.
First-fit decreasing (``ffd``, a max segment tree over bins) is kept as the textbook reference the benchmark
compares against.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence

import numpy as np

UNPLACED = -1


def lower_bound(lengths: Sequence[int] | np.ndarray, capacity: int) -> int:
    """No packing uses fewer bins than ``max(ceil(sum / capacity), #samples longer than half a bin)``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return 0
    return max(math.ceil(int(lengths.sum()) / capacity), int((lengths > capacity // 2).sum()))


def _check(lengths: np.ndarray, capacity: int) -> None:
    if len(lengths) and (lengths.max() > capacity or lengths.min() <= 0):
        bad = int(np.flatnonzero((lengths > capacity) | (lengths <= 0))[0])
        raise ValueError(f"sample {bad} has length {int(lengths[bad])}, outside (0, {capacity}]")


def best_fit_decreasing(lengths: Sequence[int] | np.ndarray, capacity: int,
                        free: Sequence[int] | None = None, open_new: bool = True) -> np.ndarray:
    """Bin index of every sample (``UNPLACED`` where it fits nowhere and ``open_new`` is false).

    ``free`` gives the room left in bins that already exist (numbered ``0..len(free)-1``, used for backfill);
    new bins are numbered after them.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    _check(lengths, capacity)
    out = np.full(len(lengths), UNPLACED, dtype=np.int64)
    if len(lengths) == 0:
        return out
    order = np.argsort(-lengths, kind="stable")
    smallest = int(lengths.min())  # room below this can never be used again
    caps: list[int] = []           # sorted distinct free capacities of open bins
    bins_at: dict[int, list[int]] = {}
    for b, room in enumerate(free or ()):
        if room >= smallest:
            if room not in bins_at:
                bins_at[room] = []
                insort(caps, room)
            bins_at[room].append(b)
    num_bins = len(free or ())
    sizes = lengths[order].tolist()
    neg_sizes = [-x for x in sizes]  # ascending, to jump over samples no open bin can take
    placed = order.tolist()
    result = [UNPLACED] * len(sizes)
    k, n = 0, len(sizes)
    while k < n:
        size = sizes[k]
        j = bisect_left(caps, size)
        if j < len(caps):
            room = caps[j]
            stack = bins_at[room]
            b = stack.pop()
            if not stack:
                del caps[j]
                del bins_at[room]
        elif open_new:
            room, b = capacity, num_bins
            num_bins += 1
        elif caps:
            k = bisect_left(neg_sizes, -caps[-1], k)
            continue
        else:
            break  # every existing bin is full
        result[k] = b
        k += 1
        left = room - size
        if left >= smallest:
            stack = bins_at.get(left)
            if stack is None:
                bins_at[left] = [b]
                insort(caps, left)
            else:
                stack.append(b)
    out[placed] = result
    return out


def first_fit_decreasing(lengths: Sequence[int] | np.ndarray, capacity: int) -> np.ndarray:
    """Bin index of every sample: each goes to the lowest-numbered bin with room (max segment tree over bins)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    _check(lengths, capacity)
    n = len(lengths)
    out = np.full(n, UNPLACED, dtype=np.int64)
    if n == 0:
        return out
    leaves = 1 << max(0, (n - 1).bit_length())
    tree = [capacity] * (2 * leaves)  # every bin, open or not yet, starts empty
    order = np.argsort(-lengths, kind="stable")
    result = []
    for size in lengths[order].tolist():
        node = 1
        while node < leaves:
            node = 2 * node if tree[2 * node] >= size else 2 * node + 1
        result.append(node - leaves)
        tree[node] -= size
        node >>= 1
        while node:
            left, right = tree[2 * node], tree[2 * node + 1]
            tree[node] = max(right, left)
            node >>= 1
    out[order] = result
    return out


ALGORITHMS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "bfd": best_fit_decreasing,
    "ffd": first_fit_decreasing,
}


def group_by_bin(bin_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices grouped bin by bin, and bin offsets (CSR): bin ``b`` holds
    ``index[offsets[b]:offsets[b + 1]]``. ``UNPLACED`` samples are left out."""
    bin_of = np.asarray(bin_of)
    index = np.flatnonzero(bin_of != UNPLACED)
    index = index[np.argsort(bin_of[index], kind="stable")]
    counts = np.bincount(bin_of[index], minlength=int(bin_of[index].max()) + 1 if len(index) else 0)
    return index, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
