"""The LLM steps of extraction, run per candidate question: extract the problem, classify it, extract the final
answer of each solution post, and check the answers agree. Only problems classified ``final_answer`` with an
agreed answer are kept, as in the paper. Every step's prompt, model, raw reply and parsed output is returned
for the audit log; prompts are files in ``prompts/``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from nemo_math.records import Problem

PROMPTS = Path(__file__).with_name("prompts")
CLASSES = ("proof", "multiple_choice", "yes_no", "invalid", "final_answer")


@cache
def prompt_template(step: str) -> str:
    return (PROMPTS / f"{step}.txt").read_text()


def render(step: str, **values: str) -> str:
    """The step's prompt with ``{{name}}`` filled in (LaTeX braces in the values are left alone)."""
    text = prompt_template(step)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise KeyError(f"prompts/{step}.txt: unfilled placeholder in {text[text.index('{{'):][:30]!r}")
    return text


def _field(reply: str, tag: str) -> str | None:
    match = re.search(rf"^{tag}:[ \t]*(.*)", reply, re.M | re.S)
    return match.group(1).strip() if match else None


def parse(step: str, reply: str) -> Any:
    """The parsed output of a step's reply, or None when the reply does not follow the format."""
    if step == "extract_problem":
        if reply.strip().upper().startswith("NO PROBLEM"):
            return ""
        return _field(reply, "PROBLEM")
    if step == "classify":
        label = (_field(reply, "CLASS") or "").split()[:1]
        return label[0].lower() if label and label[0].lower() in CLASSES else None
    if step == "extract_answer":
        answer = _field(reply, "ANSWER")
        return None if answer is None else ("" if answer.lower() == "none" else answer)
    if step == "agreement":
        agreed = (re.search(r"^AGREED:\s*(yes|no)", reply, re.M | re.I) or [None, None])[1]
        answer = (re.search(r"^ANSWER:[ \t]*(.*)$", reply, re.M) or [None, None])[1]
        if agreed is None or answer is None:
            return None
        return answer.strip() if agreed.lower() == "yes" and answer.strip().lower() != "none" else ""
    raise ValueError(f"unknown step {step!r}")


async def run_step(client, step: str, settings: dict[str, Any], audit: list, **values: str) -> Any:
    prompt = render(step, **values)
    out = await client.chat([{"role": "user", "content": prompt}], **settings)
    parsed = parse(step, out.text)
    audit.append({"step": step, "prompt": prompt, "model": client.cfg.model, "reply": out.text,
                  "parsed": parsed})
    return parsed


async def extract_one(candidate: dict[str, Any], client, settings: dict[str, Any]) -> dict[str, Any]:
    """One candidate through every step: ``{job_id, kept, reason, problem, steps}``."""
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {"job_id": candidate["id"], "kept": False, "reason": None, "problem": None,
                              "steps": steps}
    problem = await run_step(client, "extract_problem", settings, steps, post=candidate["question"])
    if not problem:
        result["reason"] = "no_problem" if problem == "" else "unparsable_extract_problem"
        return result
    label = await run_step(client, "classify", settings, steps, problem=problem)
    if label != "final_answer":
        result["reason"] = label or "unparsable_classify"
        return result
    answers = []
    for post in candidate["answers"]:
        answer = await run_step(client, "extract_answer", settings, steps, problem=problem, solution=post["text"])
        if answer:
            answers.append(answer)
    if not answers:
        result["reason"] = "no_answer"
        return result
    final = answers[0]
    if len(answers) > 1:
        final = await run_step(client, "agreement", settings, steps, problem=problem, answers="\n".join(answers))
        if not final:
            result["reason"] = "disagreement" if final == "" else "unparsable_agreement"
            return result
    result.update(kept=True, problem=Problem(
        id=candidate["id"], problem=problem, expected_answer=final, data_source=candidate["data_source"],
        url=candidate["url"], user_url=candidate["user_url"], user_name=candidate["user_name"],
        license=candidate["license"], metadata={**candidate["metadata"], "num_solution_posts": len(answers)},
    ).to_dict())
    return result
