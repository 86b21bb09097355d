//! Tests of the search on tiny models and tiny workloads (each simulation: tens of requests).

use super::output::{read_rows, Row};
use super::pareto::dominates;
use super::*;
use crate::config;

/// A 2-layer model with 6 heads (2 KV heads): TP 4 does not divide its heads, PP 4 exceeds its
/// layers.
const TINY: &str =
    "model: {plugin: llama, name: tiny, params: {config: {hidden_size: 384, num_attention_heads: 6, num_key_value_heads: 2, \
                    num_hidden_layers: 2, intermediate_size: 512, vocab_size: 1024}}}\n\
                    system: {device: H100-SXM, num_devices: 4}\n\
                    slo: {ttft_s: 0.0004, tpot_s: 0.0003}\n\
                    search:\n  gpus: 4\n  workload: {isl: 200, osl: 12, requests: 40, rates: [20, 200, 2000]}\n";

fn tiny(extra: &[&str]) -> Experiment {
    let ov: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    config::load_str(TINY, "tiny.yaml", None, &ov).unwrap()
}

fn opts(out: &Path) -> RunOpts {
    RunOpts { out: out.to_path_buf(), jobs: Some(1), ..Default::default() }
}

fn has_plan(rows: &[Row], col: &str, plan: &str) -> bool {
    rows.iter().any(|r| r.get(col).split('_').any(|p| p == plan))
}

#[test]
fn invalid_plans_are_counted_and_never_simulated() {
    // Aggregated only: plans of 1, 2 and 4 devices: 1 + 4 + 10 = 15 deployments. Invalid: the
    // 4-device plans with attention tp4 (6 heads) and with pp4 (2 layers): 2.
    let exp = tiny(&["search.modes=[agg]"]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&exp, &opts(dir.path())).unwrap();
    let c = &r.meta.counts;
    assert_eq!((c.deployments, c.invalid, c.pruned_memory, c.valid), (15, 2, 0, 13));
    assert_eq!(c.simulations, 13 * 3);
    assert!(r.meta.reasons.keys().any(|k| k.contains("does not divide the 6 attention heads")), "{:?}", r.meta.reasons);
    assert!(r.meta.reasons.keys().any(|k| k.contains("pp 4")), "{:?}", r.meta.reasons);
    let rows = read_rows(&dir.path().join("search.csv")).unwrap();
    assert_eq!(rows.len(), 13 * 3);
    assert_eq!(r.meta.simulated, 13);
    assert!(!has_plan(&rows, "attention", "tp4") && !has_plan(&rows, "attention", "pp4"));
    // Every valid deployment has a row per level.
    for d in 0..13 {
        assert_eq!(rows.iter().filter(|r| r.deployment == d).count(), 3);
    }

    // Disaggregated too: 4 GPUs split (replicas × GPUs) as prefill 1×1 + decode 3×1, 2×1 + 2×1,
    // 2×1 + 1×2, 1×2 + 2×1, 1×2 + 1×2 and 3×1 + 1×1: pool plans 1·1 + 1·1 + 1·4 + 4·1 + 4·4 +
    // 1·1 = 27, none invalid (no plan of 1 or 2 devices is).
    let exp = tiny(&["search.modes=[disagg]"]);
    let prep = prepare(&exp, None).unwrap();
    let c = &prep.space.counts;
    assert_eq!((c.deployments, c.invalid, c.pruned_memory, c.valid), (27, 0, 0, 27));
    assert!(prep.space.deployments.iter().all(|d| d.gpus() == 4 && d.decode.is_some()));
}

