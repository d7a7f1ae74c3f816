"""Several teachers in one generation run: the paper's open question of which teacher mix distils best.

``generate.teachers`` lists teachers with weights. A teacher is the ``generate`` config with its own ``client``
(servers, model, ...) and ``local_server`` keys laid over the shared ones, so a teacher entry names only what
differs. Each (problem, mode, tool, seed) job goes to exactly one teacher, drawn by weight from a hash of the
job id: the draw depends on nothing but the job id and the teacher list, so a resumed, resharded or killed run
sends every job to the same teacher (exactly-once resume holds per teacher), and every teacher gets a random
sample of all problems and settings in proportion to its weight, so per-teacher pass rates compare like with
like. Each trajectory records its teacher (``Trajectory.teacher``); curation and its report break down by it.

With no ``generate.teachers`` there is one teacher named after ``generate.client.model``: the run is exactly
the single-teacher one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemo_math.config import ConfigError, NemoMathConfig
from nemo_math.generation.config import TeacherConfig
from nemo_math.generation.jobs import Job

# the keys of a teacher entry that override the generate section of the same name
SECTIONS = tuple(f.name for f in dataclasses.fields(TeacherConfig) if f.name not in ("name", "weight"))


@dataclass(frozen=True)
class Teacher:
    name: str
    share: float  # weight / sum of weights
    cfg: NemoMathConfig  # the run's config with this teacher's sections (and no teacher list)


def _overlay(section: Any, overrides: dict[str, Any], where: str) -> Any:
    """``section`` (a config dataclass) with ``overrides`` merged on, type-checked like the config itself."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(section), overrides))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "<root>"
        raise ConfigError(f"{where}.{key}: {str(err).splitlines()[0]}") from None


def resolve_teachers(cfg: NemoMathConfig) -> list[Teacher]:
    """The run's teachers, validated: positive finite weights, unique names (errors name the key)."""
    g = cfg.generate
    if not g.teachers:
        return [Teacher(g.client.model, 1.0, cfg)]
    entries: list[tuple[str, float, NemoMathConfig]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(g.teachers):
        where = f"generate.teachers[{i}]"
        if not (math.isfinite(entry.weight) and entry.weight > 0):
            raise ConfigError(f"{where}.weight: {entry.weight} is not a positive number")
        sections = {name: _overlay(getattr(g, name), getattr(entry, name), f"{where}.{name}") for name in SECTIONS}
        name = entry.name or sections["client"].model
        if not name:
            raise ConfigError(f"{where}.name: empty, and so is its client.model")
        if name in seen:
            raise ConfigError(f"{where}.name: {name!r} is also generate.teachers[{seen[name]}]'s name; "
                              "teacher names must be unique (set name: to tell teachers of one model apart)")
        seen[name] = i
        entries.append((name, entry.weight, dataclasses.replace(
            cfg, generate=dataclasses.replace(g, teachers=[], **sections))))
    total = sum(weight for _, weight, _ in entries)
    return [Teacher(name, weight / total, teacher_cfg) for name, weight, teacher_cfg in entries]


def assign(job_id: str, teachers: list[Teacher]) -> Teacher:
    """The teacher of a job: a weighted draw from a stable hash of its id (salted, so it is independent of the
    job's shard, :func:`nemo_math.generation.jobs.shard_of`)."""
    digest = hashlib.sha256(f"teacher\0{job_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for teacher in teachers:
        edge += teacher.share
        if u < edge:
            return teacher
    return teachers[-1]  # u within rounding of 1.0


def split(jobs: Iterable[Job], teachers: list[Teacher]) -> dict[str, dict[str, float]]:
    """The realised split: per teacher, its share by weight, its jobs and their share of all."""
    counts = Counter(assign(job.id, teachers).name for job in jobs)
    total = sum(counts.values())
    return {t.name: {"weight_share": round(t.share, 4), "jobs": counts[t.name],
                     "job_share": round(counts[t.name] / total, 4) if total else 0.0} for t in teachers}
