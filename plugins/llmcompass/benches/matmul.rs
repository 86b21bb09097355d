//! The `heuristic-GPU` mapping search on the shapes that matter: the large prefill GEMM of the
//! brief (M=4096, K=8192, N=8192 on GH100), a decode-sized GEMM, the worked GA100 example, and
//! every search of the original tool's `default_homo.yaml` run (on its GA100, and on GH100,
//! whose non-square arrays make each search keep LLMCompass's look-up-table history).

use criterion::{criterion_group, criterion_main, Criterion};
use reallm_llmcompass::devices::{ga100, gh100};
use reallm_llmcompass::matmul::{self, SearchMemo};
use reallm_llmcompass::{matmul_cycles, GemmPrecision, Hardware};
use std::hint::black_box;

include!("../src/default_homo_searches.rs");

fn search(c: &mut Criterion) {
    let (ga, gh) = (ga100(), gh100());
    let mut g = c.benchmark_group("heuristic-GPU search");
    g.sample_size(20);
    g.bench_function("GH100 4096x8192x8192", |b| b.iter(|| matmul_cycles(black_box(&gh), 4096, 8192, 8192, 2).unwrap()));
    g.bench_function("GH100 8x8192x28672", |b| b.iter(|| matmul_cycles(black_box(&gh), 8, 8192, 28672, 2).unwrap()));
    g.bench_function("GA100 8x8192x1024", |b| b.iter(|| matmul_cycles(black_box(&ga), 8, 8192, 1024, 2).unwrap()));
    g.finish();
}

/// The 216 searches of `default_homo.yaml`, each from scratch, and with one memo shared by all
/// (as the backend keeps it), on GA100 (16×16 arrays) and GH100 (16×32).
fn default_homo(c: &mut Criterion) {
    let mut g = c.benchmark_group("default_homo searches");
    g.sample_size(10);
    for (name, dev) in [("GA100", ga100()), ("GH100", gh100())] {
        let hw = Hardware::from_spec(&dev).unwrap();
        let prec = GemmPrecision::llmcompass(&hw, 2);
        g.bench_function(format!("{name}: 216 searches, fresh memo each"), |b| {
            b.iter(|| DEFAULT_HOMO_SEARCHES.iter().map(|&(m, k, n)| matmul::search(black_box(&hw), m, k, n, &prec).unwrap().0).sum::<u64>())
        });
        g.bench_function(format!("{name}: 216 searches, one shared memo"), |b| {
            b.iter(|| {
                let mut memo = SearchMemo::new();
                DEFAULT_HOMO_SEARCHES
                    .iter()
                    .map(|&(m, k, n)| matmul::search_memo(black_box(&hw), m, k, n, &prec, &mut memo).unwrap().0)
                    .sum::<u64>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, search, default_homo);
criterion_main!(benches);
