//! Routers: which replica of a pool a new request goes to.
//!
//! A router is a [`Router`] implementation. The engine asks it once per request that enters a
//! pool with more than one replica, with a read-only [`ReplicaView`] of the pool's replicas
//! (load, KV memory, and how much of the request's prefix each one has cached) and the
//! engine's seeded random stream. The built-ins ([`build`]) are selected by name in configs
//! (`round_robin`, `least_outstanding`, `least_kv`, `random`, `kv_aware`), optionally wrapped
//! in [`SessionAffinity`]; a library user can install any other implementation on a pool with
//! [`Pool::set_router`](crate::Pool::set_router).

use crate::spec::{KvRouterSpec, Router as RouterKind};
use rand::{Rng, RngCore};
use rustc_hash::FxHashMap;

/// The request being placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteRequest {
    /// Arrival position (0, 1, 2, …).
    pub seq: u64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Its conversation, if the workload says.
    pub session: Option<u64>,
}

/// What a router may know of a pool's replicas (indices `0..len()` within the pool).
pub trait ReplicaView {
    /// Replicas in the pool (at least 1).
    fn len(&self) -> usize;
    /// No replica (never, for a pool the engine routes in).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Requests routed to replica `i` and not finished there.
    fn outstanding(&self, i: usize) -> u32;
    /// KV blocks replica `i` holds.
    fn kv_total_blocks(&self, i: usize) -> u64;
    /// KV blocks of replica `i` held by no request (free or cached-evictable).
    fn kv_free_blocks(&self, i: usize) -> u64;
    /// KV blocks replica `i`'s waiting requests need for their next step (O(queue)).
    fn queued_kv_blocks(&self, i: usize) -> u64;
    /// Prompt tokens replica `i`'s requests (waiting, or admitted and not through their
    /// prefill) still have to prefill.
    fn queued_prefill_tokens(&self, i: usize) -> u64;
    /// Tokens per KV block.
    fn kv_block_tokens(&self) -> u32;
    /// Tokens per cached block (the KV block without prefix caching).
    fn cache_block_tokens(&self) -> u32;
    /// Leading tokens of the request held in replica `i`'s GPU prefix cache (0 without
    /// caching; walks the cache, O(hit blocks)).
    fn cached_prefix_tokens(&self, i: usize) -> u64;
}

/// Places requests on replicas.
pub trait Router: Send {
    /// The router's name.
    fn name(&self) -> &str;
    /// The replica (`0..view.len()`) for `req`; `rng` is the run's seeded random stream.
    fn route(&mut self, req: &RouteRequest, view: &dyn ReplicaView, rng: &mut dyn RngCore) -> usize;
}

/// The built-in router `kind` (with `kv` weights for `kv_aware`), wrapped in
/// [`SessionAffinity`] when `session_affinity`.
pub fn build(kind: RouterKind, kv: KvRouterSpec, session_affinity: bool) -> Box<dyn Router> {
    let inner: Box<dyn Router> = match kind {
        RouterKind::RoundRobin => Box::new(RoundRobin::default()),
        RouterKind::LeastOutstanding => Box::new(LeastOutstanding),
        RouterKind::LeastKv => Box::new(LeastKv),
        RouterKind::Random => Box::new(RandomRouter),
        RouterKind::KvAware => Box::new(KvAware::new(kv)),
    };
    if session_affinity {
        Box::new(SessionAffinity::new(inner))
    } else {
        inner
    }
}

/// In turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Router for RoundRobin {
    fn name(&self) -> &str {
        "round_robin"
    }
    fn route(&mut self, _: &RouteRequest, view: &dyn ReplicaView, _: &mut dyn RngCore) -> usize {
        let i = self.next % view.len();
        self.next = (i + 1) % view.len();
        i
    }
}

/// Fewest outstanding requests (ties: lowest index).
#[derive(Debug, Default)]
pub struct LeastOutstanding;

impl Router for LeastOutstanding {
    fn name(&self) -> &str {
        "least_outstanding"
    }
    fn route(&mut self, _: &RouteRequest, view: &dyn ReplicaView, _: &mut dyn RngCore) -> usize {
        (0..view.len()).min_by_key(|&i| (view.outstanding(i), i)).expect("replicas")
    }
}

