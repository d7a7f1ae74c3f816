"""Benchmark metrics over k graded samples per problem, computed the way NeMo-Skills reports them.

For every group (benchmark subset x mode x tool) and every way of scoring a sample (``correct``, or
``symbolic``/``judge``/``both``/``any`` when an LLM judge ran too):

* ``pass@1[avg-of-k]``: the mean over problems of the fraction of correct samples, with the standard error over
  the k runs (run j = every problem's j-th sample; std with ddof=1, divided by sqrt(k)).
* ``maj@k``: the most frequent extracted answer among the first k samples that have one; when several answers tie
  for most frequent each gets an equal share, so the problem scores the fraction of tied answers that are correct
  (a fixed tie-break would make maj@k depend on answer spelling or sample order).
* ``pass@k``: the unbiased estimator 1 - C(n-c, k) / C(n, k) of Chen et al. (2021) from all n samples.
* ``no_answer``: the share of samples with no extracted answer.
* length (completion tokens: mean and percentiles) and tool-call statistics.

We write these instead of importing NeMo-Skills: its metrics classes come with its whole pipeline and hydra
config system, and the arithmetic is a few lines.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nemo_math.records import MODES, GradedTrajectory

ALL_SUBSETS = "all"  # the subset name of a whole benchmark when it has several subsets


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (1 - C(n-c, k) / C(n, k))."""
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def majority_score(answers: Sequence[str | None], correct: Sequence[float]) -> float:
    """maj@len(answers) of one problem: the score of the most common answer, ties split evenly; 0 if none."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [a for a, v in votes.items() if v == top]
    # a judge may rule differently on two samples with the same answer: each answer scores its samples' mean
    return float(np.mean([np.mean([c for x, c in zip(answers, correct) if x == a]) for a in tied]))


def avg_of_k(correct: np.ndarray) -> tuple[float, float]:
    """pass@1 averaged over k samples and its standard error across the k runs; ``correct`` is [problems, k]."""
    per_run = correct.mean(axis=0)
    mean = float(per_run.mean())
    k = correct.shape[1]
    std_err = float(per_run.std(ddof=1) / math.sqrt(k)) if k > 1 else 0.0
    return mean, std_err


def score_methods(samples: Iterable[GradedTrajectory]) -> dict[str, Any]:
    """How each sample is scored: ``correct`` alone, or symbolic/judge/both/any when both verdicts exist."""
    samples = list(samples)
    has_judge = any(s.judge_correct is not None for s in samples)
    has_symbolic = any(s.symbolic_correct is not None for s in samples)
    methods: dict[str, Any] = {"correct": lambda s: s.is_correct}
    if has_judge and has_symbolic:
        methods.update({
            "symbolic": lambda s: bool(s.symbolic_correct),
            "judge": lambda s: bool(s.judge_correct),
            "both": lambda s: bool(s.symbolic_correct) and bool(s.judge_correct),
            "any": lambda s: bool(s.symbolic_correct) or bool(s.judge_correct),
        })
    return methods


@dataclass(frozen=True)
class GroupKey:
    benchmark: str
    subset: str
    mode: str
    with_tool: bool

    @property
    def setting(self) -> str:
        return f"{self.mode}/{'tool' if self.with_tool else 'no-tool'}"


def _subset(sample: GradedTrajectory) -> str:
    return str(sample.problem_metadata.get("subset") or sample.data_source)


def group_samples(samples: Iterable[GradedTrajectory]) -> dict[GroupKey, dict[str, list[GradedTrajectory]]]:
    """{group: {problem_id: samples sorted by seed}}; a benchmark with several subsets also gets ``all``."""
    groups: dict[GroupKey, dict[str, list[GradedTrajectory]]] = defaultdict(lambda: defaultdict(list))
    subsets: dict[str, set[str]] = defaultdict(set)
    samples = list(samples)
    for s in samples:
        subsets[s.data_source].add(_subset(s))
    for s in samples:
        names = [_subset(s)]
        if len(subsets[s.data_source]) > 1:
            names.append(ALL_SUBSETS)
        for name in names:
            groups[GroupKey(s.data_source, name, s.mode, s.with_tool)][s.problem_id].append(s)
    for problems in groups.values():
        for pid in problems:
            problems[pid].sort(key=lambda s: s.seed)
    return {k: dict(v) for k, v in groups.items()}


def group_metrics(problems: dict[str, list[GradedTrajectory]], k: int | None = None,
                  percentiles: Sequence[int] = (50, 90, 99)) -> dict[str, Any]:
    """Every metric of one group; ``k`` (default: the fewest samples any problem has) bounds maj@k and pass@k."""
    counts = {len(v) for v in problems.values()}
    n = min(counts)
    k = n if k is None else min(k, n)
    flat = [s for v in problems.values() for s in v]
    out: dict[str, Any] = {"num_problems": len(problems), "num_samples": len(flat), "k": k}
    if len(counts) > 1:
        out["incomplete"] = f"samples per problem range {min(counts)}..{max(counts)}; metrics use the first {n}"
    for method, score in score_methods(flat).items():
        grid = np.array([[float(score(s)) for s in v[:n]] for v in problems.values()])
        mean, std_err = avg_of_k(grid[:, :k])
        out[method] = {
            "pass@1": mean,
            "pass@1_std_err": std_err,
            f"maj@{k}": float(np.mean([majority_score([s.predicted_answer for s in v[:k]], grid[i, :k])
                                       for i, v in enumerate(problems.values())])),
            f"pass@{k}": float(np.mean([pass_at_k(n, int(row.sum()), k) for row in grid])),
        }
    lengths = np.array([s.completion_tokens for s in flat], dtype=float)
    tools = np.array([s.num_tool_calls for s in flat], dtype=float)
    out["no_answer"] = float(np.mean([s.predicted_answer is None for s in flat]))
    out["length_mean"] = float(lengths.mean())
    out.update({f"length_p{p}": float(np.percentile(lengths, p)) for p in percentiles})
    out["tool_calls_mean"] = float(tools.mean())
    out["tool_calls_p90"] = float(np.percentile(tools, 90))
    out["tool_use_rate"] = float(np.mean(tools > 0))
    out["finish_reasons"] = dict(Counter(s.finish_reason for s in flat))
    return out


def compute_metrics(samples: Iterable[GradedTrajectory], k: int | None = None,
                    percentiles: Sequence[int] = (50, 90, 99)) -> list[dict[str, Any]]:
    """One row per benchmark subset x mode x tool, sorted like the paper's tables (high, medium, low)."""
    rows = []
    for key, problems in group_samples(samples).items():
        rows.append({"benchmark": key.benchmark, "subset": key.subset, "mode": key.mode,
                     "with_tool": key.with_tool, **group_metrics(problems, k, percentiles)})
    order = {m: i for i, m in enumerate(MODES)}
    rows.sort(key=lambda r: (r["benchmark"], r["subset"] == ALL_SUBSETS, r["subset"],
                             order.get(r["mode"], 9), not r["with_tool"]))
    return rows
