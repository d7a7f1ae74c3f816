"""Metrics against values worked out by hand."""

import math

import numpy as np
import pytest
from helpers_eval import sample

from nemo_math.evaluation.collapse import mode_collapse, separation
from nemo_math.evaluation.metrics import (
    avg_of_k,
    compute_metrics,
    group_metrics,
    group_samples,
    majority_score,
    pass_at_k,
)


def test_pass_at_k_unbiased():
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(4, 2, 1) == pytest.approx(0.5)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # fewer wrong samples than k: some draw always has a right one
    assert pass_at_k(16, 4, 4) == pytest.approx(1 - math.comb(12, 4) / math.comb(16, 4))
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_majority_clear_winner_ignores_missing_answers():
    assert majority_score(["1", "2", "1", None], [1, 0, 1, 0]) == 1.0
    assert majority_score([None, None, "2"], [0, 0, 0]) == 0.0
    assert majority_score([None, None], [0, 0]) == 0.0


def test_majority_ties_are_split():
    assert majority_score(["1", "2"], [1, 0]) == 0.5
    assert majority_score(["2", "3", "3", "2", "4"], [0, 1, 1, 0, 0]) == 0.5
    assert majority_score(["a", "b", "c"], [1, 0, 0]) == pytest.approx(1 / 3)
    # a judge that rules differently on the same answer: that answer scores the mean of its verdicts
    assert majority_score(["a", "a", "b", "b"], [1, 0, 0, 0]) == pytest.approx(0.25)


def test_avg_of_k_std_err_over_runs():
    mean, err = avg_of_k(np.array([[1, 0, 1, 1], [0, 0, 1, 0]], float))
    # runs: 0.5, 0, 1, 0.5 -> sample std sqrt(0.5/3), over sqrt(4)
    assert mean == pytest.approx(0.5)
    assert err == pytest.approx(math.sqrt(0.5 / 3) / 2)
    assert avg_of_k(np.array([[1.0], [0.0]])) == (0.5, 0.0)


def _two_problems():
    a = [sample("A", i, ans, ok, tokens=t, tool_calls=c)
         for i, (ans, ok, t, c) in enumerate([("7", 1, 10, 0), ("7", 1, 20, 2), ("3", 0, 30, 0), ("3", 0, 40, 1)])]
    b = [sample("B", i, ans, ok, tokens=t)
         for i, (ans, ok, t) in enumerate([("5", 0, 50), (None, 0, 60), ("5", 0, 70), ("9", 1, 80)])]
    return a + b


def test_group_metrics_with_k_below_n():
    (problems,) = group_samples(_two_problems()[::-1]).values()  # order must not matter: sorted by seed
    m = group_metrics(problems, k=2)
    assert m["k"] == 2 and m["num_problems"] == 2 and m["num_samples"] == 8
    c = m["correct"]
    assert c["pass@1"] == pytest.approx(0.5)  # first two samples: A 2/2, B 0/2
    assert c["maj@2"] == pytest.approx(0.5)  # A: 7 wins; B: 5 (None does not vote)
    assert c["pass@2"] == pytest.approx((5 / 6 + 1 / 2) / 2)  # from all 4 samples: c=2 and c=1
    assert m["no_answer"] == pytest.approx(1 / 8)
    assert m["length_mean"] == pytest.approx(45)
    assert m["length_p50"] == pytest.approx(45)
    assert m["tool_calls_mean"] == pytest.approx(3 / 8)
    assert m["tool_use_rate"] == pytest.approx(2 / 8)


def test_group_metrics_full_k_splits_ties():
    (problems,) = group_samples(_two_problems()).values()
    c = group_metrics(problems)["correct"]
    assert c["maj@4"] == pytest.approx((0.5 + 0.0) / 2)  # A: 7 and 3 tie; B: 5 wins and is wrong
    assert c["pass@4"] == 1.0
    assert c["pass@1"] == pytest.approx(3 / 8)
    assert c["pass@1_std_err"] == pytest.approx(np.std([0.5, 0.5, 0, 0.5], ddof=1) / 2)


def test_judge_columns_and_subsets():
    samples = [sample("P", 0, "1", True, judge=False, subset="s1"),
               sample("P", 1, "1", True, judge=True, subset="s1"),
               sample("Q", 0, "2", False, judge=True, subset="s2"),
               sample("Q", 1, "2", False, judge=False, subset="s2")]
    rows = {r["subset"]: r for r in compute_metrics(samples)}
    assert set(rows) == {"s1", "s2", "all"}
    whole = rows["all"]
    assert whole["symbolic"]["pass@1"] == 0.5
    assert whole["judge"]["pass@1"] == 0.5
    assert whole["both"]["pass@1"] == 0.25
    assert whole["any"]["pass@1"] == 0.75
    assert rows["s2"]["judge"]["maj@2"] == 0.5  # one answer, verdicts 1 and 0


def test_rows_are_ordered_by_mode_then_tool():
    samples = [sample("P", 0, "1", True, mode=m, with_tool=t) for m in ("low", "high", "medium") for t in (0, 1)]
    rows = compute_metrics(samples)
    assert [(r["mode"], r["with_tool"]) for r in rows] == [
        ("high", True), ("high", False), ("medium", True), ("medium", False), ("low", True), ("low", False)]


def test_separation_and_collapse_flags():
    assert separation([10, 20, 30], [1, 2, 3]) == 1.0
    assert separation([1, 2], [1, 2]) == 0.5
    assert separation([4], [1, 4, 9]) == pytest.approx((1 + 0.5) / 3)
    samples = ([sample("P", i, "1", True, mode="high", tokens=1000 + i) for i in range(4)]
               + [sample("P", i, "1", True, mode="medium", tokens=100 + i) for i in range(4)]
               + [sample("P", i, "1", True, mode="low", tokens=999 + 2 * i) for i in range(4)])
    rows = {r["mode"]: r for r in mode_collapse(samples, min_separation=0.75)}
    assert rows["medium"]["separation"] == 1.0 and not rows["medium"]["flagged"]
    assert rows["low"]["flagged"]  # low lengths 999..1005 mix with high 1000..1003
    assert rows["medium"]["length_ratio"] == pytest.approx(101.5 / 1001.5)


def test_unequal_sample_counts_use_the_common_prefix():
    samples = _two_problems()[:-1]  # B lost its last sample (say, a failed job)
    (problems,) = group_samples(samples).values()
    m = group_metrics(problems)
    assert m["k"] == 3 and "incomplete" in m
    assert m["correct"]["pass@1"] == pytest.approx((2 / 3 + 0) / 2)
