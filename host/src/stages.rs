//! The three stages (`traces`, `kernel`, `sim`) and `all`, as the CLI runs them.

use crate::assemble;
use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::report::files::{RequestsCsv, SimResultsCsv, REQUESTS_CSV};
use crate::report::{Progress, Timeline};
use crate::workload::source::{self, RunSource};
use crate::workload::{self, azure::Task, generate, Request};
use reallm_sim::metrics::{
    iteration_stats, Measure, MeasuredSink, RecordsOnly, ReducedSummary, RequestMetrics, RunInfo, Summarizer, Summary,
};
use reallm_sim::{Observer, Pool, RecordSink, RunOutcome, SimOptions, SimResult, TraceWorkload, Workload};
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

/// Load a trace as the experiment runs it: [`load_trace_file`], then arrival times scaled by
/// `workload.time_scale` and the `workload.system_prompt` added to requests without content ids.
pub fn load_trace(exp: &Experiment, path: &Path) -> Result<Vec<Request>> {
    load_trace_with(exp, path, true)
}

/// [`load_trace`] that writes nothing: a generated trace that is missing, or was generated with
/// other settings, is generated in memory only (the same requests `load_trace` would write and
/// use). For library callers that must not touch the disk (the Python package).
pub fn read_trace(exp: &Experiment, path: &Path) -> Result<Vec<Request>> {
    load_trace_with(exp, path, false)
}

/// [`load_trace`], writing a generated trace only when `write`.
pub fn load_trace_with(exp: &Experiment, path: &Path, write: bool) -> Result<Vec<Request>> {
    let mut reqs = load_trace_file_with(exp, path, write)?;
    let w = &exp.workload;
    if w.time_scale != 1.0 {
        for r in &mut reqs {
            r.arrival_s *= w.time_scale;
        }
    }
    if let Some(sp) = &w.system_prompt {
        crate::workload::synth::add_system_prompts(&mut reqs, sp, exp.trace_gen.seed)?;
    }
    Ok(reqs)
}

/// Load a trace file; a missing generated trace (`rr_{task}_{rate}.csv`) is generated first
/// with the experiment's generation settings, and so is one whose recorded settings differ.
pub fn load_trace_file(exp: &Experiment, path: &Path) -> Result<Vec<Request>> {
    load_trace_file_with(exp, path, true)
}

/// [`load_trace_file`], writing a generated trace (and its `.gen.json`) only when `write`.
fn load_trace_file_with(exp: &Experiment, path: &Path, write: bool) -> Result<Vec<Request>> {
    let generate_to = |task: Task, rate: f64, want: &serde_json::Value| -> Result<Vec<Request>> {
        let tg = &exp.trace_gen;
        let reqs = generate::generate(task, rate, tg.max_requests, tg.end_time_s, tg.seed)?;
        if write {
            workload::trace::write_rr(path, &reqs, task.type_id())?;
            write_gen_meta(path, want)?;
        }
        Ok(reqs)
    };
    if path.exists() {
        if let Some((task, rate)) = parse_rr_name(path) {
            let want = gen_meta(exp, task, rate);
            let have: Option<serde_json::Value> = std::fs::read_to_string(meta_path(path)).ok().and_then(|t| serde_json::from_str(&t).ok());
            if have.is_some_and(|h| h != want) {
                log::info!("{} was generated with other settings: regenerating it", path.display());
                return generate_to(task, rate, &want);
            }
        }
    }
    if !path.exists() {
        if let Some((task, rate)) = parse_rr_name(path) {
            log::info!("{} not found: generating it ({} at {} req/s)", path.display(), task.name(), rate);
            return generate_to(task, rate, &gen_meta(exp, task, rate));
        }
        return Err(Error::input(path.display().to_string(), "trace file not found"));
    }
    workload::trace::read_with(path, exp.workload.hash_block_tokens)
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
    run_source(exp, ws, &RunSource::Trace(trace.to_path_buf()), timeline)
}

/// The name results of `workload.conversations` runs go under.
pub const CONVERSATIONS_NAME: &str = "conversations";

/// A trace's requests, loaded (or generated) as [`load_trace`] does, with `end_reqs` applied.
pub fn load_trace_filtered(exp: &Experiment, path: &Path) -> Result<Vec<Request>> {
    load_trace_filtered_with(exp, path, true)
}

