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

/// A single run measures its records on a second thread when a core is spare (`sim`); a sweep
/// that fills the cores measures inline. Both write the same bytes.
#[test]
fn measuring_thread_writes_what_inline_measuring_writes() {
    use reallm::stages::{run_sim_one, run_traces, Workspace};
    let yaml = "model: llama3-8b\nbackend: roofline\nsystem: {device: H100-SXM, num_devices: 1, batching: {policy: chunked, chunk_tokens: 256}}\nworkload: {tasks: [conv], request_rates: [4], max_requests: 400, seed: 3}\n";
    let exp = reallm::config::load_str(yaml, "t.yaml", None, &[]).unwrap();
    let run = |dir: &std::path::Path| {
        let ws = Workspace::new(dir);
        let traces = run_traces(&exp, &ws, &["conv".to_string()], &[4.0]).unwrap();
        run_sim_one(&exp, &ws, &traces[0]).unwrap();
    };
    let threaded = tempfile::tempdir().unwrap();
    run(threaded.path());
    // Inside a pool with a thread per core, no core is spare: the inline path.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let inline = tempfile::tempdir().unwrap();
    rayon::ThreadPoolBuilder::new().num_threads(cores).build().unwrap().install(|| run(inline.path()));
    for name in ["sim_results.csv", "requests.csv", "summary.json", "iterations.csv"] {
        let x = std::fs::read(find(threaded.path(), name)).unwrap();
        let y = std::fs::read(find(inline.path(), name)).unwrap();
        assert!(!x.is_empty() && x == y, "{name} differs between the measuring thread and inline");
    }
}
