//! Latency, throughput, goodput and utilisation metrics of a run, and `summary.json`.
//!
//! Every definition, with its formula, is in `docs/outputs.md` ("Metric definitions"); the
//! short form: TTFT = first token time − arrival; TBT = every gap between consecutive output
//! tokens of a request; TPOT = (last − first token time) / (n − 1) per completed request with
//! n > 1 tokens; E2E = last token time − arrival; normalised latency = E2E / output tokens;
//! queueing delay = first scheduled − arrival; prefill time = first token − first scheduled;
//! decode time = last − first token. Percentiles interpolate linearly between order statistics
//! (numpy's default). Throughput and goodput divide by the makespan: last completion − first
//! arrival. MFU / MBU divide the FLOPs / DRAM bytes the backend reports per device by busy
//! time × the device's peak (matrix peak for the weight dtype / DRAM bandwidth).

use crate::engine::{IterationRecord, RequestRecord, SimResult, System};
use serde::{Deserialize, Serialize};

/// Distribution summary, in the unit of the field name that holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Percentile `q` ∈ [0, 100] of sorted values, linear interpolation (numpy's `linear`):
/// `x[⌊r⌋] + (x[⌈r⌉] − x[⌊r⌋])·(r − ⌊r⌋)` with `r = q/100·(n − 1)`. 0 for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (pos.ceil() as usize).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// The same as [`percentile`] over `v` sorted, without sorting: `qs` ascending, each found by
/// selection (`O(n)` per percentile instead of `O(n log n)` for the sort). Reorders `v`.
pub fn percentiles_unsorted(v: &mut [f64], qs: &[f64], out: &mut [f64]) {
    let n = v.len();
    if n == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    // Order statistics are found left to right: everything left of `start` is ≤ v[start..].
    let mut start = 0usize;
    let order_stat = |v: &mut [f64], k: usize, start: &mut usize| -> f64 {
        if k < *start {
            // Ranks only go back by one, to the previous `lo`, which was selected exactly
            // and sits in place.
            return v[k];
        }
        let (_, x, _) = v[*start..].select_nth_unstable_by(k - *start, f64::total_cmp);
        let x = *x;
        *start = k + 1;
        x
    };
    for (q, o) in qs.iter().zip(out.iter_mut()) {
        let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
        let pos = q / 100.0 * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (pos.ceil() as usize).min(n - 1);
        let frac = pos - lo as f64;
        let a = order_stat(v, lo, &mut start);
        let b = if hi == lo { a } else { order_stat(v, hi, &mut start) };
        *o = a + (b - a) * frac;
    }
}

impl Stats {
    /// Summary of unsorted values (reordered in place, not fully sorted).
    pub fn of(mut v: Vec<f64>) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let mut p = [0.0; 6];
        percentiles_unsorted(&mut v, &[50.0, 90.0, 95.0, 99.0, 99.9, 100.0], &mut p);
        Stats { count: n as u64, mean, p50: p[0], p90: p[1], p95: p[2], p99: p[3], p999: p[4], max: p[5] }
    }
}

/// Service-level objectives for goodput (config key `slo:`). An unset target is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    /// Time to first token target, seconds.
    pub ttft_s: Option<f64>,
    /// Target for the request's TBT percentile `tbt_percentile`, seconds.
    pub tbt_s: Option<f64>,
    /// Time per output token target, seconds.
    pub tpot_s: Option<f64>,
    /// End-to-end latency target, seconds.
    pub e2e_s: Option<f64>,
    /// Which percentile of a request's own TBT gaps is compared with `tbt_s` (0–100).
    pub tbt_percentile: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Slo { ttft_s: None, tbt_s: None, tpot_s: None, e2e_s: None, tbt_percentile: 99.0 }
    }
}

