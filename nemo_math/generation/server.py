"""An OpenAI-compatible HTTP server over offline backends, so the real client path runs with no GPU server.

Routes: ``/health``, ``/v1/models``, ``/v1/chat/completions`` (with tools) and ``/v1/completions`` (raw text,
harmony stop tokens). Backends:

* ``scripted``: :class:`~nemo_math.generation.scripted.ScriptedTeacher` (harmony traces with real tool calls);
* ``hf``: a local ``transformers`` causal LM, built tiny from a config or loaded from a local HF folder;
* ``instant``: answers a fixed short completion at once (client benchmarks).

Faults for tests: ``fault_plan`` gives the fate of the first requests in order and ``fault_rate`` the chance of
a random fault afterwards; kinds are ``500``, ``429``, ``hang``, ``drop`` (connection closed mid-response)
and ``malformed`` (invalid JSON). Run: ``python -m nemo_math.generation.server --backend scripted --problems
F.jsonl --port 8000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from nemo_math.generation.harmony import (ASSISTANT_START, CALL, RETURN, count_tokens, from_harmony, load_encoding,
                                          render_completion, render_prompt)
from nemo_math.generation.scripted import ScriptedTeacher
from nemo_math.generation.chat import from_chat

FAULT_KINDS = ("500", "429", "hang", "drop", "malformed")


@dataclass
class Reply:
    """A backend's answer: text (completions) or assistant message dicts (chat), usage and finish reason.

    A backend is any object with ``async complete(body) -> Reply`` and ``async chat(body) -> Reply`` (``body``:
    the request JSON); tests write small ones (e.g. an LLM judge) and serve them with :func:`make_app`."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    text: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: Any = None


# --------------------------------------------------------------------------------------------- backends
class ScriptedBackend:
    """The scripted teacher behind both routes: the completions prompt is parsed back from harmony text, chat
    messages are mapped back to our dicts; usage counts real gpt-oss tokens."""

    def __init__(self, teacher: ScriptedTeacher):
        self.teacher = teacher

    async def complete(self, body: dict[str, Any]) -> Reply:
        enc = load_encoding()
        prompt = body.get("prompt") or ""
        prompt_tokens = enc.encode(prompt, allowed_special="all")
        history = prompt_tokens[:-2] if prompt.endswith(ASSISTANT_START) else prompt_tokens
        messages = from_harmony(enc.parse_messages_from_completion_tokens(history, None, strict=False))
        turn = self.teacher.next_turn(messages, body.get("seed"))
        tokens = enc.encode(render_completion(turn), allowed_special="all")
        stop = CALL if turn[-1].get("recipient") else RETURN
        reply = Reply("stop", len(prompt_tokens), len(tokens), stop_reason=enc.encode(stop, allowed_special="all")[0])
        limit = int(body.get("max_tokens") or 16)
        if len(tokens) > limit:
            tokens, reply.finish_reason, reply.stop_reason = tokens[:limit], "length", None
            reply.completion_tokens = limit
        reply.text = enc.decode(tokens)
        return reply

    async def chat(self, body: dict[str, Any]) -> Reply:
        messages = from_chat(body.get("messages") or [], body.get("reasoning_effort"), body.get("tools"))
        turn = self.teacher.next_turn(messages, body.get("seed"))
        prompt_tokens = count_tokens(render_prompt(messages))
        completion_tokens = count_tokens(render_completion(turn))
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        if completion_tokens > limit:  # cut the reasoning, as a model stopped mid-thought would
            enc = load_encoding()
            cut = enc.decode(enc.encode(turn[0]["content"], disallowed_special=())[:limit])
            return Reply("length", prompt_tokens, limit, messages=[{**turn[0], "content": cut}])
        finish = "tool_calls" if turn[-1].get("recipient") else "stop"
        return Reply(finish, prompt_tokens, completion_tokens, messages=turn)


class InstantBackend:
    async def complete(self, body: dict[str, Any]) -> Reply:
        return Reply("stop", 8, 2, text="<|channel|>final<|message|>ok")

    async def chat(self, body: dict[str, Any]) -> Reply:
        return Reply("stop", 8, 2, messages=[{"role": "assistant", "content": "ok", "channel": "final",
                                               "recipient": None, "name": None}])


