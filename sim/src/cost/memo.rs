//! The decode-step memo. Decode iterations repeat the same shape with a different context
//! sum. When a shape's per-device graph depends on the context only through
//! `DecodeAttention.kv_total` (checked once per shape by building it at three context sums and
//! seeds and comparing), the rest is costed once and only the decode-attention kernels are
//! re-costed each step. `kv_total` may be the context sum itself or its share on one of `q`
//! ranks, `⌈ctx / q⌉` (attention DP and CP split the decode context so; nested splits compose,
//! `⌈⌈x/a⌉/b⌉ = ⌈x/(ab)⌉`): the divisor is found from the probes and checked on all three.
//! The result equals the full path's up to the rounding of a different summation order.

use super::{CostModel, StepCost};
use crate::error::Result;
use reallm_plugin_api::{BatchShape, Kernel, ModelGraph, WorkKind};

/// A decode-attention kernel of a memoised shape: (stage, kernel with a placeholder context,
/// launches per step, divisor `q` of the context: `kv_total = ⌈ctx / q⌉`).
pub(crate) type DecodeTemplate = (usize, Kernel, f64, u64);

/// The `q ≥ 1` with `⌈ctx / q⌉ = kv` for every (ctx, kv) probe, if there is one. Probe contexts
/// are over 1000 per sequence, so for the small divisors parallel plans use `q` is the floor of
/// `ctx / kv` or next to it.
fn context_divisor(probes: &[(u64, u64)]) -> Option<u64> {
    let &(c0, k0) = probes.first()?;
    if k0 == 0 {
        return None;
    }
    let q0 = c0 / k0;
    (q0.saturating_sub(1).max(1)..=q0 + 1).find(|&q| probes.iter().all(|&(c, k)| c.div_ceil(q) == k))
}

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
        // The map is moved out while its entry is read (a pointer move, not a copy of the memo).
        let memos = std::mem::take(&mut self.step_memo);
        let r = match memos.get(&shape.decode_seqs) {
            Some(Some(memo)) => {
                let mut c = memo.base;
                stage_s.clear();
                stage_s.extend_from_slice(&memo.base_stages);
                self.add_decode_templates(&memo.templates, shape.decode_ctx_sum, &mut c, stage_s).map(|_| Some(c))
            }
            _ => Ok(None),
        };
        self.step_memo = memos;
        r
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
        };
        let (a, b, c) =
            (probe(shape.decode_seqs * 1000 + 7, 1), probe(shape.decode_seqs * 3000 + 11, 2), probe(shape.decode_seqs * 7000 + 13, 3));
        let (mut ga, mut gb, mut gc) = (ModelGraph::default(), ModelGraph::default(), ModelGraph::default());
        self.device_graph(&a, &mut ga)?;
        self.device_graph(&b, &mut gb)?;
        self.device_graph(&c, &mut gc)?;
        // The three graphs must agree everywhere except DecodeAttention kv_total, which must be
        // the context sum or its share ⌈ctx / q⌉ (no pass rescaled it otherwise).
        let mut templates = Vec::new();
        let same_shape = |x: &ModelGraph, y: &ModelGraph| {
            x.stages.len() == y.stages.len()
                && x.stages.iter().zip(&y.stages).all(|(x, y)| {
                    x.segments.len() == y.segments.len()
                        && x.segments.iter().zip(&y.segments).all(|(p, q)| p.n_layers == q.n_layers && p.items.len() == q.items.len())
                })
        };
        if !same_shape(&ga, &gb) || !same_shape(&ga, &gc) || ga.expert_tokens != gb.expert_tokens || ga.expert_tokens != gc.expert_tokens {
            return Ok(None);
        }
        let mut base_graph = ga.clone();
        for (si, sa) in ga.stages.iter().enumerate() {
            for (gi, pa) in sa.segments.iter().enumerate() {
                let (pb, pc) = (&gb.stages[si].segments[gi], &gc.stages[si].segments[gi]);
                let mut keep = Vec::with_capacity(pa.items.len());
                for ((ia, ib), ic) in pa.items.iter().zip(&pb.items).zip(&pc.items) {
                    match (&ia.work, &ib.work, &ic.work) {
                        (
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: ka, .. }),
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: kb, .. }),
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: kc, .. }),
                        ) => {
                            // Apart from the context, the three kernels must be the same.
                            let with_ctx = |w: &WorkKind| match *w {
                                WorkKind::Kernel(Kernel::DecodeAttention {
                                    seqs,
                                    q_heads,
                                    kv_heads,
                                    d_qk,
                                    d_v,
                                    kv_shared,
                                    act,
                                    kv,
                                    ..
                                }) => Some((seqs, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv)),
                                _ => None,
                            };
                            if with_ctx(&ia.work) != with_ctx(&ib.work)
                                || with_ctx(&ia.work) != with_ctx(&ic.work)
                                || ia.count != ib.count
                                || ia.count != ic.count
                            {
                                return Ok(None);
                            }
                            let probes = [(a.decode_ctx_sum, *ka), (b.decode_ctx_sum, *kb), (c.decode_ctx_sum, *kc)];
                            let Some(q) = context_divisor(&probes) else { return Ok(None) };
                            if let WorkKind::Kernel(k) = ia.work {
                                templates.push((si, k, ia.count as f64 * pa.n_layers as f64, q));
                            }
                        }
                        (x, y, z) if x == y && x == z && ia.count == ib.count && ia.count == ic.count => keep.push(*ia),
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

#[cfg(test)]
mod tests {
    use super::context_divisor;

    #[test]
    fn divisors_of_context_shares() {
        // The context itself, and ⌈ctx/q⌉ shares of DP/CP ranks.
        assert_eq!(context_divisor(&[(1007, 1007), (3011, 3011)]), Some(1));
        for q in [2u64, 3, 4, 8, 16, 64] {
            let probes: Vec<(u64, u64)> = [16_007u64, 48_011, 112_013].iter().map(|&c| (c, c.div_ceil(q))).collect();
            assert_eq!(context_divisor(&probes), Some(q), "q = {q}");
        }
        // Not a ceiling share (e.g. a floor, or a cap): no divisor, no memo.
        assert_eq!(context_divisor(&[(1007, 503), (3011, 1505)]), None);
        assert_eq!(context_divisor(&[(1007, 1000), (3011, 1000)]), None);
        assert_eq!(context_divisor(&[(1007, 0)]), None);
    }
}
