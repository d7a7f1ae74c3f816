"""Config of the generation stage (``nemo-math generate``) and of the OpenAI-compatible client it shares."""

from dataclasses import dataclass, field


@dataclass
class ClientConfig:
    base_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000/v1"])
    model: str = "gpt-oss-120b"
    api_key: str = "EMPTY"
    max_in_flight: int = 512
    request_timeout_s: float = 3600.0
    max_retries: int = 8


@dataclass
class GenerateConfig:
    input: str = "${problems.output_dir}"
    output_dir: str = "${run_dir}/generate"
    num_samples: int = 8
    modes: list[str] = field(default_factory=lambda: ["high", "medium", "low"])
    tools: list[bool] = field(default_factory=lambda: [True, False])
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 120000
    max_code_executions: int = 100
    client: ClientConfig = field(default_factory=ClientConfig)
