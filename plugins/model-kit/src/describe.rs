//! Human-readable listings of a model and of the work of one step (for `reallm model show`).

use reallm_plugin_api::{Kernel, ModelGraph, ModelInfo, SegmentKind, Shard, WorkKind};
use std::fmt::Write;

/// A kernel's shape in a compact `key=value` form, e.g. `m=1024 k=8192 n=10240 bf16×bf16→bf16`.
pub fn kernel_shape(k: &Kernel) -> String {
    match *k {
        Kernel::Gemm { b, m, k, n, a, w, out } => {
            let batch = if b > 1 { format!("b={b} ") } else { String::new() };
            format!("{batch}m={m} k={k} n={n} {a}×{w}→{out}")
        }
        Kernel::GroupedGemm { groups, rows, max_rows, k, n, a, w, out } => {
            format!("groups={groups} rows={rows} max_rows={max_rows} k={k} n={n} {a}×{w}→{out}")
        }
        Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => format!(
            "seqs={seqs} q_len={q_len} kv_len={kv_len} heads={q_heads}/{kv_heads} d={d_qk}/{d_v}{}{} {act}/{kv}",
            if causal { " causal" } else { "" },
            if kv_shared { " kv_shared" } else { "" }
        ),
        Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => format!(
            "seqs={seqs} kv_total={kv_total} heads={q_heads}/{kv_heads} d={d_qk}/{d_v}{} {act}/{kv}",
            if kv_shared { " kv_shared" } else { "" }
        ),
        Kernel::Softmax { m, n, dtype }
        | Kernel::LayerNorm { m, n, dtype }
        | Kernel::Silu { m, n, dtype }
        | Kernel::Gelu { m, n, dtype }
        | Kernel::Mul { m, n, dtype }
        | Kernel::Add { m, n, dtype }
        | Kernel::Rope { m, n, dtype } => format!("m={m} n={n} {dtype}"),
        Kernel::Embedding { tokens, hidden, dtype } => format!("tokens={tokens} hidden={hidden} {dtype}"),
        Kernel::TopK { m, n, k, dtype } => format!("m={m} n={n} k={k} {dtype}"),
        // A kernel of a later plugin API.
        _ => format!("{k:?}"),
    }
}

fn shard_name(s: Shard) -> &'static str {
    match s {
        Shard::Replicated => "replicated",
        Shard::Column => "column",
        Shard::Row => "row",
        Shard::Heads => "heads",
        Shard::Split => "split",
        Shard::Experts => "experts",
        Shard::Vocab => "vocab",
    }
}

/// The graph as a table: one block per segment (layers and repeat), one line per item with
/// its phase, sharding rule, kernel, shape, count, GFLOP and MB per launch; then totals.
pub fn format_graph(graph: &ModelGraph) -> String {
    let mut s = String::new();
    for (si, stage) in graph.stages.iter().enumerate() {
        let _ = writeln!(s, "stage {si}");
        for seg in &stage.segments {
            let kind = match seg.kind {
                SegmentKind::Pre => "pre",
                SegmentKind::Layers => "layers",
                SegmentKind::Post => "post",
            };
            let last = seg.first_layer + seg.n_layers.saturating_sub(1);
            let _ = writeln!(s, "  {kind} {}..={last} (×{})", seg.first_layer, seg.n_layers);
            for it in &seg.items {
                match it.work {
                    WorkKind::Kernel(k) => {
                        let _ = writeln!(
                            s,
                            "    {:<9} {:<10} {:<16} {:<64} ×{:<3} {:>12.3} GFLOP {:>12.3} MB",
                            it.phase.name(),
                            shard_name(it.shard),
                            k.kind_name(),
                            kernel_shape(&k),
                            it.count,
                            k.flops() / 1e9,
                            k.bytes() / 1e6
                        );
                    }
                    WorkKind::Comm(c) => {
                        let _ = writeln!(
                            s,
                            "    {:<9} {:<10} {:<16} bytes={} ranks={} {:?} ×{}",
                            it.phase.name(),
                            "comm",
                            c.kind.name(),
                            c.bytes,
                            c.ranks,
                            c.scope,
                            it.count
                        );
                    }
                }
            }
        }
    }
    if !graph.expert_tokens.is_empty() {
        let max = graph.expert_tokens.iter().max().copied().unwrap_or(0);
        let sum: u64 = graph.expert_tokens.iter().map(|&x| x as u64).sum();
        let _ = writeln!(s, "expert tokens: {} experts, {sum} routed rows, max {max}", graph.expert_tokens.len());
    }
    let _ = writeln!(s, "total: {:.3} GFLOP", graph.kernel_flops() / 1e9);
    s
}

/// A short summary of a model's dimensions and footprint.
pub fn format_info(info: &ModelInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} ({})", info.name, info.family);
    let _ = writeln!(
        s,
        "  layers {}  hidden {}  heads {}/{} kv  head_dim {}  ffn {}  vocab {}  max context {}",
        info.n_layers, info.hidden, info.n_heads, info.n_kv_heads, info.head_dim, info.ffn_dim, info.vocab, info.max_context
    );
    if info.is_moe() {
        let _ = writeln!(
            s,
            "  experts {} routed (top-{}) + {} shared, expert ffn {}, first {} layers dense",
            info.n_routed_experts, info.experts_per_token, info.n_shared_experts, info.moe_ffn_dim, info.first_dense_layers
        );
    }
    let _ = writeln!(
        s,
        "  params {:.2} B total, {:.2} B active; weights {:.2} GB ({} / act {} / kv {}); KV {} B/token",
        info.params_total as f64 / 1e9,
        info.params_active as f64 / 1e9,
        info.weights.total() as f64 / 1e9,
        info.weight_dtype,
        info.act_dtype,
        info.kv_dtype,
        info.kv_bytes_per_token
    );
    if info.kv_windowed_layers > 0 {
        let _ = writeln!(
            s,
            "  {} of {} layers attend over a window of {} tokens (their KV is capped there)",
            info.kv_windowed_layers, info.n_layers, info.kv_window_tokens
        );
    }
    s
}
