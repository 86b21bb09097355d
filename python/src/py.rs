//! The PyO3 bindings: `reallm._reallm`. Thin: each function converts its arguments, runs the
//! matching [`api`] function with the GIL released, and turns a [`reallm::Error`] into the
//! exception of its class (`reallm._errors`: the CLI's message, and its exit code as
//! `exit_code`). The Python layer (`reallm/__init__.py`) normalises arguments and builds
//! DataFrames.

use crate::api::{self, ConfigSource, RunOptions, Values};
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use reallm::error::Error;
use reallm::report::files::Timeline;
use reallm::sweep::Axis;
use reallm_sim::Observer;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a long run looks for Ctrl-C (and other Python signals).
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The exception for a host error: its class in `reallm._errors`, the CLI's message, the exit
/// code and the error's fields as attributes.
fn to_py(e: Error) -> PyErr {
    Python::attach(|py| match make_exception(py, &e) {
        Ok(err) => err,
        Err(err) => err,
    })
}

fn make_exception(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    if matches!(e, Error::Interrupted) {
        return Ok(PyKeyboardInterrupt::new_err("interrupted"));
    }
    let class = match e {
        Error::Usage(_) => "UsageError",
        Error::Config { .. } => "ConfigError",
        Error::Input { .. } => "InputError",
        Error::Plugin { .. } => "PluginError",
        Error::Infeasible(_) => "InfeasibleError",
        Error::Io { .. } => "IoError",
        Error::Internal(_) | Error::Interrupted => "InternalError",
    };
    let errors = py.import("reallm._errors")?;
    let exc = errors.getattr(class)?.call1((e.to_string(),))?;
    exc.setattr("exit_code", e.exit_code())?;
    match e {
        Error::Config { origin, message } => {
            exc.setattr("origin", origin)?;
            let key = message.strip_prefix("key `").and_then(|r| r.split_once('`')).map(|(k, _)| k.to_string());
            exc.setattr("key", key)?;
        }
        Error::Input { path, .. } => exc.setattr("path", path)?,
        Error::Io { path, .. } => exc.setattr("path", path.display().to_string())?,
        Error::Plugin { plugin, .. } => exc.setattr("plugin", plugin)?,
        _ => {}
    }
    Ok(PyErr::from_value(exc))
}

/// Run `f`, a panic becoming [`Error::Internal`] (the binary's exit code 70).
fn guarded<T>(f: impl FnOnce() -> reallm::Result<T>) -> reallm::Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        Err(Error::Internal(msg))
    })
}

fn source(kind: &str, value: Option<String>, origin: Option<String>) -> PyResult<ConfigSource> {
    Ok(match (kind, value) {
        ("default", _) => ConfigSource::Default,
        ("path", Some(p)) => ConfigSource::Path(PathBuf::from(p)),
        ("text", Some(t)) => ConfigSource::Text { text: t, origin: origin.unwrap_or_else(|| "<string>".into()) },
        _ => return Err(PyValueError::new_err(format!("config source `{kind}`: expected default, path or text with a value"))),
    })
}

fn timeline(s: &str) -> PyResult<Timeline> {
    match s {
        "auto" => Ok(Timeline::Auto),
        "always" => Ok(Timeline::Always),
        "never" => Ok(Timeline::Never),
        other => Err(PyValueError::new_err(format!("timeline `{other}`: expected auto, always or never"))),
    }
}

/// Looks for Python signals (Ctrl-C) every [`SIGNAL_CHECK_INTERVAL`], taking the GIL only
/// then; a pending exception (KeyboardInterrupt) stops the run and is kept to be raised.
struct SignalCheck {
    calls: u32,
    last: Instant,
    err: Option<PyErr>,
}

impl SignalCheck {
    fn new() -> Self {
        SignalCheck { calls: 0, last: Instant::now(), err: None }
    }
}

impl Observer for SignalCheck {
    fn progress(&mut self, _: f64, _: u64, _: Option<u64>) -> bool {
        self.calls = self.calls.wrapping_add(1);
        if !self.calls.is_multiple_of(64) || self.last.elapsed() < SIGNAL_CHECK_INTERVAL {
            return true;
        }
        self.last = Instant::now();
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => true,
            Err(e) => {
                self.err = Some(e);
                false
            }
        }
    }
}

/// One simulation's result (wrapped by `reallm.Result`).
#[pyclass(module = "reallm._reallm", name = "SimRun")]
struct SimRun {
    run: api::Run,
}

fn columns<'py>(py: Python<'py>, t: api::Table) -> PyResult<Bound<'py, PyList>> {
    let cols = PyList::empty(py);
    for c in t {
        let (kind, values) = match c.values {
            Values::Int(v) => ("int", PyList::new(py, v)?),
            Values::Float(v) => ("float", PyList::new(py, v)?),
            Values::Bool(v) => ("bool", PyList::new(py, v)?),
        };
        let name = c.name.into_pyobject(py)?.into_any();
        cols.append(PyTuple::new(py, [name, kind.into_pyobject(py)?.into_any(), values.into_any()])?)?;
    }
    Ok(cols)
}

#[pymethods]
impl SimRun {
    /// `summary.json`'s content, as JSON text.
    #[getter]
    fn summary_json(&self) -> &str {
        &self.run.summary_json
    }

    /// The trace simulated.
    #[getter]
    fn trace(&self) -> String {
        self.run.trace.display().to_string()
    }

    /// The trace's name in results.
    #[getter]
    fn trace_name(&self) -> &str {
        &self.run.trace_name
    }

    /// Where the result files were written (None when nothing was written).
    #[getter]
    fn results_dir(&self) -> Option<String> {
        self.run.results_dir.as_ref().map(|d| d.display().to_string())
    }

