"""config.py: YAML + overrides onto the typed tree, errors naming the key, stages wired by interpolation."""

from __future__ import annotations

import pytest

from nemo_math.config import ConfigError, NemoMathConfig, load_config, to_yaml


def test_defaults_are_wired_by_interpolation():
    cfg = load_config(overrides=["run_dir=/runs/a", "seed=7"])
    assert isinstance(cfg, NemoMathConfig)
    assert cfg.problems.output_dir == "/runs/a/problems"
    assert cfg.generate.input == "/runs/a/problems"  # the generation stage reads what problems writes
    assert cfg.problems.seed == 7
    moved = load_config(overrides=["problems.output_dir=/elsewhere"])
    assert moved.generate.input == "/elsewhere"


def test_yaml_files_then_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("run_dir: /runs/base\nproblems:\n  near_dedup:\n    threshold: 0.9\n"
                    "  sources:\n    - path: aops.jsonl\n      weight: 1\n    - kind: synthetic\n      weight: 3\n")
    later = tmp_path / "later.yaml"
    later.write_text("problems:\n  near_dedup:\n    num_perm: 64\n")
    cfg = load_config([base, later], ["problems.near_dedup.threshold=0.8", "problems.max_problems=10"])
    assert cfg.run_dir == "/runs/base" and cfg.problems.output_dir == "/runs/base/problems"
    assert (cfg.problems.near_dedup.threshold, cfg.problems.near_dedup.num_perm) == (0.8, 64)
    assert [(s.path, s.kind, s.weight) for s in cfg.problems.sources] == [("aops.jsonl", "auto", 1.0),
                                                                          ("", "synthetic", 3.0)]
    assert cfg.problems.max_problems == 10
    assert "threshold: 0.8" in to_yaml(cfg)


@pytest.mark.parametrize(("overrides", "message"), [
    (["problems.near_dedup.thresh=0.5"], "problems.near_dedup.thresh: Key 'thresh' not in"),
    (["problems.near_dedup.num_perm=many"], "problems.near_dedup.num_perm: Value 'many'"),
    (["problems.sources=[{path: a.jsonl, wieght: 2}]"], "wieght"),
    (["run_dir"], "expected key=value"),
    (["train.stages.9.epochs=8"], "train.stages has 3 items, no item 9"),
    (["train.stages.0.epochs=many"], "train.stages[0].epochs: Value 'many'"),
])
def test_bad_override_names_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(["tiny"], overrides=overrides)
    assert message in str(err.value)
    assert str(err.value).startswith(f"override {overrides[0]!r}")


def test_override_indexes_a_list_and_keeps_its_other_items():
    """A dotlist merge replaces a list wholesale (or refuses an index); one stage's field must be settable alone."""
    tiny = load_config(["tiny"])
    cfg = load_config(["tiny"], overrides=["train.stages.1.epochs=8", "train.stages.0.lr=0.5"])
    assert [s.epochs for s in cfg.train.stages] == [tiny.train.stages[0].epochs, 8, tiny.train.stages[2].epochs]
    assert cfg.train.stages[0].lr == 0.5 and cfg.train.stages[1].name == tiny.train.stages[1].name


def test_bad_yaml_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("problems:\n  decontaminate:\n    ngram: thirteen\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: problems.decontaminate.ngram: Value 'thirteen'"):
        load_config([path])
    path.write_text("problems: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot parse YAML"):
        load_config([path])
    with pytest.raises(ConfigError, match="no-such-preset: no such config file or preset"):
        load_config(["no-such-preset"])
