"""gpt-oss harmony format: our message dicts <-> ``openai_harmony`` messages, prompt rendering, completion parsing.

``openai-harmony`` is the official renderer/parser of the format, so we never hand-format special tokens. Its
vocabulary (``o200k_base``) is vendored in ``nemo_math/data`` and loaded offline through
``TIKTOKEN_ENCODINGS_BASE``, so rendering works on an air-gapped cluster.

Our message dicts (see :mod:`nemo_math.records`) hold the system turn as the *text* it renders to ("You are
ChatGPT ... Reasoning: high ... # Tools ## python ..."), not as a structured ``SystemContent``: a text system
message renders to exactly the same tokens, round-trips losslessly through JSON, and lets
``SFTRecord.mode`` read the reasoning mode from it. :func:`system_message` builds that text.

Public API (packing renders SFT records with these)::

    enc = load_encoding()                         # cached HarmonyEncoding
    harmony_messages = to_harmony(messages)       # list[openai_harmony.Message]
    tokens = render_training_tokens(messages)     # whole trace, analysis kept, last final ends in <|return|>

Beware: openai-harmony's renderers drop the analysis turns before a final answer unless told otherwise
(``auto_drop_analysis``); for distillation the reasoning *is* the training signal, so we always keep it.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from nemo_math.records import CHANNELS

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PROMPT_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."
REASONING_RE = re.compile(r"Reasoning:\s*(high|medium|low)", re.IGNORECASE)

CALL, RETURN, END, START = "<|call|>", "<|return|>", "<|end|>", "<|start|>"
ASSISTANT_START = "<|start|>assistant"


@functools.cache
def load_encoding():
    """The gpt-oss ``HarmonyEncoding``, loaded offline from the vendored ``o200k_base.tiktoken`` (cached)."""
    os.environ.setdefault("TIKTOKEN_ENCODINGS_BASE", str(DATA_DIR))
    if not (Path(os.environ["TIKTOKEN_ENCODINGS_BASE"]) / "o200k_base.tiktoken").exists():
        os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(DATA_DIR)
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


def user_prompt(problem: str) -> str:
    """The paper's user turn: the problem, then the step-by-step / boxed instruction."""
    return f"{problem.strip()}\n\n{PROMPT_SUFFIX}"


@functools.cache
def system_text(mode: str, with_tool: bool) -> str:
    """The text of gpt-oss's system turn for a reasoning mode, with the built-in python tool when asked."""
    from openai_harmony import Message, ReasoningEffort, Role, SystemContent

    content = SystemContent.new().with_reasoning_effort(ReasoningEffort(mode.capitalize()))
    if with_tool:
        content = content.with_python_tool()
    enc = load_encoding()
    text = enc.decode(enc.render(Message.from_role_and_content(Role.SYSTEM, content)))
    return text.removeprefix("<|start|>system<|message|>").removesuffix(END)


def system_message(mode: str, with_tool: bool) -> dict[str, Any]:
    return message("system", system_text(mode, with_tool))


def message(role: str, content: str, channel: str | None = None, recipient: str | None = None,
            name: str | None = None) -> dict[str, Any]:
    """One turn in our harmony-style dict form (the form records store)."""
    return {"role": role, "content": content, "channel": channel, "recipient": recipient, "name": name}


def initial_messages(problem: str, mode: str, with_tool: bool) -> list[dict[str, Any]]:
    """System (reasoning mode, tool) + the paper's user prompt: the start of every trajectory."""
    return [system_message(mode, with_tool), message("user", user_prompt(problem))]


def mode_of(messages: list[dict[str, Any]]) -> str | None:
    """The reasoning mode named in the system/developer turn, or None."""
    for m in messages:
        if m["role"] in ("system", "developer") and (match := REASONING_RE.search(m["content"])):
            return match.group(1).lower()
    return None


def has_python_tool(messages: list[dict[str, Any]]) -> bool:
    return any(m["role"] in ("system", "developer") and "## python" in m["content"] for m in messages)


