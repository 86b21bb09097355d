//! The decode-step memo. Decode iterations repeat the same shape with a different context
//! sum. When a shape's per-device graph depends on the context only through
//! `DecodeAttention.kv_total` (checked once per shape by building it at two context sums and two
//! seeds and comparing), the rest is costed once and only the decode-attention kernels are
//! re-costed each step. The result equals the full path's up to the rounding of a different
//! summation order.
//!
//! Speculative verification steps (`spec_tokens` = s > 0) are memoised per (decoding
//! sequences, s): their attention is an `Attention` kernel of `s + 1` queries over the mean
//! context, `kv_len = ⌈decode_ctx_sum / decode_seqs⌉ + s`, checked at both probes the same way
//! and re-costed each step.

use super::{CostModel, StepCost};
use crate::error::Result;
use reallm_plugin_api::{BatchShape, Kernel, ModelGraph, WorkKind};

/// A decode-attention kernel of a memoised shape: (stage, kernel with a placeholder context,
/// launches per step).
pub(crate) type DecodeTemplate = (usize, Kernel, f64);

/// The cost of a decode-only step without its decode-attention kernels: total, per stage, and
/// the kernels to re-cost.
pub(crate) struct StepMemo {
    base: StepCost,
    base_stages: Vec<f64>,
    templates: Vec<DecodeTemplate>,
}

impl CostModel {
    /// Whether decode-only steps of `decode_seqs` sequences verifying `spec_tokens` drafts each
    /// are served from the memo (false when not memoisable, or not seen yet).
    pub fn is_memoised(&self, decode_seqs: u64, spec_tokens: u64) -> bool {
        matches!(self.step_memo.get(&(decode_seqs, spec_tokens)), Some(Some(_)))
    }

    /// The memoised cost of `shape`, or `None` when the shape is not memoisable.
    pub(super) fn memoised_cost(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>) -> Result<Option<StepCost>> {
        // Only decode-only shapes repeat often enough to pay for the probe builds.
        if shape.decode_seqs == 0 || !shape.prefills.is_empty() {
            return Ok(None);
        }
        let key = (shape.decode_seqs, shape.spec_tokens);
        if !self.step_memo.contains_key(&key) {
            let memo = self.build_memo(shape)?;
            self.step_memo.insert(key, memo);
        }
        let Some(Some(memo)) = self.step_memo.get_mut(&key) else { return Ok(None) };
        let mut c = memo.base;
        stage_s.clear();
        stage_s.extend_from_slice(&memo.base_stages);
        // Borrowed out and back (the costing needs `&mut self`), without moving the memo.
        let templates = std::mem::take(&mut memo.templates);
        let r = self.add_decode_templates(&templates, shape, &mut c, stage_s);
        if let Some(Some(memo)) = self.step_memo.get_mut(&key) {
            memo.templates = templates;
        }
        r?;
        Ok(Some(c))
    }

    fn build_memo(&mut self, shape: &BatchShape) -> Result<Option<StepMemo>> {
        // Windowed attention caps the context each layer reads: a probe below the window would
        // pass and later, longer contexts would be costed uncapped.
        if self.info.kv_window_tokens > 0 {
            return Ok(None);
        }
        let probe = |ctx: u64, seed: u64| BatchShape {
            prefills: shape.prefills.clone(),
            decode_seqs: shape.decode_seqs,
            decode_ctx_sum: ctx,
            seed,
            spec_tokens: shape.spec_tokens,
        };
        let (a, b) = (probe(shape.decode_seqs * 1000 + 7, 1), probe(shape.decode_seqs * 3000 + 11, 2));
        let (mut ga, mut gb) = (ModelGraph::default(), ModelGraph::default());
        self.device_graph(&a, &mut ga)?;
        self.device_graph(&b, &mut gb)?;
        // The two graphs must agree everywhere except DecodeAttention kv_total, which must be
        // the context sum itself (no pass rescaled it).
        let mut templates = Vec::new();
        let same_shape = ga.stages.len() == gb.stages.len()
            && ga.stages.iter().zip(&gb.stages).all(|(x, y)| {
                x.segments.len() == y.segments.len()
                    && x.segments.iter().zip(&y.segments).all(|(p, q)| p.n_layers == q.n_layers && p.items.len() == q.items.len())
            });
        if !same_shape || ga.expert_tokens != gb.expert_tokens {
            return Ok(None);
        }
        let mut base_graph = ga.clone();
        for (si, (sa, sb)) in ga.stages.iter().zip(&gb.stages).enumerate() {
            for (gi, (pa, pb)) in sa.segments.iter().zip(&sb.segments).enumerate() {
                let mut keep = Vec::with_capacity(pa.items.len());
                for (ia, ib) in pa.items.iter().zip(&pb.items) {
                    match (&ia.work, &ib.work) {
                        (
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: ka, .. }),
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: kb, .. }),
                        ) => {
                            if *ka != a.decode_ctx_sum || *kb != b.decode_ctx_sum {
                                return Ok(None);
                            }
                            if let WorkKind::Kernel(k) = ia.work {
                                templates.push((si, k, ia.count as f64 * pa.n_layers as f64));
                            }
                        }
                        (WorkKind::Kernel(ka @ Kernel::Attention { .. }), WorkKind::Kernel(kb @ Kernel::Attention { .. }))
                            if ka != kb && shape.spec_tokens > 0 =>
                        {
                            // A verification span: equal but for kv_len, which must be the
                            // mean context plus the draft tokens at both probes.
                            if ia.count != ib.count
                                || with_mean_kv(*ka, &a) != *ka
                                || with_mean_kv(*kb, &b) != *kb
                                || with_mean_kv(*ka, &b) != *kb
                            {
                                return Ok(None);
                            }
                            templates.push((si, *ka, ia.count as f64 * pa.n_layers as f64));
                        }
                        (x, y) if x == y && ia.count == ib.count => keep.push(*ia),
                        _ => return Ok(None),
                    }
                }
                base_graph.stages[si].segments[gi].items = keep;
            }
        }
        let mut base_stages = Vec::new();
        let base = self.cost_graph_stages(&base_graph, &mut base_stages)?;
        Ok(Some(StepMemo { base, base_stages, templates }))
    }
}

/// `k` with the context of `shape` put in: a decode-attention kernel's `kv_total` becomes the
/// context sum; a causal verification span of `spec_tokens + 1` queries gets
/// `kv_len = ⌈decode_ctx_sum / decode_seqs⌉ + spec_tokens`. Other kernels are returned as they are.
pub(super) fn with_mean_kv(k: Kernel, shape: &BatchShape) -> Kernel {
    match k {
        Kernel::DecodeAttention { seqs, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv, .. } => {
            Kernel::DecodeAttention { seqs, kv_total: shape.decode_ctx_sum, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv }
        }
        Kernel::Attention { seqs, q_len, q_heads, kv_heads, d_qk, d_v, causal: true, kv_shared, act, kv, .. }
            if shape.spec_tokens > 0 && q_len == shape.spec_tokens + 1 && shape.decode_seqs > 0 =>
        {
            let kv_len = shape.decode_ctx_sum.div_ceil(shape.decode_seqs) + shape.spec_tokens;
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal: true, kv_shared, act, kv }
        }
        other => other,
    }
}
