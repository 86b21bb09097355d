//! Device descriptions: the LLMCompass device JSON format (read unchanged) and the shipped
//! presets.
//!
//! Derivations follow LLMCompass (`docs/devices.md`): peak matrix FLOP/s =
//! `cores · sublanes · mac_per_cycle · 2 · H · W · f`; DRAM bandwidth =
//! `active_channels · pins · bit_rate // 8`; L2 = `global_buffer_MB · 2^20`; capacity =
//! `total_capacity_GB · 2^30`. An optional top-level `reallm` object carries what the format
//! lacks (low-precision multipliers, node size, scale-out link); without it the defaults in
//! [`Extension`] apply.

use crate::error::{Error, Result};
use reallm_plugin_api::{DType, DeviceSpec, Interconnect, ScaleOut, Topology};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Shipped device files: (preset name, aliases, JSON text).
pub const PRESETS: &[(&str, &[&str], &str)] = &[
    ("GA100", &["ga100"], include_str!("../../configs/device/GA100.json")),
    ("GH100", &["gh100"], include_str!("../../configs/device/GH100.json")),
    ("A100-SXM-80GB", &["a100", "a100-80gb", "a100-sxm", "a100_80gb"], include_str!("../../configs/device/A100-SXM-80GB.json")),
    ("H100-SXM", &["h100", "h100-sxm5", "h100-80gb", "h100_sxm"], include_str!("../../configs/device/H100-SXM.json")),
    ("H200-SXM", &["h200", "h200-141gb", "h200_sxm"], include_str!("../../configs/device/H200-SXM.json")),
    ("B200-SXM", &["b200", "b200-180gb", "b200_sxm", "hgx-b200"], include_str!("../../configs/device/B200-SXM.json")),
    ("GB200", &["gb200", "gb200-nvl72", "gb200_nvl72", "nvl72"], include_str!("../../configs/device/GB200.json")),
];

#[derive(Deserialize)]
struct File {
    name: String,
    interconnect: IcFile,
    device: DevFile,
    #[serde(default)]
    reallm: Extension,
}

#[derive(Deserialize)]
struct IcFile {
    link: LinkFile,
    link_count_per_device: u32,
    topology: String,
}

#[derive(Deserialize)]
struct LinkFile {
    #[serde(default)]
    name: String,
    bandwidth_per_direction_byte: f64,
    bandwidth_both_directions_byte: f64,
    latency_second: f64,
    flit_size_byte: u64,
    header_size_byte: u64,
    max_payload_size_byte: u64,
}

#[derive(Deserialize)]
struct DevFile {
    #[serde(rename = "frequency_Hz")]
    frequency_hz: f64,
    compute_chiplet_count: u32,
    compute_chiplet: ChipletFile,
    io: IoFile,
    memory: MemFile,
}

#[derive(Deserialize)]
struct ChipletFile {
    core_count: u32,
    core: CoreFile,
}

#[derive(Deserialize)]
struct CoreFile {
    sublane_count: u32,
    systolic_array: SaFile,
    vector_unit: VuFile,
    #[serde(rename = "SRAM_KB")]
    sram_kb: f64,
}

#[derive(Deserialize)]
struct SaFile {
    array_width: u32,
    array_height: u32,
    data_type: String,
    mac_per_cycle: f64,
}

#[derive(Deserialize)]
struct VuFile {
    vector_width: u32,
    flop_per_cycle: u32,
}

#[derive(Deserialize)]
struct IoFile {
    #[serde(rename = "global_buffer_MB")]
    global_buffer_mb: f64,
    global_buffer_bandwidth_per_cycle_byte: f64,
    memory_channel_active_count: u32,
    pin_count_per_channel: u32,
    bandwidth_per_pin_bit: f64,
}

#[derive(Deserialize)]
struct MemFile {
    #[serde(rename = "total_capacity_GB")]
    total_capacity_gb: f64,
}

/// ReaLLM's additions to the device format, all optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Extension {
    #[serde(rename = "_comment")]
    pub comment: Option<String>,
    /// Matrix-peak multiplier of fp8 over 16-bit (0: not supported, runs at 16-bit rate).
    pub fp8_multiplier: f64,
    pub int8_multiplier: f64,
    pub fp4_multiplier: f64,
    pub fp32_multiplier: f64,
    /// Devices per node joined by the scale-up links. The LLMCompass `device_count` is the
    /// TP group of its all-reduce experiments, not a node size, so it is not used for this.
    pub devices_per_node: u32,
    pub scale_out_bandwidth_per_device_byte: f64,
    pub scale_out_latency_second: f64,
    /// Override the derived dense 16-bit matrix peak (FLOP/s).
    pub peak_matmul_flops: Option<f64>,
}

