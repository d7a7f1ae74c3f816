"""The exactly-once job runner: sharding, resume, failures."""

from __future__ import annotations

import asyncio
import json

import pytest

from nemo_math.generation.client import ServerDead
from nemo_math.generation.jobs import Job, run_jobs, select_shard, shard_of


def read(folder) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("results-*.jsonl")) for line in f.read_text().splitlines()]


async def square(job: Job) -> dict:
    await asyncio.sleep(0)
    return {"job_id": job.id, "value": job.payload ** 2, "completion_tokens": 3}


def test_shards_partition_the_jobs_deterministically():
    jobs = [Job(f"p{i}/high/tool/{i % 8}", i) for i in range(500)]
    shards = [select_shard(jobs, s, 4) for s in range(4)]
    assert sorted(j.id for s in shards for j in s) == sorted(j.id for j in jobs)
    assert all(90 < len(s) < 160 for s in shards)
    # a job's shard does not depend on the other jobs or their order
    assert [j.id for j in select_shard(list(reversed(jobs[:50])), 2, 4)] == \
        [j.id for j in reversed(jobs[:50]) if shard_of(j.id, 4) == 2]
    with pytest.raises(ValueError, match="shard"):
        select_shard(jobs, 4, 4)


def test_runs_each_job_once_and_resumes(tmp_path):
    jobs = [Job(f"j{i}", i) for i in range(40)]
    first = asyncio.run(run_jobs(jobs[:25], square, tmp_path, concurrency=7))
    assert (first.done, first.skipped, first.failed, first.completion_tokens) == (25, 0, 0, 75)
    second = asyncio.run(run_jobs(jobs, square, tmp_path, concurrency=7))
    assert (second.total, second.done, second.skipped) == (40, 15, 25) and second.complete
    rows = read(tmp_path)
    assert sorted(r["job_id"] for r in rows) == sorted(j.id for j in jobs)
    assert all(r["value"] == int(r["job_id"][1:]) ** 2 for r in rows)
    assert asyncio.run(run_jobs(jobs, square, tmp_path)).done == 0


def test_failed_jobs_are_not_written_and_rerun(tmp_path):
    attempts: dict[str, int] = {}

    async def flaky(job: Job) -> dict:
        attempts[job.id] = attempts.get(job.id, 0) + 1
        if job.payload % 3 == 0 and attempts[job.id] == 1:
            raise ConnectionError("server went away")
        return {"job_id": job.id}

    jobs = [Job(f"j{i}", i) for i in range(12)]
    summary = asyncio.run(run_jobs(jobs, flaky, tmp_path, concurrency=4))
    assert (summary.done, summary.failed) == (8, 4) and not summary.complete
    assert "server went away" in summary.errors[0]
    assert asyncio.run(run_jobs(jobs, flaky, tmp_path)).done == 4
    assert sorted(r["job_id"] for r in read(tmp_path)) == sorted(j.id for j in jobs)


def test_torn_last_line_is_redone(tmp_path):
    jobs = [Job(f"j{i}", i) for i in range(5)]
    asyncio.run(run_jobs(jobs, square, tmp_path))
    log = next(tmp_path.glob("results-*.jsonl"))
    text = log.read_text()
    log.write_text(text[: len(text) - 10])  # a kill in the middle of the last write
    summary = asyncio.run(run_jobs(jobs, square, tmp_path))
    assert summary.done == 1
    assert sorted(r["job_id"] for r in read(tmp_path)) == [j.id for j in jobs]


def test_rejects_duplicate_ids_and_wrong_results(tmp_path):
    with pytest.raises(ValueError, match="duplicate job id"):
        asyncio.run(run_jobs([Job("a"), Job("a")], square, tmp_path))

    async def wrong(job: Job) -> dict:
        return {"job_id": "other"}

    summary = asyncio.run(run_jobs([Job("a", 1)], wrong, tmp_path))
    assert summary.failed == 1 and "job_id" in summary.errors[0] and read(tmp_path) == []


def test_a_fatal_error_stops_the_run_and_keeps_finished_jobs(tmp_path):
    # issue 13: a dead server made every remaining job fail its retries one after another; now it stops the run
    started: list[str] = []

    async def dies_at_j5(job: Job) -> dict:
        started.append(job.id)
        if job.id == "j5":
            raise ServerDead("no server answers /health")
        return await square(job)

    jobs = [Job(f"j{i}", i) for i in range(40)]
    with pytest.raises(ServerDead):
        asyncio.run(run_jobs(jobs, dies_at_j5, tmp_path, concurrency=1, fatal=(ServerDead,)))
    assert started == [f"j{i}" for i in range(6)] and [r["job_id"] for r in read(tmp_path)] == started[:5]
    resumed = asyncio.run(run_jobs(jobs, square, tmp_path, concurrency=4))
    assert (resumed.skipped, resumed.done) == (5, 35)
