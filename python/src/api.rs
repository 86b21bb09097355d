//! The Python package's engine room, in plain Rust (no Python types): where a config comes
//! from, one `sim` run in memory (or writing the CLI's files), a sweep, `kernel-time`, the
//! plugin list, the CLI entry point, and the tables behind `Result.requests()` /
//! `Result.iterations()`. The PyO3 layer (`py.rs`) only converts values and exceptions.
//!
//! Every function here goes through the host library's own stages (`reallm::stages`,
//! `reallm::config`, `reallm::sweep`), so a run from Python is the run `reallm sim` makes.

use reallm::config::{self, Experiment};
use reallm::error::{exit, Error, Result};
use reallm::metrics::{iteration_utilisation, RequestMetrics, Slo, Summary};
use reallm::report::files::{
    requests_csv_header, Timeline, AUTO_TIMELINE_ITERATIONS, ITERATIONS_CSV_HEADER, ITERATIONS_CSV_PREFIX_COLUMNS,
};
use reallm::stages::{self, Workspace};
use reallm::sweep::{Axis, METRICS};
use reallm::workload::source::{self, RunSource};
use reallm_sim::{Observer, RequestRecord, RunOutcome};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Where an experiment's config comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// The built-in default (`configs/system/default.yaml`).
    Default,
    /// A YAML file (either form), as `reallm -c FILE`.
    Path(PathBuf),
    /// YAML (or JSON) text; `origin` names it in error messages.
    Text { text: String, origin: String },
}

/// Load the experiment with `--set`-style overrides (`key.path=value`), as the CLI does.
pub fn load_experiment(src: &ConfigSource, overrides: &[String]) -> Result<Experiment> {
    ensure_registry(src);
    match src {
        ConfigSource::Default => config::load(None, overrides),
        ConfigSource::Path(p) => config::load(Some(p), overrides),
        ConfigSource::Text { text, origin } => config::load_str(text, origin, None, overrides),
    }
}

static REGISTRY: Once = Once::new();

/// Load the plugin libraries once per process, as the CLI does before every command: from
/// `REALLM_PLUGIN_PATH`, the first config's `plugin_dirs` and `plugins/` beside the Python
/// executable. Libraries that fail are logged and skipped (the CLI's behaviour).
pub fn ensure_registry(src: &ConfigSource) {
    REGISTRY.call_once(|| {
        init_logging();
        let config_dirs = match src {
            ConfigSource::Path(p) => config::load(Some(p), &[]).map(|e| e.plugin_dirs).unwrap_or_default(),
            ConfigSource::Text { text, origin } => config::load_str(text, origin, None, &[]).map(|e| e.plugin_dirs).unwrap_or_default(),
            ConfigSource::Default => Vec::new(),
        };
        let dirs = reallm::loader::default_dirs(&[], &config_dirs);
        let report = reallm::loader::load_dirs(&dirs);
        for f in &report.failures {
            log::warn!("skipped plugin file {}: {}", f.path.display(), f.reason);
        }
        if let Err(e) = reallm::registry::init(report.plugins, report.failures) {
            log::warn!("plugin libraries not loaded: {e}");
        }
    });
}

/// Warnings to stderr (`RUST_LOG` sets another level), as the CLI without `-v`.
fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).try_init();
}

/// How one simulation runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where traces and the kernel library are looked up, and results written when `write`:
    /// default the config's `workspace`, else `./workspace` (as the CLI).
    pub workspace: Option<PathBuf>,
    /// Write the files `reallm sim` writes (the generated trace, `summary.json`, the CSVs).
    pub write: bool,
    /// Results folder override (the results go to `DIR/<trace>/`); implies `write`.
    pub output_dir: Option<PathBuf>,
    /// The trace to run (as `sim --trace FILE`); default: the config's first trace.
    pub trace: Option<PathBuf>,
    /// Which iteration records are kept (and, when writing, whether `iterations.csv` and
    /// `trace.json` are written): as `sim --timeline` / `--no-timeline`.
    pub timeline: Timeline,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { workspace: None, write: false, output_dir: None, trace: None, timeline: Timeline::Auto }
    }
}

