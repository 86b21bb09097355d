//! Sweeps over config keys, run in parallel, resumable and shardable; capacity search.
//!
//! A sweep is the cartesian product of `--grid KEY=V1,V2,...` axes (first axis outermost).
//! Point `i` gets the overrides of its values on top of the base config. Each point runs its
//! experiment's traces; each (point, trace) gives one CSV row of summary metrics. Rows are
//! appended to `<out>.partial` as they finish (so an interrupted sweep keeps them and a rerun
//! skips them) and the final `<out>` is written, sorted by point, when every point is done.
//! `--shard i/n` runs the points with `index % n == i`; `sweep merge` joins shard outputs.

use crate::config;
use crate::error::{Error, Result};
use crate::metrics::Summary;
use crate::output::{fmt_f64, write_atomic};
use crate::stages::{self, Workspace};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Set by Ctrl-C: no new point starts; points in flight finish and are kept.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// One axis: a config key and its values (as YAML scalars).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// Parse `key=v1,v2,...`.
pub fn parse_axis(s: &str) -> Result<Axis> {
    let (k, v) = s.split_once('=').ok_or_else(|| Error::Usage(format!("--grid `{s}`: expected KEY.PATH=V1,V2,...")))?;
    let values: Vec<String> = v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
    if k.trim().is_empty() || values.is_empty() {
        return Err(Error::Usage(format!("--grid `{s}`: expected KEY.PATH=V1,V2,... with at least one value")));
    }
    Ok(Axis { key: k.trim().to_string(), values })
}

/// All points: (index, values per axis), first axis outermost.
pub fn points(axes: &[Axis]) -> Vec<(usize, Vec<String>)> {
    let total: usize = axes.iter().map(|a| a.values.len()).product();
    (0..total)
        .map(|i| {
            let mut rem = i;
            let mut vals = vec![String::new(); axes.len()];
            for (j, a) in axes.iter().enumerate().rev() {
                vals[j] = a.values[rem % a.values.len()].clone();
                rem /= a.values.len();
            }
            (i, vals)
        })
        .collect()
}

/// `i/n` → (i, n).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || Error::Usage(format!("--shard `{s}`: expected I/N with 0 ≤ I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The metric columns of a sweep row, as (column, JSON pointer into `summary.json`).
pub const METRICS: &[(&str, &str)] = &[
    ("requests_total", "/requests/total"),
    ("requests_completed", "/requests/completed"),
    ("ttft_mean_s", "/ttft_s/mean"),
    ("ttft_p50_s", "/ttft_s/p50"),
    ("ttft_p90_s", "/ttft_s/p90"),
    ("ttft_p99_s", "/ttft_s/p99"),
    ("tbt_mean_s", "/tbt_s/mean"),
    ("tbt_p50_s", "/tbt_s/p50"),
    ("tbt_p90_s", "/tbt_s/p90"),
    ("tbt_p99_s", "/tbt_s/p99"),
    ("tpot_mean_s", "/tpot_s/mean"),
    ("tpot_p99_s", "/tpot_s/p99"),
    ("e2e_mean_s", "/e2e_s/mean"),
    ("e2e_p50_s", "/e2e_s/p50"),
    ("e2e_p99_s", "/e2e_s/p99"),
    ("requests_per_s", "/throughput/requests_per_s"),
    ("input_tokens_per_s", "/throughput/input_tokens_per_s"),
    ("output_tokens_per_s", "/throughput/output_tokens_per_s"),
    ("output_tokens_per_s_per_device", "/throughput/output_tokens_per_s_per_device"),
    ("goodput_requests_per_s", "/goodput/requests_per_s"),
    ("slo_attainment", "/goodput/attainment/all"),
    ("makespan_s", "/makespan_s"),
    ("iterations", "/engine/iterations"),
    ("preemptions", "/engine/preemptions"),
    ("mfu", "/engine/mfu"),
    ("mbu", "/engine/mbu"),
];

