"""The summary, requests and iterations from Python equal the CLI's files for the same run."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, List

import pandas as pd
import pytest

import reallm

from conftest import CONFIGS


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same_cell(csv_text: str, value: Any) -> bool:
    """A CSV field (shortest round-trip numbers, 1/0 booleans, empty for none) and a value."""
    if csv_text == "":
        return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
    if isinstance(value, bool):
        return csv_text == ("1" if value else "0")
    if isinstance(value, int):
        return int(csv_text) == value
    if isinstance(value, str):
        return csv_text == value
    return float(csv_text) == value


def assert_table_equals_csv(rows: List[Dict[str, Any]], path: Path) -> None:
    want = read_csv(path)
    assert len(rows) == len(want), path
    with open(path) as f:
        header = f.readline().strip().split(",")
    assert list(rows[0].keys()) == header
    for i, (got, exp) in enumerate(zip(rows, want)):
        for k in header:
            assert same_cell(exp[k], got[k]), f"{path.name} row {i} column {k}: csv {exp[k]!r}, python {got[k]!r}"


def test_default_run_equals_cli(cli, in_tmp):
    cli.run("--workspace", "ws", "sim")
    res = reallm.simulate()
    assert res.summary == cli.summary()
    d = cli.results_dir()
    assert_table_equals_csv(res.requests(as_frame=False), d / "requests.csv")
    assert_table_equals_csv(res.iterations(as_frame=False), d / "iterations.csv")
    # The DataFrame holds the same values.
    df = res.requests()
    # pandas < 3 parses floats inexactly unless asked (3 does it by default, and warns).
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    want = pd.read_csv(d / "requests.csv", **exact)
    assert list(df.columns) == list(want.columns)
    assert (df["ttft_s"].to_numpy() == want["ttft_s"].to_numpy()).all()
    assert (df["e2e_s"].to_numpy() == want["e2e_s"].to_numpy()).all()
    # Nothing was written by Python.
    assert list(in_tmp.iterdir()) == []


def test_default_homo_equals_cli(cli, in_tmp):
    """The original tool's homogeneous config: llmcompass backend, a trace path relative to the
    working folder, end_reqs 20. (The CLI runs beside the Python run: LLMCompass is slow in
    the debug build CI tests.)"""
    cfg = str(CONFIGS / "default_homo.yaml")
    proc = cli.start("-c", cfg, "sim")
    res = reallm.simulate(cfg)
    cli.wait(proc)
    assert res.summary == cli.summary()
    assert res.summary["requests"]["total"] == 20
    assert res.summary["run"]["backend"] == "llmcompass"
    assert_table_equals_csv(res.requests(as_frame=False), cli.results_dir() / "requests.csv")
    assert list(in_tmp.iterdir()) == []


def test_a_closed_loop_synthetic_run_equals_cli(cli, in_tmp):
    """Not a trace: the engine-profile concurrency config, one level (a closed loop of
    synthetic requests), with `--set` overrides."""
    cfg = str(CONFIGS.parent / "experiments" / "llama31_8b_h100_vllm_concurrency.yaml")
    sets = ["--set", "workload.concurrency=[8]", "--set", "workload.synthetic.requests=200"]
    p = cli.run("-c", cfg, *sets, "--workspace", "ws", "sim")
    res = reallm.simulate(cfg, overrides={"workload.concurrency": [8], "workload.synthetic.requests": 200})
    assert res.summary == cli.summary()
    assert res.trace_name == "synthetic_c8" and res.summary["requests"]["total"] == 200
    assert res.summary_table() in p.stdout
    assert_table_equals_csv(res.requests(as_frame=False), cli.results_dir() / "requests.csv")
    assert_table_equals_csv(res.iterations(as_frame=False), cli.results_dir() / "iterations.csv")


def test_overrides_equal_cli_set(cli, in_tmp):
    cli.run("--set", "workload.request_rates=2", "--set", "system.batching.policy=chunked", "--workspace", "ws", "sim")
    want = cli.summary()
    a = reallm.simulate(None, **{"workload.request_rates": 2, "system.batching.policy": "chunked"})
    b = reallm.simulate(overrides={"workload.request_rates": 2, "system.batching.policy": "chunked"})
    c = reallm.simulate(workload__request_rates=2, system__batching__policy="chunked")
    assert a.summary == want
    assert b.summary == want
    assert c.summary == want
    assert a.trace_name == "rr_code_2"


DEFAULT_DICT = {
    "model": "llama3-70b",
    "backend": "roofline",
    "system": {
        "device": "H100-SXM",
        "num_devices": 4,
        "parallelism": {"attention": "tp4"},
        "batching": {"policy": "continuous", "max_batch_seqs": 128},
    },
    "workload": {"tasks": ["conv"], "request_rates": [3], "max_requests": 120, "seed": 7},
}


def test_dict_and_yaml_string_configs_equal_the_file(cli, in_tmp, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(DEFAULT_DICT, indent=2))
    cli.run("-c", str(path), "sim")
    want = cli.summary()
    assert reallm.simulate(DEFAULT_DICT).summary == want
    assert reallm.simulate(path).summary == want
    assert reallm.simulate(str(path)).summary == want
    yaml_text = (
        "model: llama3-70b\nbackend: roofline\nsystem:\n  device: H100-SXM\n  num_devices: 4\n"
        "  parallelism: {attention: tp4}\n  batching: {policy: continuous, max_batch_seqs: 128}\n"
        "workload: {tasks: [conv], request_rates: [3], max_requests: 120, seed: 7}\n"
    )
    assert reallm.simulate(yaml_text).summary == want


def test_summary_table_is_the_cli_table(cli, in_tmp):
    p = cli.run("--workspace", "workspace", "sim")
    res = reallm.simulate()
    assert res.summary_table() in p.stdout


def test_write_writes_what_sim_writes(cli, in_tmp, tmp_path):
    cli.run("--workspace", "ws", "sim")
    res = reallm.simulate(workspace="ws", write=True)
    assert res.results_dir is not None
    got = Path(res.results_dir)
    assert got.is_dir() and (in_tmp / "ws" / "traces" / "rr_code_1.csv").is_file()
    for name in ["summary.json", "requests.csv", "iterations.csv", "sim_results.csv"]:
        a = (got / name).read_bytes()
        b = (cli.results_dir() / name).read_bytes()
        assert a == b, name
    out = reallm.simulate(output_dir=tmp_path / "out", workspace="ws")
    assert Path(out.results_dir) == tmp_path / "out" / "rr_code_1"
    assert (tmp_path / "out" / "rr_code_1" / "summary.json").read_bytes() == (got / "summary.json").read_bytes()


def test_a_written_trace_is_read_back(in_tmp):
    """A trace file in the workspace is what the run uses (here: one request kept)."""
    first = reallm.simulate(workspace="ws", write=True, timeline="never")
    trace = Path(first.trace)
    lines = trace.read_text().splitlines()
    custom = in_tmp / "one.csv"
    custom.write_text("\n".join(lines[:2]) + "\n")
    res = reallm.simulate(trace=custom)
    assert res.summary["requests"]["total"] == 1
    assert res.trace_name == "one"


@pytest.mark.parametrize("rates", [[1, 2]])
def test_sweep_equals_cli_sweep(cli, in_tmp, rates):
    grid = {"workload.request_rates": rates, "system.batching.policy": ["continuous", "chunked"]}
    base = {"workload.max_requests": 60}
    cli.run(
        "--set",
        "workload.max_requests=60",
        "sweep",
        "--grid",
        "workload.request_rates=" + ",".join(map(str, rates)),
        "--grid",
        "system.batching.policy=continuous,chunked",
        "--out",
        "sweep.csv",
        "--jobs",
        "2",
    )
    want = read_csv(cli.cwd / "sweep.csv")
    got = reallm.sweep(None, grid, threads=2, overrides=base, as_frame=False)
    assert len(got) == len(want) == 4
    assert list(got[0].keys()) == list(want[0].keys())
    for g, w in zip(got, want):
        for k in w:
            assert same_cell(w[k], g[k]), (k, w[k], g[k])
    # The CLI's --grid strings give the same rows, and so does a DataFrame.
    again = reallm.sweep(None, ["workload.request_rates=1,2", "system.batching.policy=continuous,chunked"], 1, overrides=base)
    assert isinstance(again, pd.DataFrame)
    assert again.to_dict("records") == pd.DataFrame(got).to_dict("records")
    # A point equals the single run with its values.
    one = reallm.simulate(overrides={**base, "workload.request_rates": 2, "system.batching.policy": "chunked"})
    assert got[3]["ttft_p99_s"] == one.summary["ttft_s"]["p99"]
    assert got[3]["requests_per_s"] == one.summary["throughput"]["requests_per_s"]
