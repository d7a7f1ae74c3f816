"""Helpers of the sandbox tests (a uniquely named module: every test folder has its own conftest)."""

from __future__ import annotations

import os
import select

UID_BASE = 310000  # the shared pool's processes run as these uids when the tests run as root


def host_processes(uid_lo: int, uid_hi: int) -> list[str]:
    """Live (not zombie) processes on the host whose real uid is in [uid_lo, uid_hi), as "pid state cmdline"."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")[:200]
        except OSError:
            continue
        state, uid = status["State"].split()[0], int(status["Uid"].split()[0])
        if uid_lo <= uid < uid_hi and state != "Z":
            found.append(f"{entry} {state} {cmdline}")
    return found


def readable(fd: int, bound_s: float) -> bool:
    """Whether ``fd`` became readable within ``bound_s`` (poll: ``select`` refuses fds past 1023, which a long test
    process reaches)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(bound_s * 1000))
