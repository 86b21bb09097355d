//! `table`: a kernel backend that costs kernels from measured (or pre-computed) tables.
//!
//! Two sources, both parsed once at construction into sorted vectors:
//!
//! * a **kernel library** directory as the host's `kernel` stage writes it
//!   (`host/src/kernel_stage.rs`): one `{device}_{kind}_latency.csv` per kernel kind with the
//!   shape columns of [`library_columns`] and a `latency` column in seconds;
//! * a **Vidur profile** (`mlp.csv`, Vidur's profiling format; see
//!   `host/data/calibration/NOTICE.md`): per-layer operator times in milliseconds per
//!   `num_tokens` T, for one tensor-parallel size `tp`. Each operator column maps to the
//!   [`Kernel`] it measures ([`vidur_kernels`]).
//!
//! # Lookup
//!
//! A kernel belongs to a *family*: all its fields but one varying dimension ([`family`]; `m`
//! for GEMMs and row-wise kernels, the new-query count for attention, `kv_total` for decode
//! attention). Within a family the measured points are sorted by that dimension:
//!
//! * an exact match returns the measured time;
//! * between two measured points, piecewise-linear interpolation, which never leaves the
//!   interval spanned by the two neighbours' times;
//! * outside the measured range, in an unknown family, or for a data type the source does
//!   not cover (Vidur profiles are fp16: only 16-bit kernels match them; library files carry no
//!   data type and match any), the kernel is costed by the **fallback** backend (`roofline` or
//!   `llmcompass`, built with `fallback_params`). Each fallback is counted
//!   ([`Table::fallback_count`], and process-wide [`fallbacks`]) and logged with `log::warn!`
//!   once per kernel kind; a summary is logged when the backend is dropped.
//!
//! Collectives have no table: they are always costed by the fallback backend (not counted).

use reallm_plugin_api::{
    parse_params, register_plugin, Collective, Constructor, DType, DeviceSpec, Kernel, KernelBackend, PluginError, PluginInfo, PluginKind,
    PluginRegistration,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub mod vidur;

/// The plugin's name in configs.
pub const NAME: &str = "table";

static FALLBACKS: AtomicU64 = AtomicU64::new(0);

/// Kernels costed by a fallback backend by every `table` instance of this process.
pub fn fallbacks() -> u64 {
    FALLBACKS.load(Ordering::Relaxed)
}

/// Which backend costs what the tables do not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    #[default]
    Roofline,
    Llmcompass,
}

/// Parameters of the `table` backend.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TableParams {
    /// Directory of `{device}_{kind}_latency.csv` files (relative paths: to the working directory).
    pub library_dir: Option<PathBuf>,
    /// File-name key of the library files (`GA100` in `GA100_matmul_latency.csv`). Optional when
    /// the directory holds a single device's files.
    pub device: Option<String>,
    /// A Vidur `mlp.csv` profile.
    pub vidur_profile: Option<PathBuf>,
    /// Tensor-parallel size whose rows of the Vidur profile are used (default 1).
    pub tp: Option<u32>,
    /// `roofline` (default) or `llmcompass`.
    pub fallback: Fallback,
    /// Parameters of the fallback backend.
    pub fallback_params: serde_json::Value,
}

/// Measured points of one family, sorted by the varying dimension (no duplicates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    pub x: Vec<u64>,
    pub t_s: Vec<f64>,
}

impl Curve {
    /// Build from unsorted points; duplicate `x` values are averaged.
    fn from_points(points: &[(u64, f64)]) -> Curve {
        let mut by_x: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
        for &(x, t) in points {
            let e = by_x.entry(x).or_insert((0.0, 0));
            e.0 += t;
            e.1 += 1;
        }
        let (x, t_s) = by_x.into_iter().map(|(x, (s, n))| (x, s / n as f64)).unzip();
        Curve { x, t_s }
    }

