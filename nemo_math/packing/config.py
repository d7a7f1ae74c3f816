"""Config of the packing stage (``nemo-math pack``)."""

from dataclasses import dataclass, field


@dataclass
class PackConfig:
    input: str = "${curate.output_dir}"
    output_dir: str = "${run_dir}/pack"
    buckets: list[int] = field(default_factory=lambda: [16384, 32768, 65536, 131072])
