"""The scripted teacher on its own: deterministic traces, generic traces for unknown problems."""

from __future__ import annotations

from nemo_math.generation.harmony import initial_messages, message
from nemo_math.generation.scripted import ScriptedTeacher
from nemo_math.problems.synthetic import generate


def test_unknown_problem_gets_a_generic_tool_trace_answering_from_the_tool():
    teacher = ScriptedTeacher()
    messages = initial_messages("Prove that the sky is blue.", "medium", True)
    first = teacher.next_turn(messages, seed=4)
    assert first == teacher.next_turn(messages, seed=4)
    assert first[-1]["recipient"] == "python" and "print(sum(range(" in first[-1]["content"]
    final = teacher.next_turn(messages + first + [message("tool", "45\n", "analysis", None, "python")], seed=4)
    assert final[-1]["channel"] == "final" and final[-1]["content"].endswith("\\boxed{45}")


def test_tool_errors_fall_back_to_head_answer_and_modes_set_length():
    problem = generate(1, seed=5)[0]
    teacher = ScriptedTeacher([problem])
    messages = initial_messages(problem.problem, "low", True)
    call = teacher.next_turn(messages, seed=0)
    assert problem.metadata["python"] in call[-1]["content"]
    error = message("tool", "Traceback (most recent call last):\nZeroDivisionError\n", "analysis", None, "python")
    final = teacher.next_turn(messages + call + [error], seed=0)
    assert final[-1]["channel"] == "final" and "\\boxed{" in final[-1]["content"]
    words = {mode: len(teacher.next_turn(initial_messages(problem.problem, mode, False), 0)[0]["content"].split())
             for mode in ("high", "medium", "low")}
    assert words["high"] > words["medium"] > words["low"]
