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
//! Low-precision GEMMs have their own coefficients ([`GemmClass`]: efficiency, DRAM fraction and
//! fixed time) for FP8 per-tensor, FP8 block-scaled and FP4. When a class is calibrated, a GEMM
//! whose weight is of that class runs as the frameworks run it, W8A8 / W4A4 (activations
//! quantised on the fly), at the class's tensor-core rate, whatever the declared activation
//! type; the fixed time covers the quantisation kernel. Uncalibrated (the ideal roofline), the
//! declared operand types are taken literally ([`Kernel::compute_dtype`]).
//!
//! Attention and decode attention use the plain roofline with their own fitted compute
//! efficiency, DRAM fraction and fixed time ([`Calibration::attention_efficiency`] ...); grouped
//! GEMMs the 16-bit GEMM coefficients without tile quantisation.
//!
//! Collectives within a node use the curves fitted per device, GPU count and implementation
//! ([`crate::commfit`]); across nodes, and where a device has no fit, the α–β model
//! ([`crate::comm`]).
//!
//! Where the coefficients come from: GEMM, attention and collective coefficients of every
//! device were fitted on NVIDIA AIConfigurator's measured tables (TensorRT-LLM 1.3.0rc20 and
//! NCCL 2.29.2 on H100/H200/B200, TensorRT-LLM 1.0.0 and NCCL 2.27.3 on A100) by
//! `cargo run --release -p reallm-measured --example fit_aic` (generated into [`crate::fitted`]);
//! the element-wise coefficients (norms, activations, RoPE, adds: no AIConfigurator table) on
//! Vidur's A100 and H100 profiles by `cargo run -p reallm-roofline --example fit --
//! host/data/calibration` (`host/data/calibration/NOTICE.md`); H200 and B200 reuse H100's.

use crate::commfit::{AllReduceImpl, CommDevice};
use reallm_plugin_api::{DType, DeviceSpec, Kernel};
use serde::{Deserialize, Serialize};

/// Coefficients of one low-precision GEMM class; `None` takes the 16-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GemmClass {
    /// Achieved fraction of the class's matrix peak.
    pub matmul_efficiency: Option<f64>,
    /// Achieved fraction of DRAM bandwidth.
    pub memory_efficiency: Option<f64>,
    /// Fixed time, seconds (launch, scale handling).
    pub launch_s: Option<f64>,
    /// Output-tile height and width of the class's kernels.
    pub tile_m: Option<u64>,
    pub tile_n: Option<u64>,
    /// DRAM bytes moved per activation element (`m·k`) by the activation-quantisation pass that
    /// precedes the GEMM (per-tensor FP8 reads the activations twice, for the scale and for the
    /// cast, and writes them once). `None`: no such pass.
    pub act_quant_bytes: Option<f64>,
}

impl GemmClass {
    /// No coefficients of its own: the 16-bit ones apply.
    pub const INHERIT: GemmClass =
        GemmClass { matmul_efficiency: None, memory_efficiency: None, launch_s: None, tile_m: None, tile_n: None, act_quant_bytes: None };

    /// Whether any coefficient is set.
    pub const fn is_calibrated(&self) -> bool {
        self.matmul_efficiency.is_some()
            || self.memory_efficiency.is_some()
            || self.launch_s.is_some()
            || self.tile_m.is_some()
            || self.tile_n.is_some()
            || self.act_quant_bytes.is_some()
    }
}

/// GEMM and attention coefficients fitted on measured tables (see [`crate::fitted`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmFit {
    pub matmul_efficiency: f64,
    pub memory_efficiency: f64,
    pub launch_s: f64,
    pub tile_m: u64,
    pub tile_n: u64,
    pub small_m_knee: u64,
    pub small_m_exponent: f64,
    pub overlap_exponent: f64,
    pub split_k_min: u64,
    pub fp8: GemmClass,
    pub fp8_block: GemmClass,
    pub fp4: GemmClass,
    pub attention_efficiency: Option<f64>,
    pub attention_launch_s: Option<f64>,
    pub decode_memory_efficiency: Option<f64>,
    pub attention_half_len: Option<f64>,
    pub attention_seq_head_s: Option<f64>,
    pub decode_seq_head_s: Option<f64>,
}

