"""One sandboxed Python process, seen from the host: start it, run a cell in it, kill it.

Speaks the kernel's protocol (see kernel.py) over the process's stdin/stdout. Everything coming back is
untrusted: every read and write has the cell's deadline (a kernel that stops reading its stdin cannot block us),
replies are size-capped, type-checked and must carry the cell's nonce (a fresh random per cell, so a reply forged
by a cell never answers another cell), and a process that breaks the protocol is killed as crashed. Killing takes
the whole process group (bubblewrap and its pid namespace with everything inside) and the session's cgroup.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
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
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._buf = b""
        self._ready = False
        self._last_nonce = ""  # a late reply carrying it was overtaken by one the cell forged: skipped
        self.frozen = False

    def wait_ready(self, timeout: float) -> None:
        """Block until the kernel has started (imports done); raises SandboxUnavailable if it cannot."""
        if self._ready:
            return
        try:
            frame = self._recv(time.monotonic() + timeout, 1024)
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
        deadline = time.monotonic() + timeout + grace
        nonce = os.urandom(16)
        body = code.encode("utf-8", "surrogatepass")
        if self.frozen:
            self.freeze(False)
        self._send(_REQUEST.pack(len(body), timeout, nonce) + body, deadline)
        reply = self._recv(deadline, self._max_frame)
        if isinstance(reply, dict) and self._last_nonce and reply.get("nonce") == self._last_nonce:
            reply = self._recv(deadline, self._max_frame)
        self._last_nonce = nonce.hex()
        limit = self.max_chars + _MARKER_ROOM
        if not isinstance(reply, dict) or reply.keys() != _REPLY_FIELDS.keys() \
                or any(not isinstance(reply[k], t) for k, t in _REPLY_FIELDS.items()) \
                or reply["status"] not in ("ok", "error", "timeout") or reply["nonce"] != nonce.hex() \
                or any(len(reply[k]) > limit for k in ("stdout", "stderr", "output")):
            self.kill()
            raise ProcessDied("crashed", "the Python process broke the sandbox protocol")
        del reply["nonce"]
        return {k: _valid_text(v) if isinstance(v, str) else v for k, v in reply.items()}

    def kill(self) -> None:
        """SIGKILL the whole process group and the session's cgroup, reap bubblewrap; safe to call twice."""
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
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass

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

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0 or not _ready(self.proc.stdin, select.POLLOUT, left):
                    self.kill()
                    raise ProcessDied("killed", "the process stopped reading its input and was killed")
                try:
                    view = view[os.write(self.proc.stdin.fileno(), view):]
                except BlockingIOError:
                    continue
        except (OSError, ValueError):  # it died, or another thread killed it and closed the pipe
            raise self._died() from None

    def _recv(self, deadline: float, max_frame: int):
        while True:
            if len(self._buf) >= _HEADER.size:
                size = _HEADER.unpack_from(self._buf)[0]
                if size > max_frame:
                    self.kill()
                    raise ProcessDied("crashed", f"the Python process broke the sandbox protocol "
                                                 f"(a {size}-byte message)")
                if len(self._buf) >= _HEADER.size + size:
                    body = self._buf[_HEADER.size:_HEADER.size + size]
                    self._buf = self._buf[_HEADER.size + size:]
                    try:
                        return json.loads(body)
                    except (ValueError, RecursionError):
                        self.kill()
                        raise ProcessDied("crashed", "the Python process broke the sandbox protocol "
                                                     "(a malformed message)") from None
            left = deadline - time.monotonic()
            try:
                ready = left > 0 and _ready(self.proc.stdout, select.POLLIN, left)
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16) if ready else None
            except (OSError, ValueError):  # another thread killed it and closed the pipe (Sandbox.close)
                raise self._died() from None
            if chunk is None:
                self.kill()
                raise ProcessDied("killed", "the cell ran past its time limit and ignored the interrupt")
            if not chunk:
                raise self._died()
            self._buf += chunk

    def _died(self) -> ProcessDied:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        detail = _read_available(self.proc.stderr).decode(errors="replace").strip()[-2000:]
        self.kill()
        return ProcessDied("crashed", f"the Python process died ({_describe(code)})" + (f": {detail}" if detail else ""))


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
