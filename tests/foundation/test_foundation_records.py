"""Record schemas: Nemotron-Math-v2 SFT records as published (all six settings, tool turns, null fields, no
uuid) survive JSONL and parquet round trips, and bad records fail naming the field."""

from __future__ import annotations

import copy
import json

import pytest

from nemo_math.io import load_records, write_records
from nemo_math.records import (MODES, GradedTrajectory, Problem, RecordError, SFTRecord, Trajectory, setting_key,
                               stable_id)

PYTHON_TOOL = {"type": "function", "function": {"name": "python", "description": "Run Python in a Jupyter kernel.",
                                                 "parameters": {"type": "object", "properties": {}}}}


def pass_rates(seed: int) -> dict:
    """All six reason_* entries, as every published row carries them."""
    rates = {}
    for i, (mode, tool) in enumerate((m, t) for m in MODES for t in (True, False)):
        passed = (seed + i) % 9
        rates[setting_key(mode, tool)] = {"count": 8, "pass": passed, "accuracy": passed / 8}
    return rates


def sft_record(mode: str, with_tool: bool, n: int) -> dict:
    """One hand-shaped published row; tool rows call Python twice, one call erroring."""
    messages = [
        {"role": "system", "content": f"Reasoning: {mode}", "channel": None, "recipient": None, "name": None},
        {"role": "user", "content": f"Find the sum of the first {n} odd numbers.", "channel": None,
         "recipient": None, "name": None},
        {"role": "assistant", "content": "The sum of the first n odd numbers is n^2.", "channel": "analysis",
         "recipient": None, "name": None},
    ]
    if with_tool:
        messages += [
            {"role": "assistant", "content": f"print(sum(range(1, {2 * n}, 2)))", "channel": "commentary",
             "recipient": "python", "name": None},
            {"role": "tool", "content": f"{n * n}\n", "channel": None, "recipient": None, "name": "python"},
            {"role": "assistant", "content": "print(1/0)", "channel": "commentary", "recipient": "python",
             "name": None},
            {"role": "tool", "content": "ZeroDivisionError: division by zero", "channel": None, "recipient": None,
             "name": "python"},
        ]
    messages.append({"role": "assistant", "content": f"The answer is $\\boxed{{{n * n}}}$.", "channel": "final",
                     "recipient": None, "name": None})
    return {
        "problem": f"Find the sum of the first {n} odd numbers.",
        "expected_answer": str(n * n),
        "original_expected_answer": str(n * n) if n % 2 else None,  # null in whole splits
        "changed_answer_to_majority": False,
        "data_source": "AoPS" if n % 2 else "StackExchange-Math",
        "messages": messages,
        "tools": [PYTHON_TOOL] if with_tool else [],
        "metadata": {**pass_rates(n), "reasoning_mode": mode},
        "license": "CC BY 4.0",
        "used_in": ["nano_v3"],
        "uuid": f"uuid-{n}",
        "url": f"https://artofproblemsolving.com/community/c{n}" if n % 2 else None,
        "user_url": None,
        "user_name": None,
        "tool_usage": 2 if with_tool else 0,
    }


@pytest.fixture
def published_rows() -> list[dict]:
    rows = [sft_record(mode, tool, n) for n, (mode, tool) in
            enumerate(((m, t) for m in MODES for t in (True, False)), start=3)]
    del rows[0]["uuid"]  # some high parts have no uuid
    del rows[1]["tool_usage"]  # earlier revisions have no tool_usage
    rows[2] = dict(reversed(list(rows[2].items())))  # field order differs between splits
    return rows


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_sft_records_round_trip(tmp_path, published_rows, suffix):
    src = tmp_path / "published.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in published_rows))
    records = load_records(src, SFTRecord)
    assert {(r.mode, r.with_tool) for r in records} == {(m, t) for m in MODES for t in (True, False)}

    out = tmp_path / f"copy{suffix}"
    assert write_records(out, records) == len(published_rows)
    again = load_records(out, SFTRecord)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in records]
    for row, record in zip(published_rows[1:], again[1:], strict=True):
        assert record.uuid == row["uuid"]
        assert record.to_dict()["metadata"] == row["metadata"]
        assert record.url == row["url"] and record.user_name is None
    tool_turns = [m for m in again[0].messages if m["role"] == "tool"]
    assert [m["name"] for m in tool_turns] == ["python", "python"] and "ZeroDivisionError" in tool_turns[1]["content"]


