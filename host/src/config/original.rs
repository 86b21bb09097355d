//! The original tool's config layout (`kernel_sim`, `system`, `system_sim`, `trace_gen`, the
//! heterogeneous prefill/decode layout), accepted as is and resolved into an [`Experiment`].

use super::native::parse_algo;
use super::schema::*;
use super::*;
use crate::error::{Error, Result};

/// Map the original tool's batching names to ReaLLM policies.
fn original_policy(name: &str) -> String {
    match name {
        "mixed-sarathi" | "sarathi" => "chunked".into(),
        "mixed-continuous" | "mixed_continuous" => "mixed".into(),
        other => other.to_string(),
    }
}

/// Default device for the original layout when `system.device` is missing.
pub const ORIGINAL_DEFAULT_DEVICE: &str = "GA100";
/// Default device for the original heterogeneous layout, which names none (DeepSeek-V3's fp8
/// weights need a part with fp8 tensor cores).
pub const ORIGINAL_HETERO_DEFAULT_DEVICE: &str = "H100-SXM";

fn original_pool(p: &OriginalPool, role: Role, key: &str, origin: &str) -> Result<PoolConfig> {
    let n = p.num_devices;
    let attention = match &p.attention_parallelism {
        Some(s) => Degrees::parse(s).map_err(|m| Error::config(origin, format!("key `{key}.attention_parallelism`: {m}")))?,
        None => Degrees { tp: n.max(1), ..Degrees::default() },
    };
    let ffn = match &p.ffn_parallelism {
        Some(s) => Degrees::parse(s).map_err(|m| Error::config(origin, format!("key `{key}.ffn_parallelism`: {m}")))?,
        None => attention,
    };
    let default_policy = if role == Role::Prefill { "no_batching" } else { "upto_memory_limit" };
    Ok(PoolConfig {
        role,
        replicas: 1,
        router: Router::RoundRobin,
        device: p.device.clone().unwrap_or_else(|| ORIGINAL_HETERO_DEFAULT_DEVICE.into()),
        num_devices: n,
        attention,
        ffn,
        sequence_parallel: false,
        comm_algo: parse_algo(p.io_algo.as_deref(), &format!("{key}.io_algo"), origin)?,
        batching: PluginSel { name: original_policy(p.batching.as_deref().unwrap_or(default_policy)), params: Value::Null },
        limits: Limits { max_batch_seqs: 1024, max_batch_tokens: 16384, chunk_tokens: 0 },
        memory: MemoryConfig::default(),
        kv_router: KvRouterConfig::default(),
        session_affinity: false,
    })
}

