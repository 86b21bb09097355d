//! The host half: load one abi_stable plugin library and wrap its plugins in adapters that
//! implement the native traits, so the engine never sees an FFI type.

use super::abi::{
    FfiBackendBox, FfiBatchingBox, FfiError, FfiLogger, FfiModelBox, FfiParallelismBox, FfiPlanEntry, FfiRequest, FfiSchedScalars,
    PluginLibRef,
};
use super::op::ReallmOp;
use super::{level_from_code, level_to_code, PluginDescription, PluginInfoJson};
use crate::batch::{BatchPlan, SchedulerView};
use crate::device::DeviceSpec;
use crate::error::PluginError;
use crate::kernel::{Collective, Kernel};
use crate::model::{BatchShape, ModelGraph, ModelInfo};
use crate::parallel::ParallelPlan;
use crate::registry::PluginKind;
use crate::traits::{BatchPolicy, KernelBackend, ModelArch, Parallelism};
use abi_stable::library::{lib_header_from_path, LibraryError, RootModule};
use abi_stable::std_types::{RResult, RSlice, RSliceMut, RStr};
use std::path::{Path, PathBuf};

/// Why a library did not load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadErrorKind {
    /// The file is not a loadable shared library (wrong format, missing dependency, ...).
    Open,
    /// A shared library, but it exports no ReaLLM abi_stable root module (it may still be a
    /// C-ABI backend library).
    NotAPlugin,
    /// A ReaLLM plugin library built against an incompatible `reallm-plugin-api` or
    /// `abi_stable` (major version, or type layout).
    Incompatible,
    /// The library loaded but its initialisation failed or panicked.
    Init,
}

/// A library that did not load: a one-line reason for the user, the full text for `--verbose`.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// Why, as a class.
    pub kind: LoadErrorKind,
    /// One line for listings.
    pub reason: String,
    /// The full reason (shown with `-v`).
    pub detail: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LoadError {}

/// First line of a multi-line message, plus the last one when they differ (the layout
/// checker's messages are long: the two ends say what and where).
fn summarise(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} … {last}"),
    }
}

fn classify(e: LibraryError) -> LoadError {
    let detail = e.to_string();
    let (kind, reason) = match &e {
        LibraryError::OpenError { err, .. } => {
            (LoadErrorKind::Open, format!("not a loadable shared library: {}", summarise(&err.to_string())))
        }
        LibraryError::GetSymbolError { .. } => {
            (LoadErrorKind::NotAPlugin, "not a ReaLLM plugin library (it exports no abi_stable root module)".to_string())
        }
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => (
            LoadErrorKind::Incompatible,
            format!(
                "incompatible plugin: built against reallm-plugin-api {actual_version}, this host implements {expected_version} \
                 (major versions must match)"
            ),
        ),
        LibraryError::ParseVersionError(v) => {
            (LoadErrorKind::Incompatible, format!("incompatible plugin: unreadable interface version ({v})"))
        }
        LibraryError::AbiInstability(err) => (
            LoadErrorKind::Incompatible,
            format!("incompatible plugin: its plugin-api types differ in layout from this host's: {}", summarise(&err.to_string())),
        ),
        LibraryError::InvalidAbiHeader(_) | LibraryError::InvalidCAbi { .. } => (
            LoadErrorKind::Incompatible,
            format!("incompatible plugin: built with another abi_stable ABI (this host uses abi_stable 0.11): {}", summarise(&detail)),
        ),
        LibraryError::RootModule { .. } => (LoadErrorKind::Init, format!("the library's root module failed: {}", summarise(&detail))),
        _ => (LoadErrorKind::Incompatible, summarise(&detail)),
    };
    LoadError { kind, reason, detail }
}

/// The host's log callback: forwards a library's record to whatever logger the host has.
extern "C" fn forward_log(level: u8, target: RStr<'_>, message: RStr<'_>) {
    // Never unwind back into the library, whatever the host's logger does.
    let _ = std::panic::catch_unwind(|| {
        let Some(level) = level_from_code(level).to_level() else { return };
        log::logger().log(&log::Record::builder().level(level).target(target.as_str()).args(format_args!("{}", message.as_str())).build());
    });
}

/// One loaded plugin library. Cheap to clone; the library itself is never unloaded.
#[derive(Clone)]
pub struct DynLibrary {
    root: PluginLibRef,
    path: PathBuf,
    plugins: Vec<PluginDescription>,
}

impl std::fmt::Debug for DynLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynLibrary").field("path", &self.path).field("plugins", &self.plugins).finish()
    }
}

