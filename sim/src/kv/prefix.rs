//! Prefix caching: KV blocks identified by the hash chain of their prefix, kept after their
//! request finishes until evicted, and moved down a hierarchy of offload tiers (host memory,
//! local SSD, a cluster-shared pool) instead of vanishing.
//!
//! Model (vLLM v1's automatic prefix caching, `vllm/v1/core/kv_cache_utils.py` and
//! `block_pool.py`):
//!
//! * A cached block covers `block_tokens` tokens and is identified by a 64-bit key that hashes
//!   its own content and its whole prefix (see [`chain_key`] and [`block_key`]); only full
//!   blocks are cached.
//! * A block held by a running request has a reference count; when the last holder releases
//!   it, it stays cached but counts as **free** (an evictable block): allocation takes plain
//!   free blocks first and evicts cached ones on demand, in the order of an
//!   [`EvictionPolicy`]. So cache capacity is whatever running requests leave, as in vLLM and
//!   SGLang.
//! * An evicted block moves to the next enabled tier below (host, then SSD); one pushed out of
//!   the lowest local tier goes to the cluster tier if there is one ([`PrefixCache::spill`]),
//!   else it is dropped. Tiers are exclusive: a block lives in one local tier at a time (a hit
//!   in a lower tier moves it back to GPU memory); the cluster tier keeps its copy on a hit.

use super::evict::{BlockMeta, EntryId, EvictionPolicy, IdList};
use rustc_hash::FxHashMap;

/// Where a cached block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Device (GPU) memory.
    Gpu = 0,
    /// Host memory of the replica.
    Host = 1,
    /// Local SSD of the replica.
    Ssd = 2,
    /// The pool's cluster-shared tier.
    Cluster = 3,
}

/// Number of tiers.
pub const N_TIERS: usize = 4;

impl Tier {
    /// Every tier, top down.
    pub const ALL: [Tier; N_TIERS] = [Tier::Gpu, Tier::Host, Tier::Ssd, Tier::Cluster];

    /// Index in per-tier arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Gpu => "gpu",
            Tier::Host => "host",
            Tier::Ssd => "ssd",
            Tier::Cluster => "cluster",
        }
    }
}

/// A 64-bit mixer (SplitMix64's finaliser): the keys are well spread, so the maps need no
/// further hashing quality.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The chain key of a content block: its parent's chain key and its own content id.
#[inline]
pub fn chain_key(parent: u64, id: u64) -> u64 {
    mix(parent.rotate_left(29) ^ mix(id))
}

/// Chain key before the first block.
pub const CHAIN_ROOT: u64 = 0x5EED_CAC4_E000_0001;

/// The key of cached block `j` whose last token lies in the content block of chain key
/// `chain`: equal for two requests iff their content agrees up to the end of block `j`.
#[inline]
pub fn block_key(chain: u64, j: u64) -> u64 {
    mix(chain ^ mix(j.wrapping_add(0xB10C)))
}

/// Counters of one replica's cache (and, for the cluster tier, of the pool's shared tier).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefixStats {
    /// Admissions that looked the cache up.
    pub lookups: u64,
    /// Tokens those admissions had to prefill (prompt, plus recomputed output after a
    /// preemption).
    pub lookup_tokens: u64,
    /// Full cached blocks those admissions could have hit (`⌊(tokens − 1) / block⌋` each: the
    /// last token is always computed).
    pub lookup_blocks: u64,
    /// Blocks hit, by tier.
    pub hit_blocks: [u64; N_TIERS],
    /// Tokens served from the cache instead of prefilled, by tier.
    pub hit_tokens: [u64; N_TIERS],
    /// Blocks that left each tier to make room (moved down, or dropped from the lowest).
    pub evicted_blocks: [u64; N_TIERS],
    /// Blocks dropped from the cache hierarchy altogether.
    pub dropped_blocks: u64,
    /// Blocks written into each tier from the tier above (offload traffic); GPU: 0.
    pub offloaded_blocks: [u64; N_TIERS],
    /// Blocks read from each lower tier back into GPU memory (load traffic).
    pub loaded_blocks: [u64; N_TIERS],
    /// Blocks cached (registered) in GPU memory after being computed.
    pub inserted_blocks: u64,
}

