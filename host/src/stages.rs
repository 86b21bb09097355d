//! The three stages (`traces`, `kernel`, `sim`) and `all`, as the CLI runs them.

use crate::assemble;
use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::report::files::{RequestsCsv, SimResultsCsv, REQUESTS_CSV};
use crate::report::{Progress, Timeline};
use crate::workload::{self, azure::Task, generate, Request};
use reallm_sim::metrics::{Measure, MeasuredSink, RunInfo, Summarizer, Summary};
use reallm_sim::{Pool, RunOutcome, SimOptions, SimResult, TraceWorkload, Workload};
use std::path::{Path, PathBuf};

/// Where a run reads and writes.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Workspace {
        Workspace { root: root.into() }
    }
    pub fn traces_dir(&self) -> PathBuf {
        self.root.join("traces")
    }
    pub fn kernel_lib_dir(&self) -> PathBuf {
        self.root.join("kernel_lib")
    }
    /// `<root>/<method>_results/<model>/<trace>/<system>/`, or the experiment's `output_dir`.
    pub fn results_dir(&self, exp: &Experiment, trace_name: &str) -> PathBuf {
        if let Some(o) = &exp.output_dir {
            return o.join(trace_name);
        }
        self.root.join(format!("{}_results", exp.backend.name)).join(&exp.model.label).join(trace_name).join(exp.system_name())
    }
}

/// `traces`: generate `rr_{task}_{rate}.csv` for every task × rate. Returns the files.
pub fn run_traces(exp: &Experiment, ws: &Workspace, tasks: &[String], rates: &[f64]) -> Result<Vec<PathBuf>> {
    let tg = &exp.trace_gen;
    let mut out = Vec::new();
    for t in tasks {
        let task = Task::parse(t).ok_or_else(|| Error::Usage(format!("unknown task `{t}`; expected code or conv")))?;
        for &rate in rates {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::Usage(format!("request rate {rate}: expected a positive number")));
            }
            let reqs = generate::generate(task, rate, tg.max_requests, tg.end_time_s, tg.seed)?;
            let path = ws.traces_dir().join(generate::trace_file_name(task, rate));
            workload::trace::write_rr(&path, &reqs, task.type_id())?;
            write_gen_meta(&path, &gen_meta(exp, task, rate))?;
            log::info!("wrote {} ({} requests)", path.display(), reqs.len());
            out.push(path);
        }
    }
    Ok(out)
}

/// `kernel`: write the kernel library. Returns the files.
pub fn run_kernel(exp: &Experiment, ws: &Workspace) -> Result<Vec<PathBuf>> {
    let device = crate::devices::resolve(&exp.pool.device, exp.base_dir.as_deref())?;
    let (mut cost, _) = assemble::build_cost_model(exp, &exp.pool, &device)?;
    crate::kernel_library::run(exp, &mut cost, &device.key, &ws.kernel_lib_dir())
}

/// The trace files `sim` runs when none is given on the command line.
pub fn default_traces(exp: &Experiment, ws: &Workspace, tasks: &[String], rates: &[f64]) -> Result<Vec<PathBuf>> {
    if !exp.workload.traces.is_empty() && tasks.is_empty() && rates.is_empty() {
        return Ok(exp.workload.traces.iter().map(|t| resolve_trace_path(exp, ws, t)).collect());
    }
    let tasks = if tasks.is_empty() { &exp.workload.tasks } else { tasks };
    let rates = if rates.is_empty() { &exp.workload.request_rates } else { rates };
    let mut v = Vec::new();
    for t in tasks {
        let task = Task::parse(t).ok_or_else(|| Error::Usage(format!("unknown task `{t}`; expected code or conv")))?;
        for &r in rates {
            v.push(ws.traces_dir().join(generate::trace_file_name(task, r)));
        }
    }
    Ok(v)
}