#[test]
fn experts_that_do_not_split_are_invalid() {
    // 6 routed experts: ep 4 does not divide them (ep 2 does).
    let moe = "model={plugin: llama, name: tiny-moe, params: {config: {hidden_size: 384, num_attention_heads: 8, num_key_value_heads: 4, \
               num_hidden_layers: 4, intermediate_size: 256, vocab_size: 1024, num_local_experts: 6, num_experts_per_tok: 2}}}";
    let exp = tiny(&[moe, "search.modes=[agg]", "search.replica_gpus=[4]", "search.parallelism.pp=[1]", "search.parallelism.cp=[1]"]);
    let prep = prepare(&exp, None).unwrap();
    // Attention (tp, dp) ∈ {(1,4), (2,2), (4,1)} × FFN (tp, ep) ∈ {(4,1), (2,2), (1,4)}: 9 plans; the
    // three with ep 4 are invalid.
    let c = &prep.space.counts;
    assert_eq!((c.deployments, c.invalid, c.valid), (9, 3, 6));
    assert!(prep.space.deployments.iter().all(|d| d.first.ffn.ep != 4));
    assert!(prep.space.reasons.keys().any(|k| k.contains("ep 4 does not divide the 6 routed experts")), "{:?}", prep.space.reasons);
}

#[test]
fn plans_that_do_not_fit_memory_are_pruned_before_simulating() {
    // Llama-3-70B (141 GB of bf16 weights) on 80 GB devices: the 1-device replica cannot hold
    // the weights; 2-device replicas can. A prompt longer than a 2-device replica's KV
    // capacity (tens of thousands of tokens at 160 KiB per token per device) prunes those too.
    let base = ["model=llama3-70b", "search.gpus=2", "search.modes=[agg]", "search.workload.rates=[1]", "search.workload.requests=2"];
    let exp = tiny(&base);
    let prep = prepare(&exp, None).unwrap();
    let c = &prep.space.counts;
    assert_eq!((c.deployments, c.invalid), (5, 0));
    assert!(c.pruned_memory >= 1 && prep.space.deployments.iter().all(|d| d.first.gpus == 2), "{c:?}");
    assert!(prep.space.reasons.keys().any(|k| k.contains("weights")));
    let mut long = base.to_vec();
    long.push("search.workload.isl=1000000");
    let prep = prepare(&tiny(&long), None).unwrap();
    let c = &prep.space.counts;
    assert_eq!((c.deployments, c.pruned_memory, c.valid), (5, 5, 0));
    assert!(prep.space.reasons.keys().any(|k| k.contains("one request's KV")));
    // Nothing to simulate: the search says so and writes an empty table.
    let dir = tempfile::tempdir().unwrap();
    let r = run(&tiny(&long), &opts(dir.path())).unwrap();
    assert_eq!((r.rows.len(), r.ran), (0, 0));
    assert!(r.best_yaml.is_none());
}

