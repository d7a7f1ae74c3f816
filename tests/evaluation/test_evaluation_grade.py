"""Evaluation grading: symbolic for every benchmark, the LLM judge (a real HTTP server) for judge benchmarks."""

import re

from nemo_math.config import load_config
from nemo_math.evaluation.grade import grade
from nemo_math.evaluation.metrics import compute_metrics
from nemo_math.generation.server import Reply, ServerThread, make_app
from nemo_math.records import Trajectory


class PickyJudge:
    """Says yes only to answers spelled out in words, and counts the questions it is asked."""

    def __init__(self):
        self.asked = 0

    async def chat(self, body):
        self.asked += 1
        predicted = re.search(r"Predicted answer: (.*)", body["messages"][-1]["content"]).group(1)
        verdict = "Yes" if "half" in predicted else "No"
        return Reply("stop", 10, 5, messages=[{"role": "assistant", "content": f"Judgement: {verdict}",
                                               "channel": "final", "recipient": None, "name": None}])


def _trajectory(benchmark, seed, final):
    messages = [{"role": "assistant", "content": final, "channel": "final", "recipient": None, "name": None}]
    return Trajectory(job_id=Trajectory.make_job_id("p", "high", False, seed), problem_id="p",
                      problem="Half of one?", mode="high", with_tool=False, seed=seed, messages=messages,
                      expected_answer="1/2", data_source=benchmark)


def test_symbolic_and_judge_verdicts(tmp_path):
    judge = PickyJudge()
    finals = ["so \\boxed{0.5}", "\\boxed{\\text{one half}}", "no idea", "again \\boxed{\\text{one half}}"]
    with ServerThread(make_app(judge, "judge")) as url:
        cfg = load_config([], [f"run_dir={tmp_path}", "evaluate.judge_benchmarks=[hle]",
                               f"grade.judge.client.base_urls=[{url}]"])
        trajectories = ([_trajectory("hle", i, f) for i, f in enumerate(finals)]
                        + [_trajectory("aime", i, f) for i, f in enumerate(finals)])
        graded = grade(cfg, trajectories)
        assert judge.asked == 2  # the answerless sample is not sent, a repeated answer is asked once
        again = grade(cfg, trajectories)  # judgements are logged: a rerun asks nothing
        assert judge.asked == 2
    assert [g.to_dict() for g in again] == [g.to_dict() for g in graded]
    hle = {g.seed: g for g in graded if g.data_source == "hle"}
    assert [hle[i].symbolic_correct for i in range(4)] == [True, False, False, False]
    assert [hle[i].judge_correct for i in range(4)] == [False, True, False, True]
    assert [hle[i].is_correct for i in range(4)] == [False, True, False, True]  # the judge decides on HLE
    assert hle[2].predicted_answer is None
    aime = [g for g in graded if g.data_source == "aime"]
    assert [g.is_correct for g in aime] == [True, False, False, False]
    assert all(g.judge_correct is None for g in aime)

    rows = {r["benchmark"]: r for r in compute_metrics(graded)}
    assert set(rows["hle"]) >= {"symbolic", "judge", "both", "any"} and "judge" not in rows["aime"]
    assert rows["hle"]["any"]["pass@1"] == 3 / 4 and rows["hle"]["both"]["pass@1"] == 0
