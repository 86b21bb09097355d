//! Dynamic plugins: the stable ABI between the host and plugin libraries (cdylibs).
//!
//! Every `abi_stable` type of the project lives in this module; plugin authors and the engine
//! see only the native traits ([`KernelBackend`](crate::KernelBackend), ...). Two halves:
//!
//! - **library side**: a cdylib crate registers plugins with [`register_plugin!`](crate::register_plugin)
//!   exactly as a built-in does, and calls [`export_plugin!`](crate::export_plugin) once. The
//!   exported root module serves every plugin registered in that library.
//! - **host side**: [`load_library`] opens one file, checks it, installs the host's logger in
//!   it, and returns a [`DynLibrary`] whose `new_*` methods build native trait objects.
//!
//! What crosses the boundary (per call):
//!
//! | data | form | why |
//! |---|---|---|
//! | parameters, `DeviceSpec` | JSON text | once per instance; plugins parse with `deny_unknown_fields` |
//! | `Kernel`, `Collective` | [`ReallmOp`], `repr(C)`, 96 bytes, a slice per batch | hot path: the engine costs every kernel of a step that its cost cache lacks in **one** `kernel_times` call, so a dynamic backend is crossed once per step, not once per kernel; collectives are cached by value and cross once per new collective |
//! | `ModelInfo`, `BatchShape`, `ModelGraph`, `ParallelPlan` | JSON text | rich nested data; a dynamic model crosses once per step that builds a graph. Graphs are not cached by shape: every step carrying a prefill builds its graph; decode-only steps of a batch size already seen are served by the engine's decode-step memo and build none |
//! | `SchedulerView`, `BatchPlan` | `repr(C)` mirrors ([`abi::FfiRequest`], ...) | once per iteration, queues may be long |
//! | errors | [`abi::FfiError`] in an `RResult` | every method; panics are caught in the library and returned |
//! | log records | callback given at `init` | the library's `log` facade forwards to the host's logger |
//!
//! Versioning: `reallm-plugin-api` follows semver from 1.0.0. A library built against 1.x
//! loads in a host of the same major version whose types have the same layout; additions in
//! 1.x are appended prefix fields and trait-object methods. A different major version, a
//! changed layout, or another `abi_stable` ABI is refused at load time with a clear reason.
//!
//! JSON floats: `serde_json` is built with `float_roundtrip`, so every `f64` that crosses as
//! JSON comes back bit-identical (dynamic and static plugins give byte-identical results).

pub mod abi;
mod host_side;
pub mod op;
mod plugin_side;

pub use abi::PluginLibRef;
pub use host_side::{load_library, DynLibrary, LoadError, LoadErrorKind};
pub use op::{OwnedReallmDevice, ReallmDevice, ReallmOp, C_ABI_VERSION};
#[doc(hidden)]
pub use plugin_side::plugin_root_module;

use crate::registry::{PluginKind, PluginRegistration};
use serde::{Deserialize, Serialize};

/// Owned description of a plugin found in a library (the dynamic counterpart of
/// [`PluginInfo`](crate::PluginInfo)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDescription {
    /// See [`PluginInfo`](crate::PluginInfo).
    pub kind: PluginKind,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub name: String,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub aliases: Vec<String>,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub version: String,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub summary: String,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub example_params: String,
    /// See [`PluginInfo`](crate::PluginInfo).
    pub presets: Vec<String>,
}

/// The wire form of a plugin's description (JSON, so that fields can be added in 1.x).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PluginInfoJson {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub example_params: String,
    #[serde(default)]
    pub presets: Vec<String>,
}

impl PluginInfoJson {
    fn from_registration(r: &PluginRegistration) -> Self {
        let i = &r.info;
        PluginInfoJson {
            kind: i.kind.name().to_string(),
            name: i.name.to_string(),
            aliases: i.aliases.iter().map(|s| s.to_string()).collect(),
            version: i.version.to_string(),
            summary: i.summary.to_string(),
            example_params: i.example_params.to_string(),
            presets: i.presets.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// `log::Level` → 1 (error) … 5 (trace).
pub(crate) fn level_to_code(l: log::Level) -> u8 {
    l as usize as u8
}

/// 0 → off, 1 → error … 5 (or more) → trace.
pub(crate) fn level_from_code(c: u8) -> log::LevelFilter {
    match c {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Export every plugin registered in this crate (and in the crates it links) as a dynamic
/// plugin library. Call it once, at the root of a `crate-type = ["cdylib"]` crate that also
/// depends on `abi_stable = "=0.11.3"` directly (the attribute it expands to names
/// `::abi_stable`).
///
/// ```ignore
/// reallm_plugin_api::export_plugin!();
/// ```
#[macro_export]
macro_rules! export_plugin {
    () => {
        /// The root module the ReaLLM host looks up in this library.
        #[::abi_stable::export_root_module]
        pub fn reallm_plugin_root_module() -> $crate::ffi::PluginLibRef {
            $crate::ffi::plugin_root_module()
        }
    };
}

#[cfg(test)]
mod tests;