impl Default for Extension {
    fn default() -> Self {
        Extension {
            comment: None,
            fp8_multiplier: 0.0,
            int8_multiplier: 0.0,
            fp4_multiplier: 0.0,
            fp32_multiplier: 0.5,
            devices_per_node: 8,
            scale_out_bandwidth_per_device_byte: 50e9,
            scale_out_latency_second: 5e-6,
            peak_matmul_flops: None,
        }
    }
}

/// Parse an LLMCompass-format device JSON. `origin` names the file in errors.
pub fn parse_device_json(text: &str, origin: &str) -> Result<DeviceSpec> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let f: File = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let loc = if inner.line() > 0 { format!(" (line {}, column {})", inner.line(), inner.column()) } else { String::new() };
        Error::input(origin, format!("invalid device description at `{path}`{loc}: {inner}"))
    })?;
    let bad = |key: &str, v: f64, what: &str| Error::input(origin, format!("`{key}` = {v}: expected {what}"));
    let d = &f.device;
    let core = &d.compute_chiplet.core;
    let positive = [
        ("device.frequency_Hz", d.frequency_hz),
        ("device.compute_chiplet.core_count", d.compute_chiplet.core_count as f64),
        ("device.compute_chiplet_count", d.compute_chiplet_count as f64),
        ("device.compute_chiplet.core.sublane_count", core.sublane_count as f64),
        ("device.compute_chiplet.core.systolic_array.array_width", core.systolic_array.array_width as f64),
        ("device.compute_chiplet.core.systolic_array.array_height", core.systolic_array.array_height as f64),
        ("device.compute_chiplet.core.systolic_array.mac_per_cycle", core.systolic_array.mac_per_cycle),
        ("device.compute_chiplet.core.vector_unit.vector_width", core.vector_unit.vector_width as f64),
        ("device.compute_chiplet.core.vector_unit.flop_per_cycle", core.vector_unit.flop_per_cycle as f64),
        ("device.compute_chiplet.core.SRAM_KB", core.sram_kb),
        ("device.io.global_buffer_MB", d.io.global_buffer_mb),
        ("device.io.global_buffer_bandwidth_per_cycle_byte", d.io.global_buffer_bandwidth_per_cycle_byte),
        ("device.io.memory_channel_active_count", d.io.memory_channel_active_count as f64),
        ("device.io.pin_count_per_channel", d.io.pin_count_per_channel as f64),
        ("device.io.bandwidth_per_pin_bit", d.io.bandwidth_per_pin_bit),
        ("device.memory.total_capacity_GB", d.memory.total_capacity_gb),
        ("interconnect.link.bandwidth_per_direction_byte", f.interconnect.link.bandwidth_per_direction_byte),
        ("interconnect.link.bandwidth_both_directions_byte", f.interconnect.link.bandwidth_both_directions_byte),
        ("interconnect.link_count_per_device", f.interconnect.link_count_per_device as f64),
        ("interconnect.link.max_payload_size_byte", f.interconnect.link.max_payload_size_byte as f64),
        ("interconnect.link.flit_size_byte", f.interconnect.link.flit_size_byte as f64),
    ];
    for (k, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return Err(bad(k, v, "a positive number"));
        }
    }
    if !(f.interconnect.link.latency_second.is_finite() && f.interconnect.link.latency_second >= 0.0) {
        return Err(bad("interconnect.link.latency_second", f.interconnect.link.latency_second, "a non-negative number of seconds"));
    }
    if d.frequency_hz > 1e11 {
        return Err(bad("device.frequency_Hz", d.frequency_hz, "a clock below 100 GHz (the unit is Hz)"));
    }
    let sa_dtype = DType::parse(&core.systolic_array.data_type).ok_or_else(|| {
        Error::input(
            origin,
            format!(
                "`device.compute_chiplet.core.systolic_array.data_type` = {:?}: expected fp32, fp16, bf16, fp8 or int8",
                core.systolic_array.data_type
            ),
        )
    })?;
    let ext = &f.reallm;
    let cores = d.compute_chiplet.core_count * d.compute_chiplet_count;
    // LLMCompass: io_bw = active_ch * pins * bit_rate // 8 (integer division of a float).
    let mem_bw = (d.io.memory_channel_active_count as f64 * d.io.pin_count_per_channel as f64 * d.io.bandwidth_per_pin_bit / 8.0).floor();
    let topology = if f.interconnect.topology.eq_ignore_ascii_case("FC") { Topology::FullyConnected } else { Topology::Ring };
    let mut spec = DeviceSpec {
        name: f.name.clone(),
        frequency_hz: d.frequency_hz,
        core_count: cores,
        sublane_count: core.sublane_count,
        systolic_array_height: core.systolic_array.array_height,
        systolic_array_width: core.systolic_array.array_width,
        mac_per_cycle: core.systolic_array.mac_per_cycle,
        systolic_dtype: sa_dtype,
        vector_width: core.vector_unit.vector_width,
        vector_flop_per_cycle: core.vector_unit.flop_per_cycle,
        sram_bytes_per_core: (core.sram_kb * 1024.0) as u64,
        l2_bytes: (d.io.global_buffer_mb * 1024.0 * 1024.0) as u64,
        l2_bytes_per_cycle: d.io.global_buffer_bandwidth_per_cycle_byte,
        mem_bw_bytes_per_s: mem_bw,
        mem_capacity_bytes: (d.memory.total_capacity_gb * (1u64 << 30) as f64) as u64,
        peak_matmul_flops: 0.0,
        peak_vector_flops: 0.0,
        fp8_multiplier: ext.fp8_multiplier,
        int8_multiplier: ext.int8_multiplier,
        fp4_multiplier: ext.fp4_multiplier,
        fp32_multiplier: ext.fp32_multiplier,
        interconnect: Interconnect {
            link_name: f.interconnect.link.name.clone(),
            link_bw_per_direction_bytes_per_s: f.interconnect.link.bandwidth_per_direction_byte,
            link_bw_both_directions_bytes_per_s: f.interconnect.link.bandwidth_both_directions_byte,
            link_latency_s: f.interconnect.link.latency_second,
            flit_bytes: f.interconnect.link.flit_size_byte,
            header_bytes: f.interconnect.link.header_size_byte,
            max_payload_bytes: f.interconnect.link.max_payload_size_byte,
            link_count: f.interconnect.link_count_per_device,
            topology,
            devices_per_node: ext.devices_per_node.max(1),
        },
        scale_out: ScaleOut { bw_per_device_bytes_per_s: ext.scale_out_bandwidth_per_device_byte, latency_s: ext.scale_out_latency_second },
    };
    spec.peak_matmul_flops = ext.peak_matmul_flops.unwrap_or_else(|| spec.derived_matmul_flops());
    spec.peak_vector_flops = spec.derived_vector_flops();
    Ok(spec)
}

