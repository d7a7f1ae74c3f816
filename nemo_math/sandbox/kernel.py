"""The Python process inside the sandbox: a notebook-like exec loop over a pipe.

This file is bound alone into the sandbox and run with ``python -S``. It reads requests (code, timeout, a nonce)
on its stdin and answers with length-prefixed JSON on its stdout, the nonce echoed (process.py checks it); fds 0-2 then point at /dev/null (output written below
Python, by C code or subprocesses, is dropped), and a cell's ``print``/tracebacks go to in-memory buffers that
keep only the head and the tail, so a cell printing a gigabyte costs kilobytes. Own code rather than ipykernel: a cell is an ``exec`` plus a pipe round trip (~0.2 ms)
instead of ZeroMQ messages (~6-16 ms), and there is nothing to configure inside. At start it imports only
builtin C modules (``_ast``, ``_json``, ``_signal``, ``_struct``: ``ast``, ``json`` and ``signal`` would pull in
``re`` and ``enum``), so a process is ready soon after the interpreter is; ``traceback`` loads on the first error.

The per-cell timeout is a ``SIGALRM`` raising :class:`CellTimeout` (a ``BaseException``, so ``except Exception``
in the cell does not swallow it): an interrupted cell keeps the variables it had. A cell that ignores the alarm
is killed from outside by the host. The kernel is pid 1 of its own pid namespace (signals it has no handler for,
``SIGKILL`` included, do not reach it from inside); after each cell every other process in that namespace is
killed, so a cell cannot leave a fork bomb or a background job behind.
"""

import _ast
import _json
import _signal
import _struct
import builtins
import io
import marshal
import os
import resource
import sys

_REPLY_HEADER = _struct.Struct(">I")  # length of the JSON reply that follows
_REQUEST_HEADER = _struct.Struct(">Id16s")  # length of the UTF-8 code that follows, timeout in seconds, nonce
_MAIN_PID = os.getpid()
_SOURCES: dict[str, str] = {}  # cell file name -> code, for tracebacks
_armed = False


class CellTimeout(BaseException):
    """Raised in the cell when its time is up."""


def _on_alarm(signum, frame):
    if _armed:
        if os.getpid() == _MAIN_PID:  # a fork bomb stops now, not after the unwinding (its CPU share is small)
            try:
                os.kill(-1, _signal.SIGKILL)
            except OSError:
                pass
        raise CellTimeout


