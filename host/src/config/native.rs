//! ReaLLM's own config form (a plugin named for each slot), resolved into an [`Experiment`].

use super::schema::*;
use super::*;
use crate::error::{Error, Result};
use std::path::Path;

pub(super) fn parse_plan(s: &PlanRef, key: &str, origin: &str) -> Result<Degrees> {
    match s {
        PlanRef::Text(t) => Degrees::parse(t).map_err(|m| Error::config(origin, format!("key `{key}`: {m}"))),
        PlanRef::Map(d) => Ok(*d),
    }
}

pub(super) fn parse_algo(s: Option<&str>, key: &str, origin: &str) -> Result<CommAlgo> {
    match s {
        None => Ok(CommAlgo::Auto),
        Some(t) => CommAlgo::parse(t).ok_or_else(|| {
            Error::config(origin, format!("key `{key}`: unknown algorithm `{t}`; expected auto, ring, ring2d or multishot"))
        }),
    }
}

/// Resolve a model's `hf_config` path against the config file's folder.
pub(super) fn resolve_model_paths(mut m: ModelSel, base_dir: Option<&Path>) -> ModelSel {
    if let (Some(base), Some(p)) = (base_dir, m.params.get("hf_config").and_then(|v| v.as_str()).map(str::to_string)) {
        let path = Path::new(&p);
        if path.is_relative() && !path.exists() && base.join(path).exists() {
            m.params["hf_config"] = Value::String(base.join(path).display().to_string());
        }
    }
    m
}

pub(super) fn model_from_ref(m: ModelRef) -> ModelSel {
    match m {
        ModelRef::Name(n) => ModelSel { plugin: None, label: n.clone(), params: serde_json::json!({ "preset": n }) },
        ModelRef::Full(f) => {
            let label = f
                .name
                .clone()
                .or_else(|| f.params.get("preset").and_then(|p| p.as_str()).map(str::to_string))
                .unwrap_or_else(|| f.plugin.clone());
            ModelSel { plugin: Some(f.plugin), label, params: f.params }
        }
    }
}

fn pool_from_product(sys: ProductSystem, role: Role, key: &str, origin: &str) -> Result<PoolConfig> {
    let n = sys.num_devices;
    let attention = match &sys.parallelism.attention {
        Some(p) => parse_plan(p, &format!("{key}.parallelism.attention"), origin)?,
        None => Degrees { tp: n.max(1), ..Degrees::default() },
    };
    let ffn = match &sys.parallelism.ffn {
        Some(p) => parse_plan(p, &format!("{key}.parallelism.ffn"), origin)?,
        None => attention,
    };
    let comm_algo = parse_algo(sys.parallelism.io_algo.as_deref(), &format!("{key}.parallelism.io_algo"), origin)?;
    let router = parse_router(sys.router.as_deref(), &format!("{key}.router"), origin)?;
    let b = &sys.batching;
    Ok(PoolConfig {
        role,
        replicas: sys.replicas,
        router,
        device: sys.device,
        num_devices: n,
        attention,
        ffn,
        sequence_parallel: sys.parallelism.sequence_parallel,
        comm_algo,
        batching: PluginSel { name: b.policy.clone(), params: b.params.clone() },
        limits: Limits { max_batch_seqs: b.max_batch_seqs, max_batch_tokens: b.max_batch_tokens, chunk_tokens: b.chunk_tokens },
        memory: sys.memory,
    })
}

fn parse_router(s: Option<&str>, key: &str, origin: &str) -> Result<Router> {
    match s {
        None => Ok(Router::RoundRobin),
        Some(t) => Router::parse(t).ok_or_else(|| {
            Error::config(origin, format!("key `{key}`: unknown router `{t}`; expected round_robin, least_outstanding, least_kv or random"))
        }),
    }
}

pub(super) fn from_product(f: ProductFile, origin: &str, base_dir: Option<PathBuf>) -> Result<Experiment> {
    let (pool, decode_pool, kv_transfer) = match (f.system, f.disaggregated) {
        (Some(sys), None) => (pool_from_product(sys, Role::Colocated, "system", origin)?, None, KvTransferConfig::default()),
        (None, Some(d)) => {
            let kt = KvTransferConfig { bandwidth_bytes_per_s: d.kv_transfer.bandwidth_bytes_per_s, latency_s: d.kv_transfer.latency_s, layerwise_overlap: d.kv_transfer.layerwise_overlap };
            (pool_from_product(d.prefill, Role::Prefill, "disaggregated.prefill", origin)?, Some(pool_from_product(d.decode, Role::Decode, "disaggregated.decode", origin)?), kt)
        }
        (Some(_), Some(_)) => return Err(Error::config(origin, "both `system` and `disaggregated` given; use `system` for a colocated system or `disaggregated` for separate prefill and decode pools")),
        (None, None) => return Err(Error::config(origin, "missing key `system` (or `disaggregated` with `prefill` and `decode` pools)")),
    };
    let backend = f.backend.unwrap_or(PluginRef::Name("roofline".into()));
    let wl = f.workload;
    let rel = |p: &str| base_dir.as_ref().map(|b| b.join(p)).unwrap_or_else(|| PathBuf::from(p));
    Ok(Experiment {
        origin: origin.to_string(),
        form: Form::Product,
        base_dir: base_dir.clone(),
        name: f.name,
        model: crate::model_import::resolve_model_path(
            resolve_model_paths(model_from_ref(f.model), base_dir.as_deref()),
            base_dir.as_deref(),
        )?,
        backend: PluginSel { name: backend.name().to_string(), params: backend.params() },
        pool,
        decode_pool,
        kv_transfer,
        trace_gen: TraceGenConfig {
            tasks: wl.tasks.clone(),
            request_rates: wl.request_rates.clone(),
            max_requests: wl.max_requests,
            end_time_s: wl.end_time_s,
            seed: wl.seed,
        },
        workload: SimWorkload { traces: wl.traces, tasks: wl.tasks, request_rates: wl.request_rates, end_reqs: wl.end_reqs },
        kernel: KernelConfig {
            prefill_blocks: f.kernel.prefill_blocks,
            decode_ctx: f.kernel.decode_ctx,
            decode_batches: f.kernel.decode_batches,
            kernel_types: f.kernel.kernel_types,
            all_plans: f.kernel.all_plans,
        },
        sim: SimConfig {
            end_time_s: f.sim.end_time_s,
            iteration_overhead_s: f.sim.iteration_overhead_s,
            seed: f.sim.seed,
            cuda_graph_batch_sizes: {
                let mut v = f.sim.cuda_graph_batch_sizes.clone();
                v.sort_unstable();
                v.dedup();
                v
            },
        },
        slo: f.slo,
        workspace: f.workspace.map(PathBuf::from),
        plugin_dirs: f.plugin_dirs.iter().map(|p| rel(p)).collect(),
        output_dir: None,
        search: f.search,
    })
}
