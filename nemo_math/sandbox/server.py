"""``nemo-math sandbox serve --port P``: the sandbox pool over HTTP JSON, for generation jobs on other nodes.

Endpoints: ``POST /execute`` {code, session_id, timeout} -> a SandboxResult as JSON; ``POST /close``
{session_id} -> {closed}; ``GET /health`` -> {status, sessions, workers}. A warm session's cell runs on the
event loop (``Sandbox.execute_async``: its pipes are watched by the loop); what blocks (a new session's process
start, waiting for a busy session or worker, closing) runs in threads.

Safe to expose: with tokens (``sandbox.token_file``, one per line, or ``NEMO_MATH_SANDBOX_TOKEN``) every request
needs ``Authorization: Bearer TOKEN``, and each token has its own session namespace, so no client can see or close
another's sessions; the server refuses to listen beyond loopback without one. A connection must send a request's
headers within ``header_timeout_s`` of opening or of its last answer, else it is dropped; a request body must
arrive within ``body_timeout_s`` (else 408). SIGTERM kills the sessions first, so the server stops in seconds,
cells running or not.

HTTP/1.1 is served by our own asyncio protocol (http_server.py) rather than aiohttp: a warm cell costs ~50 us
in the sandbox, and aiohttp's request machinery cost ~300 us of the server's one CPU per request, which capped the
server at about a third of the pool's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import hashlib
import hmac
import ipaddress
import json
import math
import signal

from nemo_math.progress import log
from nemo_math.sandbox.client import TOKEN_ENV, read_tokens
from nemo_math.sandbox.http_server import HttpError, Request, serve
from nemo_math.sandbox.pool import Sandbox

_MAX_BODY = 16 << 20


class SandboxService:
    """The endpoints, on one pool: ``admit`` checks a request's token, ``handle`` answers it with (status,
    JSON-able object)."""

    def __init__(self, sandbox: Sandbox, tokens: list[str] = ()):
        self.sandbox = sandbox
        # a namespace per token: a prefix no session id of another token can produce
        self._tokens = {t.encode(): hashlib.sha256(t.encode()).hexdigest()[:16] + "/" for t in tokens}
        # closing a session waits for its cell: one thread per possible session
        self._closer = concurrent.futures.ThreadPoolExecutor(sandbox.config.max_sessions, "sandbox-http")
        self._routes = {(b"POST", b"/execute"): self._execute, (b"POST", b"/close"): self._close,
                        (b"GET", b"/health"): self._health}

    async def handle(self, request: Request) -> tuple[int, object]:
        route = self._routes.get((request.method, request.path))
        if route is None:
            if any(path == request.path for _, path in self._routes):
                raise HttpError(405, f"method {request.method.decode(errors='replace')} not allowed here")
            raise HttpError(404, "no such endpoint")
        return 200, await route(request.caller, request)

    def shutdown(self) -> None:
        """Running cells end now (their processes are killed), so every handler finishes at once."""
        self.sandbox.close()
        self._closer.shutdown(wait=False, cancel_futures=True)

    def admit(self, request: Request) -> str:
        """The caller's session namespace, from the request's head; 401 without a known token (when the server
        has tokens), before its body is read."""
        if not self._tokens:
            return ""
        given = request.headers.get(b"authorization", b"").removeprefix(b"Bearer ")
        for token, namespace in self._tokens.items():
            if hmac.compare_digest(given, token):
                return namespace
        raise HttpError(401, "missing or wrong token (Authorization: Bearer TOKEN)")

    async def _execute(self, namespace: str, request: Request) -> dict:
        body = _json_object(request)
        code, session_id, timeout = body.get("code"), body.get("session_id", "default"), body.get("timeout")
        if not isinstance(code, str):
            raise HttpError(400, "field 'code': a string is required")
        if not isinstance(session_id, str):
            raise HttpError(400, "field 'session_id': must be a string")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not math.isfinite(timeout) or timeout <= 0):
            raise HttpError(400, "field 'timeout': must be a positive, finite number of seconds")
        result = await self.sandbox.execute_async(code, namespace + session_id, timeout)
        return result.to_dict()

    async def _close(self, namespace: str, request: Request) -> dict:
        session_id = _json_object(request).get("session_id")
        if not isinstance(session_id, str):
            raise HttpError(400, "field 'session_id': a string is required")
        known = namespace + session_id in self.sandbox.sessions()
        await asyncio.get_running_loop().run_in_executor(self._closer, self.sandbox.close_session,
                                                         namespace + session_id)
        return {"closed": known}

    async def _health(self, namespace: str, request: Request) -> dict:
        mine = sum(1 for s in self.sandbox.sessions() if s.startswith(namespace))
        return {"status": "ok", "sessions": mine, "workers": self.sandbox.config.num_workers}


def _json_object(request: Request) -> dict:
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve"], help="serve: run the sandbox pool as an HTTP server")
    parser.add_argument("--host", default=None, help="address to listen on (default: sandbox.host)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: sandbox.port)")


async def _run(service: SandboxService, host: str, port: int, header_timeout_s: float, body_timeout_s: float):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(service.handle, service.admit, host, port, header_timeout_s, body_timeout_s,
                     _MAX_BODY) as connections:
        gc.freeze()  # what start-up made lives as long as the server: full collections need not walk it
        await stop.wait()
        await asyncio.to_thread(service.shutdown)
        await connections.drain(5.0)


def main(cfg, args) -> int:
    sb_cfg = cfg.sandbox
    host = args.host or sb_cfg.host
    port = sb_cfg.port if args.port is None else args.port
    tokens = read_tokens(sb_cfg)
    if not tokens and not _loopback(host):
        log.error("sandbox: refusing to serve on %s without a token: set sandbox.token_file or %s (clients "
                  "send the same)", host, TOKEN_ENV)
        return 2
    with Sandbox(config=sb_cfg) as sandbox:
        log.info("sandbox: serving %d workers on http://%s:%d (%s)", sb_cfg.num_workers, host, port,
                 f"{len(tokens)} token(s)" if tokens else "no token: loopback only")
        asyncio.run(_run(SandboxService(sandbox, tokens), host, port, sb_cfg.header_timeout_s,
                         sb_cfg.body_timeout_s))
    return 0
