//! The abi_stable types that cross the boundary: the root module, the four plugin trait
//! objects, the error and logger types, and the scheduler mirrors.
//!
//! Compatibility rules (checked by abi_stable when a library loads):
//! - the library's `reallm-plugin-api` major version must equal the host's (1.x);
//! - the root module and each trait object are prefix types: a later 1.x may append fields
//!   or methods after the `#[sabi(last_prefix_field)]` marker, and a host calling such an
//!   addition on an older library gets a clean error instead of a wild jump;
//! - every other struct here is fixed for the whole of 1.x (a changed layout is reported as
//!   `AbiInstability` at load time).

// `#[sabi_trait]` expands to impls the `non_local_definitions` lint flags on rustc ≥ 1.80.
#![allow(non_local_definitions)]

use super::op::ReallmOp;
use crate::batch::{KvView, Limits, PlanEntry, RequestState, Source};
use crate::error::PluginError;
use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RSlice, RSliceMut, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

/// The library's entry points. One per library, exported by [`export_plugin!`](crate::export_plugin).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginLibRef)))]
#[sabi(missing_field(panic))]
pub struct PluginLib {
    /// Install the host's logger and describe the library's plugins: a JSON array of
    /// [`PluginInfoJson`](super::PluginInfoJson).
    pub init: extern "C" fn(logger: FfiLogger) -> RResult<RString, FfiError>,
    /// Build the backend `name` from JSON parameters, bound to the JSON device.
    pub new_backend: extern "C" fn(name: RStr<'_>, params_json: RStr<'_>, device_json: RStr<'_>) -> RResult<FfiBackendBox, FfiError>,
    /// Build the model plugin `name` from JSON parameters.
    pub new_model: extern "C" fn(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiModelBox, FfiError>,
    /// Build the parallelism plugin `name` from JSON parameters.
    pub new_parallelism: extern "C" fn(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiParallelismBox, FfiError>,
    /// Build the batch policy `name` from JSON parameters.
    #[sabi(last_prefix_field)]
    pub new_batching: extern "C" fn(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiBatchingBox, FfiError>,
}

impl RootModule for PluginLibRef {
    declare_root_module_statics! {PluginLibRef}
    const BASE_NAME: &'static str = "reallm_plugin";
    const NAME: &'static str = "reallm plugin library";
    // `reallm-plugin-api`'s own version (the macro reads CARGO_PKG_VERSION of this crate).
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// What went wrong inside a plugin. `kind`: see the `ERR_*` constants.
#[repr(C)]
#[derive(Debug, Clone, StableAbi)]
pub struct FfiError {
    /// Which [`PluginError`](crate::PluginError) variant (0 params, 1 unsupported, 2 invalid, 3 panic).
    pub kind: u8,
    /// Plugin name (for `ERR_PARAMS` and `ERR_PANIC`; may be empty otherwise).
    pub plugin: RString,
    /// The error text.
    pub message: RString,
}

/// [`PluginError::Params`].
pub const ERR_PARAMS: u8 = 0;
/// [`PluginError::Unsupported`].
pub const ERR_UNSUPPORTED: u8 = 1;
/// [`PluginError::Invalid`].
pub const ERR_INVALID: u8 = 2;
/// The plugin panicked; `message` holds the panic payload and the method.
pub const ERR_PANIC: u8 = 3;
/// No plugin of that name and kind in the library.
pub const ERR_NOT_FOUND: u8 = 4;

impl FfiError {
    /// Wrap a plugin's error.
    pub fn from_plugin(e: PluginError) -> FfiError {
        match e {
            PluginError::Params { plugin, message } => FfiError { kind: ERR_PARAMS, plugin: plugin.into(), message: message.into() },
            PluginError::Unsupported(m) => FfiError { kind: ERR_UNSUPPORTED, plugin: RString::new(), message: m.into() },
            PluginError::Invalid(m) => FfiError { kind: ERR_INVALID, plugin: RString::new(), message: m.into() },
        }
    }

    /// Back to the native error. `label` names the plugin and its library, for panics and
    /// the other failures the native enum has no variant for.
    pub fn into_plugin(self, label: &str) -> PluginError {
        match self.kind {
            ERR_PARAMS => PluginError::Params { plugin: self.plugin.into(), message: self.message.into() },
            ERR_UNSUPPORTED => PluginError::Unsupported(self.message.into()),
            ERR_INVALID => PluginError::Invalid(self.message.into()),
            ERR_PANIC => PluginError::Invalid(format!("{label} panicked: {}", self.message)),
            ERR_NOT_FOUND => PluginError::Invalid(format!("{label}: {}", self.message)),
            k => PluginError::Invalid(format!("{label} failed (error kind {k}): {}", self.message)),
        }
    }
}

/// The host's logger as a library sees it: the host's maximum level at load time
/// (0 off, 1 error … 5 trace, as `log::LevelFilter`) and a callback taking a level
/// (1 error … 5 trace), a target and the formatted message.
#[repr(C)]
#[derive(Clone, Copy, StableAbi)]
pub struct FfiLogger {
    /// Most verbose level the host wants (log::Level as u8).
    pub max_level: u8,
    /// Forwards one record to the host's logger.
    pub log: extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>),
}

/// A kernel backend across the boundary. Ops are [`ReallmOp`]s: one call per batch.
#[sabi_trait]
pub trait FfiBackend: Send + Sync {
    /// `out[i]` = seconds of the kernel `ops[i]`.
    fn kernel_times(&self, ops: RSlice<'_, ReallmOp>, out: RSliceMut<'_, f64>) -> RResult<(), FfiError>;
    /// `out[i]` = seconds of the collective `ops[i]`.
    #[sabi(last_prefix_field)]
    fn collective_times(&self, ops: RSlice<'_, ReallmOp>, out: RSliceMut<'_, f64>) -> RResult<(), FfiError>;
}

/// Owned backend trait object.
pub type FfiBackendBox = FfiBackend_TO<'static, RBox<()>>;

/// A model across the boundary; data cross as JSON of the native types.
#[sabi_trait]
pub trait FfiModel: Send + Sync {
    /// JSON of the model's `ModelInfo` (the host asks once and keeps it).
    fn info_json(&self) -> RResult<RString, FfiError>;
    /// JSON `BatchShape` in, JSON `ModelGraph` out.
    #[sabi(last_prefix_field)]
    fn build_step(&self, batch_json: RStr<'_>) -> RResult<RString, FfiError>;
}

/// Owned model trait object.
pub type FfiModelBox = FfiModel_TO<'static, RBox<()>>;

/// A parallelism scheme across the boundary; data cross as JSON of the native types.
#[sabi_trait]
pub trait FfiParallelism: Send + Sync {
    /// JSON `ModelInfo` and `ParallelPlan` in, JSON array of notes out.
    fn validate(&self, model_json: RStr<'_>, plan_json: RStr<'_>) -> RResult<RString, FfiError>;
    /// JSON `ModelInfo`, `ParallelPlan` and `ModelGraph` in, rewritten `ModelGraph` JSON out.
    #[sabi(last_prefix_field)]
    fn apply(&self, model_json: RStr<'_>, plan_json: RStr<'_>, graph_json: RStr<'_>) -> RResult<RString, FfiError>;
}

/// Owned parallelism trait object.
pub type FfiParallelismBox = FfiParallelism_TO<'static, RBox<()>>;

/// A batch policy across the boundary: requests cross as `repr(C)` mirrors (one copy per
/// iteration, no serialisation), the plan comes back as entries.
#[sabi_trait]
pub trait FfiBatching: Send + Sync {
    #[sabi(last_prefix_field)]
    /// The library policy's plan for a view given as scalars and the two queues.
    fn schedule(
        &self,
        scalars: FfiSchedScalars,
        waiting: RSlice<'_, FfiRequest>,
        running: RSlice<'_, FfiRequest>,
    ) -> RResult<RVec<FfiPlanEntry>, FfiError>;
}

/// Owned batch-policy trait object.
pub type FfiBatchingBox = FfiBatching_TO<'static, RBox<()>>;

/// Mirror of [`RequestState`].
#[repr(C)]
#[derive(Debug, Clone, Copy, StableAbi)]
pub struct FfiRequest {
    /// Mirror of [`RequestState`](crate::RequestState)`::id`.
    pub id: u64,
    /// Mirror of [`RequestState`](crate::RequestState)`::arrival_s`.
    pub arrival_s: f64,
    /// Mirror of [`RequestState`](crate::RequestState)`::prompt_tokens`.
    pub prompt_tokens: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::output_tokens`.
    pub output_tokens: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::prefilled`.
    pub prefilled: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::generated`.
    pub generated: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::kv_blocks`.
    pub kv_blocks: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::recompute_tokens`.
    pub recompute_tokens: u32,
    /// Mirror of [`RequestState`](crate::RequestState)`::priority`.
    pub priority: i32,
    /// Mirror of [`RequestState`](crate::RequestState)`::preemptions`.
    pub preemptions: u32,
}

impl From<&RequestState> for FfiRequest {
    fn from(r: &RequestState) -> Self {
        FfiRequest {
            id: r.id,
            arrival_s: r.arrival_s,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            prefilled: r.prefilled,
            generated: r.generated,
            kv_blocks: r.kv_blocks,
            recompute_tokens: r.recompute_tokens,
            priority: r.priority,
            preemptions: r.preemptions,
        }
    }
}

impl From<&FfiRequest> for RequestState {
    fn from(r: &FfiRequest) -> Self {
        RequestState {
            id: r.id,
            arrival_s: r.arrival_s,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            prefilled: r.prefilled,
            generated: r.generated,
            kv_blocks: r.kv_blocks,
            recompute_tokens: r.recompute_tokens,
            priority: r.priority,
            preemptions: r.preemptions,
        }
    }
}

/// The scalar part of a `SchedulerView`: time, [`KvView`] and [`Limits`].
#[repr(C)]
#[derive(Debug, Clone, Copy, StableAbi)]
pub struct FfiSchedScalars {
    /// Mirror of `SchedulerView::now_s`.
    pub now_s: f64,
    /// Mirror of `KvView::total_blocks`.
    pub total_blocks: u64,
    /// Mirror of `KvView::free_blocks`.
    pub free_blocks: u64,
    /// Mirror of `KvView::watermark_blocks`.
    pub watermark_blocks: u64,
    /// Mirror of `KvView::block_tokens`.
    pub block_tokens: u32,
    /// Mirror of `Limits::max_batch_seqs`.
    pub max_batch_seqs: u32,
    /// Mirror of `Limits::max_batch_tokens`.
    pub max_batch_tokens: u32,
    /// Mirror of `Limits::chunk_tokens`.
    pub chunk_tokens: u32,
}

impl FfiSchedScalars {
    /// Pack.
    pub fn new(now_s: f64, kv: &KvView, limits: &Limits) -> Self {
        FfiSchedScalars {
            now_s,
            total_blocks: kv.total_blocks,
            free_blocks: kv.free_blocks,
            watermark_blocks: kv.watermark_blocks,
            block_tokens: kv.block_tokens,
            max_batch_seqs: limits.max_batch_seqs,
            max_batch_tokens: limits.max_batch_tokens,
            chunk_tokens: limits.chunk_tokens,
        }
    }
    /// Unpack the KV view.
    pub fn kv(&self) -> KvView {
        KvView {
            total_blocks: self.total_blocks,
            free_blocks: self.free_blocks,
            block_tokens: self.block_tokens,
            watermark_blocks: self.watermark_blocks,
        }
    }
    /// Unpack the limits.
    pub fn limits(&self) -> Limits {
        Limits { max_batch_seqs: self.max_batch_seqs, max_batch_tokens: self.max_batch_tokens, chunk_tokens: self.chunk_tokens }
    }
}

/// Mirror of [`PlanEntry`]; `source` 0 = waiting, 1 = running.
#[repr(C)]
#[derive(Debug, Clone, Copy, StableAbi)]
pub struct FfiPlanEntry {
    /// 0 waiting, 1 running (`Source`).
    pub source: u8,
    /// Mirror of `PlanEntry::index`.
    pub index: u32,
    /// Mirror of `PlanEntry::tokens`.
    pub tokens: u32,
}

impl From<&PlanEntry> for FfiPlanEntry {
    fn from(e: &PlanEntry) -> Self {
        FfiPlanEntry {
            source: match e.source {
                Source::Waiting => 0,
                Source::Running => 1,
            },
            index: e.index,
            tokens: e.tokens,
        }
    }
}

impl FfiPlanEntry {
    /// Back to the native entry.
    pub fn to_native(&self) -> Result<PlanEntry, PluginError> {
        let source = match self.source {
            0 => Source::Waiting,
            1 => Source::Running,
            s => return Err(PluginError::invalid(format!("plan entry with unknown source code {s}"))),
        };
        Ok(PlanEntry { source, index: self.index, tokens: self.tokens })
    }
}
