"""Grading: final-answer extraction, symbolic equivalence and the LLM judge.

``extract_answer``, ``compare``/``compare_many`` (a :class:`Verdict` each, graded by a pool of worker
processes with per-call sympy deadlines), ``grade_solutions`` (extraction too) and ``is_equivalent`` are the
public API (evaluation reuses them), with the judge (``judge(requests, JudgeConfig, log_dir)`` over
``JudgeRequest``s). They are loaded on first use so that importing the package (and the config tree) stays free
of sympy and math_verify.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "extract_answer": "nemo_math.grading.extract",
    "is_equivalent": "nemo_math.grading.equivalence",
    "compare": "nemo_math.grading.equivalence",
    "compare_many": "nemo_math.grading.equivalence",
    "grade_solutions": "nemo_math.grading.equivalence",
    "Verdict": "nemo_math.grading.equivalence",
    "normalize_answer": "nemo_math.grading.normalize",
    "JudgeRequest": "nemo_math.grading.judge",
    "judge": "nemo_math.grading.judge",
    "parse_judgement": "nemo_math.grading.judge",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
