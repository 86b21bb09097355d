//! `roofline`: a byte-correct roofline kernel backend with alpha–beta collectives, calibrated
//! to measured GPUs by default.
//!
//! Ideal form (`calibration: none`): kernel time = `max(FLOPs / peak, bytes / DRAM bandwidth)`,
//! with FLOPs and bytes from [`Kernel::flops`] / [`Kernel::bytes`] (bytes, never elements).
//! GEMMs and attention use the device's matrix peak for their data type; other kernels its
//! vector peak.
//!
//! Calibrated form (`calibration: auto`, the default, on a device with a fit): achieved
//! fractions of peak and bandwidth, tile and wave quantisation of GEMMs, a small-M fall-off,
//! a soft maximum near the ridge point and a fixed per-kernel time; see [`calibrated`] for
//! the formulas and [`calibrated::A100_SXM_80GB`] for the fitted constants. Any parameter
//! given explicitly overrides the fitted (or ideal) value.
//!
//! Collectives within a node use curves fitted per device, GPU count and implementation (NCCL
//! or the frameworks' own all-reduce; [`commfit`]) on devices with a fit; otherwise, across
//! nodes, or when `link_efficiency` / `link_latency_s` is given, an alpha–beta model on the link
//! the collective's scope names: `steps · latency + wire_bytes / bandwidth`, with the step
//! count and wire bytes of the chosen algorithm (see [`collective_time`]).

pub mod calibrated;
pub mod comm;
pub mod commfit;
pub mod fitted;

use reallm_plugin_api::{
    parse_params, register_plugin, Collective, CollectiveKind, CommAlgo, Constructor, DeviceSpec, Kernel, KernelBackend, LinkScope,
    PluginError, PluginInfo, PluginKind, PluginRegistration,
};
use serde::Deserialize;

pub use calibrated::{Calibration, GemmClass};
pub use comm::{collective_time, collective_time_with};
pub use commfit::{AllReduceImpl, CommDevice};

/// Which fitted coefficients to start from before explicit parameters are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMode {
    /// The fit for the device (by `DeviceSpec::name`: A100, H100, H200, B200, GB200), or the
    /// ideal roofline for devices without one.
    #[default]
    Auto,
    /// The ideal roofline (all efficiencies 1, no quantisation, no launch time).
    None,
    /// The A100-SXM4-80GB fit, whatever the device.
    A100,
    /// The H100-SXM5-80GB fit, whatever the device.
    H100,
    /// The H200-SXM fit, whatever the device.
    H200,
    /// The B200-SXM fit, whatever the device.
    B200,
    /// The earlier fit on Vidur's A100 profiles alone (α–β collectives).
    VidurA100,
    /// The earlier fit on Vidur's H100 profile alone (α–β collectives).
    VidurH100,
}

/// Parameters of the `roofline` backend. Every coefficient is optional: unset ones come from
/// the base chosen by `calibration`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RooflineParams {
    /// Base coefficients: `auto` (default), `none` (ideal), `a100`, `h100`, `h200`, `b200`,
    /// `vidur_a100`, `vidur_h100`.
    pub calibration: CalibrationMode,
    /// All-reduce implementation of the fitted scale-up collectives: `auto` (TensorRT-LLM's,
    /// else NCCL), `nccl`, `trtllm`, `vllm` (also `sglang`).
    pub allreduce: Option<AllReduceImpl>,
    /// Achieved fraction of the matrix (tensor-core) peak, 0 < x ≤ 1.
    pub compute_efficiency: Option<f64>,
    /// Achieved fraction of the vector peak for element-wise kernels.
    pub vector_efficiency: Option<f64>,
    /// Achieved fraction of DRAM bandwidth for GEMMs and attention.
    pub memory_efficiency: Option<f64>,
    /// Achieved fraction of DRAM bandwidth of norm kernels.
    pub norm_memory_efficiency: Option<f64>,
    /// ... of activation kernels (SiLU, GeLU, multiply).
    pub act_memory_efficiency: Option<f64>,
    /// ... of rotary embedding.
    pub rope_memory_efficiency: Option<f64>,
    /// ... of residual adds and other vector kernels.
    pub add_memory_efficiency: Option<f64>,
    /// Fixed time added to every matrix kernel (GEMM, attention), seconds.
    pub launch_overhead_s: Option<f64>,
    /// Fixed time added to every vector kernel (norms, activations, adds), seconds; defaults to
    /// `launch_overhead_s` when only that is given.
    pub vector_launch_overhead_s: Option<f64>,
    /// GEMM output-tile height (rows); 0 disables tile/wave quantisation.
    pub tile_m: Option<u64>,
    /// GEMM output-tile width (columns); 0 disables tile/wave quantisation.
    pub tile_n: Option<u64>,
    /// Tile height below which tensor-core efficiency falls; 0 disables.
    pub small_m_knee: Option<u64>,
    /// Exponent of that fall-off.
    pub small_m_exponent: Option<f64>,
    /// Soft-maximum exponent of compute and memory time for matrix kernels (0: hard max).
    pub overlap_exponent: Option<f64>,
    /// Achieved fraction of link bandwidth for collectives (given: the α–β model replaces the
    /// fitted scale-up curves).
    pub link_efficiency: Option<f64>,
    /// Latency of one collective step, seconds (default: the fit's, else the device's link
    /// latency; given: the α–β model replaces the fitted scale-up curves).
    pub link_latency_s: Option<f64>,
}

