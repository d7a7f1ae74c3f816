"""Text normalisation: the same problem typed by two people should become the same string.

Unicode NFKC folds compatibility characters (full-width digits, ligatures, non-breaking spaces); superscript
digits are first rewritten as ``^d`` because NFKC alone would turn ``x²`` into ``x2``. LaTeX spacing commands
(``\\,``, ``\\;``, ``\\!``, ``\\ ``, ``\\quad``, ``~``) carry no meaning for a problem and are dropped or made
plain spaces, and inline math loses its padding (``$ x $`` -> ``$x$``). Whitespace is collapsed last.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

from nemo_math.problems.pipeline import Doc, Step

_SUPERSCRIPTS = str.maketrans({"⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", "⁴": "^4", "⁵": "^5", "⁶": "^6",
                               "⁷": "^7", "⁸": "^8", "⁹": "^9"})
_THIN_SPACES = re.compile(r"(?<!\\)\\[,;:!>]")  # \, \; \: \! \> : thin spaces, dropped
_WIDE_SPACES = re.compile(r"\\(?:qquad|quad|enspace|thinspace)(?![a-zA-Z])|(?<!\\)\\ |(?<!\\)~")
_INLINE_MATH = re.compile(r"(?<!\\)(\$\$?)(?!\$)(.+?)(?<!\\)\1", re.DOTALL)
_BLANKS = re.compile(r"[ \t\f\v]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _trim_math(match: re.Match) -> str:
    delim, body = match.group(1), match.group(2)
    return f"{delim}{_BLANKS.sub(' ', body).strip()}{delim}"


def normalise_text(text: str) -> str:
    """The canonical form of a problem statement (idempotent)."""
    text = unicodedata.normalize("NFKC", text.translate(_SUPERSCRIPTS))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _THIN_SPACES.sub("", text)
    text = _WIDE_SPACES.sub(" ", text)
    text = _INLINE_MATH.sub(_trim_math, text)
    lines = [_BLANKS.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


class Normalise(Step):
    """Rewrite each problem (and its answer) in canonical form; drop problems left empty."""

    name = "normalise"

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        for doc in docs:
            problem = doc.problem
            text = normalise_text(problem.problem)
            if not text:
                self.drop(doc, "empty")
                continue
            if text != problem.problem:
                self.stats["changed"] += 1
            problem.problem = text
            if problem.expected_answer is not None:
                problem.expected_answer = normalise_text(problem.expected_answer)
            yield self.keep(doc)
