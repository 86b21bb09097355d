//! The search space: every deployment of a GPU budget, checked against the model (the plan
//! must divide its heads, experts and layers: the parallelism passes' own validation) and
//! against memory (weights plus the activation reserve must fit, and one request's KV must fit
//! a replica) before anything is simulated. What fails is counted, never simulated.

use super::config::{Mode, SearchConfig};
use crate::assemble;
use crate::config::{Experiment, PluginSel, PoolConfig};
use crate::error::{Error, Result};
use reallm_plugin_api::{Degrees, Limits, ModelInfo, ParallelPlan};
use reallm_sim::cost::memory_plan;
use reallm_sim::{MemoryPlan, Role};
use std::collections::BTreeMap;

/// One pool of a deployment: `replicas` replicas of `gpus` devices under a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolChoice {
    pub replicas: u32,
    pub gpus: u32,
    pub attention: Degrees,
    pub ffn: Degrees,
}

impl PoolChoice {
    /// `2x4 tp4/tp4`: replicas × devices, attention / FFN plan.
    pub fn label(&self) -> String {
        format!("{}x{} {}/{}", self.replicas, self.gpus, self.attention, self.ffn)
    }
}

/// The batching knobs of a deployment (both pools of a disaggregated one use them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchChoice {
    pub policy: String,
    pub max_batch_seqs: u32,
    pub max_batch_tokens: u32,
    pub chunk_tokens: u32,
}

/// One deployment of a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub budget: u32,
    pub mode: Mode,
    /// The colocated pool, or the prefill pool.
    pub first: PoolChoice,
    /// The decode pool of a disaggregated deployment.
    pub decode: Option<PoolChoice>,
    pub batching: BatchChoice,
    /// KV-cache dtype name (`bf16`, `fp8`, ...).
    pub kv_dtype: String,
    /// Whether `kv_dtype` was chosen by the search (set in the model's parameters) rather than
    /// being the model's own.
    pub kv_set: bool,
    /// KV tokens one replica holds (the smaller pool's; 0 when unknown): replicas that hold few
    /// requests run many small iterations, so the search starts them first.
    pub kv_tokens: u64,
    /// The engine profile of its base experiment (`vllm`, ...; empty: none).
    pub engine: String,
}

impl Deployment {
    /// `agg 2x4 tp4/tp4` or `disagg P 1x4 tp4/tp4 + D 1x4 tp2_pp2/tp2_pp2`.
    pub fn label(&self) -> String {
        let e = if self.engine.is_empty() { String::new() } else { format!("{} ", self.engine) };
        match &self.decode {
            None => format!("{e}agg {}", self.first.label()),
            Some(d) => format!("{e}disagg P {} + D {}", self.first.label(), d.label()),
        }
    }

    /// GPUs of the deployment.
    pub fn gpus(&self) -> u32 {
        self.first.replicas * self.first.gpus + self.decode.map_or(0, |d| d.replicas * d.gpus)
    }

    /// The base experiment turned into this deployment: pools, plans, batching and KV dtype
    /// replaced; everything else (model, backend, device, memory, router, KV link, SLO, ...)
    /// kept from the base.
    pub fn experiment(&self, base: &Experiment) -> Experiment {
        let mut e = base.clone();
        if self.kv_set {
            if let Some(m) = e.model.params.as_object_mut() {
                m.insert("kv_dtype".into(), serde_json::Value::String(self.kv_dtype.clone()));
            } else {
                e.model.params = serde_json::json!({ "kv_dtype": self.kv_dtype });
            }
        }
        let pool = |role: Role, c: &PoolChoice| PoolConfig {
            role,
            replicas: c.replicas,
            num_devices: c.gpus,
            attention: c.attention,
            ffn: c.ffn,
            batching: PluginSel { name: self.batching.policy.clone(), params: base.pool.batching.params.clone() },
            limits: Limits {
                max_batch_seqs: self.batching.max_batch_seqs,
                max_batch_tokens: self.batching.max_batch_tokens,
                chunk_tokens: self.batching.chunk_tokens,
            },
            ..base.pool.clone()
        };
        match &self.decode {
            None => {
                e.pool = pool(Role::Colocated, &self.first);
                e.decode_pool = None;
            }
            Some(d) => {
                e.pool = pool(Role::Prefill, &self.first);
                e.decode_pool = Some(pool(Role::Decode, d));
            }
        }
        e.name = Some(format!("search-{}", self.label().replace([' ', '/', '+'], "_")));
        e
    }
}

