"""Our harmony-style message dicts as OpenAI chat messages, and the chat template that renders them back to harmony.

One mapping for every place a conversation becomes chat messages: the chat transport sends them to a server, the
``chat_template`` renderer trains on the student's template applied to them, and a converted harmony student ships
:func:`harmony_chat_template`, which renders them to exactly the text :mod:`nemo_math.packing.render` trained on
(and :func:`~nemo_math.generation.harmony.render_prompt` sends), so a chat server prompts the student as it learned.

* the system turn is kept (``system=False`` drops it: gpt-oss servers build it from ``reasoning_effort``); a
  developer turn, which none of our stages writes, joins it, as OpenAI's API treats the two alike;
* analysis text rides in ``reasoning_content`` of the assistant message it leads to (a python call or the final
  answer); analysis with nothing after it in the same turn becomes an assistant message with reasoning only, so
  no two analysis messages are ever joined and the mapping loses nothing the harmony text holds;
* a python call becomes a ``tool_calls`` entry (``call_<n>``, JSON ``{"code": ...}`` arguments, as the API
  requires) and its output a ``tool`` message answering that id.

Chat templates take tool-call arguments as dicts, not JSON strings; servers (vLLM) parse them before templating,
and :func:`for_template` does the same for ``apply_chat_template`` here.
"""

from __future__ import annotations

import json
from typing import Any

from nemo_math.generation.harmony import initial_messages, message

PYTHON_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "python",
        "description": "Run Python code in a stateful session (like a Jupyter notebook) and return its output.",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    },
}


def _call_id(index: int) -> str:
    return f"call_{index}"


def to_chat(messages: list[dict[str, Any]], system: bool = True) -> list[dict[str, Any]]:
    """Our dicts -> OpenAI chat messages (see the module docstring for the mapping)."""
    instructions = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    out: list[dict[str, Any]] = []
    if system and instructions:
        out.append({"role": "system", "content": "\n\n".join(instructions)})
    reasoning: str | None = None
    calls = 0
    for m in messages:
        role = m["role"]
        if role in ("system", "developer"):
            continue
        if role == "assistant" and m.get("channel") in ("analysis", "commentary") and not m.get("recipient"):
            if reasoning is not None:
                out.append({"role": "assistant", "content": "", "reasoning_content": reasoning})
            reasoning = m["content"]
            continue
        if role == "assistant" and m.get("recipient"):
            out.append({"role": "assistant", "content": "", "reasoning_content": reasoning or "",
                        "tool_calls": [{"id": _call_id(calls), "type": "function",
                                        "function": {"name": m["recipient"].removeprefix("functions."),
                                                     "arguments": json.dumps({"code": m["content"]})}}]})
            calls += 1
        elif role == "assistant":
            out.append({"role": "assistant", "content": m["content"], "reasoning_content": reasoning or ""})
        elif role == "tool":
            out.append({"role": "tool", "tool_call_id": _call_id(calls - 1), "content": m["content"]})
        else:
            out.append({"role": role, "content": m["content"]})
        reasoning = None
    if reasoning is not None:  # a trace cut short after its reasoning
        out.append({"role": "assistant", "content": "", "reasoning_content": reasoning})
    return out


def call_code(arguments: Any) -> str:
    """The code of a python tool call: ``{"code": ...}`` (JSON text or already parsed), or the raw string some
    parsers pass."""
    data = arguments
    if isinstance(arguments, str):
        try:
            data = json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return data["code"]
    return arguments if isinstance(arguments, str) else ""


