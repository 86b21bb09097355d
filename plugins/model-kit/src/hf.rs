//! Read access to a Hugging Face `config.json` object.

use crate::params::params_error;
use reallm_plugin_api::{DType, PluginError};

/// Read access to a Hugging Face config object with errors that name the field and the file.
pub struct HfConfig<'a> {
    obj: &'a serde_json::Map<String, serde_json::Value>,
    origin: &'a str,
    plugin: &'a str,
}

impl<'a> HfConfig<'a> {
    pub fn new(json: &'a serde_json::Value, origin: &'a str, plugin: &'a str) -> Result<Self, PluginError> {
        let obj = json.as_object().ok_or_else(|| params_error(plugin, format!("{origin}: a model config must be a JSON object")))?;
        Ok(HfConfig { obj, origin, plugin })
    }

    fn err(&self, msg: String) -> PluginError {
        params_error(self.plugin, format!("{}: {msg}", self.origin))
    }

    /// The value of `key`, treating JSON `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a serde_json::Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, PluginError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.err(format!("field `{key}` must be a non-negative integer, got {v}"))),
        }
    }

    /// A required non-negative integer.
    pub fn u64(&self, key: &str) -> Result<u64, PluginError> {
        self.opt_u64(key)?.ok_or_else(|| self.err(format!("field `{key}` is missing")))
    }

    /// The first of `keys` present.
    pub fn u64_any(&self, keys: &[&str]) -> Result<u64, PluginError> {
        for k in keys {
            if let Some(v) = self.opt_u64(k)? {
                return Ok(v);
            }
        }
        Err(self.err(format!("field `{}` is missing", keys.join("` or `"))))
    }

    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, PluginError> {
        Ok(self.opt_u64(key)?.unwrap_or(default))
    }

    /// A u32-sized integer (layer counts and indices).
    pub fn u32_or(&self, key: &str, default: u32) -> Result<u32, PluginError> {
        let v = self.u64_or(key, default as u64)?;
        u32::try_from(v).map_err(|_| self.err(format!("field `{key}` = {v} is too large")))
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.err(format!("field `{key}` must be true or false, got {v}"))),
        }
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|v| v.as_str())
    }

    /// A list of layer indices (e.g. Qwen's `mlp_only_layers`).
    pub fn u32_list(&self, key: &str) -> Result<Vec<u32>, PluginError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_u64().and_then(|x| u32::try_from(x).ok()).ok_or_else(|| self.err(format!("`{key}` must list layer indices"))))
                .collect(),
            Some(v) => Err(self.err(format!("field `{key}` must be a list, got {v}"))),
        }
    }

    /// A list of strings (e.g. `layer_types`); `None` when absent.
    pub fn str_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, PluginError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().ok_or_else(|| self.err(format!("`{key}` must list strings, got {v}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.err(format!("field `{key}` must be a list, got {v}"))),
        }
    }

    /// Routed-expert weight type when the checkpoint quantises the experts differently from the
    /// rest: `quantization_config.quant_method` `mxfp4` (gpt-oss: experts in MXFP4, attention,
    /// router, embedding and head in bf16, per its `modules_to_not_convert`). `None` otherwise.
    pub fn expert_weight_dtype(&self) -> Option<DType> {
        let method = self.get("quantization_config")?.get("quant_method")?.as_str()?;
        (method == "mxfp4").then_some(DType::Mxfp4)
    }

    /// Weight type as shipped: `quantization_config.quant_method` `fp8`/`fbgemm_fp8` gives
    /// fp8; otherwise `torch_dtype` (or `dtype`), defaulting to bf16. Other quantisation
    /// methods are not interpreted (`mxfp4` concerns the experts alone: see
    /// [`HfConfig::expert_weight_dtype`]): set `weight_dtype` explicitly for them.
    pub fn weight_dtype(&self) -> DType {
        if let Some(q) = self.get("quantization_config") {
            if let Some(m) = q.get("quant_method").and_then(|m| m.as_str()) {
                if matches!(m, "fp8" | "fbgemm_fp8") {
                    return DType::F8;
                }
            }
        }
        self.str("torch_dtype").or_else(|| self.str("dtype")).and_then(DType::parse).unwrap_or(DType::Bf16)
    }

    /// A display name: `_name_or_path`'s last component, or `fallback`.
    pub fn name_or(&self, fallback: &str) -> String {
        self.str("_name_or_path")
            .and_then(|p| p.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_else(|| fallback.to_string())
    }

    pub fn error(&self, msg: impl Into<String>) -> PluginError {
        self.err(msg.into())
    }
}
