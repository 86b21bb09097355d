//! Workloads: the shipped Azure traces, trace generation, and trace files.

pub mod azure;
pub mod generate;
pub mod jsonl;
pub mod source;
pub mod synth;
pub mod trace;

pub use trace::Request;
