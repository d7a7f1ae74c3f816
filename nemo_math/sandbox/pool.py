"""``Sandbox``: a pool of sandboxed Python sessions, thread-safe, one process per session id.

Each session id gets its own sandboxed process (so trajectories never see each other's variables, files or
processes), created on first use and kept until ``close_session``, until it idles ``idle_timeout_s``, or until
``max_sessions`` forces out the least recently used idle one. At most ``num_workers`` cells run at once; the
rest wait, so a cell's wall-clock limit measures its own run, not a queue. ``spare_sessions`` processes are
started ahead of time, so a new session costs a pipe round trip instead of a process start.

All processes are started by one long-lived maintainer thread: bubblewrap's die-with-parent is tied to the
thread that started it, and the threads calling ``execute`` (``asyncio.to_thread`` workers) come and go.
``execute_async`` runs a warm session's cell on the caller's event loop, sparing the server two thread switches
per cell; both claim and release a session the same way (``_claim``/``_release``). Each
starts in a cgroup of its own (cgroups.py: the session's memory, processes and CPU, frozen between cells) under
the seccomp filter (syscalls.py). The maintainer also freezes sessions idle for ``FREEZE_AFTER_S``.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import queue
import sys
import threading
import time

from nemo_math.progress import log
from nemo_math.sandbox import syscalls
from nemo_math.sandbox.cgroups import Cgroups
from nemo_math.sandbox.config import SandboxConfig
from nemo_math.sandbox.isolation import (SandboxUnavailable, bwrap_command, probe_interpreter, runs_as_root,
                                         tied_to_host)
from nemo_math.sandbox.process import ProcessDied, SandboxProcess, in_thread
from nemo_math.sandbox.result import SandboxResult

_LOST = "all variables and files of this session are lost"
# a session idle this long is frozen: back-to-back cells skip the freezer's round trip (two wake-ups, which
# would double a warm cell's latency), and a thread left running gets at most this much CPU after its cell
FREEZE_AFTER_S = 0.05


@dataclasses.dataclass(eq=False)
class _Session:
    id: str
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    process: SandboxProcess | None = None
    last_used: float = dataclasses.field(default_factory=time.monotonic)
    closed: bool = False


class Sandbox:
    """``with Sandbox(num_workers=2) as sb: sb.execute(code, session_id="traj-1", timeout=10)``."""

    def __init__(self, config: SandboxConfig | None = None, **options):
        cfg = dataclasses.replace(config or SandboxConfig(), **options)
        for name in ("num_workers", "max_sessions", "max_output_chars"):
            if getattr(cfg, name) < 1:
                raise ValueError(f"sandbox.{name}={getattr(cfg, name)}: must be at least 1")
        self.config = cfg
        self._interp = probe_interpreter(cfg.python or sys.executable)
        as_root = runs_as_root(cfg)
        bwrap_command(cfg, self._interp, None)  # fails now, with the fix, if bubblewrap is missing
        capacity = cfg.max_sessions + cfg.spare_sessions + cfg.num_workers + 16
        self._uids = collections.deque(range(cfg.uid_base, cfg.uid_base + capacity)) if as_root else None
        self._cond = threading.Condition()
        self._sessions: collections.OrderedDict[str, _Session] = collections.OrderedDict()
        self._spares: collections.deque[SandboxProcess] = collections.deque()
        self._wanted = 0
        self._closed = False
        self._spawn_error: Exception | None = None
        # worker slots, as tokens in a queue: taken and given back per cell, ten times cheaper than a semaphore's
        # (which is written in Python)
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(cfg.num_workers):
            self._slots.put(None)
        syscalls.filter_program()  # fails now if the filter cannot be built
        self._cgroups = Cgroups(cfg.session_memory_mb << 20, cfg.max_processes + 8, cfg.session_cpus)
        self.budgets = dict(self._cgroups.enforced)  # what bounds each session as a whole, and how
        if self._cgroups.missing:
            log.warning("sandbox: no cgroup for %s here: those are bounded per process only (rlimits), not per "
                        "session, and sessions are not frozen between cells", ", ".join(self._cgroups.missing))
        self._maintainer = threading.Thread(target=self._maintain, name="sandbox-maintainer", daemon=True)
        self._maintainer.start()
        try:  # fail now, with bubblewrap's or Python's own words, if a sandbox cannot start here
            first = self._ready_process()
        except BaseException:
            self.close()
            raise
        with self._cond:
            self._spares.appendleft(first)

    # --- public API ---------------------------------------------------------------------------------------

    def execute(self, code: str, session_id: str = "default", timeout: float | None = None) -> SandboxResult:
        """Run ``code`` in the session's process (variables persist between calls); never raises for bad code."""
        start = time.monotonic()
        timeout = self._timeout(timeout)
        session = self._claim(session_id, blocking=True)
        try:
            result = self._run(session, code, timeout)
        finally:
            self._release(session)
        result.elapsed_s = time.monotonic() - start
        return result

    async def execute_async(self, code: str, session_id: str = "default",
                            timeout: float | None = None) -> SandboxResult:
        """``execute`` for asyncio callers: a warm session's cell runs on the event loop itself (its pipes watched
        by the loop, no thread hop); a session or worker slot that is busy, and a new session's process start,
        wait in a thread as ``execute`` does. A caller cancelled meanwhile leaves the cell to finish, as a
        thread would, so the session stays in step."""
        start = time.monotonic()
        timeout = self._timeout(timeout)
        session = self._claim(session_id, blocking=False)
        if session is None:
            return await in_thread(self.execute, code, session_id, timeout)
        proc = session.process
        if proc is None:  # a process start blocks
            result = await in_thread(self._then_release, session, self._run, session, code, timeout)
        else:
            result = await proc.run_async(code, timeout, self.config.kill_grace_s,
                                          lambda outcome: self._then_release(session, self._result, session, proc,
                                                                             outcome, timeout))
        result.elapsed_s = time.monotonic() - start
        return result

    def close_session(self, session_id: str) -> None:
        """End a session and its process now (unknown ids are fine: the session may never have run)."""
        with self._cond:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            with session.lock:
                self._end(session)

    def sessions(self) -> list[str]:
        with self._cond:
            return list(self._sessions)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            sessions, self._sessions = list(self._sessions.values()), collections.OrderedDict()
            spares, self._spares = list(self._spares), collections.deque()
            self._cond.notify_all()
        for session in sessions:
            self._end(session)
        for proc in spares:
            self._discard(proc)
        if self._maintainer is not threading.current_thread():
            self._maintainer.join()
        with self._cond:  # a process the maintainer was starting meanwhile is discarded by it
            self._cgroups.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sessions -----------------------------------------------------------------------------------------

    def _session(self, session_id: str) -> _Session:
        evicted = []
        with self._cond:
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = _Session(session_id)
            self._sessions.move_to_end(session_id)
            if len(self._sessions) > self.config.max_sessions:  # the copy below only when there is one to evict
                for other in list(self._sessions.values()):
                    if len(self._sessions) <= self.config.max_sessions:
                        break
                    if other is not session and other.lock.acquire(blocking=False):
                        del self._sessions[other.id]
                        evicted.append(other)
        for other in evicted:
            log.debug("sandbox: closing least recently used session %s (max_sessions)", other.id)
            self._end(other)
            other.lock.release()
        return session

    def _timeout(self, timeout: float | None) -> float:
        timeout = self.config.timeout_s if timeout is None else float(timeout)
        if not (timeout > 0 and math.isfinite(timeout)):  # NaN fails the first test
            raise ValueError(f"timeout={timeout}: must be a positive, finite number of seconds")
        return min(timeout, self.config.max_timeout_s)

    def _claim(self, session_id: str, blocking: bool) -> _Session | None:
        """The session with its lock held and a worker slot taken (``_release`` gives both back); without
        ``blocking``, None when either is busy."""
        while True:
            session = self._session(session_id)
            if not session.lock.acquire(blocking):
                return None
            if session.closed:  # closed or reaped while we waited for it: start afresh
                session.lock.release()
                continue
            try:
                self._slots.get(blocking)
            except queue.Empty:
                session.lock.release()
                return None
            return session

    def _release(self, session: _Session) -> None:
        self._slots.put(None)
        session.last_used = time.monotonic()
        session.lock.release()

    def _run(self, session: _Session, code: str, timeout: float) -> SandboxResult:
        if session.process is None:
            session.process = self._ready_process()
        proc = session.process  # close() may clear session.process meanwhile
        try:
            reply = proc.run(code, timeout, self.config.kill_grace_s)
        except ProcessDied as died:
            return self._lost(session, proc, died, timeout)
        return SandboxResult(**reply)

    def _result(self, session: _Session, proc: SandboxProcess, outcome: dict | ProcessDied,
                timeout: float) -> SandboxResult:
        """A cell's result from its reply, or from its process's death (``run_async`` hands that over in a
        thread: discarding the process blocks)."""
        if isinstance(outcome, ProcessDied):
            return self._lost(session, proc, outcome, timeout)
        return SandboxResult(**outcome)

    def _then_release(self, session: _Session, fn, *args):
        try:
            return fn(*args)
        finally:
            self._release(session)

    def _lost(self, session: _Session, proc: SandboxProcess, died: ProcessDied, timeout: float) -> SandboxResult:
        """The result of a cell whose process died (and is discarded now): the session restarts empty."""
        self._discard(proc)
        session.process = None
        if died.status == "killed":
            message = (f"TimeoutError: the cell did not finish within {timeout:g} s and ignored the "
                       f"interrupt, so its Python process was killed and restarted: {_LOST}")
        else:
            message = f"{died}; it was restarted: {_LOST}"
        return SandboxResult(status=died.status, stderr=message, output=message, restarted=True)

    def _end(self, session: _Session) -> None:
        """Mark a session closed and kill its process; the caller holds ``session.lock``."""
        session.closed = True
        if session.process is not None:
            self._discard(session.process)
            session.process = None

    # --- processes ----------------------------------------------------------------------------------------

    def _ready_process(self) -> SandboxProcess:
        """A started process; a spare that died while waiting (rare) is replaced once."""
        for attempt in range(2):
            proc = self._take_process()
            try:
                proc.wait_ready(self.config.startup_timeout_s)
                return proc
            except SandboxUnavailable:
                self._discard(proc)
                if attempt:
                    raise
            except BaseException:
                self._discard(proc)
                raise
        raise AssertionError("unreachable")

    def _take_process(self) -> SandboxProcess:
        with self._cond:
            self._wanted += 1
            self._cond.notify_all()
            try:
                while not self._spares:
                    if self._spawn_error is not None:
                        raise SandboxUnavailable(f"cannot start a sandbox process: {self._spawn_error}")
                    if self._closed:
                        raise RuntimeError("the sandbox is closed")
                    self._cond.wait()
                return self._spares.popleft()
            finally:
                self._wanted -= 1

    def _discard(self, proc: SandboxProcess) -> None:
        """Kill a process and give its uid back (once, however many threads discard it)."""
        proc.kill()
        with self._cond:
            uid, proc.uid = proc.uid, None
            if uid is not None:
                self._uids.append(uid)  # reused last: its previous processes are long gone by then

    def _spawn(self) -> SandboxProcess:
        uid = None
        if self._uids is not None:
            with self._cond:
                if not self._uids:
                    raise SandboxUnavailable("no free sandbox uid left (raise sandbox.max_sessions)")
                uid = self._uids.popleft()
        cgroup = None
        seccomp_fd = syscalls.program_fd()
        try:
            cgroup = self._cgroups.session()
            cmd = tied_to_host(bwrap_command(self.config, self._interp, uid, seccomp_fd),
                               cgroup.join_script() if cgroup is not None else "")
            return SandboxProcess(cmd, uid, self.config.max_output_chars, cgroup, (seccomp_fd,))
        except BaseException:
            if cgroup is not None:
                cgroup.kill()
                cgroup.remove()
            if uid is not None:
                with self._cond:
                    self._uids.append(uid)
            raise
        finally:
            os.close(seccomp_fd)

    def _maintain(self) -> None:
        """Keep spares started, start processes asked for, freeze idle sessions, close long idle ones."""
        next_reap = next_freeze = time.monotonic()
        while True:
            with self._cond:
                while (not self._closed and len(self._spares) >= self.config.spare_sessions + self._wanted
                       and time.monotonic() < min(next_reap, next_freeze)):
                    self._cond.wait(timeout=max(min(next_reap, next_freeze) - time.monotonic(), 0.01))
                if self._closed:
                    return
                missing = len(self._spares) < self.config.spare_sessions + self._wanted
            if missing:
                try:
                    proc = self._spawn()
                except Exception as err:  # noqa: BLE001 -- reported to every waiting caller
                    with self._cond:
                        self._spawn_error = err
                        self._cond.notify_all()
                    return
                with self._cond:
                    if self._closed:
                        self._discard(proc)
                        return
                    self._spares.append(proc)
                    self._cond.notify_all()
            if time.monotonic() >= next_freeze:
                self._freeze_idle()
                next_freeze = time.monotonic() + (FREEZE_AFTER_S if "freeze" in self.budgets else float("inf"))
            if time.monotonic() >= next_reap:
                self._reap_idle()
                next_reap = time.monotonic() + min(1.0, self.config.idle_timeout_s / 4)

    def _freeze_idle(self) -> None:
        cutoff = time.monotonic() - FREEZE_AFTER_S
        with self._cond:
            sessions = [s for s in self._sessions.values() if s.process is not None and not s.process.frozen
                        and s.last_used < cutoff]
        for session in sessions:
            if session.lock.acquire(blocking=False):  # busy: a cell runs, it is frozen after it
                try:
                    if session.process is not None and session.last_used < cutoff:
                        session.process.freeze(True)
                finally:
                    session.lock.release()

    def _reap_idle(self) -> None:
        idle = []
        cutoff = time.monotonic() - self.config.idle_timeout_s
        with self._cond:
            for session in list(self._sessions.values()):
                if session.last_used < cutoff and session.lock.acquire(blocking=False):
                    del self._sessions[session.id]
                    idle.append(session)
        for session in idle:
            log.debug("sandbox: closing session %s, idle for %.0f s", session.id, self.config.idle_timeout_s)
            self._end(session)
            session.lock.release()
