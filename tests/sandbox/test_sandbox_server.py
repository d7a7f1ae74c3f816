"""`nemo-math sandbox serve` as a real process, used through SandboxClient / make_sandbox."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from sandbox_helpers import UID_BASE, host_processes
from nemo_math.sandbox import SandboxClient, SandboxConfig, SandboxError, make_sandbox

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
SERVER_UIDS = (UID_BASE + 4000, UID_BASE + 5000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sandbox_config):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nemo_math.cli", "sandbox", "-q", "serve",
                             f"sandbox.uid_base={SERVER_UIDS[0]}", "sandbox.spare_sessions=1",
                             "sandbox.kill_grace_s=0.5", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    client = SandboxClient(url)
    deadline = time.monotonic() + 60
    while True:
        try:
            assert client.health()["status"] == "ok"
            break
        except SandboxError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the sandbox server did not come up")
            time.sleep(0.2)
    yield url, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_execute_over_http_keeps_sessions(server):
    url, _ = server
    with make_sandbox(SandboxConfig(url=url, timeout_s=5)) as sb:
        assert isinstance(sb, SandboxClient)
        assert sb.execute("y = 20", session_id="h1").status == "ok"
        r = sb.execute("y * 2 + 2", session_id="h1")
        assert (r.status, r.output) == ("ok", "42\n") and r.elapsed_s > 0
        assert sb.execute("1/0", session_id="h1").status == "error"
        r = sb.execute("while True:\n    pass", session_id="h1", timeout=0.5)
        assert r.status == "timeout"
        assert sb.execute("y", session_id="h1").output == "20\n"
        sb.close_session("h1")
        assert "NameError" in sb.execute("y", session_id="h1").output
        sb.close_session("h1")


def test_concurrent_clients(server):
    url, _ = server
    client = SandboxClient(url)
    outputs: dict[int, str] = {}

    def work(n: int) -> None:
        client.execute(f"v = {n}", session_id=f"c{n}")
        outputs[n] = client.execute("v * 10", session_id=f"c{n}").output
        client.close_session(f"c{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == {n: f"{n * 10}\n" for n in range(4)}
    assert client.health()["sessions"] == 0


def test_bad_requests_are_rejected_with_the_field(server):
    url, _ = server
    conn = http.client.HTTPConnection(*url.removeprefix("http://").split(":"))
    for body, field in ((b'{"session_id": "x"}', "code"), (b'{"code": "1", "timeout": -1}', "timeout"),
                        (b"not json", "JSON")):
        conn.request("POST", "/execute", body=body)
        response = conn.getresponse()
        assert response.status == 400 and field in response.read().decode()
    with pytest.raises(SandboxError, match="404"):
        SandboxClient(url)._post("/nope", {}, 5)


def test_stopping_the_server_ends_its_sandboxes(server):
    url, proc = server
    SandboxClient(url).execute("z = 1", session_id="last")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    if os.geteuid() == 0:
        assert host_processes(*SERVER_UIDS) == []
    with pytest.raises(SandboxError):
        SandboxClient(url).health()


@pytest.mark.skipif(os.geteuid() != 0, reason="finds the sandbox processes by their uid (root mode)")
def test_sandboxes_die_with_their_host_process(sandbox_config, tmp_path):
    uids = (UID_BASE + 6000, UID_BASE + 7000)
    script = ("import sys, time\nfrom nemo_math.sandbox import Sandbox\n"
              f"sb = Sandbox(uid_base={uids[0]}, spare_sessions=2)\n"
              "sb.execute('a = 1', session_id='s')\nprint('ready', flush=True)\ntime.sleep(600)\n")
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert host.stdout.readline().strip() == "ready"
    assert len(host_processes(*uids)) >= 1
    host.kill()
    host.wait()
    deadline = time.monotonic() + 20
    while host_processes(*uids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_processes(*uids) == []
