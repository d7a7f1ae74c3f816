"""`nemo-math sandbox serve` as a real process, used through SandboxClient / make_sandbox; with tokens."""

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
TOKENS = ("token-of-client-a", "token-of-client-b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text("# one token per client\n" + "\n".join(TOKENS) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def server(sandbox_config, token_file):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nemo_math.cli", "sandbox", "-q", "serve",
                             f"sandbox.uid_base={SERVER_UIDS[0]}", "sandbox.spare_sessions=1",
                             "sandbox.kill_grace_s=3", f"sandbox.token_file={token_file}",
                             "sandbox.body_timeout_s=1", "sandbox.header_timeout_s=1", "sandbox.max_timeout_s=2",
                             "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    client = SandboxClient(url, token=TOKENS[0])
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


def test_execute_over_http_keeps_sessions(server, token_file):
    url, _ = server
    with make_sandbox(SandboxConfig(url=url, timeout_s=5, token_file=token_file)) as sb:
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
    client = SandboxClient(url, token=TOKENS[0])
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
                        (b'{"code": "1", "timeout": NaN}', "timeout"), (b'{"code": "1", "timeout": Infinity}',
                                                                          "timeout"),
                        (b"not json", "JSON"), (b"[" * 100_000, "JSON")):
        conn.request("POST", "/execute", body=body, headers={"Authorization": f"Bearer {TOKENS[0]}"})
        response = conn.getresponse()
        assert response.status == 400 and field in response.read().decode()
    r = SandboxClient(url, token=TOKENS[0]).execute("while True:\n    pass", session_id="huge", timeout=1e300)
    assert r.status == "timeout" and "within 2 s" in r.output  # max_timeout_s
    with pytest.raises(SandboxError, match="404"):
        SandboxClient(url, token=TOKENS[0])._post("/nope", {}, 5)


def test_tokens_are_required_and_each_has_its_own_sessions(server):
    url, _ = server
    a, b = (SandboxClient(url, token=t) for t in TOKENS)
    assert a.execute("secret = 'of a'", session_id="traj-1").status == "ok"
    for intruder in (SandboxClient(url), SandboxClient(url, token="guess")):
        with pytest.raises(SandboxError, match="401"):
            intruder.execute("secret", session_id="traj-1")
        with pytest.raises(SandboxError, match="401"):
            intruder.close_session("traj-1")
    assert "NameError" in b.execute("secret", session_id="traj-1").output  # the same id, b's own session
    assert b._post("/close", {"session_id": "traj-1"}, 5) == {"closed": True}  # b's, not a's
    assert b.health()["sessions"] == 0
    assert a.execute("secret", session_id="traj-1").output == "'of a'\n"
    a.close_session("traj-1")


def test_a_stalled_request_body_is_answered_in_time(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(f"POST /execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS[0]}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\"".encode())
        assert s.recv(4096).split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout"  # body_timeout_s=1


def test_a_client_that_never_finishes_its_headers_is_dropped(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:  # the bound only stops a hang
        s.sendall(b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
        assert s.recv(4096) == b""  # header_timeout_s=1: closed (before: held open as long as the client liked)
    client = SandboxClient(url, token=TOKENS[0])
    assert client.execute("1 + 1", session_id="after-slow").output == "2\n"
    client.close_session("after-slow")


def test_the_server_refuses_to_listen_beyond_loopback_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "NEMO_MATH_SANDBOX_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "nemo_math.cli", "sandbox", "-q", "serve", "--host", "0.0.0.0",
                           "--port", str(_free_port())], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "without a token" in " ".join(done.stderr.split())  # the log wraps lines


def test_stopping_the_server_ends_its_sandboxes_at_once(server):
    url, proc = server
    client = SandboxClient(url, token=TOKENS[0])
    client.execute("z = 1", session_id="last")
    running = threading.Thread(target=lambda: client.execute(
        "import subprocess, time\nsubprocess.Popen(['sleep', '1001'])\ntime.sleep(500)", session_id="busy",
        timeout=2), daemon=True)  # a SandboxError when the server goes is the expected end
    running.start()
    if os.geteuid() == 0:  # wait for the cell to be running: its child shows on the host
        deadline = time.monotonic() + 60
        while not any("sleep 1001" in p for p in host_processes(*SERVER_UIDS)) and time.monotonic() < deadline:
            time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0  # before: it waited for the running cell
    if os.geteuid() == 0:
        assert host_processes(*SERVER_UIDS) == []
    with pytest.raises(SandboxError):
        client.health()
