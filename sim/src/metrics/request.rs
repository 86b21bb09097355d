//! Per-request metrics (one row of `requests.csv`).

use super::stats::percentile_and_max;
use super::Slo;
use crate::request::RequestRecord;

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
            let (pct, max) = percentile_and_max(scratch, slo.tbt_percentile);
            (Some(mean), Some(max), Some(pct))
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
