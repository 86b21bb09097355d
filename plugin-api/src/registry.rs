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
    Backend,
    Model,
    Parallelism,
    Batching,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] = [PluginKind::Backend, PluginKind::Model, PluginKind::Parallelism, PluginKind::Batching];

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Backend => "backend",
            PluginKind::Model => "model",
            PluginKind::Parallelism => "parallelism",
            PluginKind::Batching => "batching",
        }
    }
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
    pub kind: PluginKind,
    pub name: &'static str,
    /// Other names that select this plugin (e.g. the original tool's `mixed-sarathi`).
    pub aliases: &'static [&'static str],
    pub version: &'static str,
    pub summary: &'static str,
    /// An example of its parameters, as YAML.
    pub example_params: &'static str,
    /// For model plugins: the model names (presets) it builds when given `{preset: NAME}`.
    pub presets: &'static [&'static str],
}

pub type BackendCtor = fn(&serde_json::Value, &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError>;
pub type ModelCtor = fn(&serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError>;
pub type ParallelismCtor = fn(&serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError>;
pub type BatchingCtor = fn(&serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError>;

/// How to build a plugin instance from its parameters.
#[derive(Clone, Copy)]
pub enum Constructor {
    Backend(BackendCtor),
    Model(ModelCtor),
    Parallelism(ParallelismCtor),
    Batching(BatchingCtor),
}

impl Constructor {
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
    pub info: PluginInfo,
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
