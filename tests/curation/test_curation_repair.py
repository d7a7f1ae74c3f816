"""Majority voting over equivalent answers and the paper's keep / fill / replace rule."""

from __future__ import annotations

from curation_fixtures import trajectory

from nemo_math.curation.repair import decide_reference, group_answers, majority_answer, vote_pairs
from nemo_math.grading.equivalence import Verdict, compare_many, is_equivalent
from nemo_math.grading.verdict import grade_symbolic


def graded(pid, answers, reference):
    out = []
    for seed, answer in enumerate(answers):
        t = trajectory(pid, "high", seed % 2 == 0, seed, answer, reference)
        out.append(grade_symbolic(t, answer, reference, 5.0))
    return out


def test_groups_join_equivalent_spellings():
    groups = group_answers(["\\frac{1}{2}", "3", "0.5", "$\\frac12$", "x = 3", "4"])
    assert groups == [["\\frac{1}{2}", "0.5", "$\\frac12$"], ["3", "x = 3"], ["4"]]


def test_vote_pairs_are_every_comparison_a_vote_asks_so_a_batch_can_answer_them():
    answers = ["\\frac{1}{2}", "3", "0.5", "$\\frac12$", "x = 3", "4", "3", "0.50", "y = 4", "7"]
    asked = []

    def equal(a, b):
        asked.append((a, b))
        return is_equivalent(a, b)

    groups = group_answers(answers, equal)
    pairs = vote_pairs(answers)
    assert asked and set(asked) <= set(pairs)
    table = dict(zip(pairs, compare_many(pairs), strict=True))
    assert group_answers(answers, lambda a, b: table[a, b] is Verdict.EQUAL) == groups


def test_majority_counts_equivalent_answers_not_strings():
    # "7" is the most common string, but 0.5 / 1/2 / \frac{1}{2} are together the majority
    answers = ["7", "7", "7", "0.5", "\\frac{1}{2}", "1/2", "\\dfrac{1}{2}", "0.5"]
    assert majority_answer(answers) == ("0.5", 5)
    assert majority_answer([]) is None


def test_majority_tie_goes_to_the_group_seen_first():
    assert majority_answer(["4", "5", "5", "4"]) == ("4", 2)


def test_forum_answer_kept_when_one_candidate_agrees():
    candidates = graded("p", ["5"] * 15 + ["016"], "16")
    decision = decide_reference("p", "16", candidates)
    assert (decision.source, decision.reference, decision.changed) == ("forum", "16", False)
    assert (decision.majority, decision.votes, decision.candidates) == ("5", 15, 16)


def test_forum_answer_replaced_when_all_sixteen_disagree():
    candidates = graded("p", ["\\frac{1}{2}"] * 6 + ["0.5"] * 3 + ["2"] * 7, "7")
    decision = decide_reference("p", "7", candidates)
    assert (decision.source, decision.reference, decision.original, decision.votes) == (
        "replaced", "\\frac{1}{2}", "7", 9)
    assert decision.changed
    few = decide_reference("p", "7", candidates[:4])  # four disagreeing samples do not overrule the forum
    assert (few.source, few.reference) == ("forum", "7")
    assert decide_reference("p", "7", candidates[:4], min_candidates=4).source == "replaced"


def test_missing_reference_filled_by_majority_or_left_missing():
    # candidates vote in job-id order (notool before tool), so "x=3" (seed 1, no tool) is the group's first spelling
    decision = decide_reference("p", None, graded("p", ["3", "x=3", "4", None], None))
    assert (decision.source, decision.reference, decision.votes) == ("majority", "x=3", 2)
    empty = decide_reference("p", None, graded("p", [None, None], None))
    assert (empty.source, empty.reference) == ("none", None)


def test_no_candidate_answer_keeps_the_forum_answer():
    decision = decide_reference("p", "9", graded("p", [None] * 4, "9"))
    assert (decision.source, decision.reference) == ("forum", "9")
