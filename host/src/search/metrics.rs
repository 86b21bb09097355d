//! The metrics of one search row, accumulated from the engine's records.
//!
//! The full run summary ([`Summarizer`](reallm_sim::metrics::Summarizer)) also keeps every
//! token gap (a million values for 2,000 requests of 500 tokens) for its TBT distributions,
//! per run and per replica; a search row does not report them, so this sink skips them. What
//! it does report uses the summariser's definitions and arithmetic ([`RequestMetrics::of`],
//! the same [`Quantiles`] fed in the same order, the same makespan and per-device rates), so
//! the values are bit-identical to `summary.json`'s (tested against the summariser).

use reallm_sim::metrics::{Quantiles, RequestMetrics, Slo, Stats};
use reallm_sim::{RecordSink, RequestRecord, RunOutcome};

/// Accumulates one simulation's row metrics.
pub struct LevelSink {
    slo: Slo,
    scratch: Vec<f64>,
    total: u64,
    completed: u64,
    out_tok: u64,
    met: u64,
    first_arrival: f64,
    last_done: f64,
    ttft: Quantiles,
    tpot: Quantiles,
    e2e: Quantiles,
}

/// One simulation's row metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelStats {
    pub requests: u64,
    pub completed: u64,
    pub ttft_s: Stats,
    pub tpot_s: Stats,
    pub e2e_s: Stats,
    /// Output tokens (all requests) / makespan / devices.
    pub output_tokens_per_s_per_device: f64,
    /// Completed requests / makespan.
    pub requests_per_s: f64,
    /// Requests meeting every SLO target / makespan.
    pub goodput_requests_per_s: f64,
    pub goodput_requests_per_s_per_device: f64,
    /// Requests meeting every target / all requests.
    pub attainment: f64,
    /// Sum of the replicas' peak KV blocks / their capacity.
    pub kv_peak_used_fraction: f64,
    pub preemptions: u64,
}

/// `a / b`, or 0 when `b` is not a positive finite number (as the summariser divides).
fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 && b.is_finite() {
        a / b
    } else {
        0.0
    }
}

impl LevelSink {
    pub fn new(slo: Slo) -> LevelSink {
        LevelSink {
            slo,
            scratch: Vec::new(),
            total: 0,
            completed: 0,
            out_tok: 0,
            met: 0,
            first_arrival: f64::INFINITY,
            last_done: f64::NEG_INFINITY,
            ttft: Quantiles::default(),
            tpot: Quantiles::default(),
            e2e: Quantiles::default(),
        }
    }

    /// The row metrics of a run over `devices` devices.
    pub fn finish(self, outcome: &RunOutcome, devices: u64) -> LevelStats {
        let makespan = if self.completed > 0 { (self.last_done - self.first_arrival).max(0.0) } else { 0.0 };
        let per_s = |x: f64| div(x, makespan);
        let devices = devices.max(1) as f64;
        LevelStats {
            requests: self.total,
            completed: self.completed,
            ttft_s: self.ttft.stats(),
            tpot_s: self.tpot.stats(),
            e2e_s: self.e2e.stats(),
            output_tokens_per_s_per_device: per_s(self.out_tok as f64) / devices,
            requests_per_s: per_s(self.completed as f64),
            goodput_requests_per_s: per_s(self.met as f64),
            goodput_requests_per_s_per_device: per_s(self.met as f64) / devices,
            attainment: div(self.met as f64, self.total as f64),
            kv_peak_used_fraction: div(outcome.kv_peak_used_blocks as f64, outcome.kv_total_blocks as f64),
            preemptions: outcome.preemptions,
        }
    }
}

impl RecordSink for LevelSink {
    fn record(&mut self, q: &RequestRecord) {
        let m = RequestMetrics::of(q, &self.slo, &mut self.scratch);
        self.total += 1;
        self.first_arrival = self.first_arrival.min(q.arrival_s);
        if let Some(v) = m.ttft_s {
            self.ttft.push(v);
        }
        self.out_tok += q.token_times.len() as u64;
        self.met += m.meets_all as u64;
        if m.completed {
            self.completed += 1;
            self.last_done = self.last_done.max(m.last_token_s.unwrap_or(f64::NEG_INFINITY));
            if let Some(v) = m.e2e_s {
                self.e2e.push(v);
            }
            if let Some(v) = m.tpot_s {
                self.tpot.push(v);
            }
        }
    }
}
