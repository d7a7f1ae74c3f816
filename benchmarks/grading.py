"""How fast does the grader grade? Answers per second on 10K realistic (prediction, reference) pairs, one process.

Pairs are built from the references of the shipped benchmarks (AIME 24/25, HMMT: integers and LaTeX
expressions): half the predictions are the reference as written, a quarter an equivalent respelling (``016``,
``$x$``, ``x = ...``, ``\\dfrac``, a decimal, a unit) and a quarter another problem's answer, about the mix a
strong teacher produces. Prints throughput, the share settled without sympy, and the share of calls that hit the
timeout (a wall-clock limit: on a loaded machine more calls hit it). Run:
``.venv/bin/python benchmarks/grading.py [--pairs 10000] [--timeout-s 5]``.
"""

from __future__ import annotations

import argparse
import random
import time

from nemo_math.benchmarks import load_benchmark
from nemo_math.grading.equivalence import STATS, is_equivalent
from nemo_math.grading.extract import extract_answer


def respell(answer: str, rng: random.Random) -> str:
    """An equivalent way to write ``answer``."""
    if answer.isdigit():
        value = int(answer)
        return rng.choice([f"0{answer}", f"${answer}$", f"x = {answer}", f"{answer}.0", f"{value:,}",
                           f"{answer}\\text{{ units}}", f"\\frac{{{2 * value}}}{{2}}"])
    core = answer.strip().rstrip(".").strip("$").strip()
    spellings = [f"${core}$", core.replace("\\frac", "\\dfrac"), f"x = {core}" if "," not in core else core]
    if "," not in core:  # brackets around a list would make it a tuple
        spellings.append(f"\\left({core}\\right)")
    return rng.choice(spellings)


def make_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    references = [p.expected_answer for name in ("aime24", "aime25", "comp-math-24-25")
                  for p in load_benchmark(name) if p.expected_answer]
    pairs = []
    for _ in range(n):
        ref = rng.choice(references)
        roll = rng.random()
        pred = ref if roll < 0.5 else respell(ref, rng) if roll < 0.75 else rng.choice(references)
        # graded from the solution text, as the stage does: extraction is part of the cost
        pairs.append((f"So the final answer is $\\boxed{{{pred}}}$.", ref))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs, args.seed)
    is_equivalent("1", "2")  # imports and parser warm-up outside the clock
    STATS.clear()
    start, cpu_start = time.perf_counter(), time.process_time()
    correct = sum(is_equivalent(extract_answer(text), ref, args.timeout_s) for text, ref in pairs)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    calls = STATS["calls"]
    print(f"pairs                 {args.pairs}")
    print(f"judged equivalent     {correct} ({correct / calls:.1%})")
    print(f"answers graded / s    {calls / elapsed:,.0f}  ({elapsed:.2f} s wall, single process)")
    print(f"answers / CPU second  {calls / cpu:,.0f}  ({cpu:.2f} s CPU: the figure to trust on a shared machine)")
    print(f"settled without sympy {STATS['fast'] / calls:.1%}")
    print(f"sympy comparisons     {STATS['sympy']} (cached repeats excluded)")
    print(f"timeouts              {STATS['timeouts']} ({STATS['timeouts'] / calls:.3%} of calls)")
    print(f"refused (huge powers) {STATS['refused']}")


if __name__ == "__main__":
    main()