#[test]
fn frontier_marks_in_the_csv_are_exactly_the_non_dominated_points() {
    let exp = tiny(&[]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&exp, &opts(dir.path())).unwrap();
    assert!(r.rows.len() > 30);
    let text = std::fs::read_to_string(dir.path().join("search.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let at = |n: &str| h.iter().position(|c| c == n).unwrap();
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let num = |r: &csv::StringRecord, n: &str| r[at(n)].parse::<f64>().unwrap();
    let pt = |r: &csv::StringRecord| (num(r, "output_tok_s_per_gpu"), num(r, "tok_s_per_user"));
    let done = |r: &csv::StringRecord| r[at("completed")] == r[at("requests")];
    let meets = |r: &csv::StringRecord| &r[at("meets_slo")] == "1";
    let mut on = 0;
    for (mark, eligible) in [("pareto", &done as &dyn Fn(&csv::StringRecord) -> bool), ("pareto_slo", &|r: &csv::StringRecord| meets(r))] {
        for p in &recs {
            let dominated = recs.iter().any(|q| eligible(q) && dominates(pt(q), pt(p)));
            let marked = &p[at(mark)] == "1";
            assert_eq!(marked, eligible(p) && !dominated, "{mark}: {:?}", p);
            on += marked as usize;
        }
    }
    assert!(on >= 2);
    // The winner meets the SLO and no SLO-meeting row has more goodput per GPU.
    let best: Vec<&csv::StringRecord> = recs.iter().filter(|r| &r[at("best")] == "1").collect();
    assert_eq!(best.len(), 1);
    assert!(meets(best[0]));
    let g = num(best[0], "goodput_req_s_per_gpu");
    assert!(recs.iter().filter(|r| meets(r)).all(|r| num(r, "goodput_req_s_per_gpu") <= g));
    // SLO-meeting means the attainment reached the percentile and every request completed.
    for r in &recs {
        assert_eq!(meets(r), done(r) && num(r, "slo_attainment") >= 0.9 - 1e-12);
    }
    assert!(recs.iter().any(|r| !meets(r)) && recs.iter().any(meets), "the SLO separates the points");
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["search.csv", "search.json", "pareto.svg", "best.yaml", "best_trace.csv"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap_or_default()))
        .collect()
}

#[test]
fn one_thread_many_threads_and_shards_give_identical_files() {
    let exp = tiny(&[]);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&exp, &opts(a.path())).unwrap();
    run(&exp, &RunOpts { out: b.path().to_path_buf(), jobs: Some(3), ..Default::default() }).unwrap();
    let one = files(a.path());
    assert!(one.iter().all(|(_, b)| !b.is_empty()), "every file written");
    assert_eq!(one, files(b.path()));
    // Three shards, merged.
    let shards: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, s) in shards.iter().enumerate() {
        let r = run(&exp, &RunOpts { out: s.path().to_path_buf(), jobs: Some(2), shard: Some((i, 3)), ..Default::default() }).unwrap();
        assert!(r.rows.iter().all(|row| row.deployment % 3 == i));
    }
    let m = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = shards.iter().map(|s| s.path().to_path_buf()).collect();
    merge(&inputs, m.path()).unwrap();
    assert_eq!(one, files(m.path()));
    // A rerun into a finished folder simulates nothing and rewrites the same files.
    let r = run(&exp, &opts(a.path())).unwrap();
    assert_eq!((r.ran, r.skipped), (0, r.mine));
    assert_eq!(one, files(a.path()));
    // Another search into the same folder is refused; so is merging shards of different searches.
    let other = tiny(&["search.workload.osl=13"]);
    assert!(run(&other, &opts(a.path())).unwrap_err().to_string().contains("another search"));
    let o = tempfile::tempdir().unwrap();
    run(&other, &RunOpts { out: o.path().to_path_buf(), jobs: Some(1), shard: Some((0, 7)), ..Default::default() }).unwrap();
    assert!(merge(&[a.path().to_path_buf(), o.path().to_path_buf()], m.path()).is_err());
}

#[test]
fn an_interrupted_search_resumes_from_its_partial_rows() {
    let exp = tiny(&["search.modes=[agg]"]);
    let full = tempfile::tempdir().unwrap();
    run(&exp, &opts(full.path())).unwrap();
    // Keep the first 4 deployments' rows as a partial file, plus half a line (a hard stop).
    let text = std::fs::read_to_string(full.path().join("search.csv")).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).take(4 * 3 + 1).collect();
    let cut = tempfile::tempdir().unwrap();
    std::fs::copy(full.path().join("search.json"), cut.path().join("search.json")).unwrap();
    let n = output::COLUMNS.len();
    let mut partial = output::data_header() + "\n";
    for r in &rows[..12] {
        partial.push_str(&r.split(',').take(n).collect::<Vec<_>>().join(","));
        partial.push('\n');
    }
    partial.push_str(&rows[12][..20]);
    std::fs::write(cut.path().join("search.csv.partial"), partial).unwrap();
    let r = run(&exp, &opts(cut.path())).unwrap();
    assert_eq!((r.skipped, r.ran), (4, 9));
    assert!(!cut.path().join("search.csv.partial").exists());
    assert_eq!(files(full.path()), files(cut.path()));
}

