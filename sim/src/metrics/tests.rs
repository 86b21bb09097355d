//! The metrics against hand calculations.

use super::*;
use crate::cost::IterationCost;
use crate::engine::{IterationRecord, ReplicaSummary, RunOutcome, SimResult};
use crate::request::RequestRecord;
use crate::spec::Role;
use crate::workload::RecordSink;

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

#[test]
fn histogram_percentiles_equal_sorted_ones() {
    // Inputs past RADIX_MIN_LEN take the histogram path: clustered, spread over many
    // magnitudes, signed, all equal, two values, and with ties at the wanted ranks.
    let mut x: u64 = 987654321;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 11
    };
    let n = super::stats::RADIX_MIN_LEN + 1234;
    let unit = |r: u64| r as f64 / (1u64 << 53) as f64;
    let inputs: Vec<Vec<f64>> = vec![
        (0..n).map(|_| 0.02 + 1e-4 * unit(next())).collect(),
        (0..n).map(|_| 10f64.powf(600.0 * unit(next()) - 300.0)).collect(),
        (0..n).map(|_| unit(next()) - 0.5).collect(),
        vec![3.25; n],
        (0..n).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }).collect(),
        (0..4 * n).map(|_| (next() % 7) as f64 * 0.015).collect(),
        (0..n).map(|i| if i == 17 { f64::INFINITY } else { unit(next()) }).collect(),
        // A tight cluster and a few zeros: the cluster lands in one first-level bucket, which
        // is histogrammed again.
        (0..2 * n).map(|i| if i % 100 == 0 { 0.0 } else { 0.02 + 1e-6 * unit(next()) }).collect(),
    ];
    let qs = [0.0, 12.5, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0];
    for (case, v) in inputs.into_iter().enumerate() {
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let mut out = [0.0; 8];
        percentiles_unsorted(&mut v.clone(), &qs, &mut out);
        for (q, o) in qs.iter().zip(out) {
            let want = percentile(&sorted, *q);
            assert!(o.to_bits() == want.to_bits(), "case {case} q {q}: {o} vs {want}");
        }
    }
}

#[test]
fn percentile_and_max_equals_two_selections() {
    let mut x: u64 = 4242;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    for n in [1usize, 2, 3, 5, 17, 100, 101, 257, 1600, 1601, 5000] {
        for q in [0.0, 50.0, 90.0, 99.0, 99.9, 100.0, f64::NAN, 120.0] {
            for ties in [false, true] {
                let mut v: Vec<f64> = (0..n).map(|_| if ties { (next() % 5) as f64 } else { next() as f64 / 7.0 }).collect();
                if n > 3 && ties {
                    v[n / 2] = f64::INFINITY;
                }
                let mut want = [0.0; 2];
                percentiles_unsorted(&mut v.clone(), &[q, 100.0], &mut want);
                let (p, m) = percentile_and_max(&mut v, q);
                assert_eq!((p.to_bits(), m.to_bits()), (want[0].to_bits(), want[1].to_bits()), "n {n} q {q} ties {ties}");
            }
        }
    }
}

/// The summary of a hand-made run: iteration totals from its iterations, records through
/// the summariser.
fn summarize_run(r: &SimResult, run: RunInfo, slo: &Slo) -> Summary {
    let mut o = r.outcome.clone();
    let mut t = IterationTotals::default();
    for it in &o.iterations {
        let (pf, bw) = run.peaks_of(it.replica);
        let kv = o.replicas.get(it.replica as usize).map(|x| x.kv_total_blocks).unwrap_or(o.kv_total_blocks);
        t.add(it, kv, pf, bw);
    }
    t.close();
    o.totals = t;
    let mut s = Summarizer::new(*slo, o.replicas.len());
    for q in &r.requests {
        s.record(q);
    }
    s.finish(&o, run)
}

