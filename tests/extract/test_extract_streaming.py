"""The extract stage streams: the reader joins answers and users on disk, ``problems.jsonl`` comes out in
candidate order whatever order the jobs finished in, and peak memory does not grow with the number of posts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nemo_math.extract.config import ExtractConfig, ForumSourceConfig, PrefilterConfig
from nemo_math.extract.readers import Prefilter, read_source
from nemo_math.extract.stage import CANDIDATES, OUTPUT_NAME, STEM, finish, prefilter
from nemo_math.extract.synthetic import write_dump
from nemo_math.io import is_done


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_audit(out: Path) -> None:
    """Audit records for every candidate, as finished jobs would leave them: every third candidate kept, the
    others dropped as proofs, alternately in two shard logs (so the logs' order is not the candidates')."""
    logs = [open(out / f"{STEM}-{shard:05d}-of-00002.jsonl", "w") for shard in (0, 1)]
    with open(out / CANDIDATES) as fh:
        for i, line in enumerate(fh):  # streamed: this also runs in the memory test's child process
            c, kept = json.loads(line), i % 3 == 0
            logs[i % 2].write(json.dumps({
                "job_id": c["id"], "kept": kept, "reason": None if kept else "proof", "steps": [],
                "problem": {"id": c["id"], "problem": c["question"], "expected_answer": "1",
                            "data_source": c["data_source"]} if kept else None}) + "\n")
    for log in logs:
        log.close()


def test_users_joined_and_answers_ranked(tmp_path: Path):
    write_dump(tmp_path, questions=30)
    found = list(read_source(ForumSourceConfig(path=str(tmp_path / "Posts.xml")), Prefilter(PrefilterConfig())))
    assert found and all(c["user_name"] == f"User {c['user_url'].rsplit('/', 1)[1]}" for c in found)
    # the synthetic accepted answer is the one right after its question: listed first whatever its score
    assert all(c["answers"][0]["accepted"] and c["answers"][0]["id"] == str(int(c["id"].rsplit("/", 1)[1]) + 1)
               for c in found)
    assert all("\\boxed{" in a["text"] for c in found for a in c["answers"])


def prefiltered_with_audit(tmp_path: Path, questions: int) -> tuple[ExtractConfig, Path]:
    """A synthetic dump pre-filtered into ``tmp_path/out``, with audit logs for every candidate (``write_audit``)."""
    write_dump(tmp_path / "se", questions=questions)
    cfg = ExtractConfig(output_dir=str(tmp_path / "out"),
                        sources=[ForumSourceConfig(path=str(tmp_path / "se" / "Posts.xml"))])
    out = Path(prefilter(cfg)).parent
    write_audit(out)
    return cfg, out


def test_outputs_in_candidate_order_whatever_the_finishing_order(tmp_path: Path):
    cfg, out = prefiltered_with_audit(tmp_path, questions=30)
    report = finish(cfg)
    candidates = lines(out / CANDIDATES)
    kept = [c["id"] for c in candidates[::3]]
    assert [p["id"] for p in lines(out / OUTPUT_NAME)] == kept
    assert [p["id"] for p in lines(out / "by_source" / "StackExchange-Math.jsonl")] == kept
    assert report["llm"] == {"candidates": len(candidates), "kept": len(kept),
                             "dropped": {"proof": len(candidates) - len(kept)}}
    assert report["prefilter"]["counts"]["candidates"] == len(candidates) and is_done(out)


def test_finish_waits_for_every_candidate(tmp_path: Path):
    cfg, out = prefiltered_with_audit(tmp_path, questions=10)
    log = out / f"{STEM}-00000-of-00002.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[1:]))  # one job still to run
    assert finish(cfg) is None and not is_done(out) and not (out / OUTPUT_NAME).exists()


# One child process per size: pre-filters (reader, SQLite joins, candidates.jsonl) and the final ordered pass
# over audit logs, the stage's parts whose inputs grow with the dump (the LLM steps hold only the jobs in
# flight, bounded by client.max_in_flight). Peak RSS is the process's own high-water mark: no timing involved.
PEAK_RSS = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_extract_streaming import write_audit
from nemo_math.extract.config import ExtractConfig, ForumSourceConfig
from nemo_math.extract.stage import finish, prefilter
cfg = ExtractConfig(output_dir=sys.argv[1] + "/out", sources=[ForumSourceConfig(path=sys.argv[1] + "/Posts.xml")])
prefilter(cfg)
write_audit(Path(cfg.output_dir))
assert finish(cfg) is not None
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(folder: Path, questions: int) -> float:
    write_dump(folder, questions=questions)
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(folder), str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1]) / 1024


@pytest.mark.slow
def test_peak_memory_flat_in_number_of_posts(tmp_path: Path):
    """10x the posts (6K -> 60K rows, 40 MB more candidates): the peak stays within a bound far above the
    growth seen (about 2 MB); holding the candidates and the results in lists grew it by about 85 MB."""
    small = peak_rss_mb(tmp_path / "small", 2_000)
    large = peak_rss_mb(tmp_path / "large", 20_000)
    assert large - small < 30, (small, large)
