"""``SandboxClient``: the ``Sandbox`` API over HTTP, for generation jobs far from a `nemo-math sandbox serve`.

One keep-alive connection per calling thread (generation calls from many threads); a connection the server
dropped while idle is reopened once, other failures raise SandboxError. A token (the server's shared secret) goes
in every request's ``Authorization`` header. HTTP/1.1 is spoken by the few lines below rather than
``http.client``, whose response parsing (a file object and an e-mail header parser per response) cost ~200 us of
the client's CPU per cell, four times the cell itself; they speak exactly what our server answers: a status line,
headers and a ``Content-Length`` body.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from nemo_math.sandbox.config import SandboxConfig
from nemo_math.sandbox.result import SandboxResult

TOKEN_ENV = "NEMO_MATH_SANDBOX_TOKEN"


class SandboxError(RuntimeError):
    """The sandbox server could not be reached or answered with an error."""


def read_tokens(cfg: SandboxConfig) -> list[str]:
    """The shared secrets: the lines of ``token_file`` (blank lines and # comments skipped), else the variable."""
    if cfg.token_file:
        try:
            with open(cfg.token_file) as f:
                tokens = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as err:
            raise ValueError(f"sandbox.token_file={cfg.token_file}: {err.strerror}") from None
        if not tokens:
            raise ValueError(f"sandbox.token_file={cfg.token_file}: no token in it")
        return tokens
    token = os.environ.get(TOKEN_ENV, "").strip()
    return [token] if token else []


class SandboxClient:
    def __init__(self, url: str, timeout_s: float = 10.0, request_timeout_s: float = 60.0,
                 token: str | None = None):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"sandbox.url={url!r}: expected http://HOST:PORT")
        self.url = f"http://{parts.hostname}:{parts.port or 80}"
        self._host, self._port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s
        if token and any(c in token for c in "\r\n"):
            raise ValueError("the sandbox token must be one line")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # an IPv6 address
        self._head = f"Host: {host}:{self._port}\r\nContent-Type: application/json\r\n" + (
            f"Authorization: Bearer {token}\r\n" if token else "")
        self._local = threading.local()

    def execute(self, code: str, session_id: str = "default", timeout: float | None = None) -> SandboxResult:
        timeout = self.timeout_s if timeout is None else float(timeout)
        if not (timeout > 0 and math.isfinite(timeout)):  # NaN fails the first test
            raise ValueError(f"timeout={timeout}: must be a positive, finite number of seconds")
        start = time.monotonic()
        # the server cuts the cell's timeout to its max_timeout_s; the socket's wait must stay representable
        data = self._post("/execute", {"code": code, "session_id": session_id, "timeout": timeout},
                          min(timeout, 86400.0) + self.request_timeout_s)
        result = SandboxResult.from_dict(data)
        result.elapsed_s = time.monotonic() - start
        return result

    async def execute_async(self, code: str, session_id: str = "default",
                            timeout: float | None = None) -> SandboxResult:
        """``execute`` for asyncio callers (as ``Sandbox.execute_async``), in a thread: the HTTP call blocks."""
        return await asyncio.to_thread(self.execute, code, session_id, timeout)

    def close_session(self, session_id: str) -> None:
        self._post("/close", {"session_id": session_id}, self.request_timeout_s)

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health", None, self.request_timeout_s)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._request("POST", path, json.dumps(body).encode(), timeout)

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> dict[str, Any]:
        body = body or b""
        request = (f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n").encode() + body
        for attempt in range(2):
            conn = getattr(self._local, "conn", None)
            fresh = conn is None
            try:
                if fresh:
                    conn = self._local.conn = _Connection(self._host, self._port, timeout)
                status, payload = conn.exchange(request, timeout)
                if not conn.open:  # the server said Connection: close
                    self._local.conn = None
            except _Dropped as err:
                self.close()
                if fresh or attempt:  # a new connection failed: the server is down, not idle-closed
                    raise SandboxError(f"sandbox server {self.url}{path}: {err}") from None
                continue
            except (OSError, ValueError) as err:
                self.close()
                raise SandboxError(f"sandbox server {self.url}{path}: {err}") from None
            try:
                data = json.loads(payload)
            except ValueError:
                raise SandboxError(f"sandbox server {self.url}{path}: HTTP {status}, not JSON") from None
            if status != 200:
                raise SandboxError(f"sandbox server {self.url}{path}: HTTP {status}: {data.get('error')}")
            return data
        raise AssertionError("unreachable")


_MAX_HEAD = 64 << 10


class _Dropped(ConnectionError):
    """The server closed the connection before answering (it drops connections idle past its header timeout)."""


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request out, its answer's status and body back."""

    def __init__(self, host: str, port: int, timeout: float):
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError as err:
            raise _Dropped(str(err)) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self.open = True

    def exchange(self, request: bytes, timeout: float) -> tuple[int, bytes]:
        """Send a whole request and read its answer; the timeout bounds each wait on the socket."""
        self._sock.settimeout(timeout)
        try:
            self._sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise _Dropped(str(err)) from None
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise ValueError(f"an answer's head past {_MAX_HEAD} bytes")
            self._receive(not self._buf)
        lines = self._buf[:end].decode("latin-1").split("\r\n")
        self._buf = self._buf[end + 4:]
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/1.") or not status[1].isdigit():
            raise ValueError(f"not an HTTP answer: {lines[0][:80]!r}")
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length" and value.strip().isdigit():
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if length is None:
            raise ValueError("an answer without Content-Length")
        while len(self._buf) < length:
            self._receive(False)
        payload, self._buf = self._buf[:length], self._buf[length:]
        if close:
            self.close()
        return int(status[1]), payload

    def _receive(self, first: bool) -> None:
        """More of the answer; the server closing before the first byte means it dropped an idle connection."""
        if not self.open:
            raise _Dropped("connection closed by the server")
        try:
            chunk = self._sock.recv(1 << 16)
        except ConnectionResetError as err:
            if first:
                raise _Dropped(str(err)) from None
            raise
        if not chunk:
            if first:
                raise _Dropped("the server closed the connection without an answer")
            raise ConnectionError("the server closed the connection mid-answer")
        self._buf += chunk

    def close(self) -> None:
        self.open = False
        self._sock.close()
