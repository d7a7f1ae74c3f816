"""The async client against real HTTP servers on 127.0.0.1: faults, retries, load balancing, concurrency."""

from __future__ import annotations

import asyncio
import socket
import threading

import openai
import pytest
from aiohttp import web

from nemo_math.generation.client import (DEAD_RETRIES, Completion, ContextLengthError, GenerationClient,
                                         RequestFailed, ServerDead)
from nemo_math.generation.config import ClientConfig
from nemo_math.generation.engine import resolve_client
from nemo_math.generation.harmony import initial_messages, parse_completion
from nemo_math.generation.server import Faults, InstantBackend, ServerThread, make_app
from nemo_math.generation.transports import ChatTransport, CompletionsTransport, from_chat_completion


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


def recording_app(bodies: list) -> web.Application:
    """Answers every completion/chat with "ok", keeping each request body."""

    async def answer(request):
        bodies.append(await request.json())
        return web.json_response({"id": "x", "object": "text_completion", "created": 0, "model": "m",
                                  "choices": [{"index": 0, "text": "ok", "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": "ok"}}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    app = web.Application()
    app.add_routes([web.post("/v1/completions", answer), web.post("/v1/chat/completions", answer)])
    return app


def test_context_length_400_is_not_retried_and_max_tokens_is_cut_to_the_context():
    # issue 13: a 400 "maximum context length" was raised as a plain BadRequestError, the job never recorded
    with ServerThread(make_app(InstantBackend(), max_model_len=4)) as url:  # its prompts are 8 tokens
        async def too_long():
            async with GenerationClient(config(url)) as client:
                with pytest.raises(ContextLengthError, match="maximum context length is 4 tokens"):
                    await client.complete("hi", max_tokens=2)
                return client.stats
        assert asyncio.run(too_long()).retries == 0
    with ServerThread(make_app(InstantBackend(), max_model_len=64)) as url:  # max_tokens=100 does not fit
        async def fits():
            async with GenerationClient(config(url)) as client:
                return await client.complete("hi", max_tokens=100)
        assert asyncio.run(fits()).text.endswith("ok")


def test_a_dead_server_is_told_from_a_failing_request():
    # issue 13: 500s from a healthy server are the request's fault (RequestFailed, that job alone); no server
    # answering /health is ServerDead, raised after a few tries instead of max_retries backoffs per job
    with ServerThread(make_app(InstantBackend(), faults=Faults(["500"] * 3))) as url:
        async def failing():
            async with GenerationClient(config(url, max_retries=2)) as client:
                with pytest.raises(RequestFailed) as info:
                    await client.complete("hi", max_tokens=8)
                return info.value
        assert not isinstance(asyncio.run(failing()), ServerDead)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    async def gone():
        async with GenerationClient(config(dead, max_retries=50)) as client:
            with pytest.raises(ServerDead, match="no server answers /health"):
                await client.complete("hi", max_tokens=8)
            return client.stats
    assert asyncio.run(gone()).retries == DEAD_RETRIES - 1


def test_seed_is_optional_and_request_fields_follow_the_engine():
    # issue 13: every request carried a seed (crashes vLLM's CPU build) and skip_special_tokens (422 from
    # transformers serve)
    bodies: list[dict] = []
    with ServerThread(recording_app(bodies)) as url:
        async def go(cfg: ClientConfig):
            async with GenerationClient(cfg) as client:
                await CompletionsTransport(client).step(initial_messages("1+1", "low", False), with_tool=False,
                                                        max_tokens=8, seed=5)
        asyncio.run(go(resolve_client(config(url, seed=False, engine="transformers"), None)))
        asyncio.run(go(resolve_client(config(url), "vllm")))
        asyncio.run(go(resolve_client(config(url, extra_body={"top_k": 3}), "sglang")))
    assert "seed" not in bodies[0] and "skip_special_tokens" not in bodies[0]
    assert bodies[1]["seed"] == 5 and bodies[1]["skip_special_tokens"] is False
    assert bodies[2]["top_k"] == 3 and "skip_special_tokens" not in bodies[2]


def test_chat_sends_the_system_turn_and_parses_harmony_content_like_completions():
    # issue 13: the chat transport dropped the system turn (the mode reached only gpt-oss servers), and a
    # harmony reply behind a plain chat template landed whole on the final channel
    bodies: list[dict] = []
    with ServerThread(recording_app(bodies)) as url:
        async def go(cfg: ClientConfig):
            async with GenerationClient(cfg) as client:
                await ChatTransport(client).step(initial_messages("1+1", "low", True), with_tool=True,
                                                 max_tokens=8, seed=None)
        asyncio.run(go(config(url)))
        asyncio.run(go(config(url, chat_system=False)))
    system = bodies[0]["messages"][0]
    assert system["role"] == "system" and "Reasoning: low" in system["content"] and "## python" in system["content"]
    assert [m["role"] for m in bodies[1]["messages"]] == ["user"]
    text = "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{2}"
    chat = from_chat_completion(Completion(text, "stop"))
    assert chat == parse_completion(text)
    assert [(m["channel"], m["content"]) for m in chat] == [("analysis", "think"), ("final", "\\boxed{2}")]
    echo = "<|start|>user<|message|>1+1<|end|><|start|>assistant" + text  # transformers serve echoes the prompt
    assert from_chat_completion(Completion(echo, "stop")) == chat


def tir_conversation() -> list[dict]:
    """A TIR trace with two analysis messages in a row and reasoning left at the end (a trace cut short)."""
    from nemo_math.generation.harmony import message

    return initial_messages("Compute $3 \\times 4$.", "medium", True) + [
        message("assistant", "Multiply.", "analysis"), message("assistant", "print(3 * 4)", "analysis", "python"),
        message("tool", "12\n", "analysis", None, "python"), message("assistant", "It printed 12.", "analysis"),
        message("assistant", "Check.", "analysis"), message("assistant", "\\boxed{12}", "final"),
        message("user", "Twice that?"), message("assistant", "Double 12 is", "analysis")]


def test_one_chat_mapping_loses_nothing():
    # issue 13: transports and packing each had a to_chat, joining analysis messages with "\n" and "\n\n" and
    # disagreeing on tool-call arguments, tool names and trailing reasoning; now one mapping, and the test
    # server's reverse mapping gets every message back
    from nemo_math.generation.chat import PYTHON_TOOL, to_chat
    from nemo_math.generation.chat import from_chat

    messages = tir_conversation()
    chat = to_chat(messages)
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "assistant", "assistant", "user",
                                         "assistant"]
    call = chat[2]["tool_calls"][0]
    assert call["function"] == {"name": "python", "arguments": '{"code": "print(3 * 4)"}'}  # JSON text, as the API
    assert chat[3]["tool_call_id"] == call["id"]
    assert from_chat(chat, "medium", [PYTHON_TOOL]) == messages
    assert to_chat(messages, system=False) == chat[1:]


def test_the_chat_transport_sends_what_the_chat_template_renderer_trains_on(qwen3_tokenizer_dir):
    """A chat-template student (Qwen3's template): the request the chat transport sends, templated as a server
    templates it, gives the ids the student was trained on for that prefix."""
    from nemo_math.generation.chat import PYTHON_TOOL, for_template
    from nemo_math.packing.render import ChatTemplateRenderer, load_tokenizer

    messages = tir_conversation()[:-3]  # up to the final answer
    bodies: list[dict] = []
    with ServerThread(recording_app(bodies)) as url:
        async def go():
            async with GenerationClient(config(url)) as client:
                await ChatTransport(client).step(messages[:5], with_tool=True, max_tokens=8, seed=None)
        asyncio.run(go())
    body = bodies[0]
    assert body["tools"] == [PYTHON_TOOL]
    tok = load_tokenizer(str(qwen3_tokenizer_dir))
    prompt = tok.apply_chat_template(for_template(body["messages"]), tools=body["tools"], add_generation_prompt=True,
                                     tokenize=True, return_dict=True)["input_ids"]
    renderer = ChatTemplateRenderer(tok, str(qwen3_tokenizer_dir / "chat_template_training.jinja"))
    ids, mask = renderer(messages, [PYTHON_TOOL])
    assert ids[: len(prompt)] == list(prompt) and mask[len(prompt) - 1] == 0 and mask[len(prompt)] == 1
