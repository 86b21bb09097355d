//! [`Summarizer`]: the run summary, accumulated record by record as the engine delivers them.

use super::stats::{Quantiles, Stats};
use super::summary::{
    Attainment, EngineMetrics, Goodput, PrefixCacheMetrics, ReplicaMetrics, RequestCounts, RunInfo, SpecDecodeMetrics, Summary, Throughput,
};
use super::totals::div;
use super::{RequestMetrics, Slo};
use crate::cost::work_kind_name;
use crate::engine::RunOutcome;
use crate::request::RequestRecord;
use crate::workload::RecordSink;

/// Per-request quantiles of one replica (prefilled there / decoded there).
#[derive(Default)]
struct ReplicaAcc {
    completed: u64,
    ttft: Quantiles,
    tbt: Quantiles,
}

/// Accumulates the request half of a [`Summary`] from records (a [`RecordSink`]); memory is
/// bounded by the distributions' exact limit, not by the number of requests.
pub struct Summarizer {
    slo: Slo,
    /// Records with `seq` below this are warm-up: counted, not measured.
    warmup: u64,
    counts: RequestCounts,
    ttft: Quantiles,
    tbt: Quantiles,
    tpot: Quantiles,
    e2e: Quantiles,
    per_user: Quantiles,
    norm: Quantiles,
    queue: Quantiles,
    prefill: Quantiles,
    decode: Quantiles,
    transfer: Quantiles,
    reps: Vec<ReplicaAcc>,
    in_tok: u64,
    out_tok: u64,
    met: [u64; 5],
    first_arrival: f64,
    last_done: f64,
    scratch: Vec<f64>,
    /// One replica: its TTFT / TBT distributions are the run's (not accumulated twice).
    single: bool,
}

/// Values a per-replica distribution keeps exactly: the global limit shared among the
/// replicas, at least 2^16 each.
fn replica_exact_limit(replicas: usize) -> usize {
    (super::EXACT_LIMIT / replicas.max(1)).max(1 << 16)
}

impl Summarizer {
    /// A summariser with goodput against `slo`, for a run of `replicas` replicas.
    pub fn new(slo: Slo, replicas: usize) -> Self {
        let limit = replica_exact_limit(replicas);
        let rep = || ReplicaAcc { completed: 0, ttft: Quantiles::with_limit(limit), tbt: Quantiles::with_limit(limit) };
        // With one replica its distributions are the run's: they are not kept twice.
        let single = replicas == 1;
        Summarizer {
            slo,
            warmup: 0,
            counts: RequestCounts::default(),
            ttft: Quantiles::default(),
            tbt: Quantiles::default(),
            tpot: Quantiles::default(),
            e2e: Quantiles::default(),
            per_user: Quantiles::default(),
            norm: Quantiles::default(),
            queue: Quantiles::default(),
            prefill: Quantiles::default(),
            decode: Quantiles::default(),
            transfer: Quantiles::default(),
            reps: (0..replicas).map(|_| rep()).collect(),
            single,
            in_tok: 0,
            out_tok: 0,
            met: [0; 5],
            first_arrival: f64::INFINITY,
            last_done: f64::NEG_INFINITY,
            scratch: Vec::new(),
        }
    }

    /// Leave the first `n` records (arrival positions `seq` 0 … n − 1) out of every request
    /// metric; the summary says how many (`requests.warmup`).
    pub fn with_warmup(mut self, n: u64) -> Self {
        self.warmup = n;
        self
    }

    /// The SLO goodput is measured against.
    pub fn slo(&self) -> &Slo {
        &self.slo
    }

    /// Whether every distribution so far is exact (no sketch).
    pub fn is_exact(&self) -> bool {
        [&self.ttft, &self.tbt, &self.tpot, &self.e2e, &self.per_user, &self.norm, &self.queue, &self.prefill, &self.decode, &self.transfer]
            .iter()
            .all(|q| q.is_exact())
            && self.reps.iter().all(|r| r.ttft.is_exact() && r.tbt.is_exact())
    }

    /// The summary of the run described by `run`, with the engine half from `outcome`.
    pub fn finish(self, outcome: &RunOutcome, run: RunInfo) -> Summary {
        let iteration_s = iteration_stats(outcome);
        self.reduce().finish(outcome, iteration_s, run)
    }

