//! Template for a third-party kernel backend (see `docs/plugins.md`).
//!
//! The backend, `example-accel`, models a hypothetical accelerator whose on-chip SRAM holds a
//! kernel's whole working set when it is small enough. It is deliberately simple; what matters
//! is the shape of a plugin:
//!
//! 1. a parameter struct with `#[serde(deny_unknown_fields, default)]`, parsed with
//!    [`parse_params`] (the host passes parameters as JSON);
//! 2. a type implementing [`KernelBackend`] (pure: same input, same time; no panics on bad
//!    input: return a [`PluginError`]);
//! 3. one [`register_plugin!`] per plugin in the library;
//! 4. one [`reallm_plugin_api::export_plugin!`] per library.
//!
//! Model (all inputs from [`DeviceSpec`] and the kernel's canonical counts):
//!
//! ```text
//! compute_s = flops / (peak · compute_efficiency)          peak: matrix peak for the kernel's
//!                                                           data type, or the vector peak
//! memory_s  = bytes / bandwidth                             bandwidth: sram_bw_bytes_per_s if
//!                                                           bytes ≤ sram_bytes, else DRAM bw ·
//!                                                           memory_efficiency
//! time_s    = max(compute_s, memory_s) + launch_overhead_s
//! ```
//!
//! Collectives: a ring all-reduce-style alpha–beta model,
//! `2(p−1) · link_latency_s + 2(p−1)/p · bytes / (link bw · link count)`, for every kind.

use reallm_plugin_api::{
    parse_params, register_plugin, Collective, Constructor, DeviceSpec, Kernel, KernelBackend, PluginError, PluginInfo, PluginKind,
    PluginRegistration,
};
use serde::Deserialize;

/// Parameters of `example-accel`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExampleParams {
    /// Achieved fraction of the compute peak, 0 < x ≤ 1.
    pub compute_efficiency: f64,
    /// Achieved fraction of DRAM bandwidth, 0 < x ≤ 1.
    pub memory_efficiency: f64,
    /// On-chip SRAM that can hold a kernel's whole working set, bytes (0 disables).
    pub sram_bytes: u64,
    /// Bandwidth of that SRAM, bytes/s.
    pub sram_bw_bytes_per_s: f64,
    /// Fixed time per kernel launch, seconds.
    pub launch_overhead_s: f64,
}

impl Default for ExampleParams {
    fn default() -> Self {
        ExampleParams { compute_efficiency: 0.8, memory_efficiency: 0.9, sram_bytes: 0, sram_bw_bytes_per_s: 0.0, launch_overhead_s: 0.0 }
    }
}

/// A finite, strictly positive number.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// The `example-accel` backend bound to one device.
#[derive(Debug, Clone)]
pub struct ExampleAccel {
    device: DeviceSpec,
    params: ExampleParams,
}

impl ExampleAccel {
    /// Validate the parameters against the device.
    pub fn new(device: DeviceSpec, params: ExampleParams) -> Result<Self, PluginError> {
        let bad = |m: String| PluginError::Params { plugin: NAME.to_string(), message: m };
        for (name, v) in [("compute_efficiency", params.compute_efficiency), ("memory_efficiency", params.memory_efficiency)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(format!("{name} must be in (0, 1], got {v}")));
            }
        }
        if params.sram_bytes > 0 && !positive(params.sram_bw_bytes_per_s) {
            return Err(bad("sram_bytes is set, so sram_bw_bytes_per_s must be positive".into()));
        }
        if !(params.launch_overhead_s.is_finite() && params.launch_overhead_s >= 0.0) {
            return Err(bad(format!("launch_overhead_s must be ≥ 0, got {}", params.launch_overhead_s)));
        }
        if !(device.mem_bw_bytes_per_s > 0.0 && device.peak_matmul_flops > 0.0 && device.peak_vector_flops > 0.0) {
            return Err(PluginError::invalid(format!("device `{}` lacks peak rates or memory bandwidth", device.name)));
        }
        log::debug!("example-accel on {}: {:?}", device.name, params);
        Ok(ExampleAccel { device, params })
    }

    /// Seconds of compute at the achieved peak.
    pub fn compute_time_s(&self, k: &Kernel) -> f64 {
        let peak = if k.uses_matrix_units() { self.device.peak_matmul_flops_for(k.compute_dtype()) } else { self.device.peak_vector_flops };
        k.flops() / (peak * self.params.compute_efficiency)
    }

    /// Seconds of memory traffic, from SRAM when the working set fits.
    pub fn memory_time_s(&self, k: &Kernel) -> f64 {
        let bytes = k.bytes();
        if self.params.sram_bytes > 0 && bytes <= self.params.sram_bytes as f64 {
            log::trace!("{} fits in SRAM ({bytes} bytes)", k.kind_name());
            bytes / self.params.sram_bw_bytes_per_s
        } else {
            bytes / (self.device.mem_bw_bytes_per_s * self.params.memory_efficiency)
        }
    }
}

