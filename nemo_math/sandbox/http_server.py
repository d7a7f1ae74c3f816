"""A small HTTP/1.1 server for JSON endpoints: keep-alive, Content-Length bodies, deadlines on the client.

Own code rather than aiohttp: the sandbox server answers thousands of tiny requests a second on one event loop,
and aiohttp's request machinery (streams, middlewares, multidicts, a task and several loop turns per request)
cost several times what a warm cell costs. This protocol parses a request in one pass over its bytes, runs the
handler as an eagerly started task (a reply that is ready at once is written without a turn of the loop) and
writes the answer in one ``write``. It serves what the sandbox's clients send, and refuses the rest in words:

- a request's headers must arrive within ``header_timeout_s`` of the connection's start or of its last answer,
  else the connection is dropped; its body (``Content-Length`` bytes, at most ``max_body``) within
  ``body_timeout_s`` of its headers, else 408 and the connection is closed;
- headers past 16 KiB are refused (431), chunked bodies (``Transfer-Encoding``) too (411: send a length);
- ``admit`` sees each request's head before its body is waited for: a caller without a valid token gets its
  401 at once and the connection closed, without being able to make the server hold a body;
- one request at a time per connection: a request sent behind the one being answered waits (reading pauses
  past 16 KiB of it), and reading pauses while the client does not read its answers (the transport's buffer is
  full), so a client can make the server hold at most one request, the start of the next and a few answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from http import HTTPStatus

from nemo_math.progress import log

_MAX_HEAD = 16 << 10
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class HttpError(Exception):
    """Answered as ``status`` with {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(slots=True)
class Request:
    method: bytes
    path: bytes
    headers: dict[bytes, bytes]  # names lower-cased
    body: bytes = b""
    caller: object = None  # what ``admit`` made of the head (the server: the caller's session namespace)


def _response(status: int, payload: object, close: bool) -> bytes:
    """A whole JSON response, head and body."""
    body = json.dumps(payload).encode()
    closing = "Connection: close\r\n" if close else ""
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{closing}\r\n").encode() + body


class _Connection(asyncio.Protocol):
    def __init__(self, server: _Server):
        self._server = server
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._request: Request | None = None  # headers parsed, body not yet complete
        self._body_size = 0
        self._keep_alive = True
        self._busy = False  # a handler runs
        self._advancing = False
        self._write_paused = False
        self._paused = False
        self._task: asyncio.Task | None = None  # the handler running (held: the loop keeps only weak references)
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0  # when the armed deadline expires (loop time)
        self._on_due = None  # what then happens; None: disarmed

    # --- asyncio callbacks

    def connection_made(self, transport) -> None:
        self._transport = transport
        self._server.connections.add(self)
        self._arm(self._server.header_timeout_s, self._drop)

    def connection_lost(self, exc) -> None:
        self._server.connections.discard(self)
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._busy:
            self._reading()  # a pipelined request waits, in at most _MAX_HEAD bytes and one read
        else:
            self._advance()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._reading()
        self._advance()

    # --- requests

    def _advance(self) -> None:
        """Parse what arrived into requests and start them, one at a time (a handler that answers at once
        comes back here through ``_respond``: the loop below goes on instead of a recursion)."""
        if self._advancing:
            return
        self._advancing = True
        try:
            self._start_requests()
        finally:
            self._advancing = False
        self._reading()

    def _start_requests(self) -> None:
        while self._transport is not None and not self._busy and not self._write_paused:
            try:
                if self._request is None and not self._head():
                    return
                if len(self._buf) < self._body_size:
                    return
            except HttpError as err:
                self._answer(_response(err.status, {"error": str(err)}, close=True), close=True)
                return
            request, self._request = self._request, None
            request.body = bytes(self._buf[:self._body_size])
            del self._buf[:self._body_size]
            self._disarm()
            self._busy = True
            task = asyncio.Task(self._respond(request), loop=self._loop, eager_start=True)
            if not task.done():
                self._task = task

    def _head(self) -> bool:
        """Parse the request's head once it is all there; False while it is not."""
        if not self._buf:
            return False
        while self._buf.startswith(b"\r\n"):  # stray line ends between requests are allowed (RFC 9112 2.2)
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEAD:
                raise HttpError(431, "request headers too large")
            return False
        if end > _MAX_HEAD:
            raise HttpError(431, "request headers too large")
        lines = bytes(self._buf[:end]).split(b"\r\n")
        del self._buf[:end + 4]
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise HttpError(400, "malformed request line")
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name or b"\t" in name:
                raise HttpError(400, "malformed header line")
            name = name.lower()
            value = value.strip(b" \t")
            if name in headers and name == b"content-length" and headers[name] != value:
                raise HttpError(400, "conflicting Content-Length headers")
            headers[name] = value
        if b"transfer-encoding" in headers:
            raise HttpError(411, "chunked bodies are not accepted: send a Content-Length")
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or len(length) > 12:
            raise HttpError(400, "malformed Content-Length")
        self._body_size = int(length)
        if self._body_size > self._server.max_body:
            raise HttpError(413, f"request body larger than {self._server.max_body} bytes")
        connection = headers.get(b"connection", b"").lower()
        self._keep_alive = connection != b"close" if parts[2] == b"HTTP/1.1" else connection == b"keep-alive"
        request = Request(parts[0], parts[1].partition(b"?")[0], headers)
        request.caller = self._server.admit(request)  # before the body is waited for: a stranger sends none
        self._request = request
        self._disarm()
        if len(self._buf) < self._body_size:
            if headers.get(b"expect", b"").lower() == b"100-continue":
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._arm(self._server.body_timeout_s, self._body_late)
        return True

    async def _respond(self, request: Request) -> None:
        try:
            status, payload = await self._server.handler(request)
            data = _response(status, payload, close=not self._keep_alive)
        except HttpError as err:
            data = _response(err.status, {"error": str(err)}, close=not self._keep_alive)
        except Exception:  # noqa: BLE001 -- one broken request must not take the server down
            log.exception("sandbox server: request %s %s failed", request.method, request.path)
            data = _response(500, {"error": "internal server error"}, close=not self._keep_alive)
        self._busy = False
        self._task = None
        self._answer(data, close=not self._keep_alive)
        self._advance()

    def _answer(self, data: bytes, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if close:
            transport.close()
            self._transport = None
        else:
            self._arm(self._server.header_timeout_s, self._drop)

    # --- flow control and deadlines

    def _reading(self) -> None:
        """Pause reading while the client does not read its answers, or has a request waiting behind the one
        being answered; resume when neither holds."""
        pause = self._write_paused or (self._busy and len(self._buf) > _MAX_HEAD)
        if pause == self._paused or self._transport is None or self._transport.is_closing():
            return
        self._paused = pause
        if pause:
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()

    def _arm(self, delay: float, on_due) -> None:
        """``on_due()`` in ``delay`` seconds unless disarmed or re-armed first. One timer serves many deadlines:
        it stays scheduled when a deadline is moved later (it then re-schedules itself when it fires), so a
        request costs no timer of its own."""
        self._due, self._on_due = self._loop.time() + delay, on_due
        if self._timer is None or self._timer.when() > self._due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(self._due, self._expire)

    def _disarm(self) -> None:
        self._on_due = None

    def _expire(self) -> None:
        self._timer = None
        if self._on_due is None or self._transport is None:
            return
        if self._loop.time() < self._due:
            self._timer = self._loop.call_at(self._due, self._expire)
            return
        on_due, self._on_due = self._on_due, None
        on_due()

    def _drop(self) -> None:
        """No request's headers in time: the connection goes without an answer."""
        if self._transport is not None:
            self._transport.abort()

    def _body_late(self) -> None:
        self._request = None
        late = _response(408, {"error": "the request body did not arrive in time"}, close=True)
        self._answer(late, close=True)


@dataclasses.dataclass
class _Server:
    handler: object  # async (Request) -> (status, JSON-able object)
    admit: object  # (Request without its body) -> its caller, or raises HttpError (401)
    loop: asyncio.AbstractEventLoop
    header_timeout_s: float
    body_timeout_s: float
    max_body: int
    connections: set = dataclasses.field(default_factory=set)

    async def drain(self, patience_s: float) -> None:
        """Let running handlers answer (for ``patience_s`` at most), then drop every connection."""
        tasks = [c._task for c in self.connections if c._task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=patience_s)
        for connection in list(self.connections):
            if connection._transport is not None:
                connection._transport.abort()


@contextlib.asynccontextmanager
async def serve(handler, admit, host: str, port: int, header_timeout_s: float, body_timeout_s: float,
                max_body: int):
    """Listen on ``host:port`` while in the block; yields the server, whose ``drain`` ends it gently."""
    loop = asyncio.get_running_loop()
    state = _Server(handler, admit, loop, header_timeout_s, body_timeout_s, max_body)
    server = await loop.create_server(lambda: _Connection(state), host, port)
    try:
        yield state
    finally:
        server.close()
        for connection in list(state.connections):
            if connection._transport is not None:
                connection._transport.abort()
        await server.wait_closed()
