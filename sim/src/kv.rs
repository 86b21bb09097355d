//! Paged KV-cache memory of one replica: a pool of fixed-size blocks. The replica's capacity
//! comes from the pool's [`MemoryPlan`](crate::cost::MemoryPlan).

/// Block accounting. Allocation and release are O(1); the pool never goes negative.
#[derive(Debug, Clone, PartialEq)]
pub struct KvPool {
    /// Blocks the replica holds.
    pub total_blocks: u64,
    /// Blocks not allocated.
    pub free_blocks: u64,
    /// Tokens per block.
    pub block_tokens: u32,
    /// Blocks kept free when admitting new requests.
    pub watermark_blocks: u64,
    /// Most blocks ever in use (for reports).
    pub peak_used_blocks: u64,
}

impl KvPool {
    /// A pool of `total_blocks` free blocks.
    pub fn new(total_blocks: u64, block_tokens: u32, watermark_fraction: f64) -> KvPool {
        let watermark_blocks = (total_blocks as f64 * watermark_fraction).floor() as u64;
        KvPool { total_blocks, free_blocks: total_blocks, block_tokens, watermark_blocks, peak_used_blocks: 0 }
    }

    /// Blocks that hold `tokens` tokens.
    pub fn blocks_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.block_tokens as u64)
    }

    /// Blocks allocated.
    pub fn used_blocks(&self) -> u64 {
        self.total_blocks - self.free_blocks
    }

    /// Take `n` blocks if available.
    pub fn try_alloc(&mut self, n: u64) -> bool {
        if n > self.free_blocks {
            return false;
        }
        self.free_blocks -= n;
        self.peak_used_blocks = self.peak_used_blocks.max(self.used_blocks());
        true
    }

    /// Return `n` blocks.
    pub fn free(&mut self, n: u64) {
        debug_assert!(self.free_blocks + n <= self.total_blocks, "freeing more blocks than allocated");
        self.free_blocks = (self.free_blocks + n).min(self.total_blocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
