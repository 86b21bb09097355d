//! Prefix caching, offload tiers and KV-aware routing against hand calculations.

use crate::support::{pool, run_one, run_pools};
use reallm::config::{self, Experiment};
use reallm::sim::{BlockIds, Pool, Request, SimResult};
use reallm_plugin_api::{BatchShape, ModelGraph, PrefillChunk, WorkKind};

/// Sum, item by item, of what the backend reports for the per-device work of one step.
fn hand_step_time(system: &mut Pool, shape: &BatchShape) -> f64 {
    let mut g = ModelGraph::default();
    system.cost.device_graph(shape, &mut g).unwrap();
    let mut t = 0.0;
    for stage in &g.stages {
        for seg in &stage.segments {
            for it in &seg.items {
                let one = match &it.work {
                    WorkKind::Kernel(k) => system.cost.backend.kernel_time(k).unwrap(),
                    WorkKind::Comm(c) => system.cost.backend.collective_time(c).unwrap(),
                };
                t += one * it.count as f64 * seg.n_layers as f64;
            }
        }
    }
    t
}

fn exp(extra: &[&str]) -> Experiment {
    let mut o: Vec<String> =
        vec!["backend={name: roofline, params: {calibration: none}}".into(), "system.memory.prefix_cache.enabled=true".into()];
    o.extend(extra.iter().map(|s| s.to_string()));
    config::load(None, &o).unwrap()
}

/// A request of `prompt` tokens whose first `shared` 16-token blocks have content ids
/// `0..shared` and the rest ids unique to `uniq`.
fn req(id: u64, t: f64, prompt: u32, out: u32, shared: u64, uniq: u64) -> Request {
    let n = prompt.div_ceil(16) as u64;
    let ids: Vec<u64> = (0..n).map(|j| if j < shared { j } else { (uniq << 32) | j }).collect();
    Request { blocks: Some(BlockIds::new(16, prompt, ids)), ..Request::new(id, t, prompt, out) }
}

fn prefix_totals(r: &SimResult) -> reallm::sim::kv::PrefixStats {
    r.outcome.prefix.as_ref().expect("prefix caching on").totals.clone()
}

#[test]
fn a_shared_k_block_prefix_is_prefilled_once() {
    let e = exp(&[]);
    let mut system = pool(&e);
    // Two 1000-token prompts sharing their first k = 40 blocks (640 tokens); the second arrives
    // after the first finished.
    let k = 40u64;
    let reqs = [req(0, 0.0, 1000, 2, k, 1), req(1, 10.0, 1000, 2, k, 2)];
    let r = run_one(&mut system, &reqs);
    assert!(r.requests.iter().all(|q| q.completed()));
    // Prefill work: 1000 + (1000 − 640) tokens.
    assert_eq!(r.outcome.totals.prefill_tokens, 1000 + 1000 - 16 * k);
    let s = prefix_totals(&r);
    assert_eq!((s.hit_blocks[0], s.hit_tokens[0]), (k, 16 * k));
    assert_eq!(s.lookups, 2);
    // Lookups cover ⌊(1000 − 1)/16⌋ = 62 blocks each.
    assert_eq!(s.lookup_blocks, 124);
    // TTFT of the second: one step prefilling 360 tokens after a 640-token cached prefix.
    let shape = BatchShape { prefills: vec![PrefillChunk { tokens: 360, prefix: 640, last: true }], ..Default::default() };
    let ttft = hand_step_time(&mut system, &shape);
    let got = r.requests[1].token_times[0] - 10.0;
    assert!((got - ttft).abs() < 1e-12, "TTFT {got} vs {ttft}");
    // And the timeline says which iteration used the cache.
    let cached: Vec<u32> = r.outcome.iterations.iter().map(|i| i.cached_tokens).collect();
    assert_eq!(cached.iter().filter(|&&c| c > 0).count(), 1);
    assert!(cached.contains(&640));

    // Arriving together, the second is admitted after the first's step registered the shared
    // blocks: still prefilled once.
    let mut system = pool(&e);
    let reqs = [req(0, 0.0, 1000, 2, k, 1), req(1, 0.0, 1000, 2, k, 2)];
    let r = run_one(&mut system, &reqs);
    assert_eq!(r.outcome.totals.prefill_tokens, 2000 - 16 * k);

    // Off: both prefilled in full.
    let mut off = pool(&exp(&["system.memory.prefix_cache.enabled=false"]));
    let r = run_one(&mut off, &reqs);
    assert_eq!(r.outcome.totals.prefill_tokens, 2000);
    assert!(r.outcome.prefix.is_none());
}

