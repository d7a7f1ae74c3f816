"""``nemo-math generate``: every problem x mode x tool setting x seed, as exactly-once resumable jobs.

Reads problems from ``generate.input``, writes :class:`~nemo_math.records.Trajectory` records to
``generate.output_dir/trajectories-<shard>-of-<n>.jsonl`` and ``_SUCCESS.json`` once every job of every shard
is on disk. ``--shard i --num-shards n`` (default: the SLURM array task) splits the jobs for array jobs; a
rerun after a crash or ``kill -9`` redoes only the missing jobs. With ``generate.local_server.backend`` set the
stage serves the model on 127.0.0.1 itself (``scripted``/``hf``: our server, so the run needs no cluster while the
requests still go through the real HTTP client; ``vllm``/``sglang``/``transformers``: a real engine started and
stopped here, :mod:`nemo_math.generation.engine`). A dead server stops the run (exit 1, finished jobs kept).
With ``generate.teachers`` each job goes to one of several teachers by weight
(:mod:`nemo_math.generation.teachers`); the realised split is logged and summarised.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
from typing import Any

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.generation.client import GenerationClient, ServerDead
from nemo_math.generation.jobs import Job, RunSummary, run_jobs, select_shard
from nemo_math.generation.solve import SolveSettings, solve
from nemo_math.generation.teachers import Teacher, assign, resolve_teachers, split
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
    from nemo_math.generation.engine import BACKENDS, EXTRA_BODY

    if g.local_server.backend not in (None, *BACKENDS):
        raise ConfigError(f"generate.local_server.backend: {g.local_server.backend!r} is not one of {list(BACKENDS)}")
    if g.client.engine not in (None, *EXTRA_BODY):
        raise ConfigError(f"generate.client.engine: {g.client.engine!r} is not one of {list(EXTRA_BODY)}")
    resolve_teachers(cfg)


@contextlib.contextmanager
def model_server(cfg: NemoMathConfig):
    """The client config to use: the configured servers, or a server started here for the run
    (:mod:`nemo_math.generation.engine`), with the server's request fields resolved."""
    from nemo_math.generation.engine import serving

    g = cfg.generate
    with serving(g.local_server, g.client, os.path.join(g.output_dir, "logs")) as client_cfg:
        yield client_cfg


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
                   num_shards: int, teachers: list[tuple[Teacher, Any]] | None = None) -> RunSummary:
    """Run the jobs against ``client_cfg``'s model, or route each to its teacher of ``teachers`` ((teacher,
    client config) pairs, see :mod:`nemo_math.generation.teachers`)."""
    g = cfg.generate
    teachers = teachers or [(Teacher(client_cfg.model, 1.0, cfg), client_cfg)]
    async with contextlib.AsyncExitStack() as stack:
        routes = {}
        for teacher, teacher_client in teachers:
            t = teacher.cfg.generate
            client = await stack.enter_async_context(GenerationClient(teacher_client))
            routes[teacher.name] = (
                TRANSPORTS[t.transport](client, temperature=t.temperature, top_p=t.top_p),
                SolveSettings(max_tokens=t.max_tokens, max_code_executions=t.max_code_executions,
                              max_wall_time_s=t.max_wall_time_s, code_timeout_s=t.code_timeout_s,
                              model=teacher_client.model))
        by_weight = [teacher for teacher, _ in teachers]

        async def worker(job: Job) -> Trajectory:
            problem, mode, tool, seed = job.payload
            name = assign(job.id, by_weight).name
            transport, settings = routes[name]
            trajectory = await solve(problem, mode, tool, seed, transport, sandbox, settings, base_seed=cfg.seed)
            trajectory.teacher = name
            return trajectory

        return await run_jobs(jobs, worker, g.output_dir, shard=shard, num_shards=num_shards,
                              concurrency=sum(c.max_in_flight for _, c in teachers), stem=STEM,
                              description="generate", fatal=(ServerDead,))


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    check_config(cfg)
    g = cfg.generate
    shard, num_shards = getattr(args, "shard", 0), getattr(args, "num_shards", 1)
    problems = load_records(g.input, Problem)
    jobs = build_jobs(problems, g.modes, g.tools, g.num_samples)
    log.info("%d problems x %d modes x %d tool settings x %d samples = %d jobs (shard %d of %d: %d)",
             len(problems), len(g.modes), len(g.tools), g.num_samples, len(jobs), shard, num_shards,
             len(select_shard(jobs, shard, num_shards)))
    teachers = resolve_teachers(cfg)
    shard_split = split(select_shard(jobs, shard, num_shards), teachers)
    if len(teachers) > 1:
        log.info("teachers (shard %d): %s", shard, ", ".join(
            f"{name}={s['jobs']} jobs ({s['job_share']:.1%}, weight {s['weight_share']:.1%})"
            for name, s in shard_split.items()))
    with contextlib.ExitStack() as stack:
        served = [(t, stack.enter_context(model_server(t.cfg))) for t in teachers]
        sandbox = stack.enter_context(open_sandbox(cfg))
        try:
            summary = asyncio.run(generate(cfg, jobs, served[0][1], sandbox, shard, num_shards, served))
        except ServerDead as err:
            log.error("generate: stopped, the model server is dead (finished jobs are kept; rerun to resume): %s",
                      err)
            return 1
    write_json(os.path.join(g.output_dir, f"summary-{shard:05d}-of-{num_shards:05d}.json"),
               {**dataclasses.asdict(summary), "teachers": shard_split})
    log.info("shard %d: %d done now, %d before, %d failed, %d completion tokens in %.1fs; finish reasons %s",
             shard, summary.done, summary.skipped, summary.failed, summary.completion_tokens, summary.elapsed_s,
             summary.finish_reasons)
    finished = done_keys(g.output_dir, pattern=f"{STEM}-*.jsonl")
    if all(job.id in finished for job in jobs):
        mark_done(g.output_dir, {"jobs": len(jobs), "problems": len(problems), "num_shards": num_shards,
                                 "teachers": split(jobs, teachers)})
    if summary.failed:
        log.warning("%d jobs failed (first: %s); rerun to retry them", summary.failed, summary.errors[:1])
        return 1
    return 0
