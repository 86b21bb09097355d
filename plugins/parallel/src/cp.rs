//! Context parallelism: every sequence's tokens and KV cache split over `c` ranks.
//!
//! - **Prefill attention** (ring attention, Liu et al. 2023; the load-balanced "zigzag" split
//!   of Llama 3's context parallelism, Dubey et al. 2024 §3.3.2): each rank holds `⌈q/c⌉` of
//!   a chunk's `q` queries, taken from both ends of the causal triangle so that every rank
//!   computes ≈ `1/c` of the query–key pairs. The per-rank kernel is an `Attention` with
//!   `q_len = ⌈q/c⌉` and, for causal attention, `kv_len = prefix + ⌈(q + ⌈q/c⌉)/2⌉`, which
//!   gives exactly `1/c` of the pairs when `c` divides `q` (non-causal: `kv_len` unchanged).
//!   KV exchange (`cp_algo`):
//!   - `ring` (default): `c − 1` send/recv steps, each one rank's KV block of
//!     `seqs·⌈kv_len/c⌉·kv_heads·(d_qk + d_v)` elements (`d_v` dropped for shared-KV MLA), emitted
//!     as one `SendRecv` item with `count = c − 1` after the attention. The engine sums item
//!     times, so the ring is costed **as not overlapped** with the partial attentions (an
//!     upper bound); `hide_ring_comm: true` omits it (fully hidden, the lower bound).
//!   - `all_gather`: one all-gather of the whole context's KV before the attention.
//! - **Decode attention**: each rank scans `⌈kv_total/c⌉` of the cached context for every
//!   sequence, then the partial outputs and log-sum-exp values are all-gathered:
//!   `c·seqs·q_heads·(d_v + 1)·4` bytes (fp32).
//! - **Token-wise attention-part ops** (projections, norms, RoPE, embedding) run on `⌈T/c⌉`
//!   rows. Decode tokens are counted in that split too (an approximation: a decode token is one
//!   row that one rank computes).
//! - FFN `cp c` splits the FFN's tokens `c` ways (the FFN is token-wise).
//!
//! Head counts in the collectives are per rank after the later `tp` pass (`q_heads/tp`,
//! `max(1, kv_heads/tp)`), because tp does not resize collectives it did not insert.

use crate::{excess_flops, part_flops, part_of, prior_ways, scope_for, split_tokens, ways, Part};
use reallm_plugin_api::{
    Collective, CollectiveKind, Kernel, ModelGraph, ModelInfo, ParallelPlan, Parallelism, PluginError, WorkItem, WorkKind,
};
use serde::Deserialize;

/// How the KV blocks of a context-parallel prefill are exchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpAlgo {
    /// Ring attention: `c − 1` point-to-point steps of one KV block each.
    #[default]
    Ring,
    /// All-gather the whole KV before attention.
    AllGather,
}

/// Parameters of `cp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpParams {
    /// KV exchange of prefill attention (default `ring`).
    pub cp_algo: CpAlgo,
    /// With `ring`, treat the KV exchange as fully hidden behind the partial attentions and
    /// emit no collective (default false: costed as not overlapped).
    pub hide_ring_comm: bool,
}

/// The `cp` pass.
#[derive(Debug, Clone, Default)]
pub struct ContextParallel {
    params: CpParams,
}

impl ContextParallel {
    /// The pass with the given parameters.
    pub fn new(params: CpParams) -> Self {
        ContextParallel { params }
    }
}

