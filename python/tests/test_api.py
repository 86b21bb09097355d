"""Errors, tables, kernel_time, plugins, python -m reallm, the GIL and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

import reallm

from conftest import CONFIGS, REPO


# Each case: the Python call, the CLI arguments that make the same mistake, the class.
ERROR_CASES = [
    (
        lambda: reallm.simulate(**{"workload.request_rate": 2}),
        ["--set", "workload.request_rate=2", "sim"],
        reallm.ConfigError,
    ),
    (
        lambda: reallm.simulate(overrides={"system.num_devices": "many"}),
        ["--set", "system.num_devices=many", "sim"],
        reallm.ConfigError,
    ),
    (lambda: reallm.simulate(overrides={"": 1}), ["--set", "=1", "sim"], reallm.UsageError),
    (lambda: reallm.simulate("no/such/config.yaml"), ["-c", "no/such/config.yaml", "sim"], reallm.IoError),
    (
        lambda: reallm.simulate(overrides={"backend": "nosuch"}),
        ["--set", "backend=nosuch", "sim"],
        reallm.PluginError,
    ),
    (
        lambda: reallm.simulate(overrides={"system.num_devices": 1, "system.parallelism.attention": "tp1"}),
        ["--set", "system.num_devices=1", "--set", "system.parallelism.attention=tp1", "sim"],
        reallm.InfeasibleError,
    ),
    (
        lambda: reallm.kernel_time("H100-SXM", "matmul", [1, 2]),
        ["kernel-time", "--op", "matmul", "--shape", "1,2"],
        reallm.UsageError,
    ),
    (
        lambda: reallm.kernel_time("H100-SXM", "nosuchop", [1, 2]),
        ["kernel-time", "--op", "nosuchop", "--shape", "1,2"],
        reallm.UsageError,
    ),
]


@pytest.mark.parametrize("call,args,cls", ERROR_CASES)
def test_errors_carry_the_cli_message_and_exit_code(cli, in_tmp, call, args, cls):
    code, message = cli.error(*args)
    with pytest.raises(cls) as info:
        call()
    e = info.value
    assert str(e) == message
    assert e.exit_code == code
    assert isinstance(e, reallm.ReallmError)


def test_unknown_key_names_the_key_and_suggests_the_right_one(in_tmp):
    with pytest.raises(reallm.ConfigError) as info:
        reallm.simulate({"model": "llama3-70b", "workload": {"request_rate": [2]}})
    e = info.value
    assert e.key == "workload.request_rate"
    assert e.origin == "<dict>"
    assert "did you mean `request_rates`?" in str(e)
    assert isinstance(e, ValueError) and e.exit_code == 3


def test_a_bad_trace_is_an_input_error(cli, in_tmp):
    bad = in_tmp / "bad.csv"
    bad.write_text("this,is\nnot,a trace\n")
    code, message = cli.error("sim", "--trace", str(bad))
    with pytest.raises(reallm.InputError) as info:
        reallm.simulate(trace=bad)
    assert str(info.value) == message and info.value.exit_code == code == 4
    assert info.value.path is not None


def test_io_error_is_an_oserror(in_tmp):
    with pytest.raises(OSError) as info:
        reallm.simulate("missing.yaml")
    assert info.value.exit_code == 7 and info.value.path == "missing.yaml"


def test_dataframes_have_the_documented_columns(in_tmp):
    res = reallm.simulate(overrides={"workload.max_requests": 40})
    req = res.requests()
    it = res.iterations()
    assert isinstance(req, pd.DataFrame) and isinstance(it, pd.DataFrame)
    assert tuple(req.columns) == reallm.REQUESTS_COLUMNS
    assert tuple(it.columns) == reallm.ITERATIONS_COLUMNS
    assert len(req) == 40 and len(it) == res.summary["engine"]["iterations"]
    assert str(req["ttft_s"].dtype) == "float64" and str(req["completed"].dtype) == "bool"
    assert str(req["request_id"].dtype) == "int64"
    assert req["completed"].all()
    rows = res.requests(as_frame=False)
    assert isinstance(rows, list) and tuple(rows[0]) == reallm.REQUESTS_COLUMNS
    assert rows[5]["ttft_s"] == req["ttft_s"][5]
    # The TBT percentile column follows the SLO.
    res = reallm.simulate(overrides={"workload.max_requests": 10, "slo.tbt_percentile": 90, "slo.ttft_s": 0.5})
    cols = list(res.requests().columns)
    assert "tbt_p90_s" in cols and "tbt_p99_s" not in cols
    assert str(res.requests()["meets_ttft"].dtype) == "bool"


def test_timeline_never_keeps_no_iterations(in_tmp):
    res = reallm.simulate(overrides={"workload.max_requests": 10}, timeline="never")
    with pytest.raises(reallm.UsageError, match='timeline="never"'):
        res.iterations()
    with pytest.raises(ValueError):
        reallm.simulate(timeline="sometimes")


def test_kernel_time_equals_cli(cli):
    p = cli.run("kernel-time", "--device", "GH100", "--backend", "llmcompass", "--op", "matmul", "--shape", "4096,8192,8192", "--json")
    want = json.loads(p.stdout)
    got = reallm.kernel_time("GH100", "matmul", [4096, 8192, 8192], backend="llmcompass")
    assert got == want
    p = cli.run("kernel-time", "--op", "all_reduce", "--shape", "1048576,8", "--algo", "ring", "--json")
    assert reallm.kernel_time("H100-SXM", "all_reduce", (1048576, 8), algo="ring") == json.loads(p.stdout)
    got = reallm.kernel_time("H100-SXM", "matmul", [1024, 1024, 1024], params={"compute_efficiency": 0.5})
    base = reallm.kernel_time("H100-SXM", "matmul", [1024, 1024, 1024])
    assert got["time_s"] > base["time_s"]


def test_plugins_are_the_cli_listing(cli):
    p = cli.run("plugins")
    listed = [ln.split()[:2] for ln in p.stdout.splitlines()[1:] if ln.strip() and not ln.startswith("failed")]
    got = [[x["kind"], x["name"]] for x in reallm.plugins()]
    assert got == listed
    assert {"roofline", "llmcompass", "continuous", "llama"} <= {x["name"] for x in reallm.plugins()}


def test_python_m_reallm_is_the_cli(cli, tmp_path):
    env = dict(os.environ)
    p = subprocess.run(
        [sys.executable, "-m", "reallm", "--workspace", "ws", "--set", "workload.max_requests=30", "sim"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    q = cli.run("--workspace", "ws", "--set", "workload.max_requests=30", "sim")
    strip = lambda s: [ln for ln in s.splitlines() if "s wall)" not in ln]  # noqa: E731
    assert strip(p.stdout) == strip(q.stdout)
    p = subprocess.run([sys.executable, "-m", "reallm", "--set", "workload.request_rate=2", "sim"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    code, message = cli.error("--set", "workload.request_rate=2", "sim")
    assert p.returncode == code == 3
    assert p.stderr.strip().splitlines()[-1] == "error: " + message
    p = subprocess.run([sys.executable, "-m", "reallm", "no-such-command"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no-such-command" in p.stderr


def test_the_gil_is_released_during_a_run(in_tmp):
    done = threading.Event()
    out = {}

    def run():
        t = time.perf_counter()
        out["res"] = reallm.simulate(
            overrides={"workload.max_requests": 20000, "workload.request_rates": 10, "workload.end_time_s": 1e6},
            timeline="never",
        )
        out["wall"] = time.perf_counter() - t
        done.set()

    th = threading.Thread(target=run)
    ticks = 0
    th.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    th.join()
    assert out["res"].summary["requests"]["total"] == 20000
    # This loop turns about once a millisecond while the run goes on; with the GIL held for
    # the whole run (the engine runs no Python code) it could not turn at all.
    assert ticks >= 50, (ticks, out["wall"])


LONG = {"workload.max_requests": 2000000, "workload.request_rates": 50, "workload.end_time_s": 1e9}

CHILD = r"""
import sys, time, reallm
long = %r
print("started", flush=True)
t = time.perf_counter()
try:
    if sys.argv[1] == "simulate":
        reallm.simulate(overrides=long, timeline="never")
    else:
        reallm.sweep(None, {"workload.seed": [0, 1]}, threads=2, overrides=long)
    print("finished %%.1f" %% (time.perf_counter() - t), flush=True)
except KeyboardInterrupt:
    print("interrupted %%.2f" %% (time.perf_counter() - t), flush=True)
    sys.exit(42)
""" % (LONG,)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
@pytest.mark.parametrize("what", ["simulate", "sweep"])
def test_ctrl_c_interrupts_a_long_run(tmp_path, what):
    """A run of 2 million requests (minutes) stops within seconds of SIGINT, raising
    KeyboardInterrupt in the caller."""
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, what], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "started"
    time.sleep(2.0)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    waited = time.perf_counter() - sent
    assert p.returncode == 42, (out, err)
    assert out.startswith("interrupted"), out
    assert waited < 30, waited
