//! Same config and seed give byte-identical traces and results.

use crate::support::*;

fn run_once(dir: &std::path::Path) {
    let out = reallm(dir).args(["--set", "workload.max_requests=60", "all"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn same_seed_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run_once(a.path());
    run_once(b.path());
    for name in ["rr_code_1.csv", "sim_results.csv", "summary.json", "H100-SXM_matmul_latency.csv"] {
        let x = std::fs::read(find(a.path(), name)).unwrap();
        let y = std::fs::read(find(b.path(), name)).unwrap();
        assert_eq!(x, y, "{name} differs between two identical runs");
    }
    // A different seed changes the trace.
    let c = tempfile::tempdir().unwrap();
    let out = reallm(c.path()).args(["--set", "workload.max_requests=60", "--set", "workload.seed=9", "traces"]).output().unwrap();
    assert!(out.status.success());
    assert_ne!(std::fs::read(find(a.path(), "rr_code_1.csv")).unwrap(), std::fs::read(find(c.path(), "rr_code_1.csv")).unwrap());
}
