//! `measured`: a kernel backend that costs GEMMs, attention and collectives from NVIDIA
//! AIConfigurator's measured tables, read directly from its `systems/` layout (Parquet), and
//! everything else with the calibrated roofline.
//!
//! # Data
//!
//! `data_dir` names an AIConfigurator `systems/` folder (the full data, or tables collected on
//! one's own GPUs with AIConfigurator's collector); without it, the subset compiled into the
//! binary is used (`plugins/measured/data/systems/`: H100 SXM, H200 SXM, B200 SXM with
//! TensorRT-LLM 1.3.0rc20 and vLLM 0.24.0, A100 SXM with TensorRT-LLM 1.0.0, NCCL; see its
//! `NOTICE.md`). The system comes from the device name (`H100-SXM` → `h100_sxm`) unless
//! `system` is given; the framework (`trtllm`, `vllm`, `sglang`) from `framework`; the version
//! is the newest present unless `version` is given. Tables are listed in [`aic`].
//!
//! # Mapping
//!
//! | kernel / collective | table | lookup |
//! |---|---|---|
//! | `Gemm` with `b = 1` | `gemm_perf`, dtype by the weight type: 16-bit → `bfloat16`, `fp8` → `fp8` (W8A8 per-tensor), `fp8_block` → `fp8_block`, `fp4` (NVFP4) → `nvfp4`, `mxfp4` → `mxfp4` | log–log trilinear over (m, n, k) |
//! | `Attention` (causal, `d_qk = d_v`, not MLA) | `context_attention_perf`, by (act, KV) dtype, heads, KV heads, head size | log–log bilinear over (sequences, prompt length); a chunk after a cached prefix is looked up at the prompt length with the same number of query–key pairs, `L = (√(8·pairs/seqs + 1) − 1)/2` |
//! | `DecodeAttention` (not MLA) | `generation_attention_perf`, same key (act dtype `bfloat16` when the table has no other) | log–log bilinear over (sequences, mean context `kv_total / seqs`) |
//! | all-reduce (scale-up) | `custom_allreduce_perf` (the framework's one-shot/two-shot kernels) or `nccl_perf` `all_reduce` | log–log linear over bytes, per GPU count |
//! | all-gather, reduce-scatter, all-to-all (scale-up) | `nccl_perf` | same |
//!
//! All-reduce implementation: `allreduce: auto` (default) takes the framework's custom
//! all-reduce where its table covers the GPU count and size (TensorRT-LLM's table is its
//! automatic strategy, which hands large messages to NCCL itself; vLLM's CUDA-graph rows), else
//! NCCL; `nccl` and `custom` force one. A collective's own `algo` overrides it: `multishot` →
//! custom, `ring` / `ring2d` → NCCL.
//!
//! # Fallback and its count
//!
//! A kernel kind with no table (norms, activations, RoPE, embedding, top-k, grouped GEMMs,
//! batched GEMMs, MLA attention), a data type without a table, a shape outside the measured
//! grid (or next to an unmeasured point), a GPU count without data, a scale-out collective and
//! send/recv are all costed by the calibrated `roofline` (built with `fallback_params`) and
//! counted: [`Measured::stats`] per instance, [`fallbacks`] / [`stats`] for the whole process
//! (`out_of_grid` and `no_table` apart: kinds without a table fall back by design). The host
//! caches costs by shape, so the counts are of distinct shapes asked for. A shape outside the
//! tables logs a warning once per kernel kind; a kind without a table logs at debug level.

pub mod aic;
pub mod embedded;
pub mod frame;
pub mod grid;
pub mod samples;

use aic::{AttnKey, AttnTables, CommTables, GemmTables, Store};
use reallm_plugin_api::{
    parse_params, register_plugin, Collective, CollectiveKind, CommAlgo, Constructor, DType, DeviceSpec, Kernel, KernelBackend, LinkScope,
    PluginError, PluginInfo, PluginKind, PluginRegistration,
};
use reallm_roofline::{Roofline, RooflineParams};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The plugin's name in configs.
pub const NAME: &str = "measured";

static HITS: AtomicU64 = AtomicU64::new(0);
static OUT_OF_GRID: AtomicU64 = AtomicU64::new(0);
static NO_TABLE: AtomicU64 = AtomicU64::new(0);

/// How often lookups were answered from the tables or fell back, over every `measured`
/// instance of the process (or one instance: [`Measured::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Stats {
    /// Answered from a table (exact or interpolated).
    pub table: u64,
    /// A table exists for the kind, but the shape, data type or GPU count is outside it.
    pub out_of_grid: u64,
    /// No table for this kind of kernel or collective (norms, activations, send/recv, ...).
    pub no_table: u64,
}

