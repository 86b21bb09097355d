//! The library half: what [`export_plugin!`](crate::export_plugin) exports. It reads the
//! library's own `inventory` registry (filled by `register_plugin!` in the crates linked into
//! the cdylib), and wraps each native plugin in a shim that implements the FFI trait.
//!
//! Every entry point and shim method runs inside [`guard`]: a panic becomes an `ERR_PANIC`
//! error value instead of unwinding into the host (which would abort the process).

use super::abi::{
    FfiBackend, FfiBackendBox, FfiBackend_TO, FfiBatching, FfiBatchingBox, FfiBatching_TO, FfiError, FfiLogger, FfiModel, FfiModelBox,
    FfiModel_TO, FfiParallelism, FfiParallelismBox, FfiParallelism_TO, FfiPlanEntry, FfiRequest, FfiSchedScalars, PluginLib, PluginLibRef,
    ERR_NOT_FOUND, ERR_PANIC,
};
use super::op::ReallmOp;
use super::{level_from_code, level_to_code, PluginInfoJson};
use crate::batch::{BatchPlan, RequestState, SchedulerView};
use crate::device::DeviceSpec;
use crate::error::PluginError;
use crate::kernel::Kernel;
use crate::model::{BatchShape, ModelGraph, ModelInfo};
use crate::parallel::ParallelPlan;
use crate::registry::{registrations, Constructor, PluginKind, PluginRegistration};
use crate::traits::{BatchPolicy, KernelBackend, ModelArch, Parallelism};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RSliceMut, RStr, RString, RVec};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The root module of a plugin library (called once, by the exported loader function).
pub fn plugin_root_module() -> PluginLibRef {
    PluginLib { init, new_backend, new_model, new_parallelism, new_batching }.leak_into_prefix()
}

/// Text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Run `f`, turning its error or panic into an [`FfiError`] that names `plugin` and `method`.
fn guard<T>(plugin: &str, method: &str, f: impl FnOnce() -> Result<T, FfiError>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.into(),
        Err(payload) => RResult::RErr(FfiError {
            kind: ERR_PANIC,
            plugin: plugin.into(),
            message: format!("in {method}: {}", panic_message(payload.as_ref())).into(),
        }),
    }
}

fn plugin_err(e: PluginError) -> FfiError {
    FfiError::from_plugin(e)
}

fn invalid(msg: String) -> FfiError {
    FfiError::from_plugin(PluginError::Invalid(msg))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, FfiError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("malformed {what} from the host: {e}")))
}

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<RString, FfiError> {
    serde_json::to_string(v).map(RString::from).map_err(|e| invalid(format!("{what} does not serialise: {e}")))
}

/// The library's logger: forwards every enabled record to the host's callback.
struct Forward(FfiLogger);

impl log::Log for Forward {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        level_to_code(metadata.level()) <= self.0.max_level
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            (self.0.log)(level_to_code(record.level()), RStr::from_str(record.target()), RStr::from_str(&message));
        }
    }
    fn flush(&self) {}
}

extern "C" fn init(logger: FfiLogger) -> RResult<RString, FfiError> {
    guard("(library)", "init", || {
        // Fails only if this library already has a logger (it was initialised before): the
        // first host logger then stays, which is the same host.
        if log::set_logger(Box::leak(Box::new(Forward(logger)))).is_ok() {
            log::set_max_level(level_from_code(logger.max_level));
        }
        let infos: Vec<PluginInfoJson> = registrations().map(PluginInfoJson::from_registration).collect();
        to_json("plugin list", &infos)
    })
}

fn find(kind: PluginKind, name: &str) -> Result<&'static PluginRegistration, FfiError> {
    registrations().find(|r| r.info.kind == kind && r.info.name == name).ok_or_else(|| FfiError {
        kind: ERR_NOT_FOUND,
        plugin: name.into(),
        message: format!("this library has no {} plugin named `{name}`", kind.name()).into(),
    })
}

fn params(text: &str) -> Result<serde_json::Value, FfiError> {
    from_json("parameters", text)
}

extern "C" fn new_backend(name: RStr<'_>, params_json: RStr<'_>, device_json: RStr<'_>) -> RResult<FfiBackendBox, FfiError> {
    guard(name.as_str(), "create", || {
        let reg = find(PluginKind::Backend, name.as_str())?;
        let Constructor::Backend(ctor) = reg.ctor else {
            return Err(invalid(format!("`{name}` registered with a non-backend constructor")));
        };
        let device: DeviceSpec = from_json("device", device_json.as_str())?;
        let inner = ctor(&params(params_json.as_str())?, &device).map_err(plugin_err)?;
        Ok(FfiBackend_TO::from_value(BackendShim { inner, name: name.to_string() }, TD_Opaque))
    })
}

