//! Speculative decoding end to end: what a step costs and emits, KV reservation, the draft
//! heads, seeded reruns, config errors (docs/speculative.md).

use crate::support::run_one;
use reallm::assemble::build_pool;
use reallm::config::{self, Experiment};
use reallm::sim::{simulate_collect, Pool, SimOptions, SimResult, TraceWorkload};
use reallm::workload::Request;
use reallm_plugin_api::{BatchShape, Kernel, ModelGraph, PrefillChunk, SegmentKind, WorkKind};

fn exp(yaml: &str) -> Experiment {
    config::load_str(yaml, "test.yaml", None, &[]).unwrap()
}

fn pool_of(yaml: &str) -> Pool {
    let e = exp(yaml);
    build_pool(&e, &e.pool).unwrap()
}

fn req(id: u64, t: f64, p: u32, o: u32) -> Request {
    Request::new(id, t, p, o)
}

fn prefill(tokens: u64) -> BatchShape {
    BatchShape { prefills: vec![PrefillChunk { tokens, prefix: 0, last: true }], ..Default::default() }
}

fn verify(ctx: u64, k: u64) -> BatchShape {
    BatchShape { decode_seqs: 1, decode_ctx_sum: ctx, spec_tokens: k, ..Default::default() }
}

const LLAMA8B: &str = "model: llama3-8b\nsystem: {device: H100-SXM, num_devices: 1}\n";

fn with_spec(spec: &str) -> String {
    format!("{LLAMA8B}spec_decode: {spec}\n")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-3)
}

#[test]
fn acceptance_one_emits_k_plus_one_tokens_per_step_never_past_the_output() {
    // n-gram lookup (no drafter), k = 3, every draft accepted. A 100-token prompt asking for 11
    // tokens: the prefill gives token 1; then steps at contexts 101, 105, 109 emit 4, 4 and 2
    // (capped at the 11 asked for), each batch of tokens at its step's end.
    let mut p = pool_of(&with_spec("{method: ngram, num_speculative_tokens: 3, acceptance: {rates: [1.0]}}"));
    let t0 = p.cost.step_cost(&prefill(100)).unwrap().total_s;
    let v: Vec<f64> = [101, 105, 109].iter().map(|&c| p.cost.step_cost(&verify(c, 3)).unwrap().total_s).collect();
    let r = run_one(&mut p, &[req(0, 0.0, 100, 11)]);
    let t = &r.requests[0].token_times;
    let t1 = t0 + v[0];
    let t2 = t1 + v[1];
    let t3 = t2 + v[2];
    let want = [t0, t1, t1, t1, t1, t2, t2, t2, t2, t3, t3];
    assert_eq!(t.len(), 11);
    for (i, (a, b)) in t.iter().zip(want).enumerate() {
        assert!(close(*a, b), "token {i}: {a} vs {b}");
    }
    assert_eq!(r.outcome.iterations.len(), 4);
    // One iteration per step: 4 iterations where plain decoding needs 11.
    let s = r.outcome.spec_decode.as_ref().unwrap();
    assert_eq!((s.drafts, s.draft_tokens, s.accepted_tokens, s.emitted_tokens), (3, 9, 9, 10));
    assert_eq!(s.accepted_at, vec![3, 3, 3]);
    // The inter-token gaps a client sees include zeros (tokens of one step share a time).
    let zeros = t.windows(2).filter(|w| w[1] == w[0]).count();
    assert_eq!(zeros, 7);
}