#[test]
fn reused_pools_give_the_same_rows_as_fresh_ones() {
    // One deployment, levels run in turn on the same pools vs each level alone.
    let exp = tiny(&["search.modes=[disagg]", "search.workload.requests=30"]);
    let prep = prepare(&exp, None).unwrap();
    let levels = &prep.levels[&4];
    for i in [0, prep.space.deployments.len() - 1] {
        let d = &prep.space.deployments[i];
        let together = run_deployment(&exp, i, d, levels).unwrap();
        for (li, level) in levels.iter().enumerate() {
            let alone = run_deployment(&exp, i, d, std::slice::from_ref(level)).unwrap();
            assert_eq!(together[li].cells[2..], alone[0].cells[2..], "deployment {i} level {li}");
        }
    }
}

#[test]
fn the_winner_config_runs_and_reproduces_its_row() {
    let exp = tiny(&[]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(&exp, &opts(dir.path())).unwrap();
    let best = r.meta.best.clone().unwrap();
    let row = r.rows.iter().zip(&r.marks).find(|(_, m)| m[3]).unwrap().0;
    let cfg = dir.path().join("best.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with("# Written by `reallm search`"), "{text}");
    assert!(text.contains("best_trace.csv"));
    let e = config::load(Some(&cfg), &[]).unwrap();
    assert_eq!(e.pools().map(|p| p.num_devices * p.replicas).sum::<u32>(), 4);
    let ws = crate::stages::Workspace::new(dir.path().join("ws"));
    let traces = crate::stages::default_traces(&e, &ws, &[], &[]).unwrap();
    let reqs = crate::stages::load_trace(&e, &traces[0]).unwrap();
    assert_eq!(reqs.len(), 40);
    let (_, s) = crate::stages::simulate_requests(&e, "best_trace", &reqs).unwrap();
    let f = crate::output::fmt_f64;
    for (col, v) in [
        ("ttft_p90_s", s.ttft_s.p90),
        ("tpot_p99_s", s.tpot_s.p99),
        ("e2e_p50_s", s.e2e_s.p50),
        ("slo_attainment", s.goodput.attainment.all),
        ("goodput_req_s_per_gpu", s.goodput.requests_per_s_per_device),
    ] {
        assert_eq!(row.get(col), f(v), "{col}");
    }
    assert_eq!(best.goodput_req_s_per_gpu.to_string(), row.get("goodput_req_s_per_gpu").parse::<f64>().unwrap().to_string());
}

#[test]
fn bad_search_settings_name_their_key() {
    for (ov, key) in [
        ("search.workload.osl=1", "search.workload"),
        ("search.workload.rates=[0]", "search.workload.rates"),
        ("search.slo_percentile=120", "search.slo_percentile"),
        ("search.modes=[]", "search.modes"),
        ("search.gpus=[0]", "search.gpus"),
    ] {
        let err = prepare(&tiny(&[ov]), None).unwrap_err();
        assert!(err.to_string().contains(key) && err.exit_code() == crate::error::exit::CONFIG, "{ov}: {err}");
    }
    let err = config::load_str(TINY, "tiny.yaml", None, &["search.modez=[agg]".into()]).unwrap_err().to_string();
    assert!(err.contains("modez") && err.contains("did you mean `modes`"), "{err}");
}

#[test]
fn row_metrics_equal_the_run_summary() {
    // The search's lean sink against the full summariser, fed the same records, on an
    // aggregated and a disaggregated deployment, at a light and an overloading rate.
    let exp = tiny(&["search.workload.rates=[20, 20000]"]);
    let prep = prepare(&exp, None).unwrap();
    let n = prep.space.deployments.len();
    for i in [0, n - 1] {
        let d = &prep.space.deployments[i];
        let e = d.experiment(&exp);
        let mut pools = assemble::build_pools(&e).unwrap();
        let replicas: usize = pools.iter().map(|p| p.spec.replicas as usize).sum();
        for level in &prep.levels[&4] {
            let mut full = reallm_sim::metrics::Summarizer::new(e.slo, replicas);
            let mut lean = metrics::LevelSink::new(e.slo);
            let opts = SimOptions { end_time_s: None, seed: e.sim.seed, keep_iterations: Some(0), ..SimOptions::default() };
            let outcome = reallm_sim::simulate(
                &mut pools,
                assemble::kv_transfer(&e),
                &mut level.workload(),
                &mut reallm_sim::Tee(&mut full, &mut lean),
                &mut NoObserver,
                opts,
            )
            .unwrap();
            let run = reallm_sim::metrics::RunInfo::from_pools("t", "m", "s", "b", &pools);
            let s = full.finish(&outcome, run);
            let l = lean.finish(&outcome, 4);
            assert_eq!((l.requests, l.completed), (s.requests.total, s.requests.completed));
            assert_eq!((&l.ttft_s, &l.tpot_s, &l.e2e_s), (&s.ttft_s, &s.tpot_s, &s.e2e_s));
            assert_eq!(l.output_tokens_per_s_per_device, s.throughput.output_tokens_per_s_per_device);
            assert_eq!(l.requests_per_s, s.throughput.requests_per_s);
            assert_eq!(
                (l.goodput_requests_per_s, l.goodput_requests_per_s_per_device),
                (s.goodput.requests_per_s, s.goodput.requests_per_s_per_device)
            );
            assert_eq!(l.attainment, s.goodput.attainment.all);
            assert_eq!((l.kv_peak_used_fraction, l.preemptions), (s.engine.kv_peak_used_fraction, s.engine.preemptions));
        }
    }
}

/// Closed loops of 1 and 8 clients over lengths drawn from `workload.synthetic`.
fn closed() -> Experiment {
    tiny(&[
        "search.workload.rates=[]",
        "search.workload.concurrency=[8, 1]",
        "search.workload.think_time_s=0.001",
        "workload.synthetic={requests: 10, input_tokens: {dist: uniform, min: 50, max: 300}, output_tokens: {dist: uniform, min: 4, max: 20}}",
    ])
}

#[test]
fn closed_loop_levels_are_identical_across_threads_and_shards() {
    let exp = closed();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = run(&exp, &opts(a.path())).unwrap();
    assert_eq!(r.meta.levels[&4], vec![1.0, 8.0]);
    assert_eq!(r.meta.rates_from, "given concurrency");
    assert!(r.meta.workload.load.contains("closed loop") && r.meta.workload.lengths.is_some(), "{:?}", r.meta.workload);
    // The lengths' means size the pruning: uniform 50–300 and 4–20.
    assert_eq!((r.meta.workload.isl, r.meta.workload.osl), (175, 12));
    assert!(r.rows.iter().all(|row| row.get("rate_req_s").is_empty()));
    assert!(r.rows.iter().all(|row| [super::load::Load::Concurrency(1), super::load::Load::Concurrency(8)][row.level] == row.load()));
    // 40 requests per level (search.workload.requests), every one completed.
    assert!(r.rows.iter().all(|row| row.get("requests") == "40" && row.get("completed") == "40"));
    run(&exp, &RunOpts { out: b.path().to_path_buf(), jobs: Some(3), ..Default::default() }).unwrap();
    let one = files(a.path());
    assert_eq!(one, files(b.path()));
    let shards: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, s) in shards.iter().enumerate() {
        run(&exp, &RunOpts { out: s.path().to_path_buf(), jobs: Some(2), shard: Some((i, 2)), ..Default::default() }).unwrap();
    }
    let m = tempfile::tempdir().unwrap();
    merge(&shards.iter().map(|s| s.path().to_path_buf()).collect::<Vec<_>>(), m.path()).unwrap();
    assert_eq!(one, files(m.path()));
    // Eight clients keep more requests in flight than one: more throughput, longer waits.
    let of = |d: usize, l: usize| r.rows.iter().find(|x| x.deployment == d && x.level == l).unwrap();
    assert!(of(0, 1).throughput_per_gpu() > of(0, 0).throughput_per_gpu());
}

#[test]
fn a_closed_loop_winner_config_runs_its_loop_and_reproduces_its_row() {
    let exp = closed();
    let dir = tempfile::tempdir().unwrap();
    let r = run(&exp, &opts(dir.path())).unwrap();
    let best = r.meta.best.clone().unwrap();
    let c = best.concurrency.unwrap();
    assert_eq!(best.rate_req_s, None);
    let row = r.rows.iter().zip(&r.marks).find(|(_, m)| m[3]).unwrap().0;
    let cfg = dir.path().join("best.yaml");
    let e = config::load(Some(&cfg), &[]).unwrap();
    assert_eq!((e.workload.concurrency.clone(), e.workload.think_time_s), (vec![c], 0.001));
    let ws = crate::stages::Workspace::new(dir.path().join("ws"));
    let srcs = crate::workload::source::sources(&e, &ws, &[], &[], &[], &[]).unwrap();
    assert_eq!((srcs.len(), srcs[0].concurrency()), (1, Some(c)));
    let mut wl = crate::workload::source::build(&e, &srcs[0]).unwrap();
    let mut pools = assemble::build_pools(&e).unwrap();
    let mut sink = metrics::LevelSink::new(e.slo);
    let o = SimOptions { end_time_s: e.sim.end_time_s, seed: e.sim.seed, keep_iterations: Some(0), ..SimOptions::default() };
    let outcome = reallm_sim::simulate(&mut pools, assemble::kv_transfer(&e), &mut wl, &mut sink, &mut NoObserver, o).unwrap();
    let s = sink.finish(&outcome, 4);
    let f = crate::output::fmt_f64;
    assert_eq!(row.get("requests"), "40");
    for (col, v) in [
        ("ttft_p90_s", s.ttft_s.p90),
        ("tpot_p99_s", s.tpot_s.p99),
        ("e2e_p50_s", s.e2e_s.p50),
        ("goodput_req_s_per_gpu", s.goodput_requests_per_s_per_device),
    ] {
        assert_eq!(row.get(col), f(v), "{col}");
    }
}

#[test]
fn closed_loop_settings_are_checked() {
    let both = tiny(&["search.workload.concurrency=[4]"]);
    assert!(prepare(&both, None).unwrap_err().to_string().contains("not both"));
    let zero = tiny(&["search.workload.rates=[]", "search.workload.concurrency=[0]"]);
    assert!(prepare(&zero, None).unwrap_err().to_string().contains("search.workload.concurrency"));
    let think = tiny(&["search.workload.rates=[]", "search.workload.concurrency=[4]", "search.workload.think_time_s=-1"]);
    assert!(prepare(&think, None).unwrap_err().to_string().contains("think_time_s"));
}

#[test]
fn a_trace_gives_the_lengths_of_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.csv");
    let reqs: Vec<crate::workload::Request> =
        (0..50).map(|i| crate::workload::Request::new(i, i as f64 * 100.0, 40 + 7 * i as u32, 3 + (i % 9) as u32)).collect();
    crate::workload::trace::write_rr(&trace, &reqs, 0).unwrap();
    let t = format!("search.workload.trace={}", trace.display());
    for extra in [
        vec![t.as_str(), "search.modes=[agg]"],
        vec![t.as_str(), "search.modes=[agg]", "search.workload.rates=[]", "search.workload.concurrency=[2, 6]"],
    ] {
        let exp = tiny(&extra);
        let out = tempfile::tempdir().unwrap();
        let r = run(&exp, &opts(out.path())).unwrap();
        // The first 40 of the trace's 50 requests (search.workload.requests), every one done.
        assert!(r.rows.iter().all(|row| row.get("requests") == "40" && row.get("completed") == "40"), "{extra:?}");
        assert_eq!(r.meta.workload.trace.as_deref(), Some(std::path::absolute(&trace).unwrap().display().to_string().as_str()));
        // Mean lengths of those 40: 40 + 7 · 19.5 = 176.5 → 177; outputs 3 + (4·(0+…+8) + 0+…+3)/40 = 6.75 → 7.
        assert_eq!((r.meta.workload.isl, r.meta.workload.osl), (177, 7));
        let best = std::fs::read_to_string(out.path().join("best_trace.csv")).unwrap();
        let written = crate::workload::trace::parse(&best, "best_trace.csv").unwrap();
        let lens = |v: &[crate::workload::Request]| v.iter().map(|q| (q.prompt_tokens, q.output_tokens)).collect::<Vec<_>>();
        assert_eq!(lens(&written), lens(&reqs[..40]));
        // Another trace is another search.
        let other = dir.path().join("u.csv");
        crate::workload::trace::write_rr(&other, &reqs[1..], 0).unwrap();
        let o = format!("search.workload.trace={}", other.display());
        let mut e2 = extra.clone();
        e2[0] = o.as_str();
        assert!(run(&tiny(&e2), &opts(out.path())).unwrap_err().to_string().contains("another search"));
    }
    let both = tiny(&[&t, "workload.synthetic={requests: 10, input_tokens: 5, output_tokens: 5}"]);
    assert!(prepare(&both, None).unwrap_err().to_string().contains("search.workload.trace"));
}