    /// Exact value or linear interpolation between the two neighbours; `None` outside the range.
    pub fn lookup(&self, x: u64) -> Option<f64> {
        match self.x.binary_search(&x) {
            Ok(i) => Some(self.t_s[i]),
            Err(i) if i == 0 || i == self.x.len() => None,
            Err(i) => {
                let (x0, x1) = (self.x[i - 1] as f64, self.x[i] as f64);
                let (t0, t1) = (self.t_s[i - 1], self.t_s[i]);
                let w = (x as f64 - x0) / (x1 - x0);
                // Clamp guards the last ulp: the result stays between the neighbours.
                Some((t0 + w * (t1 - t0)).clamp(t0.min(t1), t0.max(t1)))
            }
        }
    }
}

/// Split a kernel into (family key, varying dimension). The key has the varying dimension set
/// to 0, every data type set to fp16 and `kv_shared` cleared (library files record neither);
/// for attention the key's `kv_len` holds the cached prefix `kv_len − q_len`.
pub fn family(k: &Kernel) -> (Kernel, u64) {
    let h = DType::F16;
    match *k {
        Kernel::Gemm { b, m, k, n, .. } => (Kernel::Gemm { b, m: 0, k, n, a: h, w: h, out: h }, m),
        Kernel::GroupedGemm { groups, rows, max_rows, k, n, .. } => {
            (Kernel::GroupedGemm { groups, rows: 0, max_rows, k, n, a: h, w: h, out: h }, rows)
        }
        Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, .. } => (
            Kernel::Attention {
                seqs,
                q_len: 0,
                kv_len: kv_len.saturating_sub(q_len),
                q_heads,
                kv_heads,
                d_qk,
                d_v,
                causal,
                kv_shared: false,
                act: h,
                kv: h,
            },
            q_len,
        ),
        Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, .. } => {
            (Kernel::DecodeAttention { seqs, kv_total: 0, q_heads, kv_heads, d_qk, d_v, kv_shared: false, act: h, kv: h }, kv_total)
        }
        Kernel::Softmax { m, n, .. } => (Kernel::Softmax { m: 0, n, dtype: h }, m),
        Kernel::LayerNorm { m, n, .. } => (Kernel::LayerNorm { m: 0, n, dtype: h }, m),
        Kernel::Silu { m, n, .. } => (Kernel::Silu { m: 0, n, dtype: h }, m),
        Kernel::Gelu { m, n, .. } => (Kernel::Gelu { m: 0, n, dtype: h }, m),
        Kernel::Mul { m, n, .. } => (Kernel::Mul { m: 0, n, dtype: h }, m),
        Kernel::Add { m, n, .. } => (Kernel::Add { m: 0, n, dtype: h }, m),
        Kernel::Rope { m, n, .. } => (Kernel::Rope { m: 0, n, dtype: h }, m),
        Kernel::Embedding { tokens, hidden, .. } => (Kernel::Embedding { tokens: 0, hidden, dtype: h }, tokens),
        Kernel::TopK { m, n, k, .. } => (Kernel::TopK { m: 0, n, k, dtype: h }, m),
        // A kernel of a later plugin API: its own family, found in no library file (the
        // fallback backend costs it).
        other => (other, 0),
    }
}

/// True when every data type of the kernel is 16-bit (fp16 or bf16).
fn is_16bit(k: &Kernel) -> bool {
    let w = |d: DType| d.bits() == 16;
    match *k {
        Kernel::Gemm { a, w: wt, out, .. } | Kernel::GroupedGemm { a, w: wt, out, .. } => w(a) && w(wt) && w(out),
        Kernel::Attention { act, kv, .. } | Kernel::DecodeAttention { act, kv, .. } => w(act) && w(kv),
        _ => w(k.compute_dtype()),
    }
}

