"""The problems stage's steps, one by one, on small hand-made inputs."""

from __future__ import annotations

import importlib.util
import json

import pytest

from nemo_math.config import ConfigError
from nemo_math.io import write_records
from nemo_math.problems.config import DecontaminateConfig, NearDedupConfig, SourceConfig
from nemo_math.problems.decontaminate import Decontaminate, words
from nemo_math.problems.dedup import ExactDedup, NearDedup, Sketcher
from nemo_math.problems.mix import Mix
from nemo_math.problems.normalise import Normalise, normalise_text
from nemo_math.problems.pipeline import Doc, run_pipeline
from nemo_math.problems.readers import ReadSources
from nemo_math.records import Problem, RecordError, stable_id

LONG = ("Let $ABC$ be a triangle with side lengths $AB = 13$, $BC = 14$ and $CA = 15$. The incircle of the "
        "triangle touches side $BC$ at the point $D$ and the excircle opposite to vertex $A$ touches side $BC$ at "
        "the point $E$. Compute the length of the segment $DE$ and express it as a common fraction.")


def docs(*texts: str, source: str = "s") -> list[Doc]:
    return [Doc(Problem(id=f"{source}{i}", problem=t, data_source=source), f"x:{i}") for i, t in enumerate(texts)]


def kept_ids(step, items) -> list[str]:
    return [d.problem.id for d in step.run(items)]


@pytest.mark.parametrize(("raw", "clean"), [
    ("Let  $ x $  be\ta real number.  ", "Let $x$ be a real number."),
    ("Find $$ \\sum_{k=1}^{n} k $$ now", "Find $$\\sum_{k=1}^{n} k$$ now"),
    ("Compute $1\\,000\\,000 + 2\\!x\\;y$.", "Compute $1000000 + 2xy$."),
    ("If\\ $a$ and~$b$ \\quad are given", "If $a$ and $b$ are given"),
    ("ｘ² + ３ = ７", "x^2 + 3 = 7"),  # NFKC (full-width) and superscripts kept as powers
    ("It costs \\$5 and \\$ 6.", "It costs \\$5 and \\$ 6."),  # escaped dollars are not math
    ("line one\r\n\r\n\r\n\r\nline   two  \n", "line one\n\nline two"),
    ("a \\\\ b", "a \\\\ b"),  # a LaTeX line break is not a spacing command
])
def test_normalise_text(raw, clean):
    assert normalise_text(raw) == clean
    assert normalise_text(clean) == clean


def test_normalise_step_drops_empty():
    step = Normalise()
    out = list(step.run(docs("  $ x $ ", " \n\t ", "ok")))
    assert [d.problem.problem for d in out] == ["$x$", "ok"]
    assert (step.stats["empty"], step.stats["kept"], step.stats["changed"]) == (1, 2, 1)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_read_with_field_mapping(tmp_path, suffix):
    rows = [{"qid": "a1", "question": "What is 1+1?", "solution_value": 2, "url": "https://x/1"},
            {"question": "What is 2+2?", "solution_value": 4, "metadata": {"level": 3}},
            {"question": "What is 2+2?"}]
    path = tmp_path / f"set{suffix}"
    write_records(path, rows)
    source = SourceConfig(path=str(path), problem_field="question", answer_field="solution_value", id_field="qid",
                          license="CC BY 4.0")
    out = [d.problem for d in ReadSources([source]).run()]
    assert [p.id for p in out[:2]] == ["a1", stable_id("set", "What is 2+2?")]
    assert out[2].id not in {out[0].id, out[1].id}  # a repeated text without id gets its own stable id
    assert [d.problem.id for d in ReadSources([source]).run()] == [p.id for p in out]  # stable across runs
    assert (out[0].expected_answer, out[0].url, out[0].data_source, out[0].license) == ("2", "https://x/1", "set",
                                                                                        "CC BY 4.0")
    assert out[1].metadata == {"level": 3} and out[2].expected_answer is None
    source.limit = 2
    assert list(ReadSources([source]).run())[-1].where.endswith(f"set{suffix}:2")


