//! The plugin registry: every built-in plugin (registered statically with `inventory`) plus
//! the plugins loaded from plugin directories, found by kind and name or alias, and built from
//! config parameters.
//!
//! The registry is assembled once per process: [`init`] (called by the CLI after it has found
//! the plugin directories) adds the dynamic plugins; anything that looks a plugin up before
//! that gets the built-ins alone. A dynamic plugin whose name or alias is already taken by a
//! built-in or by another library's plugin of the same kind is kept and marked as a conflict
//! (listings show both origins); selecting the ambiguous name is the error, naming both.

use crate::error::{Error, Result};
use crate::loader::{DynCtor, DynPlugin, LoadFailure};
use reallm_plugin_api::{registrations, BatchPolicy, Constructor, DeviceSpec, KernelBackend, ModelArch, Parallelism, PluginKind};
use std::path::PathBuf;
use std::sync::OnceLock;

// Name each built-in crate once so the linker keeps their `inventory` registrations.
use reallm_batching as _;
use reallm_deepseek as _;
use reallm_llama as _;
use reallm_llmcompass as _;
use reallm_parallel as _;
use reallm_roofline as _;
use reallm_table as _;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    Library(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

enum Ctor {
    Static(Constructor),
    Dynamic(DynCtor),
}

/// One registered plugin.
pub struct Entry {
    pub kind: PluginKind,
    pub name: String,
    pub aliases: Vec<String>,
    pub version: String,
    pub summary: String,
    pub example_params: String,
    pub presets: Vec<String>,
    pub origin: Origin,
    /// The origin of an earlier plugin of the same kind that answers to one of this plugin's
    /// names: both are listed, neither can be selected by that name.
    pub conflicts_with: Option<Origin>,
    ctor: Ctor,
}

impl Entry {
    fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// The assembled registry.
pub struct Registry {
    pub entries: Vec<Entry>,
    /// Plugin files that could not be loaded (reported, then skipped).
    pub failures: Vec<LoadFailure>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn builtins() -> Vec<Entry> {
    registrations()
        .map(|r| Entry {
            kind: r.info.kind,
            name: r.info.name.to_string(),
            aliases: r.info.aliases.iter().map(|s| s.to_string()).collect(),
            version: r.info.version.to_string(),
            summary: r.info.summary.to_string(),
            example_params: r.info.example_params.to_string(),
            presets: r.info.presets.iter().map(|s| s.to_string()).collect(),
            origin: Origin::BuiltIn,
            conflicts_with: None,
            ctor: Ctor::Static(r.ctor),
        })
        .collect()
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| (a.kind, &a.name, a.origin.to_string()).cmp(&(b.kind, &b.name, b.origin.to_string())));
    entries
}

/// Add dynamic plugins to the built-ins. A plugin that shadows another (same kind, a shared
/// name or alias) is kept and marked on both sides; selecting that name is then an error.
/// Call at most once, before any lookup; a second call (or one after a lookup) is an error.
pub fn init(plugins: Vec<DynPlugin>, failures: Vec<LoadFailure>) -> Result<()> {
    let mut entries = builtins();
    for p in plugins {
        let mut names = vec![p.name.clone()];
        names.extend(p.aliases.iter().cloned());
        let origin = Origin::Library(p.origin.clone());
        let mut conflicts_with = None;
        if let Some(other) = entries.iter_mut().find(|e| e.kind == p.kind && names.iter().any(|n| e.answers_to(n))) {
            log::warn!(
                "{} plugin `{}` from {} shadows `{}` from {}: the name is ambiguous; rename one or remove a library from the plugin directories",
                p.kind.name(),
                p.name,
                p.origin.display(),
                other.name,
                other.origin
            );
            conflicts_with = Some(other.origin.clone());
            other.conflicts_with.get_or_insert(origin.clone());
        }
        entries.push(Entry {
            kind: p.kind,
            name: p.name,
            aliases: p.aliases,
            version: p.version,
            summary: p.summary,
            example_params: p.example_params,
            presets: p.presets,
            origin,
            conflicts_with,
            ctor: Ctor::Dynamic(p.ctor),
        });
    }
    REGISTRY
        .set(Registry { entries: sorted(entries), failures })
        .map_err(|_| Error::Internal("the plugin registry was initialised twice".into()))
}

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry { entries: sorted(builtins()), failures: Vec::new() })
}

