"""``is_equivalent(pred, ref)``: are two final answers the same mathematical object?

Built on Hugging Face ``math_verify`` (LaTeX -> sympy via ``latex2sympy2_extended``, then numeric, symbolic,
set, interval, relation and matrix comparison). Around it we add:

* :func:`~nemo_math.grading.normalize.answer_key` first; equal canonical forms, and two plain decimal
  numbers, need no sympy at all;
* symmetry: ``math_verify.verify`` is gold-first, we accept a match in either order;
* interval <-> inequality comparison in both directions (``allow_set_relation_comp``);
* one wall-clock limit per call (:mod:`~nemo_math.grading.timelimit`) and a refusal to evaluate powers whose
  exponent has more than ``MAX_EXPONENT_DIGITS`` digits (C-level bigint work that no signal can interrupt);
* counters in ``STATS`` (calls, fast-path hits, sympy calls, timeouts, refusals) for the benchmark and report.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from fractions import Fraction
from functools import lru_cache

from nemo_math.grading.normalize import answer_key
from nemo_math.grading.timelimit import TimeoutException, time_limit

DEFAULT_TIMEOUT_S = 5.0
MAX_EXPONENT_DIGITS = 5
STATS: Counter[str] = Counter()
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns once that we disabled its own alarm


@lru_cache(maxsize=1 << 14)
def _parse(answer: str) -> tuple:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    try:
        return tuple(parse(f"${answer}$", [LatexExtractionConfig(), ExprExtractionConfig()],
                           parsing_timeout=None, raise_on_error=True))
    except Exception:  # noqa: BLE001 - unparseable LaTeX is an answer sympy cannot compare, not an error
        return ()


def _log10_bound(expr) -> float | None:
    """log10 of a purely numeric power tower's size (``None`` when ``expr`` is not one)."""
    import sympy

    if isinstance(expr, sympy.Number):
        value = abs(expr)
        return 0.0 if value <= 1 else math.log10(float(value)) if value < 10**300 else 300.0
    if isinstance(expr, sympy.Pow):
        base, exp = _log10_bound(expr.base), _log10_bound(expr.exp)
        if base is None or exp is None:
            return None
        return math.inf if exp > MAX_EXPONENT_DIGITS else base * 10**exp
    return None


def _too_large(expr) -> bool:
    """Whether ``expr`` holds a power (or factorial) too large to evaluate in reasonable time."""
    import sympy

    if not isinstance(expr, (sympy.Basic, sympy.MatrixBase)):
        return False
    nodes = expr.atoms(sympy.Pow, sympy.factorial) if isinstance(expr, sympy.Basic) else {
        n for e in expr for n in e.atoms(sympy.Pow, sympy.factorial)}
    for node in nodes:
        if isinstance(node, sympy.factorial):
            size = _log10_bound(node.args[0])
            if size is not None and size > 4:
                return True
        elif (exp := _log10_bound(node.exp)) is not None and exp > MAX_EXPONENT_DIGITS:
            return True
    return False


def _verify(gold, target) -> bool:
    """math_verify's comparison; its errors mean "not shown equal", its timeouts reach our caller."""
    import sympy
    from math_verify import verify

    if isinstance(gold, sympy.Rational) and isinstance(target, sympy.Rational):
        return gold == target  # exact numbers: verify would go on to simplify(a - b) for every wrong answer
    try:
        return verify(gold, target, timeout_seconds=None, allow_set_relation_comp=True, raise_on_error=True)
    except Exception:  # noqa: BLE001
        return False


@lru_cache(maxsize=1 << 16)
def _symbolic_equal(a: str, b: str, timeout_s: float | None) -> bool:
    STATS["sympy"] += 1
    try:
        with time_limit(timeout_s):
            gold, target = _parse(a), _parse(b)
            if not gold or not target:
                return False
            if any(_too_large(x) for x in (*gold, *target)):
                STATS["refused"] += 1
                return False
            return any(_verify(x, y) or _verify(y, x) for x in gold for y in target)
    except TimeoutException:
        STATS["timeouts"] += 1
        return False


def is_equivalent(pred: str | None, ref: str | None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
    """Whether answer ``pred`` equals reference ``ref`` (symmetric); ``False`` for a missing answer."""
    STATS["calls"] += 1
    if pred is None or ref is None:
        return False
    pred_key, ref_key = answer_key(pred), answer_key(ref)
    if not pred_key or not ref_key:
        return False
    if pred_key == ref_key:
        STATS["fast"] += 1
        return True
    if _PLAIN_NUMBER.fullmatch(pred_key) and _PLAIN_NUMBER.fullmatch(ref_key):  # most wrong answers: no sympy
        STATS["fast"] += 1
        return Fraction(pred_key) == Fraction(ref_key)
    return _symbolic_equal(*sorted((pred_key, ref_key)), timeout_s)  # symmetric: one cache entry per pair
