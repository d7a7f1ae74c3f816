"""Rendering and loss masks, checked token by token against hand-written expectations."""

from __future__ import annotations

import pytest
from packing_helpers import build_char_tokenizer, make_messages

from nemo_math.generation.chat import PYTHON_TOOL, for_template, to_chat
from nemo_math.packing.render import ChatTemplateRenderer, HarmonyRenderer, load_tokenizer


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
    chat = for_template(to_chat(make_messages()))
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "assistant"]
    assert chat[2]["reasoning_content"] == "add"
    assert chat[2]["tool_calls"][0]["function"] == {"name": "python", "arguments": {"code": "print(1+1)"}}
    assert chat[4] == {"role": "assistant", "content": "\\boxed{2}", "reasoning_content": "so 2"}


def test_template_without_generation_markers_is_refused(tmp_path):
    tok = load_tokenizer(str(build_char_tokenizer(tmp_path, template="{{ messages[0].content }}")))
    with pytest.raises(ValueError, match="generation"):
        ChatTemplateRenderer(tok)


# the harmony text, cut where the model starts writing (after each prompt's <|start|>assistant) and stops
HARMONY_PIECES = [
    ("<|start|>system<|message|>Reasoning: high<|end|><|start|>user<|message|>What is 1+1?<|end|>"
     "<|start|>assistant", 0),
    ("<|channel|>analysis<|message|>add<|end|><|start|>assistant to=python<|channel|>analysis code<|message|>"
     "print(1+1)<|call|>", 1),
    ("<|start|>python to=assistant<|message|>2<|end|><|start|>assistant", 0),
    ("<|channel|>analysis<|message|>so 2<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{2}<|return|>", 1),
]


def test_harmony_mask_matches_hand_made_example(char_tokenizer_dir):
    tok = load_tokenizer(str(char_tokenizer_dir))
    ids, mask = HarmonyRenderer(tok)(make_messages())
    want_ids, want_mask = expected(tok, HARMONY_PIECES)
    assert tok.unk_token_id not in ids
    assert ids == want_ids
    assert mask == want_mask


def test_harmony_training_text_is_openai_harmony_s(char_tokenizer_dir):
    from nemo_math.generation.harmony import load_encoding, render_training_tokens

    text, _ = HarmonyRenderer(load_tokenizer(str(char_tokenizer_dir))).text(make_messages())
    assert text == load_encoding().decode(render_training_tokens(make_messages()))


def completion_starts(messages: list[dict]) -> list[int]:
    """Where inference asks the model for a turn: each assistant message that follows another role."""
    return [k for k in range(1, len(messages))
            if messages[k]["role"] == "assistant" and messages[k - 1]["role"] != "assistant"]


def assert_prompts_are_training_prefixes(tok, messages: list[dict]) -> None:
    """The ids a server gives each inference prompt (``render_prompt`` text, tokenised whole as a completions
    server does) are the training ids of that prefix, token by token; the model is trained from the next token."""
    from nemo_math.generation.harmony import render_prompt

    ids, mask = HarmonyRenderer(tok)(messages)
    starts = completion_starts(messages)
    assert starts
    for k in starts:
        prompt = tok(render_prompt(messages[:k]))["input_ids"]
        assert ids[: len(prompt)] == prompt, (k, tok.convert_ids_to_tokens(ids[: len(prompt)])[-8:],
                                              tok.convert_ids_to_tokens(prompt)[-8:])
        assert mask[len(prompt) - 1] == 0 and mask[len(prompt)] == 1


@pytest.mark.parametrize("messages", [make_messages(), make_messages("low", "-\\frac{1}{2}", "half. So")[:3]
                                      + make_messages("low", "-\\frac{1}{2}", "half. So")[5:]])
