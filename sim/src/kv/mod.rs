//! Paged KV-cache memory of one replica: a pool of fixed-size blocks, optionally with a
//! prefix cache ([`prefix`]) whose unheld blocks count as free and are evicted on demand. The
//! replica's capacity comes from the pool's [`MemoryPlan`](crate::cost::MemoryPlan).

pub mod evict;
pub mod prefix;

pub use evict::{BlockMeta, EntryId, EvictionPolicy, IdList};
pub use prefix::{PrefixCache, PrefixStats, Registered, SharedTier, Tier, N_TIERS};

/// Block accounting. Allocation and release are O(1) (plus one eviction per block taken from
/// the prefix cache); the pool never goes negative.
#[derive(Debug)]
pub struct KvPool {
    /// Blocks the replica holds.
    pub total_blocks: u64,
    /// Blocks held by no request: never used, or cached by the prefix cache and evictable.
    pub free_blocks: u64,
    /// Tokens per block.
    pub block_tokens: u32,
    /// Blocks kept free when admitting new requests.
    pub watermark_blocks: u64,
    /// Most blocks ever in use (for reports).
    pub peak_used_blocks: u64,
    /// The prefix cache, when enabled.
    pub prefix: Option<PrefixCache>,
    /// Attention windows: `(window tokens, windowed layers, layers)`. A windowed layer keeps at
    /// most `window` tokens of KV, so a context of `c` tokens occupies the KV of
    /// `c·(L − w)/L + min(c, W)·w/L` tokens of a full-attention model (ceiling): sliding-window
    /// layers (gpt-oss) and chunked local attention (Llama 4, bounded by the chunk) free what
    /// they no longer read. `None`: every layer keeps the whole context.
    pub window: Option<(u64, u64, u64)>,
}

impl KvPool {
    /// A pool of `total_blocks` free blocks.
    pub fn new(total_blocks: u64, block_tokens: u32, watermark_fraction: f64) -> KvPool {
        let watermark_blocks = (total_blocks as f64 * watermark_fraction).floor() as u64;
        KvPool { total_blocks, free_blocks: total_blocks, block_tokens, watermark_blocks, peak_used_blocks: 0, prefix: None, window: None }
    }

    /// Blocks that hold the KV of a context of `tokens` tokens (capped by attention windows,
    /// see [`KvPool::window`]).
    pub fn blocks_for(&self, tokens: u64) -> u64 {
        let tokens = match self.window {
            Some((w, windowed, layers)) if tokens > w => (tokens * (layers - windowed) + w * windowed).div_ceil(layers),
            _ => tokens,
        };
        tokens.div_ceil(self.block_tokens as u64)
    }

    /// Blocks held by requests.
    pub fn used_blocks(&self) -> u64 {
        self.total_blocks - self.free_blocks
    }

    /// Free blocks that hold cached (evictable) KV.
    pub fn cached_free_blocks(&self) -> u64 {
        self.prefix.as_ref().map_or(0, |c| c.evictable_blocks() * c.kv_per_block())
    }

    /// Take `n` blocks if available, evicting cached blocks as needed.
    pub fn try_alloc(&mut self, n: u64) -> bool {
        if n > self.free_blocks {
            return false;
        }
        if let Some(c) = &mut self.prefix {
            let mut plain = self.free_blocks - c.evictable_blocks() * c.kv_per_block();
            while plain < n {
                let evicted = c.evict_one();
                debug_assert!(evicted, "free blocks counted cached blocks that are not evictable");
                plain += c.kv_per_block();
            }
        }
        self.free_blocks -= n;
        self.note_peak();
        true
    }

    fn note_peak(&mut self) {
        self.peak_used_blocks = self.peak_used_blocks.max(self.used_blocks());
    }

    /// Return `n` blocks.
    pub fn free(&mut self, n: u64) {
        debug_assert!(self.free_blocks + n <= self.total_blocks, "freeing more blocks than allocated");
        self.free_blocks = (self.free_blocks + n).min(self.total_blocks);
    }

