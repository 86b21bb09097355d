//! Test fixtures: model descriptions and a Llama-like logical graph builder (the real model
//! plugins live in other crates and are not dependencies of this one).

use reallm_plugin_api::{
    BatchShape, DType, Degrees, Kernel, ModelGraph, ModelInfo, ParallelPlan, Phase, Segment, SegmentKind, Shard, Stage, WeightBytes,
    WorkItem,
};

/// Llama-3-70B (shared/reference/models.md §6.1): hidden 8192, 80 layers, 64 heads, 8 KV
/// heads, head_dim 128, intermediate 28672, vocab 128256, bf16.
pub fn llama3_70b() -> ModelInfo {
    ModelInfo {
        name: "llama3-70b".into(),
        family: "llama".into(),
        n_layers: 80,
        hidden: 8192,
        n_heads: 64,
        n_kv_heads: 8,
        head_dim: 128,
        ffn_dim: 28672,
        vocab: 128256,
        n_routed_experts: 0,
        n_shared_experts: 0,
        experts_per_token: 0,
        moe_ffn_dim: 0,
        first_dense_layers: 0,
        weight_dtype: DType::Bf16,
        act_dtype: DType::Bf16,
        kv_dtype: DType::Bf16,
        params_total: 70_550_000_000,
        params_active: 70_550_000_000,
        weights: WeightBytes::default(),
        kv_bytes_per_token: 327_680,
        max_context: 8192,
        kv_window_tokens: 0,
        kv_windowed_layers: 0,
    }
}

/// A small MoE model in the shape of Mixtral / DeepSeek: GQA attention, one dense layer, then
/// MoE layers of 8 routed experts (top-2) and one shared expert.
pub fn small_moe() -> ModelInfo {
    ModelInfo {
        name: "tiny-moe".into(),
        family: "test".into(),
        n_layers: 6,
        hidden: 512,
        n_heads: 16,
        n_kv_heads: 4,
        head_dim: 32,
        ffn_dim: 1536,
        vocab: 1000,
        n_routed_experts: 8,
        n_shared_experts: 1,
        experts_per_token: 2,
        moe_ffn_dim: 256,
        first_dense_layers: 1,
        weight_dtype: DType::Bf16,
        act_dtype: DType::Bf16,
        kv_dtype: DType::Bf16,
        params_total: 0,
        params_active: 0,
        weights: WeightBytes::default(),
        kv_bytes_per_token: 0,
        max_context: 4096,
        kv_window_tokens: 0,
        kv_windowed_layers: 0,
    }
}

/// A plan with the given attention and FFN degrees (devices = their product).
pub fn plan(attention: &str, ffn: &str) -> ParallelPlan {
    let a = Degrees::parse(attention).expect("attention degrees");
    let f = Degrees::parse(ffn).expect("ffn degrees");
    ParallelPlan {
        devices: a.product() as u32,
        attention: a,
        ffn: f,
        sequence_parallel: false,
        comm_algo: Default::default(),
        devices_per_node: 8,
    }
}

fn k(kernel: Kernel, shard: Shard, phase: Phase) -> WorkItem {
    WorkItem::kernel(kernel, shard, phase)
}

