//! Builders of the work items that model families share: prefill-chunk grouping, the SwiGLU
//! FFN, the MoE router and routed experts, the unfused attention form, and layer runs.

use crate::params::Dtypes;
use reallm_plugin_api::{BatchShape, DType, Kernel, Phase, PluginError, Shard, WorkItem};

/// Prefill chunks with the same `(tokens, prefix)`: one attention kernel covers them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChunkGroup {
    /// New tokens per chunk (`q_len`).
    pub tokens: u64,
    /// Cached tokens before the chunk (`kv_len − q_len`).
    pub prefix: u64,
    /// Chunks in the group.
    pub seqs: u64,
}

impl ChunkGroup {
    pub fn kv_len(&self) -> u64 {
        self.prefix + self.tokens
    }
}

/// Group a batch's prefill chunks by `(tokens, prefix)` (empty chunks dropped), sorted by
/// `(tokens, prefix)`. `O(c log c)` in the chunk count `c`.
pub fn prefill_groups(batch: &BatchShape) -> Vec<ChunkGroup> {
    let mut keys: Vec<(u64, u64)> = batch.prefills.iter().filter(|p| p.tokens > 0).map(|p| (p.tokens, p.prefix)).collect();
    keys.sort_unstable();
    let mut groups: Vec<ChunkGroup> = Vec::with_capacity(keys.len());
    for (tokens, prefix) in keys {
        match groups.last_mut() {
            Some(g) if g.tokens == tokens && g.prefix == prefix => g.seqs += 1,
            _ => groups.push(ChunkGroup { tokens, prefix, seqs: 1 }),
        }
    }
    groups
}

/// Check the decode part of a batch: every decoding sequence attends to at least its own token.
pub fn check_batch(batch: &BatchShape) -> Result<(), PluginError> {
    if batch.decode_ctx_sum < batch.decode_seqs {
        return Err(PluginError::invalid(format!(
            "batch has {} decoding sequences but a context sum of {} (each attends to at least its new token)",
            batch.decode_seqs, batch.decode_ctx_sum
        )));
    }
    if batch.decode_seqs == 0 && batch.decode_ctx_sum > 0 {
        return Err(PluginError::invalid(format!("batch has no decoding sequence but a decode context sum of {}", batch.decode_ctx_sum)));
    }
    Ok(())
}

/// Push a SwiGLU FFN (without its norm and residual): gate+up (Column), SiLU and multiply on
/// the intermediate (Split), down (Row). `silu(x·W_gate) ⊙ (x·W_up) · W_down` (Llama `LlamaMLP`,
/// DeepSeek `MLP`).
pub fn push_swiglu(items: &mut Vec<WorkItem>, tokens: u64, hidden: u64, inter: u64, fuse_gate_up: bool, dt: &Dtypes, phase: Phase) {
    if fuse_gate_up {
        items.push(WorkItem::kernel(dt.linear(tokens, hidden, 2 * inter), Shard::Column, phase));
    } else {
        let gemm = dt.linear(tokens, hidden, inter);
        items.push(WorkItem::kernel(gemm, Shard::Column, phase));
        items.push(WorkItem::kernel(gemm, Shard::Column, phase));
    }
    items.push(WorkItem::kernel(Kernel::Silu { m: tokens, n: inter, dtype: dt.act }, Shard::Split, phase));
    items.push(WorkItem::kernel(Kernel::Mul { m: tokens, n: inter, dtype: dt.act }, Shard::Split, phase));
    items.push(WorkItem::kernel(dt.linear(tokens, inter, hidden), Shard::Row, phase));
}

/// Shapes of an MoE block's routed part for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeShape {
    pub tokens: u64,
    pub hidden: u64,
    pub n_experts: u64,
    pub top_k: u64,
    /// Intermediate size of one routed expert.
    pub expert_inter: u64,
    /// Tokens of the most loaded expert this step.
    pub max_rows: u64,
}

/// Push the router: scores `[T, hidden] × [hidden, E]` (Replicated, weight at activation
/// precision) and top-k selection.
pub fn push_router(items: &mut Vec<WorkItem>, s: &MoeShape, dt: &Dtypes) {
    items.push(WorkItem::kernel(dt.hp_linear(s.tokens, s.hidden, s.n_experts), Shard::Replicated, Phase::Moe));
    items.push(WorkItem::kernel(Kernel::TopK { m: s.tokens, n: s.n_experts, k: s.top_k, dtype: dt.act }, Shard::Replicated, Phase::Moe));
}

