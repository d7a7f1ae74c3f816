"""One sandboxed Python process, seen from the host: start it, run a cell in it, kill it.

Speaks the kernel's protocol (see kernel.py) over the process's stdin/stdout. Everything coming back is
untrusted: frames are size-capped and type-checked, and a process that breaks the protocol is killed as crashed.
Killing takes the whole process group (bubblewrap and its pid namespace with everything inside).
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
_REQUEST = struct.Struct(">Id")  # a cell: the length of its UTF-8 code, then the timeout in seconds
_MAX_FRAME = 4 << 20
_REPLY_FIELDS = {"status": str, "stdout": str, "stderr": str, "output": str, "truncated": bool}


class ProcessDied(Exception):
    """The process is gone (killed after ignoring a timeout, or died on its own); its state is lost."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class SandboxProcess:
    def __init__(self, cmd: list[str], uid: int | None = None):
        self.uid = uid  # the host uid it runs as (root mode), returned to the pool when it is killed
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, env=HOST_ENV, close_fds=True)
        self._buf = b""
        self._ready = False

    def wait_ready(self, timeout: float) -> None:
        """Block until the kernel has started (imports done); raises SandboxUnavailable if it cannot."""
        if self._ready:
            return
        try:
            frame = self._recv(time.monotonic() + timeout)
        except ProcessDied as died:
            raise SandboxUnavailable(f"the sandboxed Python did not start: {died}") from None
        if frame != {"ready": True}:
            self.kill()
            raise SandboxUnavailable(f"the sandboxed Python did not start: unexpected first message {frame!r}")
        self._ready = True

    def run(self, code: str, timeout: float, grace: float) -> dict:
        """Run one cell; returns the kernel's reply, or raises ProcessDied (the process is then gone)."""
        body = code.encode("utf-8", "surrogatepass")
        try:
            self.proc.stdin.write(_REQUEST.pack(len(body), timeout) + body)
            self.proc.stdin.flush()
        except OSError:
            raise self._died() from None
        reply = self._recv(time.monotonic() + timeout + grace)
        if not isinstance(reply, dict) or reply.keys() != _REPLY_FIELDS.keys() \
                or any(not isinstance(reply[k], t) for k, t in _REPLY_FIELDS.items()) \
                or reply["status"] not in ("ok", "error", "timeout"):
            self.kill()
            raise ProcessDied("crashed", "the Python process broke the sandbox protocol")
        return {k: _valid_text(v) if isinstance(v, str) else v for k, v in reply.items()}

    def kill(self) -> None:
        """SIGKILL the whole process group and reap bubblewrap; safe to call twice."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass

    def _recv(self, deadline: float):
        while True:
            if len(self._buf) >= _HEADER.size:
                size = _HEADER.unpack_from(self._buf)[0]
                if size > _MAX_FRAME:
                    self.kill()
                    raise ProcessDied("crashed", f"the Python process sent a {size}-byte message")
                if len(self._buf) >= _HEADER.size + size:
                    body = self._buf[_HEADER.size:_HEADER.size + size]
                    self._buf = self._buf[_HEADER.size + size:]
                    try:
                        return json.loads(body)
                    except ValueError:
                        self.kill()
                        raise ProcessDied("crashed", "the Python process sent a malformed message") from None
            left = deadline - time.monotonic()
            try:
                ready = left > 0 and select.select([self.proc.stdout], [], [], left)[0]
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
