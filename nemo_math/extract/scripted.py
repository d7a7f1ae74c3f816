"""The scripted teacher's answers to the extract prompts, so the stage runs offline in tests and the tiny preset.

Plain heuristics a reader can predict: a post poses a problem when it asks something (``?``, find, compute,
prove, ...); ``prove``/``show that`` make a proof, ``(A)``-style options a multiple choice, a reference to a
figure or diagram (which the text lacks) an invalid problem, a leading is/does/are a yes-no question; a
solution's answer is its last ``\\boxed{}``, else the last "answer is ..." or "result is ..." (the ``$...$``
right after it, or the rest of the sentence), else none; answers agree when a strict majority is the same
after :func:`same_form` (spaces, ``$``, ``\\dfrac``/``\\tfrac``, ``\\frac12`` and a final period are no
difference).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

MARKER = re.compile(r"^\[nemo-math extract: (\w+)\]")


def _section(prompt: str, title: str) -> str:
    return prompt.split(f"\n{title}:\n", 1)[-1].split("\n\nSolution:\n")[0].split("\n\nAnswers:\n")[0].strip()


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


ANSWER_IS = re.compile(r"\b(?:answer|result) is:?\s*(?:\$\$?([^$]+)\$|([^$\n]+?)(?=[.,;]?(?:\s|$)))", re.I)


def answer_of(solution: str) -> str | None:
    boxed = _boxed(solution)
    if boxed:
        return boxed
    matches = ANSWER_IS.findall(solution)
    return next(a for a in matches[-1] if a).strip() if matches else None


def same_form(answer: str) -> str:
    """The form answers are compared in: what a reader would not count as a different answer."""
    text = re.sub(r"\\[dt]frac", r"\\frac", re.sub(r"[\s$]|\\[,!;]", "", answer)).rstrip(".")
    return re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)


def reply(messages: list[dict[str, Any]]) -> str | None:
    """The reply to an extract prompt, or None when the conversation is not one."""
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    match = MARKER.match(user)
    if not match:
        return None
    step = match.group(1)
    if step == "extract_problem":
        post = _section(user, "Post")
        asks = "?" in post or re.search(r"\b(find|compute|evaluate|determine|prove|show|solve|calculate)\b",
                                        post, re.I)
        return f"PROBLEM: {post}" if asks else "NO PROBLEM"
    if step == "classify":
        problem = _section(user, "Problem")
        if re.search(r"\b(prove|show that)\b", problem, re.I):
            return "CLASS: proof"
        if re.search(r"\(A\).*\(B\)", problem, re.S):
            return "CLASS: multiple_choice"
        if re.search(r"\b(figure|diagram|picture)\b", problem, re.I):
            return "CLASS: invalid"
        if re.match(r"(is|does|are|do|can)\b", problem.split("\n")[-1].strip(), re.I):
            return "CLASS: yes_no"
        return "CLASS: final_answer"
    if step == "extract_answer":
        return f"ANSWER: {answer_of(_section(user, 'Solution')) or 'none'}"
    if step == "agreement":
        answers = [a.strip() for a in _section(user, "Answers").splitlines() if a.strip()]
        votes = Counter(same_form(a) for a in answers)
        top, count = votes.most_common(1)[0]
        if count * 2 > len(answers):
            return f"AGREED: yes\nANSWER: {next(a for a in answers if same_form(a) == top)}"
        return "AGREED: no\nANSWER: none"
    return None
