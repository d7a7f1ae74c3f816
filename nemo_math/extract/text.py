"""Fast pre-filter helpers: forum markup to LaTeX-preserving text, MathJax normalisation, language and dedup keys.

HTML goes through lxml (libxml2's HTML parser: fast and forgiving); we walk the tree ourselves only to keep
math: MathJax ``<script type="math/tex">`` becomes ``$...$`` (``mode=display``: ``$$...$$``) and code blocks stay
verbatim. The language filter is a heuristic on purpose: the stages sees English math forums, detectors
(langdetect, lingua) cost milliseconds per post and are confused by LaTeX, while the share of English
function words among the words outside math separates English from other languages well on such text.
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree

BLOCK_TAGS = frozenset({"p", "div", "br", "li", "ul", "ol", "pre", "blockquote", "h1", "h2", "h3", "h4", "hr",
                        "table", "tr"})
MATH_SPANS = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
HTML_PARSER = etree.HTMLParser(recover=True, no_network=True)
STOPWORDS = frozenset("""the a an of to in is and that for it be this with as on are we if by or not can
how what show find let then there which from all any at have has do does prove given so number value""".split())


def html_to_text(html: str) -> tuple[str, bool]:
    """``(text, has_image)`` of an HTML post body. The few elements that matter are rewritten in place and the
    text is then serialised by libxml2 (``method="text"``), which is several times faster than a Python walk."""
    if not html.strip():
        return "", False
    root = etree.fromstring(f"<div>{html}</div>", HTML_PARSER).find("body/div")
    if root is None:
        return "", False
    has_image = False
    for el in root.iter("script", "img", *BLOCK_TAGS):
        tag = el.tag
        if tag == "script":
            kind = el.get("type", "")
            delim = "$$" if "display" in kind else "$"
            el.text = f"{delim}{el.text or ''}{delim}" if kind.startswith("math/tex") else ""
        elif tag == "img":
            has_image = True
        else:
            el.text = ("\n- " if tag == "li" else "\n") + (el.text or "")
            el.tail = "\n" + (el.tail or "")
    return normalise_math(etree.tostring(root, method="text", encoding="unicode", with_tail=False)), has_image


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
    return SPACES.sub(lambda m: "\n\n" if m.group().count("\n") > 1 else (
        "\n" if "\n" in m.group() else " "), text).strip()


INLINE = re.compile(r"\\\((.+?)\\\)", re.S)
DISPLAY = re.compile(r"\\\[(.+?)\\\]", re.S)
SPACES = re.compile(r"\s{2,}|\t")


def is_english(text: str, min_share: float = 0.15) -> bool:
    """Heuristic (see the module docstring): mostly Latin letters, and enough English function words."""
    prose = MATH_SPANS.sub(" ", text[:2000])
    if not prose.isascii():
        non_latin = len(NON_ASCII_LETTER.findall(prose))
        if non_latin > 0.1 * max(1, non_latin + len(ASCII_LETTER.findall(prose))):
            return False
    words = WORD.findall(prose.lower())
    if len(words) < 5:
        return True  # (nearly) pure math: nothing to judge
    return sum(w in STOPWORDS for w in words) / len(words) >= min_share


NON_ASCII_LETTER = re.compile(r"[^\W\d_a-zA-Z]")
ASCII_LETTER = re.compile(r"[a-zA-Z]")
WORD = re.compile(r"[a-z]+")


def dedup_key(text: str) -> str:
    """Exact-duplicate key across sites: the text without case, spaces and punctuation outside letters/digits."""
    return hashlib.blake2b(re.sub(r"[\W_]+", "", text.lower()).encode(), digest_size=16).hexdigest()
