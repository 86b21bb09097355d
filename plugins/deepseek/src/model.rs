//! The `deepseek` model plugin: the logical kernels of one forward step of DeepSeek-V2/V3.
//!
//! Attention is multi-head latent attention (DeepSeek-V2 paper §2.1; V3 `inference/model.py`
//! class `MLA`). Queries: `q = wq_b(q_norm(wq_a(x)))` per head `[nope | rope]`. Keys and values
//! are compressed into a latent `c_kv = kv_norm(wkv_a(x)[:kv_lora])` plus a shared rotary key
//! `k_pe = rope(wkv_a(x)[kv_lora:])`; only `c_kv` and `k_pe` are cached, `kv_lora + rope`
//! elements per token per layer. Two computation forms are used, as in the reference code:
//!
//! * **prefill** (up-projected, `attn_impl = "naive"`): `wkv_b` expands the latents into per-head
//!   `k_nope` and `v`, and ordinary attention runs with `d_qk = nope + rope`, `d_v = v`. A chunk
//!   after a cached prefix also up-projects the prefix latents, so the `wkv_b` GEMM has
//!   `Σ kv_len` rows (prefix + new tokens of every chunk), not just the new tokens.
//! * **decode** (weight-absorbed, `attn_impl = "absorb"`): `q_nope` is multiplied by the `W_UK`
//!   slice of `wkv_b` per head (`q absorb`), attention runs directly over the cached latents as
//!   one shared KV head (`d_qk = kv_lora + rope`, `d_v = kv_lora`, K and V read from the same
//!   entries), and the result is multiplied by the `W_UV` slice per head (`un-absorb`).

use crate::config::DeepSeekConfig;
use reallm_model_kit::{prefill_groups, push_unfused_attention, AttentionBlock, AttentionForm, FamilyModel, LayerAttention, ModelCore};
use reallm_plugin_api::{BatchShape, Kernel, Phase, Shard, WorkItem};
#[cfg(test)]
use reallm_plugin_api::{ModelArch, ModelGraph, Segment, SegmentKind};

/// A DeepSeek-V2/V3 model instance (architecture plus simulation options).
pub type DeepSeekModel = FamilyModel<DeepSeekConfig>;

