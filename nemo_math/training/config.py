"""Config of the training stage (``nemo-math train``)."""

from dataclasses import dataclass


@dataclass
class TrainConfig:
    data_dir: str = "${pack.output_dir}"
    output_dir: str = "${run_dir}/train"
