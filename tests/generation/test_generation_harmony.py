"""Harmony rendering and parsing through openai-harmony, offline, with the vendored vocabulary."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from nemo_math.generation import harmony
from nemo_math.generation.harmony import message


def tool_trace(mode: str = "high") -> list[dict]:
    return harmony.initial_messages("What is $2+2$?", mode, True) + [
        message("assistant", "Let me compute it.", "analysis"),
        message("assistant", "print(2+2)", "analysis", "python"),
        message("tool", "4\n", "analysis", None, "python"),
        message("assistant", "The tool says 4.", "analysis"),
        message("assistant", "The answer is \\boxed{4}.", "final"),
    ]


def test_vendored_vocabulary_is_the_shared_file(shared_dir):
    vendored = (harmony.DATA_DIR / "o200k_base.tiktoken").read_bytes()
    shared = (shared_dir / "tokenizers" / "gpt-oss" / "o200k_base.tiktoken").read_bytes()
    assert hashlib.sha256(vendored).hexdigest() == hashlib.sha256(shared).hexdigest()


def test_encoding_loads_offline_without_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_ENCODINGS_BASE"}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path), HTTPS_PROXY="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9")
    code = ("from nemo_math.generation.harmony import load_encoding; "
            "print(load_encoding().encode('hello world'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[24912, 2375]"


def test_prompt_has_mode_tool_and_paper_instruction():
    prompt = harmony.render_prompt(harmony.initial_messages("Find $x$.", "low", False))
    assert "Reasoning: low" in prompt and "## python" not in prompt
    assert prompt.endswith("<|start|>assistant")
    assert "Find $x$.\n\nPlease reason step by step, and put your final answer within \\boxed{}.<|end|>" in prompt
    with_tool = harmony.render_prompt(harmony.initial_messages("Find $x$.", "high", True))
    assert "Reasoning: high" in with_tool and "## python" in with_tool


def test_tool_trace_renders_calls_and_results():
    trace = tool_trace()
    prompt = harmony.render_prompt(trace[:5])
    assert "<|start|>assistant to=python<|channel|>analysis code<|message|>print(2+2)<|call|>" in prompt
    assert "<|start|>python to=assistant<|channel|>analysis<|message|>4\n<|end|>" in prompt
    assert harmony.mode_of(trace) == "high" and harmony.has_python_tool(trace)


def test_dicts_round_trip_through_harmony_messages():
    trace = tool_trace("medium")
    assert harmony.from_harmony(harmony.to_harmony(trace)) == trace


def test_completion_text_round_trips_and_truncated_text_parses():
    turn = tool_trace()[-2:]
    text = harmony.render_completion(turn)
    assert text.startswith("<|channel|>analysis<|message|>") and not text.endswith("<|end|>")
    assert harmony.parse_completion(text) == turn
    call = harmony.render_completion([message("assistant", "print(1)", "analysis", "python")])
    assert harmony.parse_completion(call) == [message("assistant", "print(1)", "analysis", "python")]
    # gpt-oss also writes the recipient after the channel
    assert harmony.parse_completion("<|channel|>analysis to=python code<|message|>x=1")[0]["recipient"] == "python"
    cut = harmony.parse_completion("<|channel|>analysis<|message|>half a thou")
    assert cut == [message("assistant", "half a thou", "analysis")]


def test_a_channel_that_is_not_harmonys_parses_as_reasoning_into_a_valid_trajectory():
    """A student wrote ``<|channel|>analysis+100``: the whole evaluation stage then failed validating its record."""
    from nemo_math.records import Trajectory

    text = "<|channel|>analysis+100<|message|>hmm<|end|><|start|>assistant<|channel|>final<|message|>\\boxed{3}"
    parsed = harmony.parse_completion(text)
    assert parsed == [message("assistant", "hmm", "analysis"), message("assistant", "\\boxed{3}", "final")]
    record = {"job_id": "p/low/0", "problem_id": "p", "problem": "q", "mode": "low", "with_tool": False,
              "seed": 0, "messages": harmony.initial_messages("q", "low", False) + parsed,
              "finish_reason": "final"}
    Trajectory.from_dict(record)  # raised RecordError naming messages[...].channel before


def test_training_render_keeps_reasoning_and_ends_in_return():
    text = harmony.load_encoding().decode(harmony.render_training_tokens(tool_trace()))
    assert text.endswith("<|channel|>final<|message|>The answer is \\boxed{4}.<|return|>")
    for part in ("Let me compute it.", "print(2+2)<|call|>", "The tool says 4."):
        assert part in text
