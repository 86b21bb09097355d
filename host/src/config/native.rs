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
    if b.chunk_tokens == Some(0) && reallm_batching::uses_chunk_tokens(&b.policy) {
        return Err(Error::config(
            origin,
            format!(
                "key `{key}.batching.chunk_tokens` = 0: policy `{}` prefills in chunks of chunk_tokens; give at least 1 token, or leave the key out to chunk by the whole token budget (max_batch_tokens)",
                b.policy
            ),
        ));
    }
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
        limits: Limits {
            max_batch_seqs: b.max_batch_seqs,
            max_batch_tokens: b.max_batch_tokens,
            chunk_tokens: b.chunk_tokens.unwrap_or(0),
        },
        memory: sys.memory,
        kv_router: sys.kv_router,
        session_affinity: sys.session_affinity,
    })
}

fn parse_router(s: Option<&str>, key: &str, origin: &str) -> Result<Router> {
    match s {
        None => Ok(Router::RoundRobin),
        Some(t) => Router::parse(t).ok_or_else(|| {
            Error::config(
                origin,
                format!("key `{key}`: unknown router `{t}`; expected round_robin, least_outstanding, least_kv, random or kv_aware"),
            )
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
        workload: SimWorkload {
            traces: wl.traces,
            tasks: wl.tasks,
            request_rates: wl.request_rates,
            end_reqs: wl.end_reqs,
            concurrency: wl.concurrency,
            think_time_s: wl.think_time_s,
            duration_s: wl.duration_s,
            synthetic: wl.synthetic.as_ref().map(|s| synthetic(s, origin)).transpose()?,
            warmup_requests: wl.warmup_requests,
            time_scale: wl.time_scale,
            hash_block_tokens: wl.hash_block_tokens,
            system_prompt: wl.system_prompt,
            conversations: wl.conversations,
        },
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
        spec_decode: match f.spec_decode {
            Some(sd) => spec_decode(sd, origin, base_dir.as_deref())?,
            None => None,
        },
        engine: None,
        search: f.search,
    })
}

/// The largest length a synthetic distribution may produce (as for trace files).
const MAX_TOKENS: u64 = crate::workload::trace::MAX_TOKENS as u64;

/// `workload.synthetic` in the core's types; degenerate numbers are errors naming the key.
fn synthetic(s: &SyntheticFile, origin: &str) -> Result<SyntheticConfig> {
    let err = |key: &str, m: String| Error::config(origin, format!("key `workload.synthetic.{key}`: {m}"));
    if s.requests == 0 {
        return Err(err("requests", "0 requests; expected at least 1".into()));
    }
    if s.requests > crate::workload::trace::MAX_REQUESTS as u64 {
        return Err(err("requests", format!("{} requests is above the limit of {}", s.requests, crate::workload::trace::MAX_REQUESTS)));
    }
    let length = |key: &str, l: &LengthFile| -> Result<reallm_sim::LengthDist> {
        use reallm_sim::LengthDist as D;
        let tokens = |what: &str, v: u64| -> Result<u32> {
            if v > MAX_TOKENS {
                return Err(err(key, format!("{what} = {v} is above the limit of {MAX_TOKENS} tokens")));
            }
            Ok(v as u32)
        };
        let d = match l {
            LengthFile::Tokens(n) => D::Fixed(tokens("value", *n)?),
            LengthFile::Dist(f) => {
                let min = tokens("min", f.min.unwrap_or(1))?;
                let max = tokens("max", f.max.unwrap_or(MAX_TOKENS))?;
                let need = |what: &str, v: Option<f64>| {
                    v.ok_or_else(|| err(key, format!("`dist: {}` needs `{what}`", format!("{:?}", f.dist).to_lowercase())))
                };
                match f.dist {
                    DistKind::Fixed => {
                        let m = need("mean", f.mean)?;
                        if !(m >= 0.0 && m.fract() == 0.0 && m <= MAX_TOKENS as f64) {
                            return Err(err(key, format!("mean = {m}: a fixed length is a whole number of tokens")));
                        }
                        D::Fixed(m as u32)
                    }
                    DistKind::Uniform => {
                        if f.min.is_none() || f.max.is_none() {
                            return Err(err(key, "`dist: uniform` needs `min` and `max`".into()));
                        }
                        D::Uniform { min, max }
                    }
                    DistKind::Normal => D::Normal { mean: need("mean", f.mean)?, std: need("std", f.std)?, min, max },
                    DistKind::Lognormal => D::LogNormal { mean: need("mean", f.mean)?, std: need("std", f.std)?, min, max },
                }
            }
        };
        d.validate().map_err(|m| err(key, m))?;
        Ok(d)
    };
    Ok(SyntheticConfig {
        requests: s.requests,
        input_tokens: length("input_tokens", &s.input_tokens)?,
        output_tokens: length("output_tokens", &s.output_tokens)?,
    })
}

/// Resolve `spec_decode:` (defaults in docs/speculative.md). `method: none` turns it off (the
/// other keys are then ignored, so that a sweep can compare with and without).
fn spec_decode(f: SpecDecodeFile, origin: &str, base_dir: Option<&Path>) -> Result<Option<SpecDecodeConfig>> {
    use reallm_sim::spec_decode::{default_acceptance, default_k};
    use reallm_sim::{Acceptance, SpecDecodeSpec, SpecMethod};
    let err = |key: &str, m: String| Error::config(origin, format!("key `spec_decode.{key}`: {m}"));
    if matches!(f.method.to_ascii_lowercase().as_str(), "none" | "off") {
        return Ok(None);
    }
    let method = SpecMethod::parse(&f.method).ok_or_else(|| {
        let known: Vec<&str> = SpecMethod::ALL.iter().map(|m| m.name()).collect();
        err("method", format!("unknown method `{}`; expected none or one of {}", f.method, known.join(", ")))
    })?;
    let k = match f.num_speculative_tokens.or(default_k(method)) {
        Some(0) => return Err(err("num_speculative_tokens", "expected at least 1 draft token per step".into())),
        Some(k) if k > 64 => return Err(err("num_speculative_tokens", format!("{k} draft tokens per step; at most 64 are supported"))),
        Some(k) => k,
        None => return Err(err("num_speculative_tokens", format!("required for method `{}`", method.name()))),
    };
    let acceptance = match f.acceptance {
        Some(AcceptanceFile { rates: Some(r), mean_length: None }) => {
            Acceptance::from_rates(&r, k).map_err(|m| err("acceptance.rates", m))?
        }
        Some(AcceptanceFile { rates: None, mean_length: Some(t) }) => {
            Acceptance::from_mean_length(t, k).map_err(|m| err("acceptance.mean_length", m))?
        }
        Some(AcceptanceFile { rates: Some(_), mean_length: Some(_) }) => {
            return Err(err("acceptance", "give either `rates` or `mean_length`, not both".into()))
        }
        Some(AcceptanceFile { rates: None, mean_length: None }) | None => default_acceptance(method, k).ok_or_else(|| {
            err(
                "acceptance",
                format!(
                    "required for method `{}` (no published default applies): give `rates: [p1, ...]` or `mean_length: TAU`",
                    method.name()
                ),
            )
        })?,
    };
    let draft_model = match (method, f.draft_model) {
        (SpecMethod::DraftModel, Some(m)) => {
            Some(crate::model_import::resolve_model_path(resolve_model_paths(model_from_ref(m), base_dir), base_dir)?)
        }
        (SpecMethod::DraftModel, None) => {
            return Err(err("draft_model", "required for method `draft_model` (a preset name or {plugin, params})".into()))
        }
        (_, Some(_)) => return Err(err("draft_model", format!("only method `draft_model` takes a draft model, not `{}`", method.name()))),
        (_, None) => None,
    };
    let draft_parallelism = match (&draft_model, f.draft_parallelism) {
        (Some(_), Some(p)) => Some(parse_plan(&p, "spec_decode.draft_parallelism", origin)?),
        (None, Some(_)) => return Err(err("draft_parallelism", "only a draft model takes its own parallelism".into())),
        (_, None) => None,
    };
    Ok(Some(SpecDecodeConfig { spec: SpecDecodeSpec { method, acceptance }, draft_model, draft_parallelism }))
}
