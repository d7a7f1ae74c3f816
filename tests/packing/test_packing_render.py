"""Rendering and loss masks, checked token by token against hand-written expectations."""

from __future__ import annotations

import pytest
from packing_helpers import build_char_tokenizer, make_messages

from nemo_math.packing.render import (
    ChatTemplateRenderer,
    HarmonyRenderer,
    load_tokenizer,
    to_chat,
)


def expected(tokenizer, pieces: list[tuple[str, int]]) -> tuple[list[int], list[int]]:
    ids, mask = [], []
    for text, trained in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        mask += [trained] * len(piece)
    return ids, mask


CHAT_PIECES = [
    ("<|im_start|>system\nReasoning: high<|im_end|>\n<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n",
     0),
    ("<think>\nadd\n</think>\n\n<tool_call>\npython:print(1+1)\n</tool_call><|im_end|>\n", 1),
    ("<|im_start|>user\n<tool_response>\n2\n</tool_response><|im_end|>\n<|im_start|>assistant\n", 0),
    ("<think>\nso 2\n</think>\n\n\\boxed{2}<|im_end|>\n", 1),
]


def test_chat_template_mask_matches_hand_made_example(char_tokenizer_dir):
    tok = load_tokenizer(str(char_tokenizer_dir))
    ids, mask = ChatTemplateRenderer(tok)(make_messages())
    want_ids, want_mask = expected(tok, CHAT_PIECES)
    assert ids == want_ids
    assert mask == want_mask
    # the character tokenizer makes each token one character (or one special token): spot-check the boundaries
    first_trained = mask.index(1)
    assert tok.convert_ids_to_tokens(ids[first_trained]) == "<think>"
    assert tok.convert_ids_to_tokens(ids[first_trained - 1]) == "\n"


def test_to_chat_groups_reasoning_with_the_turn_it_leads_to():
    chat = to_chat(make_messages())
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "assistant"]
    assert chat[2]["reasoning_content"] == "add"
    assert chat[2]["tool_calls"][0]["function"] == {"name": "python", "arguments": {"code": "print(1+1)"}}
    assert chat[4] == {"role": "assistant", "content": "\\boxed{2}", "reasoning_content": "so 2"}


def test_template_without_generation_markers_is_refused(tmp_path):
    tok = load_tokenizer(str(build_char_tokenizer(tmp_path, template="{{ messages[0].content }}")))
    with pytest.raises(ValueError, match="generation"):
        ChatTemplateRenderer(tok)


# one piece per message: the harmony renderer tokenises each message's text on its own
HARMONY_PIECES = [
    ("<|start|>system<|message|>Reasoning: high<|end|>", 0),
    ("<|start|>user<|message|>What is 1+1?<|end|>", 0),
    ("<|start|>assistant<|channel|>analysis<|message|>add<|end|>", 1),
    ("<|start|>assistant to=python<|channel|>analysis code<|message|>print(1+1)<|call|>", 1),
    ("<|start|>python to=assistant<|message|>2<|end|>", 0),
    ("<|start|>assistant<|channel|>analysis<|message|>so 2<|end|>", 1),
    ("<|start|>assistant<|channel|>final<|message|>\\boxed{2}<|return|>", 1),
]


def test_harmony_mask_matches_hand_made_example(char_tokenizer_dir):
    tok = load_tokenizer(str(char_tokenizer_dir))
    ids, mask = HarmonyRenderer(tok)(make_messages())
    want_ids, want_mask = expected(tok, HARMONY_PIECES)
    assert tok.unk_token_id not in ids
    assert ids == want_ids
    assert mask == want_mask


def test_real_qwen3_chat_template(qwen3_tokenizer, qwen3_tokenizer_dir):
    tok = qwen3_tokenizer
    ids, mask = ChatTemplateRenderer(tok, str(qwen3_tokenizer_dir / "chat_template_training.jinja"))(
        make_messages())
    assert ids[:3] == [151644, 8948, 198]  # <|im_start|>system\n
    trained = tok.decode([i for i, m in zip(ids, mask) if m])
    assert trained == ('<think>\nadd\n</think>\n\n<tool_call>\n{"name": "python", "arguments": '
                       '{"code": "print(1+1)"}}\n</tool_call><|im_end|>\n<think>\nso 2\n</think>\n\n\\boxed{2}'
                       '<|im_end|>\n')
    untrained = tok.decode([i for i, m in zip(ids, mask) if not m])
    assert untrained.endswith("<|im_start|>user\n<tool_response>\n2\n</tool_response><|im_end|>\n"
                              "<|im_start|>assistant\n")


def test_real_qwen3_harmony(qwen3_tokenizer):
    tok = qwen3_tokenizer
    ids, mask = HarmonyRenderer(tok)(make_messages())
    want_ids, want_mask = expected(tok, HARMONY_PIECES)
    assert ids == want_ids and mask == want_mask
    assert tok.decode(ids) == "".join(text for text, _ in HARMONY_PIECES)
