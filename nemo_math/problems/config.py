"""Config of the problems stage (``nemo-math problems``)."""

from dataclasses import dataclass, field


@dataclass
class SourceConfig:
    """One problem set: a JSONL/parquet file or folder, or a Hugging Face dataset name (online only)."""

    path: str = "???"
    name: str = ""  # data_source written on each problem; defaults to the file stem
    weight: float = 1.0  # share in the mix, relative to the other sources


@dataclass
class ProblemsConfig:
    output_dir: str = "${run_dir}/problems"
    sources: list[SourceConfig] = field(default_factory=list)
