//! `model:` given as a path: a Hugging Face `config.json`, or a folder holding one (a
//! downloaded model), imported with the model family detected from the file.
//!
//! A `model:` string is a path when it ends in `.json` or contains a path separator
//! (`models/Qwen3-8B`, `./config.json`); anything else is a preset name, as before. Relative
//! paths are tried against the config file's folder first, then the working directory (as for
//! device files). The family is the model plugin whose reader accepts the config's
//! `architectures` entry, or failing that its `model_type` (tables kept next to each reader:
//! `reallm_llama::config::HF_ARCHITECTURES`, `reallm_deepseek::config::HF_ARCHITECTURES`).
//! The result is the plugin's ordinary `hf_config` parameter: `model: path/to/Qwen3-8B` is
//! `{plugin: llama, name: Qwen3-8B, params: {hf_config: path/to/Qwen3-8B/config.json}}`.
//!
//! Errors are input errors (exit code 4) naming the path: no file there, not JSON, or an
//! architecture no model plugin reads (the message lists those that are read).

use crate::config::ModelSel;
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The built-in families that import Hugging Face configs: (plugin, `architectures`,
/// `model_type`s).
const FAMILIES: &[(&str, &[&str], &[&str])] = &[
    ("llama", reallm_llama::config::HF_ARCHITECTURES, reallm_llama::config::HF_MODEL_TYPES),
    ("deepseek", reallm_deepseek::config::HF_ARCHITECTURES, reallm_deepseek::config::HF_MODEL_TYPES),
];

/// Whether a `model:` string names a file or folder rather than a preset.
pub fn is_model_path(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".json") || name.contains('/') || name.contains(std::path::MAIN_SEPARATOR)
}

/// Turn a model selected by a path (`model: DIR` or `model: FILE.json`, in either config form)
/// into the family plugin's `hf_config` parameter. Other selections (a preset name, or an
/// explicit `{plugin: ..., params: ...}`) come back unchanged.
pub fn resolve_model_path(m: ModelSel, base_dir: Option<&Path>) -> Result<ModelSel> {
    if m.plugin.is_some() {
        return Ok(m);
    }
    let Some(name) = m.params.get("preset").and_then(Value::as_str).map(str::to_string) else { return Ok(m) };
    if !is_model_path(&name) {
        return Ok(m);
    }
    let path = find_config(&name, base_dir)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| Error::input(path.display().to_string(), format!("not a valid model config.json: {e}")))?;
    let plugin = detect_family(&json).map_err(|m| Error::input(path.display().to_string(), m))?;
    let mut params = m.params.clone();
    if let Some(obj) = params.as_object_mut() {
        obj.remove("preset");
        obj.insert("hf_config".into(), Value::String(path.display().to_string()));
    }
    let label = if m.label == name { label_of(&path) } else { m.label };
    Ok(ModelSel { plugin: Some(plugin.to_string()), label, params })
}

/// The config file a path names: the file itself, or `config.json` inside a folder.
fn find_config(name: &str, base_dir: Option<&Path>) -> Result<PathBuf> {
    let p = Path::new(name);
    let mut candidates = Vec::new();
    if let (Some(b), true) = (base_dir, p.is_relative()) {
        candidates.push(b.join(p));
    }
    candidates.push(p.to_path_buf());
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
        if c.is_dir() {
            let inside = c.join("config.json");
            if inside.is_file() {
                return Ok(inside);
            }
            return Err(Error::input(c.display().to_string(), "the model folder holds no config.json"));
        }
    }
    Err(Error::input(
        name,
        format!(
            "no model config found at {} (a `model:` ending in .json or containing `/` is a path to a Hugging Face config.json or a folder holding one)",
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" or ")
        ),
    ))
}

/// The model plugin that reads a config, by its `architectures` entries, then its `model_type`.
fn detect_family(json: &Value) -> std::result::Result<&'static str, String> {
    let obj = json.as_object().ok_or("a model config must be a JSON object")?;
    let archs: Vec<&str> =
        obj.get("architectures").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let model_type = obj.get("model_type").and_then(Value::as_str);
    for &(plugin, families, _) in FAMILIES {
        if archs.iter().any(|a| families.contains(a)) {
            return Ok(plugin);
        }
    }
    for &(plugin, _, types) in FAMILIES {
        if model_type.is_some_and(|t| types.contains(&t)) {
            return Ok(plugin);
        }
    }
    let supported: Vec<String> =
        FAMILIES.iter().map(|(p, a, t)| format!("{p}: architectures {} (model_type {})", a.join(", "), t.join(", "))).collect();
    Err(format!(
        "unsupported model architecture {} (model_type `{}`); supported: {}",
        if archs.is_empty() { "(none given)".to_string() } else { archs.join(", ") },
        model_type.unwrap_or("none"),
        supported.join("; ")
    ))
}