/// The outcome of one simulation, with every request's record.
pub struct Run {
    /// The trace simulated (for a generated trace not on disk: the path it would have).
    pub trace: PathBuf,
    /// Its name in results (the file stem).
    pub trace_name: String,
    /// The heading the CLI prints above the summary table.
    pub title: String,
    pub summary: Summary,
    /// `summary.json`'s content (the same serialisation as the file, compact).
    pub summary_json: String,
    /// Every request's record, in arrival order.
    pub records: Vec<RequestRecord>,
    pub outcome: RunOutcome,
    /// The SLO of the config (for the per-request SLO columns).
    pub slo: Slo,
    /// Where the files went, when written.
    pub results_dir: Option<PathBuf>,
    pub timeline: Timeline,
}

/// The workspace the CLI would use.
pub fn workspace(exp: &Experiment, given: Option<&Path>) -> Workspace {
    Workspace::new(given.map(Path::to_path_buf).or_else(|| exp.workspace.clone()).unwrap_or_else(|| PathBuf::from("workspace")))
}

/// The iteration records `timeline` keeps (as the CLI's `sim`).
fn keep_iterations(timeline: Timeline) -> Option<usize> {
    match timeline {
        Timeline::Always => None,
        Timeline::Never => Some(0),
        Timeline::Auto => Some(AUTO_TIMELINE_ITERATIONS),
    }
}

/// The run `reallm sim` makes first for this experiment (a trace file, synthetic requests at a
/// rate, a closed loop, conversations), or the run of `trace` (`sim --trace FILE`).
pub fn first_source(exp: &Experiment, ws: &Workspace, trace: Option<&Path>) -> Result<RunSource> {
    let traces: Vec<PathBuf> = trace.map(Path::to_path_buf).into_iter().collect();
    source::sources(exp, ws, &traces, &[], &[], &[])?.into_iter().next().ok_or_else(|| {
        Error::config(
            &exp.origin,
            "the config names nothing to simulate (set workload.traces, or workload.tasks and workload.request_rates)",
        )
    })
}

/// What `reallm sim` runs for the experiment's first run (or `opts.trace`): the same workload
/// (a generated trace is generated in memory unless writing), the same kernel library, the
/// same engine options, the same summary. `observer` replaces the progress bar.
pub fn simulate(exp: &Experiment, opts: &RunOptions, observer: Option<&mut dyn Observer>) -> Result<Run> {
    let ws = workspace(exp, opts.workspace.as_deref());
    let src = first_source(exp, &ws, opts.trace.as_deref())?;
    let trace_name = src.name();
    let trace = match &src {
        RunSource::Trace(p) => p.clone(),
        _ => PathBuf::from(&trace_name),
    };
    let (summary, records, outcome, results_dir) = if opts.write || opts.output_dir.is_some() {
        let mut exp = exp.clone();
        if let Some(d) = &opts.output_dir {
            exp.output_dir = Some(d.clone());
        }
        let mut records = Vec::new();
        let run = stages::run_source_observed(&exp, &ws, &src, opts.timeline, &mut records, observer)?;
        (run.summary, records, run.outcome, Some(run.dir))
    } else {
        let (result, summary) = stages::simulate_source(exp, &ws, &src, keep_iterations(opts.timeline), observer)?;
        (summary, result.requests, result.outcome, None)
    };
    let summary_json = serde_json::to_string(&summary).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Run {
        title: sim_title(exp, &src),
        trace,
        trace_name,
        summary,
        summary_json,
        records,
        outcome,
        slo: exp.slo,
        results_dir,
        timeline: opts.timeline,
    })
}