fn metric_cells(s: &Summary) -> Vec<String> {
    let v = serde_json::to_value(s).unwrap_or_default();
    METRICS
        .iter()
        .map(|(_, ptr)| match v.pointer(ptr) {
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(u) => u.to_string(),
                None => fmt_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            _ => String::new(),
        })
        .collect()
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Header of a sweep CSV for the given axes.
pub fn header(axes: &[Axis]) -> String {
    let mut cols = vec!["point".to_string()];
    cols.extend(axes.iter().map(|a| csv_escape(&a.key)));
    cols.push("trace".into());
    cols.extend(METRICS.iter().map(|m| m.0.to_string()));
    cols.join(",")
}

/// Rows already present in `path` (final or partial), keyed by (point, trace).
fn read_rows(path: &Path, header: &str) -> Result<BTreeMap<(usize, String), String>> {
    let mut out = BTreeMap::new();
    if !path.exists() {
        return Ok(out);
    }
    let mut text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    // A row cut short by a hard stop (second Ctrl-C, kill) has no newline yet: drop it, the
    // point reruns.
    if !text.ends_with('\n') {
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    }
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h == header => {}
        Some(_) => {
            return Err(Error::input(
                path.display().to_string(),
                "line 1: the header does not match this sweep's grid; use another --out or delete the file",
            ))
        }
        None => return Ok(out),
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    for (i, rec) in rdr.records().enumerate().skip(1) {
        let rec = rec.map_err(|e| Error::input(path.display().to_string(), format!("line {}: {e}", i + 1)))?;
        let point: usize = rec
            .get(0)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::input(path.display().to_string(), format!("line {}: bad point index", i + 1)))?;
        let n = rec.len();
        let trace_col = n
            .checked_sub(METRICS.len() + 1)
            .ok_or_else(|| Error::input(path.display().to_string(), format!("line {}: {n} fields, fewer than the header's", i + 1)))?;
        let trace = rec.get(trace_col).unwrap_or("").to_string();
        let line = text.lines().nth(i).unwrap_or("").to_string();
        out.insert((point, trace), line);
    }
    Ok(out)
}

