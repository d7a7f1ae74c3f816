"""Throughput and memory of the extract stage's pre-filters over a synthetic StackExchange ``Posts.xml``.

    .venv/bin/python benchmarks/extract.py [--size-mb 200]      # --size-mb 1024: the issue's 1 GB figure

Writes a synthetic dump in the real format (1 question : 2 answers, HTML bodies with ``$...$`` math, MathJax
scripts, entities, some images, some non-English and duplicate questions) to a temp folder, runs the reader and
pre-filters over it in this process (one core) and deletes it. Prints ``posts_per_s=<x>`` (rows of the dump per
second), ``mb_per_s=<x>`` and ``peak_rss_mb=<x>`` (the whole process, the generator's share excluded by running
the filters in a fresh child process).
"""

from __future__ import annotations

import argparse
import html
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("find the value of sum integer prove that if then where we have show let function real number such "
         "every prime triangle area compute limit series converge").split()
FRENCH = "trouver la valeur de la somme pour chaque entier dans le triangle avec une".split()


def body(rng: random.Random, question: bool) -> str:
    words = FRENCH if question and rng.random() < 0.03 else WORDS
    parts = []
    for _ in range(rng.randint(2, 5)):
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(15, 40)))
        math = rng.choice([f"$x^{rng.randint(2, 9)} &lt; {rng.randint(1, 999)}$",
                           f'<script type="math/tex">\\frac{{{rng.randint(1, 9)}}}{{{rng.randint(2, 9)}}}</script>',
                           f"\\(\\sum_{{i=1}}^{{{rng.randint(2, 99)}}} i\\)", "$$\\int_0^1 f(x)\\,dx$$"])
        parts.append(f"<p>{sentence} {math} {rng.choice(words)}?</p>")
    if question and rng.random() < 0.02:
        parts.append('<p><img src="https://i.sstatic.net/x.png" alt="figure"></p>')
    if not question:
        parts.append(f"<p>So the answer is $\\boxed{{{rng.randint(0, 99)}}}$.</p>")
    return "".join(parts)


def write_dump(path: Path, size_mb: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    rows, post_id, target = 0, 0, size_mb << 20
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        while fh.tell() < target:
            post_id += 1
            qid = post_id
            text = body(rng, True)
            fh.write(f'  <row Id="{qid}" PostTypeId="1" AcceptedAnswerId="{qid + 1}" '
                     f'CreationDate="2019-01-01T00:00:00.000" Score="{rng.randint(-2, 50)}" '
                     f'Body="{html.escape(text)}" OwnerUserId="{rng.randint(1, 9999)}" Title="Question {qid}" '
                     f'Tags="&lt;algebra&gt;" AnswerCount="2" ContentLicense="CC BY-SA 4.0" />\n')
            for _ in range(2):
                post_id += 1
                fh.write(f'  <row Id="{post_id}" PostTypeId="2" ParentId="{qid}" '
                         f'CreationDate="2019-01-01T01:00:00.000" Score="{rng.randint(-2, 30)}" '
                         f'Body="{html.escape(body(rng, False))}" OwnerUserId="{rng.randint(1, 9999)}" '
                         f'ContentLicense="CC BY-SA 4.0" />\n')
            rows += 3
        fh.write("</posts>\n")
    return rows


def measure(path: str) -> None:
    from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
    from nemo_math.extract.readers import Prefilter, read_source

    filt = Prefilter(PrefilterConfig())
    start = time.perf_counter()
    kept = sum(1 for _ in read_source(ForumSourceConfig(path=path), filt))
    elapsed = time.perf_counter() - start
    rows = int(sys.argv[3])
    size_mb = Path(path).stat().st_size / 2**20
    print(f"counts={dict(filt.counts)} candidates={kept}")
    print(f"posts_per_s={rows / elapsed:.0f}")
    print(f"mb_per_s={size_mb / elapsed:.1f}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Posts.xml"
        rows = write_dump(path, args.size_mb)
        print(f"synthetic Posts.xml: {path.stat().st_size / 2**20:.0f} MB, {rows} rows")
        subprocess.run([sys.executable, __file__, "--measure", str(path), str(rows)], check=True)


if __name__ == "__main__":
    main()