#[test]
fn acceptance_zero_only_costs_the_draft_and_the_verification() {
    // An EAGLE head, k = 2, nothing accepted: one token per step, and each step costs the
    // verification (3 tokens per sequence) plus the drafter's pass over the same tokens and one
    // more single-token pass. Prompt 100, 4 tokens out: steps at contexts 101, 102, 103.
    let mut p = pool_of(&with_spec("{method: eagle, num_speculative_tokens: 2, acceptance: {rates: [0.0]}}"));
    let mut plain = pool_of(LLAMA8B);
    let draft = |p: &mut Pool, s: &BatchShape| p.drafter.as_mut().unwrap().step_cost(s).unwrap().total_s;
    let t0 = p.cost.step_cost(&prefill(100)).unwrap().total_s + draft(&mut p, &prefill(100));
    let mut gaps = Vec::new();
    let mut plain_gaps = Vec::new();
    for ctx in [101u64, 102, 103] {
        let verification = p.cost.step_cost(&verify(ctx, 2)).unwrap().total_s;
        // Draft pass 1 over the verified tokens; pass 2: one token at context ctx + k + 1.
        let d = draft(&mut p, &verify(ctx, 2)) + draft(&mut p, &verify(ctx + 3, 0));
        assert!(d > 0.0);
        gaps.push(verification + d);
        plain_gaps.push(plain.cost.step_cost(&verify(ctx, 0)).unwrap().total_s);
    }
    let r = run_one(&mut p, &[req(0, 0.0, 100, 4)]);
    let t = &r.requests[0].token_times;
    assert!(close(t[0], t0), "{} vs {t0}", t[0]);
    for i in 0..3 {
        assert!(close(t[i + 1] - t[i], gaps[i]), "gap {i}: {} vs {}", t[i + 1] - t[i], gaps[i]);
        // Speculation that never pays off only adds: the verification of 3 tokens is not
        // cheaper than decoding 1, and the draft passes come on top.
        assert!(gaps[i] > plain_gaps[i]);
    }
    let s = r.outcome.spec_decode.as_ref().unwrap();
    assert_eq!((s.drafts, s.accepted_tokens, s.emitted_tokens), (3, 0, 3));
    assert!(close(
        s.draft_s,
        draft(&mut p, &prefill(100))
            + gaps.iter().zip([101u64, 102, 103]).map(|(g, c)| g - p.cost.step_cost(&verify(c, 2)).unwrap().total_s).sum::<f64>()
    ));
    // The same request without speculation.
    let r0 = run_one(&mut plain, &[req(0, 0.0, 100, 4)]);
    let tpot = |r: &SimResult| {
        let t = &r.requests[0].token_times;
        (t[3] - t[0]) / 3.0
    };
    assert!(tpot(&r) > tpot(&r0));
    assert!(close(tpot(&r) - tpot(&r0), (gaps.iter().sum::<f64>() - plain_gaps.iter().sum::<f64>()) / 3.0));
}

#[test]
fn verification_reserves_kv_for_every_draft_and_releases_the_rejected() {
    // A 30-token prompt in 16-token blocks: 2 blocks after the prefill. A plain decode step at
    // context 31 fits them; a verification of 1 + 3 tokens reaches context 34: 3 blocks. With
    // nothing accepted the request keeps 31 tokens (2 blocks) and reserves 3 again next step.
    let spec = with_spec("{method: ngram, num_speculative_tokens: 3, acceptance: {rates: [0.0]}}");
    let kv = |yaml: &str| {
        let mut p = pool_of(yaml);
        let r = run_one(&mut p, &[req(0, 0.0, 30, 3)]);
        assert!(r.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0));
        r.outcome.iterations.iter().map(|i| i.kv_used_blocks).collect::<Vec<_>>()
    };
    assert_eq!(kv(LLAMA8B), vec![2, 2, 2]);
    assert_eq!(kv(&spec), vec![2, 3, 3]);

    // The release shows when another request runs while the first holds its KV: k = 20,
    // request A (30-token prompt) verifies at context 31, reserving blocks_for(51) = 4 blocks,
    // accepts nothing and keeps 31 tokens: 2 blocks. Request B (40 tokens) arrives during that
    // step; the `continuous` policy then runs B's prefill alone: 2 (A) + 3 (B) = 5 blocks in
    // use, not 4 + 3.
    let mut p = pool_of(&with_spec("{method: ngram, num_speculative_tokens: 20, acceptance: {rates: [0.0]}}"));
    let t0 = p.cost.step_cost(&prefill(30)).unwrap().total_s;
    let r = run_one(&mut p, &[req(0, 0.0, 30, 3), req(1, t0 + 1e-6, 40, 2)]);
    let used: Vec<u64> = r.outcome.iterations.iter().map(|i| i.kv_used_blocks).collect();
    assert_eq!(&used[..3], &[2, 4, 5], "{used:?}");
    assert_eq!((r.outcome.iterations[2].prefill_tokens, r.outcome.iterations[2].decode_tokens), (40, 0));
    assert!(r.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0));
}

