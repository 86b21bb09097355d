//! SVG pictures of one or several runs (plotters' SVG backend, no Python): TTFT and TBT CDFs
//! (also on a log axis), batch size and KV usage over time; for a request-rate sweep, latency
//! percentiles and throughput against the rate; for a concurrency sweep, TTFT and TPOT against
//! the concurrency and the throughput–interactivity curve (output tokens/s per GPU against
//! output tokens/s per user). Several runs are overlaid, one series per run (or per group of
//! runs of one system in a sweep).

use super::RunData;
use crate::error::{Error, Result};
use crate::metrics::{rate_from_trace_name, Summary};
use crate::output::write_atomic;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    UpperLeft,
    LowerRight,
}

/// One picture: its file name, title, axis descriptions and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name, e.g. `ttft_cdf.svg`.
    pub file: String,
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// Draw a marker at every point (sparse series such as rate sweeps).
    pub markers: bool,
    pub legend: Legend,
    /// Draw the x axis on a log scale (latency CDFs spanning decades); non-positive x values
    /// are left out.
    pub log_x: bool,
}

/// Load the runs in `run_dirs`, draw every applicable chart, write them as SVG files into
/// `out_dir` (created if missing). Returns the files written.
pub fn plot(run_dirs: &[PathBuf], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let runs = super::load_runs(run_dirs)?;
    let mut out = Vec::new();
    for c in charts(&runs)? {
        let svg = render_svg(&c)?;
        let p = out_dir.join(&c.file);
        write_atomic(&p, svg.as_bytes())?;
        out.push(p);
    }
    Ok(out)
}

