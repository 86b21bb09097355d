//! Latency and throughput metrics of a run, and `summary.json`.
//!
//! Definitions (`docs/outputs.md`): TTFT = first token time − arrival; TBT = every gap
//! between consecutive output tokens of a request; TPOT = (last − first token time) / (n − 1)
//! per request with n > 1 tokens; E2E = last token time − arrival; normalised latency = E2E /
//! output tokens; queueing delay = first scheduled − arrival. Percentiles interpolate
//! linearly between order statistics (numpy's default). Throughput divides by the makespan:
//! last completion − first arrival.

use crate::engine::SimResult;
use serde::Serialize;

/// Distribution summary, in the unit of the field name that holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
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

/// Percentile `q` ∈ [0, 100] of sorted values, linear interpolation.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

impl Stats {
    pub fn of(mut v: Vec<f64>) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Stats {
            count: n as u64,
            mean: v.iter().sum::<f64>() / n as f64,
            p50: percentile(&v, 50.0),
            p90: percentile(&v, 90.0),
            p95: percentile(&v, 95.0),
            p99: percentile(&v, 99.0),
            p999: percentile(&v, 99.9),
            max: v[n - 1],
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RequestCounts {
    pub total: u64,
    pub completed: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Throughput {
    pub requests_per_s: f64,
    pub input_tokens_per_s: f64,
    pub output_tokens_per_s: f64,
    pub output_tokens_per_s_per_device: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Engine {
    pub iterations: u64,
    pub preemptions: u64,
    pub mean_batch_seqs: f64,
    pub mean_tokens_per_iteration: f64,
    pub kv_total_blocks: u64,
    pub kv_block_tokens: u32,
    pub kv_peak_used_blocks: u64,
    /// Fraction of busy time spent in collectives.
    pub comm_fraction: f64,
    /// Model FLOPs utilisation over busy time (per-device FLOPs / (busy time · peak)).
    pub mfu: f64,
    /// DRAM bandwidth utilisation over busy time.
    pub mbu: f64,
    pub busy_s: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub requests: RequestCounts,
    pub ttft_s: Stats,
    pub tbt_s: Stats,
    pub tpot_s: Stats,
    pub e2e_s: Stats,
    pub normalized_latency_s_per_token: Stats,
    pub queueing_s: Stats,
    pub throughput: Throughput,
    pub makespan_s: f64,
    pub engine: Engine,
}

/// Compute the summary of a run on `devices` devices with the given peaks.
pub fn summarize(r: &SimResult, devices: u32, peak_flops: f64, mem_bw_bytes_per_s: f64) -> Summary {
    let mut ttft = Vec::new();
    let mut tbt = Vec::new();
    let mut tpot = Vec::new();
    let mut e2e = Vec::new();
    let mut norm = Vec::new();
    let mut queue = Vec::new();
    let mut completed = 0u64;
    let (mut in_tok, mut out_tok) = (0u64, 0u64);
    let first_arrival = r.requests.iter().map(|q| q.arrival_s).fold(f64::INFINITY, f64::min);
    let mut last_done = f64::NEG_INFINITY;
    for q in &r.requests {
        if let Some(s) = q.first_scheduled_s {
            queue.push(s - q.arrival_s);
        }
        if let Some(&first) = q.token_times.first() {
            ttft.push(first - q.arrival_s);
        }
        for w in q.token_times.windows(2) {
            tbt.push(w[1] - w[0]);
        }
        out_tok += q.token_times.len() as u64;
        if q.completed() {
            completed += 1;
            in_tok += q.prompt_tokens as u64;
            let last = *q.token_times.last().expect("completed has tokens");
            last_done = last_done.max(last);
            e2e.push(last - q.arrival_s);
            norm.push((last - q.arrival_s) / q.output_tokens as f64);
            let n = q.token_times.len();
            if n > 1 {
                tpot.push((last - q.token_times[0]) / (n - 1) as f64);
            }
        }
    }
    let makespan = if completed > 0 { (last_done - first_arrival).max(0.0) } else { 0.0 };
    let per_s = |x: f64| if makespan > 0.0 { x / makespan } else { 0.0 };
    let iters = r.iterations.len() as u64;
    let busy: f64 = r.iterations.iter().map(|i| i.end_s - i.start_s).sum();
    let comm: f64 = r.iterations.iter().map(|i| i.cost.comm_s).sum();
    let flops: f64 = r.iterations.iter().map(|i| i.cost.flops).sum();
    let bytes: f64 = r.iterations.iter().map(|i| i.cost.bytes).sum();
    let seqs: u64 = r.iterations.iter().map(|i| i.seqs as u64).sum();
    let toks: u64 = r.iterations.iter().map(|i| (i.prefill_tokens + i.decode_tokens) as u64).sum();
    let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Summary {
        requests: RequestCounts { total: r.requests.len() as u64, completed },
        ttft_s: Stats::of(ttft),
        tbt_s: Stats::of(tbt),
        tpot_s: Stats::of(tpot),
        e2e_s: Stats::of(e2e),
        normalized_latency_s_per_token: Stats::of(norm),
        queueing_s: Stats::of(queue),
        throughput: Throughput {
            requests_per_s: per_s(completed as f64),
            input_tokens_per_s: per_s(in_tok as f64),
            output_tokens_per_s: per_s(out_tok as f64),
            output_tokens_per_s_per_device: per_s(out_tok as f64) / devices.max(1) as f64,
        },
        makespan_s: makespan,
        engine: Engine {
            iterations: iters,
            preemptions: r.preemptions,
            mean_batch_seqs: div(seqs as f64, iters as f64),
            mean_tokens_per_iteration: div(toks as f64, iters as f64),
            kv_total_blocks: r.kv_total_blocks,
            kv_block_tokens: r.kv_block_tokens,
            kv_peak_used_blocks: r.kv_peak_used_blocks,
            comm_fraction: div(comm, busy),
            mfu: div(flops, busy * peak_flops),
            mbu: div(bytes, busy * mem_bw_bytes_per_s),
            busy_s: busy,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RequestRecord;

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

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
    }

    #[test]
    fn three_requests_by_hand() {
        // r0: arrives 0, tokens at 1, 2, 4 → TTFT 1, TBT 1 and 2, TPOT 1.5, E2E 4.
        // r1: arrives 1, tokens at 3, 3.5 → TTFT 2, TBT 0.5, TPOT 0.5, E2E 2.5.
        // r2: arrives 2, token at 5 → TTFT 3, E2E 3.
        let r = SimResult {
            requests: vec![rec(0, 0.0, &[1.0, 2.0, 4.0]), rec(1, 1.0, &[3.0, 3.5]), rec(2, 2.0, &[5.0])],
            iterations: vec![],
            replicas: vec![],
            preemptions: 0,
            kv_total_blocks: 10,
            kv_peak_used_blocks: 3,
            kv_block_tokens: 16,
            end_s: 5.0,
        };
        let s = summarize(&r, 8, 1e15, 1e12);
        assert_eq!(s.requests.completed, 3);
        assert_eq!(s.ttft_s.mean, 2.0);
        assert_eq!(s.ttft_s.p50, 2.0);
        assert!((s.ttft_s.p90 - 2.8).abs() < 1e-12);
        // TBT gaps sorted: 0.5, 1, 2 → mean 7/6, p50 1.
        assert!((s.tbt_s.mean - 3.5 / 3.0).abs() < 1e-12);
        assert_eq!(s.tbt_s.p50, 1.0);
        assert_eq!(s.tpot_s.count, 2);
        assert_eq!(s.tpot_s.mean, 1.0);
        assert!((s.e2e_s.mean - 9.5 / 3.0).abs() < 1e-12);
        assert_eq!(s.makespan_s, 5.0);
        assert!((s.throughput.requests_per_s - 0.6).abs() < 1e-12);
        assert!((s.throughput.output_tokens_per_s - 1.2).abs() < 1e-12);
        assert_eq!(s.queueing_s.mean, 0.5);
    }
}
