//! Tests against hand calculations, and the FLOP-conservation property.

use crate::testutil::{build, llama3_70b, plan, small_moe};
use crate::*;
use proptest::prelude::*;
use reallm_plugin_api::{BatchShape, CollectiveKind, Kernel, LinkScope, ModelGraph, PrefillChunk, SegmentKind, Shard, WorkKind};

fn prefill(tokens: u64) -> BatchShape {
    BatchShape { prefills: vec![PrefillChunk { tokens, prefix: 0, last: true }], ..Default::default() }
}

fn decode(seqs: u64, ctx_sum: u64) -> BatchShape {
    BatchShape { decode_seqs: seqs, decode_ctx_sum: ctx_sum, ..Default::default() }
}

/// Every collective of a kind with its total multiplicity (count × layers).
fn comms(g: &ModelGraph, kind: CollectiveKind) -> Vec<(u64, u64, LinkScope)> {
    g.items()
        .filter_map(|(_, it, mult)| match it.work {
            WorkKind::Comm(c) if c.kind == kind => Some((c.bytes, mult, c.scope)),
            _ => None,
        })
        .collect()
}

/// All kernels matching `f`, with multiplicity.
fn kernels(g: &ModelGraph, f: impl Fn(&Kernel) -> bool) -> Vec<(Kernel, u64)> {
    g.items()
        .filter_map(|(_, it, mult)| match it.work {
            WorkKind::Kernel(k) if f(&k) => Some((k, mult)),
            _ => None,
        })
        .collect()
}

fn gemm_flops(g: &ModelGraph, shard_filter: impl Fn(Shard) -> bool) -> f64 {
    g.items()
        .filter(|(_, it, _)| shard_filter(it.shard))
        .map(|(_, it, mult)| match it.work {
            WorkKind::Kernel(k @ Kernel::Gemm { .. }) => k.flops() * mult as f64,
            _ => 0.0,
        })
        .sum()
}

fn assert_conserved(logical: f64, g: &ModelGraph, p: &ParallelPlan) {
    let total = g.kernel_flops() * devices_per_stage(p) as f64 - g.replicated_flops;
    let tol = 1e-9 * logical.max(1.0);
    assert!((total - logical).abs() <= tol, "per-device × devices − replicated = {total}, logical = {logical} (plan {p:?})");
}

