"""``compare(pred, ref)``: a :class:`Verdict` on a prediction against a reference; ``compare_many`` for a batch,
in parallel; ``is_equivalent`` as a bool.

Three steps, cheapest first, each deciding what it can:

* :func:`~nemo_math.grading.normalize.answer_key`: equal canonical forms are equal; two plain decimal numbers
  are compared exactly as decimals (no ``int``: Python refuses to convert strings of more than 4300 digits);
* :func:`~nemo_math.grading.fastpath.fast_verdict`: numbers, radicals, polynomials, lists, tuples, intervals and
  matrices evaluated at high precision without sympy;
* :mod:`~nemo_math.grading.symbolic` (math_verify and sympy) in the worker processes of
  :mod:`~nemo_math.grading.pool`, each call under a deadline (``TIMEOUT`` past it).

Every input gets a verdict, none raises, from any thread. Verdicts of settled pairs are cached per process.
``STATS`` counts calls, fast-path hits, sympy calls and each verdict, for the benchmark and the stage's counts.
The workers are started the multiprocessing way, so a script that grades needs ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from nemo_math.grading.fastpath import fast_verdict
from nemo_math.grading.normalize import answer_key, canonical_answer, is_text

DEFAULT_TIMEOUT_S = 5.0
STATS: Counter[str] = Counter()
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CACHE: dict[tuple[str, str], Verdict] = {}
_CACHE_SIZE = 1 << 16
_CHUNK = 256  # pairs per worker task of the cheap steps, when a batch is spread over several workers
_CHEAP = f"{__name__}:_cheap_chunk"
log = logging.getLogger(__name__)


class Verdict(enum.StrEnum):
    """The outcome of one comparison; only ``EQUAL`` means correct."""

    EQUAL = "equal"
    UNEQUAL = "unequal"
    UNPARSEABLE = "unparseable"  # one side is no math sympy can read (or no answer at all)
    REFUSED = "refused"  # an absurdly large power or factorial
    TIMEOUT = "timeout"  # ran past the deadline: the worker was killed
    ERROR = "error"  # anything else (a crashed worker, a bug); the stage counts these

    @property
    def decided(self) -> bool:
        return self in (Verdict.EQUAL, Verdict.UNEQUAL)


def _cheap(pred: str | None, ref: str | None) -> Verdict | tuple[str, str]:
    """The verdict if the normal forms settle it, else the two forms for sympy (a text goes as written)."""
    if pred is None or ref is None:
        return Verdict.UNPARSEABLE
    pred_key, ref_key = answer_key(pred), answer_key(ref)
    if not pred_key or not ref_key:
        return Verdict.UNPARSEABLE
    if pred_key == ref_key:
        return Verdict.EQUAL
    if _PLAIN_NUMBER.fullmatch(pred_key) and _PLAIN_NUMBER.fullmatch(ref_key):  # most wrong answers
        return Verdict.EQUAL if Decimal(pred_key) == Decimal(ref_key) else Verdict.UNEQUAL
    pred_form, ref_form = canonical_answer(pred), canonical_answer(ref)
    texts = is_text(pred_form), is_text(ref_form)
    if not any(texts):
        fast = fast_verdict(pred_key, ref_key)
        if fast is not None:
            return Verdict.EQUAL if fast else Verdict.UNEQUAL
    return pred if texts[0] else pred_form, ref if texts[1] else ref_form


def _cheap_chunk(pairs: Sequence[tuple[str | None, str | None]]) -> list[Verdict | tuple[str, str]]:
    """:func:`_cheap` of every pair; an exception is an ``ERROR`` verdict."""
    out = []
    for pred, ref in pairs:
        try:
            out.append(_cheap(pred, ref))
        except Exception:  # noqa: BLE001 - a verdict for every input
            log.exception("grading %r against %r", pred, ref)
            out.append(Verdict.ERROR)
    return out


def _cheap_all(pairs: Sequence[tuple[str | None, str | None]], timeout_s: float | None):
    """:func:`_cheap` of every pair, in order: here, or over the workers in chunks when there are several
    (the cheap steps are most of a stage's work). A chunk past the deadline is redone pair by pair."""
    from nemo_math.grading import pool

    if pool.workers() < 2 or len(pairs) <= _CHUNK:
        yield from _cheap_chunk(pairs)
        return
    chunks = [list(pairs[i:i + _CHUNK]) for i in range(0, len(pairs), _CHUNK)]
    futures = [pool.submit(_CHEAP, (chunk,), timeout_s) for chunk in chunks]
    for chunk, future in zip(chunks, futures, strict=True):
        done = pool.result(future)
        if isinstance(done, list):
            yield from done
            continue
        alone = [pool.submit(_CHEAP, ([pair],), timeout_s) for pair in chunk]
        for future_alone in alone:
            one = pool.result(future_alone)
            yield one[0] if isinstance(one, list) else one


def compare_many(pairs: Sequence[tuple[str | None, str | None]],
                 timeout_s: float | None = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    """The verdict of every ``(prediction, reference)``; sympy work runs in parallel in the worker pool."""
    from nemo_math.grading import pool

    verdicts: list[Verdict | None] = []
    todo: dict[tuple[str, str], tuple[object, list[int]]] = {}  # sympy's pairs: started at once, then awaited
    for i, cheap in enumerate(_cheap_all(pairs, timeout_s)):
        STATS["calls"] += 1
        if isinstance(cheap, Verdict):
            STATS["fast"] += 1
            verdicts.append(cheap)
        elif cheap in _CACHE:
            verdicts.append(_CACHE[cheap])
        else:
            verdicts.append(None)
            if cheap not in todo:
                todo[cheap] = (pool.submit(pool.SYMBOLIC, cheap, timeout_s), [])
            todo[cheap][1].append(i)
    STATS["sympy"] += len(todo)
    for keys, (future, indices) in todo.items():
        verdict = pool.result(future)
        if verdict in (Verdict.EQUAL, Verdict.UNEQUAL, Verdict.UNPARSEABLE, Verdict.REFUSED):
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.clear()
            _CACHE[keys] = verdict
        for i in indices:
            verdicts[i] = verdict
    STATS.update(str(v) for v in verdicts)
    return verdicts


def compare(pred: str | None, ref: str | None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Verdict:
    """The verdict on prediction ``pred`` against reference ``ref`` (``UNPARSEABLE`` for a missing answer)."""
    return compare_many([(pred, ref)], timeout_s)[0]


def is_equivalent(pred: str | None, ref: str | None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
    """Whether answer ``pred`` equals reference ``ref``; ``False`` for a missing or undecidable answer."""
    return compare(pred, ref, timeout_s) is Verdict.EQUAL
