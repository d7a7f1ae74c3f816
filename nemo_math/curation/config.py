"""Config of the curation stage (``nemo-math curate``); the defaults follow the paper."""

from dataclasses import dataclass, field


@dataclass
class CurateConfig:
    input: str = "${grade.output_dir}"
    output_dir: str = "${run_dir}/curate"
    problems: str | None = "${generate.input}"  # Problem records, for url/user/license (null: not joined)
    # answer repair: the candidates are this mode's trajectories in these tool settings (the paper: 8 + 8 high)
    repair: bool = True
    repair_mode: str = "high"
    repair_tools: list[bool] = field(default_factory=lambda: [True, False])
    repair_min_candidates: int = 16  # replace a forum answer only when at least this many candidates all disagree
    # difficulty filter: drop problems whose pass rate in this mode (pooled over tool settings) is >= the cap
    difficulty_mode: str = "low"
    max_pass_rate: float = 0.8
    # trace filters
    keep_wrong: bool = False
    max_tool_errors: int = 10  # a trajectory with this many failed tool calls is a tool-error loop
    # SFT assembly
    split_by_setting: bool = True  # one file per (mode, tool) like the paper's six, else one mixed file
    used_in: list[str] = field(default_factory=list)
