//! [`Pool`]: one pool of replicas as the engine runs it, assembled from built plugins and a spec.

use crate::cost::{memory_plan_with, CostModel, DraftFootprint, MemoryPlan};
use crate::error::{Result, SimError};
use crate::spec::PoolSpec;
use crate::spec_decode::{check_verification_support, footprint};
use reallm_plugin_api::{BatchPolicy, BatchShape, DeviceSpec};

/// The parts a pool is assembled from (the host builds them from a configuration).
pub struct PoolParts {
    /// What the pool is and how it runs.
    pub spec: PoolSpec,
    /// The device's short name (preset key or file stem), for reports.
    pub device_key: String,
    /// The device.
    pub device: DeviceSpec,
    /// The model, plan and backend.
    pub cost: CostModel,
    /// The batch policy.
    pub policy: Box<dyn BatchPolicy>,
    /// The batch policy's name, for reports and errors.
    pub policy_name: String,
    /// The speculative-decoding drafter (an MTP or EAGLE head, or a draft model) when
    /// `spec.spec_decode` names a method that has one; `None` otherwise.
    pub drafter: Option<CostModel>,
}

/// One pool, ready to run: its spec, cost model, batch policy and memory plan.
pub struct Pool {
    /// What the pool is and how it runs.
    pub spec: PoolSpec,
    /// The device's short name.
    pub device_key: String,
    /// The device.
    pub device: DeviceSpec,
    /// The model, plan and backend, with their caches.
    pub cost: CostModel,
    /// The batch policy.
    pub policy: Box<dyn BatchPolicy>,
    /// The batch policy's name.
    pub policy_name: String,
    /// Weights, reserve and KV capacity per device (the drafter's included).
    pub memory: MemoryPlan,
    /// The speculative-decoding drafter, with its own plan and caches.
    pub drafter: Option<CostModel>,
    /// Scratch of the drafter's single-token passes.
    pub(crate) draft_shape: BatchShape,
    pub(crate) draft_stage_s: Vec<f64>,
}

impl Pool {
    /// Assemble a pool; fails when the model does not fit the device under the plan.
    pub fn new(parts: PoolParts) -> Result<Pool> {
        let PoolParts { spec, device_key, device, cost, policy, policy_name, drafter } = parts;
        let mut draft = DraftFootprint::default();
        match (&spec.spec_decode, &drafter) {
            (Some(sd), _) => {
                check_verification_support(cost.model.as_ref())?;
                match (sd.method.needs_drafter(), &drafter) {
                    (true, None) => {
                        return Err(SimError::Infeasible(format!(
                            "speculative decoding method `{}` needs a drafter model",
                            sd.method.name()
                        )))
                    }
                    (false, Some(_)) => {
                        return Err(SimError::Infeasible(format!(
                            "speculative decoding method `{}` runs no drafter, but one was given",
                            sd.method.name()
                        )))
                    }
                    (true, Some(d)) => {
                        check_verification_support(d.model.as_ref())?;
                        draft = footprint(d);
                    }
                    (false, None) => {}
                }
            }
            (None, Some(_)) => return Err(SimError::Infeasible("a drafter was given without speculative decoding".into())),
            (None, None) => {}
        }
        let memory = memory_plan_with(&cost.info, &cost.plan, &spec.memory, &device_key, device.mem_capacity_bytes, draft)?;
        Ok(Pool {
            spec,
            device_key,
            device,
            cost,
            policy,
            policy_name,
            memory,
            drafter,
            draft_shape: BatchShape::default(),
            draft_stage_s: Vec::new(),
        })
    }

    /// Dense matrix peak of one device for the model's weight dtype, FLOP/s.
    pub fn peak_flops_per_device(&self) -> f64 {
        self.device.peak_matmul_flops_for(self.cost.info.weight_dtype)
    }

    /// Pipeline stages of a replica.
    pub fn stages(&self) -> usize {
        self.cost.plan.attention.pp.max(1) as usize
    }
}
