"""Helpers of the packing tests: a character-level student tokenizer trained on the fly (every token is one
character, so expected masks can be written by hand) with a small chat template that has generation markers, and
a hand-made conversation. A uniquely named module (not conftest) so other test folders' helpers never shadow it."""

from __future__ import annotations

import string
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
            "<tool_response>", "</tool_response>"]

# a Qwen3-like training template, reduced to what to_chat produces
TEMPLATE = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' %}{{- '<|im_start|>assistant\\n' }}{%- generation %}"
    "{{- '<think>\\n' + m.reasoning_content + '\\n</think>\\n\\n' + m.content }}"
    "{%- for call in m.tool_calls or [] %}{{- '<tool_call>\\n' + call.function.name + ':' "
    "+ call.function.arguments.code + '\\n</tool_call>' }}{%- endfor %}"
    "{{- '<|im_end|>\\n' }}{%- endgeneration %}"
    "{%- elif m.role == 'tool' %}{{- '<|im_start|>user\\n<tool_response>\\n' + m.content "
    "+ '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
)


def build_char_tokenizer(path: Path, template: str | None = TEMPLATE) -> Path:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", *SPECIALS])
    tok.train_from_iterator([string.printable], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="<|endoftext|>",
                                   eos_token="<|im_end|>", additional_special_tokens=SPECIALS[1:])
    if template:
        fast.chat_template = template
    fast.save_pretrained(path)
    return path


def make_messages(mode: str = "high", answer: str = "2", reasoning: str = "add") -> list[dict]:
    """System, user, reasoning, a python call, its output, more reasoning, the final answer."""
    def msg(role, content, channel=None, recipient=None, name=None):
        return {"role": role, "content": content, "channel": channel, "recipient": recipient, "name": name}

    return [msg("system", f"Reasoning: {mode}"), msg("user", "What is 1+1?"),
            msg("assistant", reasoning, "analysis"), msg("assistant", "print(1+1)", "analysis", "python"),
            msg("tool", "2", None, None, "python"), msg("assistant", "so 2", "analysis"),
            msg("assistant", f"\\boxed{{{answer}}}", "final")]



def build_bpe_tokenizer(path: Path) -> Path:
    """A byte-level BPE (Qwen3's pre-tokenising regex) trained on harmony text with no harmony special tokens, as
    Qwen3 has none: it merges ``|><|`` across message boundaries, the case that makes message-by-message and
    whole-text tokenisation differ."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from nemo_math.generation.harmony import load_encoding, to_harmony

    enc = load_encoding()
    texts = ["".join(enc.decode(enc.render(m)) for m in to_harmony(make_messages(mode, str(answer), reasoning)))
             for mode in ("high", "low") for answer in range(10) for reasoning in ("add", "sum it", "so")]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|endoftext|>").save_pretrained(path)
    return path


# Qwen2/Qwen3's pre-tokeniser pattern (public in their tokenizer.json)
QWEN3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
