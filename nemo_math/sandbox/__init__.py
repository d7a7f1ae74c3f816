"""Isolated, persistent, fast Python execution for tool-integrated reasoning.

``Sandbox`` runs a pool in this process; ``SandboxClient`` talks to ``nemo-math sandbox serve``; ``make_sandbox``
picks one from the config. Names are imported on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nemo_math.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from nemo_math.sandbox.client import SandboxClient, SandboxError
    from nemo_math.sandbox.isolation import SandboxUnavailable
    from nemo_math.sandbox.pool import Sandbox
    from nemo_math.sandbox.result import SandboxResult

_LAZY = {"Sandbox": "pool", "SandboxClient": "client", "SandboxError": "client", "SandboxResult": "result",
         "SandboxUnavailable": "isolation"}
__all__ = ["Sandbox", "SandboxClient", "SandboxConfig", "SandboxError", "SandboxResult", "SandboxUnavailable",
           "make_sandbox"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"nemo_math.sandbox.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'nemo_math.sandbox' has no attribute {name!r}")


def make_sandbox(cfg: SandboxConfig) -> Sandbox | SandboxClient:
    """An HTTP client of ``cfg.url`` when set, else an in-process pool; both have execute/close_session/close."""
    if cfg.url:
        from nemo_math.sandbox.client import SandboxClient, read_tokens
        tokens = read_tokens(cfg)  # a client's token file holds its own token first
        return SandboxClient(cfg.url, timeout_s=cfg.timeout_s, request_timeout_s=cfg.request_timeout_s,
                             token=tokens[0] if tokens else None)
    from nemo_math.sandbox.pool import Sandbox
    return Sandbox(config=cfg)