impl RooflineParams {
    /// The ideal roofline's parameters.
    pub fn ideal() -> Self {
        RooflineParams { calibration: CalibrationMode::None, ..Default::default() }
    }

    /// Resolve to concrete coefficients for `device`, validating every value.
    pub fn resolve(&self, device: &DeviceSpec) -> Result<Calibration, PluginError> {
        let mut c = match self.calibration {
            CalibrationMode::Auto => Calibration::for_device(&device.name).unwrap_or(Calibration::IDEAL),
            CalibrationMode::None => Calibration::IDEAL,
            CalibrationMode::A100 => calibrated::A100_SXM_80GB,
            CalibrationMode::H100 => calibrated::H100_SXM_80GB,
            CalibrationMode::H200 => calibrated::H200_SXM_141GB,
            CalibrationMode::B200 => calibrated::B200_SXM_180GB,
            CalibrationMode::VidurA100 => calibrated::VIDUR_A100_SXM_80GB,
            CalibrationMode::VidurH100 => calibrated::VIDUR_H100_SXM_80GB,
        };
        if self.link_efficiency.is_some() || self.link_latency_s.is_some() {
            c.comm = None;
        }
        if let Some(a) = self.allreduce {
            c.allreduce = a;
        }
        let bad = |message: String| PluginError::Params { plugin: "roofline".into(), message };
        let fractions = [
            ("compute_efficiency", self.compute_efficiency, &mut c.matmul_efficiency),
            ("vector_efficiency", self.vector_efficiency, &mut c.vector_efficiency),
            ("memory_efficiency", self.memory_efficiency, &mut c.memory_efficiency),
            ("norm_memory_efficiency", self.norm_memory_efficiency, &mut c.norm_memory_efficiency),
            ("act_memory_efficiency", self.act_memory_efficiency, &mut c.act_memory_efficiency),
            ("rope_memory_efficiency", self.rope_memory_efficiency, &mut c.rope_memory_efficiency),
            ("add_memory_efficiency", self.add_memory_efficiency, &mut c.add_memory_efficiency),
            ("link_efficiency", self.link_efficiency, &mut c.link_efficiency),
        ];
        for (name, given, slot) in fractions {
            if let Some(v) = given {
                if !(v > 0.0 && v <= 1.0) {
                    return Err(bad(format!("{name} = {v}: expected a fraction in (0, 1]")));
                }
                *slot = v;
            }
        }
        for (name, given, slot) in [
            ("launch_overhead_s", self.launch_overhead_s, &mut c.launch_s),
            ("vector_launch_overhead_s", self.vector_launch_overhead_s.or(self.launch_overhead_s), &mut c.vector_launch_s),
            ("small_m_exponent", self.small_m_exponent, &mut c.small_m_exponent),
            ("overlap_exponent", self.overlap_exponent, &mut c.overlap_exponent),
        ] {
            if let Some(v) = given {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(bad(format!("{name} = {v}: expected a finite non-negative number")));
                }
                *slot = v;
            }
        }
        if let Some(v) = self.link_latency_s {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(bad(format!("link_latency_s = {v}: expected a non-negative number of seconds")));
            }
            c.link_latency_s = Some(v);
        }
        if c.overlap_exponent > 0.0 && c.overlap_exponent < 1.0 {
            return Err(bad(format!("overlap_exponent = {}: expected 0 (hard max) or at least 1", c.overlap_exponent)));
        }
        c.tile_m = self.tile_m.unwrap_or(c.tile_m);
        c.tile_n = self.tile_n.unwrap_or(c.tile_n);
        c.small_m_knee = self.small_m_knee.unwrap_or(c.small_m_knee);
        if (c.tile_m == 0) != (c.tile_n == 0) {
            return Err(bad(format!("tile_m = {}, tile_n = {}: set both or neither to 0", c.tile_m, c.tile_n)));
        }
        Ok(c)
    }
}

