"""String normalisation of final answers, before (and often instead of) sympy.

``math_verify`` already copes with most LaTeX noise; this adds what it lacks for competition answers and gives
a canonical key: two answers with the same key are equal without parsing, which settles the common case (the
student wrote what the reference says) in microseconds and lets majority voting group answers cheaply.
"""

from __future__ import annotations

import re

_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_REPLACEMENTS = (
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\varnothing", "\\emptyset"), ("\\displaystyle", ""),
    ("\\left", ""), ("\\right", ""), ("\\$", ""), ("\\!", ""), ("−", "-"), ("\\le ", "\\leq "),
    ("\\ge ", "\\geq "),
)
_DEGREES = re.compile(r"\^\s*\{?\\circ\}?|°|\\degree\b|\\text\{\s*degrees?\s*\}")
_SPACES = re.compile(r"\\\\|\\[,;: ]|~")  # a row break ``\\\\`` is matched to be left alone
_THIN_THOUSANDS = re.compile(r"(?<=\d)(?:,\\!|\{,\}\\!?)\s*(?=\d{3}(?!\d))")  # ``11,\\! 111``
_THOUSANDS = re.compile(r"-?\d{1,3}(?:(?:,|\{,\})\d{3})+(?:\.\d+)?")
_LEADING_ZEROS = re.compile(r"^(-?)0+(?=\d)")
_TEXT_ONLY = re.compile(r"^\\(?:text|textbf|mathrm|mbox|textit|mathbf)\{([^{}]*)\}$")
_NUMBER = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_TRAILING_UNIT = re.compile(rf"^({_NUMBER})\s*\\(?:text|mbox|mathrm)\{{\s*[A-Za-z][A-Za-z .]*\}}(?:\^\{{?\d\}}?)?$")
# ``x = 5``: a variable set to a constant (``y = 2x + 1`` is a line and stays an equation)
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=(?:\\[A-Za-z]+|[^=A-Za-z])+$)")
_OPERATOR_SPACE = re.compile(r"\s*([=+\-*/^(){}\[\]<>])\s*")
_COMMA = re.compile(r"\s*,\s*")
_WORDS = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]+)*")
# an answer that is text with math in it (a model's output, "the answer is $5$"), not a bare answer
_DELIMITED = re.compile(r"\$|\\\(|\\\[|\\boxed")
_COMMANDS = re.compile(r"\\[A-Za-z]+(?:\{[^{}]*\})?")
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}")


def _unwrap(answer: str) -> str:
    for left, right in _WRAPPERS:
        if len(answer) > len(left) + len(right) and answer.startswith(left) and answer.endswith(right):
            return answer[len(left):-len(right)].strip()
    return answer


def is_text(answer: str) -> bool:
    """Whether ``answer`` is text around math (math_verify extracts from it) rather than a bare answer."""
    return bool(_DELIMITED.search(answer) or _PROSE.search(_COMMANDS.sub(" ", answer)))


def normalize_answer(answer: str) -> str:
    """A canonical form of ``answer``: equal forms mean equal answers; unequal forms still need sympy."""
    return _spacing(canonical_answer(answer))


def _spacing(s: str) -> str:
    s = _COMMA.sub(", ", _OPERATOR_SPACE.sub(r"\1", s))
    return re.sub(r"\s+", " ", s).strip()


def canonical_answer(answer: str) -> str:
    """``answer`` with wrappers, units, separators and assignments removed, spacing as written (for sympy)."""
    s = _unwrap(answer.strip()).rstrip(".").strip()
    s = _THIN_THOUSANDS.sub("", s)
    for old, new in _REPLACEMENTS:
        s = s.replace(old, new)
    if s.count("$") == 1:  # a lone ``$`` is a currency sign, not a math delimiter
        s = s.replace("$", "").strip()
    s = _DEGREES.sub("", s).strip()
    if _THOUSANDS.fullmatch(s):  # only a bare ``1,000`` or ``1{,}000``: ``1, 000`` stays a list
        s = s.replace("{,}", "").replace(",", "")
    s = _SPACES.sub(lambda m: m.group() if m.group() == "\\\\" else " ", s).strip()
    if re.fullmatch(r"-?\d{1,3}(?: \d{3})+", s):  # ``1\,000`` / ``1 000``
        s = s.replace(" ", "")
    text = _TEXT_ONLY.match(s)
    if text:
        s = text.group(1).strip()  # case: ``\\mathrm{E}`` is ``E``; answer_key folds words
    unit = _TRAILING_UNIT.match(s)
    if unit:
        s = unit.group(1)
    s = _ASSIGNMENT.sub("", s) if "," not in s else s
    return _LEADING_ZEROS.sub(r"\1", s)


def answer_key(answer: str) -> str:
    """The key answers are grouped by: the normal form, lower-cased only for plain words ("Yes" = "yes").

    Case stays where it can matter: ``\\Delta`` is not ``\\delta``, and ``N`` may not be ``n``.
    """
    key = normalize_answer(answer)
    return key.casefold() if _WORDS.fullmatch(key) else key