/// A run on `devices` devices of one kind with the given peaks, no SLO.
fn summarize(r: &SimResult, devices: u32, peak_flops: f64, mem_bw: f64) -> Summary {
    let n = r.outcome.replicas.len().max(1) as u32;
    let pool = PoolInfo {
        role: "colocated".into(),
        device: String::new(),
        replicas: n,
        devices_per_replica: (devices / n).max(1),
        peak_flops_per_device: peak_flops,
        mem_bw_bytes_per_s_per_device: mem_bw,
    };
    summarize_run(r, RunInfo { devices: devices as u64, pools: vec![pool], ..RunInfo::default() }, &Slo::default())
}

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
        seq: id,
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
        cached_tokens: 0,
        kv_cached_blocks: 0,
        cost: IterationCost { total_s: total, compute_s: total - comm, comm_s: comm, flops, bytes },
    }
}

/// The hand-made run of the docs: three requests, two iterations, one replica.
fn three_requests() -> SimResult {
    let requests = vec![rec(0, 0.0, &[1.0, 2.0, 4.0]), rec(1, 1.0, &[3.0, 3.5]), rec(2, 2.0, &[5.0])];
    let outcome = RunOutcome {
        requests: 3,
        iterations_truncated: false,
        totals: IterationTotals::default(),
        iterations: vec![it(0.5, 0.5, 0.1, 1e14, 2e11, 1, 10, 0, 1), it(1.0, 1.0, 0.5, 1e14, 8e11, 2, 10, 1, 3)],
        replicas: vec![ReplicaSummary {
            pool: 0,
            role: Role::Colocated,
            requests: 3,
            kv_total_blocks: 10,
            kv_peak_used_blocks: 3,
            kv_used_blocks_at_end: 0,
            busy_s: 1.5,
            prefix: None,
        }],
        preemptions: 0,
        kv_total_blocks: 10,
        kv_peak_used_blocks: 3,
        kv_block_tokens: 16,
        end_s: 5.0,
        spec_decode: None,
        prefix: None,
        ..RunOutcome::default()
    };
    SimResult { requests, outcome }
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
    assert_eq!(
        s.requests,
        RequestCounts { total: 3, completed: 3, started: 3, preempted: 0, warmup: 0, input_tokens: 30, output_tokens: 6 }
    );
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
    assert!(close(s.throughput.total_tokens_per_s_per_device, 0.9));
    // Per user: 1 / TPOT = 1/1.5 and 1/0.5 = 2 → mean (2/3 + 2)/2 = 4/3, p50 4/3.
    assert_eq!(s.output_tokens_per_s_per_user.count, 2);
    assert!(close(s.output_tokens_per_s_per_user.mean, 4.0 / 3.0));
    assert!(close(s.output_tokens_per_s_per_user.max, 2.0));
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
    assert!(close(iteration_utilisation(&r.outcome.iterations[0], 1e15, 1e12).0, 0.2));
    assert!(close(iteration_utilisation(&r.outcome.iterations[1], 1e15, 1e12).1, 0.8));
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
        prefix: None,
    };
    let outcome = RunOutcome {
        requests: 1,
        iterations_truncated: false,
        totals: IterationTotals::default(),
        iterations: vec![i0, i1],
        replicas: vec![rs(0, Role::Prefill), rs(1, Role::Decode)],
        preemptions: 0,
        kv_total_blocks: 8,
        kv_peak_used_blocks: 2,
        kv_block_tokens: 16,
        end_s: 2.0,
        spec_decode: None,
        prefix: None,
        ..RunOutcome::default()
    };
    let r = SimResult { requests: vec![q], outcome };
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