impl Slo {
    /// Check the targets: each positive and finite, the percentile within 0–100.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("ttft_s", self.ttft_s), ("tbt_s", self.tbt_s), ("tpot_s", self.tpot_s), ("e2e_s", self.e2e_s)] {
            if let Some(x) = v {
                if !(x.is_finite() && x > 0.0) {
                    return Err(format!("slo.{name} = {x}: expected a positive number of seconds"));
                }
            }
        }
        if !(0.0..=100.0).contains(&self.tbt_percentile) {
            return Err(format!("slo.tbt_percentile = {}: expected a percentile between 0 and 100", self.tbt_percentile));
        }
        Ok(())
    }

    /// True when at least one target is set.
    pub fn any(&self) -> bool {
        self.ttft_s.is_some() || self.tbt_s.is_some() || self.tpot_s.is_some() || self.e2e_s.is_some()
    }
}

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
    /// Describe a run on built systems (one per pool, as `app::build_systems` returns them).
    pub fn from_systems(trace: &str, model: &str, system: &str, backend: &str, systems: &[System]) -> RunInfo {
        let pools: Vec<PoolInfo> = systems
            .iter()
            .map(|s| PoolInfo {
                role: s.pool.role.name().to_string(),
                device: s.device.key.clone(),
                replicas: s.pool.replicas,
                devices_per_replica: s.plan.devices,
                peak_flops_per_device: s.device.spec.peak_matmul_flops_for(s.info.weight_dtype),
                mem_bw_bytes_per_s_per_device: s.device.spec.mem_bw_bytes_per_s,
            })
            .collect();
        RunInfo {
            trace: trace.to_string(),
            request_rate: rate_from_trace_name(trace),
            model: model.to_string(),
            system: system.to_string(),
            backend: backend.to_string(),
            batching: systems.first().map(|s| s.pool.batching.name.clone()).unwrap_or_default(),
            devices: pools.iter().map(|p| p.replicas as u64 * p.devices_per_replica as u64).sum(),
            pools,
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
    pub total: u64,
    pub completed: u64,
    /// Requests that produced at least one token.
    pub started: u64,
    /// Requests preempted at least once.
    pub preempted: u64,
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
pub struct Engine {
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
    pub engine: Engine,
    pub replicas: Vec<ReplicaMetrics>,
}

/// Per-request metrics (one row of `requests.csv`). `None` where undefined for the request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestMetrics {
    pub completed: bool,
    pub first_token_s: Option<f64>,
    pub last_token_s: Option<f64>,
    pub queueing_s: Option<f64>,
    /// First token − first scheduled.
    pub prefill_s: Option<f64>,
    pub ttft_s: Option<f64>,
    /// Last − first token (completed requests).
    pub decode_s: Option<f64>,
    /// (last − first token) / (n − 1) (completed, n > 1).
    pub tpot_s: Option<f64>,
    pub e2e_s: Option<f64>,
    pub normalized_latency_s_per_token: Option<f64>,
    pub tbt_mean_s: Option<f64>,
    pub tbt_max_s: Option<f64>,
    /// The request's TBT gaps at the SLO's `tbt_percentile`.
    pub tbt_at_slo_percentile_s: Option<f64>,
    /// Each target met? `None` where the target is unset.
    pub meets_ttft: Option<bool>,
    pub meets_tbt: Option<bool>,
    pub meets_tpot: Option<bool>,
    pub meets_e2e: Option<bool>,
    /// Completed and every set target met.
    pub meets_all: bool,
}

impl RequestMetrics {
    /// Metrics of one request. `scratch` is reused for its sorted gaps.
    pub fn of(q: &RequestRecord, slo: &Slo, scratch: &mut Vec<f64>) -> RequestMetrics {
        let completed = q.completed() && !q.token_times.is_empty();
        let first = q.token_times.first().copied();
        let last = q.token_times.last().copied();
        let n = q.token_times.len();
        scratch.clear();
        scratch.extend(q.token_times.windows(2).map(|w| w[1] - w[0]));
        let (tbt_mean, tbt_max, tbt_pct) = if scratch.is_empty() {
            (None, None, None)
        } else {
            let mean = scratch.iter().sum::<f64>() / scratch.len() as f64;
            let mut p = [0.0; 2];
            percentiles_unsorted(scratch, &[slo.tbt_percentile, 100.0], &mut p);
            (Some(mean), Some(p[1]), Some(p[0]))
        };
        let ttft = first.map(|f| f - q.arrival_s);
        let e2e = if completed { last.map(|l| l - q.arrival_s) } else { None };
        let tpot = if completed && n > 1 { Some((last.unwrap_or(0.0) - first.unwrap_or(0.0)) / (n - 1) as f64) } else { None };
        // A criterion is met when the request reached the quantity and it is within target;
        // requests with one token have no TBT/TPOT and meet those targets by definition.
        let meets_ttft = slo.ttft_s.map(|t| ttft.is_some_and(|x| x <= t));
        let meets_tbt = slo.tbt_s.map(|t| completed && !matches!(tbt_pct, Some(x) if x > t));
        let meets_tpot = slo.tpot_s.map(|t| completed && !matches!(tpot, Some(x) if x > t));
        let meets_e2e = slo.e2e_s.map(|t| e2e.is_some_and(|x| x <= t));
        let meets_all = completed && [meets_ttft, meets_tbt, meets_tpot, meets_e2e].iter().all(|m| m.unwrap_or(true));
        RequestMetrics {
            completed,
            first_token_s: first,
            last_token_s: last,
            queueing_s: q.first_scheduled_s.map(|s| s - q.arrival_s),
            prefill_s: match (first, q.first_scheduled_s) {
                (Some(f), Some(s)) => Some(f - s),
                _ => None,
            },
            ttft_s: ttft,
            decode_s: if completed && n > 1 { Some(last.unwrap_or(0.0) - first.unwrap_or(0.0)) } else { None },
            tpot_s: tpot,
            e2e_s: e2e,
            normalized_latency_s_per_token: e2e.map(|e| e / q.output_tokens.max(1) as f64),
            tbt_mean_s: tbt_mean,
            tbt_max_s: tbt_max,
            tbt_at_slo_percentile_s: tbt_pct,
            meets_ttft,
            meets_tbt,
            meets_tpot,
            meets_e2e,
            meets_all,
        }
    }
}

/// Per-iteration utilisation: (MFU, MBU) of one iteration on a device with the given peaks:
/// `flops / (cost · peak_flops)`, `bytes / (cost · bandwidth)`; 0 when undefined.
pub fn iteration_utilisation(it: &IterationRecord, peak_flops: f64, mem_bw_bytes_per_s: f64) -> (f64, f64) {
    let t = it.cost.total_s;
    (div(it.cost.flops, t * peak_flops), div(it.cost.bytes, t * mem_bw_bytes_per_s))
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 && b.is_finite() {
        a / b
    } else {
        0.0
    }
}

/// Compute the summary of a run on `devices` devices of one kind with the given peaks and no
/// SLO (kept for callers that have no [`RunInfo`]).
pub fn summarize(r: &SimResult, devices: u32, peak_flops: f64, mem_bw_bytes_per_s: f64) -> Summary {
    let run = RunInfo {
        devices: devices as u64,
        pools: vec![PoolInfo {
            role: "colocated".into(),
            device: String::new(),
            replicas: r.replicas.len().max(1) as u32,
            devices_per_replica: (devices / r.replicas.len().max(1) as u32).max(1),
            peak_flops_per_device: peak_flops,
            mem_bw_bytes_per_s_per_device: mem_bw_bytes_per_s,
        }],
        ..RunInfo::default()
    };
    summarize_run(r, run, &Slo::default())
}

/// Running totals over a run's iterations: what the summary needs, without keeping every
/// iteration (a million-request run has tens of millions). The engine fills one as it goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationTotals {
    pub count: u64,
    pub seqs: u64,
    pub tokens: u64,
    pub max_batch_seqs: u64,
    pub max_tokens_per_iteration: u64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    pub busy_s: f64,
    pub compute_s: f64,
    pub comm_s: f64,
    pub flops: f64,
    pub bytes: f64,
    /// Σ iteration time × its pool's peak FLOP/s (the MFU denominator).
    pub peak_time_flops: f64,
    /// Σ iteration time × its pool's DRAM bandwidth (the MBU denominator).
    pub peak_time_bytes: f64,
    /// Σ used / total KV blocks of the iteration's replica.
    pub kv_fraction_sum: f64,
    /// Every iteration's duration (8 bytes per iteration).
    pub iteration_s: Vec<f64>,
    /// Busy time by kind of work (see `engine::system::WORK_KINDS`), seconds.
    pub by_kind_s: Vec<f64>,
    pub replicas: Vec<ReplicaTotals>,
}

