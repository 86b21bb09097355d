//! Running totals over a run's iterations.

use super::{Quantiles, Stats};
use crate::cost::{StepCost, N_WORK_KINDS};
use crate::engine::IterationRecord;

/// What [`IterationTotals::add_parts`] needs of an iteration besides its cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationTokens {
    /// Global replica index.
    pub replica: u32,
    /// Prefill tokens in the batch.
    pub prefill_tokens: u32,
    /// Decoding sequences in the batch.
    pub decode_tokens: u32,
    /// Sequences in the batch.
    pub seqs: u32,
    /// KV blocks in use on the replica after admission.
    pub kv_used_blocks: u64,
}

/// Sums of the floating-point figures of iterations (run-wide, or one replica's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CostSums {
    /// Σ iteration time, seconds.
    pub busy_s: f64,
    /// Σ kernel time, seconds.
    pub compute_s: f64,
    /// Σ collective time, seconds.
    pub comm_s: f64,
    /// Σ FLOPs per device.
    pub flops: f64,
    /// Σ DRAM bytes per device.
    pub bytes: f64,
    /// Σ iteration time × its pool's peak FLOP/s (the MFU denominator).
    pub peak_time_flops: f64,
    /// Σ iteration time × its pool's DRAM bandwidth (the MBU denominator).
    pub peak_time_bytes: f64,
    /// Σ used / total KV blocks of the iteration's replica.
    pub kv_fraction_sum: f64,
    /// Busy time by kind of work (see [`crate::cost::work_kind_name`]), seconds.
    pub by_kind_s: [f64; N_WORK_KINDS],
}

impl CostSums {
    /// Add one iteration of cost `c` on devices peaking at `peak_flops` FLOP/s and `mem_bw`
    /// bytes/s, its replica's KV `kv_fraction` used.
    fn add(&mut self, c: &StepCost, peak_flops: f64, mem_bw: f64, kv_fraction: f64) {
        self.busy_s += c.total_s;
        self.compute_s += c.compute_s;
        self.comm_s += c.comm_s;
        self.flops += c.flops;
        self.bytes += c.bytes;
        self.peak_time_flops += c.total_s * peak_flops;
        self.peak_time_bytes += c.total_s * mem_bw;
        self.kv_fraction_sum += kv_fraction;
        for (a, b) in self.by_kind_s.iter_mut().zip(c.by_kind_s) {
            *a += b;
        }
    }

    /// Add another set of sums (a replica's to the run's).
    fn add_sums(&mut self, o: &CostSums) {
        self.busy_s += o.busy_s;
        self.compute_s += o.compute_s;
        self.comm_s += o.comm_s;
        self.flops += o.flops;
        self.bytes += o.bytes;
        self.peak_time_flops += o.peak_time_flops;
        self.peak_time_bytes += o.peak_time_bytes;
        self.kv_fraction_sum += o.kv_fraction_sum;
        for (a, b) in self.by_kind_s.iter_mut().zip(o.by_kind_s) {
            *a += b;
        }
    }
}

/// Running totals over a run's iterations: what the summary needs, without keeping every
/// iteration (a million-request run has tens of millions). The engine fills one as it goes.
///
/// Sums of floating-point numbers are kept per replica ([`ReplicaTotals`]). The run-wide ones
/// (`sums`) are summed as iterations are added, or, with [`IterationTotals::by_replica`],
/// replica by replica in replica order by [`IterationTotals::close`], so that they do not
/// depend on the order in which the engine processed different replicas' iterations (replicas
/// of a pool may run ahead of one another between the moments they interact:
/// `docs/performance.md`). `sums` is valid after `close` (the engine closes the totals it
/// returns).
#[derive(Debug, Clone, Default)]
pub struct IterationTotals {
    pub count: u64,
    pub seqs: u64,
    pub tokens: u64,
    pub max_batch_seqs: u64,
    pub max_tokens_per_iteration: u64,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
    /// The run's sums.
    pub sums: CostSums,
    /// Iteration durations, seconds. Its percentiles do not depend on the order values were
    /// added in; take its summary with [`IterationTotals::iteration_stats`], whose mean does
    /// not either.
    pub iteration_s: Quantiles,
    pub replicas: Vec<ReplicaTotals>,
    /// Sum the run-wide floats replica by replica at `close` (false: as iterations come).
    pub by_replica: bool,
}