/// A configured trace path: as given if it exists; else relative to the config's folder;
/// a bare file name (the original heterogeneous layout's `trace: rr_code_1.csv`) lives in
/// the workspace's `traces/`.
fn resolve_trace_path(exp: &Experiment, ws: &Workspace, t: &str) -> PathBuf {
    let p = Path::new(t);
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    if let Some(b) = &exp.base_dir {
        if b.join(p).exists() {
            return b.join(p);
        }
    }
    if p.parent().map(|d| d.as_os_str().is_empty()).unwrap_or(true) {
        return ws.traces_dir().join(p);
    }
    p.to_path_buf()
}

/// The generation settings of a generated trace, kept beside it as `<file>.gen.json` so that
/// a trace made with other settings (seed, `max_requests`, `end_time_s`) is not silently reused.
fn gen_meta(exp: &Experiment, task: Task, rate: f64) -> serde_json::Value {
    let tg = &exp.trace_gen;
    serde_json::json!({"generator": "reallm poisson/azure v1", "task": task.name(), "rate": rate, "max_requests": tg.max_requests, "end_time_s": tg.end_time_s, "seed": tg.seed})
}

fn meta_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".gen.json");
    PathBuf::from(p)
}

fn write_gen_meta(path: &Path, meta: &serde_json::Value) -> Result<()> {
    write_atomic(&meta_path(path), format!("{meta}\n").as_bytes())
}

/// Load a trace; a missing generated trace (`rr_{task}_{rate}.csv`) is generated first with
/// the experiment's generation settings, and so is one whose recorded settings differ.
pub fn load_trace(exp: &Experiment, path: &Path) -> Result<Vec<Request>> {
    if path.exists() {
        if let Some((task, rate)) = parse_rr_name(path) {
            let want = gen_meta(exp, task, rate);
            let have: Option<serde_json::Value> = std::fs::read_to_string(meta_path(path)).ok().and_then(|t| serde_json::from_str(&t).ok());
            if have.is_some_and(|h| h != want) {
                log::info!("{} was generated with other settings: regenerating it", path.display());
                let tg = &exp.trace_gen;
                let reqs = generate::generate(task, rate, tg.max_requests, tg.end_time_s, tg.seed)?;
                workload::trace::write_rr(path, &reqs, task.type_id())?;
                write_gen_meta(path, &want)?;
                return Ok(reqs);
            }
        }
    }
    if !path.exists() {
        if let Some((task, rate)) = parse_rr_name(path) {
            log::info!("{} not found: generating it ({} at {} req/s)", path.display(), task.name(), rate);
            let tg = &exp.trace_gen;
            let reqs = generate::generate(task, rate, tg.max_requests, tg.end_time_s, tg.seed)?;
            workload::trace::write_rr(path, &reqs, task.type_id())?;
            write_gen_meta(path, &gen_meta(exp, task, rate))?;
            return Ok(reqs);
        }
        return Err(Error::input(path.display().to_string(), "trace file not found"));
    }
    workload::trace::read(path)
}

fn parse_rr_name(path: &Path) -> Option<(Task, f64)> {
    let stem = path.file_stem()?.to_str()?;
    let rest = stem.strip_prefix("rr_")?;
    let (task, rate) = rest.split_once('_')?;
    let rate: f64 = rate.parse().ok()?;
    (rate > 0.0 && rate.is_finite()).then_some(())?;
    Some((Task::parse(task)?, rate))
}

/// The outcome of simulating one trace.
pub struct SimRun {
    pub trace: PathBuf,
    pub dir: PathBuf,
    pub summary: Summary,
    pub outcome: RunOutcome,
}

/// `sim` over one trace: simulate and write `sim_results.csv` and `summary.json`.
pub fn run_sim_one(exp: &Experiment, ws: &Workspace, trace: &Path) -> Result<SimRun> {
    run_sim_one_with(exp, ws, trace, Timeline::Auto)
}

/// Iteration records to keep for `timeline`.
fn keep_iterations(timeline: Timeline) -> Option<usize> {
    match timeline {
        Timeline::Always => None,
        Timeline::Never => Some(0),
        Timeline::Auto => Some(crate::report::files::AUTO_TIMELINE_ITERATIONS),
    }
}

