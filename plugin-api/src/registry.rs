//! Static registration of plugins with `inventory`.
//!
//! A plugin crate calls [`register_plugin!`](crate::register_plugin) once per plugin. Linked
//! into the host, that fills the host's registry; the host reads it with [`registrations`].

use crate::device::DeviceSpec;
use crate::error::PluginError;
use crate::traits::{BatchPolicy, KernelBackend, ModelArch, Parallelism};
use serde::Serialize;

/// The four plugin kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// A [`KernelBackend`](crate::KernelBackend).
    Backend,
    /// A [`ModelArch`](crate::ModelArch).
    Model,
    /// A [`Parallelism`](crate::Parallelism) pass. A closed kind: the host applies the passes a plan's degrees call for (`dp`, `cp`, `tp`, `ep`, `pp`); a library may register one, but it cannot be selected by name (`docs/plugins.md`).
    Parallelism,
    /// A [`BatchPolicy`](crate::BatchPolicy).
    Batching,
}

impl PluginKind {
    /// Every kind.
    pub const ALL: [PluginKind; 4] = [PluginKind::Backend, PluginKind::Model, PluginKind::Parallelism, PluginKind::Batching];

    /// The kind's name in configs and listings.
    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Backend => "backend",
            PluginKind::Model => "model",
            PluginKind::Parallelism => "parallelism",
            PluginKind::Batching => "batching",
        }
    }
    /// Parse a kind name or alias.
    pub fn parse(s: &str) -> Option<PluginKind> {
        Some(match s {
            "backend" | "kernel" | "kernel_backend" => PluginKind::Backend,
            "model" | "arch" | "model_arch" => PluginKind::Model,
            "parallelism" | "parallel" => PluginKind::Parallelism,
            "batching" | "batch" | "batch_policy" => PluginKind::Batching,
            _ => return None,
        })
    }
}

/// Descriptive facts about a plugin.
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    /// What kind of plugin.
    pub kind: PluginKind,
    /// The name that selects it.
    pub name: &'static str,
    /// Other names that select this plugin (e.g. the original tool's `mixed-sarathi`).
    pub aliases: &'static [&'static str],
    /// Its own version (shown in listings).
    pub version: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// An example of its parameters, as YAML.
    pub example_params: &'static str,
    /// For model plugins: the model names (presets) it builds when given `{preset: NAME}`.
    pub presets: &'static [&'static str],
}

/// Builds a backend from its parameters, bound to a device.
pub type BackendCtor = fn(&serde_json::Value, &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError>;
/// Builds a model from its parameters.
pub type ModelCtor = fn(&serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError>;
/// Builds a parallelism pass from its parameters.
pub type ParallelismCtor = fn(&serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError>;
/// Builds a batch policy from its parameters.
pub type BatchingCtor = fn(&serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError>;

/// How to build a plugin instance from its parameters.
#[derive(Clone, Copy)]
pub enum Constructor {
    /// A backend constructor.
    Backend(BackendCtor),
    /// A model constructor.
    Model(ModelCtor),
    /// A parallelism constructor.
    Parallelism(ParallelismCtor),
    /// A batch-policy constructor.
    Batching(BatchingCtor),
}

impl Constructor {
    /// The kind this constructor builds.
    pub fn kind(&self) -> PluginKind {
        match self {
            Constructor::Backend(_) => PluginKind::Backend,
            Constructor::Model(_) => PluginKind::Model,
            Constructor::Parallelism(_) => PluginKind::Parallelism,
            Constructor::Batching(_) => PluginKind::Batching,
        }
    }
}

/// One registered plugin.
pub struct PluginRegistration {
    /// What it is.
    pub info: PluginInfo,
    /// How to build it.
    pub ctor: Constructor,
}

inventory::collect!(PluginRegistration);

/// Every plugin registered in this binary (or, inside a cdylib, in that library).
pub fn registrations() -> impl Iterator<Item = &'static PluginRegistration> {
    inventory::iter::<PluginRegistration>.into_iter()
}

/// Register a plugin: `register_plugin!(PluginRegistration { info: ..., ctor: ... });`
#[macro_export]
macro_rules! register_plugin {
    ($reg:expr) => {
        $crate::__inventory::submit! { $reg }
    };
}
