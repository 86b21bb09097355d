//! Data parallelism: the batch's tokens and sequences split over `d` groups.
//!
//! With attention `dp d` (DeepSeek-V3's "attention DP", SGLang's `--enable-dp-attention`)
//! each group runs attention for its own sequences; with FFN `dp d` each group runs the FFN on
//! its own tokens. The per-device graph is that of the most loaded group:
//!
//! - token-wise kernels (GEMM `m`, norms, element-wise ops, RoPE, embedding, top-k, grouped
//!   GEMM rows) take `⌈x / d⌉` rows: the balanced-split assumption (the batch's tokens spread
//!   evenly over groups, which a router balancing by tokens approaches);
//! - decode attention takes `⌈seqs / d⌉` sequences and `⌈kv_total / d⌉` context (sequences of
//!   similar length spread evenly);
//! - prefill attention keeps whole sequences: the chunks of a segment are packed onto the `d`
//!   groups largest-first (LPT on FLOPs) and the graph keeps the heaviest group's chunks, so a
//!   single long prompt is not pretended to be split.
//!
//! DP adds no collective: the groups' tokens meet again only in the FFN's collectives (the
//! expert all-to-all), which the `ep` pass sizes.

use crate::{excess_flops, part_flops, part_of, prior_ways, split_tokens, ways, Part};
use reallm_plugin_api::{Kernel, ModelGraph, ModelInfo, ParallelPlan, Parallelism, PluginError, WorkItem, WorkKind};
use serde::Deserialize;

/// Parameters of `dp` (none yet; unknown fields are rejected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpParams {}

/// The `dp` pass.
#[derive(Debug, Clone, Default)]
pub struct DataParallel;

impl DataParallel {
    /// The pass (it has no parameters).
    pub fn new() -> Self {
        DataParallel
    }
}

/// Above this many prefill sequences in one segment, prefill attention is split by `⌈seqs/d⌉`
/// per item instead of packed sequence by sequence (bounds the work per step).
const MAX_PACKED_SEQS: u64 = 1 << 16;

impl Parallelism for DataParallel {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        crate::validate_plan(model, plan)?;
        let mut notes = Vec::new();
        if plan.attention.dp > 1 {
            notes.push(format!(
                "dp {}: attention runs in {} groups; per-device work assumes the batch's tokens and decode sequences spread evenly \
                 (⌈x/{}⌉ each) and keeps the most loaded group's whole prefill sequences",
                plan.attention.dp, plan.attention.dp, plan.attention.dp
            ));
        }
        if plan.ffn.dp > 1 {
            notes.push(format!("FFN dp {}: each group runs the FFN on ⌈tokens/{}⌉ tokens", plan.ffn.dp, plan.ffn.dp));
        }
        Ok(notes)
    }

    fn apply(&self, _model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let (da, df) = (plan.attention.dp as u64, plan.ffn.dp as u64);
        if da <= 1 && df <= 1 {
            return Ok(());
        }
        let (w, prior) = (ways(plan, "dp"), prior_ways(plan, "dp"));
        let mut excess = 0.0;
        for stage in &mut graph.stages {
            for seg in &mut stage.segments {
                let before = part_flops(&seg.items);
                if da > 1 {
                    pack_prefill_attention(&mut seg.items, da);
                }
                for item in &mut seg.items {
                    let d = match part_of(item.phase) {
                        Part::Attention => da,
                        Part::Ffn => df,
                        Part::Other => 1,
                    };
                    if let WorkKind::Kernel(k) = item.work {
                        // Prefill attention of the attention part was packed above (whole sequences).
                        let packed = part_of(item.phase) == Part::Attention && matches!(k, Kernel::Attention { .. });
                        if d > 1 && !packed {
                            item.work = WorkKind::Kernel(split_tokens(k, d));
                        }
                    }
                }
                excess += excess_flops(before, part_flops(&seg.items), w, prior, seg.n_layers);
            }
        }
        graph.replicated_flops += excess;
        Ok(())
    }
}

/// Pack the prefill sequences of the attention-part `Attention` items of one segment onto `d`
/// groups, largest FLOPs first onto the least loaded group, and keep only the heaviest group's
/// sequences (items left with no sequence are removed).
fn pack_prefill_attention(items: &mut Vec<WorkItem>, d: u64) {
    let is_prefill = |it: &WorkItem| part_of(it.phase) == Part::Attention && matches!(it.work, WorkKind::Kernel(Kernel::Attention { .. }));
    let seqs_of = |it: &WorkItem| match it.work {
        WorkKind::Kernel(Kernel::Attention { seqs, .. }) => seqs,
        _ => 0,
    };
    let total_seqs: u64 = items.iter().filter(|it| is_prefill(it)).map(seqs_of).sum();
    if total_seqs == 0 {
        return;
    }
    if total_seqs > MAX_PACKED_SEQS {
        for it in items.iter_mut().filter(|it| is_prefill(it)) {
            if let WorkKind::Kernel(k) = it.work {
                it.work = WorkKind::Kernel(split_tokens(k, d));
            }
        }
        return;
    }
    // Jobs: one per sequence, (FLOPs of one sequence × count, item index).
    let mut jobs: Vec<(f64, usize)> = Vec::with_capacity(total_seqs as usize);
    for (i, it) in items.iter().enumerate() {
        if let (true, WorkKind::Kernel(k)) = (is_prefill(it), it.work) {
            let seqs = seqs_of(it);
            let per_seq = k.flops() / seqs as f64 * it.count as f64;
            jobs.extend(std::iter::repeat_n((per_seq, i), seqs as usize));
        }
    }
    jobs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let groups = d.min(total_seqs) as usize;
    let mut load = vec![0.0f64; groups];
    let mut group_of = Vec::with_capacity(jobs.len());
    for &(flops, _) in &jobs {
        let g = (0..groups).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).unwrap_or(0);
        load[g] += flops;
        group_of.push(g);
    }
    let heaviest = (0..groups).max_by(|&a, &b| load[a].total_cmp(&load[b]).then(b.cmp(&a))).unwrap_or(0);
    let mut kept = vec![0u64; items.len()];
    for (&(_, i), &g) in jobs.iter().zip(&group_of) {
        if g == heaviest {
            kept[i] += 1;
        }
    }
    let mut idx = 0;
    items.retain_mut(|it| {
        let i = idx;
        idx += 1;
        if !is_prefill(it) {
            return true;
        }
        if let WorkKind::Kernel(Kernel::Attention { seqs, .. }) = &mut it.work {
            *seqs = kept[i];
        }
        kept[i] > 0
    });
}
