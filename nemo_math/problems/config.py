"""Config of the problems stage (``nemo-math problems``)."""

from dataclasses import dataclass, field


@dataclass
class SourceConfig:
    """One problem set: a JSONL/parquet file or folder, a Hugging Face dataset name (online only), or the
    procedural generator (``kind: synthetic``) for laptop runs."""

    path: str = ""
    kind: str = "auto"  # auto (file if it exists, else hf) | file | hf | synthetic
    name: str = ""  # data_source written on each problem; defaults to the file stem / dataset name
    weight: float | None = None  # share in the mix; when any source sets one, every source must
    problem_field: str = "problem"
    answer_field: str = "expected_answer"  # a missing answer is kept as null
    id_field: str = "id"  # a missing id becomes stable_id(name, problem)
    license: str | None = None  # written on each problem unless the row has its own
    limit: int = 0  # read at most this many rows (0: all)
    split: str = "train"  # hf only
    subset: str | None = None  # hf only: the dataset's config name
    count: int = 300  # synthetic only
    seed: int = 0  # synthetic only


@dataclass
class NearDedupConfig:
    """MinHash LSH over shingles of the normalised text; a pair at or above ``threshold`` is a near duplicate."""

    enabled: bool = True
    threshold: float = 0.7  # estimated Jaccard similarity
    num_perm: int = 128
    shingle: str = "word"  # word | char
    shingle_size: int = 3
    seed: int = 1  # of the MinHash permutations
    match_numbers: bool = True  # a pair counts only with the same numbers in the same order


@dataclass
class DecontaminateConfig:
    """Drop problems that share an n-gram with, or are MinHash-similar to, a benchmark problem."""

    enabled: bool = True
    benchmarks: list[str] = field(default_factory=lambda: ["aime24", "aime25", "comp-math-24-25"])
    ngram: int = 13  # word n-gram; a benchmark problem shorter than this is matched whole
    minhash_threshold: float | None = 0.5  # estimated Jaccard to a benchmark problem (near_dedup's shingles);
    # null: n-grams only


@dataclass
class ProblemsConfig:
    """read -> normalise -> exact dedup -> near dedup -> decontaminate -> mix -> ``output_dir/problems.jsonl``."""

    output_dir: str = "${run_dir}/problems"
    sources: list[SourceConfig] = field(default_factory=list)
    exact_dedup: bool = True
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    max_problems: int = 0  # cap the mixed output (0: no cap), keeping the source ratio
    seed: int = "${seed}"  # type: ignore[assignment]  # of the mix's downsampling
