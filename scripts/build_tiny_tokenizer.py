"""Build the tiny student tokenizer shipped in ``nemo_math/data/tokenizers/tiny`` (the tiny preset's).

Why our own: the real Qwen3 tokenizer has 151,936 entries, so a tiny model's logits alone would be 2.5 GB per
4096-token row on a CPU; and a fresh laptop has no network to fetch it. A 2,048-entry byte-level BPE trained on
the scripted teacher's harmony text keeps rows short and the output layer small, and encodes any text.
The harmony control tokens are single special tokens; ``<|return|>`` is EOS, ``<|endoftext|>`` pads. Every digit
is a token of its own (as in Qwen3's and Llama's tokenizers): with merged digit runs a tiny student has to learn
each multi-digit token's spelling before it can copy a number into ``print(...)`` or ``\\boxed{}``.

    nemo-math pipeline --preset tiny 'pipeline.stages=[problems,generate]' run_dir=/tmp/tok
    python scripts/build_tiny_tokenizer.py /tmp/tok/generate
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from nemo_math.benchmarks import load_benchmark
from nemo_math.config import DATA_DIR
from nemo_math.generation.harmony import load_encoding, to_harmony
from nemo_math.io import read_records
from nemo_math.records import Trajectory

SPECIALS = ["<|endoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>",
            "<|call|>"]


def corpus(trajectories: Path, limit: int, seed: int) -> list[str]:
    """Harmony text of a sample of trajectories, plus the benchmark problems (evaluation prompts)."""
    encoding = load_encoding()
    records = list(read_records(trajectories, Trajectory))
    random.Random(seed).shuffle(records)
    texts = [encoding.decode(encoding.render(m)) for t in records[:limit] for m in to_harmony(t.messages)]
    for name in ("aime24", "aime25", "comp-math-24-25"):
        texts += [p.problem for p in load_benchmark(name)]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trajectories", type=Path, help="a generate output folder or trajectories file")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "tokenizers" / "tiny")
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--limit", type=int, default=2000, help="trajectories to train on")
    args = parser.parse_args()

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(args.trajectories, args.limit, seed=0), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|return|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=SPECIALS[1:])
    fast.save_pretrained(args.out)
    print(f"{args.out}: {len(fast)} tokens")


if __name__ == "__main__":
    main()