impl PrefixStats {
    /// Add `o` into `self`.
    pub fn add(&mut self, o: &PrefixStats) {
        self.lookups += o.lookups;
        self.lookup_tokens += o.lookup_tokens;
        self.lookup_blocks += o.lookup_blocks;
        self.dropped_blocks += o.dropped_blocks;
        self.inserted_blocks += o.inserted_blocks;
        for t in 0..N_TIERS {
            self.hit_blocks[t] += o.hit_blocks[t];
            self.hit_tokens[t] += o.hit_tokens[t];
            self.evicted_blocks[t] += o.evicted_blocks[t];
            self.offloaded_blocks[t] += o.offloaded_blocks[t];
            self.loaded_blocks[t] += o.loaded_blocks[t];
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    tier: Tier,
    /// Running requests holding it (GPU blocks only).
    refs: u32,
    hits: u32,
    cached_seq: u64,
}

/// How a computed block was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// A new cached block, holding the request's own KV blocks.
    New(EntryId),
    /// The same content was already cached in GPU memory (another request computed it at the
    /// same time): the request now holds that block, and its own copy is freed.
    Existing(EntryId),
}

/// A local offload tier: capacity in cached blocks and an LRU list.
struct LowerTier {
    capacity: u64,
    list: IdList,
}

/// One replica's cached blocks: GPU memory and the local offload tiers. The GPU part shares
/// the replica's KV pool ([`super::KvPool`] owns one and keeps its free count).
pub struct PrefixCache {
    map: FxHashMap<u64, EntryId>,
    entries: Vec<Entry>,
    free_ids: Vec<EntryId>,
    policy: Box<dyn EvictionPolicy>,
    /// Tokens per cached block.
    block_tokens: u32,
    /// KV blocks per cached block.
    kv_per_block: u64,
    /// GPU blocks held by no request.
    evictable: u64,
    /// GPU blocks cached (held or evictable).
    gpu_blocks: u64,
    /// Host, SSD.
    lower: [LowerTier; 2],
    cached_seq: u64,
    release_seq: u64,
    /// Keys pushed out of the lowest local tier, for the cluster tier (when `spill_enabled`).
    pub spill: Vec<u64>,
    spill_enabled: bool,
    /// Counters.
    pub stats: PrefixStats,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache")
            .field("policy", &self.policy.name())
            .field("block_tokens", &self.block_tokens)
            .field("gpu_blocks", &self.gpu_blocks)
            .field("evictable", &self.evictable)
            .field("host_blocks", &self.lower[0].list.len())
            .field("ssd_blocks", &self.lower[1].list.len())
            .finish()
    }
}

impl PrefixCache {
    /// A cache of blocks of `block_tokens` tokens, each `kv_per_block` KV blocks, evicting in
    /// `policy`'s order, with local tiers holding `host_blocks` and `ssd_blocks` cached blocks
    /// (0: no such tier); `spill` sends blocks leaving the lowest local tier to a cluster tier.
    pub fn new(
        block_tokens: u32,
        kv_per_block: u64,
        policy: Box<dyn EvictionPolicy>,
        host_blocks: u64,
        ssd_blocks: u64,
        spill: bool,
    ) -> Self {
        PrefixCache {
            map: FxHashMap::default(),
            entries: Vec::new(),
            free_ids: Vec::new(),
            policy,
            block_tokens,
            kv_per_block: kv_per_block.max(1),
            evictable: 0,
            gpu_blocks: 0,
            lower: [LowerTier { capacity: host_blocks, list: IdList::new() }, LowerTier { capacity: ssd_blocks, list: IdList::new() }],
            cached_seq: 0,
            release_seq: 0,
            spill: Vec::new(),
            spill_enabled: spill,
            stats: PrefixStats::default(),
        }
    }

    /// Tokens per cached block.
    pub fn block_tokens(&self) -> u32 {
        self.block_tokens
    }

    /// KV blocks per cached block.
    pub fn kv_per_block(&self) -> u64 {
        self.kv_per_block
    }