    /// The request half's distributions reduced to their statistics, the costly part of
    /// [`Summarizer::finish`] (percentile selection over every value kept). Independent of the
    /// engine half ([`iteration_stats`]): a caller with a core to spare computes the two at once.
    pub fn reduce(self) -> ReducedSummary {
        self.reduce_with(|a, b| {
            a();
            b();
        })
    }

    /// [`Summarizer::reduce`] as two independent parts, which `join(a, b)` runs (one after the
    /// other, or at once on two threads): `a` the run's TBT distribution (a value per output
    /// token, the largest), `b` every other. The result is the same however `join` runs them.
    pub fn reduce_with(mut self, join: impl FnOnce(&mut (dyn FnMut() + Send), &mut (dyn FnMut() + Send))) -> ReducedSummary {
        let mut tbt = Some(std::mem::take(&mut self.tbt));
        let mut tbt_stats = Stats::default();
        let mut rest = Some(self);
        let mut reduced = None;
        join(&mut || tbt_stats = tbt.take().map_or_else(Stats::default, Quantiles::stats), &mut || {
            reduced = rest.take().map(Summarizer::reduce_all)
        });
        let mut reduced = reduced.expect("`join` runs both parts");
        reduced.tbt = tbt_stats;
        reduced
    }

    /// Every distribution's statistics, in turn.
    fn reduce_all(self) -> ReducedSummary {
        let Summarizer {
            slo,
            counts,
            ttft,
            tbt,
            tpot,
            e2e,
            per_user,
            norm,
            queue,
            prefill,
            decode,
            transfer,
            reps,
            in_tok,
            out_tok,
            met,
            first_arrival,
            last_done,
            single,
            ..
        } = self;
        ReducedSummary {
            slo,
            counts,
            ttft: ttft.stats(),
            tbt: tbt.stats(),
            tpot: tpot.stats(),
            e2e: e2e.stats(),
            per_user: per_user.stats(),
            norm: norm.stats(),
            queue: queue.stats(),
            prefill: prefill.stats(),
            decode: decode.stats(),
            transfer: transfer.stats(),
            // With one replica its distributions are the run's (not kept twice).
            reps: reps
                .into_iter()
                .enumerate()
                .map(|(i, a)| ReplicaStats {
                    completed: a.completed,
                    ttft: if single && i == 0 { None } else { Some(a.ttft.stats()) },
                    tbt: if single && i == 0 { None } else { Some(a.tbt.stats()) },
                })
                .collect(),
            in_tok,
            out_tok,
            met,
            first_arrival,
            last_done,
        }
    }
}

/// The engine half's distribution: the iteration times of `outcome`, summarised where they
/// are (not copied).
pub fn iteration_stats(outcome: &RunOutcome) -> Stats {
    outcome.totals.iteration_stats()
}

/// A replica's request statistics; `None`: the run's (a run of one replica).
struct ReplicaStats {
    completed: u64,
    ttft: Option<Stats>,
    tbt: Option<Stats>,
}

/// A [`Summarizer`] whose distributions are reduced to statistics ([`Summarizer::reduce`]):
/// [`ReducedSummary::finish`] completes the summary.
pub struct ReducedSummary {
    slo: Slo,
    counts: RequestCounts,
    ttft: Stats,
    tbt: Stats,
    tpot: Stats,
    e2e: Stats,
    per_user: Stats,
    norm: Stats,
    queue: Stats,
    prefill: Stats,
    decode: Stats,
    transfer: Stats,
    reps: Vec<ReplicaStats>,
    in_tok: u64,
    out_tok: u64,
    met: [u64; 5],
    first_arrival: f64,
    last_done: f64,
}

