"""Answer repair as in the paper: fill a missing reference, or replace one every candidate disagrees with,
by the majority answer of the problem's candidates (16: 8 high-mode with Python, 8 without).

Votes group *equivalent* answers (``\\frac{1}{2}`` and ``0.5`` vote together): answers with the same
normalised form join at once, the rest are compared with :func:`~nemo_math.grading.is_equivalent` against one
representative per group, so a problem costs at most (groups x answers) sympy calls. :func:`vote_pairs` lists
every comparison a vote may ask for, so that a stage grades all its problems' votes in one parallel batch and
passes the verdicts in as ``equal``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nemo_math.grading.equivalence import is_equivalent
from nemo_math.grading.normalize import answer_key
from nemo_math.records import GradedTrajectory

SOURCES = ("forum", "majority", "replaced", "none")


@dataclass
class AnswerDecision:
    """The reference a problem is finally graded against, and where it came from.

    ``source``: ``forum`` kept, ``majority`` filled in (no forum answer), ``replaced`` (every candidate
    disagreed with the forum answer), ``none`` (no reference and no candidate answer: the problem is dropped).
    """

    problem_id: str
    original: str | None
    reference: str | None
    source: str
    majority: str | None = None
    votes: int = 0
    candidates: int = 0

    @property
    def changed(self) -> bool:
        """A new reference: its trajectories must be judged again."""
        return self.source in ("majority", "replaced")


def group_answers(answers: Sequence[str], equal: Callable[[str, str], bool] = is_equivalent) -> list[list[str]]:
    """Answers in groups of equivalent ones, groups in order of first appearance."""
    groups: list[list[str]] = []
    by_key: dict[str, int] = {}
    for answer in answers:
        key = answer_key(answer)
        index = by_key.get(key)
        if index is None:
            index = next((i for i, g in enumerate(groups) if equal(answer, g[0])), None)
            if index is None:
                index = len(groups)
                groups.append([])
            by_key[key] = index
        groups[index].append(answer)
    return groups


def vote_pairs(answers: Sequence[str]) -> list[tuple[str, str]]:
    """Every ``equal(answer, representative)`` that :func:`group_answers` may ask on ``answers``: each normal
    form's first spelling against the first spelling of every earlier form."""
    by_key: dict[str, str] = {}
    for answer in answers:
        by_key.setdefault(answer_key(answer), answer)
    firsts = list(by_key.values())
    return [(later, earlier) for j, later in enumerate(firsts) for earlier in firsts[:j]]


def candidate_answers(candidates: Sequence[GradedTrajectory]) -> list[str]:
    """The candidates' answers in the order votes count them (by job id: a tie-break must not depend on file
    order)."""
    return [c.predicted_answer for c in sorted(candidates, key=lambda c: c.job_id) if c.predicted_answer is not None]


def majority_answer(answers: Sequence[str], equal: Callable[[str, str], bool] = is_equivalent
                    ) -> tuple[str, int] | None:
    """The largest group's most frequent spelling and its size (ties: the group seen first); ``None`` if empty."""
    groups = group_answers(answers, equal)
    if not groups:
        return None
    best = max(groups, key=len)  # max keeps the first of equal-sized groups
    return Counter(best).most_common(1)[0][0], len(best)


def decide_reference(problem_id: str, original: str | None, candidates: Sequence[GradedTrajectory],
                     equal: Callable[[str, str], bool] = is_equivalent, min_candidates: int = 16) -> AnswerDecision:
    """Keep, fill or replace the reference from ``candidates`` graded against ``original``.

    A forum answer is replaced only when at least ``min_candidates`` candidates all disagree with it: two
    wrong samples of a tiny run are no reason to overrule the forum.
    """
    found = majority_answer(candidate_answers(candidates), equal)
    majority, votes = found if found else (None, 0)
    decision = AnswerDecision(problem_id, original, original, "forum", majority, votes, len(candidates))
    if original is None:
        decision.reference, decision.source = (majority, "majority") if majority is not None else (None, "none")
    elif (majority is not None and len(candidates) >= max(1, min_candidates)
          and not any(c.is_correct for c in candidates)):
        decision.reference, decision.source = majority, "replaced"
    return decision
