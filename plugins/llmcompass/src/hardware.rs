//! The device quantities the LLMCompass model reads, derived once from a [`DeviceSpec`].
//!
//! Reference: `shared/reference/llmcompass-model.md` §1 ("Objects built by `template_to_system`"
//! and "Derived quantities"). Every field keeps LLMCompass's unit: cycles of the core clock,
//! bytes, and flop counts per cycle.

use reallm_plugin_api::{DType, DeviceSpec, PluginError};

/// Flops LLMCompass charges for one exponential (`flops_per_exp = 35`, hard-coded in
/// `template_to_system`, §1 and quirk 4 of §7).
pub const FLOPS_PER_EXP: u64 = 35;

/// The LLMCompass view of one device: a compute die of `cores` cores, each with `sublanes`
/// systolic arrays and vector units, an L2 (global buffer) and DRAM.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    /// Core clock, Hz (`device.frequency_Hz`).
    pub freq_hz: f64,
    /// Active cores over all chiplets (`core_count · compute_chiplet_count`), `C` in §2.
    pub cores: u64,
    /// Systolic arrays and vector units per core (`sublane_count`), `S` in §2.
    pub sublanes: u64,
    /// Systolic-array height `H` (rows).
    pub sa_height: u64,
    /// Systolic-array width `W` (columns).
    pub sa_width: u64,
    /// MACs per processing element per cycle at the array's native (16-bit) rate.
    pub mac_per_cycle: f64,
    /// Word size of the systolic array's inputs and outputs, bits (from its data type).
    pub sa_word_bits: u64,
    /// Lanes per vector unit (`vector_width`).
    pub vector_width: u64,
    /// Flop per lane per cycle (`flops_per_cycle = ceil(Vc / vector_width / sublanes)`).
    pub vector_flop_per_lane: u64,
    /// Vector flop per cycle of one core, `Vc = sublanes · vector_width · flop_per_cycle`.
    pub vector_flops_per_cycle_per_core: u64,
    /// Local buffer (L1 / shared memory) per core, bytes (`SRAM_KB · 1024`).
    pub sram_bytes: u64,
    /// Global buffer (L2), bytes (`global_buffer_MB · 2^20`).
    pub l2_bytes: u64,
    /// L2 ↔ cores bandwidth of the whole chip, bytes per cycle.
    pub l2_bytes_per_cycle: f64,
    /// DRAM bandwidth, bytes/s (`active_ch · pins · bit_rate // 8`).
    pub dram_bytes_per_s: f64,
}

impl Hardware {
    /// Derive the model's quantities from a device description, rejecting values the model
    /// cannot use (zero cores, zero bandwidth, ...).
    pub fn from_spec(device: &DeviceSpec) -> Result<Hardware, PluginError> {
        let bad =
            |what: &str| PluginError::invalid(format!("device `{}`: {what} must be positive for the llmcompass backend", device.name));
        if !(device.frequency_hz.is_finite() && device.frequency_hz > 0.0) {
            return Err(bad("frequency_hz"));
        }
        if device.core_count == 0 {
            return Err(bad("core_count"));
        }
        if device.sublane_count == 0 {
            return Err(bad("sublane_count"));
        }
        if device.systolic_array_height == 0 || device.systolic_array_width == 0 {
            return Err(bad("systolic_array_height/width"));
        }
        if !(device.mac_per_cycle.is_finite() && device.mac_per_cycle > 0.0) {
            return Err(bad("mac_per_cycle"));
        }
        if device.vector_width == 0 || device.vector_flop_per_cycle == 0 {
            return Err(bad("vector_width and vector_flop_per_cycle"));
        }
        if device.sram_bytes_per_core == 0 || device.l2_bytes == 0 {
            return Err(bad("sram_bytes_per_core and l2_bytes"));
        }
        if !(device.l2_bytes_per_cycle.is_finite() && device.l2_bytes_per_cycle > 0.0) {
            return Err(bad("l2_bytes_per_cycle"));
        }
        if !(device.mem_bw_bytes_per_s.is_finite() && device.mem_bw_bytes_per_s > 0.0) {
            return Err(bad("mem_bw_bytes_per_s"));
        }
        let sublanes = device.sublane_count as u64;
        let vector_width = device.vector_width as u64;
        let vc = sublanes * vector_width * device.vector_flop_per_cycle as u64;
        Ok(Hardware {
            freq_hz: device.frequency_hz,
            cores: device.core_count as u64,
            sublanes,
            sa_height: device.systolic_array_height as u64,
            sa_width: device.systolic_array_width as u64,
            mac_per_cycle: device.mac_per_cycle,
            sa_word_bits: device.systolic_dtype.bits(),
            vector_width,
            // §1: `flops_per_cycle = ceil(total / vector_width / vector_count)`.
            vector_flop_per_lane: vc.div_ceil(vector_width * sublanes),
            vector_flops_per_cycle_per_core: vc,
            sram_bytes: device.sram_bytes_per_core,
            l2_bytes: device.l2_bytes,
            l2_bytes_per_cycle: device.l2_bytes_per_cycle,
            dram_bytes_per_s: device.mem_bw_bytes_per_s,
        })
    }

    /// `Vc` as a float (vector flop per cycle per core).
    pub fn vc(&self) -> f64 {
        self.vector_flops_per_cycle_per_core as f64
    }

    /// `Vd = Vc · C`, the device-wide vector flop per cycle (`total_vector_flops_per_cycle`).
    pub fn vd(&self) -> u64 {
        self.vector_flops_per_cycle_per_core * self.cores
    }

    /// DRAM bytes per core cycle, `bpc = io_bw / freq` (§2 conventions).
    pub fn dram_bytes_per_cycle(&self) -> f64 {
        self.dram_bytes_per_s / self.freq_hz
    }

    /// Peak vector FLOP/s, `Vc · C · f` (§1).
    pub fn vector_flops_per_s(&self) -> f64 {
        self.vector_flops_per_cycle_per_core as f64 * self.cores as f64 * self.freq_hz
    }

    /// Peak systolic-array FLOP/s at `mac_per_cycle` MACs per PE per cycle:
    /// `C · S · mac · 2 · H · W · f` (§1).
    pub fn matmul_flops_per_s(&self, mac_per_cycle: f64) -> f64 {
        self.cores as f64 * self.sublanes as f64 * mac_per_cycle * 2.0 * (self.sa_height * self.sa_width) as f64 * self.freq_hz
    }

    /// Convert core cycles to seconds (every LLMCompass operator returns `cycles / freq`).
    pub fn seconds(&self, cycles: f64) -> f64 {
        cycles / self.freq_hz
    }
}

/// MAC rate multiplier of a data type relative to the 16-bit rate the device's
/// `mac_per_cycle` describes (`DeviceSpec::fp8_multiplier` and friends; 0 = unsupported, so
/// the kernel runs at the 16-bit rate).
pub fn mac_multiplier(device: &DeviceSpec, dtype: DType) -> f64 {
    let m = match dtype {
        DType::Bf16 | DType::F16 => 1.0,
        DType::F8 | DType::F8Block => device.fp8_multiplier,
        DType::I8 => device.int8_multiplier,
        DType::F4 | DType::Mxfp4 | DType::Nvfp4 => device.fp4_multiplier,
        DType::F32 => device.fp32_multiplier,
        // A type of a later plugin API: the 16-bit rate, as for an unsupported one.
        _ => 0.0,
    };
    if m.is_finite() && m > 0.0 {
        m
    } else {
        1.0
    }
}
