//! Tensor parallelism (Megatron-LM, Shoeybi et al. 2019, §3): weights split over `t` ranks.
//!
//! | shard | per-device kernel | collective after it |
//! |---|---|---|
//! | `Column`, `Split` | output features `n / t` (GEMM `n`, element-wise `n`, attention heads) | — |
//! | `Row` | GEMM `k / t` | all-reduce of the `m·n` output (sequence parallel: reduce-scatter + all-gather) |
//! | `Heads` | attention `q_heads / t`, `kv_heads = max(1, kv_heads / t)`; GEMM `b / t`; softmax `m / t` | — |
//! | `Vocab` | LM-head GEMM `n / t` | all-gather of the `m·vocab` logits |
//! | `Experts` (FFN tp) | expert up/gate GEMM `n / t`, expert down GEMM (`k = moe_ffn_dim`) `k / t` | all-reduce after the down GEMM |
//! | `Replicated` | unchanged on every rank (sequence parallel: `m / t` rows in decoder layers) | — |
//!
//! All divisions round up (the most loaded rank). When `t` exceeds the KV heads, each KV head
//! is replicated on `t / kv_heads` ranks (as vLLM and SGLang do): the fused QKV projection
//! (a `Column` GEMM with `n = (H + 2·KV)·head_dim`) keeps one whole KV head per rank,
//! `n = (H/t + 2·max(1, KV/t))·head_dim`, and RoPE on `(H + KV)·head_dim` likewise; the extra
//! FLOPs land in `replicated_flops`. Attention FLOPs depend on query heads only, so replicated
//! KV heads add bytes (cache reads) but no attention FLOPs.

use crate::{excess_flops, part_flops, part_index, part_of, prior_ways, scope_for, split_tokens, ways};
use reallm_plugin_api::{
    Collective, CollectiveKind, Kernel, ModelGraph, ModelInfo, ParallelPlan, Parallelism, Phase, PluginError, SegmentKind, Shard, WorkItem,
    WorkKind,
};
use serde::Deserialize;

/// Parameters of `tp` (none yet; unknown fields are rejected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TpParams {}

/// The `tp` pass.
#[derive(Debug, Clone, Default)]
pub struct TensorParallel;

impl TensorParallel {
    /// The pass (it has no parameters).
    pub fn new() -> Self {
        TensorParallel
    }
}

/// Per-rank shapes of the fused QKV projection and RoPE under `t`-way TP.
struct QkvShapes {
    /// Logical `n` of the fused QKV GEMM: `(H + 2·KV)·head_dim`.
    qkv_n: u64,
    /// Logical `n` of RoPE on queries and keys: `(H + KV)·head_dim`.
    rope_n: u64,
    /// Per-rank query heads `H / t` (rounded up).
    q_per_rank: u64,
    /// Per-rank KV heads `max(1, KV / t)` (rounded up).
    kv_per_rank: u64,
    head_dim: u64,
}

impl QkvShapes {
    fn new(model: &ModelInfo, t: u64) -> Self {
        let (h, kv, d) = (model.n_heads, model.n_kv_heads, model.head_dim);
        QkvShapes {
            qkv_n: (h + 2 * kv) * d,
            rope_n: (h + kv) * d,
            q_per_rank: h.div_ceil(t),
            kv_per_rank: kv.div_ceil(t).max(1),
            head_dim: d,
        }
    }
}