#[test]
fn a_fully_cached_prompt_still_computes_its_last_token() {
    // vLLM caps a hit at n − 1 tokens: the same 992-token prompt (62 full blocks) twice hits
    // 61 blocks and recomputes the last block's 16 tokens.
    let mut system = pool(&exp(&[]));
    let reqs = [req(0, 0.0, 992, 1, 62, 0), req(1, 5.0, 992, 1, 62, 0)];
    let r = run_one(&mut system, &reqs);
    assert_eq!(r.outcome.totals.prefill_tokens, 992 + 16);
    assert_eq!(prefix_totals(&r).hit_blocks[0], 61);
}

#[test]
fn eviction_is_least_recently_used_first() {
    // A replica of 200 blocks of 16 tokens. A, B, C (641 tokens: 41 blocks, 40 of them full
    // and cached) run one after the other and stay cached: 120 cached, 80 plain free. D (1601
    // unique tokens, 101 blocks) takes the 80 plain free blocks and evicts 21 cached ones: the
    // least recently released are A's, tail first (vLLM frees a request's blocks in reverse),
    // so A keeps its first 19 blocks. B then hits all 40 blocks it may (⌊640/16⌋) and
    // computes 1 token; A hits 19 blocks and computes 641 − 304 = 337 tokens (evicting C's
    // tail, the least recent now that A's and B's blocks are held).
    let mut system = pool(&exp(&[]));
    system.memory.kv_token_capacity = 200 * 16;
    let reqs = [
        req(0, 0.0, 641, 1, 0, 100),
        req(1, 1.0, 641, 1, 0, 200),
        req(2, 2.0, 641, 1, 0, 300),
        req(3, 3.0, 1601, 1, 0, 400),
        req(4, 4.0, 641, 1, 0, 200),
        req(5, 5.0, 641, 1, 0, 100),
    ];
    let r = run_one(&mut system, &reqs);
    let computed: Vec<u32> = r.outcome.iterations.iter().map(|i| i.prefill_tokens).collect();
    assert_eq!(computed, vec![641, 641, 641, 1601, 1, 337]);
    let s = prefix_totals(&r);
    assert_eq!(s.hit_blocks[0], 40 + 19);
    assert_eq!(s.evicted_blocks[0], 21 + 21);
    assert_eq!(s.dropped_blocks, 42, "no lower tier: evicted blocks are gone");
    assert_eq!(r.outcome.replicas[0].kv_used_blocks_at_end, 0);
}

