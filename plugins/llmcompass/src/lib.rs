//! `llmcompass`: a kernel backend that is an exact, fast port of the LLMCompass kernel
//! performance model (Princeton, ISCA 2024, BSD-3-Clause), the model behind the original
//! ReaLLM's `llmcompass` method.
//!
//! The model is described in `shared/reference/llmcompass-model.md`; section numbers (§) in
//! this crate refer to it. A device is seen as `C` cores of `S` systolic arrays and vector units,
//! an L2 and DRAM ([`Hardware`], §1). A matmul is tiled twice (DRAM → L2 → per-core L1), the
//! `heuristic-GPU` mapper tries up to 10,368 tilings, and each is simulated as a two-level
//! pipeline of tile reads, systolic-array compute and write-backs ([`matmul`], §2.1). Softmax,
//! layer norm and element-wise kernels have their own closed forms ([`vector`], §2.2–2.4), and
//! all-reduce has LLMCompass's FC/RING formula ([`comm`], §3).
//!
//! # Exactness
//!
//! With the default parameters the matmul, batched-matmul, softmax, layernorm, GeLU/SiLU/Mul
//! and all-reduce figures are LLMCompass's, cycle for cycle: the same candidate order, the
//! same first-wins tie-breaking (including CPython's `set` order for the L0 splits), the same
//! float expressions before each `ceil`. The only substitution is the one §2.1 documents: the
//! SCALE-Sim look-up tables are replaced by the closed form every LUT row satisfies.
//!
//! # Quirks (§7) and their switches
//!
//! `quirks: true` (the default) reproduces LLMCompass; `quirks: false` fixes the ones marked
//! "switch".
//!
//! 1. The matmul roofline counts elements, not bytes (2× optimistic at fp16).
//!    Switch: [`matmul_roofline_s`]'s `count_elements` argument (the backend never uses the
//!    roofline).
//! 2. The GEMV shortcut applies only for `M == 1` or `N == 1`; `M = 2..63` is tiled. Kept.
//! 3. The under-utilised systolic-array shortcuts divide by `util / 0.98`, a 2 % speed-up.
//!    Switch: with `quirks: false` they charge a 2 % loss instead.
//! 4. `flops_per_exp = 35` is hard-coded and launch overheads are always the A100 ones.
//!    Kept; overheads are only added with `add_launch_overhead: true`.
//! 5. Non-matmul operators always use 2-byte (fp16) words. Switch: with `quirks: false` they
//!    use the kernel's data type.
//! 6. Softmax's L1 double-buffer flag only changes the fit test, and softmax adds one extra
//!    wave per L2 tile. Kept (the extra wave is a pipeline-fill penalty, not an error).
//! 7. The L2-level partial-sum reduction uses device-wide vector throughput, the L1-level one
//!    per-core throughput. Kept.
//! 8. Results on non-square arrays depend on LUT contents in LLMCompass: a short array tile
//!    `(m, n, k)` missing from its look-up table is answered by the swapped row `(n, m, k)` when
//!    that exists, i.e. with the other orientation's fold count. Reproduced within each matmul
//!    search (`systolic::SaLut`: the table starts empty and fills in the search's order, pruned
//!    candidates included; the backend's search memo, shared across searches, holds only what
//!    no table can change and re-prices what this search's table does, see
//!    [`matmul::SearchMemo`]), which makes GH100 M = 128, K = 8192, N = 3584 exact (32,567 cycles,
//!    2.3 % above the pure fold formula). Rows LLMCompass's shipped tables (or earlier runs)
//!    already hold cannot be known here; a shape whose result hinges on them may still differ.
//!    Switch: with `quirks: false` the pure fold formula is used throughout. Square arrays
//!    (GA100, B200) are unaffected.
//! 9. `BatchedMatmul` takes the min of "bs separate GEMMs" and "one K-concatenated GEMM plus
//!    extra writes". Kept.
//! 10. `TransformerBlockInitComputationTP.roofline_model` fails for one device. Not applicable
//!     (this backend costs kernels, not transformer blocks).
//!
//! # Kernels LLMCompass lacks
//!
//! Grouped GEMM (experts), fused attention, fused decode attention, RoPE, residual add,
//! embedding and router top-k are modelled with LLMCompass's own building blocks; see
//! [`LlmCompass::kernel_seconds`] for each rule.

pub mod comm;
pub mod devices;
pub mod fused;
pub mod hardware;
pub mod matmul;
pub mod systolic;
pub mod vector;

