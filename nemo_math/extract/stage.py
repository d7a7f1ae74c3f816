"""``nemo-math extract``: raw forum posts -> pre-filters -> LLM steps -> ``problems.jsonl`` for ``problems``.

1. Pre-filters (no LLM): every source is read and filtered (:mod:`nemo_math.extract.readers`) and streamed
   into ``candidates.jsonl`` (written atomically once), with counts per outcome in ``prefilter.json``.
2. LLM steps (:mod:`nemo_math.extract.steps`), one exactly-once job per candidate on the shared client and job
   runner, each candidate read from ``candidates.jsonl`` when its job starts: each finished candidate is
   fsynced to ``audit-*.jsonl`` with every step's prompt, model, reply and parsed output, so a ``kill -9``
   loses only candidates in flight. ``--shard/--num-shards`` split the jobs.
3. Once every job is on disk: ``problems.jsonl`` (the kept :class:`~nemo_math.records.Problem` s in candidate
   order, with ``data_source`` AoPS / StackExchange-Math and attribution fields), ``report.json`` and
   ``_SUCCESS.json``, produced by one streaming pass over the audit logs.

Memory stays flat whatever the number of posts: nothing holds all the candidates or all the results (the job
runner keeps only the ids).

Feed it to ``problems`` with ``problems.sources: [{path: ${extract.output_dir}/problems.jsonl, ...}]``, or mix
the sources by weight from ``by_source/<data_source>.jsonl`` (``recipes/mix_sweep.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.extract.config import ExtractConfig
from nemo_math.extract.readers import Prefilter, read_source
from nemo_math.extract.steps import extract_one
from nemo_math.generation.jobs import Job, run_jobs
from nemo_math.io import is_done, iter_dicts, mark_done, read_json, write_json, write_records
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


def prefilter(cfg: ExtractConfig) -> Path:
    """Stream every source through the pre-filters into ``candidates.jsonl`` (skipped when a previous run
    already wrote it); return its path."""
    out = Path(cfg.output_dir)
    if (out / PREFILTER_REPORT).exists():
        return out / CANDIDATES
    if not cfg.sources:
        raise ConfigError("extract.sources: no forum sources configured")
    filt = Prefilter(cfg.prefilter)
    per_source, after = {}, Counter()

    def candidates() -> Iterator[dict]:
        for source in cfg.sources:
            before = Counter(filt.counts)
            for candidate in read_source(source, filt):
                after["candidates" if candidate["answers"] else "no_solution_posts"] += 1
                if candidate["answers"]:
                    yield candidate
            per_source[source.path] = {k: v - before[k] for k, v in filt.counts.items() if v - before[k]}

    write_records(out / CANDIDATES, candidates())
    counts = {**filt.counts, "no_solution_posts": after["no_solution_posts"], "candidates": after["candidates"]}
    write_json(out / PREFILTER_REPORT, {"counts": counts, "per_source": per_source})  # written last: the marker
    log.info("extract: pre-filters kept %d of %d questions: %s", counts["candidates"], counts.get("read", 0), counts)
    return out / CANDIDATES


def candidate_jobs(path: Path) -> Iterator[Job]:
    """One job per line of ``candidates.jsonl``: its id and the line's ``(offset, length)``. The worker reads
    the candidate when its job starts, so only the jobs in flight hold one in memory."""
    with open(path, "rb") as fh:
        offset = 0
        for line in fh:
            yield Job(json.loads(line)["id"], (offset, len(line)))
            offset += len(line)


async def run_llm_steps(cfg: ExtractConfig, candidates: Path, client_cfg, shard: int, num_shards: int):
    from nemo_math.generation.client import GenerationClient

    settings = {"max_tokens": cfg.max_tokens, "temperature": cfg.temperature,
                "reasoning_effort": cfg.reasoning_effort}
    hang_after = int(os.environ.get(HANG_AFTER_ENV, 0))
    started = 0
    with open(candidates, "rb") as fh:
        async with GenerationClient(client_cfg) as client:

            async def worker(job: Job) -> dict:
                nonlocal started
                started += 1
                if hang_after and started == hang_after + 1:  # tests: the jobs before are on disk; wait to die
                    Path(cfg.output_dir, f".hang-after-{hang_after}").touch()
                    await asyncio.Event().wait()
                offset, length = job.payload
                return await extract_one(json.loads(os.pread(fh.fileno(), length, offset)), client, settings)

            return await run_jobs(candidate_jobs(candidates), worker, cfg.output_dir, shard=shard,
                                  num_shards=num_shards, concurrency=client_cfg.max_in_flight, stem=STEM,
                                  description="extract")


def finish(cfg: ExtractConfig) -> dict | None:
    """Once every candidate's job is in an audit log (any shard): the outputs, in candidate order, and
    ``_SUCCESS.json``; else None. The audit logs are in finishing order: results are put in a private temporary
    SQLite file keyed by candidate position and read back in order, one streaming pass, so memory does not grow
    with the number of candidates (no reorder buffer)."""
    out = Path(cfg.output_dir)
    db = sqlite3.connect("")  # deleted on close
    try:
        db.executescript("CREATE TABLE c (id TEXT PRIMARY KEY, seq INTEGER) WITHOUT ROWID;"
                         "CREATE TABLE r (seq INTEGER PRIMARY KEY, kept INTEGER, reason TEXT, source TEXT,"
                         "                problem TEXT);")
        db.executemany("INSERT INTO c VALUES (?, ?)",
                       ((job.id, seq) for seq, job in enumerate(candidate_jobs(out / CANDIDATES))))
        db.executemany("INSERT OR REPLACE INTO r SELECT seq, ?, ?, ?, ? FROM c WHERE id = ?", (
            (row["kept"], row["reason"], row["problem"] and row["problem"]["data_source"],
             json.dumps(row["problem"], ensure_ascii=False) if row["kept"] else None, row["job_id"])
            for file in sorted(out.glob(f"{STEM}-*.jsonl")) for _, _, row in iter_dicts(file)))
        candidates = db.execute("SELECT count(*) FROM c").fetchone()[0]
        if db.execute("SELECT count(*) FROM r").fetchone()[0] < candidates:
            return None

        def problems(where: str = "", *args: str) -> Iterator[dict]:
            query = f"SELECT problem FROM r WHERE kept {where} ORDER BY seq"
            return (json.loads(problem) for (problem,) in db.execute(query, args))

        kept = write_records(out / OUTPUT_NAME, problems())
        by_source = dict(db.execute("SELECT source, count(*) FROM r WHERE kept GROUP BY source ORDER BY min(seq)"))
        for source in by_source:  # one file per data_source: ``problems`` mixes sources by weight
            write_records(out / BY_SOURCE / f"{source}.jsonl", problems("AND source = ?", source))
        reasons = dict(db.execute("SELECT reason, count(*) FROM r WHERE NOT kept GROUP BY reason"))
    finally:
        db.close()
    report = {"prefilter": read_json(out / PREFILTER_REPORT), "llm": {"candidates": candidates, "kept": kept,
              "dropped": reasons}, "kept_by_source": by_source}
    write_json(out / "report.json", report)
    mark_done(out, {"candidates": candidates, "problems": kept, "by_source": by_source})
    return report


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
    report = finish(e) if summary.complete else None
    if report is not None:
        log.info("extract: %d problems with checkable answers: %s", report["llm"]["kept"],
                 json.dumps(report["kept_by_source"]))
    if summary.failed:
        log.warning("extract: %d jobs failed (first: %s); rerun to retry them", summary.failed, summary.errors[:1])
        return 1
    return 0
