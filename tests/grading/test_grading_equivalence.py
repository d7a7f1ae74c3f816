"""The equivalence table: pairs that must match and pairs that must not, each checked in both orders."""

from __future__ import annotations

import pytest

from nemo_math.grading import is_equivalent, normalize_answer
from nemo_math.grading.equivalence import STATS
from nemo_math.grading.normalize import answer_key

EQUIVALENT = [
    # numbers, leading zeros, thousands separators
    ("16", "16"), ("016", "16"), ("007", "7"), ("-05", "-5"), ("2", "2.0"), ("1,000", "1000"), ("1{,}000", "1000"),
    ("1\\,000", "1000"), ("1,234,567", "1234567"), ("0.5", "\\frac{1}{2}"), ("-\\frac{1}{2}", "-0.5"),
    ("1.5", "\\frac{3}{2}"), ("\\frac{1}{3}", "0.3333333"), ("10^{3}", "1000"),
    # fractions and radicals
    ("\\dfrac{1}{2}", "\\frac12"), ("\\tfrac{3}{4}", "\\dfrac{3}{4}"), ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2"),
    ("2\\sqrt{2}", "\\sqrt{8}"), ("3\\sqrt{2}", "\\sqrt{18}"), ("\\sqrt[3]{2}", "2^{1/3}"),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    # wrappers: math delimiters, \text, currency, percent, degrees, units
    ("$5$", "5"), ("\\(5\\)", "5"), ("\\$5", "5"), ("\\$1,000", "1000"), ("\\text{5}", "5"), ("50\\%", "50"),
    ("10\\%", "0.1"), ("30^\\circ", "30"), ("30^{\\circ}", "30"), ("45°", "45"), ("5\\text{ cm}", "5"),
    ("5 \\mathrm{cm}", "5"), ("12\\text{ apples}", "12"), ("5\\text{ m}^2", "5"), ("7.", "7"),
    # text answers
    ("\\text{Yes}", "yes"), ("\\text{(A)}", "A"), ("\\textbf{B}", "b"), ("\\emptyset", "\\varnothing"),
    # assignments
    ("x = 5", "5"), ("x=5", "x = 5"), ("n=2024", "2024"), ("y=2x+1", "2x+1"), ("a=2, b=3", "b=3, a=2"),
    # unordered lists and sets
    ("1, 2, 3", "3, 2, 1"), ("x=1, x=2", "2, 1"), ("\\{1,2\\}", "\\{2,1\\}"), ("2 \\text{ and } 3", "3, 2"),
    ("\\pm 2", "2, -2"), ("-1, \\frac{1}{2}", "0.5, -1"),
    # intervals and inequalities
    ("(1, 2)", "1 < x < 2"), ("(-\\infty, 2]", "x \\le 2"), ("[3, \\infty)", "x \\geq 3"), ("x \\in [1, 2]", "[1,2]"),
    # expressions
    ("x^2+2x+1", "(x+1)^2"), ("\\pi", "3.14159265358979"), ("2\\pi", "\\pi \\cdot 2"),
    # matrices and tuples
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"), ("(2, 3)", "(2,3)"),
]

NOT_EQUIVALENT = [
    ("2", "3"), ("16", "-16"), ("16", "160"), ("0.5", "5"), ("1,2", "1,3"), ("12", "1, 2"), ("1, 234", "1234"),
    ("\\frac{1}{3}", "0.333"), ("100", "99.9999999"), ("[1,2)", "(1,2]"), ("(2,3)", "(3,2)"), ("\\pi", "3.14"),
    ("\\sqrt{2}", "2"), ("x^2", "x^3"), ("\\text{apples}", "\\text{oranges}"), ("\\pm 2", "2"), ("1, 2", "1, 2, 3"),
    ("(1, 2)", "1 \\le x \\le 2"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}"),
    ("10^{10^{10^{10}}}", "5"), ("yes", "no"), ("\\frac{\\pi}{3}", "60"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_in_both_orders(a, b):
    assert is_equivalent(a, b), f"{a!r} should equal {b!r}"
    assert is_equivalent(b, a), f"{b!r} should equal {a!r}"


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_not_equivalent_in_both_orders(a, b):
    assert not is_equivalent(a, b), f"{a!r} should differ from {b!r}"
    assert not is_equivalent(b, a), f"{b!r} should differ from {a!r}"


@pytest.mark.parametrize("missing", [None, "", "   ", "$$"])
def test_missing_answer_is_never_equivalent(missing):
    assert not is_equivalent(missing, "5")
    assert not is_equivalent("5", missing)


def test_answer_key_folds_case_of_words_only():
    assert answer_key("\\text{No Solution}") == answer_key("no solution")
    assert answer_key("N") != answer_key("n")
    assert answer_key("\\Delta") != answer_key("\\delta")


def test_normalize_gives_one_key_to_spellings_of_the_same_number():
    keys = {normalize_answer(s) for s in ("016", "$16$", "16.", "x = 16", "\\text{16}", "16^\\circ", "\\$16")}
    assert keys == {"16"}
    assert normalize_answer("1, 000") != normalize_answer("1000")  # a list, not a thousands separator


def test_timeout_stops_a_slow_comparison_and_is_counted():
    before = STATS["timeouts"]
    # an interval/inequality comparison takes tens of milliseconds of sympy; a 1 ms limit cuts it off
    assert not is_equivalent("(7, 9)", "7 < y < 9", timeout_s=0.001)
    assert STATS["timeouts"] == before + 1
    assert is_equivalent("(7, 9)", "7 < y < 9", timeout_s=10)


def test_huge_power_is_refused_not_evaluated():
    before = STATS["refused"]
    assert not is_equivalent("10^{10^{10^{10}}}", "10^{10^{10^{11}}}")
    assert STATS["refused"] > before


@pytest.mark.parametrize("pathological", ["\\prod_{k=1}^{10^{9}} k", "\\binom{10^9}{5 \\cdot 10^8}"])
def test_pathological_answer_cannot_hang_the_grader(pathological):
    before = STATS["timeouts"]
    assert not is_equivalent(pathological, "5", timeout_s=0.3)
    assert STATS["timeouts"] == before + 1
