"""The report and --compare from hand-made graded samples; benchmark specs from local files."""

import json

import pytest
from helpers_eval import sample
from PIL import Image

from nemo_math.evaluation import benchmarks
from nemo_math.evaluation.collapse import lengths_by_mode, mode_collapse
from nemo_math.evaluation.metrics import compute_metrics
from nemo_math.evaluation.report import compare, write_report


def _samples(right_answers: int):
    out = []
    for mode, base in (("high", 1000), ("medium", 400), ("low", 100)):
        for tool in (True, False):
            for p in range(3):
                for seed in range(4):
                    ok = seed < right_answers
                    out.append(sample(f"q{p}", seed, "1" if ok else "2", ok, mode=mode, with_tool=tool,
                                      tokens=base + 10 * seed, tool_calls=seed if tool else 0))
    return out


def _run(tmp_path, name, right):
    samples = _samples(right)
    rows = compute_metrics(samples)
    write_report(tmp_path / name, name, rows, mode_collapse(samples), lengths_by_mode(samples), 0.75)
    return tmp_path / name


def test_report_has_every_metric_and_plots(tmp_path):
    out = _run(tmp_path, "student", right=1)
    text = (out / "report.md").read_text()
    assert "| student | high | yes | 25.0 ± 25.0 | 0.0 |" in text  # runs 1,0,0,0: std 0.5, / sqrt(4)
    for needle in ("pass@1[avg-of-4]", "maj@4", "pass@k", "no answer %", "length p90", "tool calls mean",
                   "Mode collapse", "accuracy_vs_mode.png", "length_by_mode.png"):
        assert needle in text
    assert "**COLLAPSE**" not in text
    for png in ("accuracy_vs_mode.png", "length_by_mode.png"):
        with Image.open(out / png) as image:
            assert image.format == "PNG" and image.size[0] > 100
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["rows"]) == 6 and len(metrics["collapse"]) == 4


def test_compare_side_by_side(tmp_path):
    a, b = _run(tmp_path, "base", right=1), _run(tmp_path, "tuned", right=3)
    table = compare(a, b)
    assert "| bench | high | yes | 25.0 | 75.0 | +50.0 | 0.0 (k=4) | 100.0 (k=4) | +100.0 |" in table
    with pytest.raises(FileNotFoundError):
        compare(a, tmp_path / "missing")


def test_benchmark_specs(tmp_path):
    assert len(benchmarks.load("aime24")) == 30
    hmmt = benchmarks.load("comp-math-24-25:hmmt-24-25")
    assert len(hmmt) == 196 and {p.metadata["subset"] for p in hmmt} == {"hmmt-24-25"}
    with pytest.raises(ValueError, match="subsets: aime24, aime25, hmmt-24-25"):
        benchmarks.load("comp-math-24-25:nope")
    own = tmp_path / "mine.jsonl"
    own.write_text('{"problem": "1+1?", "expected_answer": "2"}\n{"problem": "2+2?"}\n')
    with pytest.raises(Exception, match="mine.jsonl:2: expected_answer"):
        benchmarks.load(str(own))
    with pytest.raises(FileNotFoundError, match="hle-math"):
        benchmarks.load("no-such-benchmark")
    assert [p.data_source for p in benchmarks.load_all(["aime24", "aime25"], max_problems=2)] == ["aime24"] * 2 + ["aime25"] * 2
