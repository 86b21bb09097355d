//! `reallm search`: the best way to serve a model on given GPUs, as a Pareto frontier.
//!
//! 1. **Space** ([`space`]): every deployment of each GPU budget: aggregated (replicas of one
//!    plan) and disaggregated (a prefill and a decode pool, every split of the budget), every
//!    attention TP/PP/CP/DP and FFN TP/EP plan of each replica size, every batching and KV
//!    dtype choice of `search:`. Plans the model rejects (heads, experts, layers) and plans that
//!    do not fit memory are counted and dropped before anything runs.
//! 2. **Load levels** ([`load`]): request rates, given or spaced around a capacity estimate.
//! 3. **Simulation**: deployments run in parallel (rayon); one deployment builds its pools
//!    (cost models, caches) once and runs every level on them in turn, so the kernel and
//!    collective caches and the decode-step memo warmed by one level serve the next. The
//!    engine keeps its state in itself, not in the pools, so a reused pool gives the same
//!    result as a fresh one (tested).
//! 4. **Results** ([`output`]): `search.csv` with the frontier marks, `pareto.svg`, the winner
//!    as `best.yaml` (+ `best_trace.csv`), `search.json`.
//!
//! Resumable and shardable like sweeps: rows of finished deployments are appended to
//! `search.csv.partial`; `--shard i/n` runs deployments with `index % n == i`; `search merge`
//! joins shard folders and recomputes the frontier over all rows.

pub mod config;
pub mod load;
pub mod metrics;
pub mod output;
pub mod pareto;
pub mod space;

pub use config::SearchConfig;

