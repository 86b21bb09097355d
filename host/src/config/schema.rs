//! The two config file forms as serde types. Both reject unknown keys.
//!
//! * [`ProductFile`]: ReaLLM's own form, which names a plugin for each slot.
//! * [`OriginalFile`]: the original Python ReaLLM's layout (`configs/system/default_homo.yaml`),
//!   accepted unchanged.

use serde::Deserialize;

/// A plugin chosen by name, with parameters: either `NAME` or `{name: NAME, params: {...}}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PluginRef {
    Name(String),
    Full(PluginRefFull),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginRefFull {
    pub name: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

impl PluginRef {
    pub fn name(&self) -> &str {
        match self {
            PluginRef::Name(n) => n,
            PluginRef::Full(f) => &f.name,
        }
    }
    pub fn params(&self) -> serde_json::Value {
        match self {
            PluginRef::Name(_) => serde_json::Value::Null,
            PluginRef::Full(f) => f.params.clone(),
        }
    }
}

/// A model: a preset name (`llama3-70b`, `llama70b`, `deepseekv3`, ...) or
/// `{plugin: llama, params: {preset | hf_config | config, ...}}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ModelRef {
    Name(String),
    Full(ModelRefFull),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelRefFull {
    pub plugin: String,
    /// Label used in output paths (defaults to the preset or the plugin name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub params: serde_json::Value,
}

/// A parallel degree plan: the original string (`tp4_dp8`) or a map (`{tp: 4, dp: 8}`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PlanRef {
    Text(String),
    Map(reallm_plugin_api::Degrees),
}

/// One or several paths.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