/// [`load_trace_filtered`], writing a generated trace only when `write`.
pub fn load_trace_filtered_with(exp: &Experiment, path: &Path, write: bool) -> Result<Vec<Request>> {
    let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "trace".into());
    end_reqs_filter(exp, &name, load_trace_with(exp, path, write)?)
}

/// One `sim` run of any source (a trace, synthetic requests at a rate, a closed loop): writes
/// its result directory as [`run_sim_one_with`] does.
pub fn run_source(exp: &Experiment, ws: &Workspace, src: &RunSource, timeline: Timeline) -> Result<SimRun> {
    run_source_observed(exp, ws, src, timeline, &mut Discard, None)
}

/// [`run_source`] that also hands every record to `extra`, and reports progress to `observer`
/// instead of the progress bar when one is given (library callers: the Python package keeps
/// the records and checks for Ctrl-C there). The files written are the same.
pub fn run_source_observed(
    exp: &Experiment,
    ws: &Workspace,
    src: &RunSource,
    timeline: Timeline,
    extra: &mut (dyn RecordSink + Send),
    observer: Option<&mut dyn Observer>,
) -> Result<SimRun> {
    let mut workload = source::build(exp, src)?;
    let trace_name = src.name();
    let trace = match src {
        RunSource::Trace(p) => p.clone(),
        _ => PathBuf::from(&trace_name),
    };
    let sim_exp = with_kernel_library(exp, ws);
    let mut pools = assemble::build_pools(&sim_exp)?;
    let dir = ws.results_dir(exp, &trace_name);
    let created = !dir.exists();
    let written = (|| {
        let mut sim_csv = SimResultsCsv::create(&dir.join("sim_results.csv"))?;
        let mut req_csv = RequestsCsv::create(&dir.join(REQUESTS_CSV), exp.slo)?;
        // Each record's metrics are computed once, for the summary, requests.csv and `extra`.
        let mut sink = ((&mut sim_csv, &mut req_csv), RecordsOnly(extra));
        let (outcome, mut summary) = match observer {
            Some(o) => simulate_pools_observed(&sim_exp, &trace_name, &mut pools, &mut workload, &mut sink, keep_iterations(timeline), o),
            None => simulate_pools(&sim_exp, &trace_name, &mut pools, &mut workload, &mut sink, keep_iterations(timeline)),
        }?;
        summary.run.concurrency = src.concurrency();
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
    Ok(SimRun { trace, dir, summary, outcome })
}

/// Simulate one source and summarise, writing no result (sweeps; a generated trace that is
/// missing is written, as `sim` writes it).
pub fn summarize_source(exp: &Experiment, src: &RunSource) -> Result<Summary> {
    let mut workload = source::build(exp, src)?;
    let mut pools = assemble::build_pools(exp)?;
    let mut s = simulate_pools(exp, &src.name(), &mut pools, &mut workload, &mut Discard, Some(0))?.1;
    s.run.concurrency = src.concurrency();
    Ok(s)
}

/// [`summarize_source`] writing nothing at all (a generated trace is made in memory), with
/// progress reported to `observer` instead of the progress bar.
pub fn summarize_source_observed(exp: &Experiment, src: &RunSource, observer: &mut dyn Observer) -> Result<Summary> {
    let mut workload = source::build_with(exp, src, false)?;
    let mut pools = assemble::build_pools(exp)?;
    let mut s = simulate_pools_observed(exp, &src.name(), &mut pools, &mut workload, &mut Discard, Some(0), observer)?.1;
    s.run.concurrency = src.concurrency();
    Ok(s)
}

/// One `sim` run of `src` as [`run_source`] makes it (the same workload, kernel library,
/// engine options and summary), in memory: nothing is written (a generated trace is made in
/// memory), every record is kept, and up to `keep_iterations` iteration records (`None`:
/// all). Progress goes to `observer` instead of the progress bar when one is given.
pub fn simulate_source(
    exp: &Experiment,
    ws: &Workspace,
    src: &RunSource,
    keep_iterations: Option<usize>,
    observer: Option<&mut dyn Observer>,
) -> Result<(SimResult, Summary)> {
    let mut workload = source::build_with(exp, src, false)?;
    let trace_name = src.name();
    let sim_exp = with_kernel_library(exp, ws);
    let mut pools = assemble::build_pools(&sim_exp)?;
    let mut records = Vec::new();
    let (outcome, mut summary) = match observer {
        Some(o) => simulate_pools_observed(&sim_exp, &trace_name, &mut pools, &mut workload, &mut records, keep_iterations, o),
        None => simulate_pools(&sim_exp, &trace_name, &mut pools, &mut workload, &mut records, keep_iterations),
    }?;
    summary.run.concurrency = src.concurrency();
    Ok((SimResult { requests: records, outcome }, summary))
}

/// Whether this run has a core to itself and another to spare: a single run (`sim`), or a
/// sweep on fewer threads than cores. Sweeps and searches that fill every core measure inline.
fn spare_core() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let busy = if rayon::current_thread_index().is_some() { rayon::current_num_threads() } else { 1 };
    cores > busy
}

/// What the engine's thread sends the measuring thread.
enum ToMeasure {
    /// Finished requests' records, in arrival order.
    Records(Vec<reallm_sim::RequestRecord>),
    /// The run is over. When `reduce` (it ended well): hand the summariser back, then end the
    /// sink ([`MeasuredSink::end`]).
    End { reduce: bool },
}

/// Records handed to the measuring thread, in batches (one wake-up of the thread per batch,
/// not per record).
struct ToThread {
    tx: std::sync::mpsc::SyncSender<ToMeasure>,
    batch: Vec<reallm_sim::RequestRecord>,
}

/// Records per batch sent to the measuring thread.
const RECORD_BATCH: usize = 64;

impl ToThread {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            // Fails only if the measuring thread is gone (it panicked): the join reports that.
            let _ = self.tx.send(ToMeasure::Records(std::mem::replace(&mut self.batch, Vec::with_capacity(RECORD_BATCH))));
        }
    }
}