#[test]
fn deepseek_mtp_head_by_hand() {
    let yaml = "model: deepseekv3\nsystem: {device: H200-SXM, num_devices: 8, parallelism: {attention: tp8, ffn: ep8}}\nspec_decode: {method: mtp}\n";
    let mut p = pool_of(yaml);
    let sd = p.spec.spec_decode.clone().unwrap();
    // Defaults: one MTP token (num_nextn_predict_layers = 1) accepted at 85 % (DeepSeek-V3 §5.4.3).
    assert_eq!((sd.k(), sd.acceptance.rates()), (1, &[0.85][..]));
    let target = p.cost.info.clone();
    let head = p.drafter.as_ref().unwrap().info.clone();
    assert_eq!(head.n_layers, 1);
    // One MLA layer's latent cache: (512 + 64) · 2 bytes = 1152 = 70,272 / 61.
    assert_eq!((target.kv_bytes_per_token, head.kv_bytes_per_token), (70_272, 1152));
    // MLA's latent cache is replicated over TP: every device holds 70,272 + 1152 bytes a token.
    assert_eq!(p.memory.kv_bytes_per_token_per_device, 71_424);
    assert_eq!(p.memory.draft_kv_bytes_per_token_per_device, 1152);
    // The head's experts are one MoE layer's: 256 · 3 · 7168 · 2048 fp8 weights.
    assert_eq!(head.weights.routed_experts, 256 * 3 * 7168 * 2048);
    assert_eq!((head.weights.embedding, head.weights.lm_head), (0, 0));
    // Its graph over a verification step of 8 sequences: the embedding, the two input norms and
    // eh_proj [16, 14336] × [14336, 7168], one MoE layer, and the LM head over 8 rows (one per
    // sequence) where the target's computes 16.
    let shape = BatchShape { decode_seqs: 8, decode_ctx_sum: 8 * 4096, spec_tokens: 1, ..Default::default() };
    let mut g = ModelGraph::default();
    p.drafter.as_ref().unwrap().model.build_step(&shape, &mut g).unwrap();
    let segs = &g.stages[0].segments;
    assert_eq!(
        segs.iter().map(|s| (s.kind, s.n_layers)).collect::<Vec<_>>(),
        vec![(SegmentKind::Pre, 1), (SegmentKind::Layers, 1), (SegmentKind::Post, 1)]
    );
    let kernels = |i: usize| -> Vec<Kernel> {
        segs[i]
            .items
            .iter()
            .filter_map(|it| match it.work {
                WorkKind::Kernel(k) => Some(k),
                _ => None,
            })
            .collect()
    };
    assert!(kernels(0).iter().any(|k| matches!(k, Kernel::Gemm { m: 16, k: 14_336, n: 7168, .. })), "{:?}", kernels(0));
    assert!(kernels(1).iter().any(|k| matches!(k, Kernel::GroupedGemm { .. })));
    assert!(kernels(1).iter().any(|k| matches!(k, Kernel::Attention { seqs: 8, q_len: 2, kv_len: 4097, .. })));
    assert!(kernels(2).iter().any(|k| matches!(k, Kernel::Gemm { m: 8, k: 7168, n: 129_280, .. })), "{:?}", kernels(2));
    // Drafting one token costs far less than a target step (1 layer of 61 plus the head).
    let d = p.drafter.as_mut().unwrap().step_cost(&shape).unwrap().total_s;
    let v = p.cost.step_cost(&shape).unwrap().total_s;
    assert!(d < 0.2 * v, "draft {d} vs verification {v}");
}

#[test]
fn seeded_runs_repeat_byte_for_byte() {
    let e = exp(&with_spec("{method: eagle}"));
    let reqs: Vec<Request> = (0..40).map(|i| req(i, i as f64 * 0.05, 200 + 13 * i as u32, 30 + (i as u32 % 7) * 11)).collect();
    let run = |seed: u64| {
        let mut pools = vec![build_pool(&e, &e.pool).unwrap()];
        simulate_collect(&mut pools, Default::default(), &mut TraceWorkload::new(&reqs), SimOptions { seed, ..Default::default() }).unwrap()
    };
    let bits =
        |r: &SimResult| -> Vec<Vec<u64>> { r.requests.iter().map(|x| x.token_times.iter().map(|t| t.to_bits()).collect()).collect() };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.outcome.spec_decode, b.outcome.spec_decode);
    assert_ne!(bits(&a), bits(&c));
    // Every request gets exactly its tokens.
    assert!(a.requests.iter().all(|r| r.token_times.len() == r.output_tokens as usize));
    // The default EAGLE acceptance (p = 1 − 1/5.63 per position) shows in the counts.
    let s = a.outcome.spec_decode.unwrap();
    let p = 1.0 - 1.0 / 5.63;
    let first = s.accepted_at[0] as f64 / s.drafts as f64;
    assert!((first - p).abs() < 0.05, "{first} vs {p} over {} drafts", s.drafts);
}

