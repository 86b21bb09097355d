//! Benchmark workloads and serving-engine profiles: closed loops checked by hand, each
//! engine's memory rule by hand, profile defaults and overrides, the concurrency sweep CLI.

use crate::support::*;
use reallm::config::{self, Experiment};
use reallm::sim::{ClosedLoop, Pool, SimOptions, SimResult};
use reallm_plugin_api::{BatchShape, PrefillChunk};

fn exp(yaml: &str) -> Experiment {
    config::load_str(yaml, "test.yaml", None, &[]).unwrap()
}

/// Llama-3.1-8B on one H100, the ideal roofline, `policy`.
fn one_h100(policy: &str) -> Experiment {
    exp(&format!(
        "model: llama3.1-8b\nbackend: {{name: roofline, params: {{calibration: none}}}}\nsystem: {{device: H100-SXM, num_devices: 1, batching: {{policy: {policy}}}}}\n"
    ))
}

fn closed_loop(pool: &mut Pool, clients: u32, think_s: f64, n: u64, prompt: u32, output: u32) -> SimResult {
    let mut w = ClosedLoop::new(clients, think_s, std::iter::repeat((prompt, output)), Some(n), None);
    reallm::sim::simulate_collect(std::slice::from_mut(pool), Default::default(), &mut w, SimOptions::default()).unwrap()
}

fn step(pool: &mut Pool, shape: &BatchShape) -> f64 {
    pool.cost.step_cost(shape).unwrap().total_s
}

#[test]
fn closed_loop_keeps_c_requests_in_flight_in_waves() {
    // C = 4 clients, 20 requests of 100 prompt and 10 output tokens, continuous batching: the
    // four requests of a wave arrive together, are prefilled in one iteration (4 × 100 tokens)
    // and decode together (9 iterations, the k-th over 4 contexts of 100 + k tokens), so they
    // complete together and the clients' next four requests arrive at that instant.
    let e = one_h100("continuous");
    let mut pool = pool(&e);
    let prefill = BatchShape { prefills: vec![PrefillChunk { tokens: 100, prefix: 0, last: true }; 4], ..Default::default() };
    let mut wave = step(&mut pool, &prefill);
    for k in 1..10u64 {
        wave += step(&mut pool, &BatchShape { decode_seqs: 4, decode_ctx_sum: 4 * (100 + k), ..Default::default() });
    }
    let r = closed_loop(&mut pool, 4, 0.0, 20, 100, 10);
    assert_eq!(r.requests.len(), 20);
    let done = |i: usize| *r.requests[i].token_times.last().unwrap();
    for (i, q) in r.requests.iter().enumerate() {
        assert_eq!((q.id, q.seq), (i as u64, i as u64), "ids are issue order");
        assert_eq!(q.token_times.len(), 10);
        let w = (i / 4) as f64;
        // Arrival: wave w starts when wave w − 1 ends (4 in flight at every instant).
        assert!((q.arrival_s - w * wave).abs() < 1e-9 * (1.0 + w * wave), "request {i} arrives at {}", q.arrival_s);
        if i >= 4 {
            assert_eq!(q.arrival_s, done(i - 4), "request {i} is sent when request {} completes", i - 4);
        }
        assert!((done(i) - (w + 1.0) * wave).abs() < 1e-9 * (w + 1.0) * wave, "request {i} completes at {}", done(i));
    }
    // Every iteration carries the 4 in-flight requests: 5 waves × (1 prefill + 9 decodes).
    assert_eq!(r.outcome.iterations.len(), 50);
    assert!(r.outcome.iterations.iter().all(|it| it.seqs == 4));
    assert!((r.outcome.end_s - 5.0 * wave).abs() < 1e-9 * wave);
    // Byte-identical rerun.
    let again = closed_loop(&mut pool, 4, 0.0, 20, 100, 10);
    assert_eq!(format!("{:?}", again.requests), format!("{:?}", r.requests));
}

#[test]
fn closed_loop_with_think_time_and_one_client() {
    // One client, 3 requests, 0.25 s think time: request k + 1 arrives 0.25 s after request k
    // completes; each request alone costs prefill(50) + decodes over 51 and 52 tokens.
    let e = one_h100("mixed");
    let mut pool = pool(&e);
    let alone = step(&mut pool, &BatchShape { prefills: vec![PrefillChunk { tokens: 50, prefix: 0, last: true }], ..Default::default() })
        + step(&mut pool, &BatchShape { decode_seqs: 1, decode_ctx_sum: 51, ..Default::default() })
        + step(&mut pool, &BatchShape { decode_seqs: 1, decode_ctx_sum: 52, ..Default::default() });
    let r = closed_loop(&mut pool, 1, 0.25, 3, 50, 3);
    for (k, q) in r.requests.iter().enumerate() {
        let start = k as f64 * (alone + 0.25);
        assert!((q.arrival_s - start).abs() < 1e-12, "{k}");
        assert!((q.token_times[2] - start - alone).abs() < 1e-12, "{k}");
    }
    // Two clients, 2 requests: both at 0, nothing more.
    let r = closed_loop(&mut pool, 2, 0.0, 2, 50, 3);
    assert_eq!(r.requests.iter().map(|q| q.arrival_s).collect::<Vec<_>>(), vec![0.0, 0.0]);
}

