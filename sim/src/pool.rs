//! [`Pool`]: one pool of replicas as the engine runs it, assembled from built plugins and a spec.

use crate::cost::{memory_plan, CostModel, MemoryPlan};
use crate::error::{Result, SimError};
use crate::kv::EvictionPolicy;
use crate::router::{self, Router};
use crate::spec::{PoolSpec, Role};
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
    /// Places requests on the replicas (built from `spec.router`; see [`Pool::set_router`]).
    pub router: Box<dyn Router>,
    /// Makes each replica's prefix-cache eviction policy, when not the built-in the spec names
    /// ([`Pool::set_eviction_policy`]).
    pub eviction: Option<EvictionFactory>,
}

/// Makes one replica's eviction policy.
pub type EvictionFactory = Box<dyn Fn() -> Box<dyn EvictionPolicy> + Send>;

impl Pool {
    /// Assemble a pool; fails when the model does not fit the device under the plan.
    pub fn new(parts: PoolParts) -> Result<Pool> {
        let PoolParts { spec, device_key, device, cost, policy, policy_name } = parts;
        let memory = memory_plan(&cost.info, &cost.plan, &spec.memory, &device_key, device.mem_capacity_bytes)?;
        let pc = &spec.prefix_cache;
        if pc.enabled {
            let (c, b) = (pc.block_tokens, spec.memory.block_tokens);
            if c != 0 && (c < b || c % b != 0) {
                return Err(SimError::Infeasible(format!(
                    "{} pool: prefix-cache blocks of {c} tokens must be a multiple of the KV block ({b} tokens)",
                    spec.role.name()
                )));
            }
            if spec.role == Role::Decode {
                return Err(SimError::Infeasible(
                    "decode pool: prefix caching applies to pools that prefill (colocated or prefill); the decode pool receives whole KV caches".into(),
                ));
            }
        }
        let router = router::build(spec.router, spec.kv_router, spec.session_affinity);
        Ok(Pool { spec, device_key, device, cost, policy, policy_name, memory, router, eviction: None })
    }

    /// Place this pool's requests with `router` instead of the built-in one the spec names.
    pub fn set_router(&mut self, router: Box<dyn Router>) {
        self.router = router;
    }

    /// Evict cached blocks in the order of policies `make` builds (one per replica) instead of
    /// the built-in `spec.prefix_cache.eviction`.
    pub fn set_eviction_policy(&mut self, make: EvictionFactory) {
        self.eviction = Some(make);
    }

    /// A new eviction policy for one replica.
    pub fn new_eviction_policy(&self) -> Box<dyn EvictionPolicy> {
        match &self.eviction {
            Some(make) => make(),
            None => crate::kv::evict::build(self.spec.prefix_cache.eviction),
        }
    }

    /// Tokens per prefix-cache block (the KV block unless configured).
    pub fn cache_block_tokens(&self) -> u32 {
        match self.spec.prefix_cache.block_tokens {
            0 => self.spec.memory.block_tokens,
            c => c,
        }
    }

    /// Whether this pool caches prefixes.
    pub fn caches_prefixes(&self) -> bool {
        self.spec.prefix_cache.enabled && self.spec.role != Role::Decode
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
