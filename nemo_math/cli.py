"""``nemo-math <stage> --config FILE.yaml key=value ...``: load the config, run one stage, nothing else.

Each subcommand is a module with ``main(cfg, args)`` and, optionally, ``add_arguments(parser)`` for flags that
are not config (``--shard``, ``--port``, ``--compare``). Modules are imported only when their subcommand runs, so
``nemo-math problems`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from nemo_math import progress
from nemo_math.records import RecordError

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "extract": ("nemo_math.extract.stage", "problems with checkable answers from raw forums (SE, AoPS)"),
    "problems": ("nemo_math.problems.stage", "normalise, dedup, decontaminate and mix problem sets"),
    "sandbox": ("nemo_math.sandbox.server", "serve the Python sandbox over HTTP for a cluster"),
    "generate": ("nemo_math.generation.stage", "teacher solutions in every mode, with and without Python"),
    "grade": ("nemo_math.grading.stage", "extract answers and judge them against the references"),
    "curate": ("nemo_math.curation.stage", "answer repair, pass rates, filters, SFT records"),
    "pack": ("nemo_math.packing.stage", "tokenise, bucket by length and pack SFT records"),
    "plan": ("nemo_math.packing.plan_stage", "propose buckets and parallel layouts for a cluster"),
    "train": ("nemo_math.training.stage", "Megatron-Core SFT as sequential bucketed stages"),
    "convert": ("nemo_math.conversion.stage", "Megatron <-> Hugging Face checkpoints"),
    "evaluate": ("nemo_math.evaluation.stage", "benchmarks with per-mode, per-tool metrics"),
    "pipeline": ("nemo_math.pipeline", "run every stage in order, skipping what is complete"),
}


class NotBuiltError(RuntimeError):
    pass


def _load_module(command: str):
    module_name = COMMANDS[command][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise NotBuiltError(f"nemo-math {command}: not built yet ({module_name} does not exist)") from None
        raise


def build_parser(command: str | None, module=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nemo-math", description="Nemotron-Math distillation recipes.")
    sub = parser.add_subparsers(dest="command", metavar="STAGE")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != command:
            continue
        p.add_argument("--preset", help="a preset in configs/ (e.g. tiny) or a YAML file, loaded before --config")
        p.add_argument("--config", "-c", action="append", default=[],
                       help="YAML config file or preset name (repeatable; later files win)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars, warnings only")
        p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(p)  # before the overrides, so a module's positional (`sandbox serve`) comes first
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="dotted overrides, e.g. generate.num_samples=8")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        module = _load_module(command) if command else None
    except NotBuiltError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser = build_parser(command, module)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2

    from nemo_math.config import ConfigError, load_config, to_yaml

    progress.configure(quiet=args.quiet)
    try:
        cfg = load_config([*([args.preset] if args.preset else []), *args.config], args.overrides)
        if args.print_config:
            print(to_yaml(cfg))
            return 0
        return int(module.main(cfg, args) or 0)
    except (ConfigError, RecordError, FileNotFoundError) as err:
        logging.getLogger("nemo_math").debug("failed", exc_info=True)
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
