//! Numeric data types of weights, activations and the KV cache.

use serde::{Deserialize, Serialize};

/// A tensor element type. Byte sizes are exact; `F4` is half a byte, so sizes are computed in
/// bits and rounded up only when a whole tensor is sized ([`DType::bytes_for`]).
///
/// Block-scaled formats are sized by their element width alone; their scale factors are not
/// counted: NVFP4 (`F4`) adds one FP8 E4M3 scale per 16 elements (+0.5 bit per element),
/// MXFP4 one E8M0 scale per 32 (+0.25 bit), block-scaled FP8 (`F8Block`, DeepSeek-V3 style)
/// one fp32 scale per 1×128 activation block or 128×128 weight block (+0.25 / +0.002 bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum DType {
    F32,
    #[serde(alias = "bfloat16")]
    Bf16,
    #[serde(alias = "float16")]
    F16,
    #[serde(alias = "fp8_e4m3", alias = "fp8")]
    F8,
    I8,
    /// NVFP4: E2M1 elements with an FP8 scale per 16 (the JSON name `f4` is kept).
    #[serde(alias = "fp4", alias = "nvfp4")]
    F4,
    /// FP8 E4M3 with block scales (1×128 activations, 128×128 weights), as DeepSeek-V3 and
    /// TensorRT-LLM / vLLM `fp8_block` GEMMs use. Runs at the FP8 rate.
    #[serde(rename = "fp8_block", alias = "f8block", alias = "fp8block", alias = "f8_block")]
    F8Block,
    /// MXFP4 (OCP microscaling): E2M1 elements with an E8M0 scale per 32. Runs at the FP4 rate.
    #[serde(rename = "mxfp4", alias = "mx_fp4")]
    MxFp4,
}

impl DType {
    /// Bits per element.
    pub const fn bits(self) -> u64 {
        match self {
            DType::F32 => 32,
            DType::Bf16 | DType::F16 => 16,
            DType::F8 | DType::F8Block | DType::I8 => 8,
            DType::F4 | DType::MxFp4 => 4,
        }
    }

    /// Bytes per element as a float (0.5 for fp4).
    pub fn bytes(self) -> f64 {
        self.bits() as f64 / 8.0
    }

    /// Bytes of `elements` elements, rounded up to a whole byte.
    pub const fn bytes_for(self, elements: u64) -> u64 {
        (elements * self.bits()).div_ceil(8)
    }

    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "fp32",
            DType::Bf16 => "bf16",
            DType::F16 => "fp16",
            DType::F8 => "fp8",
            DType::I8 => "int8",
            DType::F4 => "fp4",
            DType::F8Block => "fp8_block",
            DType::MxFp4 => "mxfp4",
        }
    }

    /// The data type of the tensor-core rate it runs at: block-scaled FP8 at the FP8 rate,
    /// MXFP4 at the FP4 rate; every other type is its own class.
    pub const fn rate_class(self) -> DType {
        match self {
            DType::F8Block => DType::F8,
            DType::MxFp4 => DType::F4,
            d => d,
        }
    }

    /// Every data type, in code order.
    pub const ALL: [DType; 8] = [DType::F32, DType::Bf16, DType::F16, DType::F8, DType::I8, DType::F4, DType::F8Block, DType::MxFp4];

    /// Parse the names used in configs and device files (`fp16`, `bf16`, `fp8`, `int8`, ...).
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => DType::F32,
            "bf16" | "bfloat16" => DType::Bf16,
            "fp16" | "f16" | "float16" | "half" => DType::F16,
            "fp8" | "f8" | "fp8_e4m3" | "e4m3" => DType::F8,
            "int8" | "i8" => DType::I8,
            "fp4" | "f4" | "nvfp4" => DType::F4,
            "fp8_block" | "fp8block" | "f8_block" | "f8block" | "fp8_blockwise" => DType::F8Block,
            "mxfp4" | "mx_fp4" => DType::MxFp4,
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
        assert_eq!(DType::parse("fp8_block"), Some(DType::F8Block));
        assert_eq!(DType::parse("MXFP4"), Some(DType::MxFp4));
        assert_eq!(DType::parse("nvfp4"), Some(DType::F4));
        assert_eq!(DType::MxFp4.bytes_for(3), 2);
        assert_eq!(DType::F8Block.bytes(), 1.0);
        assert_eq!((DType::F8Block.rate_class(), DType::MxFp4.rate_class(), DType::Bf16.rate_class()), (DType::F8, DType::F4, DType::Bf16));
    }

    #[test]
    fn json_names_are_stable() {
        // Existing names must not change (configs and kernel libraries store them).
        let names: Vec<String> = DType::ALL.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
        assert_eq!(names, ["\"f32\"", "\"bf16\"", "\"f16\"", "\"f8\"", "\"i8\"", "\"f4\"", "\"fp8_block\"", "\"mxfp4\""]);
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()), Some(d), "{d}");
            let back: DType = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(back, d);
        }
        let from_alias: DType = serde_json::from_str("\"nvfp4\"").unwrap();
        assert_eq!(from_alias, DType::F4);
    }
}
