"""Config of checkpoint conversion (``nemo-math convert``)."""

from dataclasses import dataclass


@dataclass
class ConvertConfig:
    input: str = "${train.output_dir}"
    output_dir: str = "${run_dir}/hf"
