//! The calibrated roofline: shape-dependent efficiencies fitted to measured kernel times.
//!
//! A GEMM `b × [m, k] × [k, n]` on a device of `C` cores (SMs) with matrix peak `P` and DRAM
//! bandwidth `B` costs
//!
//! ```text
//! t = launch_s + (t_c^p + t_m^p)^(1/p)          (p = overlap_exponent; p = ∞ → max)
//! t_m = bytes / (B · memory_efficiency)
//! t_c = waves · 2·tm·tn·k / (P/C · matmul_efficiency · s(tm))
//! tm = min(tile_m, ⌈m/16⌉·16),  tn = tile_n
//! waves = ⌈b·⌈m/tm⌉·⌈n/tn⌉ / C⌉                (tile quantisation: whole waves over the SMs)
//! s(tm) = min(1, tm / small_m_knee)^small_m_exponent   (short tiles under-fill tensor cores)
//! ```
//!
//! This is the standard wave-quantisation picture of a tiled GEMM (each SM computes one
//! `tm × tn` output tile per wave; NVIDIA "Matrix Multiplication Background User's Guide",
//! "Tile quantization" and "Wave quantization"), with the tile height shrinking to the
//! 16-row MMA granularity for skinny problems (cuBLAS picks short tiles for small `m`) at a
//! reduced efficiency `s`. The soft maximum `(t_c^p + t_m^p)^(1/p)` models the partial overlap
//! of weight streaming and compute near the ridge point, where measured times sit above both
//! roofs.
//!
//! Element-wise kernels (norms, activations, RoPE, residual add) are DRAM bound on every
//! measured shape; each kind has its own achieved fraction of DRAM bandwidth, because the
//! kernels differ (a fused RMSNorm reads its row twice; an add streams three tensors):
//! `t = vector_launch_s + max(flops / (vector peak · vector_efficiency), bytes / (B · eff_kind))`.
//!
//! Attention, decode attention and grouped GEMMs have no measured data here: they use the
//! plain roofline with `matmul_efficiency` and `memory_efficiency`, plus `launch_s`.
//!
//! The constants of [`A100_SXM_80GB`] and [`H100_SXM_80GB`] were fitted by
//! `cargo run -p reallm-roofline --example fit -- host/data/calibration` (see
//! `examples/fit.rs`) against Vidur's measured profiles (`host/data/calibration/NOTICE.md`).

use reallm_plugin_api::{DeviceSpec, Kernel};
use serde::{Deserialize, Serialize};

/// Every coefficient of the calibrated model, resolved (no optional fields).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Achieved fraction of the matrix peak inside a full wave of full tiles.
    pub matmul_efficiency: f64,
    /// Achieved fraction of the vector peak (element-wise kernels' compute roof).
    pub vector_efficiency: f64,
    /// Achieved fraction of DRAM bandwidth for GEMMs and attention.
    pub memory_efficiency: f64,
    /// Achieved fraction of DRAM bandwidth of RMSNorm / LayerNorm kernels.
    pub norm_memory_efficiency: f64,
    /// ... of activation kernels (SiLU, GeLU, the SiLU-and-multiply product).
    pub act_memory_efficiency: f64,
    /// ... of rotary embedding.
    pub rope_memory_efficiency: f64,
    /// ... of residual adds and other element-wise kernels (softmax, embedding, top-k).
    pub add_memory_efficiency: f64,
    /// Fixed time of every matrix kernel (launch, prologue, tail), seconds.
    pub launch_s: f64,
    /// Fixed time of every vector (element-wise) kernel, seconds.
    pub vector_launch_s: f64,
    /// Output-tile height in rows; 0 disables tile and wave quantisation.
    pub tile_m: u64,
    /// Output-tile width in columns; 0 disables tile and wave quantisation.
    pub tile_n: u64,
    /// Tile height (rows) below which tensor cores are under-filled; 0 disables.
    pub small_m_knee: u64,
    /// Exponent of the efficiency fall-off below the knee.
    pub small_m_exponent: f64,
    /// Exponent `p` of the soft maximum of compute and memory time; 0 means a hard max.
    pub overlap_exponent: f64,
    /// Achieved fraction of link bandwidth for collectives.
    pub link_efficiency: f64,
    /// Latency of one collective step, seconds; `None` takes the device's link latency.
    pub link_latency_s: Option<f64>,
}

