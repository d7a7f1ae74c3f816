"""Fast checks (no Megatron process): layout rules, THD batch assembly, data order, model presets, configs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nemo_math.config import load_config
from nemo_math.training import models
from nemo_math.training.data import StageData, concat_rows
from nemo_math.training.parallel import Layout, LayoutError, validate

DENSE = models.preset("tiny_dense")
MOE = models.preset("tiny_moe")


def test_validate_returns_data_parallel_size():
    assert validate(Layout(tp=2), 8, DENSE, global_batch_size=8, gpu=False) == 4
    assert validate(Layout(tp=1, ep=2), 2, MOE, global_batch_size=4, gpu=False) == 2
    assert validate(Layout(tp=4, cp=2, ep=8, sequence_parallel=True), 64, models.preset("qwen3_30b_a3b"),
                    global_batch_size=8, row_multiple=16) == 8


@pytest.mark.parametrize("layout, world, model, fix", [
    (Layout(tp=3), 8, DENSE, "not divisible by TP*CP*PP"),
    (Layout(tp=2), 2, MOE, "set sequence_parallel: true"),
    (Layout(ep=2), 2, DENSE, "set ep: 1"),
    (Layout(cp=2), 2, DENSE, "on CPU use cp=1"),
    (Layout(ep=4), 2, MOE, "lower ep or add GPUs"),
    (Layout(tp=16), 16, DENSE, "must divide the attention heads"),
    (Layout(ep=3), 3, MOE, "must divide num_experts"),
    (Layout(pp=2), 2, DENSE, "without pipeline parallelism"),
])
def test_validate_names_the_fix(layout, world, model, fix):
    with pytest.raises(LayoutError, match=re.escape(fix)):
        validate(layout, world, model, gpu=False, where="train.stages[1] (s2)")


def test_validate_checks_rows_and_batches():
    with pytest.raises(LayoutError, match="re-pack with pad_multiple 8"):
        validate(Layout(tp=4, cp=4, sequence_parallel=True), 16, models.preset("qwen3_8b"), row_multiple=4)
    with pytest.raises(LayoutError, match="global_batch_size 6 must be a multiple"):
        validate(Layout(), 4, DENSE, global_batch_size=6, micro_batch_size=1, gpu=False)
    with pytest.raises(LayoutError) as err:  # every problem at once
        validate(Layout(tp=2, ep=2), 2, models.preset("tiny_dense", vocab_size=1025), gpu=False)
    assert "vocab_size" in str(err.value) and "ep: 1" in str(err.value)


def _row(lengths, base=0):
    ids = np.arange(base, base + sum(lengths))
    cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    pos = np.concatenate([np.arange(n) for n in lengths])
    return {"input_ids": ids, "labels": ids + 1, "loss_mask": np.ones(len(ids), np.float32), "position_ids": pos,
            "cu_seqlens": cu}


def test_concat_rows_merges_boundaries_and_pads_documents_for_cp():
    mb = concat_rows([_row([3, 5]), _row([4], base=100)])
    assert mb.cu_seqlens.tolist() == [0, 3, 8, 12]
    assert mb.input_ids.tolist()[8:] == [100, 101, 102, 103]
    assert mb.cu_seqlens_padded is None and mb.max_seqlen == 5

    cp = concat_rows([_row([3, 5]), _row([4], base=100)], doc_multiple=4)
    assert cp.cu_seqlens.tolist() == [0, 3, 8, 12]  # real lengths (Transformer Engine: without padding)
    assert cp.cu_seqlens_padded.tolist() == [0, 4, 12, 16]
    assert cp.loss_mask[3] == 0 and cp.labels[3] == -100 and cp.input_ids[12] == 100
    assert cp.position_ids[:4].tolist() == [0, 1, 2, 3] and cp.max_seqlen == 8


def test_stage_data_is_deterministic_and_splits_global_batches(make_bucket):
    bucket = make_bucket("bucket_64", 64, rows=10)
    ranks = [StageData(bucket, 4, 1, dp_rank=r, dp_size=2, seed=3) for r in range(2)]
    again = StageData(bucket, 4, 1, seed=3)
    assert ranks[0].steps(1.0) == 3 and ranks[0].steps(2.5) == 7
    seen = []
    for step in range(5):  # crosses the epoch boundary: 10 rows, batches of 4
        batch = again.global_batch(step)
        assert batch.tolist() == ranks[0].global_batch(step).tolist()
        mine = [ranks[r].micro_batches(step) for r in range(2)]
        assert [len(m) for m in mine] == [2, 2]
        assert sum(len(mb.input_ids) for m in mine for mb in m) == \
            sum(len(again.dataset[int(i)]["input_ids"]) for i in batch)
        seen.extend(batch.tolist())
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    with pytest.raises(ValueError, match="set train.model_overrides.vocab_size"):
        StageData(bucket, 4, seed=3, vocab_size=8).micro_batches(0)


def test_presets_have_the_published_sizes():
    assert models.preset("qwen3_8b").num_parameters() == pytest.approx(8.19e9, rel=0.01)
    moe = models.preset("qwen3_30b_a3b")
    assert moe.num_parameters() == pytest.approx(30.5e9, rel=0.01)
    assert moe.num_active_parameters() + moe.vocab_size * moe.hidden_size == pytest.approx(3.3e9, rel=0.02)
    with pytest.raises(ValueError, match="unknown field"):
        models.preset("tiny_dense", hidden=3)


@pytest.mark.parametrize("name, stages", [("tiny_cpu", 4), ("qwen3_8b", 4), ("qwen3_30b_a3b", 4),
                                          ("qwen3_8b_planned", 4), ("qwen3_30b_a3b_planned", 4)])
def test_shipped_configs_plan(name, stages):
    from nemo_math.training.schedule import plan

    cfg = load_config([name])
    rows = plan(cfg.train, gpu=name != "tiny_cpu", check_data=False)
    assert len(rows) == stages
    assert all(r["dp"] >= 1 for r in rows)
    if name == "tiny_cpu":
        layouts = {r["layout"] for r in rows}
        assert len(layouts) >= 3  # the handoffs reshard


@pytest.mark.parametrize("name, layouts", [
    ("qwen3_8b", ["TP2+SP CP2 EP1 PP1", "TP2+SP CP4 EP1 PP1", "TP4+SP CP4 EP1 PP1", "TP8+SP CP8 EP1 PP1"]),
    ("qwen3_30b_a3b", ["TP4+SP CP2 EP4 PP1", "TP4+SP CP4 EP8 PP1", "TP4+SP CP8 EP8 PP1", "TP4+SP CP8 EP8 PP1"]),
])
def test_paper_configs_have_the_papers_layouts_batch_and_lr(name, layouts):
    """Nemotron-Math (arXiv 2512.15489): these layouts, global batch 2048 and a constant LR of 2e-4 in every
    stage; YaRN only past Qwen3's native 32K; experts kept whole under TP (expert TP 1)."""
    from nemo_math.training.schedule import plan

    cfg = load_config([name])
    rows = plan(cfg.train, gpu=True, check_data=False)
    assert [r["layout"] for r in rows] == layouts
    assert {(r["global_batch_size"], r["lr"], r["lr_schedule"]) for r in rows} == {(2048, 2e-4, "constant")}
    assert [r["yarn_factor"] for r in rows] == [1.0, 1.0, 2.0, 4.0]
    assert all(s.etp == 1 for s in cfg.train.stages)


