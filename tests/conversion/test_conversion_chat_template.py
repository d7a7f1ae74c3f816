"""A converted harmony student ships the chat template of its renderer: a chat server (vLLM, ``transformers
serve``) prompts it with the very text, and so the very ids, it was trained on (issue 13)."""

from __future__ import annotations

import json

import pytest

from nemo_math.conversion import hf_files
from nemo_math.conversion.convert import served_chat_template
from nemo_math.generation.chat import PYTHON_TOOL, for_template, to_chat
from nemo_math.generation.harmony import initial_messages, message, render_prompt


def conversations() -> list[list[dict]]:
    """TIR with two calls (and two analysis messages in a row), plain reasoning, a trace cut short after its
    reasoning, and a second user turn after a final answer."""
    def analysis(text, to=None):
        return message("assistant", text, "analysis", to)

    def tool(out):
        return message("tool", out, "analysis", None, "python")

    def final(text):
        return message("assistant", f"The answer is ${text}$.\n\n\\boxed{{{text}}}", "final")

    tir = initial_messages("Compute $3 \\times 4$.", "high", True) + [
        analysis("Multiply."), analysis("print(3 * 4)", "python"), tool("12\n"), analysis("It printed 12."),
        analysis("Check the other order."), analysis("print(4 * 3)", "python"), tool("12\n"),
        analysis("Both 12."), final("12")]
    plain = initial_messages("Find $1 + 1$.", "low", False) + [analysis("One and one."), final("2")]
    cut = initial_messages("Find $2^{10}$.", "medium", False) + [analysis("Doubling ten times gives")]
    second = plain + [message("user", "And $2 + 2$?"), analysis("Two more."), final("4")]
    return [tir, plain, cut, second]


def prompt_positions(messages: list[dict]) -> list[int]:
    return [k for k in range(1, len(messages))
            if messages[k]["role"] == "assistant" and messages[k - 1]["role"] != "assistant"]


@pytest.fixture(params=["tiny", "qwen3"])
def exported_tokenizer(request, tmp_path):
    """The tokenizer of an exported harmony student, finished as ``to_hf`` finishes it (the Qwen3 tokenizer
    carries a chat template of its own in ``tokenizer_config.json``, which must not survive)."""
    from transformers import AutoTokenizer

    from nemo_math.config import DATA_DIR

    source = (DATA_DIR / "tokenizers" / "tiny" if request.param == "tiny"
              else request.getfixturevalue("qwen3_tokenizer_dir"))
    hf_files.copy_tokenizer(source, tmp_path)
    hf_files.finish_tokenizer(tmp_path, served_chat_template("harmony"), 4096)
    return AutoTokenizer.from_pretrained(tmp_path)


def test_chat_template_renders_the_harmony_prompts_and_training_text(exported_tokenizer):
    from nemo_math.packing.render import HarmonyRenderer

    tok = exported_tokenizer
    for messages in conversations():
        tools = [PYTHON_TOOL] if "## python" in messages[0]["content"] else None
        for k in prompt_positions(messages):
            chat = for_template(to_chat(messages[:k]))
            text = tok.apply_chat_template(chat, tools=tools, add_generation_prompt=True, tokenize=False)
            assert text == render_prompt(messages[:k])
            ids = tok.apply_chat_template(chat, tools=tools, add_generation_prompt=True, return_dict=True)
            assert list(ids["input_ids"]) == tok(render_prompt(messages[:k]))["input_ids"]
        # the whole conversation, no generation prompt: the training text and ids, last message closed by <|return|>
        chat = for_template(to_chat(messages))
        trained_ids, _ = HarmonyRenderer(tok)(messages)
        assert tok.apply_chat_template(chat, tools=tools, tokenize=False) == HarmonyRenderer(tok).text(messages)[0]
        assert list(tok.apply_chat_template(chat, tools=tools, return_dict=True)["input_ids"]) == trained_ids


@pytest.mark.parametrize(("mode", "with_tool"), [("low", True), ("high", False)])
def test_without_a_system_message_the_template_builds_gpt_oss_s(exported_tokenizer, mode, with_tool):
    """``client.chat_system: false`` leaves the system turn to the server, from ``reasoning_effort`` and tools."""
    messages = initial_messages("Find $1 + 1$.", mode, with_tool)
    chat = to_chat(messages, system=False)
    assert [m["role"] for m in chat] == ["user"]
    text = exported_tokenizer.apply_chat_template(chat, tools=[PYTHON_TOOL] if with_tool else None,
                                                  reasoning_effort=mode, add_generation_prompt=True,
                                                  tokenize=False)
    assert text == render_prompt(messages)


def test_tiny_pipeline_export_ships_the_template_and_its_context(tmp_path):
    """``nemo-math convert`` of the tiny preset (harmony renderer) writes the template next to the weights, and a
    context that covers every bucket trained, in ``config.json`` and the tokenizer alike."""
    import dataclasses

    from transformers import AutoConfig, AutoTokenizer

    from nemo_math import cli
    from nemo_math.config import load_config
    from nemo_math.training import checkpoint, models

    cfg = load_config(["tiny"], [f"run_dir={tmp_path}"])
    assert cfg.convert.renderer == cfg.pack.renderer == "harmony"
    model = models.preset(cfg.train.model, **cfg.train.model_overrides)
    models.init_single_process()
    checkpoint.save(tmp_path / "ckpt", 1, models.build_model(model), meta={"model": dataclasses.asdict(model)})
    assert cli.main(["convert", "-q", "--preset", "tiny", f"run_dir={tmp_path}", f"convert.input={tmp_path / 'ckpt'}",
                     f"convert.output_dir={tmp_path / 'hf'}"]) == 0
    template = served_chat_template("harmony")
    assert (tmp_path / "hf" / "chat_template.jinja").read_text() == template
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok.chat_template == template
    config = AutoConfig.from_pretrained(tmp_path / "hf")
    assert config.max_position_embeddings == model.max_position_embeddings >= max(cfg.pack.buckets)
    assert tok.model_max_length == config.max_position_embeddings
    assert json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())["model_max_length"] == 4096


def test_yarn_context_is_the_scaled_window():
    from nemo_math.conversion.qwen3 import context_length
    from nemo_math.training.models import preset

    assert context_length(preset("qwen3_8b", yarn_factor=4.0)) == 4 * 32768
    assert context_length(preset("qwen3_8b")) == 40960


def test_a_chat_template_student_keeps_its_tokenizer_s_template():
    assert served_chat_template("chat_template") is None
    with pytest.raises(ValueError, match="renderer"):
        served_chat_template("plain")
