"""A trajectory the server's context cut short is counted as truncated, like one cut by the token limit (issue 13:
generation records such jobs with ``finish_reason: context_length`` and the server's error)."""

from __future__ import annotations

import dataclasses

import pytest
from curation_fixtures import trajectory

from nemo_math.curation.config import CurateConfig
from nemo_math.curation.filters import trace_reason
from nemo_math.grading.verdict import grade_symbolic


@pytest.mark.parametrize("finish", ["length", "wall_time", "context_length"])
def test_cut_short_trajectories_are_truncated(finish):
    traj = trajectory("p", "high", True, 0, None, "4", finish=finish)
    if finish == "context_length":  # as generation records it: the server's 400 is kept in `error`
        traj = dataclasses.replace(traj, error="This model's maximum context length is 512 tokens")
    assert trace_reason(grade_symbolic(traj, None, "4", 5.0), CurateConfig()) == "truncated"


def test_an_error_that_is_not_the_context_is_still_a_generation_error():
    traj = dataclasses.replace(trajectory("p", "high", True, 0, None, "4", finish="error"), error="server died")
    assert trace_reason(grade_symbolic(traj, None, "4", 5.0), CurateConfig()) == "generation_error"
