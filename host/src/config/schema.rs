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
    /// Serving-engine profile whose defaults fill the keys this file leaves out: `vllm`,
    /// `sglang` or `trtllm` (`configs/engines/`, docs/engines.md).
    #[serde(default)]
    pub engine: Option<String>,
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
    /// Speculative decoding on every pool (docs/speculative.md).
    #[serde(default)]
    pub spec_decode: Option<SpecDecodeFile>,
    /// The space `reallm search` explores (docs/search.md).
    #[serde(default)]
    pub search: crate::search::SearchConfig,
}

/// `spec_decode:` of the product form.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecDecodeFile {
    /// mtp, eagle, ngram or draft_model.
    pub method: String,
    /// Draft tokens per step `k` (default 1 for mtp, 3 for eagle; required otherwise).
    #[serde(default)]
    pub num_speculative_tokens: Option<u32>,
    /// The acceptance model (defaults for mtp and eagle; required otherwise).
    #[serde(default)]
    pub acceptance: Option<AcceptanceFile>,
    /// The draft model of `draft_model`: a preset name, a config.json path or
    /// `{plugin, params}`, like `model:`.
    #[serde(default)]
    pub draft_model: Option<ModelRef>,
    /// Parallelism of the draft model (default: tensor parallel over the pool's attention TP).
    #[serde(default)]
    pub draft_parallelism: Option<PlanRef>,
}

/// `spec_decode.acceptance`: per-position rates or a mean acceptance length.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceFile {
    /// Conditional acceptance rate of each draft position (one value: every position).
    #[serde(default)]
    pub rates: Option<Vec<f64>>,
    /// Mean tokens per verification step, the bonus token included (τ, in [1, k + 1]).
    #[serde(default)]
    pub mean_length: Option<f64>,
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
    /// How requests are placed on replicas: round_robin, least_outstanding, least_kv, random,
    /// kv_aware.
    #[serde(default)]
    pub router: Option<String>,
    /// Weights of the `kv_aware` router.
    #[serde(default)]
    pub kv_router: KvRouterConfig,
    /// Send every request of a conversation (a workload `session`) to the replica that served
    /// its first request; the router places first requests.
    #[serde(default)]
    pub session_affinity: bool,
}

/// The `kv_aware` router's weights: replica cost = `overlap_score_weight` × blocks it would
/// prefill + `load_weight` × its active KV blocks (Dynamo's KV router, whose defaults these are).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KvRouterConfig {
    pub overlap_score_weight: f64,
    pub load_weight: f64,
    /// 0: lowest cost wins; above 0: softmax sampling over normalised costs.
    pub temperature: f64,
}

impl Default for KvRouterConfig {
    fn default() -> Self {
        KvRouterConfig { overlap_score_weight: 1.0, load_weight: 1.0, temperature: 0.0 }
    }
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
    /// Prefill chunk of chunking policies; absent: the whole token budget (`max_batch_tokens`).
    pub chunk_tokens: Option<u32>,
}

impl Default for ProductBatching {
    fn default() -> Self {
        ProductBatching {
            policy: "continuous".into(),
            params: serde_json::Value::Null,
            max_batch_seqs: 256,
            max_batch_tokens: 16384,
            chunk_tokens: None,
        }
    }
}

/// KV-cache memory settings of a pool.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// How the KV budget follows from device memory: `of_total` (`KV = C·f − W − R`, vLLM,
    /// SGLang) or `of_free` (`KV = f·(C − W − R)`, TensorRT-LLM).
    pub rule: MemoryRuleName,
    /// Fraction of device memory the engine may use (weights + activations + KV), or of the
    /// free memory under `rule: of_free`; `auto`: SGLang's heuristic (docs/engines.md).
    pub usable_fraction: AutoOr<f64>,
    /// Tokens per KV block.
    pub block_tokens: u32,
    /// Fraction of KV blocks kept free when admitting new requests.
    pub watermark_fraction: f64,
    /// Activation workspace reserved per device, GiB; `auto`: the engine profile's estimate.
    pub activation_reserve_gib: AutoOr<f64>,
    /// Framework memory per device (CUDA context, communicator buffers, CUDA graphs), GiB;
    /// `auto`: the engine profile's estimate.
    pub framework_reserve_gib: AutoOr<f64>,
    /// What happens to a preempted request's KV: `recompute` (dropped, prefilled again, as
    /// vLLM's default) or `swap` (copied to host memory over the host link and back).
    pub preemption: Preemption,
    /// Host link (PCIe) bandwidth per device for swapping, bytes/s.
    pub host_link_bytes_per_s: f64,
    /// Prefix caching and KV offload tiers.
    pub prefix_cache: PrefixCacheConfig,
}

/// Prefix caching (`memory.prefix_cache`): cached KV blocks keyed by the hash chain of their
/// prefix, kept after their request finishes until evicted, optionally spilling to offload
/// tiers. Off by default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrefixCacheConfig {
    pub enabled: bool,
    /// Tokens per cached block, a multiple of `memory.block_tokens` (default: the KV block).
    pub block_tokens: Option<u32>,
    /// `lru` (default), `lfu` or `fifo`.
    pub eviction: String,
    /// Load lower-tier blocks layer by layer behind the step's compute (default) instead of
    /// before it.
    pub load_overlap: bool,
    /// Host-memory tier of each replica.
    pub host: Option<TierConfig>,
    /// Local SSD tier of each replica.
    pub ssd: Option<TierConfig>,
    /// Tier shared by every replica of the pool, over the scale-out network.
    pub cluster: Option<TierConfig>,
}

