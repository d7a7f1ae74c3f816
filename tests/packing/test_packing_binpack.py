"""Bin packing: every sample placed once, no bin over capacity, close to the lower bound."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nemo_math.packing.binpack import (
    ALGORITHMS,
    UNPLACED,
    best_fit_decreasing,
    group_by_bin,
    lower_bound,
)


def check_valid(lengths: np.ndarray, bin_of: np.ndarray, capacity: int) -> int:
    assert (bin_of != UNPLACED).all()
    loads = np.bincount(bin_of, weights=lengths)
    assert loads.max() <= capacity
    return len(np.unique(bin_of))


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_lognormal_lengths_pack_near_the_lower_bound(algo):
    rng = np.random.default_rng(3)
    lengths = np.clip(rng.lognormal(np.log(600), 1.0, 20_000).round(), 20, 2048).astype(np.int64)
    bins = check_valid(lengths, ALGORITHMS[algo](lengths, 2048), 2048)
    lb = lower_bound(lengths, 2048)
    assert lb <= bins <= 1.01 * lb


def test_best_fit_prefers_the_tightest_bin():
    # open bins with room 5, 3 and 4: an 8 opens bin 3 (room 2), a 4 takes the room-4 bin and a 3 the room-3
    # bin (first fit would take the room-5 bin for both), a 2 the room-2 bin
    bin_of = best_fit_decreasing(np.array([2, 3, 4, 8]), 10, free=[5, 3, 4])
    assert bin_of.tolist() == [3, 1, 2, 3]
    # decreasing 7, 6, 5, 5, 4, 3: the second 5 fills the room-5 bin exactly, 4 joins 6, 3 joins 7
    lengths = np.array([4, 7, 3, 6, 5, 5])
    bin_of = best_fit_decreasing(lengths, 10)
    assert check_valid(lengths, bin_of, 10) == 3
    assert bin_of[0] == bin_of[3] and bin_of[2] == bin_of[1] and bin_of[4] == bin_of[5]


def test_first_fit_takes_the_lowest_bin():
    lengths = np.array([6, 5, 3])  # 6 -> bin 0 (room 4), 5 -> bin 1 (room 5), 3 -> bin 0 (first with room)
    bin_of = ALGORITHMS["ffd"](lengths, 10)
    assert bin_of.tolist() == [0, 1, 0]
    assert best_fit_decreasing(lengths, 10).tolist() == [0, 1, 0]  # best fit agrees: room 4 < room 5


def test_existing_bins_are_filled_without_opening_new_ones():
    bin_of = best_fit_decreasing(np.array([3, 3, 9, 1]), 10, free=[4, 3], open_new=False)
    assert bin_of.tolist()[2] == UNPLACED
    loads = {0: 0, 1: 0}
    for length, b in zip([3, 3, 9, 1], bin_of.tolist()):
        if b != UNPLACED:
            loads[b] += length
    assert loads[0] <= 4 and loads[1] <= 3 and sum(loads.values()) == 7


def test_too_long_sample_is_an_error():
    with pytest.raises(ValueError, match="sample 1 has length 11"):
        best_fit_decreasing(np.array([3, 11]), 10)


def test_group_by_bin_covers_every_placed_sample():
    lengths = np.random.default_rng(0).integers(1, 100, 500)
    index, offsets = group_by_bin(best_fit_decreasing(lengths, 100))
    assert sorted(index.tolist()) == list(range(500))
    assert all(lengths[index[a:b]].sum() <= 100 for a, b in itertools.pairwise(offsets))
    index, offsets = group_by_bin(np.array([1, UNPLACED, 1, 0]))
    assert index.tolist() == [3, 0, 2] and offsets.tolist() == [0, 1, 3]
    assert lower_bound([60, 60, 10], 100) == 2 and lower_bound([30] * 7, 100) == 3