fn write_final(path: &Path, header: &str, rows: &BTreeMap<(usize, String), String>) -> Result<()> {
    let mut text = String::with_capacity(256 * (rows.len() + 1));
    text.push_str(header);
    text.push('\n');
    for line in rows.values() {
        text.push_str(line);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// What a sweep should do.
pub struct SweepSpec {
    pub config: Option<PathBuf>,
    pub base_overrides: Vec<String>,
    /// `--plugin KIND=NAME` selections, applied to every point after its overrides.
    pub plugin_overrides: Vec<crate::config::PluginOverride>,
    pub axes: Vec<Axis>,
    pub out: PathBuf,
    pub jobs: Option<usize>,
    pub shard: Option<(usize, usize)>,
    pub workspace: Option<PathBuf>,
    /// Write each run's result files too (off by default: the CSV is the product).
    pub keep_runs: bool,
}

/// Outcome of [`run`].
pub struct SweepReport {
    pub points: usize,
    pub ran: usize,
    pub skipped: usize,
    pub rows: usize,
    pub interrupted: bool,
}

/// Run a sweep.
pub fn run(spec: &SweepSpec) -> Result<SweepReport> {
    let header = header(&spec.axes);
    let partial = spec.out.with_extension("csv.partial");
    let mut done = read_rows(&spec.out, &header)?;
    done.extend(read_rows(&partial, &header)?);
    let all = points(&spec.axes);
    let mine: Vec<&(usize, Vec<String>)> = all.iter().filter(|(i, _)| spec.shard.is_none_or(|(s, n)| i % n == s)).collect();
    // Validate every point's config up front, so a typo fails before hours of simulation.
    let mut todo = Vec::new();
    let mut skipped = 0;
    for (i, vals) in &mine {
        let mut ov = spec.base_overrides.clone();
        ov.extend(spec.axes.iter().zip(vals).map(|(a, v)| format!("{}={v}", a.key)));
        let mut exp = config::load(spec.config.as_deref(), &ov)?;
        config::apply_plugin_overrides(&mut exp, &spec.plugin_overrides);
        let ws = Workspace::new(spec.workspace.clone().or_else(|| exp.workspace.clone()).unwrap_or_else(|| PathBuf::from("workspace")));
        for src in crate::workload::source::sources(&exp, &ws, &[], &[], &[], &[])? {
            let name = src.name();
            if done.contains_key(&(*i, name.clone())) {
                skipped += 1;
            } else {
                todo.push((*i, vals.clone(), exp.clone(), ws.clone(), src, name));
            }
        }
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    let sink =
        Mutex::new((std::fs::OpenOptions::new().create(true).append(true).open(&partial).map_err(|e| Error::io(&partial, e))?, Vec::new()));
    {
        let mut g = sink.lock().expect("not poisoned");
        if g.0.metadata().map(|m| m.len() == 0).unwrap_or(true) {
            writeln!(g.0, "{header}").map_err(|e| Error::io(&partial, e))?;
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(spec.jobs.unwrap_or(0)).build().map_err(|e| Error::Internal(e.to_string()))?;
    let results: Vec<Result<()>> = pool.install(|| {
        todo.par_iter()
            .map(|(i, vals, exp, ws, src, name)| {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let summary = if spec.keep_runs {
                    stages::run_source(exp, ws, src, crate::report::Timeline::Auto)?.summary
                } else {
                    stages::summarize_source(exp, src)?
                };
                let mut cells = vec![i.to_string()];
                cells.extend(vals.iter().map(|v| csv_escape(v)));
                cells.push(csv_escape(name));
                cells.extend(metric_cells(&summary));
                let line = cells.join(",");
                let mut g = sink.lock().expect("not poisoned");
                writeln!(g.0, "{line}").and_then(|_| g.0.flush()).map_err(|e| Error::io(&partial, e))?;
                g.1.push(((*i, name.clone()), line));
                Ok(())
            })
            .collect()
    });
    let (_, new_rows) = sink.into_inner().expect("not poisoned");
    let ran = new_rows.len();
    done.extend(new_rows);
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    if !interrupted {
        write_final(&spec.out, &header, &done)?;
        let _ = std::fs::remove_file(&partial);
    }
    Ok(SweepReport { points: mine.len(), ran, skipped, rows: done.len(), interrupted })
}

/// Merge sweep CSVs (e.g. shard outputs) into one, sorted by point, duplicates dropped.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<usize> {
    let first = inputs.first().ok_or_else(|| Error::Usage("sweep merge: give at least one input CSV".into()))?;
    let text = std::fs::read_to_string(first).map_err(|e| Error::io(first, e))?;
    let header = text.lines().next().unwrap_or("").to_string();
    if !header.starts_with("point,") {
        return Err(Error::input(first.display().to_string(), "line 1: not a sweep CSV (expected a header starting with `point,`)"));
    }
    let mut rows = BTreeMap::new();
    for p in inputs {
        rows.extend(read_rows(p, &header)?);
    }
    write_final(out, &header, &rows)?;
    Ok(rows.len())
}

/// Capacity search: the highest request rate whose run meets the SLO percentiles.
pub struct CapacitySpec {
    pub task: crate::workload::azure::Task,
    pub requests: u64,
    pub ttft_p99_s: Option<f64>,
    pub tbt_p99_s: Option<f64>,
    pub lo: f64,
    pub hi: f64,
    /// Relative tolerance of the bisection.
    pub tol: f64,
}

/// One probe of the capacity search.
#[derive(Debug, Clone)]
pub struct Probe {
    pub rate: f64,
    pub ok: bool,
    pub ttft_p99_s: f64,
    pub tbt_p99_s: f64,
}

/// Find the highest rate in `[lo, hi]` meeting the SLOs (doubling from `lo`, then bisection).
pub fn capacity(exp: &config::Experiment, spec: &CapacitySpec) -> Result<(Option<f64>, Vec<Probe>)> {
    let mut probes = Vec::new();
    let mut probe = |rate: f64| -> Result<bool> {
        let reqs = crate::workload::generate::generate(spec.task, rate, spec.requests, f64::INFINITY, exp.trace_gen.seed)?;
        let s = stages::summarize_requests(exp, &format!("rr_{}_{}", spec.task.name(), crate::output::fmt_rate(rate)), &reqs)?;
        let ok = s.requests.completed == s.requests.total
            && spec.ttft_p99_s.is_none_or(|t| s.ttft_s.p99 <= t)
            && spec.tbt_p99_s.is_none_or(|t| s.tbt_s.p99 <= t);
        probes.push(Probe { rate, ok, ttft_p99_s: s.ttft_s.p99, tbt_p99_s: s.tbt_s.p99 });
        Ok(ok)
    };
    if !probe(spec.lo)? {
        return Ok((None, probes));
    }
    let (mut good, mut bad) = (spec.lo, None);
    while bad.is_none() && good < spec.hi {
        let next = (good * 2.0).min(spec.hi);
        if probe(next)? {
            good = next;
        } else {
            bad = Some(next);
        }
    }
    if let Some(mut b) = bad {
        while (b - good) / good > spec.tol {
            let mid = 0.5 * (good + b);
            if probe(mid)? {
                good = mid;
            } else {
                b = mid;
            }
        }
    }
    Ok((Some(good), probes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_and_shards() {
        let axes = vec![parse_axis("a=1,2").unwrap(), parse_axis("b=x,y,z").unwrap()];
        let p = points(&axes);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0].1, vec!["1", "x"]);
        assert_eq!(p[5].1, vec!["2", "z"]);
        assert_eq!(parse_shard("1/3").unwrap(), (1, 3));
        assert!(parse_shard("3/3").is_err());
        assert!(parse_axis("novalues=").is_err());
    }
}