#[test]
fn a_host_tier_hit_costs_exactly_its_transfer() {
    // 100 blocks of GPU KV. A (960 + 1 tokens) runs; B (1500 unique tokens) evicts most of
    // A's cached blocks to the host tier; A's content comes back: its hit is partly in GPU,
    // partly in host memory. With the load before the step (no overlap), the only difference
    // between a 10 GB/s, 50 µs host link and an infinitely fast one is latency + tokens ×
    // KV bytes per token per device / bandwidth.
    let run = |bw: &str, lat: &str| {
        let e = exp(&[
            &format!("system.memory.prefix_cache.host={{capacity_gib: 64, bandwidth_bytes_per_s: {bw}, latency_s: {lat}}}"),
            "system.memory.prefix_cache.load_overlap=false",
        ]);
        let mut system = pool(&e);
        system.memory.kv_token_capacity = 100 * 16;
        let reqs = [req(0, 0.0, 961, 1, 0, 7), req(1, 1.0, 1500, 1, 0, 8), req(2, 2.0, 961, 1, 0, 7)];
        let per_tok = system.memory.kv_bytes_per_token_per_device as f64;
        (run_one(&mut system, &reqs), per_tok)
    };
    let (slow, per_tok) = run("10e9", "50e-6");
    let (fast, _) = run("1e300", "0");
    let s = prefix_totals(&slow);
    let host_tokens = s.hit_tokens[1];
    assert!(host_tokens > 0 && s.hit_tokens[0] > 0, "{s:?}");
    assert_eq!(s.loaded_blocks[1] * 16, host_tokens);
    assert_eq!(prefix_totals(&fast).hit_tokens, s.hit_tokens);
    let ttft = |r: &SimResult| r.requests[2].token_times[0] - 2.0;
    let expected = 50e-6 + host_tokens as f64 * per_tok / 10e9;
    let diff = ttft(&slow) - ttft(&fast);
    assert!((diff - expected).abs() < 1e-12, "extra TTFT {diff} vs transfer {expected}");
}

#[test]
fn kv_aware_routing_sends_a_repeated_prefix_to_its_replica() {
    // Four replicas. Request 0 (prefix P) lands on replica 0; 1 and 2 (other content) go to
    // the idle replicas 1 and 2; request 3 repeats P after everything finished: the KV-aware
    // router sends it to replica 0, which holds P (round robin would pick replica 3).
    let reqs = [req(0, 0.0, 2000, 4, 100, 1), req(1, 0.001, 2000, 4, 0, 2), req(2, 0.002, 2000, 4, 0, 3), req(3, 10.0, 2000, 4, 100, 9)];
    let replicas = |router: &str| {
        let e = exp(&["system.replicas=4", &format!("system.router={router}")]);
        let mut pools = reallm::assemble::build_pools(&e).unwrap();
        let r = run_pools(&mut pools, &e, &reqs);
        (r.requests.iter().map(|q| q.replica).collect::<Vec<u32>>(), r)
    };
    let (kv, r) = replicas("kv_aware");
    assert_eq!(kv, vec![0, 1, 2, 0]);
    let hits: Vec<u64> = r.outcome.replicas.iter().map(|x| x.prefix.as_ref().unwrap().hit_blocks[0]).collect();
    // Request 3 hits P's 100 blocks on replica 0.
    assert_eq!(hits, vec![100, 0, 0, 0]);
    let (rr, _) = replicas("round_robin");
    assert_eq!(rr, vec![0, 1, 2, 3]);
}

#[test]
fn block_accounting_is_conserved_under_preemption() {
    // Tight memory, many requests sharing prefixes, both preemption modes: every request
    // completes, preemptions happen, hits happen, and no block is left held at the end (the
    // pool's debug assertions also check that free never exceeds total).
    for mode in ["recompute", "swap"] {
        let e = exp(&[
            "system.memory.usable_fraction=0.255",
            &format!("system.memory.preemption={mode}"),
            "system.memory.prefix_cache.host={capacity_gib: 1}",
        ]);
        let mut system = pool(&e);
        let reqs: Vec<Request> =
            (0..300u64).map(|i| req(i, i as f64 * 0.01, 600 + (i as u32 * 97) % 1400, 50 + (i as u32 * 31) % 300, i % 7 * 5, i)).collect();
        let r = run_one(&mut system, &reqs);
        assert!(r.requests.iter().all(|q| q.completed()), "{mode}");
        assert!(r.outcome.preemptions > 0, "{mode}: no preemption; tighten the memory");
        let s = prefix_totals(&r);
        assert!(s.hit_blocks[0] > 0, "{mode}");
        assert_eq!(r.outcome.replicas[0].kv_used_blocks_at_end, 0, "{mode}");
    }
}

