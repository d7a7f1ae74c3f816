"""Mix sources at a chosen ratio: downsample every source so that the kept counts follow the weights.

With weights ``w_i`` and available counts ``n_i`` the largest mix that honours the ratio has ``T = min_i n_i /
p_i`` problems (``p_i = w_i / sum w``); each source keeps ``round(T * p_i)`` problems drawn with a seeded RNG,
in their input order. ``max_problems`` caps ``T``. Without weights every problem is kept (only the cap applies,
proportionally to the source sizes). A weighted source left with no problems is skipped with a warning rather
than emptying the whole mix.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from nemo_math import progress
from nemo_math.config import ConfigError
from nemo_math.problems.config import SourceConfig
from nemo_math.problems.pipeline import Doc, Step
from nemo_math.problems.readers import source_name


class Mix(Step):
    name = "mix"

    def __init__(self, sources: list[SourceConfig], seed: int, max_problems: int = 0):
        super().__init__()
        weighted = [s for s in sources if s.weight is not None]
        if weighted and len(weighted) != len(sources):
            missing = [source_name(s) for s in sources if s.weight is None]
            raise ConfigError(f"problems.sources: weights are set on some sources but not on {missing}")
        if any(s.weight is not None and s.weight <= 0 for s in sources):
            raise ConfigError("problems.sources: a weight must be > 0 (remove the source to leave it out)")
        self.weights = {source_name(s): s.weight for s in weighted}
        self.seed = seed
        self.max_problems = max_problems

    def quotas(self, counts: dict[str, int]) -> dict[str, int]:
        """How many problems each source keeps, given how many it has."""
        if self.weights:
            total_w = sum(self.weights[name] for name in counts)
            shares = {name: self.weights[name] / total_w for name in counts}
            total = min(counts[name] / share for name, share in shares.items())
        else:
            shares = {name: n / max(1, sum(counts.values())) for name, n in counts.items()}
            total = sum(counts.values())
        if self.max_problems:
            total = min(total, self.max_problems)
        return {name: min(counts[name], round(total * share)) for name, share in shares.items()}

    def run(self, docs: Iterable[Doc]) -> Iterator[Doc]:
        by_source: dict[str, list[Doc]] = {}
        for doc in docs:
            by_source.setdefault(doc.source, []).append(doc)
        empty = [name for name in self.weights if name not in by_source]
        if empty:
            progress.log.warning("problems: sources %s have no problems left; the mix follows the other weights",
                                 empty)
        quotas = self.quotas({name: len(group) for name, group in by_source.items()})
        rng = random.Random(self.seed)
        for name, group in by_source.items():
            chosen = set(rng.sample(range(len(group)), quotas[name]))
            for i, doc in enumerate(group):
                if i in chosen:
                    yield self.keep(doc)
                else:
                    self.drop(doc, "downsampled")
