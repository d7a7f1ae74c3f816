"""Wall time of the embedded default, ``nemo-math pipeline --preset tiny``, stage by stage, and of bringing the
one-node SLURM up and down.

    .venv/bin/python benchmarks/pipeline.py [--run-dir DIR] [--slurm] [KEY=VALUE ...]

Runs the whole tiny pipeline into a fresh ``--run-dir`` (default: a temp folder), then prints one
``<stage>_s=<x>`` line per stage and, last, ``pipeline_s=<x>`` (the issue's target: under 600 s on 2 cores).
With ``--slurm`` (root, slurm-wlm + munge installed) it also prints ``slurm_up_s`` and
``slurm_down_s`` for ``scripts/slurm_cluster.sh`` under a temp state folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def time_pipeline(run_dir: Path, overrides: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "nemo_math.cli", "pipeline", "--quiet", "--preset", "tiny", f"run_dir={run_dir}",
           *overrides]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    total = time.monotonic() - start
    timings = json.loads((run_dir / "report" / "timings.json").read_text())
    return {**{f"{stage}_s": t["wall_s"] for stage, t in timings.items()}, "pipeline_s": round(total, 1)}


def time_slurm(state: Path) -> dict[str, float]:
    # its own state folder and ports, so a cluster already up (for the tests) is left alone
    env = {**os.environ, "NEMO_MATH_SLURM_DIR": str(state), "NEMO_MATH_SLURM_CTLD_PORT": "6917",
           "NEMO_MATH_SLURM_SLURMD_PORT": "6918"}
    script = str(REPO / "scripts" / "slurm_cluster.sh")
    start = time.monotonic()
    subprocess.run([script, "up"], check=True, env=env, stdout=subprocess.DEVNULL)
    up = time.monotonic() - start
    start = time.monotonic()
    subprocess.run([script, "down"], check=True, env=env)
    return {"slurm_up_s": round(up, 2), "slurm_down_s": round(time.monotonic() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, help="a fresh folder for the run (default: a temp folder)")
    parser.add_argument("--slurm", action="store_true", help="also time scripts/slurm_cluster.sh up and down")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nemo-math-bench-") as tmp:
        figures = {}
        if args.slurm:
            figures.update(time_slurm(Path(tmp) / "slurm"))
        figures.update(time_pipeline(args.run_dir or Path(tmp) / "run", args.overrides))
    for name, value in figures.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
