//! Dynamic plugins: find plugin libraries in directories and load them.
//!
//! Two kinds of library are understood (see `docs/plugins.md`):
//!
//! - **Rust plugin libraries** (cdylibs built with `reallm_plugin_api::export_plugin!`), any
//!   number of plugins of any kind, loaded through the checked abi_stable layer in
//!   `reallm_plugin_api::ffi` (interface version and type layouts are verified at load);
//! - **C-ABI backend libraries** implementing `plugin-api/include/reallm_backend.h`, kernel
//!   backends only, loaded with `libloading`.
//!
//! Where to look, in this order (each directory once): `--plugin-dir DIR` (repeatable),
//! `REALLM_PLUGIN_PATH` (platform path list, `:`-separated on Unix), `plugin_dirs` in the
//! config, and `plugins/` beside the `reallm` binary when it exists. Every file with the
//! platform's shared-library suffix (`.so`, `.dylib`, `.dll`) is tried, in name order; a file
//! reached twice (same directory listed twice, or a symlink) is loaded once.
//!
//! Loading a library runs its initialisers before any check can happen, and libraries are
//! never unloaded: a plugin directory is trusted code.
//!
//! This module only loads and describes; the registry merges the result with the built-ins
//! (and reports name collisions with both origins).

use reallm_plugin_api::ffi::op::{
    CAbiVersionFn, CBackendListFn, OwnedReallmDevice, ReallmBackendDesc, ReallmOp, C_ABI_VERSION, C_ERR_UNSUPPORTED, C_SYMBOL_LIST,
    C_SYMBOL_VERSION,
};
use reallm_plugin_api::ffi::{load_library, DynLibrary, LoadErrorKind};
use reallm_plugin_api::{BatchPolicy, Collective, DeviceSpec, Kernel, KernelBackend, ModelArch, Parallelism, PluginError, PluginKind};
use std::collections::HashSet;
use std::ffi::{c_char, c_void, CStr, CString, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Environment variable listing extra plugin directories.
pub const PLUGIN_PATH_ENV: &str = "REALLM_PLUGIN_PATH";

/// Builds a backend bound to a device.
pub type DynBackendCtor = Box<dyn Fn(&serde_json::Value, &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> + Send + Sync>;
/// Builds a model plugin.
pub type DynModelCtor = Box<dyn Fn(&serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError> + Send + Sync>;
/// Builds a parallelism plugin.
pub type DynParallelismCtor = Box<dyn Fn(&serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> + Send + Sync>;
/// Builds a batch policy.
pub type DynBatchingCtor = Box<dyn Fn(&serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError> + Send + Sync>;

/// How to build an instance of a dynamic plugin.
pub enum DynCtor {
    Backend(DynBackendCtor),
    Model(DynModelCtor),
    Parallelism(DynParallelismCtor),
    Batching(DynBatchingCtor),
}

impl DynCtor {
    /// The plugin kind this constructor builds.
    pub fn kind(&self) -> PluginKind {
        match self {
            DynCtor::Backend(_) => PluginKind::Backend,
            DynCtor::Model(_) => PluginKind::Model,
            DynCtor::Parallelism(_) => PluginKind::Parallelism,
            DynCtor::Batching(_) => PluginKind::Batching,
        }
    }
}

impl std::fmt::Debug for DynCtor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynCtor::{:?}", self.kind())
    }
}

/// One plugin found in a library: its description (owned) and its constructor.
#[derive(Debug)]
pub struct DynPlugin {
    pub kind: PluginKind,
    pub name: String,
    pub aliases: Vec<String>,
    /// The plugin's own version.
    pub version: String,
    pub summary: String,
    /// Example parameters, YAML.
    pub example_params: String,
    /// For model plugins: the model names it builds from `{preset: NAME}`.
    pub presets: Vec<String>,
    /// The library file it came from.
    pub origin: PathBuf,
    pub ctor: DynCtor,
}

/// A file or directory that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    pub path: PathBuf,
    /// One line, for a warning.
    pub reason: String,
    /// Everything known (may be long: the layout checker's report), for `--verbose`.
    pub detail: String,
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// What [`load_dirs`] found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub plugins: Vec<DynPlugin>,
    pub failures: Vec<LoadFailure>,
}

/// The plugin directories in search order: `cli_dirs`, then [`PLUGIN_PATH_ENV`], then
/// `config_dirs`, then `plugins/` beside the running binary (only if it exists). Duplicates
/// are dropped (first position wins); empty entries are ignored.
pub fn default_dirs(cli_dirs: &[PathBuf], config_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let beside = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|d| d.join("plugins"))).filter(|d| d.is_dir());
    dirs_from(cli_dirs, std::env::var_os(PLUGIN_PATH_ENV), config_dirs, beside)
}