pub(super) fn from_original(f: OriginalFile, origin: &str, base_dir: Option<PathBuf>) -> Result<Experiment> {
    let hetero = f.heterogeneous || f.prefill_system.is_some() || f.decode_system.is_some();
    let (pool, decode_pool) = if hetero {
        if f.system.is_some() {
            return Err(Error::config(origin, "`heterogeneous: true` takes `prefill_system` and `decode_system`, not `system`"));
        }
        let p = f.prefill_system.as_ref().ok_or_else(|| Error::config(origin, "`heterogeneous: true` needs `prefill_system`"))?;
        let d = f.decode_system.as_ref().ok_or_else(|| Error::config(origin, "`heterogeneous: true` needs `decode_system`"))?;
        (original_pool(p, Role::Prefill, "prefill_system", origin)?, Some(original_pool(d, Role::Decode, "decode_system", origin)?))
    } else {
        let sys = f
            .system
            .as_ref()
            .ok_or_else(|| Error::config(origin, "missing key `system` (device, num_devices, parallelism, batching_algo)"))?;
        let op = OriginalPool {
            device: Some(sys.device.clone().unwrap_or_else(|| ORIGINAL_DEFAULT_DEVICE.into())),
            num_devices: sys.num_devices,
            attention_parallelism: sys.attention_parallelism.clone(),
            ffn_parallelism: sys.ffn_parallelism.clone(),
            batching: Some(sys.batching_algo.clone().unwrap_or_else(|| "continuous".into())),
            io_algo: sys.io_algo.clone(),
        };
        let mut pool = original_pool(&op, Role::Colocated, "system", origin)?;
        let chunk = sys.prefill_chunk.unwrap_or(0);
        if sys.prefill_chunk == Some(0) && reallm_batching::uses_chunk_tokens(&pool.batching.name) {
            return Err(Error::config(
                origin,
                format!(
                    "key `system.prefill_chunk` = 0: batching_algo `{}` prefills in chunks of prefill_chunk tokens; give at least 1 token, or leave the key out",
                    sys.batching_algo.as_deref().unwrap_or("")
                ),
            ));
        }
        pool.limits = Limits { max_batch_seqs: 256, max_batch_tokens: if chunk > 0 { chunk } else { 16384 }, chunk_tokens: chunk };
        (pool, None)
    };
    let sim =
        f.system_sim.unwrap_or(OriginalSystemSim { sim_method: None, traces: None, end_reqs: None, tasks: None, request_rates: None });
    let method = sim.sim_method.clone().unwrap_or_else(|| "roofline".into());
    let backend = match method.as_str() {
        "roofline" | "llmcompass" => PluginSel { name: method.clone(), params: Value::Null },
        other => {
            return Err(Error::config(
                origin,
                format!("key `system_sim.sim_method`: unknown method `{other}`; expected roofline or llmcompass"),
            ))
        }
    };
    let tg =
        f.trace_gen.unwrap_or(OriginalTraceGen { random_seed: None, tasks: None, request_rates: None, max_requests: None, end_time: None });
    let gen_tasks = tg.tasks.unwrap_or_else(|| vec!["code".into(), "conv".into()]);
    let gen_rates = tg.request_rates.unwrap_or_else(|| vec![1.0]);
    let ks = f.kernel_sim;
    let defaults = ProductKernel::default();
    let kernel = KernelConfig {
        prefill_blocks: ks.as_ref().and_then(|k| k.prefill_blocks.clone()).unwrap_or(defaults.prefill_blocks),
        decode_ctx: ks.as_ref().and_then(|k| k.decode_ctxt.clone()).unwrap_or(defaults.decode_ctx),
        decode_batches: vec![1],
        kernel_types: ks.as_ref().and_then(|k| k.kernel_types.clone()).unwrap_or(defaults.kernel_types),
        all_plans: true,
    };
    let mut traces = sim.traces.map(|t| t.into_vec()).unwrap_or_default();
    if let Some(t) = f.trace {
        traces.push(t);
    }
    // The original tool ran the unfused attention kernels and left out the embedding and the
    // LM head; keep its view of the model for its own configs.
    let model_params = serde_json::json!({ "preset": f.model, "include_embedding_and_head": false, "attention": "unfused" });
    let model = crate::model_import::resolve_model_path(
        ModelSel { plugin: None, label: f.model.clone(), params: model_params },
        base_dir.as_deref(),
    )?;
    Ok(Experiment {
        origin: origin.to_string(),
        form: Form::Original,
        base_dir,
        name: None,
        model,
        backend,
        pool,
        decode_pool,
        kv_transfer: KvTransferConfig::default(),
        trace_gen: TraceGenConfig {
            tasks: gen_tasks.clone(),
            request_rates: gen_rates.clone(),
            max_requests: tg.max_requests.unwrap_or(50_000),
            end_time_s: tg.end_time.unwrap_or(500.0),
            seed: tg.random_seed.unwrap_or(0),
        },
        workload: SimWorkload {
            traces,
            tasks: sim.tasks.unwrap_or(gen_tasks),
            request_rates: sim.request_rates.unwrap_or(gen_rates),
            end_reqs: sim.end_reqs,
            concurrency: vec![],
            think_time_s: 0.0,
            duration_s: None,
            synthetic: None,
            warmup_requests: 0,
            time_scale: 1.0,
            hash_block_tokens: crate::workload::jsonl::MOONCAKE_BLOCK_TOKENS,
            system_prompt: None,
            conversations: None,
        },
        kernel,
        sim: SimConfig { end_time_s: None, iteration_overhead_s: 0.0, seed: 0, cuda_graph_batch_sizes: Vec::new() },
        slo: reallm_sim::metrics::Slo::default(),
        workspace: None,
        plugin_dirs: vec![],
        output_dir: f.output_dir.map(PathBuf::from),
        spec_decode: None,
        engine: None,
        search: Default::default(),
    })
}