/// Push the routed experts as grouped GEMMs over the `T·top_k` routed rows (Shard::Experts):
/// gate+up fused (n = 2·I) or separate, SiLU and multiply on the rows, down. The weighted
/// combine of each token's `top_k` outputs is taken as fused into the down GEMM's epilogue
/// (as in fused-MoE kernels) and not emitted.
pub fn push_routed_experts(items: &mut Vec<WorkItem>, s: &MoeShape, fuse_gate_up: bool, dt: &Dtypes) {
    let rows = s.tokens * s.top_k;
    let grouped = |k: u64, n: u64| Kernel::GroupedGemm {
        groups: s.n_experts,
        rows,
        max_rows: s.max_rows,
        k,
        n,
        a: dt.act,
        w: dt.expert,
        out: dt.act,
    };
    if fuse_gate_up {
        items.push(WorkItem::kernel(grouped(s.hidden, 2 * s.expert_inter), Shard::Experts, Phase::Moe));
    } else {
        items.push(WorkItem::kernel(grouped(s.hidden, s.expert_inter), Shard::Experts, Phase::Moe));
        items.push(WorkItem::kernel(grouped(s.hidden, s.expert_inter), Shard::Experts, Phase::Moe));
    }
    items.push(WorkItem::kernel(Kernel::Silu { m: rows, n: s.expert_inter, dtype: dt.act }, Shard::Experts, Phase::Moe));
    items.push(WorkItem::kernel(Kernel::Mul { m: rows, n: s.expert_inter, dtype: dt.act }, Shard::Experts, Phase::Moe));
    items.push(WorkItem::kernel(grouped(s.expert_inter, s.hidden), Shard::Experts, Phase::Moe));
}

/// Push the unfused attention of `seqs` sequences with `q_len` queries over `kv_len` keys
/// (the original ReaLLM's form, all Shard::Heads): `QKᵀ` = Gemm{b: seqs·q_heads, m: q_len,
/// k: d_qk, n: kv_len}, Softmax{m: seqs·q_heads·q_len, n: kv_len}, `SV` = Gemm{b: seqs·q_heads,
/// m: q_len, k: kv_len, n: d_v}. The full score matrix is computed (no causal skipping), and K
/// and V are read per query head (`w` = `kv` type). `b` counts query heads, so tensor
/// parallelism divides `b` by its degree for Heads-sharded GEMMs.
#[allow(clippy::too_many_arguments)]
pub fn push_unfused_attention(
    items: &mut Vec<WorkItem>,
    seqs: u64,
    q_len: u64,
    kv_len: u64,
    q_heads: u64,
    d_qk: u64,
    d_v: u64,
    act: DType,
    kv: DType,
) {
    let b = seqs * q_heads;
    let heads = |k: Kernel| WorkItem::kernel(k, Shard::Heads, Phase::Attention);
    items.push(heads(Kernel::Gemm { b, m: q_len, k: d_qk, n: kv_len, a: act, w: kv, out: act }));
    items.push(heads(Kernel::Softmax { m: b * q_len, n: kv_len, dtype: act }));
    items.push(heads(Kernel::Gemm { b, m: q_len, k: kv_len, n: d_v, a: act, w: kv, out: act }));
}

/// Runs of consecutive layers of the same kind: `(first_layer, n_layers, kind)`.
pub fn layer_runs<K: Copy + PartialEq>(kinds: &[K]) -> Vec<(u32, u32, K)> {
    let mut runs: Vec<(u32, u32, K)> = Vec::new();
    for (i, &m) in kinds.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == m => r.1 += 1,
            _ => runs.push((i as u32, 1, m)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::PrefillChunk;

    #[test]
    fn groups_identical_chunks() {
        let c = |tokens, prefix| PrefillChunk { tokens, prefix, last: true };
        let b = BatchShape { prefills: vec![c(512, 0), c(256, 512), c(512, 0), c(0, 7), c(512, 0)], ..Default::default() };
        assert_eq!(
            prefill_groups(&b),
            vec![ChunkGroup { tokens: 256, prefix: 512, seqs: 1 }, ChunkGroup { tokens: 512, prefix: 0, seqs: 3 }]
        );
    }

    #[test]
    fn runs_of_layers() {
        assert_eq!(layer_runs(&[false, false, true, true, true]), vec![(0, 2, false), (2, 3, true)]);
        assert_eq!(layer_runs(&[false, true, false, true]).len(), 4);
        assert!(layer_runs::<bool>(&[]).is_empty());
    }
}
