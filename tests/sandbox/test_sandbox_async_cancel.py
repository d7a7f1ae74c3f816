"""``execute_async`` callers that go away mid-cell, and sessions that move between event loops."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.sandbox
IGNORE_ALARM = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"

SLOW_CELL = "import time\ntime.sleep(1)\nn = 'finished'"  # cancelled while it runs (else the test proves less)


async def _start_and_cancel(sandbox, session_id: str) -> None:
    running = asyncio.ensure_future(sandbox.execute_async(SLOW_CELL, session_id=session_id, timeout=60))
    while not sandbox._sessions[session_id].lock.locked():  # claimed, so its cell is written
        await asyncio.sleep(0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


def test_a_cancelled_caller_leaves_its_cell_to_finish(sandbox, healthy):
    async def main():
        await sandbox.execute_async("n = 'before'", session_id="cancelled")
        await _start_and_cancel(sandbox, "cancelled")
        # the cell goes on in a thread and the session waits for it: the next cell sees what it did
        return await sandbox.execute_async("n", session_id="cancelled")
    r = asyncio.run(main())
    assert (r.status, r.output, r.restarted) == ("ok", "'finished'\n", False)
    healthy("cancelled")


def test_a_loop_ending_mid_cell_leaves_the_session_in_step(sandbox, healthy):
    async def main():
        await sandbox.execute_async("n = 'before'", session_id="loop-ends")
        asyncio.ensure_future(sandbox.execute_async(SLOW_CELL, session_id="loop-ends", timeout=60))
        while not sandbox._sessions["loop-ends"].lock.locked():
            await asyncio.sleep(0)
    asyncio.run(main())  # ends with the cell running: asyncio.run cancels its caller
    r = sandbox.execute("n", session_id="loop-ends")
    assert (r.status, r.output, r.restarted) == ("ok", "'finished'\n", False)
    healthy("loop-ends")


def test_a_session_serves_several_loops_and_threads_in_turn(sandbox, healthy):
    async def cell(code: str) -> str:
        return (await sandbox.execute_async(code, session_id="roaming")).output
    assert asyncio.run(cell("n = 1\nn")) == "1\n"
    assert sandbox.execute("n += 1\nn", session_id="roaming").output == "2\n"  # its reply pipe is watched
    assert asyncio.run(cell("n += 1\nn")) == "3\n"  # by the first loop, closed now: a new loop takes over

    async def deadlines():
        quick = await sandbox.execute_async("n", session_id="roaming", timeout=1)  # the alarm: 1 s + grace on
        # this cell outlives that alarm (it sleeps longer, from a later start): the alarm sets itself again
        slow = await sandbox.execute_async(f"import time\ntime.sleep({sandbox.config.kill_grace_s + 2})\nn",
                                           session_id="roaming", timeout=60)
        stuck = await sandbox.execute_async(IGNORE_ALARM, session_id="roaming", timeout=0.1)  # an earlier one
        return quick, slow, stuck
    quick, slow, stuck = asyncio.run(deadlines())
    assert (quick.output, slow.status, slow.output) == ("3\n", "ok", "3\n")
    assert (stuck.status, stuck.restarted) == ("killed", True)
    healthy("roaming")
