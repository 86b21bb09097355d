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

/// How a pool places requests on its replicas.
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
}

impl Router {
    /// Every router, for listings.
    pub const ALL: [Router; 4] = [Router::RoundRobin, Router::LeastOutstanding, Router::LeastKv, Router::Random];

    /// Parse a router name or alias.
    pub fn parse(s: &str) -> Option<Router> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "round_robin" | "rr" => Router::RoundRobin,
            "least_outstanding" | "least_outstanding_requests" | "lor" => Router::LeastOutstanding,
            "least_kv" | "least_kv_load" => Router::LeastKv,
            "random" => Router::Random,
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
        }
    }
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
    /// Speculative decoding (`None`: plain decoding, one token per sequence and step). A
    /// method with a drafter needs [`PoolParts::drafter`](crate::PoolParts).
    pub spec_decode: Option<crate::spec_decode::SpecDecodeSpec>,
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
