"""The final answer of a solution: its last ``\\boxed{...}`` (or ``\\fbox``), or the last run of boxes joined
(``\\boxed{1}, \\boxed{2} and \\boxed{3}`` is the answer ``1, 2, 3``), with an opt-in relaxed fallback.

Own code, not ``math_verify.parse``: parse extracts *and* converts to sympy in one step and keeps only the
parsed value, while we need the raw answer string, to store in the graded record, to show the LLM judge and
to vote on. Balanced braces need a scanner, not a regex (``\\boxed{\\frac{1}{\\{2\\}}}``); it matches every
brace of the text in one pass, so extraction is linear in the text length even for thousands of unclosed boxes.
"""

from __future__ import annotations

import re

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)  # an escaped character (``\{``) or a brace
_BARE_TOKEN = re.compile(r"[ \t]*([^\s$]+)")
# what may stand between two boxes of one answer: punctuation, math delimiters, spacing, a short text ending
# in "and" / "or" ("\\boxed{1} papers and \\boxed{2}", "\\text{ for part (a) and }"), but no other words
_GLUE = r"(?:[\s$,;]|\\[()\[\]]|\\q?quad|\\[,;: ])*"
_JOINER = re.compile(rf"{_GLUE}(?:(?:\\text\{{)?\s*(?:[\w()]{{1,8}}\s+){{0,3}}(?:and|or)\b\s*\}}?{_GLUE})?")
_MAX_JOINER = 40
# "the final answer is X", "Answer: X", "**Final Answer:** X": the phrase; the answer is the rest of its line
_RELAXED_RE = re.compile(r"(?:final\s+answer|the\s+answer)\s*(?:is|:|=)\s*:?|^\W*answer\W*:",
                         re.IGNORECASE | re.MULTILINE)


def _closing_braces(text: str) -> dict[int, int]:
    """``{index of an opening brace: index of its closing brace}`` for every closed group, in one pass."""
    closing, stack = {}, []
    for token in _BRACE_TOKENS.finditer(text):
        if token.group() == "{":
            stack.append(token.start())
        elif token.group() == "}" and stack:
            closing[stack.pop()] = token.start()
    return closing


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every complete, non-empty box of ``text`` as ``(start, end, content)``, in order."""
    closing = _closing_braces(text) if "{" in text else {}
    found = []
    for match in _BOX_RE.finditer(text):
        i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            end = closing.get(i)
            if end is None:
                continue
            content, stop = text[i + 1:end], end + 1
        elif i == match.end():  # ``\boxedx`` is another command, not a box
            continue
        else:  # ``\boxed 5``: one bare token
            bare = _BARE_TOKEN.match(text, match.end())
            if not bare:
                continue
            content, stop = bare.group(1).rstrip(".,;"), bare.end()
        if content.strip():
            found.append((match.start(), stop, content.strip()))
    return found


def last_boxed(text: str) -> str | None:
    """The last box's content, or the last boxes' contents joined by ``, `` where only connectives part them."""
    found = boxes(text)
    if not found:
        return None
    run = [found[-1]]
    for box in reversed(found[:-1]):
        gap = text[box[1]:run[-1][0]]
        if len(gap) > _MAX_JOINER or not _JOINER.fullmatch(gap):
            break
        run.append(box)
    contents = list(dict.fromkeys(content for _, _, content in reversed(run)))  # a repeated box counts once
    return ", ".join(contents)


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