/// What the enumeration found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every deployment enumerated.
    pub deployments: u64,
    /// Rejected by the model: a plan that does not divide its heads, experts or layers.
    pub invalid: u64,
    /// Valid, but does not fit device memory (weights + reserve, or one request's KV).
    pub pruned_memory: u64,
    /// Left to simulate.
    pub valid: u64,
}

/// The space: deployments to simulate, in a fixed order, and the counts.
#[derive(Debug, Clone)]
pub struct Space {
    pub deployments: Vec<Deployment>,
    pub counts: Counts,
    /// Distinct reasons plans were rejected or pruned, with how many plans (not deployments).
    pub reasons: BTreeMap<String, u64>,
}

/// A plan of `gpus` devices and what was found about it.
#[derive(Debug, Clone)]
struct PlanCheck {
    attention: Degrees,
    ffn: Degrees,
    /// Why the model rejects it.
    invalid: Option<String>,
    /// Per KV dtype: the memory plan when the weights fit, and whether one request fits as a
    /// colocated/decode replica and as a prefill replica.
    fits: Vec<(Option<MemoryPlan>, bool, bool)>,
}

/// How a budget is split: (first pool's replica size, its replicas, the decode pool's replica
/// size and replicas).
type Split = (u32, u32, Option<(u32, u32)>);

/// Divisors of `n`, ascending.
pub fn divisors(n: u32) -> Vec<u32> {
    (1..=n).filter(|d| n.is_multiple_of(*d)).collect()
}

fn allowed(list: &[u32], v: u32) -> bool {
    list.is_empty() || list.contains(&v)
}

/// Every (attention, FFN) plan of `gpus` devices the config allows: attention `tp·pp·cp·dp =
/// gpus`; FFN `tp·ep·pp = gpus` with the attention's pp (pipeline stages hold whole layers).
/// `ep > 1` is tried on dense models only with `dense_ep`.
pub fn pool_plans(gpus: u32, moe: bool, cfg: &SearchConfig) -> Vec<(Degrees, Degrees)> {
    let p = &cfg.parallelism;
    let mut out = Vec::new();
    for pp in divisors(gpus).into_iter().filter(|&v| allowed(&p.pp, v)) {
        let stage = gpus / pp;
        for tp in divisors(stage).into_iter().filter(|&v| allowed(&p.tp, v)) {
            for cp in divisors(stage / tp).into_iter().filter(|&v| allowed(&p.cp, v)) {
                let dp = stage / tp / cp;
                if !allowed(&p.dp, dp) {
                    continue;
                }
                let attention = Degrees { tp, pp, cp, dp, ep: 1 };
                for ftp in divisors(stage).into_iter().rev().filter(|&v| allowed(&p.ffn_tp, v)) {
                    let ep = stage / ftp;
                    if !allowed(&p.ep, ep) || (ep > 1 && !moe && !p.dense_ep) {
                        continue;
                    }
                    out.push((attention, Degrees { tp: ftp, pp, cp: 1, dp: 1, ep }));
                }
            }
        }
    }
    out
}

/// Everything the enumeration needs from the base experiment.
pub struct SpaceInputs<'a> {
    pub base: &'a Experiment,
    pub cfg: &'a SearchConfig,
    pub budgets: &'a [u32],
    /// The model's description under each KV dtype of `kv_dtypes` (same order).
    pub infos: &'a [ModelInfo],
    /// (name, set by the search).
    pub kv_dtypes: &'a [(String, bool)],
    pub batchings: &'a [BatchChoice],
    pub device_key: &'a str,
    pub capacity_bytes: u64,
    pub devices_per_node: u32,
    /// Tokens one request holds: (colocated or decode replica, prefill replica).
    pub need_tokens: (u64, u64),
}

