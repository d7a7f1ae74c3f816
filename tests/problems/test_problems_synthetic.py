"""The procedural problems: deterministic, distinct, and their Python expressions give their answers."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from fractions import Fraction

import pytest
from nemo_math.problems.synthetic import TEMPLATES, evaluate, format_answer, generate, python_program


def test_deterministic_distinct_and_varied():
    problems = generate(300, seed=0)
    assert [p.to_dict() for p in problems] == [p.to_dict() for p in generate(300, seed=0)]
    assert [p.problem for p in generate(50, seed=0)] == [p.problem for p in problems[:50]]  # a prefix
    assert {p.problem for p in generate(300, seed=1)} != {p.problem for p in problems}
    assert len({p.problem for p in problems}) == len({p.id for p in problems}) == 300
    assert Counter(p.metadata["topic"] for p in problems).keys() == TEMPLATES.keys()
    assert set(Counter(p.metadata["difficulty"] for p in problems)) == {1, 2, 3, 4, 5}
    assert all(p.data_source == "synthetic" and p.license for p in problems)


def test_answers_are_the_python_values():
    for problem in generate(300, seed=2):
        value = evaluate(problem.metadata["python"])
        assert isinstance(value, (int, Fraction))
        assert problem.expected_answer == format_answer(value)


def test_python_program_prints_the_answer():
    """The program the scripted teacher sends to the sandbox, run by a real interpreter."""
    problems = [p for p in generate(40, seed=3) if p.metadata["topic"] in ("algebra", "number_theory")][:6]
    for problem in problems:
        printed = subprocess.run([sys.executable, "-c", python_program(problem)], capture_output=True, text=True,
                                 check=True, timeout=60).stdout.strip()
        assert format_answer(Fraction(printed)) == problem.expected_answer


def test_format_answer():
    assert format_answer(12) == "12"
    assert format_answer(Fraction(6, 8)) == "\\frac{3}{4}"
    assert format_answer(Fraction(-1, 2)) == "-\\frac{1}{2}"
    assert format_answer(Fraction(10, 5)) == "2"


def test_heldout_split_never_overlaps_training():
    """The ``synthetic-heldout`` benchmark is disjoint from any training draw (the split is a hash of the text),
    and of the same kinds: every topic appears, and answers are still the python values."""
    from nemo_math.evaluation.benchmarks import load
    from nemo_math.problems.synthetic import split_of

    heldout = load("synthetic-heldout")
    assert [p.to_dict() for p in heldout] == [p.to_dict() for p in load("synthetic-heldout")]
    assert len({p.problem for p in heldout}) == len(heldout) >= 100
    assert {p.metadata["topic"] for p in heldout} == {p.metadata["topic"] for p in generate(300, seed=0)}
    assert all(p.data_source == p.metadata["subset"] == "synthetic-heldout" for p in heldout)
    assert all(p.expected_answer == format_answer(evaluate(p.metadata["python"])) for p in heldout[:50])
    training = {p.problem for seed in range(3) for p in generate(1000, seed=seed)}
    assert not training & {p.problem for p in heldout}
    assert {split_of(t) for t in training} == {"train"}
    assert {split_of(p.problem) for p in generate(50, seed=0, split="heldout")} == {"heldout"}
    with pytest.raises(ValueError, match="split"):
        generate(5, split="test")
