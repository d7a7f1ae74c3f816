"""Megatron-Core on 2 CPU ranks (gloo): packed attention is exact, and TP=2 trains like TP=1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import REPO, run_torchrun

WORKER = str(Path(__file__).with_name("worker_training.py"))


@pytest.mark.slow
def test_packed_sequence_gives_the_logits_of_its_documents_one_by_one(tmp_path):
    out = tmp_path / "packed.json"
    run_torchrun(2, [WORKER, "packed", str(out)], cwd=REPO)
    diffs = json.loads(out.read_text())
    assert diffs["reference_scale"] > 0.1  # the logits are not trivially zero
    for layout in ("TP1 CP1 EP1 PP1", "TP2 CP1 EP1 PP1", "TP2+SP CP1 EP1 PP1"):
        assert diffs[layout] < 1e-5, (layout, diffs)


@pytest.mark.slow
def test_tp2_losses_match_tp1(tmp_path, make_bucket):
    bucket = make_bucket("bucket_128", 128, rows=24)
    out = tmp_path / "tp.json"
    run_torchrun(2, [WORKER, "tp", str(out), str(bucket)], cwd=REPO)
    losses = json.loads(out.read_text())
    assert len(losses["tp1"]) == len(losses["tp2"]) == 3
    assert losses["tp1"] == pytest.approx(losses["tp2"], rel=1e-5)
    assert losses["tp1"][-1] < losses["tp1"][0]  # and it learns
