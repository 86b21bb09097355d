//! The decode-step memo. Decode iterations repeat the same shape with a different context
//! sum. When a shape's per-device graph depends on the context only through its attention
//! kernels' context (checked once per shape by building it at three context sums and seeds and
//! comparing), the rest is costed once and only those attention kernels are re-costed each
//! step. The result equals the full path's up to the rounding of a different summation order.
//!
//! Two context rules are recognised ([`CtxRule`]), each fitted to the three probes and checked
//! on all of them:
//!
//! * a `DecodeAttention` kernel's `kv_total` is the context sum `ctx` itself or its share on one
//!   of `q` ranks, `⌈ctx / q⌉`: attention DP and CP split the decode context so, and nested
//!   splits compose, `⌈⌈x/a⌉/b⌉ = ⌈x/(ab)⌉`;
//! * an `Attention` kernel's `kv_len` is the mean context plus a constant,
//!   `⌈ctx / decode_seqs⌉ + off`: a speculative verification span (`spec_tokens` = s > 0) of
//!   `s + 1` queries over the mean context has `off = s`; CP's per-rank causal span shifts it
//!   (`kv − q_len + ⌈(q_len + q)/2⌉`), DP keeps it.
//!
//! Memos are kept per (decoding sequences, s).

use super::{CostModel, StepCost};
use crate::error::Result;
use reallm_plugin_api::{BatchShape, Kernel, ModelGraph, WorkKind};

/// How a memoised attention kernel's context follows a step's context sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtxRule {
    /// `DecodeAttention.kv_total = ⌈decode_ctx_sum / q⌉`.
    Share { q: u64 },
    /// `Attention.kv_len = ⌈decode_ctx_sum / decode_seqs⌉ + off`.
    MeanPlus { off: u64 },
}

/// An attention kernel of a memoised shape: (stage, kernel with a placeholder context,
/// launches per step, how its context follows the step's).
pub(crate) type DecodeTemplate = (usize, Kernel, f64, CtxRule);

/// The cost of a decode-only step without its context-dependent attention kernels: total, per
/// stage, and the kernels to re-cost.
pub(crate) struct StepMemo {
    pub(super) base: StepCost,
    pub(super) base_stages: Vec<f64>,
    pub(super) templates: Vec<DecodeTemplate>,
}

/// Slots of a cost model's time cache of memoised attention kernels (seconds, FLOPs and bytes
/// with the key: 40 bytes each, 640 KiB).
///
/// The cache is direct-mapped: a template kernel at a context, `(decode_seqs, spec_tokens,
/// template, context)`, has one slot, which holds the last such kernel costed there and its
/// seconds. Decode contexts repeat across steps and load levels (⌈ctx/q⌉ shares and short
/// generations all the more), and the calibrated roofline's answer costs two `powf`; a
/// fixed-size table bounds the memory whatever the run. Used only when the backend wants its
/// answers cached ([`KernelBackend::wants_cache`](reallm_plugin_api::KernelBackend::wants_cache)).
pub(super) const CTX_SLOTS: usize = 1 << 14;

/// The tag of template `i` of the memo of `shape` (with the context, the cache key), or `None`
/// when the numbers do not fit its fields (then the kernel is not cached).
#[inline]
pub(super) fn ctx_tag(shape: &BatchShape, i: usize) -> Option<u64> {
    (shape.decode_seqs < 1 << 40 && shape.spec_tokens < 1 << 16 && i < 1 << 8)
        .then_some(shape.decode_seqs << 24 | shape.spec_tokens << 8 | i as u64)
}

/// The slot of (tag, context): Fibonacci hashing of both (consecutive steps' contexts differ by
/// the batch size, which a plain modulus would map onto few slots).
#[inline]
pub(super) fn ctx_slot(tag: u64, ctx: u64) -> usize {
    ((ctx ^ tag.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CTX_SLOTS.trailing_zeros())) as usize
}

/// The `q ≥ 1` with `⌈ctx / q⌉ = kv` for every (ctx, kv) probe, if there is one. Probe contexts
/// are at least 1000 per sequence, so for the divisors parallel plans use, `q` is the floor of
/// `ctx / kv` or next to it.
fn context_divisor(probes: &[(u64, u64)]) -> Option<u64> {
    let &(c0, k0) = probes.first()?;
    if k0 == 0 {
        return None;
    }
    let q0 = c0 / k0;
    (q0.saturating_sub(1).max(1)..=q0 + 1).find(|&q| probes.iter().all(|&(c, k)| c.div_ceil(q) == k))
}

