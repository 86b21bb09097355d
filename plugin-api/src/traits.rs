//! The four plugin traits. Each is narrow and takes plain data, so that it can be carried
//! across a stable ABI by an adapter without changing what implementers write.

use crate::batch::{BatchPlan, Limits, ScheduleHints, SchedulerView};
use crate::error::PluginError;
use crate::kernel::{Collective, Kernel};
use crate::model::{BatchShape, ModelGraph, ModelInfo};
use crate::parallel::ParallelPlan;

/// Costs kernels and collectives on one device (the instance is bound to a device when it is
/// created). Pure: the same input gives the same time.
pub trait KernelBackend: Send + Sync {
    /// Seconds one launch of `kernel` takes.
    fn kernel_time(&self, kernel: &Kernel) -> Result<f64, PluginError>;

    /// Seconds one collective takes on the device's interconnect.
    fn collective_time(&self, collective: &Collective) -> Result<f64, PluginError>;

    /// Whether the host should cache this backend's answers by shape (default true). A
    /// backend whose formula is cheaper than a hash-map lookup (the roofline) returns false.
    fn wants_cache(&self) -> bool {
        true
    }

    /// Batched form, one call per iteration: `out[i]` = time of `kernels[i]`.
    fn kernel_times(&self, kernels: &[Kernel], out: &mut [f64]) -> Result<(), PluginError> {
        for (k, o) in kernels.iter().zip(out.iter_mut()) {
            *o = self.kernel_time(k)?;
        }
        Ok(())
    }
}

/// Describes a model: its dimensions and footprint, and the logical kernels of one step.
pub trait ModelArch: Send + Sync {
    /// The model's dimensions, footprint and data types.
    fn info(&self) -> &ModelInfo;

    /// Fill `graph` (cleared by the caller) with one stage holding the logical, unsharded
    /// work of a forward step over `batch`.
    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError>;
}

/// One parallelism scheme: validates a plan against a model and rewrites a step's work into
/// per-device work plus the collectives the scheme needs. Schemes compose: the host applies
/// each scheme whose degree in the plan exceeds one, in a fixed order.
pub trait Parallelism: Send + Sync {
    /// Check the plan against the model. Returns notes to show the user (for example, that KV
    /// heads are replicated because TP exceeds them).
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError>;

    /// Rewrite `graph` in place.
    fn apply(&self, model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError>;
}

/// Chooses the next iteration's batch from a read-only view of the queues and memory.
pub trait BatchPolicy: Send + Sync {
    /// Fill `plan` (cleared by the caller). The host admits waiting entries in plan order,
    /// checking KV memory, and runs the iteration.
    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan);

    /// [`BatchPolicy::schedule`] that can fail, like the other traits' methods; the engine
    /// calls this one. The default calls `schedule` and never fails, so a 1.0 policy keeps
    /// working unchanged; a policy that can fail (or an adapter for one in a library)
    /// overrides it. Added in 1.1.
    fn try_schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) -> Result<(), PluginError> {
        self.schedule(view, plan);
        Ok(())
    }

    /// [`BatchPolicy::try_schedule`] with what the host knows about the queues
    /// ([`ScheduleHints`]); the engine calls this one. A policy may use the hints to skip
    /// scans (the plan must be the one `try_schedule` would make). The default ignores them.
    /// Added in 1.1.
    fn try_schedule_hinted(&self, view: &SchedulerView<'_>, hints: &ScheduleHints, plan: &mut BatchPlan) -> Result<(), PluginError> {
        let _ = hints;
        self.try_schedule(view, plan)
    }

    /// A promise that lets the engine skip asking: the largest number `n` of running requests
    /// for which, whenever no request waits and every running request is decoding (nothing
    /// left to prefill, at least one token generated), [`BatchPolicy::schedule`] plans every
    /// running request, in admission order, one token each, whatever the time and the KV view.
    /// The engine then forms such iterations itself (the steady decode of a busy replica) and
    /// calls `schedule` only when the queues change shape. The default, 0, promises nothing,
    /// so a policy that does not override it is asked every iteration. Added in 1.1.
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        let _ = limits;
        0
    }
}
