"""Requests/s the generation client sustains against a local server that answers at once, and its CPU per request.

The server (``--backend instant``) runs in separate processes, so the client's CPU time is measured alone
(``time.process_time`` of this process). Target: >= 1000 requests/s at 512 in flight on 2 cores, so the client
is never what limits a real server. Last line: ``requests_per_s=<x> cpu_ms_per_request=<y>``.

    .venv/bin/python benchmarks/generation.py --requests 20000 --in-flight 512
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time

from nemo_math.generation.client import GenerationClient
from nemo_math.generation.config import ClientConfig


@contextlib.contextmanager
def instant_servers(count: int):
    procs = [subprocess.Popen([sys.executable, "-m", "nemo_math.generation.server", "--backend", "instant",
                               "--port", "0"], stdout=subprocess.PIPE, text=True) for _ in range(count)]
    try:
        yield [proc.stdout.readline().split()[1] for proc in procs]  # each prints "serving <url>"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def hammer(urls: list[str], requests: int, in_flight: int, kind: str) -> tuple[float, float]:
    async with GenerationClient(ClientConfig(base_urls=urls, max_in_flight=in_flight)) as client:
        async def one() -> None:
            if kind == "chat":
                await client.chat([{"role": "user", "content": "2+2?"}], max_tokens=8)
            else:
                await client.complete("2+2?", max_tokens=8)

        await asyncio.gather(*(one() for _ in range(min(in_flight, 200))))  # warm the connections
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one() for _ in range(requests)))
        return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--in-flight", type=int, default=512)
    parser.add_argument("--servers", type=int, default=2, help="server processes (load balanced)")
    parser.add_argument("--kind", choices=["completions", "chat"], default="completions")
    args = parser.parse_args()
    with instant_servers(args.servers) as urls:
        wall, cpu = asyncio.run(hammer(urls, args.requests, args.in_flight, args.kind))
    print(f"{args.requests} {args.kind} requests, {args.in_flight} in flight, {args.servers} server processes: "
          f"{wall:.2f}s wall, {cpu:.2f}s client CPU")
    print(f"requests_per_s={args.requests / wall:.0f} cpu_ms_per_request={1000 * cpu / args.requests:.3f}")


if __name__ == "__main__":
    main()
