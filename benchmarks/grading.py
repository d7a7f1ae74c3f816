"""How right, robust and fast is the grader? Prints one line per figure (issue 16).

* correctness on other graders' suites (``tests/grading/data``): NeMo-Skills' ``test_math_equal`` (60 checks)
  and Math-Verify's answer pairs (the cases run upstream with options we also use);
* false positives where the reference is an equation and the prediction its right-hand side;
* robustness: crashes (exceptions or ``error`` verdicts) and hangs (calls not back within the deadline) over
  the adversarial set of ``tests/grading/adversarial.py``;
* speed on a *cold* mix of realistic competition answers (integers, fractions, radicals, expressions,
  intervals, tuples, matrices, text; as written, respelled or wrong), all distinct, caches empty: answers/s
  with one worker process against raw math_verify (``parse`` + ``verify`` in one process), then with two workers
  and with every core (the speed-up is the ratio to one worker: near-linear wanted, on an otherwise idle node).

Run: ``.venv/bin/python benchmarks/grading.py [--pairs 2000] [--seed 0] [--repeat 3]``. Wall-clock figures on a
shared machine are noisy: the speed figures are medians of ``--repeat`` interleaved runs, printed with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from nemo_math.grading import pool
from nemo_math.grading.equivalence import _CACHE, STATS, Verdict, compare_many, grade_solutions
from nemo_math.grading.extract import extract_answer

TESTS = Path(__file__).resolve().parent.parent / "tests" / "grading"
sys.path.insert(0, str(TESTS))
from adversarial import adversarial_cases  # noqa: E402
from test_grading_upstream import KNOWN_DIFFERENCES  # noqa: E402, F401 - the same rows the tests use

EQUATION_VS_RHS = [("0", "a+3z=0"), ("25", "x^2+y^2=25"), ("11a+c", "7=11a+c"), ("1", "2x+z=1"), ("0", "a^2+b=0"),
                   ("5", "x+y=5"), ("2x+1", "7=2x+1"), ("y", "x^2=y"), ("3", "a+b+c=3"), ("-1", "x^2+xy=-1"),
                   ("\\frac{1}{2}", "2a-b=\\frac{1}{2}"), ("0", "x^2-5x+6=0")]
WORDS = ["yes", "no", "odd", "even", "none", "infinite", "always", "never", "Alice", "Bob", "impossible",
         "increasing", "decreasing", "convergent", "divergent", "true", "false", "all", "finite", "empty"]


def _answer(text):
    return None if text is None else extract_answer(text) or text


def _rows(name):
    with open(TESTS / "data" / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def upstream() -> None:
    rows = _rows("nemo_skills_math_equal.jsonl")
    pairs = [(_answer(a), _answer(b)) for r in rows for a, b in ((r["a"], r["b"]), (r["b"], r["a"]))]
    expected = [bool(r["expected"]) for r in rows for _ in range(2)]
    verdicts = compare_many(pairs, timeout_s=30.0)
    ok = sum((v is Verdict.EQUAL) == e for v, e in zip(verdicts, expected, strict=True))
    print(f"nemo_skills_test_math_equal      {ok}/{len(pairs)}")
    rows = [r for r in _rows("math_verify_pairs.jsonl")
            if r.get("options", {}).get("strict", True) and r.get("options", {}).get("allow_set_relation_comp", True)]
    verdicts = compare_many([(_answer(r["pred"]), _answer(r["gold"])) for r in rows], timeout_s=30.0)
    ok = sum((v is Verdict.EQUAL) == bool(r["expected"]) for v, r in zip(verdicts, rows, strict=True))
    print(f"math_verify_answer_pairs         {ok}/{len(rows)} = {ok / len(rows):.3f}")
    verdicts = compare_many(EQUATION_VS_RHS, timeout_s=30.0)
    print(f"equation_vs_rhs_false_positives  {sum(v is Verdict.EQUAL for v in verdicts)}/{len(verdicts)}")


def adversarial(timeout_s: float) -> None:
    cases = adversarial_cases()
    crashes = hangs = false_positives = 0
    worst = 0.0
    verdicts = []
    for text, ref, may_be_equal in cases:  # one at a time, to time each call
        start = time.perf_counter()
        try:
            verdict = compare_many([(_answer(text), ref)], timeout_s)[0]
        except Exception:  # noqa: BLE001 - counted, that is the point
            crashes += 1
            continue
        elapsed = time.perf_counter() - start
        worst = max(worst, elapsed)
        hangs += elapsed > timeout_s + 30  # the deadline plus a generous allowance for replacing a worker
        crashes += verdict is Verdict.ERROR
        false_positives += verdict is Verdict.EQUAL and not may_be_equal
        verdicts.append(str(verdict))
    print(f"adversarial_inputs               {len(cases)}")
    print(f"adversarial_crashes              {crashes}")
    print(f"adversarial_hangs                {hangs} (slowest call {worst:.1f} s, deadline {timeout_s} s)")
    print(f"adversarial_false_positives      {false_positives}")
    print(f"adversarial_verdicts             {json.dumps({v: verdicts.count(v) for v in sorted(set(verdicts))})}")


def realistic_pair(rng: random.Random) -> tuple[str, str]:
    """One (prediction, reference): a competition-style answer, then as written, respelled or wrong."""
    kind = rng.choices(["int", "frac", "radical", "expr", "interval", "tuple", "matrix", "text"],
                       [35, 15, 10, 10, 8, 8, 6, 8])[0]
    roll = rng.random()
    same, wrong = roll < 0.4, roll >= 0.7
    a, b, c = rng.randint(2, 999), rng.randint(2, 99), rng.randint(1, 50)
    if kind == "int":
        ref = str(a * 10 + c)
        pred = ref if same else str(a * 10 + c + rng.randint(1, 9)) if wrong else rng.choice(
            [f"0{ref}", f"x = {ref}", f"{ref}.0", f"\\text{{{ref}}}", f"{ref}^\\circ"])
    elif kind == "frac":
        ref = f"\\frac{{{a}}}{{{a + b}}}"
        pred = ref if same else f"\\frac{{{a + 1}}}{{{a + b}}}" if wrong else rng.choice(
            [f"\\dfrac{{{2 * a}}}{{{2 * (a + b)}}}", f"{a}/{a + b}", f"\\frac{{{3 * a}}}{{{3 * (a + b)}}}",
             f"{a / (a + b):.6f}"])  # a decimal: math_verify's rounding rules, so sympy
    elif kind == "radical":
        ref = f"{b}\\sqrt{{{c + 1}}}"
        pred = ref if same else f"{b + 1}\\sqrt{{{c + 1}}}" if wrong else rng.choice(
            [f"\\sqrt{{{b * b * (c + 1)}}}", f"\\frac{{{2 * b}\\sqrt{{{c + 1}}}}}{{2}}"])
    elif kind == "expr":
        ref = f"x^2+{b + c}x+{b * c}"
        pred = ref if same else f"x^2+{b + c}x+{b * c + 1}" if wrong else rng.choice(
            [f"(x+{b})(x+{c})", f"{b * c}+{b + c}x+x^2"])
    elif kind == "interval":
        ref = f"[{c}, {c + b})"
        pred = ref if same else f"({c}, {c + b}]" if wrong else rng.choice(
            [f"[{c},{c + b})", f"{c} \\le x < {c + b}"])
    elif kind == "tuple":
        ref = f"({c}, {b})"
        pred = ref if same else f"({b}, {c + 1})" if wrong else rng.choice([f"({c},{b})", f"\\left({c}, {b}\\right)"])
    elif kind == "matrix":
        ref = f"\\begin{{pmatrix}}{a}&{b}\\\\{c}&{a + b}\\end{{pmatrix}}"
        pred = ref if same else ref.replace(f"&{b}\\\\", f"&{b + 1}\\\\") if wrong else \
            f"\\begin{{bmatrix}} {a} & {b} \\\\ {c} & {a + b} \\end{{bmatrix}}"
    else:
        word = rng.choice(WORDS)
        ref = f"\\text{{{word}}}"
        pred = ref if same else f"\\text{{{rng.choice([w for w in WORDS if w != word])}}}" if wrong else \
            rng.choice([word.capitalize(), word.upper(), f"\\textbf{{{word}}}"])
    return f"So the final answer is $\\boxed{{{pred}}}$.", ref


def cold_mix(n: int, seed: int) -> list[tuple[str, str]]:
    rng, pairs = random.Random(seed), {}
    while len(pairs) < n:  # all distinct: no cache can help
        text, ref = realistic_pair(rng)
        pairs[(text, ref)] = None
    return list(pairs)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def ours(pairs, workers: int, timeout_s: float) -> tuple[float, tuple[float, float, float]]:
    """Answers/s, and CPU seconds (all workers, the busiest worker, this process). Unlike wall time, CPU time
    hardly depends on what else the node runs: equal totals mean no work is repeated across workers, and this
    process's share is the serial part that bounds the speed-up."""
    pool.shutdown()  # new workers: empty caches
    pool.set_workers(workers)
    pool.grade([("\\sqrt{2}", "2^{1/2}")] * workers, timeout_s)  # start the workers outside the clock
    _CACHE.clear()
    pids = pool.worker_pids()
    before = [_cpu_s(pid) for pid in pids]
    here, start = time.process_time(), time.perf_counter()
    grade_solutions(pairs, timeout_s=timeout_s)  # extraction included, as the grade stage does it
    wall = time.perf_counter() - start
    used = [_cpu_s(pid) - cpu for pid, cpu in zip(pids, before, strict=True)]
    return len(pairs) / wall, (sum(used), max(used), time.process_time() - here)


