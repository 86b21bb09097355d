//! The host's error type and its documented exit codes (`docs/exit-codes.md`).

use std::path::PathBuf;

/// Exit codes, one per failure class.
pub mod exit {
    pub const OK: i32 = 0;
    /// Bad command line (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// The configuration is invalid (syntax, unknown key, bad value, inconsistent plan).
    pub const CONFIG: i32 = 3;
    /// An input data file is invalid (trace CSV, device JSON, model config).
    pub const INPUT: i32 = 4;
    /// A plugin could not be found, loaded or built, or it failed.
    pub const PLUGIN: i32 = 5;
    /// The experiment cannot run (e.g. the model does not fit in device memory).
    pub const INFEASIBLE: i32 = 6;
    /// Reading or writing a file failed.
    pub const IO: i32 = 7;
    /// A bug in ReaLLM (any panic).
    pub const INTERNAL: i32 = 70;
    /// Interrupted by Ctrl-C (SIGINT): 128 + 2, the shell convention.
    pub const INTERRUPTED: i32 = 130;
}

/// Every failure the host reports; [`Error::exit_code`] maps each to its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("config {origin}: {message}")]
    Config { origin: String, message: String },
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("plugin `{plugin}`: {message}")]
    Plugin { plugin: String, message: String },
    #[error("infeasible: {0}")]
    Infeasible(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("internal error (please report): {0}")]
    Internal(String),
    /// Stopped by Ctrl-C; finished results were kept, unfinished ones removed.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Config { .. } => exit::CONFIG,
            Error::Input { .. } => exit::INPUT,
            Error::Plugin { .. } => exit::PLUGIN,
            Error::Infeasible(_) => exit::INFEASIBLE,
            Error::Io { .. } => exit::IO,
            Error::Internal(_) => exit::INTERNAL,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }

    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { origin: origin.into(), message: message.into() }
    }
    pub fn input(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Input { path: path.into(), message: message.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn plugin(plugin: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Plugin { plugin: plugin.into(), message: e.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<reallm_sim::SimError> for Error {
    fn from(e: reallm_sim::SimError) -> Self {
        match e {
            reallm_sim::SimError::Plugin { plugin, message } => Error::Plugin { plugin, message },
            reallm_sim::SimError::Infeasible(m) => Error::Infeasible(m),
            reallm_sim::SimError::Interrupted => Error::Interrupted,
        }
    }
}