def for_template(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as chat templates take them: tool-call arguments parsed to dicts (what vLLM does)."""
    out = []
    for m in chat:
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                fn = call["function"]
                args = fn["arguments"]
                calls.append({**call, "function": {**fn, "arguments": json.loads(args) if isinstance(args, str)
                                                   else args}})
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


# --------------------------------------------------------------------------------------------- harmony template
def harmony_chat_template() -> str:
    """A jinja chat template that renders :func:`to_chat` messages to the harmony text of the conversation:
    ``apply_chat_template(for_template(to_chat(m)), add_generation_prompt=True)`` is ``render_prompt(m)``, and
    without the generation prompt it is the training text (the last message closed by ``<|return|>``). Without a
    system message it builds gpt-oss's from ``reasoning_effort`` and ``tools``, as gpt-oss's own template does."""
    from nemo_math.generation.harmony import system_text

    head, plain = system_text("medium", False).split("Reasoning: medium")
    head_tool, with_tool = system_text("medium", True).split("Reasoning: medium")
    assert head == head_tool
    return "".join([
        "{%- set ns = namespace(python=false, tool='python') -%}",
        "{%- for t in tools or [] -%}{%- set f = t.function if t.function is defined else t -%}",
        "{%- if f.name == 'python' -%}{%- set ns.python = true -%}{%- endif -%}{%- endfor -%}",
        "{%- if not messages or messages[0].role != 'system' -%}",
        f"{{%- set head = {json.dumps(head)} -%}}{{%- set plain = {json.dumps(plain)} -%}}",
        f"{{%- set with_tool = {json.dumps(with_tool)} -%}}",
        "{{- '<|start|>system<|message|>' + head + 'Reasoning: ' + (reasoning_effort or 'medium') | lower }}",
        "{{- (with_tool if ns.python else plain) + '<|end|>' }}",
        "{%- endif -%}",
        "{%- for m in messages -%}",
        "{%- set close = '<|return|>' if loop.last and not add_generation_prompt else '<|end|>' -%}",
        "{%- if m.role == 'assistant' -%}",
        "{%- set reasoning = m.reasoning_content if m.reasoning_content is string else "
        "(m.reasoning if m.reasoning is string else '') -%}",
        "{%- set answer = m.content if m.content is string else '' -%}",
        "{%- if reasoning -%}{{- '<|start|>assistant<|channel|>analysis<|message|>' + reasoning }}",
        "{{- close if not answer and not m.tool_calls else '<|end|>' }}{%- endif -%}",
        "{%- for call in m.tool_calls or [] -%}{%- set f = call.function -%}",
        "{%- set args = f.arguments -%}",
        "{%- if f.name == 'python' -%}{%- set ns.tool = 'python' -%}",
        "{{- '<|start|>assistant to=python<|channel|>analysis code<|message|>' }}",
        "{{- (args.code if args is mapping else args) + '<|call|>' }}",
        "{%- else -%}{%- set ns.tool = 'functions.' + f.name -%}",
        "{{- '<|start|>assistant to=functions.' + f.name + '<|channel|>commentary json<|message|>' }}",
        "{{- (args | tojson if args is mapping else args) + '<|call|>' }}",
        "{%- endif -%}{%- endfor -%}",
        "{%- if answer and not m.tool_calls -%}",
        "{{- '<|start|>assistant<|channel|>final<|message|>' + answer + close }}{%- endif -%}",
        "{%- elif m.role == 'tool' -%}",
        "{{- '<|start|>' + ns.tool + ' to=assistant<|channel|>analysis<|message|>' + m.content + '<|end|>' }}",
        "{%- else -%}{{- '<|start|>' + m.role + '<|message|>' + m.content + '<|end|>' }}",
        "{%- endif -%}{%- endfor -%}",
        "{%- if add_generation_prompt -%}{{- '<|start|>assistant' }}{%- endif -%}",
    ])


def from_chat(chat: list[dict[str, Any]], reasoning_effort: str | None, tools: list[dict] | None
              ) -> list[dict[str, Any]]:
    """OpenAI chat messages (as :func:`to_chat` writes them) -> our dicts, system turn rebuilt from
    ``reasoning_effort`` and ``tools`` (used by the test server)."""
    mode = (reasoning_effort or "medium").lower()
    with_tool = any((t.get("function") or {}).get("name") == "python" for t in tools or [])
    out = initial_messages("", mode, with_tool)[:1]
    for m in chat:
        role, content = m.get("role"), m.get("content")
        text = content if isinstance(content, str) else "".join(
            p.get("text", "") for p in content or [] if isinstance(p, dict))
        if role == "system":
            continue
        if role == "assistant":
            if m.get("reasoning_content") or m.get("reasoning"):
                out.append(message("assistant", m.get("reasoning_content") or m.get("reasoning"), "analysis"))
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                out.append(message("assistant", call_code(fn.get("arguments", "")), "analysis", fn.get("name")))
            if text:
                out.append(message("assistant", text, "final"))
        elif role == "tool":
            out.append(message("tool", text, "analysis", None, "python"))
        else:
            out.append(message(role, text))
    return out