#[test]
fn config_errors_name_the_key() {
    let err = |spec: &str| config::load_str(&with_spec(spec), "t.yaml", None, &[]).unwrap_err().to_string();
    let e = err("{method: medusa}");
    assert!(e.contains("spec_decode.method") && e.contains("mtp, eagle, ngram, draft_model"), "{e}");
    let e = err("{method: ngram, num_speculative_tokens: 3}");
    assert!(e.contains("spec_decode.acceptance") && e.contains("required"), "{e}");
    let e = err("{method: ngram}");
    assert!(e.contains("spec_decode.num_speculative_tokens"), "{e}");
    let e = err("{method: eagle, num_speculative_tokens: 2, acceptance: {rates: [0.9, 0.8, 0.7]}}");
    assert!(e.contains("spec_decode.acceptance.rates") && e.contains("exactly 2"), "{e}");
    let e = err("{method: eagle, num_speculative_tokens: 2, acceptance: {mean_length: 3.5}}");
    assert!(e.contains("mean_length") && e.contains("[1, 3]"), "{e}");
    let e = err("{method: mtp, draft_model: llama3-8b}");
    assert!(e.contains("spec_decode.draft_model"), "{e}");
    let e = err("{method: draft_model, num_speculative_tokens: 2, acceptance: {rates: [0.5]}}");
    assert!(e.contains("spec_decode.draft_model") && e.contains("required"), "{e}");
    let e = err("{method: mtp, typo: 1}");
    assert!(e.contains("typo"), "{e}");
    // `method: none` turns it off whatever else is given (for sweeps).
    assert!(exp(&with_spec("{method: none, num_speculative_tokens: 3}")).spec_decode.is_none());
    // --set reaches the keys.
    let e = config::load_str(&with_spec("{method: eagle}"), "t.yaml", None, &["spec_decode.num_speculative_tokens=5".into()]).unwrap();
    assert_eq!(e.spec_decode.unwrap().spec.k(), 5);
}

#[test]
fn the_experiment_configs_load_and_build() {
    for (file, method) in [("deepseekv3_8xh200_mtp.yaml", "mtp"), ("llama31_70b_8xh100_eagle.yaml", "eagle")] {
        let path = crate::support::repo().join("configs/experiments").join(file);
        let e = config::load(Some(&path), &[]).unwrap();
        assert_eq!(e.spec_decode.as_ref().unwrap().spec.method.name(), method);
        let p = build_pool(&e, &e.pool).unwrap();
        assert!(p.drafter.is_some() && p.memory.kv_token_capacity > 0);
    }
}

#[test]
fn a_draft_model_runs_under_its_own_plan() {
    // Llama-3.1-8B drafting for Llama-3-70B on 8 devices: by default TP8 like the target; with
    // `draft_parallelism: tp1` one device runs it whole.
    let base = "model: llama3-70b\nsystem: {device: H100-SXM, num_devices: 8}\nspec_decode: {method: draft_model, draft_model: llama3-8b, num_speculative_tokens: 4, acceptance: {rates: [0.8]}";
    let tp8 = pool_of(&format!("{base}}}\n"));
    let tp1 = pool_of(&format!("{base}, draft_parallelism: tp1}}\n"));
    let (d8, d1) = (tp8.drafter.as_ref().unwrap(), tp1.drafter.as_ref().unwrap());
    assert_eq!((d8.plan.attention.tp, d1.plan.attention.tp), (8, 1));
    // Its weights and KV sit on every device: 1/8 of them under TP8, all under TP1.
    assert!(tp1.memory.draft_weight_bytes_per_device > 7 * tp8.memory.draft_weight_bytes_per_device);
    assert!(tp1.memory.kv_token_capacity < tp8.memory.kv_token_capacity);
    // Llama-3-8B's KV: 32 · 2 · 8 · 128 · 2 = 131,072 bytes a token, split over 8 KV heads.
    assert_eq!((tp8.memory.draft_kv_bytes_per_token_per_device, tp1.memory.draft_kv_bytes_per_token_per_device), (16_384, 131_072));
    let e = config::load_str(&format!("{base}, draft_parallelism: tp16}}\n"), "t.yaml", None, &[]).unwrap();
    let err = build_pool(&e, &e.pool).err().unwrap().to_string();
    assert!(err.contains("spec_decode.draft_parallelism"), "{err}");
}

