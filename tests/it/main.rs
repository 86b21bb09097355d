//! ReaLLM's integration tests: one test binary, one module per area.

mod cli;
mod compat;
mod determinism;
mod dynamic;
mod engine;
mod errors;
mod registry;
mod reliability;
mod reports;
mod search;
mod serving;
mod support;
mod sweeps;
