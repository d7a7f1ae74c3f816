"""Final-answer extraction: the last box of the final channel, the relaxed fallback, and no answer."""

from __future__ import annotations

import sys

import pytest

from nemo_math.grading import extract_answer
from nemo_math.records import Trajectory

CASES = [
    ("The answer is $\\boxed{42}$.", "42"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("nested \\boxed{\\frac{\\sqrt{3}}{\\left(2\\right)}} done", "\\frac{\\sqrt{3}}{\\left(2\\right)}"),
    ("escaped braces \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("first \\boxed{1} then the last \\boxed{2}", "2"),
    ("\\boxed 5$.", "5"),
    ("so $\\boxed 17$", "17"),
    ("\\fbox{7}", "7"),
    ("\\boxed{ 3 }", "3"),
    ("\\boxed{2} and an empty \\boxed{}", "2"),
    ("a complete \\boxed{9} before an unclosed \\boxed{3", "9"),
    ("\\boxed{\\text{(B)}}", "\\text{(B)}"),
    ("\\boxed{x = 5, y = \\frac{1}{2}}", "x = 5, y = \\frac{1}{2}"),
    # several boxes that together make the answer (issue 16)
    ("\\boxed{1}, \\boxed{2}, \\boxed{3}", "1, 2, 3"),
    ("\\boxed{1} and \\boxed{2} and \\boxed{3}", "1, 2, 3"),
    ("$\\boxed{(2,2)}$ and $\\boxed{(6,2)}$", "(2,2), (6,2)"),
    ("$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", "(2, 2), (6, 2)"),
    ("\\(\\boxed{1}\\) or \\(\\boxed{-2}\\).", "1, -2"),
    ("\\boxed{1}\\boxed{2}", "1, 2"),
    ("the answer \\boxed{5}\n\n**Final Answer**\n\\boxed{5}", "5"),
    ("\\boxed{5}\n\\boxed{5}", "5"),
    ("is \\boxed{3}. So then we see that x and \\boxed{4}", "4"),
]


@pytest.mark.parametrize(("text", "answer"), CASES)
def test_last_box(text, answer):
    assert extract_answer(text) == answer


@pytest.mark.parametrize("text", [None, "", "no answer here", "\\boxed{}", "\\boxed{1", "\\boxeddot{3}"])
def test_no_answer_is_none(text):
    assert extract_answer(text) is None
    assert extract_answer(text, relaxed=True) is None


@pytest.mark.parametrize(("text", "answer"), [
    ("Therefore, the final answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("**Final Answer:** 12", "12"),
    ("Answer: 7\n", "7"),
    ("I think the answer is 3. Actually, the final answer is 5.", "5"),
])
def test_relaxed_fallback_only_behind_the_flag(text, answer):
    assert extract_answer(text) is None
    assert extract_answer(text, relaxed=True) == answer


def test_box_wins_over_relaxed_phrase():
    assert extract_answer("The final answer is 3, i.e. \\boxed{4}", relaxed=True) == "4"


def test_only_the_final_channel_counts():
    def msg(role, content, channel=None, recipient=None):
        return {"role": role, "content": content, "channel": channel, "recipient": recipient, "name": None}

    t = Trajectory(job_id="p/high/tool/0", problem_id="p", problem="1+1?", mode="high", with_tool=True, seed=0,
                   messages=[msg("user", "1+1?"), msg("assistant", "maybe \\boxed{3}", "analysis"),
                             msg("assistant", "print(1+1)", "analysis", "python"), msg("tool", "2"),
                             msg("assistant", "\\boxed{2}", "final")])
    assert extract_answer(t.final_text) == "2"
    unfinished = Trajectory(**{**t.to_dict(), "messages": t.messages[:2]})
    assert extract_answer(unfinished.final_text) is None


def _python_lines(text: str) -> int:
    """Python lines executed by ``extract_answer(text)``: a count of work that does not depend on the clock."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        extract_answer(text)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("unit", ["\\boxed{", "\\boxed{\\frac{1}{", "x \\boxed 1 \\boxed{2"])
def test_extraction_work_is_linear_in_the_text(unit):
    """Four times the text is about four times the work (a quadratic rescan would be sixteen)."""
    small, large = _python_lines(unit * 500), _python_lines(unit * 2000)
    assert large < 6 * small, (small, large)


def test_megabytes_of_unclosed_boxes_have_no_answer():
    assert extract_answer("\\boxed{" * 150_000) is None
    assert extract_answer("\\boxed{" * 150_000 + "\\boxed{7}") == "7"
