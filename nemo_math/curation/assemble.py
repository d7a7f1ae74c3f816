"""A kept trajectory as an ``nvidia/Nemotron-Math-v2`` record, and where it goes (one file per setting)."""

from __future__ import annotations

from nemo_math.curation.repair import AnswerDecision
from nemo_math.records import (
    GradedTrajectory,
    PassRate,
    Problem,
    SFTRecord,
    setting_key,
)


def sft_file_stem(mode: str, with_tool: bool, split_by_setting: bool) -> str:
    """``reason_high_with_tool`` and so on (the paper's six SFT files), or ``mixed``."""
    return setting_key(mode, with_tool) if split_by_setting else "mixed"


def to_sft(t: GradedTrajectory, decision: AnswerDecision, rates: dict[str, PassRate], problem: Problem | None,
           used_in: list[str]) -> SFTRecord:
    from nemo_math.generation.transports import PYTHON_TOOL

    return SFTRecord(
        problem=t.problem,
        expected_answer=decision.reference,
        original_expected_answer=decision.original,
        changed_answer_to_majority=decision.source == "replaced",
        data_source=t.data_source,
        messages=t.messages,
        tools=[PYTHON_TOOL] if t.with_tool else [],
        metadata={**{key: rate.to_dict() for key, rate in rates.items()}, "reasoning_mode": t.mode,
                  "teacher": t.teacher},
        license=problem.license if problem else None,
        url=problem.url if problem else None,
        user_url=problem.user_url if problem else None,
        user_name=problem.user_name if problem else None,
        used_in=list(used_in),
        tool_usage=t.num_tool_calls,
    )
