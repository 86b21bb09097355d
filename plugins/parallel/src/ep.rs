//! Expert parallelism (GShard, Lepikhin et al. 2020; DeepSeek-V3 deployment, DeepSeek-AI 2024
//! §3.4): the routed experts of every MoE layer are placed on `e` ranks and each token's
//! hidden state travels to the ranks of its experts and back.
//!
//! - **Placement.** Without redundant experts, contiguous: rank `r` holds experts
//!   `[⌊r·E/e⌋, ⌊(r+1)·E/e⌋)`. With `redundant_experts: N`, the `N` hottest experts of the step
//!   (by `graph.expert_tokens`) get one more copy each (cycling if `N > E`), a copy serves an
//!   equal share of its expert's tokens, and the `E + N` replicas are placed largest first on
//!   the least loaded rank with a free slot (`⌈(E+N)/e⌉` slots each), as DeepSeek's EPLB does.
//!   When `e > E` and `redundant_experts` is not set, `N = e − E` (one expert per rank: the
//!   DeepSeek-V3 decode layout of 256 experts plus 64 redundant ones on 320 GPUs).
//! - **Expert kernels** (`Shard::Experts`) become those of the most loaded rank: a grouped
//!   GEMM over its slots (`groups`), the rows routed to it (`rows`) and its largest replica's
//!   rows (`max_rows`); element-wise expert ops take the same rows. When `expert_tokens` is
//!   empty the routing is taken as uniform (`T·k/e` rows per rank).
//! - **Dispatch and combine.** An all-to-all before the first expert item of a segment and one
//!   after the last. Following the [`Collective`] convention (bytes = what one rank sends,
//!   including the part it keeps; the backend applies the off-rank fraction `(e−1)/e`), the
//!   size is that of the busiest rank, `max(⌈T·k/e⌉ sent, rows received) · hidden · act` bytes.
//! - **Other FFN-part work** (dense FFN layers, shared experts, router, norms, LM head) is
//!   token-parallel: each rank runs it on `⌈T/e⌉` of the tokens, and collectives already in
//!   the FFN part (tp's all-reduces, the logits all-gather) shrink by the same row ratio. The
//!   re-layout between attention's token split and the FFN's is not costed.

use crate::{excess_flops, part_flops, part_of, prior_ways, scale_ceil, scope_for, split_tokens, token_rows, ways, Part};
use reallm_plugin_api::{
    Collective, CollectiveKind, Kernel, ModelGraph, ModelInfo, ParallelPlan, Parallelism, PluginError, Shard, WorkItem, WorkKind,
};
use serde::Deserialize;

/// Parameters of `ep`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EpParams {
    /// Extra copies of the hottest experts (DeepSeek-style redundancy). Unset: 0, or `e − E`
    /// when the ep degree exceeds the routed experts.
    pub redundant_experts: Option<u64>,
    /// Allow `E + redundant` not divisible by the ep degree (ranks then hold `⌊·⌋` or `⌈·⌉`
    /// expert slots).
    pub allow_uneven: bool,
}

/// The `ep` pass.
#[derive(Debug, Clone, Default)]
pub struct ExpertParallel {
    params: EpParams,
}

impl ExpertParallel {
    /// The pass with the given parameters.
    pub fn new(params: EpParams) -> Self {
        ExpertParallel { params }
    }

    /// Redundant expert copies used for a model at ep degree `e`, after checking that the
    /// slots divide evenly over the ranks (unless `allow_uneven`).
    pub fn redundant_experts(&self, model: &ModelInfo, e: u64) -> Result<u64, PluginError> {
        let n = model.n_routed_experts;
        if n == 0 || e <= 1 {
            return Ok(0);
        }
        let r = match self.params.redundant_experts {
            Some(r) => r,
            None if !n.is_multiple_of(e) && e > n => e - n,
            None => 0,
        };
        if !(n + r).is_multiple_of(e) && !self.params.allow_uneven {
            let with = if r > 0 { format!(" plus {r} redundant copies") } else { String::new() };
            return Err(PluginError::invalid(format!(
                "ep {e} does not divide the {n} routed experts{with} of {}: use an ep degree that divides {n}, set redundant_experts so \
                 that {n} + redundant_experts is a multiple of {e}, or set allow_uneven: true",
                model.name
            )));
        }
        Ok(r)
    }
}

/// Experts on ranks and the rows each rank receives in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpertPlacement {
    /// Token rows routed to each rank (sum over the replicas it holds).
    pub rank_rows: Vec<f64>,
    /// Rows of the busiest replica on each rank.
    pub rank_max_rows: Vec<f64>,
    /// Expert replicas (weight sets) on each rank.
    pub rank_slots: Vec<u64>,
}

