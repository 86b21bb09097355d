//! `roofline`: a byte-correct roofline kernel backend with alpha–beta collectives.
//!
//! Kernel time = `launch_overhead_s + max(FLOPs / (peak · compute_efficiency),
//! bytes / (DRAM bandwidth · memory_efficiency))`, with FLOPs and bytes from
//! [`Kernel::flops`] / [`Kernel::bytes`] (bytes, never elements). GEMMs and attention use the
//! device's matrix peak for their data type; other kernels its vector peak.
//!
//! Collectives use an alpha–beta model on the link the collective's scope names:
//! `steps · latency + wire_bytes / bandwidth`, with the step count and wire bytes of the chosen
//! algorithm (see [`collective_time`]).

pub mod comm;

use reallm_plugin_api::{
    parse_params, register_plugin, Collective, Constructor, DeviceSpec, Kernel, KernelBackend, PluginError, PluginInfo, PluginKind,
    PluginRegistration,
};
use serde::Deserialize;

pub use comm::collective_time;

/// Efficiency parameters (all optional; the defaults are the ideal roofline).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RooflineParams {
    /// Achieved fraction of the matrix (tensor-core) peak, 0 < x ≤ 1.
    pub compute_efficiency: f64,
    /// Achieved fraction of the vector peak for element-wise kernels.
    pub vector_efficiency: f64,
    /// Achieved fraction of DRAM bandwidth.
    pub memory_efficiency: f64,
    /// Fixed time added to every kernel, seconds.
    pub launch_overhead_s: f64,
    /// Achieved fraction of link bandwidth for collectives.
    pub link_efficiency: f64,
}

impl Default for RooflineParams {
    fn default() -> Self {
        RooflineParams {
            compute_efficiency: 1.0,
            vector_efficiency: 1.0,
            memory_efficiency: 1.0,
            launch_overhead_s: 0.0,
            link_efficiency: 1.0,
        }
    }
}

impl RooflineParams {
    fn validate(&self) -> Result<(), PluginError> {
        for (name, v) in [
            ("compute_efficiency", self.compute_efficiency),
            ("vector_efficiency", self.vector_efficiency),
            ("memory_efficiency", self.memory_efficiency),
            ("link_efficiency", self.link_efficiency),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(PluginError::Params {
                    plugin: "roofline".into(),
                    message: format!("{name} = {v}: expected a fraction in (0, 1]"),
                });
            }
        }
        if !(self.launch_overhead_s >= 0.0 && self.launch_overhead_s.is_finite()) {
            return Err(PluginError::Params {
                plugin: "roofline".into(),
                message: format!("launch_overhead_s = {}: expected a non-negative number of seconds", self.launch_overhead_s),
            });
        }
        Ok(())
    }
}

/// The roofline backend bound to one device.
#[derive(Debug, Clone)]
pub struct Roofline {
    device: DeviceSpec,
    params: RooflineParams,
}

impl Roofline {
    pub fn new(device: DeviceSpec, params: RooflineParams) -> Result<Self, PluginError> {
        params.validate()?;
        if !(device.mem_bw_bytes_per_s > 0.0 && device.peak_matmul_flops > 0.0 && device.peak_vector_flops > 0.0) {
            return Err(PluginError::invalid(format!("device `{}` has a zero peak rate or bandwidth", device.name)));
        }
        Ok(Roofline { device, params })
    }

    /// Compute-bound time of a kernel, seconds.
    pub fn compute_time_s(&self, k: &Kernel) -> f64 {
        let peak = if k.uses_matrix_units() {
            self.device.peak_matmul_flops_for(k.compute_dtype()) * self.params.compute_efficiency
        } else {
            self.device.peak_vector_flops * self.params.vector_efficiency
        };
        k.flops() / peak
    }

    /// Memory-bound time of a kernel, seconds.
    pub fn memory_time_s(&self, k: &Kernel) -> f64 {
        k.bytes() / (self.device.mem_bw_bytes_per_s * self.params.memory_efficiency)
    }
}

impl KernelBackend for Roofline {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        Ok(self.params.launch_overhead_s + self.compute_time_s(k).max(self.memory_time_s(k)))
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        comm::collective_time(&self.device, c, self.params.link_efficiency)
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
        summary: "Byte-correct roofline: max(FLOPs / peak, bytes / DRAM bandwidth) per kernel; alpha-beta collectives",
        example_params:
            "compute_efficiency: 1.0\nvector_efficiency: 1.0\nmemory_efficiency: 1.0\nlaunch_overhead_s: 0.0\nlink_efficiency: 1.0\n",
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
        let p = RooflineParams { compute_efficiency: 0.5, launch_overhead_s: 3e-6, ..Default::default() };
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
}
