//! Placing a request on a replica of a pool.

use super::Engine;
use crate::spec::Router;
use rand::Rng;

impl Engine<'_> {
    /// Pick a replica (global index) of `pool` for a new request.
    pub(super) fn route(&mut self, pool: usize) -> usize {
        let (first, n) = self.pool_replicas[pool];
        if n == 1 {
            return first;
        }
        let idx = match self.pools[pool].spec.router {
            Router::RoundRobin => {
                let i = self.rr_next[pool];
                self.rr_next[pool] = (i + 1) % n;
                i
            }
            Router::LeastOutstanding => (0..n).min_by_key(|&i| (self.replicas[first + i].outstanding, i)).expect("n > 0"),
            Router::LeastKv => (0..n)
                .min_by_key(|&i| {
                    let r = &self.replicas[first + i];
                    // Most free blocks, counting what queued requests will need.
                    let queued: u64 = r.waiting.iter().map(|q| r.kv.blocks_for(q.context_after(1) as u64)).sum();
                    (u64::MAX - r.kv.free_blocks.saturating_sub(queued), i)
                })
                .expect("n > 0"),
            Router::Random => self.rng.random_range(0..n),
        };
        first + idx
    }
}