/// [`default_dirs`] with its inputs explicit (for tests and for hosts with other defaults).
pub fn dirs_from(cli_dirs: &[PathBuf], env: Option<OsString>, config_dirs: &[PathBuf], beside_binary: Option<PathBuf>) -> Vec<PathBuf> {
    let env_dirs: Vec<PathBuf> = env.map(|v| std::env::split_paths(&v).collect()).unwrap_or_default();
    let mut out: Vec<PathBuf> = Vec::new();
    for d in cli_dirs.iter().cloned().chain(env_dirs).chain(config_dirs.iter().cloned()).chain(beside_binary) {
        if !d.as_os_str().is_empty() && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// True for file names with the platform's shared-library suffix.
pub fn is_library_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

/// Load every plugin library in `dirs`. Never fails as a whole: each unusable directory or
/// file becomes a [`LoadFailure`] (a warning for the caller; fatal only if the config then
/// names a plugin that is missing), and the rest still load.
pub fn load_dirs(dirs: &[PathBuf]) -> LoadReport {
    let mut report = LoadReport::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::NotFound {
                    "plugin directory does not exist".to_string()
                } else {
                    format!("plugin directory cannot be read: {e}")
                };
                report.failures.push(LoadFailure { path: dir.clone(), reason, detail: e.to_string() });
                continue;
            }
        };
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_library_file(p) && p.is_file()).collect();
        files.sort();
        for file in files {
            let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if !seen.insert(key) {
                log::debug!("{} already loaded; skipped", file.display());
                continue;
            }
            match load_file(&file) {
                Ok(mut plugins) => {
                    log::debug!("{}: {} plugin(s)", file.display(), plugins.len());
                    report.plugins.append(&mut plugins);
                }
                Err(f) => report.failures.push(f),
            }
        }
    }
    report
}

/// Load one library file: a Rust plugin library, else a C-ABI backend library.
pub fn load_file(path: &Path) -> Result<Vec<DynPlugin>, LoadFailure> {
    match load_library(path) {
        Ok(lib) => Ok(rust_plugins(lib)),
        Err(e) if e.kind == LoadErrorKind::NotAPlugin => load_c_library(path).map_err(|c| match c {
            CLoad::NoSymbol(detail) => LoadFailure {
                path: path.to_path_buf(),
                reason: "not a ReaLLM plugin: it exports neither a Rust plugin root module nor `reallm_backend_abi_version`".into(),
                detail: format!("{}\n{detail}", e.detail),
            },
            CLoad::Failed(f) => f,
        }),
        Err(e) => Err(LoadFailure { path: path.to_path_buf(), reason: e.reason, detail: e.detail }),
    }
}

fn rust_plugins(lib: DynLibrary) -> Vec<DynPlugin> {
    let lib = Arc::new(lib);
    lib.plugins()
        .iter()
        .map(|d| {
            let (l, name) = (Arc::clone(&lib), d.name.clone());
            let ctor = match d.kind {
                PluginKind::Backend => DynCtor::Backend(Box::new(move |p, dev| l.new_backend(&name, p, dev))),
                PluginKind::Model => DynCtor::Model(Box::new(move |p| l.new_model(&name, p))),
                PluginKind::Parallelism => DynCtor::Parallelism(Box::new(move |p| l.new_parallelism(&name, p))),
                PluginKind::Batching => DynCtor::Batching(Box::new(move |p| l.new_batching(&name, p))),
            };
            DynPlugin {
                kind: d.kind,
                name: d.name.clone(),
                aliases: d.aliases.clone(),
                version: d.version.clone(),
                summary: d.summary.clone(),
                example_params: d.example_params.clone(),
                presets: d.presets.clone(),
                origin: lib.path().to_path_buf(),
                ctor,
            }
        })
        .collect()
}

// ---- the C ABI (plugin-api/include/reallm_backend.h) ----

enum CLoad {
    /// Not a C backend library either (no version symbol).
    NoSymbol(String),
    Failed(LoadFailure),
}

/// Bytes of the error buffer handed to C functions.
const C_ERR_CAP: usize = 512;

