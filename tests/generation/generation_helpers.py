"""Helpers of the generation tests: real OpenAI-compatible servers on 127.0.0.1 in their own processes."""

from __future__ import annotations

import contextlib
import subprocess
import sys


@contextlib.contextmanager
def server_process(*args: str):
    """``python -m nemo_math.generation.server ARGS`` on a free port; yields its ``/v1`` URL."""
    proc = subprocess.Popen([sys.executable, "-m", "nemo_math.generation.server", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "serving <url>" once listening, "" if it died
        if not line.startswith("serving "):
            raise RuntimeError(f"server did not start: {line}{proc.stderr.read()[-2000:]}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(10)
