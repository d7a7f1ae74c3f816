"""Procedural math problems with known answers, for the laptop pipeline and for tests and benchmarks.

Each problem carries ``metadata["python"]``, a Python expression whose value is the expected answer (the
scripted teacher of the generation stage runs it in the sandbox as a real tool call; :func:`python_program`
gives the full program), and ``metadata["difficulty"]`` in 1..5. Answers are strings: an integer, or a reduced
fraction in LaTeX (``\\frac{3}{4}``, ``-\\frac{1}{2}``). Generation is deterministic in ``seed`` and never repeats
a problem text. A real dataset has no such thing: this exists so that every later stage can be checked end to
end on a CPU with answers that are right by construction.

Problem texts are split by a hash of the text into ``train`` (what the pipeline trains on, nine in ten) and
``heldout`` (the ``synthetic-heldout`` evaluation benchmark: problems of the same kinds the student never saw),
so the two are disjoint for any seed and count by construction.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable
from fractions import Fraction

from nemo_math.records import Problem

PYTHON_PRELUDE = "import math\nfrom fractions import Fraction\n"

# A template draws numbers and returns (problem text, python expression, difficulty).
Template = Callable[[random.Random], tuple[str, str, int]]


def format_answer(value: int | Fraction) -> str:
    """An integer or a reduced fraction as the LaTeX answer string."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def python_program(problem: Problem) -> str:
    """The program that prints the answer of a synthetic problem."""
    return f"{PYTHON_PRELUDE}print({problem.metadata['python']})\n"


def evaluate(expression: str) -> int | Fraction:
    """The value of a ``metadata["python"]`` expression (what the sandbox would print)."""
    return eval(expression, {"math": math, "Fraction": Fraction})


# --------------------------------------------------------------------------------------------- templates
def _arithmetic(rng: random.Random) -> tuple[str, str, int]:
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(1, 999)
    op = rng.choice(["+", "-"])
    return f"Compute ${a} \\times {b} {op} {c}$.", f"{a} * {b} {op} {c}", 1


def _fraction_sum(rng: random.Random) -> tuple[str, str, int]:
    a, b, c, d = rng.randint(1, 12), rng.randint(2, 15), rng.randint(1, 12), rng.randint(2, 15)
    return (f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$ and give the answer as a fraction in "
            f"lowest terms.", f"Fraction({a}, {b}) + Fraction({c}, {d})", 2)


def _linear(rng: random.Random) -> tuple[str, str, int]:
    a, b, c = rng.choice([i for i in range(-9, 10) if abs(i) > 1]), rng.randint(-30, 30), rng.randint(-30, 30)
    return (f"Solve for $x$: ${a}x + {b} = {c}$.".replace("+ -", "- "), f"Fraction({c} - ({b}), {a})", 2)


def _quadratic_roots(rng: random.Random) -> tuple[str, str, int]:
    r, s = rng.randint(-12, 12), rng.randint(-12, 12)
    p, q = -(r + s), r * s
    poly = f"x^2 + {p}x + {q}".replace("+ -", "- ")
    return (f"The roots of ${poly} = 0$ are $r$ and $s$. Find $r^2 + s^2$.", f"({-p})**2 - 2 * ({q})", 3)


def _system(rng: random.Random) -> tuple[str, str, int]:
    x, y = rng.randint(-20, 20), rng.randint(-20, 20)
    a, b, c, d = rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 6), rng.randint(-6, -1)
    e, f = a * x + b * y, c * x + d * y
    eq2 = f"{c}x + {d}y = {f}".replace("+ -", "- ")
    return (f"Real numbers $x$ and $y$ satisfy ${a}x + {b}y = {e}$ and ${eq2}$. Find $x \\cdot y$.",
            f"Fraction({e} * ({d}) - ({b}) * {f}, {a * d - b * c}) * Fraction({a} * {f} - ({c}) * {e}, "
            f"{a * d - b * c})", 4)


