"""Pass rates in the dataset's format, the difficulty threshold and the trace filters' reasons."""

from __future__ import annotations

import pytest
from curation_fixtures import trajectory

from nemo_math.curation.config import CurateConfig
from nemo_math.curation.filters import pass_rates, pooled_pass_rate, too_easy, trace_reason
from nemo_math.grading.verdict import grade_symbolic


def graded(mode, tool, answers, reference="4", **kw):
    return [grade_symbolic(trajectory("p", mode, tool, i, a, reference, **kw), a, reference, 5.0)
            for i, a in enumerate(answers)]


def test_pass_rates_per_setting():
    group = graded("low", True, ["4", "4", "5", None]) + graded("high", False, ["4.0", "3"])
    rates = {k: v.to_dict() for k, v in pass_rates(group).items()}
    assert rates == {"reason_high_no_tool": {"count": 2, "pass": 1, "accuracy": 0.5},
                     "reason_low_with_tool": {"count": 4, "pass": 2, "accuracy": 0.5}}


@pytest.mark.parametrize(("right", "dropped"), [(13, True), (12, False)])  # 13/16 >= 0.8 > 12/16
def test_difficulty_filter_pools_the_low_mode_over_tool_settings(right, dropped):
    answers = ["4"] * right + ["5"] * (16 - right)
    group = graded("low", True, answers[:8]) + graded("low", False, answers[8:]) + graded("high", True, ["4"] * 8)
    rates = pass_rates(group)
    assert pooled_pass_rate(rates, "low") == right / 16
    assert too_easy(rates, CurateConfig()) is dropped
    assert too_easy(rates, CurateConfig(difficulty_mode="high", max_pass_rate=1.0)) is True
    assert not too_easy(rates, CurateConfig(difficulty_mode="medium"))  # no medium trajectories: kept


def test_trace_reasons_first_match_wins():
    cfg = CurateConfig(max_tool_errors=3)

    def reason(answer="4", **kw):
        return trace_reason(graded("high", True, [answer], **kw)[0], cfg)

    assert reason() is None
    assert reason("5") == "wrong_answer"
    assert trace_reason(graded("high", True, ["5"])[0], CurateConfig(keep_wrong=True)) is None
    assert reason(None) == "no_answer"
    assert reason(tool_errors=3) == "tool_error_loop"
    assert reason(finish="max_code_executions") == "tool_error_loop"
    assert reason(None, finish="length") == "truncated"
    assert reason(None, finish="wall_time", tool_errors=5) == "truncated"
    assert reason(finish="error", tool_errors=5) == "generation_error"