pub use hardware::Hardware;
pub use matmul::{matmul_roofline_s, GemmPrecision, Mapping, MatmulEstimate, MatmulMethod};

use reallm_plugin_api::{
    register_plugin, Collective, Constructor, DType, DeviceSpec, Kernel, KernelBackend, PluginError, PluginInfo, PluginKind,
    PluginRegistration,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// The plugin's name in configs.
pub const NAME: &str = "llmcompass";

/// LLMCompass's launch overheads (`overhead_dict["A100"]`, §1), seconds, added per kernel only
/// with `add_launch_overhead: true`.
pub mod overhead {
    /// Per matmul (and per sub-GEMM of a grouped GEMM).
    pub const MATMUL_S: f64 = 21e-6;
    /// Per softmax.
    pub const SOFTMAX_S: f64 = 12e-6;
    /// Per layer norm.
    pub const LAYERNORM_S: f64 = 45e-6;
    /// Per GeLU; also used for the other element-wise kernels (SiLU, Mul, Add, RoPE).
    pub const GELU_S: f64 = 45e-6;
}

/// Parameters of the `llmcompass` backend.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Reproduce LLMCompass exactly, quirks included (see the crate docs for each quirk).
    pub quirks: bool,
    /// Add LLMCompass's A100 launch overhead per kernel (matmul 21 µs, softmax 12 µs,
    /// layernorm 45 µs, GeLU 45 µs), as its transformer blocks do.
    pub add_launch_overhead: bool,
    /// The matmul mapper. Only `heuristic-GPU` (the mode ReaLLM uses) is implemented;
    /// `heuristic-GPU-fast` is accepted as the same search (the fork runs it in a process pool).
    pub compile_mode: String,
}

impl Default for Params {
    fn default() -> Self {
        Params { quirks: true, add_launch_overhead: false, compile_mode: "heuristic-GPU".to_string() }
    }
}

impl Params {
    fn validate(&self) -> Result<(), PluginError> {
        match self.compile_mode.as_str() {
            "heuristic-GPU" | "heuristic-GPU-fast" => Ok(()),
            other => Err(PluginError::Params {
                plugin: NAME.to_string(),
                message: format!("compile_mode `{other}` is not implemented; use `heuristic-GPU`"),
            }),
        }
    }
}

/// Matmul costs already computed, keyed by shape and precision, and the search memo (priced
/// L2 tile shapes) of each precision.
#[derive(Debug, Default)]
struct MatmulCache {
    seconds: HashMap<(u64, u64, u64, matmul::PrecisionKey), f64>,
    memos: HashMap<matmul::PrecisionKey, matmul::SearchMemo>,
}

/// The LLMCompass kernel backend, bound to one device.
#[derive(Debug)]
pub struct LlmCompass {
    device: DeviceSpec,
    hw: Hardware,
    params: Params,
    matmuls: Mutex<MatmulCache>,
}

impl LlmCompass {
    /// Build the backend for `device`.
    pub fn new(device: &DeviceSpec, params: Params) -> Result<LlmCompass, PluginError> {
        params.validate()?;
        Ok(LlmCompass { device: device.clone(), hw: Hardware::from_spec(device)?, params, matmuls: Mutex::new(MatmulCache::default()) })
    }

    /// The derived device quantities.
    pub fn hardware(&self) -> &Hardware {
        &self.hw
    }

    /// The parameters in force.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Precision of a GEMM with operand types `a`, `w` and result `out`: each operand's own
    /// width; at L1 a 16-bit operand takes the systolic array's word (as in LLMCompass), a
    /// narrower one its own; the MAC rate is the device's scaled by the multiplier of the wider
    /// of `a` and `w`.
    pub fn gemm_precision(&self, a: DType, w: DType, out: DType) -> GemmPrecision {
        let l1 = |d: DType| if d.bits() == 16 { self.hw.sa_word_bits } else { d.bits() };
        let compute = if a.bits() >= w.bits() { a } else { w };
        GemmPrecision {
            a_bits: a.bits(),
            w_bits: w.bits(),
            out_bits: out.bits(),
            l1_a_bits: l1(a),
            l1_w_bits: l1(w),
            l1_out_bits: l1(out),
            mac_per_cycle: self.hw.mac_per_cycle * hardware::mac_multiplier(&self.device, compute),
            underuse_speedup: self.params.quirks,
            lut_history: self.params.quirks,
        }
    }

