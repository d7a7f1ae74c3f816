"""Verdicts without sympy for the common shapes of competition answers; ``None`` means "ask sympy".

Own code because the point is to skip sympy: parsing LaTeX to sympy costs milliseconds, this costs
microseconds. A small recursive-descent reader accepts numbers, ``\\frac``, ``\\sqrt``, ``\\pi``, powers,
``+ - * /`` and one-letter variables, and evaluates at 50 significant digits (mpmath); comma lists, tuples,
intervals (also written as inequalities, ``1 \\le x < 2``) and matrices of such items are compared item by
item, plain words as words. Expressions with variables are compared at two fixed irrational points (a
polynomial identity test). Anything outside the grammar, any decimal next to an exact form (math_verify's
rounding rules apply there), and different variable sets go to sympy.
"""

from __future__ import annotations

import re

import mpmath

_MP = mpmath.MPContext()
_MP.dps = 50
_TOLERANCE = _MP.mpf(10) ** -35
_TOKENS = re.compile(r"\s*(\d+\.\d+|\d+|\\frac|\\sqrt|\\pi|\\cdot|\\times|[A-Za-z]|[-+*/^(){}\[\]])")
_POINTS = ({}, {})  # variable -> value at two points, filled on demand
_MAX_EXPONENT = 200
_MAX_LENGTH = 2000  # longer answers are rare and go to sympy (this reader recurses per nesting level)
_MATRIX = re.compile(r"^\\begin\{([pb]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)
_WORDS = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")
_RELATION = re.compile(r"\s*(<|>|\\[lg]eq?(?![A-Za-z]))\s*")
_PAIRS = ("()", "(]", "[)", "[]")
_INFINITE = ("\\infty", "+\\infty", "-\\infty")


class _Reject(Exception):
    """Outside the grammar: sympy decides."""


class _Reader:
    """``expr := term (+|- term)*``, ``term := unary ((*|/)? unary)*``, ``unary := -unary | power``."""

    def __init__(self, text: str, point: dict, salt: int):
        self.tokens, pos = [], 0
        for match in _TOKENS.finditer(text):
            if match.start() != pos:
                raise _Reject
            self.tokens.append(match.group(1))
            pos = match.end()
        if text[pos:].strip():
            raise _Reject
        self.i, self.point, self.salt, self.decimal, self.variables = 0, point, salt, False, set()

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Reject
        self.i += 1
        return token

    def read(self):
        value = self.expr()
        if self.peek() is not None:
            raise _Reject
        return value

    def expr(self):
        value = self.unary()
        while self.peek() in ("+", "-"):
            value = value + self.unary() if self.take() == "+" else value - self.unary()
        return value

    def unary(self):
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        value = self.power()
        while (token := self.peek()) is not None and token not in ("+", "-", ")", "}", "]", "^"):
            if token in ("*", "/", "\\cdot", "\\times"):
                self.take()
                right = self.power()
                if token == "/":
                    if right == 0:
                        raise _Reject
                    value = value / right
                else:
                    value = value * right
            else:  # implicit product: ``2\\sqrt{3}``, ``3x``
                value = value * self.power()
        return value

    def power(self):
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        if self.peek() == "{":
            exponent = self.group()
        else:
            token = self.take()
            if not token.isdigit() or len(token) != 1:  # ``2^10`` is 2^1 0 in LaTeX: leave it to sympy
                raise _Reject
            exponent = _MP.mpf(token)
        if abs(exponent) > _MAX_EXPONENT or (base == 0 and exponent <= 0):
            raise _Reject
        if base < 0 and exponent != int(exponent):
            raise _Reject
        return base ** exponent

    def group(self):
        self.take("{")
        value = self.expr()
        self.take("}")
        return value

    def atom(self):
        token = self.take()
        if token[0].isdigit():
            self.decimal |= "." in token
            return _MP.mpf(token)
        if token == "\\frac":
            numerator, denominator = self.group(), self.group()
            if denominator == 0:
                raise _Reject
            return numerator / denominator
        if token == "\\sqrt":
            index = 2
            if self.peek() == "[":
                self.take()
                index = self.expr()
                self.take("]")
                if index != int(index) or not 2 <= index <= 100:
                    raise _Reject
            radicand = self.group()
            if radicand < 0:
                raise _Reject
            return _MP.root(radicand, int(index))
        if token == "\\pi":
            return _MP.pi
        if token in ("(", "{"):
            value = self.expr()
            self.take(")" if token == "(" else "}")
            return value
        if token.isalpha() and token not in "eEiI":
            self.variables.add(token)
            if token not in self.point:
                self.point[token] = _MP.sqrt(len(self.point) + 2 + 5 * self.salt) + _MP.mpf(len(self.point)) / 7
            return self.point[token]
        raise _Reject


def _values(text: str) -> tuple[list, bool, frozenset]:
    """The item's value at each test point, whether it holds a decimal, and its variables."""
    if text.strip() in _INFINITE:  # an interval's end, not a number to compute with
        return [_MP.ninf if text.strip()[0] == "-" else _MP.inf], False, frozenset()
    values, decimal, variables = [], False, frozenset()
    for salt, point in enumerate(_POINTS):
        reader = _Reader(text, point, salt)
        values.append(reader.read())
        decimal, variables = reader.decimal, frozenset(reader.variables)
        if not variables:
            break
    return values, decimal, variables


def _split(text: str, sep: str) -> list[str]:
    """``text`` split at top-level ``sep`` (outside brackets and braces)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    return [*parts, text[start:]]


def _as_interval(key: str) -> str:
    """``a \\le x < b`` as ``[a, b)``, ``x > a`` as ``(a, \\infty)``; anything else unchanged."""
    parts = _RELATION.split(key)
    if len(parts) == 5 and len(parts[2]) == 1 and parts[2].isalpha():
        low, left, _, right, high = parts
        if left[0] in "<\\" and right[0] in "<\\" and "g" not in left + right:
            return f"{'(' if left == '<' else '['}{low}, {high}{')' if right == '<' else ']'}"
    if len(parts) == 3:
        var, op, bound = parts
        if len(bound) == 1 and bound.isalpha():  # ``3 < x`` is ``x > 3``
            var, bound, op = bound, var, op.replace("<", "#").replace(">", "<").replace("#", ">").replace(
                "\\l", "\\#").replace("\\g", "\\l").replace("\\#", "\\g")
        if len(var) == 1 and var.isalpha() and bound:
            closed = "e" in op
            if op[0] == "<" or op.startswith("\\l"):
                return f"(-\\infty, {bound}{']' if closed else ')'}"
            return f"{'[' if closed else '('}{bound}, \\infty)"
    return key


def _shape(key: str) -> tuple[str, list[str]]:
    """``(kind, items)``: ``matrix`` (rows joined by ``;``), ``(]``-style brackets, ``set`` or ``list``."""
    key = _as_interval(key)
    matrix = _MATRIX.match(key)
    if matrix:
        rows = [_split(row, "&") for row in _split(matrix.group(2), "\\\\") if row.strip()]
        return f"matrix{len(rows)}x{len(rows[0])}", [cell for row in rows for cell in row]
    if key.startswith("\\{") and key.endswith("\\}"):
        return "set", _split(key[2:-2], ",")
    if len(key) > 2 and key[0] in "([" and key[-1] in ")]" and len(parts := _split(key[1:-1], ",")) > 1:
        return key[0] + key[-1], parts
    return "list", _split(key, ",")


def _same(a: list, b: list) -> bool:
    return all(x == y or (_MP.isfinite(x) and _MP.isfinite(y) and abs(x - y) <= _TOLERANCE * max(1, abs(x)))
               for x, y in zip(a, b, strict=True))


def fast_verdict(pred_key: str, ref_key: str) -> bool | None:
    """``True``/``False`` where the normal forms settle it without sympy; ``None`` otherwise."""
    if max(len(pred_key), len(ref_key)) > _MAX_LENGTH:
        return None
    if _WORDS.fullmatch(pred_key) and _WORDS.fullmatch(ref_key):
        # plain words ("odd", "no solution"): not two short ones, as ``AB`` may be a product to sympy
        short = min(len(pred_key), len(ref_key)) < 3 and not {pred_key, ref_key} & {"no", "yes"}
        return None if short else pred_key == ref_key
    (kind, pred_items), (ref_kind, ref_items) = _shape(pred_key), _shape(ref_key)
    brackets = kind in _PAIRS and ref_kind in _PAIRS and len(pred_items) == len(ref_items) == 2
    if kind != ref_kind and not brackets:
        return None
    try:
        pred_vals, ref_vals = [_values(x) for x in pred_items], [_values(x) for x in ref_items]
    except (_Reject, ZeroDivisionError, ValueError, OverflowError, RecursionError):
        return None
    if any(d for _, d, _ in pred_vals + ref_vals) or len({v for _, _, v in pred_vals + ref_vals}) > 1:
        return None  # decimals against exact forms, or different variables: math_verify's rules
    if kind in ("list", "set"):  # unordered; ``1, 1, 2`` is the set {1, 2}
        if len(pred_vals) != len(ref_vals):
            return None
        rest = [v for v, _, _ in ref_vals]
        for value, _, _ in pred_vals:
            match = next((r for r in rest if _same(value, r)), None)
            if match is None:
                return False
            rest.remove(match)
        return True
    if len(pred_vals) != len(ref_vals) or kind != ref_kind:  # (1, 2) is not [1, 2) whatever its ends
        return False
    return all(_same(p, r) for (p, _, _), (r, _, _) in zip(pred_vals, ref_vals, strict=True))
