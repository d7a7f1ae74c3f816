"""The equivalence table: pairs that must match and pairs that must not, each checked in both orders; the
reference-first cases; and the grader's guarantees: a verdict for every input, in any thread, within its deadline.
"""

from __future__ import annotations

import threading

import pytest

from nemo_math.grading import is_equivalent, normalize_answer
from nemo_math.grading.equivalence import STATS, Verdict, compare, compare_many
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
    # issue 16: a row break followed by a space is not a space command; ``\\!`` thousands; currency; big integers
    ("\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix}3\\\\-1\\end{pmatrix}"),
    ("\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}", "\\begin{bmatrix} 3 \\\\ -1 \\end{bmatrix}"),
    ("11,\\! 111", "11111"), ("11,\\! 111,\\! 111,\\! 100", "11111111100"), ("$1,000.99", "1000.99"),
    ("1,000.99$", "1000.99"), ("9" * 5000, "9" * 5000 + ".0"),
    # multiple answers against a set; lines written two ways
    ("1, 2, 3", "\\{1,2,3\\}"), ("(2, 2), (6, 2)", "(6,2), (2,2)"), ("y=-\\frac{1}{2}x+\\frac{3}{4}", "2x+4y-3=0"),
    # the fast path: radicals, expressions, tuples, matrices, decided without sympy
    ("\\frac{\\sqrt{8}}{2}", "\\sqrt{2}"), ("(\\sqrt{2}, \\frac{1}{2})", "(\\frac{2}{\\sqrt{2}}, \\frac{2}{4})"),
    ("2a(b+c)", "2ab+2ac"),
]

NOT_EQUIVALENT = [
    ("2", "3"), ("16", "-16"), ("16", "160"), ("0.5", "5"), ("1,2", "1,3"), ("12", "1, 2"), ("1, 234", "1234"),
    ("\\frac{1}{3}", "0.333"), ("100", "99.9999999"), ("[1,2)", "(1,2]"), ("(2,3)", "(3,2)"), ("\\pi", "3.14"),
    ("\\sqrt{2}", "2"), ("x^2", "x^3"), ("\\text{apples}", "\\text{oranges}"), ("\\pm 2", "2"), ("1, 2", "1, 2, 3"),
    ("(1, 2)", "1 \\le x \\le 2"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}"),
    ("10^{10^{10^{10}}}", "5"), ("yes", "no"), ("\\frac{\\pi}{3}", "60"),
    ("9" * 5000, "9" * 4999 + "8"),
    ("\\begin{pmatrix} 3 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix}3\\\\1\\end{pmatrix}"),
    ("\\sqrt{2} + \\sqrt{3}", "\\sqrt{5}"), ("(x+1)^2", "x^2+1"), ("\\text{odd}", "\\text{oddd}"),
]

# (prediction, reference): the reference is an equation, the prediction only its right-hand side (or worse)
REFERENCE_FIRST_WRONG = [
    ("0", "a+3z=0"), ("25", "x^2+y^2=25"), ("11a+c", "7=11a+c"), ("1", "2x+z=1"), ("0", "a^2+b=0"),
    ("-[0,1)", "1"), ("1", "\\pm 1"),
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


def test_equation_reference_is_not_matched_by_its_right_hand_side():
    for pred, ref in REFERENCE_FIRST_WRONG:
        assert compare(pred, ref) in (Verdict.UNEQUAL, Verdict.UNPARSEABLE), (pred, ref)
        assert not is_equivalent(pred, ref)


def test_a_prediction_may_name_its_variable():
    assert compare("x = 2a+1", "2a+1") is Verdict.EQUAL


@pytest.mark.parametrize("bad", ["\\frac{", "}{", "\\begin{pmatrix}", "$$$", "\\sqrt[", "?!"])
def test_unparseable_answer_is_a_verdict_not_an_error(bad):
    assert compare(bad, "5") is Verdict.UNPARSEABLE
    assert compare(None, "5") is Verdict.UNPARSEABLE


def test_a_hopeless_comparison_times_out_off_the_main_thread_and_the_pool_recovers():
    """The deadline is the grader's own (a killed worker), so it holds in any thread: no signals involved."""
    results = {}

    def grade():
        results["hopeless"] = compare("(x+1)^{99999}", "(x+1)^{99998}", timeout_s=1.0)
        results["after"] = compare("(7, 9)", "7 < y < 9", timeout_s=60.0)

    before = STATS["timeout"]
    worker = threading.Thread(target=grade)
    worker.start()
    worker.join(timeout=300)  # a safety net far above the 1 s deadline, not a timing assertion
    assert not worker.is_alive()
    assert results == {"hopeless": Verdict.TIMEOUT, "after": Verdict.EQUAL}
    assert STATS["timeout"] == before + 1


def test_huge_power_is_refused_not_evaluated():
    assert compare("10^{10^{10^{10}}}", "10^{10^{10^{11}}}") is Verdict.REFUSED


def test_batch_keeps_order_and_settles_easy_pairs_without_sympy():
    before = STATS["sympy"]
    pairs = [("016", "16"), ("\\frac{3}{8}", "0.375"), ("3", "4"), ("\\sqrt{12}", "2\\sqrt{3}"), (None, "1")]
    assert compare_many(pairs) == [Verdict.EQUAL, Verdict.EQUAL, Verdict.UNEQUAL, Verdict.EQUAL,
                                   Verdict.UNPARSEABLE]
    assert STATS["sympy"] == before + 1  # only the decimal against the fraction needed sympy


def test_a_large_batch_spread_over_workers_gives_the_same_verdicts():
    from nemo_math.grading import pool
    from nemo_math.grading.pool import _CHUNK

    pairs = [(f"\\frac{{{2 * i}}}{{{2 * i + 2}}}", f"\\frac{{{i}}}{{{i + 1}}}") for i in range(1, _CHUNK + 40)]
    pairs += [(f"{i}", f"{i + 1}") for i in range(_CHUNK)] + [("(7, 9)", "7 < y < 9"), ("?!", "1")]
    expected = [Verdict.EQUAL] * (_CHUNK + 39) + [Verdict.UNEQUAL] * _CHUNK + [Verdict.EQUAL, Verdict.UNPARSEABLE]
    pool.set_workers(2)
    try:
        assert compare_many(pairs) == expected
    finally:
        pool.set_workers(0)
