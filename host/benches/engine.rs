//! Engine benchmarks: the per-iteration cost of the simulator.
//!
//! `cargo bench -p reallm --bench engine`. End-to-end figures (wall time, memory) come from
//! the commands in `docs/performance.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use reallm::assemble::build_pool;
use reallm::config;
use reallm::sim::{simulate, NoObserver, SimOptions, TraceWorkload};
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

criterion_group!(benches, vidur_workload, step_cost);
criterion_main!(benches);
