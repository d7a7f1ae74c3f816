"""One typed config tree for the whole pipeline, loaded from YAML plus dotted overrides.

Each stage owns its section's dataclass (``nemo_math/<stage>/config.py``); this module only composes them and
loads them with OmegaConf, which checks every key and type against the dataclasses. Stages are wired by
interpolation, not code: ``generate.input`` defaults to ``${problems.output_dir}`` and so on, so a config file
changes the flow of data by changing data.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemo_math.conversion.config import ConvertConfig
from nemo_math.curation.config import CurateConfig
from nemo_math.evaluation.config import EvaluateConfig
from nemo_math.extract.config import ExtractConfig
from nemo_math.generation.config import GenerateConfig
from nemo_math.grading.config import GradeConfig
from nemo_math.packing.config import PackConfig
from nemo_math.problems.config import ProblemsConfig
from nemo_math.sandbox.config import SandboxConfig
from nemo_math.training.config import TrainConfig

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"
DATA_DIR = Path(__file__).resolve().parent / "data"

# ``${pkgdata:tokenizers/tiny}``: a file shipped in nemo_math/data, wherever the package is installed
if not OmegaConf.has_resolver("pkgdata"):
    with warnings.catch_warnings():  # omegaconf 2.4 renamed it; 2.3 has only this name
        warnings.simplefilter("ignore", UserWarning)
        OmegaConf.register_new_resolver("pkgdata", lambda rel: str(DATA_DIR / rel))


@dataclass
class PipelineConfig:
    """Which stages ``nemo-math pipeline`` runs, in order; a stage whose output is complete is skipped. Add
    ``extract`` in front to build the problems from raw forums first (``extract.sources``)."""

    stages: list[str] = field(default_factory=lambda: [
        "problems", "generate", "grade", "curate", "pack", "train", "convert", "evaluate"])
    output_dir: str = "${run_dir}/report"


@dataclass
class NemoMathConfig:
    run_dir: str = "outputs"
    seed: int = 0
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    grade: GradeConfig = field(default_factory=GradeConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)


class ConfigError(ValueError):
    """A config key or value that does not fit the schema; the message names the source and the key."""


def _explain(err: OmegaConfBaseException, source: str) -> ConfigError:
    key = getattr(err, "full_key", None) or "<root>"
    msg = str(err).split("\n")[0]
    return ConfigError(f"{source}: {key}: {msg}")


def resolve_preset(name_or_path: str) -> Path:
    """A config file path, or the name of a preset in ``configs/`` (``tiny`` -> ``configs/tiny.yaml``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    preset = CONFIGS_DIR / f"{name_or_path}.yaml"
    if preset.exists():
        return preset
    known = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")) if CONFIGS_DIR.exists() else []
    raise ConfigError(f"{name_or_path}: no such config file or preset (presets: {', '.join(known)})")


def _apply_override(conf: Any, item: str) -> None:
    """Set one ``key=value``; keys may index lists (``train.stages.0.epochs=8``), which a dotlist merge cannot."""
    key, _, raw = item.partition("=")
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        node = OmegaConf.select(conf, ".".join(parts[:i])) if i else conf
        if OmegaConf.is_list(node) and part.isdigit() and int(part) >= len(node):
            raise ConfigError(f"override {item!r}: {'.'.join(parts[:i])} has {len(node)} items, no item {part}")
    value = OmegaConf.from_dotlist([f"value={raw}"])["value"]  # parsed as OmegaConf parses any override value
    OmegaConf.update(conf, key.strip(), value, merge=True)


def load_config(files: list[str | os.PathLike] | None = None, overrides: list[str] | None = None,
                base: Any = None) -> NemoMathConfig:
    """Merge the YAML ``files`` (in order) and dotted ``overrides`` onto the defaults, validate, resolve."""
    conf = OmegaConf.structured(NemoMathConfig if base is None else base)
    for file in files or []:
        path = resolve_preset(str(file))
        try:
            loaded = OmegaConf.load(path)
        except Exception as err:  # yaml errors carry their own line numbers
            raise ConfigError(f"{path}: cannot parse YAML: {err}") from None
        try:
            conf = OmegaConf.merge(conf, loaded)
        except OmegaConfBaseException as err:
            raise _explain(err, str(path)) from None
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. generate.num_samples=8")
        try:
            _apply_override(conf, item)
        except ConfigError:
            raise
        except (OmegaConfBaseException, TypeError, ValueError) as err:
            raise _explain(err, f"override {item!r}") from None
    try:
        return OmegaConf.to_object(conf)
    except OmegaConfBaseException as err:
        raise _explain(err, "config") from None


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
