//! The engine's side of prefix caching: each live request's block keys and the cached blocks
//! it holds, the cache lookup at admission, registration of computed blocks, release, and the
//! view routers see.
//!
//! * **Keys.** A request's content ids (workload blocks of `H` tokens) are chained at arrival
//!   ([`PrefixState::set`]); cached block `j` (tokens `[jC, (j+1)C)`) gets the key of the chain
//!   at the content block holding its last token, mixed with `j`. Tokens the ids do not cover
//!   (the answer, unless the workload knows it) get keys unique to the request, so a request
//!   preempted by recompute still finds its own blocks.
//! * **Lookup** (vLLM `get_computed_blocks`): at admission of a request holding no KV, the
//!   longest run of cached blocks from block 0, across tiers, capped at `⌊(n − 1)/C⌋` blocks of
//!   the `n` tokens to prefill (the last token is always computed). The request starts with
//!   `prefilled` = hit tokens: the batch shape's chunk then has `prefix` = those tokens
//!   (attention reads them) and only the rest is computed.
//! * **Registration** (vLLM caches blocks when it schedules their tokens): every full block a
//!   scheduled step covers is cached at once, so a request admitted later in the same step
//!   already hits it.
//! * **Release**: held cached blocks are released tail first; the request's other blocks are
//!   freed.

use super::{Engine, Replica};
use crate::kv::prefix::{block_key, chain_key, mix, CHAIN_ROOT};
use crate::kv::{EntryId, KvPool, PrefixCache, SharedTier, Tier, N_TIERS};
use crate::request::Request;
use crate::router::{ReplicaView, RouteRequest};
use reallm_plugin_api::RequestState;

/// One live request's prefix-cache state (indexed by its slot; buffers are reused).
#[derive(Debug, Default)]
pub(super) struct PrefixState {
    /// Chain key of each content block.
    chain: Vec<u64>,
    /// Tokens per content block.
    content_tokens: u64,
    /// Tokens the content ids describe.
    covered: u64,
    /// Seed of the keys of tokens the ids do not describe.
    salt: u64,
    /// Cached blocks held, for blocks `0..refs.len()` (in the replica the request is on).
    pub refs: Vec<EntryId>,
}

impl PrefixState {
    /// Start tracking request `r`, the `seq`-th arrival.
    pub fn set(&mut self, r: &Request, seq: u64) {
        self.chain.clear();
        self.refs.clear();
        self.salt = mix(seq ^ 0xA11C_E5EE_D5A1_7000);
        self.content_tokens = 1;
        self.covered = 0;
        if let Some(b) = &r.blocks {
            if b.block_tokens > 0 {
                self.content_tokens = b.block_tokens as u64;
                self.covered = (b.tokens as u64).min(b.ids.len() as u64 * b.block_tokens as u64);
                let mut h = CHAIN_ROOT;
                for &id in b.ids.iter() {
                    h = chain_key(h, id);
                    self.chain.push(h);
                }
            }
        }
    }

    /// Key of cached block `j` of `c` tokens.
    #[inline]
    pub fn key(&self, j: u64, c: u64) -> u64 {
        let end = (j + 1) * c;
        if end <= self.covered {
            block_key(self.chain[((end - 1) / self.content_tokens) as usize], j)
        } else {
            block_key(self.salt, j)
        }
    }
}

/// Where the blocks of a lookup's hit are.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Hit {
    /// Blocks hit (the walk's length).
    pub blocks: u64,
    /// Of which in GPU memory.
    pub gpu: u64,
    /// Of which in GPU memory and evictable (free until taken).
    pub gpu_evictable: u64,
}