def _gcd_lcm(rng: random.Random) -> tuple[str, str, int]:
    g = rng.randint(2, 30)
    a, b = g * rng.randint(2, 40), g * rng.randint(2, 40)
    return (f"Find $\\gcd({a}, {b}) + \\operatorname{{lcm}}({a}, {b})$.", f"math.gcd({a}, {b}) + math.lcm({a}, {b})",
            2)


def _power_mod(rng: random.Random) -> tuple[str, str, int]:
    a, e, m = rng.randint(2, 50), rng.randint(10, 2000), rng.randint(7, 1000)
    return f"Find the remainder when ${a}^{{{e}}}$ is divided by ${m}$.", f"pow({a}, {e}, {m})", 3


def _divisor_count(rng: random.Random) -> tuple[str, str, int]:
    n = rng.randint(12, 2000)
    return (f"How many positive divisors does ${n}$ have?", f"sum(1 for d in range(1, {n} + 1) if {n} % d == 0)",
            3)


def _digit_sum(rng: random.Random) -> tuple[str, str, int]:
    base, e = rng.randint(2, 9), rng.randint(20, 200)
    return f"What is the sum of the digits of ${base}^{{{e}}}$?", f"sum(int(c) for c in str({base}**{e}))", 4


def _prime_count(rng: random.Random) -> tuple[str, str, int]:
    n = rng.randint(30, 600)
    return (f"How many prime numbers are less than ${n}$?",
            f"sum(1 for k in range(2, {n}) if all(k % p for p in range(2, math.isqrt(k) + 1)))", 4)


def _choose(rng: random.Random) -> tuple[str, str, int]:
    n = rng.randint(6, 60)
    k = rng.randint(2, n - 2)
    return (f"A club has ${n}$ members. In how many ways can a committee of ${k}$ members be chosen?",
            f"math.comb({n}, {k})", 2)


def _lattice_paths(rng: random.Random) -> tuple[str, str, int]:
    w, h = rng.randint(3, 20), rng.randint(3, 20)
    bx, by = rng.randint(1, w - 1), rng.randint(1, h - 1)
    return (f"A path on the grid goes from $(0,0)$ to $({w},{h})$ with unit steps right or up and must avoid "
            f"the point $({bx},{by})$. How many such paths are there?",
            f"math.comb({w + h}, {w}) - math.comb({bx + by}, {bx}) * math.comb({w - bx + h - by}, {w - bx})", 5)


TEMPLATES: dict[str, list[Template]] = {
    "arithmetic": [_arithmetic, _fraction_sum],
    "algebra": [_linear, _quadratic_roots, _system],
    "number_theory": [_gcd_lcm, _power_mod, _divisor_count, _digit_sum, _prime_count],
    "combinatorics": [_choose, _lattice_paths],
}


SPLITS = ("train", "heldout")
HELDOUT_SEED = 1_000_003  # the held-out benchmark's own draw (its ids never collide with a training run's)


def split_of(text: str) -> str:
    """``heldout`` for one problem text in ten (a stable hash), ``train`` for the rest."""
    return "heldout" if zlib.crc32(text.encode()) % 10 == 0 else "train"


def generate(count: int, seed: int = 0, name: str = "synthetic", split: str = "train") -> list[Problem]:
    """``count`` distinct problems of ``split``, the same ones for the same ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"synthetic: split {split!r}: expected one of {', '.join(SPLITS)}")
    rng = random.Random(seed)
    topics = sorted(TEMPLATES)
    problems: list[Problem] = []
    seen: set[str] = set()
    attempts = 0
    while len(problems) < count:
        attempts += 1
        if attempts > 200 * count + 1000:
            raise ValueError(f"synthetic: could not draw {count} distinct problems (got {len(problems)})")
        topic = topics[attempts % len(topics)]  # round robin; a topic that repeats itself yields its turn
        text, expression, difficulty = rng.choice(TEMPLATES[topic])(rng)
        if text in seen or split_of(text) != split:
            continue
        seen.add(text)
        problems.append(Problem(
            id=f"{name}-{seed}-{len(problems):06d}", problem=text, expected_answer=format_answer(evaluate(expression)),
            data_source=name, license="CC0-1.0",
            metadata={"python": expression, "difficulty": difficulty, "topic": topic},
        ))
    return problems
