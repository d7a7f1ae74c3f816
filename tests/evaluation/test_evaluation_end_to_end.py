"""A tiny Megatron checkpoint -> ``nemo-math convert`` -> ``nemo-math evaluate`` through the local transformers
backend on an AIME problem. Accuracy is ~0 (a random model); the point is that the path works and reports."""

import dataclasses
import json

import pytest

from nemo_math import cli

QWEN3_VOCAB = 151936


@pytest.mark.slow
def test_train_checkpoint_converts_and_evaluates(tmp_path, qwen3_tokenizer_dir, capsys):
    from nemo_math.training import checkpoint, models

    models.init_single_process()
    config = models.preset("tiny_dense", vocab_size=QWEN3_VOCAB)
    # what `nemo-math train` leaves: <output>/<stage>/checkpoints/{iter_*, latest.json}, the model in meta
    checkpoint.save(tmp_path / "train" / "stage1" / "checkpoints", 3, models.build_model(config),
                    meta={"model": dataclasses.asdict(config)})

    common = [f"run_dir={tmp_path}", f"pack.tokenizer={qwen3_tokenizer_dir}"]
    assert cli.main(["convert", "-q", *common, "convert.dtype=float32"]) == 0
    hf = tmp_path / "hf"
    assert json.loads((hf / "config.json").read_text())["architectures"] == ["Qwen3ForCausalLM"]
    assert (hf / "tokenizer.json").exists()

    evaluate = ["evaluate", "-q", *common, "evaluate.local_server.backend=hf", "evaluate.benchmarks=[aime24]",
                "evaluate.max_problems=1", "evaluate.num_samples=2", "evaluate.modes=[high,low]",
                "evaluate.tools=[true,false]", "evaluate.max_tokens=6"]
    assert cli.main(evaluate) == 0
    out = tmp_path / "evaluate"
    graded = [json.loads(line) for line in (out / "graded.jsonl").read_text().splitlines()]
    assert len(graded) == 1 * 2 * 2 * 2  # problems x modes x tool settings x samples
    assert all(g["completion_tokens"] > 0 and g["problem_id"].startswith("aime24/") for g in graded)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(r["mode"], r["with_tool"], r["num_samples"]) for r in metrics["rows"]] == [
        ("high", True, 2), ("high", False, 2), ("low", True, 2), ("low", False, 2)]
    text = (out / "report.md").read_text()
    for needle in ("pass@1[avg-of-2]", "maj@2", "no answer %", "length p50", "Mode collapse"):
        assert needle in text
    assert (out / "accuracy_vs_mode.png").stat().st_size > 0 and (out / "length_by_mode.png").stat().st_size > 0

    def generated() -> int:
        return sum(len(f.read_text().splitlines()) for f in (out / "generations").glob("trajectories-*.jsonl"))

    assert generated() == 8
    assert cli.main(evaluate) == 0  # resumes: every sample is on disk, nothing is generated again
    assert generated() == 8

    capsys.readouterr()
    assert cli.main(["evaluate", "-q", *common, "--compare", str(out), str(out)]) == 0
    assert "| aime24 | high | no |" in capsys.readouterr().out
