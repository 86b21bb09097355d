//! Numeric data types of weights, activations and the KV cache.

use serde::{Deserialize, Serialize};

/// A tensor element type. Byte sizes are exact; `F4` is half a byte, so sizes are computed in
/// bits and rounded up only when a whole tensor is sized ([`DType::bytes_for`]).
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
    #[serde(alias = "fp4", alias = "nvfp4")]
    F4,
}

impl DType {
    /// Bits per element.
    pub const fn bits(self) -> u64 {
        match self {
            DType::F32 => 32,
            DType::Bf16 | DType::F16 => 16,
            DType::F8 | DType::I8 => 8,
            DType::F4 => 4,
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
        }
    }

    /// Parse the names used in configs and device files (`fp16`, `bf16`, `fp8`, `int8`, ...).
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" | "float32" => DType::F32,
            "bf16" | "bfloat16" => DType::Bf16,
            "fp16" | "f16" | "float16" | "half" => DType::F16,
            "fp8" | "f8" | "fp8_e4m3" | "e4m3" => DType::F8,
            "int8" | "i8" => DType::I8,
            "fp4" | "f4" | "nvfp4" => DType::F4,
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
}