/// A label for output paths: the file stem, or the folder's name for a `config.json`.
fn label_of(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    if stem == "config" {
        if let Some(dir) = path.parent().and_then(|d| d.file_name()) {
            return dir.to_string_lossy().into_owned();
        }
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::ModelArch;
    use serde_json::json;

    const GPT_OSS_20B: &str = include_str!("../../plugins/llama/configs/openai--gpt-oss-20b.json");
    const KIMI_K2: &str = include_str!("../../plugins/deepseek/configs/moonshotai--Kimi-K2-Instruct.json");
    const SCOUT: &str = include_str!("../../plugins/llama/configs/meta-llama--Llama-4-Scout-17B-16E-Instruct.json");

    fn by_name(name: &str) -> ModelSel {
        ModelSel { plugin: None, label: name.into(), params: json!({ "preset": name }) }
    }

    #[test]
    fn presets_and_explicit_plugins_are_left_alone() {
        for name in ["llama3-70b", "qwen3-8b", "gpt-oss-120b", "llama3.1-8b"] {
            assert!(!is_model_path(name));
            assert_eq!(resolve_model_path(by_name(name), None).unwrap(), by_name(name));
        }
        let explicit = ModelSel { plugin: Some("llama".into()), label: "x".into(), params: json!({"hf_config": "a/config.json"}) };
        assert_eq!(resolve_model_path(explicit.clone(), None).unwrap(), explicit);
    }

    #[test]
    fn a_folder_a_file_and_a_relative_path_are_imported() {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("models/gpt-oss-20b");
        std::fs::create_dir_all(&model_dir).unwrap();
        std::fs::write(model_dir.join("config.json"), GPT_OSS_20B).unwrap();
        std::fs::write(dir.path().join("kimi.json"), KIMI_K2).unwrap();
        // A folder, relative to the config file's folder.
        let m = resolve_model_path(by_name("models/gpt-oss-20b"), Some(dir.path())).unwrap();
        assert_eq!(m.plugin.as_deref(), Some("llama"));
        assert_eq!(m.label, "gpt-oss-20b");
        assert_eq!(m.params, json!({ "hf_config": model_dir.join("config.json").display().to_string() }));
        // A file, absolute; other parameters (the original form's) are kept.
        let kimi = dir.path().join("kimi.json").display().to_string();
        let sel = ModelSel { plugin: None, label: kimi.clone(), params: json!({"preset": kimi, "attention": "unfused"}) };
        let m = resolve_model_path(sel, None).unwrap();
        assert_eq!((m.plugin.as_deref(), m.label.as_str()), (Some("deepseek"), "kimi"));
        assert_eq!(m.params, json!({"hf_config": kimi, "attention": "unfused"}));
        // Llama 4's multimodal config: detected from `architectures`.
        std::fs::write(dir.path().join("scout.json"), SCOUT).unwrap();
        assert_eq!(resolve_model_path(by_name("scout.json"), Some(dir.path())).unwrap().plugin.as_deref(), Some("llama"));
        // The imported parameters build the model of the preset.
        let imported = resolve_model_path(by_name("models/gpt-oss-20b"), Some(dir.path())).unwrap();
        let built = reallm_llama::create(&imported.params).unwrap();
        assert_eq!(built.info().params_total, reallm_llama::LlamaModel::preset("gpt-oss-20b").unwrap().info().params_total);
    }

    #[test]
    fn model_type_alone_is_enough() {
        assert_eq!(detect_family(&json!({"model_type": "qwen3"})), Ok("llama"));
        assert_eq!(detect_family(&json!({"model_type": "kimi_k2"})), Ok("deepseek"));
        assert_eq!(detect_family(&json!({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "whatever"})), Ok("deepseek"));
    }

    #[test]
    fn unknown_architectures_and_missing_files_are_input_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mamba.json"), r#"{"architectures": ["MambaForCausalLM"], "model_type": "mamba"}"#).unwrap();
        let e = resolve_model_path(by_name("mamba.json"), Some(dir.path())).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), crate::error::exit::INPUT);
        assert!(msg.contains("mamba.json") && msg.contains("MambaForCausalLM") && msg.contains("mamba"), "{msg}");
        assert!(msg.contains("GptOssForCausalLM") && msg.contains("DeepseekV3ForCausalLM") && msg.contains("llama:"), "{msg}");
        let e = resolve_model_path(by_name("nowhere/config.json"), Some(dir.path())).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::INPUT);
        assert!(e.to_string().contains("no model config found"), "{e}");
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        assert!(resolve_model_path(by_name("empty/"), Some(dir.path())).unwrap_err().to_string().contains("no config.json"));
        std::fs::write(dir.path().join("bad.json"), "{ not json").unwrap();
        let e = resolve_model_path(by_name("bad.json"), Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("not a valid model config.json") && e.exit_code() == crate::error::exit::INPUT, "{e}");
        assert!(detect_family(&json!([1])).unwrap_err().contains("JSON object"));
    }
}
