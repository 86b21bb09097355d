//! ReaLLM's host: configuration, the plugin registry, workloads, the discrete-event engine,
//! metrics and outputs. The `reallm` binary (`main.rs`) is a thin shell over [`run`].
//!
//! Architecture: `docs/ARCHITECTURE.md`.

// `!(x > 0.0)` is used on purpose throughout input validation: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod assemble;
pub mod cli;
pub mod commands;
pub mod config;
pub mod devices;
pub mod engines;
pub mod error;
pub mod interrupt;
pub mod kernel_library;
pub mod loader;
pub mod model_import;
pub mod output;
pub mod registry;
pub mod report;
pub mod search;
pub mod stages;
pub mod sweep;
pub mod validate;
pub mod validate_aic;
pub mod workload;

pub use commands::run;
pub use error::{Error, Result};
/// The simulation core, re-exported: `reallm::sim::metrics::Summary`, `reallm::sim::Pool`, ...
pub use reallm_sim as sim;
pub use reallm_sim::metrics;
