"""Config of the Python sandbox used for tool-integrated reasoning."""

from dataclasses import dataclass


@dataclass
class SandboxConfig:
    url: str | None = None  # a `nemo-math sandbox serve` URL; None runs an in-process pool
    num_workers: int = 2
    timeout_s: float = 10.0
    max_output_chars: int = 1000
