//! Pool specifications: what the host resolves a configuration into, in the core's own types.

use reallm_plugin_api::Limits;

/// What a pool's replicas do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Prefill and decode on the same replicas.
    Colocated,
    /// Prefill only; finished prefills move their KV to the decode pool.
    Prefill,
    /// Decode only, for requests whose KV arrives from the prefill pool.
    Decode,
}

impl Role {
    /// The name used in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Colocated => "colocated",
            Role::Prefill => "prefill",
            Role::Decode => "decode",
        }
    }
}

/// The built-in router a pool places requests with (each is a [`crate::router::Router`]
/// implementation; [`crate::router::build`] makes one from a spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    /// In turn.
    RoundRobin,
    /// Fewest requests assigned and not finished.
    LeastOutstanding,
    /// Most free KV blocks, counting what queued requests will need.
    LeastKv,
    /// Uniformly at random (seeded).
    Random,
    /// Cached-prefix overlap and load, weighted as Dynamo's KV router does
    /// ([`KvRouterSpec`]).
    KvAware,
}

impl Router {
    /// Every router, for listings.
    pub const ALL: [Router; 5] = [Router::RoundRobin, Router::LeastOutstanding, Router::LeastKv, Router::Random, Router::KvAware];

    /// Parse a router name or alias.
    pub fn parse(s: &str) -> Option<Router> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "round_robin" | "rr" => Router::RoundRobin,
            "least_outstanding" | "least_outstanding_requests" | "lor" => Router::LeastOutstanding,
            "least_kv" | "least_kv_load" => Router::LeastKv,
            "random" => Router::Random,
            "kv_aware" | "kv" | "prefix_aware" => Router::KvAware,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Router::RoundRobin => "round_robin",
            Router::LeastOutstanding => "least_outstanding",
            Router::LeastKv => "least_kv",
            Router::Random => "random",
            Router::KvAware => "kv_aware",
        }
    }
}

/// Weights of the KV-aware router. For replica `i` it computes, in cache blocks,
/// `cost_i = overlap_score_weight × prefill_blocks_i + load_weight × active_blocks_i`, where
/// `prefill_blocks_i` = blocks of the request not cached on `i` plus the prompt blocks queued
/// there, and `active_blocks_i` = KV blocks in use on `i` plus the request's blocks; the lowest
/// cost wins (Dynamo's `overlap_score_weight` and `router_temperature`, default 1 and 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvRouterSpec {
    /// Weight of the prefill work a replica would have to do.
    pub overlap_score_weight: f64,
    /// Weight of the KV blocks active on a replica.
    pub load_weight: f64,
    /// 0: the lowest cost wins (ties in turn). > 0: sample replicas with probability ∝
    /// `exp(−normalised cost / temperature)`, normalised to [0, 1] over the replicas.
    pub temperature: f64,
}

impl Default for KvRouterSpec {
    fn default() -> Self {
        KvRouterSpec { overlap_score_weight: 1.0, load_weight: 1.0, temperature: 0.0 }
    }
}

/// How cached blocks leave GPU memory when room is needed ([`crate::kv::EvictionPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Least recently used first; blocks released together go tail first (vLLM's free queue).
    #[default]
    Lru,
    /// Least frequently used (fewest hits) first, then least recently used (SGLang's `lfu`).
    Lfu,
    /// First cached, first evicted.
    Fifo,
}

impl Eviction {
    /// Parse a policy name.
    pub fn parse(s: &str) -> Option<Eviction> {
        Some(match s.to_ascii_lowercase().as_str() {
            "lru" => Eviction::Lru,
            "lfu" => Eviction::Lfu,
            "fifo" => Eviction::Fifo,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Eviction::Lru => "lru",
            Eviction::Lfu => "lfu",
            Eviction::Fifo => "fifo",
        }
    }
}

/// A KV offload tier below GPU memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierSpec {
    /// Capacity, bytes of KV (a replica's whole KV, every layer and head). Per replica for the
    /// host and SSD tiers; in all for the cluster tier.
    pub capacity_bytes: u64,
    /// Bandwidth per device, bytes/s (each device moves its own KV shard).
    pub bandwidth_bytes_per_s: f64,
    /// Latency of one transfer, seconds.
    pub latency_s: f64,
}

