//! [`Pool`]: one pool of replicas as the engine runs it, assembled from built plugins and a spec.

use crate::cost::{memory_plan, CostModel, MemoryPlan};
use crate::error::Result;
use crate::spec::PoolSpec;
use reallm_plugin_api::{BatchPolicy, DeviceSpec};

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
    /// Weights, reserve and KV capacity per device.
    pub memory: MemoryPlan,
}

impl Pool {
    /// Assemble a pool; fails when the model does not fit the device under the plan.
    pub fn new(parts: PoolParts) -> Result<Pool> {
        let PoolParts { spec, device_key, device, cost, policy, policy_name } = parts;
        let memory = memory_plan(&cost.info, &cost.plan, &spec.memory, &device_key, device.mem_capacity_bytes)?;
        Ok(Pool { spec, device_key, device, cost, policy, policy_name, memory })
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
