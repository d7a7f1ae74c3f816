"""The worker processes that grade batches in parallel, each sympy call under its own deadline, from any thread.

Why processes: a time limit by ``signal.alarm`` works only in the main thread, and no signal interrupts C-level
work (big-integer arithmetic, a polynomial expansion), so a pathological answer could hang the grader. Killing
a process always works.

Why our own pool, not ``concurrent.futures`` or ``pebble``: a worker here grades a *chunk* of raw items (up to
``_CHUNK`` ``(prediction, reference)`` pairs, or solution texts and references: extraction, normalisation, the
fast path and sympy, :func:`~nemo_math.grading.equivalence.grade_chunk`), so one round-trip carries hundreds of
answers and the grading process does no per-answer work, yet the deadline must hold for each sympy call alone,
not for the chunk (a chunk of 256 answers legitimately takes seconds). Neither library can time one step inside
a call. So a worker tells the pool, with the outcomes so far, when a sympy call starts; the pool's dispatcher
thread kills a worker whose call runs past its deadline, gives that item ``TIMEOUT``, starts a replacement and
sends the rest of the chunk again. A worker that dies (memory, a crash in C) costs the item it was on an
``ERROR`` verdict the same way (outside a sympy call, the first item it had not reported). Callers only queue
chunks and wait on futures, so any thread may grade.

Workers are forked from a ``forkserver`` that has imported sympy and math_verify once, so a worker (and the
replacement of a killed one) starts warm in milliseconds; forkserver rather than fork because the parent may
run threads (servers, progress bars). One pool per process, started on first use and stopped at exit. If the
grading process is killed, no orphan keeps computing: a thread of each worker waits on a pidfd of the grading
process and kills the worker when it ends (``PR_SET_PDEATHSIG`` would not do: a worker's parent is the
forkserver, which lives as long as any worker holds its liveness pipe, so as long as the workers).
"""

from __future__ import annotations

import atexit
import logging
import math
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing.connection import wait

from nemo_math.grading.equivalence import STATS, Verdict
from nemo_math.grading.extract import extract_answer

_PRELOAD = "nemo_math.grading.symbolic"  # imports sympy, math_verify and the rest of the grader
_CHUNK = 256  # most items per task: a round-trip costs about as much as grading one item on the fast path
_CHUNKS_PER_WORKER = 8  # a smaller batch is cut finer, so that every worker gets work and none finishes last
_lock = threading.Lock()
_pool: _Pool | None = None
_size = 0  # workers wanted; 0: every core this process may use
log = logging.getLogger(__name__)

Items = Sequence[tuple[str | None, str | None]]


def set_workers(n: int) -> None:
    """Use ``n`` worker processes from now on (0: one per available core)."""
    global _size
    _size = max(0, int(n))


def workers() -> int:
    return _size or len(os.sched_getaffinity(0))


def grade(items: Items, timeout_s: float | None, relaxed: bool | None = None) -> list:
    """:func:`~nemo_math.grading.equivalence.grade_chunk` of every item, in order, by the workers in chunks; each
    sympy call is cut ``timeout_s`` after it starts (``None`` or 0: no deadline)."""
    if not items:
        return []
    pool = _get()
    size = min(_CHUNK, math.ceil(len(items) / (_CHUNKS_PER_WORKER * pool.size)))
    futures = [pool.submit(list(items[i:i + size]), timeout_s, relaxed) for i in range(0, len(items), size)]
    return [outcome for future in futures for outcome in future.result()]


def shutdown() -> None:
    """Stop the workers (they restart on the next call)."""
    global _pool
    with _lock:
        if _pool is not None and _pool.pid == os.getpid():
            _pool.stop()
        _pool = None


atexit.register(shutdown)


def worker_pids() -> list[int]:
    """The worker processes' ids (for tests and monitoring)."""
    with _lock:
        return [] if _pool is None else [w.process.pid for w in _pool.workers]


def _get() -> _Pool:
    global _pool
    with _lock:
        if _pool is None or _pool.pid != os.getpid() or _pool.size != workers() or not _pool.alive:
            if _pool is not None and _pool.pid == os.getpid():
                _pool.stop()
            _pool = _Pool(workers())
        return _pool


class _Task:
    """A chunk of items and the outcomes received so far (always a prefix: workers grade in order)."""

    def __init__(self, items: list, timeout_s: float | None, relaxed: bool | None):
        self.items, self.timeout_s, self.relaxed = items, timeout_s or None, relaxed
        self.outcomes: list = []
        self.future: Future = Future()

    def lose(self, verdict: Verdict) -> None:
        """``verdict`` for the item no worker could finish (its answer extracted here, if it is a solution)."""
        text = self.items[len(self.outcomes)][0]
        self.outcomes.append(verdict if self.relaxed is None else (extract_answer(text, self.relaxed), verdict))

    def finish_if_done(self) -> bool:
        if len(self.outcomes) < len(self.items):
            return False
        self.future.set_result(self.outcomes)
        return True