impl GemmFit {
    /// `base` with this fit's GEMM and attention coefficients.
    pub const fn apply(&self, base: Calibration) -> Calibration {
        Calibration {
            matmul_efficiency: self.matmul_efficiency,
            memory_efficiency: self.memory_efficiency,
            launch_s: self.launch_s,
            tile_m: self.tile_m,
            tile_n: self.tile_n,
            small_m_knee: self.small_m_knee,
            small_m_exponent: self.small_m_exponent,
            overlap_exponent: self.overlap_exponent,
            split_k_min: self.split_k_min,
            fp8: self.fp8,
            fp8_block: self.fp8_block,
            fp4: self.fp4,
            attention_efficiency: self.attention_efficiency,
            attention_launch_s: self.attention_launch_s,
            decode_memory_efficiency: self.decode_memory_efficiency,
            attention_half_len: self.attention_half_len,
            attention_seq_head_s: self.attention_seq_head_s,
            decode_seq_head_s: self.decode_seq_head_s,
            ..base
        }
    }
}

/// The coefficients a GEMM runs with, after its class is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmCoefficients {
    /// Data type whose matrix peak applies.
    pub rate: DType,
    pub matmul_efficiency: f64,
    pub memory_efficiency: f64,
    pub launch_s: f64,
    pub tile_m: u64,
    pub tile_n: u64,
    /// DRAM bytes per activation element of a quantisation pass before the GEMM (0: none).
    pub act_quant_bytes: f64,
}

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
    /// Split-K: when a GEMM's output tiles do not fill the SMs, its K dimension is split over
    /// up to `⌊cores / tiles⌋` parts of at least this many elements (cuBLAS split-K /
    /// stream-K kernels); 0 disables.
    pub split_k_min: u64,
    /// Achieved fraction of link bandwidth for collectives.
    pub link_efficiency: f64,
    /// Latency of one collective step, seconds; `None` takes the device's link latency.
    pub link_latency_s: Option<f64>,
    /// FP8 per-tensor GEMMs.
    pub fp8: GemmClass,
    /// FP8 block-scaled GEMMs.
    pub fp8_block: GemmClass,
    /// FP4 (NVFP4, MXFP4) GEMMs.
    pub fp4: GemmClass,
    /// Achieved fraction of the matrix peak of prefill attention; `None`: `matmul_efficiency`.
    pub attention_efficiency: Option<f64>,
    /// Fixed time of attention kernels, seconds; `None`: `launch_s`.
    pub attention_launch_s: Option<f64>,
    /// Achieved DRAM fraction of decode attention; `None`: `memory_efficiency`.
    pub decode_memory_efficiency: Option<f64>,
    /// Prefill attention reaches half its efficiency at this many new tokens per sequence:
    /// efficiency `attention_efficiency · q / (q + attention_half_len)`. `None`: no ramp.
    pub attention_half_len: Option<f64>,
    /// Prefill attention time per (sequence × query head), seconds (work-item setup).
    pub attention_seq_head_s: Option<f64>,
    /// Decode attention time per (sequence × KV head), seconds (work-item setup).
    pub decode_seq_head_s: Option<f64>,
    /// Fitted scale-up collective curves; `None`: the α–β model.
    pub comm: Option<CommDevice>,
    /// Which all-reduce the fitted curves describe.
    pub allreduce: AllReduceImpl,
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
        split_k_min: 0,
        link_efficiency: 1.0,
        link_latency_s: None,
        fp8: GemmClass::INHERIT,
        fp8_block: GemmClass::INHERIT,
        fp4: GemmClass::INHERIT,
        attention_efficiency: None,
        attention_launch_s: None,
        decode_memory_efficiency: None,
        attention_half_len: None,
        attention_seq_head_s: None,
        decode_seq_head_s: None,
        comm: None,
        allreduce: AllReduceImpl::Auto,
    };

    /// The fitted defaults for a device, by the name the host's presets give it
    /// (`DeviceSpec::name`); `None` for devices without a fit. GB200 uses the B200 fit (the
    /// same Blackwell GPU; no GB200 measurements).
    pub fn for_device(name: &str) -> Option<Calibration> {
        let n = name.to_ascii_uppercase();
        if n.contains("A100") {
            Some(A100_SXM_80GB)
        } else if n.contains("H100") {
            Some(H100_SXM_80GB)
        } else if n.contains("H200") {
            Some(H200_SXM_141GB)
        } else if n.contains("B200") {
            Some(B200_SXM_180GB)
        } else {
            None
        }
    }

    /// The class and coefficients of a GEMM with activation type `a` and weight type `w`
    /// (see the module docs).
    pub fn gemm_coefficients(&self, a: DType, w: DType) -> GemmCoefficients {
        let class = match w {
            DType::F8 => Some(self.fp8),
            DType::F8Block => Some(self.fp8_block),
            DType::F4 | DType::Mxfp4 | DType::Nvfp4 => Some(self.fp4),
            _ => None,
        };
        match class {
            Some(c) if c.is_calibrated() && a.bits() >= w.bits() => GemmCoefficients {
                rate: w.rate_class(),
                matmul_efficiency: c.matmul_efficiency.unwrap_or(self.matmul_efficiency),
                memory_efficiency: c.memory_efficiency.unwrap_or(self.memory_efficiency),
                launch_s: c.launch_s.unwrap_or(self.launch_s),
                tile_m: c.tile_m.unwrap_or(self.tile_m),
                tile_n: c.tile_n.unwrap_or(self.tile_n),
                act_quant_bytes: c.act_quant_bytes.unwrap_or(0.0),
            },
            _ => GemmCoefficients {
                rate: if a.bits() >= w.bits() { a.rate_class() } else { w.rate_class() },
                matmul_efficiency: self.matmul_efficiency,
                memory_efficiency: self.memory_efficiency,
                launch_s: self.launch_s,
                tile_m: self.tile_m,
                tile_n: self.tile_n,
                act_quant_bytes: 0.0,
            },
        }
    }

    /// Achieved DRAM fraction for a kernel.
    pub fn memory_efficiency_for(&self, k: &Kernel) -> f64 {
        match k {
            Kernel::Gemm { a, w, .. } => self.gemm_coefficients(*a, *w).memory_efficiency,
            Kernel::DecodeAttention { .. } => self.decode_memory_efficiency.unwrap_or(self.memory_efficiency),
            Kernel::GroupedGemm { .. } | Kernel::Attention { .. } => self.memory_efficiency,
            Kernel::LayerNorm { .. } => self.norm_memory_efficiency,
            Kernel::Silu { .. } | Kernel::Gelu { .. } | Kernel::Mul { .. } => self.act_memory_efficiency,
            Kernel::Rope { .. } => self.rope_memory_efficiency,
            Kernel::Add { .. } | Kernel::Softmax { .. } | Kernel::Embedding { .. } | Kernel::TopK { .. } => self.add_memory_efficiency,
            // A kernel kind added in a later plugin API: the fitted DRAM fraction of GEMMs.
            _ => self.memory_efficiency,
        }
    }

    /// Compute-bound time of a dense GEMM with tile and wave quantisation, seconds
    /// (see the module docs for the formula).
    pub fn gemm_compute_s(&self, device: &DeviceSpec, peak_flops: f64, b: u64, m: u64, k: u64, n: u64) -> f64 {
        self.gemm_compute_s_with(device, peak_flops * self.matmul_efficiency, self.tile_m, self.tile_n, b, m, k, n)
    }

    /// As [`Calibration::gemm_compute_s`] with the achieved peak (`peak · efficiency`) and the
    /// tile shape given.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_compute_s_with(
        &self,
        device: &DeviceSpec,
        achieved_flops: f64,
        tile_m: u64,
        tile_n: u64,
        b: u64,
        m: u64,
        k: u64,
        n: u64,
    ) -> f64 {
        if b == 0 || m == 0 || k == 0 || n == 0 {
            return 0.0;
        }
        let cores = device.core_count.max(1) as f64;
        if tile_m == 0 || tile_n == 0 {
            let s = self.small_m_factor(m);
            return 2.0 * (b * m) as f64 * k as f64 * n as f64 / (achieved_flops * s);
        }
        // Tile height: the configured one, or m rounded up to the 16-row MMA granularity.
        let tm = tile_m.min(m.div_ceil(16) * 16);
        let tn = tile_n;
        let tiles = b as f64 * m.div_ceil(tm) as f64 * n.div_ceil(tn) as f64;
        // Split-K: spare SMs take slices of K.
        let splits = if self.split_k_min > 0 && tiles < cores {
            ((cores / tiles).floor()).min((k / self.split_k_min).max(1) as f64).max(1.0)
        } else {
            1.0
        };
        let k_part = (k as f64 / splits).ceil();
        let waves = (tiles * splits / cores).ceil();
        let per_core_peak = achieved_flops / cores * self.small_m_factor(tm);
        waves * 2.0 * tm as f64 * tn as f64 * k_part / per_core_peak
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

/// The Vidur fit of A100-SXM4-80GB (108 SMs, 311.9 TFLOP/s fp16, 2039 GB/s), fitted on Vidur's A100 profiles
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
pub const VIDUR_A100_SXM_80GB: Calibration = Calibration {
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
    ..Calibration::IDEAL
};

/// The Vidur fit of H100-SXM5-80GB (132 SMs, 989.4 TFLOP/s fp16, 3350 GB/s), fitted on Vidur's H100 profile of
/// Llama-2-7B (TP 1–8, median column; 9,396 kernel samples). Collective terms reuse the A100
/// NVSwitch fit (no H100 network data).
///
/// Fit: `cargo run -p reallm-roofline --example fit -- host/data/calibration`. Median
/// |relative error|, T ≥ 64 / T < 64: GEMMs 6.9 % / 4.3 % (worst 50 %); layernorm 6.8 % / 58 %;
/// SiLU·mul 5.2 % / 29 %; RoPE 4.8 % / 32 %; add 17.5 % / 42 %.
pub const VIDUR_H100_SXM_80GB: Calibration = Calibration {
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
    ..Calibration::IDEAL
};

/// A100-SXM4-80GB: GEMM, attention and collectives fitted on AIConfigurator's A100 tables
/// (TensorRT-LLM 1.0.0, NCCL 2.27.3; [`crate::fitted::A100_GEMM`], [`crate::fitted::A100_COMM`]),
/// element-wise kernels from [`VIDUR_A100_SXM_80GB`].
pub const A100_SXM_80GB: Calibration = Calibration { comm: Some(CommDevice::A100), ..crate::fitted::A100_GEMM.apply(VIDUR_A100_SXM_80GB) };

/// H100-SXM5-80GB: GEMM, attention and collectives fitted on AIConfigurator's H100 tables
/// (TensorRT-LLM 1.3.0rc20, NCCL 2.29.2), element-wise kernels from [`VIDUR_H100_SXM_80GB`].
pub const H100_SXM_80GB: Calibration = Calibration { comm: Some(CommDevice::H100), ..crate::fitted::H100_GEMM.apply(VIDUR_H100_SXM_80GB) };

/// H200-SXM-141GB: as H100 with AIConfigurator's H200 tables; element-wise kernels from the
/// H100 Vidur fit (the same GH100 die; fractions of the device's own DRAM bandwidth).
pub const H200_SXM_141GB: Calibration = Calibration { comm: Some(CommDevice::H200), ..crate::fitted::H200_GEMM.apply(VIDUR_H100_SXM_80GB) };

/// B200-SXM-180GB (and GB200): AIConfigurator's B200 tables; element-wise kernels from the H100
/// Vidur fit (no Blackwell element-wise measurements).
pub const B200_SXM_180GB: Calibration = Calibration { comm: Some(CommDevice::B200), ..crate::fitted::B200_GEMM.apply(VIDUR_H100_SXM_80GB) };
