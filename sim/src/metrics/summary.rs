//! `summary.json`: the schema of a run's summary (serialisable; its field names are part of
//! the output format, docs/outputs.md).

use super::{Slo, Stats};
use crate::pool::Pool;
use serde::{Deserialize, Serialize};

/// One pool's hardware as the metrics need it (for MFU/MBU and per-device rates).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolInfo {
    /// `colocated`, `prefill` or `decode`.
    pub role: String,
    pub device: String,
    pub replicas: u32,
    pub devices_per_replica: u32,
    /// Dense matrix peak for the model's weight dtype, FLOP/s per device.
    pub peak_flops_per_device: f64,
    /// DRAM bandwidth, bytes/s per device.
    pub mem_bw_bytes_per_s_per_device: f64,
}

/// What was run: written into `summary.json` so that reports and plots can label and group runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// Trace name (file stem), e.g. `rr_code_2`.
    pub trace: String,
    /// Mean request rate, requests/s, when known (from an `rr_{task}_{rate}` trace name).
    pub request_rate: Option<f64>,
    /// Closed-loop clients (`workload.concurrency`), for a closed-loop run.
    pub concurrency: Option<u32>,
    /// Serving-engine profile (`engine:`), when one was applied.
    pub engine_profile: Option<String>,
    pub model: String,
    /// System name (the results folder name).
    pub system: String,
    pub backend: String,
    pub batching: String,
    /// Devices over all pools and replicas.
    pub devices: u64,
    pub pools: Vec<PoolInfo>,
}

impl RunInfo {
    /// Describe a run on assembled pools.
    pub fn from_pools(trace: &str, model: &str, system: &str, backend: &str, pools: &[Pool]) -> RunInfo {
        let infos: Vec<PoolInfo> = pools
            .iter()
            .map(|p| PoolInfo {
                role: p.spec.role.name().to_string(),
                device: p.device_key.clone(),
                replicas: p.spec.replicas,
                devices_per_replica: p.cost.plan.devices,
                peak_flops_per_device: p.peak_flops_per_device(),
                mem_bw_bytes_per_s_per_device: p.device.mem_bw_bytes_per_s,
            })
            .collect();
        RunInfo {
            trace: trace.to_string(),
            request_rate: rate_from_trace_name(trace),
            concurrency: None,
            engine_profile: None,
            model: model.to_string(),
            system: system.to_string(),
            backend: backend.to_string(),
            batching: pools.first().map(|p| p.policy_name.clone()).unwrap_or_default(),
            devices: infos.iter().map(|p| p.replicas as u64 * p.devices_per_replica as u64).sum(),
            pools: infos,
        }
    }

    /// The pool of global replica `replica` (pools are numbered in order, replicas within them).
    fn pool_of(&self, replica: u32) -> Option<&PoolInfo> {
        let mut first = 0u64;
        for p in &self.pools {
            if (replica as u64) < first + p.replicas as u64 {
                return Some(p);
            }
            first += p.replicas as u64;
        }
        self.pools.last()
    }

    /// (peak FLOP/s, DRAM bytes/s) of one device of global replica `replica`; zeros if unknown.
    pub fn peaks_of(&self, replica: u32) -> (f64, f64) {
        self.pool_of(replica).map(|p| (p.peak_flops_per_device, p.mem_bw_bytes_per_s_per_device)).unwrap_or((0.0, 0.0))
    }

    /// Devices of one replica of global replica `replica` (1 if unknown).
    pub fn devices_of(&self, replica: u32) -> u32 {
        self.pool_of(replica).map(|p| p.devices_per_replica.max(1)).unwrap_or(1)
    }
}

