"""The paper's open question on the data mix: the chain for several AoPS:StackExchange ratios, one table, a plot.

    python recipes/mix_sweep.py --preset tiny                               # 90:10, 75:25, 50:50, 25:75
    python recipes/mix_sweep.py --config configs/qwen3_8b.yaml --ratios 90:10,50:50 --hle-math hle_math.jsonl

``extract`` runs once (``<out>/extract``); each ratio is its own run folder (``<out>/aops<A>_se<S>``) in which
``nemo-math pipeline`` runs problems -> ... -> evaluate with ``problems.sources`` set to the two extracted
sources weighted A:S (``nemo_math/problems/mix.py`` downsamples to the ratio). Every student is evaluated on the
competition benchmarks and on HLE-math; HLE-math is gated on the Hugging Face hub, so without ``--hle-math FILE``
or a working ``datasets`` download it is skipped with a message. Ends in ``<out>/mix_sweep.md`` (one table:
pass@1 per benchmark and ratio) and ``<out>/pareto.png`` (competition vs HLE-math pass@1, or vs mean solution
length when HLE-math is absent, the Pareto front marked). Complete runs are skipped on re-run, as in the pipeline.

A ratio with too few problems fails fast, naming the ratio and the stage, before any training: up front when the
mix of the extracted problems would leave a source out or hold fewer than ``--min-problems``; and once each
ratio's chain reaches ``curate`` and ``pack``, when they leave nothing for a training stage's bucket.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nemo_math.config import load_config  # noqa: E402
from nemo_math.extract.stage import BY_SOURCE  # noqa: E402
from nemo_math.io import done_summary, write_text  # noqa: E402
from nemo_math.pipeline import run_stage  # noqa: E402
from nemo_math.problems.config import SourceConfig  # noqa: E402
from nemo_math.problems.mix import Mix  # noqa: E402
from nemo_math.training.schedule import bucket_dir  # noqa: E402

COMPETITION = ["aime24", "aime25", "comp-math-24-25"]
HLE = "hle-math"
SOURCES = ("AoPS", "StackExchange-Math")


def parse_ratios(text: str) -> list[tuple[int, int]]:
    ratios = []
    for item in text.split(","):
        a, _, s = item.partition(":")
        if not (a.isdigit() and s.isdigit()) or int(a) + int(s) == 0:
            raise SystemExit(f"--ratios: {item!r}: expected AOPS:SE, e.g. 75:25")
        ratios.append((int(a), int(s)))
    return ratios


def hle_spec(path: str | None) -> str | None:
    """The HLE-math benchmark to evaluate on, or None (with the reason printed) when its data is absent."""
    if path:
        if not Path(path).exists():
            raise SystemExit(f"--hle-math {path}: no such file")
        return path
    try:
        from nemo_math.evaluation.benchmarks import load

        load(HLE)
        return HLE
    except Exception as err:  # noqa: BLE001 - no package, no network, no access: all mean "absent here"
        print(f"{HLE}: skipped: its data is absent ({type(err).__name__}: {str(err)[:160]}); it is gated on the "
              f"Hugging Face hub (cais/hle): pip install 'nemo-math[hf]' with access, or pass --hle-math FILE.jsonl")
        return None


def ratio_overrides(extract_dir: Path, aops: int, se: int) -> list[str]:
    sources = [f"{{path: {extract_dir / BY_SOURCE / f'{name}.jsonl'}, name: {name}, weight: {w}}}"
               for name, w in zip(SOURCES, (aops, se), strict=True) if w > 0]
    return [f"problems.sources=[{','.join(sources)}]"]


def check_mix(label: str, weights: tuple[int, int], extracted: dict[str, int], seed: int, max_problems: int,
              min_problems: int) -> None:
    """Fail before any run when the ratio's mix of the extracted problems is too small to say anything: a
    weighted source left out, or fewer than ``min_problems`` (the problems stage can only drop more)."""
    sources = [SourceConfig(name=name, weight=w) for name, w in zip(SOURCES, weights, strict=True) if w > 0]
    quotas = Mix(sources, seed, max_problems).quotas({s.name: extracted.get(s.name, 0) for s in sources})
    if min(quotas.values()) == 0 or sum(quotas.values()) < min_problems:
        mix = " + ".join(f"{n} {name}" for name, n in quotas.items())
        have = " + ".join(f"{extracted.get(name, 0)} {name}" for name in SOURCES)
        raise SystemExit(f"mix {label}: stage problems: the mix would keep {mix} of the {have} extracted problems, "
                         f"too few for this ratio (every source and >= {min_problems} in all are needed): extract "
                         f"more problems or lower --min-problems")


def shortfall(cfg, stage: str) -> str | None:
    """What a finished ``curate`` or ``pack`` of a ratio's run left too little of to train on, or None."""
    if stage == "curate":
        if done_summary(cfg.curate.output_dir).get("sft_records"):
            return None
        return f"kept no SFT records (see {cfg.curate.output_dir}/report.md)"
    empty = [s.bucket for s in cfg.train.stages if not (bucket_dir(cfg.train, s) / "manifest.json").exists()]
    return f"left the training buckets {empty} empty (see {cfg.pack.output_dir}/manifest.json)" if empty else None


def run_ratio(label: str, files: list[str], overrides: list[str], stages: list[str]) -> None:
    """The chain for one ratio; it stops before training, naming the stage, when too little is left to train on."""
    cfg = load_config(files, overrides)
    gates = [g for g in ("curate", "pack") if g in stages and "train" in stages[stages.index(g):]]
    for gate in gates:
        before = stages[: stages.index(gate) + 1]
        run_stage("pipeline", files, [*overrides, f"pipeline.stages=[{','.join(before)}]"], quiet=True)
        reason = shortfall(cfg, gate)
        if reason:
            raise SystemExit(f"mix {label}: stage {gate} {reason}: too few problems for this ratio to train on")
    run_stage("pipeline", files, [*overrides, f"pipeline.stages=[{','.join(stages)}]"], quiet=True)


