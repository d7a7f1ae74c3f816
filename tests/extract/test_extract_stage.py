"""``nemo-math extract`` end to end on the shipped fixtures (a StackExchange ``Posts.xml`` + ``Users.xml`` and
AoPS threads) with the scripted teacher over real HTTP; bad input; and a kill -9 mid-stage that resumes with
nothing lost or duplicated."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemo_math import cli
from nemo_math.config import DATA_DIR
from nemo_math.extract.stage import HANG_AFTER_ENV
from nemo_math.io import is_done
from nemo_math.records import RecordError

FIXTURES = DATA_DIR / "extract"
SOURCES = [f"extract.sources=[{{path: {FIXTURES}/math.stackexchange.com/Posts.xml, kind: stackexchange}},"
           f"{{path: {FIXTURES}/aops_threads.jsonl, kind: aops}}]", "extract.local_server.backend=scripted"]


def run_extract(run_dir: Path, *extra: str) -> int:
    return cli.main(["extract", "--quiet", f"run_dir={run_dir}", *SOURCES, *extra])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_extract_on_fixtures(tmp_path: Path):
    assert run_extract(tmp_path) == 0
    out = tmp_path / "extract"
    assert is_done(out)
    problems = {p["id"]: p for p in lines(out / "problems.jsonl")}
    assert len(problems) == 96  # enough for every ratio of recipes/mix_sweep.py on the tiny preset
    assert {"math.stackexchange.com/1", "math.stackexchange.com/8", "aops/5001", "aops/5006"} <= set(problems)
    se = problems["math.stackexchange.com/1"]
    assert se["expected_answer"] == "28" and se["data_source"] == "StackExchange-Math"
    assert se["problem"].endswith("such that $n^2 < 50$.")  # HTML entities decoded twice, math kept
    assert (se["url"], se["user_url"], se["user_name"], se["license"]) == (
        "https://math.stackexchange.com/questions/1", "https://math.stackexchange.com/users/10", "Alice Euler",
        "CC BY-SA 2.5")
    assert "$$\\int_0^1 x^2\\,dx$$" in problems["math.stackexchange.com/8"]["problem"]  # MathJax script
    assert problems["math.stackexchange.com/8"]["expected_answer"] == "\\frac{1}{3}"
    aops = problems["aops/5001"]
    assert (aops["data_source"], aops["expected_answer"], aops["user_name"], aops["url"]) == (
        "AoPS", "7", "mathfan", "https://artofproblemsolving.com/community/c3h5001")
    deleted_owner = problems["math.stackexchange.com/27"]  # OwnerDisplayName only: no user page
    assert (deleted_owner["user_name"], deleted_owner["user_url"]) == ("user31004", None)
    assert problems["aops/5013"]["expected_answer"] == "\\dfrac{5}{16}"  # agreed with \frac{5}{16}
    assert problems["math.stackexchange.com/114"]["metadata"]["num_solution_posts"] == 1  # score -3 answer ignored

    report = json.loads((out / "report.json").read_text())
    assert report["prefilter"]["counts"] == {"read": 123, "kept": 116, "image": 2, "not_english": 2, "duplicate": 2,
                                             "too_short": 1, "no_solution_posts": 2, "candidates": 114}
    assert report["llm"]["dropped"] == {"proof": 4, "multiple_choice": 2, "yes_no": 2, "invalid": 2, "no_problem": 3,
                                        "no_answer": 2, "disagreement": 3}
    assert report["kept_by_source"] == {"AoPS": 47, "StackExchange-Math": 49}
    # every step is kept for audit: prompt, model, reply, parsed output
    audit = {row["job_id"]: row for f in out.glob("audit-*.jsonl") for row in lines(f)}
    steps = audit["math.stackexchange.com/8"]["steps"]
    assert [s["step"] for s in steps] == ["extract_problem", "classify", "extract_answer", "extract_answer",
                                          "agreement"]
    assert all(s["prompt"] and s["reply"] and s["model"] for s in steps)
    assert audit["math.stackexchange.com/13"]["reason"] == "disagreement"  # 24 vs 20


def test_extract_output_feeds_problems(tmp_path: Path):
    assert run_extract(tmp_path) == 0
    rc = cli.main(["problems", "--quiet", f"run_dir={tmp_path}", "problems.decontaminate.enabled=false",
                   f"problems.sources=[{{path: {tmp_path}/extract/problems.jsonl, name: extracted}}]"])
    assert rc == 0
    out = lines(tmp_path / "problems" / "problems.jsonl")
    assert len(out) == 96 and {p["user_name"] for p in out} >= {"Alice Euler", "mathfan"}


def test_bad_posts_xml_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "Posts.xml"
    bad.write_text('<?xml version="1.0"?>\n<posts>\n  <row Id="1" PostTypeId="1" Body="x"\n</posts>\n')
    from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
    from nemo_math.extract.readers import Prefilter, read_source

    with pytest.raises(RecordError, match=rf"{bad}:\d+: <xml>"):
        list(read_source(ForumSourceConfig(path=str(bad)), Prefilter(PrefilterConfig())))
    threads = tmp_path / "t.jsonl"
    threads.write_text('{"topic_id": 1, "posts": []}\n')
    with pytest.raises(RecordError, match=rf"{threads}:1: posts"):
        list(read_source(ForumSourceConfig(path=str(threads), kind="aops"), Prefilter(PrefilterConfig())))


@pytest.mark.parametrize("bad_row, error", [('<row Id="x" PostTypeId="1" Body="y" />', "Id: missing or not an integer"),
                                            ('<row Id="9" Body="&nbsp;" />', "<xml>: Entity 'nbsp' not defined")])
def test_bad_row_past_the_first_parser_block_names_its_line(tmp_path: Path, bad_row: str, error: str):
    """The reader keeps only attributes, a parser block at a time: a bad row far into the file is still named."""
    rows = [f'  <row Id="{i}" PostTypeId="2" ParentId="1" Body="{"x" * 100}" />' for i in range(1, 1001)]
    rows[700] = "  " + bad_row  # about 100 KB in: the fourth block; line 3 holds rows[0]
    bad = tmp_path / "Posts.xml"
    bad.write_text('<?xml version="1.0"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n")
    from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
    from nemo_math.extract.readers import READ_BYTES, Prefilter, read_source

    assert bad.read_text().index(bad_row) > 3 * READ_BYTES
    with pytest.raises(RecordError, match=rf"^{re.escape(str(bad))}:703: {re.escape(error)}"):
        list(read_source(ForumSourceConfig(path=str(bad)), Prefilter(PrefilterConfig())))

@pytest.mark.slow
def test_kill_9_mid_stage_resumes_exactly_once(tmp_path: Path):
    reference = tmp_path / "reference"
    assert run_extract(reference) == 0
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "nemo_math.cli", "extract", "--quiet", f"run_dir={run_dir}", *SOURCES,
            "extract.client.max_in_flight=1"]
    marker = run_dir / "extract" / ".hang-after-4"
    proc = subprocess.Popen(args, env={**os.environ, HANG_AFTER_ENV: "4"})
    try:
        while not marker.exists():  # the stage signals: 4 jobs on disk, the 5th in flight
            assert proc.poll() is None, "the stage exited before it was killed"
            time.sleep(0.05)  # throttles the poll; the sync is on the marker file
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    out = run_dir / "extract"
    assert not is_done(out)
    assert len([row for f in out.glob("audit-*.jsonl") for row in lines(f)]) == 4
    assert run_extract(run_dir) == 0
    ids = [row["job_id"] for f in out.glob("audit-*.jsonl") for row in lines(f)]
    assert len(ids) == len(set(ids)) == 114
    assert (out / "problems.jsonl").read_text() == (reference / "extract" / "problems.jsonl").read_text()
