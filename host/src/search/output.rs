//! What a search writes: `search.csv` (one row per deployment × load level, with the frontier
//! marks), `pareto.svg`, the winner as a ready-to-run config (`best.yaml` + `best_trace.csv`),
//! and `search.json` (what was searched, the counts, the winner).

use super::config::Mode;
use super::load::{Load, Shape};
use super::metrics::LevelStats;
use super::pareto::frontier;
use super::space::{BatchChoice, Deployment, PoolChoice};
use crate::error::{Error, Result};
use crate::output::{fmt_f64, write_atomic};
use plotters::prelude::*;
use reallm_plugin_api::Degrees;
use reallm_sim::LengthDist;
use reallm_sim::Pool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The data columns of `search.csv` (the mark columns [`MARKS`] follow).
pub const COLUMNS: &[&str] = &[
    "deployment",
    "level",
    "label",
    "gpus",
    "mode",
    "replicas",
    "gpus_per_replica",
    "attention",
    "ffn",
    "decode_replicas",
    "decode_gpus_per_replica",
    "decode_attention",
    "decode_ffn",
    "prefill_decode_gpus",
    "batching",
    "max_batch_seqs",
    "max_batch_tokens",
    "chunk_tokens",
    "kv_dtype",
    "engine",
    "rate_req_s",
    "concurrency",
    "requests",
    "completed",
    "output_tok_s_per_gpu",
    "tok_s_per_user",
    "requests_per_s",
    "ttft_p50_s",
    "ttft_p90_s",
    "ttft_p99_s",
    "tpot_mean_s",
    "tpot_p50_s",
    "tpot_p90_s",
    "tpot_p99_s",
    "e2e_p50_s",
    "e2e_p90_s",
    "e2e_p99_s",
    "slo_attainment",
    "goodput_req_s",
    "goodput_req_s_per_gpu",
    "kv_capacity_tokens",
    "weights_gib_per_gpu",
    "kv_peak_used_fraction",
    "memory_headroom",
    "preemptions",
];

/// Mark columns: meets the SLO; on the frontier of throughput per GPU vs tokens/s per user
/// (every completed point); on that frontier among the points meeting the SLO; the winner
/// (highest goodput per GPU meeting the SLO).
pub const MARKS: &[&str] = &["meets_slo", "pareto", "pareto_slo", "best"];

/// The data header line (no marks), as in the `.partial` file.
pub fn data_header() -> String {
    COLUMNS.join(",")
}

/// The full header line of `search.csv`.
pub fn header() -> String {
    let mut h = data_header();
    for m in MARKS {
        h.push(',');
        h.push_str(m);
    }
    h
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).expect("a known column")
}

/// One row: its key, its data cells (as written), and the values the marks use.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub deployment: usize,
    pub level: usize,
    pub cells: Vec<String>,
}

impl Row {
    fn num(&self, name: &str) -> f64 {
        self.cells[col(name)].parse().unwrap_or(f64::NAN)
    }
    /// Output tokens/s per GPU.
    pub fn throughput_per_gpu(&self) -> f64 {
        self.num("output_tok_s_per_gpu")
    }
    /// Output tokens/s per user (1 / mean TPOT).
    pub fn tok_s_per_user(&self) -> f64 {
        self.num("tok_s_per_user")
    }
    pub fn goodput_per_gpu(&self) -> f64 {
        self.num("goodput_req_s_per_gpu")
    }
    /// The row's load level: a closed loop when `concurrency` is set, else the request rate.
    pub fn load(&self) -> Load {
        match self.get("concurrency").parse::<u32>() {
            Ok(c) => Load::Concurrency(c),
            Err(_) => Load::Rate(self.num("rate_req_s")),
        }
    }
    pub fn label(&self) -> &str {
        &self.cells[col("label")]
    }
    fn completed_all(&self) -> bool {
        self.cells[col("completed")] == self.cells[col("requests")]
    }
    /// Meets the SLO: every request completed and at least `pct` % of them within every target.
    pub fn meets_slo(&self, pct: f64) -> bool {
        self.completed_all() && self.num("slo_attainment") * 100.0 >= pct - 1e-9
    }
    pub fn get(&self, name: &str) -> &str {
        &self.cells[col(name)]
    }