class _Worker:
    def __init__(self, context):
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, os.getpid()), name="nemo-math-grader", daemon=True)
        self.process.start()
        theirs.close()  # so that the worker's death reads as end-of-file here
        self.task: _Task | None = None
        self.deadline: float | None = None  # time.monotonic() by which its running sympy call must end

    def stop(self, kill: bool) -> None:
        if kill:
            self.process.kill()
        self.conn.close()  # an idle worker exits on end-of-file
        self.process.join()


class _Pool:
    """The workers and the dispatcher thread that alone talks to them."""

    def __init__(self, size: int):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([_PRELOAD])
        self.pid, self.size, self.alive = os.getpid(), size, True
        self._context = context
        self._pending: deque[_Task] = deque()
        self._stopping = False
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self.workers = [_Worker(context) for _ in range(size)]
        self._thread = threading.Thread(target=self._run, name="grading-pool", daemon=True)
        self._thread.start()

    def submit(self, items: list, timeout_s: float | None, relaxed: bool | None) -> Future:
        task = _Task(items, timeout_s, relaxed)
        with self._lock:
            if not self.alive:
                while not task.finish_if_done():
                    task.lose(Verdict.ERROR)
                return task.future
            self._pending.append(task)
        self._wake()
        return task.future

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:  # the pipe is full: a wake-up is pending anyway
            pass

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._dispatch()
                busy = [w for w in self.workers if w.task is not None]
                deadlines = [w.deadline for w in busy if w.deadline is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait([self._wake_r, *(w.conn for w in busy)], timeout)
                if self._wake_r in ready:
                    os.read(self._wake_r, 1 << 16)
                for worker in busy:
                    while worker.task is not None and worker.conn in ready and worker.conn.poll():
                        self._receive(worker)
                now = time.monotonic()
                for worker in busy:  # a message not read yet means the call has ended
                    if worker.deadline is not None and now >= worker.deadline and not worker.conn.poll():
                        self._lose(worker, Verdict.TIMEOUT)
        except BaseException:  # noqa: BLE001 - a bug here must not leave callers waiting forever
            log.exception("grading pool failed; its pending items get an error verdict")
        finally:
            self._close()

    def _dispatch(self) -> None:
        for i, worker in enumerate(self.workers):
            with self._lock:
                if not self._pending:
                    return
                if worker.task is not None:
                    continue
                task = self._pending.popleft()
            try:
                worker.conn.send((task.items[len(task.outcomes):], task.relaxed))
                worker.task = task
            except OSError:  # it died idle: replace it and send again
                with self._lock:
                    self._pending.appendleft(task)
                worker.stop(kill=True)
                self.workers[i] = _Worker(self._context)

    def _receive(self, worker: _Worker) -> None:
        """One message: ``("sympy", outcomes, stats)`` as a sympy call starts, ``("done", ...)`` at the end."""
        try:
            kind, outcomes, stats = worker.conn.recv()
        except (EOFError, OSError):
            self._lose(worker, Verdict.ERROR)
            return
        STATS.update(stats)
        task = worker.task
        task.outcomes += outcomes
        if kind == "sympy":
            worker.deadline = time.monotonic() + task.timeout_s if task.timeout_s else None
        else:
            worker.task = worker.deadline = None
            task.finish_if_done()

    def _lose(self, worker: _Worker, verdict: Verdict) -> None:
        """Kill ``worker``, give the pair it was on ``verdict``, start a replacement, requeue the rest."""
        task, worker.task, worker.deadline = worker.task, None, None
        worker.stop(kill=True)
        self.workers[self.workers.index(worker)] = _Worker(self._context)
        task.lose(verdict)
        if not task.finish_if_done():
            with self._lock:
                self._pending.appendleft(task)

    def _close(self) -> None:
        with self._lock:
            self.alive = False
            tasks = [*self._pending, *(w.task for w in self.workers if w.task is not None)]
            self._pending.clear()
        for worker in self.workers:
            worker.stop(kill=worker.task is not None)
        for task in tasks:
            while not task.finish_if_done():
                task.lose(Verdict.ERROR)


def _serve(conn, grader_pid: int) -> None:
    """A worker's loop: grade each chunk received, reporting before every sympy call (the deadline starts)."""
    _die_with(grader_pid)
    from nemo_math.grading.equivalence import STATS as stats
    from nemo_math.grading.equivalence import grade_chunk

    while True:
        try:
            items, relaxed = conn.recv()
        except EOFError:  # the grading process stopped the pool or died
            return
        sent = 0

        def report(kind: str, outcomes: list) -> None:
            nonlocal sent
            conn.send((kind, outcomes[sent:], dict(stats)))
            sent = len(outcomes)
            stats.clear()

        report("done", grade_chunk(items, relaxed, lambda outcomes: report("sympy", outcomes)))


def _die_with(pid: int) -> None:
    """Kill this process when process ``pid`` ends, whatever its main thread is computing."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        poller = select.poll()  # poll, not select: select refuses fds past 1023
        poller.register(pidfd, select.POLLIN)
        poller.poll()  # readable once the process has exited
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="exit-with-grader", daemon=True).start()
