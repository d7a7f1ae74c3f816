"""The grading pool: chunks spread over workers give the verdicts grading in the caller gives; a sympy call past
its deadline is cut (from any thread) without losing the rest of its chunk; no worker outlives a killed parent."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_grading_upstream import _answer, _rows

from nemo_math.grading import pool
from nemo_math.grading.equivalence import _IN_CALLER, Verdict, compare_many, grade_chunk, grade_solutions

HOPELESS = ("(x+1)^{99999}", "(x+1)^{99998}")  # expanding both sides takes minutes
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_workers():
    pool.set_workers(2)
    yield
    pool.set_workers(0)


def _upstream_pairs() -> list[tuple[str | None, str | None]]:
    pairs = [(_answer(r["a"]), _answer(r["b"])) for r in _rows("nemo_skills_math_equal.jsonl")]
    rows = [r for r in _rows("math_verify_pairs.jsonl")  # the rows test_grading_upstream grades
            if r.get("options", {}).get("strict", True) and r.get("options", {}).get("allow_set_relation_comp", True)]
    return pairs + [(_answer(r["pred"]), _answer(r["gold"])) for r in rows]


@pytest.mark.slow
def test_the_workers_give_the_verdicts_of_grading_in_the_caller_on_the_upstream_sets(two_workers):
    pairs = _upstream_pairs()
    here = grade_chunk(pairs)  # no deadline: every upstream pair is graded well within one
    assert len(pairs) > 2 * _IN_CALLER and Verdict.EQUAL in here and Verdict.UNEQUAL in here
    assert compare_many(pairs, timeout_s=60.0) == here  # in chunks over both workers


@pytest.mark.slow
def test_the_workers_extract_and_grade_solutions_as_the_caller_would(two_workers):
    items = [(r["pred"], _answer(r["gold"])) for r in _rows("math_verify_pairs.jsonl")]
    here = grade_chunk(items, relaxed=False)  # (extracted answer, verdict) each
    assert len(items) > 2 * _IN_CALLER and {a for a, _ in here} > {None}
    assert grade_solutions(items, timeout_s=60.0) == here
    assert grade_solutions(items[:10], timeout_s=60.0) == here[:10]  # a small batch: extracted here


def test_a_hopeless_pair_in_a_chunk_times_out_alone_off_the_main_thread(two_workers):
    pairs = [(f"\\frac{{{2 * i}}}{{{2 * i + 2}}}", f"\\frac{{{i}}}{{{i + 1}}}") for i in range(1, 80)]
    pairs += [(f"{i}.5", f"\\frac{{{2 * i + 1}}}{{2}}") for i in range(40)]  # decimals: sympy, after the cut
    pairs.insert(60, HOPELESS)
    solutions = [(f"so $\\boxed{{{pred}}}$", ref) for pred, ref in pairs]
    out = {}

    def grade():
        out["batch"] = compare_many(pairs, timeout_s=1.0)
        out["solutions"] = grade_solutions(solutions, timeout_s=1.0)
        out["after"] = compare_many([("(7, 9)", "7 < y < 9"), HOPELESS[::-1]] * 40, timeout_s=1.0)

    thread = threading.Thread(target=grade)
    thread.start()
    thread.join(timeout=600)  # a safety net far above the 1 s deadlines, not a timing assertion
    assert not thread.is_alive()
    assert out["batch"] == [Verdict.EQUAL] * 60 + [Verdict.TIMEOUT] + [Verdict.EQUAL] * 59
    assert out["solutions"] == list(zip([pred for pred, _ in pairs], out["batch"], strict=True))
    assert out["after"] == [Verdict.EQUAL, Verdict.TIMEOUT] * 40  # repeats are graded once
    assert len(pool.worker_pids()) == 2


_ORPHAN_SCRIPT = """
import sys, threading, time
from nemo_math.grading import pool
from nemo_math.grading.equivalence import STATS, compare_many
pool.set_workers(2)
threading.Thread(target=compare_many, args=([{hopeless!r}],), kwargs={{"timeout_s": None}}, daemon=True).start()
while not STATS["sympy"]:  # until a worker has started the hopeless call
    time.sleep(0.01)
print("busy", flush=True)
threading.Event().wait()
"""


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def test_killing_the_grading_process_leaves_no_worker():
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT.format(hopeless=HOPELESS)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "busy\n"
        pids = _descendants(parent.pid)
        assert len(pids) >= 3  # the forkserver and two workers, one of them busy
        pidfds = [os.pidfd_open(pid) for pid in pids]
    finally:
        parent.kill()
        parent.wait()
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    alive = set(pidfds)
    while alive:  # a pidfd reads ready when its process has exited
        ready = poller.poll(120_000)  # a safety net, not a timing assertion
        assert ready, f"still running after the parent was killed: {json.dumps(pids)}"
        for fd, _ in ready:
            poller.unregister(fd)
            alive.discard(fd)
            os.close(fd)