    /// The table `reallm sim` prints.
    fn summary_table(&self) -> String {
        self.run.summary_table()
    }

    /// `requests.csv` as [(column, kind, values)], kind `int`, `float` or `bool`.
    fn requests_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        columns(py, self.run.requests_table())
    }

    /// `iterations.csv` as [(column, kind, values)].
    fn iterations_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        columns(py, self.run.iterations_table().map_err(to_py)?)
    }
}

/// Simulate the config's first trace (see `reallm.simulate`).
#[pyfunction]
#[pyo3(signature = (kind, value, origin, overrides, workspace=None, write=false, output_dir=None, trace=None, timeline="auto"))]
#[allow(clippy::too_many_arguments)]
fn simulate(
    py: Python<'_>,
    kind: &str,
    value: Option<String>,
    origin: Option<String>,
    overrides: Vec<String>,
    workspace: Option<PathBuf>,
    write: bool,
    output_dir: Option<PathBuf>,
    trace: Option<PathBuf>,
    timeline: &str,
) -> PyResult<SimRun> {
    let src = source(kind, value, origin)?;
    let opts = RunOptions { workspace, write, output_dir, trace, timeline: self::timeline(timeline)? };
    let (r, obs) = py.detach(|| {
        let mut obs = SignalCheck::new();
        let r = guarded(|| {
            let exp = api::load_experiment(&src, &overrides)?;
            api::simulate(&exp, &opts, Some(&mut obs))
        });
        (r, obs)
    });
    match (r, obs.err) {
        (Ok(run), _) => Ok(SimRun { run }),
        (Err(Error::Interrupted), Some(sig)) => Err(sig),
        (Err(e), _) => Err(to_py(e)),
    }
}

/// Run a grid sweep; returns `{"columns": [...], "rows": [[...], ...]}` as JSON text (see
/// `reallm.sweep`).
#[pyfunction]
#[pyo3(signature = (kind, value, origin, overrides, axes, workspace=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn sweep(
    py: Python<'_>,
    kind: &str,
    value: Option<String>,
    origin: Option<String>,
    overrides: Vec<String>,
    axes: Vec<(String, Vec<String>)>,
    workspace: Option<PathBuf>,
    threads: Option<usize>,
) -> PyResult<String> {
    let src = source(kind, value, origin)?;
    let axes: Vec<Axis> = axes.into_iter().map(|(key, values)| Axis { key, values }).collect();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    if threads == 0 {
        return Err(to_py(Error::Usage("threads: expected at least 1".into())));
    }
    let stop = AtomicBool::new(false);
    let (r, sig) = py.detach(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let stop = &stop;
            let (src, overrides, axes, workspace) = (&src, &overrides, &axes, &workspace);
            s.spawn(move || {
                let _ = tx.send(guarded(|| api::sweep(src, overrides, axes, workspace.as_deref(), threads, stop)));
            });
            // The runs go on in worker threads; this (the caller's) thread watches for Ctrl-C,
            // which Python delivers to the main thread only.
            let mut sig = None;
            loop {
                match rx.recv_timeout(SIGNAL_CHECK_INTERVAL) {
                    Ok(r) => return (r, sig),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if sig.is_none() {
                            if let Err(e) = Python::attach(|py| py.check_signals()) {
                                sig = Some(e);
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return (Err(Error::Internal("the sweep thread ended without a result".into())), sig)
                    }
                }
            }
        })
    });
    if let Some(sig) = sig {
        return Err(sig);
    }
    let rows = r.map_err(to_py)?;
    // Columns and rows (not objects: JSON objects here do not keep their key order).
    let mut columns: Vec<String> = vec!["point".into()];
    columns.extend(axes.iter().map(|a| a.key.clone()));
    columns.push("trace".into());
    columns.extend(reallm::sweep::METRICS.iter().map(|(name, _)| name.to_string()));
    let out: Vec<Vec<serde_json::Value>> = rows
        .iter()
        .map(|row| {
            let mut cells: Vec<serde_json::Value> = vec![row.point.into()];
            cells.extend(row.values.iter().map(|v| reallm::config::yaml::parse_value(v)));
            cells.push(row.trace.clone().into());
            cells.extend(api::sweep_metrics(&row.summary).into_iter().map(|(_, v)| v));
            cells
        })
        .collect();
    serde_json::to_string(&serde_json::json!({ "columns": columns, "rows": out })).map_err(|e| to_py(Error::Internal(e.to_string())))
}

/// `reallm kernel-time --json`; returns JSON text (see `reallm.kernel_time`).
#[pyfunction]
#[pyo3(signature = (device, op, shape, backend="roofline", dtype="bf16", algo="auto", scale_out=false, params=None))]
#[allow(clippy::too_many_arguments)]
fn kernel_time(
    py: Python<'_>,
    device: String,
    op: String,
    shape: Vec<u64>,
    backend: &str,
    dtype: &str,
    algo: &str,
    scale_out: bool,
    params: Option<String>,
) -> PyResult<String> {
    let args = reallm::cli::KernelTimeArgs {
        device,
        backend: backend.to_string(),
        params,
        op,
        shape,
        dtype: dtype.to_string(),
        algo: algo.to_string(),
        scale_out,
        json: true,
    };
    let v = py.detach(|| guarded(|| api::kernel_time(&args))).map_err(to_py)?;
    Ok(v.to_string())
}

/// The plugin registry as JSON text (see `reallm.plugins`).
#[pyfunction]
fn plugins() -> String {
    api::plugins().to_string()
}

/// The `reallm` command line in this process; returns its exit code (`python -m reallm`).
#[pyfunction]
fn cli_main(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(|| api::cli_main(args))
}

#[pymodule]
fn _reallm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<SimRun>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_time, m)?)?;
    m.add_function(wrap_pyfunction!(plugins, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