impl Parallelism for TensorParallel {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        crate::validate_plan(model, plan)?;
        let mut notes = Vec::new();
        let ta = plan.attention.tp as u64;
        let tf = plan.ffn.tp as u64;
        let name = &model.name;
        if ta > 1 {
            if model.n_heads == 0 || !model.n_heads.is_multiple_of(ta) {
                return Err(PluginError::invalid(format!("tp {ta} does not divide the {} attention heads of {name}", model.n_heads)));
            }
            let kv = model.n_kv_heads;
            if kv > 0 && !kv.is_multiple_of(ta) {
                if !ta.is_multiple_of(kv) {
                    return Err(PluginError::invalid(format!(
                        "tp {ta} neither divides nor is a multiple of the {kv} KV heads of {name}: each rank must hold whole KV heads"
                    )));
                }
                notes.push(format!(
                    "tp {ta} exceeds the {kv} KV head(s) of {name}: each KV head is replicated on {} ranks (as vLLM and SGLang do); \
                     every rank caches and reads its KV head, and the duplicated K/V projection FLOPs count as replicated work",
                    ta / kv
                ));
            }
        }
        if tf > 1 {
            let has_dense_ffn = !model.is_moe() || model.first_dense_layers > 0;
            if has_dense_ffn && model.ffn_dim > 0 && !model.ffn_dim.is_multiple_of(tf) {
                return Err(PluginError::invalid(format!("tp {tf} does not divide the FFN intermediate size {} of {name}", model.ffn_dim)));
            }
            if model.is_moe() && !model.moe_ffn_dim.is_multiple_of(tf) {
                return Err(PluginError::invalid(format!(
                    "tp {tf} does not divide the expert intermediate size {} of {name}",
                    model.moe_ffn_dim
                )));
            }
            if !model.vocab.is_multiple_of(tf) {
                notes
                    .push(format!("tp {tf} does not divide the vocabulary of {} ({}): the LM head shard is rounded up", name, model.vocab));
            }
        }
        if plan.sequence_parallel && (ta > 1 || tf > 1) {
            notes.push(
                "sequence parallelism: each TP all-reduce becomes a reduce-scatter plus an all-gather of the same bytes, and replicated \
                 token-wise ops in decoder layers run on 1/tp of the rows"
                    .to_string(),
            );
        }
        Ok(notes)
    }

    fn apply(&self, model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let degrees = [plan.attention.tp as u64, plan.ffn.tp as u64];
        if degrees == [1, 1] {
            return Ok(());
        }
        let (w, prior) = (ways(plan, "tp"), prior_ways(plan, "tp"));
        let qkv = QkvShapes::new(model, degrees[0]);
        let mut excess = 0.0;
        for stage in &mut graph.stages {
            for seg in &mut stage.segments {
                let before = part_flops(&seg.items);
                let items = std::mem::take(&mut seg.items);
                let mut out = Vec::with_capacity(items.len() + 8);
                for item in items {
                    let t = part_index(part_of(item.phase)).map_or(1, |i| degrees[i]);
                    let kernel = match item.work {
                        WorkKind::Kernel(k) if t > 1 => k,
                        _ => {
                            out.push(item);
                            continue;
                        }
                    };
                    let push_kernel = |k: Kernel, out: &mut Vec<WorkItem>| out.push(WorkItem { work: WorkKind::Kernel(k), ..item });
                    match item.shard {
                        Shard::Replicated => {
                            let token_wise_sp = plan.sequence_parallel
                                && seg.kind == SegmentKind::Layers
                                && matches!(item.phase, Phase::Attention | Phase::Ffn | Phase::Moe);
                            push_kernel(if token_wise_sp { split_tokens(kernel, t) } else { kernel }, &mut out);
                        }
                        Shard::Column | Shard::Split => push_kernel(split_columns(kernel, t, item.phase, &qkv), &mut out),
                        Shard::Heads => push_kernel(split_heads(kernel, t), &mut out),
                        Shard::Row => {
                            let (k, out_bytes) = split_rows(kernel, t, model)?;
                            push_kernel(k, &mut out);
                            push_reduction(&mut out, out_bytes, t, plan, item);
                        }
                        Shard::Vocab => match kernel {
                            Kernel::Gemm { b, m, k, n, a, w, out: o } => {
                                push_kernel(Kernel::Gemm { b, m, k, n: n.div_ceil(t), a, w, out: o }, &mut out);
                                // Gather the logits: m·vocab elements of the GEMM's output type.
                                let bytes = o.bytes_for(b * m * n);
                                out.push(comm(CollectiveKind::AllGather, bytes, t, plan, item));
                            }
                            Kernel::Embedding { tokens, hidden, dtype } => {
                                // Vocab-parallel embedding (Megatron): each rank looks up the rows
                                // in its vocabulary range, then an all-reduce sums the partial rows.
                                push_kernel(kernel, &mut out);
                                out.push(comm(CollectiveKind::AllReduce, dtype.bytes_for(tokens * hidden), t, plan, item));
                            }
                            other => push_kernel(split_features(other, t), &mut out),
                        },
                        Shard::Experts => {
                            let down = matches!(kernel, Kernel::GroupedGemm { k, .. } if model.moe_ffn_dim > 0 && k == model.moe_ffn_dim);
                            if down {
                                let (k, out_bytes) = split_rows(kernel, t, model)?;
                                push_kernel(k, &mut out);
                                push_reduction(&mut out, out_bytes, t, plan, item);
                            } else {
                                push_kernel(split_features(kernel, t), &mut out);
                            }
                        }
                    }
                }
                seg.items = out;
                excess += excess_flops(before, part_flops(&seg.items), w, prior, seg.n_layers);
            }
        }
        graph.replicated_flops += excess;
        Ok(())
    }
}

/// A collective of the TP group following `item` (same phase and count).
fn comm(kind: CollectiveKind, bytes: u64, t: u64, plan: &ParallelPlan, item: WorkItem) -> WorkItem {
    let c = Collective { kind, bytes, ranks: t as u32, scope: scope_for(t, plan), algo: plan.comm_algo };
    WorkItem { count: item.count, ..WorkItem::comm(c, item.phase) }
}

/// The reduction of a row-split output: an all-reduce, or with sequence parallelism a
/// reduce-scatter plus an all-gather of the same bytes (Korthikanti et al. 2022, §4.2.2).
fn push_reduction(out: &mut Vec<WorkItem>, bytes: u64, t: u64, plan: &ParallelPlan, item: WorkItem) {
    if plan.sequence_parallel {
        out.push(comm(CollectiveKind::ReduceScatter, bytes, t, plan, item));
        out.push(comm(CollectiveKind::AllGather, bytes, t, plan, item));
    } else {
        out.push(comm(CollectiveKind::AllReduce, bytes, t, plan, item));
    }
}