#[test]
fn in_flight_never_exceeds_the_clients() {
    // Chunked prefill, mixed lengths from a seeded sampler: at every arrival at most C requests
    // are in flight (arrived, not completed), and exactly C while the loop is issuing.
    let e = one_h100("chunked");
    let mut pool = pool(&e);
    let lengths = reallm::sim::LengthSampler::new(
        reallm::sim::LengthDist::Uniform { min: 10, max: 3000 },
        reallm::sim::LengthDist::Uniform { min: 1, max: 200 },
        7,
    );
    let mut w = ClosedLoop::new(16, 0.0, lengths, Some(300), None);
    let r = reallm::sim::simulate_collect(std::slice::from_mut(&mut pool), Default::default(), &mut w, SimOptions::default()).unwrap();
    assert_eq!(r.requests.len(), 300);
    let mut completions: Vec<f64> = r.requests.iter().map(|q| *q.token_times.last().unwrap()).collect();
    completions.sort_by(f64::total_cmp);
    for q in &r.requests {
        // Requests arrived up to and including this instant, minus those completed by then.
        let arrived = r.requests.iter().filter(|x| x.arrival_s <= q.arrival_s).count();
        let completed = completions.iter().filter(|&&c| c <= q.arrival_s).count();
        assert_eq!(arrived - completed, 16, "at {}", q.arrival_s);
    }
}

/// Build the pool of Llama-3-70B (FP16/BF16 weights) on 2 × H100 (TP2) under `engine`.
fn llama70b_tp2(engine: Option<&str>) -> Pool {
    let head = engine.map(|e| format!("engine: {e}\n")).unwrap_or_default();
    pool(&exp(&format!("{head}model: llama3-70b\nsystem: {{device: H100-SXM, num_devices: 2, parallelism: {{attention: tp2}}}}\n")))
}

#[test]
fn each_engine_memory_rule_by_hand() {
    // Llama-3-70B: 80 layers, hidden 8192, 64 heads / 8 KV heads × 128, FFN 28,672, vocab
    // 128,256: 70,553,706,496 parameters. Per device under TP2 (2 bytes each): attention
    // 12,079,595,520 and FFN 56,371,445,760 parameters halved, norms 1,318,912 replicated,
    // embedding and LM head 1,050,673,152 each halved:
    // (12,079,595,520 + 56,371,445,760)/2·2 + 1,318,912·2 + 2·1,050,673,152 = 70,555,025,408 B.
    // KV per token per device: 80 · 2 · 8 · 128 · 2 B / 2 = 163,840 B. H100: 80 GiB =
    // 85,899,345,920 B.
    const W: u64 = 70_555_025_408;
    const C: u64 = 85_899_345_920;
    const TOK: u64 = 163_840;
    // Activations (vLLM, TRT-LLM): 2 · 8192 tokens · (64 · 128) · 6.5 = 872,415,232 B.
    // Framework: NCCL 342 MiB + runtime 551 MiB = 936,378,368 B (SGLang: 342 + 551 · 1.2 MiB
    // = 1,051,931,443 B).
    const ACT: u64 = 872_415_232;
    const FW: u64 = 936_378_368;
    let cases = [
        // Generic: 0.9 · C − W − 2 GiB = 77,309,411,328 − W − 2,147,483,648 = 4,606,902,272 B.
        (None, (C as f64 * 0.9) as u64 - W - (2 << 30), 28_118u64),
        // vLLM: 0.92 · C − W − ACT − FW = 79,027,398,246 − W − ACT − FW = 6,663,579,238 B.
        (Some("vllm"), (C as f64 * 0.92) as u64 - W - ACT - FW, 40_671),
        // SGLang: mem_fraction_static 0.834 (reserved 13,568 MiB of 81,920); activations sit in
        // the remaining 16.6 %: 0.834 · C − W − 1,051,931,443 = 33,097,646 B.
        (Some("sglang"), (C as f64 * 0.834) as u64 - W - 1_051_931_443, 202),
        // TRT-LLM: 0.9 · (C − W − ACT − FW) = 0.9 · 13,535,526,912 = 12,181,974,220 B.
        (Some("trtllm"), ((C - W - ACT - FW) as f64 * 0.9) as u64, 74_352),
    ];
    let mut fits = Vec::new();
    for (engine, kv_bytes, tokens) in cases {
        let p = llama70b_tp2(engine);
        fits.push(p.memory.kv_token_capacity);
        let m = &p.memory;
        assert_eq!(m.weight_bytes_per_device, W, "{engine:?}");
        assert_eq!(m.kv_bytes_per_token_per_device, TOK);
        assert_eq!(m.kv_bytes_per_device, kv_bytes, "{engine:?}");
        assert_eq!(m.kv_token_capacity, tokens, "{engine:?}");
        assert_eq!(kv_bytes / TOK, tokens);
    }
    // TensorRT-LLM's rule fits 2.6× the generic rule's tokens on this system.
    assert!(fits[3] as f64 / fits[0] as f64 > 2.6, "{fits:?}");
}