impl Calibration {
    /// The ideal roofline: every efficiency 1, no quantisation, hard max, no launch time.
    pub const IDEAL: Calibration = Calibration {
        matmul_efficiency: 1.0,
        vector_efficiency: 1.0,
        memory_efficiency: 1.0,
        norm_memory_efficiency: 1.0,
        act_memory_efficiency: 1.0,
        rope_memory_efficiency: 1.0,
        add_memory_efficiency: 1.0,
        launch_s: 0.0,
        vector_launch_s: 0.0,
        tile_m: 0,
        tile_n: 0,
        small_m_knee: 0,
        small_m_exponent: 0.0,
        overlap_exponent: 0.0,
        link_efficiency: 1.0,
        link_latency_s: None,
    };

    /// The fitted defaults for a device, by the name the host's presets give it
    /// (`DeviceSpec::name`); `None` for devices without a fit.
    ///
    /// H200 reuses the H100 fit (same GH100 die and clocks; only its memory differs, and the
    /// fit is expressed as fractions of the device's own bandwidth).
    pub fn for_device(name: &str) -> Option<Calibration> {
        let n = name.to_ascii_uppercase();
        if n.contains("A100") {
            Some(A100_SXM_80GB)
        } else if n.contains("H100") || n.contains("H200") {
            Some(H100_SXM_80GB)
        } else {
            None
        }
    }

    /// Achieved DRAM fraction for a kernel.
    pub fn memory_efficiency_for(&self, k: &Kernel) -> f64 {
        match k {
            Kernel::Gemm { .. } | Kernel::GroupedGemm { .. } | Kernel::Attention { .. } | Kernel::DecodeAttention { .. } => {
                self.memory_efficiency
            }
            Kernel::LayerNorm { .. } => self.norm_memory_efficiency,
            Kernel::Silu { .. } | Kernel::Gelu { .. } | Kernel::Mul { .. } => self.act_memory_efficiency,
            Kernel::Rope { .. } => self.rope_memory_efficiency,
            Kernel::Add { .. } | Kernel::Softmax { .. } | Kernel::Embedding { .. } | Kernel::TopK { .. } => self.add_memory_efficiency,
        }
    }

    /// Compute-bound time of a dense GEMM with tile and wave quantisation, seconds
    /// (see the module docs for the formula).
    pub fn gemm_compute_s(&self, device: &DeviceSpec, peak_flops: f64, b: u64, m: u64, k: u64, n: u64) -> f64 {
        if b == 0 || m == 0 || k == 0 || n == 0 {
            return 0.0;
        }
        let cores = device.core_count.max(1) as f64;
        if self.tile_m == 0 || self.tile_n == 0 {
            let s = self.small_m_factor(m);
            return 2.0 * (b * m) as f64 * k as f64 * n as f64 / (peak_flops * self.matmul_efficiency * s);
        }
        // Tile height: the configured one, or m rounded up to the 16-row MMA granularity.
        let tm = self.tile_m.min(m.div_ceil(16) * 16);
        let tn = self.tile_n;
        let tiles = b as f64 * m.div_ceil(tm) as f64 * n.div_ceil(tn) as f64;
        let waves = (tiles / cores).ceil();
        let per_core_peak = peak_flops / cores * self.matmul_efficiency * self.small_m_factor(tm);
        waves * 2.0 * tm as f64 * tn as f64 * k as f64 / per_core_peak
    }

    /// `s(tm) = min(1, tm / knee)^exponent` (1 when the knee is disabled).
    pub fn small_m_factor(&self, tm: u64) -> f64 {
        if self.small_m_knee == 0 || tm >= self.small_m_knee {
            1.0
        } else {
            (tm as f64 / self.small_m_knee as f64).powf(self.small_m_exponent)
        }
    }