def test_missing_uuid_is_derived_from_problem_and_messages(published_rows):
    row = published_rows[0]
    record = SFTRecord.from_dict(row)
    assert record.uuid == stable_id(row["problem"], row["messages"])
    assert SFTRecord.from_dict(copy.deepcopy(row)).uuid == record.uuid
    changed = copy.deepcopy(row)
    changed["messages"][-1]["content"] = "The answer is 0."
    assert SFTRecord.from_dict(changed).uuid != record.uuid


def test_pass_rates_mode_and_tool(published_rows):
    record = SFTRecord.from_dict(published_rows[3])  # (medium, no tool), n = 6
    assert (record.mode, record.with_tool) == ("medium", False)
    rate = record.pass_rate("low", True)
    assert (rate.count, rate.pass_, rate.to_dict()) == (8, (6 + 4) % 9, {"count": 8, "pass": 1, "accuracy": 1 / 8})
    no_mode_key = copy.deepcopy(published_rows[4])
    del no_mode_key["metadata"]["reasoning_mode"]
    assert SFTRecord.from_dict(no_mode_key).mode == "low"  # from the system turn


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda r: r.pop("messages"), "messages"),
    (lambda r: r.update(expected_answer=42), "expected_answer"),
    (lambda r: r["messages"][2].update(role="robot"), "messages[2].role"),
    (lambda r: r["messages"][1].update(content=None), "messages[1].content"),
    (lambda r: r["messages"][2].update(channel="thoughts"), "messages[2].channel"),
    (lambda r: r["metadata"]["reason_high_no_tool"].update(count="8"), "metadata.reason_high_no_tool.count"),
    (lambda r: r.update(surprise=1), "surprise"),
])
def test_bad_sft_record_names_the_field(published_rows, mutate, field):
    row = copy.deepcopy(published_rows[1])
    mutate(row)
    with pytest.raises(RecordError) as err:
        SFTRecord.from_dict(row)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_trajectory_and_graded_trajectory():
    job_id = Trajectory.make_job_id("p1", "high", True, 3)
    assert job_id == "p1/high/tool/3" and Trajectory.make_job_id("p1", "high", False, 3) != job_id
    messages = [{"role": "user", "content": "1+1?"},
                {"role": "assistant", "content": "print(1+1)", "channel": "commentary", "recipient": "python"},
                {"role": "tool", "content": "2", "name": "python"},
                {"role": "assistant", "content": "\\boxed{2}", "channel": "final"}]
    traj = Trajectory(job_id=job_id, problem_id="p1", problem="1+1?", mode="high", with_tool=True, seed=3,
                      messages=messages)
    assert traj.final_text == "\\boxed{2}"
    graded = GradedTrajectory.from_trajectory(traj, predicted_answer="2", is_correct=True)
    assert GradedTrajectory.from_dict(json.loads(json.dumps(graded.to_dict()))) == graded
    with pytest.raises(RecordError, match="mode"):
        Trajectory.from_dict({**traj.to_dict(), "mode": "extreme"})


def test_problem_validation():
    assert Problem.from_dict({"id": "a", "problem": "x"}).data_source == "unknown"
    with pytest.raises(RecordError, match="^problem: is empty"):
        Problem.from_dict({"id": "a", "problem": "  "})
    with pytest.raises(RecordError, match="^id: required field is missing"):
        Problem.from_dict({"problem": "x"})
    with pytest.raises(RecordError, match="^metadata: expected an object"):
        Problem.from_dict({"id": "a", "problem": "x", "metadata": []})
