//! Numeric data types of weights, activations and the KV cache.

use serde::{Deserialize, Serialize};

/// A tensor element type. Byte sizes are exact; `F4` is half a byte, so sizes are computed in
/// bits and rounded up only when a whole tensor is sized ([`DType::bytes_for`]).
///
/// The block-scaled 4-bit formats carry one 8-bit scale per block of elements, counted in
/// their sizes ([`DType::scale_block`]): `Mxfp4` (OCP Microscaling Formats spec v1.0: E2M1
/// elements, one E8M0 scale per 32 elements, 4.25 bits per element; the format of gpt-oss's
/// expert weights) and `Nvfp4` (NVIDIA NVFP4: E2M1 elements, one E4M3 scale per 16 elements,
/// 4.5 bits per element; the per-tensor fp32 scale is not counted). Plain `F4` has no scales.
/// Block-scaled FP8 (`F8Block`, DeepSeek-V3 style: one fp32 scale per 1×128 activation block or
/// 128×128 weight block, +0.25 / +0.002 bit per element) is sized by its elements alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
#[non_exhaustive]
pub enum DType {
    /// IEEE single precision.
    F32,
    #[serde(alias = "bfloat16")]
    #[default]
    /// bfloat16.
    Bf16,
    #[serde(alias = "float16")]
    /// IEEE half precision.
    F16,
    #[serde(alias = "fp8_e4m3", alias = "fp8")]
    /// FP8 E4M3 (per-tensor scales).
    F8,
    /// 8-bit integer.
    I8,
    #[serde(alias = "fp4")]
    /// 4-bit E2M1 without block scales.
    F4,
    /// OCP MXFP4: 4-bit E2M1 elements, one 8-bit E8M0 scale per 32 elements.
    Mxfp4,
    /// NVIDIA NVFP4: 4-bit E2M1 elements, one 8-bit E4M3 scale per 16 elements.
    Nvfp4,
    /// FP8 E4M3 with block scales (1×128 activations, 128×128 weights), as DeepSeek-V3 and
    /// TensorRT-LLM / vLLM `fp8_block` GEMMs use. Runs at the FP8 rate.
    #[serde(rename = "fp8_block", alias = "f8block", alias = "fp8block", alias = "f8_block")]
    F8Block,
}

impl DType {
    /// Bits per element, without block scales (4 for every 4-bit format; the arithmetic a
    /// tensor core runs at).
    pub const fn bits(self) -> u64 {
        match self {
            DType::F32 => 32,
            DType::Bf16 | DType::F16 => 16,
            DType::F8 | DType::F8Block | DType::I8 => 8,
            DType::F4 | DType::Mxfp4 | DType::Nvfp4 => 4,
        }
    }

    /// The data type of the tensor-core rate it runs at: block-scaled FP8 at the FP8 rate,
    /// MXFP4 and NVFP4 at the FP4 rate; every other type is its own class.
    pub const fn rate_class(self) -> DType {
        match self {
            DType::F8Block => DType::F8,
            DType::Mxfp4 | DType::Nvfp4 => DType::F4,
            d => d,
        }
    }

    /// Every data type, in code order.
    pub const ALL: [DType; 9] =
        [DType::F32, DType::Bf16, DType::F16, DType::F8, DType::I8, DType::F4, DType::Mxfp4, DType::Nvfp4, DType::F8Block];

    /// `(elements per block, scale bits per block)` of a block-scaled format: MXFP4 `(32, 8)`,
    /// NVFP4 `(16, 8)`; `None` for the others.
    pub const fn scale_block(self) -> Option<(u64, u64)> {
        match self {
            DType::Mxfp4 => Some((32, 8)),
            DType::Nvfp4 => Some((16, 8)),
            _ => None,
        }
    }

    /// Bytes per element as a float, block scales included (0.5 for fp4, 0.53125 for mxfp4,
    /// 0.5625 for nvfp4).
    #[inline]
    pub fn bytes(self) -> f64 {
        match self.scale_block() {
            Some((block, scale_bits)) => (self.bits() as f64 + scale_bits as f64 / block as f64) / 8.0,
            None => self.bits() as f64 / 8.0,
        }
    }

    /// Bytes of `elements` elements, block scales included (one scale per started block),
    /// rounded up to a whole byte.
    pub const fn bytes_for(self, elements: u64) -> u64 {
        let scales = match self.scale_block() {
            Some((block, scale_bits)) => elements.div_ceil(block) * scale_bits,
            None => 0,
        };
        (elements * self.bits() + scales).div_ceil(8)
    }

    /// The canonical name (configs, reports, JSON).
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "fp32",
            DType::Bf16 => "bf16",
            DType::F16 => "fp16",
            DType::F8 => "fp8",
            DType::I8 => "int8",
            DType::F4 => "fp4",
            DType::Mxfp4 => "mxfp4",
            DType::Nvfp4 => "nvfp4",
            DType::F8Block => "fp8_block",
        }
    }

    /// Parse the names used in configs and device files (`fp16`, `bf16`, `fp8`, `int8`, `fp4`,
    /// `mxfp4`, `nvfp4`, ...).
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => DType::F32,
            "bf16" | "bfloat16" => DType::Bf16,
            "fp16" | "f16" | "float16" | "half" => DType::F16,
            "fp8" | "f8" | "fp8_e4m3" | "e4m3" => DType::F8,
            "int8" | "i8" => DType::I8,
            "fp4" | "f4" => DType::F4,
            "mxfp4" => DType::Mxfp4,
            "nvfp4" => DType::Nvfp4,
            "fp8_block" | "fp8block" | "f8_block" | "f8block" | "fp8_blockwise" => DType::F8Block,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(DType::Bf16.bytes_for(10), 20);
        assert_eq!(DType::F4.bytes_for(3), 2);
        assert_eq!(DType::F8.bytes(), 1.0);
        assert_eq!(DType::parse("FP16"), Some(DType::F16));
        assert_eq!(DType::parse("fp7"), None);
    }

    #[test]
    fn block_scaled_fp4_counts_its_scales() {
        // MXFP4: 4 bits per element + 8 bits per 32 elements. 64 elements: 256 + 16 bits = 34 bytes.
        assert_eq!(DType::Mxfp4.bytes_for(64), 34);
        assert_eq!(DType::Mxfp4.bytes(), 4.25 / 8.0);
        // A partial block still carries its scale: 33 elements = 132 + 16 bits → 19 bytes.
        assert_eq!(DType::Mxfp4.bytes_for(33), 19);
        // NVFP4: 4 bits + 8 bits per 16 elements. 64 elements: 256 + 32 bits = 36 bytes.
        assert_eq!(DType::Nvfp4.bytes_for(64), 36);
        assert_eq!(DType::Nvfp4.bytes(), 4.5 / 8.0);
        assert_eq!(DType::F4.bytes_for(64), 32);
        for (s, d) in [("mxfp4", DType::Mxfp4), ("NVFP4", DType::Nvfp4), ("fp4", DType::F4)] {
            assert_eq!(DType::parse(s), Some(d));
            assert_eq!(DType::parse(d.name()), Some(d));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<DType>(&json).unwrap(), d);
        }
        assert_eq!(serde_json::to_string(&DType::Mxfp4).unwrap(), "\"mxfp4\"");
        assert_eq!(serde_json::from_str::<DType>("\"nvfp4\"").unwrap(), DType::Nvfp4);
        assert_eq!(DType::Mxfp4.bits(), 4);
    }
}
