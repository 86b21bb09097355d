//! Measured points as kernels and collectives, with the split into fitting and held-out parts
//! that the roofline fit (`examples/fit_aic.rs`) and `reallm validate` share.
//!
//! Hold-out rules (fixed, so that the reported held-out error is of points the fit never saw):
//!
//! * GEMMs: whole shapes are held out: the `(n, k)` pairs whose grid indices have an odd sum
//!   (a checkerboard over the measured `n` and `k` values; every `m` of such a shape is held out);
//! * attention: whole head layouts are held out: every other `(heads, KV heads)` pair in table
//!   order;
//! * collectives: the odd powers of two in bytes (2 KiB, 8 KiB, ...) are held out of a refit
//!   on the even ones (1 KiB, 4 KiB, ...);
//! * across frameworks: fitted on TensorRT-LLM, tested on vLLM's tables of the same GPU.

use crate::aic::{self, AttnTables, CommTables, GemmTables, Store};
use reallm_plugin_api::{Collective, CollectiveKind, CommAlgo, DType, Kernel, LinkScope, PluginError};

/// The tables of one system and framework.
#[derive(Debug, Clone, Default)]
pub struct SystemTables {
    pub system: String,
    pub framework: String,
    pub version: String,
    pub nccl_version: Option<String>,
    pub gemm: GemmTables,
    pub context: AttnTables,
    pub generation: AttnTables,
    pub comm: CommTables,
}

/// Load `system`'s tables of `framework` (newest version, newest NCCL); `None` when the
/// framework has no tables for the system.
pub fn load(store: &Store, system: &str, framework: &str) -> Result<Option<SystemTables>, PluginError> {
    let mut versions: Vec<String> = Vec::new();
    for fam in ["gemm", "attention", "comm"] {
        for v in store.list(system, &[fam, framework]) {
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    let Some(version) = aic::newest(&versions) else { return Ok(None) };
    let nccl_version = aic::newest(&store.list(system, &["comm", "nccl"]));
    let mut t = SystemTables {
        system: system.into(),
        framework: framework.into(),
        version: version.clone(),
        nccl_version: nccl_version.clone(),
        ..Default::default()
    };
    if let Some(f) = store.read(system, "gemm", framework, &version, "gemm_perf")? {
        t.gemm = GemmTables::from_frame(&f)?;
    }
    if let Some(f) = store.read(system, "attention", framework, &version, "context_attention_perf")? {
        t.context = AttnTables::from_frame(&f, false)?;
    }
    if let Some(f) = store.read(system, "attention", framework, &version, "generation_attention_perf")? {
        t.generation = AttnTables::from_frame(&f, true)?;
    }
    if let Some(v) = &nccl_version {
        if let Some(f) = store.read(system, "comm", "nccl", v, "nccl_perf")? {
            t.comm.add_nccl(&f)?;
        }
    }
    if let Some(f) = store.read(system, "comm", framework, &version, "custom_allreduce_perf")? {
        t.comm.add_custom(&f)?;
    }
    Ok(Some(t))
}

/// The kernel a `gemm_perf` row of AIConfigurator dtype `dtype` measures (W8A8 / W4A4 kernels
/// declared by their weight type, activations 16-bit), or `None` for dtypes not modelled.
pub fn gemm_kernel(dtype: &str, m: u64, n: u64, k: u64) -> Option<Kernel> {
    let w = match dtype {
        "bfloat16" | "float16" => DType::Bf16,
        "fp8" => DType::F8,
        "fp8_block" => DType::F8Block,
        "nvfp4" => DType::F4,
        "mxfp4" => DType::Mxfp4,
        _ => return None,
    };
    Some(Kernel::Gemm { b: 1, m, k, n, a: DType::Bf16, w, out: DType::Bf16 })
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "bfloat16" | "float16" => DType::Bf16,
        "fp8" => DType::F8,
        "nvfp4" => DType::F4,
        _ => return None,
    })
}

/// One measured kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelSample {
    pub kernel: Kernel,
    pub measured_s: f64,
    pub held_out: bool,
}

/// Every GEMM point of the tables by AIConfigurator dtype (`bfloat16`, `fp8`, ...).
pub fn gemm_samples(t: &GemmTables) -> Vec<(String, Vec<KernelSample>)> {
    let mut out = Vec::new();
    for (dt, g) in &t.by_dtype {
        let [ms, ns, ks] = &g.axes;
        let mut v = Vec::new();
        for &m in ms {
            for (i_n, &n) in ns.iter().enumerate() {
                for (i_k, &k) in ks.iter().enumerate() {
                    let (Some(t), Some(kernel)) = (g.at([m, n, k]), gemm_kernel(dt, m, n, k)) else { continue };
                    v.push(KernelSample { kernel, measured_s: t, held_out: (i_n + i_k) % 2 == 1 });
                }
            }
        }
        if !v.is_empty() {
            out.push((dt.clone(), v));
        }
    }
    out
}

