"""Config of the grading stage (``nemo-math grade``)."""

from dataclasses import dataclass


@dataclass
class GradeConfig:
    input: str = "${generate.output_dir}"
    output_dir: str = "${run_dir}/grade"