impl ReducedSummary {
    /// The summary of the run described by `run`, with the engine half from `outcome` and its
    /// iteration times' statistics `iteration_s` ([`iteration_stats`]): [`Summarizer::finish`]'s
    /// result, bit for bit.
    pub fn finish(self, outcome: &RunOutcome, iteration_s: Stats, run: RunInfo) -> Summary {
        let ReducedSummary {
            slo,
            counts,
            ttft,
            tbt,
            tpot,
            e2e,
            per_user,
            norm,
            queue,
            prefill,
            decode,
            transfer,
            mut reps,
            in_tok,
            out_tok,
            met,
            first_arrival,
            last_done,
        } = self;
        let makespan = if counts.completed > 0 { (last_done - first_arrival).max(0.0) } else { 0.0 };
        let per_s = |x: f64| div(x, makespan);
        let devices = run.devices.max(1) as f64;
        let totals = &outcome.totals;
        let mut e = EngineMetrics {
            preemptions: outcome.preemptions,
            kv_total_blocks: outcome.kv_total_blocks,
            kv_block_tokens: outcome.kv_block_tokens,
            kv_peak_used_blocks: outcome.kv_peak_used_blocks,
            kv_peak_used_fraction: div(outcome.kv_peak_used_blocks as f64, outcome.kv_total_blocks as f64),
            iterations: totals.count,
            max_batch_seqs: totals.max_batch_seqs,
            max_tokens_per_iteration: totals.max_tokens_per_iteration,
            prefill_tokens: totals.prefill_tokens,
            decode_tokens: totals.decode_tokens,
            busy_s: totals.sums.busy_s,
            compute_s: totals.sums.compute_s,
            comm_s: totals.sums.comm_s,
            flops: totals.sums.flops,
            bytes: totals.sums.bytes,
            ..EngineMetrics::default()
        };
        let iters = totals.count as f64;
        e.mean_batch_seqs = div(totals.seqs as f64, iters);
        e.mean_tokens_per_iteration = div(totals.tokens as f64, iters);
        e.mean_kv_used_fraction = div(totals.sums.kv_fraction_sum, iters);
        e.compute_fraction = div(e.compute_s, e.busy_s);
        e.comm_fraction = div(e.comm_s, e.busy_s);
        e.mfu = div(e.flops, totals.sums.peak_time_flops);
        e.mbu = div(e.bytes, totals.sums.peak_time_bytes);
        e.time_by_kind_s =
            totals.sums.by_kind_s.iter().enumerate().filter(|(_, t)| **t > 0.0).map(|(i, t)| (work_kind_name(i).to_string(), *t)).collect();
        e.iteration_s = iteration_s;
        e.spec_decode = outcome.spec_decode.as_ref().map(|t| SpecDecodeMetrics {
            drafts: t.drafts,
            draft_tokens: t.draft_tokens,
            accepted_tokens: t.accepted_tokens,
            acceptance_rate: div(t.accepted_tokens as f64, t.draft_tokens as f64),
            mean_acceptance_length: if t.drafts > 0 { 1.0 + t.accepted_tokens as f64 / t.drafts as f64 } else { 0.0 },
            acceptance_rate_per_position: t.accepted_at.iter().map(|&a| div(a as f64, t.drafts as f64)).collect(),
            draft_s: t.draft_s,
            draft_fraction: div(t.draft_s, totals.sums.busy_s),
        });

        let prefix = outcome.prefix.as_ref();
        let prefix_metrics = |st: &crate::kv::PrefixStats| {
            let p = prefix.expect("a replica caches prefixes only when the outcome says so");
            PrefixCacheMetrics::of(st, p.block_tokens, p.kv_bytes_per_token, &p.eviction, &p.tiers)
        };
        let n_rep = reps.len().max(outcome.replicas.len()).max(totals.replicas.len());
        reps.resize_with(n_rep, || ReplicaStats { completed: 0, ttft: Some(Stats::default()), tbt: Some(Stats::default()) });
        let replicas = reps
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let s = outcome.replicas.get(i);
                let t = totals.replicas.get(i).cloned().unwrap_or_default();
                let (pf, bw) = run.peaks_of(i as u32);
                ReplicaMetrics {
                    replica: i as u32,
                    pool: s.map(|s| s.pool).unwrap_or(0),
                    role: s.map(|s| s.role.name().to_string()).unwrap_or_default(),
                    devices: run.devices_of(i as u32),
                    requests: s.map(|s| s.requests).unwrap_or(0),
                    completed: a.completed,
                    iterations: t.iterations,
                    busy_s: t.sums.busy_s,
                    busy_fraction: div(t.sums.busy_s, makespan),
                    prefill_tokens: t.prefill_tokens,
                    decode_tokens: t.decode_tokens,
                    mfu: div(t.sums.flops, t.sums.busy_s * pf),
                    mbu: div(t.sums.bytes, t.sums.busy_s * bw),
                    comm_fraction: div(t.sums.comm_s, t.sums.busy_s),
                    kv_total_blocks: s.map(|s| s.kv_total_blocks).unwrap_or(0),
                    kv_peak_used_blocks: s.map(|s| s.kv_peak_used_blocks).unwrap_or(0),
                    ttft_s: a.ttft.unwrap_or(ttft),
                    tbt_s: a.tbt.unwrap_or(tbt),
                    prefix_cache: s.and_then(|s| s.prefix.as_ref()).filter(|_| prefix.is_some()).map(prefix_metrics),
                }
            })
            .collect();

        let mut counts = counts;
        counts.input_tokens = in_tok;
        counts.output_tokens = out_tok;
        let frac = |k: u64| div(k as f64, counts.total as f64);
        let [met_all, met_ttft, met_tbt, met_tpot, met_e2e] = met;
        Summary {
            requests: counts,
            ttft_s: ttft,
            tbt_s: tbt,
            tpot_s: tpot,
            e2e_s: e2e,
            output_tokens_per_s_per_user: per_user,
            normalized_latency_s_per_token: norm,
            queueing_s: queue,
            prefill_s: prefill,
            decode_s: decode,
            kv_transfer_s: transfer,
            throughput: Throughput {
                requests_per_s: per_s(counts.completed as f64),
                input_tokens_per_s: per_s(in_tok as f64),
                output_tokens_per_s: per_s(out_tok as f64),
                total_tokens_per_s: per_s((in_tok + out_tok) as f64),
                requests_per_s_per_device: per_s(counts.completed as f64) / devices,
                input_tokens_per_s_per_device: per_s(in_tok as f64) / devices,
                output_tokens_per_s_per_device: per_s(out_tok as f64) / devices,
                total_tokens_per_s_per_device: per_s((in_tok + out_tok) as f64) / devices,
            },
            goodput: Goodput {
                slo,
                requests_met: met_all,
                requests_per_s: per_s(met_all as f64),
                requests_per_s_per_device: per_s(met_all as f64) / devices,
                attainment: Attainment {
                    ttft: slo.ttft_s.map(|_| frac(met_ttft)),
                    tbt: slo.tbt_s.map(|_| frac(met_tbt)),
                    tpot: slo.tpot_s.map(|_| frac(met_tpot)),
                    e2e: slo.e2e_s.map(|_| frac(met_e2e)),
                    all: frac(met_all),
                },
            },
            makespan_s: makespan,
            end_s: outcome.end_s,
            engine: e,
            replicas,
            run,
            prefix_cache: prefix.map(|p| prefix_metrics(&p.totals)),
        }
    }
}