/// A resolved device: its spec and a short name for file names (`GA100`, `H100-SXM`).
#[derive(Debug, Clone)]
pub struct Device {
    pub key: String,
    pub spec: DeviceSpec,
}

/// Resolve a device by preset name (case-insensitive, aliases allowed) or JSON file path
/// (relative paths are tried against `base_dir` first, then the working directory).
pub fn resolve(name: &str, base_dir: Option<&Path>) -> Result<Device> {
    let lower = name.to_ascii_lowercase();
    for (key, aliases, text) in PRESETS {
        if key.eq_ignore_ascii_case(name) || aliases.contains(&lower.as_str()) {
            return Ok(Device { key: key.to_string(), spec: parse_device_json(text, &format!("built-in device {key}"))? });
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    let p = Path::new(name);
    if let Some(b) = base_dir {
        candidates.push(b.join(p));
        if p.extension().is_none() {
            candidates.push(b.join(format!("{name}.json")));
        }
    }
    candidates.push(p.to_path_buf());
    for c in &candidates {
        if c.is_file() {
            let text = std::fs::read_to_string(c).map_err(|e| Error::io(c, e))?;
            let spec = parse_device_json(&text, &c.display().to_string())?;
            let key = c.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| name.to_string());
            return Ok(Device { key, spec });
        }
    }
    let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
    Err(Error::input(
        name,
        format!(
            "no such device: not a built-in preset ({}) and no file found at {}",
            names.join(", "),
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" or ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga100_matches_llmcompass_derivations() {
        let d = resolve("GA100", None).unwrap().spec;
        // 128 cores · 4 · 2 · 16 · 16 · 1.41e9 = 3.6962304e14
        assert!((d.peak_matmul_flops - 3.6962304e14).abs() < 1.0);
        assert!((d.peak_vector_flops - 9.2405760e13).abs() < 1.0);
        assert_eq!(d.mem_bw_bytes_per_s, 2.048e12);
        assert_eq!(d.l2_bytes, 50_331_648);
        assert_eq!(d.sram_bytes_per_core, 196_608);
        assert_eq!(d.mem_capacity_bytes, 80 << 30);
        assert_eq!(d.interconnect.link_count, 12);
        assert_eq!(d.interconnect.topology, Topology::FullyConnected);
    }

    #[test]
    fn gh100_and_real_parts() {
        let d = resolve("gh100", None).unwrap().spec;
        assert!((d.peak_matmul_flops - 9.93214464e14).abs() < 1.0);
        assert_eq!(d.mem_bw_bytes_per_s, 3.6864e12);
        let a = resolve("A100-SXM-80GB", None).unwrap().spec;
        assert!((a.peak_matmul_flops / 1e12 - 311.87).abs() < 0.1);
        assert!((a.mem_bw_bytes_per_s / 1e9 - 2039.0).abs() < 1.0);
        let h = resolve("h100", None).unwrap().spec;
        assert!((h.peak_matmul_flops / 1e12 - 989.2).abs() < 0.5);
        assert!((h.mem_bw_bytes_per_s / 1e9 - 3350.0).abs() < 0.01);
        assert_eq!(h.peak_matmul_flops_for(DType::F8), 2.0 * h.peak_matmul_flops);
        let h2 = resolve("H200-SXM", None).unwrap().spec;
        assert!((h2.mem_bw_bytes_per_s / 1e9 - 4800.0).abs() < 0.01);
    }

    #[test]
    fn blackwell_presets_and_memory_in_bytes() {
        // Capacities as AIConfigurator's system files give them (bytes the GPU has).
        assert_eq!(resolve("h100", None).unwrap().spec.mem_capacity_bytes, 85_899_345_920, "80 GiB");
        assert_eq!(resolve("h200", None).unwrap().spec.mem_capacity_bytes, 151_397_597_184, "141 GiB");
        let b = resolve("B200-SXM", None).unwrap().spec;
        assert_eq!(b.mem_capacity_bytes, 193_273_528_320, "180 GiB");
        // 148 SMs · 4 · 2 · 32 · 32 · 1.856 GHz = 2.2503 PFLOP/s dense bf16 (spec 2.25).
        assert!((b.peak_matmul_flops / 1e15 - 2.2503).abs() < 1e-3, "{}", b.peak_matmul_flops);
        assert_eq!(b.peak_matmul_flops_for(DType::F8), 2.0 * b.peak_matmul_flops);
        assert_eq!(b.peak_matmul_flops_for(DType::F4), 4.0 * b.peak_matmul_flops);
        assert_eq!(b.peak_matmul_flops_for(DType::Mxfp4), 4.0 * b.peak_matmul_flops);
        assert_eq!(b.peak_matmul_flops_for(DType::F8Block), 2.0 * b.peak_matmul_flops);
        // 8 stacks · 1024 pins · 7.5195 Gb/s / 8 = 7.7 TB/s.
        assert_eq!(b.mem_bw_bytes_per_s, 7.7e12);
        assert_eq!(b.interconnect.device_bw_per_direction_bytes_per_s(), 900e9);
        assert_eq!((b.interconnect.devices_per_node, b.scale_out.bw_per_device_bytes_per_s), (8, 100e9));
        let g = resolve("gb200-nvl72", None).unwrap().spec;
        assert_eq!(g.mem_capacity_bytes, 198_674_743_296, "189,471 MiB");
        assert!((g.peak_matmul_flops / 1e15 - 2.5).abs() < 1e-3);
        assert_eq!(g.mem_bw_bytes_per_s, 8e12);
        assert_eq!(g.interconnect.devices_per_node, 72, "NVL72 scale-up domain");
        // Hopper has no FP4: such kernels run at the 16-bit rate.
        let h = resolve("h100", None).unwrap().spec;
        assert_eq!(h.peak_matmul_flops_for(DType::F4), h.peak_matmul_flops);
    }

    #[test]
    fn bad_device_files() {
        let e = resolve("no-such-device", None).unwrap_err().to_string();
        assert!(e.contains("no such device"), "{e}");
        let text = include_str!("../../configs/device/GA100.json").replace("\"frequency_Hz\": 1410e6", "\"frequency_Hz\": -1");
        let e = parse_device_json(&text, "x.json").unwrap_err().to_string();
        assert!(e.contains("device.frequency_Hz"), "{e}");
        let text = include_str!("../../configs/device/GA100.json").replace("\"core_count\"", "\"core_cnt\"");
        let e = parse_device_json(&text, "x.json").unwrap_err().to_string();
        assert!(e.contains("core_count") && e.contains("x.json"), "{e}");
        let e = parse_device_json("{ not json", "y.json").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
