//! Resolution of a configuration into the core's parts: one step from an [`Experiment`] to
//! built plugins and [`PoolSpec`]s, assembled into [`Pool`]s. The only place that turns
//! config types into core types.

use crate::config::schema::{AutoOr, MemoryRuleName};
use crate::config::{Experiment, PoolConfig};
use crate::devices::{self, Device};
use crate::error::{Error, Result};
use crate::registry;
use reallm_plugin_api::{ModelArch, ModelInfo, ParallelPlan};
use reallm_sim::cost::Pass;
use reallm_sim::{
    CostModel, Eviction, KvRouterSpec, KvTransferSpec, MemoryRule, MemorySpec, Pool, PoolParts, PoolSpec, Preemption, PrefixCacheSpec,
    TierSpec,
};

/// The parallelism passes in the order they are applied.
pub const PASS_ORDER: [&str; 5] = ["dp", "cp", "tp", "ep", "pp"];

/// Build the model plugin an experiment names.
pub fn build_model(exp: &Experiment) -> Result<Box<dyn ModelArch>> {
    let plugin = match &exp.model.plugin {
        Some(p) => p.clone(),
        None => registry::find_model_preset(&exp.model.label)?.name.clone(),
    };
    registry::model(&plugin, &exp.model.params)
}

/// The parallel plan of a pool on its device.
pub fn parallel_plan(pool: &PoolConfig, device: &Device) -> ParallelPlan {
    ParallelPlan {
        devices: pool.num_devices,
        attention: pool.attention,
        ffn: pool.ffn,
        sequence_parallel: pool.sequence_parallel,
        comm_algo: pool.comm_algo,
        devices_per_node: device.spec.interconnect.devices_per_node,
    }
}

/// The parallelism passes a plan needs, validated against the model; notes from validation
/// (e.g. replicated KV heads) are returned too. A plan the model rejects is a config error of
/// `origin`.
pub fn build_passes(info: &ModelInfo, plan: &ParallelPlan, origin: &str) -> Result<(Vec<Pass>, Vec<String>)> {
    let mut passes = Vec::new();
    let mut notes = Vec::new();
    for name in PASS_ORDER {
        let (a, f) = (&plan.attention, &plan.ffn);
        let on = match name {
            "dp" => a.dp > 1 || f.dp > 1,
            "cp" => a.cp > 1 || f.cp > 1,
            "tp" => a.tp > 1 || f.tp > 1,
            "ep" => f.ep > 1 || a.ep > 1,
            _ => a.pp > 1 || f.pp > 1,
        };
        if !on {
            continue;
        }
        let p = registry::parallelism(name, &serde_json::Value::Null)?;
        let n = p.validate(info, plan).map_err(|e| {
            Error::config(origin, format!("parallel plan attention `{}` / ffn `{}` for {}: {e}", plan.attention, plan.ffn, info.name))
        })?;
        notes.extend(n);
        passes.push((name.to_string(), p));
    }
    Ok((passes, notes))
}

/// The cost model of a pool: model, validated plan and backend on the pool's device.
pub fn build_cost_model(exp: &Experiment, pool: &PoolConfig, device: &Device) -> Result<(CostModel, Vec<String>)> {
    let model = build_model(exp)?;
    let plan = parallel_plan(pool, device);
    let (passes, notes) = build_passes(model.info(), &plan, &exp.origin)?;
    let backend = build_backend(exp, device)?;
    Ok((CostModel::new(model, plan, passes, backend, &exp.backend.name), notes))
}

/// Default bandwidth per device of the local SSD tier, bytes/s: one NVMe drive per GPU (DGX
/// H100: 8 × 3.84 TB U.2 NVMe data drives for 8 GPUs), about 7 GB/s sequential read each
/// (PCIe 4.0 ×4 enterprise drives such as Samsung PM1733).
pub const SSD_TIER_BYTES_PER_S: f64 = 7e9;
/// Default latency of an SSD-tier transfer, seconds (NVMe read latency, order 100 µs).
pub const SSD_TIER_LATENCY_S: f64 = 100e-6;

/// The core's spec of the prefix cache of a pool on `device`: host-tier bandwidth defaults to
/// the host link (`memory.host_link_bytes_per_s`), the cluster tier's to the device's
/// scale-out link.
pub fn prefix_cache_spec(pool: &PoolConfig, device: Option<&reallm_plugin_api::DeviceSpec>) -> PrefixCacheSpec {
    let m = &pool.memory;
    let pc = &m.prefix_cache;
    let gib = (1u64 << 30) as f64;
    let tier = |t: Option<crate::config::schema::TierConfig>, bw: f64, lat: f64| {
        t.map(|t| TierSpec {
            capacity_bytes: (t.capacity_gib * gib) as u64,
            bandwidth_bytes_per_s: t.bandwidth_bytes_per_s.unwrap_or(bw),
            latency_s: t.latency_s.unwrap_or(lat),
        })
    };
    let (so_bw, so_lat) = device.map_or((m.host_link_bytes_per_s, 0.0), |d| (d.scale_out.bw_per_device_bytes_per_s, d.scale_out.latency_s));
    PrefixCacheSpec {
        enabled: pc.enabled,
        block_tokens: pc.block_tokens.unwrap_or(0),
        eviction: Eviction::parse(&pc.eviction).unwrap_or_default(),
        host: tier(pc.host, m.host_link_bytes_per_s, 0.0),
        ssd: tier(pc.ssd, SSD_TIER_BYTES_PER_S, SSD_TIER_LATENCY_S),
        cluster: tier(pc.cluster, so_bw, so_lat),
        load_overlap: pc.load_overlap,
    }
}