# --------------------------------------------------------------------------------------------- conversion
def to_harmony(messages: list[dict[str, Any]]):
    """Our message dicts -> ``openai_harmony.Message`` list (tool calls get ``content_type='code'``; tool
    results are addressed back ``to=assistant``, as gpt-oss renders them)."""
    from openai_harmony import Author, Message, Role

    out = []
    for m in messages:
        role = Role(m["role"])
        author = Author(role=role, name=m.get("name") or ("python" if role == Role.TOOL else None))
        msg = Message.from_author_and_content(author, m["content"])
        if m.get("channel"):
            msg = msg.with_channel(m["channel"])
        if role == Role.ASSISTANT and m.get("recipient"):
            msg = msg.with_recipient(m["recipient"])
            if m["recipient"] == "python":
                msg = msg.with_content_type("code")
        elif role == Role.TOOL:
            msg = msg.with_recipient("assistant")
        out.append(msg)
    return out


def from_harmony(messages) -> list[dict[str, Any]]:
    """``openai_harmony.Message`` list -> our message dicts (text contents joined; structured system/developer
    contents rendered to their text)."""
    from openai_harmony import Role, TextContent

    out = []
    enc = None
    for m in messages:
        role = Role(m.author.role).value
        parts = []
        for c in m.content:
            if isinstance(c, TextContent):
                parts.append(c.text)
            else:  # SystemContent / DeveloperContent: keep the exact text it renders to
                from openai_harmony import Message

                enc = enc or load_encoding()
                text = enc.decode(enc.render(Message.from_author_and_content(m.author, c)))
                parts.append(text.split("<|message|>", 1)[1].removesuffix(END))
        recipient = m.recipient if role == "assistant" else None
        name = m.author.name or ("python" if role == "tool" else None)
        # a model may write any header (an untrained student wrote "analysis+100"): text on a channel that is
        # not harmony's is reasoning, never an answer, and must not make the trajectory unreadable
        channel = m.channel if m.channel is None or m.channel in CHANNELS else "analysis"
        out.append(message(role, "".join(parts), channel, recipient, name))
    return out


# --------------------------------------------------------------------------------------------- raw completions
def render_prompt(messages: list[dict[str, Any]]) -> str:
    """The raw-completions prompt: the conversation so far, ending in ``<|start|>assistant`` (analysis kept:
    in a tool loop the model must see its own reasoning)."""
    from openai_harmony import Conversation, RenderConversationConfig, Role

    enc = load_encoding()
    tokens = enc.render_conversation_for_completion(
        Conversation.from_messages(to_harmony(messages)), Role.ASSISTANT,
        RenderConversationConfig(auto_drop_analysis=False))
    return enc.decode(tokens)


def render_training_tokens(messages: list[dict[str, Any]]) -> list[int]:
    """A whole conversation as training tokens: every turn kept (analysis included), the last final answer
    closed by ``<|return|>`` as gpt-oss emits it."""
    from openai_harmony import Conversation, RenderConversationConfig

    return load_encoding().render_conversation_for_training(
        Conversation.from_messages(to_harmony(messages)), RenderConversationConfig(auto_drop_analysis=False))


def render_completion(messages: list[dict[str, Any]]) -> str:
    """What a model writes after ``render_prompt``: the assistant ``messages``, without the leading
    ``<|start|>assistant`` and without the final stop token (servers strip the stop token)."""
    enc = load_encoding()
    text = "".join(enc.decode(enc.render(m)) for m in to_harmony(messages))
    text = text.removeprefix(ASSISTANT_START)
    for stop in (CALL, END, RETURN):
        if text.endswith(stop):
            return text[: -len(stop)]
    return text


def parse_completion(text: str) -> list[dict[str, Any]]:
    """Completion text (after ``<|start|>assistant``, stop token absent or present) -> assistant message dicts.

    Lenient: a completion cut by the token limit parses to its partial last message. Text the parser cannot
    read at all becomes one analysis message, so nothing the model wrote is lost."""
    from openai_harmony import Role

    enc = load_encoding()
    tokens = enc.encode(text, allowed_special="all")
    try:
        parsed = enc.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT, strict=False)
    except Exception:  # the Rust parser raises plain exceptions on malformed headers
        return [message("assistant", text, "analysis")]
    return from_harmony(parsed)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in the gpt-oss vocabulary (special tokens counted as one)."""
    return len(load_encoding().encode(text, allowed_special="all"))
