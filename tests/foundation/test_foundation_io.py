"""io.py: atomic writes, the exactly-once append log (a real kill -9 included), errors naming file:line:field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from nemo_math.io import (AppendLog, done_keys, done_summary, is_done, iter_dicts, load_records, mark_done,
                          read_json, record_files, write_json, write_records)
from nemo_math.records import Problem, RecordError


def problems(n: int) -> list[Problem]:
    return [Problem(id=f"p{i}", problem=f"What is {i} + {i}?", expected_answer=str(2 * i),
                    metadata={"difficulty": i % 5 + 1} if i % 2 else {}) for i in range(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_problems_round_trip(tmp_path, suffix):
    path = tmp_path / f"problems{suffix}"
    assert write_records(path, problems(5)) == 5
    assert load_records(path, Problem) == problems(5)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_failed_write_leaves_old_file_and_no_temp(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    write_records(path, problems(3))
    before = path.read_bytes()

    def rows():
        yield from problems(2)
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        write_records(path, rows())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

    with pytest.raises(RuntimeError):
        write_records(tmp_path / f"new{suffix}", rows())
    assert not (tmp_path / f"new{suffix}").exists()


def test_append_log_repairs_torn_tail(tmp_path):
    path = tmp_path / "log" / "shard0.jsonl"
    with AppendLog(path) as log:
        for i in range(3):
            log.append({"job_id": f"j{i}", "value": i})
    with open(path, "a") as fh:
        fh.write('{"job_id": "j3", "val')  # a kill mid-write
    assert done_keys(path.parent) == {"j0", "j1", "j2"}
    with AppendLog(path) as log:
        log.append({"job_id": "j4"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["job_id"] for line in lines] == ["j0", "j1", "j2", "j4"]
    with pytest.raises(RecordError, match="shard0.jsonl: job_id: required field is missing"):
        AppendLog(path).append({"value": 1})


def test_append_log_survives_kill_9(tmp_path):
    """A real writer process killed at a random moment: every complete line is a finished job, none is lost."""
    folder = tmp_path / "logs"
    writer = (
        "import sys\nfrom nemo_math.io import AppendLog\n"
        "log = AppendLog(sys.argv[1])\n"
        "for i in range(10**7):\n"
        "    log.append({'job_id': f'job-{i}', 'payload': 'x' * 5000})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(folder / "w0.jsonl")])
    deadline = time.time() + 30
    while (not (folder / "w0.jsonl").exists() or (folder / "w0.jsonl").stat().st_size < 200_000) \
            and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = done_keys(folder)
    assert len(finished) > 10
    AppendLog(folder / "w0.jsonl").close()  # repairs whatever the kill left
    lines = (folder / "w0.jsonl").read_text().splitlines()
    assert [json.loads(line)["job_id"] for line in lines] == [f"job-{i}" for i in range(len(lines))]
    assert {json.loads(line)["job_id"] for line in lines} == finished


def test_bad_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "a", "problem": "1+1"})
    cases = {
        '{"id": "b", "problem": ': "bad.jsonl:2: <line>: invalid JSON",
        '["a list"]': "bad.jsonl:2: <line>: expected a JSON object, got list",
        '{"problem": "2+2"}': "bad.jsonl:2: id: required field is missing",
        '{"id": "b", "problem": 7}': "bad.jsonl:2: problem: expected str, got int",
        '{"id": "b", "problem": "x", "metadata": {}, "colour": 1}': "bad.jsonl:2: colour: unknown field",
    }
    for line, message in cases.items():
        path.write_text(f"{good}\n{line}\n")
        with pytest.raises(RecordError) as err:
            load_records(path, Problem)
        assert str(err.value).startswith(f"{path.parent}/{message}"), str(err.value)
        assert err.value.line == 2


def test_bad_parquet_row_names_row(tmp_path):
    path = tmp_path / "bad.parquet"
    write_records(path, [{"id": "a", "problem": "x"}, {"id": "b", "problem": None}])
    with pytest.raises(RecordError, match=r"bad.parquet:2: problem: expected str, got NoneType"):
        load_records(path, Problem)


def test_folders_shards_and_markers(tmp_path):
    write_records(tmp_path / "b-00001.jsonl", problems(2)[1:])
    write_records(tmp_path / "a-00000.parquet", problems(1))
    (tmp_path / "notes.txt").write_text("not records")
    (tmp_path / ".hidden.jsonl").write_text("{broken")
    assert [p.name for p in record_files(tmp_path)] == ["a-00000.parquet", "b-00001.jsonl"]
    assert [(line, d["id"]) for _, line, d in iter_dicts(tmp_path)] == [(1, "p0"), (1, "p1")]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        record_files(tmp_path / "missing.jsonl")

    assert not is_done(tmp_path)
    mark_done(tmp_path, {"count": 2})
    assert is_done(tmp_path) and done_summary(tmp_path) == {"count": 2}
    write_json(tmp_path / "x.json", {"a": [1]})
    assert read_json(tmp_path / "x.json") == {"a": [1]}
    (tmp_path / "y.json").write_text('{"a":\n oops}')
    with pytest.raises(RecordError, match=r"y.json:2: <file>: invalid JSON"):
        read_json(tmp_path / "y.json")
