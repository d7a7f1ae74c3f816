"""Config of evaluation (``nemo-math evaluate``)."""

from dataclasses import dataclass, field


@dataclass
class EvaluateConfig:
    output_dir: str = "${run_dir}/evaluate"
    benchmarks: list[str] = field(default_factory=lambda: ["aime24", "aime25"])