#[test]
fn quantiles_switch_to_a_sketch_within_its_relative_error() {
    // 10,000 values 1..=10,000 with an exact limit of 1,000: percentiles within 1 % of the
    // exact order statistics, count / mean / max exact.
    let mut q = Quantiles::with_limit(1_000);
    let mut exact = Vec::new();
    for i in 1..=10_000u32 {
        let x = i as f64 * 1e-3;
        q.push(x);
        exact.push(x);
    }
    assert!(!q.is_exact());
    let s = q.stats();
    let e = Stats::of(exact);
    assert_eq!((s.count, s.max), (e.count, e.max));
    assert!((s.mean - e.mean).abs() < 1e-12 * e.mean);
    for (a, b) in [(s.p50, e.p50), (s.p90, e.p90), (s.p99, e.p99), (s.p999, e.p999)] {
        assert!((a - b).abs() <= SKETCH_RELATIVE_ACCURACY * b + 1e-3, "{a} vs {b}");
    }
    // Below the limit the result is exactly Stats::of.
    let mut q = Quantiles::with_limit(1_000);
    let v: Vec<f64> = (0..999).map(|i| ((i * 7919) % 1000) as f64).collect();
    v.iter().for_each(|&x| q.push(x));
    assert!(q.is_exact());
    assert_eq!(q.stats(), Stats::of(v));
}

#[test]
fn warmup_records_are_counted_not_measured() {
    // Warm-up 1: r0 is left out; r1 (arrives 1, tokens 3, 3.5) and r2 (arrives 2, token 5)
    // remain: TTFT [2, 3], makespan 5 − 1 = 4 s, 3 output tokens → 0.75 tok/s, 20 input tokens.
    let r = three_requests();
    let o = r.outcome.clone();
    let mut s = Summarizer::new(Slo::default(), 1).with_warmup(1);
    for q in &r.requests {
        s.record(q);
    }
    let s = s.finish(&o, RunInfo { devices: 1, ..RunInfo::default() });
    assert_eq!(
        s.requests,
        RequestCounts { total: 2, completed: 2, started: 2, preempted: 0, warmup: 1, input_tokens: 20, output_tokens: 3 }
    );
    assert_eq!(s.ttft_s.mean, 2.5);
    assert_eq!(s.makespan_s, 4.0);
    assert!(close(s.throughput.output_tokens_per_s, 0.75));
    assert_eq!(s.tpot_s.count, 1);
}

#[test]
fn quantiles_switch_at_the_value_past_the_limit_and_extend_equals_pushes() {
    let v: Vec<f64> = (0..25).map(|i| ((i * 7) % 25) as f64 * 0.1).collect();
    // Exactly `limit` values stay exact; one more switches.
    let mut q = Quantiles::with_limit(10);
    v[..10].iter().for_each(|&x| q.push(x));
    assert!(q.is_exact());
    q.push(v[10]);
    assert!(!q.is_exact());
    assert_eq!(q.len(), 11);
    // Extending across the limit (in slices of various sizes) gives the pushes' summary.
    for cut in [3, 9, 10, 11, 24] {
        let mut pushed = Quantiles::with_limit(10);
        v.iter().for_each(|&x| pushed.push(x));
        let mut extended = Quantiles::with_limit(10);
        extended.extend(v[..cut].iter().copied());
        extended.extend(v[cut..].iter().copied());
        assert_eq!(extended.stats(), pushed.stats(), "cut {cut}");
    }
}

