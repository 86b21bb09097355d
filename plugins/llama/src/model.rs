//! The `llama` model plugin: the logical kernels of one forward step of a Llama-family model.
//!
//! Layer structure (HF `LlamaDecoderLayer`; Mixtral / Qwen3-MoE / gpt-oss / Llama 4 replace
//! the MLP by a sparse MoE block in some or all layers): `x += o_proj(attn(rope(qkv_proj(rmsnorm(x)))))`,
//! then `x += down(silu(gate(rmsnorm(x))) ⊙ up(rmsnorm(x)))`.
//!
//! Windowed layers (gpt-oss sliding window, Llama 4 chunked attention) attend over their
//! window only: prefill chunks are cut into spans of exact query–key pairs and decode
//! attention sees the capped context ([`reallm_model_kit::window`]). Llama 4's NoPE layers
//! skip RoPE and the q/k L2 norm. Not emitted (each well under 1 % of a layer's FLOPs and
//! bytes): bias adds of biased projections (gpt-oss; their weights are counted), gpt-oss's
//! sink logits (one extra softmax column per head) and clamped SwiGLU (costed as SiLU and
//! multiply), Llama 4's router-score scaling of expert inputs and NoPE temperature tuning.

use crate::config::LlamaConfig;
use reallm_model_kit::{
    decode_context, prefill_groups, prefill_spans, push_unfused_attention, verify_spans, AttentionBlock, AttentionForm, AttnSpan,
    FamilyModel, LayerAttention, ModelCore,
};
use reallm_plugin_api::{BatchShape, Kernel, Phase, Shard, WorkItem};
#[cfg(test)]
use reallm_plugin_api::{ModelArch, ModelGraph, Segment, SegmentKind, Stage};

/// A Llama-family model instance (architecture plus simulation options).
pub type LlamaModel = FamilyModel<LlamaConfig>;