fn c_str(p: *const c_char) -> Option<String> {
    // SAFETY: the header requires NUL-terminated strings that live as long as the library.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn c_err(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let msg = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if msg.is_empty() {
        "(no message)".into()
    } else {
        msg.lines().next().unwrap_or_default().to_string()
    }
}

fn load_c_library(path: &Path) -> Result<Vec<DynPlugin>, CLoad> {
    let fail = |reason: String| CLoad::Failed(LoadFailure { path: path.to_path_buf(), detail: reason.clone(), reason });
    // SAFETY: loading runs the library's initialisers; plugin directories are trusted code
    // (documented). abi_stable has already opened this file once, so this only adds a reference.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| fail(format!("not a loadable shared library: {e}")))?;
    // SAFETY: the symbol's type is fixed by reallm_backend.h.
    let version: CAbiVersionFn = match unsafe { lib.get::<CAbiVersionFn>(C_SYMBOL_VERSION) } {
        Ok(f) => *f,
        Err(e) => return Err(CLoad::NoSymbol(e.to_string())),
    };
    // SAFETY: as above; the function takes no arguments.
    let v = unsafe { version() };
    if v != C_ABI_VERSION {
        return Err(fail(format!(
            "incompatible C backend library: built for C ABI version {v}, this host implements version {C_ABI_VERSION}"
        )));
    }
    // SAFETY: the symbol's type is fixed by reallm_backend.h.
    let list: CBackendListFn = match unsafe { lib.get::<CBackendListFn>(C_SYMBOL_LIST) } {
        Ok(f) => *f,
        Err(e) => return Err(fail(format!("C backend library lacks `reallm_backend_list`: {e}"))),
    };
    let mut count = 0usize;
    // SAFETY: `list` writes the count and returns an array of that many descriptors.
    let descs = unsafe { list(&mut count) };
    if descs.is_null() && count > 0 {
        return Err(fail("`reallm_backend_list` returned no array".into()));
    }
    // Never unloaded: instances and descriptors point into it.
    std::mem::forget(lib);
    let mut plugins = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: `descs` has `count` elements (checked non-null above when count > 0).
        let d: ReallmBackendDesc = unsafe { *descs.add(i) };
        if (d.struct_size as usize) < std::mem::size_of::<ReallmBackendDesc>() {
            return Err(fail(format!(
                "backend descriptor {i} is {} bytes, expected {}",
                d.struct_size,
                std::mem::size_of::<ReallmBackendDesc>()
            )));
        }
        let name = c_str(d.name).filter(|n| !n.is_empty()).ok_or_else(|| fail(format!("backend descriptor {i} has no name")))?;
        let (Some(create), Some(cost)) = (d.create, d.cost) else {
            return Err(fail(format!("backend `{name}` lacks a `create` or `cost` function")));
        };
        let desc = Arc::new(CDesc { label: format!("plugin `{name}` (from {})", path.display()), create, cost, destroy: d.destroy });
        plugins.push(DynPlugin {
            kind: PluginKind::Backend,
            name,
            aliases: Vec::new(),
            version: c_str(d.version).unwrap_or_default(),
            summary: c_str(d.summary).unwrap_or_default(),
            example_params: c_str(d.example_params).unwrap_or_default(),
            presets: Vec::new(),
            origin: path.to_path_buf(),
            ctor: DynCtor::Backend(Box::new(move |params, device| c_create(&desc, params, device))),
        });
    }
    Ok(plugins)
}

type CCreateFn = unsafe extern "C" fn(*const c_char, *const reallm_plugin_api::ffi::ReallmDevice, *mut c_char, usize) -> *mut c_void;
type CCostFn = unsafe extern "C" fn(*mut c_void, *const ReallmOp, usize, *mut f64, *mut c_char, usize) -> i32;
type CDestroyFn = unsafe extern "C" fn(*mut c_void);

/// A backend descriptor of a C library (function pointers into the never-unloaded library).
struct CDesc {
    label: String,
    create: CCreateFn,
    cost: CCostFn,
    destroy: Option<CDestroyFn>,
}

