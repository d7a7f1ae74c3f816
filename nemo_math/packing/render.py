"""Render an SFT record to student token ids and a loss mask (1 on assistant tokens, 0 elsewhere).

Two renderers, both ending in the student's tokenizer:

* ``harmony`` (what the paper trained): the conversation is rendered to gpt-oss harmony text by ``openai-harmony``
  (through :mod:`nemo_math.generation.harmony`, message by message, since ``render_conversation_for_training``
  drops the analysis messages SFT must keep; the last assistant message ends in ``<|return|>``), and the whole
  text is tokenised in one call, exactly as a server tokenises the completions prompt that
  :func:`~nemo_math.generation.harmony.render_prompt` builds at inference. One rule for both: tokenising message by
  message instead splits tokens that a Qwen3-style BPE merges across a message boundary (``|><|``), so the
  student would see other ids at inference than in training. The harmony text of any inference prompt is a prefix
  of the training text ending right after ``<|start|>assistant``, where the BPE pre-tokeniser always cuts (letters,
  then ``<``), so its ids are a prefix of the training ids (tested token by token for every tokenizer shipped).
  The mask comes from character offsets: a token is trained when it covers any character the model writes at
  inference, i.e. the assistant messages after the ``<|start|>assistant`` that ends each prompt (the stop token
  ``<|call|>``/``<|return|>`` included, even when the BPE merges it with the next header).
* ``chat_template``: the student's own chat template through ``transformers.apply_chat_template`` with a
  training variant whose ``{% generation %}`` markers give the assistant mask (Qwen3: reasoning goes in
  ``<think>``, python calls become ``<tool_call>``, tool outputs ``<tool_response>`` user turns), applied to the
  chat messages :func:`nemo_math.generation.chat.to_chat` makes, as the chat transport sends them to a server.

A harmony-trained student is served with :func:`nemo_math.generation.chat.harmony_chat_template` (the conversion
writes it next to the weights), which renders those chat messages to this module's harmony text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nemo_math.generation.chat import PYTHON_TOOL, for_template, to_chat

RENDERERS = ("harmony", "chat_template")
# bumped whenever a renderer's ids or mask change, so a token store written under an older rule is rebuilt
RENDER_RULE = 3


def load_tokenizer(path: str):
    """The student's fast Hugging Face tokenizer (a local folder or hub id with ``tokenizer.json``).

    ``PreTrainedTokenizerFast`` rather than ``AutoTokenizer``: the latter imports the model's config code and
    with it torch (seconds per worker), and packing needs only the tokenizer and its chat template."""
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise FileNotFoundError(f"{path}: cannot load a fast tokenizer (tokenizer.json): {err}") from None


def pad_token_id(tokenizer) -> int:
    """The id packed rows are padded with: the tokenizer's pad token, else its EOS, else 0."""
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


class HarmonyRenderer:
    """gpt-oss harmony text of the whole conversation, tokenised at once by the student tokenizer."""

    def __init__(self, tokenizer):
        from nemo_math.generation.harmony import load_encoding

        self.tokenizer = tokenizer
        self.encoding = load_encoding()

    def text(self, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
        """The harmony text and the character spans the model writes at inference (trained)."""
        from nemo_math.generation.harmony import ASSISTANT_START, END, RETURN, to_harmony

        texts = [self.encoding.decode(self.encoding.render(m)) for m in to_harmony(messages)]
        last = messages[-1] if messages else None
        if last and last["role"] == "assistant" and not last.get("recipient") and texts[-1].endswith(END):
            texts[-1] = texts[-1][: -len(END)] + RETURN
        spans: list[tuple[int, int]] = []
        offset = 0
        for i, (text, m) in enumerate(zip(texts, messages)):
            if m["role"] == "assistant":
                # a completion starts after the prompt's <|start|>assistant; later headers the model writes itself
                opens = i == 0 or messages[i - 1]["role"] != "assistant"
                skip = len(ASSISTANT_START) if opens and text.startswith(ASSISTANT_START) else 0
                spans.append((offset + skip, offset + len(text)))
            offset += len(text)
        return "".join(texts), spans

    def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None):
        text, spans = self.text(messages)
        return encode_masked(self.tokenizer, text, spans)


def encode_masked(tokenizer, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """``text`` tokenised as a server tokenises a prompt (one call, the tokenizer's own special tokens), and a mask
    that is 1 on every token overlapping a span of ``spans`` (sorted, disjoint character ranges)."""
    import bisect

    out = tokenizer(text, return_offsets_mapping=True)
    starts = [s for s, _ in spans]
    mask = []
    for lo, hi in out["offset_mapping"]:
        i = bisect.bisect_right(starts, hi - 1) - 1  # the last span starting before the token ends
        mask.append(int(hi > lo and i >= 0 and spans[i][1] > lo))
    return list(out["input_ids"]), mask


class ChatTemplateRenderer:
    """The student's chat template; ``template`` is a training variant with ``{% generation %}`` markers."""

    def __init__(self, tokenizer, template: str | None = None):
        self.tokenizer = tokenizer
        self.template = Path(template).read_text() if template else None
        source = self.template or tokenizer.chat_template or ""
        if "generation" not in source:
            raise ValueError("the chat template has no {% generation %} markers, so it cannot mark assistant "
                             "tokens: set pack.chat_template to a training variant")

    def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None):
        chat = for_template(to_chat(messages))
        tools = tools_of(tools or [])
        if not tools and any(m.get("tool_calls") for m in chat):
            tools = [PYTHON_TOOL]
        out = self.tokenizer.apply_chat_template(
            chat, tools=tools or None, chat_template=self.template, tokenize=True, return_dict=True,
            return_assistant_tokens_mask=True)
        return list(out["input_ids"]), list(out["assistant_masks"])


def build_renderer(kind: str, tokenizer_path: str, chat_template: str | None = None):
    tokenizer = load_tokenizer(tokenizer_path)
    if kind == "harmony":
        return HarmonyRenderer(tokenizer)
    if kind == "chat_template":
        return ChatTemplateRenderer(tokenizer, chat_template)
    raise ValueError(f"unknown renderer {kind!r} (known: {', '.join(RENDERERS)})")


def tools_of(record_tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record ``tools`` entries as chat-template tools (bare function specs get the ``function`` wrapper)."""
    return [t if "function" in t else {"type": "function", "function": t} for t in record_tools]