    /// A request takes cached GPU block `id` (a hit).
    pub fn reference(&mut self, id: EntryId) {
        let c = self.prefix.as_mut().expect("prefix cache");
        if c.reference(id) {
            self.free_blocks -= c.kv_per_block();
            self.note_peak();
        }
    }

    /// A request lets go of cached GPU block `id`; it stays cached, and free once unheld.
    pub fn release(&mut self, id: EntryId) {
        let c = self.prefix.as_mut().expect("prefix cache");
        if c.release(id) {
            self.free_blocks += c.kv_per_block();
        }
    }

    /// A request computed cached block `key` on its own blocks: cache it (or share an
    /// identical cached block and free its own). Returns the block the request now holds.
    pub fn register(&mut self, key: u64) -> EntryId {
        let c = self.prefix.as_mut().expect("prefix cache");
        let k = c.kv_per_block();
        match c.register(key) {
            (Registered::New(id), _) => id,
            (Registered::Existing(id), was_free) => {
                // Its own copy goes back; the shared one, if it was evictable, is now held.
                self.free_blocks += k;
                if was_free {
                    self.free_blocks -= k;
                }
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// gpt-oss-120b: 36 layers, 18 of them with a 128-token sliding window. At a 10,000-token
    /// context it keeps 10,000·18/36 + 128·18/36 = 5,064 tokens' worth of KV: 373,358,592 bytes
    /// at 73,728 bytes per token, `ModelInfo::kv_bytes_for_context` (docs/models.md).
    #[test]
    fn attention_windows_cap_blocks() {
        let mut p = super::KvPool::new(1000, 16, 0.0);
        assert_eq!(p.blocks_for(10_000), 625);
        p.window = Some((128, 18, 36));
        assert_eq!(p.blocks_for(10_000), 5_064u64.div_ceil(16));
        assert_eq!(5_064 * 73_728, 373_358_592);
        assert_eq!(p.blocks_for(100), 7, "within the window every layer keeps the context");
    }

    use super::*;
    use crate::spec::Eviction;

    #[test]
    fn blocks() {
        let mut p = KvPool::new(10, 16, 0.1);
        assert_eq!(p.watermark_blocks, 1);
        assert_eq!(p.blocks_for(17), 2);
        assert!(p.try_alloc(7));
        assert!(!p.try_alloc(4));
        p.free(7);
        assert_eq!(p.free_blocks, 10);
        assert_eq!(p.peak_used_blocks, 7);
    }

    #[test]
    fn cached_blocks_count_as_free_and_are_evicted_on_demand() {
        // 10 KV blocks; cached blocks of 2 KV blocks each.
        let mut p = KvPool::new(10, 16, 0.0);
        p.prefix = Some(PrefixCache::new(32, 2, evict::build(Eviction::Lru), 0, 0, false));
        // A request holds 6 blocks; its first two cached blocks (4 KV blocks) get registered.
        assert!(p.try_alloc(6));
        let a = p.register(100);
        let b = p.register(101);
        assert_eq!(p.free_blocks, 4);
        // It finishes: cached blocks released (tail first), 2 private blocks freed.
        p.release(b);
        p.release(a);
        p.free(2);
        assert_eq!((p.free_blocks, p.cached_free_blocks()), (10, 4));
        // A hit on block 100 makes 2 KV blocks used again.
        p.reference(a);
        assert_eq!((p.free_blocks, p.used_blocks()), (8, 2));
        // Taking 8 blocks needs 2 more than the 6 plain free ones: block 101 is evicted.
        assert!(p.try_alloc(8));
        assert!(p.prefix.as_ref().unwrap().get(101).is_none());
        assert_eq!(p.free_blocks, 0);
        assert!(!p.try_alloc(1));
        // Conservation: free + held = total.
        p.release(a);
        p.free(8);
        assert_eq!(p.free_blocks, 10);
    }
}
