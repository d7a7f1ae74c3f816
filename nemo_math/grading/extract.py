"""The final answer of a solution: the last ``\\boxed{...}`` (or ``\\fbox``), with an opt-in relaxed fallback.

Own code, not ``math_verify.parse``: parse extracts *and* converts to sympy in one step and keeps only the
parsed value, while we need the raw answer string, to store in the graded record, to show the LLM judge and
to vote on. Balanced braces need a scanner, not a regex (``\\boxed{\\frac{1}{\\{2\\}}}``).
"""

from __future__ import annotations

import re

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# "the final answer is X", "Answer: X", "**Final Answer:** X": the phrase; the answer is the rest of its line
_RELAXED_RE = re.compile(r"(?:final\s+answer|the\s+answer)\s*(?:is|:|=)\s*:?|^\W*answer\W*:",
                         re.IGNORECASE | re.MULTILINE)


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the ``{...}`` group opening at ``text[start]`` and the index after it; ``None`` if unclosed.

    ``\\{`` and ``\\}`` are escaped literal braces and do not open or close groups.
    """
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
        i += 1
    return None


def _box_content(text: str, after: int) -> str | None:
    """What follows a box command ending at ``after``: a braced group or, for ``\\boxed 5``, one bare token."""
    i = after
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        found = _braced(text, i)
        return found[0] if found else None
    if i == after:  # ``\boxedx`` is another command, not a box
        return None
    match = re.match(r"[^\s$]+", text[i:])
    return match.group(0).rstrip(".,;") if match else None


def last_boxed(text: str) -> str | None:
    """The content of the last complete, non-empty box in ``text``."""
    for match in reversed(list(_BOX_RE.finditer(text))):
        content = _box_content(text, match.end())
        if content is not None and content.strip():
            return content.strip()
    return None


def _clean_relaxed(answer: str) -> str | None:
    answer = answer.strip().strip("*").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if answer.startswith(left) and right in answer[len(left):]:
            answer = answer[len(left):answer.index(right, len(left))]
            break
    answer = answer.strip().rstrip(".").strip()
    return answer or None


def extract_answer(text: str | None, relaxed: bool = False) -> str | None:
    """The final answer of ``text`` (the last box); with ``relaxed``, else the last "the final answer is ...".

    ``None`` when there is no answer. Pass the *final-channel* text of a harmony trajectory
    (:attr:`~nemo_math.records.Trajectory.final_text`): the analysis channel may box intermediate results.
    """
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None or not relaxed:
        return boxed
    for match in reversed(list(_RELAXED_RE.finditer(text))):
        line = text[match.end():].split("\n", 1)[0]
        answer = _clean_relaxed(re.split(r"\.\s", line, maxsplit=1)[0])
        if answer:
            return answer
    return None
