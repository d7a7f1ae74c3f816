"""The record types every stage reads and writes.

Data flows one way: ``Problem`` -> ``Trajectory`` -> ``GradedTrajectory`` -> ``SFTRecord``. A stage knows its
input and output record types and nothing of the stage before it.

Records are plain dataclasses. ``from_dict`` validates field presence and types (so a bad line fails with the
field's name, see :mod:`nemo_math.io`) and ``to_dict`` gives the JSON-ready form. We write the validator here
instead of using pydantic: it is forty lines, needs no extra dependency in the sandbox or on cluster login
nodes, and lets us accept the published dataset's known field variations (``SFTRecord.from_dict``).

Messages are harmony-style turns shared by trajectories and SFT records::

    {"role": "system" | "developer" | "user" | "assistant" | "tool",
     "content": str,
     "channel": "analysis" | "commentary" | "final" | None,   # assistant turns
     "recipient": "python" | None,                            # an assistant tool call
     "name": "python" | None}                                 # the author of a tool result
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

MODES: tuple[str, ...] = ("high", "medium", "low")
TOOL_SETTINGS: tuple[bool, ...] = (True, False)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
CHANNELS = frozenset({"analysis", "commentary", "final"})

Mode = Literal["high", "medium", "low"]


class RecordError(ValueError):
    """A record that does not fit its schema. ``str()`` reads ``file:line: field: what is wrong``."""

    def __init__(self, field_name: str, message: str, *, path: str | None = None, line: int | None = None):
        self.field = field_name
        self.message = message
        self.path = path
        self.line = line
        super().__init__(str(self))

    def at(self, path: str, line: int | None) -> "RecordError":
        return RecordError(self.field, self.message, path=path, line=line)

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.field}: {self.message}"


def setting_key(mode: str, with_tool: bool) -> str:
    """The metadata key of a (mode, tool) setting, e.g. ``reason_high_with_tool``."""
    return f"reason_{mode}_{'with' if with_tool else 'no'}_tool"


def stable_id(*parts: Any) -> str:
    """A short, stable hex id from the JSON of ``parts`` (used where the source gives no id)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- validation
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(value: Any, tp: Any, name: str) -> Any:
    """Return ``value`` if it has type ``tp`` (ints are accepted as floats), else raise ``RecordError``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, name)
            except RecordError as err:
                errors.append(err)
        raise RecordError(name, f"expected {_type_name(tp)}, got {type(value).__name__}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise RecordError(name, f"expected one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(name, f"expected a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_check(v, item_tp, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(name, f"expected an object, got {type(value).__name__}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecordError(name, f"expected a number, got {type(value).__name__}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(name, f"expected an integer, got {type(value).__name__}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise RecordError(name, f"expected {tp.__name__}, got {type(value).__name__}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecordError(name, f"expected an object, got {type(value).__name__}")
        return tp.from_dict(value, prefix=f"{name}.")
    raise TypeError(f"unsupported field type {tp!r} for {name}")


class Record:
    """Base of all records: typed ``from_dict`` / ``to_dict``."""

    ALLOW_EXTRA: ClassVar[bool] = False

    @classmethod
    def from_dict(cls, data: dict[str, Any], prefix: str = ""):
        if not isinstance(data, dict):
            raise RecordError(prefix.rstrip(".") or "<record>", f"expected an object, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            name = prefix + f.name
            if f.name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise RecordError(name, "required field is missing")
                continue
            kwargs[f.name] = _check(data[f.name], hints[f.name], name)
        if not cls.ALLOW_EXTRA:
            known = {f.name for f in dataclasses.fields(cls)}
            extra = sorted(set(data) - known)
            if extra:
                raise RecordError(prefix + extra[0], f"unknown field (known: {', '.join(sorted(known))})")
        record = cls(**kwargs)
        record.validate(prefix)
        return record

    def validate(self, prefix: str = "") -> None:
        """Checks across fields; subclasses raise ``RecordError``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate_messages(messages: list[dict[str, Any]], name: str = "messages") -> None:
    for i, m in enumerate(messages):
        where = f"{name}[{i}]"
        if not isinstance(m, dict):
            raise RecordError(where, "expected an object")
        if m.get("role") not in ROLES:
            raise RecordError(f"{where}.role", f"expected one of {sorted(ROLES)}, got {m.get('role')!r}")
        if not isinstance(m.get("content"), str):
            raise RecordError(f"{where}.content", "expected str")
        channel = m.get("channel")
        if channel is not None and channel not in CHANNELS:
            raise RecordError(f"{where}.channel", f"expected one of {sorted(CHANNELS)} or null, got {channel!r}")


