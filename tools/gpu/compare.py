"""Compare `reallm kernel-time` predictions with a measurement CSV from measure_kernels.py.

python3 tools/gpu/compare.py REALLM_BINARY tools/gpu/results/h200_torch.csv H200-SXM [BACKEND]

Prints a Markdown table per op family and dtype: rows, median and worst absolute relative
error |pred - meas| / meas, and the median signed error (pred / meas - 1), for all rows and for
rows with at least 64 tokens (M >= 64 for GEMMs).
"""
import csv
import json
import statistics
import subprocess
import sys


def main(binary, path, device, backend="roofline"):
    groups = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if not r["latency_s"]:
                continue
            args = [binary, "-q", "kernel-time", "--device", device, "--backend", backend, "--op", r["op"], "--shape", r["shape"], "--dtype", r["dtype"], "--json"]
            out = subprocess.run(args, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"skip {r['op']} {r['shape']}: {out.stderr.strip()}", file=sys.stderr)
                continue
            pred = json.loads(out.stdout)["time_s"]
            meas = float(r["latency_s"])
            tokens = int(r["shape"].split(",")[0]) if r["op"] in ("matmul", "layernorm", "silu") else 64
            groups.setdefault((r["op"], r["dtype"]), []).append((pred / meas - 1.0, tokens))
    print(f"| op | dtype | rows | median abs err | worst abs err | median signed | rows T>=64 | median abs err T>=64 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (op, dt), v in sorted(groups.items()):
        e = [abs(x) for x, _ in v]
        big = [abs(x) for x, t in v if t >= 64]
        print(
            f"| {op} | {dt} | {len(v)} | {100 * statistics.median(e):.1f} % | {100 * max(e):.1f} % | {100 * statistics.median([x for x, _ in v]):+.1f} % "
            f"| {len(big)} | {(100 * statistics.median(big)) if big else float('nan'):.1f} % |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
