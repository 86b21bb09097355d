//! The decode-step memo. Decode iterations repeat the same shape with a different context
//! sum. When a shape's per-device graph depends on the context only through
//! `DecodeAttention.kv_total` (checked once per shape by building it at two context sums and two
//! seeds and comparing), the rest is costed once and only the decode-attention kernels are
//! re-costed each step. The result equals the full path's up to the rounding of a different
//! summation order.

use super::cache::DecodeCosting;
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
    /// The memoised cost of `shape`, or `None` when the shape is not memoisable.
    pub(super) fn memoised_cost(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>) -> Result<Option<StepCost>> {
        // Only decode-only shapes repeat often enough to pay for the probe builds.
        if shape.decode_seqs == 0 || !shape.prefills.is_empty() {
            return Ok(None);
        }
        if !self.step_memo.contains_key(&shape.decode_seqs) {
            let memo = self.build_memo(shape)?;
            self.step_memo.insert(shape.decode_seqs, memo);
        }
        // Borrow the memo in place, beside the fields the decode kernels are costed with.
        let CostModel { step_memo, backend, backend_name, pending, pending_s, .. } = self;
        let Some(Some(memo)) = step_memo.get(&shape.decode_seqs) else { return Ok(None) };
        let mut c = memo.base;
        stage_s.clear();
        stage_s.extend_from_slice(&memo.base_stages);
        let mut costing = DecodeCosting { backend: backend.as_ref(), backend_name, pending, pending_s };
        costing.add(&memo.templates, shape.decode_ctx_sum, &mut c, stage_s)?;
        Ok(Some(c))
    }

    fn build_memo(&mut self, shape: &BatchShape) -> Result<Option<StepMemo>> {
        let probe = |ctx: u64, seed: u64| BatchShape {
            prefills: shape.prefills.clone(),
            decode_seqs: shape.decode_seqs,
            decode_ctx_sum: ctx,
            seed,
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
