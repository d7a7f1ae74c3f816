"""bf16 training keeps the weights it loads: Megatron's mixed-precision optimizer holds fp32 main params cloned
when it is built, so a weights-only load (``init_checkpoint``, or the previous stage with ``carry_optimizer:
false``) must refresh them, or the first step writes the random init back. Runs on CPU in bf16 (the CPU shims
make Megatron's optimizer accept CPU bf16 tensors), plain and distributed optimizer, 2 ranks (gloo)."""

from __future__ import annotations

import pytest
import torch
import yaml
from training_helpers import REPO, VOCAB, run_torchrun

from nemo_math.training import checkpoint, models


def _weights(path) -> dict[str, torch.Tensor]:
    model = models.build_model(models.preset("tiny_dense", vocab_size=VOCAB),
                               models.transformer_config(models.preset("tiny_dense", vocab_size=VOCAB), bf16=True))
    checkpoint.load(path, model)
    return {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("_extra_state")}


@pytest.mark.slow
@pytest.mark.parametrize("distributed_optimizer", ["false", "true"])
def test_bf16_stages_keep_the_weights_they_load(tmp_path, make_bucket, distributed_optimizer):
    make_bucket("bucket_128", 128, rows=8)
    models.init_single_process(seed=99)  # an init checkpoint unlike the random init of the training seed
    init = models.build_model(models.preset("tiny_dense", vocab_size=VOCAB))
    checkpoint.save(tmp_path / "init", 0, init)
    # lr 0 and no weight decay: a step that cannot move a weight, so after it the weights are the loaded ones
    stages = [{"name": name, "bucket": "bucket_128", "global_batch_size": 2, "steps": 1, "lr": 0.0}
              for name in ("s1", "s2")]  # s1 from init_checkpoint, s2 from s1 (new optimizer)
    cfg = {"run_dir": str(tmp_path), "seed": 1,
           "train": {"data_dir": str(tmp_path / "pack"), "output_dir": str(tmp_path / "train"), "model": "tiny_dense",
                     "model_overrides": {"vocab_size": VOCAB}, "nproc_per_node": 2, "tensorboard": False,
                     "precision": "bf16", "distributed_optimizer": distributed_optimizer, "weight_decay": 0.0,
                     "init_checkpoint": str(tmp_path / "init"), "stages": stages}}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    run_torchrun(2, ["-m", "nemo_math.cli", "train", "--config", str(tmp_path / "train.yaml"),
                     "train.launcher=none", "--quiet"], cwd=REPO)

    loaded = _weights(tmp_path / "init")
    for name in ("s1", "s2"):
        trained = _weights(tmp_path / "train" / name / "checkpoints")
        assert next(iter(trained.values())).dtype == torch.bfloat16
        for key, value in loaded.items():
            assert torch.equal(trained[key], value), (name, key)