impl ExpertPlacement {
    /// Place `loads.len()` experts with the given per-expert token rows on `ranks` ranks with
    /// `redundant` extra copies of the hottest experts (see the module docs).
    pub fn compute(loads: &[f64], ranks: u64, redundant: u64) -> Result<ExpertPlacement, PluginError> {
        let n = loads.len();
        if n == 0 || ranks == 0 {
            return Err(PluginError::invalid(format!("cannot place {n} experts on {ranks} ranks")));
        }
        let e = ranks as usize;
        let mut p = ExpertPlacement { rank_rows: vec![0.0; e], rank_max_rows: vec![0.0; e], rank_slots: vec![0; e] };
        if redundant == 0 {
            // Contiguous: rank r holds experts [⌊r·n/e⌋, ⌊(r+1)·n/e⌋).
            for r in 0..e {
                for &l in &loads[r * n / e..(r + 1) * n / e] {
                    p.add(r, l);
                }
            }
            return Ok(p);
        }
        // Copies: the hottest experts (ties: lower index) get one more each, cycling.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| loads[b].total_cmp(&loads[a]).then(a.cmp(&b)));
        let mut copies = vec![1u64; n];
        for j in 0..redundant {
            copies[order[(j % n as u64) as usize]] += 1;
        }
        let mut replicas: Vec<(f64, usize)> = Vec::with_capacity(n + redundant as usize);
        for (i, &l) in loads.iter().enumerate() {
            replicas.extend(std::iter::repeat_n((l / copies[i] as f64, i), copies[i] as usize));
        }
        replicas.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let cap = (replicas.len() as u64).div_ceil(ranks);
        for &(l, _) in &replicas {
            let r = (0..e)
                .filter(|&r| p.rank_slots[r] < cap)
                .min_by(|&a, &b| p.rank_rows[a].total_cmp(&p.rank_rows[b]).then(a.cmp(&b)))
                .unwrap_or(0);
            p.add(r, l);
        }
        Ok(p)
    }

    fn add(&mut self, rank: usize, rows: f64) {
        self.rank_rows[rank] += rows;
        self.rank_max_rows[rank] = self.rank_max_rows[rank].max(rows);
        self.rank_slots[rank] += 1;
    }

    /// The most loaded rank (most rows; ties: more slots, then the lower index).
    pub fn slowest(&self) -> usize {
        (0..self.rank_rows.len())
            .max_by(|&a, &b| {
                self.rank_rows[a].total_cmp(&self.rank_rows[b]).then(self.rank_slots[a].cmp(&self.rank_slots[b])).then(b.cmp(&a))
            })
            .unwrap_or(0)
    }
}

/// `x / total` of `rows`, rounded up (with a guard against float noise on exact quotients).
fn share(x: f64, total: f64, rows: u64) -> u64 {
    if total <= 0.0 {
        return 0;
    }
    let v = x * rows as f64 / total;
    (v - 1e-9 * v.max(1.0)).ceil().max(0.0) as u64
}