/// Every registered plugin, sorted by kind then name (a stable order for listings).
pub fn all() -> &'static [Entry] {
    &registry().entries
}

/// Plugin files that failed to load.
pub fn failures() -> &'static [LoadFailure] {
    &registry().failures
}

/// Find a plugin of `kind` by name or alias (case-insensitive). A name two plugins answer to
/// is an error naming both origins.
pub fn find(kind: PluginKind, name: &str) -> Result<&'static Entry> {
    let mut matching = all().iter().filter(|e| e.kind == kind && e.answers_to(name));
    let first = matching.next();
    if let (Some(a), Some(b)) = (first, matching.next()) {
        return Err(Error::Plugin {
            plugin: name.to_string(),
            message: format!(
                "ambiguous {} plugin name: `{}` from {} and `{}` from {} both answer to it; rename one or remove a library from the plugin directories",
                kind.name(),
                a.name,
                a.origin,
                b.name,
                b.origin
            ),
        });
    }
    first.ok_or_else(|| {
        let names: Vec<&str> = all().iter().filter(|r| r.kind == kind).map(|r| r.name.as_str()).collect();
        let failed = if failures().is_empty() {
            String::new()
        } else {
            format!(" ({} plugin file(s) failed to load; see `reallm plugins`)", failures().len())
        };
        Error::Plugin {
            plugin: name.to_string(),
            message: format!("no {} plugin of that name; available: {}{failed}", kind.name(), names.join(", ")),
        }
    })
}

/// The model plugin that lists `preset` among its presets.
pub fn find_model_preset(preset: &str) -> Result<&'static Entry> {
    all().iter().find(|r| r.kind == PluginKind::Model && r.presets.iter().any(|p| p.eq_ignore_ascii_case(preset))).ok_or_else(|| {
        let names: Vec<&str> =
            all().iter().filter(|r| r.kind == PluginKind::Model).flat_map(|r| r.presets.iter().map(String::as_str)).collect();
        Error::Plugin {
            plugin: preset.to_string(),
            message: format!(
                "no model plugin knows this model; known models: {}; or give the path of a Hugging Face config.json (ending in .json or containing `/`)",
                names.join(", ")
            ),
        }
    })
}

fn wrong(e: &Entry) -> Error {
    Error::Internal(format!("plugin {} registered with the wrong constructor", e.name))
}

fn built<T>(e: &Entry, r: std::result::Result<T, reallm_plugin_api::PluginError>) -> Result<T> {
    r.map_err(|err| match &e.origin {
        Origin::BuiltIn => Error::plugin(&e.name, err),
        Origin::Library(p) => Error::plugin(format!("{} (from {})", e.name, p.display()), err),
    })
}

pub fn backend(name: &str, params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>> {
    let e = find(PluginKind::Backend, name)?;
    match &e.ctor {
        Ctor::Static(Constructor::Backend(f)) => built(e, f(params, device)),
        Ctor::Dynamic(DynCtor::Backend(f)) => built(e, f(params, device)),
        _ => Err(wrong(e)),
    }
}

pub fn model(name: &str, params: &serde_json::Value) -> Result<Box<dyn ModelArch>> {
    let e = find(PluginKind::Model, name)?;
    match &e.ctor {
        Ctor::Static(Constructor::Model(f)) => built(e, f(params)),
        Ctor::Dynamic(DynCtor::Model(f)) => built(e, f(params)),
        _ => Err(wrong(e)),
    }
}

pub fn parallelism(name: &str, params: &serde_json::Value) -> Result<Box<dyn Parallelism>> {
    let e = find(PluginKind::Parallelism, name)?;
    match &e.ctor {
        Ctor::Static(Constructor::Parallelism(f)) => built(e, f(params)),
        Ctor::Dynamic(DynCtor::Parallelism(f)) => built(e, f(params)),
        _ => Err(wrong(e)),
    }
}

pub fn batching(name: &str, params: &serde_json::Value) -> Result<Box<dyn BatchPolicy>> {
    let e = find(PluginKind::Batching, name)?;
    match &e.ctor {
        Ctor::Static(Constructor::Batching(f)) => built(e, f(params)),
        Ctor::Dynamic(DynCtor::Batching(f)) => built(e, f(params)),
        _ => Err(wrong(e)),
    }
}