class _Capped:
    """Keeps the first and last ``limit`` characters written and counts the rest."""

    def __init__(self, limit: int):
        self.limit, self.head, self.tail, self.total = limit, "", "", 0

    def add(self, text: str) -> None:
        self.total += len(text)
        if len(self.head) < self.limit:
            room = self.limit - len(self.head)
            self.head, text = self.head + text[:room], text[room:]
        if text:
            self.tail = (self.tail + text[-self.limit:])[-self.limit:]

    def text(self) -> str:
        """Everything if it fitted, else the first and last halves around a marker saying how much was cut."""
        if self.total <= self.limit:
            return self.head + self.tail
        head = self.head[:self.limit // 2]
        tail = (self.head + self.tail)[-(self.limit - len(head)):]  # head + tail: the text itself up to 2 * limit
        return f"{head}\n[... {self.total - len(head) - len(tail)} characters cut ...]\n{tail}"


class _Stream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` during a cell: writes go to the stream's buffer and the combined one."""

    def __init__(self, own: _Capped, both: _Capped, name: str):
        self.own, self.both, self.name = own, both, name

    encoding, errors = "utf-8", "strict"  # what libraries (sympy's pretty printer) look at to pick glyphs

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.own.add(text)
        self.both.add(text)
        return len(text)

    def isatty(self) -> bool:
        return False


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv(fd: int) -> tuple[str, float, str] | None:
    header = _read_exact(fd, _REQUEST_HEADER.size)
    if header is None:
        return None
    size, timeout, nonce = _REQUEST_HEADER.unpack(header)
    body = _read_exact(fd, size)
    return None if body is None else (body.decode("utf-8", "surrogatepass"), timeout, nonce.hex())


def _send(fd: int, reply: dict) -> None:
    fields = ", ".join(f"{_json.encode_basestring_ascii(k)}: "
                       f"{_json.encode_basestring_ascii(v) if isinstance(v, str) else ('true' if v else 'false')}"
                       for k, v in reply.items())
    body = ("{" + fields + "}").encode()
    data = _REPLY_HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data):]


def _user_traceback(err: BaseException) -> str:
    """The traceback from the cell's own frames down, as a notebook shows it."""
    import linecache
    import traceback

    for filename, code in _SOURCES.items():
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    if tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
        tb = None  # raised while parsing the cell (SyntaxError): no frames of ours
    return "".join(traceback.format_exception(type(err), err, tb))


def _execute(code: str, filename: str, namespace: dict, timeout: float) -> None:
    """Run a cell under the alarm; a trailing expression's value is printed, as in a notebook."""
    global _armed
    tree = compile(code, filename, "exec", _ast.PyCF_ONLY_AST)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], _ast.Expr) else None
    _armed = True
    _signal.setitimer(_signal.ITIMER_REAL, max(timeout, 0.001))
    try:
        exec(compile(tree, filename, "exec"), namespace)
        if last is not None:
            value = eval(compile(_ast.Expression(last.value), filename, "eval"), namespace)
            if value is not None:
                print(repr(value))
    finally:
        _armed = False
        _signal.setitimer(_signal.ITIMER_REAL, 0)


def run_cell(code: str, number: int, namespace: dict, timeout: float, limit: int) -> dict:
    out, err, both = _Capped(limit), _Capped(limit), _Capped(limit)
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(out, both, "<stdout>"), _Stream(err, both, "<stderr>")
    filename = f"<cell-{number}>"
    _SOURCES[filename] = code
    status = "ok"
    try:
        _execute(code, filename, namespace, timeout)
    except CellTimeout:
        status = "timeout"
        sys.stderr.write(f"TimeoutError: the cell did not finish within {timeout:g} s and was interrupted\n")
    except BaseException as error:  # noqa: BLE001 -- SystemExit and KeyboardInterrupt are cell errors too
        status = "error"
        sys.stderr.write(_user_traceback(error))
    finally:
        if os.getpid() != _MAIN_PID:  # a child forked by the cell must never answer for the kernel
            os._exit(0)
        sys.stdout, sys.stderr = real
    _kill_leftovers()
    return {"status": status, "stdout": out.text(), "stderr": err.text(), "output": both.text(),
            "truncated": both.total > limit}


def _kill_leftovers() -> None:
    """Kill everything the cell started: the kernel is pid 1 of its pid namespace, so that is every other
    process in it; then reap them (orphans are reparented to pid 1)."""
    try:
        os.kill(-1, _signal.SIGKILL)
    except OSError:  # nothing to kill
        return
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main() -> None:
    opts = marshal.loads(bytes.fromhex(sys.argv[1]))  # written by the host (isolation.py): trusted
    rx, tx = os.dup(0), os.dup(1)  # the protocol pipes, not inherited by anything the cell starts
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    sys.path[:] = opts["path"]
    for name, value in opts["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    _signal.signal(_signal.SIGALRM, _on_alarm)
    for module in opts["preload"]:
        __import__(module)
    os.dup2(null, 2)  # start-up errors went to the host; from now on the cell's fd-level output is dropped
    _send(tx, {"ready": True})
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    number = 0
    while (request := _recv(rx)) is not None:
        number += 1
        reply = run_cell(request[0], number, namespace, request[1], opts["max_chars"])
        reply["nonce"] = request[2]  # the host takes only the reply that carries its cell's nonce
        _send(tx, reply)


if __name__ == "__main__":
    main()