#[test]
fn profiles_fill_defaults_that_the_config_overrides() {
    let base = "model: llama3.1-8b\nsystem: {device: H100-SXM, num_devices: 1}\n";
    let v = exp(&format!("engine: vllm\n{base}"));
    let p = &v.pool;
    assert_eq!(p.batching.name, "chunked");
    assert_eq!((p.limits.max_batch_seqs, p.limits.max_batch_tokens, p.limits.chunk_tokens), (1024, 8192, 0));
    assert_eq!(p.memory.block_tokens, 16);
    assert_eq!(p.memory.watermark_fraction, 0.0);
    // 1, 2, 4, 8 … 248 step 8 (31), 256 … 512 step 16 (17): 51 sizes.
    assert_eq!(v.sim.cuda_graph_batch_sizes.len(), 51);
    assert_eq!(v.sim.cuda_graph_batch_sizes.last(), Some(&512));
    assert_eq!(v.engine.as_ref().unwrap().name, "vllm");
    // The config wins; `--engine` is `engine:`; an A100 gets vLLM's small-GPU limits.
    let o = config::load_str(base, "t.yaml", None, &["engine=vllm".into(), "system.batching.policy=mixed".into()]).unwrap();
    assert_eq!((o.pool.batching.name.as_str(), o.pool.limits.max_batch_seqs), ("mixed", 1024));
    let a100 = exp("engine: vllm\nmodel: llama3.1-8b\nsystem: {device: A100-SXM-80GB, num_devices: 1}\n");
    assert_eq!((a100.pool.limits.max_batch_seqs, a100.pool.limits.max_batch_tokens), (256, 2048));
    // SGLang: prefill first, chunk 8192 and graphs to 256 below TP4, to 512 from TP4.
    let s = exp(&format!("engine: sglang\n{base}"));
    assert_eq!((s.pool.batching.name.as_str(), s.pool.limits.chunk_tokens), ("prefill_first", 8192));
    assert_eq!(s.sim.cuda_graph_batch_sizes.last(), Some(&256));
    let s8 = exp("engine: sglang\nmodel: llama3-70b\nsystem: {device: H100-SXM, num_devices: 8}\n");
    assert_eq!(s8.sim.cuda_graph_batch_sizes.last(), Some(&512));
    // TRT-LLM: in-flight batching without chunked context, no padded graphs.
    let t = exp(&format!("engine: trtllm\n{base}"));
    assert_eq!((t.pool.batching.name.as_str(), t.pool.limits.max_batch_seqs, t.pool.memory.block_tokens), ("mixed", 2048, 32));
    assert!(t.sim.cuda_graph_batch_sizes.is_empty());
    // Disaggregated pools each get the pool defaults.
    let d = exp("engine: trtllm\nmodel: llama3.1-8b\ndisaggregated:\n  prefill: {device: H100-SXM, num_devices: 1}\n  decode: {device: H100-SXM, num_devices: 1}\n");
    assert!(d.pools().all(|p| p.memory.block_tokens == 32));
    // Prefix caching is on, as in the engines: in the KV block for vLLM and TRT-LLM, in
    // 16-token blocks for SGLang (radix per token, rounded: docs/engines.md); a decode pool
    // receives prefilled KV and keeps it off; a config can turn it off.
    for (e, c, block) in [(&v, None, 16), (&t, None, 32), (&s, Some(16), 1)] {
        let pc = &e.pool.memory.prefix_cache;
        assert!(pc.enabled && pc.block_tokens == c && e.pool.memory.block_tokens == block, "{pc:?}");
    }
    let caching: Vec<(reallm::sim::Role, bool)> = d.pools().map(|p| (p.role, p.memory.prefix_cache.enabled)).collect();
    assert_eq!(caching, [(reallm::sim::Role::Prefill, true), (reallm::sim::Role::Decode, false)]);
    let off =
        config::load_str(&format!("engine: vllm\n{base}"), "t.yaml", None, &["system.memory.prefix_cache.enabled=false".into()]).unwrap();
    assert!(!off.pool.memory.prefix_cache.enabled);
    // No engine: nothing changes.
    let g = exp(base);
    assert!(g.engine.is_none() && g.pool.batching.name == "continuous" && g.sim.cuda_graph_batch_sizes.is_empty());
    // The profile's all-reduce choice (`allreduce: vllm`) reaches a backend that takes the
    // parameter (the calibrated roofline: vLLM's custom all-reduce is faster than NCCL for a
    // small message); one that does not (llmcompass) is built without it.
    for backend in ["roofline", "llmcompass"] {
        let e = exp(&format!("engine: vllm\nbackend: {backend}\n{base}"));
        let _ = pool(&e);
    }
    let tp8 = "model: llama3.1-8b\nsystem: {device: H100-SXM, num_devices: 8, parallelism: {attention: tp8, ffn: tp8}}\n";
    let ar = reallm_plugin_api::Collective {
        kind: reallm_plugin_api::CollectiveKind::AllReduce,
        bytes: 16 << 10,
        ranks: 8,
        scope: reallm_plugin_api::LinkScope::ScaleUp,
        algo: reallm_plugin_api::CommAlgo::Auto,
    };
    let nccl = pool(&exp(&format!("backend: {{name: roofline, params: {{allreduce: nccl}}}}\n{tp8}"))).cost.collective_time(&ar).unwrap();
    let vllm = pool(&exp(&format!("engine: vllm\n{tp8}"))).cost.collective_time(&ar).unwrap();
    assert!(vllm < 0.5 * nccl, "custom all-reduce {vllm} vs NCCL {nccl}");
}

