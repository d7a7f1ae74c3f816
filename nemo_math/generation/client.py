"""The async OpenAI-compatible client every stage that talks to a model server uses (teacher, judge, student).

It wraps one ``openai.AsyncOpenAI`` per server URL and adds what a long generation run needs on top:

* bounded concurrency (``max_in_flight`` requests at once, across all servers);
* load balancing: each request goes to the server with the fewest requests in flight;
* retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and malformed
  responses, moving to another server when there is one. We do this ourselves (``max_retries=0`` in the
  openai client) because the built-in retry stays on the server that just failed and cannot skip a dead one;
* a per-request timeout, and counters (requests, retries, tokens) for progress bars and summaries;
* a dead server told from a failing request: after a failure the server's ``/health`` is probed; when no server
  answers, :class:`ServerDead` is raised after a few tries (the run stops: every other job would fail too),
  while a request that keeps failing on a healthy server raises :class:`RequestFailed` (that job alone fails);
* context length: a 400 "maximum context length" is not retried as is. When the prompt fits but
  ``max_tokens`` does not (vLLM checks prompt + max_tokens), it is retried once with ``max_tokens`` cut to
  what is left; when the prompt itself does not fit, :class:`ContextLengthError` is raised;
* the server's own request fields (``cfg.extra_body``, e.g. vLLM's ``skip_special_tokens``) on every
  request, and the sampling ``seed`` only when ``cfg.seed``.

HTTP goes through aiohttp (``openai.DefaultAioHttpClient``, the ``httpx-aiohttp`` transport): httpx's own
connection pool costs O(connections) per request, which at 512 in flight made the client, not the server, the
bottleneck (see ``benchmarks/generation.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from nemo_math.generation.config import ClientConfig
from nemo_math.progress import log

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
DEAD_RETRIES = 3  # attempts before giving up when no server answers /health
# vLLM: "maximum context length is 256 tokens. However, your prompt contains at least 257 input tokens" (the
# prompt does not fit) and "max_tokens=300 cannot be greater than max_model_len=256" (it does; older vLLM:
# "... and your request has 30 input tokens"); SGLang: "... is longer than the model's context length"
CONTEXT_RE = re.compile(r"context length|max_model_len|context_length_exceeded", re.I)
CONTEXT_NUMBERS_RE = re.compile(r"maximum context length is (\d+) tokens.*?(\d+) input tokens", re.I | re.S)
MAX_TOKENS_RE = re.compile(r"max_tokens=\d+ cannot be greater than max_model_len=(\d+)", re.I)


class MalformedResponse(RuntimeError):
    """The server answered 200 with something that is not a usable completion (bad JSON, no choices)."""


class RequestFailed(RuntimeError):
    """A request still failed after every retry; ``__cause__`` holds the last error."""


class ServerDead(RequestFailed):
    """No server answers ``/health``: every request would fail, so the run should stop."""


class ContextLengthError(RuntimeError):
    """The prompt does not fit in the server's context (HTTP 400 "maximum context length")."""


def context_limits(err: BaseException) -> tuple[int, int] | None | bool:
    """For a context-length 400: ``(context, input_tokens)`` when the server says them, else True; None when
    ``err`` is not a context-length error."""
    if not isinstance(err, openai.APIStatusError) or err.status_code not in (400, 413, 422):
        return None
    text = str(err)
    if not CONTEXT_RE.search(text):
        return None
    if match := CONTEXT_NUMBERS_RE.search(text):
        return int(match.group(1)), int(match.group(2))
    if match := MAX_TOKENS_RE.search(text):
        return int(match.group(1)), 0
    return True


def healthy(root: str, timeout_s: float = 10.0, slow_is_alive: bool = False) -> bool:
    """Whether ``root/health`` answers 200 (vLLM, SGLang, transformers serve and our server all have it);
    with ``slow_is_alive`` a probe that times out counts as alive (a loaded server is not a dead one)."""
    try:
        with urllib.request.urlopen(f"{root.rstrip('/')}/health", timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError) as err:
        return slow_is_alive and isinstance(getattr(err, "reason", err), TimeoutError)