/// Most free KV blocks after what its queued requests will need (ties: lowest index).
#[derive(Debug, Default)]
pub struct LeastKv;

impl Router for LeastKv {
    fn name(&self) -> &str {
        "least_kv"
    }
    fn route(&mut self, _: &RouteRequest, view: &dyn ReplicaView, _: &mut dyn RngCore) -> usize {
        (0..view.len()).min_by_key(|&i| (u64::MAX - view.kv_free_blocks(i).saturating_sub(view.queued_kv_blocks(i)), i)).expect("replicas")
    }
}

/// Uniformly at random.
#[derive(Debug, Default)]
pub struct RandomRouter;

impl Router for RandomRouter {
    fn name(&self) -> &str {
        "random"
    }
    fn route(&mut self, _: &RouteRequest, view: &dyn ReplicaView, rng: &mut dyn RngCore) -> usize {
        rng.random_range(0..view.len())
    }
}

/// Dynamo's KV router cost (`lib/llm/src/kv_router/scheduler.rs`, `DefaultWorkerSelector`), in
/// cached blocks of `B` tokens: for replica `i`,
///
/// ```text
/// prefill_blocks_i = ⌈(queued prefill tokens_i + prompt − cached prefix tokens_i) / B⌉
/// active_blocks_i  = KV blocks in use_i × (KV block tokens / B) + ⌈prompt / B⌉
/// cost_i           = overlap_score_weight × prefill_blocks_i + load_weight × active_blocks_i
/// ```
///
/// Temperature 0 takes the lowest cost (ties in turn, so that an idle pool is filled evenly);
/// above 0 it samples `i` with probability ∝ `exp(−c_i / T)`, `c` the costs scaled to [0, 1].
#[derive(Debug)]
pub struct KvAware {
    spec: KvRouterSpec,
    next: usize,
    costs: Vec<f64>,
}

impl KvAware {
    /// A KV-aware router with weights `spec`.
    pub fn new(spec: KvRouterSpec) -> KvAware {
        KvAware { spec, next: 0, costs: Vec::new() }
    }

    /// The costs of the last call, per replica (for tests and reports).
    pub fn last_costs(&self) -> &[f64] {
        &self.costs
    }
}