    /// The deployment this row measured, parsed back from its cells.
    pub fn parse_deployment(&self, kv_set: bool) -> std::result::Result<Deployment, String> {
        let u = |n: &str| self.get(n).parse::<u32>().map_err(|_| format!("column {n}: `{}` is not a count", self.get(n)));
        let d = |n: &str| Degrees::parse(self.get(n)).map_err(|e| format!("column {n}: {e}"));
        let mode = match self.get("mode") {
            "agg" => Mode::Aggregated,
            "disagg" => Mode::Disaggregated,
            m => return Err(format!("column mode: `{m}`; expected agg or disagg")),
        };
        let first = PoolChoice { replicas: u("replicas")?, gpus: u("gpus_per_replica")?, attention: d("attention")?, ffn: d("ffn")? };
        let decode = match mode {
            Mode::Aggregated => None,
            Mode::Disaggregated => Some(PoolChoice {
                replicas: u("decode_replicas")?,
                gpus: u("decode_gpus_per_replica")?,
                attention: d("decode_attention")?,
                ffn: d("decode_ffn")?,
            }),
        };
        Ok(Deployment {
            budget: u("gpus")?,
            mode,
            first,
            decode,
            batching: BatchChoice {
                policy: self.get("batching").to_string(),
                max_batch_seqs: u("max_batch_seqs")?,
                max_batch_tokens: u("max_batch_tokens")?,
                chunk_tokens: u("chunk_tokens")?,
            },
            kv_dtype: self.get("kv_dtype").to_string(),
            kv_set,
            kv_tokens: self.get("kv_capacity_tokens").parse().unwrap_or(0),
            engine: self.get("engine").to_string(),
        })
    }
}