#[test]
fn caching_without_shared_content_or_preemption_changes_nothing() {
    let base = ["system.memory.prefix_cache.enabled=false"];
    let reqs: Vec<Request> = (0..40).map(|i| Request::new(i, i as f64 * 0.2, 300 + 50 * i as u32, 20)).collect();
    let mut off = pool(&exp(&base));
    let mut on = pool(&exp(&[]));
    let a = run_one(&mut off, &reqs);
    let b = run_one(&mut on, &reqs);
    assert_eq!(a.requests, b.requests);
    assert_eq!(prefix_totals(&b).hit_blocks, [0; 4]);
}

// ------------------------------------------------------------------ workloads and the CLI

use crate::support::{find, reallm, repo, stderr, stdout};

fn mooncake(name: &str) -> std::path::PathBuf {
    repo().join("host/data/mooncake").join(name)
}

#[test]
fn shipped_mooncake_traces_match_their_notice() {
    // NOTICE.md: conversation 12,031 requests, mean input 12,035, mean output 343, span
    // 3,536,999 ms, 182,790 distinct ids; synthetic 3,993, 15,325, 149, 1,022,025 ms, 43,924.
    for (file, n, input, output, span_ms, distinct) in [
        ("conversation_trace.jsonl", 12_031, 12_035.0, 343.0, 3_536_999.0, 182_790),
        ("synthetic_trace.jsonl", 3_993, 15_325.0, 149.0, 1_022_025.0, 43_924),
    ] {
        let r = reallm::workload::trace::read(&mooncake(file)).unwrap();
        assert_eq!(r.len(), n, "{file}");
        let mean = |f: &dyn Fn(&Request) -> u32| r.iter().map(|q| f(q) as f64).sum::<f64>() / n as f64;
        assert!((mean(&|q| q.prompt_tokens) - input).abs() < 0.5, "{file}");
        assert!((mean(&|q| q.output_tokens) - output).abs() < 0.5, "{file}");
        assert!((r.last().unwrap().arrival_s - span_ms / 1000.0).abs() < 1e-9);
        let mut ids: Vec<u64> = r.iter().flat_map(|q| q.blocks.as_ref().unwrap().ids.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), distinct, "{file}");
        assert!(r.iter().all(|q| q.blocks.as_ref().unwrap().ids.len() as u32 == q.prompt_tokens.div_ceil(512)));
    }
    let notice = std::fs::read_to_string(repo().join("host/data/mooncake/NOTICE.md")).unwrap();
    assert!(notice.contains("Apache License 2.0") && notice.contains("Mooncake"));
    assert!(repo().join("host/data/mooncake/LICENSE").is_file());
}