class HFBackend:
    """A local ``transformers`` causal LM; generation runs in a thread, one request at a time (CPU)."""

    def __init__(self, model_path: str | None = None, tokenizer_path: str | None = None, seed: int = 0,
                 cpu_threads: int = 0):
        import torch
        import transformers

        from nemo_math.threads import set_cpu_threads

        set_cpu_threads(cpu_threads)  # process-wide: the generation thread uses it too
        if model_path:
            self.model = transformers.AutoModelForCausalLM.from_pretrained(model_path)
            tokenizer_path = tokenizer_path or model_path
        else:  # a tiny random Qwen3: plumbing checks, not quality
            torch.manual_seed(seed)
            config = transformers.Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64,
                                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                              head_dim=16, max_position_embeddings=4096)
            self.model = transformers.Qwen3ForCausalLM(config)
        if tokenizer_path is None:
            raise ValueError("hf backend: a tiny model from a config needs --tokenizer (a local HF folder)")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_path)
        self.model.eval()
        self._lock = threading.Lock()

    def _generate(self, prompt: str, body: dict[str, Any]) -> tuple[str, str, int, int]:
        """Sample a continuation; special tokens stay in the text (harmony ``<|channel|>`` headers, the
        ``<|call|>``/``<|return|>`` stops), as vLLM with ``skip_special_tokens: false``; a final EOS is dropped."""
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt").input_ids
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        with self._lock, torch.no_grad():
            torch.manual_seed(int(body.get("seed") or 0))
            temperature = float(body.get("temperature", 1.0))
            out = self.model.generate(ids, max_new_tokens=limit, do_sample=temperature > 0,
                                      temperature=max(temperature, 1e-5), top_p=float(body.get("top_p", 1.0)),
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                                      stop_strings=stops or None, tokenizer=self.tokenizer if stops else None)
        new = out[0, ids.shape[1]:].tolist()
        finish = "length" if len(new) >= limit else "stop"
        if new and new[-1] == self.tokenizer.eos_token_id and self.tokenizer.eos_token not in stops:
            new, finish = new[:-1], "stop"
        return self.tokenizer.decode(new, skip_special_tokens=False), finish, ids.shape[1], len(new)

    async def complete(self, body: dict[str, Any]) -> Reply:
        text, finish, p, c = await asyncio.to_thread(self._generate, body.get("prompt") or "", body)
        stops = body.get("stop") or []
        cuts = [text.index(s) for s in ([stops] if isinstance(stops, str) else stops) if s in text]
        if cuts:  # OpenAI semantics: the text ends before the first stop string
            text, finish = text[: min(cuts)], "stop"
        return Reply(finish, p, c, text=text)

    async def chat(self, body: dict[str, Any]) -> Reply:
        chat = [{"role": m["role"], "content": m.get("content") or ""} for m in body.get("messages") or []
                if m.get("role") in ("system", "user", "assistant")]
        prompt = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        text, finish, p, c = await asyncio.to_thread(self._generate, prompt, body)
        return Reply(finish, p, c, messages=[{"role": "assistant", "content": text, "channel": "final",
                                              "recipient": None, "name": None}])


# --------------------------------------------------------------------------------------------- HTTP
class Faults:
    def __init__(self, plan: list[str] | None = None, rate: float = 0.0, seed: int = 0):
        for kind in plan or []:
            if kind not in FAULT_KINDS + ("ok",):
                raise ValueError(f"fault {kind!r}: expected one of {', '.join(FAULT_KINDS)} or ok")
        self.plan = list(plan or [])
        self.rate = rate
        self.rng = random.Random(seed)
        self.count = 0

    def next(self) -> str | None:
        index, self.count = self.count, self.count + 1
        if index < len(self.plan):
            return None if self.plan[index] == "ok" else self.plan[index]
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(FAULT_KINDS)
        return None


def _usage(reply: Reply) -> dict[str, int]:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def _chat_body(reply: Reply, model: str) -> dict[str, Any]:
    reasoning = "\n".join(m["content"] for m in reply.messages if m.get("channel") == "analysis"
                          and not m.get("recipient")) or None
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": m["recipient"], "arguments": json.dumps({"code": m["content"]})}}
             for i, m in enumerate(m for m in reply.messages if m.get("recipient"))]
    content = "".join(m["content"] for m in reply.messages if m.get("channel") == "final") or None
    message = {"role": "assistant", "content": content, "reasoning_content": reasoning,
               "tool_calls": calls or None}
    return {"id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "usage": _usage(reply),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason,
                         "stop_reason": reply.stop_reason}]}


def _completion_body(reply: Reply, model: str) -> dict[str, Any]:
    return {"id": f"cmpl-{time.monotonic_ns()}", "object": "text_completion", "created": int(time.time()),
            "model": model, "usage": _usage(reply),
            "choices": [{"index": 0, "text": reply.text, "finish_reason": reply.finish_reason,
                         "stop_reason": reply.stop_reason, "logprobs": None}]}


def _context_error(message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "BadRequestError", "code": 400}}, status=400)