extern "C" fn new_model(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiModelBox, FfiError> {
    guard(name.as_str(), "create", || {
        let reg = find(PluginKind::Model, name.as_str())?;
        let Constructor::Model(ctor) = reg.ctor else { return Err(invalid(format!("`{name}` registered with a non-model constructor"))) };
        let inner = ctor(&params(params_json.as_str())?).map_err(plugin_err)?;
        Ok(FfiModel_TO::from_value(ModelShim { inner, name: name.to_string() }, TD_Opaque))
    })
}

extern "C" fn new_parallelism(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiParallelismBox, FfiError> {
    guard(name.as_str(), "create", || {
        let reg = find(PluginKind::Parallelism, name.as_str())?;
        let Constructor::Parallelism(ctor) = reg.ctor else {
            return Err(invalid(format!("`{name}` registered with a non-parallelism constructor")));
        };
        let inner = ctor(&params(params_json.as_str())?).map_err(plugin_err)?;
        Ok(FfiParallelism_TO::from_value(ParallelismShim { inner, name: name.to_string() }, TD_Opaque))
    })
}

extern "C" fn new_batching(name: RStr<'_>, params_json: RStr<'_>) -> RResult<FfiBatchingBox, FfiError> {
    guard(name.as_str(), "create", || {
        let reg = find(PluginKind::Batching, name.as_str())?;
        let Constructor::Batching(ctor) = reg.ctor else {
            return Err(invalid(format!("`{name}` registered with a non-batching constructor")));
        };
        let inner = ctor(&params(params_json.as_str())?).map_err(plugin_err)?;
        Ok(FfiBatching_TO::from_value(BatchingShim { inner, name: name.to_string() }, TD_Opaque))
    })
}

struct BackendShim {
    inner: Box<dyn KernelBackend>,
    name: String,
}

impl FfiBackend for BackendShim {
    fn kernel_times(&self, ops: RSlice<'_, ReallmOp>, mut out: RSliceMut<'_, f64>) -> RResult<(), FfiError> {
        guard(&self.name, "kernel_times", || {
            if ops.len() != out.len() {
                return Err(invalid(format!("{} ops but {} output slots", ops.len(), out.len())));
            }
            if let [op] = ops.as_slice() {
                // The common case behind a host cache: one new shape, no allocation.
                out[0] = self.inner.kernel_time(&op.to_kernel().map_err(plugin_err)?).map_err(plugin_err)?;
                return Ok(());
            }
            let kernels = ops.iter().map(ReallmOp::to_kernel).collect::<Result<Vec<Kernel>, _>>().map_err(plugin_err)?;
            self.inner.kernel_times(&kernels, &mut out).map_err(plugin_err)
        })
    }

    fn collective_times(&self, ops: RSlice<'_, ReallmOp>, mut out: RSliceMut<'_, f64>) -> RResult<(), FfiError> {
        guard(&self.name, "collective_times", || {
            if ops.len() != out.len() {
                return Err(invalid(format!("{} ops but {} output slots", ops.len(), out.len())));
            }
            for (op, o) in ops.iter().zip(out.iter_mut()) {
                *o = self.inner.collective_time(&op.to_collective().map_err(plugin_err)?).map_err(plugin_err)?;
            }
            Ok(())
        })
    }
}

struct ModelShim {
    inner: Box<dyn ModelArch>,
    name: String,
}

impl FfiModel for ModelShim {
    fn info_json(&self) -> RResult<RString, FfiError> {
        guard(&self.name, "info", || to_json("model info", self.inner.info()))
    }

    fn build_step(&self, batch_json: RStr<'_>) -> RResult<RString, FfiError> {
        guard(&self.name, "build_step", || {
            let batch: BatchShape = from_json("batch shape", batch_json.as_str())?;
            let mut graph = ModelGraph::default();
            self.inner.build_step(&batch, &mut graph).map_err(plugin_err)?;
            to_json("model graph", &graph)
        })
    }
}

struct ParallelismShim {
    inner: Box<dyn Parallelism>,
    name: String,
}

impl FfiParallelism for ParallelismShim {
    fn validate(&self, model_json: RStr<'_>, plan_json: RStr<'_>) -> RResult<RString, FfiError> {
        guard(&self.name, "validate", || {
            let model: ModelInfo = from_json("model info", model_json.as_str())?;
            let plan: ParallelPlan = from_json("parallel plan", plan_json.as_str())?;
            let notes = self.inner.validate(&model, &plan).map_err(plugin_err)?;
            to_json("notes", &notes)
        })
    }

    fn apply(&self, model_json: RStr<'_>, plan_json: RStr<'_>, graph_json: RStr<'_>) -> RResult<RString, FfiError> {
        guard(&self.name, "apply", || {
            let model: ModelInfo = from_json("model info", model_json.as_str())?;
            let plan: ParallelPlan = from_json("parallel plan", plan_json.as_str())?;
            let mut graph: ModelGraph = from_json("model graph", graph_json.as_str())?;
            self.inner.apply(&model, &plan, &mut graph).map_err(plugin_err)?;
            to_json("model graph", &graph)
        })
    }
}

struct BatchingShim {
    inner: Box<dyn BatchPolicy>,
    name: String,
}

impl FfiBatching for BatchingShim {
    fn schedule(
        &self,
        scalars: FfiSchedScalars,
        waiting: RSlice<'_, FfiRequest>,
        running: RSlice<'_, FfiRequest>,
    ) -> RResult<RVec<FfiPlanEntry>, FfiError> {
        guard(&self.name, "schedule", || {
            let waiting: Vec<RequestState> = waiting.iter().map(RequestState::from).collect();
            let running: Vec<RequestState> = running.iter().map(RequestState::from).collect();
            let view =
                SchedulerView { now_s: scalars.now_s, waiting: &waiting, running: &running, kv: scalars.kv(), limits: scalars.limits() };
            let mut plan = BatchPlan::default();
            self.inner.schedule(&view, &mut plan);
            Ok(plan.entries.iter().map(FfiPlanEntry::from).collect())
        })
    }
}
