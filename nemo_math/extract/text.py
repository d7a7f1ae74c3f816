"""Fast pre-filter helpers: forum markup to LaTeX-preserving text, MathJax normalisation, language and dedup keys.

HTML is converted with a few compiled regular expressions, not an HTML parser: building an lxml tree per post
was most of the pre-filters' time, and the StackExchange dump's bodies are machine-rendered Markdown (sanitised
tags, a literal ``<`` always written ``&lt;``), so tags can be dropped as text. The few elements that matter are
rewritten: MathJax ``<script type="math/tex">`` becomes ``$...$`` (``mode=display``: ``$$...$$``), block elements
become line breaks, list items ``- ``; entities are decoded last (``html.unescape``). The language filter is a
heuristic on purpose: the stage sees English math forums, detectors (langdetect, lingua) cost milliseconds per
post and are confused by LaTeX, while the share of English function words among the words outside math separates
English from other languages well on such text.
"""

from __future__ import annotations

import hashlib
import html
import re

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
LIST_ITEM = re.compile(r"<li\b[^>]*>", re.I)
BLOCK = re.compile(r"</?(?:p|div|br|li|ul|ol|pre|blockquote|h[1-6]|hr|table|tr)\b[^>]*>", re.I)
TAG = re.compile(r"<!--.*?-->|<[/!?a-zA-Z][^>]*>", re.S)
IMAGE = re.compile(r"<img\b", re.I)
MATH_SPANS = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
STOPWORDS = frozenset(b"""the a an of to in is and that for it be this with as on are we if by or not can
how what show find let then there which from all any at have has do does prove given so number value""".split())


def has_image(html_text: str) -> bool:
    """Whether an HTML body shows a picture: cheap, so it runs before the conversion."""
    return IMAGE.search(html_text) is not None


def html_to_text(html_text: str) -> str:
    """The text of an HTML post body (see the module docstring); :func:`has_image` tells whether it shows one."""
    if "<script" in html_text:
        html_text = SCRIPT.sub(_script, html_text)
    text = TAG.sub("", BLOCK.sub("\n", LIST_ITEM.sub("\n- ", html_text)))
    if "&" in text:
        text = html.unescape(text)
    return normalise_math(text)


def _script(match: re.Match) -> str:
    kind = match.group(1)
    if "math/tex" not in kind:
        return ""
    delim = "$$" if "display" in kind else "$"
    return f"{delim}{match.group(2)}{delim}"


BBCODE_QUOTE = re.compile(r"\[quote(=[^\]]*)?\].*?\[/quote\]", re.S | re.I)
BBCODE_TAG = re.compile(r"\[/?(b|i|u|s|color|size|center|hide|url|list|\*|code|asy)(=[^\]]*)?\]", re.I)
BBCODE_IMG = re.compile(r"\[img\].*?\[/img\]|\[asy\].*?\[/asy\]", re.S | re.I)


def bbcode_to_text(text: str) -> tuple[str, bool]:
    """``(text, has_image)`` of an AoPS post (BBCode with LaTeX); quotes of earlier posts are dropped."""
    has_image = bool(BBCODE_IMG.search(text))
    text = BBCODE_IMG.sub("", BBCODE_QUOTE.sub("", text))
    return normalise_math(BBCODE_TAG.sub("", text)), has_image


def normalise_math(text: str) -> str:
    r"""``\(..\)`` -> ``$..$``, ``\[..\]`` -> ``$$..$$``; blank lines and spaces collapsed."""
    if "\\(" in text:
        text = INLINE.sub(r"$\1$", text)
    if "\\[" in text:
        text = DISPLAY.sub(r"$$\1$$", text)
    # str methods, several times faster than \s regexes here; most lines are already clean and kept as they are
    text = "\n".join([line if line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " "
                      else " ".join(line.split()) for line in text.split("\n")])
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


INLINE = re.compile(r"\\\((.+?)\\\)", re.S)
DISPLAY = re.compile(r"\\\[(.+?)\\\]", re.S)


def is_english(text: str, min_share: float = 0.15) -> bool:
    """Heuristic (see the module docstring): mostly Latin letters, and enough English function words."""
    prose = MATH_SPANS.sub(" ", text[:2000])
    if not prose.isascii():
        non_latin = len(NON_ASCII_LETTER.findall(prose))
        if non_latin > 0.1 * max(1, non_latin + len(ASCII_LETTER.findall(prose))):
            return False
    words = prose.lower().encode().translate(LETTERS_ONLY).split()  # [a-z]+ words, without a regex
    if len(words) < 5:
        return True  # (nearly) pure math: nothing to judge
    return sum(map(STOPWORDS.__contains__, words)) / len(words) >= min_share


NON_ASCII_LETTER = re.compile(r"[^\W\d_a-zA-Z]")
ASCII_LETTER = re.compile(r"[a-zA-Z]")
LETTERS_ONLY = bytes(c if ord("a") <= c <= ord("z") else ord(" ") for c in range(256))


def dedup_key(text: str) -> bytes:
    """Exact-duplicate key across sites: a digest of the text without case, spaces and punctuation (what is not a
    letter or digit)."""
    text = text.lower()
    data = text.encode().translate(None, ASCII_NON_ALNUM) if text.isascii() else NON_ALNUM.sub("", text).encode()
    return hashlib.blake2b(data, digest_size=16).digest()


NON_ALNUM = re.compile(r"[\W_]+")
ASCII_NON_ALNUM = bytes(c for c in range(128) if not chr(c).isalnum())  # what NON_ALNUM drops, for ASCII text