impl RecordSink for ToThread {
    fn record(&mut self, rec: &reallm_sim::RequestRecord) {
        self.record_owned(rec.clone());
    }

    fn record_owned(&mut self, rec: reallm_sim::RequestRecord) {
        self.batch.push(rec);
        if self.batch.len() >= RECORD_BATCH {
            self.flush();
        }
    }
}

/// Run `run` with a record sink that hands each finished request's record to a second thread,
/// which computes its metrics once into `summarizer` and `next` (the result files): the
/// engine's loop and the per-request work (metrics, percentile buffers, formatting the CSV
/// rows) run on two cores. Records cross in arrival order, in batches of 64, through a bounded
/// channel (the engine waits when 16 batches are queued), so the outputs are those of the
/// inline path, byte for byte (tested).
///
/// When the run ends well, its end is spread over the cores too: the measuring thread hands
/// the summariser back and makes `next`'s files durable ([`MeasuredSink::end`], mostly a wait
/// on the disk) while this thread computes `meanwhile` (the engine half of the summary) and
/// reduces the request distributions, the largest on a third, short-lived thread
/// ([`Summarizer::reduce_with`]). A run that failed computes none of it.
fn measure_on_thread<T, E, S>(
    summarizer: Summarizer,
    next: &mut (dyn MeasuredSink + Send),
    run: impl FnOnce(&mut dyn RecordSink) -> std::result::Result<T, E>,
    meanwhile: impl FnOnce(&T) -> S,
) -> std::result::Result<(T, S, ReducedSummary), E> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<ToMeasure>(16);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Summarizer>(1);
        let worker = scope.spawn(move || {
            let mut summarizer = summarizer;
            let mut m = Measure { summarizer: &mut summarizer, next };
            for msg in rx {
                match msg {
                    ToMeasure::Records(batch) => {
                        for rec in batch {
                            m.record(&rec);
                        }
                    }
                    ToMeasure::End { reduce: true } => {
                        let _ = back_tx.send(summarizer);
                        next.end();
                        return;
                    }
                    ToMeasure::End { reduce: false } => return,
                }
            }
        });
        let mut records = ToThread { tx, batch: Vec::with_capacity(RECORD_BATCH) };
        let r = run(&mut records);
        records.flush();
        let _ = records.tx.send(ToMeasure::End { reduce: r.is_ok() });
        drop(records);
        let done = r.map(|outcome| {
            let s = meanwhile(&outcome);
            // `None`: the measuring thread panicked; the join below reports it.
            let reduced = back_rx.recv().ok().map(|summarizer| summarizer.reduce_with(join_on_threads));
            (outcome, s, reduced)
        });
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
        done.map(|(outcome, s, reduced)| {
            (outcome, s, reduced.expect("the measuring thread hands back the summariser of a run that ended well"))
        })
    })
}