/// Kernel-library kinds and their shape columns, as `host/src/kernel_stage.rs` writes them.
pub fn library_columns() -> &'static [(&'static str, &'static str)] {
    &[
        ("matmul", "B,M,K,N"),
        ("grouped_matmul", "G,ROWS,MAX_ROWS,K,N"),
        ("flash_attention", "S,Q,KV,HQ,HKV,DQK,DV,CAUSAL"),
        ("decode_attention", "S,KV_TOTAL,HQ,HKV,DQK,DV"),
        ("softmax", "M,N"),
        ("layernorm", "M,N"),
        ("silu", "M,N"),
        ("gelu", "M,N"),
        ("mul", "M,N"),
        ("add", "M,N"),
        ("rope", "M,N"),
        ("embedding", "M,N"),
        ("topk", "M,N,K"),
    ]
}

/// The kernel a library row describes (data types fp16: the files carry none).
fn library_kernel(kind: &str, v: &[u64]) -> Option<Kernel> {
    let h = DType::F16;
    Some(match (kind, v) {
        ("matmul", &[b, m, k, n]) => Kernel::Gemm { b, m, k, n, a: h, w: h, out: h },
        ("grouped_matmul", &[groups, rows, max_rows, k, n]) => Kernel::GroupedGemm { groups, rows, max_rows, k, n, a: h, w: h, out: h },
        ("flash_attention", &[seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal]) => {
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal: causal != 0, kv_shared: false, act: h, kv: h }
        }
        ("decode_attention", &[seqs, kv_total, q_heads, kv_heads, d_qk, d_v]) => {
            Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared: false, act: h, kv: h }
        }
        ("softmax", &[m, n]) => Kernel::Softmax { m, n, dtype: h },
        ("layernorm", &[m, n]) => Kernel::LayerNorm { m, n, dtype: h },
        ("silu", &[m, n]) => Kernel::Silu { m, n, dtype: h },
        ("gelu", &[m, n]) => Kernel::Gelu { m, n, dtype: h },
        ("mul", &[m, n]) => Kernel::Mul { m, n, dtype: h },
        ("add", &[m, n]) => Kernel::Add { m, n, dtype: h },
        ("rope", &[m, n]) => Kernel::Rope { m, n, dtype: h },
        ("embedding", &[tokens, hidden]) => Kernel::Embedding { tokens, hidden, dtype: h },
        ("topk", &[m, n, k]) => Kernel::TopK { m, n, k, dtype: h },
        _ => return None,
    })
}

/// Points grouped by family while loading.
type Points = HashMap<Kernel, Vec<(u64, f64)>>;

fn err_at(path: &Path, line: usize, msg: impl std::fmt::Display) -> PluginError {
    PluginError::invalid(format!("{}:{line}: {msg}", path.display()))
}

/// Read the kernel-library files of `device` (or of the only device present) in `dir`.
pub fn load_library(dir: &Path, device: Option<&str>) -> Result<HashMap<Kernel, Curve>, PluginError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| PluginError::invalid(format!("{}: cannot read the kernel library directory: {e}", dir.display())))?;
    // (device, kind) → path
    let mut files: Vec<(String, &'static str, PathBuf)> = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix("_latency.csv") else { continue };
        for (kind, _) in library_columns() {
            if let Some(dev) = stem.strip_suffix(&format!("_{kind}")) {
                // `grouped_matmul` also ends in `_matmul`: the longer kind wins.
                if *kind == "matmul" && dev.ends_with("_grouped") {
                    continue;
                }
                files.push((dev.to_string(), kind, entry.path()));
            }
        }
    }
    let devices: BTreeSet<&str> = files.iter().map(|f| f.0.as_str()).collect();
    let chosen = match device {
        Some(d) => {
            if !devices.contains(d) {
                return Err(PluginError::invalid(format!(
                    "{}: no `{d}_<kind>_latency.csv` file (devices present: {})",
                    dir.display(),
                    if devices.is_empty() { "none".to_string() } else { devices.iter().copied().collect::<Vec<_>>().join(", ") }
                )));
            }
            d.to_string()
        }
        None => match devices.len() {
            0 => return Err(PluginError::invalid(format!("{}: no `<device>_<kind>_latency.csv` file", dir.display()))),
            1 => devices.iter().next().map(|s| s.to_string()).unwrap_or_default(),
            _ => {
                return Err(PluginError::invalid(format!(
                    "{}: files for several devices ({}); set `device`",
                    dir.display(),
                    devices.iter().copied().collect::<Vec<_>>().join(", ")
                )))
            }
        },
    };
    let mut points = Points::new();
    for (dev, kind, path) in &files {
        if *dev == chosen {
            load_library_file(path, kind, &mut points)?;
        }
    }
    Ok(points.into_iter().map(|(k, p)| (k, Curve::from_points(&p))).collect())
}