/// The roofline backend bound to one device.
#[derive(Debug, Clone)]
pub struct Roofline {
    device: DeviceSpec,
    cal: Calibration,
}

impl Roofline {
    /// Build the backend for `device`, resolving `params` against the device's fit.
    pub fn new(device: DeviceSpec, params: RooflineParams) -> Result<Self, PluginError> {
        let cal = params.resolve(&device)?;
        Self::with_calibration(device, cal)
    }

    /// Build the backend with explicit, already resolved coefficients.
    pub fn with_calibration(device: DeviceSpec, cal: Calibration) -> Result<Self, PluginError> {
        if !(device.mem_bw_bytes_per_s > 0.0 && device.peak_matmul_flops > 0.0 && device.peak_vector_flops > 0.0) {
            return Err(PluginError::invalid(format!("device `{}` has a zero peak rate or bandwidth", device.name)));
        }
        Ok(Roofline { device, cal })
    }

    /// The ideal roofline on `device`.
    pub fn ideal(device: DeviceSpec) -> Result<Self, PluginError> {
        Self::with_calibration(device, Calibration::IDEAL)
    }

    /// The coefficients in force.
    pub fn calibration(&self) -> &Calibration {
        &self.cal
    }

    /// Compute-bound time of a kernel, seconds (tile/wave quantised for dense GEMMs).
    pub fn compute_time_s(&self, k: &Kernel) -> f64 {
        if k.uses_matrix_units() {
            match *k {
                Kernel::Gemm { b, m, k: kk, n, a, w, .. } => {
                    let g = self.cal.gemm_coefficients(a, w);
                    let peak = self.device.peak_matmul_flops_for(g.rate);
                    self.cal.gemm_compute_s_with(&self.device, peak * g.matmul_efficiency, g.tile_m, g.tile_n, b, m, kk, n)
                }
                Kernel::Attention { q_len, .. } => {
                    let peak = self.device.peak_matmul_flops_for(k.compute_dtype());
                    let ramp = self.cal.attention_half_len.map_or(1.0, |h| q_len as f64 / (q_len as f64 + h));
                    k.flops() / (peak * self.cal.attention_efficiency.unwrap_or(self.cal.matmul_efficiency) * ramp)
                }
                Kernel::DecodeAttention { .. } => {
                    let peak = self.device.peak_matmul_flops_for(k.compute_dtype());
                    k.flops() / (peak * self.cal.attention_efficiency.unwrap_or(self.cal.matmul_efficiency))
                }
                _ => k.flops() / (self.device.peak_matmul_flops_for(k.compute_dtype()) * self.cal.matmul_efficiency),
            }
        } else {
            k.flops() / (self.device.peak_vector_flops * self.cal.vector_efficiency)
        }
    }