def test_expert_tensor_parallel_is_part_of_the_layout():
    moe = models.preset("qwen3_30b_a3b")
    assert validate(Layout(tp=4, cp=2, ep=4, etp=1, sequence_parallel=True), 64, moe, gpu=True) == 8
    assert str(Layout(tp=4, ep=8, etp=4)) == "TP4 CP1 EP8 ETP4 PP1"
    with pytest.raises(LayoutError, match="must divide the expert width"):
        validate(Layout(tp=4, ep=8, etp=5, sequence_parallel=True), 40, moe)
    with pytest.raises(LayoutError, match="ETP\\*EP = 32"):
        validate(Layout(tp=2, ep=8, etp=4, sequence_parallel=True), 16, moe)


def test_plan_rejects_a_missing_bucket(tmp_path):
    from nemo_math.training.schedule import plan

    cfg = load_config(["tiny_cpu"], [f"train.data_dir={tmp_path}"])
    with pytest.raises(FileNotFoundError, match="run `nemo-math pack`"):
        plan(cfg.train, gpu=False)


def test_tiny_preset_trains_with_one_cpu_thread_per_rank():
    """OpenMP threads stall on a shared machine (train.cpu_threads): the tiny preset asks for one, and a rank
    applies it."""
    import torch

    from nemo_math.threads import set_cpu_threads

    cfg = load_config(["tiny"])
    assert cfg.train.cpu_threads == 1
    before = torch.get_num_threads()
    try:
        set_cpu_threads(2 if before == 1 else 1)
        assert torch.get_num_threads() == (2 if before == 1 else 1)
    finally:
        torch.set_num_threads(before)