/// The backend, with the engine profile's backend parameters (e.g. the all-reduce
/// implementation) added under the config's own when the backend accepts them: a backend that
/// rejects one of them is built without the profile's parameters.
fn build_backend(exp: &Experiment, device: &Device) -> Result<Box<dyn reallm_plugin_api::KernelBackend>> {
    let extra = exp.engine.as_ref().map(|e| &e.backend_params).filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    let Some(extra) = extra else {
        return registry::backend(&exp.backend.name, &exp.backend.params, &device.spec);
    };
    let mut params = exp.backend.params.clone();
    crate::engines::merge_defaults(&mut params, extra);
    match registry::backend(&exp.backend.name, &params, &device.spec) {
        Ok(b) => Ok(b),
        Err(e) => {
            let keys: Vec<&String> = extra.as_object().map(|m| m.keys().collect()).unwrap_or_default();
            let msg = e.to_string();
            if keys.iter().any(|k| msg.contains(k.as_str())) {
                log::info!("backend `{}` does not take the engine profile's parameters {extra}: built without them", exp.backend.name);
                registry::backend(&exp.backend.name, &exp.backend.params, &device.spec)
            } else {
                Err(e)
            }
        }
    }
}

/// The core's spec of a configured pool on `device` for a model described by `info`: `auto`
/// memory values are resolved from the engine profile's estimates (docs/engines.md).
pub fn pool_spec(exp: &Experiment, pool: &PoolConfig, device: &Device, info: &ModelInfo) -> Result<PoolSpec> {
    let m = &pool.memory;
    let gib = |x: f64| (x * (1u64 << 30) as f64) as u64;
    let tp = pool.attention.tp;
    let needs = |what: &str| {
        Error::config(&exp.origin, format!("key `memory.{what}` = auto needs an engine profile (`engine: vllm | sglang | trtllm`)"))
    };
    let usable_fraction = match m.usable_fraction {
        AutoOr::Value(f) => f,
        AutoOr::Auto => {
            exp.engine.as_ref().ok_or_else(|| needs("usable_fraction"))?;
            let chunk = if pool.limits.chunk_tokens > 0 { pool.limits.chunk_tokens } else { pool.limits.max_batch_tokens };
            let graph_max = exp.sim.cuda_graph_batch_sizes.last().copied().unwrap_or(0);
            crate::engines::sglang_mem_fraction(device.spec.mem_capacity_bytes, chunk, graph_max, tp, pool.attention.pp)
        }
    };
    let activation_reserve_bytes = match m.activation_reserve_gib {
        AutoOr::Value(g) => gib(g),
        AutoOr::Auto => {
            let e = exp.engine.as_ref().ok_or_else(|| needs("activation_reserve_gib"))?;
            crate::engines::activation_bytes(&e.estimates.activation, pool.limits.max_batch_tokens as u64, info.n_heads * info.head_dim, tp)
        }
    };
    let framework_reserve_bytes = match m.framework_reserve_gib {
        AutoOr::Value(g) => gib(g),
        AutoOr::Auto => {
            let e = exp.engine.as_ref().ok_or_else(|| needs("framework_reserve_gib"))?;
            crate::engines::framework_bytes(&e.estimates.framework, tp)
        }
    };
    Ok(PoolSpec {
        role: pool.role,
        replicas: pool.replicas,
        router: pool.router,
        limits: pool.limits,
        memory: MemorySpec {
            rule: match m.rule {
                MemoryRuleName::OfTotal => MemoryRule::FractionOfTotal,
                MemoryRuleName::OfFree => MemoryRule::FractionOfFree,
            },
            usable_fraction,
            block_tokens: m.block_tokens,
            watermark_fraction: m.watermark_fraction,
            activation_reserve_bytes,
            framework_reserve_bytes,
            preemption: match m.preemption {
                crate::config::schema::Preemption::Recompute => Preemption::Recompute,
                crate::config::schema::Preemption::Swap => Preemption::Swap,
            },
            host_link_bytes_per_s: m.host_link_bytes_per_s,
        },
        cuda_graph_batch_sizes: exp.sim.cuda_graph_batch_sizes.clone(),
        iteration_overhead_s: exp.sim.iteration_overhead_s,
        prefix_cache: prefix_cache_spec(pool, Some(&device.spec)),
        kv_router: KvRouterSpec {
            overlap_score_weight: pool.kv_router.overlap_score_weight,
            load_weight: pool.kv_router.load_weight,
            temperature: pool.kv_router.temperature,
        },
        session_affinity: pool.session_affinity,
    })
}

/// Build one pool of an experiment.
pub fn build_pool(exp: &Experiment, pool: &PoolConfig) -> Result<Pool> {
    let device = devices::resolve(&pool.device, exp.base_dir.as_deref())?;
    let (cost, notes) = build_cost_model(exp, pool, &device)?;
    for n in &notes {
        log::info!("{} pool: {n}", pool.role.name());
    }
    let policy = registry::batching(&pool.batching.name, &pool.batching.params)?;
    let spec = pool_spec(exp, pool, &device, &cost.info)?;
    Ok(Pool::new(PoolParts { spec, device_key: device.key, device: device.spec, cost, policy, policy_name: pool.batching.name.clone() })?)
}

/// Build every pool of an experiment, colocated/prefill first.
pub fn build_pools(exp: &Experiment) -> Result<Vec<Pool>> {
    exp.pools().map(|p| build_pool(exp, p)).collect()
}

/// The KV-transfer link of a disaggregated experiment.
pub fn kv_transfer(exp: &Experiment) -> KvTransferSpec {
    let k = &exp.kv_transfer;
    KvTransferSpec { bandwidth_bytes_per_s: k.bandwidth_bytes_per_s, latency_s: k.latency_s, layerwise_overlap: k.layerwise_overlap }
}