fn c_create(desc: &Arc<CDesc>, params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let params_text = if params.is_null() { "{}".to_string() } else { params.to_string() };
    let params_c = CString::new(params_text).map_err(|_| PluginError::invalid("parameters contain a NUL byte"))?;
    let dev = OwnedReallmDevice::new(device)?;
    let mut err = [0u8; C_ERR_CAP];
    // SAFETY: arguments are valid for the call (NUL-terminated params, a device that outlives
    // it, an error buffer of the stated size), per reallm_backend.h.
    let inst = unsafe { (desc.create)(params_c.as_ptr(), dev.as_ptr(), err.as_mut_ptr().cast(), err.len()) };
    if inst.is_null() {
        return Err(PluginError::invalid(format!("{} could not be created: {}", desc.label, c_err(&err))));
    }
    Ok(Box::new(CBackend { desc: Arc::clone(desc), inst, lock: Mutex::new(()) }))
}

/// An instance of a C backend. Calls are serialised (the header promises the library that
/// no instance is used from two threads at once).
struct CBackend {
    desc: Arc<CDesc>,
    inst: *mut c_void,
    lock: Mutex<()>,
}

// SAFETY: the instance pointer is only used under `lock` (one thread at a time), which is
// what reallm_backend.h requires of the host.
unsafe impl Send for CBackend {}
// SAFETY: as above.
unsafe impl Sync for CBackend {}

impl CBackend {
    fn cost(&self, ops: &[ReallmOp], out: &mut [f64]) -> Result<(), PluginError> {
        debug_assert_eq!(ops.len(), out.len());
        let mut err = [0u8; C_ERR_CAP];
        let rc = {
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: `ops` and `out` hold `ops.len()` elements; the error buffer its size.
            unsafe { (self.desc.cost)(self.inst, ops.as_ptr(), ops.len(), out.as_mut_ptr(), err.as_mut_ptr().cast(), err.len()) }
        };
        match rc {
            0 => {}
            C_ERR_UNSUPPORTED => return Err(PluginError::unsupported(format!("{}: {}", self.desc.label, c_err(&err)))),
            _ => return Err(PluginError::invalid(format!("{} failed (code {rc}): {}", self.desc.label, c_err(&err)))),
        }
        if let Some((i, t)) = out.iter().enumerate().find(|(_, t)| !(t.is_finite() && **t >= 0.0)) {
            return Err(PluginError::invalid(format!("{} returned an invalid time {t} for op {i}", self.desc.label)));
        }
        Ok(())
    }
}

impl KernelBackend for CBackend {
    fn kernel_time(&self, kernel: &Kernel) -> Result<f64, PluginError> {
        let mut out = [0.0];
        self.cost(&[ReallmOp::from_kernel(kernel)], &mut out)?;
        Ok(out[0])
    }

    fn collective_time(&self, collective: &Collective) -> Result<f64, PluginError> {
        let mut out = [0.0];
        self.cost(&[ReallmOp::from_collective(collective)], &mut out)?;
        Ok(out[0])
    }

    fn kernel_times(&self, kernels: &[Kernel], out: &mut [f64]) -> Result<(), PluginError> {
        if kernels.len() != out.len() {
            return Err(PluginError::invalid(format!("kernel_times: {} kernels but {} output slots", kernels.len(), out.len())));
        }
        let ops: Vec<ReallmOp> = kernels.iter().map(ReallmOp::from_kernel).collect();
        self.cost(&ops, out)
    }
}

impl Drop for CBackend {
    fn drop(&mut self) {
        if let Some(destroy) = self.desc.destroy {
            // SAFETY: `inst` came from this descriptor's `create` and is released once.
            unsafe { destroy(self.inst) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_and_dedup() {
        let p = |s: &str| PathBuf::from(s);
        let env = Some(OsString::from("/env/a::/cli/b:/env/c"));
        let dirs = dirs_from(&[p("/cli/a"), p("/cli/b")], env, &[p("/cfg"), p("/env/a")], Some(p("/bin/plugins")));
        assert_eq!(dirs, vec![p("/cli/a"), p("/cli/b"), p("/env/a"), p("/env/c"), p("/cfg"), p("/bin/plugins")]);
        assert!(dirs_from(&[], None, &[], None).is_empty());
    }

    #[test]
    fn missing_directory_is_a_failure_not_a_panic() {
        let r = load_dirs(&[PathBuf::from("/nonexistent/reallm-plugins")]);
        assert!(r.plugins.is_empty());
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].reason, "plugin directory does not exist");
    }

    #[test]
    fn library_suffix() {
        let ext = std::env::consts::DLL_EXTENSION;
        assert!(is_library_file(Path::new(&format!("/x/libfoo.{ext}"))));
        assert!(!is_library_file(Path::new("/x/README.md")));
        assert!(!is_library_file(Path::new("/x/libfoo")));
    }
}
