//! The plugin registry: every built-in plugin (registered statically with `inventory`), found
//! by kind and name or alias, and instantiated from config parameters.

use crate::error::{Error, Result};
use reallm_plugin_api::{
    registrations, BatchPolicy, Constructor, DeviceSpec, KernelBackend, ModelArch, Parallelism, PluginKind, PluginRegistration,
};

// Name each built-in crate once so the linker keeps their `inventory` registrations.
use reallm_batching as _;
use reallm_deepseek as _;
use reallm_llama as _;
use reallm_llmcompass as _;
use reallm_parallel as _;
use reallm_roofline as _;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
        }
    }
}

/// Every registered plugin, sorted by kind then name (a stable order for listings).
pub fn all() -> Vec<&'static PluginRegistration> {
    let mut v: Vec<_> = registrations().collect();
    v.sort_by(|a, b| (a.info.kind, a.info.name).cmp(&(b.info.kind, b.info.name)));
    v
}

/// Find a plugin of `kind` by name or alias (case-insensitive).
pub fn find(kind: PluginKind, name: &str) -> Result<&'static PluginRegistration> {
    let lower = name.to_ascii_lowercase();
    all()
        .into_iter()
        .find(|r| {
            r.info.kind == kind
                && (r.info.name.eq_ignore_ascii_case(&lower) || r.info.aliases.iter().any(|a| a.eq_ignore_ascii_case(&lower)))
        })
        .ok_or_else(|| {
            let names: Vec<&str> = all().iter().filter(|r| r.info.kind == kind).map(|r| r.info.name).collect();
            Error::Plugin {
                plugin: name.to_string(),
                message: format!("no {} plugin of that name; available: {}", kind.name(), names.join(", ")),
            }
        })
}

/// The model plugin that lists `preset` among its presets.
pub fn find_model_preset(preset: &str) -> Result<&'static PluginRegistration> {
    let lower = preset.to_ascii_lowercase();
    all()
        .into_iter()
        .find(|r| r.info.kind == PluginKind::Model && r.info.presets.iter().any(|p| p.eq_ignore_ascii_case(&lower)))
        .ok_or_else(|| {
            let names: Vec<String> = all()
                .iter()
                .filter(|r| r.info.kind == PluginKind::Model)
                .flat_map(|r| r.info.presets.iter().map(|p| p.to_string()))
                .collect();
            Error::Plugin {
                plugin: preset.to_string(),
                message: format!("no model plugin knows this model; known models: {}", names.join(", ")),
            }
        })
}

pub fn backend(name: &str, params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>> {
    let r = find(PluginKind::Backend, name)?;
    match r.ctor {
        Constructor::Backend(f) => f(params, device).map_err(|e| Error::plugin(r.info.name, e)),
        _ => Err(Error::Internal(format!("plugin {} registered with the wrong constructor", r.info.name))),
    }
}

pub fn model(name: &str, params: &serde_json::Value) -> Result<Box<dyn ModelArch>> {
    let r = find(PluginKind::Model, name)?;
    match r.ctor {
        Constructor::Model(f) => f(params).map_err(|e| Error::plugin(r.info.name, e)),
        _ => Err(Error::Internal(format!("plugin {} registered with the wrong constructor", r.info.name))),
    }
}

pub fn parallelism(name: &str, params: &serde_json::Value) -> Result<Box<dyn Parallelism>> {
    let r = find(PluginKind::Parallelism, name)?;
    match r.ctor {
        Constructor::Parallelism(f) => f(params).map_err(|e| Error::plugin(r.info.name, e)),
        _ => Err(Error::Internal(format!("plugin {} registered with the wrong constructor", r.info.name))),
    }
}

pub fn batching(name: &str, params: &serde_json::Value) -> Result<Box<dyn BatchPolicy>> {
    let r = find(PluginKind::Batching, name)?;
    match r.ctor {
        Constructor::Batching(f) => f(params).map_err(|e| Error::plugin(r.info.name, e)),
        _ => Err(Error::Internal(format!("plugin {} registered with the wrong constructor", r.info.name))),
    }
}
