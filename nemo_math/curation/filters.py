"""Pass rates per problem and setting, the difficulty filter, and the per-trajectory trace filters.

Every drop has a named reason so the report can say how much each filter removed (datatrove-style counters).
"""

from __future__ import annotations

from collections.abc import Iterable

from nemo_math.curation.config import CurateConfig
from nemo_math.records import GradedTrajectory, PassRate, setting_key

# cut short: by the token limit, the wall clock, or the server's context (that job records the server's error)
TRUNCATED = frozenset({"length", "wall_time", "context_length"})
# in the order they are tested: a trajectory is counted under the first reason that applies
TRACE_REASONS = ("truncated", "generation_error", "tool_error_loop", "no_answer", "wrong_answer")


def pass_rates(trajectories: Iterable[GradedTrajectory]) -> dict[str, PassRate]:
    """``{reason_<mode>_<with|no>_tool: PassRate}`` over the problem's trajectories, as in the dataset."""
    rates: dict[str, PassRate] = {}
    for t in trajectories:
        rate = rates.setdefault(setting_key(t.mode, t.with_tool), PassRate())
        rate.count += 1
        rate.pass_ += bool(t.is_correct)
    for rate in rates.values():
        rate.accuracy = rate.pass_ / rate.count
    return dict(sorted(rates.items()))


def pooled_pass_rate(rates: dict[str, PassRate], mode: str, tools: Iterable[bool] = (True, False)) -> float | None:
    """The pass rate of ``mode`` over the given tool settings together; ``None`` if it has no trajectory."""
    chosen = [rates[k] for k in (setting_key(mode, tool) for tool in tools) if k in rates]
    count = sum(r.count for r in chosen)
    return sum(r.pass_ for r in chosen) / count if count else None


def too_easy(rates: dict[str, PassRate], cfg: CurateConfig) -> bool:
    """The difficulty filter: the paper drops problems whose low-mode pass rate is >= 0.8."""
    rate = pooled_pass_rate(rates, cfg.difficulty_mode)
    return rate is not None and rate >= cfg.max_pass_rate


def trace_reason(t: GradedTrajectory, cfg: CurateConfig) -> str | None:
    """Why the trajectory is not a training sample (one of ``TRACE_REASONS``), or ``None`` to keep it."""
    if t.finish_reason in TRUNCATED:
        return "truncated"
    if t.finish_reason == "error" or t.error:
        return "generation_error"
    if t.finish_reason == "max_code_executions" or t.num_tool_errors >= cfg.max_tool_errors:
        return "tool_error_loop"
    if t.predicted_answer is None:
        return "no_answer"
    if not t.is_correct and not cfg.keep_wrong:
        return "wrong_answer"
    return None