def test_read_errors_name_file_line_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "1", "problem": "ok"}) + "\n" + json.dumps({"id": "2", "text": "no"}) + "\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:2: problem: required field is missing"):
        list(ReadSources([SourceConfig(path=str(path))]).run())
    path.write_text(json.dumps({"id": "1", "problem": "ok"}) + "\n" + json.dumps({"id": "1", "problem": "b"}) + "\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:2: id: duplicate id '1' \(first at .*bad.jsonl:1\)"):
        list(ReadSources([SourceConfig(path=str(path))]).run())
    path.write_text(json.dumps({"id": "1", "problem": "ok", "expected_answer": [1]}) + "\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:1: expected_answer: expected a string, got list"):
        list(ReadSources([SourceConfig(path=str(path))]).run())
    with pytest.raises(ConfigError, match="kind: expected auto, file, hf or synthetic"):
        list(ReadSources([SourceConfig(path=str(path), kind="csv")]).run())
    with pytest.raises(ConfigError, match="no problem sources"):
        ReadSources([])


@pytest.mark.skipif(importlib.util.find_spec("datasets") is not None, reason="datasets is installed")
def test_hf_source_without_datasets_says_how_to_install():
    with pytest.raises(ConfigError, match=r"pip install 'nemo-math\[hf\]'"):
        ReadSources([SourceConfig(path="a.jsonl", kind="synthetic"), SourceConfig(path="nvidia/Nemotron-Math")])


def test_exact_dedup_keeps_first():
    step = ExactDedup()
    assert kept_ids(step, docs("a b", "c", "a b", "a b ")) == ["s0", "s1", "s3"]
    assert step.pairs == [{"reason": "exact_duplicate", "removed": "s2", "removed_source": "s", "kept": "s0",
                           "kept_source": "s"}]


def test_shingles():
    words = Sketcher(NearDedupConfig(shingle="word", shingle_size=2))
    assert words.shingles("Find $x+1$") == {b"find $", b"$ x", b"x +", b"+ 1", b"1 $"}
    assert words.shingles("Hi") == {b"hi"}
    chars = Sketcher(NearDedupConfig(shingle="char", shingle_size=3))
    assert chars.shingles("Ab  cd") == {b"ab ", b"b c", b" cd"}
    with pytest.raises(ConfigError, match="shingle"):
        Sketcher(NearDedupConfig(shingle="sentence"))
    with pytest.raises(ConfigError, match=r"problems.near_dedup.threshold: must be between 0 and 1"):
        NearDedup(NearDedupConfig(threshold=1.0), words)


@pytest.mark.parametrize("cfg", [NearDedupConfig(), NearDedupConfig(shingle="char", shingle_size=5)],
                         ids=["word3", "char5"])
def test_near_dedup_small_edits_but_not_new_numbers(cfg):
    edited = LONG.replace("Compute", "Find").replace("common fraction", "fraction")
    renumbered = LONG.replace("$CA = 15$", "$CA = 16$")
    unrelated = "How many positive integers less than $1000$ are divisible by $7$ but not by $11$?"
    step = NearDedup(cfg, Sketcher(cfg))
    assert kept_ids(step, docs(LONG, edited, renumbered, unrelated)) == ["s0", "s2", "s3"]
    (pair,) = step.pairs
    assert (pair["removed"], pair["kept"]) == ("s1", "s0") and cfg.threshold <= pair["jaccard"] < 1
    loose = NearDedupConfig(shingle=cfg.shingle, shingle_size=cfg.shingle_size, match_numbers=False)
    assert kept_ids(NearDedup(loose, Sketcher(loose)), docs(LONG, edited, renumbered, unrelated)) == ["s0", "s3"]


