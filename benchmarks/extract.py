"""Throughput and memory of the extract stage's pre-filters over a synthetic StackExchange ``Posts.xml``.

    .venv/bin/python benchmarks/extract.py [--size-mb 200 | --size-gb 1] [--runs 3] [--dir /tmp]

Writes a synthetic dump in the real format (:mod:`nemo_math.extract.synthetic`: 1 question : 2 answers, HTML
bodies with math, MathJax scripts, entities, some images, non-English questions, a ``Users.xml``) to a temp
folder under ``--dir``, runs the reader and pre-filters over it ``--runs`` times, each in a fresh child process
(one core; the generator's memory excluded), and deletes it. Each run prints ``posts_per_s=<x>`` (rows of the
dump per wall second), ``cpu_posts_per_s=<x>`` (per CPU second of the process: less sensitive to a loaded
machine), ``mb_per_s=<x>`` and ``peak_rss_mb=<x>``; then the medians and ``/proc/loadavg``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(path: str, rows: int) -> None:
    from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
    from nemo_math.extract.readers import Prefilter, read_source

    filt = Prefilter(PrefilterConfig())
    start, cpu = time.perf_counter(), time.process_time()
    kept = sum(1 for _ in read_source(ForumSourceConfig(path=path), filt))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"counts={dict(filt.counts)} candidates={kept}")
    print(f"posts_per_s={rows / elapsed:.0f} cpu_posts_per_s={rows / cpu:.0f} "
          f"mb_per_s={Path(path).stat().st_size / 2**20 / elapsed:.1f} "
          f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        measure(sys.argv[2], int(sys.argv[3]))
        return
    from nemo_math.extract.synthetic import write_dump

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=200)
    p.add_argument("--size-gb", type=float, help="overrides --size-mb")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--dir", default=None, help="where the temp dump goes (default: the system temp folder)")
    args = p.parse_args()
    size_mb = args.size_gb * 1024 if args.size_gb else args.size_mb
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = write_dump(tmp, size_mb=size_mb)
        path = Path(tmp) / "Posts.xml"
        print(f"synthetic Posts.xml: {path.stat().st_size / 2**20:.0f} MB, {rows} rows", flush=True)
        figures: dict[str, list[float]] = {}
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--measure", str(path), str(rows)], check=True,
                                 capture_output=True, text=True).stdout
            print(out, end="", flush=True)
            for field in out.split():
                name, _, value = field.partition("=")
                if name in ("posts_per_s", "cpu_posts_per_s", "mb_per_s", "peak_rss_mb"):
                    figures.setdefault(name, []).append(float(value))
        print("median " + " ".join(f"{k}={statistics.median(v):.1f}" for k, v in figures.items()))
        print(f"loadavg {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