/// The longest cached prefix of `ps` (at most `max_blocks` blocks of `c` tokens) in `cache`
/// and below it in `cluster`; fills `out` with each block's entry (`u32::MAX` for the cluster
/// tier) and tier.
pub(super) fn walk(
    cache: &PrefixCache,
    cluster: Option<&SharedTier>,
    ps: &PrefixState,
    c: u64,
    max_blocks: u64,
    out: &mut Vec<(EntryId, Tier)>,
) -> Hit {
    out.clear();
    let mut hit = Hit::default();
    for j in 0..max_blocks {
        let key = ps.key(j, c);
        match cache.get(key) {
            Some((id, t)) => {
                if t == Tier::Gpu {
                    hit.gpu += 1;
                    hit.gpu_evictable += cache.is_evictable(id) as u64;
                }
                out.push((id, t));
            }
            None if cluster.is_some_and(|s| s.contains(key)) => out.push((u32::MAX, Tier::Cluster)),
            None => break,
        }
    }
    hit.blocks = out.len() as u64;
    hit
}

/// Cached blocks whose tokens a request with `tokens` tokens to prefill may take from the
/// cache: the last token is always computed.
#[inline]
pub(super) fn max_hit_blocks(tokens: u32, c: u64) -> u64 {
    (tokens.saturating_sub(1) as u64) / c
}

/// Take the hit `walk` (found by [`walk`]) for a request: hold its GPU blocks, bring lower-tier
/// and cluster blocks into GPU memory, allocate `new_blocks` more KV blocks. The caller checked
/// that the pool can give them. Adds the loaded tokens per tier to `load_tokens`.
#[allow(clippy::too_many_arguments)]
pub(super) fn take_hit(
    kv: &mut KvPool,
    cluster: Option<&mut SharedTier>,
    ps: &mut PrefixState,
    walked: &[(EntryId, Tier)],
    c: u64,
    new_blocks: u64,
    load_tokens: &mut [u64; N_TIERS],
) {
    ps.refs.clear();
    let mut cluster = cluster;
    for (j, &(id, t)) in walked.iter().enumerate() {
        match t {
            Tier::Gpu => kv.reference(id),
            Tier::Host | Tier::Ssd => kv.prefix.as_mut().expect("cache").promote(id),
            Tier::Cluster => {
                let key = ps.key(j as u64, c);
                if let Some(s) = cluster.as_deref_mut() {
                    s.touch(key);
                }
                let id = kv.prefix.as_mut().expect("cache").insert_loaded(key);
                ps.refs.push(id);
                load_tokens[t.index()] += c;
                continue;
            }
        }
        if t != Tier::Gpu {
            load_tokens[t.index()] += c;
        }
        ps.refs.push(id);
    }
    let ok = kv.try_alloc(new_blocks);
    debug_assert!(ok, "admission checked the free blocks");
}

/// Cache every full block of the first `tokens` tokens not cached yet (the request holds their
/// KV blocks).
#[inline]
pub(super) fn register_upto(kv: &mut KvPool, ps: &mut PrefixState, c: u64, tokens: u64) {
    let upto = tokens / c;
    while (ps.refs.len() as u64) < upto {
        let j = ps.refs.len() as u64;
        let id = kv.register(ps.key(j, c));
        ps.refs.push(id);
    }
}

/// Give back every KV block a request holds: cached ones are released (tail first) and stay
/// cached, the rest are freed.
#[inline]
pub(super) fn release(kv: &mut KvPool, ps: Option<&mut PrefixState>, q: &mut RequestState) {
    let mut held = 0;
    if let Some(ps) = ps {
        if !ps.refs.is_empty() {
            for &id in ps.refs.iter().rev() {
                kv.release(id);
            }
            held = ps.refs.len() as u64 * kv.prefix.as_ref().expect("cache").kv_per_block();
            ps.refs.clear();
        }
    }
    kv.free(q.kv_blocks as u64 - held);
    q.kv_blocks = 0;
}

/// A pool's replicas as a router sees them.
pub(super) struct PoolView<'a> {
    pub replicas: &'a [Replica],
    /// The request's keys, when the pool caches prefixes.
    pub ps: Option<&'a PrefixState>,
    /// Full cached blocks of the request's prompt.
    pub prompt_blocks: u64,
    pub cache_tokens: u32,
    pub kv_tokens: u32,
}