impl Parallelism for ContextParallel {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        crate::validate_plan(model, plan)?;
        let mut notes = Vec::new();
        let c = plan.attention.cp;
        if c > 1 {
            let exchange = match (self.params.cp_algo, self.params.hide_ring_comm) {
                (CpAlgo::Ring, false) => {
                    format!("ring attention passes {} KV blocks per layer, costed as not overlapped with compute", c - 1)
                }
                (CpAlgo::Ring, true) => "ring attention's KV exchange is treated as fully hidden behind compute".to_string(),
                (CpAlgo::AllGather, _) => "the context's KV is all-gathered before attention".to_string(),
            };
            notes.push(format!(
                "cp {c}: every sequence is split over {c} ranks (each holds ⌈q/{c}⌉ queries of a prefill chunk, load-balanced over \
                 the causal triangle, and 1/{c} of its KV cache); {exchange}; decode partial outputs are all-gathered"
            ));
        }
        if plan.ffn.cp > 1 {
            notes.push(format!("FFN cp {}: the FFN's tokens are split {} ways", plan.ffn.cp, plan.ffn.cp));
        }
        Ok(notes)
    }

    fn apply(&self, _model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let (ca, cf) = (plan.attention.cp as u64, plan.ffn.cp as u64);
        if ca <= 1 && cf <= 1 {
            return Ok(());
        }
        let (w, prior) = (ways(plan, "cp"), prior_ways(plan, "cp"));
        let ta = plan.attention.tp.max(1) as u64;
        // A cp group spans c·tp consecutive devices (tp fastest).
        let scope = scope_for(ca * ta, plan);
        let mut excess = 0.0;
        for stage in &mut graph.stages {
            for seg in &mut stage.segments {
                let before = part_flops(&seg.items);
                let items = std::mem::take(&mut seg.items);
                let mut out = Vec::with_capacity(items.len() + 8);
                for item in items {
                    let k = match item.work {
                        WorkKind::Kernel(k) => k,
                        WorkKind::Comm(_) => {
                            out.push(item);
                            continue;
                        }
                    };
                    let with = |k: Kernel| WorkItem { work: WorkKind::Kernel(k), ..item };
                    let comm = |kind: CollectiveKind, bytes: u64, ranks: u64, count: u32| WorkItem {
                        count,
                        ..WorkItem::comm(Collective { kind, bytes, ranks: ranks as u32, scope, algo: plan.comm_algo }, item.phase)
                    };
                    match part_of(item.phase) {
                        Part::Attention if ca > 1 => match k {
                            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => {
                                let q = q_len.div_ceil(ca);
                                let kv_rank = if causal { kv_len.saturating_sub(q_len) + (q_len + q).div_ceil(2) } else { kv_len };
                                let per_rank = Kernel::Attention {
                                    seqs,
                                    q_len: q,
                                    kv_len: kv_rank,
                                    q_heads,
                                    kv_heads,
                                    d_qk,
                                    d_v,
                                    causal,
                                    kv_shared,
                                    act,
                                    kv,
                                };
                                // KV elements of one token on one rank after tp.
                                let kv_width = kv_heads.div_ceil(ta).max(1) * (d_qk + if kv_shared { 0 } else { d_v });
                                match self.params.cp_algo {
                                    CpAlgo::Ring => {
                                        out.push(with(per_rank));
                                        if !self.params.hide_ring_comm {
                                            let block = kv.bytes_for(seqs * kv_len.div_ceil(ca) * kv_width);
                                            let steps = (ca - 1).min(u32::MAX as u64) as u32;
                                            out.push(comm(CollectiveKind::SendRecv, block, 2, item.count.saturating_mul(steps)));
                                        }
                                    }
                                    CpAlgo::AllGather => {
                                        let all = kv.bytes_for(seqs * kv_len * kv_width);
                                        out.push(comm(CollectiveKind::AllGather, all, ca, item.count));
                                        out.push(with(per_rank));
                                    }
                                }
                            }
                            Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => {
                                out.push(with(Kernel::DecodeAttention {
                                    seqs,
                                    kv_total: kv_total.div_ceil(ca),
                                    q_heads,
                                    kv_heads,
                                    d_qk,
                                    d_v,
                                    kv_shared,
                                    act,
                                    kv,
                                }));
                                // Partial output (d_v) and log-sum-exp (1) per query head, fp32.
                                let bytes = ca * seqs * q_heads.div_ceil(ta) * (d_v + 1) * 4;
                                out.push(comm(CollectiveKind::AllGather, bytes, ca, item.count));
                            }
                            other => out.push(with(split_tokens(other, ca))),
                        },
                        Part::Ffn if cf > 1 => out.push(with(split_tokens(k, cf))),
                        _ => out.push(item),
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