/// The logical graph of one step, per the item list of the task brief:
/// Pre: Embedding; Layers: LN, QKV (Column), RoPE (Split), attention (Heads), O (Row), Add,
/// LN, then a dense SwiGLU FFN or an MoE block; Post: LN, LM head (Vocab).
pub fn build(model: &ModelInfo, batch: &BatchShape, expert_tokens: &[u32]) -> ModelGraph {
    let dt = model.act_dtype;
    let t = batch.tokens();
    let (h, hq, kv, d) = (model.hidden, model.n_heads, model.n_kv_heads, model.head_dim);
    let mm = |m, kk, n| Kernel::matmul(m, kk, n, dt);
    let mut attn = vec![
        k(Kernel::LayerNorm { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Attention),
        k(mm(t, h, (hq + 2 * kv) * d), Shard::Column, Phase::Attention),
        k(Kernel::Rope { m: t, n: (hq + kv) * d, dtype: dt }, Shard::Split, Phase::Attention),
    ];
    for p in &batch.prefills {
        let a = Kernel::Attention {
            seqs: 1,
            q_len: p.tokens,
            kv_len: p.prefix + p.tokens,
            q_heads: hq,
            kv_heads: kv,
            d_qk: d,
            d_v: d,
            causal: true,
            kv_shared: false,
            act: dt,
            kv: model.kv_dtype,
        };
        attn.push(k(a, Shard::Heads, Phase::Attention));
    }
    if batch.decode_seqs > 0 {
        let a = Kernel::DecodeAttention {
            seqs: batch.decode_seqs,
            kv_total: batch.decode_ctx_sum,
            q_heads: hq,
            kv_heads: kv,
            d_qk: d,
            d_v: d,
            kv_shared: false,
            act: dt,
            kv: model.kv_dtype,
        };
        attn.push(k(a, Shard::Heads, Phase::Attention));
    }
    attn.push(k(mm(t, hq * d, h), Shard::Row, Phase::Attention));
    attn.push(k(Kernel::Add { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Attention));

    let mut dense = attn.clone();
    let i = model.ffn_dim;
    dense.extend([
        k(Kernel::LayerNorm { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Ffn),
        k(mm(t, h, 2 * i), Shard::Column, Phase::Ffn),
        k(Kernel::Silu { m: t, n: i, dtype: dt }, Shard::Split, Phase::Ffn),
        k(Kernel::Mul { m: t, n: i, dtype: dt }, Shard::Split, Phase::Ffn),
        k(mm(t, i, h), Shard::Row, Phase::Ffn),
        k(Kernel::Add { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Ffn),
    ]);

    let mut segments = vec![Segment {
        kind: SegmentKind::Pre,
        first_layer: 0,
        n_layers: 1,
        items: vec![k(Kernel::Embedding { tokens: t, hidden: h, dtype: dt }, Shard::Replicated, Phase::Embed)],
    }];
    let n_dense = if model.is_moe() { model.first_dense_layers } else { model.n_layers };
    if n_dense > 0 {
        segments.push(Segment { kind: SegmentKind::Layers, first_layer: 0, n_layers: n_dense, items: dense });
    }
    if model.is_moe() {
        let (e, top, im) = (model.n_routed_experts, model.experts_per_token, model.moe_ffn_dim);
        let rows = t * top;
        let max_rows = expert_tokens.iter().copied().max().map_or(rows.div_ceil(e), u64::from);
        let grouped = |kk, n| Kernel::GroupedGemm { groups: e, rows, max_rows, k: kk, n, a: dt, w: dt, out: dt };
        let mut moe = attn;
        moe.extend([
            k(Kernel::LayerNorm { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Moe),
            k(mm(t, h, e), Shard::Replicated, Phase::Moe),
            k(Kernel::TopK { m: t, n: e, k: top, dtype: dt }, Shard::Replicated, Phase::Moe),
            k(grouped(h, 2 * im), Shard::Experts, Phase::Moe),
            k(Kernel::Silu { m: rows, n: im, dtype: dt }, Shard::Experts, Phase::Moe),
            k(Kernel::Mul { m: rows, n: im, dtype: dt }, Shard::Experts, Phase::Moe),
            k(grouped(im, h), Shard::Experts, Phase::Moe),
            // Shared expert: a dense SwiGLU of width moe_ffn_dim.
            k(mm(t, h, 2 * im), Shard::Column, Phase::Moe),
            k(Kernel::Silu { m: t, n: im, dtype: dt }, Shard::Split, Phase::Moe),
            k(Kernel::Mul { m: t, n: im, dtype: dt }, Shard::Split, Phase::Moe),
            k(mm(t, im, h), Shard::Row, Phase::Moe),
            k(Kernel::Add { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Moe),
        ]);
        segments.push(Segment { kind: SegmentKind::Layers, first_layer: n_dense, n_layers: model.n_layers - n_dense, items: moe });
    }
    let logits = batch.logit_tokens();
    segments.push(Segment {
        kind: SegmentKind::Post,
        first_layer: model.n_layers,
        n_layers: 1,
        items: vec![
            k(Kernel::LayerNorm { m: t, n: h, dtype: dt }, Shard::Replicated, Phase::Head),
            k(mm(logits, h, model.vocab), Shard::Vocab, Phase::Head),
        ],
    });
    ModelGraph { stages: vec![Stage { segments }], expert_tokens: expert_tokens.to_vec(), replicated_flops: 0.0 }
}
