"""The sympy side of the grader, run inside the worker processes of :mod:`~nemo_math.grading.pool`.

Built on Hugging Face ``math_verify`` (LaTeX -> sympy via ``latex2sympy2_extended``, then numeric, symbolic,
set, interval, relation and matrix comparison), used as its authors test it: ``parse`` with its own extraction
configs and ``verify(gold, prediction)`` in that order only. The order matters: ``verify`` lets a *prediction*
``x = 5`` stand for ``5``, and applied the other way round it would let any equation match its right-hand side
(``a + 3z = 0`` is not ``0``). Around it we add:

* the parse cascade: an answer holding math delimiters is extracted from like a model's output; a bare answer
  is read as LaTeX, then as a plain expression;
* interval <-> inequality comparison (``allow_set_relation_comp``);
* a refusal to evaluate powers whose exponent has more than ``MAX_EXPONENT_DIGITS`` digits, or large
  factorials: work no deadline should be spent on;
* a verdict for every input (:class:`Verdict`), never an exception.

Importing this module warms math_verify and sympy up (the parser, and one comparison of each common kind: the
first one costs 0.1-0.6 s of lazy set-up), so that workers forked from a server that preloaded it start ready
instead of each paying that again.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from nemo_math.grading.equivalence import Verdict
from nemo_math.grading.normalize import is_text

MAX_EXPONENT_DIGITS = 5
_CONFIGS = (LatexExtractionConfig(), ExprExtractionConfig())

logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it warns once that we disabled its own alarm


@lru_cache(maxsize=1 << 14)
def parse_answer(answer: str) -> tuple:
    """sympy candidates for ``answer`` (math_verify's list: parsed value(s), then the matched string)."""
    if is_text(answer):
        return tuple(parse(answer, list(_CONFIGS), parsing_timeout=None))
    return tuple(parse(f"${answer}$", list(_CONFIGS), parsing_timeout=None)
                 or parse(answer, [ExprExtractionConfig()], parsing_timeout=None))


def _log10_bound(expr) -> float | None:
    """log10 of a purely numeric power tower's size (``None`` when ``expr`` is not one)."""
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


def _unnamed_equation(values: tuple) -> bool:
    """Whether the parsed answer is an equation whose left-hand side is a formula in variables (a sum or a
    power: ``a + 3z = 0``, ``x^2 = y``), not the name of a quantity (``x = 5``, ``f(x) = 1``, ``|AB| = 1``,
    ``A:B = 1``, ``(x, y) = (1, 2)``)."""
    value = next((x for x in values if not isinstance(x, str)), None)
    if not isinstance(value, sympy.Eq) or not isinstance(value.lhs, sympy.Basic) or not value.lhs.free_symbols:
        return False
    lhs = value.lhs
    return lhs.has(sympy.Add) or any(power.exp != -1 for power in lhs.atoms(sympy.Pow))


def _equation_for_value(gold: tuple, target: tuple) -> bool:
    """An equation on one side and a value on the other: verify may compare the equation's right-hand side,
    which is right for ``x = 5`` against ``5`` but not for ``a + 3z = 0`` against ``0``, either way round."""
    def has_eq(values):
        return any(isinstance(x, sympy.Basic) and x.has(sympy.Eq) for x in values)

    return (_unnamed_equation(target) and not has_eq(gold)) or (_unnamed_equation(gold) and not has_eq(target))


def symbolic_verdict(pred: str, ref: str) -> Verdict:
    """Whether prediction ``pred`` equals reference ``ref`` by math_verify; any failure is a verdict too."""
    try:
        gold, target = parse_answer(ref), parse_answer(pred)
        if not gold or not target:
            return Verdict.UNPARSEABLE
        if any(_too_large(x) for x in (*gold, *target)):
            return Verdict.REFUSED
        if isinstance(gold[0], sympy.Rational) and isinstance(target[0], sympy.Rational):
            # exact numbers: verify would go on to simplify(a - b) for every wrong answer
            return Verdict.EQUAL if gold[0] == target[0] else Verdict.UNEQUAL
        if verify(list(gold), list(target), timeout_seconds=None, allow_set_relation_comp=True):
            return Verdict.UNEQUAL if _equation_for_value(gold, target) else Verdict.EQUAL
        if all(isinstance(x, str) for x in gold) or all(isinstance(x, str) for x in target):
            return Verdict.UNPARSEABLE  # only the raw string came back: sympy could not read it
        return Verdict.UNEQUAL
    except Exception:  # noqa: BLE001 - a verdict for every input; ``ERROR`` is counted by the stage
        return Verdict.ERROR


WARM_UP = (("(x+1)(x+2)", "x^2+3x+2"), ("0.5", "\\frac{1}{3}"), ("[1, 2)", "1 \\le x < 2"), ("\\sin x", "\\cos x"),
           ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}"),
           ("\\{1, 2\\}", "\\{2, 1\\}"), ("x = 1", "1"), ("\\text{the answer is } 5", "5"))
for _pair in WARM_UP:  # see the module docstring
    symbolic_verdict(*_pair)
