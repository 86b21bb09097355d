//! The parameter schema of the model plugins ([`ModelParams`]), the data types of a model
//! instance ([`Dtypes`]) and the sanity bounds on architecture fields.

use crate::routing::{RoutingSpec, DEFAULT_EXACT_MAX_TOKENS};
use reallm_plugin_api::{DType, Kernel, PluginError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How attention is expressed as kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionForm {
    /// One fused (flash) attention kernel per group of identical prefill chunks, and one fused
    /// decode-attention kernel for all decoding sequences.
    #[default]
    Flash,
    /// The original ReaLLM's form: QKᵀ batched GEMM, softmax, SV batched GEMM.
    Unfused,
}

/// Parameters common to the model plugins. Exactly one of `preset`, `hf_config` and `config`
/// selects the architecture; the rest tune how it is simulated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelParams {
    /// A catalogue name (or alias), e.g. `llama3-70b`, `deepseek-v3`.
    pub preset: Option<String>,
    /// Path of a Hugging Face `config.json`, or of a folder holding one (relative paths resolve
    /// against the working directory of the process; the host resolves config-relative paths
    /// before passing them).
    pub hf_config: Option<PathBuf>,
    /// An inline Hugging Face-style config object (same field names as `config.json`).
    pub config: Option<serde_json::Value>,
    /// Display name (defaults to the preset name, the config's `_name_or_path`, or the file stem).
    pub name: Option<String>,
    /// Weight type of the decoder linear layers (attention projections, FFN, experts).
    pub weight_dtype: Option<String>,
    /// Weight type of the routed experts alone (gpt-oss ships them in MXFP4 and the rest in
    /// bf16). Defaults to `weight_dtype` when that is given, else to the type as shipped.
    pub expert_dtype: Option<String>,
    /// Activation type; also the type of the embedding, LM head, norms and router weights.
    pub act_dtype: Option<String>,
    /// KV-cache type.
    pub kv_dtype: Option<String>,
    /// `flash` (default) or `unfused`.
    pub attention: AttentionForm,
    /// Emit the embedding lookup (Pre segment) and final norm + LM head (Post segment). The
    /// original ReaLLM left them out; switch off to match it.
    pub include_embedding_and_head: bool,
    /// One GEMM for gate and up projections (n = 2·I) instead of two (n = I each).
    pub fuse_gate_up: bool,
    /// Expert popularity for MoE models.
    pub routing: RoutingSpec,
    /// Steps with at most this many tokens route token by token; larger ones multinomially.
    pub exact_routing_max_tokens: u64,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            preset: None,
            hf_config: None,
            config: None,
            name: None,
            weight_dtype: None,
            expert_dtype: None,
            act_dtype: None,
            kv_dtype: None,
            attention: AttentionForm::Flash,
            include_embedding_and_head: true,
            fuse_gate_up: true,
            routing: RoutingSpec::Uniform,
            exact_routing_max_tokens: DEFAULT_EXACT_MAX_TOKENS,
        }
    }
}

/// Where an architecture comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// A catalogue name.
    Preset(String),
    /// A Hugging Face-style config object; `origin` names it in error messages (a path or
    /// `inline config`); `stem` is a fallback display name.
    Hf { json: serde_json::Value, origin: String, stem: String },
}

impl ModelParams {
    /// Which architecture source the parameters select (exactly one must be given).
    pub fn source(&self, plugin: &str) -> Result<ConfigSource, PluginError> {
        let given = self.preset.is_some() as u8 + self.hf_config.is_some() as u8 + self.config.is_some() as u8;
        if given != 1 {
            return Err(params_error(
                plugin,
                format!("give exactly one of `preset`, `hf_config` or `config` (got {given}); e.g. `preset: llama3-70b`"),
            ));
        }
        if let Some(p) = &self.preset {
            return Ok(ConfigSource::Preset(p.clone()));
        }
        if let Some(given) = &self.hf_config {
            // A folder stands for the config.json inside it (a downloaded model folder).
            let joined;
            let path = if given.is_dir() {
                joined = given.join("config.json");
                &joined
            } else {
                given
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| params_error(plugin, format!("cannot read hf_config `{}`: {e}", path.display())))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| params_error(plugin, format!("hf_config `{}` is not valid JSON: {e}", path.display())))?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into());
            // A file named config.json says nothing; use its folder's name.
            let stem = if stem == "config" {
                path.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned()).unwrap_or(stem)
            } else {
                stem
            };
            return Ok(ConfigSource::Hf { json, origin: path.display().to_string(), stem });
        }
        let json = self.config.clone().unwrap_or_default();
        Ok(ConfigSource::Hf { json, origin: "inline config".into(), stem: "custom".into() })
    }

    /// The data types, with `default_weight` when `weight_dtype` is not given. Routed experts
    /// take `expert_dtype`, else a given `weight_dtype`, else `default_expert` (the type as
    /// shipped). Activations and the KV cache default to bf16.
    pub fn dtypes(&self, plugin: &str, default_weight: DType, default_expert: DType) -> Result<Dtypes, PluginError> {
        let parse = |field: &str, v: &Option<String>, default: DType| -> Result<DType, PluginError> {
            match v {
                None => Ok(default),
                Some(s) => DType::parse(s).ok_or_else(|| {
                    params_error(
                        plugin,
                        format!("`{field}: {s}` is not a data type; expected fp32, bf16, fp16, fp8, int8, fp4, mxfp4 or nvfp4"),
                    )
                }),
            }
        };
        let weight = parse("weight_dtype", &self.weight_dtype, default_weight)?;
        let expert_default = if self.weight_dtype.is_some() { weight } else { default_expert };
        Ok(Dtypes {
            weight,
            expert: parse("expert_dtype", &self.expert_dtype, expert_default)?,
            act: parse("act_dtype", &self.act_dtype, DType::Bf16)?,
            kv: parse("kv_dtype", &self.kv_dtype, DType::Bf16)?,
        })
    }
}

