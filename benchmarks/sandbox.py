"""Sandbox speed next to a plain ipykernel, in the same run: warm-cell latency, cold start, throughput.

    .venv/bin/python benchmarks/sandbox.py [--cells 2000] [--kernel-cells 300]

Warm cell: ``x += 1`` in a live session (p50/p99 of the full call). Cold start: a new session's first cell,
with spare processes started ahead (the default) and without (bubblewrap + Python start on the critical path);
for ipykernel, start_kernel to ready. Throughput: 2 workers, 2 threads each driving its own session; the same
from asyncio (``execute_async``: 2 coroutines, warm cells on the event loop); and through ``nemo-math sandbox
serve`` (2 client processes, one session each, keep-alive HTTP): with ``SandboxClient`` (what generation jobs
use), and with a lean raw-socket client (a prebuilt request, the answer's length read from its head), so the
server's own cost shows apart from the client's; for the server, its CPU per cell (user + system, all threads).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

from nemo_math.sandbox import Sandbox


def _pcts(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e3, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _throughput(run_cell_per_thread, cells: int) -> float:
    barrier = threading.Barrier(len(run_cell_per_thread) + 1)

    def drive(run):
        barrier.wait()
        for _ in range(cells):
            run()

    threads = [threading.Thread(target=drive, args=(run,)) for run in run_cell_per_thread]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return len(threads) * cells / (time.perf_counter() - start)


def bench_sandbox(cells: int, cold: int) -> dict[str, float]:
    res = {}
    with Sandbox(num_workers=2, spare_sessions=2) as sb:
        sb.execute("x = 0", session_id="warm")
        for _ in range(100):
            sb.execute("x += 1", session_id="warm")
        res["p50"], res["p99"] = _pcts(_timed(lambda: sb.execute("x += 1", session_id="warm"), cells))
        starts = []
        for i in range(cold):
            time.sleep(0.3)  # let the spares refill, as between trajectories
            t = time.perf_counter()
            sb.execute("x = 1", session_id=f"cold-{i}")
            starts.append(time.perf_counter() - t)
            sb.close_session(f"cold-{i}")
        res["cold_spare"] = statistics.median(starts) * 1e3
        for n in (0, 1):
            sb.execute("x = 0", session_id=f"tp-{n}")
        res["throughput"] = _throughput([lambda n=n: sb.execute("x += 1", session_id=f"tp-{n}") for n in (0, 1)],
                                        cells)
    with Sandbox(num_workers=1, spare_sessions=0) as sb:
        starts = []
        for i in range(cold):
            t = time.perf_counter()
            sb.execute("x = 1", session_id=f"cold-{i}")
            starts.append(time.perf_counter() - t)
            sb.close_session(f"cold-{i}")
        res["cold_nospare"] = statistics.median(starts) * 1e3
    return res


def bench_async(cells: int) -> float:
    """cells/s of 2 sessions driven by 2 coroutines through ``execute_async`` (2 workers)."""
    async def drive(sb: Sandbox, session_id: str) -> None:
        for _ in range(cells):
            await sb.execute_async("x += 1", session_id=session_id)

    async def run(sb: Sandbox) -> float:
        start = time.perf_counter()
        await asyncio.gather(*(drive(sb, f"tp-{n}") for n in (0, 1)))
        return 2 * cells / (time.perf_counter() - start)

    with Sandbox(num_workers=2, spare_sessions=2) as sb:
        for n in (0, 1):
            sb.execute("x = 0", session_id=f"tp-{n}")
        return asyncio.run(run(sb))


_SERVER_CLIENT = """
import sys, time
from nemo_math.sandbox import SandboxClient
client = SandboxClient(sys.argv[1])
sid, cells = sys.argv[2], int(sys.argv[3])
client.execute("x = 0", session_id=sid)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(cells):
    client.execute("x += 1", session_id=sid)
print("done", flush=True)
"""


_RAW_CLIENT = """
import json, socket, sys
host, port = sys.argv[1].removeprefix("http://").split(":")
sid, cells = sys.argv[2], int(sys.argv[3])
sock = socket.create_connection((host, int(port)))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""

def request(code):
    body = json.dumps({"code": code, "session_id": sid}).encode()
    return f"POST /execute HTTP/1.1\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n".encode() + body

def call(data):
    global buf
    sock.sendall(data)
    while (end := buf.find(b"\\r\\n\\r\\n")) < 0:
        buf += sock.recv(65536)
    head, buf = buf[:end], buf[end + 4:]
    assert head.startswith(b"HTTP/1.1 200 "), head
    size = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
    while len(buf) < size:
        buf += sock.recv(65536)
    buf = buf[size:]

