"""``SandboxClient``: the ``Sandbox`` API over HTTP, for generation jobs far from a `nemo-math sandbox serve`.

Standard-library ``http.client`` with one keep-alive connection per calling thread (generation calls from many
threads); a connection the server dropped while idle is reopened once, other failures raise SandboxError. A
token (the server's shared secret) goes in every request's ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
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
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
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
        for attempt in range(2):
            conn = getattr(self._local, "conn", None)
            fresh = conn is None
            if fresh:
                conn = self._local.conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=self._headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                self.close()
                if fresh or attempt:  # a new connection failed: the server is down, not idle-closed
                    raise SandboxError(f"sandbox server {self.url}{path}: {err}") from None
                continue
            except OSError as err:
                self.close()
                raise SandboxError(f"sandbox server {self.url}{path}: {err}") from None
            try:
                data = json.loads(payload)
            except ValueError:
                raise SandboxError(f"sandbox server {self.url}{path}: HTTP {response.status}, not JSON") from None
            if response.status != 200:
                raise SandboxError(f"sandbox server {self.url}{path}: HTTP {response.status}: {data.get('error')}")
            return data
        raise AssertionError("unreachable")