/// Per-replica part of [`IterationTotals`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaTotals {
    pub iterations: u64,
    pub sums: CostSums,
    pub prefill_tokens: u64,
    pub decode_tokens: u64,
}

impl IterationTotals {
    /// Add one iteration, on a replica with `kv_total_blocks` whose devices peak at
    /// `peak_flops` FLOP/s and `mem_bw` bytes/s. The run-wide sums are complete after
    /// [`IterationTotals::close`].
    ///
    /// A record does not keep its cost by kind of work, so totals rebuilt from records have no
    /// breakdown by kind (the engine adds each iteration with [`IterationTotals::add_parts`]).
    pub fn add(&mut self, it: &IterationRecord, kv_total_blocks: u64, peak_flops: f64, mem_bw: f64) {
        let c = &it.cost;
        let cost = StepCost {
            total_s: c.total_s,
            compute_s: c.compute_s,
            comm_s: c.comm_s,
            flops: c.flops,
            bytes: c.bytes,
            ..StepCost::default()
        };
        let t = IterationTokens {
            replica: it.replica,
            prefill_tokens: it.prefill_tokens,
            decode_tokens: it.decode_tokens,
            seqs: it.seqs,
            kv_used_blocks: it.kv_used_blocks,
        };
        self.add_parts(&t, &cost, kv_total_blocks, peak_flops, mem_bw);
    }

    /// [`IterationTotals::add`] given the iteration's parts (the engine's hot path: no record
    /// is built when none is kept).
    pub fn add_parts(&mut self, it: &IterationTokens, c: &StepCost, kv_total_blocks: u64, peak_flops: f64, mem_bw: f64) {
        let tokens = it.prefill_tokens as u64 + it.decode_tokens as u64;
        self.count += 1;
        self.seqs += it.seqs as u64;
        self.tokens += tokens;
        self.max_batch_seqs = self.max_batch_seqs.max(it.seqs as u64);
        self.max_tokens_per_iteration = self.max_tokens_per_iteration.max(tokens);
        self.prefill_tokens += it.prefill_tokens as u64;
        self.decode_tokens += it.decode_tokens as u64;
        self.iteration_s.push(c.total_s);
        let kv_fraction = div(it.kv_used_blocks as f64, kv_total_blocks as f64);
        if !self.by_replica {
            self.sums.add(c, peak_flops, mem_bw, kv_fraction);
        }
        let r = it.replica as usize;
        if self.replicas.len() <= r {
            self.replicas.resize(r + 1, ReplicaTotals::default());
        }
        let a = &mut self.replicas[r];
        a.iterations += 1;
        a.sums.add(c, peak_flops, mem_bw, kv_fraction);
        a.prefill_tokens += it.prefill_tokens as u64;
        a.decode_tokens += it.decode_tokens as u64;
    }

    /// Fill the run-wide sums when they are summed [`by_replica`](Self::by_replica): each
    /// replica's sums, added up in replica order.
    pub fn close(&mut self) {
        if !self.by_replica {
            return;
        }
        let mut sums = CostSums::default();
        for a in &self.replicas {
            sums.add_sums(&a.sums);
        }
        self.sums = sums;
    }

    /// The summary of the iteration durations, its mean the closed busy time over the count
    /// (the sum of the same values: in the order they came, or replica by replica).
    pub fn iteration_stats(&self) -> Stats {
        let mut s = self.iteration_s.stats_of_ref();
        if s.count > 0 {
            s.mean = self.sums.busy_s / s.count as f64;
        }
        s
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
