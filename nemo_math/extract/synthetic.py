"""A synthetic StackExchange dump (``Posts.xml`` + ``Users.xml``) in the real format, of any size, for the
extract benchmark and the memory tests.

Each question has two answers (the first accepted, each ending in ``\\boxed{n}``); bodies are HTML with
``$...$`` math, MathJax scripts, ``\\(...\\)``, entities and paragraphs; about 2% of questions show an image and
3% are in French, so every pre-filter has work to do. Deterministic for a seed.
"""

from __future__ import annotations

import html
import random
from pathlib import Path

WORDS = ("find the value of sum integer prove that if then where we have show let function real number such "
         "every prime triangle area compute limit series converge").split()
FRENCH = "trouver la valeur de la somme pour chaque entier dans le triangle avec une".split()
USERS = 9999


def body(rng: random.Random, question: bool, paragraphs: tuple[int, int] = (2, 5)) -> str:
    words = FRENCH if question and rng.random() < 0.03 else WORDS
    parts = []
    for _ in range(rng.randint(*paragraphs)):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(15, 40)))
        math = rng.choice([f"$x^{rng.randint(2, 9)} &lt; {rng.randint(1, 999)}$",
                           f'<script type="math/tex">\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}</script>',
                           f"\\(\\sum_{{i=1}}^{{{rng.randint(2, 99)}}} i\\)", "$$\\int_0^1 f(x)\\,dx$$"])
        parts.append(f"<p>{sentence} {math} {rng.choice(words)}?</p>\n\n")
    if question and rng.random() < 0.02:
        parts.append('<p><img src="https://i.sstatic.net/x.png" alt="figure"></p>')
    if not question:
        parts.append(f"<p>So the answer is $\\boxed{{{rng.randint(0, 99)}}}$.</p>")
    return "".join(parts)


def write_dump(folder: str | Path, *, size_mb: float | None = None, questions: int | None = None,
               paragraphs: tuple[int, int] = (2, 5), seed: int = 0) -> int:
    """Write ``folder/Posts.xml`` (until it holds ``size_mb`` MiB, or ``questions`` questions; each body of
    ``paragraphs`` (min, max) paragraphs of about 180 characters) and ``folder/Users.xml``; return the number of
    rows (posts) in ``Posts.xml``."""
    if (size_mb is None) == (questions is None):
        raise ValueError("write_dump: give exactly one of size_mb and questions")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    target = int(size_mb * 2**20) if size_mb is not None else None
    rows = post_id = 0
    with open(folder / "Posts.xml", "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        while (fh.tell() < target) if target is not None else (rows < 3 * questions):
            post_id += 1
            qid = post_id
            fh.write(f'  <row Id="{qid}" PostTypeId="1" AcceptedAnswerId="{qid + 1}" '
                     f'CreationDate="2019-01-01T00:00:00.000" Score="{rng.randint(-2, 50)}" '
                     f'Body="{html.escape(body(rng, True, paragraphs))}" OwnerUserId="{rng.randint(1, USERS)}" '
                     f'Title="Question {qid}" Tags="&lt;algebra&gt;" AnswerCount="2" '
                     f'ContentLicense="CC BY-SA 4.0" />\n')
            for _ in range(2):
                post_id += 1
                fh.write(f'  <row Id="{post_id}" PostTypeId="2" ParentId="{qid}" '
                         f'CreationDate="2019-01-01T01:00:00.000" Score="{rng.randint(-2, 30)}" '
                         f'Body="{html.escape(body(rng, False, paragraphs))}" OwnerUserId="{rng.randint(1, USERS)}" '
                         f'ContentLicense="CC BY-SA 4.0" />\n')
            rows += 3
        fh.write("</posts>\n")
    with open(folder / "Users.xml", "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<users>\n')
        for user in range(1, USERS + 1):
            fh.write(f'  <row Id="{user}" Reputation="{rng.randint(1, 9999)}" '
                     f'CreationDate="2015-01-01T00:00:00.000" DisplayName="User {user}" AccountId="{user}" />\n')
        fh.write("</users>\n")
    return rows
