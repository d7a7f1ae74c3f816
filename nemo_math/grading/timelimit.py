"""A wall-clock limit around one sympy call, so a pathological answer cannot hang a grading worker.

``math_verify`` has its own ``signal.alarm`` timeouts, but in whole seconds and swallowed into ``False``, so the
caller cannot count them. We switch those off and put one ``setitimer`` limit (sub-second) around each parse and
each comparison instead, raising math_verify's own ``TimeoutException`` (a ``BaseException``, so sympy's many
``except Exception`` blocks cannot swallow it). Signals only reach the main thread: elsewhere the limit is a
no-op, and C-level big-integer arithmetic cannot be interrupted at all, which is why
:mod:`nemo_math.grading.equivalence` also refuses to evaluate absurdly large powers.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from math_verify.errors import TimeoutException

__all__ = ["TimeoutException", "time_limit"]


def _raise(signum, frame) -> None:
    raise TimeoutException("sympy call ran past its time limit")


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeoutException` in the block after ``seconds`` (main thread only; ``None``: no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