impl Stats {
    /// All fallbacks (`out_of_grid + no_table`).
    pub fn fallbacks(&self) -> u64 {
        self.out_of_grid + self.no_table
    }
}

/// Process-wide lookup counts of every `measured` instance.
pub fn stats() -> Stats {
    Stats {
        table: HITS.load(Ordering::Relaxed),
        out_of_grid: OUT_OF_GRID.load(Ordering::Relaxed),
        no_table: NO_TABLE.load(Ordering::Relaxed),
    }
}

/// Process-wide number of kernels and collectives costed by the fallback roofline.
pub fn fallbacks() -> u64 {
    stats().fallbacks()
}

/// Serving framework whose measured kernels to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    #[default]
    #[serde(alias = "tensorrt_llm", alias = "trt_llm", alias = "tensorrt-llm")]
    Trtllm,
    Vllm,
    Sglang,
}

impl Framework {
    /// Folder name in the AIConfigurator layout.
    pub fn dir(self) -> &'static str {
        match self {
            Framework::Trtllm => "trtllm",
            Framework::Vllm => "vllm",
            Framework::Sglang => "sglang",
        }
    }
}

/// Which all-reduce a tensor-parallel step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllReduceImpl {
    /// The framework's custom all-reduce where measured, else NCCL.
    #[default]
    Auto,
    /// NCCL.
    Nccl,
    /// The framework's custom (one-shot / two-shot) all-reduce.
    Custom,
}

/// Parameters of the `measured` backend.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasuredParams {
    /// An AIConfigurator `systems/` folder (holding `data/<system>/...`) or a folder of
    /// `<system>/...` folders. Default: the subset shipped in the binary.
    pub data_dir: Option<PathBuf>,
    /// AIConfigurator system name (`h100_sxm`, `h200_sxm`, `b200_sxm`, `a100_sxm`, ...).
    /// Default: from the device name.
    pub system: Option<String>,
    /// `trtllm` (default), `vllm` or `sglang`.
    pub framework: Framework,
    /// Framework version folder; default the newest present.
    pub version: Option<String>,
    /// NCCL version folder under `comm/nccl/`; default the newest present.
    pub nccl_version: Option<String>,
    /// `auto` (default), `nccl` or `custom`.
    pub allreduce: AllReduceImpl,
    /// Parameters of the fallback `roofline` backend.
    pub fallback_params: serde_json::Value,
}

/// The measured backend bound to one device.
pub struct Measured {
    system: String,
    framework: Framework,
    version: String,
    nccl_version: Option<String>,
    store: String,
    gemm: GemmTables,
    context: AttnTables,
    generation: AttnTables,
    comm: CommTables,
    allreduce: AllReduceImpl,
    fallback: Roofline,
    hits: AtomicU64,
    out_of_grid: AtomicU64,
    no_table: AtomicU64,
    warned: Mutex<BTreeSet<&'static str>>,
}

impl std::fmt::Debug for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Measured")
            .field("system", &self.system)
            .field("framework", &self.framework)
            .field("version", &self.version)
            .finish()
    }
}

fn params_err(message: String) -> PluginError {
    PluginError::Params { plugin: NAME.into(), message }
}

/// AIConfigurator's GEMM dtype for a kernel's operand types (by the weight type; see the crate
/// docs). `None`: no table of that kind exists.
pub fn gemm_dtype(a: DType, w: DType) -> Option<&'static str> {
    let sixteen = |d: DType| matches!(d, DType::Bf16 | DType::F16);
    Some(match w {
        DType::Bf16 | DType::F16 if sixteen(a) => "bfloat16",
        DType::F8 if sixteen(a) || a == DType::F8 => "fp8",
        DType::F8Block if sixteen(a) || matches!(a, DType::F8 | DType::F8Block) => "fp8_block",
        DType::F4 | DType::Nvfp4 if sixteen(a) || matches!(a, DType::F8 | DType::F4 | DType::Nvfp4) => "nvfp4",
        DType::Mxfp4 if sixteen(a) || matches!(a, DType::F8 | DType::Mxfp4) => "mxfp4",
        _ => return None,
    })
}

/// AIConfigurator's attention dtype name.
pub fn attn_dtype(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::Bf16 | DType::F16 => "bfloat16",
        DType::F8 | DType::F8Block => "fp8",
        DType::F4 | DType::Nvfp4 => "nvfp4",
        _ => return None,
    })
}

