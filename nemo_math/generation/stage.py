"""``nemo-math generate``: every problem x mode x tool setting x seed, as exactly-once resumable jobs.

Reads problems from ``generate.input``, writes :class:`~nemo_math.records.Trajectory` records to
``generate.output_dir/trajectories-<shard>-of-<n>.jsonl`` and ``_SUCCESS.json`` once every job of every shard
is on disk. ``--shard i --num-shards n`` (default: the SLURM array task) splits the jobs for array jobs; a
rerun after a crash or ``kill -9`` redoes only the missing jobs. With ``generate.local_server.backend`` set
(``scripted`` or ``hf``) the stage serves that backend on 127.0.0.1 itself, so the run needs no cluster while
the requests still go through the real HTTP client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
from typing import Any

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.generation.client import GenerationClient
from nemo_math.generation.jobs import Job, RunSummary, run_jobs, select_shard
from nemo_math.generation.solve import SolveSettings, solve
from nemo_math.generation.transports import ChatTransport, CompletionsTransport
from nemo_math.io import done_keys, load_records, mark_done, write_json
from nemo_math.progress import log
from nemo_math.records import MODES, Problem, Trajectory

STEM = "trajectories"
TRANSPORTS = {"completions": CompletionsTransport, "chat": ChatTransport}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_ID", 0)),
                        help="this shard's index (default: $SLURM_ARRAY_TASK_ID or 0)")
    parser.add_argument("--num-shards", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_COUNT", 1)),
                        help="number of shards (default: $SLURM_ARRAY_TASK_COUNT or 1)")


def build_jobs(problems: list[Problem], modes: list[str], tools: list[bool], num_samples: int) -> list[Job]:
    """One job per (problem, mode, tool, seed), id ``problem/mode/tool|notool/seed``."""
    return [Job(Trajectory.make_job_id(p.id, mode, tool, seed), (p, mode, tool, seed))
            for p in problems for mode in modes for tool in tools for seed in range(num_samples)]


def check_config(cfg: NemoMathConfig) -> None:
    g = cfg.generate
    for mode in g.modes:
        if mode not in MODES:
            raise ConfigError(f"generate.modes: {mode!r} is not one of {list(MODES)}")
    if g.transport not in TRANSPORTS:
        raise ConfigError(f"generate.transport: {g.transport!r} is not one of {sorted(TRANSPORTS)}")
    if g.num_samples < 1 or g.max_tokens < 1 or g.max_code_executions < 0:
        raise ConfigError("generate: num_samples and max_tokens must be >= 1, max_code_executions >= 0")


@contextlib.contextmanager
def model_server(cfg: NemoMathConfig):
    """The client config to use: the configured servers, or a local one started here for the run."""
    local = cfg.generate.local_server
    if not local.backend:
        yield cfg.generate.client
        return
    from nemo_math.generation.server import ServerThread, make_app, make_backend

    backend = make_backend(local.backend, local.problems, local.model_path, local.tokenizer_path)
    with ServerThread(make_app(backend, cfg.generate.client.model)) as url:
        log.info("serving the %s backend at %s", local.backend, url)
        yield dataclasses.replace(cfg.generate.client, base_urls=[url])


@contextlib.contextmanager
def open_sandbox(cfg: NemoMathConfig):
    if not any(cfg.generate.tools):
        yield None
        return
    from nemo_math.sandbox import make_sandbox

    sandbox = make_sandbox(cfg.sandbox)
    try:
        yield sandbox
    finally:
        sandbox.close()


async def generate(cfg: NemoMathConfig, jobs: list[Job], client_cfg: Any, sandbox: Any, shard: int,
                   num_shards: int) -> RunSummary:
    g = cfg.generate
    settings = SolveSettings(max_tokens=g.max_tokens, max_code_executions=g.max_code_executions,
                             max_wall_time_s=g.max_wall_time_s, code_timeout_s=g.code_timeout_s,
                             model=client_cfg.model)
    async with GenerationClient(client_cfg) as client:
        transport = TRANSPORTS[g.transport](client, temperature=g.temperature, top_p=g.top_p)

        async def worker(job: Job) -> Trajectory:
            problem, mode, tool, seed = job.payload
            return await solve(problem, mode, tool, seed, transport, sandbox, settings, base_seed=cfg.seed)

        return await run_jobs(jobs, worker, g.output_dir, shard=shard, num_shards=num_shards,
                              concurrency=client_cfg.max_in_flight, stem=STEM, description="generate")


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    check_config(cfg)
    g = cfg.generate
    shard, num_shards = getattr(args, "shard", 0), getattr(args, "num_shards", 1)
    problems = load_records(g.input, Problem)
    jobs = build_jobs(problems, g.modes, g.tools, g.num_samples)
    log.info("%d problems x %d modes x %d tool settings x %d samples = %d jobs (shard %d of %d: %d)",
             len(problems), len(g.modes), len(g.tools), g.num_samples, len(jobs), shard, num_shards,
             len(select_shard(jobs, shard, num_shards)))
    with model_server(cfg) as client_cfg, open_sandbox(cfg) as sandbox:
        summary = asyncio.run(generate(cfg, jobs, client_cfg, sandbox, shard, num_shards))
    write_json(os.path.join(g.output_dir, f"summary-{shard:05d}-of-{num_shards:05d}.json"),
               dataclasses.asdict(summary))
    log.info("shard %d: %d done now, %d before, %d failed, %d completion tokens in %.1fs", shard, summary.done,
             summary.skipped, summary.failed, summary.completion_tokens, summary.elapsed_s)
    finished = done_keys(g.output_dir, pattern=f"{STEM}-*.jsonl")
    if all(job.id in finished for job in jobs):
        mark_done(g.output_dir, {"jobs": len(jobs), "problems": len(problems), "num_shards": num_shards})
    if summary.failed:
        log.warning("%d jobs failed (first: %s); rerun to retry them", summary.failed, summary.errors[:1])
        return 1
    return 0
