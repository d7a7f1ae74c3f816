"""Config of the generation stage (``nemo-math generate``) and of the OpenAI-compatible client it shares."""

from dataclasses import dataclass, field


@dataclass
class ClientConfig:
    base_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000/v1"])
    model: str = "gpt-oss-120b"
    api_key: str = "EMPTY"
    max_in_flight: int = 512  # requests in flight at once, across all servers
    request_timeout_s: float = 3600.0  # one request (a 120K-token completion can take long)
    max_retries: int = 8  # per request, on 429/5xx/timeouts/disconnects/malformed answers
    backoff_initial_s: float = 1.0  # first retry waits up to this, doubling each time
    backoff_max_s: float = 60.0


@dataclass
class LocalServerConfig:
    """A model server the stage starts itself on 127.0.0.1 (no cluster needed); ``backend: null`` = none."""

    backend: str | None = None  # scripted | hf
    model_path: str | None = None  # hf: a local HF folder; null builds a tiny random Qwen3 from a config
    tokenizer_path: str | None = None  # hf: a local HF tokenizer folder; null = model_path
    problems: str | None = "${generate.input}"  # scripted: problems it may look up by text


@dataclass
class GenerateConfig:
    input: str = "${problems.output_dir}"
    output_dir: str = "${run_dir}/generate"
    num_samples: int = 8
    modes: list[str] = field(default_factory=lambda: ["high", "medium", "low"])
    tools: list[bool] = field(default_factory=lambda: [True, False])
    transport: str = "completions"  # completions (raw harmony text) | chat (Chat Completions with tools)
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 120000  # completion tokens per trajectory, summed over its turns
    max_code_executions: int = 100
    max_wall_time_s: float | None = None  # per trajectory; null = no limit
    code_timeout_s: float | None = None  # per execution; null = sandbox.timeout_s
    client: ClientConfig = field(default_factory=ClientConfig)
    local_server: LocalServerConfig = field(default_factory=LocalServerConfig)