/// Every chart the runs support (a chart with no data is left out).
pub fn charts(runs: &[RunData]) -> Result<Vec<Chart>> {
    let mut v = Vec::new();
    let mut ttft = Vec::new();
    let mut tbt = Vec::new();
    let mut e2e = Vec::new();
    let mut batch = Vec::new();
    let mut kv = Vec::new();
    for r in runs {
        let mut a = CdfAcc::default();
        for x in read_column(&r.dir.join(super::files::REQUESTS_CSV), "ttft_s")? {
            a.push(x * 1e3);
        }
        ttft.push(Series { name: r.label.clone(), points: a.points(1000) });
        let mut a = CdfAcc::default();
        for x in read_column(&r.dir.join(super::files::REQUESTS_CSV), "e2e_s")? {
            a.push(x * 1e3);
        }
        e2e.push(Series { name: r.label.clone(), points: a.points(1000) });
        tbt.push(Series { name: r.label.clone(), points: tbt_cdf(&r.dir.join("sim_results.csv"))?.points(1000) });
        let (b, k) = time_series(&r.dir.join(super::files::ITERATIONS_CSV), &r.summary, 400)?;
        batch.push(Series { name: r.label.clone(), points: b });
        kv.push(Series { name: r.label.clone(), points: k });
    }
    let chart = |file: &str, title: &str, x: &str, y: &str, series: Vec<Series>, markers: bool, legend: Legend| Chart {
        file: file.into(),
        title: title.into(),
        x_desc: x.into(),
        y_desc: y.into(),
        series: series.into_iter().filter(|s| !s.points.is_empty()).collect(),
        markers,
        legend,
        log_x: false,
    };
    let log = |mut c: Chart| {
        c.log_x = true;
        c.series.iter_mut().for_each(|s| s.points.retain(|p| p.0 > 0.0));
        c.series.retain(|s| !s.points.is_empty());
        c
    };
    v.push(log(chart(
        "ttft_cdf_log.svg",
        "TTFT CDF",
        "time to first token (ms, log scale)",
        "fraction of requests",
        ttft.clone(),
        false,
        Legend::UpperLeft,
    )));
    v.push(log(chart(
        "itl_cdf_log.svg",
        "ITL (TBT) CDF",
        "inter-token latency (ms, log scale)",
        "fraction of token gaps",
        tbt.clone(),
        false,
        Legend::UpperLeft,
    )));
    v.push(log(chart(
        "e2e_cdf_log.svg",
        "E2E latency CDF",
        "end-to-end latency (ms, log scale)",
        "fraction of requests",
        e2e,
        false,
        Legend::UpperLeft,
    )));
    v.push(chart("ttft_cdf.svg", "TTFT CDF", "time to first token (ms)", "fraction of requests", ttft, false, Legend::LowerRight));
    v.push(chart("tbt_cdf.svg", "TBT CDF", "time between tokens (ms)", "fraction of token gaps", tbt, false, Legend::LowerRight));
    v.push(chart(
        "batch_size.svg",
        "Batch size over time",
        "simulated time (s)",
        "sequences per iteration",
        batch,
        false,
        Legend::UpperLeft,
    ));
    v.push(chart("kv_usage.svg", "KV-cache usage over time", "simulated time (s)", "KV blocks used (%)", kv, false, Legend::UpperLeft));

    // Rate sweep: groups of runs that differ only in their rate.
    let groups = sweep_groups(runs);
    if !groups.is_empty() {
        let one = groups.len() == 1;
        let name = |g: &str, m: &str| if one { m.to_string() } else { format!("{g}: {m}") };
        let (mut ttft_r, mut tbt_r, mut e2e_r, mut thr_r, mut tok_r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (g, pts) in &groups {
            let line =
                |m: &str, f: &dyn Fn(&Summary) -> f64| Series { name: name(g, m), points: pts.iter().map(|(r, s)| (*r, f(s))).collect() };
            ttft_r.push(line("TTFT p50", &|s| s.ttft_s.p50 * 1e3));
            ttft_r.push(line("TTFT p99", &|s| s.ttft_s.p99 * 1e3));
            tbt_r.push(line("TBT p50", &|s| s.tbt_s.p50 * 1e3));
            tbt_r.push(line("TBT p99", &|s| s.tbt_s.p99 * 1e3));
            e2e_r.push(line("E2E p50", &|s| s.e2e_s.p50));
            e2e_r.push(line("E2E p99", &|s| s.e2e_s.p99));
            thr_r.push(line("throughput", &|s| s.throughput.requests_per_s));
            thr_r.push(line("goodput", &|s| s.goodput.requests_per_s));
            tok_r.push(line("output tokens/s", &|s| s.throughput.output_tokens_per_s));
            tok_r.push(line("input tokens/s", &|s| s.throughput.input_tokens_per_s));
        }
        let rate = "request rate (requests/s)";
        v.push(chart("ttft_vs_rate.svg", "TTFT vs request rate", rate, "TTFT (ms)", ttft_r, true, Legend::UpperLeft));
        v.push(chart("tbt_vs_rate.svg", "TBT vs request rate", rate, "TBT (ms)", tbt_r, true, Legend::UpperLeft));
        v.push(chart("e2e_vs_rate.svg", "E2E latency vs request rate", rate, "E2E (s)", e2e_r, true, Legend::UpperLeft));
        v.push(chart(
            "throughput_vs_rate.svg",
            "Throughput and goodput vs request rate",
            rate,
            "requests/s",
            thr_r,
            true,
            Legend::UpperLeft,
        ));
        v.push(chart("tokens_vs_rate.svg", "Token throughput vs request rate", rate, "tokens/s", tok_r, true, Legend::UpperLeft));
    }
    // Concurrency sweep: groups of runs that differ only in their client count.
    let groups = concurrency_groups(runs);
    if !groups.is_empty() {
        let one = groups.len() == 1;
        let name = |g: &str, m: &str| if one { m.to_string() } else { format!("{g}: {m}") };
        let (mut ttft_c, mut tpot_c, mut curve) = (Vec::new(), Vec::new(), Vec::new());
        for (g, pts) in &groups {
            let line =
                |m: &str, f: &dyn Fn(&Summary) -> f64| Series { name: name(g, m), points: pts.iter().map(|(c, s)| (*c, f(s))).collect() };
            ttft_c.push(line("TTFT mean", &|s| s.ttft_s.mean * 1e3));
            ttft_c.push(line("TTFT p50", &|s| s.ttft_s.p50 * 1e3));
            ttft_c.push(line("TTFT p99", &|s| s.ttft_s.p99 * 1e3));
            tpot_c.push(line("TPOT mean", &|s| s.tpot_s.mean * 1e3));
            tpot_c.push(line("TPOT p50", &|s| s.tpot_s.p50 * 1e3));
            tpot_c.push(line("TPOT p99", &|s| s.tpot_s.p99 * 1e3));
            curve.push(Series {
                name: if one { "output tokens/s".to_string() } else { g.clone() },
                points: pts
                    .iter()
                    .map(|(_, s)| (s.output_tokens_per_s_per_user.p50, s.throughput.output_tokens_per_s_per_device))
                    .collect(),
            });
        }
        let conc = "concurrency (clients)";
        v.push(chart("ttft_vs_concurrency.svg", "TTFT vs concurrency", conc, "TTFT (ms)", ttft_c, true, Legend::UpperLeft));
        v.push(chart("tpot_vs_concurrency.svg", "TPOT vs concurrency", conc, "TPOT (ms)", tpot_c, true, Legend::UpperLeft));
        v.push(chart(
            "throughput_vs_interactivity.svg",
            "Throughput per GPU vs tokens/s per user",
            "output tokens/s per user (median of 1 / TPOT)",
            "output tokens/s per GPU",
            curve,
            true,
            Legend::UpperLeft,
        ));
    }
    v.retain(|c| !c.series.is_empty());
    Ok(v)
}

/// The client count of a closed-loop run: `summary.run.concurrency`, else a `_c{N}` suffix of
/// the run's name.
pub fn run_concurrency(r: &RunData) -> Option<u32> {
    r.summary.run.concurrency.or_else(|| {
        let (_, n) = r.summary.run.trace.rsplit_once("_c")?;
        n.parse().ok().filter(|&c: &u32| c > 0)
    })
}

/// Closed-loop runs grouped by everything but the client count (system, model, backend, the
/// lengths' source); only groups with at least two distinct counts, each sorted by count.
fn concurrency_groups(runs: &[RunData]) -> Vec<(String, Vec<(f64, Summary)>)> {
    let mut g: BTreeMap<String, Vec<(f64, Summary)>> = BTreeMap::new();
    for r in runs {
        let Some(c) = run_concurrency(r) else { continue };
        let s = &r.summary.run;
        let lengths = s.trace.rsplit_once("_c").map(|(l, _)| l).unwrap_or("");
        let key = [s.system.as_str(), s.model.as_str(), s.backend.as_str(), lengths]
            .iter()
            .filter(|x| !x.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        g.entry(key).or_default().push((c as f64, r.summary.clone()));
    }
    g.into_iter()
        .filter_map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v.dedup_by(|a, b| a.0 == b.0);
            (v.len() >= 2).then_some((if k.is_empty() { "runs".into() } else { k }, v))
        })
        .collect()
}

