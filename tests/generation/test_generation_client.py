"""The async client against real HTTP servers on 127.0.0.1: faults, retries, load balancing, concurrency."""

from __future__ import annotations

import asyncio
import socket
import threading

import openai
import pytest
from aiohttp import web

from nemo_math.generation.client import GenerationClient, RequestFailed
from nemo_math.generation.config import ClientConfig
from nemo_math.generation.server import Faults, InstantBackend, ServerThread, make_app


def config(*urls: str, **kw) -> ClientConfig:
    return ClientConfig(base_urls=list(urls), backoff_initial_s=0.01, backoff_max_s=0.05,
                        **{"request_timeout_s": 5.0, "max_retries": 8, **kw})


@pytest.mark.parametrize("fault", ["500", "429", "hang", "drop", "malformed"])
def test_retries_each_fault_then_succeeds(fault):
    app = make_app(InstantBackend(), faults=Faults([fault, fault]))
    with ServerThread(app) as url:
        async def go():
            async with GenerationClient(config(url, request_timeout_s=0.5)) as client:
                chat = await client.chat([{"role": "user", "content": "hi"}], max_tokens=8)
                text = await client.complete("hi", max_tokens=8)
                return client.stats, chat, text
        stats, chat, text = asyncio.run(go())
    assert stats.retries == 2 and stats.requests == 2 and stats.failures == 0
    assert chat.text == "ok" and chat.finish_reason == "stop" and chat.completion_tokens == 2
    assert text.text.endswith("ok") and text.prompt_tokens == 8


def test_gives_up_after_max_retries_and_does_not_retry_client_errors():
    app = make_app(InstantBackend(), faults=Faults(["500"] * 3))
    with ServerThread(app) as url:
        async def go():
            async with GenerationClient(config(url, max_retries=2)) as client:
                with pytest.raises(RequestFailed, match="gave up after 3 attempts"):
                    await client.complete("hi", max_tokens=8)
                assert await client.complete("hi", max_tokens=8)  # the server is fine again
        asyncio.run(go())

    async def bad_request(request):
        return web.json_response({"error": {"message": "prompt too long"}}, status=400)

    app = web.Application()
    app.router.add_post("/v1/completions", bad_request)
    with ServerThread(app) as url:
        async def go_bad():
            async with GenerationClient(config(url)) as client:
                with pytest.raises(openai.BadRequestError):
                    await client.complete("hi", max_tokens=8)
                return client.stats.retries
        assert asyncio.run(go_bad()) == 0


def counting_app(state: dict, name: str) -> web.Application:
    """Answers after a short wait, recording how many requests were in flight at once (over all servers
    sharing ``state``) and how many this one served."""

    async def complete(request):
        await request.json()
        with state["lock"]:  # the two servers run in two threads
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state[name] += 1
        await asyncio.sleep(0.02)
        with state["lock"]:
            state["now"] -= 1
        return web.json_response({"id": "x", "object": "text_completion", "created": 0, "model": "m",
                                  "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    app = web.Application()
    app.router.add_post("/v1/completions", complete)
    return app


def test_bounded_concurrency_and_load_balancing():
    state = {"now": 0, "max": 0, "a": 0, "b": 0, "lock": threading.Lock()}
    with ServerThread(counting_app(state, "a")) as url_a, ServerThread(counting_app(state, "b")) as url_b:
        async def go():
            async with GenerationClient(config(url_a, url_b, max_in_flight=6)) as client:
                await asyncio.gather(*(client.complete("hi", max_tokens=1) for _ in range(60)))
        asyncio.run(go())
    assert state["a"] + state["b"] == 60
    assert state["max"] == 6  # the bound is reached and never passed
    assert 20 <= state["a"] <= 40  # least-loaded choice spreads the work


def test_dead_server_is_skipped():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    with ServerThread(make_app(InstantBackend())) as url:
        async def go():
            async with GenerationClient(config(dead, url)) as client:
                for _ in range(10):
                    assert (await client.complete("hi", max_tokens=8)).text.endswith("ok")
                return client.stats
        stats = asyncio.run(go())
    assert stats.requests == 10 and stats.failures == 0 and 1 <= stats.retries <= 10