    /// Time of a scale-up collective from the fitted curves, if the calibration has them and they
    /// cover the kind (send/recv and scale-out collectives use the α–β model).
    pub fn fitted_collective_s(&self, c: &Collective) -> Option<f64> {
        let fit = self.cal.comm?.fit();
        if c.scope != LinkScope::ScaleUp || c.ranks < 2 {
            return None;
        }
        let bytes = c.bytes as f64;
        let c_ranks = c.ranks;
        let curves = match c.kind {
            CollectiveKind::AllReduce => {
                let imp = match c.algo {
                    CommAlgo::Ring | CommAlgo::Ring2d => AllReduceImpl::Nccl,
                    CommAlgo::Multishot if self.cal.allreduce == AllReduceImpl::Vllm => AllReduceImpl::Vllm,
                    CommAlgo::Multishot => AllReduceImpl::Trtllm,
                    CommAlgo::Auto => self.cal.allreduce,
                    // An algorithm of a later plugin API: the α–β model (below) answers.
                    _ => return None,
                };
                let custom = match imp {
                    // The frameworks' custom all-reduce runs within an 8-GPU board; `auto` hands
                    // larger groups (an NVL72 rack) to NCCL.
                    AllReduceImpl::Auto if fit.trtllm_all_reduce.last().is_some_and(|c| c.ranks < c_ranks) => &[],
                    AllReduceImpl::Auto | AllReduceImpl::Trtllm => fit.trtllm_all_reduce,
                    AllReduceImpl::Vllm => fit.vllm_all_reduce,
                    AllReduceImpl::Nccl => &[],
                };
                if custom.is_empty() {
                    fit.nccl_all_reduce
                } else {
                    custom
                }
            }
            CollectiveKind::AllGather => fit.nccl_all_gather,
            CollectiveKind::ReduceScatter => fit.nccl_reduce_scatter,
            CollectiveKind::AllToAll => fit.nccl_all_to_all,
            // Send/recv and kinds of a later plugin API: the α–β model.
            _ => return None,
        };
        commfit::time(curves, c.ranks, bytes)
    }

    /// Memory-bound time of a kernel, seconds.
    pub fn memory_time_s(&self, k: &Kernel) -> f64 {
        k.bytes() / (self.device.mem_bw_bytes_per_s * self.cal.memory_efficiency_for(k))
    }
}