/// Per-replica part of [`IterationTotals`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaTotals {
    pub iterations: u64,
    pub busy_s: f64,
    pub comm_s: f64,
    pub flops: f64,
    pub bytes: f64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
}

impl IterationTotals {
    /// Add one iteration, on a replica with `kv_total_blocks` whose devices peak at
    /// `peak_flops` FLOP/s and `mem_bw` bytes/s.
    pub fn add(&mut self, it: &IterationRecord, kv_total_blocks: u64, peak_flops: f64, mem_bw: f64) {
        let c = &it.cost;
        let tokens = it.prefill_tokens as u64 + it.decode_tokens as u64;
        self.count += 1;
        self.seqs += it.seqs as u64;
        self.tokens += tokens;
        self.max_batch_seqs = self.max_batch_seqs.max(it.seqs as u64);
        self.max_tokens_per_iteration = self.max_tokens_per_iteration.max(tokens);
        self.prefill_tokens += it.prefill_tokens as u64;
        self.decode_tokens += it.decode_tokens as u64;
        self.busy_s += c.total_s;
        self.compute_s += c.compute_s;
        self.comm_s += c.comm_s;
        self.flops += c.flops;
        self.bytes += c.bytes;
        self.peak_time_flops += c.total_s * peak_flops;
        self.peak_time_bytes += c.total_s * mem_bw;
        self.kv_fraction_sum += div(it.kv_used_blocks as f64, kv_total_blocks as f64);
        self.iteration_s.push(c.total_s);
        if self.by_kind_s.len() < c.by_kind_s.len() {
            self.by_kind_s.resize(c.by_kind_s.len(), 0.0);
        }
        for (a, b) in self.by_kind_s.iter_mut().zip(c.by_kind_s) {
            *a += b;
        }
        let r = it.replica as usize;
        if self.replicas.len() <= r {
            self.replicas.resize(r + 1, ReplicaTotals::default());
        }
        let a = &mut self.replicas[r];
        a.iterations += 1;
        a.busy_s += c.total_s;
        a.comm_s += c.comm_s;
        a.flops += c.flops;
        a.bytes += c.bytes;
        a.prefill_tokens += it.prefill_tokens as u64;
        a.decode_tokens += it.decode_tokens as u64;
    }

    /// Totals of a run whose iterations were all kept.
    pub fn of_run(r: &SimResult, run: &RunInfo) -> IterationTotals {
        let mut t = IterationTotals::default();
        for it in &r.iterations {
            let (pf, bw) = run.peaks_of(it.replica);
            let kv_total = r.replicas.get(it.replica as usize).map(|x| x.kv_total_blocks).unwrap_or(r.kv_total_blocks);
            t.add(it, kv_total, pf, bw);
        }
        t
    }
}

