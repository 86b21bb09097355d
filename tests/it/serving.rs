//! Serving behaviour end to end: disaggregation, routing, pipelining, batching, memory.

use crate::support::run_pools;
use reallm::assemble::build_pools as build_systems;
use reallm::config::{self, Experiment};
use reallm::sim::{Pool as System, SimResult};
use reallm::workload::Request;
use reallm_plugin_api::{BatchShape, CollectiveKind, ModelGraph, PrefillChunk, WorkKind};

fn exp(yaml: &str) -> Experiment {
    config::load_str(yaml, "test.yaml", None, &[]).unwrap()
}

fn run(e: &Experiment, reqs: &[Request]) -> SimResult {
    let mut systems = build_systems(e).unwrap();
    run_pools(&mut systems, e, reqs)
}

fn req(id: u64, t: f64, p: u32, o: u32) -> Request {
    Request::new(id, t, p, o)
}

fn step(system: &mut System, shape: &BatchShape) -> f64 {
    system.cost.step_cost(shape).unwrap().total_s
}

fn prefill(tokens: u64) -> BatchShape {
    BatchShape { prefills: vec![PrefillChunk { tokens, prefix: 0, last: true }], ..Default::default() }
}

fn decode(ctx: u64) -> BatchShape {
    BatchShape { decode_seqs: 1, decode_ctx_sum: ctx, ..Default::default() }
}

fn percentile_tbt(r: &SimResult, q: f64) -> f64 {
    let mut gaps: Vec<f64> = r.requests.iter().flat_map(|x| x.token_times.windows(2).map(|w| w[1] - w[0])).collect();
    gaps.sort_by(f64::total_cmp);
    reallm::metrics::percentile(&gaps, q)
}

const DISAGG: &str = "
model: llama3-70b
disaggregated:
  prefill: {device: H100-SXM, num_devices: 8, batching: {policy: no_batching}}
  decode: {device: H100-SXM, num_devices: 8, batching: {policy: upto_memory_limit}}
  kv_transfer: {bandwidth_bytes_per_s: 100.0e9, latency_s: 1.0e-5}
";

#[test]
fn disaggregated_two_requests_by_hand() {
    let e = exp(DISAGG);
    let mut systems = build_systems(&e).unwrap();
    let kv_per_token = systems[0].cost.info.kv_bytes_per_token as f64;
    assert_eq!(kv_per_token, 327_680.0);
    let p0 = step(&mut systems[0], &prefill(1000));
    let p1 = step(&mut systems[0], &prefill(500));
    let mut d = |ctx| step(&mut systems[1], &decode(ctx));
    let (d1001, d1002, d501) = (d(1001), d(1002), d(501));
    // r0 at 0 s (1000-token prompt, 3 tokens); r1 at 10 s (500, 2): no overlap.
    let reqs = [req(0, 0.0, 1000, 3), req(1, 10.0, 500, 2)];
    let r = run_pools(&mut systems, &e, &reqs);
    let x0 = 1e-5 + kv_per_token * 1000.0 / 100e9;
    let x1 = 1e-5 + kv_per_token * 500.0 / 100e9;
    let t = &r.requests[0].token_times;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(t[0], p0), "TTFT {} vs prefill {p0}", t[0]);
    assert!(close(r.requests[0].transfer_s, x0));
    assert!(close(t[1], p0 + x0 + d1001), "second token waits for the transfer");
    assert!(close(t[2], t[1] + d1002));
    let t = &r.requests[1].token_times;
    assert!(close(t[0], 10.0 + p1));
    assert!(close(t[1], 10.0 + p1 + x1 + d501));
    assert_eq!(r.requests[0].decode_replica, Some(1));
    assert!(r.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0));
}