/// The request rate of a run: `summary.run.request_rate`, else parsed from the trace name or
/// from a folder name `rr_{task}_{rate}` on the run's path.
pub fn run_rate(r: &RunData) -> Option<f64> {
    r.summary
        .run
        .request_rate
        .or_else(|| rate_from_trace_name(&r.summary.run.trace))
        .or_else(|| r.dir.components().rev().find_map(|c| rate_from_trace_name(&c.as_os_str().to_string_lossy())))
}

/// Runs with a rate grouped by everything but the rate (system, model, backend, task); only
/// groups with at least two distinct rates, each sorted by rate.
fn sweep_groups(runs: &[RunData]) -> Vec<(String, Vec<(f64, Summary)>)> {
    let mut g: BTreeMap<String, Vec<(f64, Summary)>> = BTreeMap::new();
    for r in runs {
        let Some(rate) = run_rate(r) else { continue };
        let s = &r.summary.run;
        let task = s.trace.strip_prefix("rr_").and_then(|t| t.split_once('_')).map(|(t, _)| t).unwrap_or("");
        let key = [s.system.as_str(), s.model.as_str(), s.backend.as_str(), task]
            .iter()
            .filter(|x| !x.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        g.entry(key).or_default().push((rate, r.summary.clone()));
    }
    g.into_iter()
        .filter_map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v.dedup_by(|a, b| a.0 == b.0);
            (v.len() >= 2).then_some((if k.is_empty() { "runs".into() } else { k }, v))
        })
        .collect()
}

/// An empirical CDF, exact up to `EXACT_LIMIT` values, then a log-binned histogram (200 bins
/// per decade from 1e-7, a relative resolution of 1.2 %) so that memory stays bounded.
#[derive(Debug, Default)]
pub struct CdfAcc {
    exact: Vec<f64>,
    hist: Option<Vec<u64>>,
    n: u64,
}

const EXACT_LIMIT: usize = 1 << 22;
const HIST_LO: f64 = 1e-7;
const HIST_PER_DECADE: f64 = 200.0;
const HIST_BINS: usize = 16 * 200 + 2;

impl CdfAcc {
    fn bin(x: f64) -> usize {
        if x.is_nan() || x <= HIST_LO {
            0
        } else {
            (((x / HIST_LO).log10() * HIST_PER_DECADE).floor() as usize + 1).min(HIST_BINS - 1)
        }
    }