def raw_math_verify(pairs) -> float:
    from math_verify import parse, verify

    parse("$1$")  # build its parser outside the clock
    start = time.perf_counter()
    for text, ref in pairs:
        verify(parse(f"${ref}$"), parse(text))
    return len(pairs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=5.0)
    parser.add_argument("--skip-checks", action="store_true", help="only the speed figures")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs per worker count; medians are printed")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if not args.skip_checks:
        upstream()
        adversarial(min(args.timeout_s, 2.0))
    pairs = cold_mix(args.pairs, args.seed)
    STATS.clear()
    counts = sorted({1, 2, cores})
    runs: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[tuple[float, float, float]]] = {n: [] for n in counts}
    for _ in range(args.repeat):  # interleaved, so that a burst of load elsewhere hits every worker count
        for n in counts:
            speed, used = ours(pairs, n, args.timeout_s)
            runs[n].append(speed)
            cpu[n].append(used)
    pool.shutdown()
    speed = {n: statistics.median(r) for n, r in runs.items()}
    share_fast = STATS["fast"] / max(1, STATS["calls"])
    raw = raw_math_verify(pairs[:500])  # ~40 answers/s: a sample is enough
    print(f"cold_mix_pairs                   {len(pairs)} (fast path settles {share_fast:.1%} without sympy)")
    print(f"raw_math_verify_answers_per_s    {raw:,.0f} (one process)")
    for n in counts:
        ratio = f"{speed[1] / raw:.1f}x raw math_verify" if n == 1 else f"{speed[n] / speed[1]:.2f}x one worker"
        print(f"ours_answers_per_s_{n}_worker{'s' if n > 1 else ' '}{' ' * (6 - len(str(n)))}{speed[n]:,.0f} "
              f"({ratio}; {cores} cores; median of {args.repeat}: {', '.join(f'{x:,.0f}' for x in runs[n])})")
    one = statistics.median(total + grader for total, _, grader in cpu[1])
    for n in counts:
        total, busiest, grader = (statistics.median(x[i] for x in cpu[n]) for i in range(3))
        print(f"cpu_s_{n}_worker{'s' if n > 1 else ' '}{' ' * (19 - len(str(n)))}workers {total:.2f}, busiest "
              f"{busiest:.2f}, grading process {grader:.2f} (idle-node bound {one / (busiest + grader):.2f}x)")
    print(f"load_average                     {' '.join(f'{x:.2f}' for x in os.getloadavg())} (a busy node "
          "understates the speed-up)")

if __name__ == "__main__":
    main()