@pytest.mark.parametrize("kind", ["char", "bpe", "tiny", "qwen3"])
def test_harmony_inference_prompt_ids_are_training_ids(kind, messages, request):
    """One tokenisation rule for training and inference, for every student tokenizer shipped or tested: a
    byte-level BPE that merges ``|><|`` across message boundaries (as Qwen3 does) used to get other ids at
    inference (whole prompt) than in training (message by message)."""
    from nemo_math.config import DATA_DIR

    path = {"char": lambda: request.getfixturevalue("char_tokenizer_dir"),
            "bpe": lambda: request.getfixturevalue("bpe_tokenizer_dir"),
            "tiny": lambda: DATA_DIR / "tokenizers" / "tiny",
            "qwen3": lambda: request.getfixturevalue("qwen3_tokenizer_dir")}[kind]()
    assert_prompts_are_training_prefixes(load_tokenizer(str(path)), messages)


def test_harmony_mask_covers_a_stop_token_merged_with_the_next_header(bpe_tokenizer_dir):
    """``<|call|><|start|>`` is one BPE word: its ``|><|`` token carries the end of the stop token the model must
    write, so it is trained (the tool turn's header after it is not)."""
    tok = load_tokenizer(str(bpe_tokenizer_dir))
    ids, mask = HarmonyRenderer(tok)(make_messages())
    pieces = tok.convert_ids_to_tokens(ids)
    call = next(i for i in range(len(pieces)) if pieces[i:i + 2] == ["call", "|><|"])
    assert pieces[call - 1].endswith("<|") and mask[call - 1: call + 3] == [1, 1, 1, 0]  # )<| call |><| start
    assert tok.decode([i for i, m in zip(ids, mask) if m]).endswith("\\boxed{2}<|return|>")


def test_gpt_oss_o200k_prompt_tokens_are_training_tokens():
    """gpt-oss's own vocabulary has the harmony markers as special tokens, so nothing merges across messages:
    the teacher's completion prompts (rendered by openai-harmony, or the same text tokenised by a server) are
    token-for-token prefixes of the training tokens."""
    from openai_harmony import Conversation, RenderConversationConfig, Role

    from nemo_math.generation.harmony import load_encoding, render_prompt, render_training_tokens, to_harmony

    enc, messages = load_encoding(), make_messages()
    training = render_training_tokens(messages)
    for k in completion_starts(messages):
        prompt = enc.render_conversation_for_completion(
            Conversation.from_messages(to_harmony(messages[:k])), Role.ASSISTANT,
            RenderConversationConfig(auto_drop_analysis=False))
        assert training[: len(prompt)] == prompt
        assert enc.encode(render_prompt(messages[:k]), allowed_special="all") == prompt


def test_real_qwen3_harmony(qwen3_tokenizer):
    tok = qwen3_tokenizer
    ids, mask = HarmonyRenderer(tok)(make_messages())
    text = "".join(t for t, _ in HARMONY_PIECES)
    assert ids == tok(text)["input_ids"] and tok.decode(ids) == text
    # trained: what the model writes after each prompt (BPE words may straddle the cuts only at stop tokens)
    assert tok.decode([i for i, m in zip(ids, mask) if m]).startswith("<|channel|>analysis<|message|>add<|end|>")


def test_real_qwen3_chat_template_inference_prompt_ids_are_training_ids(qwen3_tokenizer, qwen3_tokenizer_dir):
    """The chat-template renderer trains on ``apply_chat_template`` of the whole chat (TRL's training variant of
    the template); a server applies the tokenizer's own template with a generation prompt to the chat so far:
    those ids are the training ids of that prefix, token by token."""
    tok, messages = qwen3_tokenizer, make_messages()
    ids, mask = ChatTemplateRenderer(tok, str(qwen3_tokenizer_dir / "chat_template_training.jinja"))(messages)
    chat = for_template(to_chat(messages))
    starts = [j for j in range(1, len(chat)) if chat[j]["role"] == "assistant" and chat[j - 1]["role"] != "assistant"]
    assert len(starts) == 2
    for j in starts:
        prompt = tok.apply_chat_template(chat[:j], tools=[PYTHON_TOOL], add_generation_prompt=True, tokenize=True,
                                         return_dict=True)["input_ids"]
        assert ids[: len(prompt)] == list(prompt)
        assert mask[len(prompt) - 1] == 0 and mask[len(prompt)] == 1
