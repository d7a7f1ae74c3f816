"""Config of the grading stage (``nemo-math grade``) and of the LLM judge that curation reuses."""

from dataclasses import dataclass, field

from nemo_math.generation.config import ClientConfig


def _judge_client() -> ClientConfig:
    return ClientConfig(model="Qwen2.5-32B-Instruct", base_urls=["http://127.0.0.1:8001/v1"], max_in_flight=256,
                        request_timeout_s=600.0)


@dataclass
class JudgeConfig:
    """The paper judges answers with Qwen2.5-32B-Instruct; we ask it only where sympy says no by default."""

    mode: str = "none"  # none | fallback (only pairs sympy finds unequal) | all (every pair with both answers)
    client: ClientConfig = field(default_factory=_judge_client)
    max_tokens: int = 2048
    temperature: float = 0.0


@dataclass
class GradeConfig:
    input: str = "${generate.output_dir}"
    output_dir: str = "${run_dir}/grade"
    relaxed_extraction: bool = False  # also accept "the final answer is X" when nothing is boxed
    timeout_s: float = 5.0  # deadline of one sympy comparison; past it the worker is killed (verdict "timeout")
    workers: int = 0  # processes grading in parallel (extraction, normal forms, sympy); 0: one per available core
    judge: JudgeConfig = field(default_factory=JudgeConfig)