/// The heading `reallm sim` prints above a run's summary table.
pub fn sim_title(exp: &Experiment, src: &RunSource) -> String {
    let pools: Vec<String> = exp
        .pools()
        .map(|p| {
            let reps = if p.replicas > 1 { format!("{} replicas × ", p.replicas) } else { String::new() };
            let role = if exp.decode_pool.is_some() { format!("{} ", p.role.name()) } else { String::new() };
            format!("{role}{reps}{} × {} ({} / {}, {})", p.num_devices, p.device, p.attention, p.ffn, p.batching.name)
        })
        .collect();
    let engine = exp.engine.as_ref().map(|e| format!(", engine profile {}", e.name)).unwrap_or_default();
    let what = match src {
        RunSource::Trace(t) => format!("trace {}", t.display()),
        RunSource::SyntheticRate(r) => format!("synthetic requests at {r} req/s"),
        RunSource::Closed { clients, .. } => format!("{} ({clients} concurrent clients)", src.name()),
        RunSource::Conversations => "closed-loop conversations".to_string(),
    };
    format!("sim: {} on {}, backend {}{engine}, {what}", exp.model.label, pools.join(" + "), exp.backend.name)
}

impl Run {
    /// The table `reallm sim` prints for this run.
    pub fn summary_table(&self) -> String {
        stages::format_summary(&self.title, &self.summary)
    }
}

/// The values of one table column.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Int(Vec<Option<u64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

/// One named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// A table, column by column, in the order of the CSV file it mirrors.
pub type Table = Vec<Column>;

/// One field of a row.
#[derive(Debug, Clone, Copy)]
enum Cell {
    I(Option<u64>),
    F(Option<f64>),
    B(Option<bool>),
}

