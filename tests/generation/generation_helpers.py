"""Helpers of the generation tests: real OpenAI-compatible servers on 127.0.0.1 in their own processes."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server_process(*args: str):
    """``python -m nemo_math.generation.server ARGS`` on a free port; yields its ``/v1`` URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nemo_math.generation.server", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)
