//! What a user reads after a run: the per-run files (`requests.csv`, `iterations.csv`,
//! `trace.json`), SVG pictures, comparison reports over several runs, and a progress bar.
//!
//! A *run directory* is a folder holding one simulation's `summary.json`, `sim_results.csv`,
//! `requests.csv` and `iterations.csv` (what `sim` writes per trace). File formats and metric
//! definitions: `docs/outputs.md`.

pub mod files;
pub mod plot;
pub mod progress;

pub use files::{write_timeline, Timeline};
pub use plot::plot;
pub use progress::Progress;

use crate::error::{Error, Result};
use crate::metrics::Summary;
use crate::output::fmt_f64;
use std::path::{Path, PathBuf};

/// One loaded run directory.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub summary: Summary,
    /// Short name distinguishing it from the other runs loaded with it.
    pub label: String,
}

/// Read a run directory's `summary.json`.
pub fn load_summary(dir: &Path) -> Result<Summary> {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| Error::input(p.display().to_string(), format!("not a ReaLLM summary: {e}")))
}

/// Load several run directories and give each a distinguishing label: the trace name when
/// all runs share one system, the system name when all share one trace, else both.
pub fn load_runs(dirs: &[PathBuf]) -> Result<Vec<RunData>> {
    if dirs.is_empty() {
        return Err(Error::Usage("no run directory given".into()));
    }
    let mut runs = Vec::with_capacity(dirs.len());
    for d in dirs {
        runs.push(RunData { dir: d.clone(), summary: load_summary(d)?, label: String::new() });
    }
    let dir_name = |d: &Path| {
        let c: Vec<String> = d.components().rev().take(2).map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
        c.into_iter().rev().collect::<Vec<_>>().join("/")
    };
    let same = |f: &dyn Fn(&RunData) -> &str| runs.iter().all(|r| f(r) == f(&runs[0]));
    let same_system = same(&|r| r.summary.run.system.as_str());
    let same_trace = same(&|r| r.summary.run.trace.as_str());
    let labels: Vec<String> = runs
        .iter()
        .map(|r| {
            let (sys, trace) = (&r.summary.run.system, &r.summary.run.trace);
            if sys.is_empty() && trace.is_empty() {
                dir_name(&r.dir)
            } else if runs.len() == 1 || (same_system && !trace.is_empty()) {
                if trace.is_empty() {
                    sys.clone()
                } else {
                    trace.clone()
                }
            } else if same_trace && !sys.is_empty() {
                sys.clone()
            } else {
                format!("{sys} {trace}").trim().to_string()
            }
        })
        .collect();
    for (i, r) in runs.iter_mut().enumerate() {
        let dup = labels.iter().filter(|l| **l == labels[i]).count() > 1;
        r.label = if dup { format!("{} ({})", labels[i], dir_name(&r.dir)) } else { labels[i].clone() };
    }
    Ok(runs)
}

/// Output format of [`report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned plain text.
    Table,
    Markdown,
    /// Full-precision values in the row's unit.
    Csv,
    /// One self-contained HTML file: the table and the pictures as inline SVG.
    Html,
}

impl ReportFormat {
    /// Parse `table`, `markdown`/`md`, `csv`, `html`.
    pub fn parse(s: &str) -> Option<ReportFormat> {
        Some(match s.to_ascii_lowercase().as_str() {
            "table" | "text" | "txt" => ReportFormat::Table,
            "markdown" | "md" => ReportFormat::Markdown,
            "csv" => ReportFormat::Csv,
            "html" => ReportFormat::Html,
            _ => return None,
        })
    }
}

/// A row of the comparison table: a text fact or a number in `unit`.
enum Cell {
    Text(String),
    Num(Option<f64>),
}

type Getter = fn(&Summary) -> Option<f64>;

