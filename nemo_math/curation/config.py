"""Config of the curation stage (``nemo-math curate``)."""

from dataclasses import dataclass


@dataclass
class CurateConfig:
    input: str = "${grade.output_dir}"
    output_dir: str = "${run_dir}/curate"
    difficulty_mode: str = "low"
    max_pass_rate: float = 0.8
