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

/// Replicas of one pool that interact only at arrivals (open loop, no cluster-shared tier)
/// run ahead of one another in steady decode runs (`sim/src/engine/steady.rs`); the results
/// are those of processing every event in time order: the same records, totals, replica and
/// prefix-cache figures, to the bit. Two runs: prefix caching with a host tier and KV-aware
/// routing on the Mooncake trace (dense model), and an MoE model whose steps' expert routing
/// is drawn from the step seed.
#[test]
fn replicas_running_ahead_change_no_result() {
    use reallm::sim::{simulate_collect, Request, SimOptions, SimResult, TraceWorkload};
    let mooncake = reallm::workload::trace::read(&repo().join("host/data/mooncake/conversation_trace.jsonl")).unwrap();
    let synthetic: Vec<Request> =
        (0..300u64).map(|i| Request::new(i, i as f64 * 0.04, 200 + (i * 37 % 500) as u32, 20 + (i * 13 % 150) as u32)).collect();
    let cases: [(&str, &[Request]); 2] = [
        (
            "model: llama3-8b\nbackend: roofline\nsystem: {device: H100-SXM, num_devices: 1, replicas: 4, router: kv_aware, \
             batching: {policy: chunked, chunk_tokens: 2048, max_batch_tokens: 2048}, \
             memory: {prefix_cache: {enabled: true, block_tokens: 512, host: {capacity_gib: 4}}}}\n",
            &mooncake[..400],
        ),
        (
            "model: {plugin: llama, params: {preset: mixtral-8x7b, routing: {kind: zipf, skew: 1.2}}}\nbackend: roofline\n\
             system: {device: H100-SXM, num_devices: 2, replicas: 3, parallelism: {attention: tp2, ffn: ep2}, batching: {policy: chunked, chunk_tokens: 512}}\n",
            &synthetic,
        ),
    ];
    for (yaml, reqs) in cases {
        let exp = reallm::config::load_str(yaml, "t.yaml", None, &[]).unwrap();
        let run = |opts: SimOptions| -> SimResult {
            let mut p = pool(&exp);
            simulate_collect(std::slice::from_mut(&mut p), Default::default(), &mut TraceWorkload::new(reqs), opts).unwrap()
        };
        let ahead = run(SimOptions { keep_iterations: Some(0), ..SimOptions::default() });
        let strict = run(SimOptions { keep_iterations: Some(0), strict_event_order: true, ..SimOptions::default() });
        let kept = run(SimOptions::default());
        // Cut short by an end time (requests left unfinished): the same too.
        let cut = Some(reqs[reqs.len() / 2].arrival_s);
        let (ahead_cut, strict_cut) = (
            run(SimOptions { keep_iterations: Some(0), end_time_s: cut, ..SimOptions::default() }),
            run(SimOptions { keep_iterations: Some(0), end_time_s: cut, strict_event_order: true, ..SimOptions::default() }),
        );
        assert!(ahead_cut.outcome.ahead_iterations > 0 && ahead_cut.requests.iter().any(|r| !r.completed()));
        assert_eq!(ahead_cut.requests, strict_cut.requests);
        assert_eq!(ahead_cut.outcome.totals.replicas, strict_cut.outcome.totals.replicas);
        assert_eq!(ahead_cut.outcome.end_s, strict_cut.outcome.end_s);
        assert!(ahead.outcome.ahead_iterations > 100, "{yaml}: {} iterations run ahead", ahead.outcome.ahead_iterations);
        assert_eq!((strict.outcome.ahead_iterations, kept.outcome.ahead_iterations), (0, 0));
        assert_eq!(kept.outcome.iterations.len() as u64, kept.outcome.totals.count);
        for other in [&strict, &kept] {
            assert_eq!(ahead.requests, other.requests, "{yaml}");
            let (a, b) = (&ahead.outcome, &other.outcome);
            assert_eq!(a.replicas, b.replicas);
            assert_eq!(a.prefix, b.prefix);
            assert_eq!(a.totals.replicas, b.totals.replicas);
            let sums = |t: &reallm::sim::metrics::IterationTotals| {
                (t.count, t.seqs, t.tokens, t.max_batch_seqs, t.prefill_tokens, t.decode_tokens)
            };
            assert_eq!(sums(&a.totals), sums(&b.totals));
            assert_eq!(a.totals.sums, b.totals.sums);
            assert_eq!(a.totals.iteration_stats(), b.totals.iteration_stats());
            assert_eq!((a.end_s, a.preemptions), (b.end_s, b.preemptions));
        }
        assert!(ahead.requests.iter().all(|r| r.completed()));
    }
}
