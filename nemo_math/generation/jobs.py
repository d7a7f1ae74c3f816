"""The exactly-once, resumable async job runner shared by generation, the LLM judge and evaluation.

A job is an id and a payload. ``run_jobs`` keeps the jobs of one shard, drops those whose id is already in a
result log of the output folder (:func:`nemo_math.io.done_keys`), runs the rest through an async ``worker`` with
bounded concurrency and appends each result to this shard's :class:`nemo_math.io.AppendLog` the moment it
completes. A result is on disk (fsynced) before it counts as done, so a ``kill -9`` at any moment loses only
jobs in flight, which the next run redoes: no duplicate, no lost record.

A job whose worker raises is logged and counted as failed, not written, so the next run retries it; an
exception of the ``fatal`` kinds (a dead server: every other job would fail too) stops the run at once and is
re-raised, the finished jobs kept. Results with a ``finish_reason`` are counted by it in the summary.
Sharding hashes the job id, so a job's shard does not depend on the order or number of other jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemo_math import progress
from nemo_math.io import AppendLog, done_keys, shard_name
from nemo_math.records import Record, RecordError

MAX_LOGGED_ERRORS = 10


@dataclass(frozen=True)
class Job:
    id: str
    payload: Any = None


@dataclass
class RunSummary:
    total: int = 0  # jobs in this shard
    skipped: int = 0  # already done before this run
    done: int = 0  # finished in this run
    failed: int = 0  # raised in this run (retried by the next run)
    completion_tokens: int = 0
    finish_reasons: dict[str, int] = field(default_factory=dict)  # of the jobs finished in this run
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few failures, "job_id: error"

    @property
    def complete(self) -> bool:
        return self.skipped + self.done == self.total


def shard_of(job_id: str, num_shards: int) -> int:
    """The shard (0-based) a job id belongs to: a stable hash, independent of the other jobs."""
    digest = hashlib.sha256(job_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def select_shard(jobs: Iterable[Job], shard: int, num_shards: int) -> list[Job]:
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"--shard {shard} --num-shards {num_shards}: need 0 <= shard < num_shards")
    return [job for job in jobs if shard_of(job.id, num_shards) == shard]


def log_path(output_dir: str | Path, stem: str, shard: int, num_shards: int) -> Path:
    return Path(output_dir) / shard_name(stem, shard, num_shards)


async def run_jobs(jobs: Iterable[Job], worker: Callable[[Job], Awaitable[Record | dict[str, Any]]],
                   output_dir: str | Path, *, shard: int = 0, num_shards: int = 1, concurrency: int = 512,
                   key: str = "job_id", stem: str = "results", description: str = "jobs",
                   fsync: bool = True, fatal: tuple[type[BaseException], ...] = ()) -> RunSummary:
    """Run every not-yet-done job of ``shard`` and append each result (whose ``key`` must equal the job id)
    to ``output_dir/<stem>-<shard>-of-<num_shards>.jsonl``."""
    all_jobs = select_shard(jobs, shard, num_shards)
    counts = Counter(job.id for job in all_jobs)
    if len(counts) != len(all_jobs):
        dup = next(i for i, n in counts.items() if n > 1)
        raise ValueError(f"duplicate job id {dup!r}: job ids must be unique")
    finished = done_keys(output_dir, key=key, pattern=f"{stem}-*.jsonl")
    todo = [job for job in all_jobs if job.id not in finished]
    summary = RunSummary(total=len(all_jobs), skipped=len(all_jobs) - len(todo))
    if not todo:
        return summary
    start = time.monotonic()
    pending = iter(todo)
    label = description if num_shards == 1 else f"{description} {shard}/{num_shards}"
    if summary.skipped:
        progress.log.info("%s: %d of %d jobs already done, running %d", label, summary.skipped, summary.total,
                          len(todo))

    with AppendLog(log_path(output_dir, stem, shard, num_shards), key=key, fsync=fsync) as out, \
            progress.bar(len(todo), label) as advance:

        async def run_one(job: Job) -> None:
            try:
                result = await worker(job)
                data = result.to_dict() if isinstance(result, Record) else dict(result)
                if data.get(key) != job.id:
                    raise RecordError(key, f"worker returned {data.get(key)!r} for job {job.id!r}")
            except fatal:
                raise
            except Exception as err:  # noqa: BLE001 - one failed job must not stop the others
                summary.failed += 1
                if len(summary.errors) < MAX_LOGGED_ERRORS:
                    summary.errors.append(f"{job.id}: {type(err).__name__}: {err}")
                    progress.log.warning("job %s failed: %s: %s", job.id, type(err).__name__, err)
                advance(1, description=_status(label, summary, start))
                return
            out.append(data)
            summary.done += 1
            summary.completion_tokens += int(data.get("completion_tokens") or 0)
            if data.get("finish_reason"):
                reason = str(data["finish_reason"])
                summary.finish_reasons[reason] = summary.finish_reasons.get(reason, 0) + 1
            advance(1, description=_status(label, summary, start))

        async def lane() -> None:
            for job in pending:  # lanes share one iterator: each job is taken exactly once
                await run_one(job)

        try:
            async with asyncio.TaskGroup() as lanes:  # a fatal error cancels the other lanes
                for _ in range(max(1, min(concurrency, len(todo)))):
                    lanes.create_task(lane())
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
    summary.elapsed_s = time.monotonic() - start
    return summary


def _status(label: str, summary: RunSummary, start: float) -> str:
    rate = summary.completion_tokens / max(time.monotonic() - start, 1e-9)
    return f"{label} {rate:,.0f} tok/s {summary.failed} err"
