"""``nemo-math sandbox serve --port P``: the sandbox pool over HTTP JSON, for generation jobs on other nodes.

Endpoints: ``POST /execute`` {code, session_id, timeout} -> a SandboxResult as JSON; ``POST /close``
{session_id} -> {closed}; ``GET /health`` -> {status, sessions, workers}. A warm session's cell runs on the
event loop (``Sandbox.execute_async``: its pipes are watched by the loop); what blocks (a new session's process
start, waiting for a busy session or worker, closing) runs in threads.

Safe to expose: with tokens (``sandbox.token_file``, one per line, or ``NEMO_MATH_SANDBOX_TOKEN``) every request
needs ``Authorization: Bearer TOKEN``, and each token has its own session namespace, so no client can see or close
another's sessions; the server refuses to listen beyond loopback without one. A connection must send a request's
headers within ``header_timeout_s`` of opening or of its last answer (aiohttp's keep-alive timer, which runs from
the connection's start since aiohttp PR #13681, in 3.14.5): a client that never finishes its headers is dropped.
A request body must arrive within ``body_timeout_s``; SIGTERM kills the sessions first, so the server stops in
seconds, cells running or not.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import hmac
import ipaddress
import json
import math

from aiohttp import web

from nemo_math.progress import log
from nemo_math.sandbox.client import TOKEN_ENV, read_tokens
from nemo_math.sandbox.pool import Sandbox

_SANDBOX = web.AppKey("sandbox", Sandbox)
_EXECUTOR = web.AppKey("executor", concurrent.futures.ThreadPoolExecutor)
_TOKENS = web.AppKey("tokens", dict)  # token -> its session namespace
_BODY_TIMEOUT = web.AppKey("body_timeout", float)


def _error(cls: type[web.HTTPException], message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}), content_type="application/json")


def _namespace(request: web.Request) -> str:
    """The caller's session namespace; 401 without a known token (when the server has tokens)."""
    tokens = request.app[_TOKENS]
    if not tokens:
        return ""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
    for token, namespace in tokens.items():
        if hmac.compare_digest(given, token.encode()):
            return namespace
    raise _error(web.HTTPUnauthorized, "missing or wrong token (Authorization: Bearer TOKEN)")


async def _json_object(request: web.Request) -> dict:
    try:
        raw = await asyncio.wait_for(request.read(), request.app[_BODY_TIMEOUT])
    except asyncio.TimeoutError:
        raise _error(web.HTTPRequestTimeout, "the request body did not arrive in time") from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _error(web.HTTPBadRequest, "body is not JSON") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "body must be a JSON object")
    return body


async def execute(request: web.Request) -> web.Response:
    namespace = _namespace(request)
    body = await _json_object(request)
    code, session_id, timeout = body.get("code"), body.get("session_id", "default"), body.get("timeout")
    if not isinstance(code, str):
        raise _error(web.HTTPBadRequest, "field 'code': a string is required")
    if not isinstance(session_id, str):
        raise _error(web.HTTPBadRequest, "field 'session_id': must be a string")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise _error(web.HTTPBadRequest, "field 'timeout': must be a positive, finite number of seconds")
    result = await request.app[_SANDBOX].execute_async(code, namespace + session_id, timeout)
    return web.json_response(result.to_dict())


async def close(request: web.Request) -> web.Response:
    namespace = _namespace(request)
    session_id = (await _json_object(request)).get("session_id")
    if not isinstance(session_id, str):
        raise _error(web.HTTPBadRequest, "field 'session_id': a string is required")
    sandbox = request.app[_SANDBOX]
    known = namespace + session_id in sandbox.sessions()
    await asyncio.get_running_loop().run_in_executor(request.app[_EXECUTOR], sandbox.close_session,
                                                     namespace + session_id)
    return web.json_response({"closed": known})


async def health(request: web.Request) -> web.Response:
    namespace = _namespace(request)
    sandbox = request.app[_SANDBOX]
    mine = sum(1 for s in sandbox.sessions() if s.startswith(namespace))
    return web.json_response({"status": "ok", "sessions": mine, "workers": sandbox.config.num_workers})


def build_app(sandbox: Sandbox, tokens: list[str] = ()) -> web.Application:
    app = web.Application(client_max_size=16 << 20)
    app[_SANDBOX] = sandbox
    # a namespace per token: a prefix no session id of another token can produce
    app[_TOKENS] = {t: hashlib.sha256(t.encode()).hexdigest()[:16] + "/" for t in tokens}
    app[_BODY_TIMEOUT] = sandbox.config.body_timeout_s
    # closing a session waits for its cell: one thread per possible session
    app[_EXECUTOR] = concurrent.futures.ThreadPoolExecutor(sandbox.config.max_sessions, "sandbox-http")
    app.router.add_post("/execute", execute)
    app.router.add_post("/close", close)
    app.router.add_get("/health", health)

    async def _stop_cells(app: web.Application) -> None:  # running cells end now, so handlers finish at once
        await asyncio.get_running_loop().run_in_executor(None, app[_SANDBOX].close)

    async def _shutdown(app: web.Application) -> None:
        app[_EXECUTOR].shutdown(wait=False, cancel_futures=True)

    app.on_shutdown.append(_stop_cells)
    app.on_cleanup.append(_shutdown)
    return app


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
        web.run_app(build_app(sandbox, tokens), host=host, port=port, print=None, handle_signals=True,
                    access_log=None, shutdown_timeout=5, keepalive_timeout=sb_cfg.header_timeout_s)
    return 0