impl RecordSink for Summarizer {
    fn record(&mut self, q: &RequestRecord) {
        if q.seq < self.warmup {
            self.counts.warmup += 1;
            return;
        }
        let m = RequestMetrics::of(q, &self.slo, &mut self.scratch);
        self.record_measured(q, &m);
    }
}

/// Receives every request's record with its [`RequestMetrics`] (see [`Measure`]).
pub trait MeasuredSink {
    /// One record (in arrival order, as a [`RecordSink`] gets them) and its metrics.
    fn measured(&mut self, rec: &RequestRecord, m: &RequestMetrics);

    /// The run ended well and every record has been delivered: a sink that writes may finish
    /// its writing now (the host flushes its files here, while the summary is computed).
    fn end(&mut self) {}
}

impl<T: MeasuredSink + ?Sized> MeasuredSink for &mut T {
    fn measured(&mut self, rec: &RequestRecord, m: &RequestMetrics) {
        (**self).measured(rec, m);
    }

    fn end(&mut self) {
        (**self).end();
    }
}

/// Discards everything.
impl MeasuredSink for () {
    fn measured(&mut self, _: &RequestRecord, _: &RequestMetrics) {}
}

impl MeasuredSink for Vec<RequestRecord> {
    fn measured(&mut self, rec: &RequestRecord, _: &RequestMetrics) {
        self.push(rec.clone());
    }
}