    /// Cached GPU blocks held by no request (they count as free KV memory).
    pub fn evictable_blocks(&self) -> u64 {
        self.evictable
    }

    /// Cached GPU blocks (held or not).
    pub fn gpu_blocks(&self) -> u64 {
        self.gpu_blocks
    }

    /// Cached blocks in a local tier.
    pub fn tier_blocks(&self, t: Tier) -> u64 {
        match t {
            Tier::Gpu => self.gpu_blocks,
            Tier::Host => self.lower[0].list.len() as u64,
            Tier::Ssd => self.lower[1].list.len() as u64,
            Tier::Cluster => 0,
        }
    }

    /// The eviction policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Where block `key` is cached locally, if it is.
    #[inline]
    pub fn get(&self, key: u64) -> Option<(EntryId, Tier)> {
        self.map.get(&key).map(|&id| (id, self.entries[id as usize].tier))
    }

    /// Whether block `key` is in GPU memory.
    #[inline]
    pub fn in_gpu(&self, key: u64) -> bool {
        self.map.get(&key).is_some_and(|&id| self.entries[id as usize].tier == Tier::Gpu)
    }

    /// Whether `id` is held by no request (evictable).
    pub fn is_evictable(&self, id: EntryId) -> bool {
        let e = &self.entries[id as usize];
        e.tier == Tier::Gpu && e.refs == 0
    }

    fn new_entry(&mut self, key: u64, tier: Tier, refs: u32) -> EntryId {
        let e = Entry { key, tier, refs, hits: 0, cached_seq: self.cached_seq };
        self.cached_seq += 1;
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.entries[id as usize] = e;
                id
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as EntryId
            }
        };
        self.map.insert(key, id);
        id
    }

    fn drop_entry(&mut self, id: EntryId) {
        let key = self.entries[id as usize].key;
        self.map.remove(&key);
        self.free_ids.push(id);
    }

    /// A request takes GPU block `id` (a hit): returns whether it was evictable (the pool's
    /// free count then drops by a block's KV blocks).
    pub fn reference(&mut self, id: EntryId) -> bool {
        let e = &mut self.entries[id as usize];
        debug_assert_eq!(e.tier, Tier::Gpu);
        e.hits = e.hits.saturating_add(1);
        e.refs += 1;
        if e.refs == 1 {
            self.policy.remove(id);
            self.evictable -= 1;
            return true;
        }
        false
    }

    /// A request lets go of GPU block `id`: returns whether it became evictable (free).
    pub fn release(&mut self, id: EntryId) -> bool {
        let e = &mut self.entries[id as usize];
        debug_assert!(e.refs > 0 && e.tier == Tier::Gpu, "releasing a block not held");
        e.refs -= 1;
        if e.refs == 0 {
            let meta = BlockMeta { hits: e.hits, cached_seq: e.cached_seq, release_seq: self.release_seq };
            self.release_seq += 1;
            self.policy.insert(id, meta);
            self.evictable += 1;
            return true;
        }
        false
    }

    /// Move lower-tier block `id` back to GPU memory, held by one request (the caller
    /// allocates its KV blocks). Counts the load.
    pub fn promote(&mut self, id: EntryId) {
        let t = self.entries[id as usize].tier;
        debug_assert!(t == Tier::Host || t == Tier::Ssd);
        self.lower[t.index() - 1].list.unlink(id);
        self.stats.loaded_blocks[t.index()] += 1;
        let e = &mut self.entries[id as usize];
        e.tier = Tier::Gpu;
        e.refs = 1;
        e.hits = e.hits.saturating_add(1);
        self.gpu_blocks += 1;
    }

    /// A block fetched from the cluster tier, now in GPU memory and held by one request (the
    /// caller allocates its KV blocks).
    pub fn insert_loaded(&mut self, key: u64) -> EntryId {
        debug_assert!(!self.map.contains_key(&key));
        self.gpu_blocks += 1;
        self.stats.loaded_blocks[Tier::Cluster.index()] += 1;
        self.new_entry(key, Tier::Gpu, 1)
    }

    /// A request computed block `key` (holding its KV blocks): cache it. A copy already in GPU
    /// memory is shared instead ([`Registered::Existing`]: the caller frees its own blocks and
    /// the pool's free count must account for `reference`'s answer, returned as the flag); a
    /// copy in a lower tier is replaced by the fresh one.
    pub fn register(&mut self, key: u64) -> (Registered, bool) {
        if let Some(&id) = self.map.get(&key) {
            match self.entries[id as usize].tier {
                Tier::Gpu => {
                    let was_free = self.reference(id);
                    return (Registered::Existing(id), was_free);
                }
                t => {
                    self.lower[t.index() - 1].list.unlink(id);
                    let e = &mut self.entries[id as usize];
                    e.tier = Tier::Gpu;
                    e.refs = 1;
                    self.gpu_blocks += 1;
                    self.stats.inserted_blocks += 1;
                    return (Registered::New(id), false);
                }
            }
        }
        self.gpu_blocks += 1;
        self.stats.inserted_blocks += 1;
        (Registered::New(self.new_entry(key, Tier::Gpu, 1)), false)
    }

    /// Evict one evictable GPU block (policy order) to the tier below; `false` if none.
    pub fn evict_one(&mut self) -> bool {
        let Some(id) = self.policy.pop() else { return false };
        self.evictable -= 1;
        self.gpu_blocks -= 1;
        self.demote(id, Tier::Gpu);
        true
    }

    /// Block `id` leaves tier `from`: to the next enabled local tier (evicting that tier's
    /// least recently used block if it is full), else to the cluster tier or nowhere.
    fn demote(&mut self, id: EntryId, from: Tier) {
        self.stats.evicted_blocks[from.index()] += 1;
        let below = match from {
            Tier::Gpu => [Tier::Host, Tier::Ssd].into_iter().find(|t| self.lower[t.index() - 1].capacity > 0),
            Tier::Host => (self.lower[1].capacity > 0).then_some(Tier::Ssd),
            _ => None,
        };
        match below {
            Some(t) => {
                let l = &mut self.lower[t.index() - 1];
                self.entries[id as usize].tier = t;
                l.list.push_back(id);
                self.stats.offloaded_blocks[t.index()] += 1;
                if l.list.len() as u64 > l.capacity {
                    let v = l.list.pop_front().expect("over capacity");
                    self.demote(v, t);
                }
            }
            None => {
                if self.spill_enabled {
                    self.spill.push(self.entries[id as usize].key);
                } else {
                    self.stats.dropped_blocks += 1;
                }
                self.drop_entry(id);
            }
        }
    }
}

