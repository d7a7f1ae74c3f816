"""A rank killed after a checkpoint save leaves no process behind (the writer's results-queue manager included).

Megatron's checkpoint writer starts a ``multiprocessing`` manager on the first save and never stops it; when the
rank is killed with SIGKILL the manager used to stay, reparented to init, one per rank per killed run.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training_helpers import REPO

WORKER = '''
import json, multiprocessing, os, sys
from pathlib import Path

import torch
from megatron.core.dist_checkpointing.mapping import ShardedTensor

from nemo_math.training import checkpoint, parallel
from nemo_math.training.launch import init_distributed


class Weights:
    def sharded_state_dict(self):
        return {"w": ShardedTensor.from_rank_offsets("w", torch.arange(4.0), replica_id=0)}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    init_distributed()
    parallel.initialize(parallel.Layout())
    checkpoint.save(out / "ckpt", 1, Weights())
    children = [p.pid for p in multiprocessing.active_children()]
    (out / "children.tmp").write_text(json.dumps(children))
    os.replace(out / "children.tmp", out / "children.json")
    sys.stdin.read()  # held until the test kills it
'''


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_gone(pid: int, bound_s: float) -> bool:
    """True once ``pid`` has exited (woken by its pidfd, not by polling a clock); False past the generous bound."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(bound_s * 1000))
    finally:
        os.close(fd)


@pytest.mark.slow
def test_killed_rank_leaves_no_checkpoint_writer_behind(tmp_path: Path):
    script = tmp_path / "rank.py"
    script.write_text(WORKER)
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "PYTHONPATH": str(REPO)}
    rank = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdin=subprocess.PIPE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready = tmp_path / "children.json"
        while not ready.exists():  # the save is done when the rank writes this file (or it died: fail)
            assert rank.poll() is None, rank.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        children = json.loads(ready.read_text())
        assert children, "the save started no manager: this test no longer exercises Megatron's results queue"
        assert (tmp_path / "ckpt" / "latest.json").exists()
    finally:
        rank.send_signal(signal.SIGKILL)
        rank.wait()
    survivors = [pid for pid in children if not wait_gone(pid, bound_s=120)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes of the killed rank still alive: {survivors}"