impl KernelBackend for ExampleAccel {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        Ok(self.compute_time_s(k).max(self.memory_time_s(k)) + self.params.launch_overhead_s)
    }

    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        let ic = &self.device.interconnect;
        let bw = ic.device_bw_per_direction_bytes_per_s();
        if !positive(bw) {
            return Err(PluginError::invalid(format!("device `{}` has no scale-up bandwidth", self.device.name)));
        }
        if c.ranks <= 1 {
            return Ok(0.0);
        }
        let p = c.ranks as f64;
        Ok(2.0 * (p - 1.0) * ic.link_latency_s + 2.0 * (p - 1.0) / p * c.bytes as f64 / bw)
    }
}

/// The plugin's name, as configs select it (`backend: example-accel`).
pub const NAME: &str = "example-accel";

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    Ok(Box::new(ExampleAccel::new(device.clone(), parse_params(NAME, params)?)?))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: NAME,
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary: "template backend: roofline with an on-chip SRAM for small working sets",
        example_params: "compute_efficiency: 0.8\nmemory_efficiency: 0.9\nsram_bytes: 52428800\nsram_bw_bytes_per_s: 2.0e13\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

reallm_plugin_api::export_plugin!();

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::{CollectiveKind, CommAlgo, DType, LinkScope};

    fn device() -> DeviceSpec {
        let mut d: DeviceSpec = serde_json::from_str(include_str!("../testdata/toy_device.json")).unwrap();
        d.peak_matmul_flops = 1.0e15;
        d.peak_vector_flops = 1.0e14;
        d.mem_bw_bytes_per_s = 2.0e12;
        d
    }

    fn accel(params: serde_json::Value) -> Box<dyn KernelBackend> {
        create(&params, &device()).unwrap()
    }

    #[test]
    fn compute_bound_gemm() {
        // 4096³ bf16 GEMM: FLOPs 2·4096³ = 1.37439e11; at 1e15 × 0.8 = 8e14 FLOP/s → 1.71799e-4 s.
        // Bytes 3·4096²·2 = 1.00663e8; at 2e12 × 0.9 = 1.8e12 B/s → 5.59e-5 s. Compute wins.
        let k = Kernel::matmul(4096, 4096, 4096, DType::Bf16);
        let t = accel(serde_json::Value::Null).kernel_time(&k).unwrap();
        assert!((t - 2.0 * 4096f64.powi(3) / 8.0e14).abs() < 1e-18, "{t}");
    }

    #[test]
    fn sram_makes_small_kernels_faster() {
        // Add of [1024, 1024] bf16: bytes 3·2²⁰·2 = 6291456. From DRAM: /1.8e12 = 3.49525e-6 s;
        // from a 50 MB SRAM at 2e13 B/s: 3.14573e-7 s (+ 1e-6 s launch overhead in both).
        let k = Kernel::Add { m: 1024, n: 1024, dtype: DType::Bf16 };
        let dram = accel(serde_json::json!({"launch_overhead_s": 1e-6})).kernel_time(&k).unwrap();
        let sram = accel(serde_json::json!({"launch_overhead_s": 1e-6, "sram_bytes": 52428800, "sram_bw_bytes_per_s": 2.0e13}))
            .kernel_time(&k)
            .unwrap();
        assert!((dram - (6291456.0 / 1.8e12 + 1e-6)).abs() < 1e-18, "{dram}");
        assert!((sram - (6291456.0 / 2.0e13 + 1e-6)).abs() < 1e-18, "{sram}");
    }

    #[test]
    fn ring_collective() {
        // toy device: 12 links × 25 GB/s = 3e11 B/s, latency 8.92e-6 s. 8 ranks, 1 GB:
        // 14 · 8.92e-6 + 14/8 · 1e9 / 3e11 = 1.2488e-4 + 5.8333e-3 = 5.95821e-3 s.
        let c =
            Collective { kind: CollectiveKind::AllReduce, bytes: 1_000_000_000, ranks: 8, scope: LinkScope::ScaleUp, algo: CommAlgo::Auto };
        let t = accel(serde_json::Value::Null).collective_time(&c).unwrap();
        assert!((t - (14.0 * 8.92e-6 + 1.75 * 1e9 / 3e11)).abs() < 1e-15, "{t}");
    }

    #[test]
    fn bad_parameters_are_errors() {
        let e = create(&serde_json::json!({"compute_efficiency": 1.5}), &device()).err().unwrap();
        assert!(e.to_string().contains("compute_efficiency must be in (0, 1]"), "{e}");
        assert!(create(&serde_json::json!({"sram_bytes": 10}), &device()).is_err());
        assert!(create(&serde_json::json!({"bogus": 1}), &device()).err().unwrap().to_string().contains("bogus"));
    }
}