/// Pseudo-random values in `[0, 1)` (a fixed LCG).
fn lcg_values(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

#[test]
fn stats_of_a_slice_equal_stats_of_its_copy() {
    let radix = super::stats::RADIX_MIN_LEN;
    for n in [0, 1, 2, 7, 1000, radix - 1, radix, radix + 1, 50_000] {
        let mut v: Vec<f64> = lcg_values(n as u64 + 1, n).iter().map(|x| ((x * 300.0).floor() - 20.0) * 0.37).collect();
        // Ties, both zeros, and far values.
        for (i, special) in [-0.0, 0.0, f64::INFINITY, -1e300, 1e-300].into_iter().enumerate() {
            let len = v.len();
            if i < len {
                v[i * 13 % len] = special;
            }
        }
        let kept = v.clone();
        let of_slice = Stats::of_slice(&v);
        assert_eq!(v, kept, "of_slice leaves its input as it is");
        assert_eq!(format!("{of_slice:?}"), format!("{:?}", Stats::of(v.clone())), "n = {n}");
        let mut q = Quantiles::default();
        q.extend(v.iter().copied());
        assert_eq!(format!("{:?}", q.stats_of_ref()), format!("{:?}", q.clone().stats()), "n = {n}");
    }
    // A sketch: the same statistics by reference.
    let mut q = Quantiles::with_limit(100);
    q.extend(lcg_values(9, 5_000).into_iter());
    assert!(!q.is_exact());
    assert_eq!(format!("{:?}", q.stats_of_ref()), format!("{:?}", q.clone().stats()));
}

/// Records of `n` requests over `replicas` replicas (every third decoded on the next replica),
/// with 1 to 40 tokens each at pseudo-random gaps, and an outcome whose iteration times hold
/// `iterations` values.
fn many_requests(n: u64, replicas: u32, iterations: usize) -> (Vec<RequestRecord>, RunOutcome) {
    let gaps = lcg_values(5, 40 * n as usize);
    let mut g = gaps.iter();
    let records: Vec<RequestRecord> = (0..n)
        .map(|i| {
            let arrival = i as f64 * 0.25;
            let mut t = arrival + 0.5;
            let times: Vec<f64> = (0..1 + i % 40)
                .map(|_| {
                    t += 0.01 + (g.next().unwrap() * 50.0).floor() * 1e-3;
                    t
                })
                .collect();
            let replica = (i % replicas as u64) as u32;
            let mut q = rec(i, arrival, &times);
            q.replica = replica;
            if replicas > 1 && i % 3 == 0 {
                q.decode_replica = Some((replica + 1) % replicas);
                q.transfer_s = 0.002;
            }
            q
        })
        .collect();
    let mut outcome = three_requests().outcome;
    outcome.replicas = (0..replicas as usize).map(|_| outcome.replicas[0].clone()).collect();
    outcome.requests = n;
    let times: Vec<f64> = lcg_values(11, iterations).into_iter().map(|x| 0.02 + (x * 1e3).floor() * 1e-5).collect();
    // The totals agree with the iteration times (their mean is the busy time over the count).
    outcome.totals.sums.busy_s = times.iter().sum();
    outcome.totals.count = times.len() as u64;
    outcome.totals.iteration_s.extend(times.into_iter());
    (records, outcome)
}

#[test]
fn summary_reduced_on_two_threads_equals_the_serial_one() {
    let radix = super::stats::RADIX_MIN_LEN;
    for replicas in [1u32, 3] {
        let (records, outcome) = many_requests(2_000, replicas, radix + 5_000);
        let fill = || {
            let mut s = Summarizer::new(Slo { ttft_s: Some(1.0), tbt_s: Some(0.03), ..Slo::default() }, replicas as usize);
            for q in &records {
                s.record(q);
            }
            s
        };
        let run = || RunInfo { devices: replicas as u64, ..RunInfo::default() };
        let serial = fill().finish(&outcome, run());
        // The run's TBT and the iteration times take the histogram path.
        assert!(serial.tbt_s.count as usize >= radix && serial.engine.iteration_s.count as usize >= radix);
        // Against independent computations: every gap's `Stats::of`, the copied iteration times'.
        let gaps: Vec<f64> = records.iter().flat_map(|q| q.token_times.windows(2).map(|w| w[1] - w[0])).collect();
        assert_eq!(format!("{:?}", serial.tbt_s), format!("{:?}", Stats::of(gaps)));
        assert_eq!(format!("{:?}", serial.engine.iteration_s), format!("{:?}", outcome.totals.iteration_s.clone().stats()));
        let on_threads = fill()
            .reduce_with(|a, b| {
                std::thread::scope(|scope| {
                    let h = scope.spawn(a);
                    b();
                    h.join().unwrap();
                })
            })
            .finish(&outcome, iteration_stats(&outcome), run());
        let reversed = fill()
            .reduce_with(|a, b| {
                b();
                a();
            })
            .finish(&outcome, iteration_stats(&outcome), run());
        for other in [&on_threads, &reversed] {
            assert_eq!(format!("{serial:?}"), format!("{other:?}"), "{replicas} replicas");
        }
        assert_eq!(serial.replicas.len(), replicas as usize);
    }
}