/// Prefix caching of a pool (vLLM's automatic prefix caching, SGLang's radix cache, TRT-LLM's
/// block reuse) and the offload tiers below GPU memory.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PrefixCacheSpec {
    /// Off: blocks are freed when their request finishes (no reuse).
    pub enabled: bool,
    /// Tokens per cached block, a multiple of the KV block (`0`: the KV block).
    pub block_tokens: u32,
    /// Which cached GPU block to evict first.
    pub eviction: Eviction,
    /// Host-memory tier (per replica).
    pub host: Option<TierSpec>,
    /// Local SSD tier (per replica), below the host tier.
    pub ssd: Option<TierSpec>,
    /// A tier shared by every replica of the pool (a Mooncake-store-like pool reached over the
    /// scale-out network), below the local tiers.
    pub cluster: Option<TierSpec>,
    /// Load lower-tier blocks layer by layer while the step computes (SGLang HiCache, LMCache
    /// layer-wise); off: the load precedes the step.
    pub load_overlap: bool,
}

/// What happens to a preempted request's KV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preemption {
    /// Dropped; the request is prefilled again (vLLM's default).
    #[default]
    Recompute,
    /// Copied to host memory over the host link and back.
    Swap,
}

/// How a serving engine sizes its KV cache from device memory (see
/// [`memory_plan`](crate::cost::memory_plan)). With `C` the device memory, `f` the usable
/// fraction, `W` the weights and `R` the reserves (activations + framework), per device:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryRule {
    /// `KV = C·f − W − R`: the fraction caps the engine's whole footprint (vLLM's
    /// `gpu_memory_utilization`, SGLang's `mem_fraction_static`; ReaLLM's generic rule).
    #[default]
    FractionOfTotal,
    /// `KV = f·(C − W − R)`: the fraction applies to what is free after the weights and the
    /// profiling run (TensorRT-LLM's `free_gpu_memory_fraction`).
    FractionOfFree,
}

impl MemoryRule {
    /// The name used in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            MemoryRule::FractionOfTotal => "of_total",
            MemoryRule::FractionOfFree => "of_free",
        }
    }
}

/// KV-cache memory of a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemorySpec {
    /// How the KV budget follows from device memory.
    pub rule: MemoryRule,
    /// Fraction of device memory the engine may use: of the total (weights + activations +
    /// KV) or of what is free after weights and reserves, per [`MemoryRule`].
    pub usable_fraction: f64,
    /// Tokens per KV block.
    pub block_tokens: u32,
    /// Fraction of KV blocks kept free when admitting new requests.
    pub watermark_fraction: f64,
    /// Activation workspace reserved per device, bytes.
    pub activation_reserve_bytes: u64,
    /// Memory the serving framework holds outside the weights, activations and KV, per device
    /// (CUDA context, communicator buffers, CUDA graphs), bytes.
    pub framework_reserve_bytes: u64,
    /// What preemption does with the victim's KV.
    pub preemption: Preemption,
    /// Host link bandwidth per device for swapping, bytes/s.
    pub host_link_bytes_per_s: f64,
}

impl Default for MemorySpec {
    fn default() -> Self {
        MemorySpec {
            rule: MemoryRule::FractionOfTotal,
            usable_fraction: 0.9,
            block_tokens: 16,
            watermark_fraction: 0.01,
            activation_reserve_bytes: 2 << 30,
            framework_reserve_bytes: 0,
            preemption: Preemption::Recompute,
            host_link_bytes_per_s: 25e9,
        }
    }
}

/// One pool as the engine runs it: `replicas` copies of one model replica.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    /// What its replicas do.
    pub role: Role,
    /// Copies of the model replica.
    pub replicas: u32,
    /// How requests are placed on replicas.
    pub router: Router,
    /// The batch policy's limits.
    pub limits: Limits,
    /// KV memory.
    pub memory: MemorySpec,
    /// Sorted CUDA-graph batch sizes: a decode-only batch runs padded to the next one.
    pub cuda_graph_batch_sizes: Vec<u32>,
    /// Host time added to every iteration, seconds.
    pub iteration_overhead_s: f64,
    /// Prefix caching and offload tiers.
    pub prefix_cache: PrefixCacheSpec,
    /// Weights of the `kv_aware` router.
    pub kv_router: KvRouterSpec,
    /// Send every turn of a conversation to the replica that served its first turn.
    pub session_affinity: bool,
}

/// The KV transfer link between a prefill and a decode pool.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KvTransferSpec {
    /// Link bandwidth, bytes/s; `None`: the prefill device's scale-out bandwidth times the KV
    /// shards of a replica.
    pub bandwidth_bytes_per_s: Option<f64>,
    /// Link latency, seconds; `None`: the device's scale-out latency.
    pub latency_s: Option<f64>,
    /// Send each layer's KV while later layers are prefilled.
    pub layerwise_overlap: bool,
}