    /// Add one value.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        match &mut self.hist {
            Some(h) => h[Self::bin(x)] += 1,
            None => {
                self.exact.push(x);
                if self.exact.len() > EXACT_LIMIT {
                    let mut h = vec![0u64; HIST_BINS];
                    for &v in &self.exact {
                        h[Self::bin(v)] += 1;
                    }
                    self.exact = Vec::new();
                    self.hist = Some(h);
                }
            }
        }
    }

    /// At most about `max_points` points `(value, fraction ≤ value)`.
    pub fn points(mut self, max_points: usize) -> Vec<(f64, f64)> {
        let n = self.n as f64;
        if let Some(h) = self.hist {
            let mut cum = 0u64;
            let mut v = Vec::new();
            for (b, &c) in h.iter().enumerate() {
                if c > 0 {
                    cum += c;
                    let upper = if b == 0 { HIST_LO } else { HIST_LO * 10f64.powf(b as f64 / HIST_PER_DECADE) };
                    v.push((upper, cum as f64 / n));
                }
            }
            return v;
        }
        let x = &mut self.exact;
        x.retain(|v| v.is_finite());
        x.sort_by(f64::total_cmp);
        let len = x.len();
        if len == 0 {
            return Vec::new();
        }
        let step = len.div_ceil(max_points.max(1));
        let mut v: Vec<(f64, f64)> = (1..=len).filter(|k| k % step == 0 || *k == len).map(|k| (x[k - 1], k as f64 / len as f64)).collect();
        v.insert(0, (x[0], 0.0));
        v
    }
}

/// CDF of every token gap (ms) from `sim_results.csv` (`id,arrival,t1,t2,…` per request).
fn tbt_cdf(path: &Path) -> Result<CdfAcc> {
    let mut a = CdfAcc::default();
    let mut rd = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_path(path).map_err(|e| csv_err(path, e))?;
    let mut rec = csv::StringRecord::new();
    while rd.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        let mut prev: Option<f64> = None;
        for f in rec.iter().skip(2) {
            let t: f64 = f.trim().parse().map_err(|_| Error::input(path.display().to_string(), format!("`{f}` is not a time")))?;
            if let Some(p) = prev {
                a.push((t - p) * 1e3);
            }
            prev = Some(t);
        }
    }
    Ok(a)
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        k => Error::input(path.display().to_string(), format!("{k:?}")),
    }
}

/// The values of column `name` of a CSV file (empty fields skipped).
pub fn read_column(path: &Path, name: &str) -> Result<Vec<f64>> {
    let mut rd = csv::Reader::from_path(path).map_err(|e| csv_err(path, e))?;
    let idx = column(path, &mut rd, name)?;
    let mut v = Vec::new();
    let mut rec = csv::StringRecord::new();
    while rd.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        if let Some(f) = rec.get(idx).filter(|f| !f.is_empty()) {
            v.push(parse(path, f)?);
        }
    }
    Ok(v)
}

fn column(path: &Path, rd: &mut csv::Reader<std::fs::File>, name: &str) -> Result<usize> {
    let h = rd.headers().map_err(|e| csv_err(path, e))?;
    h.iter().position(|c| c == name).ok_or_else(|| Error::input(path.display().to_string(), format!("no column `{name}`")))
}

fn parse(path: &Path, f: &str) -> Result<f64> {
    f.parse().map_err(|_| Error::input(path.display().to_string(), format!("`{f}` is not a number")))
}

/// (x, y) points of a line.
type Points = Vec<(f64, f64)>;

/// Batch size (sequences per iteration) and KV usage (% of blocks) over time from
/// `iterations.csv`: iterations binned by start time into `bins` equal bins over
/// [0, end], each bin the mean over the iterations (all replicas) starting in it.
fn time_series(path: &Path, s: &Summary, bins: usize) -> Result<(Points, Points)> {
    let mut end = s.end_s;
    if end.is_nan() || end <= 0.0 {
        end = read_column(path, "start_s")?.into_iter().fold(0.0, f64::max);
    }
    let width = if end > 0.0 { end / bins as f64 } else { 1.0 };
    let mut acc = vec![(0u64, 0.0f64, 0.0f64); bins];
    let mut rd = csv::Reader::from_path(path).map_err(|e| csv_err(path, e))?;
    let (i_start, i_seqs, i_kv) =
        (column(path, &mut rd, "start_s")?, column(path, &mut rd, "seqs")?, column(path, &mut rd, "kv_used_fraction")?);
    let mut rec = csv::StringRecord::new();
    while rd.read_record(&mut rec).map_err(|e| csv_err(path, e))? {
        let get = |i: usize| parse(path, rec.get(i).unwrap_or(""));
        let t = get(i_start)?;
        let b = ((t / width).floor().max(0.0) as usize).min(bins - 1);
        acc[b].0 += 1;
        acc[b].1 += get(i_seqs)?;
        acc[b].2 += get(i_kv)?;
    }
    let mut batch = Vec::new();
    let mut kv = Vec::new();
    for (b, &(n, seqs, kvf)) in acc.iter().enumerate() {
        if n > 0 {
            let t = (b as f64 + 0.5) * width;
            batch.push((t, seqs / n as f64));
            kv.push((t, 100.0 * kvf / n as f64));
        }
    }
    Ok((batch, kv))
}

