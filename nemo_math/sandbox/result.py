"""What one executed cell gave back, in process and over HTTP alike."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# ok: ran to the end; error: raised (traceback in stderr); timeout: interrupted at its time limit, variables
# kept; killed: ignored the interrupt and was killed; crashed: the process died (segfault, os._exit, ...).
# After killed/crashed the session restarts empty (``restarted``).
STATUSES = ("ok", "error", "timeout", "killed", "crashed")


@dataclass
class SandboxResult:
    status: str
    stdout: str = ""
    stderr: str = ""
    output: str = ""  # fed back to the model: stdout and stderr as written, cut in the middle past the limit
    truncated: bool = False
    elapsed_s: float = 0.0  # what the call took, waiting for a free worker included
    restarted: bool = False  # the session's process was lost during this cell; the next cell starts empty

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # the fields are plain values: asdict's deep copy is not needed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxResult:
        result = cls(**{k: v for k, v in data.items() if k in _FIELDS})
        if result.status not in STATUSES:
            raise ValueError(f"sandbox result: status {result.status!r} is not one of {STATUSES}")
        return result


_FIELDS = frozenset(f.name for f in fields(SandboxResult))
