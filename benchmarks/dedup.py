"""Throughput of the problems stage (normalise, exact + near dedup, decontamination) on synthetic problems.

    .venv/bin/python benchmarks/dedup.py [--count 100000]

The input is ``count`` problems: procedural ones, plus 5% exact duplicates (re-spaced), 5% near duplicates
(one word changed) and the AIME 2024 problems lightly paraphrased. Prints the removal counts and, last,
``problems_per_s=<x>`` (problems read per second of stage time, file reading and writing included).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from nemo_math import progress
from nemo_math.benchmarks import load_benchmark
from nemo_math.io import write_records
from nemo_math.problems import stage
from nemo_math.problems.config import ProblemsConfig, SourceConfig
from nemo_math.problems.synthetic import generate


def make_input(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    aime = load_benchmark("aime24")
    num_dups = count // 20
    base = generate(count - 2 * num_dups - len(aime), seed=seed)
    rows = [{"id": p.id, "problem": p.problem, "expected_answer": p.expected_answer} for p in base]
    for i, p in enumerate(rng.sample(base, num_dups)):
        rows.append({"id": f"exact-{i}", "problem": "  " + p.problem.replace(" ", "  ") + "\n"})
    for i, p in enumerate(rng.sample(base, num_dups)):
        rows.append({"id": f"near-{i}", "problem": p.problem.replace("Find", "Determine", 1) + " Explain."})
    for p in aime:
        rows.append({"id": f"aime-{p.id}", "problem": p.problem.replace("Find", "Determine", 1)})
    rng.shuffle(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    progress.configure(quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = Path(tmp) / "input.jsonl"
        write_records(path, make_input(args.count, args.seed))
        print(f"made {args.count} input problems in {time.perf_counter() - start:.1f}s")
        cfg = ProblemsConfig(output_dir=str(Path(tmp) / "out"), sources=[SourceConfig(path=str(path))], seed=0)
        start, cpu_start = time.perf_counter(), time.process_time()
        report = stage.run(cfg, force=True)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"read={report['input']} written={report['output']} removed={report['removed']}")
    for name, stats in report["steps"].items():
        print(f"  {name}: {stats}")
    print(f"elapsed_s={elapsed:.2f} cpu_s={cpu:.2f} (on a shared machine the CPU time is the steadier figure)")
    print(f"problems_per_cpu_s={report['input'] / cpu:.0f}")
    print(f"problems_per_s={report['input'] / elapsed:.0f}")


if __name__ == "__main__":
    main()
