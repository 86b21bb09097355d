//! Device and interconnect descriptions, in SI units.
//!
//! The fields mirror the LLMCompass device format (see `docs/devices.md`): a compute die of
//! `core_count` cores, each with `sublane_count` systolic arrays and vector units, an L2
//! (global buffer), DRAM, and scale-up links. Peak rates are derived from these fields unless a
//! preset overrides them with spec-sheet figures.

use crate::dtype::DType;
use serde::{Deserialize, Serialize};

/// Topology of the scale-up links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Topology {
    /// Fully connected (every device has links to every other, or a switch).
    #[default]
    FullyConnected,
    /// A ring.
    Ring,
}

/// Scale-up interconnect (NVLink-class) of one device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interconnect {
    /// Name of the link technology (e.g. `nvlink4`).
    pub link_name: String,
    /// Bandwidth of one link in one direction, bytes/s.
    pub link_bw_per_direction_bytes_per_s: f64,
    /// Bandwidth of one link counting both directions, bytes/s.
    pub link_bw_both_directions_bytes_per_s: f64,
    /// Latency of one hop, seconds.
    pub link_latency_s: f64,
    /// Flit size, bytes.
    pub flit_bytes: u64,
    /// Header bytes per packet.
    pub header_bytes: u64,
    /// Largest payload per packet, bytes.
    pub max_payload_bytes: u64,
    /// Links per device.
    pub link_count: u32,
    /// How the devices of a node are joined.
    pub topology: Topology,
    /// Devices reachable over scale-up links (one node); larger groups pay the scale-out link.
    pub devices_per_node: u32,
}

impl Interconnect {
    /// Total bytes/s one device can send over all its links in one direction.
    pub fn device_bw_per_direction_bytes_per_s(&self) -> f64 {
        self.link_bw_per_direction_bytes_per_s * self.link_count as f64
    }
}

/// Scale-out network (between nodes), per device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleOut {
    /// Bytes/s per device per direction.
    pub bw_per_device_bytes_per_s: f64,
    /// One-way latency, seconds.
    pub latency_s: f64,
}

/// One accelerator. Compute fields follow LLMCompass semantics (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceSpec {
    /// Preset or file name.
    pub name: String,
    /// Core clock, Hz.
    pub frequency_hz: f64,
    /// Active cores (SMs) over all chiplets.
    pub core_count: u32,
    /// Systolic arrays and vector units per core.
    pub sublane_count: u32,
    /// Rows of each systolic array.
    pub systolic_array_height: u32,
    /// Columns of each systolic array.
    pub systolic_array_width: u32,
    /// Multiply-accumulates per cell per cycle.
    pub mac_per_cycle: f64,
    /// Native data type of the systolic arrays (the 16-bit rate below is for it).
    pub systolic_dtype: DType,
    /// Lanes of each vector unit.
    pub vector_width: u32,
    /// FLOPs per lane per cycle.
    pub vector_flop_per_cycle: u32,
    /// Local buffer (L1 / shared memory) per core, bytes.
    pub sram_bytes_per_core: u64,
    /// Global buffer (L2), bytes.
    pub l2_bytes: u64,
    /// L2 ↔ cores bandwidth of the whole chip, bytes per core-clock cycle.
    pub l2_bytes_per_cycle: f64,
    /// DRAM bandwidth, bytes/s.
    pub mem_bw_bytes_per_s: f64,
    /// DRAM capacity, bytes.
    pub mem_capacity_bytes: u64,
    /// Dense 16-bit matrix peak, FLOP/s.
    pub peak_matmul_flops: f64,
    /// Vector-unit peak, FLOP/s.
    pub peak_vector_flops: f64,
    /// Matrix-peak multipliers for narrower types relative to 16-bit (0 = not supported:
    /// such kernels run at the 16-bit rate). fp32 runs at `fp32_multiplier`.
    pub fp8_multiplier: f64,
    /// Matrix rate of int8 relative to `systolic_dtype` (0: not supported).
    pub int8_multiplier: f64,
    /// Matrix rate of fp4 relative to `systolic_dtype` (0: not supported).
    pub fp4_multiplier: f64,
    /// Matrix rate of fp32 relative to `systolic_dtype`.
    pub fp32_multiplier: f64,
    /// Scale-up links.
    pub interconnect: Interconnect,
    /// Scale-out network.
    pub scale_out: ScaleOut,
}

impl DeviceSpec {
    /// Peak matrix FLOP/s the systolic arrays reach from the microarchitecture fields:
    /// `cores · sublanes · mac_per_cycle · 2 · H · W · f` (LLMCompass §1).
    pub fn derived_matmul_flops(&self) -> f64 {
        self.core_count as f64
            * self.sublane_count as f64
            * self.mac_per_cycle
            * 2.0
            * self.systolic_array_height as f64
            * self.systolic_array_width as f64
            * self.frequency_hz
    }

    /// Vector FLOP/s from the microarchitecture: `cores · sublanes · width · flop/cycle · f`.
    pub fn derived_vector_flops(&self) -> f64 {
        self.core_count as f64
            * self.sublane_count as f64
            * self.vector_width as f64
            * self.vector_flop_per_cycle as f64
            * self.frequency_hz
    }

    /// Dense matrix peak for a data type, FLOP/s.
    pub fn peak_matmul_flops_for(&self, dtype: DType) -> f64 {
        let mult = match dtype {
            DType::Bf16 | DType::F16 => 1.0,
            DType::F8 | DType::F8Block => self.fp8_multiplier,
            DType::I8 => self.int8_multiplier,
            DType::F4 | DType::Mxfp4 | DType::Nvfp4 => self.fp4_multiplier,
            DType::F32 => self.fp32_multiplier,
        };
        let mult = if mult > 0.0 { mult } else { 1.0 };
        self.peak_matmul_flops * mult
    }

    /// L2 bandwidth, bytes/s.
    pub fn l2_bw_bytes_per_s(&self) -> f64 {
        self.l2_bytes_per_cycle * self.frequency_hz
    }
}