/// The `off` with `kv = ⌈ctx / n⌉ + off` for every (ctx, kv) probe of `n` sequences, if any.
fn mean_offset(n: u64, probes: &[(u64, u64)]) -> Option<u64> {
    let &(c0, k0) = probes.first()?;
    let off = k0.checked_sub(c0.div_ceil(n))?;
    probes.iter().all(|&(c, k)| c.div_ceil(n) + off == k).then_some(off)
}

/// `k` without its context: `kv_total` or `kv_len` zeroed (to compare kernels that differ only
/// there). Other kernels are returned as they are.
fn without_ctx(k: Kernel) -> Kernel {
    match k {
        Kernel::DecodeAttention { seqs, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv, .. } => {
            Kernel::DecodeAttention { seqs, kv_total: 0, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv }
        }
        Kernel::Attention { seqs, q_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv, .. } => {
            Kernel::Attention { seqs, q_len, kv_len: 0, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv }
        }
        other => other,
    }
}

/// The context of an attention kernel (`kv_total` or `kv_len`).
#[inline]
pub(super) fn ctx_of(k: &Kernel) -> Option<u64> {
    match *k {
        Kernel::DecodeAttention { kv_total, .. } => Some(kv_total),
        Kernel::Attention { kv_len, .. } => Some(kv_len),
        _ => None,
    }
}

impl CostModel {
    /// Whether decode-only steps of `decode_seqs` sequences verifying `spec_tokens` drafts each
    /// are served from the memo (false when not memoisable, or not seen yet).
    pub fn is_memoised(&self, decode_seqs: u64, spec_tokens: u64) -> bool {
        matches!(self.step_memo.get(&(decode_seqs, spec_tokens)), Some(Some(_)))
    }

    /// The memoised cost of `shape` into `out`; false (nothing written) when the shape is not
    /// memoisable.
    pub(super) fn memoised_cost(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>, out: &mut StepCost) -> Result<bool> {
        // Only decode-only shapes repeat often enough to pay for the probe builds.
        if shape.decode_seqs == 0 || !shape.prefills.is_empty() {
            return Ok(false);
        }
        let key = (shape.decode_seqs, shape.spec_tokens);
        let found = match self.last_memo {
            Some((k, m)) if k == key => m,
            _ => {
                let m = match self.step_memo.get(&key) {
                    Some(&m) => m,
                    None => {
                        let m = self.build_memo(shape)?.map(|memo| {
                            self.memos.push(memo);
                            (self.memos.len() - 1) as u32
                        });
                        self.step_memo.insert(key, m);
                        m
                    }
                };
                self.last_memo = Some((key, m));
                m
            }
        };
        let Some(mi) = found else { return Ok(false) };
        let mi = mi as usize;
        *out = self.memos[mi].base;
        stage_s.clear();
        stage_s.extend_from_slice(&self.memos[mi].base_stages);
        self.add_decode_templates(mi, shape, out, stage_s)?;
        Ok(true)
    }