#[test]
fn engine_profiles_are_a_search_axis() {
    // Aggregated deployments under vLLM's and SGLang's profiles: the same plans twice, each
    // with its engine's batching limits and memory rule; labels and the `engine` column say which.
    let extra = ["search.modes=[agg]", "search.engines=[vllm, sglang]"];
    let exp = tiny(&extra);
    let load = |e: &str| {
        let mut ov: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        ov.push(format!("engine={e}"));
        config::load_str(TINY, "tiny.yaml", None, &ov)
    };
    let bases = engine_bases(&exp, &load).unwrap();
    assert_eq!(bases.iter().map(|b| b.engine.as_ref().unwrap().name.as_str()).collect::<Vec<_>>(), ["vllm", "sglang"]);
    let one = prepare(&tiny(&["search.modes=[agg]"]), None).unwrap();
    let prep = prepare_bases(&bases, None).unwrap();
    assert_eq!(prep.space.counts.valid, 2 * one.space.counts.valid);
    assert_eq!(prep.space.counts.invalid, 2 * one.space.counts.invalid);
    let engines: Vec<&str> = prep.space.deployments.iter().map(|d| d.engine.as_str()).collect();
    assert!(engines.iter().filter(|e| **e == "vllm").count() == engines.len() / 2 && engines.contains(&"sglang"));
    // Each engine's own batching defaults on an 80 GB H100 (vLLM: 1,024 sequences; SGLang: 2,048).
    for d in &prep.space.deployments {
        assert!(d.label().starts_with(&format!("{} agg", d.engine)), "{}", d.label());
        assert_eq!(d.batching.max_batch_seqs, if d.engine == "vllm" { 1024 } else { 2048 }, "{}", d.label());
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = run_bases(&bases, &opts(a.path())).unwrap();
    assert!(r.rows.iter().all(|row| row.get("engine") == "vllm" || row.get("engine") == "sglang"));
    assert_eq!(r.meta.engine_templates.len(), 2);
    run_bases(&bases, &RunOpts { out: b.path().to_path_buf(), jobs: Some(3), ..Default::default() }).unwrap();
    assert_eq!(files(a.path()), files(b.path()));
    // The winner's config names its engine and loads.
    let best = r.meta.best.clone().unwrap();
    let text = std::fs::read_to_string(a.path().join("best.yaml")).unwrap();
    let engine = best.label.split(' ').next().unwrap();
    assert!(text.contains(&format!("engine: {engine}")), "{text}");
    let e = config::load(Some(&a.path().join("best.yaml")), &[]).unwrap();
    assert_eq!(e.engine.unwrap().name, engine);
}