/// The request rate in a generated trace name `rr_{task}_{rate}` (`rr_code_2.5` → 2.5).
pub fn rate_from_trace_name(name: &str) -> Option<f64> {
    let rest = name.strip_prefix("rr_")?;
    let (_, rate) = rest.split_once('_')?;
    let r: f64 = rate.parse().ok()?;
    (r.is_finite() && r > 0.0).then_some(r)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestCounts {
    /// Requests measured (warm-up requests are not counted).
    pub total: u64,
    pub completed: u64,
    /// Requests that produced at least one token.
    pub started: u64,
    /// Requests preempted at least once.
    pub preempted: u64,
    /// The first requests (in arrival order) left out of every request metric
    /// (`workload.warmup_requests`); they still ran and loaded the system.
    pub warmup: u64,
    /// Prompt tokens of the completed (measured) requests.
    pub input_tokens: u64,
    /// Output tokens produced by the measured requests.
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throughput {
    /// Completed requests / makespan.
    pub requests_per_s: f64,
    /// Prompt tokens of completed requests / makespan.
    pub input_tokens_per_s: f64,
    /// Output tokens produced (all requests) / makespan.
    pub output_tokens_per_s: f64,
    /// Input + output tokens / makespan.
    pub total_tokens_per_s: f64,
    pub requests_per_s_per_device: f64,
    pub input_tokens_per_s_per_device: f64,
    pub output_tokens_per_s_per_device: f64,
    /// (Input + output tokens) / makespan / devices.
    pub total_tokens_per_s_per_device: f64,
}

/// Fraction of all requests meeting each SLO target (`null` where the target is unset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attainment {
    pub ttft: Option<f64>,
    pub tbt: Option<f64>,
    pub tpot: Option<f64>,
    pub e2e: Option<f64>,
    /// Completed and meeting every set target.
    pub all: f64,
}

/// Requests per second that meet the SLOs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Goodput {
    pub slo: Slo,
    /// Completed requests meeting every set target.
    pub requests_met: u64,
    /// `requests_met` / makespan.
    pub requests_per_s: f64,
    pub requests_per_s_per_device: f64,
    pub attainment: Attainment,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineMetrics {
    pub iterations: u64,
    pub preemptions: u64,
    pub mean_batch_seqs: f64,
    pub max_batch_seqs: u64,
    pub mean_tokens_per_iteration: f64,
    pub max_tokens_per_iteration: u64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub kv_total_blocks: u64,
    pub kv_block_tokens: u32,
    pub kv_peak_used_blocks: u64,
    /// Peak used / total KV blocks (sum of per-replica peaks over the sum of capacities).
    pub kv_peak_used_fraction: f64,
    /// Mean over iterations of the replica's used / total KV blocks.
    pub mean_kv_used_fraction: f64,
    /// Fraction of busy time spent in kernels.
    pub compute_fraction: f64,
    /// Fraction of busy time spent in collectives.
    pub comm_fraction: f64,
    /// Kernel seconds summed over iterations.
    pub compute_s: f64,
    /// Collective seconds summed over iterations.
    pub comm_s: f64,
    /// FLOPs per device summed over iterations.
    pub flops: f64,
    /// DRAM bytes per device summed over iterations.
    pub bytes: f64,
    /// Model FLOPs utilisation over busy time: Σ FLOPs / Σ (iteration time · peak).
    pub mfu: f64,
    /// DRAM bandwidth utilisation over busy time: Σ bytes / Σ (iteration time · bandwidth).
    pub mbu: f64,
    /// Iteration seconds summed (the cost of each iteration, all pipeline stages).
    pub busy_s: f64,
    /// Iteration cost distribution, seconds.
    pub iteration_s: Stats,
    /// Busy time (summed over iterations and stages) by kind of work: kernel kinds and
    /// `communication`, seconds; kinds that took no time are left out.
    pub time_by_kind_s: std::collections::BTreeMap<String, f64>,
}

/// Per-replica metrics (global replica index).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicaMetrics {
    pub replica: u32,
    pub pool: u32,
    pub role: String,
    pub devices: u32,
    /// Requests routed to it (prefill and, in a decode pool, decode).
    pub requests: u64,
    /// Requests whose last token it produced.
    pub completed: u64,
    pub iterations: u64,
    pub busy_s: f64,
    /// `busy_s` / makespan.
    pub busy_fraction: f64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub mfu: f64,
    pub mbu: f64,
    pub comm_fraction: f64,
    pub kv_total_blocks: u64,
    pub kv_peak_used_blocks: u64,
    /// TTFT of requests prefilled here.
    pub ttft_s: Stats,
    /// TBT gaps of requests decoded here.
    pub tbt_s: Stats,
    /// Its prefix cache (present when its pool caches prefixes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheMetrics>,
}

/// One tier of the prefix cache: hits served from it and the traffic through it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierMetrics {
    /// Cached blocks hit in this tier.
    pub hit_blocks: u64,
    /// Prompt tokens served from this tier.
    pub hit_tokens: u64,
    /// `hit_tokens` / tokens looked up.
    pub token_hit_rate: f64,
    /// Blocks that left this tier to make room (moved down or dropped).
    pub evicted_blocks: u64,
    /// Blocks written into this tier from the tier above, and their KV bytes (offload traffic).
    pub offloaded_blocks: u64,
    pub offloaded_bytes: f64,
    /// Blocks read from this tier back into GPU memory, and their KV bytes (load traffic).
    pub loaded_blocks: u64,
    pub loaded_bytes: f64,
}