    /// Seconds of one `[m, k] × [k, n]` matmul (GEMV shortcut or tiled search), cached. Tiled
    /// searches share a [`matmul::SearchMemo`] per precision (same results, less time; each
    /// search still keeps its own look-up-table history).
    pub fn matmul_seconds(&self, m: u64, k: u64, n: u64, prec: &GemmPrecision) -> Result<f64, PluginError> {
        let key = (m, k, n, prec.key());
        let mut cache = self.matmuls.lock().map_err(|_| PluginError::invalid("llmcompass matmul cache poisoned"))?;
        if let Some(&s) = cache.seconds.get(&key) {
            return Ok(s);
        }
        let memo = cache.memos.entry(key.3).or_default();
        let s = matmul::matmul_memo(&self.hw, m, k, n, prec, memo)?.seconds;
        cache.seconds.insert(key, s);
        Ok(s)
    }

    /// Word size of vector-unit operators: fp16 with quirks (quirk 5), the kernel's otherwise.
    fn vector_word(&self, dtype: DType) -> f64 {
        if self.params.quirks {
            2.0
        } else {
            dtype.bytes()
        }
    }

    /// Seconds of one kernel, without launch overhead. The rules:
    ///
    /// * `Gemm`, `b = 1`: `Matmul` (§2.1). `b > 1`: `BatchedMatmul` (§2.1.4).
    /// * `GroupedGemm`: the groups run one after another, each as a `Matmul` over the whole
    ///   chip: one group of `max_rows` rows (the most loaded expert) and `groups − 1` groups of
    ///   `ceil((rows − max_rows) / (groups − 1))` rows. Small groups are weight-streaming bound
    ///   and large ones compute bound, so the sum charges every group's weights once and all
    ///   the flops at the chip's rate, as the real kernel does. (`max_rows` is raised to at
    ///   least `ceil(rows / groups)` and capped at `rows`.)
    /// * `Attention`: [`fused::attention_cycles`]; `DecodeAttention`: [`fused::decode_attention_s`].
    /// * `Softmax`: §2.2; `LayerNorm`: §2.3 (also for RMSNorm).
    /// * `Gelu`, `Silu`: §2.4 (45 and 39 flop/element); `Mul`: §2.4 (3 tensors, 1 flop);
    ///   `Add` and `Rope` like `Mul`.
    /// * `Embedding`: pure DRAM traffic, `Kernel::bytes() / io_bw`.
    /// * `TopK`: the softmax model over the `[m, n]` scores plus writing the `m·k` (index,
    ///   weight) pairs, 8 bytes each, at DRAM bandwidth.
    ///
    /// Kernels with a zero dimension take no time.
    pub fn kernel_seconds(&self, kernel: &Kernel) -> Result<f64, PluginError> {
        let hw = &self.hw;
        Ok(match *kernel {
            Kernel::Gemm { b, m, k, n, a, w, out } => {
                if b == 0 || m == 0 || k == 0 || n == 0 {
                    return Ok(0.0);
                }
                let prec = self.gemm_precision(a, w, out);
                if b == 1 {
                    self.matmul_seconds(m, k, n, &prec)?
                } else {
                    matmul::batched_matmul_s(hw, b, m, k, n, &prec, |m, k, n| self.matmul_seconds(m, k, n, &prec))?
                }
            }
            Kernel::GroupedGemm { groups, rows, max_rows, k, n, a, w, out } => {
                if groups == 0 || rows == 0 || k == 0 || n == 0 {
                    return Ok(0.0);
                }
                let prec = self.gemm_precision(a, w, out);
                let max_rows = max_rows.max(rows.div_ceil(groups)).min(rows);
                let mut s = self.matmul_seconds(max_rows, k, n, &prec)?;
                if groups > 1 && rows > max_rows {
                    let other = (rows - max_rows).div_ceil(groups - 1);
                    s += (groups - 1) as f64 * self.matmul_seconds(other, k, n, &prec)?;
                }
                s
            }
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => {
                let prec = self.gemm_precision(act, kv, act);
                let shape = fused::AttentionShape { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared };
                hw.seconds(fused::attention_cycles(hw, &shape, &prec, kernel.bytes())?)
            }
            Kernel::DecodeAttention { seqs: _, kv_total, q_heads, kv_heads, act, kv, .. } => {
                let prec = self.gemm_precision(act, kv, act);
                fused::decode_attention_s(hw, &prec, kv_total, q_heads, kv_heads, kernel.flops(), kernel.bytes())
            }
            Kernel::Softmax { m, n, dtype } => {
                if m == 0 || n == 0 {
                    return Ok(0.0);
                }
                hw.seconds(vector::softmax_cycles(hw, m, n, self.vector_word(dtype))?)
            }
            Kernel::LayerNorm { m, n, dtype } => {
                if m == 0 || n == 0 {
                    return Ok(0.0);
                }
                hw.seconds(vector::layernorm_cycles(hw, m, n, self.vector_word(dtype))?)
            }
            Kernel::Gelu { m, n, dtype } => vector::Elementwise::GELU.seconds(hw, m * n, self.vector_word(dtype)),
            Kernel::Silu { m, n, dtype } => vector::Elementwise::SILU.seconds(hw, m * n, self.vector_word(dtype)),
            Kernel::Mul { m, n, dtype } | Kernel::Add { m, n, dtype } | Kernel::Rope { m, n, dtype } => {
                vector::Elementwise::MUL.seconds(hw, m * n, self.vector_word(dtype))
            }
            Kernel::Embedding { .. } => kernel.bytes() / hw.dram_bytes_per_s,
            Kernel::TopK { m, n, k, dtype } => {
                if m == 0 || n == 0 {
                    return Ok(0.0);
                }
                hw.seconds(vector::softmax_cycles(hw, m, n, self.vector_word(dtype))?) + (m * k * 8) as f64 / hw.dram_bytes_per_s
            }
            other => return Err(PluginError::unsupported(format!("the llmcompass backend does not cost {:?} kernels", other.kind()))),
        })
    }

