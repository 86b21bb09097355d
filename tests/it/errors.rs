//! Bad input: a clear message naming the key or file, a documented exit code, no panic.

use crate::support::*;

fn fails(dir: &std::path::Path, args: &[&str], code: i32, needles: &[&str]) {
    let out = reallm(dir).args(args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "args {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "args {args:?}: expected `{n}` in: {err}");
    }
}

#[test]
fn unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "model: llama3-70b\nsystem:\n  device: H100-SXM\n  num_devices: 8\n  batchng: {policy: continuous}\n",
    )
    .unwrap();
    fails(dir.path(), &["-c", "c.yaml", "sim"], 3, &["c.yaml", "batchng", "did you mean `batching`"]);
}

#[test]
fn unknown_plugin_names() {
    let dir = tempfile::tempdir().unwrap();
    fails(dir.path(), &["--set", "backend=warp-drive", "kernel"], 5, &["warp-drive", "roofline"]);
    fails(dir.path(), &["--set", "system.batching.policy=magic", "sim"], 5, &["magic", "continuous"]);
    fails(dir.path(), &["--plugin", "backend=nope", "sim"], 5, &["nope"]);
    fails(dir.path(), &["--set", "model=gpt-17", "sim"], 5, &["gpt-17", "known models"]);
}

#[test]
fn device_file_missing() {
    let dir = tempfile::tempdir().unwrap();
    fails(dir.path(), &["--set", "system.device=devices/TPU9.json", "kernel"], 4, &["TPU9.json", "no such device"]);
}

#[test]
fn tp_not_dividing_heads() {
    let dir = tempfile::tempdir().unwrap();
    // 64 attention heads are not divisible by 3.
    fails(dir.path(), &["--set", "system.num_devices=3", "--set", "system.parallelism.attention=tp3", "kernel"], 3, &["3", "64"]);
}

#[test]
fn degrees_must_match_devices_and_syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    fails(dir.path(), &["--set", "system.num_devices=16", "sim"], 3, &["num_devices = 16"]);
    std::fs::write(dir.path().join("bad.yaml"), "model: llama3-70b\nsystem: [\n").unwrap();
    fails(dir.path(), &["-c", "bad.yaml", "sim"], 3, &["bad.yaml", "line"]);
    fails(dir.path(), &["-c", "missing.yaml", "sim"], 7, &["missing.yaml"]);
}

#[test]
fn bad_trace_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "request_id,arrival_timestamp,prompt_size,token_size\n0,1.0,10,2\n1,0.5,10,2\n").unwrap();
    fails(dir.path(), &["sim", "--trace", "t.csv"], 4, &["t.csv", "line 3", "sorted"]);
}

#[test]
fn model_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    // Llama-3.1-405B in bf16 (~756 GiB) on one 80 GiB device.
    fails(
        dir.path(),
        &["--set", "model=llama405b", "--set", "system.num_devices=1", "--set", "system.parallelism.attention=tp1", "sim"],
        6,
        &["does not fit", "GiB"],
    );
}
