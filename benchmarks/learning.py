"""Does the tiny pipeline teach its student anything? The whole chain, render -> pack -> train -> convert -> serve,
checked by what the student answers on problems it never saw.

    .venv/bin/python benchmarks/learning.py [--budget tir|tiny] [--run-dir DIR] [--problems N] [KEY=VALUE ...]

Runs ``nemo-math pipeline --preset tiny`` into ``--run-dir`` (a run already complete there is reused), with the
overrides of ``--budget``: ``tir`` (the default) trains the preset's student on many more distinct problems (4,000),
low mode with Python only, for eight epochs of one 1024-token stage (6,368 steps of two rows, 0.2 s a step with the
preset's one CPU thread; 27 minutes in all on two cores shared with a CI run). One epoch taught the format but not
copying numbers: the student restated ``6^{138}`` as ``6^{168}`` (answered 0.93, accuracy 0.0 on 60); eight epochs
copy all but the longest numbers. ``tiny`` is the CI preset as it is (minutes): too little training to answer
(answered 0.0), a check of the plumbing only. Then it evaluates on ``synthetic-heldout`` (problems of the kinds it
trained on, from the held-out split of :mod:`nemo_math.problems.synthetic`) both the trained student and the same
architecture at its initial, random weights, each through ``nemo-math evaluate`` (served by the local transformers
backend over the completions transport, graded symbolically: the path of every evaluation), in ``low`` mode with
Python by default (the student only has to copy the problem's numbers into ``print(...)`` and the output into
``\\boxed{}``), greedily (a tiny model's sampling noise would hide what it learned; ``--temperature 1`` is the paper's
setting). ``KEY=VALUE`` overrides reach both the pipeline and the evaluations. Prints, last, ``answered=<share of
replies with a parseable final answer> accuracy=<share correct> untrained_accuracy=<share correct at the initial
weights>``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nemo_math.io import is_done, load_records
from nemo_math.records import GradedTrajectory

BENCHMARK = "synthetic-heldout"
# pipeline overrides per budget (configs are data: the tiny preset itself stays as fast as CI needs it)
BUDGETS: dict[str, list[str]] = {
    "tiny": [],
    "tir": ["problems.sources.0.count=4000", "generate.modes=[low]", "generate.tools=[true]",
            "curate.difficulty_mode=high",  # no high-mode traces: the difficulty filter keeps every problem
            "pack.buckets=[1024]", "pack.balance_buckets=[]", "pack.backfill=false",
            "train.stages=[{name: stage1_1024, bucket: bucket_1024, global_batch_size: 2, lr: 2.0e-3, min_lr: 1.0e-4,"
            " lr_schedule: cosine, warmup_steps: 20, epochs: 8, save_interval: 800}]"],
}


def run(args: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "nemo_math.cli", *args], check=True)


def untrained_student(hf_dir: Path, out: Path, seed: int) -> Path:
    """The trained student's architecture and tokenizer at freshly initialised weights (its initial state)."""
    import torch
    import transformers

    if not (out / "config.json").exists():
        torch.manual_seed(seed)
        model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(hf_dir))
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        for file in hf_dir.iterdir():
            if file.name.startswith("tokenizer") or file.name.endswith(".jinja"):
                shutil.copy(file, tmp / file.name)
        tmp.rename(out)
    return out


def evaluate(run_dir: Path, model: Path, out: Path, problems: int, overrides: list[str]) -> list[GradedTrajectory]:
    run(["evaluate", "--quiet", "--preset", "tiny", f"run_dir={run_dir}", f"evaluate.model={model}",
         f"evaluate.output_dir={out}", f"evaluate.benchmarks=[{BENCHMARK}]", f"evaluate.max_problems={problems}",
         "evaluate.num_samples=1", *overrides])
    return load_records(out / "graded.jsonl", GradedTrajectory)


def share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="tir", help="training budget (see above)")
    parser.add_argument("--run-dir", type=Path, help="the tiny run to reuse or make (default: a temp folder)")
    parser.add_argument("--problems", type=int, default=60, help="held-out problems (x modes x tool settings)")
    parser.add_argument("--modes", default="low", help="comma list of reasoning modes to evaluate")
    parser.add_argument("--tools", default="true", help="comma list of Python settings to evaluate (true,false)")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0: greedy)")
    parser.add_argument("--max-tokens", type=int, default=512, help="token limit of each model turn")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nemo-math-learning-") as tmp:
        run_dir = (args.run_dir or Path(tmp) / "run").resolve()
        if not is_done(run_dir / "hf"):
            run(["pipeline", "--quiet", "--preset", "tiny", f"run_dir={run_dir}", *BUDGETS[args.budget],
                 *args.overrides])
        evaluation = [f"evaluate.modes=[{args.modes}]", f"evaluate.tools=[{args.tools}]",
                      f"evaluate.temperature={args.temperature}", f"evaluate.max_tokens={args.max_tokens}",
                      *args.overrides]
        out = run_dir / "learning"
        trained = evaluate(run_dir, run_dir / "hf", out / "trained", args.problems, evaluation)
        initial = untrained_student(run_dir / "hf", out / "untrained_hf", seed=0)
        untrained = evaluate(run_dir, initial, out / "untrained", args.problems, evaluation)
    print(f"samples={len(trained)}")
    print(f"untrained_answered={share([g.predicted_answer is not None for g in untrained])}")
    print(f"answered={share([g.predicted_answer is not None for g in trained])} "
          f"accuracy={share([g.is_correct for g in trained])} "
          f"untrained_accuracy={share([g.is_correct for g in untrained])}")


if __name__ == "__main__":
    main()
