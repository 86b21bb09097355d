"""Benchmark: N simulations of the built-in default experiment from Python, in one process.

    python python/bench/bench_loop.py            # 1,000 runs, timeline "auto" (as `reallm sim`)
    python python/bench/bench_loop.py -n 200 --timeline never

Each run is a full `reallm.simulate()`: config load, trace generation in memory (300 requests of
the code task at 1 req/s), the engine (5,623 iterations), the summary (parsed into a dict).
No process is spawned and nothing is written. Prints wall time, runs per second and the
per-run time; also times `Result.requests()` (the per-request DataFrame) on the last run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import reallm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="simulations (default 1000)")
    ap.add_argument("--timeline", default="auto", choices=["auto", "always", "never"])
    args = ap.parse_args()

    try:
        import pandas  # noqa: F401  (imported before timing: its import alone takes ~1 s)
    except ImportError:
        pass
    first = reallm.simulate(timeline=args.timeline)  # warm-up (registry, allocator)
    ref = first.summary
    per_run = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    for _ in range(args.n):
        t = time.perf_counter()
        res = reallm.simulate(timeline=args.timeline)
        s = res.summary
        per_run.append(time.perf_counter() - t)
        assert s == ref  # same config and seed: the same summary every time
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    t = time.perf_counter()
    df = res.requests()
    frame_s = time.perf_counter() - t

    per_run.sort()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"reallm {reallm.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{args.n} simulations of the default experiment (timeline={args.timeline}): {wall:.2f} s wall, "
          f"{args.n / wall:.1f} runs/s; CPU {cpu:.2f} s ({cpu / args.n * 1e3:.2f} ms per run)")
    print(f"per run: median {statistics.median(per_run) * 1e3:.2f} ms, "
          f"p90 {per_run[int(0.9 * (len(per_run) - 1))] * 1e3:.2f} ms, "
          f"min {per_run[0] * 1e3:.2f} ms; "
          f"{ref['engine']['iterations']} iterations and {ref['requests']['total']} requests each")
    print(f"Result.requests() -> {type(df).__name__} of {len(df)} rows: {frame_s * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