def make_app(backend: Any, model: str = "scripted", faults: Faults | None = None, latency_s: float = 0.0,
             max_model_len: int | None = None) -> web.Application:
    """The HTTP app; ``latency_s`` delays every answer (to make runs last long enough to be killed);
    ``max_model_len`` rejects requests past it with vLLM's 400s (prompt too long, max_tokens too large)."""
    faults = faults or Faults()

    async def with_fault(request: web.Request, answer) -> web.StreamResponse:
        kind = faults.next()
        if latency_s:
            await asyncio.sleep(latency_s)
        if kind == "500":
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        if kind == "429":
            return web.json_response({"error": {"message": "slow down"}}, status=429,
                                     headers={"Retry-After": "0.05"})
        if kind == "hang":
            await asyncio.sleep(3600)
        body = await request.json()
        if max_model_len and int(body.get("max_tokens") or 0) > max_model_len:
            return _context_error(f"max_tokens={body['max_tokens']} cannot be greater than "
                                  f"max_model_len={max_model_len}. Please request fewer output tokens.")
        data = await answer(body)
        if max_model_len and data["usage"]["prompt_tokens"] > max_model_len:
            return _context_error(f"This model's maximum context length is {max_model_len} tokens. However, your "
                                  f"prompt contains at least {data['usage']['prompt_tokens']} input tokens.")
        payload = json.dumps(data).encode()
        if kind == "malformed":
            return web.Response(body=payload[: len(payload) // 2], content_type="application/json")
        if kind == "drop":
            response = web.StreamResponse(headers={"Content-Type": "application/json",
                                                   "Content-Length": str(len(payload))})
            await response.prepare(request)
            await response.write(payload[: len(payload) // 2])
            request.transport.close()
            return response
        return web.Response(body=payload, content_type="application/json")

    async def chat(request: web.Request) -> web.StreamResponse:
        return await with_fault(request, lambda body: _answer(backend.chat, _chat_body, body, model))

    async def completions(request: web.Request) -> web.StreamResponse:
        return await with_fault(request, lambda body: _answer(backend.complete, _completion_body, body, model))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model"}]})

    app = web.Application(client_max_size=1 << 30)
    app.add_routes([web.post("/v1/chat/completions", chat), web.post("/v1/completions", completions),
                    web.get("/health", health), web.get("/v1/models", models)])
    return app


async def _answer(method, shape, body: dict[str, Any], model: str) -> dict[str, Any]:
    return shape(await method(body), body.get("model") or model)


def make_backend(name: str, problems: str | None = None, model_path: str | None = None,
                 tokenizer_path: str | None = None, cpu_threads: int = 0):
    if name == "scripted":
        from nemo_math.io import load_records
        from nemo_math.records import Problem

        return ScriptedBackend(ScriptedTeacher(load_records(problems, Problem) if problems else ()))
    if name == "hf":
        return HFBackend(model_path, tokenizer_path, cpu_threads=cpu_threads)
    if name == "instant":
        return InstantBackend()
    raise ValueError(f"backend {name!r}: expected scripted, hf or instant")


class ServerThread:
    """Serve an app on 127.0.0.1 from a background thread (``with ServerThread(app) as url: ...``)."""

    def __init__(self, app: web.Application, port: int = 0):
        self.app, self.port = app, port
        self.url = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        pending = asyncio.all_tasks(self._loop)  # handlers still hanging (fault tests)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def __enter__(self) -> str:
        self._thread.start()
        self._ready.wait(30)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="scripted", choices=["scripted", "hf", "instant"])
    parser.add_argument("--problems", help="scripted: problems file/folder to look problems up in")
    parser.add_argument("--model-path", help="hf: a local HF model folder (default: a tiny random Qwen3)")
    parser.add_argument("--tokenizer", help="hf: a local HF tokenizer folder (default: --model-path)")
    parser.add_argument("--cpu-threads", type=int, default=0, help="hf on a CPU: torch threads (0: torch's default)")
    parser.add_argument("--model", default="scripted", help="model name reported to clients")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    parser.add_argument("--fault-plan", default="", help="comma list of faults for the first requests")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="chance of a random fault afterwards")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--latency-s", type=float, default=0.0, help="delay every answer by this much")
    parser.add_argument("--max-model-len", type=int, help="answer 400 past this context, as vLLM does")
    args = parser.parse_args(argv)
    backend = make_backend(args.backend, args.problems, args.model_path, args.tokenizer, args.cpu_threads)
    faults = Faults([k for k in args.fault_plan.split(",") if k], args.fault_rate, args.fault_seed)
    load_encoding()
    asyncio.run(serve(make_app(backend, args.model, faults, args.latency_s, args.max_model_len), args.host, args.port))


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until killed; print ``serving <url>`` once listening (``--port 0`` picks a free port)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"serving http://{bound_host}:{bound_port}/v1", flush=True)
    await asyncio.Event().wait()

if __name__ == "__main__":
    main()