fn load_library_file(path: &Path, kind: &'static str, points: &mut Points) -> Result<(), PluginError> {
    let text = std::fs::read_to_string(path).map_err(|e| PluginError::invalid(format!("{}: {e}", path.display())))?;
    let cols = library_columns().iter().find(|c| c.0 == kind).map(|c| c.1).unwrap_or_default();
    let expected = format!("{cols},latency");
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == expected => {}
        Some((_, h)) => return Err(err_at(path, 1, format!("header `{}`: expected `{expected}`", h.trim()))),
        None => return Err(err_at(path, 1, format!("empty file: expected the header `{expected}`"))),
    }
    let ncols = cols.split(',').count();
    for (i, line) in lines {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != ncols + 1 {
            return Err(err_at(path, line_no, format!("{} fields: expected {} ({expected})", fields.len(), ncols + 1)));
        }
        let mut shape = Vec::with_capacity(ncols);
        for (f, name) in fields[..ncols].iter().zip(cols.split(',')) {
            shape.push(f.parse::<u64>().map_err(|_| err_at(path, line_no, format!("{name} = `{f}`: expected a whole number")))?);
        }
        let t: f64 =
            fields[ncols].parse().map_err(|_| err_at(path, line_no, format!("latency = `{}`: expected seconds", fields[ncols])))?;
        if !(t.is_finite() && t >= 0.0) {
            return Err(err_at(path, line_no, format!("latency = {t}: expected a non-negative number of seconds")));
        }
        let kernel = library_kernel(kind, &shape).ok_or_else(|| err_at(path, line_no, "unreadable shape"))?;
        let (key, x) = family(&kernel);
        points.entry(key).or_default().push((x, t));
    }
    Ok(())
}

/// The kernels of one Vidur profile row (`num_tokens` T, TP `tp`) and the share of each
/// operator column's time they take, from `host/data/calibration/NOTICE.md` (fp16, h = n_embd,
/// I = n_expanded_embd, d = h / n_head):
///
/// | column | kernel(s) |
/// |---|---|
/// | `attn_pre_proj` | Gemm [T, h] × [h, (H + 2·KV)·d / t] |
/// | `attn_post_proj` | Gemm [T, H·d / t] × [H·d / t, h] |
/// | `mlp_up_proj` | Gemm [T, h] × [h, 2·I / t] (fused gate+up; gated MLPs) or [h, I / t] |
/// | `mlp_down_proj` | Gemm [T, I / t] × [I / t, h] |
/// | `input_layernorm`, `post_attention_layernorm` | LayerNorm [T, h] (the two medians averaged) |
/// | `mlp_act` | fused SiLU-and-multiply: split between Silu [T, I/t] (2/5) and Mul [T, I/t] (3/5), the ratio of their unfused DRAM traffic (2·T·I/t and 3·T·I/t elements), so that the model's Silu + Mul pair sums to the measured time; GeLU [T, I/t] whole for non-gated MLPs |
/// | `attn_rope` | Rope [T, (H + KV)·d / t] |
/// | `add` | Add [T, h] |
///
/// Returns (column, kernel, share).
#[allow(clippy::too_many_arguments)]
pub fn vidur_kernels(t: u64, tp: u64, heads: u64, kv_heads: u64, h: u64, inter: u64, gated: bool) -> Vec<(&'static str, Kernel, f64)> {
    let f = DType::F16;
    let d = h / heads.max(1);
    let tp = tp.max(1);
    let up_n = if gated { 2 * inter / tp } else { inter / tp };
    let mut v = vec![
        ("attn_pre_proj", Kernel::matmul(t, h, (heads + 2 * kv_heads) * d / tp, f), 1.0),
        ("attn_post_proj", Kernel::matmul(t, heads * d / tp, h, f), 1.0),
        ("mlp_up_proj", Kernel::matmul(t, h, up_n, f), 1.0),
        ("mlp_down_proj", Kernel::matmul(t, inter / tp, h, f), 1.0),
        ("attn_rope", Kernel::Rope { m: t, n: (heads + kv_heads) * d / tp, dtype: f }, 1.0),
        ("add", Kernel::Add { m: t, n: h, dtype: f }, 1.0),
    ];
    if gated {
        v.push(("mlp_act", Kernel::Silu { m: t, n: inter / tp, dtype: f }, 0.4));
        v.push(("mlp_act", Kernel::Mul { m: t, n: inter / tp, dtype: f }, 0.6));
    } else {
        v.push(("mlp_act", Kernel::Gelu { m: t, n: inter / tp, dtype: f }, 1.0));
    }
    v
}

