"""Config of the extract stage (``nemo-math extract``): raw forum sources, pre-filters and the LLM steps."""

from dataclasses import dataclass, field

from nemo_math.generation.config import ClientConfig, LocalServerConfig


def _scripted_server() -> LocalServerConfig:
    return LocalServerConfig(backend=None, problems=None)


@dataclass
class ForumSourceConfig:
    """One raw source: a StackExchange ``Posts.xml`` (``kind: stackexchange``, ``site`` e.g.
    math.stackexchange.com) or AoPS threads as JSONL (``kind: aops``)."""

    path: str = ""
    kind: str = "stackexchange"  # stackexchange | aops
    site: str = "math.stackexchange.com"  # stackexchange: the host used for url/user_url
    name: str = ""  # data_source; default StackExchange-Math / AoPS


@dataclass
class PrefilterConfig:
    min_chars: int = 20  # question text after HTML/BBCode -> text
    max_chars: int = 4000
    english_only: bool = True
    drop_images: bool = True  # a question that needs a picture cannot be solved from its text
    max_answers: int = 2  # solution posts kept per question (accepted first, then by score)
    min_answer_score: int = 0  # stackexchange: answers below this score are ignored


@dataclass
class ExtractConfig:
    output_dir: str = "${run_dir}/extract"
    sources: list[ForumSourceConfig] = field(default_factory=list)
    prefilter: PrefilterConfig = field(default_factory=PrefilterConfig)
    client: ClientConfig = field(default_factory=ClientConfig)
    local_server: LocalServerConfig = field(default_factory=_scripted_server)  # scripted: offline runs
    max_tokens: int = 4096  # per LLM step
    temperature: float = 0.0
    reasoning_effort: str = "low"