#[derive(Default)]
struct ReplicaAcc {
    completed: u64,
    iterations: u64,
    busy_s: f64,
    comm_s: f64,
    flops: f64,
    bytes: f64,
    prefill_tokens: u64,
    decode_tokens: u64,
    ttft: Vec<f64>,
    tbt: Vec<f64>,
}

/// Compute the summary of a run described by `run`, with goodput against `slo`.
pub fn summarize_run(r: &SimResult, run: RunInfo, slo: &Slo) -> Summary {
    let n_rep = r.replicas.len().max(r.iterations.iter().map(|i| i.replica as usize + 1).max().unwrap_or(0));
    let mut reps: Vec<ReplicaAcc> = (0..n_rep).map(|_| ReplicaAcc::default()).collect();
    let (mut ttft, mut tbt, mut tpot, mut e2e, mut norm, mut queue, mut prefill, mut decode, mut transfer) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut counts = RequestCounts { total: r.requests.len() as u64, ..RequestCounts::default() };
    let (mut in_tok, mut out_tok) = (0u64, 0u64);
    let (mut met, mut met_ttft, mut met_tbt, mut met_tpot, mut met_e2e) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let first_arrival = r.requests.iter().map(|q| q.arrival_s).fold(f64::INFINITY, f64::min);
    let mut last_done = f64::NEG_INFINITY;
    let mut scratch = Vec::new();
    for q in &r.requests {
        let m = RequestMetrics::of(q, slo, &mut scratch);
        let dec_rep = q.decode_replica.unwrap_or(q.replica) as usize;
        if let Some(v) = m.queueing_s {
            queue.push(v);
        }
        if let Some(v) = m.ttft_s {
            counts.started += 1;
            ttft.push(v);
            if let Some(a) = reps.get_mut(q.replica as usize) {
                a.ttft.push(v);
            }
        }
        if let Some(v) = m.prefill_s {
            prefill.push(v);
        }
        for w in q.token_times.windows(2) {
            tbt.push(w[1] - w[0]);
            if let Some(a) = reps.get_mut(dec_rep) {
                a.tbt.push(w[1] - w[0]);
            }
        }
        if q.decode_replica.is_some() && !q.token_times.is_empty() {
            transfer.push(q.transfer_s);
        }
        if q.preemptions > 0 {
            counts.preempted += 1;
        }
        out_tok += q.token_times.len() as u64;
        met_ttft += m.meets_ttft.unwrap_or(false) as u64;
        met_tbt += m.meets_tbt.unwrap_or(false) as u64;
        met_tpot += m.meets_tpot.unwrap_or(false) as u64;
        met_e2e += m.meets_e2e.unwrap_or(false) as u64;
        met += m.meets_all as u64;
        if m.completed {
            counts.completed += 1;
            in_tok += q.prompt_tokens as u64;
            last_done = last_done.max(m.last_token_s.unwrap_or(f64::NEG_INFINITY));
            if let Some(a) = reps.get_mut(dec_rep) {
                a.completed += 1;
            }
            e2e.extend(m.e2e_s);
            norm.extend(m.normalized_latency_s_per_token);
            tpot.extend(m.tpot_s);
            decode.extend(m.decode_s);
        }
    }
    let makespan = if counts.completed > 0 { (last_done - first_arrival).max(0.0) } else { 0.0 };
    let per_s = |x: f64| div(x, makespan);
    let devices = run.devices.max(1) as f64;

    // Iterations: totals, utilisation weighted by each iteration's own device peaks.
    let mut e = Engine {
        preemptions: r.preemptions,
        kv_total_blocks: r.kv_total_blocks,
        kv_block_tokens: r.kv_block_tokens,
        kv_peak_used_blocks: r.kv_peak_used_blocks,
        kv_peak_used_fraction: div(r.kv_peak_used_blocks as f64, r.kv_total_blocks as f64),
        ..Engine::default()
    };
    let totals = match &r.totals {
        Some(t) => t.clone(),
        None => IterationTotals::of_run(r, &run),
    };
    e.iterations = totals.count;
    e.max_batch_seqs = totals.max_batch_seqs;
    e.max_tokens_per_iteration = totals.max_tokens_per_iteration;
    e.prefill_tokens = totals.prefill_tokens;
    e.decode_tokens = totals.decode_tokens;
    e.busy_s = totals.busy_s;
    e.compute_s = totals.compute_s;
    e.comm_s = totals.comm_s;
    e.flops = totals.flops;
    e.bytes = totals.bytes;
    for (i, t) in totals.replicas.iter().enumerate() {
        if reps.len() <= i {
            reps.resize_with(i + 1, ReplicaAcc::default);
        }
        let a = &mut reps[i];
        a.iterations = t.iterations;
        a.busy_s = t.busy_s;
        a.comm_s = t.comm_s;
        a.flops = t.flops;
        a.bytes = t.bytes;
        a.prefill_tokens = t.prefill_tokens;
        a.decode_tokens = t.decode_tokens;
    }
    let iters = totals.count as f64;
    e.mean_batch_seqs = div(totals.seqs as f64, iters);
    e.mean_tokens_per_iteration = div(totals.tokens as f64, iters);
    e.mean_kv_used_fraction = div(totals.kv_fraction_sum, iters);
    e.compute_fraction = div(e.compute_s, e.busy_s);
    e.comm_fraction = div(e.comm_s, e.busy_s);
    e.mfu = div(e.flops, totals.peak_time_flops);
    e.mbu = div(e.bytes, totals.peak_time_bytes);
    e.time_by_kind_s = crate::engine::system::WORK_KINDS
        .iter()
        .zip(totals.by_kind_s.iter().copied().chain(std::iter::repeat(0.0)))
        .filter(|(_, t)| *t > 0.0)
        .map(|(k, t)| (k.to_string(), t))
        .collect();
    e.iteration_s = Stats::of(totals.iteration_s);

    let replicas = reps
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let s = r.replicas.get(i);
            let (pf, bw) = run.peaks_of(i as u32);
            ReplicaMetrics {
                replica: i as u32,
                pool: s.map(|s| s.pool).unwrap_or(0),
                role: s.map(|s| s.role.name().to_string()).unwrap_or_default(),
                devices: run.devices_of(i as u32),
                requests: s.map(|s| s.requests).unwrap_or(0),
                completed: a.completed,
                iterations: a.iterations,
                busy_s: a.busy_s,
                busy_fraction: div(a.busy_s, makespan),
                prefill_tokens: a.prefill_tokens,
                decode_tokens: a.decode_tokens,
                mfu: div(a.flops, a.busy_s * pf),
                mbu: div(a.bytes, a.busy_s * bw),
                comm_fraction: div(a.comm_s, a.busy_s),
                kv_total_blocks: s.map(|s| s.kv_total_blocks).unwrap_or(0),
                kv_peak_used_blocks: s.map(|s| s.kv_peak_used_blocks).unwrap_or(0),
                ttft_s: Stats::of(a.ttft),
                tbt_s: Stats::of(a.tbt),
            }
        })
        .collect();

    let frac = |k: u64| div(k as f64, counts.total as f64);
    Summary {
        requests: counts,
        ttft_s: Stats::of(ttft),
        tbt_s: Stats::of(tbt),
        tpot_s: Stats::of(tpot),
        e2e_s: Stats::of(e2e),
        normalized_latency_s_per_token: Stats::of(norm),
        queueing_s: Stats::of(queue),
        prefill_s: Stats::of(prefill),
        decode_s: Stats::of(decode),
        kv_transfer_s: Stats::of(transfer),
        throughput: Throughput {
            requests_per_s: per_s(counts.completed as f64),
            input_tokens_per_s: per_s(in_tok as f64),
            output_tokens_per_s: per_s(out_tok as f64),
            total_tokens_per_s: per_s((in_tok + out_tok) as f64),
            requests_per_s_per_device: per_s(counts.completed as f64) / devices,
            input_tokens_per_s_per_device: per_s(in_tok as f64) / devices,
            output_tokens_per_s_per_device: per_s(out_tok as f64) / devices,
        },
        goodput: Goodput {
            slo: *slo,
            requests_met: met,
            requests_per_s: per_s(met as f64),
            requests_per_s_per_device: per_s(met as f64) / devices,
            attainment: Attainment {
                ttft: slo.ttft_s.map(|_| frac(met_ttft)),
                tbt: slo.tbt_s.map(|_| frac(met_tbt)),
                tpot: slo.tpot_s.map(|_| frac(met_tpot)),
                e2e: slo.e2e_s.map(|_| frac(met_e2e)),
                all: frac(met),
            },
        },
        makespan_s: makespan,
        end_s: r.end_s,
        engine: e,
        replicas,
        run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_percentiles_equal_sorted_ones() {
        let mut x: u64 = 12345;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let mut v: Vec<f64> = (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((x >> 33) % 50) as f64 / 7.0
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let qs = [0.0, 12.5, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0];
            let mut out = [0.0; 8];
            percentiles_unsorted(&mut v, &qs, &mut out);
            for (q, o) in qs.iter().zip(out) {
                assert_eq!(o, percentile(&sorted, *q), "n {n} q {q}");
            }
        }
    }
    use crate::config::Role;
    use crate::engine::{ReplicaSummary, RequestRecord, StepCost};

    fn rec(id: u64, arrival: f64, times: &[f64]) -> RequestRecord {
        RequestRecord {
            id,
            arrival_s: arrival,
            prompt_tokens: 10,
            output_tokens: times.len() as u32,
            first_scheduled_s: Some(arrival + 0.5),
            token_times: times.to_vec(),
            preemptions: 0,
            replica: 0,
            decode_replica: None,
            transfer_s: 0.0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn it(start: f64, total: f64, comm: f64, flops: f64, bytes: f64, seqs: u32, pf: u32, dec: u32, kv: u64) -> IterationRecord {
        IterationRecord {
            replica: 0,
            start_s: start,
            end_s: start + total,
            prefill_tokens: pf,
            decode_tokens: dec,
            seqs,
            kv_used_blocks: kv,
            cost: StepCost { total_s: total, compute_s: total - comm, comm_s: comm, flops, bytes, ..StepCost::default() },
        }
    }

    /// The hand-made run of the docs: three requests, two iterations, one replica.
    pub(crate) fn three_requests() -> SimResult {
        SimResult {
            iterations_truncated: false,
            totals: None,
            requests: vec![rec(0, 0.0, &[1.0, 2.0, 4.0]), rec(1, 1.0, &[3.0, 3.5]), rec(2, 2.0, &[5.0])],
            iterations: vec![it(0.5, 0.5, 0.1, 1e14, 2e11, 1, 10, 0, 1), it(1.0, 1.0, 0.5, 1e14, 8e11, 2, 10, 1, 3)],
            replicas: vec![ReplicaSummary {
                pool: 0,
                role: Role::Colocated,
                requests: 3,
                kv_total_blocks: 10,
                kv_peak_used_blocks: 3,
                kv_used_blocks_at_end: 0,
                busy_s: 1.5,
            }],
            preemptions: 0,
            kv_total_blocks: 10,
            kv_peak_used_blocks: 3,
            kv_block_tokens: 16,
            end_s: 5.0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn three_requests_by_hand() {
        // r0: arrives 0, scheduled 0.5, tokens at 1, 2, 4 → TTFT 1, TBT 1 and 2, TPOT 1.5, E2E 4,
        //     prefill 0.5, decode 3.
        // r1: arrives 1, scheduled 1.5, tokens at 3, 3.5 → TTFT 2, TBT 0.5, TPOT 0.5, E2E 2.5,
        //     prefill 1.5, decode 0.5.
        // r2: arrives 2, scheduled 2.5, token at 5 → TTFT 3, E2E 3, prefill 2.5 (no TPOT, decode).
        let r = three_requests();
        let s = summarize(&r, 8, 1e15, 1e12);
        assert_eq!(s.requests, RequestCounts { total: 3, completed: 3, started: 3, preempted: 0 });
        // TTFT [1, 2, 3]: mean 2; p50 2; p90: r = 0.9·2 = 1.8 → 2 + 0.8 = 2.8; p95 2.9; p99 2.98;
        // p99.9: r = 1.998 → 2.998; max 3.
        assert_eq!(s.ttft_s.mean, 2.0);
        assert_eq!(s.ttft_s.p50, 2.0);
        assert!(close(s.ttft_s.p90, 2.8));
        assert!(close(s.ttft_s.p95, 2.9));
        assert!(close(s.ttft_s.p99, 2.98));
        assert!(close(s.ttft_s.p999, 2.998));
        assert_eq!(s.ttft_s.max, 3.0);
        // TBT gaps sorted: 0.5, 1, 2 → mean 3.5/3, p50 1, p90: r = 1.8 → 1 + 0.8·1 = 1.8.
        assert!(close(s.tbt_s.mean, 3.5 / 3.0));
        assert_eq!(s.tbt_s.p50, 1.0);
        assert!(close(s.tbt_s.p90, 1.8));
        assert_eq!(s.tbt_s.count, 3);
        // TPOT [1.5, 0.5]: mean 1, p50 1 (r = 0.5), p99: 0.5 + 0.99·1 = 1.49.
        assert_eq!(s.tpot_s.count, 2);
        assert_eq!(s.tpot_s.mean, 1.0);
        assert!(close(s.tpot_s.p99, 1.49));
        // E2E [4, 2.5, 3] → mean 9.5/3, p50 3.
        assert!(close(s.e2e_s.mean, 9.5 / 3.0));
        assert_eq!(s.e2e_s.p50, 3.0);
        // Normalised: 4/3, 2.5/2, 3/1 → mean (4/3 + 1.25 + 3)/3.
        assert!(close(s.normalized_latency_s_per_token.mean, (4.0 / 3.0 + 1.25 + 3.0) / 3.0));
        assert_eq!(s.queueing_s.mean, 0.5);
        // Prefill [0.5, 1.5, 2.5]: mean 1.5, p90 1.5 + 0.8 = 2.3. Decode [3, 0.5]: mean 1.75.
        assert!(close(s.prefill_s.mean, 1.5));
        assert!(close(s.prefill_s.p90, 2.3));
        assert!(close(s.decode_s.mean, 1.75));
        assert_eq!(s.decode_s.count, 2);
        assert_eq!(s.kv_transfer_s.count, 0);
        // Makespan 5 − 0 = 5 s: 3 requests → 0.6 req/s; 6 output tokens → 1.2 tok/s; 30 input
        // tokens → 6 tok/s; per device (8): 0.075 req/s, 0.15 output tok/s.
        assert_eq!(s.makespan_s, 5.0);
        assert!(close(s.throughput.requests_per_s, 0.6));
        assert!(close(s.throughput.output_tokens_per_s, 1.2));
        assert!(close(s.throughput.input_tokens_per_s, 6.0));
        assert!(close(s.throughput.total_tokens_per_s, 7.2));
        assert!(close(s.throughput.requests_per_s_per_device, 0.075));
        assert!(close(s.throughput.output_tokens_per_s_per_device, 0.15));
        // No SLO: goodput = throughput, attainment of "all" = completed fraction.
        assert_eq!(s.goodput.requests_met, 3);
        assert!(close(s.goodput.requests_per_s, 0.6));
        assert_eq!(s.goodput.attainment, Attainment { ttft: None, tbt: None, tpot: None, e2e: None, all: 1.0 });
        // Engine: busy 0.5 + 1 = 1.5 s; comm 0.1 + 0.5 = 0.6 → 0.4; compute 0.9 → 0.6;
        // MFU 2e14 / (1.5 · 1e15) = 2/15; MBU 1e12 / (1.5 · 1e12) = 2/3; mean batch 1.5 seqs,
        // tokens (10 + 11)/2 = 10.5; KV used fractions 0.1 and 0.3 → 0.2; peak 3/10.
        let e = &s.engine;
        assert_eq!(e.iterations, 2);
        assert!(close(e.busy_s, 1.5));
        assert!(close(e.comm_fraction, 0.4));
        assert!(close(e.compute_fraction, 0.6));
        assert!(close(e.mfu, 2.0 / 15.0));
        assert!(close(e.mbu, 2.0 / 3.0));
        assert!(close(e.mean_batch_seqs, 1.5));
        assert!(close(e.mean_tokens_per_iteration, 10.5));
        assert_eq!((e.max_batch_seqs, e.max_tokens_per_iteration, e.prefill_tokens, e.decode_tokens), (2, 11, 20, 1));
        assert!(close(e.mean_kv_used_fraction, 0.2));
        assert!(close(e.kv_peak_used_fraction, 0.3));
        assert!(close(e.iteration_s.mean, 0.75));
        // Per-iteration MFU: 1e14 / (0.5 · 1e15) = 0.2 and 1e14 / (1 · 1e15) = 0.1.
        assert!(close(iteration_utilisation(&r.iterations[0], 1e15, 1e12).0, 0.2));
        assert!(close(iteration_utilisation(&r.iterations[1], 1e15, 1e12).1, 0.8));
        // One replica of all 8 devices: busy 1.5 of 5 s → 0.3; same MFU/MBU as the run.
        let rep = &s.replicas[0];
        assert_eq!((rep.devices, rep.requests, rep.completed, rep.iterations), (8, 3, 3, 2));
        assert!(close(rep.busy_fraction, 0.3));
        assert!(close(rep.mfu, 2.0 / 15.0));
        assert_eq!(rep.ttft_s, s.ttft_s);
        assert_eq!(rep.tbt_s, s.tbt_s);
    }

    #[test]
    fn goodput_by_hand() {
        let r = three_requests();
        // TTFT ≤ 2.5: r0 (1), r1 (2) meet, r2 (3) misses → 2/3.
        // TBT p50 ≤ 1.5: r0 gaps [1, 2] → p50 1.5 meets; r1 [0.5] meets; r2 has no gap, meets.
        let slo = Slo { ttft_s: Some(2.5), tbt_s: Some(1.5), tbt_percentile: 50.0, ..Slo::default() };
        let s = summarize_run(&r, RunInfo { devices: 2, ..RunInfo::default() }, &slo);
        let a = s.goodput.attainment;
        assert!(close(a.ttft.unwrap(), 2.0 / 3.0));
        assert_eq!(a.tbt, Some(1.0));
        assert_eq!((a.tpot, a.e2e), (None, None));
        // All: r0 and r1 → 2 requests over the 5 s makespan = 0.4 req/s; 0.2 per device.
        assert_eq!(s.goodput.requests_met, 2);
        assert!(close(a.all, 2.0 / 3.0));
        assert!(close(s.goodput.requests_per_s, 0.4));
        assert!(close(s.goodput.requests_per_s_per_device, 0.2));
        // TBT at p99: r0's p99 = 1 + 0.99·1 = 1.99 > 1.5 → misses; TPOT ≤ 1.2: r0 (1.5) misses,
        // r1 (0.5) and r2 (one token) meet; E2E ≤ 3.5: r0 (4) misses, r1 (2.5), r2 (3) meet.
        let slo = Slo { tbt_s: Some(1.5), tpot_s: Some(1.2), e2e_s: Some(3.5), ..Slo::default() };
        let s = summarize_run(&r, RunInfo::default(), &slo);
        let a = s.goodput.attainment;
        assert!(close(a.tbt.unwrap(), 2.0 / 3.0));
        assert!(close(a.tpot.unwrap(), 2.0 / 3.0));
        assert!(close(a.e2e.unwrap(), 2.0 / 3.0));
        assert_eq!(s.goodput.requests_met, 2);
        let m = RequestMetrics::of(&r.requests[0], &slo, &mut Vec::new());
        assert!(close(m.tbt_at_slo_percentile_s.unwrap(), 1.99));
        assert_eq!((m.meets_tbt, m.meets_ttft, m.meets_all), (Some(false), None, false));
    }

    #[test]
    fn disaggregated_run_by_hand() {
        // Replica 0 (prefill pool, peak 1e15) prefills one request; its KV moves in 0.25 s to
        // replica 1 (decode pool, peak 2e15) which produces tokens 2 and 3.
        let mut q = rec(0, 0.0, &[1.0, 1.5, 2.0]);
        q.decode_replica = Some(1);
        q.transfer_s = 0.25;
        let mut i0 = it(0.5, 0.5, 0.0, 1e14, 0.0, 1, 10, 0, 1);
        let mut i1 = it(1.25, 0.25, 0.0, 1e14, 0.0, 1, 0, 1, 1);
        i0.replica = 0;
        i1.replica = 1;
        let rs = |pool, role| ReplicaSummary {
            pool,
            role,
            requests: 1,
            kv_total_blocks: 4,
            kv_peak_used_blocks: 1,
            busy_s: 0.0,
            kv_used_blocks_at_end: 0,
        };
        let r = SimResult {
            iterations_truncated: false,
            totals: None,
            requests: vec![q],
            iterations: vec![i0, i1],
            replicas: vec![rs(0, Role::Prefill), rs(1, Role::Decode)],
            preemptions: 0,
            kv_total_blocks: 8,
            kv_peak_used_blocks: 2,
            kv_block_tokens: 16,
            end_s: 2.0,
        };
        let pool = |role: &str, peak| PoolInfo {
            role: role.into(),
            device: "d".into(),
            replicas: 1,
            devices_per_replica: 2,
            peak_flops_per_device: peak,
            mem_bw_bytes_per_s_per_device: 1e12,
        };
        let run = RunInfo { devices: 4, pools: vec![pool("prefill", 1e15), pool("decode", 2e15)], ..RunInfo::default() };
        let s = summarize_run(&r, run, &Slo::default());
        assert_eq!(s.kv_transfer_s.count, 1);
        assert_eq!(s.kv_transfer_s.mean, 0.25);
        // Run MFU: 2e14 / (0.5 · 1e15 + 0.25 · 2e15) = 2e14 / 1e15 = 0.2; replica 0: 1e14 /
        // (0.5 · 1e15) = 0.2; replica 1: 1e14 / (0.25 · 2e15) = 0.2.
        assert!(close(s.engine.mfu, 0.2));
        assert!(close(s.replicas[0].mfu, 0.2) && close(s.replicas[1].mfu, 0.2));
        // TTFT belongs to the prefill replica, the two gaps and the completion to the decode one.
        assert_eq!((s.replicas[0].ttft_s.count, s.replicas[0].tbt_s.count, s.replicas[0].completed), (1, 0, 0));
        assert_eq!((s.replicas[1].ttft_s.count, s.replicas[1].tbt_s.count, s.replicas[1].completed), (0, 2, 1));
        assert_eq!((s.replicas[0].role.as_str(), s.replicas[1].role.as_str()), ("prefill", "decode"));
    }

    #[test]
    fn unfinished_requests_fail_completion_criteria() {
        let mut q = rec(0, 0.0, &[1.0]);
        q.output_tokens = 3;
        let slo = Slo { ttft_s: Some(2.0), e2e_s: Some(100.0), ..Slo::default() };
        let m = RequestMetrics::of(&q, &slo, &mut Vec::new());
        assert!(!m.completed);
        assert_eq!((m.meets_ttft, m.meets_e2e, m.meets_all), (Some(true), Some(false), false));
        assert_eq!(m.e2e_s, None);
    }

    #[test]
    fn slo_validation_and_trace_rates() {
        assert!(Slo::default().validate().is_ok());
        assert!(Slo { ttft_s: Some(-1.0), ..Slo::default() }.validate().is_err());
        assert!(Slo { tbt_percentile: 101.0, ..Slo::default() }.validate().is_err());
        let s: Slo = serde_json::from_str(r#"{"ttft_s": 0.5}"#).unwrap();
        assert_eq!((s.ttft_s, s.tbt_percentile), (Some(0.5), 99.0));
        assert!(serde_json::from_str::<Slo>(r#"{"ttft": 0.5}"#).is_err());
        assert_eq!(rate_from_trace_name("rr_code_2.5"), Some(2.5));
        assert_eq!(rate_from_trace_name("rr_conv_10"), Some(10.0));
        assert_eq!(rate_from_trace_name("azure"), None);
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = summarize(&three_requests(), 8, 1e15, 1e12);
        let back: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!((back.requests, back.engine.iterations, back.replicas.len()), (s.requests, 2, 1));
        assert!(close(back.ttft_s.p90, s.ttft_s.p90) && close(back.engine.mfu, s.engine.mfu));
        // An older summary.json without the new keys still loads.
        let old: Summary = serde_json::from_str(r#"{"requests": {"total": 3, "completed": 3}, "makespan_s": 5.0}"#).unwrap();
        assert_eq!(old.makespan_s, 5.0);
    }
}
