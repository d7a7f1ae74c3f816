"""Fixtures of the sandbox tests: one shared pool with small limits, and a health check after attacks."""

from __future__ import annotations

import os
import shutil

import pytest

from nemo_math.sandbox import Sandbox, SandboxConfig
from sandbox_helpers import UID_BASE


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    return SandboxConfig(num_workers=2, timeout_s=5.0, memory_mb=1024, tmpfs_mb=16, file_size_mb=64,
                         max_processes=16, kill_grace_s=3.0, spare_sessions=2, uid_base=UID_BASE)


@pytest.fixture(scope="session")
def sandbox(sandbox_config):
    with Sandbox(config=sandbox_config) as sb:
        yield sb


@pytest.fixture
def healthy(sandbox):
    """Call after an attack: the pool still runs a fresh session, and the attacked one goes on."""
    def check(session_id: str | None = None) -> None:
        fresh = sandbox.execute("6 * 7", session_id=f"health-{os.urandom(4).hex()}")
        assert (fresh.status, fresh.output) == ("ok", "42\n")
        if session_id is not None:
            again = sandbox.execute("'alive'", session_id=session_id)
            assert (again.status, again.output) == ("ok", "'alive'\n")
    return check