/// Run `a` on a new thread and `b` on this one, at once.
fn join_on_threads(a: &mut (dyn FnMut() + Send), b: &mut (dyn FnMut() + Send)) {
    std::thread::scope(|scope| {
        let h = scope.spawn(a);
        b();
        if let Err(panic) = h.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// A sink that keeps nothing.
struct Discard;

impl RecordSink for Discard {
    fn record(&mut self, _: &reallm_sim::RequestRecord) {}
}

impl MeasuredSink for Discard {
    fn measured(&mut self, _: &reallm_sim::RequestRecord, _: &RequestMetrics) {}
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
    Ok(simulate_pools(exp, trace_name, &mut pools, &mut TraceWorkload::new(&reqs), &mut Discard, Some(0))?.1)
}

/// Run `workload` on assembled `pools`, records to the summariser and `sink`, with a progress
/// bar unless quiet.
pub fn simulate_pools(
    exp: &Experiment,
    trace_name: &str,
    pools: &mut [Pool],
    workload: &mut dyn Workload,
    sink: &mut (dyn MeasuredSink + Send),
    keep_iterations: Option<usize>,
) -> Result<(RunOutcome, Summary)> {
    let mut progress = Progress::new(workload.expected_requests().unwrap_or(0), !crate::report::progress::quiet());
    let r = simulate_pools_observed(exp, trace_name, pools, workload, sink, keep_iterations, &mut progress);
    progress.finish();
    r
}

/// [`simulate_pools`] reporting progress to `observer` (no progress bar): its `progress`
/// returning false stops the run with [`Error::Interrupted`].
pub fn simulate_pools_observed(
    exp: &Experiment,
    trace_name: &str,
    pools: &mut [Pool],
    workload: &mut dyn Workload,
    sink: &mut (dyn MeasuredSink + Send),
    keep_iterations: Option<usize>,
    observer: &mut dyn Observer,
) -> Result<(RunOutcome, Summary)> {
    let replicas = pools.iter().map(|p| p.spec.replicas as usize).sum();
    let mut summarizer = Summarizer::new(exp.slo, replicas).with_warmup(exp.workload.warmup_requests);
    // Measured-table backends count kernels they hand to their fallback (process-wide).
    let fallbacks = || reallm_measured::fallbacks() + reallm_table::fallbacks();
    let fallbacks_before = fallbacks();
    let opts = SimOptions { end_time_s: exp.sim.end_time_s, seed: exp.sim.seed, keep_iterations, ..SimOptions::default() };
    let transfer = assemble::kv_transfer(exp);
    let (outcome, iteration_s, reduced) = if spare_core() {
        measure_on_thread(
            summarizer,
            sink,
            |records| reallm_sim::simulate(pools, transfer, workload, records, observer, opts),
            iteration_stats,
        )?
    } else {
        let outcome =
            reallm_sim::simulate(pools, transfer, workload, &mut Measure { summarizer: &mut summarizer, next: sink }, observer, opts)?;
        sink.end();
        let iteration_s = iteration_stats(&outcome);
        (outcome, iteration_s, summarizer.reduce())
    };
    let mut run = RunInfo::from_pools(trace_name, &exp.model.label, &exp.system_name(), &exp.backend.name, pools);
    run.engine_profile = exp.engine.as_ref().map(|e| e.name.clone());
    let mut summary = reduced.finish(&outcome, iteration_s, run);
    if matches!(exp.backend.name.as_str(), "measured" | "table") {
        summary.engine.kernel_fallbacks = Some(fallbacks() - fallbacks_before);
    }
    Ok((outcome, summary))
}

/// A readable summary, laid out as benchmark clients print theirs (vLLM `bench serve`,
/// SGLang `bench_serving`, genai-perf): counts and duration, token totals, throughput (per GPU
/// and per user too), then TTFT, TPOT, ITL and E2E with mean, median, p90, p99 and max.
pub fn format_summary(title: &str, s: &Summary) -> String {
    let ms = |x: f64| format!("{:>10.2}", x * 1e3);
    let mut out = String::new();
    out.push_str(&format!("{title}\n"));
    let warm = if s.requests.warmup > 0 { format!(" ({} warm-up requests not measured)", s.requests.warmup) } else { String::new() };
    out.push_str(&format!(
        "  requests: {} completed of {}{warm}, benchmark duration (makespan) {:.2} s\n",
        s.requests.completed, s.requests.total, s.makespan_s
    ));
    out.push_str(&format!("  tokens: {} input, {} generated\n", s.requests.input_tokens, s.requests.output_tokens));
    let t = &s.throughput;
    out.push_str(&format!(
        "  throughput: {:.3} req/s, {:.1} input tok/s, {:.1} output tok/s, {:.1} total tok/s\n",
        t.requests_per_s, t.input_tokens_per_s, t.output_tokens_per_s, t.total_tokens_per_s
    ));
    let u = &s.output_tokens_per_s_per_user;
    out.push_str(&format!(
        "  per GPU: {:.1} output tok/s, {:.1} total tok/s; per user: {:.1} output tok/s mean, {:.1} median, {:.1} p10\n",
        t.output_tokens_per_s_per_device,
        t.total_tokens_per_s_per_device,
        u.mean,
        u.p50,
        // The slowest 10 % of users: 1 / TPOT at its p90.
        if s.tpot_s.p90 > 0.0 { 1.0 / s.tpot_s.p90 } else { 0.0 }
    ));
    out.push_str(&format!("  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "latency (ms)", "mean", "median", "p90", "p99", "max"));
    for (name, st) in [("TTFT", &s.ttft_s), ("TPOT", &s.tpot_s), ("ITL (TBT)", &s.tbt_s), ("E2E", &s.e2e_s), ("queueing", &s.queueing_s)] {
        out.push_str(&format!("  {:<12}{}{}{}{}{}\n", name, ms(st.mean), ms(st.p50), ms(st.p90), ms(st.p99), ms(st.max)));
    }
    let e = &s.engine;
    if e.busy_s > 0.0 && !e.time_by_kind_s.is_empty() {
        let mut kinds: Vec<(&String, &f64)> = e.time_by_kind_s.iter().collect();
        kinds.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = kinds.iter().take(6).map(|(k, t)| format!("{k} {:.1}%", 100.0 * **t / e.busy_s)).collect();
        out.push_str(&format!("  busy time by kind: {}\n", parts.join(", ")));
    }
    if let Some(p) = &s.prefix_cache {
        let tiers: Vec<String> = p
            .by_tier
            .iter()
            .filter(|(_, t)| t.hit_tokens > 0 || t.offloaded_blocks > 0)
            .map(|(n, t)| format!("{n} {:.1}%", 100.0 * t.token_hit_rate))
            .collect();
        let gib = |b: f64| b / (1u64 << 30) as f64;
        let (off, load) = p.by_tier.values().fold((0.0, 0.0), |(o, l), t| (o + t.offloaded_bytes, l + t.loaded_bytes));
        out.push_str(&format!(
            "  prefix cache: {:.1}% of prompt tokens hit ({:.1}% of blocks; {}), {} prefill tokens saved, {} blocks evicted from GPU, tier traffic {:.1} GiB out / {:.1} GiB in\n",
            100.0 * p.token_hit_rate,
            100.0 * p.block_hit_rate,
            if tiers.is_empty() { "none".to_string() } else { tiers.join(", ") },
            p.prefill_tokens_saved,
            p.evicted_blocks,
            gib(off),
            gib(load)
        ));
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
    if let Some(sd) = &e.spec_decode {
        let per_pos: Vec<String> = sd.acceptance_rate_per_position.iter().map(|p| format!("{:.0}%", 100.0 * p)).collect();
        out.push_str(&format!(
            "  speculative decoding: {} drafts, acceptance {:.1}% (per position {}), {:.2} tokens per step, drafting {:.1}% of busy time\n",
            sd.drafts,
            100.0 * sd.acceptance_rate,
            per_pos.join(" "),
            sd.mean_acceptance_length,
            100.0 * sd.draft_fraction
        ));
    }
    out
}