impl ReplicaView for PoolView<'_> {
    fn len(&self) -> usize {
        self.replicas.len()
    }
    fn outstanding(&self, i: usize) -> u32 {
        self.replicas[i].outstanding
    }
    fn kv_total_blocks(&self, i: usize) -> u64 {
        self.replicas[i].kv.total_blocks
    }
    fn kv_free_blocks(&self, i: usize) -> u64 {
        self.replicas[i].kv.free_blocks
    }
    fn queued_kv_blocks(&self, i: usize) -> u64 {
        let r = &self.replicas[i];
        r.waiting.iter().map(|q| r.kv.blocks_for(q.context_after(1) as u64)).sum()
    }
    fn queued_prefill_tokens(&self, i: usize) -> u64 {
        let p = self.replicas[i].pending_prefill;
        debug_assert!(p >= 0, "pending prefill below zero");
        p.max(0) as u64
    }
    fn kv_block_tokens(&self) -> u32 {
        self.kv_tokens
    }
    fn cache_block_tokens(&self) -> u32 {
        self.cache_tokens
    }
    fn cached_prefix_tokens(&self, i: usize) -> u64 {
        let (Some(ps), Some(cache)) = (self.ps, self.replicas[i].kv.prefix.as_ref()) else { return 0 };
        let c = self.cache_tokens as u64;
        let mut j = 0;
        while j < self.prompt_blocks && cache.in_gpu(ps.key(j, c)) {
            j += 1;
        }
        j * c
    }
}

impl Engine<'_> {
    /// Place a request on a replica (global index) of `pool`; `slot` names its prefix state
    /// when the pool caches prefixes.
    pub(super) fn route(&mut self, pool: usize, req: RouteRequest, slot: Option<usize>) -> usize {
        let (first, n) = self.pool_replicas[pool];
        if n == 1 {
            return first;
        }
        let p = &mut self.pools[pool];
        let c = p.cache_block_tokens();
        let view = PoolView {
            replicas: &self.replicas[first..first + n],
            ps: slot.map(|s| &self.prefix[s]),
            prompt_blocks: req.prompt_tokens as u64 / c as u64,
            cache_tokens: c,
            kv_tokens: p.spec.memory.block_tokens,
        };
        let i = p.router.route(&req, &view, &mut self.rng);
        first + i.min(n - 1)
    }

    /// The prefix-cache hit a new arrival on replica `rep` would get now, in tokens (the
    /// policy sees it as prefill progress; admission looks again).
    pub(super) fn hint(&mut self, rep: usize, slot: usize, q: &RequestState) -> u32 {
        let pool = self.replicas[rep].pool;
        let c = self.pools[pool].cache_block_tokens() as u64;
        let Some(cache) = self.replicas[rep].kv.prefix.as_ref() else { return 0 };
        let hit = walk(cache, self.cluster[pool].as_ref(), &self.prefix[slot], c, max_hit_blocks(q.prefill_target(), c), &mut self.walked);
        (hit.blocks * c) as u32
    }

    /// Hand blocks replica `r` pushed out of its lowest local tier to the pool's cluster tier.
    #[inline]
    pub(super) fn drain_spill(&mut self, r: usize) {
        let pool = self.replicas[r].pool;
        let (Some(cache), Some(shared)) = (self.replicas[r].kv.prefix.as_mut(), self.cluster[pool].as_mut()) else { return };
        for key in cache.spill.drain(..) {
            shared.insert(key);
        }
    }

    /// Seconds the lower-tier loads of the current step take, over each tier's link:
    /// (latencies, transfer time), each tier's `latency + tokens × KV bytes per token per
    /// device / bandwidth per device`, tiers one after another.
    pub(super) fn tier_load_s(&self, pool: usize) -> (f64, f64) {
        let p = &self.pools[pool];
        let pc = &p.spec.prefix_cache;
        let per_tok = p.memory.kv_bytes_per_token_per_device as f64;
        let (mut lat, mut full) = (0.0, 0.0);
        for (t, spec) in [(Tier::Host, pc.host), (Tier::Ssd, pc.ssd), (Tier::Cluster, pc.cluster)] {
            let tokens = self.load_tokens[t.index()];
            if let (true, Some(s)) = (tokens > 0, spec) {
                lat += s.latency_s;
                full += tokens as f64 * per_tok / s.bandwidth_bytes_per_s;
            }
        }
        (lat, full)
    }
}
