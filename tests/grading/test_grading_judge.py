"""The LLM judge against a real OpenAI-compatible HTTP server on 127.0.0.1 (generation's test server), whose
backend compares the two answers in the prompt itself and knows number words, which sympy does not."""

from __future__ import annotations

import re

import pytest

from nemo_math.generation.config import ClientConfig
from nemo_math.generation.server import Faults, Reply, ServerThread, make_app
from nemo_math.grading.config import JudgeConfig
from nemo_math.grading.judge import JudgeRequest, judge, parse_judgement
from nemo_math.grading.verdict import add_judgements, grade_symbolic
from nemo_math.records import Trajectory

WORDS = {"two": "2", "three": "3", "seven": "7"}


class WordJudge:
    """Says Yes when the answers match after spelling number words as digits."""

    def __init__(self):
        self.prompts: list[str] = []

    async def chat(self, body):
        prompt = body["messages"][-1]["content"]
        self.prompts.append(prompt)
        pred = re.search(r"^Predicted answer: (.*)$", prompt, re.MULTILINE).group(1)
        ref = re.search(r"^Reference answer: (.*)$", prompt, re.MULTILINE).group(1)

        def canon(s):
            s = re.sub(r"\\text\{(.*?)\}", r"\1", s).strip().lower()
            return WORDS.get(s, s)

        verdict = "Yes" if canon(pred) == canon(ref) else "No"
        return Reply("stop", 50, 10, messages=[{"role": "assistant", "content": f"Compared.\nJudgement: {verdict}",
                                                "channel": "final", "recipient": None, "name": None}])


@pytest.mark.parametrize(("text", "verdict"), [
    ("They agree.\nJudgement: Yes", True), ("Judgment: no", False), ("judgement: YES.", True),
    ("Judgement: No ... wait, Judgement: Yes", True), ("yes", True), ("I cannot tell", None), ("", None),
])
def test_parse_judgement(text, verdict):
    assert parse_judgement(text) is verdict


def _trajectory(i: int, answer: str, reference: str) -> Trajectory:
    return Trajectory(job_id=f"p{i}/high/notool/0", problem_id=f"p{i}", problem=f"Problem {i}?", mode="high",
                      with_tool=False, seed=0, expected_answer=reference,
                      messages=[{"role": "user", "content": "?", "channel": None, "recipient": None, "name": None},
                                {"role": "assistant", "content": f"\\boxed{{{answer}}}", "channel": "final",
                                 "recipient": None, "name": None}])


def test_judge_fills_in_where_sympy_says_no_and_resumes_without_asking_again(tmp_path):
    backend = WordJudge()
    cases = [("\\text{two}", "2", True), ("3", "2", False), ("2", "2", True), ("\\text{seven}", "7", True)]
    trajectories = [_trajectory(i, a, r) for i, (a, r, _) in enumerate(cases)]
    with ServerThread(make_app(backend, "judge", Faults(["500", "429"]))) as url:
        cfg = JudgeConfig(mode="fallback", client=ClientConfig(base_urls=[url], model="judge", max_in_flight=4,
                                                                max_retries=3, backoff_initial_s=0.01))
        graded = [grade_symbolic(t, t.final_text.removeprefix("\\boxed{")[:-1], t.expected_answer, 5.0)
                  for t in trajectories]
        assert add_judgements(graded, cfg, tmp_path / "judge") == 0
        assert [g.is_correct for g in graded] == [c for _, _, c in cases]
        assert graded[2].judgement is None and graded[2].symbolic_correct  # sympy settled it: not asked
        assert graded[0].judge_correct is True and "Judgement: Yes" in graded[0].judgement
        assert len(backend.prompts) == 3
        assert any("Predicted answer: \\text{two}\n\nReference answer: 2" in p for p in backend.prompts)

        again = [grade_symbolic(t, g.predicted_answer, t.expected_answer, 5.0)
                 for t, g in zip(trajectories, graded, strict=True)]
        assert add_judgements(again, cfg, tmp_path / "judge") == 0
        assert len(backend.prompts) == 3  # every judgement came from the log
        assert [g.is_correct for g in again] == [c for _, _, c in cases]

        # a new reference is a new question: judged again
        changed = [JudgeRequest("Problem 1?", "3", "\\text{three}")]
        assert judge(changed, cfg, tmp_path / "judge") == {changed[0].id: (True, "Compared.\nJudgement: Yes")}
        assert len(backend.prompts) == 4


def test_judge_mode_all_asks_for_every_answered_pair(tmp_path):
    backend = WordJudge()
    trajectories = [_trajectory(0, "2", "2"), _trajectory(1, "5", "4")]
    with ServerThread(make_app(backend, "judge")) as url:
        cfg = JudgeConfig(mode="all", client=ClientConfig(base_urls=[url], model="judge", max_in_flight=2))
        graded = [grade_symbolic(t, a, t.expected_answer, 5.0) for t, a in zip(trajectories, ["2", "5"], strict=True)]
        add_judgements(graded, cfg, tmp_path)
    assert len(backend.prompts) == 2
    assert [g.judge_correct for g in graded] == [True, False]