impl KernelBackend for Roofline {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        let (c, m) = (self.compute_time_s(k), self.memory_time_s(k));
        let launch = match *k {
            Kernel::Gemm { b, m: rows, k: depth, a, w, .. } => {
                let g = self.cal.gemm_coefficients(a, w);
                // The activation-quantisation pass before a low-precision GEMM.
                let quant = (b * rows * depth) as f64 * g.act_quant_bytes / (self.device.mem_bw_bytes_per_s * g.memory_efficiency);
                g.launch_s + quant
            }
            Kernel::Attention { seqs, q_heads, .. } => {
                self.cal.attention_launch_s.unwrap_or(self.cal.launch_s)
                    + (seqs * q_heads) as f64 * self.cal.attention_seq_head_s.unwrap_or(0.0)
            }
            Kernel::DecodeAttention { seqs, kv_heads, .. } => {
                self.cal.attention_launch_s.unwrap_or(self.cal.launch_s)
                    + (seqs * kv_heads) as f64 * self.cal.decode_seq_head_s.unwrap_or(0.0)
            }
            _ if k.uses_matrix_units() => self.cal.launch_s,
            _ => return Ok(self.cal.vector_launch_s + c.max(m)),
        };
        Ok(launch + self.cal.combine(c, m))
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        if let Some(t) = self.fitted_collective_s(c) {
            return Ok(t);
        }
        comm::collective_time_with(&self.device, c, self.cal.link_efficiency, self.cal.link_latency_s)
    }

    /// The calibrated GEMM formula takes three `powf`s, dearer than a cache lookup; the ideal
    /// roofline is a few multiplications, cheaper than one.
    fn wants_cache(&self) -> bool {
        self.cal.overlap_exponent > 0.0
    }
}

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let p: RooflineParams = parse_params("roofline", params)?;
    Ok(Box::new(Roofline::new(device.clone(), p)?))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: "roofline",
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary: "Byte-correct roofline calibrated to measured A100/H100/H200/B200 kernels (tile waves, small-M, launch, FP8/FP4); fitted NCCL and custom all-reduce curves",
        example_params: "calibration: auto   # auto (fitted A100/H100/H200/B200, else ideal), none (ideal), a100, h100, h200, b200\n\
                         allreduce: auto     # auto (TensorRT-LLM's custom all-reduce), nccl, trtllm, vllm\n\
                         # any coefficient overrides the base, e.g.:\n\
                         # compute_efficiency: 0.75\n# memory_efficiency: 0.8\n# launch_overhead_s: 2.0e-6\n\
                         # tile_m: 128\n# tile_n: 128\n# link_efficiency: 0.6\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use reallm_plugin_api::DType;

    /// The shared toy device (`reallm_plugin_api::test_support`): 1000 TFLOP/s matrix, 100 TFLOP/s
    /// vector, 2 TB/s DRAM, 8 links of 25 GB/s per direction (200 GB/s), 1 µs latency.
    pub(crate) fn toy_device() -> DeviceSpec {
        reallm_plugin_api::test_support::toy_device()
    }

    #[test]
    fn gemm_compute_and_memory_bound() {
        let r = Roofline::new(toy_device(), RooflineParams::default()).unwrap();
        assert_eq!(r.calibration(), &Calibration::IDEAL, "no fit for the toy device: auto is ideal");
        // 4096³ bf16: 2·4096³ = 1.374e11 FLOP / 1e15 = 137.4 µs; bytes 3·4096²·2 = 100.7 MB / 2e12 = 50.3 µs.
        let big = Kernel::matmul(4096, 4096, 4096, DType::Bf16);
        let t = r.kernel_time(&big).unwrap();
        assert!((t - 2.0 * 4096f64.powi(3) / 1e15).abs() < 1e-12);
        // GEMV 1×8192×8192 bf16: bytes (8192 + 8192² + 8192)·2 = 134,250,496 B / 2e12 = 67.125 µs.
        let gemv = Kernel::matmul(1, 8192, 8192, DType::Bf16);
        let t = r.kernel_time(&gemv).unwrap();
        assert!((t - 134_250_496.0 / 2e12).abs() < 1e-15, "{t}");
        // fp8 weights halve the weight bytes: (8192·2 + 8192²·1 + 8192·2) / 2e12.
        let fp8 = Kernel::Gemm { b: 1, m: 1, k: 8192, n: 8192, a: DType::Bf16, w: DType::F8, out: DType::Bf16 };
        assert!((r.kernel_time(&fp8).unwrap() - (32768.0 + 67_108_864.0) / 2e12).abs() < 1e-15);
    }

    #[test]
    fn efficiency_and_overhead() {
        let p = RooflineParams { compute_efficiency: Some(0.5), launch_overhead_s: Some(3e-6), ..Default::default() };
        let r = Roofline::new(toy_device(), p).unwrap();
        let big = Kernel::matmul(4096, 4096, 4096, DType::Bf16);
        assert!((r.kernel_time(&big).unwrap() - (3e-6 + 2.0 * 4096f64.powi(3) / 5e14)).abs() < 1e-12);
        // Vector kernels use the vector peak: softmax 1024×1024 = 5.24 MFLOP / 1e14 = 52 ns,
        // bytes 2·1024²·2 = 4.19 MB / 2e12 = 2.1 µs → memory bound.
        let r = Roofline::new(toy_device(), RooflineParams::default()).unwrap();
        let sm = Kernel::Softmax { m: 1024, n: 1024, dtype: DType::Bf16 };
        assert!((r.kernel_time(&sm).unwrap() - 4.0 * 1024.0 * 1024.0 / 2e12).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_params() {
        let v = serde_json::json!({"compute_efficency": 0.5});
        let e = create(&v, &toy_device()).err().unwrap().to_string();
        assert!(e.contains("unknown field") && e.contains("compute_efficency"), "{e}");
        let v = serde_json::json!({"memory_efficiency": 1.5});
        assert!(create(&v, &toy_device()).is_err());
    }

    #[test]
    fn tile_waves_small_m_and_soft_max_by_hand() {
        let cal = Calibration {
            matmul_efficiency: 0.5,
            launch_s: 1e-6,
            tile_m: 128,
            tile_n: 128,
            small_m_knee: 64,
            small_m_exponent: 1.0,
            ..Calibration::IDEAL
        };
        let r = Roofline::with_calibration(toy_device(), cal).unwrap();
        // 256×1024×1280: 2·10 = 20 tiles ≤ 100 cores → 1 wave; per-core peak 1e15/100·0.5 = 5e12:
        // 2·128·128·1024 / 5e12 = 6.7109 µs; bytes 2·(256·1024 + 1024·1280 + 256·1280) / 2e12 = 1.9 µs.
        let one_wave = 2.0 * 128.0 * 128.0 * 1024.0 / 5e12;
        let t = r.kernel_time(&Kernel::matmul(256, 1024, 1280, DType::F16)).unwrap();
        assert!((t - (1e-6 + one_wave)).abs() < 1e-15, "{t}");
        // N = 128·51: 102 tiles → 2 waves, twice the compute.
        let t = r.kernel_time(&Kernel::matmul(256, 1024, 128 * 51, DType::F16)).unwrap();
        assert!((t - (1e-6 + 2.0 * one_wave)).abs() < 1e-15, "{t}");
        // M = 16: tile height 16, s = 16/64 = 0.25: 2·16·128·1024 / (1e13·0.5·0.25) = 3.3554 µs;
        // bytes 2·(16·1024 + 1024·1280 + 16·1280) / 2e12 = 1.3476 µs < compute.
        let t = r.kernel_time(&Kernel::matmul(16, 1024, 1280, DType::F16)).unwrap();
        assert!((t - (1e-6 + 2.0 * 16.0 * 128.0 * 1024.0 / 1.25e12)).abs() < 1e-15, "{t}");
        // Soft max with p = 2: (3² + 4²)^(1/2) = 5.
        let soft = Calibration { overlap_exponent: 2.0, ..Calibration::IDEAL };
        assert!((soft.combine(3.0, 4.0) - 5.0).abs() < 1e-12);
        assert_eq!(Calibration::IDEAL.combine(3.0, 4.0), 4.0);
    }

    #[test]
    fn auto_picks_the_fit_by_device_name_and_params_override() {
        let mut a100 = toy_device();
        a100.name = "NVIDIA A100-SXM4-80GB".into();
        let r = Roofline::new(a100.clone(), RooflineParams::default()).unwrap();
        assert_eq!(r.calibration(), &calibrated::A100_SXM_80GB);
        let r = Roofline::new(a100.clone(), RooflineParams::ideal()).unwrap();
        assert_eq!(r.calibration(), &Calibration::IDEAL);
        let mut h200 = toy_device();
        h200.name = "NVIDIA H200-SXM-141GB".into();
        assert_eq!(Roofline::new(h200, RooflineParams::default()).unwrap().calibration(), &calibrated::H200_SXM_141GB);
        let mut gb200 = toy_device();
        gb200.name = "NVIDIA GB200-NVL72".into();
        assert_eq!(Roofline::new(gb200, RooflineParams::default()).unwrap().calibration(), &calibrated::B200_SXM_180GB);
        // Explicit values override the fit; the rest stays fitted.
        let v = serde_json::json!({"compute_efficiency": 0.5, "tile_m": 0, "tile_n": 0, "launch_overhead_s": 0.0});
        let p: RooflineParams = parse_params("roofline", &v).unwrap();
        let c = p.resolve(&a100).unwrap();
        assert_eq!((c.matmul_efficiency, c.tile_m, c.launch_s, c.vector_launch_s), (0.5, 0, 0.0, 0.0));
        assert_eq!(c.memory_efficiency, calibrated::A100_SXM_80GB.memory_efficiency);
        // `calibration: h100` on any device.
        let p: RooflineParams = parse_params("roofline", &serde_json::json!({"calibration": "h100"})).unwrap();
        assert_eq!(p.resolve(&toy_device()).unwrap(), calibrated::H100_SXM_80GB);
        // The Vidur A100 fit (`calibration: vidur_a100`, constants that no refit changes) on the
        // toy device (100 cores, 1e15 FLOP/s, 2e12 B/s), 4096³ fp16:
        // 64×64 tiles: 4096 tiles / 100 cores → 41 waves; 41·2·64·64·4096 / (1e15/100·0.7313)
        // = 1.3757e9 / 7.313e12 = 188.1 µs; bytes 100.7 MB / (2e12·0.75) = 67.1 µs;
        // soft max p = 3.625: 188.1·(1 + (67.1/188.1)^3.625)^(1/3.625) = 189.3 µs; + 4.31 µs launch = 193.7 µs.
        let p: RooflineParams = parse_params("roofline", &serde_json::json!({"calibration": "vidur_a100"})).unwrap();
        let r = Roofline::new(a100, p).unwrap();
        let t = r.kernel_time(&Kernel::matmul(4096, 4096, 4096, DType::F16)).unwrap();
        assert!((t / 1e-6 - 193.66).abs() < 0.05, "{t}");
    }

    /// A calibration with round numbers for the low-precision, split-K and attention terms.
    fn classy() -> Calibration {
        Calibration {
            matmul_efficiency: 0.5,
            memory_efficiency: 0.5,
            launch_s: 1e-6,
            tile_m: 128,
            tile_n: 128,
            split_k_min: 256,
            fp8: GemmClass {
                matmul_efficiency: Some(0.25),
                memory_efficiency: Some(1.0),
                launch_s: Some(10e-6),
                tile_m: Some(64),
                tile_n: Some(64),
                act_quant_bytes: Some(5.0),
            },
            attention_efficiency: Some(0.5),
            attention_launch_s: Some(2e-6),
            decode_memory_efficiency: Some(0.5),
            attention_half_len: Some(1024.0),
            attention_seq_head_s: Some(1e-8),
            decode_seq_head_s: Some(2e-8),
            ..Calibration::IDEAL
        }
    }

    #[test]
    fn low_precision_class_split_k_and_attention_by_hand() {
        let r = Roofline::with_calibration(toy_device(), classy()).unwrap();
        // fp8-weight GEMM 1024×4096×4096 (m, k, n) with bf16 activations runs as W8A8: fp8 peak
        // 2e15 · 0.25 = 5e14; 64×64 tiles: 16·64 = 1024 tiles / 100 cores → 11 waves;
        // 11·2·64·64·4096 / (5e14/100) = 73.82 µs; bytes (1024·4096·2 + 4096²·1 + 1024·4096·2)
        // = 33.55 MB / 2e12 = 16.78 µs (hard max); quantisation 1024·4096·5 B / 2e12 = 10.49 µs;
        // + 10 µs launch.
        let fp8 = Kernel::Gemm { b: 1, m: 1024, k: 4096, n: 4096, a: DType::Bf16, w: DType::F8, out: DType::Bf16 };
        let expect = 10e-6 + 1024.0 * 4096.0 * 5.0 / 2e12 + 11.0 * 2.0 * 64.0 * 64.0 * 4096.0 / 5e12;
        let t = r.kernel_time(&fp8).unwrap();
        assert!((t - expect).abs() < 1e-12, "{t} vs {expect}");
        // The ideal roofline takes the declared types literally: bf16 compute rate.
        let ideal = Roofline::ideal(toy_device()).unwrap();
        assert!((ideal.kernel_time(&fp8).unwrap() - 2.0 * 1024.0 * 4096.0 * 4096.0 / 1e15).abs() < 1e-12);
        // Split-K: 128×8192×128 bf16 is one 128×128 tile; 100 cores, K/256 = 32 parts → 32-way
        // split, one wave of 2·128·128·256 FLOP at 1e15·0.5/100 per core = 1.678 µs; bytes
        // (128·8192 + 8192·128 + 128·128)·2 = 4.23 MB / (2e12·0.5) = 4.23 µs (hard max) + 1 µs.
        let t = r.kernel_time(&Kernel::matmul(128, 8192, 128, DType::Bf16)).unwrap();
        let bytes = (128.0 * 8192.0 * 2.0 + 128.0 * 128.0) * 2.0;
        assert!((t - (1e-6 + bytes / 1e12)).abs() < 1e-12, "{t}");
        let c = classy().gemm_compute_s(&toy_device(), 1e15, 1, 128, 8192, 128);
        assert!((c - 2.0 * 128.0 * 128.0 * 256.0 / 5e12).abs() < 1e-15, "{c}");
        // Prefill attention, 2 sequences of 1024 tokens, 8 heads of 128, causal:
        // pairs 2·1024·1025/2 = 1,049,600; FLOPs 2·pairs·8·256 = 4.299e9 at 1e15·0.5·(1024/2048)
        // = 17.20 µs; + 2 µs + 2·8·10 ns.
        let a = Kernel::Attention {
            seqs: 2,
            q_len: 1024,
            kv_len: 1024,
            q_heads: 8,
            kv_heads: 8,
            d_qk: 128,
            d_v: 128,
            causal: true,
            kv_shared: false,
            act: DType::Bf16,
            kv: DType::Bf16,
        };
        let flops = 2.0 * 1_049_600.0 * 8.0 * 256.0;
        let t = r.kernel_time(&a).unwrap();
        assert!((t - (2e-6 + 16.0 * 1e-8 + flops / 2.5e14)).abs() < 1e-12, "{t}");
        // Decode attention, 4 sequences, 4096 cached tokens in all, 8 KV heads of 128: KV bytes
        // 4096·8·256·2 = 16.78 MB, Q and O 2·4·8·128·2 = 16 KiB → 16.79 MB / (2e12·0.5)
        // = 16.79 µs; + 2 µs + 4·8·20 ns.
        let d = Kernel::DecodeAttention {
            seqs: 4,
            kv_total: 4096,
            q_heads: 8,
            kv_heads: 8,
            d_qk: 128,
            d_v: 128,
            kv_shared: false,
            act: DType::Bf16,
            kv: DType::Bf16,
        };
        let bytes = 4096.0 * 8.0 * 256.0 * 2.0 + 2.0 * 4.0 * 8.0 * 128.0 * 2.0;
        let t = r.kernel_time(&d).unwrap();
        assert!((t - (2e-6 + 32.0 * 2e-8 + bytes / 1e12)).abs() < 1e-12, "{t}");
    }

    #[test]
    fn fitted_collectives_and_their_switches() {
        use reallm_plugin_api::{CollectiveKind, CommAlgo, LinkScope};
        let mut h100 = toy_device();
        h100.name = "NVIDIA H100-SXM5-80GB".into();
        let ar = |algo| Collective { kind: CollectiveKind::AllReduce, bytes: 16384, ranks: 8, scope: LinkScope::ScaleUp, algo };
        let r = Roofline::new(h100.clone(), RooflineParams::default()).unwrap();
        let fit = CommDevice::H100.fit();
        let trt = commfit::time(fit.trtllm_all_reduce, 8, 16384.0).unwrap();
        let nccl = commfit::time(fit.nccl_all_reduce, 8, 16384.0).unwrap();
        // Default: TensorRT-LLM's all-reduce; `ring` asks for NCCL; `allreduce: nccl` too.
        assert_eq!(r.collective_time(&ar(CommAlgo::Auto)).unwrap(), trt);
        assert_eq!(r.collective_time(&ar(CommAlgo::Ring)).unwrap(), nccl);
        let p: RooflineParams = parse_params("roofline", &serde_json::json!({"allreduce": "nccl"})).unwrap();
        assert_eq!(Roofline::new(h100.clone(), p).unwrap().collective_time(&ar(CommAlgo::Auto)).unwrap(), nccl);
        // AIConfigurator's H100 tables: NCCL 18.98 µs, TensorRT-LLM 3.559 µs for 16 KiB on 8 GPUs.
        assert!((nccl / 18.98e-6 - 1.0).abs() < 0.15 && (trt / 3.559e-6 - 1.0).abs() < 0.15, "{nccl} {trt}");
        // Beyond the 8 GPUs of a board `auto` takes NCCL, extrapolated (an NVL72 group).
        let ar16 = Collective { ranks: 16, ..ar(CommAlgo::Auto) };
        assert_eq!(r.collective_time(&ar16).unwrap(), commfit::time(fit.nccl_all_reduce, 16, 16384.0).unwrap());
        // Explicit link figures switch to the α–β model; scale-out always uses it.
        let p: RooflineParams = parse_params("roofline", &serde_json::json!({"link_efficiency": 0.5})).unwrap();
        let ab = Roofline::new(h100.clone(), p).unwrap().collective_time(&ar(CommAlgo::Auto)).unwrap();
        assert_eq!(ab, comm::collective_time_with(&h100, &ar(CommAlgo::Auto), 0.5, Some(24.5e-6)).unwrap());
        let out = Collective { scope: LinkScope::ScaleOut, ..ar(CommAlgo::Auto) };
        assert_eq!(r.fitted_collective_s(&out), None);
    }

    #[test]
    fn rejects_bad_calibration_values() {
        for v in [
            serde_json::json!({"overlap_exponent": 0.5}),
            serde_json::json!({"tile_m": 0, "tile_n": 64, "calibration": "none"}),
            serde_json::json!({"link_latency_s": -1.0}),
            serde_json::json!({"calibration": "b300"}),
            serde_json::json!({"allreduce": "mpi"}),
        ] {
            assert!(create(&v, &toy_device()).is_err(), "{v}");
        }
    }
}
