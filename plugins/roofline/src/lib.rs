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
//! Collectives use an alpha–beta model on the link the collective's scope names:
//! `steps · latency + wire_bytes / bandwidth`, with the step count and wire bytes of the chosen
//! algorithm (see [`collective_time`]).

pub mod calibrated;
pub mod comm;

use reallm_plugin_api::{
    parse_params, register_plugin, Collective, Constructor, DeviceSpec, Kernel, KernelBackend, PluginError, PluginInfo, PluginKind,
    PluginRegistration,
};
use serde::Deserialize;

pub use calibrated::Calibration;
pub use comm::{collective_time, collective_time_with};

/// Which fitted coefficients to start from before explicit parameters are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMode {
    /// The fit for the device (by `DeviceSpec::name`: A100, H100, H200), or the ideal roofline
    /// for devices without one.
    #[default]
    Auto,
    /// The ideal roofline (all efficiencies 1, no quantisation, no launch time).
    None,
    /// The A100-SXM4-80GB fit, whatever the device.
    A100,
    /// The H100-SXM5-80GB fit, whatever the device.
    H100,
}

/// Parameters of the `roofline` backend. Every coefficient is optional: unset ones come from
/// the base chosen by `calibration`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RooflineParams {
    /// Base coefficients: `auto` (default), `none` (ideal), `a100`, `h100`.
    pub calibration: CalibrationMode,
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
    /// Achieved fraction of link bandwidth for collectives.
    pub link_efficiency: Option<f64>,
    /// Latency of one collective step, seconds (default: the fit's, else the device's link latency).
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
        };
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
            let peak = self.device.peak_matmul_flops_for(k.compute_dtype());
            match *k {
                Kernel::Gemm { b, m, k: kk, n, .. } => self.cal.gemm_compute_s(&self.device, peak, b, m, kk, n),
                _ => k.flops() / (peak * self.cal.matmul_efficiency),
            }
        } else {
            k.flops() / (self.device.peak_vector_flops * self.cal.vector_efficiency)
        }
    }

    /// Memory-bound time of a kernel, seconds.
    pub fn memory_time_s(&self, k: &Kernel) -> f64 {
        k.bytes() / (self.device.mem_bw_bytes_per_s * self.cal.memory_efficiency_for(k))
    }
}

impl KernelBackend for Roofline {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        let (c, m) = (self.compute_time_s(k), self.memory_time_s(k));
        Ok(if k.uses_matrix_units() { self.cal.launch_s + self.cal.combine(c, m) } else { self.cal.vector_launch_s + c.max(m) })
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
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
        summary: "Byte-correct roofline calibrated to measured A100/H100 kernels (tile waves, small-M, launch); alpha-beta collectives",
        example_params: "calibration: auto   # auto (fitted A100/H100/H200, else ideal), none (ideal), a100, h100\n\
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
    use reallm_plugin_api::{DType, Interconnect, ScaleOut, Topology};

    /// A device with round numbers: 1000 TFLOP/s matrix, 100 TFLOP/s vector, 2 TB/s DRAM,
    /// 8 links of 25 GB/s per direction (200 GB/s), 1 µs latency.
    pub(crate) fn toy_device() -> DeviceSpec {
        DeviceSpec {
            name: "toy".into(),
            frequency_hz: 1e9,
            core_count: 100,
            sublane_count: 4,
            systolic_array_height: 16,
            systolic_array_width: 16,
            mac_per_cycle: 1.0,
            systolic_dtype: DType::F16,
            vector_width: 32,
            vector_flop_per_cycle: 4,
            sram_bytes_per_core: 192 * 1024,
            l2_bytes: 40 << 20,
            l2_bytes_per_cycle: 5120.0,
            mem_bw_bytes_per_s: 2e12,
            mem_capacity_bytes: 80 << 30,
            peak_matmul_flops: 1e15,
            peak_vector_flops: 1e14,
            fp8_multiplier: 2.0,
            int8_multiplier: 2.0,
            fp4_multiplier: 0.0,
            fp32_multiplier: 0.5,
            interconnect: Interconnect {
                link_name: "toy".into(),
                link_bw_per_direction_bytes_per_s: 25e9,
                link_bw_both_directions_bytes_per_s: 50e9,
                link_latency_s: 1e-6,
                flit_bytes: 16,
                header_bytes: 16,
                max_payload_bytes: 256,
                link_count: 8,
                topology: Topology::FullyConnected,
                devices_per_node: 8,
            },
            scale_out: ScaleOut { bw_per_device_bytes_per_s: 50e9, latency_s: 5e-6 },
        }
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
        assert_eq!(Roofline::new(h200, RooflineParams::default()).unwrap().calibration(), &calibrated::H100_SXM_80GB);
        // Explicit values override the fit; the rest stays fitted.
        let v = serde_json::json!({"compute_efficiency": 0.5, "tile_m": 0, "tile_n": 0, "launch_overhead_s": 0.0});
        let p: RooflineParams = parse_params("roofline", &v).unwrap();
        let c = p.resolve(&a100).unwrap();
        assert_eq!((c.matmul_efficiency, c.tile_m, c.launch_s, c.vector_launch_s), (0.5, 0, 0.0, 0.0));
        assert_eq!(c.memory_efficiency, calibrated::A100_SXM_80GB.memory_efficiency);
        // `calibration: h100` on any device.
        let p: RooflineParams = parse_params("roofline", &serde_json::json!({"calibration": "h100"})).unwrap();
        assert_eq!(p.resolve(&toy_device()).unwrap(), calibrated::H100_SXM_80GB);
        // A100 fit on the toy device (100 cores, 1e15 FLOP/s, 2e12 B/s), 4096³ fp16:
        // 64×64 tiles: 4096 tiles / 100 cores → 41 waves; 41·2·64·64·4096 / (1e15/100·0.7313)
        // = 1.3757e9 / 7.313e12 = 188.1 µs; bytes 100.7 MB / (2e12·0.75) = 67.1 µs;
        // soft max p = 3.625: 188.1·(1 + (67.1/188.1)^3.625)^(1/3.625) = 189.3 µs; + 4.31 µs launch = 193.7 µs.
        let r = Roofline::new(a100, RooflineParams::default()).unwrap();
        let t = r.kernel_time(&Kernel::matmul(4096, 4096, 4096, DType::F16)).unwrap();
        assert!((t / 1e-6 - 193.66).abs() < 0.05, "{t}");
    }

    #[test]
    fn rejects_bad_calibration_values() {
        for v in [
            serde_json::json!({"overlap_exponent": 0.5}),
            serde_json::json!({"tile_m": 0, "tile_n": 64, "calibration": "none"}),
            serde_json::json!({"link_latency_s": -1.0}),
            serde_json::json!({"calibration": "b200"}),
        ] {
            assert!(create(&v, &toy_device()).is_err(), "{v}");
        }
    }
}