/// Prefill attention points (`prefill = true`) and decode attention points of the tables,
/// alternate head layouts held out.
pub fn attention_samples(context: &AttnTables, generation: &AttnTables) -> Vec<(bool, KernelSample)> {
    let mut out = Vec::new();
    for (prefill, tables) in [(true, context), (false, generation)] {
        let mut layouts: Vec<(u64, u64)> = tables.by_key.keys().map(|k| (k.heads, k.kv_heads)).collect();
        layouts.sort_unstable();
        layouts.dedup();
        for (key, g) in &tables.by_key {
            let (Some(act), Some(kv)) = (dtype_of(&key.attn_dtype), dtype_of(&key.kv_dtype)) else { continue };
            let held_out = layouts.iter().position(|l| *l == (key.heads, key.kv_heads)).unwrap_or(0) % 2 == 1;
            let [bs, ss] = &g.axes;
            for &b in bs {
                for &s in ss {
                    let Some(t) = g.at([b, s]) else { continue };
                    let kernel = if prefill {
                        Kernel::Attention {
                            seqs: b,
                            q_len: s,
                            kv_len: s,
                            q_heads: key.heads,
                            kv_heads: key.kv_heads,
                            d_qk: key.head_dim,
                            d_v: key.head_dim,
                            causal: true,
                            kv_shared: false,
                            act,
                            kv,
                        }
                    } else {
                        Kernel::DecodeAttention {
                            seqs: b,
                            kv_total: b * s,
                            q_heads: key.heads,
                            kv_heads: key.kv_heads,
                            d_qk: key.head_dim,
                            d_v: key.head_dim,
                            kv_shared: false,
                            act,
                            kv,
                        }
                    };
                    out.push((prefill, KernelSample { kernel, measured_s: t, held_out }));
                }
            }
        }
    }
    out
}

/// One measured collective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommSample {
    /// `nccl`, or the framework (`trtllm`, `vllm`) for its custom all-reduce.
    pub implementation: &'static str,
    pub collective: Collective,
    pub measured_s: f64,
    /// Between the fit's knots (an odd power of two in bytes).
    pub held_out: bool,
}

/// Every collective point of the tables (`framework` names the custom all-reduce's rows).
pub fn comm_samples(c: &CommTables, framework: &'static str) -> Vec<CommSample> {
    let mut out = Vec::new();
    let mut push = |implementation: &'static str, kind: CollectiveKind, ranks: u32, g: &crate::grid::Grid<1>| {
        for &bytes in &g.axes[0] {
            if let Some(t) = g.at([bytes]) {
                let algo = if implementation == "nccl" { CommAlgo::Ring } else { CommAlgo::Multishot };
                let odd = bytes.is_power_of_two() && bytes.trailing_zeros() % 2 == 1;
                out.push(CommSample {
                    implementation,
                    collective: Collective { kind, bytes, ranks, scope: LinkScope::ScaleUp, algo },
                    measured_s: t,
                    held_out: odd,
                });
            }
        }
    };
    for ((op, ranks), g) in &c.nccl {
        let kind = match op.as_str() {
            "all_reduce" => CollectiveKind::AllReduce,
            "all_gather" => CollectiveKind::AllGather,
            "reduce_scatter" => CollectiveKind::ReduceScatter,
            "alltoall" => CollectiveKind::AllToAll,
            _ => continue,
        };
        push("nccl", kind, *ranks, g);
    }
    for (ranks, g) in &c.custom {
        push(framework, CollectiveKind::AllReduce, *ranks, g);
    }
    out
}

/// Median and worst of absolute relative errors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Errors {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
    pub worst: f64,
}

impl Errors {
    /// Statistics of `|pred/meas − 1|` values.
    pub fn of(mut e: Vec<f64>) -> Errors {
        if e.is_empty() {
            return Errors::default();
        }
        e.sort_by(f64::total_cmp);
        let n = e.len();
        let median = if n % 2 == 1 { e[n / 2] } else { 0.5 * (e[n / 2 - 1] + e[n / 2]) };
        let p90 = e[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
        Errors { n, median, p90, worst: e[n - 1] }
    }
}