impl Parallelism for ExpertParallel {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        crate::validate_plan(model, plan)?;
        let e = plan.ffn.ep as u64;
        let mut notes = Vec::new();
        if e <= 1 {
            return Ok(notes);
        }
        if !model.is_moe() {
            notes.push(format!("{} has no routed experts: ep {e} splits the FFN's tokens {e} ways (data parallel)", model.name));
            return Ok(notes);
        }
        let n = model.n_routed_experts;
        let r = self.redundant_experts(model, e)?;
        let slots = (n + r).div_ceil(e);
        let placement =
            if r > 0 { format!("{n} experts + {r} redundant copies of the hottest, balanced") } else { format!("{n} experts, contiguous") };
        notes.push(format!(
            "ep {e}: {placement}, {slots} per rank; expert kernels are the most loaded rank's; dense FFN-part work is token-parallel \
             (⌈T/{e}⌉ tokens per rank); all-to-all dispatch and combine of hidden states around each MoE block"
        ));
        Ok(notes)
    }

    fn apply(&self, model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let e = plan.ffn.ep as u64;
        if e <= 1 {
            return Ok(());
        }
        let (w, prior) = (ways(plan, "ep"), prior_ways(plan, "ep"));
        let has_experts = graph.stages.iter().flat_map(|s| &s.segments).flat_map(|s| &s.items).any(is_expert_kernel);
        // The busiest rank: (rows routed to it, its largest replica, its slots) over total routed rows.
        let busiest = if has_experts {
            let n = model.n_routed_experts;
            if n == 0 {
                return Err(PluginError::invalid(format!("{} has expert-sharded work but no routed experts", model.name)));
            }
            let loads: Vec<f64> = if graph.expert_tokens.is_empty() {
                vec![1.0; n as usize]
            } else if graph.expert_tokens.len() as u64 == n {
                graph.expert_tokens.iter().map(|&t| t as f64).collect()
            } else {
                return Err(PluginError::invalid(format!(
                    "the step's routing has {} experts but {} has {n} routed experts",
                    graph.expert_tokens.len(),
                    model.name
                )));
            };
            let placement = ExpertPlacement::compute(&loads, e, self.redundant_experts(model, e)?)?;
            let s = placement.slowest();
            Some((placement.rank_rows[s], placement.rank_max_rows[s], placement.rank_slots[s], loads.iter().sum::<f64>()))
        } else {
            None
        };
        let tf = plan.ffn.tp.max(1) as u64;
        // An ep group spans e·tp consecutive devices (tp fastest).
        let scope = scope_for(e * tf, plan);
        let act = model.act_dtype;
        let mut excess = 0.0;
        for stage in &mut graph.stages {
            for seg in &mut stage.segments {
                let before = part_flops(&seg.items);
                let first = seg.items.iter().position(is_expert_kernel);
                let last = seg.items.iter().rposition(is_expert_kernel);
                let items = std::mem::take(&mut seg.items);
                let mut out = Vec::with_capacity(items.len() + 4);
                // Row ratio (after, before) of the last token-split FFN-part kernel, applied to the
                // collectives that follow it.
                let mut ratio: Option<(u64, u64)> = None;
                for (i, item) in items.into_iter().enumerate() {
                    if part_of(item.phase) != Part::Ffn {
                        out.push(item);
                        continue;
                    }
                    let k = match item.work {
                        WorkKind::Comm(mut c) => {
                            if let Some((after, before)) = ratio {
                                c.bytes = scale_ceil(c.bytes, after, before);
                            }
                            out.push(WorkItem { work: WorkKind::Comm(c), ..item });
                            continue;
                        }
                        WorkKind::Kernel(k) => k,
                    };
                    let rows_before = token_rows(&k);
                    let new = match (item.shard, busiest) {
                        (Shard::Experts, Some((rank_rows, max_rows, slots, total))) => {
                            let a2a = |rows_now: u64| {
                                let sent = rows_before.div_ceil(e);
                                let bytes = act.bytes_for(sent.max(rows_now) * model.hidden);
                                let c = Collective { kind: CollectiveKind::AllToAll, bytes, ranks: e as u32, scope, algo: plan.comm_algo };
                                WorkItem { count: item.count, ..WorkItem::comm(c, item.phase) }
                            };
                            let rows = share(rank_rows, total, rows_before);
                            let new = expert_kernel(k, rows, share(max_rows, total, rows_before).min(rows), slots);
                            if Some(i) == first {
                                out.push(a2a(rows));
                            }
                            out.push(WorkItem { work: WorkKind::Kernel(new), ..item });
                            if Some(i) == last {
                                out.push(a2a(rows));
                            }
                            ratio = Some((rows, rows_before));
                            continue;
                        }
                        _ => split_tokens(k, e),
                    };
                    ratio = Some((token_rows(&new), rows_before));
                    out.push(WorkItem { work: WorkKind::Kernel(new), ..item });
                }
                seg.items = out;
                excess += excess_flops(before, part_flops(&seg.items), w, prior, seg.n_layers);
            }
        }
        graph.replicated_flops += excess;
        Ok(())
    }
}

fn is_expert_kernel(it: &WorkItem) -> bool {
    it.shard == Shard::Experts && part_of(it.phase) == Part::Ffn && matches!(it.work, WorkKind::Kernel(_))
}

/// An expert kernel on the busiest rank: `rows` routed rows, `max_rows` in its largest group,
/// `slots` expert weight sets.
fn expert_kernel(k: Kernel, rows: u64, max_rows: u64, slots: u64) -> Kernel {
    match k {
        Kernel::GroupedGemm { k: kk, n, a, w, out, .. } => Kernel::GroupedGemm { groups: slots, rows, max_rows, k: kk, n, a, w, out },
        Kernel::Gemm { b, k: kk, n, a, w, out, .. } => Kernel::Gemm { b, m: rows, k: kk, n, a, w, out },
        Kernel::Softmax { n, dtype, .. } => Kernel::Softmax { m: rows, n, dtype },
        Kernel::LayerNorm { n, dtype, .. } => Kernel::LayerNorm { m: rows, n, dtype },
        Kernel::Silu { n, dtype, .. } => Kernel::Silu { m: rows, n, dtype },
        Kernel::Gelu { n, dtype, .. } => Kernel::Gelu { m: rows, n, dtype },
        Kernel::Mul { n, dtype, .. } => Kernel::Mul { m: rows, n, dtype },
        Kernel::Add { n, dtype, .. } => Kernel::Add { m: rows, n, dtype },
        Kernel::Rope { n, dtype, .. } => Kernel::Rope { m: rows, n, dtype },
        Kernel::TopK { n, k: kk, dtype, .. } => Kernel::TopK { m: rows, n, k: kk, dtype },
        Kernel::Embedding { hidden, dtype, .. } => Kernel::Embedding { tokens: rows, hidden, dtype },
        // Attention is never expert-sharded; keep it as is.
        other => other,
    }
}
