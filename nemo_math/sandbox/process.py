"""One sandboxed Python process, seen from the host: start it, run a cell in it, kill it.

Speaks the kernel's protocol (see kernel.py) over the process's stdin/stdout. Everything coming back is
untrusted: every read and write has the cell's deadline (a kernel that stops reading its stdin cannot block us),
replies are size-capped, type-checked and must carry the cell's nonce (a fresh random per cell, so a reply forged
by a cell never answers another cell), and a process that breaks the protocol is killed as crashed. Killing takes
the whole process group (bubblewrap and its pid namespace with everything inside) and the session's cgroup.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import struct
import subprocess
import threading
import time

from nemo_math.sandbox.isolation import HOST_ENV, SandboxUnavailable

_HEADER = struct.Struct(">I")  # a reply: its length, then JSON
_REQUEST = struct.Struct(">Id16s")  # a cell: the length of its UTF-8 code, the timeout in seconds, the nonce
_REPLY_FIELDS = {"status": str, "stdout": str, "stderr": str, "output": str, "truncated": bool, "nonce": str}
_MARKER_ROOM = 64  # the "[... N characters cut ...]" marker that truncated text may carry beyond the limit


class ProcessDied(Exception):
    """The process is gone (killed after ignoring a timeout, or died on its own); its state is lost."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class SandboxProcess:
    def __init__(self, cmd: list[str], uid: int | None = None, max_chars: int = 1000, cgroup=None,
                 pass_fds: tuple[int, ...] = ()):
        self.uid = uid  # the host uid it runs as (root mode), returned to the pool when it is killed
        self.cgroup = cgroup  # its SessionCgroup (cgroups.py), or None where the host has none for us
        self.max_chars = max_chars
        # a reply holds three texts of at most max_chars (+ marker), each char at most 12 bytes of JSON escapes
        self._max_frame = 36 * (max_chars + _MARKER_ROOM) + 1024
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, env=HOST_ENV, close_fds=True, pass_fds=pass_fds)
        os.set_blocking(self.proc.stdin.fileno(), False)  # both ends of the protocol wait with a deadline
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._buf = b""
        self._ready = False
        self._last_nonce = ""  # a late reply carrying it was overtaken by one the cell forged: skipped
        self.frozen = False
        self._watch = threading.Lock()  # kill (any thread) against an event loop watching a pipe
        self._watchers: set[tuple[asyncio.AbstractEventLoop, int]] = set()  # (loop, event) watching a pipe
        self._fds = {select.POLLIN: self.proc.stdout.fileno(), select.POLLOUT: self.proc.stdin.fileno()}
        self._waiter = None  # (future, event, deadline) of the wait in progress on a loop
        self._alarm = None  # [loop, deadline, timer handle]: the loop's timer ending that wait
        self._dead = False

    def wait_ready(self, timeout: float) -> None:
        """Block until the kernel has started (imports done); raises SandboxUnavailable if it cannot."""
        if self._ready:
            return
        try:
            frame = self._drive(self._frame(time.monotonic() + timeout, 1024))
        except ProcessDied as died:
            raise SandboxUnavailable(f"the sandboxed Python did not start: {died}") from None
        if frame != {"ready": True}:
            self.kill()
            raise SandboxUnavailable(f"the sandboxed Python did not start: unexpected first message {frame!r}")
        self._ready = True

    def run(self, code: str, timeout: float, grace: float) -> dict:
        """Run one cell; returns the kernel's reply, or raises ProcessDied (the process is then gone).

        ``timeout + grace`` bounds the whole call, the write of the cell included, whatever the cell did to its
        own process: past it the process is killed."""
        return self._drive(self._cell(code, timeout, grace))

    async def run_async(self, code: str, timeout: float, grace: float, then):
        """``run`` on the running event loop, returning ``then(outcome)``, the outcome being the reply or a
        ProcessDied; ``then`` runs exactly once, whatever happens to the caller. The pipes are watched by the loop
        (no thread hop, no task of its own: the caller's task wakes once per reply) and the deadline is the
        loop's timer. What blocks goes to a thread, which then runs ``then``: killing a broken process (it waits
        for the exit), and the rest of a cell whose caller was cancelled (its loop ending too), read to its end
        as ``run`` would, so the process stays in step with its session."""
        loop = asyncio.get_running_loop()
        protocol = self._cell(code, timeout, grace)
        wait = None
        try:
            wait = next(protocol)
            while True:
                wait = protocol.send(await self._wait_async(loop, *wait))
        except StopIteration as done:
            return then(done.value)
        except _Broken as broken:
            return await in_thread(self._finish, protocol, broken, then)
        except asyncio.CancelledError:
            threading.Thread(target=self._finish, args=(protocol, wait, then), name="sandbox-call",
                             daemon=True).start()
            raise

    def kill(self) -> None:
        """SIGKILL the whole process group and the session's cgroup, reap bubblewrap; safe to call twice. The pipes
        are closed here, or by the event loop watching one (closing a watched fd would confuse its selector)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            cgroup.kill()
        self.proc.wait()
        if cgroup is not None:
            cgroup.remove()
        with self._watch:
            self._dead = True
            if not self._watched():
                self._close_pipes()

    def freeze(self, frozen: bool) -> None:
        """Frozen between cells (the pool freezes an idle session, run thaws it): nothing the last cell left
        running (a thread, a kernel it rewired to spin) gets CPU until the next cell."""
        cgroup = self.cgroup
        if cgroup is not None:
            try:
                cgroup.freeze(frozen)
                self.frozen = frozen
            except OSError:  # killed meanwhile by another thread (Sandbox.close)
                pass

    # --- the protocol, as generators that yield (pipe, event, deadline) and are sent whether it came in time
    # (on a loop, a reply pipe's chunk read by the loop's callback instead of True); a pipe closed meanwhile counts
    # as ready: the next read or write fails and says so

    def _cell(self, code: str, timeout: float, grace: float):
        deadline = time.monotonic() + timeout + grace
        nonce = os.urandom(16)
        body = code.encode("utf-8", "surrogatepass")
        if self.frozen:
            self.freeze(False)
        view = memoryview(_REQUEST.pack(len(body), timeout, nonce) + body)
        while view:
            try:
                view = view[os.write(self.proc.stdin.fileno(), view):]
                continue
            except BlockingIOError:
                pass
            except (OSError, ValueError):  # it died, or another thread killed it and closed the pipe
                raise _Broken("died") from None
            if not (yield self.proc.stdin, select.POLLOUT, deadline):
                raise _Broken("killed", "the process stopped reading its input and was killed")
        reply = yield from self._frame(deadline, self._max_frame)
        if isinstance(reply, dict) and self._last_nonce and reply.get("nonce") == self._last_nonce:
            reply = yield from self._frame(deadline, self._max_frame)
        self._last_nonce = expected = nonce.hex()
        limit = self.max_chars + _MARKER_ROOM
        if not isinstance(reply, dict) or reply.keys() != _REPLY_FIELDS.keys() \
                or any(not isinstance(reply[k], t) for k, t in _REPLY_FIELDS.items()) \
                or reply["status"] not in ("ok", "error", "timeout") or reply["nonce"] != expected \
                or any(len(reply[k]) > limit for k in ("stdout", "stderr", "output")):
            raise _Broken("crashed", "the Python process broke the sandbox protocol")
        del reply["nonce"]
        return {k: _valid_text(v) if isinstance(v, str) else v for k, v in reply.items()}

    def _frame(self, deadline: float, max_frame: int):
        while True:
            if len(self._buf) >= _HEADER.size:
                size = _HEADER.unpack_from(self._buf)[0]
                if size > max_frame:
                    raise _Broken("crashed", f"the Python process broke the sandbox protocol (a {size}-byte message)")
                if len(self._buf) >= _HEADER.size + size:
                    body = self._buf[_HEADER.size:_HEADER.size + size]
                    self._buf = self._buf[_HEADER.size + size:]
                    try:
                        return json.loads(body)
                    except (ValueError, RecursionError):
                        raise _Broken("crashed", "the Python process broke the sandbox protocol "
                                                 "(a malformed message)") from None
            ready = yield self.proc.stdout, select.POLLIN, deadline  # a reply is never there at once: wait first
            if ready is False:
                raise _Broken("killed", "the cell ran past its time limit and ignored the interrupt")
            if isinstance(ready, bytes):  # read already, by the loop's callback
                chunk = ready
            else:
                try:
                    chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                except BlockingIOError:
                    continue
                except (OSError, ValueError):  # another thread killed it and closed the pipe (Sandbox.close)
                    raise _Broken("died") from None
            if not chunk:
                raise _Broken("died")
            self._buf += chunk

    def _drive(self, protocol, wait=None):
        """Run a protocol generator here, waiting with poll; ``wait``: its pending one, if it was started."""
        try:
            wait = next(protocol) if wait is None else wait
            while True:
                pipe, event, deadline = wait
                try:
                    ready = _ready(pipe, event, deadline - time.monotonic())
                except ValueError:  # closed by another thread (Sandbox.close)
                    ready = True
                wait = protocol.send(ready)
        except StopIteration as done:
            return done.value
        except _Broken as broken:
            raise self._died(broken) from None

    def _finish(self, protocol, pending, then):
        """The rest of ``run_async``'s cell, blocking: ``pending`` is the protocol's wait or the _Broken it raised."""
        try:
            outcome = self._died(pending) if isinstance(pending, _Broken) else self._drive(protocol, pending)
        except ProcessDied as died:
            outcome = died
        return then(outcome)

    async def _wait_async(self, loop: asyncio.AbstractEventLoop, pipe, event: int, deadline: float) -> bool | bytes:
        """Whether ``pipe`` became ready for ``event`` before ``deadline``, watched by the loop; for the reply pipe,
        what the loop's callback read from it (so the loop reports no stale readiness after the wake-up).

        Registering the reply pipe with the loop and a timer per cell cost as much of the loop's time as the cell
        itself, so the reply pipe stays watched from one cell to the next (a wake-up with no wait in progress, from
        a reply that a thread reads or a cell's stray write, unwatches it), and one timer per process serves every
        deadline: it stays set while deadlines move later and, when it fires early, sets itself again."""
        if deadline - time.monotonic() <= 0:
            return False
        ready = loop.create_future()
        with self._watch:
            if self._dead:  # killed (its pipes closed) by another thread: the read or write now fails
                return True
            if (loop, event) not in self._watchers:  # open: only kill closes the pipes, under this lock
                self._watchers = {w for w in self._watchers if not w[0].is_closed()}
                (loop.add_reader if event == select.POLLIN else loop.add_writer)(self._fds[event], self._wake, loop,
                                                                                 event)
                self._watchers.add((loop, event))
        self._waiter = (ready, event, deadline)
        alarm = self._alarm
        if alarm is None or alarm[0] is not loop or alarm[1] > deadline:
            self._set_alarm(loop, deadline)
        try:
            return await ready
        finally:
            self._waiter = None
            if event != select.POLLIN:
                self._unwatch(loop, event)
            if self._dead:  # killed by another thread: the pipes are closed once no loop watches them
                self._unwatch(loop, select.POLLIN)

    def _wake(self, loop: asyncio.AbstractEventLoop, event: int) -> None:
        waiter = self._waiter
        if waiter is None or waiter[1] != event or waiter[0].get_loop() is not loop:
            self._unwatch(loop, event)
            return
        if waiter[0].done():
            return
        outcome = True
        if event == select.POLLIN:
            try:
                outcome = os.read(self._fds[event], 1 << 16)
            except BlockingIOError:
                return
            except OSError:  # the protocol's own read fails and says so
                pass
        waiter[0].set_result(outcome)

    def _set_alarm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._alarm is not None and self._alarm[0] is loop:
            self._alarm[2].cancel()
        alarm = [loop, deadline, None]
        alarm[2] = loop.call_later(max(deadline - time.monotonic(), 0.0), self._ring, alarm)
        self._alarm = alarm

    def _ring(self, alarm: list) -> None:
        """The alarm fired: past its deadline the wait ends unready, before it (deadlines moved) it is set again."""
        if self._alarm is not alarm:  # replaced by an alarm of another loop
            return
        self._alarm = None
        loop, waiter = alarm[0], self._waiter
        if waiter is None or waiter[0].get_loop() is not loop:
            return
        if time.monotonic() < waiter[2]:
            self._set_alarm(loop, waiter[2])
        elif not waiter[0].done():
            waiter[0].set_result(False)

    def _unwatch(self, loop: asyncio.AbstractEventLoop, event: int) -> None:
        with self._watch:
            if (loop, event) in self._watchers:
                self._watchers.discard((loop, event))
                (loop.remove_reader if event == select.POLLIN else loop.remove_writer)(self._fds[event])
            if self._dead and not self._watched():
                self._close_pipes()

    def _watched(self) -> bool:
        """Whether a running loop watches a pipe (closing it would confuse that loop's selector); a closed loop's
        registration went with its selector."""
        return any(not loop.is_closed() for loop, _ in self._watchers)

    def _died(self, broken: _Broken) -> ProcessDied:
        """Kill the process and say why; for "died", with its exit status and last words (blocks a little)."""
        if broken.status != "died":
            self.kill()
            return ProcessDied(broken.status, broken.message)
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        detail = _read_available(self.proc.stderr).decode(errors="replace").strip()[-2000:]
        self.kill()
        return ProcessDied("crashed", f"the Python process died ({_describe(code)})" + (f": {detail}" if detail else ""))

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


class _Broken(Exception):
    """Raised by the protocol: the process must go (status "killed", "crashed", or "died" on its own)."""

    def __init__(self, status: str, message: str = ""):
        super().__init__(message)
        self.status, self.message = status, message


async def in_thread(fn, *args):
    """``fn(*args)`` in a thread of its own, awaited: not ``asyncio.to_thread``, whose few executor threads may
    all be waiting for the very session or worker slot that the caller holds (a deadlock)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome, failed: bool) -> None:
        if not future.done():
            future.set_exception(outcome) if failed else future.set_result(outcome)

    def work() -> None:
        try:
            outcome, failed = fn(*args), False
        except BaseException as err:  # noqa: BLE001 -- handed to the awaiting caller
            outcome, failed = err, True
        try:
            loop.call_soon_threadsafe(settle, outcome, failed)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=work, name="sandbox-call", daemon=True).start()
    return await future


def _ready(pipe, event: int, timeout_s: float) -> bool:
    """Whether ``pipe`` is ready for ``event`` within ``timeout_s``: poll, not select, which refuses fds past 1023
    (a long-lived host process, e.g. a test session or a server, can hold that many)."""
    poller = select.poll()
    poller.register(pipe, event)
    return bool(poller.poll(max(timeout_s, 0.0) * 1000))


def _valid_text(text: str) -> str:
    """Lone surrogates (``print('\\ud800')``) become U+FFFD: records downstream must encode as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _read_available(pipe) -> bytes:
    """What a dead process left in a pipe, without waiting for writers that may still hold it."""
    if pipe.closed:
        return b""
    os.set_blocking(pipe.fileno(), False)
    try:
        return pipe.read() or b""
    except OSError:
        return b""


def _describe(code: int | None) -> str:
    """bubblewrap exits 128+N when the sandboxed process died of signal N."""
    if code is None:
        return "no exit status"
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"
    return f"exit status {code}"
