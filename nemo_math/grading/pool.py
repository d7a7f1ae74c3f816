"""The worker processes that run sympy comparisons, each call under its own deadline, from any thread.

Why processes: a time limit by ``signal.alarm`` works only in the main thread, and no signal interrupts C-level
work (big-integer arithmetic, a polynomial expansion), so a pathological answer could hang the grader. Killing
a process always works. Why pebble: ``concurrent.futures.ProcessPoolExecutor`` cannot stop one running call
(cancel does not, and killing its worker breaks the whole pool), while ``pebble.ProcessPool`` kills a worker
whose call ran past its ``timeout`` and starts a replacement, and is a small, maintained library. The pool
also spreads a stage's work over the node's cores: chunks of the cheap string and numeric checks, then each
sympy comparison on its own (:func:`~nemo_math.grading.equivalence.compare_many`).

Workers are forked from a ``forkserver`` that has imported sympy and math_verify once, so a worker (and the
replacement of a killed one) starts warm in milliseconds; forkserver rather than fork because the parent may
run threads (servers, progress bars). One pool per process, started on first use and stopped at exit.
"""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessPool

from nemo_math.grading.equivalence import Verdict

SYMBOLIC = "nemo_math.grading.symbolic:symbolic_verdict"
_lock = threading.Lock()
_pool: ProcessPool | None = None
_owner = (0, 0)  # (pid that started the pool, its size)
_size = 0  # workers wanted; 0: every core this process may use


def set_workers(n: int) -> None:
    """Use ``n`` worker processes from now on (0: one per available core)."""
    global _size
    _size = max(0, int(n))


def workers() -> int:
    return _size or len(os.sched_getaffinity(0))


def _get() -> ProcessPool:
    global _pool, _owner
    with _lock:
        want = (os.getpid(), workers())
        if _pool is None or _owner != want or not _pool.active:
            if _pool is not None and _owner[0] == os.getpid():
                _pool.stop()
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([SYMBOLIC.split(":")[0]])
            _pool, _owner = ProcessPool(max_workers=want[1], context=context), want
        return _pool


def shutdown() -> None:
    """Stop the workers (they restart on the next call)."""
    global _pool
    with _lock:
        if _pool is not None and _owner[0] == os.getpid():
            _pool.stop()
            _pool.join()
        _pool = None


atexit.register(shutdown)


def _call(target: str, args: tuple):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)(*args)


def submit(target: str, args: tuple, timeout_s: float | None) -> Future:
    """Start ``module:function`` on ``args`` in a worker, killed ``timeout_s`` after it starts. Named, not
    passed, so that the parent need not import sympy to send work about it."""
    return _get().schedule(_call, (target, args), timeout=timeout_s or None)


def result(future: Future):
    """The result of a :func:`submit`: ``TIMEOUT`` past the deadline, ``ERROR`` if the worker died."""
    try:
        return future.result()
    except FutureTimeout:
        return Verdict.TIMEOUT
    except Exception:  # noqa: BLE001 - a worker that died (memory, a crash in C) is a verdict, not a crash
        return Verdict.ERROR
