"""No input crashes or hangs the grader: every adversarial case gets a verdict within the grader's own deadline,
from a thread that is not the main one, and no wrong answer is marked right."""

from __future__ import annotations

import threading

import pytest
from adversarial import adversarial_cases

from nemo_math.grading.equivalence import Verdict, compare_many
from nemo_math.grading.extract import extract_answer


@pytest.mark.slow
def test_every_adversarial_case_gets_a_verdict_off_the_main_thread():
    cases = adversarial_cases()
    assert len(cases) >= 40
    out: dict[str, list] = {}

    def grade():
        pairs = [(extract_answer(text) or text, ref) for text, ref, _ in cases]
        out["verdicts"] = compare_many(pairs, timeout_s=2.0)

    worker = threading.Thread(target=grade)
    worker.start()
    worker.join(timeout=600)  # a safety net far above the deadlines, not a timing assertion
    assert not worker.is_alive()
    verdicts = out["verdicts"]
    assert len(verdicts) == len(cases) and all(isinstance(v, Verdict) for v in verdicts)
    wrong = [(text[:60], ref[:60]) for (text, ref, may_be_equal), v in zip(cases, verdicts, strict=True)
             if v is Verdict.EQUAL and not may_be_equal]
    assert not wrong
    assert Verdict.ERROR not in verdicts