/// Load the abi_stable plugin library at `path`: check its interface version and type
/// layouts, install the host's logger in it (at the host's current `log::max_level()`), and
/// read its plugin list.
///
/// Each call opens the file anew (no per-type cache), so two libraries in two directories
/// are two libraries. Opening runs the library's constructors: plugin files are trusted code.
pub fn load_library(path: &Path) -> Result<DynLibrary, LoadError> {
    let header = lib_header_from_path(path).map_err(classify)?;
    let root = header.init_root_module::<PluginLibRef>().map_err(classify)?;
    let logger = FfiLogger { max_level: level_to_code_filter(log::max_level()), log: forward_log };
    from_root(root, path, logger)
}

/// Initialise an already checked root module (also used in-process by the unit tests, with a
/// logger that does not re-enter the process's own `log` facade).
pub(crate) fn from_root(root: PluginLibRef, path: &Path, logger: FfiLogger) -> Result<DynLibrary, LoadError> {
    let label = format!("plugin library {}", path.display());
    let json = match (root.init())(logger) {
        RResult::ROk(s) => s,
        RResult::RErr(e) => {
            let e = e.into_plugin(&label);
            return Err(LoadError { kind: LoadErrorKind::Init, reason: format!("initialisation failed: {e}"), detail: e.to_string() });
        }
    };
    let infos: Vec<PluginInfoJson> = serde_json::from_str(json.as_str()).map_err(|e| LoadError {
        kind: LoadErrorKind::Init,
        reason: format!("unreadable plugin list: {e}"),
        detail: json.to_string(),
    })?;
    let mut plugins = Vec::with_capacity(infos.len());
    for info in infos {
        let kind = PluginKind::parse(&info.kind).ok_or_else(|| LoadError {
            kind: LoadErrorKind::Incompatible,
            reason: format!("plugin `{}` is of a kind this host does not know: `{}`", info.name, info.kind),
            detail: String::new(),
        })?;
        plugins.push(PluginDescription {
            kind,
            name: info.name,
            aliases: info.aliases,
            version: info.version,
            summary: info.summary,
            example_params: info.example_params,
            presets: info.presets,
        });
    }
    log::debug!(
        "loaded plugin library {} ({} plugins, interface {})",
        path.display(),
        plugins.len(),
        PluginLibRef::VERSION_STRINGS.version
    );
    Ok(DynLibrary { root, path: path.to_path_buf(), plugins })
}

fn level_to_code_filter(f: log::LevelFilter) -> u8 {
    f.to_level().map(level_to_code).unwrap_or(0)
}

fn params_text(params: &serde_json::Value) -> String {
    if params.is_null() {
        "{}".to_string()
    } else {
        params.to_string()
    }
}

fn json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, PluginError> {
    serde_json::to_string(v).map_err(|e| PluginError::invalid(format!("{what} does not serialise: {e}")))
}

fn unjson<T: serde::de::DeserializeOwned>(label: &str, what: &str, text: &str) -> Result<T, PluginError> {
    serde_json::from_str(text).map_err(|e| PluginError::invalid(format!("{label} returned a malformed {what}: {e}")))
}

impl DynLibrary {
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugins it provides.
    pub fn plugins(&self) -> &[PluginDescription] {
        &self.plugins
    }

    fn label(&self, name: &str) -> String {
        format!("plugin `{name}` (from {})", self.path.display())
    }

    /// Build backend `name` (its canonical name, not an alias).
    pub fn new_backend(&self, name: &str, params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
        let label = self.label(name);
        let device_json = json("device", device)?;
        let obj = (self.root.new_backend())(name.into(), params_text(params).as_str().into(), device_json.as_str().into())
            .into_result()
            .map_err(|e| e.into_plugin(&label))?;
        Ok(Box::new(DynBackend { obj, label }))
    }