impl Default for PrefixCacheConfig {
    fn default() -> Self {
        PrefixCacheConfig {
            enabled: false,
            block_tokens: None,
            eviction: "lru".into(),
            load_overlap: true,
            host: None,
            ssd: None,
            cluster: None,
        }
    }
}

/// One offload tier: capacity (GiB of KV per replica; in all for the cluster tier),
/// bandwidth per device and latency (defaults by tier: docs/prefix-caching.md).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub capacity_gib: f64,
    #[serde(default)]
    pub bandwidth_bytes_per_s: Option<f64>,
    #[serde(default)]
    pub latency_s: Option<f64>,
}

/// The memory rule's config name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MemoryRuleName {
    #[default]
    OfTotal,
    OfFree,
}

/// A number, or `auto` (derived from the engine profile, the model and the device).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AutoOr<T> {
    Auto,
    Value(T),
}

impl<T: Copy> AutoOr<T> {
    /// The number, if one was given.
    pub fn value(self) -> Option<T> {
        match self {
            AutoOr::Auto => None,
            AutoOr::Value(v) => Some(v),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for AutoOr<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.as_str() == Some("auto") {
            return Ok(AutoOr::Auto);
        }
        serde_json::from_value::<T>(v.clone())
            .map(AutoOr::Value)
            .map_err(|_| serde::de::Error::custom(format!("invalid value {v}: expected a number or `auto`")))
    }
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
            rule: MemoryRuleName::OfTotal,
            usable_fraction: AutoOr::Value(0.9),
            block_tokens: 16,
            watermark_fraction: 0.01,
            activation_reserve_gib: AutoOr::Value(2.0),
            framework_reserve_gib: AutoOr::Value(0.0),
            preemption: Preemption::Recompute,
            // PCIe 4.0 ×16: 32 GB/s per direction raw, ~25 GB/s achieved.
            host_link_bytes_per_s: 25e9,
            prefix_cache: PrefixCacheConfig::default(),
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
    /// Closed loop: this many clients, each sending its next request when its previous one
    /// completes (one run per value). Empty: open loop (traces or request rates).
    #[serde(deserialize_with = "one_or_many")]
    pub concurrency: Vec<u32>,
    /// Closed loop: seconds a client waits after a completion before sending again.
    pub think_time_s: f64,
    /// Closed loop: no request is sent at or after this time (seconds); those in flight finish.
    pub duration_s: Option<f64>,
    /// Synthetic requests: a count and (prompt, output) lengths, numbers or distributions.
    pub synthetic: Option<SyntheticFile>,
    /// The first requests (in arrival order) left out of the metrics.
    pub warmup_requests: u64,
    /// Arrival times of trace requests are multiplied by this (0.5: twice the rate).
    pub time_scale: f64,
    /// Tokens per `hash_ids` entry of Mooncake-format traces.
    pub hash_block_tokens: u32,
    /// A shared system prompt prepended to every request of traces without content ids (and
    /// to every conversation), from one of `groups` prompts.
    pub system_prompt: Option<SystemPromptConfig>,
    /// Closed-loop multi-turn conversations, simulated instead of traces when set.
    pub conversations: Option<ConversationsConfig>,
}

/// `workload.synthetic`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticFile {
    /// Requests per run.
    pub requests: u64,
    pub input_tokens: LengthFile,
    pub output_tokens: LengthFile,
}

/// A length: a number of tokens, or `{dist: fixed | uniform | normal | lognormal, mean, std,
/// min, max}`.
#[derive(Debug, Clone, PartialEq)]
pub enum LengthFile {
    Tokens(u64),
    Dist(DistFile),
}

/// A length distribution as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistFile {
    pub dist: DistKind,
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default)]
    pub std: Option<f64>,
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    Fixed,
    Uniform,
    Normal,
    #[serde(alias = "log_normal")]
    Lognormal,
}

impl<'de> Deserialize<'de> for LengthFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if let Some(n) = v.as_u64() {
            return Ok(LengthFile::Tokens(n));
        }
        if v.is_object() {
            return serde_json::from_value::<DistFile>(v).map(LengthFile::Dist).map_err(serde::de::Error::custom);
        }
        Err(serde::de::Error::custom(format!(
            "invalid value {v}: expected a whole number of tokens or {{dist: fixed | uniform | normal | lognormal, mean, std, min, max}}"
        )))
    }
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
            concurrency: vec![],
            think_time_s: 0.0,
            duration_s: None,
            synthetic: None,
            warmup_requests: 0,
            time_scale: 1.0,
            hash_block_tokens: 512,
            system_prompt: None,
            conversations: None,
        }
    }
}

/// Shared system prompts: each request (or conversation) starts with one of `groups`
/// prompts of `tokens` tokens, chosen uniformly (seeded by `workload.seed`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemPromptConfig {
    pub groups: u32,
    pub tokens: u32,
    /// Tokens per content id of the generated requests (16, vLLM's KV block, by default).
    #[serde(default = "sixteen")]
    pub block_tokens: u32,
}

fn sixteen() -> u32 {
    16
}

/// Multi-turn conversations: `count` conversations starting as a Poisson process of `rate`
/// per second; turns per conversation geometric with mean `turns`; each turn's user tokens and
/// answer drawn jointly from an Azure task's rows (`task`); think time between an answer and
/// the next turn exponential with mean `think_time_s`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationsConfig {
    pub count: u64,
    pub rate: f64,
    pub turns: f64,
    pub think_time_s: f64,
    pub task: String,
    /// Tokens per content id (16 by default).
    pub block_tokens: u32,
}

impl Default for ConversationsConfig {
    fn default() -> Self {
        ConversationsConfig { count: 100, rate: 1.0, turns: 4.0, think_time_s: 10.0, task: "conv".into(), block_tokens: 16 }
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
