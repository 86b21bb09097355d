//! Workloads: the shipped Azure traces, trace generation, and trace files.

pub mod azure;
pub mod generate;
pub mod source;
pub mod trace;

pub use trace::Request;