#[test]
fn sim_on_a_mooncake_trace_reports_the_prefix_cache() {
    // The first 300 requests of the conversation trace, time-scaled 4× slower, on 2 replicas
    // with prefix caching and KV-aware routing.
    let dir = tempfile::tempdir().unwrap();
    let trace = mooncake("conversation_trace.jsonl");
    let out = reallm(dir.path())
        .args([
            "--set",
            "workload.end_reqs=300",
            "--set",
            "workload.time_scale=4",
            "--set",
            "system.replicas=2",
            "--set",
            "system.router=kv_aware",
            "--set",
            "system.memory.prefix_cache={enabled: true, block_tokens: 512, host: {capacity_gib: 100}}",
            "sim",
            "--timeline",
            "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("300 completed of 300") && text.contains("prefix cache:"), "{text}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(find(dir.path(), "summary.json")).unwrap()).unwrap();
    let p = &s["prefix_cache"];
    assert_eq!(p["block_tokens"], 512);
    assert_eq!(p["tiers"], serde_json::json!(["host"]));
    let hit = p["token_hit_rate"].as_f64().unwrap();
    assert!(hit > 0.05 && hit < 1.0, "{hit}");
    assert_eq!(p["prefill_tokens_saved"], p["hit_tokens"]);
    // Prefill work: every looked-up token is either hit or prefilled.
    assert_eq!(p["lookup_tokens"].as_u64().unwrap(), s["engine"]["prefill_tokens"].as_u64().unwrap() + p["hit_tokens"].as_u64().unwrap());
    assert!(s["replicas"][0]["prefix_cache"]["lookups"].as_u64().unwrap() > 0);
    // The arrival span is 4× the trace's.
    let reqs = std::fs::read_to_string(find(dir.path(), "requests.csv")).unwrap();
    let last_arrival: f64 = reqs.lines().last().unwrap().split(',').nth(3).unwrap().parse().unwrap();
    let r = reallm::workload::trace::read(&trace).unwrap();
    assert!((last_arrival - 4.0 * r[299].arrival_s).abs() < 1e-9);
    // The timeline has the cache columns.
    let it = std::fs::read_to_string(find(dir.path(), "iterations.csv")).unwrap();
    assert!(it.lines().next().unwrap().ends_with(",cached_tokens,kv_cached_blocks"));
}

#[test]
fn summary_and_timeline_are_unchanged_with_caching_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path()).args(["--set", "workload.max_requests=20", "sim", "--timeline"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = std::fs::read_to_string(find(dir.path(), "summary.json")).unwrap();
    assert!(!s.contains("prefix_cache"));
    let it = std::fs::read_to_string(find(dir.path(), "iterations.csv")).unwrap();
    assert_eq!(format!("{}\n", it.lines().next().unwrap()), reallm::report::files::ITERATIONS_CSV_HEADER);
}

#[test]
fn conversations_run_closed_loop_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let conv = "workload.conversations={count: 12, rate: 0.5, turns: 3, think_time_s: 2}";
    let sp = "workload.system_prompt={groups: 2, tokens: 512}";
    let common = ["--set", conv, "--set", sp, "--set", "system.memory.prefix_cache.enabled=true"];
    let out = reallm(dir.path()).args(common).args(["sim", "--summary-json", "s.json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(s["run"]["trace"], "conversations");
    let total = s["requests"]["total"].as_u64().unwrap();
    assert!(total >= 12 && total == s["requests"]["completed"].as_u64().unwrap());
    // Later turns and other conversations of a group reuse cached blocks.
    assert!(s["prefix_cache"]["hit_tokens"].as_u64().unwrap() > 0);
    let rows = std::fs::read_to_string(find(dir.path(), "requests.csv")).unwrap();
    assert_eq!(rows.lines().count() as u64, total + 1);

    // export-trace writes the same conversations open-loop, with sessions and shared ids.
    let out = reallm(dir.path()).args(common).args(["export-trace", "--out", "c.jsonl", "--block-tokens", "16"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r = reallm::workload::trace::read(&dir.path().join("c.jsonl")).unwrap();
    assert_eq!(r.len() as u64, total);
    assert!(r.iter().all(|q| q.session.is_some() && q.blocks.as_ref().unwrap().block_tokens == 16));
    // Every request starts with one of the two system prompts (32 blocks of 16 tokens).
    let mut firsts: Vec<u64> = r.iter().map(|q| q.blocks.as_ref().unwrap().ids[31]).collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert!(firsts.len() <= 2, "{firsts:?}");
    // A trace exported with a system prompt runs with `sim --trace`.
    let out = reallm(dir.path()).args(["--set", "system.memory.prefix_cache.enabled=true", "sim", "--trace", "c.jsonl"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("prefix cache:"));
}

#[test]
fn a_conversation_turn_arrives_a_think_time_after_the_previous_answer() {
    use reallm::sim::{Conversation, ConversationWorkload, Turn};
    let e = exp(&[]);
    let mut system = pool(&e);
    let t = |u, o, think| Turn { user_tokens: u, output_tokens: o, think_s: think };
    let convs = vec![
        Conversation { start_s: 0.0, system_group: Some(0), turns: vec![t(800, 20, 0.0), t(300, 10, 1.25), t(200, 5, 0.5)] },
        Conversation { start_s: 0.1, system_group: Some(0), turns: vec![t(500, 8, 0.0)] },
    ];
    let mut w = ConversationWorkload::new(convs, 256, 16);
    let r = reallm::sim::simulate_collect(std::slice::from_mut(&mut system), Default::default(), &mut w, Default::default()).unwrap();
    // Issue order: A1 (id 0), B1 (id 1), A2 (id 2), A3 (id 3).
    let by_id = |id: u64| r.requests.iter().find(|q| q.id == id).unwrap();
    let (a1, b1, a2, a3) = (by_id(0), by_id(1), by_id(2), by_id(3));
    assert_eq!((a1.prompt_tokens, b1.prompt_tokens, a2.prompt_tokens, a3.prompt_tokens), (1056, 756, 1056 + 20 + 300, 1376 + 10 + 200));
    assert!((a2.arrival_s - (a1.token_times.last().unwrap() + 1.25)).abs() < 1e-12);
    assert!((a3.arrival_s - (a2.token_times.last().unwrap() + 0.5)).abs() < 1e-12);
    // A2 finds A1's prompt and answer cached: of its 1376 tokens, the full blocks of the first
    // 1076 (67 blocks) hit; B1 shares the 256-token system prompt (16 blocks) with A1.
    let s = prefix_totals(&r);
    assert_eq!(s.hit_blocks[0], 16 + 67 + (1376 + 10) / 16);
}

#[test]
fn a_library_user_can_install_a_router_and_an_eviction_policy() {
    use reallm::sim::kv::{BlockMeta, EntryId, EvictionPolicy};
    use reallm::sim::router::{ReplicaView, RouteRequest, Router};
    /// Every request to the last replica.
    struct Last;
    impl Router for Last {
        fn name(&self) -> &str {
            "last"
        }
        fn route(&mut self, _: &RouteRequest, v: &dyn ReplicaView, _: &mut dyn rand::RngCore) -> usize {
            v.len() - 1
        }
    }
    /// Most recently released first.
    #[derive(Default)]
    struct Mru(Vec<EntryId>);
    impl EvictionPolicy for Mru {
        fn name(&self) -> &'static str {
            "mru"
        }
        fn insert(&mut self, id: EntryId, _: BlockMeta) {
            self.0.push(id);
        }
        fn remove(&mut self, id: EntryId) {
            self.0.retain(|&x| x != id);
        }
        fn pop(&mut self) -> Option<EntryId> {
            self.0.pop()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
    }
    let e = exp(&["system.replicas=3"]);
    let mut pools = reallm::assemble::build_pools(&e).unwrap();
    pools[0].set_router(Box::new(Last));
    pools[0].set_eviction_policy(Box::new(|| Box::new(Mru::default())));
    pools[0].memory.kv_token_capacity = 200 * 16;
    // The LRU test's sequence under MRU: D evicts the most recently released blocks (C's, head
    // first, as C released them tail first), so A then hits all 40 of its blocks and B too.
    let reqs = [
        req(0, 0.0, 641, 1, 0, 100),
        req(1, 1.0, 641, 1, 0, 200),
        req(2, 2.0, 641, 1, 0, 300),
        req(3, 3.0, 1601, 1, 0, 400),
        req(4, 4.0, 641, 1, 0, 200),
        req(5, 5.0, 641, 1, 0, 100),
    ];
    let r = run_pools(&mut pools, &e, &reqs);
    assert!(r.requests.iter().all(|q| q.replica == 2));
    assert_eq!(prefix_totals(&r).hit_blocks[0], 80);
}

#[test]
fn a_cluster_tier_hit_serves_another_replica_and_costs_its_transfer() {
    // Two replicas of 100 blocks, round robin, no local lower tier, a cluster tier reached at
    // 5 GB/s per device with 20 µs latency. P (961 tokens) runs on replica 0 and is pushed out
    // by unique requests into the cluster tier; its repeat lands on replica 1, which never
    // computed it: a cluster hit, costing latency + tokens × KV bytes per token per device /
    // bandwidth, measured against the same run with an infinitely fast cluster link.
    let run = |bw: &str, lat: &str| {
        let e = exp(&[
            "system.replicas=2",
            &format!("system.memory.prefix_cache.cluster={{capacity_gib: 64, bandwidth_bytes_per_s: {bw}, latency_s: {lat}}}"),
            "system.memory.prefix_cache.load_overlap=false",
        ]);
        let mut pools = reallm::assemble::build_pools(&e).unwrap();
        pools[0].memory.kv_token_capacity = 100 * 16;
        let per_tok = pools[0].memory.kv_bytes_per_token_per_device as f64;
        let reqs = [
            req(0, 0.0, 961, 1, 0, 7),
            req(1, 1.0, 1500, 1, 0, 8),
            req(2, 2.0, 1500, 1, 0, 9),
            req(3, 3.0, 1500, 1, 0, 10),
            req(4, 4.0, 1500, 1, 0, 11),
            req(5, 5.0, 961, 1, 0, 7),
        ];
        (run_pools(&mut pools, &e, &reqs), per_tok)
    };
    let (slow, per_tok) = run("5e9", "20e-6");
    let (fast, _) = run("1e300", "0");
    assert_eq!(slow.requests[5].replica, 1);
    let rep1 = slow.outcome.replicas[1].prefix.as_ref().unwrap();
    let cluster_tokens = rep1.hit_tokens[3];
    assert!(cluster_tokens > 0 && rep1.hit_tokens[0] == 0, "{rep1:?}");
    assert_eq!(prefix_totals(&fast).hit_tokens, prefix_totals(&slow).hit_tokens);
    let ttft = |r: &SimResult| r.requests[5].token_times[0] - 5.0;
    let expected = 20e-6 + cluster_tokens as f64 * per_tok / 5e9;
    let diff = ttft(&slow) - ttft(&fast);
    assert!((diff - expected).abs() < 1e-12, "extra TTFT {diff} vs transfer {expected}");
    assert!(prefix_totals(&slow).offloaded_blocks[3] > 0);
}

#[test]
fn session_affinity_keeps_a_conversation_on_one_replica() {
    use reallm::sim::{Conversation, ConversationWorkload, Turn};
    let t = |u, think| Turn { user_tokens: u, output_tokens: 4, think_s: think };
    let convs: Vec<Conversation> = (0..6)
        .map(|c| Conversation { start_s: c as f64 * 0.3, system_group: None, turns: vec![t(300, 0.0), t(200, 0.5), t(100, 0.5)] })
        .collect();
    for affinity in [true, false] {
        let e = exp(&["system.replicas=4", &format!("system.session_affinity={affinity}")]);
        let mut pools = reallm::assemble::build_pools(&e).unwrap();
        let mut w = ConversationWorkload::new(convs.clone(), 0, 16);
        let r = reallm::sim::simulate_collect(&mut pools, Default::default(), &mut w, Default::default()).unwrap();
        assert_eq!(r.requests.len(), 18);
        let hits = prefix_totals(&r).hit_blocks[0];
        if affinity {
            // Each conversation's later turns find their history, the KV computed so far: turn
            // 1 computed 300 + 3 tokens (the last answer token's KV never is): 18 full blocks,
            // hit by turn 2 (504 tokens); turn 2 computed 504 + 3: 31 blocks, hit by turn 3.
            assert_eq!(hits, 6 * (18 + 31));
        } else {
            assert!(hits < 6 * (18 + 31), "round robin scatters turns: {hits}");
        }
    }
}
