"""``nemo-math sandbox serve --port P``: the sandbox pool over HTTP JSON, for generation jobs on other nodes.

Endpoints: ``POST /execute`` {code, session_id, timeout} -> a SandboxResult as JSON; ``POST /close``
{session_id} -> {closed}; ``GET /health`` -> {status, sessions, workers}. Cells run in threads (the pool blocks),
so the event loop only parses and answers requests.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json

from aiohttp import web

from nemo_math.progress import log
from nemo_math.sandbox.pool import Sandbox

_SANDBOX = web.AppKey("sandbox", Sandbox)
_EXECUTOR = web.AppKey("executor", concurrent.futures.ThreadPoolExecutor)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_object(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


async def execute(request: web.Request) -> web.Response:
    body = await _json_object(request)
    code, session_id, timeout = body.get("code"), body.get("session_id", "default"), body.get("timeout")
    if not isinstance(code, str):
        raise _bad("field 'code': a string is required")
    if not isinstance(session_id, str):
        raise _bad("field 'session_id': must be a string")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise _bad("field 'timeout': must be a positive number of seconds")
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(request.app[_EXECUTOR], request.app[_SANDBOX].execute, code, session_id,
                                        timeout)
    return web.json_response(result.to_dict())


async def close(request: web.Request) -> web.Response:
    session_id = (await _json_object(request)).get("session_id")
    if not isinstance(session_id, str):
        raise _bad("field 'session_id': a string is required")
    sandbox = request.app[_SANDBOX]
    known = session_id in sandbox.sessions()
    await asyncio.get_running_loop().run_in_executor(request.app[_EXECUTOR], sandbox.close_session, session_id)
    return web.json_response({"closed": known})


async def health(request: web.Request) -> web.Response:
    sandbox = request.app[_SANDBOX]
    return web.json_response({"status": "ok", "sessions": len(sandbox.sessions()),
                              "workers": sandbox.config.num_workers})


def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=16 << 20)
    app[_SANDBOX] = sandbox
    # one thread per possible session: waiting calls park in threads, the pool's semaphore bounds the work
    app[_EXECUTOR] = concurrent.futures.ThreadPoolExecutor(sandbox.config.max_sessions, "sandbox-http")
    app.router.add_post("/execute", execute)
    app.router.add_post("/close", close)
    app.router.add_get("/health", health)

    async def _shutdown(app: web.Application) -> None:
        app[_EXECUTOR].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_shutdown)
    return app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve"], help="serve: run the sandbox pool as an HTTP server")
    parser.add_argument("--host", default=None, help="address to listen on (default: sandbox.host)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: sandbox.port)")


def main(cfg, args) -> int:
    sb_cfg = cfg.sandbox
    host = args.host or sb_cfg.host
    port = sb_cfg.port if args.port is None else args.port
    with Sandbox(config=sb_cfg) as sandbox:
        log.info("sandbox: serving %d workers on http://%s:%d", sb_cfg.num_workers, host, port)
        web.run_app(build_app(sandbox), host=host, port=port, print=None, handle_signals=True)
    return 0
