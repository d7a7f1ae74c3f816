"""Config of evaluation (``nemo-math evaluate``).

Generation settings mirror ``generate`` (same client, TIR loop and job runner); the defaults follow the paper:
16 samples per problem at temperature 1.0, top-p 1.0, every reasoning mode, with and without Python.
"""

from dataclasses import dataclass, field

from nemo_math.generation.config import ClientConfig, LocalServerConfig


def _student_client() -> ClientConfig:
    return ClientConfig(model="student")


def _student_server() -> LocalServerConfig:
    return LocalServerConfig(model_path="${evaluate.model}", problems=None)


@dataclass
class EvaluateConfig:
    model: str = "${convert.output_dir}"  # the student's HF folder (served by local_server, or by your server)
    model_name: str = "student"  # the model's name in the report
    output_dir: str = "${run_dir}/evaluate"
    benchmarks: list[str] = field(default_factory=lambda: ["aime24", "aime25"])  # NAME[:SUBSET], file, HF id
    judge_benchmarks: list[str] = field(default_factory=lambda: ["hle-math"])  # graded by the LLM judge too
    max_problems: int | None = None  # first N problems of each benchmark (tiny runs)
    num_samples: int = 16
    modes: list[str] = field(default_factory=lambda: ["high", "medium", "low"])
    tools: list[bool] = field(default_factory=lambda: [True, False])
    transport: str = "completions"  # completions: harmony text, as the student was trained | chat
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 120000
    max_code_executions: int = 100
    max_wall_time_s: float | None = None
    client: ClientConfig = field(default_factory=_student_client)
    # a server started for the run (backend hf | vllm | sglang | transformers, see generate.local_server)
    local_server: LocalServerConfig = field(default_factory=_student_server)
    collapse_min_separation: float = 0.75  # flag a mode whose length separation from high falls below this
    length_percentiles: list[int] = field(default_factory=lambda: [50, 90, 99])