#[test]
fn tp8_divides_sharded_gemm_flops_by_8() {
    let m = llama3_70b();
    let p = plan("tp8", "tp8");
    let logical = build(&m, &prefill(1000), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // QKV n = (64+2·8)·128 = 10240 → 1280; gate_up 57344 → 7168; O and down k /8; LM head
    // vocab 128256 → 16032: all exact, so sharded GEMM FLOPs are exactly 1/8.
    let sharded = |s| s != Shard::Replicated;
    assert_eq!(gemm_flops(&g, sharded) * 8.0, gemm_flops(&logical, sharded));
    assert_conserved(logical.kernel_flops(), &g, &p);
    // Replicated work: per layer two LayerNorms (4·T·h) and two Adds (T·h) run on all 8 ranks,
    // plus the final norm: (8−1)·(80·(2·4+2)·T·h + 4·T·h) with T = 1000, h = 8192.
    let th = 1000.0 * 8192.0;
    assert_eq!(g.replicated_flops, 7.0 * (80.0 * 10.0 * th + 4.0 * th));
}

#[test]
fn tp8_all_reduces_of_llama3_70b() {
    let m = llama3_70b();
    let p = plan("tp8", "tp8");
    let t = 1000u64;
    let mut g = build(&m, &prefill(t), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    let ar = comms(&g, CollectiveKind::AllReduce);
    // Two all-reduces per layer (after O and after down), 80 layers, each T·8192·2 bytes.
    let total: u64 = ar.iter().map(|&(_, mult, _)| mult).sum();
    assert_eq!(total, 160);
    assert!(ar.iter().all(|&(bytes, _, scope)| bytes == t * 8192 * 2 && scope == LinkScope::ScaleUp));
    assert_eq!(ar[0].0, 16_384_000);
    // The logits all-gather: 1 logit row × 128256 × 2 bytes.
    assert_eq!(comms(&g, CollectiveKind::AllGather), vec![(128256 * 2, 1, LinkScope::ScaleUp)]);
}

#[test]
fn tp16_replicates_kv_heads_and_crosses_nodes() {
    let m = llama3_70b();
    let p = plan("tp16", "tp16");
    let notes = validate_all(&m, &p).unwrap();
    assert!(notes.iter().any(|n| n.contains("replicated on 2 ranks")), "{notes:?}");
    let logical = build(&m, &decode(4, 4000), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // QKV per rank: 64/16 = 4 query heads + 2 × 1 KV head → 6·128 = 768 columns (not 10240/16 = 640).
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { n: 768, .. })).is_empty());
    let dec = kernels(&g, |k| matches!(k, Kernel::DecodeAttention { .. }));
    assert!(matches!(dec[0].0, Kernel::DecodeAttention { q_heads: 4, kv_heads: 1, .. }));
    // 16 ranks > 8 per node: the all-reduces use the scale-out network.
    assert!(comms(&g, CollectiveKind::AllReduce).iter().all(|c| c.2 == LinkScope::ScaleOut));
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn sequence_parallel_splits_reduction_and_norms() {
    let m = llama3_70b();
    let mut p = plan("tp8", "tp8");
    p.sequence_parallel = true;
    let logical = build(&m, &prefill(1000), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    assert!(comms(&g, CollectiveKind::AllReduce).is_empty());
    let rs = comms(&g, CollectiveKind::ReduceScatter);
    assert_eq!(rs.iter().map(|c| c.1).sum::<u64>(), 160);
    assert!(rs.iter().all(|c| c.0 == 1000 * 8192 * 2));
    // Decoder-layer norms run on ⌈1000/8⌉ = 125 rows; the final norm (Post) stays whole.
    let norms = kernels(&g, |k| matches!(k, Kernel::LayerNorm { .. }));
    assert_eq!(norms.iter().filter(|(k, _)| matches!(k, Kernel::LayerNorm { m: 125, .. })).map(|x| x.1).sum::<u64>(), 160);
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn tp_rejects_bad_degrees_with_numbers() {
    let m = llama3_70b();
    let mut p = plan("tp3", "tp3");
    let err = TensorParallel::new().validate(&m, &p).unwrap_err().to_string();
    assert_eq!(err, "tp 3 does not divide the 64 attention heads of llama3-70b");
    p = plan("tp32", "tp32");
    // 32 divides the 64 heads, is a multiple of the 8 KV heads, and divides 28672 (= 896 · 32).
    assert!(validate_all(&m, &p).is_ok());
    p = plan("tp8", "tp8");
    p.devices = 16;
    let err = validate_plan(&m, &p).unwrap_err().to_string();
    assert!(err.contains("tp8 spans 8 devices but the plan has 16"), "{err}");
    let moe = small_moe();
    let p = plan("tp2", "tp2");
    let mut bad = moe.clone();
    bad.moe_ffn_dim = 255;
    assert!(validate_all(&bad, &p).unwrap_err().to_string().contains("expert intermediate size 255"));
}

#[test]
fn pp3_splits_80_layers_27_27_26() {
    let m = llama3_70b();
    let p = plan("pp3", "pp3");
    let t = 512u64;
    let logical = build(&m, &prefill(t), &[]);
    let mut g = logical.clone();
    let notes = apply_all(&m, &p, &mut g).unwrap();
    assert!(notes.iter().any(|n| n.contains("stages of 27, 27, 26 layers")), "{notes:?}");
    assert_eq!(g.stages.len(), 3);
    let layers: Vec<u32> =
        g.stages.iter().map(|s| s.segments.iter().filter(|x| x.kind == SegmentKind::Layers).map(|x| x.n_layers).sum()).collect();
    assert_eq!(layers, vec![27, 27, 26]);
    assert_eq!(g.stages[0].segments[0].kind, SegmentKind::Pre);
    assert_eq!(g.stages[2].segments.last().unwrap().kind, SegmentKind::Post);
    assert_eq!(g.stages[1].segments[0].first_layer, 27);
    // Send/recv at the end of stages 0 and 1: T·8192·2 bytes = 8,388,608; 3 devices in one node.
    let sr = comms(&g, CollectiveKind::SendRecv);
    assert_eq!(sr, vec![(t * 8192 * 2, 1, LinkScope::ScaleUp); 2]);
    assert_eq!(sr[0].0, 8_388_608);
    // The last stage ends with the model's own Post segment (final norm, LM head), no send.
    assert_eq!(g.stages[2].segments.last().unwrap().items.len(), 2);
    // PP moves work, it does not change it: FLOPs summed over stages = logical.
    assert_eq!(g.kernel_flops(), logical.kernel_flops());
    assert_eq!(g.replicated_flops, 0.0);
}

#[test]
fn pp_with_tp_and_explicit_split() {
    let m = llama3_70b();
    let p = plan("tp8_pp2", "tp8_pp2");
    let mut g = build(&m, &prefill(1000), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    // Stage boundary joins devices 8 apart with 8 per node: scale-out.
    assert_eq!(comms(&g, CollectiveKind::SendRecv), vec![(1000 * 8192 * 2, 1, LinkScope::ScaleOut)]);

    let pass = PipelineParallel::new(PpParams { layers_per_stage: Some(vec![30, 30, 20]) });
    let p3 = plan("pp3", "pp3");
    assert!(pass.validate(&m, &p3).unwrap()[0].contains("30, 30, 20"));
    let bad = PipelineParallel::new(PpParams { layers_per_stage: Some(vec![40, 40]) });
    assert!(bad.validate(&m, &p3).unwrap_err().to_string().contains("must have 3 entries"));
    let err = validate_plan(&m, &plan("pp2", "tp2")).unwrap_err().to_string();
    assert!(err.contains("attention pp2 and ffn pp1 differ"), "{err}");
}

#[test]
fn pp_boundary_scope_within_node() {
    let m = llama3_70b();
    // tp2 × pp4 = 8 devices in one 8-device node: every boundary is scale-up.
    let p = plan("tp2_pp4", "tp2_pp4");
    let mut g = build(&m, &prefill(100), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    assert!(comms(&g, CollectiveKind::SendRecv).iter().all(|c| c.2 == LinkScope::ScaleUp));
    // tp2 × pp4 with 4 devices per node: stages {0,1},{2,3} | {4,5},{6,7}: only the middle boundary crosses.
    let mut p = p;
    p.devices_per_node = 4;
    let mut g = build(&m, &prefill(100), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    let scopes: Vec<LinkScope> = comms(&g, CollectiveKind::SendRecv).iter().map(|c| c.2).collect();
    assert_eq!(scopes, vec![LinkScope::ScaleUp, LinkScope::ScaleOut, LinkScope::ScaleUp]);
}

/// Routing of 40 tokens × top-2 = 80 rows over 8 experts.
const ROUTING: [u32; 8] = [10, 0, 30, 5, 5, 5, 20, 5];

#[test]
fn ep_rows_and_all_to_all_for_a_routing() {
    let m = small_moe();
    let p = plan("dp4", "ep4");
    let batch = prefill(40);
    let logical = build(&m, &batch, &ROUTING);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // Contiguous placement, 2 experts per rank: rank loads 10, 35, 10, 25 → the busiest is
    // rank 1 (experts 2 and 3): 35 rows, largest expert 30.
    let grouped = kernels(&g, |k| matches!(k, Kernel::GroupedGemm { .. }));
    assert_eq!(grouped.len(), 2);
    for (k, mult) in &grouped {
        assert!(matches!(k, Kernel::GroupedGemm { groups: 2, rows: 35, max_rows: 30, .. }), "{k:?}");
        assert_eq!(*mult, 5);
    }
    assert_eq!(kernels(&g, |k| matches!(k, Kernel::Silu { m: 35, .. })).len(), 1);
    // Dispatch + combine per MoE layer: max(⌈80/4⌉ = 20 sent, 35 received) · 512 · 2 = 35,840 bytes.
    let a2a = comms(&g, CollectiveKind::AllToAll);
    assert_eq!(a2a, vec![(35_840, 5, LinkScope::ScaleUp); 2]);
    // Dense FFN-part work is token-parallel: router GEMM on ⌈40/4⌉ = 10 rows.
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { m: 10, n: 8, .. })).is_empty());
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn ep_redundant_experts_lower_the_busiest_rank() {
    // 8 experts + 4 copies of the hottest (2, 6, 0, 3), 3 slots per rank, placed largest-first:
    // rank loads 22.5, 20, 20, 17.5 (worked in order: 15,15,10,10 | 5→r2, 5→r3, 5→r0, 5→r1,
    // 5→r2 | 2.5→r3, 2.5→r0 | 0→r1); busiest rank 0 with 22.5 rows, its largest replica 15.
    let loads: Vec<f64> = ROUTING.iter().map(|&x| x as f64).collect();
    let pl = ExpertPlacement::compute(&loads, 4, 4).unwrap();
    assert_eq!(pl.rank_rows, vec![22.5, 20.0, 20.0, 17.5]);
    assert_eq!(pl.rank_slots, vec![3, 3, 3, 3]);
    assert_eq!(pl.slowest(), 0);
    let m = small_moe();
    let p = plan("dp4", "ep4");
    let logical = build(&m, &prefill(40), &ROUTING);
    let mut g = logical.clone();
    let pass = ExpertParallel::new(EpParams { redundant_experts: Some(4), allow_uneven: false });
    pass.validate(&m, &p).unwrap();
    pass.apply(&m, &p, &mut g).unwrap();
    let grouped = kernels(&g, |k| matches!(k, Kernel::GroupedGemm { .. }));
    assert!(matches!(grouped[0].0, Kernel::GroupedGemm { groups: 3, rows: 23, max_rows: 15, .. }), "{:?}", grouped[0]);
}

#[test]
fn ep_uniform_routing_when_no_expert_tokens() {
    let m = small_moe();
    let p = plan("dp4", "ep4");
    let mut g = build(&m, &prefill(40), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    // Uniform: T·k/e = 80/4 = 20 rows per rank, 80/8 = 10 per expert; 20 · 512 · 2 = 20,480 bytes.
    let grouped = kernels(&g, |k| matches!(k, Kernel::GroupedGemm { .. }));
    assert!(matches!(grouped[0].0, Kernel::GroupedGemm { groups: 2, rows: 20, max_rows: 10, .. }));
    assert_eq!(comms(&g, CollectiveKind::AllToAll)[0].0, 20_480);
}

#[test]
fn ep_degree_checks_and_deepseek_decode_layout() {
    let m = small_moe();
    let err = validate_all(&m, &plan("dp3", "ep3")).unwrap_err().to_string();
    assert!(err.contains("ep 3 does not divide the 8 routed experts of tiny-moe"), "{err}");
    let uneven = ExpertParallel::new(EpParams { redundant_experts: None, allow_uneven: true });
    assert!(uneven.validate(&m, &plan("dp3", "ep3")).is_ok());
    // Contiguous uneven placement of 8 experts on 3 ranks: [0,2) [2,5) [5,8).
    let pl = ExpertPlacement::compute(&[1.0; 8], 3, 0).unwrap();
    assert_eq!(pl.rank_slots, vec![2, 3, 3]);
    // DeepSeek-V3 decode: 256 experts on ep320 → 64 redundant copies, one expert per rank.
    let mut ds = small_moe();
    ds.n_routed_experts = 256;
    let notes = validate_all(&ds, &plan("dp320", "ep320")).unwrap();
    assert!(notes.iter().any(|n| n.contains("256 experts + 64 redundant") && n.contains("1 per rank")), "{notes:?}");
    // Attention cannot be expert-parallel.
    let err = validate_plan(&m, &plan("ep2", "ep2")).unwrap_err().to_string();
    assert!(err.contains("use dp2 for attention"), "{err}");
}

#[test]
fn ep_on_dense_model_is_token_parallel() {
    let m = llama3_70b();
    let p = plan("tp4", "ep4");
    let notes = validate_all(&m, &p).unwrap();
    assert!(notes.iter().any(|n| n.contains("no routed experts")));
    let logical = build(&m, &prefill(1000), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // gate_up: 1000 / 4 = 250 rows, full width.
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { m: 250, n: 57344, .. })).is_empty());
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn ep_rescales_tp_collectives_it_token_splits() {
    let m = small_moe();
    let p = plan("tp2_dp2", "tp2_ep2");
    let logical = build(&m, &prefill(40), &ROUTING);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // Attention O projection: dp2 leaves 20 rows → 20·512·2 = 20,480 bytes (6 layers).
    // Dense down (1 layer) and shared-expert down (5 layers): tp2 all-reduce of 40·512·2 bytes,
    // then ep2 splits their rows 40 → 20: 20,480 bytes.
    // Expert down: tp2 all-reduce of ⌈80/2⌉ = 40 tokens · 512 · 2 = 40,960 bytes, scaled by the
    // busiest rank's rows over all rows: contiguous ranks {0..3} = 45 and {4..7} = 35 rows →
    // 40,960 · 45/80 = 23,040 bytes (5 layers).
    let mut ar = comms(&g, CollectiveKind::AllReduce);
    ar.sort_by_key(|c| (c.0, c.1));
    let per_size = |bytes: u64| ar.iter().filter(|c| c.0 == bytes).map(|c| c.1).sum::<u64>();
    assert_eq!(per_size(20_480), 12, "{ar:?}");
    assert_eq!(per_size(23_040), 5, "{ar:?}");
    assert_eq!(ar.iter().map(|c| c.1).sum::<u64>(), 17);
    // Logits all-gather: 1 row · 1000 · 2 bytes; ⌈1/2⌉ = 1 row after the ep split.
    assert_eq!(comms(&g, CollectiveKind::AllGather), vec![(2000, 1, LinkScope::ScaleUp)]);
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn dp_divides_attention_rows() {
    let m = llama3_70b();
    let p = plan("dp4", "tp4");
    let logical = build(&m, &decode(10, 1000), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // Attention part: ⌈10/4⌉ = 3 rows, decode attention 3 sequences over ⌈1000/4⌉ = 250 context.
    assert!(matches!(
        kernels(&g, |k| matches!(k, Kernel::DecodeAttention { .. }))[0].0,
        Kernel::DecodeAttention { seqs: 3, kv_total: 250, .. }
    ));
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { m: 3, n: 10240, .. })).is_empty());
    // The FFN is tp4 over all 10 tokens: gate_up 57344/4 = 14336 columns.
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { m: 10, n: 14336, .. })).is_empty());
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn dp_packs_whole_prefill_sequences() {
    let m = llama3_70b();
    let p = plan("dp2", "tp2");
    let batch = BatchShape {
        prefills: [300, 200, 100, 50].iter().map(|&t| PrefillChunk { tokens: t, prefix: 0, last: true }).collect(),
        ..Default::default()
    };
    let logical = build(&m, &batch, &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // Causal pairs 45150, 20100, 5050, 1275: LPT puts 300 alone on group 0 (45150 > 26425).
    let att = kernels(&g, |k| matches!(k, Kernel::Attention { .. }));
    assert_eq!(att.len(), 1);
    assert!(matches!(att[0].0, Kernel::Attention { seqs: 1, q_len: 300, kv_len: 300, .. }));
    assert_conserved(logical.kernel_flops(), &g, &p);
}

#[test]
fn cp2_ring_prefill_and_decode() {
    let m = llama3_70b();
    let p = plan("cp2", "tp2");
    let logical = build(&m, &prefill(4096), &[]);
    let mut g = logical.clone();
    apply_all(&m, &p, &mut g).unwrap();
    // Per rank 2048 queries over kv 0 + ⌈(4096+2048)/2⌉ = 3072: pairs 2048·1024 + 2048·2049/2
    // = 4,195,328 = half of 4096·4097/2 = 8,390,656.
    let att = kernels(&g, |k| matches!(k, Kernel::Attention { .. }));
    let k = att[0].0;
    assert!(matches!(k, Kernel::Attention { q_len: 2048, kv_len: 3072, .. }));
    assert_eq!(Kernel::attention_pairs(1, 2048, 3072, true), 4_195_328);
    // One ring step per layer: ⌈4096/2⌉ · 8 KV heads · (128+128) · 2 bytes = 8,388,608.
    assert_eq!(comms(&g, CollectiveKind::SendRecv), vec![(8_388_608, 80, LinkScope::ScaleUp)]);
    assert!(!kernels(&g, |k| matches!(k, Kernel::Gemm { m: 2048, n: 10240, .. })).is_empty());
    assert_conserved(logical.kernel_flops(), &g, &p);

    let mut g = build(&m, &decode(4, 4000), &[]);
    apply_all(&m, &p, &mut g).unwrap();
    assert!(matches!(
        kernels(&g, |k| matches!(k, Kernel::DecodeAttention { .. }))[0].0,
        Kernel::DecodeAttention { seqs: 4, kv_total: 2000, .. }
    ));
    // Partial outputs: 2 ranks · 4 seqs · 64 heads · (128 + 1) · 4 bytes = 264,192.
    assert_eq!(comms(&g, CollectiveKind::AllGather).iter().filter(|c| c.0 == 264_192).map(|c| c.1).sum::<u64>(), 80);
}

#[test]
fn cp_all_gather_and_hidden_ring() {
    let m = llama3_70b();
    let p = plan("cp2_tp4", "tp8");
    let mut g = build(&m, &prefill(4096), &[]);
    let pass = ContextParallel::new(CpParams { cp_algo: CpAlgo::AllGather, hide_ring_comm: false });
    pass.apply(&m, &p, &mut g).unwrap();
    // Whole context after tp4: 4096 · (8/4 = 2 KV heads) · 256 · 2 bytes = 4,194,304, over
    // a group spanning cp·tp = 8 devices (scale-up).
    assert_eq!(comms(&g, CollectiveKind::AllGather), vec![(4_194_304, 80, LinkScope::ScaleUp)]);
    let mut g = build(&m, &prefill(4096), &[]);
    ContextParallel::new(CpParams { cp_algo: CpAlgo::Ring, hide_ring_comm: true }).apply(&m, &p, &mut g).unwrap();
    assert!(comms(&g, CollectiveKind::SendRecv).is_empty());
}

#[test]
fn registry_and_params() {
    let names: Vec<&str> = reallm_plugin_api::registrations()
        .filter(|r| r.info.kind == reallm_plugin_api::PluginKind::Parallelism)
        .map(|r| r.info.name)
        .collect();
    for n in PASS_ORDER {
        assert!(names.contains(&n), "{n} not registered: {names:?}");
    }
    assert!(builtin("cp", &serde_json::json!({"cp_algo": "all_gather"})).is_ok());
    assert!(builtin("ep", &serde_json::json!({"redundant_experts": 4})).is_ok());
    assert!(builtin("pp", &serde_json::json!({"layers_per_stage": [1, 2]})).is_ok());
    let err = builtin("tp", &serde_json::json!({"degree": 2})).err().unwrap().to_string();
    assert!(err.contains("unknown field"), "{err}");
    assert!(builtin("xp", &serde_json::Value::Null).is_err());
}

// ---------------------------------------------------------------------------------------------
// Property tests.

fn divisors(n: u32) -> Vec<u32> {
    (1..=n).filter(|d| n.is_multiple_of(*d)).collect()
}

#[derive(Debug, Clone)]
struct Case {
    moe: bool,
    plan: ParallelPlan,
    batch: BatchShape,
    routing: Vec<u32>,
}

fn case() -> impl Strategy<Value = Case> {
    let chunk = (1u64..200, 0u64..300, any::<bool>()).prop_map(|(tokens, prefix, last)| PrefillChunk { tokens, prefix, last });
    (
        any::<bool>(),
        (prop::sample::select(vec![1u32, 2, 4, 8, 16]), 1u32..4, 1u32..4, 1u32..4),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>(), prop::sample::select(vec![1u32, 4, 8])),
        (prop::collection::vec(chunk, 0..4), 0u64..10, 1u64..500),
        (prop::collection::vec(0u32..10, 8), any::<bool>()),
    )
        .prop_filter_map(
            "empty batch",
            |(moe, (ta, da, ca, pp), (i_tp, i_ep, sp, dpn), (prefills, dseqs, dctx), (weights, uniform))| {
                let batch = BatchShape { prefills, decode_seqs: dseqs, decode_ctx_sum: dseqs * dctx, seed: 0, spec_tokens: 0 };
                if batch.is_empty() {
                    return None;
                }
                let per_stage = ta * da * ca;
                // FFN tp must divide the FFN widths (1536, 256): powers of two up to 16.
                let tps: Vec<u32> = divisors(per_stage).into_iter().filter(|d| d.is_power_of_two() && *d <= 16).collect();
                let tf = *i_tp.get(&tps);
                let rest = per_stage / tf;
                // ep must divide the 8 experts or exceed them (redundant copies fill the slots).
                let eps: Vec<u32> = divisors(rest).into_iter().filter(|e| !moe || 8 % e == 0 || *e > 8).collect();
                let ef = *i_ep.get(&eps);
                let attention = Degrees { tp: ta, dp: da, cp: ca, pp, ep: 1 };
                let ffn = Degrees { tp: tf, ep: ef, dp: rest / ef, pp, cp: 1 };
                let plan = ParallelPlan {
                    devices: per_stage * pp,
                    attention,
                    ffn,
                    sequence_parallel: sp,
                    comm_algo: Default::default(),
                    devices_per_node: dpn,
                };
                let rows = batch.tokens() * 2;
                let wsum: u64 = weights.iter().map(|&w| w as u64).sum();
                let routing = if uniform || wsum == 0 {
                    Vec::new()
                } else {
                    let mut r: Vec<u32> = weights.iter().map(|&w| (rows * w as u64 / wsum) as u32).collect();
                    let short = rows - r.iter().map(|&x| x as u64).sum::<u64>();
                    r[0] += short as u32;
                    r
                };
                Some(Case { moe, plan, batch, routing })
            },
        )
}

fn model_for(moe: bool) -> reallm_plugin_api::ModelInfo {
    let mut m = small_moe();
    if !moe {
        m.n_routed_experts = 0;
        m.experts_per_token = 0;
        m.n_shared_experts = 0;
        m.moe_ffn_dim = 0;
        m.first_dense_layers = 0;
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn flops_are_conserved(c in case()) {
        let m = model_for(c.moe);
        let logical = build(&m, &c.batch, &c.routing);
        let mut g = logical.clone();
        apply_all(&m, &c.plan, &mut g).map_err(|e| TestCaseError::fail(format!("{e} for {:?}", c.plan)))?;
        let total = g.kernel_flops() * devices_per_stage(&c.plan) as f64 - g.replicated_flops;
        let want = logical.kernel_flops();
        prop_assert!((total - want).abs() <= 1e-9 * want.max(1.0), "got {} want {} for {:?}", total, want, c.plan);
        prop_assert!(g.replicated_flops >= -1e-9 * want.max(1.0));
        prop_assert_eq!(g.stages.len() as u32, c.plan.attention.pp);
    }

    #[test]
    fn invalid_plans_are_rejected(moe in any::<bool>(), bad_tp in prop::sample::select(vec![3u32, 5, 6, 7]), extra in 1u32..4) {
        let m = model_for(moe);
        let p = plan(&format!("tp{bad_tp}"), &format!("tp{bad_tp}"));
        let err = validate_all(&m, &p).unwrap_err().to_string();
        prop_assert!(err.contains(&format!("tp {bad_tp} does not divide the 16 attention heads")), "{}", err);
        let mut p = plan("tp4", "tp4");
        p.devices += extra;
        let err = validate_all(&m, &p).unwrap_err().to_string();
        prop_assert!(err.contains("spans 4 devices"), "{}", err);
        let mut g = build(&m, &prefill(10), &[]);
        prop_assert!(apply_all(&m, &p, &mut g).is_err());
    }
}