#[test]
fn concurrency_sweep_writes_one_run_per_level() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.yaml"),
        "model: llama3.1-8b\nengine: vllm\nsystem: {device: H100-SXM, num_devices: 1}\n\
         workload:\n  synthetic: {requests: 40, input_tokens: {dist: uniform, min: 100, max: 400}, output_tokens: {dist: lognormal, mean: 30, std: 10, min: 2, max: 100}}\n  warmup_requests: 4\n",
    )
    .unwrap();
    let run = || reallm(dir.path()).args(["-q", "-c", "c.yaml", "--workspace", "ws", "sim", "--concurrency", "1", "4"]).output().unwrap();
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in ["synthetic_c1", "synthetic_c4", "36 completed of 36", "4 warm-up", "TPOT", "ITL", "per user"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let root = dir.path().join("ws/roofline_results/llama3.1-8b");
    let s4: reallm::metrics::Summary =
        serde_json::from_str(&std::fs::read_to_string(root.join("synthetic_c4/H100-SXM_x1_tp1_tp1_chunked/summary.json")).unwrap())
            .unwrap();
    assert_eq!((s4.run.concurrency, s4.requests.warmup, s4.requests.total), (Some(4), 4, 36));
    assert_eq!(s4.run.engine_profile.as_deref(), Some("vllm"));
    // Rerun: byte-identical files.
    let before = std::fs::read(root.join("synthetic_c4/H100-SXM_x1_tp1_tp1_chunked/requests.csv")).unwrap();
    assert!(run().status.success());
    assert_eq!(before, std::fs::read(root.join("synthetic_c4/H100-SXM_x1_tp1_tp1_chunked/requests.csv")).unwrap());
    // The concurrency plots.
    let runs = [root.join("synthetic_c1/H100-SXM_x1_tp1_tp1_chunked"), root.join("synthetic_c4/H100-SXM_x1_tp1_tp1_chunked")];
    let files = reallm::report::plot(&runs, &dir.path().join("pics")).unwrap();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    for f in [
        "ttft_vs_concurrency.svg",
        "tpot_vs_concurrency.svg",
        "throughput_vs_interactivity.svg",
        "ttft_cdf_log.svg",
        "itl_cdf_log.svg",
        "e2e_cdf_log.svg",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} not in {names:?}");
    }
    let svg = std::fs::read_to_string(dir.path().join("pics/throughput_vs_interactivity.svg")).unwrap();
    assert!(svg.contains("output tokens/s per GPU") && svg.contains("per user"));
    // Synthetic lengths with rates: Poisson arrivals, `rr_synthetic_{rate}`.
    let out = reallm(dir.path()).args(["-q", "-c", "c.yaml", "--workspace", "ws", "sim", "--rate", "2"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(root.join("rr_synthetic_2").is_dir());
}