impl Values {
    fn empty_like(c: Cell, n: usize) -> Values {
        match c {
            Cell::I(_) => Values::Int(Vec::with_capacity(n)),
            Cell::F(_) => Values::Float(Vec::with_capacity(n)),
            Cell::B(_) => Values::Bool(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, c: Cell) {
        match (self, c) {
            (Values::Int(v), Cell::I(x)) => v.push(x),
            // The CSV files write an empty field for a missing and for a non-finite float.
            (Values::Float(v), Cell::F(x)) => v.push(x.filter(|x| x.is_finite())),
            (Values::Bool(v), Cell::B(x)) => v.push(x),
            _ => unreachable!("a row's cell kinds follow its template"),
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Columns named by a CSV header, filled from rows of cells (`template` gives each column's
/// kind).
fn table<R: IntoIterator<Item = Cell>>(header: &str, template: R, rows: impl ExactSizeIterator<Item = R>) -> Table {
    let n = rows.len();
    let template: Vec<Cell> = template.into_iter().collect();
    let mut cols: Vec<Values> = template.iter().map(|&c| Values::empty_like(c, n)).collect();
    for row in rows {
        for (col, cell) in cols.iter_mut().zip(row) {
            col.push(cell);
        }
    }
    let names: Vec<String> = header.trim_end().split(',').map(str::to_string).collect();
    debug_assert_eq!(names.len(), cols.len(), "the header and the row agree");
    names.into_iter().zip(cols).map(|(name, values)| Column { name, values }).collect()
}

/// One row of `requests.csv`, in its column order (`requests_csv_header`).
fn request_row(q: &RequestRecord, slo: &Slo, scratch: &mut Vec<f64>) -> [Cell; 28] {
    use Cell::{B, F, I};
    let m = RequestMetrics::of(q, slo, scratch);
    [
        I(Some(q.id)),
        I(Some(q.replica as u64)),
        I(q.decode_replica.map(u64::from)),
        F(Some(q.arrival_s)),
        I(Some(q.prompt_tokens as u64)),
        I(Some(q.output_tokens as u64)),
        I(Some(q.token_times.len() as u64)),
        B(Some(m.completed)),
        I(Some(q.preemptions as u64)),
        F(q.first_scheduled_s),
        F(m.first_token_s),
        F(m.last_token_s),
        F(m.queueing_s),
        F(m.prefill_s),
        F(m.ttft_s),
        F(m.decode_s),
        F(m.tpot_s),
        F(m.e2e_s),
        F(m.normalized_latency_s_per_token),
        F(m.tbt_mean_s),
        F(m.tbt_max_s),
        F(m.tbt_at_slo_percentile_s),
        F(q.decode_replica.map(|_| q.transfer_s)),
        B(m.meets_ttft),
        B(m.meets_tbt),
        B(m.meets_tpot),
        B(m.meets_e2e),
        B(Some(m.meets_all)),
    ]
}

/// `requests.csv` as columns: the same names, the same values (an empty CSV field is `None`;
/// the 0/1 fields `completed` and `meets_*` are booleans).
pub fn requests_table(records: &[RequestRecord], slo: &Slo) -> Table {
    let mut scratch = Vec::new();
    let template = request_row(&RequestRecord::default(), slo, &mut scratch);
    table(&requests_csv_header(slo.tbt_percentile), template, records.iter().map(|q| request_row(q, slo, &mut scratch)))
}

/// One row of `iterations.csv`, in its column order (`ITERATIONS_CSV_HEADER`, then
/// `ITERATIONS_CSV_PREFIX_COLUMNS` when prefix caching is on).
fn iteration_row(r: &RunOutcome, summary: &Summary, i: usize, it: &reallm_sim::IterationRecord) -> Vec<Cell> {
    use Cell::{F, I};
    let rep = r.replicas.get(it.replica as usize);
    let kv_total = rep.map(|x| x.kv_total_blocks).unwrap_or(r.kv_total_blocks);
    let (pf, bw) = summary.run.peaks_of(it.replica);
    let (mfu, mbu) = iteration_utilisation(it, pf, bw);
    let c = &it.cost;
    let prefill_seqs = it.seqs.saturating_sub(it.decode_tokens);
    let kv_frac = if kv_total > 0 { it.kv_used_blocks as f64 / kv_total as f64 } else { 0.0 };
    let mut row = vec![
        I(Some(i as u64)),
        I(Some(it.replica as u64)),
        I(Some(rep.map(|x| x.pool as u64).unwrap_or(0))),
        F(Some(it.start_s)),
        F(Some(it.end_s)),
        F(Some(c.total_s)),
        I(Some(it.seqs as u64)),
        I(Some(prefill_seqs as u64)),
        I(Some(it.prefill_tokens as u64)),
        I(Some(it.decode_tokens as u64)),
        I(Some(it.prefill_tokens as u64 + it.decode_tokens as u64)),
        I(Some(it.kv_used_blocks)),
        I(Some(kv_total)),
        F(Some(kv_frac)),
        F(Some(c.compute_s)),
        F(Some(c.comm_s)),
        F(Some(c.flops)),
        F(Some(c.bytes)),
        F(Some(mfu)),
        F(Some(mbu)),
    ];
    if summary.prefix_cache.is_some() {
        row.extend([I(Some(it.cached_tokens as u64)), I(Some(it.kv_cached_blocks))]);
    }
    row
}

/// `iterations.csv` as columns (the same names and values; the prefix-cache columns when the
/// run has prefix caching).
pub fn iterations_table(r: &RunOutcome, summary: &Summary) -> Table {
    let none = reallm_sim::IterationRecord {
        replica: 0,
        start_s: 0.0,
        end_s: 0.0,
        prefill_tokens: 0,
        decode_tokens: 0,
        seqs: 0,
        kv_used_blocks: 0,
        cached_tokens: 0,
        kv_cached_blocks: 0,
        cost: reallm_sim::IterationCost::default(),
    };
    let template = iteration_row(r, summary, 0, &none);
    let header = match summary.prefix_cache {
        Some(_) => format!("{}{ITERATIONS_CSV_PREFIX_COLUMNS}", ITERATIONS_CSV_HEADER.trim_end()),
        None => ITERATIONS_CSV_HEADER.to_string(),
    };
    table(&header, template, r.iterations.iter().enumerate().map(|(i, it)| iteration_row(r, summary, i, it)))
}

impl Run {
    /// `requests.csv` as columns.
    pub fn requests_table(&self) -> Table {
        requests_table(&self.records, &self.slo)
    }

    /// `iterations.csv` as columns. Fails when iteration records were not kept (`timeline`
    /// `never`), or not all of them (`auto` and more than 100,000 iterations), as the CLI
    /// then writes no `iterations.csv` either.
    pub fn iterations_table(&self) -> Result<Table> {
        let all = self.summary.engine.iterations;
        match self.timeline {
            Timeline::Never if all > 0 => {
                return Err(Error::Usage("iteration records were not kept (timeline=\"never\"); run with timeline=\"auto\" or \"always\"".into()))
            }
            Timeline::Auto if self.outcome.iterations_truncated => {
                return Err(Error::Usage(format!(
                    "{all} iterations: more than the {AUTO_TIMELINE_ITERATIONS} kept by timeline=\"auto\" (the CLI writes no iterations.csv either); run with timeline=\"always\""
                )))
            }
            _ => {}
        }
        Ok(iterations_table(&self.outcome, &self.summary))
    }
}

/// One row of a sweep: a grid point, one trace of it, its summary.
pub struct SweepRow {
    pub point: usize,
    /// The axis values (YAML scalars, as given).
    pub values: Vec<String>,
    pub trace: String,
    pub summary: Summary,
}

/// The metric columns of a sweep row (the CSV's, `reallm::sweep::METRICS`) from a summary.
pub fn sweep_metrics(s: &Summary) -> Vec<(&'static str, serde_json::Value)> {
    let v = serde_json::to_value(s).unwrap_or_default();
    METRICS.iter().map(|(name, ptr)| (*name, v.pointer(ptr).cloned().unwrap_or(serde_json::Value::Null))).collect()
}

/// A sweep as `reallm sweep` runs it (the cartesian product of the axes, first axis
/// outermost; each point makes each of its experiment's `sim` runs; every point's config is loaded
/// and checked before any runs), in memory: generated traces are not written, no CSV. Runs on
/// `threads` threads; setting `stop` makes the runs in flight stop (their result is
/// [`Error::Interrupted`]) and no new one start. Rows come back in (point, trace) order; the
/// first error in that order is returned.
pub fn sweep(
    src: &ConfigSource,
    base_overrides: &[String],
    axes: &[Axis],
    workspace_dir: Option<&Path>,
    threads: usize,
    stop: &AtomicBool,
) -> Result<Vec<SweepRow>> {
    for a in axes {
        if a.key.trim().is_empty() || a.values.is_empty() {
            return Err(Error::Usage(format!("grid axis `{}`: expected a key and at least one value", a.key)));
        }
    }
    let mut todo = Vec::new();
    for (i, vals) in reallm::sweep::points(axes) {
        let mut ov = base_overrides.to_vec();
        ov.extend(axes.iter().zip(&vals).map(|(a, v)| format!("{}={v}", a.key)));
        let exp = load_experiment(src, &ov)?;
        let ws = workspace(&exp, workspace_dir);
        for src in source::sources(&exp, &ws, &[], &[], &[], &[])? {
            let name = src.name();
            todo.push((i, vals.clone(), exp.clone(), src, name));
        }
    }
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Summary>>>> = todo.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || loop {
        let k = next.fetch_add(1, Ordering::SeqCst);
        let Some((_, _, exp, src, _)) = todo.get(k) else { break };
        let r = if stop.load(Ordering::SeqCst) {
            Err(Error::Interrupted)
        } else {
            stages::summarize_source_observed(exp, src, &mut StopFlag(stop))
        };
        *results[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    };
    let threads = threads.clamp(1, todo.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    let mut rows = Vec::with_capacity(todo.len());
    for ((point, values, _, _, trace), r) in todo.into_iter().zip(results) {
        let summary = r.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or(Err(Error::Interrupted))?;
        rows.push(SweepRow { point, values, trace, summary });
    }
    Ok(rows)
}

/// An observer that stops the run when a flag is set.
pub struct StopFlag<'a>(pub &'a AtomicBool);

impl Observer for StopFlag<'_> {
    fn progress(&mut self, _: f64, _: u64, _: Option<u64>) -> bool {
        !self.0.load(Ordering::Relaxed)
    }
}

/// `reallm kernel-time ... --json` as a value: the device, backend, op, shape, dtype, the time
/// in seconds, the FLOPs and bytes, and the kernel or collective as the backend saw it.
pub fn kernel_time(a: &reallm::cli::KernelTimeArgs) -> Result<serde_json::Value> {
    use reallm::commands::{parse_query, Query};
    use reallm_plugin_api::{CommAlgo, DType};
    ensure_registry(&ConfigSource::Default);
    let device = reallm::devices::resolve(&a.device, None)?;
    let dtype = DType::parse(&a.dtype)
        .ok_or_else(|| Error::Usage(format!("--dtype `{}`: expected fp32, bf16, fp16, fp8, int8 or fp4", a.dtype)))?;
    let algo =
        CommAlgo::parse(&a.algo).ok_or_else(|| Error::Usage(format!("--algo `{}`: expected auto, ring, ring2d or multishot", a.algo)))?;
    let params = match &a.params {
        Some(t) => config::yaml::parse(t, "--params")?,
        None => serde_json::Value::Null,
    };
    let backend = reallm::registry::backend(&a.backend, &params, &device.spec)?;
    let q = parse_query(&a.op, &a.shape, dtype, algo, a.scale_out)?;
    let (t, flops, bytes, desc) = match &q {
        Query::Kernel(k) => {
            (backend.kernel_time(k).map_err(|e| Error::plugin(&a.backend, e))?, k.flops(), k.bytes(), serde_json::to_value(k))
        }
        Query::Comm(c) => {
            (backend.collective_time(c).map_err(|e| Error::plugin(&a.backend, e))?, 0.0, c.bytes as f64, serde_json::to_value(c))
        }
    };
    let desc = desc.map_err(|e| Error::Internal(e.to_string()))?;
    Ok(
        serde_json::json!({"device": device.key, "backend": a.backend, "op": a.op, "shape": a.shape, "dtype": dtype.name(), "time_s": t, "flops": flops, "bytes": bytes, "kernel": desc}),
    )
}

/// The plugin registry as `reallm plugins` lists it (plus each plugin's presets and example
/// parameters), and the plugin files that failed to load.
pub fn plugins() -> serde_json::Value {
    ensure_registry(&ConfigSource::Default);
    let list: Vec<serde_json::Value> = reallm::registry::all()
        .iter()
        .map(|e| {
            serde_json::json!({
                "kind": e.kind.name(),
                "name": e.name,
                "version": e.version,
                "origin": e.origin.to_string(),
                "summary": e.summary,
                "aliases": e.aliases,
                "presets": e.presets,
                "example_params": e.example_params,
            })
        })
        .collect();
    let failures: Vec<serde_json::Value> = reallm::registry::failures()
        .iter()
        .map(|f| serde_json::json!({"path": f.path.display().to_string(), "reason": f.reason}))
        .collect();
    serde_json::json!({"plugins": list, "failures": failures})
}

/// The `reallm` command line, in process (for `python -m reallm`): parse `args` (without the
/// program name), run, print as the binary does, and return the binary's exit code
/// (`docs/exit-codes.md`). Ctrl-C behaves as in the binary.
pub fn cli_main(args: Vec<String>) -> i32 {
    use clap::Parser;
    let argv = std::iter::once("reallm".to_string()).chain(args);
    let cli = match reallm::cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    reallm::interrupt::install_handler(matches!(cli.command, reallm::cli::Command::Sweep(_)));
    match std::panic::catch_unwind(|| reallm::run(cli)) {
        Ok(Ok(())) => exit::OK,
        Ok(Err(Error::Interrupted)) => {
            eprintln!("error: interrupted");
            exit::INTERRUPTED
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
        Err(_) => exit::INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_run(timeline: Timeline) -> Run {
        let exp = load_experiment(&ConfigSource::Default, &["workload.max_requests=40".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions { workspace: Some(dir.path().to_path_buf()), timeline, ..RunOptions::default() };
        let run = simulate(&exp, &opts, None).unwrap();
        // In memory: nothing was written to the workspace.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        run
    }

    #[test]
    fn tables_have_the_csv_columns_and_one_row_per_record() {
        let run = default_run(Timeline::Auto);
        assert_eq!(run.records.len(), 40);
        let t = run.requests_table();
        let names: Vec<&str> = t.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.join(",") + "\n", requests_csv_header(99.0));
        for c in &t {
            assert_eq!(c.values.len(), 40, "column {}", c.name);
        }
        // Spot checks against the record: id, arrival, generated tokens, TTFT.
        let q = &run.records[3];
        let col = |n: &str| &t.iter().find(|c| c.name == n).unwrap().values;
        assert_eq!(col("request_id"), &Values::Int(run.records.iter().map(|r| Some(r.id)).collect()));
        let Values::Float(arr) = col("arrival_s") else { panic!("arrival_s is a float column") };
        assert_eq!(arr[3], Some(q.arrival_s));
        let Values::Float(ttft) = col("ttft_s") else { panic!("ttft_s is a float column") };
        assert_eq!(ttft[3], Some(q.token_times[0] - q.arrival_s));
        let Values::Bool(done) = col("completed") else { panic!("completed is a bool column") };
        assert_eq!(done[3], Some(q.completed()));

        let it = run.iterations_table().unwrap();
        let names: Vec<&str> = it.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.join(",") + "\n", ITERATIONS_CSV_HEADER);
        let Values::Int(idx) = &it[0].values else { panic!("iteration is an int column") };
        assert_eq!(idx.len() as u64, run.summary.engine.iterations);
        let Values::Float(start) = &it[3].values else { panic!("start_s is a float column") };
        assert_eq!(start[0], Some(run.outcome.iterations[0].start_s));
    }

    #[test]
    fn no_timeline_keeps_no_iterations_and_says_so() {
        let run = default_run(Timeline::Never);
        let e = run.iterations_table().expect_err("no iteration records");
        assert!(e.to_string().contains("timeline=\"never\""), "{e}");
    }

    #[test]
    fn the_in_memory_run_equals_the_written_run() {
        let exp = load_experiment(&ConfigSource::Default, &["workload.max_requests=30".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mem = simulate(&exp, &RunOptions { workspace: Some(dir.path().into()), ..RunOptions::default() }, None).unwrap();
        let opts = RunOptions { workspace: Some(dir.path().into()), write: true, ..RunOptions::default() };
        let disk = simulate(&exp, &opts, None).unwrap();
        assert_eq!(mem.summary_json, disk.summary_json);
        assert_eq!(mem.records.len(), disk.records.len());
        let file = std::fs::read_to_string(disk.results_dir.unwrap().join("summary.json")).unwrap();
        let a: serde_json::Value = serde_json::from_str(&file).unwrap();
        let b: serde_json::Value = serde_json::from_str(&mem.summary_json).unwrap();
        assert_eq!(a, b);
        assert!(dir.path().join("traces").join("rr_code_1.csv").is_file(), "write=true writes the generated trace as `sim` does");
    }

    #[test]
    fn a_stop_flag_interrupts_a_sweep() {
        let axes = vec![Axis { key: "workload.request_rates".into(), values: vec!["1".into(), "2".into()] }];
        let stop = AtomicBool::new(true);
        let src = ConfigSource::Default;
        let e = sweep(&src, &["workload.max_requests=20".into()], &axes, None, 2, &stop).err().expect("stopped");
        assert!(matches!(e, Error::Interrupted));
        let stop = AtomicBool::new(false);
        let rows = sweep(&src, &["workload.max_requests=20".into()], &axes, None, 2, &stop).unwrap();
        assert_eq!(rows.iter().map(|r| (r.point, r.trace.as_str())).collect::<Vec<_>>(), vec![(0, "rr_code_1"), (1, "rr_code_2")]);
        assert_eq!(rows[0].summary.requests.total, 20);
    }

    #[test]
    fn config_errors_carry_the_cli_message() {
        let e = load_experiment(&ConfigSource::Default, &["workload.request_rate=2".into()]).err().unwrap();
        assert_eq!(e.exit_code(), exit::CONFIG);
        assert!(e.to_string().contains("did you mean `request_rates`"), "{e}");
        let text = ConfigSource::Text { text: "model: [".into(), origin: "<string>".into() };
        let e = load_experiment(&text, &[]).err().unwrap();
        assert!(e.to_string().starts_with("config <string>: YAML syntax error"), "{e}");
    }
}