/// The cluster-shared tier of a pool: every replica spills into it and reads from it over the
/// scale-out network. Capacity in cached blocks, LRU.
#[derive(Debug)]
pub struct SharedTier {
    map: FxHashMap<u64, u32>,
    keys: Vec<u64>,
    free_ids: Vec<u32>,
    list: IdList,
    capacity: u64,
    /// Counters: `offloaded_blocks[Cluster]` (written in), `evicted_blocks[Cluster]`,
    /// `dropped_blocks`.
    pub stats: PrefixStats,
}

impl SharedTier {
    /// A shared tier of `capacity` cached blocks.
    pub fn new(capacity: u64) -> SharedTier {
        SharedTier {
            map: FxHashMap::default(),
            keys: Vec::new(),
            free_ids: Vec::new(),
            list: IdList::new(),
            capacity,
            stats: PrefixStats::default(),
        }
    }

    /// Whether block `key` is held.
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        self.map.contains_key(&key)
    }

    /// Blocks held.
    pub fn len(&self) -> u64 {
        self.list.len() as u64
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// A hit on `key`: it becomes the most recently used.
    pub fn touch(&mut self, key: u64) {
        if let Some(&id) = self.map.get(&key) {
            self.list.unlink(id);
            self.list.push_back(id);
        }
    }

    /// Store `key` (written from a replica's lowest tier), evicting the least recently used
    /// block when full.
    pub fn insert(&mut self, key: u64) {
        if self.capacity == 0 {
            self.stats.dropped_blocks += 1;
            return;
        }
        self.stats.offloaded_blocks[Tier::Cluster.index()] += 1;
        if let Some(&id) = self.map.get(&key) {
            self.list.unlink(id);
            self.list.push_back(id);
            return;
        }
        if self.list.len() as u64 >= self.capacity {
            let v = self.list.pop_front().expect("full");
            self.map.remove(&self.keys[v as usize]);
            self.free_ids.push(v);
            self.stats.evicted_blocks[Tier::Cluster.index()] += 1;
            self.stats.dropped_blocks += 1;
        }
        let id = match self.free_ids.pop() {
            Some(id) => {
                self.keys[id as usize] = key;
                id
            }
            None => {
                self.keys.push(key);
                (self.keys.len() - 1) as u32
            }
        };
        self.map.insert(key, id);
        self.list.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::evict;
    use crate::spec::Eviction;

    fn cache(host: u64, ssd: u64, spill: bool) -> PrefixCache {
        PrefixCache::new(16, 1, evict::build(Eviction::Lru), host, ssd, spill)
    }

    #[test]
    fn keys_follow_the_prefix() {
        let a = chain_key(chain_key(CHAIN_ROOT, 7), 8);
        let b = chain_key(chain_key(CHAIN_ROOT, 9), 8);
        assert_ne!(a, b, "same block after different prefixes");
        assert_eq!(a, chain_key(chain_key(CHAIN_ROOT, 7), 8));
        assert_ne!(block_key(a, 0), block_key(a, 1));
    }

    #[test]
    fn released_blocks_stay_cached_until_evicted_in_lru_order_then_move_down() {
        let mut c = cache(2, 1, false);
        let ids: Vec<EntryId> = (0..4)
            .map(|k| match c.register(k).0 {
                Registered::New(id) => id,
                r => panic!("{r:?}"),
            })
            .collect();
        // Released tail first (as a finished request does): 3, 2, 1, 0.
        for &id in ids.iter().rev() {
            assert!(c.release(id));
        }
        assert_eq!((c.evictable_blocks(), c.gpu_blocks()), (4, 4));
        // A hit takes block 1 out of the evictable set.
        assert_eq!(c.get(1), Some((ids[1], Tier::Gpu)));
        assert!(c.reference(ids[1]));
        // Evictions: 3, 2 (to host), then 0 (host full: 3 goes to SSD).
        assert!(c.evict_one() && c.evict_one());
        assert_eq!((c.get(3).unwrap().1, c.get(2).unwrap().1), (Tier::Host, Tier::Host));
        assert!(c.evict_one());
        assert_eq!((c.get(3).unwrap().1, c.get(2).unwrap().1, c.get(0).unwrap().1), (Tier::Ssd, Tier::Host, Tier::Host));
        assert!(!c.evict_one(), "block 1 is held");
        // Promote 2 from host; then 3 falls out of SSD when 1 is evicted twice down.
        c.promote(ids[2]);
        assert_eq!(c.get(2).unwrap().1, Tier::Gpu);
        assert_eq!(c.stats.loaded_blocks[Tier::Host.index()], 1);
        assert_eq!(c.stats.evicted_blocks[Tier::Gpu.index()], 3);
        assert_eq!(c.stats.offloaded_blocks[Tier::Ssd.index()], 1);
    }

    #[test]
    fn duplicate_registration_shares_the_cached_block() {
        let mut c = cache(0, 0, true);
        let Registered::New(id) = c.register(42).0 else { panic!() };
        assert_eq!(c.register(42), (Registered::Existing(id), false));
        assert!(!c.release(id));
        assert!(c.release(id));
        assert!(c.evict_one());
        assert_eq!(c.spill, vec![42], "no local tier: spilled to the cluster tier");
        assert_eq!(c.get(42), None);
    }

    #[test]
    fn shared_tier_lru() {
        let mut s = SharedTier::new(2);
        s.insert(1);
        s.insert(2);
        s.touch(1);
        s.insert(3);
        assert!(s.contains(1) && !s.contains(2) && s.contains(3));
        assert_eq!(s.stats.dropped_blocks, 1);
    }
}
