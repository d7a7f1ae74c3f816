"""``compare(pred, ref)``: a :class:`Verdict` on a prediction against a reference; ``compare_many`` for a batch,
in parallel; ``grade_solutions`` for a batch of solution texts (extraction included); ``is_equivalent`` as a bool.

Three steps, cheapest first, each deciding what it can:

* :func:`~nemo_math.grading.normalize.answer_key`: equal canonical forms are equal; two plain decimal numbers
  are compared exactly as decimals (no ``int``: Python refuses to convert strings of more than 4300 digits);
* :func:`~nemo_math.grading.fastpath.fast_verdict`: numbers, radicals, polynomials, lists, tuples, intervals and
  matrices evaluated at high precision without sympy;
* :mod:`~nemo_math.grading.symbolic` (math_verify and sympy), each call under a deadline (``TIMEOUT`` past it).

All three run in the worker processes of :mod:`~nemo_math.grading.pool` (:func:`grade_chunk`), a large batch
in chunks spread over them; a small batch takes the first two here and sends only its sympy pairs. Every input
gets a verdict, none raises, from any thread. Verdicts of settled pairs are cached per process.
``STATS`` counts calls, fast-path hits, sympy calls and each verdict, for the benchmark and the stage's counts.
The workers are started the multiprocessing way, so a script that grades needs ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal

from nemo_math.grading.extract import extract_answer
from nemo_math.grading.fastpath import fast_verdict
from nemo_math.grading.normalize import answer_key, canonical_answer, is_text

DEFAULT_TIMEOUT_S = 5.0
STATS: Counter[str] = Counter()
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CACHE: dict[tuple[str, str], Verdict] = {}
_CACHE_SIZE = 1 << 16
_IN_CALLER = 64  # distinct pairs below which the cheap steps run here: cheaper than a round-trip to a worker
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


def settle(pred: str | None, ref: str | None) -> Verdict | tuple[str, str]:
    """:func:`_cheap`, or this process's cached verdict of the forms it leaves for sympy; never raises."""
    try:
        cheap = _cheap(pred, ref)
    except Exception:  # noqa: BLE001 - a verdict for every input
        log.exception("grading %r against %r", pred, ref)
        return Verdict.ERROR
    if isinstance(cheap, Verdict):
        STATS["fast"] += 1
        return cheap
    return _CACHE.get(cheap, cheap)


def remember(forms: tuple[str, str], verdict: Verdict) -> None:
    """Cache sympy's verdict on ``forms`` where it is settled (a timeout or an error may not recur)."""
    if verdict in (Verdict.EQUAL, Verdict.UNEQUAL, Verdict.UNPARSEABLE, Verdict.REFUSED):
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[forms] = verdict


def grade_chunk(items: Sequence[tuple[str | None, str | None]], relaxed: bool | None = None,
                before_sympy: Callable[[list], None] = lambda outcomes: None) -> list:
    """Every item graded here, sympy included: the work of a pool worker (:mod:`~nemo_math.grading.pool`), which
    hears from ``before_sympy(outcomes so far)`` that a sympy call (the only step under a deadline) starts.

    An item is ``(prediction, reference)`` and its outcome a :class:`Verdict`; with ``relaxed`` set, an item is
    ``(solution text, reference)`` and its outcome ``(extracted answer, Verdict)`` (see :func:`grade_solutions`).
    """
    from nemo_math.grading.symbolic import symbolic_verdict

    outcomes = []
    for first, ref in items:
        pred = first if relaxed is None else extract_answer(first, relaxed)
        verdict = settle(pred, ref)
        if not isinstance(verdict, Verdict):
            STATS["sympy"] += 1
            before_sympy(outcomes)
            forms, verdict = verdict, symbolic_verdict(*verdict)
            remember(forms, verdict)
        outcomes.append(verdict if relaxed is None else (pred, verdict))
    return outcomes


def _counted(verdicts: list[Verdict]) -> list[Verdict]:
    STATS["calls"] += len(verdicts)
    STATS.update(str(v) for v in verdicts)
    return verdicts


def compare_many(pairs: Sequence[tuple[str | None, str | None]],
                 timeout_s: float | None = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    """The verdict of every ``(prediction, reference)``, in order; a large batch is graded by the worker pool in
    chunks, in parallel; a small one here, only its sympy pairs going to the workers (they carry the deadline)."""
    from nemo_math.grading import pool

    unique = list(dict.fromkeys(pairs))  # a stage's samples often repeat an answer
    if len(unique) >= _IN_CALLER:
        found = pool.grade(unique, timeout_s)
    else:
        found = [settle(pred, ref) for pred, ref in unique]
        sympy = [i for i, verdict in enumerate(found) if not isinstance(verdict, Verdict)]
        for i, verdict in zip(sympy, pool.grade([unique[i] for i in sympy], timeout_s), strict=True):
            remember(found[i], verdict)
            found[i] = verdict
    by_pair = dict(zip(unique, found, strict=True))
    return _counted([by_pair[pair] for pair in pairs])


def grade_solutions(items: Sequence[tuple[str | None, str | None]], relaxed: bool = False,
                    timeout_s: float | None = DEFAULT_TIMEOUT_S) -> list[tuple[str | None, Verdict]]:
    """``(final answer, verdict)`` of every ``(solution text, reference)``, in order (the answer by
    :func:`~nemo_math.grading.extract.extract_answer`). A large batch is extracted *and* graded by the workers, so
    that no serial step in this process limits the speed-up with cores."""
    from nemo_math.grading import pool

    unique = list(dict.fromkeys(items))
    if len(unique) < _IN_CALLER:
        answers = [extract_answer(text, relaxed) for text, _ in items]
        return list(zip(answers, compare_many([(a, ref) for a, (_, ref) in zip(answers, items)], timeout_s)))
    by_item = dict(zip(unique, pool.grade(unique, timeout_s, relaxed), strict=True))
    outcomes = [by_item[item] for item in items]
    _counted([verdict for _, verdict in outcomes])
    return outcomes


def compare(pred: str | None, ref: str | None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> Verdict:
    """The verdict on prediction ``pred`` against reference ``ref`` (``UNPARSEABLE`` for a missing answer)."""
    return compare_many([(pred, ref)], timeout_s)[0]


def is_equivalent(pred: str | None, ref: str | None, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> bool:
    """Whether answer ``pred`` equals reference ``ref``; ``False`` for a missing or undecidable answer."""
    return compare(pred, ref, timeout_s) is Verdict.EQUAL
