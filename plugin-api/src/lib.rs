//! The stable interface between the ReaLLM host and its plugins.
//!
//! Four plugin kinds answer four questions:
//!
//! | trait | answers |
//! |---|---|
//! | [`KernelBackend`] | how long one kernel or collective takes on one device |
//! | [`ModelArch`] | which kernels one forward step of a batch runs, with exact shapes |
//! | [`Parallelism`] | how that work is split over devices and which collectives it adds |
//! | [`BatchPolicy`] | which requests, and how many tokens of each, go into the next iteration |
//!
//! Everything exchanged is plain data (this crate's types): no plugin ever calls back into
//! the engine. Built-in plugins register themselves with [`register_plugin!`] (an `inventory`
//! submission); the host enumerates them with [`registrations`].
//!
//! Units: time in seconds (`f64`), sizes in bytes (`u64`), rates in per-second, token counts
//! as integers. Names carry the unit where it is not obvious (`_s`, `_bytes`, `_per_s`).

#![warn(missing_docs)]

pub mod batch;
pub mod device;
pub mod dtype;
pub mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
pub mod kernel;
pub mod model;
pub mod parallel;
pub mod registry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod traits;

pub use batch::{BatchPlan, KvView, Limits, PlanEntry, RequestState, ScheduleHints, SchedulerView, Source};
pub use device::{DeviceSpec, Interconnect, ScaleOut, Topology};
pub use dtype::DType;
pub use error::PluginError;
pub use kernel::{Collective, CollectiveKind, CommAlgo, Kernel, KernelKind, LinkScope};
pub use model::{
    BatchShape, LogicalOp, ModelGraph, ModelInfo, Phase, PrefillChunk, Segment, SegmentKind, Shard, Stage, WeightBytes, WorkItem, WorkKind,
};
pub use parallel::{Degrees, ParallelPlan};
pub use registry::{registrations, Constructor, PluginInfo, PluginKind, PluginRegistration};
pub use traits::{BatchPolicy, KernelBackend, ModelArch, Parallelism};

/// Semantic version of this interface. Plugins built against 1.x load in any 1.y host, y ≥ x.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Re-exported so that `register_plugin!` works without the plugin naming `inventory`.
#[doc(hidden)]
pub use inventory as __inventory;

/// Deserialise a plugin's parameters, rejecting unknown fields (the target type should carry
/// `#[serde(deny_unknown_fields)]`). `null` is treated as an empty map.
pub fn parse_params<T: serde::de::DeserializeOwned>(plugin: &str, params: &serde_json::Value) -> Result<T, PluginError> {
    let value = if params.is_null() { serde_json::Value::Object(Default::default()) } else { params.clone() };
    serde_json::from_value(value).map_err(|e| PluginError::Params { plugin: plugin.to_string(), message: e.to_string() })
}