fn esc(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The row of deployment `index` at level `level` (offering `load`) from its metrics and pools.
pub fn make_row(index: usize, level: usize, d: &Deployment, load: Load, s: &LevelStats, pools: &[Pool]) -> Row {
    let f = |v: f64| fmt_f64(v);
    let pool = |c: Option<&PoolChoice>| -> [String; 4] {
        match c {
            Some(c) => [c.replicas.to_string(), c.gpus.to_string(), c.attention.to_string(), c.ffn.to_string()],
            None => Default::default(),
        }
    };
    let [r, g, a, fl] = pool(Some(&d.first));
    let [dr, dg, da, df] = pool(d.decode.as_ref());
    let split = d.decode.map(|dc| format!("{}:{}", d.first.replicas * d.first.gpus, dc.replicas * dc.gpus)).unwrap_or_default();
    let tpot = s.tpot_s.mean;
    let per_user = if tpot.is_finite() && tpot > 0.0 { 1.0 / tpot } else { 0.0 };
    let (rate, clients) = load.cells();
    let kv_cap = pools.iter().map(|p| p.memory.kv_token_capacity).min().unwrap_or(0);
    let weights = pools.iter().map(|p| p.memory.weight_bytes_per_device).max().unwrap_or(0) as f64 / (1u64 << 30) as f64;
    let cells = vec![
        index.to_string(),
        level.to_string(),
        esc(&d.label()),
        d.budget.to_string(),
        d.mode.name().to_string(),
        r,
        g,
        a,
        fl,
        dr,
        dg,
        da,
        df,
        split,
        esc(&d.batching.policy),
        d.batching.max_batch_seqs.to_string(),
        d.batching.max_batch_tokens.to_string(),
        d.batching.chunk_tokens.to_string(),
        esc(&d.kv_dtype),
        esc(&d.engine),
        rate,
        clients,
        s.requests.to_string(),
        s.completed.to_string(),
        f(s.output_tokens_per_s_per_device),
        f(per_user),
        f(s.requests_per_s),
        f(s.ttft_s.p50),
        f(s.ttft_s.p90),
        f(s.ttft_s.p99),
        f(tpot),
        f(s.tpot_s.p50),
        f(s.tpot_s.p90),
        f(s.tpot_s.p99),
        f(s.e2e_s.p50),
        f(s.e2e_s.p90),
        f(s.e2e_s.p99),
        f(s.attainment),
        f(s.goodput_requests_per_s),
        f(s.goodput_requests_per_s_per_device),
        kv_cap.to_string(),
        f(weights),
        f(s.kv_peak_used_fraction),
        f(1.0 - s.kv_peak_used_fraction),
        s.preemptions.to_string(),
    ];
    debug_assert_eq!(cells.len(), COLUMNS.len());
    Row { deployment: index, level, cells }
}

/// The data line of a row.
pub fn data_line(r: &Row) -> String {
    r.cells.join(",")
}

/// Rows of a `search.csv` or its `.partial` (mark columns, if present, are dropped). A line
/// cut short by a hard stop (no final newline) is dropped: its deployment reruns.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    if !path.exists() {
        return Ok(out);
    }
    let mut text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if !text.ends_with('\n') {
        text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    }
    let origin = path.display().to_string();
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h == header() || h == data_header() => {}
        Some(_) => {
            return Err(Error::input(
                origin,
                "line 1: not a search CSV of this version (header differs); use another --out or delete the file",
            ))
        }
        None => return Ok(out),
    }
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::input(&origin, format!("line {}: {e}", i + 2)))?;
        if rec.len() != COLUMNS.len() && rec.len() != COLUMNS.len() + MARKS.len() {
            return Err(Error::input(&origin, format!("line {}: {} fields; expected {}", i + 2, rec.len(), COLUMNS.len())));
        }
        let cells: Vec<String> = rec.iter().take(COLUMNS.len()).map(esc).collect();
        let idx =
            |c: usize| cells[c].parse::<usize>().map_err(|_| Error::input(&origin, format!("line {}: bad index `{}`", i + 2, cells[c])));
        out.push(Row { deployment: idx(0)?, level: idx(1)?, cells });
    }
    Ok(out)
}

/// The marks of every row (in `rows` order): (meets SLO, pareto, pareto under SLO, best).
pub fn marks(rows: &[Row], slo_percentile: f64) -> Vec<[bool; 4]> {
    let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.throughput_per_gpu(), r.tok_s_per_user())).collect();
    let done: Vec<bool> = rows.iter().map(Row::completed_all).collect();
    let meets: Vec<bool> = rows.iter().map(|r| r.meets_slo(slo_percentile)).collect();
    let all = frontier(&pts, &done);
    let slo = frontier(&pts, &meets);
    let best = best_index(rows, &meets);
    (0..rows.len()).map(|i| [meets[i], all[i], slo[i], best == Some(i)]).collect()
}

/// The winner: the highest goodput per GPU among rows meeting the SLO; ties go to more
/// tokens/s per user, then to the first row.
pub fn best_index(rows: &[Row], meets: &[bool]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in rows.iter().enumerate() {
        if !meets[i] || !(r.goodput_per_gpu() > 0.0) {
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => {
                let (g, gb) = (r.goodput_per_gpu(), rows[b].goodput_per_gpu());
                g > gb || (g == gb && r.tok_s_per_user() > rows[b].tok_s_per_user())
            }
        };
        if better {
            best = Some(i);
        }
    }
    best
}

