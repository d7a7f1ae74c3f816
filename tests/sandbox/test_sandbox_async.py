"""``Sandbox.execute_async``: warm cells on the event loop, the same sessions, limits and failures as ``execute``."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from sandbox_helpers import UID_BASE
from nemo_math.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

IGNORE_ALARM = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"
# the kernel stops reading its input (its stdin pipe shrunk to a page), as in the pool-stall attack of issue 14
STALL_KERNEL = ("import fcntl, sys, time\nfcntl.fcntl(3, 1031, 4096)\n"
                "sys.modules['__main__']._recv = lambda fd: time.sleep(10**6)\n")


def _run(coro):
    """asyncio.run with a bound against a hang (the failure being tested), not a timing assumption."""
    async def bounded():
        return await asyncio.wait_for(coro, 120)
    return asyncio.run(bounded())


def test_async_and_sync_cells_share_sessions_and_results(sandbox, healthy):
    async def main():
        assert (await sandbox.execute_async("x = 40", session_id="as")).output == ""
        sync = await asyncio.to_thread(sandbox.execute, "x += 1", session_id="as")
        assert sync.status == "ok"
        r = await sandbox.execute_async("x + 1", session_id="as")
        assert (r.status, r.output, r.restarted) == ("ok", "42\n", False) and r.elapsed_s > 0
        assert "ZeroDivisionError" in (await sandbox.execute_async("1/0", session_id="as")).stderr
        r = await sandbox.execute_async("while True:\n    pass", session_id="as", timeout=0.3)
        assert r.status == "timeout" and (await sandbox.execute_async("x", session_id="as")).output == "41\n"
        r = await sandbox.execute_async(IGNORE_ALARM, session_id="as", timeout=0.3)
        assert (r.status, r.restarted) == ("killed", True)
        r = await sandbox.execute_async("import os\nos._exit(3)", session_id="as")
        assert (r.status, r.restarted) == ("crashed", True) and "exit status 3" in r.output
        r = await sandbox.execute_async("'fresh' if 'x' not in dir() else x", session_id="as")
        assert r.output == "'fresh'\n"
        with pytest.raises(ValueError, match="positive, finite"):
            await sandbox.execute_async("1", session_id="as", timeout=float("nan"))
    _run(main())
    sandbox.close_session("as")
    healthy()


def test_a_kernel_that_stops_reading_cannot_stall_the_event_loop(sandbox, healthy):
    async def main():
        await sandbox.execute_async(STALL_KERNEL, session_id="astall")
        big = sandbox.execute_async("x = '" + "y" * 65536 + "'", session_id="astall", timeout=0.5)
        stalled, other = await asyncio.gather(big, sandbox.execute_async("6 * 7", session_id="aother"))
        return stalled, other
    stalled, other = _run(main())
    assert (stalled.status, stalled.restarted) == ("killed", True)
    assert (other.status, other.output) == ("ok", "42\n")
    healthy("astall")


def test_many_callers_more_than_the_loop_has_threads(sandbox_config):
    """Callers that wait for a busy session or worker park in threads; a cell whose session is claimed must not
    queue behind them (asyncio.to_thread's executor, full of such waiters, deadlocked the pool)."""
    async def main():
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        results = await asyncio.gather(*(sb.execute_async(f"n = {i}\nn", session_id=f"many-{i % 3}")
                                         for i in range(12)))
        return [r.output for r in results]
    with Sandbox(config=sandbox_config, spare_sessions=0, uid_base=UID_BASE + 11000) as sb:
        assert _run(main()) == [f"{i}\n" for i in range(12)]


def test_closing_the_pool_ends_a_cell_running_on_the_loop(sandbox_config):
    async def main(sb):
        await sb.execute_async("a = 1", session_id="closing")
        running = asyncio.ensure_future(sb.execute_async("import time\ntime.sleep(300)", session_id="closing",
                                                         timeout=300))
        while not sb._sessions["closing"].lock.locked():  # the cell has claimed its session
            await asyncio.sleep(0)
        await asyncio.to_thread(sb.close)
        return await running
    with Sandbox(config=sandbox_config, spare_sessions=0, uid_base=UID_BASE + 12000, max_timeout_s=300) as sb:
        r = _run(main(sb))
    assert (r.status, r.restarted) == ("crashed", True)
