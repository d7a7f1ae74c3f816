"""The LLM judge: does a predicted final answer agree with the reference? (The paper: Qwen2.5-32B-Instruct.)

Requests go through generation's :class:`~nemo_math.generation.client.GenerationClient` (retries, concurrency,
several servers) and :func:`~nemo_math.generation.jobs.run_jobs` (exactly-once, resumable). A judgement's id
is a hash of the (problem, predicted, reference) triple: trajectories with the same answer share one request
(the judge samples greedily), and after answer repair a trajectory is judged again against its new reference
while unchanged pairs reuse the logged judgement.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path

from nemo_math.grading.config import JudgeConfig
from nemo_math.io import done_keys
from nemo_math.records import stable_id

JUDGE_MODES = ("none", "fallback", "all")
STEM = "judgements"

JUDGE_PROMPT = """\
You are checking the final answer of a solution to a math problem against the reference answer.
Decide whether the two answers are mathematically the same, in the context of the problem: equal values in a \
different form (fractions, decimals, radicals, factored or expanded), the same set or list in another order, \
the same interval written as an inequality, or the same answer with or without units all count as the same. \
Do not solve the problem yourself and do not judge the solution, only compare the two answers.

Problem:
{problem}

Predicted answer: {predicted}

Reference answer: {reference}

Explain your comparison in a few sentences, then finish with one line that reads exactly \
"Judgement: Yes" if the answers are the same or "Judgement: No" if they are not."""

_VERDICT = re.compile(r"judge?ment\W*\s*(yes|no)\b", re.IGNORECASE)
_BARE = re.compile(r"\b(yes|no)\b\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class JudgeRequest:
    problem: str
    predicted: str
    reference: str

    @property
    def id(self) -> str:
        """Equal questions share one id: 16 samples with the same wrong answer cost one judgement."""
        return stable_id(self.problem, self.predicted, self.reference)


def judge_messages(problem: str, predicted: str, reference: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": JUDGE_PROMPT.format(problem=problem, predicted=predicted,
                                                            reference=reference)}]


def parse_judgement(text: str) -> bool | None:
    """``True``/``False`` from the last "Judgement: Yes/No" (or a bare final yes/no); ``None`` if neither."""
    verdicts = _VERDICT.findall(text or "")
    if verdicts:
        return verdicts[-1].lower() == "yes"
    bare = _BARE.search((text or "").strip())
    return bare.group(1).lower() == "yes" if bare else None


async def _judge_async(requests: list[JudgeRequest], cfg: JudgeConfig, log_dir: Path, stem: str):
    from nemo_math.generation.client import GenerationClient
    from nemo_math.generation.jobs import Job, run_jobs

    jobs = {r.id: Job(r.id, r) for r in requests}  # equal requests are judged once
    async with GenerationClient(cfg.client) as client:

        async def worker(job: Job) -> dict:
            r: JudgeRequest = job.payload
            reply = await client.chat(judge_messages(r.problem, r.predicted, r.reference),
                                      max_tokens=cfg.max_tokens, temperature=cfg.temperature)
            return {"job_id": job.id, "judge_correct": parse_judgement(reply.text), "judgement": reply.text,
                    "completion_tokens": reply.completion_tokens}

        return await run_jobs(jobs.values(), worker, log_dir, concurrency=cfg.client.max_in_flight, stem=stem,
                              description="judging")


def judge(requests: list[JudgeRequest], cfg: JudgeConfig, log_dir: str | Path,
          stem: str = STEM) -> dict[str, tuple[bool | None, str]]:
    """Judge every request not yet in a log of ``log_dir`` and return ``{request.id: (verdict, raw judgement)}``.

    Each concurrent writer (array task) needs its own ``stem``; all of them read every log in ``log_dir``.
    A request whose every retry failed is missing from the result (the next run retries it).
    """
    log_dir = Path(log_dir)
    done = done_keys(log_dir)  # every writer's log: a question asked by another array task is not asked again
    todo = [r for r in requests if r.id not in done]
    if todo:
        asyncio.run(_judge_async(todo, cfg, log_dir, stem))
    wanted = {r.id for r in requests}
    verdicts: dict[str, tuple[bool | None, str]] = {}
    if log_dir.exists():
        for file in sorted(log_dir.glob("*.jsonl")):
            with open(file, encoding="utf-8") as fh:
                for line in fh:
                    if not line.endswith("\n"):  # another task's line still being written
                        break
                    row = json.loads(line)
                    if row["job_id"] in wanted:
                        verdicts[row["job_id"]] = (row["judge_correct"], row["judgement"])
    return verdicts
