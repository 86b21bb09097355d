"""The walk-through of docs/python.md as one script (each `# %%` is a notebook cell).

    python python/examples/walkthrough.py [OUT_DIR]

Writes the rate-sweep plot to OUT_DIR/python_rate_sweep.png (default: the current folder).
Needs pandas and matplotlib.
"""

# %% One run of the built-in default experiment (what `reallm sim` runs)
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; in Jupyter leave this out
import matplotlib.pyplot as plt

import reallm

res = reallm.simulate()
print(res)
print(res.summary_table())

# %% The summary is summary.json as a dict
s = res.summary
print(s["ttft_s"]["p99"], s["throughput"]["output_tokens_per_s"], s["engine"]["mfu"])

# %% Per-request latencies as a DataFrame (the columns of requests.csv)
df = res.requests()
print(df[["request_id", "prompt_tokens", "output_tokens", "ttft_s", "tpot_s", "e2e_s"]].head())
print(df[["ttft_s", "tpot_s", "e2e_s"]].describe(percentiles=[0.5, 0.9, 0.99]).T)
# The slowest first tokens, and what they have in common: long prompts
print(df.nlargest(5, "ttft_s")[["request_id", "arrival_s", "prompt_tokens", "queueing_s", "ttft_s"]])

# %% A rate sweep: every point is a full simulation, run on all cores
rates = [1, 2, 4, 8, 12, 16, 24, 32]
sw = reallm.sweep(
    None,
    {"workload.request_rates": rates, "system.batching.policy": ["continuous", "chunked"]},
    overrides={"workload.max_requests": 600},
)
print(sw[["workload.request_rates", "system.batching.policy", "ttft_p99_s", "tbt_p99_s", "output_tokens_per_s"]])

# %% Plot it with matplotlib
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for policy, g in sw.groupby("system.batching.policy"):
    ax1.plot(g["workload.request_rates"], g["ttft_p99_s"] * 1e3, marker="o", label=policy)
    ax2.plot(g["workload.request_rates"], g["tbt_p99_s"] * 1e3, marker="o", label=policy)
ax1.set(xlabel="request rate (req/s)", ylabel="TTFT p99 (ms)", yscale="log", title="Llama-3-70B, 8×H100 TP8, code")
ax2.set(xlabel="request rate (req/s)", ylabel="TBT p99 (ms)", yscale="log", title="time between tokens")
ax1.legend()
ax1.grid(alpha=0.3)
ax2.grid(alpha=0.3)
fig.tight_layout()
out = Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "python_rate_sweep.png"
fig.savefig(out, dpi=110)
print("wrote", out)

# %% Errors carry the CLI's message and exit code
try:
    reallm.simulate(overrides={"workload.request_rate": 2})
except reallm.ConfigError as e:
    print(e.exit_code, e.key, "|", e)
