//! The `heuristic-GPU` mapping search on the shapes that matter: the large prefill GEMM of the
//! brief (M=4096, K=8192, N=8192 on GH100), a decode-sized GEMM and the worked GA100 example.

use criterion::{criterion_group, criterion_main, Criterion};
use reallm_llmcompass::devices::{ga100, gh100};
use reallm_llmcompass::matmul_cycles;
use std::hint::black_box;

fn search(c: &mut Criterion) {
    let (ga, gh) = (ga100(), gh100());
    let mut g = c.benchmark_group("heuristic-GPU search");
    g.sample_size(20);
    g.bench_function("GH100 4096x8192x8192", |b| b.iter(|| matmul_cycles(black_box(&gh), 4096, 8192, 8192, 2).unwrap()));
    g.bench_function("GH100 8x8192x28672", |b| b.iter(|| matmul_cycles(black_box(&gh), 8, 8192, 28672, 2).unwrap()));
    g.bench_function("GA100 8x8192x1024", |b| b.iter(|| matmul_cycles(black_box(&ga), 8, 8192, 1024, 2).unwrap()));
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
