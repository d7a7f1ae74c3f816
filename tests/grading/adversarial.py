"""Adversarial inputs for the grader (issue 16): huge numbers, towers, deep nesting, unclosed groups, junk.

Each entry is ``(solution text, reference, may_be_equal)``: the grader must return a verdict for every one
within its deadline, and never ``equal`` where ``may_be_equal`` is false. Shared by the tests and
``benchmarks/grading.py``.
"""

from __future__ import annotations


def adversarial_cases() -> list[tuple[str, str, bool]]:
    big = "7" * 5000
    cases = [
        (f"\\boxed{{{big}}}", big, True),
        (f"\\boxed{{{big}}}", "7" * 4999 + "8", False),
        (f"\\boxed{{{'1' * 100_000}}}", "1" * 100_001, False),
        ("\\boxed{(x+1)^{99999}}", "(x+1)^{99998}", False),
        ("\\boxed{(a+b+c+d)^{60}}", "(a+b+c+d)^{59}", False),
        ("\\boxed{10^{10^{10^{10}}}}", "10^{10^{10^{11}}}", False),
        ("\\boxed{9^{9^{9^{9}}}}", "5", False),
        ("\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "2", False),
        ("\\boxed{100000!}", "5", False),
        ("\\boxed{\\binom{10^9}{5 \\cdot 10^8}}", "5", False),
        ("\\boxed{\\prod_{k=1}^{10^{9}} k}", "5", False),
        ("\\boxed{\\sum_{k=1}^{10^{12}} k^{k}}", "5", False),
        ("\\boxed{\\int_0^1 x^{1000000} \\sin(x) dx}", "0", False),
        ("\\boxed{\\sin(10^{100})}", "0", False),
        ("\\boxed{e^{i\\pi}+1}", "1", False),
        ("\\boxed{x^{x^{x^{x^{x}}}}}", "x^{x^{x^{x}}}", False),
        ("\\boxed{10^{-99999}}", "0", False),
        ("\\boxed{1e99999}", "1", False),
        ("\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}", "2", False),
        ("\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}", "2", False),
        ("\\boxed{" + "\\frac{1}{" * 400 + "2" + "}" * 400 + "}", "1", False),
        ("\\boxed{" + "\\sqrt{" * 1000 + "2" + "}" * 1000 + "}", "3", False),
        ("\\boxed{" + "+".join(["1"] * 20000) + "}", "19999", False),
        ("\\boxed{" + "x=" * 2000 + "1}", "1", True),
        ("\\boxed{\\begin{pmatrix}" + "\\\\".join(["&".join(["1"] * 60)] * 60) + "\\end{pmatrix}}", "1", False),
        ("\\boxed{" * 20_000, "1", False),
        ("\\boxed{" * 20_000 + "\\boxed{2}", "3", False),
        ("\\boxed{\\begin{pmatrix}}", "1", False),
        ("\\boxed{\\left(}", "1", False),
        ("\\boxed{" + "\\\\" * 1000 + "}", "1", False),
        ("\\boxed{" + "$" * 1001 + "}", "1", False),
        ("\\boxed{\x00\x01\x02}", "1", False),
        ("\\boxed{\u202e\u200b💥}", "1", False),
        ("\\boxed{\\infty}", "-\\infty", False),
        ("\\boxed{\\text{undefined}}", "0", False),
        ("\\boxed{nan}", "nan", True),
        ("\\boxed{1/0}", "\\infty", True),
        ("\\boxed{0/0}", "1", False),
        ("\\boxed{%&#}", "1", False),
        ("\\boxed{ }", "1", False),
        ("word " * 200_000, "1", False),
        ("\\boxed{\\frac{\\frac{\\frac{1}{x}}{y}}{z}^{1000}}", "(xyz)^{-1000}", True),
        ("\\boxed{a+3z=0}", "0", False),
        ("\\boxed{0}", "a+3z=0", False),
        ("\\boxed{x^2+y^2=25}", "25", False),
    ]
    return cases