impl Router for KvAware {
    fn name(&self) -> &str {
        "kv_aware"
    }
    fn route(&mut self, req: &RouteRequest, view: &dyn ReplicaView, rng: &mut dyn RngCore) -> usize {
        let n = view.len();
        let b = view.cache_block_tokens().max(1) as f64;
        let kv_b = view.kv_block_tokens() as f64;
        let prompt = req.prompt_tokens as f64;
        self.costs.clear();
        for i in 0..n {
            let cached = view.cached_prefix_tokens(i) as f64;
            let prefill = ((view.queued_prefill_tokens(i) as f64 + prompt - cached).max(0.0) / b).ceil();
            let active = (view.kv_total_blocks(i) - view.kv_free_blocks(i)) as f64 * kv_b / b + (prompt / b).ceil();
            self.costs.push(self.spec.overlap_score_weight * prefill + self.spec.load_weight * active);
        }
        let start = self.next % n;
        self.next = (start + 1) % n;
        if self.spec.temperature > 0.0 {
            let (lo, hi) = self.costs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| (a.min(c), b.max(c)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let w: Vec<f64> = self.costs.iter().map(|&c| (-(c - lo) / span / self.spec.temperature).exp()).collect();
            let total: f64 = w.iter().sum();
            let mut x = rng.random::<f64>() * total;
            for (i, wi) in w.iter().enumerate() {
                if x < *wi {
                    return i;
                }
                x -= wi;
            }
            return n - 1;
        }
        let mut best = start;
        for k in 1..n {
            let i = (start + k) % n;
            if self.costs[i] < self.costs[best] {
                best = i;
            }
        }
        best
    }
}

/// Every request of a conversation goes to the replica its first request went to; the first
/// (and requests without a session) go where the inner router says (llm-d's session affinity).
pub struct SessionAffinity {
    inner: Box<dyn Router>,
    sessions: FxHashMap<u64, usize>,
    name: String,
}

impl SessionAffinity {
    /// Affinity on top of `inner`.
    pub fn new(inner: Box<dyn Router>) -> SessionAffinity {
        let name = format!("{}+session_affinity", inner.name());
        SessionAffinity { inner, sessions: FxHashMap::default(), name }
    }
}

impl Router for SessionAffinity {
    fn name(&self) -> &str {
        &self.name
    }
    fn route(&mut self, req: &RouteRequest, view: &dyn ReplicaView, rng: &mut dyn RngCore) -> usize {
        let Some(s) = req.session else { return self.inner.route(req, view, rng) };
        if let Some(&i) = self.sessions.get(&s) {
            if i < view.len() {
                return i;
            }
        }
        let i = self.inner.route(req, view, rng);
        self.sessions.insert(s, i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A pool described by plain numbers.
    struct Fake {
        outstanding: Vec<u32>,
        used: Vec<u64>,
        cached: Vec<u64>,
        queued: Vec<u64>,
    }

    impl ReplicaView for Fake {
        fn len(&self) -> usize {
            self.outstanding.len()
        }
        fn outstanding(&self, i: usize) -> u32 {
            self.outstanding[i]
        }
        fn kv_total_blocks(&self, _: usize) -> u64 {
            1000
        }
        fn kv_free_blocks(&self, i: usize) -> u64 {
            1000 - self.used[i]
        }
        fn queued_kv_blocks(&self, _: usize) -> u64 {
            0
        }
        fn queued_prefill_tokens(&self, i: usize) -> u64 {
            self.queued[i]
        }
        fn kv_block_tokens(&self) -> u32 {
            16
        }
        fn cache_block_tokens(&self) -> u32 {
            64
        }
        fn cached_prefix_tokens(&self, i: usize) -> u64 {
            self.cached[i]
        }
    }

    fn req(session: Option<u64>) -> RouteRequest {
        RouteRequest { seq: 0, prompt_tokens: 640, session }
    }

    #[test]
    fn kv_aware_costs_by_hand() {
        // Replica 0: 128 cached tokens (2 blocks), 64 KV blocks in use (= 16 cached blocks).
        // Replica 1: nothing cached, idle. Request: 640 tokens = 10 blocks.
        let view = Fake { outstanding: vec![1, 0], used: vec![64, 0], cached: vec![128, 0], queued: vec![0, 0] };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut r = KvAware::new(KvRouterSpec::default());
        // cost0 = (10 − 2) + (16 + 10) = 34; cost1 = 10 + 10 = 20.
        assert_eq!(r.route(&req(None), &view, &mut rng), 1);
        assert_eq!(r.last_costs(), &[34.0, 20.0]);
        // Weighting overlap 4×: cost0 = 32 + 26 = 58, cost1 = 40 + 10 = 50: still 1; at 10×:
        // 80 + 26 = 106 vs 100 + 10 = 110: replica 0.
        let mut r = KvAware::new(KvRouterSpec { overlap_score_weight: 10.0, ..KvRouterSpec::default() });
        assert_eq!(r.route(&req(None), &view, &mut rng), 0);
        assert_eq!(r.last_costs(), &[106.0, 110.0]);
    }

    #[test]
    fn ties_go_in_turn_and_sessions_stick() {
        let view = Fake { outstanding: vec![0; 3], used: vec![0; 3], cached: vec![0; 3], queued: vec![0; 3] };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut r = KvAware::new(KvRouterSpec::default());
        let picks: Vec<usize> = (0..4).map(|_| r.route(&req(None), &view, &mut rng)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0]);
        let mut a = build(RouterKind::RoundRobin, KvRouterSpec::default(), true);
        let s: Vec<usize> = [Some(7), Some(8), Some(7), None, Some(8)].iter().map(|&s| a.route(&req(s), &view, &mut rng)).collect();
        assert_eq!(s, vec![0, 1, 0, 2, 1]);
    }
}