    fn build_memo(&mut self, shape: &BatchShape) -> Result<Option<StepMemo>> {
        // Windowed attention caps the context each layer reads: a probe below the window would
        // pass and later, longer contexts would be costed uncapped.
        if self.info.kv_window_tokens > 0 {
            return Ok(None);
        }
        let n = shape.decode_seqs;
        let probe = |ctx: u64, seed: u64| BatchShape {
            prefills: shape.prefills.clone(),
            decode_seqs: n,
            decode_ctx_sum: ctx,
            seed,
            spec_tokens: shape.spec_tokens,
        };
        let probes = [probe(n * 1000 + 7, 1), probe(n * 3000 + 11, 2), probe(n * 7000 + 13, 3)];
        let mut graphs = [ModelGraph::default(), ModelGraph::default(), ModelGraph::default()];
        for (p, g) in probes.iter().zip(&mut graphs) {
            self.device_graph(p, g)?;
        }
        let [ga, gb, gc] = &graphs;
        // The three graphs must agree everywhere except the attention kernels' context, which
        // must follow one of the two rules at all three probes.
        let same_shape = |x: &ModelGraph, y: &ModelGraph| {
            x.expert_tokens == y.expert_tokens
                && x.stages.len() == y.stages.len()
                && x.stages.iter().zip(&y.stages).all(|(x, y)| {
                    x.segments.len() == y.segments.len()
                        && x.segments.iter().zip(&y.segments).all(|(p, q)| p.n_layers == q.n_layers && p.items.len() == q.items.len())
                })
        };
        if !same_shape(ga, gb) || !same_shape(ga, gc) {
            return Ok(None);
        }
        let mut templates = Vec::new();
        let mut base_graph = ga.clone();
        for (si, sa) in ga.stages.iter().enumerate() {
            for (gi, pa) in sa.segments.iter().enumerate() {
                let (pb, pc) = (&gb.stages[si].segments[gi], &gc.stages[si].segments[gi]);
                let mut keep = Vec::with_capacity(pa.items.len());
                for ((ia, ib), ic) in pa.items.iter().zip(&pb.items).zip(&pc.items) {
                    if ia.count != ib.count || ia.count != ic.count || ia.phase != ib.phase || ia.phase != ic.phase {
                        return Ok(None);
                    }
                    if ia.work == ib.work && ia.work == ic.work {
                        keep.push(*ia);
                        continue;
                    }
                    let (WorkKind::Kernel(ka), WorkKind::Kernel(kb), WorkKind::Kernel(kc)) = (ia.work, ib.work, ic.work) else {
                        return Ok(None);
                    };
                    // Apart from the context, the three kernels must be the same.
                    let bare = without_ctx(ka);
                    if bare == ka || without_ctx(kb) != bare || without_ctx(kc) != bare {
                        return Ok(None);
                    }
                    let ctx = |k: &Kernel, p: &BatchShape| ctx_of(k).map(|kv| (p.decode_ctx_sum, kv));
                    let pairs = [ctx(&ka, &probes[0]), ctx(&kb, &probes[1]), ctx(&kc, &probes[2])];
                    let Some(pairs) = pairs.into_iter().collect::<Option<Vec<_>>>() else { return Ok(None) };
                    let rule = match ka {
                        Kernel::DecodeAttention { .. } => context_divisor(&pairs).map(|q| CtxRule::Share { q }),
                        _ => mean_offset(n, &pairs).map(|off| CtxRule::MeanPlus { off }),
                    };
                    let Some(rule) = rule else { return Ok(None) };
                    templates.push((si, ka, ia.count as f64 * pa.n_layers as f64, rule));
                }
                base_graph.stages[si].segments[gi].items = keep;
            }
        }
        let mut base_stages = Vec::new();
        let base = self.cost_graph_stages(&base_graph, &mut base_stages)?;
        Ok(Some(StepMemo { base, base_stages, templates }))
    }
}

/// `k` with the context of `shape` put in by `rule`. Other kernels are returned as they are.
#[inline]
pub(super) fn with_context(k: Kernel, rule: CtxRule, shape: &BatchShape) -> Kernel {
    match (k, rule) {
        (Kernel::DecodeAttention { seqs, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv, .. }, CtxRule::Share { q }) => {
            Kernel::DecodeAttention { seqs, kv_total: shape.decode_ctx_sum.div_ceil(q), q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv }
        }
        (Kernel::Attention { seqs, q_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv, .. }, CtxRule::MeanPlus { off }) => {
            let kv_len = shape.decode_ctx_sum.div_ceil(shape.decode_seqs.max(1)) + off;
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv }
        }
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{context_divisor, mean_offset};

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

    #[test]
    fn offsets_from_the_mean_context() {
        // 4 sequences: ⌈4007/4⌉ = 1002, ⌈12011/4⌉ = 3003, ⌈28013/4⌉ = 7004.
        assert_eq!(mean_offset(4, &[(4007, 1002 + 3), (12_011, 3003 + 3), (28_013, 7004 + 3)]), Some(3));
        assert_eq!(mean_offset(4, &[(4007, 1002), (12_011, 3003)]), Some(0));
        // Not the mean plus a constant (a scaled mean; below the mean): none.
        assert_eq!(mean_offset(4, &[(4007, 1002 / 2), (12_011, 3003 / 2)]), None);
        assert_eq!(mean_offset(4, &[(4007, 1001)]), None);
        assert_eq!(mean_offset(4, &[(4007, 1005), (12_011, 3009)]), None);
    }
}