/// Prompt length whose causal attention has `pairs_per_seq` query–key pairs: `L(L+1)/2 = pairs`.
pub fn equivalent_prompt(pairs_per_seq: f64) -> f64 {
    ((8.0 * pairs_per_seq + 1.0).sqrt() - 1.0) / 2.0
}

/// Outcome of a table lookup.
enum Look {
    Hit(f64),
    OutOfGrid,
    NoTable,
}

impl Measured {
    /// Load the tables named by `params` for `device`.
    pub fn new(params: &MeasuredParams, device: &DeviceSpec) -> Result<Measured, PluginError> {
        let store = match &params.data_dir {
            Some(d) => aic::check_dir(d)?,
            None => Store::Embedded,
        };
        let system = match &params.system {
            Some(s) => s.clone(),
            None => aic::system_for_device(&device.name).map(String::from).ok_or_else(|| {
                params_err(format!(
                    "no AIConfigurator system known for device `{}`; set `system` (present in {}: {})",
                    device.name,
                    store.describe(),
                    store.systems().join(", ")
                ))
            })?,
        };
        let systems = store.systems();
        if !systems.contains(&system) {
            return Err(params_err(format!(
                "no measured data for system `{system}` in {} (systems present: {}){}",
                store.describe(),
                if systems.is_empty() { "none".into() } else { systems.join(", ") },
                if system == "gb200" { "; `system: b200_sxm` uses B200's tables for the same GPU generation" } else { "" }
            )));
        }
        let fw = params.framework.dir();
        // Versions of this framework across its families.
        let mut versions: BTreeSet<String> = BTreeSet::new();
        for fam in ["gemm", "attention", "comm"] {
            versions.extend(store.list(&system, &[fam, fw]));
        }
        if versions.is_empty() {
            let mut fws: BTreeSet<String> = BTreeSet::new();
            for fam in ["gemm", "attention"] {
                fws.extend(store.list(&system, &[fam]));
            }
            return Err(params_err(format!(
                "no `{fw}` tables for `{system}` in {} (frameworks present: {})",
                store.describe(),
                fws.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let versions: Vec<String> = versions.into_iter().collect();
        let version = match &params.version {
            Some(v) if versions.contains(v) => v.clone(),
            Some(v) => return Err(params_err(format!("no `{fw}` version `{v}` for `{system}` (present: {})", versions.join(", ")))),
            None => aic::newest(&versions).unwrap_or_default(),
        };
        let nccl_versions = store.list(&system, &["comm", "nccl"]);
        let nccl_version = match &params.nccl_version {
            Some(v) if nccl_versions.contains(v) => Some(v.clone()),
            Some(v) => return Err(params_err(format!("no NCCL version `{v}` for `{system}` (present: {})", nccl_versions.join(", ")))),
            None => aic::newest(&nccl_versions),
        };
        let gemm = match store.read(&system, "gemm", fw, &version, "gemm_perf")? {
            Some(f) => GemmTables::from_frame(&f)?,
            None => GemmTables::default(),
        };
        let context = match store.read(&system, "attention", fw, &version, "context_attention_perf")? {
            Some(f) => AttnTables::from_frame(&f, false)?,
            None => AttnTables::default(),
        };
        let generation = match store.read(&system, "attention", fw, &version, "generation_attention_perf")? {
            Some(f) => AttnTables::from_frame(&f, true)?,
            None => AttnTables::default(),
        };
        let mut comm = CommTables::default();
        if let Some(v) = &nccl_version {
            if let Some(f) = store.read(&system, "comm", "nccl", v, "nccl_perf")? {
                comm.add_nccl(&f)?;
            }
        }
        if let Some(f) = store.read(&system, "comm", fw, &version, "custom_allreduce_perf")? {
            comm.add_custom(&f)?;
        }
        if gemm.by_dtype.is_empty()
            && context.by_key.is_empty()
            && generation.by_key.is_empty()
            && comm.nccl.is_empty()
            && comm.custom.is_empty()
        {
            return Err(params_err(format!("no readable tables for `{system}` / `{fw}` {version} in {}", store.describe())));
        }
        let rp: RooflineParams = parse_params("roofline", &params.fallback_params)?;
        let fallback = Roofline::new(device.clone(), rp)?;
        Ok(Measured {
            system,
            framework: params.framework,
            version,
            nccl_version,
            store: store.describe(),
            gemm,
            context,
            generation,
            comm,
            allreduce: params.allreduce,
            fallback,
            hits: AtomicU64::new(0),
            out_of_grid: AtomicU64::new(0),
            no_table: AtomicU64::new(0),
            warned: Mutex::new(BTreeSet::new()),
        })
    }

    /// Lookup counts of this instance.
    pub fn stats(&self) -> Stats {
        Stats {
            table: self.hits.load(Ordering::Relaxed),
            out_of_grid: self.out_of_grid.load(Ordering::Relaxed),
            no_table: self.no_table.load(Ordering::Relaxed),
        }
    }

    /// What was loaded, one line per table family.
    pub fn describe(&self) -> String {
        let gemm: Vec<String> = self.gemm.by_dtype.iter().map(|(d, g)| format!("{d} ({} points)", g.points())).collect();
        let p = |g: &AttnTables| g.by_key.values().map(|g| g.points()).sum::<usize>();
        let nccl: BTreeSet<u32> = self.comm.nccl.keys().map(|k| k.1).collect();
        let custom: Vec<u32> = self.comm.custom.keys().copied().collect();
        format!(
            "system {} / {} {} (NCCL {}) from {}\n  gemm: {}\n  context attention: {} head layouts, {} points\n  generation attention: {} head layouts, {} points\n  NCCL GPUs: {:?}; custom all-reduce GPUs: {:?}; all-reduce: {:?}",
            self.system,
            self.framework.dir(),
            self.version,
            self.nccl_version.as_deref().unwrap_or("none"),
            self.store,
            if gemm.is_empty() { "none".into() } else { gemm.join(", ") },
            self.context.by_key.len(),
            p(&self.context),
            self.generation.by_key.len(),
            p(&self.generation),
            nccl,
            custom,
            self.allreduce
        )
    }

    /// The AIConfigurator system, framework and version in use.
    pub fn source(&self) -> (&str, Framework, &str) {
        (&self.system, self.framework, &self.version)
    }

    /// The measured (or interpolated) time of `k`, if the tables cover it.
    pub fn lookup(&self, k: &Kernel) -> Option<f64> {
        match self.look_kernel(k) {
            Look::Hit(t) => Some(t),
            _ => None,
        }
    }

    /// The measured (or interpolated) time of `c`, if the tables cover it.
    pub fn lookup_collective(&self, c: &Collective) -> Option<f64> {
        match self.look_collective(c) {
            Look::Hit(t) => Some(t),
            _ => None,
        }
    }

    fn look_kernel(&self, k: &Kernel) -> Look {
        let hit = |t: Option<f64>| t.map_or(Look::OutOfGrid, Look::Hit);
        match *k {
            Kernel::Gemm { b: 1, m, k, n, a, w, .. } => {
                let Some(dt) = gemm_dtype(a, w) else { return Look::OutOfGrid };
                match self.gemm.by_dtype.get(dt) {
                    Some(g) => hit(g.lookup([m as f64, n as f64, k as f64])),
                    None if self.gemm.by_dtype.is_empty() => Look::NoTable,
                    None => Look::OutOfGrid,
                }
            }
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => {
                if self.context.by_key.is_empty() {
                    return Look::NoTable;
                }
                if !causal || kv_shared || d_qk != d_v || seqs == 0 || q_len == 0 {
                    return Look::OutOfGrid;
                }
                let (Some(ad), Some(kd)) = (attn_dtype(act), attn_dtype(kv)) else { return Look::OutOfGrid };
                let key = AttnKey { attn_dtype: ad.into(), kv_dtype: kd.into(), heads: q_heads, kv_heads, head_dim: d_qk };
                let Some(g) = self.context.by_key.get(&key) else { return Look::OutOfGrid };
                let pairs = Kernel::attention_pairs(seqs, q_len, kv_len.max(q_len), true) as f64 / seqs as f64;
                hit(g.lookup([seqs as f64, equivalent_prompt(pairs)]))
            }
            Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => {
                if self.generation.by_key.is_empty() {
                    return Look::NoTable;
                }
                if kv_shared || d_qk != d_v || seqs == 0 || kv_total == 0 {
                    return Look::OutOfGrid;
                }
                let (Some(ad), Some(kd)) = (attn_dtype(act), attn_dtype(kv)) else { return Look::OutOfGrid };
                let key = |a: &str| AttnKey { attn_dtype: a.into(), kv_dtype: kd.into(), heads: q_heads, kv_heads, head_dim: d_qk };
                let g = self.generation.by_key.get(&key(ad)).or_else(|| self.generation.by_key.get(&key("bfloat16")));
                let Some(g) = g else { return Look::OutOfGrid };
                hit(g.lookup([seqs as f64, kv_total as f64 / seqs as f64]))
            }
            _ => Look::NoTable,
        }
    }

    fn look_collective(&self, c: &Collective) -> Look {
        if c.kind == CollectiveKind::SendRecv {
            return Look::NoTable;
        }
        if c.scope == LinkScope::ScaleOut {
            return Look::OutOfGrid;
        }
        let bytes = c.bytes as f64;
        let nccl = |op: &str| self.comm.nccl.get(&(op.to_string(), c.ranks)).and_then(|g| g.lookup([bytes]));
        let t = match c.kind {
            CollectiveKind::AllReduce => {
                let imp = match c.algo {
                    CommAlgo::Multishot => AllReduceImpl::Custom,
                    CommAlgo::Ring | CommAlgo::Ring2d => AllReduceImpl::Nccl,
                    CommAlgo::Auto => self.allreduce,
                    // An algorithm of a later plugin API: no table (the fallback answers).
                    _ => return Look::NoTable,
                };
                let custom = || self.comm.custom.get(&c.ranks).and_then(|g| g.lookup([bytes]));
                match imp {
                    AllReduceImpl::Auto => custom().or_else(|| nccl("all_reduce")),
                    AllReduceImpl::Nccl => nccl("all_reduce"),
                    AllReduceImpl::Custom => custom(),
                }
            }
            CollectiveKind::AllGather => nccl("all_gather"),
            CollectiveKind::ReduceScatter => nccl("reduce_scatter"),
            CollectiveKind::AllToAll => nccl("alltoall"),
            // Send/recv and kinds of a later plugin API: no table.
            _ => return Look::NoTable,
        };
        if self.comm.nccl.is_empty() && self.comm.custom.is_empty() {
            return Look::NoTable;
        }
        t.map_or(Look::OutOfGrid, Look::Hit)
    }

    fn count(&self, look: &Look, kind: &'static str, what: &dyn std::fmt::Debug) {
        match look {
            Look::Hit(_) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                HITS.fetch_add(1, Ordering::Relaxed);
            }
            Look::OutOfGrid | Look::NoTable => {
                if matches!(look, Look::OutOfGrid) {
                    self.out_of_grid.fetch_add(1, Ordering::Relaxed);
                    OUT_OF_GRID.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.no_table.fetch_add(1, Ordering::Relaxed);
                    NO_TABLE.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut w) = self.warned.lock() {
                    if w.insert(kind) {
                        // Kinds without any table (norms, activations, ...) are expected: debug.
                        if matches!(look, Look::OutOfGrid) {
                            log::warn!(
                                "measured backend: a {kind} outside the measured tables ({what:?}); costing it and others like it with the calibrated roofline"
                            );
                        } else {
                            log::debug!("measured backend: no table for {kind} kernels; costed with the calibrated roofline");
                        }
                    }
                }
            }
        }
    }
}

impl KernelBackend for Measured {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        let look = self.look_kernel(k);
        self.count(&look, k.kind_name(), k);
        match look {
            Look::Hit(t) => Ok(t),
            _ => self.fallback.kernel_time(k),
        }
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        if c.ranks == 0 {
            return Err(PluginError::invalid("collective over 0 ranks"));
        }
        if c.ranks == 1 && c.kind != CollectiveKind::SendRecv {
            return Ok(0.0);
        }
        let look = self.look_collective(c);
        self.count(&look, c.kind.name(), c);
        match look {
            Look::Hit(t) => Ok(t),
            _ => self.fallback.collective_time(c),
        }
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        let s = self.stats();
        if s.fallbacks() > 0 {
            log::info!(
                "measured backend: {} lookups from the tables, {} outside them and {} without a table costed by the roofline",
                s.table,
                s.out_of_grid,
                s.no_table
            );
        }
    }
}

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let p: MeasuredParams = parse_params(NAME, params)?;
    Ok(Box::new(Measured::new(&p, device)?))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: NAME,
        aliases: &["aiconfigurator", "aic"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "Measured GEMM, attention and collective times (NVIDIA AIConfigurator tables, H100/H200/B200/A100) with a calibrated-roofline fallback",
        example_params: "framework: trtllm        # trtllm (default), vllm, sglang\n\
                         # version: 1.3.0rc20     # default: newest present\n\
                         # system: h100_sxm       # default: from the device name\n\
                         # data_dir: path/to/aiconfigurator/systems   # default: the shipped subset\n\
                         allreduce: auto          # auto (framework's custom all-reduce, else NCCL), nccl, custom\n\
                         fallback_params: {}      # roofline parameters for what the tables do not cover\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

#[cfg(test)]
mod tests;