/// Tableau 10: distinct and readable on white.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn range(vals: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    if hi - lo <= 0.0 {
        let pad = if hi.abs() > 0.0 { hi.abs() * 0.5 } else { 1.0 };
        return (lo - pad, hi + pad);
    }
    (lo, hi + (hi - lo) * 0.05)
}

/// Render a chart as an SVG document.
pub fn render_svg(c: &Chart) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| Error::Internal(format!("drawing {}: {e}", c.file));
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (900, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let pts = || c.series.iter().flat_map(|s| s.points.iter());
        let (y0, y1) = range(pts().map(|p| p.1), true);
        let builder = || {
            let mut b = ChartBuilder::on(&root);
            b.caption(&c.title, ("sans-serif", 22)).margin(15).x_label_area_size(45).y_label_area_size(70);
            b
        };
        if c.log_x {
            let (x0, x1) = log_range(pts().map(|p| p.0));
            let mut chart = builder().build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(|e| err(&e))?;
            chart.configure_mesh().x_desc(c.x_desc.as_str()).y_desc(c.y_desc.as_str()).draw().map_err(|e| err(&e))?;
            draw_series(&mut chart, c, &err)?;
        } else {
            let (x0, x1) = range(pts().map(|p| p.0), false);
            let mut chart = builder().build_cartesian_2d(x0..x1, y0..y1).map_err(|e| err(&e))?;
            chart.configure_mesh().x_desc(c.x_desc.as_str()).y_desc(c.y_desc.as_str()).draw().map_err(|e| err(&e))?;
            draw_series(&mut chart, c, &err)?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

/// A positive range for a log axis: the positive values' span, padded by 10 % each way.
fn log_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    if hi <= lo {
        return (lo / 2.0, hi * 2.0);
    }
    (lo / 1.1, hi * 1.1)
}

/// Lines (and markers), legend.
fn draw_series<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    c: &Chart,
    err: &dyn Fn(&dyn std::fmt::Display) -> Error,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
    {
        for (i, s) in c.series.iter().enumerate() {
            let (r, g, b) = PALETTE[i % PALETTE.len()];
            let color = RGBColor(r, g, b).to_rgba();
            let style = ShapeStyle::from(color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(|e| err(&e))?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if c.markers {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(|e| err(&e))?;
            }
        }
        let pos = match c.legend {
            Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
            Legend::LowerRight => SeriesLabelPosition::LowerRight,
        };
        chart.configure_series_labels().position(pos).background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(|e| err(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_cdf_points() {
        let mut a = CdfAcc::default();
        for x in [3.0, 1.0, 2.0, 4.0] {
            a.push(x);
        }
        // Sorted 1, 2, 3, 4: F(1) = 0.25 … F(4) = 1, plus the starting point (1, 0).
        assert_eq!(a.points(10), vec![(1.0, 0.0), (1.0, 0.25), (2.0, 0.5), (3.0, 0.75), (4.0, 1.0)]);
        let mut b = CdfAcc::default();
        (1..=100).for_each(|i| b.push(i as f64));
        let p = b.points(10);
        // Every 10th rank: (10, 0.1), (20, 0.2), …, (100, 1).
        assert_eq!(p.len(), 11);
        assert_eq!(p[1], (10.0, 0.1));
        assert_eq!(*p.last().unwrap(), (100.0, 1.0));
    }

    #[test]
    fn histogram_bins_are_within_resolution() {
        // Bin upper edge of x lies in [x, x·10^(1/200)].
        for x in [1e-6, 3.3e-3, 0.25, 7.0] {
            let b = CdfAcc::bin(x);
            let upper = HIST_LO * 10f64.powf(b as f64 / HIST_PER_DECADE);
            assert!(upper >= x * (1.0 - 1e-12) && upper <= x * 10f64.powf(1.0 / HIST_PER_DECADE) * (1.0 + 1e-12), "{x} {upper}");
        }
    }

    #[test]
    fn ranges_pad_degenerate_data() {
        assert_eq!(range([2.0, 2.0].into_iter(), false), (1.0, 3.0));
        assert_eq!(range(std::iter::empty(), true), (0.0, 1.0));
        let (lo, hi) = range([1.0, 3.0].into_iter(), true);
        assert_eq!(lo, 0.0);
        assert!((hi - 3.15).abs() < 1e-12);
    }
}
