"""``nemo-math evaluate``: the student on the paper's benchmarks, in every mode, with and without Python.

1. Generation goes through the data stage's engine (:mod:`nemo_math.generation.stage`: the same client, TIR loop,
   sandbox and exactly-once job runner), so a killed evaluation resumes where it stopped and ``--shard`` splits
   it over SLURM array tasks. With ``evaluate.local_server.backend`` set (``hf``, ``vllm``, ``sglang``,
   ``transformers``) the student's HF folder is served on 127.0.0.1 for the run and stopped after.
2. Grading: symbolic by default; the LLM judge too for ``judge_benchmarks`` (HLE-math).
3. Metrics per benchmark subset x mode x tool, the mode-collapse monitor and the report (markdown + PNG).

``nemo-math evaluate --compare RUN_A RUN_B`` prints two finished evaluations side by side instead.

Usage::

    # a laptop: serve the converted student with transformers on 127.0.0.1 (or vLLM's CPU build)
    nemo-math evaluate -c tiny evaluate.local_server.backend=hf evaluate.max_problems=2 evaluate.num_samples=2
    nemo-math evaluate -c tiny evaluate.local_server.backend=vllm evaluate.local_server.python=.venv-vllm/bin/python
    # a cluster: vllm serve <run_dir>/hf --served-model-name student, then
    nemo-math evaluate -c qwen3_8b evaluate.client.base_urls=[http://node1:8000/v1,http://node2:8000/v1]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from nemo_math.config import NemoMathConfig
from nemo_math.io import done_keys, load_records, mark_done, write_json, write_records
from nemo_math.progress import log
from nemo_math.records import Problem, Trajectory

GENERATIONS = "generations"
GRADED_FILE = "graded.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nemo_math.generation.stage import add_arguments as add_shard_arguments

    add_shard_arguments(parser)
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                        help="print two evaluations (output folders or metrics.json) side by side, then exit")


def load_problems(cfg: NemoMathConfig) -> list[Problem]:
    """Every benchmark's problems; ids are prefixed with the benchmark so two benchmarks never share a job."""
    from nemo_math.evaluation.benchmarks import load_all

    problems = load_all(cfg.evaluate.benchmarks, cfg.evaluate.max_problems)
    return [dataclasses.replace(p, id=f"{p.data_source}/{p.id}") for p in problems]


def generation_config(cfg: NemoMathConfig) -> NemoMathConfig:
    """The root config with ``generate`` set to the evaluation's generation settings."""
    e = cfg.evaluate
    generate = dataclasses.replace(
        cfg.generate, input="", output_dir=str(Path(e.output_dir) / GENERATIONS), num_samples=e.num_samples,
        modes=list(e.modes), tools=list(e.tools), transport=e.transport, temperature=e.temperature, top_p=e.top_p,
        max_tokens=e.max_tokens, max_code_executions=e.max_code_executions, max_wall_time_s=e.max_wall_time_s,
        client=e.client, local_server=e.local_server, teachers=[])
    return dataclasses.replace(cfg, generate=generate)


def run_generation(cfg: NemoMathConfig, problems: list[Problem], shard: int, num_shards: int) -> bool:
    """Generate every missing sample of this shard; True when every job of every shard is on disk."""
    from nemo_math.generation import stage as generation

    gcfg = generation_config(cfg)
    generation.check_config(gcfg)
    jobs = generation.build_jobs(problems, gcfg.generate.modes, gcfg.generate.tools, gcfg.generate.num_samples)
    log.info("evaluate: %d problems x %d modes x %d tool settings x %d samples = %d generations", len(problems),
             len(gcfg.generate.modes), len(gcfg.generate.tools), gcfg.generate.num_samples, len(jobs))
    out = gcfg.generate.output_dir
    pattern = f"{generation.STEM}-*.jsonl"
    finished = done_keys(out, pattern=pattern)
    if any(job.id not in finished for job in generation.select_shard(jobs, shard, num_shards)):
        with generation.model_server(gcfg) as client_cfg, generation.open_sandbox(gcfg) as sandbox:
            try:
                summary = asyncio.run(generation.generate(gcfg, jobs, client_cfg, sandbox, shard, num_shards))
            except generation.ServerDead as err:
                log.error("evaluate: the student's server is dead (finished samples are kept): %s", err)
                return False
        log.info("evaluate: finish reasons %s", summary.finish_reasons)
        if summary.failed:
            log.warning("%d generations failed (first: %s); rerun to retry them", summary.failed, summary.errors[:1])
        finished = done_keys(out, pattern=pattern)
    return all(job.id in finished for job in jobs)


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    from nemo_math.evaluation import report

    if getattr(args, "compare", None):
        try:
            print(report.compare(*args.compare))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    from nemo_math.evaluation.collapse import lengths_by_mode, mode_collapse
    from nemo_math.evaluation.grade import grade
    from nemo_math.evaluation.metrics import compute_metrics

    e = cfg.evaluate
    problems = load_problems(cfg)
    if not run_generation(cfg, problems, getattr(args, "shard", 0), getattr(args, "num_shards", 1)):
        log.warning("evaluate: generations are incomplete; metrics are computed once every shard has finished")
        return 1
    wanted = {p.id for p in problems}
    trajectories = [t for t in load_records(Path(e.output_dir) / GENERATIONS, Trajectory)
                    if t.problem_id in wanted and t.mode in e.modes and t.with_tool in e.tools
                    and t.seed < e.num_samples]
    graded = grade(cfg, trajectories)
    write_records(Path(e.output_dir) / GRADED_FILE, graded)
    rows = compute_metrics(graded, e.num_samples, e.length_percentiles)
    collapse = mode_collapse(graded, e.collapse_min_separation)
    path = report.write_report(e.output_dir, e.model_name, rows, collapse, lengths_by_mode(graded),
                               e.collapse_min_separation)
    for flagged in (c for c in collapse if c["flagged"]):
        log.warning("mode collapse: %s %s (%s) separation %.3f < %.2f", flagged["benchmark"], flagged["mode"],
                    "tool" if flagged["with_tool"] else "no tool", flagged["separation"], e.collapse_min_separation)
    write_json(Path(e.output_dir) / "settings.json", dataclasses.asdict(e))  # what produced this report
    mark_done(e.output_dir, {"samples": len(graded), "problems": len(problems), "report": str(path)})
    log.info("evaluate: report at %s", path)
    return 0
