"""``recipes/mix_sweep.py`` on a cut-down tiny config: extract once, then the chain per AoPS:SE ratio (here only
the problems stage, so the test stays fast; the full tiny chain per ratio is the recipe's real run)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import mix_sweep  # noqa: E402


def test_pareto_front():
    points = [(0.5, 0.2), (0.6, 0.1), (0.4, 0.1), (0.6, 0.3)]
    assert mix_sweep.pareto_front(points) == [3]
    assert mix_sweep.pareto_front([(0.5, 100), (0.6, 200), (0.4, 300)], lower_y_better=True) == [0, 1]


@pytest.mark.slow
def test_mix_sweep_problems_follow_the_ratios(tmp_path: Path, capsys):
    rc = mix_sweep.main(["--preset", "tiny", "--ratios", "75:25,25:75", "--out", str(tmp_path / "sweep"),
                         f"run_dir={tmp_path}", "pipeline.stages=[problems]",
                         "problems.decontaminate.enabled=false"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "hle-math: skipped: its data is absent" in printed
    counts = {}
    for ratio in ("aops75_se25", "aops25_se75"):
        rows = [json.loads(line) for line in (tmp_path / "sweep" / ratio / "problems" / "problems.jsonl").open()]
        counts[ratio] = Counter(r["data_source"] for r in rows)
    # the fixtures give 2 AoPS and 2 StackExchange problems: the mix downsamples the smaller share
    assert counts == {"aops75_se25": {"AoPS": 2, "StackExchange-Math": 1},
                      "aops25_se75": {"AoPS": 1, "StackExchange-Math": 2}}
    table = (tmp_path / "sweep" / "mix_sweep.md").read_text()
    assert "| 75:25 |" in table and "| 25:75 |" in table and "hle-math: skipped" in table