    /// Build model plugin `name`.
    pub fn new_model(&self, name: &str, params: &serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError> {
        let label = self.label(name);
        let obj =
            (self.root.new_model())(name.into(), params_text(params).as_str().into()).into_result().map_err(|e| e.into_plugin(&label))?;
        let info_text = obj.info_json().into_result().map_err(|e| e.into_plugin(&label))?;
        let info = unjson(&label, "model info", info_text.as_str())?;
        Ok(Box::new(DynModel { obj, info, label }))
    }

    /// Build parallelism plugin `name`.
    pub fn new_parallelism(&self, name: &str, params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
        let label = self.label(name);
        let obj = (self.root.new_parallelism())(name.into(), params_text(params).as_str().into())
            .into_result()
            .map_err(|e| e.into_plugin(&label))?;
        Ok(Box::new(DynParallelism { obj, label }))
    }

    /// Build batch policy `name`.
    pub fn new_batching(&self, name: &str, params: &serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError> {
        let label = self.label(name);
        let obj = (self.root.new_batching())(name.into(), params_text(params).as_str().into())
            .into_result()
            .map_err(|e| e.into_plugin(&label))?;
        Ok(Box::new(DynBatching { obj, label }))
    }
}

/// A backend in a library. One boundary crossing per `kernel_times` batch.
struct DynBackend {
    obj: FfiBackendBox,
    label: String,
}

impl DynBackend {
    fn err(&self, e: FfiError) -> PluginError {
        e.into_plugin(&self.label)
    }
}

impl KernelBackend for DynBackend {
    fn kernel_time(&self, kernel: &Kernel) -> Result<f64, PluginError> {
        let ops = [ReallmOp::shape_of(kernel)];
        let mut out = [0.0f64];
        self.obj.kernel_times(RSlice::from_slice(&ops), RSliceMut::from_mut_slice(&mut out)).into_result().map_err(|e| self.err(e))?;
        Ok(out[0])
    }

    fn collective_time(&self, collective: &Collective) -> Result<f64, PluginError> {
        let ops = [ReallmOp::from_collective(collective)];
        let mut out = [0.0f64];
        self.obj.collective_times(RSlice::from_slice(&ops), RSliceMut::from_mut_slice(&mut out)).into_result().map_err(|e| self.err(e))?;
        Ok(out[0])
    }

    fn kernel_times(&self, kernels: &[Kernel], out: &mut [f64]) -> Result<(), PluginError> {
        if kernels.len() != out.len() {
            return Err(PluginError::invalid(format!("kernel_times: {} kernels but {} output slots", kernels.len(), out.len())));
        }
        let ops: Vec<ReallmOp> = kernels.iter().map(ReallmOp::shape_of).collect();
        self.obj.kernel_times(RSlice::from_slice(&ops), RSliceMut::from_mut_slice(out)).into_result().map_err(|e| self.err(e))
    }
}

/// A model in a library; its `ModelInfo` is read once at construction.
struct DynModel {
    obj: FfiModelBox,
    info: ModelInfo,
    label: String,
}

impl ModelArch for DynModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let text =
            self.obj.build_step(json("batch shape", batch)?.as_str().into()).into_result().map_err(|e| e.into_plugin(&self.label))?;
        *graph = unjson(&self.label, "model graph", text.as_str())?;
        Ok(())
    }
}

struct DynParallelism {
    obj: FfiParallelismBox,
    label: String,
}

impl Parallelism for DynParallelism {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        let (m, p) = (json("model info", model)?, json("parallel plan", plan)?);
        let text = self.obj.validate(m.as_str().into(), p.as_str().into()).into_result().map_err(|e| e.into_plugin(&self.label))?;
        unjson(&self.label, "list of notes", text.as_str())
    }

    fn apply(&self, model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let (m, p, g) = (json("model info", model)?, json("parallel plan", plan)?, json("model graph", graph)?);
        let text = self
            .obj
            .apply(m.as_str().into(), p.as_str().into(), g.as_str().into())
            .into_result()
            .map_err(|e| e.into_plugin(&self.label))?;
        *graph = unjson(&self.label, "model graph", text.as_str())?;
        Ok(())
    }
}

struct DynBatching {
    obj: FfiBatchingBox,
    label: String,
}

impl BatchPolicy for DynBatching {
    /// The infallible form: a failure inside the library is raised as a host-side panic that
    /// names the plugin (the engine calls [`BatchPolicy::try_schedule`], which returns it).
    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        if let Err(e) = self.try_schedule(view, plan) {
            panic!("batch policy failed: {e}");
        }
    }

    /// A failure or panic inside the library comes back as an error naming the plugin and its
    /// file (never an unwind across the boundary, and never a silently empty plan).
    fn try_schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) -> Result<(), PluginError> {
        let waiting: Vec<FfiRequest> = view.waiting.iter().map(FfiRequest::from).collect();
        let running: Vec<FfiRequest> = view.running.iter().map(FfiRequest::from).collect();
        let scalars = FfiSchedScalars::new(view.now_s, &view.kv, &view.limits);
        let entries = self
            .obj
            .schedule(scalars, RSlice::from_slice(&waiting), RSlice::from_slice(&running))
            .into_result()
            .map_err(|e| e.into_plugin(&self.label))?;
        plan.entries.clear();
        for e in entries.iter().map(FfiPlanEntry::to_native) {
            plan.entries.push(e.map_err(|e| PluginError::invalid(format!("{} returned a malformed plan: {e}", self.label)))?);
        }
        Ok(())
    }
}
