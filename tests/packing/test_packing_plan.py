"""The bucket planner: the paper's layouts are feasible, memory limits bind, the CLI prints and writes a plan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nemo_math.cli import main as cli_main
from nemo_math.packing.config import ClusterConfig
from nemo_math.packing.planner import (
    MODELS,
    PAPER_LAYOUTS,
    BucketWork,
    Layout,
    best_layout,
    estimate,
    plan_stages,
    propose,
)


@pytest.fixture(scope="module")
def lengths():
    rng = np.random.default_rng(0)
    return np.clip(rng.lognormal(np.log(6000), 1.0, 20_000).round(), 200, 131072).astype(np.int64)


def test_model_sizes_match_the_published_models():
    dense, moe = MODELS["qwen3-8b"], MODELS["qwen3-30b-a3b"]
    assert 8.0e9 < dense.dense_params < 8.4e9 and dense.expert_params == 0
    assert 30.0e9 < moe.dense_params + moe.expert_params < 31.0e9
    assert 3.0e9 < moe.active_params_per_token < 3.6e9


@pytest.mark.parametrize("model", sorted(PAPER_LAYOUTS))
def test_paper_layouts_are_feasible(model, lengths):
    plan = plan_stages(MODELS[model], lengths, sorted(PAPER_LAYOUTS[model]), ClusterConfig(), scale=50)
    for stage in plan.stages:
        assert stage.paper.feasible, (stage.work.seq_len, stage.paper.why_not)
        assert stage.chosen.feasible and stage.chosen.seconds <= stage.paper.seconds
        assert stage.note  # same as the paper, or why not
    assert plan.joint is not None and plan.speedup > 0


def test_memory_rules_out_small_layouts_for_long_sequences():
    model, cluster = MODELS["qwen3-8b"], ClusterConfig()
    work = BucketWork(131072, 1000, 1000, 1000 * 100_000.0, 1000 * 100_000.0 ** 2)
    single = estimate(model, work, Layout(1, 1), cluster)
    assert not single.feasible and "GB" in single.why_not
    assert estimate(model, work, Layout(8, 8), cluster).feasible
    # more memory per GPU never makes the best layout slower
    roomy = ClusterConfig(gpu_memory_gb=141.0)
    assert best_layout(model, work, roomy, "selective").seconds <= best_layout(model, work, cluster,
                                                                               "selective").seconds
    assert not estimate(model, work, Layout(16, 1), cluster).feasible  # TP beyond one node
    # rows padded to 16 cannot be split by CP16 into 32 load-balanced chunks
    assert estimate(model, work, Layout(2, 16), cluster, row_multiple=32).feasible
    narrow = estimate(model, work, Layout(2, 16), cluster, row_multiple=16)
    assert not narrow.feasible and "needs 32" in narrow.why_not


def test_time_grows_with_data_and_falls_with_gpus(lengths):
    model = MODELS["qwen3-30b-a3b"]
    small = plan_stages(model, lengths, [32768, 131072], ClusterConfig(), scale=1)
    large = plan_stages(model, lengths, [32768, 131072], ClusterConfig(), scale=4)
    assert large.seconds > 3 * small.seconds
    more = plan_stages(model, lengths, [32768, 131072], ClusterConfig(num_gpus=256), scale=4)
    assert more.seconds < large.seconds


def test_propose_picks_the_fastest_bucket_set(lengths):
    model, cluster = MODELS["qwen3-8b"], ClusterConfig()
    best = propose(model, lengths, [16384, 32768, 65536, 131072], cluster, scale=50, stage_overhead_s=600)
    assert best.buckets[-1] == 131072 and len(best.buckets) <= 4
    assert all(alt["seconds"] >= best.seconds for alt in best.alternatives)
    # with free stage switches and no penalty, more buckets can only help the sum of stage times
    free = propose(model, lengths, [16384, 131072], cluster, scale=50, stage_overhead_s=0)
    one = plan_stages(model, lengths, [131072], cluster, scale=50)
    assert free.seconds <= one.seconds


def test_plan_cli_prints_and_writes(tmp_path, capsys):
    assert cli_main(["plan", "--quiet", f"run_dir={tmp_path}", "pack.plan.synthetic_samples=20000",
                     "pack.plan.model=qwen3-30b-a3b"]) == 0
    printed = capsys.readouterr().out
    assert "paper TP4 CP2 EP4" in printed and "speedup" in printed
    plan = json.loads((tmp_path / "pack" / "plan" / "plan.json").read_text())
    assert plan["configured"]["buckets"] == [16384, 32768, 65536, 131072]
    assert plan["proposed"]["stages"] and plan["num_lengths"] == 20000
    assert cli_main(["plan", f"run_dir={tmp_path}", "pack.plan.model=llama"]) == 2
