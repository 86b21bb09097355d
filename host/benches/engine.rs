//! Engine benchmarks: the per-iteration cost of the simulator.
//!
//! `cargo bench -p reallm --bench engine`. End-to-end figures (wall time, memory) come from
//! the commands in `docs/performance.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use reallm::assemble::build_pool;
use reallm::config;
use reallm::metrics::{Measure, Stats, Summarizer};
use reallm::report::files::{RequestsCsv, SimResultsCsv};
use reallm::sim::{simulate, NoObserver, RecordSink, RequestRecord, SimOptions, TraceWorkload};
use reallm::workload::{azure::Task, generate};
use reallm_plugin_api::{BatchShape, PrefillChunk};

/// Llama-2-7B on one A100-80GB, chunked prefill (512), the Azure conversation lengths at
/// 2 req/s: the workload Vidur was timed on, here with 1,000 requests per iteration of the
/// benchmark.
fn vidur_workload(c: &mut Criterion) {
    let exp = config::load_str(
        "model: llama2-7b\nsystem: {device: A100-SXM-80GB, num_devices: 1, batching: {policy: chunked, chunk_tokens: 512, max_batch_tokens: 512}}\n",
        "bench",
        None,
        &[],
    )
    .expect("config");
    let reqs = generate::generate(Task::Conv, 2.0, 1_000, f64::INFINITY, 0).expect("trace");
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.bench_function("vidur_llama2_7b_a100_1k_requests", |b| {
        b.iter(|| {
            let mut pool = build_pool(&exp, &exp.pool).expect("pool");
            let mut summary = reallm::metrics::Summarizer::new(exp.slo, 1);
            let opts = SimOptions { keep_iterations: Some(0), ..SimOptions::default() };
            simulate(
                std::slice::from_mut(&mut pool),
                Default::default(),
                &mut TraceWorkload::new(&reqs),
                &mut summary,
                &mut NoObserver,
                opts,
            )
            .expect("run")
        })
    });
    g.finish();
}

/// One iteration's cost on Llama-3-70B TP8 H100 (model graph, TP pass, calibrated roofline).
fn step_cost(c: &mut Criterion) {
    let exp = config::load(None, &[]).expect("default config");
    let mut system = build_pool(&exp, &exp.pool).expect("pool").cost;
    let mut ctx = 0u64;
    c.bench_function("step_cost_llama3_70b_tp8_decode64_plus_chunk", |b| {
        b.iter(|| {
            ctx += 1;
            let shape = BatchShape {
                prefills: vec![PrefillChunk { tokens: 448, prefix: 1024, last: false }],
                decode_seqs: 64,
                decode_ctx_sum: 64 * 1000 + ctx % 1000,
                seed: 0,
                spec_tokens: 0,
            };
            system.step_cost(&shape).expect("cost")
        })
    });
}

/// What the `sim` stage does with each finished request: its metrics (once), the summary, and
/// the streamed `sim_results.csv` and `requests.csv`, for the 1,000 records of the Vidur
/// workload above (about 210 token times each).
fn record_outputs(c: &mut Criterion) {
    let exp = config::load_str(
        "model: llama2-7b\nsystem: {device: A100-SXM-80GB, num_devices: 1, batching: {policy: chunked, chunk_tokens: 512, max_batch_tokens: 512}}\n",
        "bench",
        None,
        &[],
    )
    .expect("config");
    let reqs = generate::generate(Task::Conv, 2.0, 1_000, f64::INFINITY, 0).expect("trace");
    let mut pool = build_pool(&exp, &exp.pool).expect("pool");
    let mut records: Vec<RequestRecord> = Vec::new();
    let opts = SimOptions { keep_iterations: Some(0), ..SimOptions::default() };
    simulate(std::slice::from_mut(&mut pool), Default::default(), &mut TraceWorkload::new(&reqs), &mut records, &mut NoObserver, opts)
        .expect("run");
    let dir = tempfile::tempdir().expect("tempdir");
    c.bench_function("outputs/vidur_1k_records_summary_and_csvs", |b| {
        b.iter(|| {
            let mut sim_csv = SimResultsCsv::create(&dir.path().join("sim_results.csv")).expect("create");
            let mut req_csv = RequestsCsv::create(&dir.path().join("requests.csv"), exp.slo).expect("create");
            let mut summarizer = Summarizer::new(exp.slo, 1);
            let mut next = (&mut sim_csv, &mut req_csv);
            let mut measure = Measure { summarizer: &mut summarizer, next: &mut next };
            for r in &records {
                measure.record(r);
            }
            sim_csv.commit().expect("commit");
            req_csv.commit().expect("commit");
        })
    });
}

/// Exact percentiles of 2.1 million values (the Vidur workload's TBT gaps: a tight cluster and
/// a tail), by histogram selection.
fn exact_percentiles(c: &mut Criterion) {
    let mut x: u64 = 1;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let v: Vec<f64> = (0..2_100_000).map(|i| if i % 50 == 0 { 0.3 + next() } else { 0.015 + 0.002 * next() }).collect();
    c.bench_function("summary/stats_of_2.1M_values", |b| b.iter_batched(|| v.clone(), Stats::of, criterion::BatchSize::LargeInput));
}

criterion_group!(benches, vidur_workload, step_cost, record_outputs, exact_percentiles);
criterion_main!(benches);