impl AttentionBlock for DeepSeekConfig {
    /// The MLA block of one layer (everything from the input norm to the residual add). Every
    /// DeepSeek layer attends over the whole context with RoPE (`_layer` is the default).
    fn push_attention_block(&self, core: &ModelCore, items: &mut Vec<WorkItem>, t: u64, batch: &BatchShape, _layer: &LayerAttention) {
        let (c, dt) = (self, &core.dt);
        let (hid, h, nope, rope, v, lora) = (c.hidden, c.n_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.kv_lora_rank);
        let qk = nope + rope;
        let at = |k: Kernel, s: Shard| WorkItem::kernel(k, s, Phase::Attention);
        items.push(at(Kernel::LayerNorm { m: t, n: hid, dtype: dt.act }, Shard::Replicated));
        if c.q_lora_rank > 0 {
            items.push(at(dt.linear(t, hid, c.q_lora_rank), Shard::Replicated));
            items.push(at(Kernel::LayerNorm { m: t, n: c.q_lora_rank, dtype: dt.act }, Shard::Replicated));
            items.push(at(dt.linear(t, c.q_lora_rank, h * qk), Shard::Column));
        } else {
            items.push(at(dt.linear(t, hid, h * qk), Shard::Column));
        }
        items.push(at(dt.linear(t, hid, lora + rope), Shard::Replicated));
        items.push(at(Kernel::LayerNorm { m: t, n: lora, dtype: dt.act }, Shard::Replicated));
        // RoPE on the H query rope parts and the one shared k_pe: n = (H + 1)·rope. Split, so TP
        // divides it whole (k_pe is in fact replicated; it is 1/(H+1) of the op).
        items.push(at(Kernel::Rope { m: t, n: (h + 1) * rope, dtype: dt.act }, Shard::Split));

        // Prefill: up-project latents of every chunk's prefix and new tokens, then attention.
        let groups = prefill_groups(batch);
        if !groups.is_empty() {
            let latent_rows: u64 = groups.iter().map(|g| g.seqs * g.kv_len()).sum();
            items.push(at(dt.linear(latent_rows, lora, h * (nope + v)), Shard::Column));
            for g in &groups {
                match core.attention {
                    // K and V are fresh activations of the up-projection (act type).
                    AttentionForm::Flash => items.push(at(
                        Kernel::Attention {
                            seqs: g.seqs,
                            q_len: g.tokens,
                            kv_len: g.kv_len(),
                            q_heads: h,
                            kv_heads: h,
                            d_qk: qk,
                            d_v: v,
                            causal: true,
                            kv_shared: false,
                            act: dt.act,
                            kv: dt.act,
                        },
                        Shard::Heads,
                    )),
                    AttentionForm::Unfused => push_unfused_attention(items, g.seqs, g.tokens, g.kv_len(), h, qk, v, dt.act, dt.act),
                }
            }
        }

        // Decode: weight-absorbed attention over the cached latents. Under speculative
        // verification each decoding sequence feeds 1 + spec_tokens queries: the absorb GEMMs
        // take all of them, and the attention is one causal span per sequence over its mean
        // context (FlashMLA's s_q > 1), reading the latents once for all its queries.
        let d = batch.decode_seqs;
        let spec = batch.spec_tokens;
        if d > 0 {
            let rows = batch.decode_tokens();
            let absorb = |k: u64, n: u64| Kernel::Gemm { b: h, m: rows, k, n, a: dt.act, w: dt.weight, out: dt.act };
            items.push(at(absorb(nope, lora), Shard::Heads));
            let mean_ctx = batch.decode_ctx_sum.div_ceil(d);
            match core.attention {
                AttentionForm::Flash if spec > 0 => items.push(at(
                    Kernel::Attention {
                        seqs: d,
                        q_len: spec + 1,
                        kv_len: mean_ctx + spec,
                        q_heads: h,
                        kv_heads: 1,
                        d_qk: lora + rope,
                        d_v: lora,
                        causal: true,
                        kv_shared: true,
                        act: dt.act,
                        kv: dt.kv,
                    },
                    Shard::Heads,
                )),
                AttentionForm::Unfused if spec > 0 => {
                    push_unfused_attention(items, d, spec + 1, mean_ctx + spec, h, lora + rope, lora, dt.act, dt.kv)
                }
                AttentionForm::Flash => items.push(at(
                    Kernel::DecodeAttention {
                        seqs: d,
                        kv_total: batch.decode_ctx_sum,
                        q_heads: h,
                        kv_heads: 1,
                        d_qk: lora + rope,
                        d_v: lora,
                        kv_shared: true,
                        act: dt.act,
                        kv: dt.kv,
                    },
                    Shard::Heads,
                )),
                // Mean context ⌈Σctx / seqs⌉, as in the llama plugin.
                AttentionForm::Unfused => push_unfused_attention(items, d, 1, mean_ctx, h, lora + rope, lora, dt.act, dt.kv),
            }
            items.push(at(absorb(lora, v), Shard::Heads));
        }
        items.push(at(dt.linear(t, h * v, hid), Shard::Row));
        items.push(at(Kernel::Add { m: t, n: hid, dtype: dt.act }, Shard::Replicated));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::{DType, PrefillChunk, WorkKind};
    use serde_json::json;

    fn step(m: &DeepSeekModel, batch: &BatchShape) -> ModelGraph {
        let mut g = ModelGraph::default();
        m.build_step(batch, &mut g).unwrap();
        g
    }

    fn kernels(seg: &Segment) -> Vec<Kernel> {
        seg.items
            .iter()
            .filter_map(|it| match it.work {
                WorkKind::Kernel(k) => Some(k),
                WorkKind::Comm(_) => None,
            })
            .collect()
    }

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
    fn info_of_the_presets() {
        let v3 = DeepSeekModel::preset("deepseekv3").unwrap();
        let i = v3.info();
        assert_eq!((i.name.as_str(), i.family.as_str(), i.n_layers), ("deepseek-v3", "deepseek", 61));
        assert_eq!((i.params_total, i.params_active), (671_026_419_200, 37_552_297_472));
        // 61 layers · (512 + 64) · 2 bytes = 70,272
        assert_eq!(i.kv_bytes_per_token, 70_272);
        assert_eq!((i.n_kv_heads, i.head_dim, i.first_dense_layers), (1, 192, 3));
        assert_eq!((i.n_routed_experts, i.n_shared_experts, i.experts_per_token, i.moe_ffn_dim, i.ffn_dim), (256, 1, 8, 2048, 18432));
        // Shipped fp8: linear layers 1 byte per parameter, embedding/head/norms/router bf16.
        assert_eq!((i.weight_dtype, i.act_dtype, i.kv_dtype), (DType::F8, DType::Bf16, DType::Bf16));
        let c = v3.param_counts();
        assert_eq!(i.weights.routed_experts, c.routed_experts);
        assert_eq!(i.weights.embedding, 2 * 926_679_040);
        let hp = c.embedding + c.lm_head + c.norms + c.router;
        assert_eq!(i.weights.total(), c.total() + hp);
        let v2 = DeepSeekModel::preset("deepseek-v2").unwrap();
        // 60 · 576 · 2 = 69,120
        assert_eq!(
            (v2.info().kv_bytes_per_token, v2.info().params_total, v2.info().params_active),
            (69_120, 235_741_434_880, 21_375_800_320)
        );
        assert_eq!(v2.info().weights.total(), 2 * 235_741_434_880);
        // bf16 override of V3 weights.
        let bf = DeepSeekModel::from_params(&json!({"preset": "deepseek-v3", "weight_dtype": "bf16"})).unwrap();
        assert_eq!(bf.info().weights.total(), 2 * 671_026_419_200);
    }

    #[test]
    fn prefill_step_kernels_by_hand() {
        // DeepSeek-V3, one 512-token prompt. T = 512; top-8 → 4096 routed rows.
        let m = DeepSeekModel::preset("deepseek-v3").unwrap();
        let g =
            step(&m, &BatchShape { prefills: vec![PrefillChunk { tokens: 512, prefix: 0, last: true }], seed: 1, ..Default::default() });
        let segs = &g.stages[0].segments;
        assert_eq!(
            segs.iter().map(|s| (s.kind, s.first_layer, s.n_layers)).collect::<Vec<_>>(),
            vec![(SegmentKind::Pre, 0, 1), (SegmentKind::Layers, 0, 3), (SegmentKind::Layers, 3, 58), (SegmentKind::Post, 60, 1)]
        );
        use Phase::{Attention as A, Ffn as F, Moe as M};
        use Shard::*;
        let mla = vec![
            ("layernorm", Replicated, A, 14_680_064.0),      // 4·512·7168
            ("matmul", Replicated, A, 11_274_289_152.0),     // q down 2·512·7168·1536
            ("layernorm", Replicated, A, 3_145_728.0),       // q norm 4·512·1536
            ("matmul", Column, A, 38_654_705_664.0),         // q up 2·512·1536·(128·192)
            ("matmul", Replicated, A, 4_227_858_432.0),      // kv down 2·512·7168·576
            ("layernorm", Replicated, A, 1_048_576.0),       // kv norm 4·512·512
            ("rope", Split, A, 12_681_216.0),                // 3·512·(129·64)
            ("matmul", Column, A, 17_179_869_184.0),         // kv up 2·512·512·(128·256)
            ("flash_attention", Heads, A, 10_758_389_760.0), // 2·(512·513/2)·128·(192+128)
            ("matmul", Row, A, 120_259_084_288.0),           // o 2·512·16384·7168
            ("add", Replicated, A, 3_670_016.0),             // 512·7168
        ];
        let mut dense = mla.clone();
        dense.extend([
            ("layernorm", Replicated, F, 14_680_064.0),
            ("matmul", Column, F, 270_582_939_648.0), // gate+up 2·512·7168·36864
            ("silu", Split, F, 47_185_920.0),         // 5·512·18432
            ("mul", Split, F, 9_437_184.0),
            ("matmul", Row, F, 135_291_469_824.0), // down 2·512·18432·7168
            ("add", Replicated, F, 3_670_016.0),
        ]);
        assert_eq!(listing(&segs[1]), dense);
        let mut moe = mla;
        moe.extend([
            ("layernorm", Replicated, F, 14_680_064.0),
            ("matmul", Replicated, M, 1_879_048_192.0), // router 2·512·7168·256
            ("topk", Replicated, M, 524_288.0),         // 512·256·(1 + log2 8)
            ("matmul", Column, F, 30_064_771_072.0),    // shared gate+up 2·512·7168·4096
            ("silu", Split, F, 5_242_880.0),            // 5·512·2048
            ("mul", Split, F, 1_048_576.0),
            ("matmul", Row, F, 15_032_385_536.0),              // shared down 2·512·2048·7168
            ("grouped_matmul", Experts, M, 240_518_168_576.0), // routed gate+up 2·4096·7168·4096
            ("silu", Experts, M, 41_943_040.0),                // 5·4096·2048
            ("mul", Experts, M, 8_388_608.0),
            ("grouped_matmul", Experts, M, 120_259_084_288.0), // routed down 2·4096·2048·7168
            ("add", Replicated, M, 3_670_016.0),               // routed + shared
            ("add", Replicated, F, 3_670_016.0),
        ]);
        assert_eq!(listing(&segs[2]), moe);
        let routed = kernels(&segs[2])[18];
        let max = *g.expert_tokens.iter().max().unwrap() as u64;
        assert!(matches!(routed, Kernel::GroupedGemm { groups: 256, rows: 4096, max_rows, .. } if max_rows == max));
        assert_eq!(g.expert_tokens.iter().map(|&x| x as u64).sum::<u64>(), 4096);
        // LM head 2·1·7168·129280, bf16 weights.
        assert_eq!(kernels(&segs[3])[1], Kernel::matmul(1, 7168, 129_280, DType::Bf16));
        // The attention kernel's shape.
        assert_eq!(
            kernels(&segs[1])[8],
            Kernel::Attention {
                seqs: 1,
                q_len: 512,
                kv_len: 512,
                q_heads: 128,
                kv_heads: 128,
                d_qk: 192,
                d_v: 128,
                causal: true,
                kv_shared: false,
                act: DType::Bf16,
                kv: DType::Bf16
            }
        );
        // Linear layers run fp8 weights with bf16 activations.
        assert!(matches!(kernels(&segs[1])[1], Kernel::Gemm { a: DType::Bf16, w: DType::F8, out: DType::Bf16, .. }));
    }

    #[test]
    fn chunk_after_prefix_up_projects_the_prefix_latents() {
        // A 256-token chunk after 768 cached tokens: the kv-up GEMM has 768 + 256 = 1024 rows.
        let m = DeepSeekModel::preset("deepseek-v2").unwrap();
        let g = step(&m, &BatchShape { prefills: vec![PrefillChunk { tokens: 256, prefix: 768, last: false }], ..Default::default() });
        let k = kernels(&g.stages[0].segments[1]);
        assert!(matches!(k[7], Kernel::Gemm { m: 1024, k: 512, n: 32768, .. }), "{:?}", k[7]);
        assert!(matches!(k[8], Kernel::Attention { seqs: 1, q_len: 256, kv_len: 1024, .. }));
        // No logit token: the LM head is absent, the final norm remains.
        assert_eq!(g.stages[0].segments.last().unwrap().items.len(), 1);
    }

    #[test]
    fn verification_step_kernels_by_hand() {
        // DeepSeek-V3 with one MTP draft token: 8 sequences of 4096 context each (Σctx 32,768)
        // feed 2 tokens each. Absorb GEMMs over 16 rows; one causal span of 2 queries over
        // 4097 latents per sequence (the latents read once for both).
        let m = DeepSeekModel::preset("deepseek-v3").unwrap();
        let batch = BatchShape { decode_seqs: 8, decode_ctx_sum: 32_768, seed: 3, spec_tokens: 1, ..Default::default() };
        let g = step(&m, &batch);
        let seg = &g.stages[0].segments[2];
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(seg, Shard::Heads);
        let (bf, f8) = (DType::Bf16, DType::F8);
        let att = Kernel::Attention {
            seqs: 8,
            q_len: 2,
            kv_len: 4097,
            q_heads: 128,
            kv_heads: 1,
            d_qk: 576,
            d_v: 512,
            causal: true,
            kv_shared: true,
            act: bf,
            kv: bf,
        };
        assert_eq!(
            heads,
            vec![
                Kernel::Gemm { b: 128, m: 16, k: 128, n: 512, a: bf, w: f8, out: bf },
                att,
                Kernel::Gemm { b: 128, m: 16, k: 512, n: 128, a: bf, w: f8, out: bf },
            ]
        );
        // Pairs 8·(4096 + 4097) = 65,544: FLOPs 2·65,544·128·1088 = 18,255,839,232. Bytes: q
        // 16·128·576·2, o 16·128·512·2, latents 8·4097·576·2.
        assert_eq!(att.flops(), 18_255_839_232.0);
        assert_eq!(att.bytes(), (16 * 128 * 576 * 2 + 16 * 128 * 512 * 2 + 8 * 4097 * 576 * 2) as f64);
        // 16 tokens are routed to the experts and 16 rows produce logits.
        assert_eq!(g.expert_tokens.iter().map(|&x| x as u64).sum::<u64>(), 16 * 8);
        let head = kernels(g.stages[0].segments.last().unwrap());
        assert!(matches!(head[1], Kernel::Gemm { m: 16, k: 7168, n: 129_280, .. }), "{:?}", head[1]);
    }

    #[test]
    fn decode_step_kernels_by_hand() {
        // DeepSeek-V3, 8 decoding sequences of 4096 context each: Σctx = 32,768.
        let m = DeepSeekModel::preset("deepseek-v3").unwrap();
        let g = step(&m, &BatchShape { decode_seqs: 8, decode_ctx_sum: 32_768, seed: 3, ..Default::default() });
        let seg = &g.stages[0].segments[2];
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(seg, Shard::Heads);
        let (bf, f8) = (DType::Bf16, DType::F8);
        assert_eq!(
            heads,
            vec![
                Kernel::Gemm { b: 128, m: 8, k: 128, n: 512, a: bf, w: f8, out: bf },
                Kernel::DecodeAttention {
                    seqs: 8,
                    kv_total: 32_768,
                    q_heads: 128,
                    kv_heads: 1,
                    d_qk: 576,
                    d_v: 512,
                    kv_shared: true,
                    act: bf,
                    kv: bf
                },
                Kernel::Gemm { b: 128, m: 8, k: 512, n: 128, a: bf, w: f8, out: bf },
            ]
        );
        // q absorb 2·128·8·128·512 = 134,217,728 (= 2·8·|W_UK|); attention 2·32768·128·(576+512)
        // = 9,126,805,504; un-absorb 2·128·8·512·128 = 134,217,728.
        assert_eq!(heads.iter().map(|k| k.flops()).collect::<Vec<_>>(), vec![134_217_728.0, 9_126_805_504.0, 134_217_728.0]);
        // Bytes: q 8·128·576·2 = 1,179,648; o 8·128·512·2 = 1,048,576; latents 32768·576·2 = 37,748,736.
        assert_eq!(heads[1].bytes(), 39_976_960.0);
        // No up-projection and no prefill attention in a pure decode step.
        assert!(!seg.items.iter().any(|it| matches!(it.work, WorkKind::Kernel(Kernel::Attention { .. }))));
        assert_eq!(kernels(seg).iter().filter(|k| matches!(k, Kernel::Gemm { n: 32768, .. })).count(), 0);
    }

    #[test]
    fn prefill_total_flops_is_two_active_params_per_token_plus_attention() {
        // DeepSeek-V3, P = 1024 tokens, one prompt.
        let m = DeepSeekModel::preset("deepseek-v3").unwrap();
        let g = step(&m, &BatchShape { prefills: vec![PrefillChunk { tokens: 1024, prefix: 0, last: true }], ..Default::default() });
        let c = m.param_counts();
        let p = 1024.0;
        let (l, dense_l, moe_l, h, hid, vocab) = (61.0, 3.0, 58.0, 128.0, 7168.0, 129_280.0);
        // Linear layers: all active parameters except embedding, LM head, norm gains and the
        // router's score-correction bias (256 per MoE layer), 2 FLOPs each per token (the kv-up
        // GEMM covers the P new tokens' latents: no prefix). LM head for one logit token.
        let linear = (c.active - c.embedding - c.lm_head - c.norms - 58 * 256) as f64;
        let gemm = 2.0 * linear * p + 2.0 * hid * vocab;
        // Attention: P(P+1)/2 causal pairs · 2 · 128 heads · (192 + 128).
        let attention = l * 2.0 * (p * (p + 1.0) / 2.0) * h * 320.0;
        // Per layer: norms 4P·(2·7168 + 1536 + 512), RoPE 3P·129·64, two residual adds 2·P·7168;
        // dense FFN SiLU + mul 6P·18432; MoE: top-k P·256·4, shared 6P·2048, routed 6·8P·2048,
        // routed+shared add P·7168; final norm 4P·7168.
        let common = 4.0 * p * (2.0 * hid + 2048.0) + 3.0 * p * 129.0 * 64.0 + 2.0 * p * hid;
        let elementwise = l * common
            + dense_l * 6.0 * p * 18432.0
            + moe_l * (p * 256.0 * 4.0 + 6.0 * p * 2048.0 + 6.0 * 8.0 * p * 2048.0 + p * hid)
            + 4.0 * p * hid;
        let total = gemm + attention + elementwise;
        assert!((g.kernel_flops() - total).abs() / total < 1e-12, "{} vs {total}", g.kernel_flops());
    }

    #[test]
    fn unfused_attention_forms() {
        let m = DeepSeekModel::from_params(&json!({"preset": "deepseek-v2", "attention": "unfused"})).unwrap();
        let batch = BatchShape {
            prefills: vec![PrefillChunk { tokens: 64, prefix: 0, last: true }],
            decode_seqs: 2,
            decode_ctx_sum: 201,
            seed: 0,
            spec_tokens: 0,
        };
        let g = step(&m, &batch);
        let heads: Vec<Kernel> = reallm_plugin_api::test_support::shard_kernels(&g.stages[0].segments[1], Shard::Heads);
        let (bf, w) = (DType::Bf16, DType::Bf16);
        assert_eq!(
            heads,
            vec![
                // prefill: b = 1·128, d_qk 192, d_v 128
                Kernel::Gemm { b: 128, m: 64, k: 192, n: 64, a: bf, w: bf, out: bf },
                Kernel::Softmax { m: 128 * 64, n: 64, dtype: bf },
                Kernel::Gemm { b: 128, m: 64, k: 64, n: 128, a: bf, w: bf, out: bf },
                // decode: absorb, then latent attention with mean context ⌈201/2⌉ = 101, un-absorb
                Kernel::Gemm { b: 128, m: 2, k: 128, n: 512, a: bf, w, out: bf },
                Kernel::Gemm { b: 256, m: 1, k: 576, n: 101, a: bf, w: bf, out: bf },
                Kernel::Softmax { m: 256, n: 101, dtype: bf },
                Kernel::Gemm { b: 256, m: 1, k: 101, n: 512, a: bf, w: bf, out: bf },
                Kernel::Gemm { b: 128, m: 2, k: 512, n: 128, a: bf, w, out: bf },
            ]
        );
    }

    #[test]
    fn routing_is_seeded_and_configurable() {
        let m = DeepSeekModel::from_params(&json!({"preset": "deepseek-v3", "routing": {"kind": "zipf", "skew": 1.2}})).unwrap();
        let b = |seed| BatchShape { decode_seqs: 256, decode_ctx_sum: 256 * 100, seed, ..Default::default() };
        let (g1, g2, g3) = (step(&m, &b(1)), step(&m, &b(1)), step(&m, &b(2)));
        assert_eq!(g1.expert_tokens, g2.expert_tokens);
        assert_ne!(g1.expert_tokens, g3.expert_tokens);
        assert_eq!(g1.expert_tokens.iter().sum::<u32>(), 256 * 8);
        let u = DeepSeekModel::preset("deepseek-v3").unwrap();
        let skewed_max = *g1.expert_tokens.iter().max().unwrap();
        let uniform_max = *step(&u, &b(1)).expert_tokens.iter().max().unwrap();
        // Uniform mean is 8 per expert; Zipf 1.2 over 256 experts gives the hottest expert
        // π = 1 (capped): all 256 tokens.
        assert!(uniform_max < 30 && skewed_max == 256, "{uniform_max} {skewed_max}");
        // A dense-only step of a V3 with no MoE layer cannot happen; routing errors surface.
        assert!(
            DeepSeekModel::from_params(&json!({"preset": "deepseek-v3", "routing": {"kind": "explicit", "probabilities": [1.0]}})).is_err()
        );
    }

    #[test]
    fn hf_configs_equal_presets() {
        let dir = tempfile::tempdir().unwrap();
        // Published config.json of deepseek-ai/DeepSeek-V2 and deepseek-ai/DeepSeek-V3.
        let cases = [
            (
                "deepseek-v2",
                r#"{"architectures":["DeepseekV2ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
              "aux_loss_alpha":0.001,"bos_token_id":100000,"eos_token_id":100001,"first_k_dense_replace":1,"hidden_act":"silu",
              "hidden_size":5120,"initializer_range":0.02,"intermediate_size":12288,"kv_lora_rank":512,"max_position_embeddings":163840,
              "model_type":"deepseek_v2","moe_intermediate_size":1536,"moe_layer_freq":1,"n_group":8,"n_routed_experts":160,
              "n_shared_experts":2,"norm_topk_prob":false,"num_attention_heads":128,"num_experts_per_tok":6,"num_hidden_layers":60,
              "num_key_value_heads":128,"pretraining_tp":1,"q_lora_rank":1536,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
              "rms_norm_eps":1e-06,"rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,"mscale":0.707,"mscale_all_dim":0.707,
              "original_max_position_embeddings":4096,"type":"yarn"},"rope_theta":10000,"routed_scaling_factor":16.0,
              "scoring_func":"softmax","seq_aux":true,"tie_word_embeddings":false,"topk_group":3,"topk_method":"group_limited_greedy",
              "torch_dtype":"bfloat16","transformers_version":"4.39.3","use_cache":true,"v_head_dim":128,"vocab_size":102400}"#,
            ),
            (
                "deepseek-v3",
                r#"{"architectures":["DeepseekV3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
              "aux_loss_alpha":0.001,"bos_token_id":0,"eos_token_id":1,"ep_size":1,"first_k_dense_replace":3,"hidden_act":"silu",
              "hidden_size":7168,"initializer_range":0.02,"intermediate_size":18432,"kv_lora_rank":512,"max_position_embeddings":163840,
              "model_type":"deepseek_v3","moe_intermediate_size":2048,"moe_layer_freq":1,"n_group":8,"n_routed_experts":256,
              "n_shared_experts":1,"norm_topk_prob":true,"num_attention_heads":128,"num_experts_per_tok":8,"num_hidden_layers":61,
              "num_key_value_heads":128,"num_nextn_predict_layers":1,"q_lora_rank":1536,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
              "quantization_config":{"activation_scheme":"dynamic","fmt":"e4m3","quant_method":"fp8","weight_block_size":[128,128]},
              "rms_norm_eps":1e-06,"rope_scaling":{"beta_fast":32,"beta_slow":1,"factor":40,"mscale":1.0,"mscale_all_dim":1.0,
              "original_max_position_embeddings":4096,"type":"yarn"},"rope_theta":10000,"routed_scaling_factor":2.5,
              "scoring_func":"sigmoid","tie_word_embeddings":false,"topk_group":4,"topk_method":"noaux_tc","torch_dtype":"bfloat16",
              "transformers_version":"4.33.1","use_cache":true,"v_head_dim":128,"vocab_size":129280}"#,
            ),
        ];
        for (name, text) in cases {
            let path = dir.path().join(format!("{name}.json"));
            std::fs::write(&path, text).unwrap();
            let from_file = DeepSeekModel::from_params(&json!({"hf_config": path, "name": name})).unwrap();
            let from_preset = DeepSeekModel::preset(name).unwrap();
            assert_eq!(from_file.info(), from_preset.info(), "{name}");
            assert_eq!(from_file.config(), from_preset.config(), "{name}");
            let inline: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(DeepSeekModel::from_params(&json!({"config": inline, "name": name})).unwrap().info(), from_preset.info());
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let err = |v: serde_json::Value| DeepSeekModel::from_params(&v).unwrap_err().to_string();
        assert!(err(json!({"preset": "deepseek-v4"})).contains("unknown preset"));
        assert!(err(json!({"preset": "deepseek-v3", "kv_dtype": "fp9"})).contains("fp9"));
        assert!(err(json!({"config": {"model_type": "llama", "hidden_size": 4096}})).contains("llama"));
        assert!(err(json!({"preset": "deepseek-v3", "unknown_option": true})).contains("unknown_option"));
        let m = DeepSeekModel::preset("deepseek-v2").unwrap();
        let mut g = ModelGraph::default();
        assert!(m.build_step(&BatchShape { decode_seqs: 0, decode_ctx_sum: 5, ..Default::default() }, &mut g).is_err());
    }

    #[test]
    fn registered_with_presets() {
        let reg = reallm_plugin_api::registrations().find(|r| r.info.name == "deepseek").expect("deepseek registered");
        assert!(reg.info.presets.contains(&"deepseekv3") && reg.info.presets.contains(&"deepseek-v2"));
        let reallm_plugin_api::Constructor::Model(ctor) = reg.ctor else { panic!("not a model constructor") };
        assert_eq!(ctor(&json!({"preset": "deepseekv2"})).unwrap().info().kv_bytes_per_token, 69_120);
    }

    #[test]
    fn kimi_k2_info() {
        let m = DeepSeekModel::preset("kimi-k2").unwrap();
        let i = m.info();
        // The latent cache does not depend on the head count: 61·(512 + 64)·2 = 70,272 bytes
        // per token in bf16, as for DeepSeek-V3.
        assert_eq!(i.kv_bytes_per_token, 70_272);
        assert_eq!((i.n_heads, i.n_routed_experts, i.experts_per_token, i.first_dense_layers), (64, 384, 8, 1));
        assert_eq!((i.kv_window_tokens, i.kv_windowed_layers), (0, 0));
        assert_eq!(i.weight_dtype, DType::F8);
        let g = step(&m, &BatchShape { decode_seqs: 8, decode_ctx_sum: 800, seed: 1, ..Default::default() });
        assert_eq!(g.expert_tokens.len(), 384);
        assert_eq!(g.expert_tokens.iter().sum::<u32>(), 64);
    }

    #[test]
    fn listing_prints() {
        let m = DeepSeekModel::preset("deepseek-v3").unwrap();
        let g = step(
            &m,
            &BatchShape {
                prefills: vec![PrefillChunk { tokens: 128, prefix: 0, last: true }],
                decode_seqs: 4,
                decode_ctx_sum: 4000,
                seed: 0,
                spec_tokens: 0,
            },
        );
        let text = crate::format_graph(&g);
        assert!(text.contains("layers 3..=60 (×58)") && text.contains("decode_attention") && text.contains("grouped_matmul"), "{text}");
        assert!(crate::format_info(m.info()).contains("671.03 B total"));
    }
}
