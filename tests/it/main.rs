//! ReaLLM's integration tests: one test binary, one module per area.

mod architecture;
mod benchmarks;
mod cli;
mod compat;
mod determinism;
mod dynamic;
mod engine;
mod errors;
mod prefix;
mod registry;
mod reliability;
mod reports;
mod search;
mod serving;
mod spec_decode;
mod support;
mod sweeps;