call(request("x = 0"))
cell = request("x += 1")
print("ready", flush=True)
sys.stdin.readline()
for _ in range(cells):
    call(cell)
print("done", flush=True)
"""


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_server(cells: int) -> dict[str, float]:
    """cells/s through `nemo-math sandbox serve` (2 workers) with 2 client processes, one session each, and the
    server's CPU per cell: with SandboxClient, then with the raw-socket client."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "nemo_math.cli", "sandbox", "-q", "serve", "sandbox.num_workers=2",
                               "--port", str(port)])
    try:
        from nemo_math.sandbox import SandboxClient, SandboxError
        while True:
            try:
                SandboxClient(url).health()
                break
            except SandboxError:
                if server.poll() is not None:
                    raise RuntimeError("the sandbox server did not start") from None
                time.sleep(0.2)
        res = {}
        for name, script in (("server", _SERVER_CLIENT), ("server_raw", _RAW_CLIENT)):
            clients = [subprocess.Popen([sys.executable, "-c", script, url, f"{name}-{n}", str(cells)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in range(2)]
            for c in clients:
                assert c.stdout.readline().strip() == "ready"
            start, cpu = time.perf_counter(), _cpu_s(server.pid)
            for c in clients:
                c.stdin.write("go\n")
                c.stdin.flush()
            for c in clients:
                assert c.stdout.readline().strip() == "done"
            res[name] = 2 * cells / (time.perf_counter() - start)
            res[f"{name}_cpu"] = (_cpu_s(server.pid) - cpu) / (2 * cells) * 1e6
            for c in clients:
                c.wait()
        return res
    finally:
        server.terminate()
        server.wait()


def bench_ipykernel(cells: int, cold: int) -> dict[str, float]:
    from jupyter_client.manager import KernelManager

    def start_new_kernel():  # ipc transport: the faster one, and no unencrypted-TCP warnings
        km = KernelManager(transport="ipc")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        return km, kc

    def cell(kc, code="x += 1"):
        reply = kc.execute_interactive(code, timeout=30, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok"

    res = {}
    starts = []
    for _ in range(max(2, cold // 4)):
        t = time.perf_counter()
        km, kc = start_new_kernel()
        starts.append(time.perf_counter() - t)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    res["cold_nospare"] = statistics.median(starts) * 1e3
    kernels = [start_new_kernel() for _ in range(2)]
    try:
        kc = kernels[0][1]
        cell(kc, "x = 0")
        for _ in range(20):
            cell(kc)
        res["p50"], res["p99"] = _pcts(_timed(lambda: cell(kc), cells))
        cell(kernels[1][1], "x = 0")
        res["throughput"] = _throughput([lambda k=k: cell(k) for _, k in kernels], cells)
    finally:
        for km, kc in kernels:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return res


def bench_bare_python(cold: int) -> float:
    """A bare ``python -S -c pass`` start, no sandbox: what the machine's load makes of any process start."""
    runs = _timed(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True), cold)
    return statistics.median(runs) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=2000, help="warm cells timed in the sandbox")
    parser.add_argument("--kernel-cells", type=int, default=300, help="warm cells timed in ipykernel")
    parser.add_argument("--cold", type=int, default=20, help="cold starts timed")
    args = parser.parse_args()
    ours = bench_sandbox(args.cells, args.cold)
    ours["async"] = bench_async(args.cells)
    ours.update(bench_server(args.cells))
    ref = bench_ipykernel(args.kernel_cells, args.cold)
    bare = bench_bare_python(args.cold)
    rows = [("warm cell p50 (ms)", "p50"), ("warm cell p99 (ms)", "p99"),
            ("cold start, spares ready (ms)", "cold_spare"), ("cold start, no spare (ms)", "cold_nospare"),
            ("throughput, 2 workers (cells/s)", "throughput"),
            ("same, execute_async (cells/s)", "async"),
            ("server, 2 sessions (cells/s)", "server"), ("  server CPU per cell (us)", "server_cpu"),
            ("same, raw-socket clients (cells/s)", "server_raw"), ("  server CPU per cell (us)", "server_raw_cpu")]
    print(f"{'':34}{'nemo-math sandbox':>20}{'ipykernel':>14}")
    for label, key in rows:
        theirs = f"{ref[key]:14.2f}" if key in ref else f"{'-':>14}"
        print(f"{label:34}{ours[key]:20.2f}{theirs}")
    print(f"{'bare python -S start, no sandbox (ms)':34}{bare:20.2f}")
    print(f"warm cell speed-up over ipykernel (p50): {ref['p50'] / ours['p50']:.1f}x")


if __name__ == "__main__":
    main()