/// [`run_sim_one`] with an explicit choice of the per-iteration files. Records stream into
/// `sim_results.csv` and `requests.csv` as requests finish; `summary.json` is written last.
pub fn run_sim_one_with(exp: &Experiment, ws: &Workspace, trace: &Path, timeline: Timeline) -> Result<SimRun> {
    let reqs = load_trace(exp, trace)?;
    let trace_name = trace.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "trace".into());
    let sim_exp = with_kernel_library(exp, ws);
    let reqs = end_reqs_filter(exp, &trace_name, reqs)?;
    let mut pools = assemble::build_pools(&sim_exp)?;
    let dir = ws.results_dir(exp, &trace_name);
    let created = !dir.exists();
    let written = (|| {
        let mut sim_csv = SimResultsCsv::create(&dir.join("sim_results.csv"))?;
        let mut req_csv = RequestsCsv::create(&dir.join(REQUESTS_CSV), exp.slo)?;
        let (outcome, summary) = simulate_pools(
            &sim_exp,
            &trace_name,
            &mut pools,
            &mut TraceWorkload::new(&reqs),
            &mut (&mut sim_csv, &mut req_csv),
            keep_iterations(timeline),
        )?;
        sim_csv.commit()?;
        req_csv.commit()?;
        crate::report::files::write_timeline(&dir, &outcome, &summary, timeline)?;
        Ok((outcome, summary))
    })();
    let (outcome, summary) = match written {
        Ok(x) => x,
        Err(e) => {
            if created {
                // Nothing half-written: a folder this run made stays only if it holds results.
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    // `summary.json` last: when it is present, the run's other files are complete too
    // (docs/reliability.md).
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&dir.join("summary.json"), format!("{json}\n").as_bytes())?;
    Ok(SimRun { trace: trace.to_path_buf(), dir, summary, outcome })
}

/// The original tool's `sim_method: llmcompass` flow: when the `kernel` stage has written a
/// library for the device, the sim looks kernels up there (the `table` backend: exact match,
/// else interpolation along the varying dimension) and computes the rest with LLMCompass.
pub fn with_kernel_library(exp: &Experiment, ws: &Workspace) -> Experiment {
    let mut e = exp.clone();
    if exp.form != crate::config::Form::Original || exp.backend.name != "llmcompass" {
        return e;
    }
    let Ok(dev) = crate::devices::resolve(&exp.pool.device, exp.base_dir.as_deref()) else { return e };
    let dir = ws.kernel_lib_dir();
    if dir.join(format!("{}_matmul_latency.csv", dev.key)).is_file() {
        log::info!("sim_method llmcompass: costing kernels from the library in {} (LLMCompass for shapes it lacks)", dir.display());
        e.backend = crate::config::PluginSel {
            name: "table".into(),
            params: serde_json::json!({ "library_dir": dir, "device": dev.key, "fallback": "llmcompass", "fallback_params": exp.backend.params }),
        };
    }
    e
}

/// The requests with an id below `end_reqs`, when set.
fn end_reqs_filter(exp: &Experiment, trace_name: &str, reqs: Vec<Request>) -> Result<Vec<Request>> {
    match exp.workload.end_reqs {
        Some(n) => {
            let filtered: Vec<Request> = reqs.into_iter().filter(|r| r.id < n).collect();
            if filtered.is_empty() {
                return Err(Error::input(trace_name, format!("no request has an id below end_reqs = {n}")));
            }
            Ok(filtered)
        }
        None => Ok(reqs),
    }
}

/// Simulate requests (after `end_reqs` filtering) and summarise, writing nothing; every record
/// is kept.
pub fn simulate_requests(exp: &Experiment, trace_name: &str, reqs: &[Request]) -> Result<(SimResult, Summary)> {
    let reqs = end_reqs_filter(exp, trace_name, reqs.to_vec())?;
    let mut pools = assemble::build_pools(exp)?;
    let mut records = Vec::new();
    let (outcome, summary) = simulate_pools(exp, trace_name, &mut pools, &mut TraceWorkload::new(&reqs), &mut records, Some(0))?;
    Ok((SimResult { requests: records, outcome }, summary))
}

/// Simulate requests and summarise, keeping no record (sweeps, searches).
pub fn summarize_requests(exp: &Experiment, trace_name: &str, reqs: &[Request]) -> Result<Summary> {
    let reqs = end_reqs_filter(exp, trace_name, reqs.to_vec())?;
    let mut pools = assemble::build_pools(exp)?;
    Ok(simulate_pools(exp, trace_name, &mut pools, &mut TraceWorkload::new(&reqs), &mut (), Some(0))?.1)
}

/// Run `workload` on assembled `pools`, records to the summariser and `sink` (each record's
/// metrics computed once for both), with a progress bar unless quiet.
pub fn simulate_pools(
    exp: &Experiment,
    trace_name: &str,
    pools: &mut [Pool],
    workload: &mut dyn Workload,
    sink: &mut dyn MeasuredSink,
    keep_iterations: Option<usize>,
) -> Result<(RunOutcome, Summary)> {
    let replicas = pools.iter().map(|p| p.spec.replicas as usize).sum();
    let mut summarizer = Summarizer::new(exp.slo, replicas);
    let mut progress = Progress::new(workload.expected_requests().unwrap_or(0), !crate::report::progress::quiet());
    let opts = SimOptions { end_time_s: exp.sim.end_time_s, seed: exp.sim.seed, keep_iterations };
    let mut measure = Measure { summarizer: &mut summarizer, next: sink };
    let outcome = reallm_sim::simulate(pools, assemble::kv_transfer(exp), workload, &mut measure, &mut progress, opts)?;
    progress.finish();
    let run = RunInfo::from_pools(trace_name, &exp.model.label, &exp.system_name(), &exp.backend.name, pools);
    let summary = summarizer.finish(&outcome, run);
    Ok((outcome, summary))
}

/// A readable summary table.
pub fn format_summary(title: &str, s: &Summary) -> String {
    let ms = |x: f64| format!("{:>10.2}", x * 1e3);
    let mut out = String::new();
    out.push_str(&format!("{title}\n"));
    out.push_str(&format!("  requests: {} completed of {}, makespan {:.2} s\n", s.requests.completed, s.requests.total, s.makespan_s));
    out.push_str(&format!("  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "latency (ms)", "mean", "p50", "p90", "p99", "max"));
    for (name, st) in [("TTFT", &s.ttft_s), ("TBT", &s.tbt_s), ("TPOT", &s.tpot_s), ("E2E", &s.e2e_s), ("queueing", &s.queueing_s)] {
        out.push_str(&format!("  {:<12}{}{}{}{}{}\n", name, ms(st.mean), ms(st.p50), ms(st.p90), ms(st.p99), ms(st.max)));
    }
    let t = &s.throughput;
    out.push_str(&format!(
        "  throughput: {:.3} req/s, {:.1} input tok/s, {:.1} output tok/s ({:.1} per device)\n",
        t.requests_per_s, t.input_tokens_per_s, t.output_tokens_per_s, t.output_tokens_per_s_per_device
    ));
    let e = &s.engine;
    if e.busy_s > 0.0 && !e.time_by_kind_s.is_empty() {
        let mut kinds: Vec<(&String, &f64)> = e.time_by_kind_s.iter().collect();
        kinds.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = kinds.iter().take(6).map(|(k, t)| format!("{k} {:.1}%", 100.0 * **t / e.busy_s)).collect();
        out.push_str(&format!("  busy time by kind: {}\n", parts.join(", ")));
    }
    out.push_str(&format!(
        "  engine: {} iterations, mean batch {:.1} seqs / {:.1} tokens, {} preemptions, peak KV {:.1}% , MFU {:.1}%, MBU {:.1}%, comm {:.1}%\n",
        e.iterations,
        e.mean_batch_seqs,
        e.mean_tokens_per_iteration,
        e.preemptions,
        100.0 * e.kv_peak_used_blocks as f64 / e.kv_total_blocks.max(1) as f64,
        100.0 * e.mfu,
        100.0 * e.mbu,
        100.0 * e.comm_fraction
    ));
    out
}
