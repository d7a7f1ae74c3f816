"""``recipes/mix_sweep.py``: the Pareto front; a ratio with too few problems fails before training, naming the ratio
and the stage; and the whole sweep end to end on the tiny preset for two ratios, with training and evaluation cut
down by overrides so the test stays within a few minutes."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from nemo_math.config import DATA_DIR, load_config
from nemo_math.io import mark_done, write_json
from nemo_math.training.schedule import bucket_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import mix_sweep  # noqa: E402

AOPS_ONLY = f"extract.sources=[{{path: {DATA_DIR}/extract/aops_threads.jsonl, kind: aops}}]"


def test_pareto_front():
    points = [(0.5, 0.2), (0.6, 0.1), (0.4, 0.1), (0.6, 0.3)]
    assert mix_sweep.pareto_front(points) == [3]
    assert mix_sweep.pareto_front([(0.5, 100), (0.6, 200), (0.4, 300)], lower_y_better=True) == [0, 1]


def test_mix_check_names_ratio_and_stage():
    extracted = {"AoPS": 2, "StackExchange-Math": 2}  # what the first fixtures gave: 90:10 stopped at pack
    with pytest.raises(SystemExit, match=r"^mix 90:10: stage problems: the mix would keep 2 AoPS \+ 0 Stack"):
        mix_sweep.check_mix("90:10", (90, 10), extracted, seed=0, max_problems=0, min_problems=1)
    with pytest.raises(SystemExit, match=r"^mix 50:50: stage problems: .* >= 16 in all"):
        mix_sweep.check_mix("50:50", (50, 50), extracted, seed=0, max_problems=0, min_problems=16)
    mix_sweep.check_mix("90:10", (90, 10), {"AoPS": 47, "StackExchange-Math": 49}, 0, 0, 16)


def test_sweep_fails_before_any_ratio_runs(tmp_path: Path):
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit, match=r"^mix 90:10: stage problems: .* 0 StackExchange-Math of the 49 AoPS"):
        mix_sweep.main(["--preset", "tiny", "--ratios", "90:10,25:75", "--out", str(out), f"run_dir={tmp_path}",
                        AOPS_ONLY])
    assert (out / "extract" / "_SUCCESS.json").exists() and not list(out.glob("aops*"))


def test_shortfall_after_curate_and_pack(tmp_path: Path):
    cfg = load_config(["tiny"], [f"run_dir={tmp_path}"])
    mark_done(cfg.curate.output_dir, {"sft_records": 0})
    assert mix_sweep.shortfall(cfg, "curate").startswith("kept no SFT records")
    mark_done(cfg.curate.output_dir, {"sft_records": 3})
    assert mix_sweep.shortfall(cfg, "curate") is None
    write_json(bucket_dir(cfg.train, cfg.train.stages[0]) / "manifest.json", {})
    assert "['bucket_1024', 'bucket_2048'] empty" in mix_sweep.shortfall(cfg, "pack")


@pytest.mark.slow
@pytest.mark.timeout(2400)  # two chains of 8 stage processes: 3.6 min on 2 quiet cores, 23 min at load 6-18
def test_mix_sweep_end_to_end_on_tiny(tmp_path: Path, capsys):
    out = tmp_path / "sweep"
    cut = ["problems.max_problems=24", "problems.decontaminate.enabled=false", "evaluate.max_problems=1",
           "evaluate.max_tokens=64", "evaluate.modes=[low]", "evaluate.tools=[false]",
           "train.stages=[{name: stage1_512, bucket: bucket_512, global_batch_size: 8, lr: 3.0e-3, steps: 1}]"]
    rc = mix_sweep.main(["--preset", "tiny", "--ratios", "90:10,25:75", "--competition", "aime24", "--out", str(out),
                         f"run_dir={tmp_path}", *cut])
    assert rc == 0
    assert "hle-math: skipped: its data is absent" in capsys.readouterr().out
    counts = {}
    for ratio in ("aops90_se10", "aops25_se75"):
        rows = [json.loads(line) for line in (out / ratio / "problems" / "problems.jsonl").open()]
        counts[ratio] = Counter(r["data_source"] for r in rows)
        assert json.loads((out / ratio / "evaluate" / "metrics.json").read_text())["rows"]
    # 47 AoPS and 49 StackExchange problems extracted, capped at 24: the mix keeps the ratio
    assert counts == {"aops90_se10": {"AoPS": 22, "StackExchange-Math": 2},
                      "aops25_se75": {"AoPS": 6, "StackExchange-Math": 18}}
    table = (out / "mix_sweep.md").read_text()
    assert "| AoPS:SE | aime24 | competition mean | length mean |" in table
    for label in ("90:10", "25:75"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert "-" not in [cell.strip() for cell in row.split("|")[2:5]]  # pass@1, its mean, the mean length
    assert "![Pareto](pareto.png)" in table
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
