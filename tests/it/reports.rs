//! Per-run files (`requests.csv`, `iterations.csv`, `trace.json`), pictures and reports.

use crate::support::*;
use reallm::config::Role;
use reallm::metrics::{IterationTotals, PoolInfo, RunInfo, Slo, Summarizer, Summary};
use reallm::report::{self, ReportFormat};
use reallm::sim::{IterationCost, IterationRecord, RecordSink, ReplicaSummary, RequestRecord, RunOutcome, SimResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn rec(id: u64, arrival: f64, times: &[f64], replica: u32) -> RequestRecord {
    RequestRecord {
        id,
        arrival_s: arrival,
        prompt_tokens: 10,
        output_tokens: times.len() as u32,
        first_scheduled_s: Some(arrival + 0.5),
        token_times: times.to_vec(),
        preemptions: 0,
        replica,
        decode_replica: None,
        transfer_s: 0.0,
        seq: id,
    }
}

/// The summary of a hand-made run: iteration totals from its iterations, records through the
/// summariser, as the engine would have fed them.
fn summarize_run(r: &mut SimResult, run: RunInfo, slo: &Slo) -> Summary {
    let mut t = IterationTotals::default();
    for it in &r.outcome.iterations {
        let (pf, bw) = run.peaks_of(it.replica);
        let kv = r.outcome.replicas.get(it.replica as usize).map(|x| x.kv_total_blocks).unwrap_or(r.outcome.kv_total_blocks);
        t.add(it, kv, pf, bw);
    }
    t.close();
    r.outcome.totals = t;
    let mut s = Summarizer::new(*slo, r.outcome.replicas.len());
    for q in &r.requests {
        s.record(q);
    }
    s.finish(&r.outcome, run)
}

/// `requests.csv` and the timeline files of a hand-made run.
fn write_run_files(dir: &Path, r: &SimResult, s: &Summary) {
    let mut csv = report::files::RequestsCsv::create(&dir.join("requests.csv"), s.goodput.slo).unwrap();
    for q in &r.requests {
        csv.record(q);
    }
    csv.commit().unwrap();
    report::write_timeline(dir, &r.outcome, s, report::Timeline::Auto).unwrap();
}

fn iter(replica: u32, start: f64, end: f64, seqs: u32, pf: u32, dec: u32, kv: u64) -> IterationRecord {
    let total = end - start;
    IterationRecord {
        replica,
        start_s: start,
        end_s: end,
        prefill_tokens: pf,
        decode_tokens: dec,
        seqs,
        kv_used_blocks: kv,
        cached_tokens: 0,
        kv_cached_blocks: 0,
        cost: IterationCost { total_s: total, compute_s: 0.75 * total, comm_s: 0.25 * total, flops: 1e14 * total, bytes: 5e11 * total },
    }
}

/// Three requests on two replicas of 4 devices; replica 0 runs overlapping micro-batches
/// (as with pipeline parallelism): [0.5, 1.5] and [1.0, 2.0] overlap, [1.5, 2.5] follows the first.
fn hand_run() -> (SimResult, RunInfo) {
    let requests = vec![rec(0, 0.0, &[1.0, 2.0, 4.0], 0), rec(1, 1.0, &[3.0, 3.5], 0), rec(2, 2.0, &[5.0], 1)];
    let outcome = RunOutcome {
        requests: 3,
        iterations_truncated: false,
        totals: IterationTotals::default(),
        iterations: vec![
            iter(1, 0.2, 0.4, 1, 10, 0, 1),
            iter(0, 0.5, 1.5, 1, 10, 0, 2),
            iter(0, 1.0, 2.0, 2, 10, 1, 4),
            iter(0, 1.5, 2.5, 1, 0, 1, 4),
        ],
        replicas: vec![
            ReplicaSummary {
                pool: 0,
                role: Role::Colocated,
                requests: 2,
                kv_total_blocks: 8,
                kv_peak_used_blocks: 4,
                kv_used_blocks_at_end: 0,
                busy_s: 3.0,
                prefix: None,
            },
            ReplicaSummary {
                pool: 0,
                role: Role::Colocated,
                requests: 1,
                kv_total_blocks: 8,
                kv_peak_used_blocks: 1,
                kv_used_blocks_at_end: 0,
                busy_s: 0.2,
                prefix: None,
            },
        ],
        preemptions: 0,
        kv_total_blocks: 16,
        kv_peak_used_blocks: 5,
        kv_block_tokens: 16,
        end_s: 2.5,
        spec_decode: None,
        prefix: None,
        ..RunOutcome::default()
    };
    let r = SimResult { requests, outcome };
    let run = RunInfo {
        trace: "rr_code_2".into(),
        request_rate: Some(2.0),
        concurrency: None,
        engine_profile: None,
        model: "toy".into(),
        system: "toy_x8".into(),
        backend: "roofline".into(),
        batching: "vllm".into(),
        devices: 8,
        pools: vec![PoolInfo {
            role: "colocated".into(),
            device: "H100-SXM".into(),
            replicas: 2,
            devices_per_replica: 4,
            peak_flops_per_device: 1e15,
            mem_bw_bytes_per_s_per_device: 1e12,
        }],
    };
    (r, run)
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut rd = csv::Reader::from_path(path).unwrap();
    let h = rd.headers().unwrap().clone();
    rd.records().map(|r| h.iter().zip(r.unwrap().iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect()).collect()
}

fn num(row: &BTreeMap<String, String>, k: &str) -> f64 {
    row.get(k).unwrap_or_else(|| panic!("no column {k}")).parse().unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Check a Chrome trace: valid JSON; "X" events per (pid, tid) track in start order and not
/// overlapping; counters present. Returns the number of "X" events.
fn check_chrome_trace(path: &Path) -> usize {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("trace.json is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let mut tracks: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut counters = 0;
    for e in events {
        match e["ph"].as_str().unwrap() {
            "X" => {
                let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
                assert!(dur >= 0.0 && e["name"].is_string() && e["args"]["seqs"].is_u64());
                tracks.entry((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())).or_default().push((ts, ts + dur));
            }
            "C" => counters += 1,
            "M" => assert!(e["args"]["name"].is_string() || e["args"]["sort_index"].is_u64()),
            other => panic!("unexpected phase {other}"),
        }
    }
    let mut n = 0;
    for (track, ev) in &tracks {
        n += ev.len();
        for w in ev.windows(2) {
            assert!(w[1].0 >= w[0].0, "track {track:?} not monotone: {w:?}");
            assert!(w[1].0 >= w[0].1 - 1e-6, "track {track:?} overlaps: {w:?}");
        }
    }
    assert_eq!(counters, 2 * n, "a KV and a batch counter per iteration");
    n
}

#[test]
fn run_files_of_a_hand_made_run() {
    let (mut r, run) = hand_run();
    let slo = Slo { ttft_s: Some(2.5), ..Slo::default() };
    let s = summarize_run(&mut r, run, &slo);
    let dir = tempfile::tempdir().unwrap();
    write_run_files(dir.path(), &r, &s);

    // requests.csv, by hand (first scheduled = arrival + 0.5):
    // r0: TTFT 1, prefill 0.5, decode 3, TPOT 1.5, E2E 4, normalised 4/3, TBT gaps [1, 2] →
    //     mean 1.5, max 2, p99 = 1 + 0.99 = 1.99; TTFT ≤ 2.5 met.
    // r2: TTFT 3 (misses 2.5), no gap, no TPOT / decode time.
    let rows = read_csv(&dir.path().join("requests.csv"));
    assert_eq!(rows.len(), 3);
    let r0 = &rows[0];
    for (k, v) in [
        ("arrival_s", 0.0),
        ("queueing_s", 0.5),
        ("prefill_s", 0.5),
        ("ttft_s", 1.0),
        ("decode_s", 3.0),
        ("tpot_s", 1.5),
        ("e2e_s", 4.0),
        ("normalized_latency_s_per_token", 4.0 / 3.0),
        ("tbt_mean_s", 1.5),
        ("tbt_max_s", 2.0),
        ("tbt_p99_s", 1.99),
        ("generated_tokens", 3.0),
        ("completed", 1.0),
        ("meets_ttft", 1.0),
        ("meets_slo", 1.0),
    ] {
        assert!(close(num(r0, k), v), "r0 {k} = {} not {v}", r0[k]);
    }
    assert_eq!((r0["meets_tbt"].as_str(), r0["decode_replica"].as_str(), r0["kv_transfer_s"].as_str()), ("", "", ""));
    let r2 = &rows[2];
    assert!(close(num(r2, "ttft_s"), 3.0));
    assert_eq!((r2["replica"].as_str(), r2["tpot_s"].as_str(), r2["tbt_max_s"].as_str()), ("1", "", ""));
    assert_eq!((r2["meets_ttft"].as_str(), r2["meets_slo"].as_str()), ("0", "0"));

    // iterations.csv: iteration 2 on replica 0: 2 seqs (1 decode → 1 prefill seq), 11 tokens,
    // KV 4 of 8 = 0.5; cost 1 s, FLOPs 1e14 → MFU 1e14 / (1 · 1e15) = 0.1; bytes 5e11 → MBU 0.5.
    let its = read_csv(&dir.path().join("iterations.csv"));
    assert_eq!(its.len(), 4);
    let i2 = &its[2];
    for (k, v) in [
        ("iteration", 2.0),
        ("replica", 0.0),
        ("start_s", 1.0),
        ("end_s", 2.0),
        ("cost_s", 1.0),
        ("seqs", 2.0),
        ("prefill_seqs", 1.0),
        ("tokens", 11.0),
        ("kv_used_blocks", 4.0),
        ("kv_total_blocks", 8.0),
        ("kv_used_fraction", 0.5),
        ("compute_s", 0.75),
        ("comm_s", 0.25),
        ("mfu", 0.1),
        ("mbu", 0.5),
    ] {
        assert!(close(num(i2, k), v), "iteration 2 {k} = {} not {v}", i2[k]);
    }

    // trace.json: 4 iterations; replica 0 needs two slots (tracks) for its overlapping pair.
    let path = dir.path().join("trace.json");
    assert_eq!(check_chrome_trace(&path), 4);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let x: Vec<&serde_json::Value> = v["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X").collect();
    let tracks: Vec<(u64, u64)> = x.iter().map(|e| (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())).collect();
    assert_eq!(tracks, vec![(2, 1), (1, 1), (1, 2), (1, 1)]);
    assert_eq!(x[2]["name"], "prefill 1 (10 tok) + decode 1");
    assert!(close(x[1]["ts"].as_f64().unwrap(), 0.5e6) && close(x[1]["dur"].as_f64().unwrap(), 1e6));

    // Writing again gives the same bytes (deterministic).
    let before: Vec<Vec<u8>> =
        ["requests.csv", "iterations.csv", "trace.json"].iter().map(|f| std::fs::read(dir.path().join(f)).unwrap()).collect();
    write_run_files(dir.path(), &r, &s);
    let after: Vec<Vec<u8>> =
        ["requests.csv", "iterations.csv", "trace.json"].iter().map(|f| std::fs::read(dir.path().join(f)).unwrap()).collect();
    assert_eq!(before, after);
}

/// All files named `name` under `root`, sorted.
fn find_all(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == name {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// Texts of an SVG document (after an XML well-formedness check).
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).map(|t| t.trim().to_string()).collect()
}

#[test]
fn sweep_of_three_rates_gives_files_pictures_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        reallm(dir.path()).args(["--set", "workload.max_requests=12", "sim", "--task", "code", "--rate", "1", "2", "4"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ws = dir.path().join("workspace");
    let runs: Vec<PathBuf> = find_all(&ws, "summary.json").iter().map(|p| p.parent().unwrap().to_path_buf()).collect();
    assert_eq!(runs.len(), 3);
    for d in &runs {
        for f in ["sim_results.csv", "requests.csv", "iterations.csv", "trace.json"] {
            assert!(d.join(f).is_file(), "{} missing", d.join(f).display());
        }
        assert!(check_chrome_trace(&d.join("trace.json")) > 0);
        assert_eq!(read_csv(&d.join("requests.csv")).len(), 12);
        let s = report::load_summary(d).unwrap();
        assert!(s.run.request_rate.is_some() && s.run.devices > 0 && !s.run.pools.is_empty());
        assert!(s.engine.mfu > 0.0 && s.engine.mfu < 1.0, "MFU {}", s.engine.mfu);
        // sim_results.csv keeps the original format: header, then id, arrival, token times.
        let res = std::fs::read_to_string(d.join("sim_results.csv")).unwrap();
        assert!(res.starts_with("request_id,arrival_time\n"));
        assert_eq!(res.lines().count(), 13);
    }

    let pics = dir.path().join("pics");
    let files = report::plot(&runs, &pics).unwrap();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
    for f in ["ttft_cdf.svg", "tbt_cdf.svg", "batch_size.svg", "kv_usage.svg", "ttft_vs_rate.svg", "throughput_vs_rate.svg"] {
        assert!(names.iter().any(|n| n == f), "{f} not in {names:?}");
    }
    // Series names: one per run in the CDFs (labelled by trace), per metric in the sweeps.
    let cdf = svg_texts(&pics.join("ttft_cdf.svg"));
    for label in ["rr_code_1", "rr_code_2", "rr_code_4"] {
        assert!(cdf.iter().any(|t| t == label), "{label} not in {cdf:?}");
    }
    let thr = svg_texts(&pics.join("throughput_vs_rate.svg"));
    assert!(thr.iter().any(|t| t == "throughput") && thr.iter().any(|t| t == "goodput"), "{thr:?}");
    let ttft = svg_texts(&pics.join("ttft_vs_rate.svg"));
    assert!(ttft.iter().any(|t| t == "TTFT p50") && ttft.iter().any(|t| t == "TTFT p99"), "{ttft:?}");
    for f in &files {
        svg_texts(f);
    }

    let table = report::report(&runs, ReportFormat::Table).unwrap();
    assert!(table.starts_with("metric"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("TTFT p99 (ms)")), "{table}");
    let md = report::report(&runs, ReportFormat::Markdown).unwrap();
    assert!(md.starts_with("| metric | rr_code_1 | rr_code_2 | rr_code_4 |\n|---|---:|---:|---:|\n"), "{md}");
    let csv = report::report(&runs, ReportFormat::Csv).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(rd.headers().unwrap().len(), 5);
    let rate_row = rd.records().map(|r| r.unwrap()).find(|r| &r[0] == "request rate").unwrap();
    assert_eq!((&rate_row[2], &rate_row[3], &rate_row[4]), ("1", "2", "4"));
    let html = report::report(&runs, ReportFormat::Html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table>") && html.matches("<svg").count() >= 6);
    assert!(!html.contains("<?xml"), "inline SVG without an XML declaration");
}

#[test]
fn reports_name_missing_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let err = report::report(&[dir.path().to_path_buf()], ReportFormat::Table).unwrap_err();
    assert!(err.to_string().contains("summary.json"), "{err}");
    std::fs::write(dir.path().join("summary.json"), "[1, 2]").unwrap();
    let err = report::report(&[dir.path().to_path_buf()], ReportFormat::Table).unwrap_err();
    assert_eq!(err.exit_code(), reallm::error::exit::INPUT, "{err}");
}