/// The numeric rows: (metric, unit, value in that unit).
const ROWS: &[(&str, &str, Getter)] = &[
    ("requests completed", "", |s| Some(s.requests.completed as f64)),
    ("requests total", "", |s| Some(s.requests.total as f64)),
    ("makespan", "s", |s| Some(s.makespan_s)),
    ("TTFT mean", "ms", |s| Some(s.ttft_s.mean * 1e3)),
    ("TTFT p50", "ms", |s| Some(s.ttft_s.p50 * 1e3)),
    ("TTFT p90", "ms", |s| Some(s.ttft_s.p90 * 1e3)),
    ("TTFT p99", "ms", |s| Some(s.ttft_s.p99 * 1e3)),
    ("TBT mean", "ms", |s| Some(s.tbt_s.mean * 1e3)),
    ("TBT p50", "ms", |s| Some(s.tbt_s.p50 * 1e3)),
    ("TBT p99", "ms", |s| Some(s.tbt_s.p99 * 1e3)),
    ("TPOT mean", "ms", |s| Some(s.tpot_s.mean * 1e3)),
    ("TPOT p99", "ms", |s| Some(s.tpot_s.p99 * 1e3)),
    ("E2E mean", "s", |s| Some(s.e2e_s.mean)),
    ("E2E p50", "s", |s| Some(s.e2e_s.p50)),
    ("E2E p99", "s", |s| Some(s.e2e_s.p99)),
    ("normalised latency mean", "ms/token", |s| Some(s.normalized_latency_s_per_token.mean * 1e3)),
    ("queueing mean", "ms", |s| Some(s.queueing_s.mean * 1e3)),
    ("queueing p99", "ms", |s| Some(s.queueing_s.p99 * 1e3)),
    ("prefill time mean", "ms", |s| Some(s.prefill_s.mean * 1e3)),
    ("decode time mean", "s", |s| Some(s.decode_s.mean)),
    ("KV transfer mean", "ms", |s| (s.kv_transfer_s.count > 0).then_some(s.kv_transfer_s.mean * 1e3)),
    ("throughput", "req/s", |s| Some(s.throughput.requests_per_s)),
    ("input throughput", "tok/s", |s| Some(s.throughput.input_tokens_per_s)),
    ("output throughput", "tok/s", |s| Some(s.throughput.output_tokens_per_s)),
    ("output throughput per device", "tok/s", |s| Some(s.throughput.output_tokens_per_s_per_device)),
    ("goodput", "req/s", |s| Some(s.goodput.requests_per_s)),
    ("SLO attainment", "%", |s| Some(s.goodput.attainment.all * 100.0)),
    ("MFU", "%", |s| Some(s.engine.mfu * 100.0)),
    ("MBU", "%", |s| Some(s.engine.mbu * 100.0)),
    ("communication share", "%", |s| Some(s.engine.comm_fraction * 100.0)),
    ("mean batch", "seqs", |s| Some(s.engine.mean_batch_seqs)),
    ("mean tokens per iteration", "tok", |s| Some(s.engine.mean_tokens_per_iteration)),
    ("iterations", "", |s| Some(s.engine.iterations as f64)),
    ("preemptions", "", |s| Some(s.engine.preemptions as f64)),
    ("KV peak use", "%", |s| Some(s.engine.kv_peak_used_fraction * 100.0)),
];

fn table_rows(runs: &[RunData]) -> Vec<(String, String, Vec<Cell>)> {
    let text = |name: &str, f: &dyn Fn(&Summary) -> String| {
        (name.to_string(), String::new(), runs.iter().map(|r| Cell::Text(f(&r.summary))).collect::<Vec<_>>())
    };
    let mut rows = vec![
        text("trace", &|s| s.run.trace.clone()),
        text("system", &|s| s.run.system.clone()),
        text("model", &|s| s.run.model.clone()),
        text("backend", &|s| s.run.backend.clone()),
        ("request rate".into(), "req/s".into(), runs.iter().map(|r| Cell::Num(plot::run_rate(r))).collect()),
        ("devices".into(), String::new(), runs.iter().map(|r| Cell::Num(Some(r.summary.run.devices as f64))).collect()),
    ];
    for (name, unit, get) in ROWS {
        rows.push((name.to_string(), unit.to_string(), runs.iter().map(|r| Cell::Num(get(&r.summary))).collect()));
    }
    rows
}

/// A number for reading: about four significant digits.
pub fn fmt_display(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "-".into()
    } else if x == 0.0 {
        "0".into()
    } else if x.fract() == 0.0 && a < 1e15 {
        format!("{}", x as i64)
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 1e-3 {
        // Four significant digits, trailing zeros dropped.
        let decimals = if a >= 100.0 {
            1
        } else if a >= 10.0 {
            2
        } else if a >= 1.0 {
            3
        } else {
            4
        };
        format!("{x:.decimals$}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.3e}")
    }
}

