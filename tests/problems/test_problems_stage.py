"""``nemo-math problems`` end to end: planted exact duplicates, near duplicates and lightly paraphrased AIME
problems are removed (exactly those) and reported; a finished stage is skipped unless ``--force``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_math.benchmarks import load_benchmark
from nemo_math.io import is_done, load_records, write_records
from nemo_math.problems import stage
from nemo_math.problems.config import DecontaminateConfig, NearDedupConfig, ProblemsConfig, SourceConfig
from nemo_math.problems.synthetic import generate
from nemo_math.records import Problem

NEMO_MATH = Path(sys.executable).parent / "nemo-math"

LONG = [
    "A bag contains $5$ red marbles, $7$ blue marbles and $8$ green marbles. Three marbles are drawn at random "
    "without replacement. What is the probability that all three marbles have different colours? Express your "
    "answer as a common fraction.",
    "Let $f$ be a function from the positive integers to the positive integers such that $f(f(n)) = 3n$ for "
    "every positive integer $n$ and $f$ is strictly increasing. Determine the value of $f(2025)$ and justify "
    "that the function is unique.",
    "In a round-robin tournament with $12$ teams every pair of teams plays exactly once and there are no ties. "
    "A team's score is the number of games it wins. Find the largest possible number of teams that all end the "
    "tournament with the same score.",
    "The sequence $a_1, a_2, \\ldots$ is defined by $a_1 = 2$ and $a_{n+1} = a_n^2 - a_n + 1$ for all $n \\ge 1$. "
    "Compute the sum of the reciprocals $\\sum_{n=1}^{\\infty} \\frac{1}{a_n}$ as a rational number.",
]


def planted_input(tmp_path: Path) -> tuple[list[Path], set[str], dict[str, dict[str, str]]]:
    """Two sources with a clean core plus planted copies; returns the files, the clean ids and the plants."""
    clean = [Problem(id=f"long-{i}", problem=text, expected_answer=str(i), data_source="aops")
             for i, text in enumerate(LONG)] + generate(30, seed=11, name="aops")
    aime = load_benchmark("aime24") + load_benchmark("aime25")
    plants = {
        "exact": {
            "dup-spaces": ("  " + clean[0].problem.replace(" ", "   ") + "\n", "long-0"),
            "dup-math-padding": (clean[5].problem.replace("$", "$ ").replace("$ .", "$."), clean[5].id),
            "dup-width": (clean[6].problem.replace("1", "１").replace("2", "２"), clean[6].id),  # NFKC
        },
        "near": {
            "near-word": (LONG[1].replace("Determine", "Find"), "long-1"),
            "near-typo": (LONG[2].replace("round-robin", "round robin").replace("exactly", "exacly"), "long-2"),
            "near-tail": (LONG[3] + " Show your work.", "long-3"),
        },
        "aime": {
            "aime-find": (aime[0].problem.replace("Find", "Determine"), aime[0].id),
            "aime-intro": ("Old contest problem: " + aime[31].problem.replace("the", "a"), aime[31].id),
            "aime-spaced": (aime[40].problem.replace(". ", ".\n\n").replace(",", " ,"), aime[40].id),
        },
    }
    rows = [p.to_dict() for p in clean[:20]]
    for group in plants.values():
        for pid, (text, _) in group.items():
            rows.append({"id": pid, "problem": text, "expected_answer": "1"})
    first = tmp_path / "aops.jsonl"
    write_records(first, rows)
    second = tmp_path / "stackexchange.parquet"  # the rest of the clean core, in a second source and format
    write_records(second, [{"uid": p.id, "body": p.problem, "answer": p.expected_answer} for p in clean[20:]])
    return [first, second], {p.id for p in clean}, {k: {pid: v[1] for pid, v in g.items()} for k, g in plants.items()}


def nemo_math(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEMO_MATH), "problems", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_removes_exactly_the_planted_problems(tmp_path):
    (first, second), clean_ids, plants = planted_input(tmp_path)
    config = tmp_path / "problems.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\nproblems:\n  sources:\n    - path: {first}\n"
                      f"    - path: {second}\n      name: stackexchange\n      id_field: uid\n"
                      f"      problem_field: body\n      answer_field: answer\n")
    result = nemo_math("--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "run" / "problems"
    written = load_records(out / "problems.jsonl", Problem)
    assert {p.id for p in written} == clean_ids
    assert {p.data_source for p in written} == {"aops", "stackexchange"}
    assert all(p.expected_answer for p in written)

    report = json.loads((out / "report.json").read_text())
    assert report["input"] == len(clean_ids) + 9 and report["output"] == len(clean_ids)
    assert report["removed"] == {"empty": 0, "exact_duplicate": 3, "near_duplicate": 3, "contaminated": 3,
                                 "downsampled": 0}
    pairs = report["pairs"]
    assert {p["removed"]: p["kept"] for p in pairs["exact_duplicate"]} == plants["exact"]
    assert {p["removed"]: p["kept"] for p in pairs["near_duplicate"]} == plants["near"]
    assert all(0.7 <= p["jaccard"] < 1 for p in pairs["near_duplicate"])
    assert {p["removed"]: p["benchmark_id"] for p in pairs["contaminated"]} == plants["aime"]
    assert report["per_source"]["stackexchange"] == {"read": len(clean_ids) - 20, "kept": len(clean_ids) - 20,
                                                     **dict.fromkeys(report["removed"], 0)}
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and is_done(out)

    before = (out / "problems.jsonl").stat().st_mtime_ns
    again = nemo_math("--config", str(config), cwd=tmp_path)
    assert again.returncode == 0 and "skipping" in again.stderr
    assert (out / "problems.jsonl").stat().st_mtime_ns == before
    forced = nemo_math("--config", str(config), "--force", "-q", "problems.decontaminate.enabled=false",
                       cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert len(load_records(out / "problems.jsonl", Problem)) == len(clean_ids) + 3


def test_cli_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "problem": "ok"}\n{"id": "2", "problem": ["not", "text"]}\n')
    result = nemo_math(f"run_dir={tmp_path}", f"problems.sources=[{{path: {bad}}}]", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {bad}:2: problem: expected a string, got list"
    assert not is_done(tmp_path / "problems")


def test_mix_downsamples_the_larger_source(tmp_path):
    write_records(tmp_path / "big.jsonl", generate(60, seed=4, name="big"))
    write_records(tmp_path / "small.jsonl", generate(20, seed=5, name="small"))
    cfg = ProblemsConfig(output_dir=str(tmp_path / "out"), seed=0,
                         sources=[SourceConfig(path=str(tmp_path / "big.jsonl"), weight=1),
                                  SourceConfig(path=str(tmp_path / "small.jsonl"), weight=1)],
                         near_dedup=NearDedupConfig(enabled=False), decontaminate=DecontaminateConfig(enabled=False))
    report = stage.run(cfg)
    written = load_records(tmp_path / "out" / "problems.jsonl", Problem)
    counts = {name: sum(p.data_source == name for p in written) for name in ("big", "small")}
    assert counts == {"big": 20, "small": 20} and report["removed"]["downsampled"] == 40
    again = stage.run(cfg, force=True)
    assert again["output"] == 40
    assert [p.id for p in load_records(tmp_path / "out" / "problems.jsonl", Problem)] == [p.id for p in written]
