"""``nemo-math pack`` end to end on a character-level tokenizer: packed buckets the training stage can read."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from packing_helpers import make_messages

from nemo_math.cli import main as cli_main
from nemo_math.io import is_done, write_records
from nemo_math.packing.format import IGNORE_INDEX, PackedDataset
from nemo_math.packing.render import build_renderer
from nemo_math.records import MODES

BUCKETS = [256, 512, 1024]


def make_records(tmp_path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "sft"
    for with_tool in (True, False):
        records = []
        for i in range(n // 2):
            mode = MODES[i % 3]
            words = int(rng.lognormal(np.log(40), 0.9)) + 1
            reasoning = " ".join(f"step{j}" for j in range(words))  # up to ~1,300 characters = tokens
            records.append({"problem": f"p{i}", "expected_answer": "2", "data_source": "test",
                            "messages": make_messages(mode, f"{i}{with_tool:d}", reasoning),
                            "metadata": {"reasoning_mode": mode}, "tools": []})
        write_records(folder / f"{'tool' if with_tool else 'notool'}.jsonl", records)
    return folder


def pack(tmp_path: Path, tokenizer: Path, *overrides: str) -> int:
    return cli_main(["pack", "--quiet", f"run_dir={tmp_path / 'run'}", f"pack.input={tmp_path / 'sft'}",
                     f"pack.tokenizer={tokenizer}", "pack.num_workers=0", f"pack.buckets={BUCKETS}", *overrides])


@pytest.mark.parametrize("renderer", ["chat_template", "harmony"])
def test_pack_writes_buckets_training_can_read(tmp_path, char_tokenizer_dir, renderer):
    folder = make_records(tmp_path)
    assert pack(tmp_path, char_tokenizer_dir, f"pack.renderer={renderer}", "pack.pad_multiple=8",
                "pack.balance_buckets=[]") == 0
    out = tmp_path / "run" / "pack"
    assert is_done(out) and (out / "report.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())

    render = build_renderer(renderer, str(char_tokenizer_dir))
    expected = {}
    for file in sorted(folder.glob("*.jsonl")):
        for line in file.read_text().splitlines():
            ids, mask = render(json.loads(line)["messages"])
            expected[tuple(ids)] = mask
    too_long = sum(len(ids) > BUCKETS[-1] for ids in expected)
    assert manifest["num_dropped_too_long"] == too_long

    seen = []
    written = [(bucket, info) for bucket, info in zip(BUCKETS, manifest["buckets"]) if info["path"]]
    assert len(written) >= 2
    assert all(info["num_assigned"] == 0 and not (out / f"bucket_{bucket}").exists()
               for bucket, info in zip(BUCKETS, manifest["buckets"]) if not info["path"])
    for bucket, info in written:
        ds = PackedDataset(out / info["path"])
        assert ds.seq_len == bucket and len(ds) == info["num_sequences"] > 0
        assert set(ds.manifest["mix_after"]) <= set(MODES)
        for r in range(len(ds)):
            row = ds[r]
            ids, cu, labels = row["input_ids"], row["cu_seqlens"], row["labels"]
            assert len(ids) % 8 == 0 and len(ids) <= bucket and cu[0] == 0 and cu[-1] == len(ids)
            raw_mask = np.asarray(ds.mask[ds.row_offsets[r]:ds.row_offsets[r + 1]])
            for a, b in itertools.pairwise(cu):
                doc = tuple(ids[a:b].tolist())
                if doc in expected:  # else: the padding segment
                    seen.append(doc)
                    assert raw_mask[a:b].tolist() == expected[doc]
                    assert labels[b - 1] == IGNORE_INDEX  # nothing is predicted across documents
                    want = np.where(np.asarray(expected[doc][1:]) == 1, ids[a + 1:b], IGNORE_INDEX)
                    assert labels[a:b - 1].tolist() == want.tolist()
                else:
                    assert b - a < 8 and (ids[a:b] == ds.manifest["pad_token_id"]).all()
    assert len(expected) == len(list(folder.glob("*.jsonl"))) * 30  # all distinct
    assert sorted(seen) == sorted(d for d in expected if len(d) <= BUCKETS[-1])


def test_backfill_balance_and_token_store_reuse(tmp_path, char_tokenizer_dir):
    make_records(tmp_path, n=90)
    assert pack(tmp_path, char_tokenizer_dir, "pack.renderer=chat_template") == 0
    out = tmp_path / "run" / "pack"
    store_mtime = (out / "tokens" / "ids.bin").stat().st_mtime_ns
    plain = json.loads((out / "manifest.json").read_text())
    assert pack(tmp_path, char_tokenizer_dir, "pack.renderer=chat_template", "pack.backfill=true",
                "pack.balance_method=down") == 0
    assert (out / "tokens" / "ids.bin").stat().st_mtime_ns == store_mtime  # same input: the store is reused
    filled = json.loads((out / "manifest.json").read_text())
    assert filled["capacity_tokens"] < plain["capacity_tokens"]
    saves = filled["backfill_saves"]
    assert saves["sequences"] > 0 and 0 < saves["capacity_fraction"] < 1
    longest = filled["buckets"][-1]
    assert longest["num_backfilled"] > 0 and longest["fill_rate"] > plain["buckets"][-1]["fill_rate"]
    before = {m: c for m, c in plain["buckets"][-1]["mix_before"].items()}
    assert len(set(before.values())) > 1  # unbalanced to begin with


def test_bad_record_names_file_line_and_field(tmp_path, char_tokenizer_dir, capsys):
    folder = make_records(tmp_path, n=6)
    bad = folder / "notool.jsonl"
    lines = bad.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["messages"][1]["role"] = "robot"
    lines[1] = json.dumps(broken)
    bad.write_text("\n".join(lines) + "\n")
    assert pack(tmp_path, char_tokenizer_dir, "pack.renderer=chat_template") == 2
    assert f"{bad}:2: messages[1].role" in capsys.readouterr().err
    assert not (tmp_path / "run" / "pack" / "tokens").exists()
    assert not list((tmp_path / "run" / "pack").glob(".tokens*"))  # no half-written store left behind


@pytest.mark.slow
def test_parallel_tokenising_matches_in_process(tmp_path, char_tokenizer_dir):
    make_records(tmp_path, n=120)
    assert pack(tmp_path, char_tokenizer_dir, "pack.renderer=chat_template", "pack.num_workers=2") == 0
    store = tmp_path / "run" / "pack" / "tokens"
    parallel = (store / "ids.bin").read_bytes(), np.load(store / "index.npz")["uuids"].tolist()
    (store / "settings.json").unlink()  # force a rebuild
    assert pack(tmp_path, char_tokenizer_dir, "pack.renderer=chat_template") == 0
    assert ((store / "ids.bin").read_bytes(), np.load(store / "index.npz")["uuids"].tolist()) == parallel


def test_token_store_of_an_older_render_rule_is_rebuilt(tmp_path, char_tokenizer_dir):
    """A store tokenised under an older rendering rule (e.g. harmony message by message) is not reused."""
    from nemo_math.packing.tokens import tokenise

    records = make_records(tmp_path, n=6)
    out = tmp_path / "tokens"
    tokenise(str(records), out, "harmony", str(char_tokenizer_dir), num_workers=0)
    settings = json.loads((out / "settings.json").read_text())
    (out / "ids.bin").write_bytes(b"")  # what a stale store would hold
    (out / "settings.json").write_text(json.dumps({**settings, "render_rule": settings["render_rule"] - 1}))
    store = tokenise(str(records), out, "harmony", str(char_tokenizer_dir), num_workers=0)
    assert json.loads((out / "settings.json").read_text()) == settings
    assert len(store.ids) == store.offsets[-1] > 0