#[test]
fn verification_steps_are_memoised_and_match_the_full_graph() {
    // Decode-only verification steps are served by the decode-step memo (their attention
    // re-costed at each context); the result equals costing the whole per-device graph.
    // (config, memoised): DeepSeek's sampled expert routing changes the graph with the seed;
    // under CP a verification span's ring KV exchange is sized by the context (a collective,
    // which the memo does not re-cost): both take the full path, and are checked equal too.
    let llama = |par: &str, k: u32| {
        format!("model: llama3-70b\nsystem: {{device: H100-SXM, num_devices: 8, parallelism: {{{par}}}}}\nspec_decode: {{method: eagle, num_speculative_tokens: {k}}}\n")
    };
    for (yaml, memoised) in [
        (with_spec("{method: eagle}"), true),
        ("model: deepseekv3\nsystem: {device: H200-SXM, num_devices: 8, parallelism: {attention: tp8, ffn: ep8}}\nspec_decode: {method: mtp}\n".to_string(), false),
        (llama("attention: tp2_pp4", 5), true),
        // Attention DP splits the decode context per rank (the verification span keeps the mean).
        (llama("attention: tp2_dp4, ffn: tp8", 3), true),
        (llama("attention: tp4_cp2, ffn: tp8", 4), false),
        (llama("attention: cp2_dp4, ffn: tp8", 5), false),
    ] {
        let mut p = pool_of(&yaml);
        let k = p.spec.spec_decode.as_ref().unwrap().k() as u64;
        for (seqs, ctx) in [(8u64, 8 * 3000 + 5), (8, 8 * 17), (3, 3 * 9000 + 2)] {
            let shape = BatchShape { decode_seqs: seqs, decode_ctx_sum: ctx, spec_tokens: k, seed: 11, ..Default::default() };
            let memo = p.cost.step_cost(&shape).unwrap();
            assert_eq!(p.cost.is_memoised(seqs, k), memoised, "{yaml}");
            // The plain decode step of the same size is memoised under DP and CP alike.
            p.cost.step_cost(&BatchShape { spec_tokens: 0, ..shape.clone() }).unwrap();
            assert_eq!(p.cost.is_memoised(seqs, 0), !yaml.contains("deepseek"), "{yaml}");
            let mut g = ModelGraph::default();
            p.cost.device_graph(&shape, &mut g).unwrap();
            let full = p.cost.cost_graph(&g).unwrap();
            assert!(close(memo.total_s, full.total_s), "{yaml}: {} vs {}", memo.total_s, full.total_s);
            assert!(close(memo.flops, full.flops) && close(memo.bytes, full.bytes));
        }
    }
}

#[test]
fn speculation_with_prefix_caching_keeps_the_kv_accounts() {
    // Growth registers every full block it reserves with the prefix cache, draft positions
    // included; the release after a step keeps those. 100-token prompts, 40 drafts per step,
    // nothing accepted: the first step reserves context 141 and registers ⌊141/16⌋ = 8 cached
    // blocks, while the 101 tokens kept need only ⌈101/16⌉ = 7. Every block comes back at the end.
    let yaml = format!("{LLAMA8B}spec_decode: {{method: ngram, num_speculative_tokens: 40, acceptance: {{rates: [0.0]}}}}\n")
        .replace("num_devices: 1}", "num_devices: 1, memory: {prefix_cache: {enabled: true}}}");
    let mut p = pool_of(&yaml);
    assert!(p.caches_prefixes());
    let reqs: Vec<Request> = (0..6).map(|i| req(i, i as f64 * 0.01, 100, 40)).collect();
    let r = run_one(&mut p, &reqs);
    assert!(r.requests.iter().all(|x| x.token_times.len() == 40));
    assert!(r.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0), "{:?}", r.outcome.replicas);
}