def pass_at_1(metrics: Path, benchmarks: list[str]) -> dict[str, float]:
    """Mean pass@1 over modes and tool settings per benchmark (whole benchmarks, not subsets)."""
    if not metrics.exists():
        return {}
    rows = json.loads(metrics.read_text())["rows"]
    out = {}
    for bench in benchmarks:
        name = Path(bench).stem if bench not in (HLE, *COMPETITION) else bench
        mine = [r for r in rows if r["benchmark"] == name]
        whole = [r for r in mine if r["subset"] == "all"] or mine  # "all" exists when there are several subsets
        chosen = [r["correct"]["pass@1"] for r in whole]
        if chosen:
            out[name] = sum(chosen) / len(chosen)
    lengths = [r["length_mean"] for r in rows]
    if lengths:
        out["length_mean"] = sum(lengths) / len(lengths)
    return out


def pareto_front(points: list[tuple[float, float]], lower_y_better: bool = False) -> list[int]:
    """Indices of the points no other point beats on both axes (x higher is better; y higher unless told)."""
    sign = -1 if lower_y_better else 1
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox >= x and sign * oy >= sign * y and (ox, oy) != (x, y) for ox, oy in points)
        if not dominated:
            front.append(i)
    return front


def write_summary(out: Path, results: dict[str, dict[str, float]], competition: list[str], hle: str | None) -> Path:
    names = [*competition, *([Path(hle).stem if hle != HLE else HLE] if hle else [])]
    header = ["AoPS:SE", *names, "competition mean", "length mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    points, labels = [], []
    for label, res in results.items():
        comp = [res[n] for n in competition if n in res]
        comp_mean = sum(comp) / len(comp) if comp else None
        cells = [f"{100 * res[n]:.1f}" if n in res else "-" for n in names]
        mean = "-" if comp_mean is None else f"{100 * comp_mean:.1f}"
        length = f"{res['length_mean']:.0f}" if "length_mean" in res else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} | {length} |")
        if comp_mean is not None:
            second = res.get(names[-1]) if hle else res.get("length_mean")
            if second is not None:
                points.append((comp_mean, second))
                labels.append(label)
    text = ["# AoPS:StackExchange mix sweep", "", "pass@1 (%), mean over modes and tool settings", "", *lines, ""]
    if not hle:
        text += [f"{HLE}: skipped (data absent); the plot shows competition pass@1 against mean length instead.", ""]
    if points:
        plot_pareto(out / "pareto.png", points, labels, hle is not None)
        text += ["![Pareto](pareto.png)", ""]
    path = out / "mix_sweep.md"
    write_text(path, "\n".join(text))
    return path


def plot_pareto(path: Path, points: list[tuple[float, float]], labels: list[str], with_hle: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front = pareto_front(points, lower_y_better=not with_hle)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([p[0] for p in points], [p[1] for p in points], color="#4c72b0")
    for (x, y), label in zip(points, labels, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    chosen = sorted(points[i] for i in front)
    ax.plot([p[0] for p in chosen], [p[1] for p in chosen], color="#dd8452", label="Pareto front")
    ax.set_xlabel("competition pass@1")
    ax.set_ylabel("HLE-math pass@1" if with_hle else "mean solution length (tokens, lower is better)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", help="a preset in configs/ (e.g. tiny)")
    p.add_argument("--config", action="append", default=[], help="YAML config files (later win)")
    p.add_argument("--ratios", default="90:10,75:25,50:50,25:75", help="AoPS:StackExchange weights")
    p.add_argument("--out", help="the sweep's folder (default: <run_dir>/mix_sweep)")
    p.add_argument("--competition", default=",".join(COMPETITION), help="competition benchmarks, comma list")
    p.add_argument("--hle-math", help="a local HLE-math JSONL (problem, expected_answer)")
    p.add_argument("--min-problems", type=int, default=16,
                   help="fail before training when a ratio's mix of the extracted problems is smaller")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = p.parse_args(argv)
    files = [*([args.preset] if args.preset else []), *args.config]
    cfg = load_config(files, args.overrides)
    out = Path(args.out or Path(cfg.run_dir) / "mix_sweep").resolve()
    competition = [b for b in args.competition.split(",") if b]
    hle = hle_spec(args.hle_math)
    benchmarks = [*competition, *([hle] if hle else [])]
    extract_dir = out / "extract"
    ratios = parse_ratios(args.ratios)
    run_stage("extract", files, [*args.overrides, f"extract.output_dir={extract_dir}"], quiet=True)
    extracted = done_summary(extract_dir)["by_source"]
    for aops, se in ratios:
        check_mix(f"{aops}:{se}", (aops, se), extracted, cfg.problems.seed, cfg.problems.max_problems,
                  args.min_problems)
    stages = [s for s in cfg.pipeline.stages if s != "extract"]
    results = {}
    for aops, se in ratios:
        label = f"{aops}:{se}"
        run_dir = out / f"aops{aops}_se{se}"
        print(f"mix {label}: {run_dir}", flush=True)
        run_ratio(label, files, [*args.overrides, f"run_dir={run_dir}", f"evaluate.benchmarks=[{','.join(benchmarks)}]",
                                 *ratio_overrides(extract_dir, aops, se)], stages)
        results[label] = pass_at_1(run_dir / "evaluate" / "metrics.json", benchmarks)
    path = write_summary(out, results, competition, hle)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
