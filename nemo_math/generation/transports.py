"""The two ways to ask a server for the next assistant turn, behind one ``step`` call.

* :class:`CompletionsTransport` renders the harmony conversation ourselves and sends raw text to
  ``/v1/completions``, stopping at ``<|call|>``/``<|return|>``: exact control over the trace (what NeMo-Skills
  does for gpt-oss), for any model trained on harmony text (the teacher, or our Qwen3 students).
* :class:`ChatTransport` sends OpenAI chat messages with a ``python`` function tool and ``reasoning_effort`` to
  ``/v1/chat/completions`` (what vLLM/SGLang serve with a tool parser); reasoning comes back as
  ``reasoning_content``. Our system turn (reasoning mode, tool) is sent as a ``system`` message, so the mode
  reaches any model, not only gpt-oss servers that rebuild it from ``reasoning_effort``
  (``client.chat_system: false`` leaves it to them). A reply whose content is harmony text (a harmony-trained
  student behind a plain chat template) is parsed as the completions transport parses it, so the same text is
  classed the same way by both.

Both return a :class:`Turn` in our harmony-style message dicts, so the TIR loop does not care which is used.
Requests are built by :func:`nemo_math.generation.chat.to_chat` (the one dict -> chat mapping); replies are mapped back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from nemo_math.generation.chat import PYTHON_TOOL, call_code, to_chat
from nemo_math.generation.client import Completion, GenerationClient
from nemo_math.generation.harmony import (CALL, RETURN, START, from_harmony, load_encoding,
                                          message, mode_of, parse_completion, render_prompt)

HARMONY_MARKUP = "<|message|>"


@dataclass
class Turn:
    """New assistant messages and why the turn ended: ``call`` (last message calls python), ``final``,
    ``length`` (token limit) or ``stop`` (stopped with neither a call nor a final answer)."""

    messages: list[dict[str, Any]]
    finish: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Transport(Protocol):
    async def step(self, messages: list[dict[str, Any]], *, with_tool: bool, max_tokens: int,
                   seed: int | None) -> Turn: ...


def _finish(messages: list[dict[str, Any]], finish_reason: str) -> str:
    if finish_reason == "length":
        return "length"
    if messages and messages[-1].get("recipient"):
        return "call"
    if any(m["role"] == "assistant" and m.get("channel") == "final" for m in messages):
        return "final"
    return "stop"


@dataclass
class CompletionsTransport:
    client: GenerationClient
    temperature: float = 1.0
    top_p: float = 1.0

    async def step(self, messages: list[dict[str, Any]], *, with_tool: bool, max_tokens: int,
                   seed: int | None) -> Turn:
        # stop at <|call|> / <|return|>: stop strings, not token ids, so a student with another vocabulary (Qwen3)
        # is served the same way; the client adds the server's fields that keep the harmony headers in the text
        out = await self.client.complete(render_prompt(messages), max_tokens=max_tokens,
                                         temperature=self.temperature, top_p=self.top_p, seed=seed,
                                         stop=[CALL, RETURN])
        new = parse_completion(out.text) if out.text else []
        return Turn(new, _finish(new, out.finish_reason), out.prompt_tokens, out.completion_tokens)


@dataclass
class ChatTransport:
    client: GenerationClient
    temperature: float = 1.0
    top_p: float = 1.0

    async def step(self, messages: list[dict[str, Any]], *, with_tool: bool, max_tokens: int,
                   seed: int | None) -> Turn:
        out = await self.client.chat(to_chat(messages, system=self.client.cfg.chat_system), max_tokens=max_tokens,
                                     temperature=self.temperature, top_p=self.top_p, seed=seed,
                                     tools=[PYTHON_TOOL] if with_tool else None, reasoning_effort=mode_of(messages))
        new = from_chat_completion(out)
        return Turn(new, _finish(new, out.finish_reason), out.prompt_tokens, out.completion_tokens)


# --------------------------------------------------------------------------------------------- chat replies
def from_chat_completion(out: Completion) -> list[dict[str, Any]]:
    """A chat response -> assistant dicts: reasoning (analysis), tool calls (analysis to=python), content
    (final when the turn made no call)."""
    if HARMONY_MARKUP in out.text and not out.reasoning and not out.tool_calls:
        return _harmony_reply(out.text)
    new = []
    if out.reasoning:
        new.append(message("assistant", out.reasoning, "analysis"))
    for call in out.tool_calls:
        new.append(message("assistant", call_code(call["arguments"]), "analysis", call["name"]))
    if out.text and not out.tool_calls:
        new.append(message("assistant", out.text, "final"))
    return new


def _harmony_reply(text: str) -> list[dict[str, Any]]:
    """Harmony text in a chat reply -> assistant dicts. A reply starting with ``<|start|>`` echoes the prompt
    (``transformers serve`` does): only the messages after the last user/tool turn are the reply."""
    if not text.startswith(START):
        return parse_completion(text)
    enc = load_encoding()
    turns = from_harmony(enc.parse_messages_from_completion_tokens(enc.encode(text, allowed_special="all"), None,
                                                                   strict=False))
    asked = max((i for i, m in enumerate(turns) if m["role"] != "assistant"), default=-1)
    return turns[asked + 1:]
