"""A scripted gpt-oss stand-in that plays back realistic harmony traces, so the whole pipeline runs with no model.

It is a pure function of the conversation and the request seed: given the messages so far it returns the next
assistant turn (our message dicts), ending in a ``python`` call or a final answer. Problems from
:mod:`nemo_math.problems.synthetic` carry a Python expression of their answer; in tool mode the teacher sends
real code for it, reads the real sandbox output that comes back and answers with it, without the tool it
"computes in its head". The reasoning mode sets the length of the reasoning (high long, low short); seeded by
(problem, mode, tool, seed) it is sometimes wrong (a bug in its code, or a slip in its head), more often in low
mode and on harder problems, so pass rates vary like a real teacher's. Unknown problems get a generic trace.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from nemo_math.extract import scripted as extract_scripted
from nemo_math.generation.harmony import PROMPT_SUFFIX, has_python_tool, message, mode_of
from nemo_math.problems.synthetic import PYTHON_PRELUDE, evaluate, format_answer
from nemo_math.records import Problem, stable_id

# words of reasoning per analysis message, and python calls, by mode
WORDS = {"high": (160, 320), "medium": (60, 120), "low": (15, 40)}
CALLS = {"high": 2, "medium": 1, "low": 1}
# chance of a wrong answer by mode, before difficulty (+0.05 per level above 1) and tool (halved) adjustments
WRONG = {"high": 0.05, "medium": 0.15, "low": 0.3}

SENTENCES = [
    "Let me restate what is asked so nothing is missed.",
    "We can simplify this step by step.",
    "First, collect the quantities given in the statement: {nums}.",
    "A quick sanity check on small cases helps here.",
    "Alternatively, we could attack it directly, but a cleaner route exists.",
    "Note the structure: the numbers {nums} appear once each.",
    "Careful with signs and with the order of operations.",
    "Hmm, let me double-check that intermediate step.",
    "This is consistent with the rough estimate from before.",
    "So the computation reduces to a single expression.",
    "Wait, is there any edge case? No, the setup excludes it.",
    "Let's organise the work so each step can be verified.",
]


class ScriptedTeacher:
    """``next_turn(messages, seed)`` -> the assistant's next messages. ``problems`` lets it look problems up by
    their text (the user prompt minus the paper's instruction)."""

    def __init__(self, problems: Iterable[Problem] = (), scale: float = 1.0):
        self.known = {p.problem.strip(): p for p in problems}
        self.scale = scale

    def next_turn(self, messages: list[dict[str, Any]], seed: int | None) -> list[dict[str, Any]]:
        extract_reply = extract_scripted.reply(messages)  # the extract stage's prompts (nemo_math/extract)
        if extract_reply is not None:
            return [message("assistant", extract_reply, "final")]
        mode = mode_of(messages) or "medium"
        with_tool = has_python_tool(messages)
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        text = user.replace(PROMPT_SUFFIX, "").strip()
        problem = self.known.get(text)
        results = [m["content"] for m in messages if m["role"] == "tool"]
        plan_rng = random.Random(stable_id("plan", text, mode, with_tool, seed))
        turn_rng = random.Random(stable_id("turn", text, mode, with_tool, seed, len(results)))
        wrong = plan_rng.random() < _wrong_chance(problem, mode, with_tool)
        numbers = " ".join(w for w in text.replace("$", " ").split() if any(c.isdigit() for c in w))[:60] or "none"

        if with_tool and len(results) < CALLS[mode]:
            if not results:
                intro = f"We need to solve: {text[:200]}"
                code = _code(problem, wrong, plan_rng)
            else:
                intro = f"The tool printed {results[-1].strip()[:80]!r}. Let me verify by recomputing it."
                code = _code(problem, wrong, random.Random(stable_id("plan", text, mode, with_tool, seed)))
            return [message("assistant", f"{intro} {self._reasoning(mode, numbers, turn_rng)}", "analysis"),
                    message("assistant", code, "analysis", "python")]

        answer = _from_tool(results[-1]) if results else None
        if answer is None:
            answer = _head_answer(problem, wrong, plan_rng)
        lead = (f"The computation gives {answer}." if results else
                f"Working it out by hand. {self._reasoning(mode, numbers, turn_rng)} That gives {answer}.")
        return [message("assistant", f"{lead} {self._reasoning(mode, numbers, turn_rng)}", "analysis"),
                message("assistant", f"The answer is ${answer}$.\n\n\\boxed{{{answer}}}", "final")]

    def _reasoning(self, mode: str, numbers: str, rng: random.Random) -> str:
        low, high = WORDS[mode]
        target = max(5, int(rng.randint(low, high) * self.scale))
        words: list[str] = []
        while len(words) < target:
            words.extend(rng.choice(SENTENCES).format(nums=numbers).split())
        return " ".join(words[:target])


def _wrong_chance(problem: Problem | None, mode: str, with_tool: bool) -> float:
    difficulty = problem.metadata.get("difficulty", 3) if problem else 3
    level = difficulty if isinstance(difficulty, (int, float)) else 3
    chance = WRONG[mode] + 0.05 * (level - 1)
    return chance / 2 if with_tool else chance


def _code(problem: Problem | None, wrong: bool, rng: random.Random) -> str:
    expression = (problem.metadata.get("python") if problem else None) or (
        repr(problem.expected_answer) if problem and problem.expected_answer else f"sum(range({rng.randint(3, 30)}))")
    if wrong:  # an off-by-one bug, as real teachers make
        expression = f"({expression}) + 1"
    return f"{PYTHON_PRELUDE}print({expression})"


def _from_tool(output: str) -> str | None:
    """The answer in a tool output (last line): an integer or fraction in LaTeX, other text as is."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines or "Error" in output or "Traceback" in output:
        return None
    try:
        return format_answer(Fraction(lines[-1]))
    except (ValueError, ZeroDivisionError):
        return lines[-1][:100]


def _head_answer(problem: Problem | None, wrong: bool, rng: random.Random) -> str:
    if problem is None or not problem.expected_answer:
        return str(rng.randint(0, 999))
    if not wrong:
        return problem.expected_answer
    try:
        expression = problem.metadata.get("python")
        value = Fraction(evaluate(expression)) if expression else Fraction(problem.expected_answer)
    except (ValueError, TypeError, ArithmeticError, SyntaxError, NameError):
        return f"{problem.expected_answer} + 1"
    return format_answer(value + rng.choice([-2, -1, 1, 2, 10]))
