use reallm_plugin_api::{BatchShape, ModelArch, ModelGraph, PrefillChunk};
fn main() {
    let m = reallm_deepseek::DeepSeekModel::preset("deepseek-v3").unwrap();
    let mut g = ModelGraph::default();
    for (name, b) in [
        ("decode256", BatchShape { decode_seqs: 256, decode_ctx_sum: 256 * 2000, ..Default::default() }),
        ("mixed 2048+64", BatchShape { prefills: vec![PrefillChunk { tokens: 2048, prefix: 0, last: true }], decode_seqs: 64, decode_ctx_sum: 64000, ..Default::default() }),
        ("prefill 16k", BatchShape { prefills: (0..16).map(|i| PrefillChunk { tokens: 1024, prefix: i * 10, last: true }).collect(), ..Default::default() }),
    ] {
        let n = 2000;
        let t0 = std::time::Instant::now();
        for s in 0..n { let mut b = b.clone(); b.seed = s; g.clear(); m.build_step(&b, &mut g).unwrap(); }
        println!("{name}: {:.1} us/step", t0.elapsed().as_secs_f64() / n as f64 * 1e6);
    }
    let mut g = ModelGraph::default();
    m.build_step(&BatchShape { prefills: vec![PrefillChunk { tokens: 1024, prefix: 0, last: true }], decode_seqs: 4, decode_ctx_sum: 4000, seed: 0 }, &mut g).unwrap();
    print!("{}", reallm_deepseek::format_graph(&g));
}
