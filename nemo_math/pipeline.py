"""``nemo-math pipeline``: run the configured stages in order, skip the complete ones, then write one report.

A stage is complete when its ``output_dir`` holds ``_SUCCESS.json`` (:func:`nemo_math.io.is_done`), which every
stage writes last; so a re-run after a crash or a kill starts at the first unfinished stage, and that stage's
own exactly-once logs resume it mid-way. ``--force STAGE`` deletes one stage's output and runs it again.

Each stage runs as its own ``python -m nemo_math.cli STAGE`` subprocess by default, exactly as an sbatch job
runs it, reading the resolved config the pipeline saved once (``<pipeline.output_dir>/config.yaml``): a stage's
torch/Megatron state or a crash cannot leak into the next, and every stage sees the same values.
``--in-process`` runs them in this process instead (handy under a debugger).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nemo_math import cli, progress
from nemo_math.config import ConfigError, NemoMathConfig, to_yaml
from nemo_math.io import is_done, read_json, write_json, write_text

log = progress.log

# pipeline stage -> the config section holding its output_dir (the CLI command has the stage's name)
# "extract" (raw forums -> problems) runs first when pipeline.stages lists it; the default list leaves it out
STAGES = ("extract", "problems", "generate", "grade", "curate", "pack", "train", "convert", "evaluate")


@dataclass
class StagePlan:
    stage: str
    output_dir: Path
    done: bool


def stage_output_dir(cfg: NemoMathConfig, stage: str) -> Path:
    return Path(getattr(cfg, stage).output_dir)


def plan(cfg: NemoMathConfig) -> list[StagePlan]:
    """The configured stages in order, each with its output folder and whether it is already complete."""
    unknown = [s for s in cfg.pipeline.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"pipeline.stages: unknown stage(s) {', '.join(unknown)} (known: {', '.join(STAGES)})")
    return [StagePlan(s, stage_output_dir(cfg, s), is_done(stage_output_dir(cfg, s))) for s in cfg.pipeline.stages]


def job_lines(cfg: NemoMathConfig, stages: list[StagePlan], forced: set[str]) -> list[str]:
    """``STAGE done|pending OUTPUT_DIR [ARGS]`` per job for ``slurm/submit_pipeline.sh``, after ``run_dir PATH``.

    Training is one job per bucketed SFT stage (``train.<name> ... --stage NAME``), each resuming from the one
    before, so each can have its own time limit and be requeued on its own.
    """
    lines = [f"run_dir {cfg.run_dir}"]
    for s in stages:
        pending = s.stage in forced or not s.done
        if s.stage != "train":
            lines.append(f"{s.stage} {'pending' if pending else 'done'} {s.output_dir}")
            continue
        names = [t.name for t in cfg.train.stages]
        for name in names:
            sub_done = not pending or (s.stage not in forced and is_done(s.output_dir / name))
            if name == names[-1] and pending:
                sub_done = False  # the last stage's job also writes train/_SUCCESS.json
            lines.append(f"train.{name} {'done' if sub_done else 'pending'} {s.output_dir / name} --stage {name}")
    return lines


def is_built(stage: str) -> bool:
    return importlib.util.find_spec(cli.COMMANDS[stage][0]) is not None


def clear_output(cfg: NemoMathConfig, stage: str) -> None:
    """Delete one stage's output folder, refusing a folder that holds the run or another stage's output."""
    target = stage_output_dir(cfg, stage).resolve()
    protected = [Path(cfg.run_dir).resolve(), Path.cwd().resolve(), Path(cfg.pipeline.output_dir).resolve()]
    protected += [stage_output_dir(cfg, s).resolve() for s in STAGES if s != stage]
    for other in protected:
        if target == other or target in other.parents:
            raise ConfigError(f"--force {stage}: {stage}.output_dir {target} holds {other}; refusing to delete it")
    if target.exists():
        log.info("--force %s: deleting %s", stage, target)
        shutil.rmtree(target)


def run_stage(stage: str, config: list[str], overrides: list[str] | None = None, quiet: bool = False) -> None:
    """Run one stage in this process, as ``nemo-math STAGE --config ...`` would (the nemo-run entry point)."""
    argv = [stage, *(a for c in config for a in ("--config", c)), *(["--quiet"] if quiet else []),
            *(overrides or [])]
    rc = cli.main(argv)
    if rc:
        raise RuntimeError(f"nemo-math {stage} failed with exit code {rc}")


def _run_subprocess(stage: str, config_file: Path, quiet: bool) -> int:
    cmd = [sys.executable, "-m", "nemo_math.cli", stage, "--config", str(config_file)]
    if quiet:
        cmd.append("--quiet")
    log.info("[bold]%s[/bold]: %s", stage, " ".join(cmd[1:]), extra={"markup": True})
    return subprocess.call(cmd)


def _load_timings(path: Path) -> dict[str, dict]:
    return read_json(path) if path.exists() else {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="append", default=[], metavar="STAGE", choices=STAGES,
                        help="delete this stage's output and run it again (repeatable)")
    parser.add_argument("--in-process", action="store_true", help="run the stages in this process")
    parser.add_argument("--plan", action="store_true",
                        help="print 'run_dir PATH' and one 'STAGE done|pending OUTPUT_DIR [ARGS]' line per job, "
                             "run nothing (read by slurm/submit_pipeline.sh)")


def main(cfg: NemoMathConfig, args: argparse.Namespace) -> int:
    stages = plan(cfg)
    forced = set(args.force)
    if args.plan:
        print("\n".join(job_lines(cfg, stages, forced)))
        return 0

    not_configured = forced - {s.stage for s in stages}
    if not_configured:
        raise ConfigError(f"--force {', '.join(sorted(not_configured))}: not in pipeline.stages {cfg.pipeline.stages}")
    pending = [s for s in stages if s.stage in forced or not s.done]
    missing = [s.stage for s in pending if not is_built(s.stage)]
    if missing:
        print(f"error: pipeline: stage(s) not built yet: {', '.join(missing)} "
              f"({', '.join(cli.COMMANDS[m][0] for m in missing)} missing); "
              f"remove them from pipeline.stages to run the others", file=sys.stderr)
        return 2

    report_dir = Path(cfg.pipeline.output_dir)
    config_file = report_dir / "config.yaml"
    write_text(config_file, to_yaml(cfg))
    timings_file = report_dir / "timings.json"
    timings = _load_timings(timings_file)
    quiet = progress.is_quiet()
    for s in stages:
        if s not in pending:
            log.info("%s: complete in %s, skipped", s.stage, s.output_dir)
            continue
        if s.stage in forced:
            clear_output(cfg, s.stage)
        start = time.monotonic()
        if args.in_process:
            rc = cli.main([s.stage, "--config", str(config_file), *(["--quiet"] if quiet else [])])
        else:
            rc = _run_subprocess(s.stage, config_file, quiet)
        timings[s.stage] = {"wall_s": round(time.monotonic() - start, 2), "exit_code": rc,
                            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(timings_file, timings)
        if rc != 0:
            print(f"error: pipeline: stage {s.stage} failed (exit code {rc}); fix it and re-run: "
                  f"complete stages are skipped", file=sys.stderr)
            return rc
        if not is_done(s.output_dir):
            print(f"error: pipeline: stage {s.stage} exited 0 but did not mark {s.output_dir} complete "
                  f"(no _SUCCESS.json)", file=sys.stderr)
            return 1
        log.info("%s: done in %.1f s", s.stage, timings[s.stage]["wall_s"])

    from nemo_math.report import slurm_timings, write_report

    if os.environ.get("NEMO_MATH_LOG_DIR"):  # the report job of slurm/submit_pipeline.sh: the stages ran as jobs
        timings = {**slurm_timings(Path(os.environ["NEMO_MATH_LOG_DIR"]) / "timings.jsonl"), **timings}
    report = write_report(cfg, timings)
    print(f"pipeline complete: report {report}")
    return 0