impl AttentionBlock for LlamaConfig {
    /// The attention block of one layer (input norm to residual add; GQA, HF `LlamaAttention`).
    fn push_attention_block(&self, core: &ModelCore, attn: &mut Vec<WorkItem>, t: u64, batch: &BatchShape, layer: &LayerAttention) {
        let (cfg, dt) = (self, &core.dt);
        let (hidden, h, kvh, d) = (cfg.hidden, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
        let at = |k: Kernel, s: Shard| WorkItem::kernel(k, s, Phase::Attention);
        attn.push(at(Kernel::LayerNorm { m: t, n: hidden, dtype: dt.act }, Shard::Replicated));
        attn.push(at(dt.linear(t, hidden, (h + 2 * kvh) * d), Shard::Column));
        if cfg.qk_norm || (cfg.qk_l2_norm && layer.rope) {
            // Qwen3 per-head RMSNorm of q and k (Llama 4: weightless L2 norm, RoPE layers only):
            // [T·(H+KV), d] rows, written as [T, (H+KV)·d] so that tensor parallelism divides
            // it like RoPE (same FLOPs; gain bytes counted as (H+KV)·d rather than d).
            attn.push(at(Kernel::LayerNorm { m: t, n: (h + kvh) * d, dtype: dt.act }, Shard::Split));
        }
        if layer.rope {
            attn.push(at(Kernel::Rope { m: t, n: (h + kvh) * d, dtype: dt.act }, Shard::Split));
        }
        push_attention(cfg, core, attn, batch, layer);
        attn.push(at(dt.linear(t, h * d, hidden), Shard::Row));
        attn.push(at(Kernel::Add { m: t, n: hidden, dtype: dt.act }, Shard::Replicated));
    }
}

/// Attention of the step over `Shard::Heads`.
///
/// * flash: one `Attention` kernel per span of a group of identical prefill chunks (one causal
///   span per group under full attention; see [`prefill_spans`] for windowed layers), one
///   `DecodeAttention` over all decoding sequences (context capped by the window:
///   [`decode_context`]).
/// * unfused (the original ReaLLM): per span `QKᵀ` = Gemm{b: seqs·H, m: q_len,
///   k: d, n: kv_len}, Softmax{m: seqs·H·q_len, n: kv_len}, `SV` = Gemm{b: seqs·H, m: q_len,
///   k: kv_len, n: d}; the full (non-causal) score matrix is computed, as there. `b` counts
///   query heads, so tensor parallelism divides `b` by its degree for Heads-sharded GEMMs.
///   K and V are counted per query head (GQA sharing is not exploited in this form).
///   Decode uses the same three kernels with `q_len` 1 and `kv_len` = ⌈decode context /
///   decode_seqs⌉: the mean context (exact in FLOPs up to the rounding, as they are linear
///   in `kv_len`).
/// * speculative verification (`batch.spec_tokens` = s > 0): instead of the decode kernel, each
///   decoding sequence's `s + 1` queries form a causal span over its mean context
///   ([`verify_spans`]), as an `Attention` kernel (flash) or the three unfused kernels.
fn push_attention(cfg: &LlamaConfig, core: &ModelCore, items: &mut Vec<WorkItem>, batch: &BatchShape, layer: &LayerAttention) {
    let (h, kvh, d) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
    let (act, kv) = (core.dt.act, core.dt.kv);
    let heads = |k: Kernel| WorkItem::kernel(k, Shard::Heads, Phase::Attention);
    let mut spans: Vec<AttnSpan> = Vec::with_capacity(batch.prefills.len() + 1);
    for g in &prefill_groups(batch) {
        prefill_spans(g, layer.window, &mut spans);
    }
    let decode_ctx = decode_context(batch.decode_seqs, batch.decode_ctx_sum, layer.window);
    // Speculative verification: each decoding sequence's 1 + spec_tokens queries attend like
    // a short prefill chunk (one kernel reads its KV once for all of them).
    let mut verify: Vec<AttnSpan> = Vec::new();
    verify_spans(batch, layer.window, &mut verify);
    match core.attention {
        AttentionForm::Flash => {
            for s in &spans {
                items.push(heads(Kernel::Attention {
                    seqs: s.seqs,
                    q_len: s.q_len,
                    kv_len: s.kv_len,
                    q_heads: h,
                    kv_heads: kvh,
                    d_qk: d,
                    d_v: d,
                    causal: s.causal,
                    kv_shared: false,
                    act,
                    kv,
                }));
            }
            for s in &verify {
                items.push(heads(Kernel::Attention {
                    seqs: s.seqs,
                    q_len: s.q_len,
                    kv_len: s.kv_len,
                    q_heads: h,
                    kv_heads: kvh,
                    d_qk: d,
                    d_v: d,
                    causal: s.causal,
                    kv_shared: false,
                    act,
                    kv,
                }));
            }
            if batch.decode_seqs > 0 && verify.is_empty() {
                items.push(heads(Kernel::DecodeAttention {
                    seqs: batch.decode_seqs,
                    kv_total: decode_ctx,
                    q_heads: h,
                    kv_heads: kvh,
                    d_qk: d,
                    d_v: d,
                    kv_shared: false,
                    act,
                    kv,
                }));
            }
        }
        AttentionForm::Unfused => {
            for s in &spans {
                push_unfused_attention(items, s.seqs, s.q_len, s.kv_len, h, d, d, act, kv);
            }
            for s in &verify {
                push_unfused_attention(items, s.seqs, s.q_len, s.kv_len, h, d, d, act, kv);
            }
            if batch.decode_seqs > 0 && verify.is_empty() {
                let mean_ctx = decode_ctx.div_ceil(batch.decode_seqs);
                push_unfused_attention(items, batch.decode_seqs, 1, mean_ctx, h, d, d, act, kv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::{DType, PrefillChunk, WorkKind};
    use serde_json::json;

    fn prefill(tokens: u64, prefix: u64) -> PrefillChunk {
        PrefillChunk { tokens, prefix, last: true }
    }

    fn step(m: &LlamaModel, batch: &BatchShape) -> ModelGraph {
        let mut g = ModelGraph::default();
        m.build_step(batch, &mut g).unwrap();
        g
    }

    /// `(kind_name, shard, phase, flops)` of one segment's items.
    fn listing(seg: &Segment) -> Vec<(&'static str, Shard, Phase, f64)> {
        seg.items
            .iter()
            .map(|it| match it.work {
                WorkKind::Kernel(k) => (k.kind_name(), it.shard, it.phase, k.flops()),
                WorkKind::Comm(_) => ("comm", it.shard, it.phase, 0.0),
            })
            .collect()
    }

    #[test]
    fn info_of_the_dense_presets() {
        let m = LlamaModel::preset("llama70b").unwrap();
        let i = m.info();
        assert_eq!((i.name.as_str(), i.family.as_str()), ("llama3-70b", "llama"));
        assert_eq!(i.params_total, 70_553_706_496);
        assert_eq!(i.params_active, 70_553_706_496);
        // 2 (K,V) · 80 layers · 8 KV heads · 128 · 2 bytes = 327,680
        assert_eq!(i.kv_bytes_per_token, 327_680);
        assert_eq!(i.kv_bytes_per_token_per_layer(), 4096);
        // bf16: two bytes per parameter.
        assert_eq!(i.weights.total(), 2 * 70_553_706_496);
        assert_eq!(i.weights.embedding, 2 * 1_050_673_152);
        assert_eq!((i.weight_dtype, i.act_dtype, i.kv_dtype), (DType::Bf16, DType::Bf16, DType::Bf16));
        assert!(!i.is_moe());
        assert_eq!(i.first_dense_layers, 80);
        // 405B: 2·126·8·128·2 = 516,096; 8B: 2·32·8·128·2 = 131,072.
        let big = LlamaModel::preset("llama405b").unwrap();
        assert_eq!((big.info().params_total, big.info().kv_bytes_per_token), (405_853_388_800, 516_096));
        let small = LlamaModel::preset("llama3-8b").unwrap();
        assert_eq!((small.info().params_total, small.info().kv_bytes_per_token), (8_030_261_248, 131_072));
        assert_eq!(LlamaModel::preset("llama3.1-8b").unwrap().info().max_context, 131_072);
    }

    #[test]
    fn dtype_overrides_change_bytes() {
        let m = LlamaModel::from_params(&json!({"preset": "llama3-8b", "weight_dtype": "fp8", "kv_dtype": "fp8"})).unwrap();
        let i = m.info();
        // Linear layers at 1 byte; embedding, head and norms stay bf16.
        let c = m.param_counts();
        assert_eq!(i.weights.attention + i.weights.dense_ffn, c.attention + c.dense_ffn);
        assert_eq!(i.weights.embedding, 2 * c.embedding);
        // 2·32·8·128·1 = 65,536
        assert_eq!(i.kv_bytes_per_token, 65_536);
    }

    #[test]
    fn prefill_step_kernels_by_hand() {
        // Llama-3-8B, one 1024-token prompt (no prefix, completes the prompt).
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let g = step(&m, &BatchShape { prefills: vec![prefill(1024, 0)], ..Default::default() });
        assert_eq!(g.stages.len(), 1);
        let segs = &g.stages[0].segments;
        assert_eq!(
            segs.iter().map(|s| (s.kind, s.first_layer, s.n_layers)).collect::<Vec<_>>(),
            vec![(SegmentKind::Pre, 0, 1), (SegmentKind::Layers, 0, 32), (SegmentKind::Post, 31, 1)]
        );
        assert_eq!(listing(&segs[0]), vec![("embedding", Shard::Replicated, Phase::Embed, 0.0)]);
        use Phase::{Attention as A, Ffn as F};
        let expected = vec![
            ("layernorm", Shard::Replicated, A, 16_777_216.0),     // 4·1024·4096
            ("matmul", Shard::Column, A, 51_539_607_552.0),        // QKV: 2·1024·4096·(32+16)·128
            ("rope", Shard::Split, A, 15_728_640.0),               // 3·1024·(32+8)·128
            ("flash_attention", Shard::Heads, A, 8_598_323_200.0), // 2·(1024·1025/2)·32·(128+128)
            ("matmul", Shard::Row, A, 34_359_738_368.0),           // O: 2·1024·4096·4096
            ("add", Shard::Replicated, A, 4_194_304.0),            // 1024·4096
            ("layernorm", Shard::Replicated, F, 16_777_216.0),
            ("matmul", Shard::Column, F, 240_518_168_576.0), // gate+up: 2·1024·4096·28672
            ("silu", Shard::Split, F, 73_400_320.0),         // 5·1024·14336
            ("mul", Shard::Split, F, 14_680_064.0),          // 1024·14336
            ("matmul", Shard::Row, F, 120_259_084_288.0),    // down: 2·1024·14336·4096
            ("add", Shard::Replicated, F, 4_194_304.0),
        ];
        assert_eq!(listing(&segs[1]), expected);
        assert_eq!(
            listing(&segs[2]),
            vec![
                ("layernorm", Shard::Replicated, Phase::Head, 16_777_216.0),
                ("matmul", Shard::Vocab, Phase::Head, 1_050_673_152.0), // 2·1·4096·128256
            ]
        );
        match segs[1].items[3].work {
            WorkKind::Kernel(Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, causal, .. }) => {
                assert_eq!((seqs, q_len, kv_len, q_heads, kv_heads, causal), (1, 1024, 1024, 32, 8, true))
            }
            ref other => panic!("{other:?}"),
        }
        assert!(g.expert_tokens.is_empty());
    }

    #[test]
    fn verification_step_kernels_by_hand() {
        // Llama-3-8B, 4 decoding sequences (Σctx 4000, mean 1000) verifying 3 draft tokens
        // each: 16 tokens through every GEMM, one causal attention span of 4 queries over 1003
        // keys per sequence, 16 logit rows.
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let batch = BatchShape { decode_seqs: 4, decode_ctx_sum: 4000, spec_tokens: 3, ..Default::default() };
        assert_eq!((batch.tokens(), batch.logit_tokens()), (16, 16));
        let g = step(&m, &batch);
        let layer = &g.stages[0].segments[1];
        let bf = DType::Bf16;
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(layer, Shard::Heads);
        let att = Kernel::Attention {
            seqs: 4,
            q_len: 4,
            kv_len: 1003,
            q_heads: 32,
            kv_heads: 8,
            d_qk: 128,
            d_v: 128,
            causal: true,
            kv_shared: false,
            act: bf,
            kv: bf,
        };
        assert_eq!(heads, vec![att]);
        // Pairs 4·(1000+1001+1002+1003) = 16,024: FLOPs 2·16,024·32·256 = 262,537,216. Bytes:
        // q and o 16·32·128·2 each, KV read once per sequence 4·1003·8·256·2 = 16,433,152.
        assert_eq!(att.flops(), 262_537_216.0);
        assert_eq!(att.bytes(), 2.0 * 131_072.0 + 16_433_152.0);
        // QKV over 16 rows: 2·16·4096·6144 = 805,306,368 (4× the plain decode step's).
        assert_eq!(listing(layer)[1].3, 805_306_368.0);
        // LM head over the 16 logit rows: 2·16·4096·128256.
        assert_eq!(listing(&g.stages[0].segments[2])[1].3, 16_810_770_432.0);
        // Every token-wise kernel equals a 16-token plain step's; only attention differs.
        let plain = step(&m, &BatchShape { decode_seqs: 16, decode_ctx_sum: 16_000, ..Default::default() });
        let non_attn = |g: &ModelGraph| -> Vec<WorkItem> {
            g.stages[0].segments.iter().flat_map(|s| s.items.iter().copied()).filter(|it| it.shard != Shard::Heads).collect()
        };
        assert_eq!(non_attn(&g), non_attn(&plain));

        // Unfused: the same span as three kernels, b = 4·32.
        let u = LlamaModel::from_params(&json!({"preset": "llama3-8b", "attention": "unfused"})).unwrap();
        let ug = step(&u, &batch);
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(&ug.stages[0].segments[1], Shard::Heads);
        assert_eq!(
            heads,
            vec![
                Kernel::Gemm { b: 128, m: 4, k: 128, n: 1003, a: bf, w: bf, out: bf },
                Kernel::Softmax { m: 512, n: 1003, dtype: bf },
                Kernel::Gemm { b: 128, m: 4, k: 1003, n: 128, a: bf, w: bf, out: bf },
            ]
        );
    }

    #[test]
    fn verification_over_a_sliding_window() {
        // gpt-oss-20b: sliding layers (window 128) see 128 keys per query once the context is
        // past the window; full layers see the whole context.
        let m = LlamaModel::preset("gpt-oss-20b").unwrap();
        let g = step(&m, &BatchShape { decode_seqs: 2, decode_ctx_sum: 2000, spec_tokens: 2, ..Default::default() });
        let spans: Vec<(u64, u64, bool)> = g.stages[0]
            .segments
            .iter()
            .filter(|s| s.kind == SegmentKind::Layers)
            .flat_map(|s| s.items.iter())
            .filter_map(|it| match it.work {
                WorkKind::Kernel(Kernel::Attention { q_len, kv_len, causal, .. }) => Some((q_len, kv_len, causal)),
                _ => None,
            })
            .collect();
        assert!(spans.contains(&(3, 128, false)), "{spans:?}");
        assert!(spans.contains(&(3, 1002, true)), "{spans:?}");
    }

    #[test]
    fn decode_step_kernels_by_hand() {
        // Llama-3-8B, 4 decoding sequences with contexts 500+900+1100+1500 = 4000.
        let batch = BatchShape { decode_seqs: 4, decode_ctx_sum: 4000, ..Default::default() };
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let g = step(&m, &batch);
        let layer = &g.stages[0].segments[1];
        let att = layer.items.iter().find(|it| it.shard == Shard::Heads).unwrap();
        let k = match att.work {
            WorkKind::Kernel(k) => k,
            _ => unreachable!(),
        };
        assert_eq!(
            k,
            Kernel::DecodeAttention {
                seqs: 4,
                kv_total: 4000,
                q_heads: 32,
                kv_heads: 8,
                d_qk: 128,
                d_v: 128,
                kv_shared: false,
                act: DType::Bf16,
                kv: DType::Bf16
            }
        );
        // FLOPs 2·4000·32·256 = 65,536,000; bytes q 4·32·128·2 + o same + KV 4000·8·256·2 = 16,449,536.
        assert_eq!((k.flops(), k.bytes()), (65_536_000.0, 16_449_536.0));
        // QKV over 4 rows: 2·4·4096·6144 = 201,326,592.
        assert_eq!(listing(layer)[1].3, 201_326_592.0);
        // LM head for the 4 logit tokens: 2·4·4096·128256 = 4,202,692,608.
        assert_eq!(listing(&g.stages[0].segments[2])[1].3, 4_202_692_608.0);

        // Unfused: mean context ⌈4000/4⌉ = 1000, b = 4·32 = 128.
        let u = LlamaModel::from_params(&json!({"preset": "llama3-8b", "attention": "unfused"})).unwrap();
        let g = step(&u, &batch);
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(&g.stages[0].segments[1], Shard::Heads);
        let bf = DType::Bf16;
        assert_eq!(
            heads,
            vec![
                Kernel::Gemm { b: 128, m: 1, k: 128, n: 1000, a: bf, w: bf, out: bf },
                Kernel::Softmax { m: 128, n: 1000, dtype: bf },
                Kernel::Gemm { b: 128, m: 1, k: 1000, n: 128, a: bf, w: bf, out: bf },
            ]
        );
        // 2·128·128·1000 = 32,768,000 each GEMM; softmax 5·128·1000 = 640,000.
        assert_eq!(heads.iter().map(|k| k.flops()).collect::<Vec<_>>(), vec![32_768_000.0, 640_000.0, 32_768_000.0]);
    }

    #[test]
    fn prefill_total_flops_is_two_active_params_per_token_plus_attention() {
        // Llama-3-70B, P = 2048 tokens, one prompt, flash attention.
        let m = LlamaModel::preset("llama3-70b").unwrap();
        let (p, l, h, hid, d, inter, vocab) = (2048.0, 80.0, 64.0, 8192.0, 128.0, 28672.0, 128_256.0);
        let g = step(&m, &BatchShape { prefills: vec![prefill(2048, 0)], ..Default::default() });
        let c = m.param_counts();
        // GEMMs: every decoder parameter except the norm gains is used once per token (2 FLOPs
        // per multiply-add); the embedding lookup has none; the LM head runs for 1 logit token.
        let linear = (c.active - c.embedding - c.lm_head - c.norms) as f64;
        let gemm = 2.0 * linear * p + 2.0 * hid * vocab;
        // Causal attention: P(P+1)/2 pairs · 2 · H · (d_qk + d_v) per layer.
        let attention = l * 2.0 * (p * (p + 1.0) / 2.0) * h * 2.0 * d;
        // Per layer: 2 norms 4·P·hid, 2 adds P·hid, RoPE 3·P·(H+KV)·d, SiLU 5·P·I, mul P·I; final norm.
        let elementwise = l * (2.0 * 4.0 * p * hid + 2.0 * p * hid + 3.0 * p * 72.0 * d + 6.0 * p * inter) + 4.0 * p * hid;
        let total = gemm + attention + elementwise;
        assert!((g.kernel_flops() - total).abs() / total < 1e-12, "{} vs {total}", g.kernel_flops());
        // The linear part is the familiar 2·N·P with N = 70.55 B minus embedding/head/norms.
        assert_eq!(linear, 68_452_352_000.0 - 80.0 * 16384.0);
    }

    #[test]
    fn chunks_are_grouped_and_mixed_with_decodes() {
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let batch = BatchShape {
            prefills: vec![prefill(512, 0), PrefillChunk { tokens: 512, prefix: 0, last: false }, prefill(256, 1024)],
            decode_seqs: 3,
            decode_ctx_sum: 300,
            seed: 0,
            spec_tokens: 0,
        };
        let g = step(&m, &batch);
        let layer = &g.stages[0].segments[1];
        let att: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(layer, Shard::Heads);
        assert_eq!(att.len(), 3);
        assert!(matches!(att[0], Kernel::Attention { seqs: 1, q_len: 256, kv_len: 1280, .. }));
        assert!(matches!(att[1], Kernel::Attention { seqs: 2, q_len: 512, kv_len: 512, .. }));
        assert!(matches!(att[2], Kernel::DecodeAttention { seqs: 3, kv_total: 300, .. }));
        // T = 512+512+256+3 = 1283 rows in every token-wise GEMM; logits = 3 decodes + 2 last chunks.
        assert!(matches!(layer.items[1].work, WorkKind::Kernel(Kernel::Gemm { m: 1283, .. })));
        assert!(matches!(g.stages[0].segments[2].items[1].work, WorkKind::Kernel(Kernel::Gemm { m: 5, .. })));
    }

    #[test]
    fn unfused_prefill_matches_the_original_form() {
        // Two 128-token chunks after a 64-token prefix: b = 2·32, q_len 128, kv_len 192.
        let m =
            LlamaModel::from_params(&json!({"preset": "llama3-8b", "attention": "unfused", "include_embedding_and_head": false})).unwrap();
        let g = step(&m, &BatchShape { prefills: vec![prefill(128, 64), prefill(128, 64)], ..Default::default() });
        assert_eq!(g.stages[0].segments.len(), 1, "no pre/post segments");
        let layer = &g.stages[0].segments[0];
        let bf = DType::Bf16;
        let heads: Vec<(Kernel, f64)> = layer
            .items
            .iter()
            .filter(|it| it.shard == Shard::Heads)
            .map(|it| match it.work {
                WorkKind::Kernel(k) => (k, k.flops()),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            heads,
            vec![
                // 2·64·128·128·192 = 402,653,184
                (Kernel::Gemm { b: 64, m: 128, k: 128, n: 192, a: bf, w: bf, out: bf }, 402_653_184.0),
                // 5·(64·128)·192 = 7,864,320
                (Kernel::Softmax { m: 8192, n: 192, dtype: bf }, 7_864_320.0),
                (Kernel::Gemm { b: 64, m: 128, k: 192, n: 128, a: bf, w: bf, out: bf }, 402_653_184.0),
            ]
        );
    }

    #[test]
    fn separate_gate_and_up() {
        let m = LlamaModel::from_params(&json!({"preset": "llama3-8b", "fuse_gate_up": false})).unwrap();
        let g = step(&m, &BatchShape { decode_seqs: 1, decode_ctx_sum: 10, ..Default::default() });
        let cols: Vec<_> = g.stages[0].segments[1].items.iter().filter(|it| it.phase == Phase::Ffn && it.shard == Shard::Column).collect();
        assert_eq!(cols.len(), 2);
        assert!(cols.iter().all(|it| matches!(it.work, WorkKind::Kernel(Kernel::Gemm { n: 14336, .. }))));
    }

    #[test]
    fn moe_step_routes_tokens() {
        // Mixtral-8x7B, 100 prompt tokens + 28 decodes: T = 128, top-2 → 256 routed rows.
        let m = LlamaModel::preset("mixtral-8x7b").unwrap();
        let batch = BatchShape { prefills: vec![prefill(100, 0)], decode_seqs: 28, decode_ctx_sum: 2800, seed: 5, spec_tokens: 0 };
        let g = step(&m, &batch);
        assert_eq!(g.expert_tokens.len(), 8);
        assert_eq!(g.expert_tokens.iter().sum::<u32>(), 256);
        let max = *g.expert_tokens.iter().max().unwrap() as u64;
        let layer = &g.stages[0].segments[1];
        assert_eq!(layer.n_layers, 32);
        let moe: Vec<_> = listing(layer).into_iter().filter(|x| x.2 == Phase::Moe).collect();
        assert_eq!(
            moe.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            vec![
                ("matmul", Shard::Replicated),
                ("topk", Shard::Replicated),
                ("grouped_matmul", Shard::Experts),
                ("silu", Shard::Experts),
                ("mul", Shard::Experts),
                ("grouped_matmul", Shard::Experts),
            ]
        );
        // Router 2·128·4096·8 = 8,388,608; gate+up 2·256·4096·28672 = 60,129,542,144.
        assert_eq!((moe[0].3, moe[2].3), (8_388_608.0, 60_129_542_144.0));
        assert!(matches!(layer.items.iter().find(|it| it.shard == Shard::Experts).unwrap().work,
            WorkKind::Kernel(Kernel::GroupedGemm { groups: 8, rows: 256, max_rows, k: 4096, n: 28672, .. }) if max_rows == max));
        // Same seed, same routing; the info reports no dense FFN.
        assert_eq!(step(&m, &batch).expert_tokens, g.expert_tokens);
        assert_eq!((m.info().ffn_dim, m.info().moe_ffn_dim, m.info().first_dense_layers), (0, 14336, 0));
    }

    #[test]
    fn qwen3_has_qk_norm_and_explicit_head_dim() {
        let m = LlamaModel::preset("qwen3-235b-a22b").unwrap();
        assert_eq!((m.info().head_dim, m.info().params_total, m.info().params_active), (128, 235_093_634_560, 22_190_763_520));
        // 94 layers · 2 · 4 KV heads · 128 · 2 bytes = 192,512
        assert_eq!(m.info().kv_bytes_per_token, 192_512);
        let g = step(&m, &BatchShape { decode_seqs: 2, decode_ctx_sum: 20, ..Default::default() });
        let l = listing(&g.stages[0].segments[1]);
        // norm, qkv (n = (64+8)·128), q/k norm, rope.
        assert_eq!(l[2], ("layernorm", Shard::Split, Phase::Attention, 4.0 * 2.0 * 68.0 * 128.0));
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    #[test]
    fn hf_configs_equal_presets() {
        let dir = tempfile::tempdir().unwrap();
        // Published config.json files (meta-llama/Meta-Llama-3-70B, Meta-Llama-3.1-405B,
        // mistralai/Mixtral-8x7B-v0.1, Qwen/Qwen3-235B-A22B).
        let cases = [
            (
                "llama3-70b",
                r#"{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
              "eos_token_id":128001,"hidden_act":"silu","hidden_size":8192,"initializer_range":0.02,"intermediate_size":28672,
              "max_position_embeddings":8192,"model_type":"llama","num_attention_heads":64,"num_hidden_layers":80,"num_key_value_heads":8,
              "pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,"rope_theta":500000.0,"tie_word_embeddings":false,
              "torch_dtype":"bfloat16","transformers_version":"4.40.0.dev0","use_cache":true,"vocab_size":128256}"#,
            ),
            (
                "llama3.1-405b",
                r#"{"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
              "eos_token_id":128001,"hidden_act":"silu","hidden_size":16384,"initializer_range":0.02,"intermediate_size":53248,
              "max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":128,"num_hidden_layers":126,
              "num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,
              "high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
              "tie_word_embeddings":false,"torch_dtype":"bfloat16","vocab_size":128256}"#,
            ),
            (
                "mixtral-8x7b",
                r#"{"architectures":["MixtralForCausalLM"],"attention_dropout":0.0,"bos_token_id":1,"eos_token_id":2,
              "hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,"max_position_embeddings":32768,
              "model_type":"mixtral","num_attention_heads":32,"num_experts_per_tok":2,"num_hidden_layers":32,"num_key_value_heads":8,
              "num_local_experts":8,"output_router_logits":false,"rms_norm_eps":1e-05,"rope_theta":1000000.0,"router_aux_loss_coef":0.02,
              "sliding_window":null,"tie_word_embeddings":false,"torch_dtype":"bfloat16","use_cache":true,"vocab_size":32000}"#,
            ),
            (
                "qwen3-235b-a22b",
                r#"{"architectures":["Qwen3MoeForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
              "bos_token_id":151643,"decoder_sparse_step":1,"eos_token_id":151645,"head_dim":128,"hidden_act":"silu","hidden_size":4096,
              "initializer_range":0.02,"intermediate_size":12288,"max_position_embeddings":40960,"max_window_layers":94,"mlp_only_layers":[],
              "model_type":"qwen3_moe","moe_intermediate_size":1536,"norm_topk_prob":true,"num_attention_heads":64,"num_experts":128,
              "num_experts_per_tok":8,"num_hidden_layers":94,"num_key_value_heads":4,"output_router_logits":false,"rms_norm_eps":1e-06,
              "rope_scaling":null,"rope_theta":1000000.0,"router_aux_loss_coef":0.001,"sliding_window":null,"tie_word_embeddings":false,
              "torch_dtype":"bfloat16","use_cache":true,"use_sliding_window":false,"vocab_size":151936}"#,
            ),
        ];
        for (name, text) in cases {
            let path = write(&dir, &format!("{name}.json"), text);
            let from_file = LlamaModel::from_params(&json!({"hf_config": path, "name": name})).unwrap();
            let from_preset = LlamaModel::preset(name).unwrap();
            assert_eq!(from_file.info(), from_preset.info(), "{name}");
            assert_eq!(from_file.config(), from_preset.config(), "{name}");
            // The same object inline.
            let inline: serde_json::Value = serde_json::from_str(text).unwrap();
            let from_inline = LlamaModel::from_params(&json!({"config": inline, "name": name})).unwrap();
            assert_eq!(from_inline.info(), from_preset.info(), "{name}");
        }
        // Without `name`, the file stem names the model.
        let p = write(&dir, "my-llama.json", cases[0].1);
        assert_eq!(LlamaModel::from_params(&json!({ "hf_config": p })).unwrap().info().name, "my-llama");
    }

    #[test]
    fn bad_parameters_are_errors() {
        let err = |v: serde_json::Value| LlamaModel::from_params(&v).unwrap_err().to_string();
        assert!(err(json!({"preset": "llama3-70b", "bogus": 1})).contains("bogus"));
        assert!(err(json!({"preset": "gpt5"})).contains("unknown preset"));
        assert!(err(json!({"hf_config": "/nonexistent/config.json"})).contains("cannot read"));
        assert!(err(json!({"config": {"model_type": "deepseek_v3", "hidden_size": 7168}})).contains("deepseek"));
        assert!(err(json!({"config": {"hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 2}})).contains("vocab_size"));
        assert!(err(json!({"config": {"hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 5, "num_hidden_layers": 2,
            "intermediate_size": 10, "vocab_size": 10}}))
        .contains("multiple"));
        assert!(err(json!({"preset": "mixtral", "routing": {"kind": "explicit", "probabilities": [1.0, 2.0]}})).contains("2 probabilities"));
        assert!(err(json!({"preset": "llama3-8b", "attention": "paged"})).contains("paged"));
        // Inconsistent decode batch.
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let mut g = ModelGraph::default();
        assert!(m.build_step(&BatchShape { decode_seqs: 4, decode_ctx_sum: 2, ..Default::default() }, &mut g).is_err());
    }

    #[test]
    fn empty_batch_gives_an_empty_stage() {
        let m = LlamaModel::preset("llama3-8b").unwrap();
        let g = step(&m, &BatchShape::default());
        assert_eq!(g.stages, vec![Stage::default()]);
        assert_eq!(g.kernel_flops(), 0.0);
    }

    /// The kernels of the `Heads` items of a segment.
    fn heads(seg: &Segment) -> Vec<Kernel> {
        seg.items
            .iter()
            .filter(|it| it.shard == Shard::Heads)
            .map(|it| match it.work {
                WorkKind::Kernel(k) => k,
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn gpt_oss_info_kv_and_mxfp4_weights() {
        let m = LlamaModel::preset("gpt-oss-120b").unwrap();
        let i = m.info();
        assert_eq!((i.params_total, i.n_layers, i.head_dim, i.ffn_dim, i.moe_ffn_dim), (116_829_156_672, 36, 64, 0, 2880));
        // 36 layers · 2 (K, V) · 8 KV heads · 64 · 2 bytes = 73,728; half the layers slide over 128.
        assert_eq!(i.kv_bytes_per_token, 73_728);
        assert_eq!((i.kv_window_tokens, i.kv_windowed_layers), (128, 18));
        // A 10,000-token sequence keeps 18·10,000 + 18·128 = 182,304 layer-tokens of 2048 bytes.
        assert_eq!(i.kv_bytes_for_context(10_000), 373_358_592);
        assert_eq!(i.kv_bytes_per_token * 10_000, 737_280_000);
        // Experts in MXFP4 (4.25 bits): 36·128·3·2880² = 114,661,785,600 weights → 60,914,073,600
        // bytes, their biases 36·128·8640 in bf16 → 79,626,240. Everything else (2,127,557,952
        // parameters) in bf16 → 4,255,115,904. Total 65,248,815,744 bytes = 60.77 GiB (the
        // model card: "60.8 GiB" checkpoint).
        assert_eq!(i.weights.routed_experts, 60_914_073_600 + 79_626_240);
        assert_eq!(i.weights.total(), 65_248_815_744);
        assert_eq!((i.weight_dtype, m.dtypes().expert), (DType::Bf16, DType::Mxfp4));
        let small = LlamaModel::preset("gpt-oss-20b").unwrap();
        // 24·2·8·64·2 = 49,152; 12.8 GiB checkpoint: 13,761,264,768 bytes.
        assert_eq!((small.info().kv_bytes_per_token, small.info().kv_windowed_layers), (49_152, 12));
        assert_eq!((small.info().weights.total() as f64 / (1u64 << 30) as f64 * 10.0).round() / 10.0, 12.8);
        // An expert-type override (e.g. to cost bf16 experts) changes only the experts.
        let bf = LlamaModel::from_params(&json!({"preset": "gpt-oss-120b", "expert_dtype": "bf16"})).unwrap();
        assert_eq!(bf.info().weights.total() - i.weights.total(), 2 * 114_661_785_600 - 60_914_073_600);
    }

    #[test]
    fn gpt_oss_step_alternates_sliding_and_full_attention() {
        // One 1000-token prompt and 4 decoding sequences with 4000 context tokens in total.
        let m = LlamaModel::preset("gpt-oss-20b").unwrap();
        let batch = BatchShape { prefills: vec![prefill(1000, 0)], decode_seqs: 4, decode_ctx_sum: 4000, seed: 3, spec_tokens: 0 };
        let g = step(&m, &batch);
        let segs = &g.stages[0].segments;
        // Pre, 24 single-layer runs (sliding, full, ...), Post.
        assert_eq!(segs.len(), 26);
        assert!(segs[1..25].iter().enumerate().all(|(i, s)| s.first_layer == i as u32 && s.n_layers == 1));
        let bf = DType::Bf16;
        let attn = |q_len, kv_len, causal| Kernel::Attention {
            seqs: 1,
            q_len,
            kv_len,
            q_heads: 64,
            kv_heads: 8,
            d_qk: 64,
            d_v: 64,
            causal,
            kv_shared: false,
            act: bf,
            kv: bf,
        };
        let decode = |kv_total| Kernel::DecodeAttention {
            seqs: 4,
            kv_total,
            q_heads: 64,
            kv_heads: 8,
            d_qk: 64,
            d_v: 64,
            kv_shared: false,
            act: bf,
            kv: bf,
        };
        // Sliding layer (window 128): positions 0..128 causal, the other 872 queries see 128 keys
        // each; decode sees 4·128 = 512 keys (every context is past the window).
        assert_eq!(heads(&segs[1]), vec![attn(128, 128, true), attn(872, 128, false), decode(512)]);
        // Full layer: the whole prompt, causal; decode over all 4000 keys.
        assert_eq!(heads(&segs[2]), vec![attn(1000, 1000, true), decode(4000)]);
        // FLOPs: sliding pairs 128·129/2 + 872·128 = 119,872, ·2·64·(64+64) = 1,963,982,848;
        // full pairs 1000·1001/2 = 500,500 → 8,200,192,000.
        let prefill_flops = |s: &Segment| heads(s).iter().filter(|k| matches!(k, Kernel::Attention { .. })).map(|k| k.flops()).sum::<f64>();
        assert_eq!((prefill_flops(&segs[1]), prefill_flops(&segs[2])), (1_963_982_848.0, 8_200_192_000.0));
        // Experts are MXFP4 grouped GEMMs; attention projections stay bf16.
        let expert = segs[1].items.iter().find(|it| it.shard == Shard::Experts).unwrap();
        assert!(matches!(
            expert.work,
            WorkKind::Kernel(Kernel::GroupedGemm { groups: 32, rows: 4016, k: 2880, n: 5760, w: DType::Mxfp4, .. })
        ));
        assert!(matches!(segs[1].items[1].work, WorkKind::Kernel(Kernel::Gemm { m: 1004, k: 2880, n: 5120, w: DType::Bf16, .. })));
        // The unfused form caps the same way: decode over ⌈512 / 4⌉ = 128 keys per sequence.
        let u = LlamaModel::from_params(&json!({"preset": "gpt-oss-20b", "attention": "unfused"})).unwrap();
        let ug = step(&u, &BatchShape { decode_seqs: 4, decode_ctx_sum: 4000, ..Default::default() });
        assert_eq!(heads(&ug.stages[0].segments[1])[0], Kernel::Gemm { b: 256, m: 1, k: 64, n: 128, a: bf, w: bf, out: bf });
        assert_eq!(heads(&ug.stages[0].segments[2])[0], Kernel::Gemm { b: 256, m: 1, k: 64, n: 1000, a: bf, w: bf, out: bf });
    }

    #[test]
    fn llama4_chunked_and_nope_layers() {
        let m = LlamaModel::preset("llama4-scout").unwrap();
        let i = m.info();
        // 48·2·8·128·2 = 196,608 bytes per token; 36 chunked layers keep at most 8192 tokens.
        assert_eq!((i.kv_bytes_per_token, i.kv_window_tokens, i.kv_windowed_layers), (196_608, 8192, 36));
        // 20,000 tokens: (12·20,000 + 36·8192) = 534,912 layer-tokens · 4096 bytes = 2,190,999,552.
        assert_eq!(i.kv_bytes_for_context(20_000), 2_190_999_552);
        assert_eq!((i.n_shared_experts, i.n_routed_experts, i.experts_per_token, i.moe_ffn_dim, i.ffn_dim), (1, 16, 1, 8192, 0));
        // A 10,000-token prompt (chunks 0..8192 and 8192..10000) and 2 decoding sequences with
        // 20,000 context tokens in total (chunked layers see at most 2·8192).
        let batch = BatchShape { prefills: vec![prefill(10_000, 0)], decode_seqs: 2, decode_ctx_sum: 20_000, seed: 0, spec_tokens: 0 };
        let g = step(&m, &batch);
        let segs = &g.stages[0].segments;
        // Runs: layers 0–2 chunked, 3 NoPE, 4–6 chunked, ... → 24 runs, plus Pre and Post.
        assert_eq!(segs.len(), 26);
        assert_eq!((segs[1].first_layer, segs[1].n_layers, segs[2].first_layer, segs[2].n_layers), (0, 3, 3, 1));
        let kinds = |s: &Segment| listing(s).into_iter().filter(|x| x.2 == Phase::Attention).map(|x| x.0).collect::<Vec<_>>();
        // RoPE layer: norm, qkv, q/k L2 norm, RoPE, two attention spans + decode, o, add.
        assert_eq!(
            kinds(&segs[1]),
            vec!["layernorm", "matmul", "layernorm", "rope", "flash_attention", "flash_attention", "decode_attention", "matmul", "add"]
        );
        // NoPE layer: no q/k norm, no RoPE, one causal span over the whole prompt.
        assert_eq!(kinds(&segs[2]), vec!["layernorm", "matmul", "flash_attention", "decode_attention", "matmul", "add"]);
        let spans = |s: &Segment| {
            heads(s)
                .into_iter()
                .map(|k| match k {
                    Kernel::Attention { q_len, kv_len, causal, .. } => (q_len, kv_len, causal),
                    Kernel::DecodeAttention { kv_total, .. } => (0, kv_total, false),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(spans(&segs[1]), vec![(8192, 8192, true), (1808, 1808, true), (0, 16_384, false)]);
        assert_eq!(spans(&segs[2]), vec![(10_000, 10_000, true), (0, 20_000, false)]);
        // MoE FFN with the shared expert: router, shared SwiGLU, routed experts, add.
        let moe = listing(&segs[1]).into_iter().filter(|x| x.2 != Phase::Attention).map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(
            moe,
            vec![
                "layernorm",
                "matmul",
                "topk",
                "matmul",
                "silu",
                "mul",
                "matmul",
                "grouped_matmul",
                "silu",
                "mul",
                "grouped_matmul",
                "add",
                "add"
            ]
        );
        // Maverick: dense and MoE layers alternate (48 runs of one layer).
        let mav = LlamaModel::preset("llama4-maverick").unwrap();
        let g = step(&mav, &BatchShape { decode_seqs: 1, decode_ctx_sum: 10, ..Default::default() });
        assert_eq!(g.stages[0].segments.len(), 50);
        assert_eq!(mav.info().ffn_dim, 16384);
    }

    #[test]
    fn kv_bytes_and_windows_of_every_new_preset() {
        // 2 (K, V) · layers · KV heads · head_dim · 2 bytes (bf16).
        for (name, kv, windowed, window) in [
            ("qwen3-0.6b", 2 * 28 * 8 * 128 * 2, 0, 0), // 114,688
            ("qwen3-1.7b", 2 * 28 * 8 * 128 * 2, 0, 0),
            ("qwen3-4b", 2 * 36 * 8 * 128 * 2, 0, 0), // 147,456
            ("qwen3-8b", 147_456, 0, 0),
            ("qwen3-14b", 2 * 40 * 8 * 128 * 2, 0, 0),        // 163,840
            ("qwen3-32b", 2 * 64 * 8 * 128 * 2, 0, 0),        // 262,144
            ("qwen3-30b-a3b", 2 * 48 * 4 * 128 * 2, 0, 0),    // 98,304
            ("gpt-oss-20b", 2 * 24 * 8 * 64 * 2, 12, 128),    // 49,152
            ("gpt-oss-120b", 2 * 36 * 8 * 64 * 2, 18, 128),   // 73,728
            ("llama4-scout", 2 * 48 * 8 * 128 * 2, 36, 8192), // 196,608
            ("llama4-maverick", 2 * 48 * 8 * 128 * 2, 36, 8192),
        ] {
            let i = LlamaModel::preset(name).unwrap().info().clone();
            assert_eq!((i.kv_bytes_per_token, i.kv_windowed_layers, i.kv_window_tokens), (kv, windowed, window), "{name}");
        }
        // Qwen3-30B-A3B: attention 2048·(32+8)·128 + 32·128·2048 = 18,874,368, norms 4352,
        // experts 128·3·2048·768 = 603,979,776, router 262,144 → layer 623,120,640; ×48
        // = 29,909,790,720 + 2·311,164,928 + 2048 = 30,532,122,624; active: 8 of 128 experts
        // → 48·56,889,600 + 622,331,904 = 3,353,032,704.
        let q = LlamaModel::preset("qwen3-30b-a3b").unwrap();
        assert_eq!((q.info().params_total, q.info().params_active), (30_532_122_624, 3_353_032_704));
    }

    #[test]
    fn qwen3_dense_presets() {
        let m = LlamaModel::preset("qwen3-8b").unwrap();
        // 36·2·8·128·2 = 147,456 bytes per token; no windowed layer.
        assert_eq!((m.info().params_total, m.info().kv_bytes_per_token, m.info().kv_window_tokens), (8_190_735_360, 147_456, 0));
        assert_eq!(m.info().kv_bytes_for_context(1000), 147_456_000);
        let g = step(&m, &BatchShape { decode_seqs: 1, decode_ctx_sum: 10, ..Default::default() });
        let l = listing(&g.stages[0].segments[1]);
        // q/k RMSNorm over (32 + 8)·128 per token.
        assert_eq!(l[2], ("layernorm", Shard::Split, Phase::Attention, 4.0 * 40.0 * 128.0));
        assert_eq!(LlamaModel::preset("qwen3-0.6b").unwrap().info().weights.lm_head, 0);
    }

    #[test]
    fn registered_with_presets() {
        let reg = reallm_plugin_api::registrations().find(|r| r.info.name == "llama").expect("llama registered");
        assert_eq!(reg.info.kind, reallm_plugin_api::PluginKind::Model);
        assert!(reg.info.presets.contains(&"llama70b") && reg.info.presets.contains(&"mixtral-8x7b"));
        let reallm_plugin_api::Constructor::Model(ctor) = reg.ctor else { panic!("not a model constructor") };
        assert_eq!(ctor(&json!({"preset": "llama405b"})).unwrap().info().n_layers, 126);
        println!("{}", reallm_model_kit::format_info(ctor(&json!({"preset": "llama405b"})).unwrap().info()));
    }
}