#[test]
fn routers_place_requests_as_specified() {
    let base = "model: llama3-8b\nsystem: {device: H100-SXM, num_devices: 1, replicas: 3, router: ROUTER}\n";
    let reqs: Vec<Request> = (0..9).map(|i| req(i, i as f64 * 0.001, 100, 50)).collect();
    let rr = run(&exp(&base.replace("ROUTER", "round_robin")), &reqs);
    let placed: Vec<u32> = rr.requests.iter().map(|r| r.replica).collect();
    assert_eq!(placed, vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
    // Least outstanding: while all are busy the counts stay balanced, ties to the lowest index.
    let lo = run(&exp(&base.replace("ROUTER", "least_outstanding")), &reqs);
    let mut per = [0; 3];
    for r in &lo.requests {
        per[r.replica as usize] += 1;
    }
    assert_eq!(per, [3, 3, 3]);
    assert_eq!(lo.requests[0].replica, 0);
    // Random: seeded, so the same run places the same way; and it uses more than one replica.
    let a = run(&exp(&base.replace("ROUTER", "random")), &reqs);
    let b = run(&exp(&base.replace("ROUTER", "random")), &reqs);
    let pa: Vec<u32> = a.requests.iter().map(|r| r.replica).collect();
    assert_eq!(pa, b.requests.iter().map(|r| r.replica).collect::<Vec<_>>());
    assert!(pa.iter().any(|&x| x != pa[0]));
    // Least KV: a replica holding a long context is avoided.
    let reqs2 = vec![req(0, 0.0, 6000, 200), req(1, 0.01, 100, 5), req(2, 0.02, 100, 5)];
    let kv = run(&exp(&base.replace("ROUTER", "least_kv").replace("replicas: 3", "replicas: 2")), &reqs2);
    assert_eq!(kv.requests[1].replica, 1);
}

#[test]
fn disaggregation_removes_prefill_interference_from_tbt() {
    // Same 16 devices: two colocated TP8 replicas (continuous batching stalls decodes during
    // prefills) vs one TP8 prefill replica + one TP8 decode replica.
    let coloc = exp("model: llama3-70b\nsystem: {device: H100-SXM, num_devices: 8, replicas: 2, batching: {policy: continuous}}\n");
    let disagg = exp(DISAGG);
    let reqs = reallm::workload::generate::generate(reallm::workload::azure::Task::Conv, 2.0, 150, 1e9, 3).unwrap();
    let c = run(&coloc, &reqs);
    let d = run(&disagg, &reqs);
    let (c99, d99) = (percentile_tbt(&c, 99.0), percentile_tbt(&d, 99.0));
    assert!(d99 < 0.7 * c99, "TBT p99 disaggregated {d99} vs colocated {c99}");
}

#[test]
fn pipeline_overlaps_stages_and_raises_prefill_throughput() {
    let cfg = |pp: u32| {
        exp(&format!("model: llama3-8b\nsystem: {{device: H100-SXM, num_devices: {pp}, parallelism: {{attention: pp{pp}}}, batching: {{policy: continuous, max_batch_tokens: 2048}}}}\n"))
    };
    // A compute-bound prefill workload: 64 prompts of 2048 tokens, one output token, all at once.
    let burst: Vec<Request> = (0..64).map(|i| req(i, 0.0, 2048, 1)).collect();
    let mut thr = Vec::new();
    for pp in [1, 2, 4] {
        let r = run(&cfg(pp), &burst);
        let makespan = r.requests.iter().map(|x| x.token_times[0]).fold(0.0, f64::max);
        thr.push(64.0 / makespan);
        if pp > 1 {
            let overlapped = r.outcome.iterations.windows(2).any(|w| w[1].start_s < w[0].end_s);
            assert!(overlapped, "pp{pp}: micro-batches must overlap in time");
        }
    }
    assert!(thr[1] > 1.8 * thr[0] && thr[2] > 1.8 * thr[1], "throughput by pp: {thr:?}");
    // A lone request pays every stage plus the send/recv between them.
    let lone = [req(0, 0.0, 1000, 1)];
    let t1 = run(&cfg(1), &lone).requests[0].token_times[0];
    let e2 = cfg(2);
    let mut sys = crate::support::pool(&e2);
    let mut g = ModelGraph::default();
    sys.cost.device_graph(&prefill(1000), &mut g).unwrap();
    let sr: Vec<_> = g
        .items()
        .filter_map(
            |(_, it, n)| if let WorkKind::Comm(c) = it.work { (c.kind == CollectiveKind::SendRecv).then_some((c, n)) } else { None },
        )
        .collect();
    assert_eq!(sr.len(), 1);
    let send = sys.cost.collective_time(&sr[0].0).unwrap() * sr[0].1 as f64;
    let t2 = run(&e2, &lone).requests[0].token_times[0];
    assert!((t2 - t1 - send).abs() < 1e-9, "pp2 TTFT {t2} = pp1 {t1} + send/recv {send}");
}

#[test]
fn chunked_keeps_tbt_bounded_where_continuous_stalls() {
    let cfg = |policy: &str| {
        exp(&format!("model: llama3-8b\nsystem: {{device: H100-SXM, num_devices: 1, batching: {{policy: {policy}, chunk_tokens: 256, max_batch_tokens: 16384}}}}\n"))
    };
    // Eight decoding requests, then a 12k-token prompt arrives.
    let mut reqs: Vec<Request> = (0..8).map(|i| req(i, i as f64 * 0.001, 64, 400)).collect();
    reqs.push(req(8, 0.5, 12_000, 4));
    let cont = run(&cfg("continuous"), &reqs);
    let chunk = run(&cfg("chunked"), &reqs);
    let (c99, k99) = (percentile_tbt(&cont, 99.9), percentile_tbt(&chunk, 99.9));
    assert!(k99 < 0.5 * c99, "TBT p99.9 chunked {k99} vs continuous {c99}");
    assert!(cont.outcome.iterations.iter().all(|i| i.prefill_tokens == 0 || i.decode_tokens == 0), "continuous never mixes");
    assert!(chunk.outcome.iterations.iter().all(|i| i.prefill_tokens + i.decode_tokens <= 256), "chunked stays in budget");
    // The long prompt is split into chunks that each attend to their prefix.
    assert!(chunk.outcome.iterations.iter().filter(|i| i.prefill_tokens > 0).count() >= 12_000 / 256);
}

#[test]
fn memory_pressure_preempts_and_everything_still_completes() {
    let base = "model: llama3-8b\nsystem: {device: H100-SXM, num_devices: 1, batching: {policy: mixed}, memory: {usable_fraction: FRAC, activation_reserve_gib: 1.0}}\n";
    let reqs = reallm::workload::generate::generate(reallm::workload::azure::Task::Conv, 20.0, 300, 1e9, 5).unwrap();
    let tight = run(&exp(&base.replace("FRAC", "0.245")), &reqs);
    let ample = run(&exp(&base.replace("FRAC", "0.9")), &reqs);
    assert!(tight.outcome.preemptions > 0, "tight memory must preempt");
    assert_eq!(ample.outcome.preemptions, 0);
    for r in [&tight, &ample] {
        for (q, rec) in reqs.iter().zip(&r.requests) {
            assert_eq!(rec.token_times.len(), q.output_tokens as usize, "request {} completes exactly once", q.id);
        }
        assert!(r.outcome.iterations.iter().all(|i| i.kv_used_blocks <= r.outcome.kv_total_blocks));
        assert!(r.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0), "blocks conserved");
    }
}