@dataclass
class Completion:
    """One model response, transport-independent.

    ``text`` is the chat ``content`` or the completion text; ``reasoning`` the chat ``reasoning_content`` (gpt-oss
    analysis channel); ``tool_calls`` chat tool calls as ``{"id", "name", "arguments"}``; ``stop_reason`` the
    stop string/token id vLLM reports (None elsewhere)."""

    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: Any = None


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def is_retryable(err: BaseException) -> bool:
    if isinstance(err, (openai.APIConnectionError, MalformedResponse, openai.APIResponseValidationError,
                        json.JSONDecodeError, httpx.TransportError)):
        return True
    if isinstance(err, openai.APIStatusError):
        return err.status_code in RETRY_STATUS or err.status_code >= 500
    return False


def _retry_after(err: BaseException) -> float | None:
    response = getattr(err, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class GenerationClient:
    """Async chat/text completions against one or more OpenAI-compatible servers. Use as an async context
    manager, or call :meth:`close`."""

    def __init__(self, cfg: ClientConfig):
        if not cfg.base_urls:
            raise ValueError("client.base_urls: give at least one server URL")
        self.cfg = cfg
        self.stats = ClientStats()
        self._servers = []
        for url in cfg.base_urls:
            http = openai.DefaultAioHttpClient(
                timeout=httpx.Timeout(cfg.request_timeout_s, connect=min(cfg.request_timeout_s, 30.0)),
                limits=httpx.Limits(max_connections=cfg.max_in_flight, max_keepalive_connections=cfg.max_in_flight))
            self._servers.append(openai.AsyncOpenAI(base_url=url, api_key=cfg.api_key, max_retries=0,
                                                    timeout=cfg.request_timeout_s, http_client=http))
        self._in_flight = [0] * len(self._servers)
        self._turn = itertools.count()
        self._slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> "GenerationClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for server in self._servers:
            await server.close()

    # ----------------------------------------------------------------------------------------- public calls
    async def chat(self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 1.0,
                   top_p: float = 1.0, seed: int | None = None, tools: list[dict[str, Any]] | None = None,
                   reasoning_effort: str | None = None, extra_body: dict[str, Any] | None = None) -> Completion:
        """A Chat Completions request (``tools`` in OpenAI function form; ``reasoning_effort`` for gpt-oss;
        ``extra_body`` merged into the JSON body, e.g. vLLM sampling options)."""
        kwargs: dict[str, Any] = dict(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                      top_p=top_p)
        if seed is not None and self.cfg.seed:
            kwargs["seed"] = seed
        if tools:
            kwargs["tools"] = tools
        if reasoning_effort:
            kwargs["reasoning_effort"] = reasoning_effort
        return await self._request("chat", {**kwargs, **(self.cfg.extra_body or {}), **(extra_body or {})})

    async def complete(self, prompt: str, *, max_tokens: int, temperature: float = 1.0, top_p: float = 1.0,
                       seed: int | None = None, stop: list[str] | None = None,
                       extra_body: dict[str, Any] | None = None) -> Completion:
        """A raw text Completions request (the prompt is sent as is, with the server's ``cfg.extra_body``)."""
        kwargs: dict[str, Any] = dict(prompt=prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        if seed is not None and self.cfg.seed:
            kwargs["seed"] = seed
        if stop:
            kwargs["stop"] = stop
        return await self._request("completions", {**kwargs, **(self.cfg.extra_body or {}), **(extra_body or {})})

    # ----------------------------------------------------------------------------------------- internals
    def _pick(self, avoid: int | None) -> int:
        n = len(self._servers)
        start = next(self._turn) % n
        order = [(start + i) % n for i in range(n)]
        if avoid is not None and n > 1:
            order.remove(avoid)
        return min(order, key=lambda i: self._in_flight[i])

    async def _request(self, kind: str, kwargs: dict[str, Any]) -> Completion:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.cfg.max_in_flight)
        failed: int | None = None
        cut_max_tokens = False
        async with self._slots:
            for attempt in itertools.count():
                index = self._pick(failed)
                self._in_flight[index] += 1
                try:
                    result = await self._send(self._servers[index], kind, kwargs)
                except Exception as err:  # noqa: BLE001 - sorted into retryable or not right below
                    limits = context_limits(err)
                    if isinstance(limits, tuple) and limits[1] < limits[0] and not cut_max_tokens:
                        kwargs = {**kwargs, "max_tokens": min(kwargs["max_tokens"], limits[0] - limits[1])}
                        cut_max_tokens = True  # the prompt fits; ask for what is left of the context
                        continue
                    if limits is not None:
                        self.stats.failures += 1
                        raise ContextLengthError(f"{self.cfg.base_urls[index]}: {err}") from err
                    dead = is_retryable(err) and not await self._alive()
                    if not is_retryable(err) or attempt >= (DEAD_RETRIES - 1 if dead else self.cfg.max_retries):
                        self.stats.failures += 1
                        if dead:
                            raise ServerDead(f"no server answers /health ({', '.join(self.cfg.base_urls)}); last "
                                             f"error: {type(err).__name__}: {err}") from err
                        if is_retryable(err):
                            raise RequestFailed(f"{self.cfg.base_urls[index]}: gave up after {attempt + 1} "
                                                f"attempts: {type(err).__name__}: {err}") from err
                        raise
                    failed = index
                    self.stats.retries += 1
                    delay = _retry_after(err)
                    if delay is None:
                        cap = min(self.cfg.backoff_max_s, self.cfg.backoff_initial_s * 2 ** attempt)
                        delay = cap * random.uniform(0.5, 1.0)
                    delay = min(delay, self.cfg.backoff_max_s)
                    log.debug("retry %d on %s in %.2fs: %s", attempt + 1, self.cfg.base_urls[index], delay, err)
                    await asyncio.sleep(delay)
                    continue
                finally:
                    self._in_flight[index] -= 1
                self.stats.requests += 1
                self.stats.prompt_tokens += result.prompt_tokens
                self.stats.completion_tokens += result.completion_tokens
                return result
        raise AssertionError("unreachable")

    async def _alive(self) -> bool:
        """Whether any server answers ``/health``."""
        for url in self.cfg.base_urls:
            if await asyncio.to_thread(healthy, url.rstrip("/").removesuffix("/v1"), slow_is_alive=True):
                return True
        return False

    async def _send(self, server: openai.AsyncOpenAI, kind: str, kwargs: dict[str, Any]) -> Completion:
        # ``post`` with ``cast_to=object`` is the openai client's raw-JSON path: same auth, URLs, timeouts and
        # error classes, without the typed-params transform and pydantic models (3x less CPU per request)
        body = {"model": self.cfg.model, **kwargs}
        path = "/chat/completions" if kind == "chat" else "/completions"
        data = await server.post(path, cast_to=object, body=body)
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
            finish = choice.get("finish_reason") or "stop"
            if kind == "chat":
                msg = choice["message"]
                calls = [{"id": c.get("id", ""), "name": c["function"]["name"],
                          "arguments": c["function"].get("arguments") or ""} for c in msg.get("tool_calls") or []]
                reasoning = msg.get("reasoning_content") or msg.get("reasoning")
                return Completion(msg.get("content") or "", finish, prompt_tokens, completion_tokens, reasoning,
                                  calls, choice.get("stop_reason"))
            if not isinstance(choice["text"], str):
                raise TypeError("text is not a string")
            return Completion(choice["text"], finish, prompt_tokens, completion_tokens,
                              stop_reason=choice.get("stop_reason"))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise MalformedResponse(f"unusable {path} response ({type(err).__name__}: {err}): "
                                    f"{str(data)[:200]}") from None
