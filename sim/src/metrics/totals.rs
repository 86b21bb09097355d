//! Running totals over a run's iterations.

use super::Quantiles;
use crate::engine::IterationRecord;

/// Running totals over a run's iterations: what the summary needs, without keeping every
/// iteration (a million-request run has tens of millions). The engine fills one as it goes.
#[derive(Debug, Clone, Default)]
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
    /// Iteration durations, seconds.
    pub iteration_s: Quantiles,
    /// Busy time by kind of work (see [`crate::cost::work_kind_name`]), seconds.
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
}

/// `a / b`, or 0 when `b` is not a positive finite number.
pub(crate) fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 && b.is_finite() {
        a / b
    } else {
        0.0
    }
}

/// Per-iteration utilisation: (MFU, MBU) of one iteration on a device with the given peaks:
/// `flops / (cost · peak_flops)`, `bytes / (cost · bandwidth)`; 0 when undefined.
pub fn iteration_utilisation(it: &IterationRecord, peak_flops: f64, mem_bw_bytes_per_s: f64) -> (f64, f64) {
    let t = it.cost.total_s;
    (div(it.cost.flops, t * peak_flops), div(it.cost.bytes, t * mem_bw_bytes_per_s))
}