use crate::assemble;
use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use config::Mode;
use config::SearchWorkload;
use load::{Level, Load, Shape};
use output::{Meta, MetaCounts, MetaWorkload, Row};
use rayon::prelude::*;
use reallm_plugin_api::{BatchShape, ModelInfo, PrefillChunk};
use reallm_sim::{NoObserver, Pool, SimOptions};
use space::{BatchChoice, Deployment, Space, SpaceInputs};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The command line of `reallm search`. Flags override the config's `search:` and `slo:`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SearchArgs {
    #[command(subcommand)]
    pub cmd: Option<SearchCmd>,
    /// Model preset or Hugging Face config.json (default: the config's model).
    #[arg(long)]
    pub model: Option<String>,
    /// Device preset or JSON file (default: the config's device).
    #[arg(long)]
    pub device: Option<String>,
    /// GPU budgets, e.g. `--gpus 8` or `--gpus 8,16` (default: search.gpus, else the config's devices).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub gpus: Vec<u32>,
    /// Prompt tokens per request.
    #[arg(long)]
    pub isl: Option<u32>,
    /// Output tokens per request.
    #[arg(long)]
    pub osl: Option<u32>,
    /// Requests per simulation.
    #[arg(long)]
    pub requests: Option<u32>,
    /// Request rates (req/s over the budget); default: search.workload.rates, else automatic.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub rates: Vec<f64>,
    /// Closed-loop load levels instead of rates: clients over the budget, e.g. `--concurrency 1 8 64`.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub concurrency: Vec<u32>,
    /// Engine profiles as a search axis, e.g. `--engines vllm,sglang,trtllm` (search.engines).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub engines: Vec<String>,
    /// A trace file whose request lengths the levels use, in order (its arrival times are not used).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Number of automatic load levels.
    #[arg(long)]
    pub levels: Option<u32>,
    /// Only aggregated or only disaggregated deployments (agg, disagg; repeatable).
    #[arg(long = "mode", value_delimiter = ',', num_args = 1..)]
    pub modes: Vec<String>,
    /// SLO on time to first token, seconds.
    #[arg(long)]
    pub ttft: Option<f64>,
    /// SLO on time per output token, seconds.
    #[arg(long)]
    pub tpot: Option<f64>,
    /// SLO on end-to-end latency, seconds.
    #[arg(long)]
    pub e2e: Option<f64>,
    /// Percentage of requests that must meet every SLO target (default 90).
    #[arg(long)]
    pub slo_percentile: Option<f64>,
    /// Output folder (search.csv, pareto.svg, best.yaml, search.json).
    #[arg(long, default_value = "search")]
    pub out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only deployments with index % N == I (for cluster job arrays); merge with `search merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Enumerate and count the space, simulate nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SearchCmd {
    /// Merge search folders (e.g. shard outputs) into one and recompute the frontier.
    Merge {
        /// Search output folders.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "search")]
        out: PathBuf,
    },
}

/// Apply the command line's search flags to a loaded experiment.
pub fn apply_args(exp: &mut Experiment, a: &SearchArgs) -> Result<()> {
    if let Some(d) = &a.device {
        exp.pool.device = d.clone();
        if let Some(p) = &mut exp.decode_pool {
            p.device = d.clone();
        }
    }
    let s = &mut exp.search;
    if !a.gpus.is_empty() {
        s.gpus = a.gpus.clone();
    }
    if !a.engines.is_empty() {
        s.engines = a.engines.clone();
    }
    if !a.modes.is_empty() {
        s.modes = a
            .modes
            .iter()
            .map(|m| match m.as_str() {
                "agg" | "aggregated" | "colocated" => Ok(Mode::Aggregated),
                "disagg" | "disaggregated" => Ok(Mode::Disaggregated),
                o => Err(Error::Usage(format!("--mode `{o}`: expected agg or disagg"))),
            })
            .collect::<Result<_>>()?;
    }
    if (a.isl.is_some() || a.osl.is_some()) && exp.workload.synthetic.is_some() {
        return Err(Error::Usage("--isl/--osl: the config's `workload.synthetic` sets the request lengths; drop one of them".into()));
    }
    if !a.rates.is_empty() && !a.concurrency.is_empty() {
        return Err(Error::Usage("--rates and --concurrency: give one kind of load level".into()));
    }
    let s = &mut exp.search;
    let w = &mut s.workload;
    w.isl = a.isl.unwrap_or(w.isl);
    w.osl = a.osl.unwrap_or(w.osl);
    w.requests = a.requests.unwrap_or(w.requests);
    w.levels = a.levels.unwrap_or(w.levels);
    if !a.rates.is_empty() {
        w.rates = a.rates.clone();
        w.concurrency.clear();
    }
    if !a.concurrency.is_empty() {
        w.concurrency = a.concurrency.clone();
        w.rates.clear();
    }
    if let Some(t) = &a.trace {
        // Relative to the working directory, where the command line was typed.
        w.trace = Some(std::path::absolute(t).unwrap_or(t.clone()).display().to_string());
    }
    s.slo_percentile = a.slo_percentile.unwrap_or(s.slo_percentile);
    exp.slo.ttft_s = a.ttft.or(exp.slo.ttft_s);
    exp.slo.tpot_s = a.tpot.or(exp.slo.tpot_s);
    exp.slo.e2e_s = a.e2e.or(exp.slo.e2e_s);
    exp.slo.validate().map_err(Error::Usage)?;
    Ok(())
}

/// How to run a search.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub out: PathBuf,
    pub jobs: Option<usize>,
    pub shard: Option<(usize, usize)>,
    pub dry_run: bool,
}

/// What a search did.
#[derive(Debug, Clone)]
pub struct Report {
    pub meta: Meta,
    /// Deployments of this shard (all without `--shard`).
    pub mine: usize,
    /// Deployments simulated by this invocation.
    pub ran: usize,
    /// Deployments found done in the output folder.
    pub skipped: usize,
    pub rows: Vec<Row>,
    pub marks: Vec<[bool; 4]>,
    pub interrupted: bool,
    /// The winner's config text, when one meets the SLO.
    pub best_yaml: Option<String>,
}

/// Everything fixed before simulating.
#[derive(Debug)]
struct Prepared {
    space: Space,
    levels: BTreeMap<u32, Vec<Level>>,
    meta: Meta,
}

fn bad(exp: &Experiment, m: impl Into<String>) -> Error {
    Error::config(&exp.origin, m)
}

/// Check the `search:` block.
fn validate(exp: &Experiment) -> Result<()> {
    let s = &exp.search;
    let w = &s.workload;
    if s.gpus.contains(&0) {
        return Err(bad(exp, "key `search.gpus`: budgets must be at least 1 GPU"));
    }
    if s.modes.is_empty() {
        return Err(bad(exp, "key `search.modes`: give at least one of aggregated, disaggregated"));
    }
    if w.isl == 0 || w.osl < 2 {
        return Err(bad(
            exp,
            format!("key `search.workload`: isl = {}, osl = {}; need isl ≥ 1 and osl ≥ 2 (TPOT needs two tokens)", w.isl, w.osl),
        ));
    }
    if w.requests == 0 {
        return Err(bad(exp, "key `search.workload.requests`: expected at least 1"));
    }
    if let Some(r) = w.rates.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
        return Err(bad(exp, format!("key `search.workload.rates`: {r} is not a positive rate")));
    }
    if !w.concurrency.is_empty() && !w.rates.is_empty() {
        return Err(bad(exp, "key `search.workload`: give `rates` or `concurrency`, not both"));
    }
    if let Some(c) = w.concurrency.iter().find(|&&c| c == 0 || c > crate::config::MAX_CLIENTS) {
        return Err(bad(exp, format!("key `search.workload.concurrency`: {c} clients; expected 1 to {}", crate::config::MAX_CLIENTS)));
    }
    if !(w.think_time_s.is_finite() && w.think_time_s >= 0.0) {
        return Err(bad(exp, format!("key `search.workload.think_time_s` = {}: expected seconds ≥ 0", w.think_time_s)));
    }
    if w.rates.is_empty()
        && w.concurrency.is_empty()
        && !(w.levels >= 1 && w.min_load > 0.0 && w.max_load >= w.min_load && w.max_load.is_finite())
    {
        return Err(bad(exp, "key `search.workload`: automatic rates need levels ≥ 1 and 0 < min_load ≤ max_load"));
    }
    if !(0.0..=100.0).contains(&s.slo_percentile) {
        return Err(bad(exp, format!("key `search.slo_percentile` = {}: expected a percentage (0–100)", s.slo_percentile)));
    }
    let b = &s.batching;
    if b.max_batch_seqs.contains(&0) || b.max_batch_tokens.contains(&0) {
        return Err(bad(exp, "key `search.batching`: max_batch_seqs and max_batch_tokens must be at least 1"));
    }
    Ok(())
}

/// The base experiment with its pool's settings, reduced to what a winner's config needs.
fn template(exp: &Experiment, kv_set: bool) -> Result<serde_json::Value> {
    let plugin = match &exp.model.plugin {
        Some(p) => p.clone(),
        None => crate::registry::find_model_preset(&exp.model.label)?.name.clone(),
    };
    let p = &exp.pool;
    let m = &p.memory;
    let device = match &exp.base_dir {
        Some(b) if b.join(&p.device).is_file() => {
            std::fs::canonicalize(b.join(&p.device)).unwrap_or(b.join(&p.device)).display().to_string()
        }
        _ => p.device.clone(),
    };
    let algo = p.comm_algo.name();
    let k = &exp.kv_transfer;
    Ok(serde_json::json!({
        "model": {"plugin": plugin, "name": exp.model.label, "params": exp.model.params},
        "backend": {"name": exp.backend.name, "params": exp.backend.params},
        "device": device,
        "router": p.router.name(),
        "io_algo": algo,
        "sequence_parallel": p.sequence_parallel,
        "batching_params": p.batching.params,
        "memory": {
            "usable_fraction": auto_or(m.usable_fraction),
            "block_tokens": m.block_tokens,
            "watermark_fraction": m.watermark_fraction,
            "activation_reserve_gib": auto_or(m.activation_reserve_gib),
            "preemption": match m.preemption { crate::config::schema::Preemption::Recompute => "recompute", crate::config::schema::Preemption::Swap => "swap" },
            "host_link_bytes_per_s": m.host_link_bytes_per_s,
        },
        "kv_transfer": {"bandwidth_bytes_per_s": k.bandwidth_bytes_per_s, "latency_s": k.latency_s, "layerwise_overlap": k.layerwise_overlap},
        "sim": {"end_time_s": exp.sim.end_time_s, "iteration_overhead_s": exp.sim.iteration_overhead_s, "seed": exp.sim.seed, "cuda_graph_batch_sizes": exp.sim.cuda_graph_batch_sizes},
        "slo": exp.slo,
        "kv_set": kv_set,
        "engine": exp.engine.as_ref().map(|e| e.name.clone()),
    }))
}

/// A number, or `"auto"` (an engine profile's estimate).
fn auto_or(v: crate::config::schema::AutoOr<f64>) -> serde_json::Value {
    match v {
        crate::config::schema::AutoOr::Value(x) => serde_json::json!(x),
        crate::config::schema::AutoOr::Auto => serde_json::json!("auto"),
    }
}

/// FNV-1a of a text, as 16 hex digits.
fn fnv_hex(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A capacity estimate of a budget, requests/s: the best over its pool plans of
/// `replicas · B / (B · T_prefill + osl · T_decode(B))`, where `B` is the batch one replica
/// holds (max_batch_seqs, or what its KV holds), `T_prefill` the cost of one `isl`-token
/// prefill and `T_decode(B)` of a decode step of `B` sequences at the mean context. It only
/// places the automatic load levels; the simulations measure the real capacity.
fn estimate_capacity<'a>(base_of: &dyn Fn(&Deployment) -> &'a Experiment, ds: &[&Deployment], isl: u32, osl: u32) -> Result<f64> {
    let mut seen = BTreeSet::new();
    let mut best = 0.0f64;
    for d in ds {
        let key =
            format!("{}|{}|{}|{}|{}|{}", d.engine, d.first.gpus, d.first.attention, d.first.ffn, d.kv_dtype, d.batching.max_batch_seqs);
        if !seen.insert(key) {
            continue;
        }
        let base = base_of(d);
        let device = crate::devices::resolve(&base.pool.device, base.base_dir.as_deref())?;
        let e = d.experiment(base);
        let (mut cost, _) = assemble::build_cost_model(&e, &e.pool, &device)?;
        let mem = assemble::pool_spec(&e, &e.pool, &device, &cost.info)?.memory;
        let plan = reallm_sim::cost::memory_plan(&cost.info, &cost.plan, &mem, &device.key, device.spec.mem_capacity_bytes)?;
        let per_req = (isl + osl) as u64;
        let b = (d.batching.max_batch_seqs as u64).min(plan.kv_token_capacity / per_req).max(1);
        let over = base.sim.iteration_overhead_s;
        let tp = cost
            .step_cost(&BatchShape { prefills: vec![PrefillChunk { tokens: isl as u64, prefix: 0, last: true }], ..Default::default() })?
            .total_s
            + over;
        let td = cost
            .step_cost(&BatchShape { decode_seqs: b, decode_ctx_sum: b * (isl as u64 + osl as u64 / 2), ..Default::default() })?
            .total_s
            + over;
        let replicas = (d.budget / d.first.gpus) as f64;
        let rate = replicas * b as f64 / (b as f64 * tp + osl as f64 * td);
        if rate.is_finite() {
            best = best.max(rate);
        }
    }
    Ok(best)
}

/// The workload of every level: `search.workload.trace`'s lengths when set, else
/// `workload.synthetic`'s when the config sets them, else fixed `isl` and `osl`. With a trace or
/// distributions, `isl` and `osl` become the mean lengths (rounded up) for the memory pruning
/// and the capacity estimate. Returns the meta and the shape (with the trace's lengths read).
fn workload_meta(exp: &Experiment) -> Result<(MetaWorkload, Shape)> {
    let w = &exp.search.workload;
    let ceil = |x: f64| x.ceil().clamp(1.0, u32::MAX as f64) as u32;
    let (mut isl, mut osl, mut lengths) = (w.isl, w.osl, None);
    let mut trace = None;
    let mut trace_lengths = None;
    if let Some(t) = &w.trace {
        if exp.workload.synthetic.is_some() {
            return Err(bad(exp, "key `search.workload.trace`: the config's `workload.synthetic` sets the lengths too; drop one of them"));
        }
        let p = Path::new(t);
        let path = match &exp.base_dir {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.to_path_buf(),
        };
        let reqs = crate::workload::trace::read(&path)?;
        let used: Vec<(u32, u32)> = reqs.iter().take(w.requests as usize).map(|r| (r.prompt_tokens, r.output_tokens)).collect();
        if used.is_empty() {
            return Err(Error::input(path.display().to_string(), "no requests: the search needs at least one"));
        }
        let n = used.len() as f64;
        isl = ceil(used.iter().map(|l| l.0 as f64).sum::<f64>() / n);
        osl = ceil(used.iter().map(|l| l.1 as f64).sum::<f64>() / n);
        trace = Some(std::path::absolute(&path).unwrap_or(path).display().to_string());
        trace_lengths = Some(reqs.iter().map(|r| (r.prompt_tokens, r.output_tokens)).collect::<Vec<_>>());
    } else if let Some(syn) = &exp.workload.synthetic {
        isl = ceil(syn.input_tokens.nominal_mean());
        osl = ceil(syn.output_tokens.nominal_mean());
        lengths = Some([syn.input_tokens.into(), syn.output_tokens.into()]);
    }
    let arrivals = if w.concurrency.is_empty() {
        "poisson request rate".to_string()
    } else {
        format!("closed loop (clients over the budget, think time {} s)", crate::output::fmt_f64(w.think_time_s))
    };
    let shape = if trace.is_some() {
        "lengths from a trace"
    } else if lengths.is_some() {
        "lengths from workload.synthetic"
    } else {
        "fixed lengths"
    };
    let meta = MetaWorkload {
        isl,
        osl,
        requests: w.requests,
        seed: w.seed,
        load: format!("{arrivals}, {shape}"),
        lengths,
        think_time_s: if w.concurrency.is_empty() { 0.0 } else { w.think_time_s },
        trace,
    };
    let mut shape = meta.shape_without_trace();
    shape.trace = trace_lengths;
    Ok((meta, shape))
}

/// The space of one base experiment (one engine profile), and whether the KV dtype is searched.
fn enumerate_base(exp: &Experiment, budgets: &[u32], w: &SearchWorkload) -> Result<(Space, bool)> {
    validate(exp)?;
    let cfg = &exp.search;
    let device = crate::devices::resolve(&exp.pool.device, exp.base_dir.as_deref())?;
    // The model under each KV dtype.
    let kv_set = !cfg.kv_dtypes.is_empty();
    let mut kv_dtypes = Vec::new();
    let mut infos: Vec<ModelInfo> = Vec::new();
    if kv_set {
        for k in &cfg.kv_dtypes {
            let mut e = exp.clone();
            match e.model.params.as_object_mut() {
                Some(m) => {
                    m.insert("kv_dtype".into(), serde_json::Value::String(k.clone()));
                }
                None => e.model.params = serde_json::json!({ "kv_dtype": k }),
            }
            let m = assemble::build_model(&e)?;
            kv_dtypes.push((m.info().kv_dtype.name().to_string(), true));
            infos.push(m.info().clone());
        }
    } else {
        let m = assemble::build_model(exp)?;
        kv_dtypes.push((m.info().kv_dtype.name().to_string(), false));
        infos.push(m.info().clone());
    }
    let b = &cfg.batching;
    let pick = |v: &Vec<u32>, d: u32| if v.is_empty() { vec![d] } else { v.clone() };
    let policies = if b.policies.is_empty() { vec![exp.pool.batching.name.clone()] } else { b.policies.clone() };
    for p in &policies {
        crate::registry::find(reallm_plugin_api::PluginKind::Batching, p)?;
    }
    let mut batchings = Vec::new();
    for p in &policies {
        for s in pick(&b.max_batch_seqs, exp.pool.limits.max_batch_seqs) {
            for t in pick(&b.max_batch_tokens, exp.pool.limits.max_batch_tokens) {
                for c in pick(&b.chunk_tokens, exp.pool.limits.chunk_tokens) {
                    batchings.push(BatchChoice { policy: p.clone(), max_batch_seqs: s, max_batch_tokens: t, chunk_tokens: c });
                }
            }
        }
    }
    let space = space::enumerate(&SpaceInputs {
        base: exp,
        cfg,
        budgets,
        infos: &infos,
        kv_dtypes: &kv_dtypes,
        batchings: &batchings,
        device_key: &device.key,
        capacity_bytes: device.spec.mem_capacity_bytes,
        devices_per_node: device.spec.interconnect.devices_per_node,
        need_tokens: ((w.isl + w.osl) as u64, w.isl as u64 + 1),
    })?;
    Ok((space, kv_set))
}

/// The base experiments of a search: `exp` itself, or with engine profiles as an axis
/// (`search.engines`), `exp` loaded once per engine by `load` (the config with `engine=NAME`).
pub fn engine_bases(exp: &Experiment, load: &dyn Fn(&str) -> Result<Experiment>) -> Result<Vec<Experiment>> {
    let mut names = exp.search.engines.clone();
    names.dedup();
    if names.is_empty() {
        return Ok(vec![exp.clone()]);
    }
    let mut seen = BTreeSet::new();
    names.into_iter().filter(|n| seen.insert(n.clone())).map(|n| load(&n)).collect()
}

#[cfg(test)]
fn prepare(exp: &Experiment, shard: Option<(usize, usize)>) -> Result<Prepared> {
    prepare_bases(std::slice::from_ref(exp), shard)
}

fn prepare_bases(bases: &[Experiment], shard: Option<(usize, usize)>) -> Result<Prepared> {
    let exp = bases.first().ok_or_else(|| Error::Internal("search: no base experiment".into()))?;
    validate(exp)?;
    let cfg = &exp.search;
    let (wm, shape) = workload_meta(exp)?;
    let w = &SearchWorkload { isl: wm.isl, osl: wm.osl, ..cfg.workload.clone() };
    let budgets: Vec<u32> = if cfg.gpus.is_empty() {
        vec![exp.pools().map(|p| p.num_devices * p.replicas).sum()]
    } else {
        let mut b = cfg.gpus.clone();
        b.sort_unstable();
        b.dedup();
        b
    };
    // One space per base (engine), joined in base order.
    let mut space = Space { deployments: vec![], counts: Default::default(), reasons: BTreeMap::new() };
    let mut kv_set = false;
    let mut base_of = BTreeMap::new();
    for (bi, b) in bases.iter().enumerate() {
        let (sp, k) = enumerate_base(b, &budgets, w)?;
        kv_set = k;
        let name = b.engine.as_ref().map(|e| e.name.clone()).unwrap_or_default();
        base_of.insert(name.clone(), bi);
        space.deployments.extend(sp.deployments);
        let (c, n) = (&mut space.counts, &sp.counts);
        (c.deployments, c.invalid, c.pruned_memory, c.valid) =
            (c.deployments + n.deployments, c.invalid + n.invalid, c.pruned_memory + n.pruned_memory, c.valid + n.valid);
        for (r, k) in sp.reasons {
            let r = if bases.len() > 1 { format!("{name}: {r}") } else { r };
            *space.reasons.entry(r).or_default() += k;
        }
    }
    let base = |d: &Deployment| &bases[base_of.get(&d.engine).copied().unwrap_or(0)];
    // Load levels per budget.
    let mut levels = BTreeMap::new();
    let mut rates_of = BTreeMap::new();
    let mut capacity = BTreeMap::new();
    for &budget in &budgets {
        if !w.concurrency.is_empty() {
            let mut cs = w.concurrency.clone();
            cs.sort_unstable();
            cs.dedup();
            let ls = cs.iter().map(|&c| Level::new(Load::Concurrency(c), &shape)).collect::<Result<Vec<_>>>()?;
            rates_of.insert(budget, cs.iter().map(|&c| c as f64).collect());
            levels.insert(budget, ls);
            continue;
        }
        let rates = if !w.rates.is_empty() {
            let mut r = w.rates.clone();
            r.sort_by(f64::total_cmp);
            r.dedup();
            r
        } else {
            let ds: Vec<&Deployment> = space.deployments.iter().filter(|d| d.budget == budget).collect();
            if ds.is_empty() {
                vec![]
            } else {
                let c = estimate_capacity(&base, &ds, w.isl, w.osl)?;
                if !(c > 0.0) {
                    return Err(Error::Infeasible(format!("search: no capacity estimate for {budget} GPUs; give search.workload.rates")));
                }
                capacity.insert(budget, load::round_sig(c, 4));
                load::geometric_rates(w.min_load * c, w.max_load * c, w.levels)
            }
        };
        let ls = rates.iter().map(|&r| Level::new(Load::Rate(r), &shape)).collect::<Result<Vec<_>>>()?;
        rates_of.insert(budget, rates);
        levels.insert(budget, ls);
    }
    let simulations: u64 = space.deployments.iter().map(|d| levels[&d.budget].len() as u64).sum();
    // Everything that decides the rows, for resume and merge checks.
    let canon: Vec<Experiment> = bases
        .iter()
        .map(|b| {
            let mut c = b.clone();
            c.origin = String::new();
            c.base_dir = None;
            c.workspace = None;
            c.output_dir = None;
            c.name = None;
            c
        })
        .collect();
    let canon = if canon.len() == 1 { format!("{:?}", canon[0]) } else { format!("{canon:?}") };
    let trace_hash = shape.trace.as_ref().map(|_| fnv_hex(&format!("{:?}", shape.lengths()))).unwrap_or_default();
    let fingerprint =
        fnv_hex(&format!("reallm search v1|{canon}|{rates_of:?}|{}|{:?}|{trace_hash}", space.deployments.len(), space.counts));
    let c = &space.counts;
    let meta = Meta {
        format: "reallm search v1".into(),
        fingerprint,
        shard: shard.map(|(i, n)| [i, n]),
        counts: MetaCounts { deployments: c.deployments, invalid: c.invalid, pruned_memory: c.pruned_memory, valid: c.valid, simulations },
        reasons: space.reasons.clone(),
        simulated: 0,
        failed: vec![],
        levels: rates_of,
        rates_from: if !w.concurrency.is_empty() {
            "given concurrency".into()
        } else if w.rates.is_empty() {
            format!("auto: {} levels from {} to {} × the capacity estimate", w.levels, w.min_load, w.max_load)
        } else {
            "given".into()
        },
        capacity_estimate_req_s: capacity,
        workload: wm,
        slo: exp.slo,
        slo_percentile: cfg.slo_percentile,
        template: template(exp, kv_set)?,
        engine_templates: if exp.search.engines.is_empty() {
            BTreeMap::new()
        } else {
            bases
                .iter()
                .map(|b| Ok((b.engine.as_ref().map(|e| e.name.clone()).unwrap_or_default(), template(b, kv_set)?)))
                .collect::<Result<_>>()?
        },
        frontier_points: 0,
        frontier_slo_points: 0,
        best: None,
    };
    Ok(Prepared { space, levels, meta })
}

/// Simulate deployment `index` at every level of its budget, on pools built once.
pub fn run_deployment(base: &Experiment, index: usize, d: &Deployment, levels: &[Level]) -> Result<Vec<Row>> {
    let exp = d.experiment(base);
    let mut pools: Vec<Pool> = assemble::build_pools(&exp)?;
    let devices: u64 = pools.iter().map(|p| p.spec.replicas as u64 * p.cost.plan.devices as u64).sum();
    let transfer = assemble::kv_transfer(&exp);
    let mut rows = Vec::with_capacity(levels.len());
    let start = std::time::Instant::now();
    for (li, level) in levels.iter().enumerate() {
        if crate::sweep::INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Error::Interrupted);
        }
        let mut sink = metrics::LevelSink::new(exp.slo);
        let opts = SimOptions { end_time_s: exp.sim.end_time_s, seed: exp.sim.seed, keep_iterations: Some(0), ..SimOptions::default() };
        let mut wl = level.workload();
        let outcome = reallm_sim::simulate(&mut pools, transfer, &mut wl, &mut sink, &mut NoObserver, opts)?;
        let stats = sink.finish(&outcome, devices);
        rows.push(output::make_row(index, li, d, level.load, &stats, &pools));
        log::debug!(
            "search: deployment {index} level {li}: {} iterations, {:.3} s so far",
            outcome.totals.count,
            start.elapsed().as_secs_f64()
        );
    }
    log::info!("search: deployment {index} ({}) simulated in {:.3} s", d.label(), start.elapsed().as_secs_f64());
    Ok(rows)
}

fn partial_path(out: &Path) -> PathBuf {
    out.join("search.csv.partial")
}

/// Rows already in `out` (final CSV and partial), keeping only deployments with every level.
fn done_rows(out: &Path, levels_of: &dyn Fn(usize) -> usize) -> Result<BTreeMap<(usize, usize), Row>> {
    let mut all = BTreeMap::new();
    for p in [out.join("search.csv"), partial_path(out)] {
        for r in output::read_rows(&p)? {
            all.insert((r.deployment, r.level), r);
        }
    }
    let mut per: BTreeMap<usize, usize> = BTreeMap::new();
    for k in all.keys() {
        *per.entry(k.0).or_default() += 1;
    }
    all.retain(|k, _| per[&k.0] == levels_of(k.0));
    Ok(all)
}

/// Run a search (or the shard of one) into `opts.out`.
pub fn run(exp: &Experiment, opts: &RunOpts) -> Result<Report> {
    run_bases(std::slice::from_ref(exp), opts)
}

/// Run a search over several base experiments (engine profiles as an axis, [`engine_bases`]).
pub fn run_bases(bases: &[Experiment], opts: &RunOpts) -> Result<Report> {
    let prep = prepare_bases(bases, opts.shard)?;
    let base_of: BTreeMap<String, &Experiment> =
        bases.iter().map(|b| (b.engine.as_ref().map(|e| e.name.clone()).unwrap_or_default(), b)).collect();
    let exp = &bases[0];
    let base = |d: &Deployment| base_of.get(&d.engine).copied().unwrap_or(exp);
    let out = &opts.out;
    let meta_path = out.join("search.json");
    if let Some(old) = output::read_meta(&meta_path)? {
        if old.fingerprint != prep.meta.fingerprint {
            return Err(Error::input(
                meta_path.display().to_string(),
                "this folder holds another search (its config, space or load levels differ); use another --out or delete it",
            ));
        }
    }
    let mine: Vec<usize> = (0..prep.space.deployments.len()).filter(|i| opts.shard.is_none_or(|(s, n)| i % n == s)).collect();
    if opts.dry_run {
        return Ok(Report {
            meta: prep.meta,
            mine: mine.len(),
            ran: 0,
            skipped: 0,
            rows: vec![],
            marks: vec![],
            interrupted: false,
            best_yaml: None,
        });
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    // The meta goes first, so that a rerun into this folder is checked against it.
    write_meta_if_new(&meta_path, &prep.meta)?;
    let levels_of = |i: usize| prep.space.deployments.get(i).map_or(usize::MAX, |d| prep.levels[&d.budget].len());
    let mut done = done_rows(out, &levels_of)?;
    let done_deps: BTreeSet<usize> = done.keys().map(|k| k.0).collect();
    done.retain(|k, _| mine.contains(&k.0));
    let mut todo: Vec<usize> = mine.iter().copied().filter(|i| !done_deps.contains(i)).collect();
    let skipped = mine.len() - todo.len();
    // Longest first (a replica that holds few requests runs many small iterations), handed out
    // one deployment at a time, so that no thread is left with a long one at the end. Rows are
    // keyed by deployment: the order does not change the output.
    todo.sort_by_key(|&i| (prep.space.deployments[i].kv_tokens, i));
    let _ = ctrlc::set_handler(|| crate::sweep::INTERRUPTED.store(true, Ordering::SeqCst));
    let partial = partial_path(out);
    let sink = Mutex::new((
        std::fs::OpenOptions::new().create(true).append(true).open(&partial).map_err(|e| Error::io(&partial, e))?,
        Vec::<Row>::new(),
        Vec::<output::Failure>::new(),
    ));
    {
        let mut g = sink.lock().expect("not poisoned");
        if g.0.metadata().map(|m| m.len() == 0).unwrap_or(true) {
            writeln!(g.0, "{}", output::data_header()).map_err(|e| Error::io(&partial, e))?;
        }
    }
    let threads =
        rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.unwrap_or(0)).build().map_err(|e| Error::Internal(e.to_string()))?;
    let total = todo.len();
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let show = !crate::report::progress::quiet();
    let one = |i: usize| -> Result<()> {
        let d = &prep.space.deployments[i];
        let r = run_deployment(base(d), i, d, &prep.levels[&d.budget]);
        let mut g = sink.lock().expect("not poisoned");
        match r {
            Ok(rows) => {
                let text: String = rows.iter().map(|r| output::data_line(r) + "\n").collect();
                g.0.write_all(text.as_bytes()).and_then(|_| g.0.flush()).map_err(|e| Error::io(&partial, e))?;
                g.1.extend(rows);
            }
            Err(Error::Interrupted) => {}
            Err(e) => {
                log::warn!("search: deployment {i} ({}) failed: {e}", d.label());
                g.2.push(output::Failure { deployment: i, label: d.label(), error: e.to_string() });
            }
        }
        let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
        if show && (n.is_multiple_of(10) || n == total) {
            eprint!("\rsearch: {n}/{total} deployments simulated");
            if n == total {
                eprintln!();
            }
        }
        Ok(())
    };
    let results: Vec<Result<()>> = threads.install(|| {
        (0..rayon::current_num_threads())
            .into_par_iter()
            .map(|_| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= total || crate::sweep::INTERRUPTED.load(Ordering::SeqCst) {
                    return Ok(());
                }
                one(todo[k])?;
            })
            .collect()
    });
    let (_, new_rows, mut failed) = sink.into_inner().expect("not poisoned");
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }
    let ran = new_rows.iter().map(|r| r.deployment).collect::<BTreeSet<_>>().len();
    for r in new_rows {
        done.insert((r.deployment, r.level), r);
    }
    let interrupted = crate::sweep::INTERRUPTED.load(Ordering::SeqCst);
    let rows: Vec<Row> = done.into_values().collect();
    if interrupted {
        return Ok(Report { meta: prep.meta, mine: mine.len(), ran, skipped, rows, marks: vec![], interrupted, best_yaml: None });
    }
    failed.sort_by_key(|f| f.deployment);
    let mut meta = prep.meta;
    meta.failed = failed;
    let (marks, best_yaml) = finish(out, &mut meta, &rows)?;
    let _ = std::fs::remove_file(&partial);
    Ok(Report { meta, mine: mine.len(), ran, skipped, rows, marks, interrupted, best_yaml })
}

fn write_meta_if_new(path: &Path, meta: &Meta) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    output::write_meta(path, meta)
}

/// Write the final files of a complete set of rows (sorted by key): marks, CSV, picture,
/// winner, meta. Returns the marks and the winner's config.
fn finish(out: &Path, meta: &mut Meta, rows: &[Row]) -> Result<(Vec<[bool; 4]>, Option<String>)> {
    let marks = output::marks(rows, meta.slo_percentile);
    output::write_csv(&out.join("search.csv"), rows, &marks)?;
    let levels: usize = meta.levels.values().map(Vec::len).max().unwrap_or(1).max(1);
    meta.simulated = rows.iter().map(|r| r.deployment).collect::<BTreeSet<_>>().len() as u64;
    meta.frontier_points = marks.iter().filter(|m| m[1]).count() as u64;
    meta.frontier_slo_points = marks.iter().filter(|m| m[2]).count() as u64;
    let budgets: Vec<String> = meta.levels.keys().map(|b| b.to_string()).collect();
    let title = format!(
        "{} on {} × {} GPUs: {} deployments × {} loads",
        meta.template["model"]["name"].as_str().unwrap_or("model"),
        budgets.join("/"),
        meta.template["device"].as_str().unwrap_or("device"),
        meta.simulated,
        levels
    );
    write_atomic(&out.join("pareto.svg"), output::render_pareto(rows, &marks, &title)?.as_bytes())?;
    meta.best = None;
    let mut best_yaml = None;
    if let Some(i) = marks.iter().position(|m| m[3]) {
        let r = &rows[i];
        let kv_set = meta.template["kv_set"].as_bool().unwrap_or(false);
        let d = r.parse_deployment(kv_set).map_err(|m| Error::input(out.join("search.csv").display().to_string(), m))?;
        let w = &meta.workload;
        let load = r.load();
        let level = Level::new(load, &w.shape()?)?;
        crate::workload::trace::write_rr(&out.join("best_trace.csv"), &level.requests(), 0)?;
        let lengths = if w.lengths.is_some() || w.trace.is_some() {
            format!("prompts of {} and outputs of {} tokens on average", w.isl, w.osl)
        } else {
            format!("{}-token prompts and {}-token outputs", w.isl, w.osl)
        };
        let (what, workload) = match load {
            Load::Rate(rate) => {
                (format!("{} req/s of {lengths}", crate::output::fmt_f64(rate)), serde_json::json!({ "traces": ["best_trace.csv"] }))
            }
            Load::Concurrency(c) => (
                format!("{c} clients in a closed loop, {lengths}"),
                serde_json::json!({ "traces": ["best_trace.csv"], "concurrency": [c], "think_time_s": w.think_time_s }),
            ),
        };
        let header = format!(
            "Written by `reallm search`: the deployment with the highest goodput per GPU that meets the SLO\n\
             ({}% of requests within every target) among {} simulated deployments, at its load level\n\
             ({what}, in best_trace.csv beside this file).\n\
             Deployment: {}. Run it: reallm -c best.yaml sim",
            meta.slo_percentile,
            meta.simulated,
            d.label()
        );
        let t = meta.engine_templates.get(&d.engine).unwrap_or(&meta.template);
        let text = output::best_config(t, &d, workload, &header);
        write_atomic(&out.join("best.yaml"), text.as_bytes())?;
        meta.best = Some(output::BestInfo {
            deployment: r.deployment,
            level: r.level,
            label: d.label(),
            rate_req_s: match load {
                Load::Rate(x) => Some(x),
                Load::Concurrency(_) => None,
            },
            concurrency: match load {
                Load::Concurrency(c) => Some(c),
                Load::Rate(_) => None,
            },
            goodput_req_s_per_gpu: r.goodput_per_gpu(),
            output_tok_s_per_gpu: r.throughput_per_gpu(),
            tok_s_per_user: r.tok_s_per_user(),
            slo_attainment: r.get("slo_attainment").parse().unwrap_or(f64::NAN),
        });
        best_yaml = Some(text);
    } else {
        for f in ["best.yaml", "best_trace.csv"] {
            let _ = std::fs::remove_file(out.join(f));
        }
    }
    output::write_meta(&out.join("search.json"), meta)?;
    Ok((marks, best_yaml))
}

/// Merge search folders (shards of one search) into `out`: rows joined (duplicates dropped),
/// the frontier and the winner recomputed over all of them.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Report> {
    let mut meta: Option<Meta> = None;
    let mut rows = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for dir in inputs {
        let mp = dir.join("search.json");
        let m =
            output::read_meta(&mp)?.ok_or_else(|| Error::input(dir.display().to_string(), "no search.json: not a search output folder"))?;
        if let Some(first) = &meta {
            if first.fingerprint != m.fingerprint {
                return Err(Error::input(mp.display().to_string(), "belongs to another search (fingerprints differ)"));
            }
        }
        for p in [dir.join("search.csv"), partial_path(dir)] {
            for r in output::read_rows(&p)? {
                rows.insert((r.deployment, r.level), r);
            }
        }
        for f in &m.failed {
            failed.insert(f.deployment, f.clone());
        }
        meta.get_or_insert(m);
    }
    let mut meta = meta.ok_or_else(|| Error::Usage("search merge: give at least one folder".into()))?;
    let rows: Vec<Row> = rows.into_values().collect();
    let have: BTreeSet<usize> = rows.iter().map(|r| r.deployment).collect();
    meta.failed = failed.into_values().filter(|f| !have.contains(&f.deployment)).collect();
    meta.shard = None;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (marks, best_yaml) = finish(out, &mut meta, &rows)?;
    let n = meta.simulated as usize;
    Ok(Report { meta, mine: n, ran: 0, skipped: n, rows, marks, interrupted: false, best_yaml })
}

/// `1.23s`, `45ms`, `120µs`.
fn short_duration(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2}s")
    } else if s >= 1e-3 {
        format!("{:.0}ms", s * 1e3)
    } else {
        format!("{:.0}µs", s * 1e6)
    }
}

/// A load level in the report's table: `2.5` (req/s) or `c=8` (clients).
fn load_text(l: Load) -> String {
    match l {
        Load::Rate(r) => crate::output::fmt_f64(r),
        Load::Concurrency(c) => format!("c={c}"),
    }
}

/// A short text of a finished search: counts, the frontier, the winner.
pub fn format_report(r: &Report, out: &Path) -> String {
    let m = &r.meta;
    let c = &m.counts;
    let mut s = format!(
        "search: {} deployments enumerated: {} invalid for the model, {} do not fit memory, {} valid ({} simulations)\n",
        c.deployments, c.invalid, c.pruned_memory, c.valid, c.simulations
    );
    if !m.reasons.is_empty() {
        s.push_str("  plans rejected or pruned (plans × reason):\n");
    }
    for (reason, n) in &m.reasons {
        s.push_str(&format!("  {n:>5} × {reason}\n"));
    }
    for (b, rates) in &m.levels {
        let cap = m.capacity_estimate_req_s.get(b).map(|c| format!(" (capacity estimate {c} req/s)")).unwrap_or_default();
        let rs: Vec<String> = rates.iter().map(|x| crate::output::fmt_f64(*x)).collect();
        let unit = if m.rates_from.contains("concurrency") { "clients" } else { "req/s" };
        s.push_str(&format!("  {b} GPUs: load levels {} {unit}{cap}\n", rs.join(", ")));
    }
    if r.rows.is_empty() {
        return s;
    }
    if !m.failed.is_empty() {
        s.push_str(&format!("  {} deployments failed to simulate (see search.json)\n", m.failed.len()));
    }
    let mut front: Vec<usize> = (0..r.rows.len()).filter(|&i| r.marks.get(i).is_some_and(|k| k[1])).collect();
    front.sort_by(|&a, &b| r.rows[a].tok_s_per_user().total_cmp(&r.rows[b].tok_s_per_user()));
    s.push_str(&format!("Pareto frontier ({} points; ✓ = meets the SLO):\n", front.len()));
    s.push_str(&format!(
        "  {:>10} {:>10} {:>8} {:>9} {:>9}  {}\n",
        "tok/s/user", "tok/s/GPU", "load", "TTFT p90", "TPOT p90", "deployment"
    ));
    for &i in front.iter().take(40) {
        let row = &r.rows[i];
        let ms = |k: &str| row.get(k).parse::<f64>().map(short_duration).unwrap_or_default();
        s.push_str(&format!(
            "  {:>10.1} {:>10.1} {:>8} {:>9} {:>9}  {}{} [{}, kv {}]\n",
            row.tok_s_per_user(),
            row.throughput_per_gpu(),
            load_text(row.load()),
            ms("ttft_p90_s"),
            ms("tpot_p90_s"),
            if r.marks[i][0] { "✓ " } else { "  " },
            row.label(),
            row.get("batching"),
            row.get("kv_dtype"),
        ));
    }
    match &m.best {
        Some(b) => s.push_str(&format!(
            "best under the SLO: {} at {}: {:.4} good req/s per GPU, {:.1} tok/s/GPU, {:.1} tok/s/user\n",
            b.label,
            match (b.rate_req_s, b.concurrency) {
                (_, Some(c)) => format!("{c} clients"),
                (r, None) => format!("{} req/s", r.map(crate::output::fmt_f64).unwrap_or_default()),
            },
            b.goodput_req_s_per_gpu,
            b.output_tok_s_per_gpu,
            b.tok_s_per_user
        )),
        None => s.push_str("no deployment meets the SLO at any load level\n"),
    }
    s.push_str(&format!(
        "wrote {}/search.csv, pareto.svg, search.json{}\n",
        out.display(),
        if m.best.is_some() { ", best.yaml, best_trace.csv" } else { "" }
    ));
    s
}

#[cfg(test)]
mod tests;