impl<A: MeasuredSink, B: MeasuredSink> MeasuredSink for (A, B) {
    fn measured(&mut self, rec: &RequestRecord, m: &RequestMetrics) {
        self.0.measured(rec, m);
        self.1.measured(rec, m);
    }

    fn end(&mut self) {
        self.0.end();
        self.1.end();
    }
}

/// A [`RecordSink`] that computes each record's [`RequestMetrics`] once (against the
/// summariser's SLO) and hands the record and its metrics to the summariser, then to `next`.
pub struct Measure<'a> {
    pub summarizer: &'a mut Summarizer,
    pub next: &'a mut dyn MeasuredSink,
}

impl RecordSink for Measure<'_> {
    fn record(&mut self, q: &RequestRecord) {
        let s = &mut *self.summarizer;
        let m = RequestMetrics::of(q, &s.slo, &mut s.scratch);
        if q.seq < s.warmup {
            // Not summarised (as `Summarizer::record`), still passed on.
            s.counts.warmup += 1;
        } else {
            s.record_measured(q, &m);
        }
        self.next.measured(q, &m);
    }
}

/// A [`RecordSink`] fed from a measured stream (the metrics are dropped).
pub struct RecordsOnly<'a>(pub &'a mut (dyn RecordSink + Send));

impl MeasuredSink for RecordsOnly<'_> {
    fn measured(&mut self, rec: &RequestRecord, _: &RequestMetrics) {
        self.0.record(rec);
    }
}

impl Summarizer {
    /// Add one record whose metrics `m` (`RequestMetrics::of` against [`Summarizer::slo`]) are
    /// already computed.
    pub fn record_measured(&mut self, q: &RequestRecord, m: &RequestMetrics) {
        self.counts.total += 1;
        self.first_arrival = self.first_arrival.min(q.arrival_s);
        let dec_rep = q.decode_replica.unwrap_or(q.replica) as usize;
        if let Some(v) = m.queueing_s {
            self.queue.push(v);
        }
        if let Some(v) = m.ttft_s {
            self.counts.started += 1;
            self.ttft.push(v);
            if !self.single {
                if let Some(a) = self.reps.get_mut(q.replica as usize) {
                    a.ttft.push(v);
                }
            }
        }
        if let Some(v) = m.prefill_s {
            self.prefill.push(v);
        }
        let gaps = || q.token_times.windows(2).map(|w| w[1] - w[0]);
        self.tbt.extend(gaps());
        if !self.single {
            if let Some(a) = self.reps.get_mut(dec_rep) {
                a.tbt.extend(gaps());
            }
        }
        if q.decode_replica.is_some() && !q.token_times.is_empty() {
            self.transfer.push(q.transfer_s);
        }
        if q.preemptions > 0 {
            self.counts.preempted += 1;
        }
        self.out_tok += q.token_times.len() as u64;
        self.met[1] += m.meets_ttft.unwrap_or(false) as u64;
        self.met[2] += m.meets_tbt.unwrap_or(false) as u64;
        self.met[3] += m.meets_tpot.unwrap_or(false) as u64;
        self.met[4] += m.meets_e2e.unwrap_or(false) as u64;
        self.met[0] += m.meets_all as u64;
        if m.completed {
            self.counts.completed += 1;
            self.in_tok += q.prompt_tokens as u64;
            self.last_done = self.last_done.max(m.last_token_s.unwrap_or(f64::NEG_INFINITY));
            if let Some(a) = self.reps.get_mut(dec_rep) {
                a.completed += 1;
            }
            for (acc, v) in [
                (&mut self.e2e, m.e2e_s),
                (&mut self.norm, m.normalized_latency_s_per_token),
                (&mut self.tpot, m.tpot_s),
                (&mut self.decode, m.decode_s),
            ] {
                if let Some(v) = v {
                    acc.push(v);
                }
            }
            if let Some(t) = m.tpot_s.filter(|t| *t > 0.0) {
                self.per_user.push(1.0 / t);
            }
        }
    }
}