/// Read the rows of TP size `tp` of a Vidur `mlp.csv` into curves (the file is read by
/// [`vidur::read_profile`]).
pub fn load_vidur(path: &Path, tp: u32) -> Result<HashMap<Kernel, Curve>, PluginError> {
    let rows = vidur::read_profile(path)?;
    let mut points = Points::new();
    let mut tps = BTreeSet::new();
    for row in &rows {
        tps.insert(row.tp);
        if row.tp != tp as u64 {
            continue;
        }
        for (op, kernel, share) in vidur_kernels(row.tokens, row.tp, row.heads, row.kv_heads, row.hidden, row.inter, row.gated) {
            if let Some(s) = row.median_s(op) {
                let (key, x) = family(&kernel);
                points.entry(key).or_default().push((x, s * share));
            }
        }
        let norms: Vec<f64> = [row.median_s("input_layernorm"), row.median_s("post_attention_layernorm")].into_iter().flatten().collect();
        if !norms.is_empty() {
            let (key, x) = family(&Kernel::LayerNorm { m: row.tokens, n: row.hidden, dtype: DType::F16 });
            points.entry(key).or_default().push((x, norms.iter().sum::<f64>() / norms.len() as f64));
        }
    }
    if points.is_empty() {
        return Err(PluginError::invalid(format!(
            "{}: no rows with num_tensor_parallel_workers = {tp} (present: {})",
            path.display(),
            tps.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(points.into_iter().map(|(k, p)| (k, Curve::from_points(&p))).collect())
}

/// The table backend bound to one device.
pub struct Table {
    /// Curves from the kernel library (any data type).
    library: HashMap<Kernel, Curve>,
    /// Curves from a Vidur profile (16-bit kernels only).
    vidur: HashMap<Kernel, Curve>,
    fallback: Box<dyn KernelBackend>,
    fallback_name: &'static str,
    fallback_count: AtomicU64,
    warned: Mutex<BTreeSet<&'static str>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("library_families", &self.library.len())
            .field("vidur_families", &self.vidur.len())
            .field("fallback", &self.fallback_name)
            .field("fallback_count", &self.fallback_count())
            .finish()
    }
}

impl Table {
    /// Load the tables named in `params` and build the fallback backend for `device`.
    pub fn new(params: &TableParams, device: &DeviceSpec) -> Result<Table, PluginError> {
        if params.library_dir.is_none() && params.vidur_profile.is_none() {
            return Err(PluginError::Params {
                plugin: NAME.into(),
                message: "set `library_dir` (a kernel library) and/or `vidur_profile` (a Vidur mlp.csv)".into(),
            });
        }
        if params.tp == Some(0) {
            return Err(PluginError::Params { plugin: NAME.into(), message: "tp = 0: expected at least 1".into() });
        }
        let library = match &params.library_dir {
            Some(d) => load_library(d, params.device.as_deref())?,
            None => HashMap::new(),
        };
        let vidur = match &params.vidur_profile {
            Some(p) => load_vidur(p, params.tp.unwrap_or(1))?,
            None => HashMap::new(),
        };
        let (fallback, fallback_name): (Box<dyn KernelBackend>, &'static str) = match params.fallback {
            Fallback::Roofline => {
                let p: reallm_roofline::RooflineParams = parse_params("roofline", &params.fallback_params)?;
                (Box::new(reallm_roofline::Roofline::new(device.clone(), p)?), "roofline")
            }
            Fallback::Llmcompass => {
                let p: reallm_llmcompass::Params = parse_params(reallm_llmcompass::NAME, &params.fallback_params)?;
                (Box::new(reallm_llmcompass::LlmCompass::new(device, p)?), "llmcompass")
            }
        };
        Ok(Self::from_curves(library, vidur, fallback, fallback_name))
    }

    /// Build from already loaded curves (keys as [`family`] makes them) and a fallback.
    pub fn from_curves(
        library: HashMap<Kernel, Curve>,
        vidur: HashMap<Kernel, Curve>,
        fallback: Box<dyn KernelBackend>,
        fallback_name: &'static str,
    ) -> Table {
        Table { library, vidur, fallback, fallback_name, fallback_count: AtomicU64::new(0), warned: Mutex::new(BTreeSet::new()) }
    }

    /// The measured (or interpolated) time of `k`, if the tables cover it.
    pub fn lookup(&self, k: &Kernel) -> Option<f64> {
        let (key, x) = family(k);
        if let Some(t) = self.library.get(&key).and_then(|c| c.lookup(x)) {
            return Some(t);
        }
        if is_16bit(k) {
            return self.vidur.get(&key).and_then(|c| c.lookup(x));
        }
        None
    }

    /// Kernels this instance has costed with its fallback backend.
    pub fn fallback_count(&self) -> u64 {
        self.fallback_count.load(Ordering::Relaxed)
    }

    /// Number of families (distinct shapes but the varying dimension) loaded.
    pub fn families(&self) -> usize {
        self.library.len() + self.vidur.len()
    }
}

impl KernelBackend for Table {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        if let Some(t) = self.lookup(k) {
            return Ok(t);
        }
        self.fallback_count.fetch_add(1, Ordering::Relaxed);
        FALLBACKS.fetch_add(1, Ordering::Relaxed);
        let kind = k.kind_name();
        log::trace!("table backend: fallback for {k:?}");
        if let Ok(mut w) = self.warned.lock() {
            if w.insert(kind) {
                log::warn!(
                    "table backend: no measured data for a {kind} kernel ({k:?}); costing it and other uncovered {kind} kernels with `{}`",
                    self.fallback_name
                );
            }
        }
        self.fallback.kernel_time(k)
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        self.fallback.collective_time(c)
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let n = self.fallback_count();
        if n > 0 {
            let kinds = self.warned.lock().map(|w| w.iter().copied().collect::<Vec<_>>().join(", ")).unwrap_or_default();
            log::info!("table backend: {n} kernel(s) costed by `{}` (kinds: {kinds})", self.fallback_name);
        }
    }
}

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let p: TableParams = parse_params(NAME, params)?;
    Ok(Box::new(Table::new(&p, device)?))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: NAME,
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary:
            "Measured kernel tables (kernel library CSVs, Vidur mlp.csv) with monotone interpolation and a roofline/llmcompass fallback",
        example_params: "library_dir: out/kernels      # {device}_{kind}_latency.csv files\n\
                         device: GA100                  # file-name key (optional with one device)\n\
                         # vidur_profile: mlp.csv       # a Vidur profile\n\
                         # tp: 1                        # its TP rows\n\
                         fallback: roofline             # or llmcompass\n\
                         fallback_params: {}\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

#[cfg(test)]
mod tests;