    /// LLMCompass's A100 launch overhead for a kernel (0 unless `add_launch_overhead`): matmul
    /// 21 µs per GEMM (per group of a grouped GEMM, per product of a batched one is *not*
    /// charged: one launch), attention as LLMCompass's unfused blocks charge it (two matmuls
    /// and a softmax), softmax and top-k 12 µs, layer norm 45 µs, element-wise kernels 45 µs
    /// (GeLU's entry), embedding nothing.
    pub fn launch_overhead_s(&self, kernel: &Kernel) -> f64 {
        if !self.params.add_launch_overhead {
            return 0.0;
        }
        match *kernel {
            Kernel::Gemm { .. } => overhead::MATMUL_S,
            Kernel::GroupedGemm { groups, .. } => overhead::MATMUL_S * groups.max(1) as f64,
            Kernel::Attention { .. } | Kernel::DecodeAttention { .. } => 2.0 * overhead::MATMUL_S + overhead::SOFTMAX_S,
            Kernel::Softmax { .. } | Kernel::TopK { .. } => overhead::SOFTMAX_S,
            Kernel::LayerNorm { .. } => overhead::LAYERNORM_S,
            Kernel::Gelu { .. } | Kernel::Silu { .. } | Kernel::Mul { .. } | Kernel::Add { .. } | Kernel::Rope { .. } => overhead::GELU_S,
            Kernel::Embedding { .. } => 0.0,
            // Kernels of a later plugin API are refused by `kernel_seconds`.
            _ => 0.0,
        }
    }
}

impl KernelBackend for LlmCompass {
    fn kernel_time(&self, kernel: &Kernel) -> Result<f64, PluginError> {
        Ok(self.kernel_seconds(kernel)? + self.launch_overhead_s(kernel))
    }

    fn collective_time(&self, collective: &Collective) -> Result<f64, PluginError> {
        comm::collective_s(&self.device.interconnect, &self.device.scale_out, collective)
    }
}

/// The tiled `heuristic-GPU` search of LLMCompass for a `[m, k] × [k, n]` matmul of
/// `word_bytes`-byte elements on `device`: the minimum cycle count and the mapping reaching
/// it first. No GEMV shortcut (use [`matmul::matmul`] for the operator as LLMCompass runs it).
pub fn matmul_cycles(device: &DeviceSpec, m: u64, k: u64, n: u64, word_bytes: u64) -> Result<(u64, Mapping), PluginError> {
    if word_bytes == 0 {
        return Err(PluginError::invalid("word_bytes must be positive"));
    }
    let hw = Hardware::from_spec(device)?;
    matmul::search(&hw, m, k, n, &GemmPrecision::llmcompass(&hw, word_bytes))
}

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let params: Params = reallm_plugin_api::parse_params(NAME, params)?;
    Ok(Box::new(LlmCompass::new(device, params)?))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: NAME,
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary: "LLMCompass tile-level systolic-array model (exact port of its heuristic-GPU mapper), fast",
        example_params: "quirks: true\nadd_launch_overhead: false\ncompile_mode: heuristic-GPU\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

#[cfg(test)]
mod tests;