def sprinkle(text: str, every: int = 8) -> str:
    """A light paraphrase that breaks every 13-gram: a filler word after every ``every`` words."""
    return " ".join(w + (" really" if i % every == every - 1 else "") for i, w in enumerate(text.split(" ")))


def test_decontaminate_ngram_and_minhash():
    step = Decontaminate(DecontaminateConfig(benchmarks=["aime24"]), Sketcher(NearDedupConfig()))
    aime = [p.problem for p in step.benchmark]
    verbatim_inside = "Here is an old one. " + aime[0] + " Good luck!"
    assert step.ngram_match(sprinkle(aime[1])) is None
    out = kept_ids(step, docs(verbatim_inside, LONG, sprinkle(aime[1]), "Compute $2+2$.", sprinkle(aime[2], 2)))
    assert out == ["s1", "s3", "s4"]  # a filler after every other word is too far from the original
    ngram, minhash = step.pairs
    assert (ngram["removed"], ngram["match"], ngram["benchmark"], ngram["benchmark_id"]) == (
        "s0", "ngram", "aime24", "aime24-0")
    assert len(ngram["ngram"].split()) == 13 and ngram["ngram"] in " ".join(words(aime[0]))
    assert (minhash["removed"], minhash["match"], minhash["benchmark_id"]) == ("s2", "minhash", "aime24-1")
    assert 0.5 <= minhash["jaccard"] < 1


def test_decontaminate_short_benchmark_matched_whole(tmp_path):
    bench = tmp_path / "tiny.jsonl"
    bench.write_text(json.dumps({"problem": "Compute $17 \\times 23$.", "expected_answer": "391"}) + "\n")
    step = Decontaminate(DecontaminateConfig(benchmarks=[str(bench)], minhash_threshold=None),
                         Sketcher(NearDedupConfig()))
    out = kept_ids(step, docs("Warm-up: compute $17\\times 23$ quickly.", "Compute $17 \\times 24$."))
    assert out == ["s1"] and step.pairs[0]["ngram"] == "compute 17 times 23"


def test_mix_ratio_seed_and_cap():
    sources = [SourceConfig(path="a.jsonl", name="aops", weight=1), SourceConfig(path="b.jsonl", name="se", weight=1)]
    items = docs(*[f"a{i}" for i in range(100)], source="aops") + docs(*[f"b{i}" for i in range(30)], source="se")
    step = Mix(sources, seed=0)
    first = kept_ids(step, items)
    assert (step.by_source["aops"]["kept"], step.by_source["se"]["kept"], step.stats["downsampled"]) == (30, 30, 70)
    assert kept_ids(Mix(sources, seed=0), items) == first
    assert kept_ids(Mix(sources, seed=1), items) != first
    sources[0].weight = 3
    assert Mix(sources, seed=0).quotas({"aops": 100, "se": 30}) == {"aops": 90, "se": 30}
    assert Mix(sources, seed=0, max_problems=40).quotas({"aops": 100, "se": 30}) == {"aops": 30, "se": 10}
    unweighted = [SourceConfig(path="a.jsonl", name="aops"), SourceConfig(path="b.jsonl", name="se")]
    assert Mix(unweighted, seed=0, max_problems=13).quotas({"aops": 100, "se": 30}) == {"aops": 10, "se": 3}
    only_aops = docs(*[f"a{i}" for i in range(10)], source="aops")  # "se" lost every problem upstream
    assert len(kept_ids(Mix(sources, seed=0), only_aops)) == 10
    with pytest.raises(ConfigError, match=r"not on \['se'\]"):
        Mix([sources[0], unweighted[1]], seed=0)


def test_pipeline_chains_steps_lazily():
    steps = [Normalise(), ExactDedup()]
    out = run_pipeline(steps, docs("x  y", "x y", "z"))
    assert steps[0].stats["kept"] == 0  # nothing runs before the output is consumed
    assert [d.problem.problem for d in out] == ["x y", "z"]