/// Enumerate the space. Deployment order: budget, mode, pool sizes and ratios, plans, KV
/// dtype, batching; it is the same in every shard, so indices identify deployments.
pub fn enumerate(inp: &SpaceInputs<'_>) -> Result<Space> {
    let cfg = inp.cfg;
    let base = inp.base;
    let moe = inp.infos.first().map(|i| i.is_moe()).unwrap_or(false);
    let device = crate::devices::resolve(&base.pool.device, base.base_dir.as_deref())?;
    let info = inp.infos.first().ok_or_else(|| crate::error::Error::Internal("search without a model".into()))?;
    let mem = assemble::pool_spec(base, &base.pool, &device, info)?.memory;
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut plans: BTreeMap<u32, Vec<PlanCheck>> = BTreeMap::new();
    let sizes_of = |budget: u32| -> Vec<u32> { divisors(budget).into_iter().filter(|&s| allowed(&cfg.replica_gpus, s)).collect() };
    for &b in inp.budgets {
        for s in sizes_of(b) {
            if plans.contains_key(&s) {
                continue;
            }
            let mut checks = Vec::new();
            for (attention, ffn) in pool_plans(s, moe, cfg) {
                let plan = ParallelPlan {
                    devices: s,
                    attention,
                    ffn,
                    sequence_parallel: base.pool.sequence_parallel,
                    comm_algo: base.pool.comm_algo,
                    devices_per_node: inp.devices_per_node,
                };
                let invalid = match assemble::build_passes(&inp.infos[0], &plan, &base.origin) {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                };
                let mut fits = Vec::new();
                if invalid.is_none() {
                    for info in inp.infos {
                        match memory_plan(info, &plan, &mem, inp.device_key, inp.capacity_bytes) {
                            Ok(m) => {
                                let room =
                                    |need: u64| m.kv_token_capacity >= need.div_ceil(mem.block_tokens as u64) * mem.block_tokens as u64;
                                fits.push((Some(m), room(inp.need_tokens.0), room(inp.need_tokens.1)));
                            }
                            Err(_) => fits.push((None, false, false)),
                        }
                    }
                }
                checks.push(PlanCheck { attention, ffn, invalid, fits });
            }
            plans.insert(s, checks);
        }
    }
    for checks in plans.values() {
        for c in checks {
            if let Some(r) = &c.invalid {
                *reasons.entry(strip_plan(r)).or_default() += 1;
            } else {
                for (k, f) in c.fits.iter().enumerate() {
                    let kv = &inp.kv_dtypes[k].0;
                    if f.0.is_none() {
                        *reasons.entry(format!("weights and activation reserve do not fit one device (kv {kv})")).or_default() += 1;
                    } else if !f.1 {
                        *reasons.entry(format!("one request's KV does not fit a replica (kv {kv})")).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut counts = Counts::default();
    let mut deployments = Vec::new();
    // Status of a plan for a role under KV dtype k: 0 ok, 1 invalid, 2 pruned.
    let status = |c: &PlanCheck, k: usize, prefill: bool| -> u8 {
        if c.invalid.is_some() {
            1
        } else {
            let f = c.fits[k];
            if f.0.is_some() && (if prefill { f.2 } else { f.1 }) {
                0
            } else {
                2
            }
        }
    };
    let mut push = |counts: &mut Counts, st: u8, make: &mut dyn FnMut() -> Vec<Deployment>| {
        let ds = make();
        let n = ds.len() as u64;
        counts.deployments += n;
        match st {
            0 => {
                counts.valid += n;
                deployments.extend(ds);
            }
            1 => counts.invalid += n,
            _ => counts.pruned_memory += n,
        }
    };
    for &budget in inp.budgets {
        let sizes = sizes_of(budget);
        let mut modes = cfg.modes.clone();
        modes.sort();
        modes.dedup();
        for mode in modes {
            let mut shapes: Vec<Split> = Vec::new();
            match mode {
                Mode::Aggregated => shapes.extend(sizes.iter().map(|&s| (s, budget / s, None))),
                Mode::Disaggregated => {
                    for &sp in &sizes {
                        for &sd in &sizes {
                            for np in 1..budget {
                                let left = budget.saturating_sub(np * sp);
                                if left == 0 || left % sd != 0 || np * sp >= budget {
                                    continue;
                                }
                                shapes.push((sp, np, Some((sd, left / sd))));
                            }
                        }
                    }
                }
            }
            for (sp, np, dec) in shapes {
                let firsts = &plans[&sp];
                for fc in firsts {
                    let decs: Vec<&PlanCheck> = match dec {
                        None => vec![],
                        Some((sd, _)) => plans[&sd].iter().collect(),
                    };
                    let pairs: Vec<Option<&PlanCheck>> = if dec.is_none() { vec![None] } else { decs.into_iter().map(Some).collect() };
                    for dc in pairs {
                        for (k, (kv, kv_set)) in inp.kv_dtypes.iter().enumerate() {
                            let sf = status(fc, k, dec.is_some());
                            let sd_ = dc.map_or(0, |d| status(d, k, false));
                            // Invalid wins over pruned: a plan the model rejects is invalid.
                            let st = if sf == 1 || sd_ == 1 { 1 } else { sf.max(sd_) };
                            let first = PoolChoice { replicas: np, gpus: sp, attention: fc.attention, ffn: fc.ffn };
                            let decode =
                                dc.zip(dec).map(|(d, (sd, nd))| PoolChoice { replicas: nd, gpus: sd, attention: d.attention, ffn: d.ffn });
                            let kv_of = |c: &PlanCheck| c.fits.get(k).and_then(|f| f.0).map_or(0, |m| m.kv_token_capacity);
                            let kv_tokens = dc.map_or(kv_of(fc), |d| kv_of(fc).min(kv_of(d)));
                            push(&mut counts, st, &mut || {
                                inp.batchings
                                    .iter()
                                    .map(|b| Deployment {
                                        budget,
                                        mode,
                                        first,
                                        decode,
                                        batching: b.clone(),
                                        kv_dtype: kv.clone(),
                                        kv_set: *kv_set,
                                        kv_tokens,
                                        engine: base.engine.as_ref().map(|e| e.name.clone()).unwrap_or_default(),
                                    })
                                    .collect()
                            });
                        }
                    }
                }
            }
        }
    }
    if counts.deployments == 0 {
        return Err(Error::config(
            &base.origin,
            "search: the space is empty (check search.gpus, search.modes, search.replica_gpus and search.parallelism)",
        ));
    }
    Ok(Space { deployments, counts, reasons })
}

/// A validation message without the plan it names, so that equal reasons group.
fn strip_plan(msg: &str) -> String {
    let m = msg.split_once(": parallel plan ").map(|(_, r)| r).unwrap_or(msg);
    match m.split_once(": ") {
        Some((_, why)) => why.to_string(),
        None => m.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_of_eight_devices() {
        let cfg = SearchConfig::default();
        let dense = pool_plans(8, false, &cfg);
        // Dense: one FFN plan per attention plan; attention: ordered factorisations of 8 into
        // (tp, pp, cp, dp) = C(3+3, 3) = 20.
        assert_eq!(dense.len(), 20);
        assert!(dense.iter().all(|(a, f)| a.product() == 8 && f.product() == 8 && a.pp == f.pp && f.ep == 1));
        // MoE: the FFN's stage (8/pp devices) split into tp·ep: for pp 1, 2, 4, 8 that is 4, 3,
        // 2, 1 ways, times the attention plans of each pp (10, 6, 3, 1) = 40 + 18 + 6 + 1.
        assert_eq!(pool_plans(8, true, &cfg).len(), 65);
        let mut only_tp = SearchConfig::default();
        only_tp.parallelism.pp = vec![1];
        only_tp.parallelism.cp = vec![1];
        only_tp.parallelism.dp = vec![1];
        assert_eq!(
            pool_plans(8, false, &only_tp),
            vec![(Degrees { tp: 8, ..Default::default() }, Degrees { tp: 8, ..Default::default() })]
        );
    }

    #[test]
    fn reasons_drop_the_plan() {
        let m = "config x: parallel plan attention `tp3` / ffn `tp3` for m: plugin `tp`: tp 3 does not divide the 4 attention heads of m";
        assert_eq!(strip_plan(m), "plugin `tp`: tp 3 does not divide the 4 attention heads of m");
    }
}
