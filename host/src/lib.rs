//! ReaLLM's host: configuration, the plugin registry, workloads, the discrete-event engine,
//! metrics and outputs. The `reallm` binary (`main.rs`) is a thin shell over [`run`].
//!
//! Architecture: `docs/ARCHITECTURE.md`.

// `!(x > 0.0)` is used on purpose throughout input validation: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod devices;
pub mod engine;
pub mod error;
pub mod kernel_stage;
pub mod loader;
pub mod metrics;
pub mod output;
pub mod registry;
pub mod report;
pub mod sweep;
pub mod validate;
pub mod validate_aic;
pub mod workload;

pub use commands::run;
pub use error::{Error, Result};
