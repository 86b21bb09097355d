//! The two LLMCompass reference devices of the original ReaLLM, built by hand from
//! `shared/reference/llmcompass-model.md` §1 (table "Numbers") and the device JSONs
//! `configs/device/GA100.json` / `GH100.json`. The host's JSON reader produces the same values;
//! these exist for tests, benchmarks and documentation examples.
//!
//! Fields LLMCompass does not have (narrow-type multipliers, scale-out network) carry
//! spec-sheet figures and are marked as such.

use reallm_plugin_api::{DType, DeviceSpec, Interconnect, ScaleOut, Topology};

fn nvlink(name: &str, links: u32) -> Interconnect {
    Interconnect {
        link_name: name.to_string(),
        link_bw_per_direction_bytes_per_s: 25e9,
        link_bw_both_directions_bytes_per_s: 50e9,
        link_latency_s: 8.92e-6,
        flit_bytes: 16,
        header_bytes: 16,
        max_payload_bytes: 256,
        link_count: links,
        topology: Topology::FullyConnected,
        devices_per_node: 4,
    }
}

/// ReaLLM's `GA100.json`: the full GA100 die (128 SMs, 48 MiB L2) at 1.41 GHz, 4 × 16×16
/// arrays per SM, HBM2e 5·1024·3.2e9/8 = 2.048e12 B/s, 12 NVLink3 links, FC, 4 devices.
pub fn ga100() -> DeviceSpec {
    let mut d = DeviceSpec {
        name: "GA100".to_string(),
        frequency_hz: 1410e6,
        core_count: 128,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 16,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::F16,
        vector_width: 32,
        vector_flop_per_cycle: 4,
        sram_bytes_per_core: 192 * 1024,
        l2_bytes: 48 * 1024 * 1024,
        l2_bytes_per_cycle: 5120.0,
        mem_bw_bytes_per_s: 5.0 * 1024.0 * 3.2e9 / 8.0,
        mem_capacity_bytes: 80 * 1024 * 1024 * 1024,
        peak_matmul_flops: 0.0,
        peak_vector_flops: 0.0,
        // Spec sheet (A100): no fp8, int8 2× fp16, TF32 0.5× fp16.
        fp8_multiplier: 0.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: nvlink("NVLink3", 12),
        // Spec sheet: one 200 Gb/s HDR InfiniBand NIC per GPU.
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 25e9, latency_s: 5e-6 },
    };
    d.peak_matmul_flops = d.derived_matmul_flops();
    d.peak_vector_flops = d.derived_vector_flops();
    d
}

/// ReaLLM's `GH100.json`: 132 SMs at 1.837 GHz, 4 × 16×32 arrays per SM, 256 KiB local buffer,
/// 50 MiB L2, HBM3 5·1024·5.76e9/8 = 3.6864e12 B/s, 18 NVLink4 links, FC, 4 devices.
pub fn gh100() -> DeviceSpec {
    let mut d = DeviceSpec {
        name: "GH100".to_string(),
        frequency_hz: 1837e6,
        core_count: 132,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 32,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::F16,
        vector_width: 32,
        vector_flop_per_cycle: 4,
        sram_bytes_per_core: 256 * 1024,
        l2_bytes: 50 * 1024 * 1024,
        l2_bytes_per_cycle: 5120.0,
        mem_bw_bytes_per_s: 5.0 * 1024.0 * 5.76e9 / 8.0,
        mem_capacity_bytes: 80 * 1024 * 1024 * 1024,
        peak_matmul_flops: 0.0,
        peak_vector_flops: 0.0,
        // Spec sheet (H100): fp8 and int8 2× fp16, TF32 0.5× fp16.
        fp8_multiplier: 2.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: nvlink("NVLink4", 18),
        // Spec sheet: one 400 Gb/s NDR InfiniBand NIC per GPU.
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 50e9, latency_s: 5e-6 },
    };
    d.peak_matmul_flops = d.derived_matmul_flops();
    d.peak_vector_flops = d.derived_vector_flops();
    d
}
