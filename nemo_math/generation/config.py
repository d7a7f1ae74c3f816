"""Config of the generation stage (``nemo-math generate``) and of the OpenAI-compatible client it shares."""

from dataclasses import dataclass, field
from typing import Any


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
    # what the servers accept (server-specific fields; see nemo_math/generation/engine.py)
    engine: str | None = None  # vllm | sglang | transformers | hf | scripted; null: local_server.backend, else vllm
    extra_body: dict[str, Any] | None = None  # merged into every request; null: the engine's preset
    seed: bool = True  # send a per-job sampling seed (vLLM's CPU build crashes on seeds under chunked prefill)
    chat_system: bool = True  # chat: send our system turn (mode, tool); false: gpt-oss servers build it


@dataclass
class LocalServerConfig:
    """A model server the stage starts on 127.0.0.1 for its run and stops after (``backend: null``: use
    ``client.base_urls`` as given). A teacher entry (``generate.teachers``) overrides any of these keys."""

    backend: str | None = None  # scripted | hf (our server) | vllm | sglang | transformers (a real engine)
    model_path: str | None = None  # the HF folder it serves; hf: null builds a tiny random Qwen3
    tokenizer_path: str | None = None  # hf: a local HF tokenizer folder; null = model_path
    cpu_threads: int = 0  # hf on a CPU: torch threads (0: torch's default); see nemo_math/threads.py
    problems: str | None = "${generate.input}"  # scripted: problems it may look up by text
    command: str | None = None  # null: the backend's; {python} {model_path} {model} {host} {port} are filled in
    python: str = "python"  # vllm/sglang/transformers: the interpreter of their venv (e.g. .venv-vllm/bin/python)
    args: list[str] = field(default_factory=list)  # appended to the command, e.g. [--max-model-len, "4096"]
    env: dict[str, str] = field(default_factory=dict)  # e.g. {VLLM_CPU_KVCACHE_SPACE: "1"}
    health_timeout_s: float = 900.0  # from start until GET /health answers 200
    log_dir: str | None = None  # the engine's stdout/stderr; null: <output_dir>/logs


@dataclass
class TeacherConfig:
    """One teacher of a multi-teacher run (:mod:`nemo_math.generation.teachers`). Every other field is keys that
    override the ``generate`` section of the same name for this teacher (what it does not set, it shares)."""

    name: str = ""  # "" = its client.model; names must be unique
    weight: float = 1.0  # its share of the jobs is weight / sum of weights
    client: dict[str, Any] = field(default_factory=dict)  # e.g. {base_urls: [...], model: ...}
    local_server: dict[str, Any] = field(default_factory=dict)  # e.g. {backend: scripted}


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
    teachers: list[TeacherConfig] = field(default_factory=list)  # empty: one teacher, client.model