/// Sanity bounds on the architecture fields of a config: far above any published model, and
/// low enough that parameter counts fit in a `u64` and per-layer tables stay small. Layers.
pub const MAX_LAYERS: u64 = 10_000;
/// Largest dimension (hidden size, heads, head size, FFN size, vocabulary, experts, ranks).
pub const MAX_DIM: u64 = 1 << 24;
/// Largest total parameter count (10^15; the largest published models have ~10^12).
pub const MAX_PARAMS: f64 = 1e15;

/// Check `(field, value, limit)` triples and an estimate of the parameter count against the
/// sanity bounds, so that absurd configs fail with a message rather than overflow or hang.
pub fn check_bounds(plugin: &str, model: &str, fields: &[(&str, u64, u64)], approx_params: f64) -> Result<(), PluginError> {
    for &(field, v, limit) in fields {
        if v > limit {
            return Err(params_error(plugin, format!("model `{model}`: `{field}` = {v} is beyond the limit of {limit}")));
        }
    }
    if approx_params.is_nan() || approx_params > MAX_PARAMS {
        return Err(params_error(
            plugin,
            format!("model `{model}`: about {approx_params:.3e} parameters, beyond the limit of {MAX_PARAMS:e}"),
        ));
    }
    Ok(())
}

/// A `PluginError::Params` for `plugin`.
pub fn params_error(plugin: &str, message: impl Into<String>) -> PluginError {
    PluginError::Params { plugin: plugin.to_string(), message: message.into() }
}

/// The data types of a model instance.
///
/// `weight` applies to the decoder's linear layers, `expert` to the routed experts' (the same
/// type unless a checkpoint quantises its experts alone, as gpt-oss does with MXFP4). The embedding table, LM head, norm gains
/// and router weights are kept at `act` precision, as in DeepSeek-V3's FP8 recipe (technical
/// report §3.3.1: "the embedding module, the output head, MoE gating modules, normalization
/// operators" stay in BF16/FP32) and in common FP8 serving setups. For bf16 models the
/// distinction vanishes. FP8 block-scale factors (one fp32 per 128×128 block, ≈0.02 %) are
/// not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtypes {
    pub weight: DType,
    /// Routed-expert weights.
    pub expert: DType,
    pub act: DType,
    pub kv: DType,
}

impl Dtypes {
    /// A linear layer over activations: `[m,k] act × [k,n] weight → [m,n] act`.
    pub fn linear(&self, m: u64, k: u64, n: u64) -> Kernel {
        Kernel::Gemm { b: 1, m, k, n, a: self.act, w: self.weight, out: self.act }
    }
    /// A linear layer whose weight is kept at activation precision (LM head, router).
    pub fn hp_linear(&self, m: u64, k: u64, n: u64) -> Kernel {
        Kernel::matmul(m, k, n, self.act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_source() {
        let p = ModelParams { preset: Some("x".into()), config: Some(serde_json::json!({})), ..Default::default() };
        assert!(p.source("llama").unwrap_err().to_string().contains("exactly one"));
        assert!(ModelParams::default().source("llama").is_err());
    }

    #[test]
    fn dtype_overrides() {
        let p = ModelParams { weight_dtype: Some("fp8".into()), kv_dtype: Some("FP16".into()), ..Default::default() };
        let d = p.dtypes("llama", DType::Bf16, DType::Bf16).unwrap();
        assert_eq!((d.weight, d.expert, d.act, d.kv), (DType::F8, DType::F8, DType::Bf16, DType::F16));
        let bad = ModelParams { act_dtype: Some("fp7".into()), ..Default::default() };
        assert!(bad.dtypes("llama", DType::Bf16, DType::Bf16).unwrap_err().to_string().contains("fp7"));
        // Experts keep their shipped type unless an override names them (or all weights).
        let d = ModelParams::default().dtypes("llama", DType::Bf16, DType::Mxfp4).unwrap();
        assert_eq!((d.weight, d.expert), (DType::Bf16, DType::Mxfp4));
        let p = ModelParams { expert_dtype: Some("nvfp4".into()), ..Default::default() };
        assert_eq!(p.dtypes("llama", DType::Bf16, DType::Mxfp4).unwrap().expert, DType::Nvfp4);
    }
}