/// Output-feature split, recognising the fused QKV projection and RoPE of a GQA model so that
/// replicated KV heads are kept whole.
fn split_columns(k: Kernel, t: u64, phase: Phase, qkv: &QkvShapes) -> Kernel {
    if phase == Phase::Attention && qkv.head_dim > 0 {
        match k {
            Kernel::Gemm { b: 1, m, k: kk, n, a, w, out } if n == qkv.qkv_n => {
                let n = (qkv.q_per_rank + 2 * qkv.kv_per_rank) * qkv.head_dim;
                return Kernel::Gemm { b: 1, m, k: kk, n, a, w, out };
            }
            Kernel::Rope { m, n, dtype } if n == qkv.rope_n => {
                return Kernel::Rope { m, n: (qkv.q_per_rank + qkv.kv_per_rank) * qkv.head_dim, dtype };
            }
            _ => {}
        }
    }
    split_features(k, t)
}

/// Heads split: attention query heads (KV heads at least one), batched GEMM `b` (one batch per
/// head: unfused attention, MLA weight absorption), softmax rows (`heads × queries`).
fn split_heads(k: Kernel, t: u64) -> Kernel {
    match k {
        Kernel::Gemm { b, m, k: kk, n, a, w, out } => Kernel::Gemm { b: b.div_ceil(t), m, k: kk, n, a, w, out },
        Kernel::Softmax { m, n, dtype } => Kernel::Softmax { m: m.div_ceil(t), n, dtype },
        other => split_features(other, t),
    }
}

/// Feature split of a kernel's output dimension (`n`), or its heads for attention.
fn split_features(k: Kernel, t: u64) -> Kernel {
    let c = |x: u64| x.div_ceil(t);
    match k {
        Kernel::Gemm { b, m, k: kk, n, a, w, out } => Kernel::Gemm { b, m, k: kk, n: c(n), a, w, out },
        Kernel::GroupedGemm { groups, rows, max_rows, k: kk, n, a, w, out } => {
            Kernel::GroupedGemm { groups, rows, max_rows, k: kk, n: c(n), a, w, out }
        }
        Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => Kernel::Attention {
            seqs,
            q_len,
            kv_len,
            q_heads: c(q_heads),
            kv_heads: c(kv_heads).max(1),
            d_qk,
            d_v,
            causal,
            kv_shared,
            act,
            kv,
        },
        Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => {
            Kernel::DecodeAttention { seqs, kv_total, q_heads: c(q_heads), kv_heads: c(kv_heads).max(1), d_qk, d_v, kv_shared, act, kv }
        }
        Kernel::Softmax { m, n, dtype } => Kernel::Softmax { m, n: c(n), dtype },
        Kernel::LayerNorm { m, n, dtype } => Kernel::LayerNorm { m, n: c(n), dtype },
        Kernel::Silu { m, n, dtype } => Kernel::Silu { m, n: c(n), dtype },
        Kernel::Gelu { m, n, dtype } => Kernel::Gelu { m, n: c(n), dtype },
        Kernel::Mul { m, n, dtype } => Kernel::Mul { m, n: c(n), dtype },
        Kernel::Add { m, n, dtype } => Kernel::Add { m, n: c(n), dtype },
        Kernel::Rope { m, n, dtype } => Kernel::Rope { m, n: c(n), dtype },
        Kernel::Embedding { tokens, hidden, dtype } => Kernel::Embedding { tokens, hidden: c(hidden), dtype },
        // Top-k needs every expert's score of a token: not splittable by features.
        Kernel::TopK { .. } => k,
        // A kernel of a later plugin API is not divided (every rank does all of it).
        _ => k,
    }
}

/// Input-feature split `k / t` of a GEMM; returns the kernel and the bytes of the partial-sum
/// output to reduce. For a grouped (expert) GEMM the reduced tensor is the combined
/// `tokens × n` output, `tokens = ⌈rows / experts_per_token⌉`.
fn split_rows(k: Kernel, t: u64, model: &ModelInfo) -> Result<(Kernel, u64), PluginError> {
    match k {
        Kernel::Gemm { b, m, k: kk, n, a, w, out } => {
            Ok((Kernel::Gemm { b, m, k: kk.div_ceil(t), n, a, w, out }, out.bytes_for(b * m * n)))
        }
        Kernel::GroupedGemm { groups, rows, max_rows, k: kk, n, a, w, out } => {
            let tokens = rows.div_ceil(model.experts_per_token.max(1));
            Ok((Kernel::GroupedGemm { groups, rows, max_rows, k: kk.div_ceil(t), n, a, w, out }, out.bytes_for(tokens * n)))
        }
        other => Err(PluginError::unsupported(format!(
            "tp cannot row-split a {} kernel of {}: only GEMMs have input features to split",
            other.kind_name(),
            model.name
        ))),
    }
}