#[test]
fn swap_preemption_keeps_progress_and_pays_the_host_link() {
    let base = "model: llama3-8b\nsystem: {device: H100-SXM, num_devices: 1, batching: {policy: mixed}, memory: {usable_fraction: 0.245, activation_reserve_gib: 1.0, preemption: MODE}}\n";
    let reqs = reallm::workload::generate::generate(reallm::workload::azure::Task::Conv, 20.0, 300, 1e9, 5).unwrap();
    let swap = run(&exp(&base.replace("MODE", "swap")), &reqs);
    let recompute = run(&exp(&base.replace("MODE", "recompute")), &reqs);
    assert!(swap.outcome.preemptions > 0 && recompute.outcome.preemptions > 0);
    let prompts: u64 = reqs.iter().map(|r| r.prompt_tokens as u64).sum();
    let prefilled = |r: &SimResult| r.outcome.iterations.iter().map(|i| i.prefill_tokens as u64).sum::<u64>();
    assert_eq!(prefilled(&swap), prompts, "swapped requests keep their KV: no token is prefilled twice");
    assert!(prefilled(&recompute) > prompts, "recompute prefills preempted tokens again");
    // A TP1 model has no collectives: all communication time is swapping.
    let comm: f64 = swap.outcome.iterations.iter().map(|i| i.cost.comm_s).sum();
    assert!(comm > 0.0);
    for (q, rec) in reqs.iter().zip(&swap.requests) {
        assert_eq!(rec.token_times.len(), q.output_tokens as usize);
    }
    assert!(swap.outcome.replicas.iter().all(|x| x.kv_used_blocks_at_end == 0));
}