    /// Combine compute and memory time: hard max when `overlap_exponent` is 0, else the
    /// `p`-norm `(c^p + m^p)^(1/p)`, computed scaled to avoid overflow.
    pub fn combine(&self, compute_s: f64, memory_s: f64) -> f64 {
        let hi = compute_s.max(memory_s);
        if self.overlap_exponent <= 0.0 || hi <= 0.0 {
            return hi;
        }
        let p = self.overlap_exponent;
        let lo = compute_s.min(memory_s);
        hi * (1.0 + (lo / hi).powf(p)).powf(1.0 / p)
    }
}

/// A100-SXM4-80GB (108 SMs, 311.9 TFLOP/s fp16, 2039 GB/s), fitted on Vidur's A100 profiles
/// of Llama-2-7B/70B, Llama-3-8B/70B, CodeLlama-34B, InternLM-20B, Qwen-72B and Phi-2 (all TP
/// sizes 1–8, median column; 81,900 kernel samples).
///
/// Fit: `cargo run -p reallm-roofline --example fit -- host/data/calibration` (values below
/// rounded to 3–4 digits). Median |relative error| of the fit, T ≥ 64 / T < 64 tokens:
/// GEMMs 5.2 % / 3.9 % (worst 84 %, attn_pre_proj); layernorm 9.0 % / 52 %; SiLU·mul (or
/// GeLU) 3.6 % / 49 %; RoPE 7.2 % / 37 %; add 9.8 % / 5.5 %.
/// Element-wise kernels below 64 tokens take 2–8 µs whatever their size: one vector launch
/// time cannot follow every kind there.
///
/// Collectives: NCCL all-reduce on an 8×A100 NVSwitch node (`a100_dgx`, 2/4/8 workers, all
/// sizes) fits `2α + 2(P−1)/P·D/(B·eff)` with α = 24.5 µs per step and eff = 0.58 of the 12 ×
/// 25 GB/s links; median |error| 2.7 % (P = 2), 5.5 % (P = 4), 11.1 % (P = 8). Send/recv on the
/// same node fits α = 14 µs, eff ≈ 1.0 (median 6.3 %); the backend uses the all-reduce pair.
pub const A100_SXM_80GB: Calibration = Calibration {
    matmul_efficiency: 0.7313,
    vector_efficiency: 1.0,
    memory_efficiency: 0.75,
    norm_memory_efficiency: 0.3582,
    act_memory_efficiency: 0.4960,
    rope_memory_efficiency: 0.4384,
    add_memory_efficiency: 0.9415,
    launch_s: 4.31e-6,
    vector_launch_s: 1.88e-6,
    tile_m: 64,
    tile_n: 64,
    small_m_knee: 32,
    small_m_exponent: 0.2813,
    overlap_exponent: 3.625,
    link_efficiency: 0.58,
    link_latency_s: Some(24.5e-6),
};

/// H100-SXM5-80GB (132 SMs, 989.4 TFLOP/s fp16, 3350 GB/s), fitted on Vidur's H100 profile of
/// Llama-2-7B (TP 1–8, median column; 9,396 kernel samples). Collective terms reuse the A100
/// NVSwitch fit (no H100 network data).
///
/// Fit: `cargo run -p reallm-roofline --example fit -- host/data/calibration`. Median
/// |relative error|, T ≥ 64 / T < 64: GEMMs 6.9 % / 4.3 % (worst 50 %); layernorm 6.8 % / 58 %;
/// SiLU·mul 5.2 % / 29 %; RoPE 4.8 % / 32 %; add 17.5 % / 42 %.
pub const H100_SXM_80GB: Calibration = Calibration {
    matmul_efficiency: 0.7656,
    vector_efficiency: 1.0,
    memory_efficiency: 0.8938,
    norm_memory_efficiency: 0.4089,
    act_memory_efficiency: 0.5609,
    rope_memory_efficiency: 0.5048,
    add_memory_efficiency: 1.0,
    launch_s: 4.0e-6,
    vector_launch_s: 1.41e-6,
    tile_m: 128,
    tile_n: 64,
    small_m_knee: 32,
    small_m_exponent: 0.8828,
    overlap_exponent: 2.0625,
    link_efficiency: 0.58,
    link_latency_s: Some(24.5e-6),
};
