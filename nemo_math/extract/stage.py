"""``nemo-math extract``: raw forum posts -> pre-filters -> LLM steps -> ``problems.jsonl`` for ``problems``.

1. Pre-filters (no LLM): every source is read and filtered (:mod:`nemo_math.extract.readers`) into
   ``candidates.jsonl``, written atomically once, with counts per outcome in ``prefilter.json``.
2. LLM steps (:mod:`nemo_math.extract.steps`), one exactly-once job per candidate on the shared client and job
   runner: each finished candidate is fsynced to ``audit-*.jsonl`` with every step's prompt, model, reply and
   parsed output, so a ``kill -9`` loses only candidates in flight. ``--shard/--num-shards`` split the jobs.
3. Once every job is on disk: ``problems.jsonl`` (the kept :class:`~nemo_math.records.Problem` s, with
   ``data_source`` AoPS / StackExchange-Math and attribution fields), ``report.json`` and ``_SUCCESS.json``.

Feed it to ``problems`` with ``problems.sources: [{path: ${extract.output_dir}/problems.jsonl, ...}]``, or mix
the sources by weight from ``by_source/<data_source>.jsonl`` (``recipes/mix_sweep.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import Counter
from pathlib import Path

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.extract.config import ExtractConfig
from nemo_math.extract.readers import Prefilter, read_source
from nemo_math.extract.steps import extract_one
from nemo_math.io import done_keys, is_done, iter_dicts, mark_done, read_json, write_json, write_records
from nemo_math.progress import log

CANDIDATES = "candidates.jsonl"
PREFILTER_REPORT = "prefilter.json"
STEM = "audit"
OUTPUT_NAME = "problems.jsonl"
BY_SOURCE = "by_source"
HANG_AFTER_ENV = "NEMO_MATH_EXTRACT_HANG_AFTER"  # tests: after N jobs touch <output_dir>/.hang-after-N and hang


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nemo_math.generation.stage import add_arguments as add_shard_arguments

    add_shard_arguments(parser)


def prefilter(cfg: ExtractConfig) -> list[dict]:
    """Candidates after the pre-filters: read from disk when a previous run already wrote them."""
    out = Path(cfg.output_dir)
    if (out / PREFILTER_REPORT).exists():
        return [row for _, _, row in iter_dicts(out / CANDIDATES)]
    if not cfg.sources:
        raise ConfigError("extract.sources: no forum sources configured")
    filt = Prefilter(cfg.prefilter)
    candidates, per_source = [], {}
    for source in cfg.sources:
        before = Counter(filt.counts)
        found = list(read_source(source, filt))
        candidates.extend(found)
        per_source[source.path] = {k: v - before[k] for k, v in filt.counts.items() if v - before[k]}
    no_answers = [c for c in candidates if not c["answers"]]
    candidates = [c for c in candidates if c["answers"]]
    counts = {**filt.counts, "no_solution_posts": len(no_answers), "candidates": len(candidates)}
    write_records(out / CANDIDATES, candidates)
    write_json(out / PREFILTER_REPORT, {"counts": counts, "per_source": per_source})  # written last: the marker
    log.info("extract: pre-filters kept %d of %d questions: %s", len(candidates), counts.get("read", 0), counts)
    return candidates


async def run_llm_steps(cfg: ExtractConfig, candidates: list[dict], client_cfg, shard: int, num_shards: int):
    from nemo_math.generation.client import GenerationClient
    from nemo_math.generation.jobs import Job, run_jobs

    settings = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature,
                "reasoning_effort": cfg.reasoning_effort}
    hang_after = int(os.environ.get(HANG_AFTER_ENV, 0))
    started = 0
    async with GenerationClient(client_cfg) as client:

        async def worker(job: Job) -> dict:
            nonlocal started
            started += 1
            if hang_after and started == hang_after + 1:  # tests: the jobs before are on disk; wait to be killed
                Path(cfg.output_dir, f".hang-after-{hang_after}").touch()
                await asyncio.Event().wait()
            return await extract_one(job.payload, client, settings)

        jobs = [Job(c["id"], c) for c in candidates]
        return await run_jobs(jobs, worker, cfg.output_dir, shard=shard, num_shards=num_shards,
                              concurrency=client_cfg.max_in_flight, stem=STEM, description="extract")


def finish(cfg: ExtractConfig, candidates: list[dict]) -> dict:
    out = Path(cfg.output_dir)
    results = {row["job_id"]: row for _, _, row in iter_dicts_pattern(out)}
    problems = [results[c["id"]]["problem"] for c in candidates if results[c["id"]]["kept"]]
    reasons = Counter(r["reason"] for r in results.values() if not r["kept"])
    by_source = Counter(p["data_source"] for p in problems)
    report = {"prefilter": read_json(out / PREFILTER_REPORT), "llm": {"candidates": len(candidates),
              "kept": len(problems), "dropped": dict(reasons)}, "kept_by_source": dict(by_source)}
    write_records(out / OUTPUT_NAME, problems)
    for source in by_source:  # one file per data_source: ``problems`` mixes sources by weight
        write_records(out / BY_SOURCE / f"{source}.jsonl", [p for p in problems if p["data_source"] == source])
    write_json(out / "report.json", report)
    mark_done(out, {"candidates": len(candidates), "problems": len(problems), "by_source": dict(by_source)})
    return report


def iter_dicts_pattern(out: Path):
    for file in sorted(out.glob(f"{STEM}-*.jsonl")):
        yield from iter_dicts(file)


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    from nemo_math.generation.engine import serving

    e = cfg.extract
    if is_done(e.output_dir):
        log.info("extract: %s is complete, skipping", e.output_dir)
        return 0
    shard, num_shards = getattr(args, "shard", 0), getattr(args, "num_shards", 1)
    candidates = prefilter(e)
    with serving(e.local_server, e.client, os.path.join(e.output_dir, "logs")) as client_cfg:
        summary = asyncio.run(run_llm_steps(e, candidates, client_cfg, shard, num_shards))
    finished = done_keys(e.output_dir, pattern=f"{STEM}-*.jsonl")
    if all(c["id"] in finished for c in candidates):
        report = finish(e, candidates)
        log.info("extract: %d problems with checkable answers: %s", report["llm"]["kept"],
                 json.dumps(report["kept_by_source"]))
    if summary.failed:
        log.warning("extract: %d jobs failed (first: %s); rerun to retry them", summary.failed, summary.errors[:1])
        return 1
    return 0