// ---------------------------------------------------------------- product form

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductFile {
    /// Experiment name (used for the system directory of results).
    #[serde(default)]
    pub name: Option<String>,
    pub model: ModelRef,
    #[serde(default)]
    pub backend: Option<PluginRef>,
    /// A colocated system (prefill and decode on the same replicas)...
    #[serde(default)]
    pub system: Option<ProductSystem>,
    /// ...or a disaggregated one: separate prefill and decode pools with KV transfer.
    #[serde(default)]
    pub disaggregated: Option<ProductDisaggregated>,
    #[serde(default)]
    pub workload: ProductWorkload,
    #[serde(default)]
    pub kernel: ProductKernel,
    #[serde(default)]
    pub sim: ProductSim,
    /// Service-level objectives for goodput and SLO attainment.
    #[serde(default)]
    pub slo: reallm_sim::metrics::Slo,
    /// Workspace directory (traces, kernel library, results); the CLI's `--workspace` wins.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Extra plugin directories, relative to this file.
    #[serde(default)]
    pub plugin_dirs: Vec<String>,
    /// The space `reallm search` explores (docs/search.md).
    #[serde(default)]
    pub search: crate::search::SearchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSystem {
    pub device: String,
    pub num_devices: u32,
    #[serde(default)]
    pub parallelism: ProductParallelism,
    #[serde(default)]
    pub batching: ProductBatching,
    #[serde(default)]
    pub memory: MemoryConfig,
    /// Data-parallel replicas of this system, each with `num_devices` devices.
    #[serde(default = "one")]
    pub replicas: u32,
    /// How requests are placed on replicas: round_robin, least_outstanding, least_kv, random.
    #[serde(default)]
    pub router: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductDisaggregated {
    pub prefill: ProductSystem,
    pub decode: ProductSystem,
    #[serde(default)]
    pub kv_transfer: KvTransferFile,
}

/// The link that carries KV caches from prefill to decode replicas.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KvTransferFile {
    /// Bytes/s of one transfer. Default: the prefill device's scale-out bandwidth times the
    /// devices that hold KV shards (each shard moves over its own NIC).
    pub bandwidth_bytes_per_s: Option<f64>,
    /// Seconds. Default: the prefill device's scale-out latency.
    pub latency_s: Option<f64>,
    /// Send each layer's KV while later layers are still being prefilled.
    pub layerwise_overlap: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProductParallelism {
    /// Attention plan; defaults to TP over all devices.
    #[serde(default)]
    pub attention: Option<PlanRef>,
    /// FFN / MoE plan; defaults to the attention plan.
    #[serde(default)]
    pub ffn: Option<PlanRef>,
    #[serde(default)]
    pub sequence_parallel: bool,
    /// Collective algorithm: auto, ring, ring2d, multishot.
    #[serde(default)]
    pub io_algo: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductBatching {
    pub policy: String,
    pub params: serde_json::Value,
    pub max_batch_seqs: u32,
    pub max_batch_tokens: u32,
    pub chunk_tokens: u32,
}

impl Default for ProductBatching {
    fn default() -> Self {
        ProductBatching {
            policy: "continuous".into(),
            params: serde_json::Value::Null,
            max_batch_seqs: 256,
            max_batch_tokens: 16384,
            chunk_tokens: 0,
        }
    }
}

/// KV-cache memory settings of a pool.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Fraction of device memory the engine may use (weights + activations + KV).
    pub usable_fraction: f64,
    /// Tokens per KV block.
    pub block_tokens: u32,
    /// Fraction of KV blocks kept free when admitting new requests.
    pub watermark_fraction: f64,
    /// Activation workspace reserved per device, GiB.
    pub activation_reserve_gib: f64,
    /// What happens to a preempted request's KV: `recompute` (dropped, prefilled again, as
    /// vLLM's default) or `swap` (copied to host memory over the host link and back).
    pub preemption: Preemption,
    /// Host link (PCIe) bandwidth per device for swapping, bytes/s.
    pub host_link_bytes_per_s: f64,
}

/// Preemption mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Preemption {
    #[default]
    Recompute,
    Swap,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            usable_fraction: 0.9,
            block_tokens: 16,
            watermark_fraction: 0.01,
            activation_reserve_gib: 2.0,
            preemption: Preemption::Recompute,
            // PCIe 4.0 ×16: 32 GB/s per direction raw, ~25 GB/s achieved.
            host_link_bytes_per_s: 25e9,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductWorkload {
    /// Trace files to simulate (rr format or raw Azure format). If empty, the generated
    /// traces for `tasks` × `request_rates` are used.
    #[serde(deserialize_with = "one_or_many")]
    pub traces: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub tasks: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub request_rates: Vec<f64>,
    pub max_requests: u64,
    pub end_time_s: f64,
    pub seed: u64,
    /// Simulate only requests with id below this.
    pub end_reqs: Option<u64>,
}

impl Default for ProductWorkload {
    fn default() -> Self {
        ProductWorkload {
            traces: vec![],
            tasks: vec!["code".into()],
            request_rates: vec![1.0],
            max_requests: 200,
            end_time_s: 500.0,
            seed: 0,
            end_reqs: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProductKernel {
    pub prefill_blocks: Vec<u64>,
    pub decode_ctx: Vec<u64>,
    /// Decode batch sizes to enumerate (1 = the original tool's per-request shapes).
    pub decode_batches: Vec<u64>,
    pub kernel_types: Vec<String>,
    /// Enumerate shapes over every parallel plan of the device count (as the original tool
    /// did), not only the configured one.
    pub all_plans: bool,
}

impl Default for ProductKernel {
    fn default() -> Self {
        ProductKernel {
            all_plans: true,
            prefill_blocks: vec![512, 1024, 2048],
            decode_ctx: vec![128, 256, 512, 1024, 2048],
            decode_batches: vec![1],
            // Every kernel kind the library knows (batched matmuls share the `matmul` files).
            kernel_types: reallm_plugin_api::KernelKind::ALL
                .iter()
                .filter(|k| **k != reallm_plugin_api::KernelKind::Bmm)
                .map(|k| k.name().to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProductSim {
    /// Stop at this simulated time (seconds); requests unfinished then are reported as such.
    pub end_time_s: Option<f64>,
    /// Fixed host/launch overhead per iteration, seconds.
    pub iteration_overhead_s: f64,
    /// Seed of the simulation's own sampling (expert routing).
    pub seed: u64,
    /// CUDA-graph batch sizes: a decode-only iteration is costed at the smallest size that
    /// holds its sequences (the GEMMs run padded rows, as captured graphs do). Empty: no padding.
    pub cuda_graph_batch_sizes: Vec<u32>,
}

// ---------------------------------------------------------------- original form

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalFile {
    pub model: String,
    #[serde(default)]
    pub kernel_sim: Option<OriginalKernelSim>,
    #[serde(default)]
    pub heterogeneous: bool,
    #[serde(default)]
    pub system: Option<OriginalSystem>,
    #[serde(default)]
    pub system_sim: Option<OriginalSystemSim>,
    #[serde(default)]
    pub trace_gen: Option<OriginalTraceGen>,
    // Heterogeneous (disaggregated) layout.
    #[serde(default)]
    pub trace: Option<String>,
    #[serde(default)]
    pub prefill_system: Option<OriginalPool>,
    #[serde(default)]
    pub decode_system: Option<OriginalPool>,
    #[serde(default)]
    pub output_dir: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalKernelSim {
    #[serde(default)]
    pub compile_mode: Option<String>,
    #[serde(default)]
    pub kernel_types: Option<Vec<String>>,
    #[serde(default)]
    pub prefill_blocks: Option<Vec<u64>>,
    #[serde(default)]
    pub decode_ctxt: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalSystem {
    #[serde(default)]
    pub device: Option<String>,
    pub num_devices: u32,
    #[serde(default)]
    pub io_algo: Option<String>,
    #[serde(default)]
    pub attention_parallelism: Option<String>,
    #[serde(default)]
    pub ffn_parallelism: Option<String>,
    #[serde(default)]
    pub batching_algo: Option<String>,
    #[serde(default)]
    pub prefill_chunk: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalSystemSim {
    #[serde(default)]
    pub sim_method: Option<String>,
    #[serde(default)]
    pub traces: Option<OneOrMany>,
    #[serde(default)]
    pub end_reqs: Option<u64>,
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    #[serde(default)]
    pub request_rates: Option<Vec<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalTraceGen {
    #[serde(default)]
    pub random_seed: Option<u64>,
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    #[serde(default)]
    pub request_rates: Option<Vec<f64>>,
    #[serde(default)]
    pub max_requests: Option<u64>,
    #[serde(default)]
    pub end_time: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginalPool {
    #[serde(default)]
    pub device: Option<String>,
    pub num_devices: u32,
    #[serde(default)]
    pub attention_parallelism: Option<String>,
    #[serde(default)]
    pub ffn_parallelism: Option<String>,
    #[serde(default)]
    pub batching: Option<String>,
    #[serde(default)]
    pub io_algo: Option<String>,
}

/// Accept `x` as well as `[x, y]` for list keys (handy with `--set` and sweep grids).
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        Many(Vec<T>),
        One(T),
    }
    // Go through a JSON value so that errors still say what was expected.
    let v = serde_json::Value::deserialize(d)?;
    match serde_json::from_value::<Either<T>>(v.clone()) {
        Ok(Either::Many(x)) => Ok(x),
        Ok(Either::One(x)) => Ok(vec![x]),
        Err(_) => Err(serde::de::Error::custom(format!("invalid value {v}: expected a value or a list of values of the right type"))),
    }
}