fn cell_text(c: &Cell, full: bool) -> String {
    match c {
        Cell::Text(t) => t.clone(),
        Cell::Num(None) => {
            if full {
                String::new()
            } else {
                "-".into()
            }
        }
        Cell::Num(Some(x)) => {
            if full {
                fmt_f64(*x)
            } else {
                fmt_display(*x)
            }
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A comparison of the runs in `run_dirs`, one column per run.
pub fn report(run_dirs: &[PathBuf], format: ReportFormat) -> Result<String> {
    let runs = load_runs(run_dirs)?;
    let rows = table_rows(&runs);
    let metric = |name: &str, unit: &str| if unit.is_empty() { name.to_string() } else { format!("{name} ({unit})") };
    let mut out = String::new();
    match format {
        ReportFormat::Table => {
            let first_w = rows.iter().map(|(n, u, _)| metric(n, u).chars().count()).max().unwrap_or(6).max(6);
            let cells: Vec<Vec<String>> = rows.iter().map(|(_, _, c)| c.iter().map(|c| cell_text(c, false)).collect()).collect();
            let widths: Vec<usize> = (0..runs.len())
                .map(|j| cells.iter().map(|r| r[j].chars().count()).chain([runs[j].label.chars().count()]).max().unwrap_or(1))
                .collect();
            out.push_str(&format!("{:<first_w$}", "metric"));
            for (r, w) in runs.iter().zip(&widths) {
                out.push_str(&format!("  {:>w$}", r.label));
            }
            out.push('\n');
            for ((n, u, _), c) in rows.iter().zip(&cells) {
                out.push_str(&format!("{:<first_w$}", metric(n, u)));
                for (v, w) in c.iter().zip(&widths) {
                    out.push_str(&format!("  {v:>w$}"));
                }
                out.push('\n');
            }
        }
        ReportFormat::Markdown => {
            let md = |s: &str| s.replace('|', "\\|");
            out.push_str("| metric |");
            for r in &runs {
                out.push_str(&format!(" {} |", md(&r.label)));
            }
            out.push_str("\n|---|");
            out.push_str(&"---:|".repeat(runs.len()));
            out.push('\n');
            for (n, u, c) in &rows {
                out.push_str(&format!("| {} |", md(&metric(n, u))));
                for v in c {
                    out.push_str(&format!(" {} |", md(&cell_text(v, false))));
                }
                out.push('\n');
            }
        }
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let io = |e: csv::Error| Error::Internal(format!("writing CSV report: {e}"));
            let mut header = vec!["metric".to_string(), "unit".to_string()];
            header.extend(runs.iter().map(|r| r.label.clone()));
            w.write_record(&header).map_err(io)?;
            for (n, u, c) in &rows {
                let mut rec = vec![n.clone(), u.clone()];
                rec.extend(c.iter().map(|v| cell_text(v, true)));
                w.write_record(&rec).map_err(io)?;
            }
            let bytes = w.into_inner().map_err(|e| Error::Internal(format!("writing CSV report: {e}")))?;
            out = String::from_utf8_lossy(&bytes).to_string();
        }
        ReportFormat::Html => {
            out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ReaLLM report</title>\n<style>\n");
            out.push_str(
                "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
                 th,td{border:1px solid #ccc;padding:.25em .6em}td.n{text-align:right;font-variant-numeric:tabular-nums}\
                 tr:nth-child(even){background:#f6f6f6}figure{margin:1.5em 0}svg{max-width:100%;height:auto}\n",
            );
            out.push_str("</style>\n</head>\n<body>\n<h1>ReaLLM report</h1>\n<table>\n<tr><th>metric</th>");
            for r in &runs {
                out.push_str(&format!("<th>{}</th>", html_escape(&r.label)));
            }
            out.push_str("</tr>\n");
            for (n, u, c) in &rows {
                out.push_str(&format!("<tr><td>{}</td>", html_escape(&metric(n, u))));
                for v in c {
                    let class = if matches!(v, Cell::Num(_)) { " class=\"n\"" } else { "" };
                    out.push_str(&format!("<td{class}>{}</td>", html_escape(&cell_text(v, false))));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
            for c in plot::charts(&runs)? {
                let svg = plot::render_svg(&c)?;
                let svg = match svg.find("<svg") {
                    Some(i) => &svg[i..],
                    None => &svg[..],
                };
                out.push_str(&format!("<figure>\n<figcaption>{}</figcaption>\n{}\n</figure>\n", html_escape(&c.title), svg.trim_end()));
            }
            out.push_str("</body>\n</html>\n");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_numbers() {
        assert_eq!(fmt_display(0.0), "0");
        assert_eq!(fmt_display(3.0), "3");
        assert_eq!(fmt_display(1234.56), "1235");
        assert_eq!(fmt_display(12.3456), "12.35");
        assert_eq!(fmt_display(0.125), "0.125");
        assert_eq!(fmt_display(9.92083), "9.921");
        assert_eq!(fmt_display(16.30), "16.3");
        assert_eq!(fmt_display(0.00001234), "1.234e-5");
        assert_eq!(fmt_display(f64::NAN), "-");
        assert_eq!(ReportFormat::parse("MD"), Some(ReportFormat::Markdown));
        assert_eq!(ReportFormat::parse("pdf"), None);
    }
}