/// Write `search.csv`: rows sorted by (deployment, level), with marks.
pub fn write_csv(path: &Path, rows: &[Row], marks: &[[bool; 4]]) -> Result<()> {
    let mut text = String::with_capacity(400 * (rows.len() + 1));
    text.push_str(&header());
    text.push('\n');
    for (r, m) in rows.iter().zip(marks) {
        text.push_str(&data_line(r));
        for b in m {
            text.push_str(if *b { ",1" } else { ",0" });
        }
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// `search.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// `reallm search v1`.
    pub format: String,
    /// Hash of everything that decides the rows (config, space, levels): shards and reruns must agree.
    pub fingerprint: String,
    /// `[i, n]` for a shard's own output; absent once complete or merged.
    pub shard: Option<[usize; 2]>,
    pub counts: MetaCounts,
    /// Why plans were rejected or pruned: reason → plans.
    pub reasons: BTreeMap<String, u64>,
    /// Deployments simulated (rows / levels) in this output.
    pub simulated: u64,
    /// Deployments whose simulation failed (not in the CSV).
    pub failed: Vec<Failure>,
    /// Each budget's load levels: budget → request rates, or clients of closed loops.
    pub levels: BTreeMap<u32, Vec<f64>>,
    /// How the rates were chosen (`given`, or `auto` with the capacity estimate per budget).
    pub rates_from: String,
    pub capacity_estimate_req_s: BTreeMap<u32, f64>,
    pub workload: MetaWorkload,
    pub slo: reallm_sim::metrics::Slo,
    pub slo_percentile: f64,
    /// The base experiment's settings a winner's config is written from.
    pub template: serde_json::Value,
    /// With engine profiles as a search axis (`search.engines`): each engine's base settings.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub engine_templates: BTreeMap<String, serde_json::Value>,
    pub frontier_points: u64,
    pub frontier_slo_points: u64,
    pub best: Option<BestInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetaCounts {
    pub deployments: u64,
    pub invalid: u64,
    pub pruned_memory: u64,
    pub valid: u64,
    /// Simulations the valid deployments take (valid × levels).
    pub simulations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub deployment: usize,
    pub label: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaWorkload {
    /// Prompt and output tokens per request (the distributions' means when drawn).
    pub isl: u32,
    pub osl: u32,
    pub requests: u32,
    pub seed: u64,
    pub load: String,
    /// The length distributions, when drawn (`workload.synthetic`); absent: fixed `isl`, `osl`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lengths: Option<[DistMeta; 2]>,
    /// Closed loops: seconds a client waits after a completion.
    #[serde(default)]
    pub think_time_s: f64,
    /// The trace whose request lengths the levels use, if any (read again to write the
    /// winner's trace; a hash of its lengths is in the fingerprint).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<String>,
}

impl MetaWorkload {
    /// The shape of every level's requests, the trace's lengths left out.
    pub fn shape_without_trace(&self) -> Shape {
        let (input, output) = match self.lengths {
            Some([i, o]) => (i.into(), o.into()),
            None => (LengthDist::Fixed(self.isl), LengthDist::Fixed(self.osl)),
        };
        Shape { input, output, requests: self.requests, seed: self.seed, think_time_s: self.think_time_s, trace: None }
    }

    /// The shape of every level's requests (reading the trace, if one gives the lengths).
    pub fn shape(&self) -> Result<Shape> {
        let (input, output) = match self.lengths {
            Some([i, o]) => (i.into(), o.into()),
            None => (LengthDist::Fixed(self.isl), LengthDist::Fixed(self.osl)),
        };
        let trace = match &self.trace {
            Some(p) => Some(crate::workload::trace::read(Path::new(p))?.iter().map(|r| (r.prompt_tokens, r.output_tokens)).collect()),
            None => None,
        };
        Ok(Shape { input, output, requests: self.requests, seed: self.seed, think_time_s: self.think_time_s, trace })
    }
}

/// A length distribution in `search.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum DistMeta {
    Fixed { tokens: u32 },
    Uniform { min: u32, max: u32 },
    Normal { mean: f64, std: f64, min: u32, max: u32 },
    Lognormal { mean: f64, std: f64, min: u32, max: u32 },
}

impl From<LengthDist> for DistMeta {
    fn from(d: LengthDist) -> Self {
        match d {
            LengthDist::Fixed(tokens) => DistMeta::Fixed { tokens },
            LengthDist::Uniform { min, max } => DistMeta::Uniform { min, max },
            LengthDist::Normal { mean, std, min, max } => DistMeta::Normal { mean, std, min, max },
            LengthDist::LogNormal { mean, std, min, max } => DistMeta::Lognormal { mean, std, min, max },
        }
    }
}

impl From<DistMeta> for LengthDist {
    fn from(d: DistMeta) -> Self {
        match d {
            DistMeta::Fixed { tokens } => LengthDist::Fixed(tokens),
            DistMeta::Uniform { min, max } => LengthDist::Uniform { min, max },
            DistMeta::Normal { mean, std, min, max } => LengthDist::Normal { mean, std, min, max },
            DistMeta::Lognormal { mean, std, min, max } => LengthDist::LogNormal { mean, std, min, max },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestInfo {
    pub deployment: usize,
    pub level: usize,
    pub label: String,
    /// The winner's level: its request rate (open loop), or its clients (closed loop).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_req_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<u32>,
    pub goodput_req_s_per_gpu: f64,
    pub output_tok_s_per_gpu: f64,
    pub tok_s_per_user: f64,
    pub slo_attainment: f64,
}

/// Read `search.json`.
pub fn read_meta(path: &Path) -> Result<Option<Meta>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::input(path.display().to_string(), format!("not a search.json of this version: {e}")))
}

/// Write `search.json`.
pub fn write_meta(path: &Path, m: &Meta) -> Result<()> {
    let json = serde_json::to_string_pretty(m).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(path, format!("{json}\n").as_bytes())
}

/// The winner as a ready-to-run native config: the template's settings, the deployment's pools,
/// and `workload` (its level's requests as `best_trace.csv` beside it, replayed or in a closed
/// loop).
pub fn best_config(template: &serde_json::Value, d: &Deployment, workload: serde_json::Value, header: &str) -> String {
    let t = template;
    let pool = |c: &PoolChoice| {
        serde_json::json!({
            "device": t["device"],
            "num_devices": c.gpus,
            "replicas": c.replicas,
            "router": t["router"],
            "parallelism": {
                "attention": c.attention.to_string(),
                "ffn": c.ffn.to_string(),
                "sequence_parallel": t["sequence_parallel"],
                "io_algo": t["io_algo"],
            },
            "batching": {
                "policy": d.batching.policy,
                "params": t["batching_params"],
                "max_batch_seqs": d.batching.max_batch_seqs,
                "max_batch_tokens": d.batching.max_batch_tokens,
                // 0 (chunk by the whole token budget) is written by leaving the key out: the
                // `chunked` policy refuses an explicit 0.
                "chunk_tokens": (d.batching.chunk_tokens > 0).then_some(d.batching.chunk_tokens),
            },
            "memory": t["memory"],
        })
    };
    let mut model = t["model"].clone();
    if d.kv_set {
        if let Some(p) = model.get_mut("params").and_then(|p| p.as_object_mut()) {
            p.insert("kv_dtype".into(), serde_json::Value::String(d.kv_dtype.clone()));
        }
    }
    if model.get("params").is_some_and(|p| p.is_null()) {
        if let Some(m) = model.as_object_mut() {
            m.remove("params");
        }
    }
    let mut backend = t["backend"].clone();
    if backend.get("params").is_some_and(|p| p.is_null()) {
        backend = backend["name"].clone();
    }
    let (key, system) = match &d.decode {
        None => ("system", pool(&d.first)),
        Some(dc) => {
            ("disaggregated", serde_json::json!({ "prefill": pool(&d.first), "decode": pool(dc), "kv_transfer": t["kv_transfer"] }))
        }
    };
    let engine = t.get("engine").filter(|e| e.is_string()).map(|e| ("engine", e.clone()));
    let sections = [
        ("name", serde_json::json!("search-best")),
        ("model", model),
        ("backend", backend),
        (key, system),
        ("workload", workload),
        ("sim", t["sim"].clone()),
        ("slo", t["slo"].clone()),
    ];
    let sections = sections.into_iter().chain(engine);
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for (k, v) in sections {
        let mut m = serde_json::Map::new();
        m.insert(k.to_string(), strip_nulls(v));
        out.push_str(&crate::config::yaml::to_string(&serde_json::Value::Object(m)));
    }
    out
}

/// Drop null-valued keys (unset optional settings), recursively.
fn strip_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        other => other,
    }
}

/// `pareto.svg`: every completed point, both frontiers, and the winner.
pub fn render_pareto(rows: &[Row], marks: &[[bool; 4]], title: &str) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| Error::Internal(format!("drawing pareto.svg: {e}"));
    let pt = |r: &Row| (r.tok_s_per_user(), r.throughput_per_gpu());
    let done: Vec<(f64, f64)> = rows.iter().filter(|r| r.completed_all()).map(pt).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    let line = |k: usize| {
        let mut v: Vec<(f64, f64)> = rows.iter().zip(marks).filter(|(_, m)| m[k]).map(|(r, _)| pt(r)).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        v
    };
    let (front, front_slo) = (line(1), line(2));
    let meets: Vec<(f64, f64)> = rows.iter().zip(marks).filter(|(_, m)| m[0]).map(|(r, _)| pt(r)).collect();
    let best: Vec<(f64, f64)> = rows.iter().zip(marks).filter(|(_, m)| m[3]).map(|(r, _)| pt(r)).collect();
    let hi = |f: fn(&(f64, f64)) -> f64| done.iter().map(f).fold(0.0f64, f64::max).max(1e-9) * 1.08;
    let (x1, y1) = (hi(|p| p.0), hi(|p| p.1));
    // Scatter points that would land within 2 pixels of one already drawn are drawn once: the
    // picture is the same, the file a fraction of the size for thousands of points.
    let thin = |pts: &[(f64, f64)]| -> Vec<(f64, f64)> {
        let mut seen = std::collections::BTreeSet::new();
        pts.iter().copied().filter(|p| seen.insert(((p.0 / x1 * 400.0).round() as i64, (p.1 / y1 * 270.0).round() as i64))).collect()
    };
    let (done, meets) = (thin(&done), thin(&meets));
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x1, 0.0..y1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_desc("output tokens/s per user (1 / mean TPOT)")
            .y_desc("output tokens/s per GPU")
            .draw()
            .map_err(|e| err(&e))?;
        let grey = RGBColor(170, 170, 170);
        let blue = RGBColor(31, 119, 180);
        let green = RGBColor(44, 160, 44);
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(done.iter().map(|&p| Circle::new(p, 2, grey.filled())))
            .map_err(|e| err(&e))?
            .label("deployment × load")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
        chart
            .draw_series(meets.iter().map(|&p| Circle::new(p, 3, green.mix(0.5).filled())))
            .map_err(|e| err(&e))?
            .label("meets the SLO")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, green.mix(0.5).filled()));
        let style_all = ShapeStyle::from(blue).stroke_width(2);
        chart
            .draw_series(LineSeries::new(front.iter().copied(), style_all))
            .map_err(|e| err(&e))?
            .label("Pareto frontier (all)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style_all));
        let style_slo = ShapeStyle::from(green).stroke_width(2);
        chart
            .draw_series(LineSeries::new(front_slo.iter().copied(), style_slo))
            .map_err(|e| err(&e))?
            .label("Pareto frontier (meeting the SLO)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style_slo));
        chart
            .draw_series(best.iter().map(|&p| Cross::new(p, 8, red.stroke_width(3))))
            .map_err(|e| err(&e))?
            .label("max goodput/GPU under the SLO")
            .legend(move |(x, y)| Cross::new((x + 10, y), 5, red.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}
