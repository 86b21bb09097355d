//! The cost layer: what one iteration of a pool costs, from the model graph the plugins build
//! and the backend's kernel and collective times, with caches that make repeated shapes cheap.
//!
//! * [`CostModel`]: one pool's model, parallelism passes and backend, with a cost cache keyed
//!   by kernel / collective value and a memo of decode-only steps ([`memo`]).
//! * [`memory_plan`]: weights, reserve and KV capacity per device ([`MemoryPlan`]).

mod cache;
mod memo;
mod memory;

pub use cache::{CostModel, Pass};
pub use memory::{kv_bytes_per_token_per_device, memory_plan, memory_plan_with, weight_bytes_per_device, DraftFootprint, MemoryPlan};

use reallm_plugin_api::KernelKind;

/// Number of kinds of work an iteration's time is broken down into: every kernel kind, then
/// communication.
pub const N_WORK_KINDS: usize = KernelKind::ALL.len() + 1;

/// Index of communication in [`StepCost::by_kind_s`].
pub const COMM_KIND: usize = KernelKind::ALL.len();

/// Name of work kind `i` (kernel kinds, then `communication`).
pub fn work_kind_name(i: usize) -> &'static str {
    KernelKind::ALL.get(i).map(|k| k.name()).unwrap_or("communication")
}

/// Cost of one iteration, broken down.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepCost {
    /// Wall time of the iteration (all stages in sequence), seconds.
    pub total_s: f64,
    /// Kernel time, seconds.
    pub compute_s: f64,
    /// Collective time, seconds.
    pub comm_s: f64,
    /// FLOPs executed per device (summed over stages).
    pub flops: f64,
    /// DRAM bytes moved per device (summed over stages).
    pub bytes: f64,
    /// Time by kind of work, seconds: index [`KernelKind::index`] for kernels, [`COMM_KIND`]
    /// for collectives.
    pub by_kind_s: [f64; N_WORK_KINDS],
}

/// What an iteration record keeps of its [`StepCost`]: the totals, not the breakdown by kind
/// (a run's breakdown is in its running totals; 40 bytes instead of 160 for each of the up to
/// 100,000 records a run keeps for its timeline).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterationCost {
    /// Wall time of the iteration, seconds.
    pub total_s: f64,
    /// Kernel time, seconds.
    pub compute_s: f64,
    /// Collective time, seconds.
    pub comm_s: f64,
    /// FLOPs executed per device.
    pub flops: f64,
    /// DRAM bytes moved per device.
    pub bytes: f64,
}

impl From<&StepCost> for IterationCost {
    fn from(c: &StepCost) -> Self {
        IterationCost { total_s: c.total_s, compute_s: c.compute_s, comm_s: c.comm_s, flops: c.flops, bytes: c.bytes }
    }
}

impl StepCost {
    /// Add `o`'s time, work and breakdown to this one (work that runs after it).
    pub fn add(&mut self, o: &StepCost) {
        self.total_s += o.total_s;
        self.compute_s += o.compute_s;
        self.comm_s += o.comm_s;
        self.flops += o.flops;
        self.bytes += o.bytes;
        for (a, b) in self.by_kind_s.iter_mut().zip(&o.by_kind_s) {
            *a += b;
        }
    }
}