/// Prefix caching over a run (docs/prefix-caching.md): lookups happen when a request holding no
/// KV is admitted; a hit is the longest run of cached blocks from the prompt's start, at most
/// all but the last token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrefixCacheMetrics {
    /// Tokens per cached block.
    pub block_tokens: u32,
    pub eviction: String,
    /// Tiers below GPU memory.
    pub tiers: Vec<String>,
    /// Admissions that looked the cache up, and the tokens and full blocks they had to prefill.
    pub lookups: u64,
    pub lookup_tokens: u64,
    pub lookup_blocks: u64,
    /// Hits over every tier.
    pub hit_blocks: u64,
    pub hit_tokens: u64,
    /// `hit_tokens / lookup_tokens`, `hit_blocks / lookup_blocks`.
    pub token_hit_rate: f64,
    pub block_hit_rate: f64,
    /// Prompt tokens not prefilled thanks to the cache (= `hit_tokens`).
    pub prefill_tokens_saved: u64,
    /// Blocks cached after being computed.
    pub inserted_blocks: u64,
    /// Blocks evicted from GPU memory.
    pub evicted_blocks: u64,
    /// Blocks dropped from the whole hierarchy.
    pub dropped_blocks: u64,
    /// By tier: `gpu`, then the enabled lower tiers.
    pub by_tier: std::collections::BTreeMap<String, TierMetrics>,
}

impl PrefixCacheMetrics {
    /// Metrics of counters `s`, for blocks of `block_tokens` tokens of `kv_bytes_per_token`
    /// bytes each, under `eviction` with lower `tiers`.
    pub fn of(
        s: &crate::kv::PrefixStats,
        block_tokens: u32,
        kv_bytes_per_token: u64,
        eviction: &str,
        tiers: &[String],
    ) -> PrefixCacheMetrics {
        use crate::kv::Tier;
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let block_bytes = block_tokens as f64 * kv_bytes_per_token as f64;
        let hit_tokens: u64 = s.hit_tokens.iter().sum();
        let hit_blocks: u64 = s.hit_blocks.iter().sum();
        let mut by_tier = std::collections::BTreeMap::new();
        for t in Tier::ALL {
            if t != Tier::Gpu && !tiers.iter().any(|x| x == t.name()) {
                continue;
            }
            let i = t.index();
            by_tier.insert(
                t.name().to_string(),
                TierMetrics {
                    hit_blocks: s.hit_blocks[i],
                    hit_tokens: s.hit_tokens[i],
                    token_hit_rate: div(s.hit_tokens[i] as f64, s.lookup_tokens as f64),
                    evicted_blocks: s.evicted_blocks[i],
                    offloaded_blocks: s.offloaded_blocks[i],
                    offloaded_bytes: s.offloaded_blocks[i] as f64 * block_bytes,
                    loaded_blocks: s.loaded_blocks[i],
                    loaded_bytes: s.loaded_blocks[i] as f64 * block_bytes,
                },
            );
        }
        PrefixCacheMetrics {
            block_tokens,
            eviction: eviction.to_string(),
            tiers: tiers.to_vec(),
            lookups: s.lookups,
            lookup_tokens: s.lookup_tokens,
            lookup_blocks: s.lookup_blocks,
            hit_blocks,
            hit_tokens,
            token_hit_rate: div(hit_tokens as f64, s.lookup_tokens as f64),
            block_hit_rate: div(hit_blocks as f64, s.lookup_blocks as f64),
            prefill_tokens_saved: hit_tokens,
            inserted_blocks: s.inserted_blocks,
            evicted_blocks: s.evicted_blocks[Tier::Gpu.index()],
            dropped_blocks: s.dropped_blocks,
            by_tier,
        }
    }
}

/// `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub run: RunInfo,
    pub requests: RequestCounts,
    pub ttft_s: Stats,
    pub tbt_s: Stats,
    pub tpot_s: Stats,
    pub e2e_s: Stats,
    /// Output tokens per second seen by one user: `1 / TPOT` of each completed request with
    /// more than one output token (AIPerf's "output token throughput per user").
    pub output_tokens_per_s_per_user: Stats,
    pub normalized_latency_s_per_token: Stats,
    pub queueing_s: Stats,
    pub prefill_s: Stats,
    pub decode_s: Stats,
    /// KV transfer time of requests moved from a prefill to a decode pool.
    pub kv_transfer_s: Stats,
    pub throughput: Throughput,
    pub goodput: Goodput,
    pub makespan_s: f64,
    /// Simulated time of the last iteration end.
    pub end_s: f64,
    pub engine: EngineMetrics,
    pub replicas: Vec<ReplicaMetrics>,
    /// Prefix caching over all replicas (present when a pool caches prefixes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheMetrics>,
}