# --------------------------------------------------------------------------------------------- records
@dataclass
class Problem(Record):
    """One math problem, as the problems stage writes it."""

    id: str
    problem: str
    expected_answer: str | None = None
    data_source: str = "unknown"
    url: str | None = None
    user_url: str | None = None
    user_name: str | None = None
    license: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def validate(self, prefix: str = "") -> None:
        if not self.problem.strip():
            raise RecordError(prefix + "problem", "is empty")
        if not self.id:
            raise RecordError(prefix + "id", "is empty")


@dataclass
class Trajectory(Record):
    """One teacher (or student) solution: a problem solved once in one (mode, tool) setting with one seed."""

    job_id: str
    problem_id: str
    problem: str
    mode: str
    with_tool: bool
    seed: int
    messages: list[dict[str, Any]]
    expected_answer: str | None = None
    data_source: str = "unknown"
    model: str = ""
    teacher: str = ""  # its teacher's name (generate.teachers); records written before it read as their model
    finish_reason: str = "final"  # final | length | context_length | max_code_executions | wall_time | error
    num_tool_calls: int = 0
    num_tool_errors: int = 0
    num_tool_timeouts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    problem_metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.teacher = self.teacher or self.model

    @staticmethod
    def make_job_id(problem_id: str, mode: str, with_tool: bool, seed: int) -> str:
        return f"{problem_id}/{mode}/{'tool' if with_tool else 'notool'}/{seed}"

    def validate(self, prefix: str = "") -> None:
        if self.mode not in MODES:
            raise RecordError(prefix + "mode", f"expected one of {list(MODES)}, got {self.mode!r}")
        validate_messages(self.messages, prefix + "messages")

    @property
    def final_text(self) -> str:
        """The last final-channel assistant message ('' if the trajectory never answered)."""
        for m in reversed(self.messages):
            if m["role"] == "assistant" and m.get("channel") in ("final", None) and not m.get("recipient"):
                return m["content"]
        return ""


@dataclass
class GradedTrajectory(Trajectory):
    """A trajectory with its extracted answer and verdicts against the reference answer."""

    reference_answer: str | None = None
    predicted_answer: str | None = None
    symbolic_correct: bool | None = None
    judge_correct: bool | None = None
    judgement: str | None = None
    is_correct: bool = False

    @classmethod
    def from_trajectory(cls, t: Trajectory, **verdict: Any) -> "GradedTrajectory":
        return cls(**{**dataclasses.asdict(t), **verdict})


@dataclass
class PassRate(Record):
    count: int = 0
    pass_: int = 0
    accuracy: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any], prefix: str = ""):
        data = dict(data)
        if "pass" in data:
            data["pass_"] = data.pop("pass")
        return super().from_dict(data, prefix)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "pass": self.pass_, "accuracy": self.accuracy}


@dataclass
class SFTRecord(Record):
    """One training sample in the ``nvidia/Nemotron-Math-v2`` schema.

    The published splits vary (see ``notes/nemotron-math-v2-schema.md``): ``original_expected_answer``, ``url``,
    ``user_url`` and ``user_name`` may be null, ``uuid`` may be absent (we derive it from problem + messages),
    ``tool_usage`` exists only in later revisions, and field order differs. ``from_dict`` accepts all of that.
    """

    problem: str
    expected_answer: str | None
    messages: list[dict[str, Any]]
    original_expected_answer: str | None = None
    changed_answer_to_majority: bool = False
    data_source: str = "unknown"
    tools: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    uuid: str = ""
    url: str | None = None
    user_url: str | None = None
    user_name: str | None = None
    used_in: list[str] = field(default_factory=list)
    tool_usage: int | None = None

    def validate(self, prefix: str = "") -> None:
        validate_messages(self.messages, prefix + "messages")
        for key, value in self.metadata.items():
            if key.startswith("reason_"):
                PassRate.from_dict(value, prefix=f"{prefix}metadata.{key}.")
        if not self.uuid:
            self.uuid = stable_id(self.problem, self.messages)

    def pass_rate(self, mode: str, with_tool: bool) -> PassRate | None:
        value = self.metadata.get(setting_key(mode, with_tool))
        return PassRate.from_dict(value) if value is not None else None

    @property
    def mode(self) -> str | None:
        """The reasoning mode, from ``metadata.reasoning_mode`` or the system/developer turn."""
        if self.metadata.get("reasoning_mode") in MODES:
            return self.metadata["reasoning_mode"]
        for m in self.messages:
            if m["role"] in ("system", "developer"):
                for mode in MODES:
                    if f"reasoning: {mode}" in m["content"].lower():
                        return mode
        return None

    @property
    def with_tool(self) -> bool:
        return bool(self.tools) or any(m.get("recipient") for m in self.messages)


RECORD_TYPES: dict[str, type[Record]] = {
    "problem": Problem,
    "trajectory": Trajectory,
    "graded": GradedTrajectory,
    "sft": SFTRecord,
}
