//! Which cached block leaves GPU memory first: the [`EvictionPolicy`] trait and its built-in
//! implementations (LRU, LFU, FIFO), plus the intrusive list they and the lower tiers use.

use crate::spec::Eviction;
use std::collections::BTreeSet;

/// Index of a cached block in its cache's slab.
pub type EntryId = u32;

const NIL: u32 = u32::MAX;

/// What a policy is told about a block when it becomes evictable (its last user released it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Times the block was reused (cache hits) since it was cached.
    pub hits: u32,
    /// Order in which blocks were first cached (smaller: earlier).
    pub cached_seq: u64,
    /// Order of this release (smaller: earlier); blocks of one request are released tail
    /// first, so at equal recency the end of a prefix goes before its start.
    pub release_seq: u64,
}

/// Orders a cache's evictable GPU blocks (held by no running request). The cache calls
/// `insert` when a block becomes evictable, `remove` when a request reuses it, and `pop` when
/// it needs room. Every call is O(1) or O(log n) in the built-ins.
pub trait EvictionPolicy: Send {
    /// The policy's name.
    fn name(&self) -> &'static str;
    /// Block `id` became evictable.
    fn insert(&mut self, id: EntryId, meta: BlockMeta);
    /// Block `id` (evictable) is in use again.
    fn remove(&mut self, id: EntryId);
    /// The next block to evict, removed from the policy.
    fn pop(&mut self) -> Option<EntryId>;
    /// Evictable blocks.
    fn len(&self) -> usize;
    /// No evictable block.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The built-in policy `e`.
pub fn build(e: Eviction) -> Box<dyn EvictionPolicy> {
    match e {
        Eviction::Lru => Box::new(Lru::default()),
        Eviction::Lfu => Box::new(Ordered::new("lfu", |m| (m.hits as u64, m.release_seq))),
        Eviction::Fifo => Box::new(Ordered::new("fifo", |m| (m.cached_seq, 0))),
    }
}

/// A doubly linked list of ids threaded through per-id links (O(1) push, pop, unlink).
#[derive(Debug, Clone)]
pub struct IdList {
    /// (prev, next) per id; `member` says whether the id is in the list.
    links: Vec<(u32, u32)>,
    member: Vec<bool>,
    head: u32,
    tail: u32,
    len: usize,
}

impl Default for IdList {
    fn default() -> Self {
        IdList::new()
    }
}

impl IdList {
    /// An empty list.
    pub fn new() -> IdList {
        IdList { links: Vec::new(), member: Vec::new(), head: NIL, tail: NIL, len: 0 }
    }

    fn grow(&mut self, id: u32) {
        if id as usize >= self.links.len() {
            self.links.resize(id as usize + 1, (NIL, NIL));
            self.member.resize(id as usize + 1, false);
        }
    }

    /// Whether `id` is in the list.
    pub fn contains(&self, id: u32) -> bool {
        self.member.get(id as usize).copied().unwrap_or(false)
    }

    /// Append `id` (not in the list) at the back.
    pub fn push_back(&mut self, id: u32) {
        self.grow(id);
        debug_assert!(!self.member[id as usize], "id already listed");
        self.links[id as usize] = (self.tail, NIL);
        if self.tail != NIL {
            self.links[self.tail as usize].1 = id;
        } else {
            self.head = id;
        }
        self.tail = id;
        self.member[id as usize] = true;
        self.len += 1;
    }

    /// Remove `id` if listed; returns whether it was.
    pub fn unlink(&mut self, id: u32) -> bool {
        if !self.contains(id) {
            return false;
        }
        let (p, n) = self.links[id as usize];
        if p != NIL {
            self.links[p as usize].1 = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.links[n as usize].0 = p;
        } else {
            self.tail = p;
        }
        self.member[id as usize] = false;
        self.len -= 1;
        true
    }

    /// Remove and return the front.
    pub fn pop_front(&mut self) -> Option<u32> {
        let h = self.head;
        if h == NIL {
            return None;
        }
        self.unlink(h);
        Some(h)
    }

    /// The front, if any.
    pub fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Ids listed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing listed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Least recently released first (vLLM's free-block queue: a released block goes to the back,
/// eviction takes the front).
#[derive(Debug, Default)]
pub struct Lru {
    list: IdList,
}

impl EvictionPolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }
    fn insert(&mut self, id: EntryId, _: BlockMeta) {
        self.list.push_back(id);
    }
    fn remove(&mut self, id: EntryId) {
        self.list.unlink(id);
    }
    fn pop(&mut self) -> Option<EntryId> {
        self.list.pop_front()
    }
    fn len(&self) -> usize {
        self.list.len()
    }
}

/// Smallest `rank(meta)` first (ties: smaller id); a sorted set.
pub struct Ordered {
    name: &'static str,
    rank: fn(&BlockMeta) -> (u64, u64),
    set: BTreeSet<((u64, u64), EntryId)>,
    keys: Vec<Option<(u64, u64)>>,
}

impl Ordered {
    /// A policy evicting the smallest `rank` first.
    pub fn new(name: &'static str, rank: fn(&BlockMeta) -> (u64, u64)) -> Ordered {
        Ordered { name, rank, set: BTreeSet::new(), keys: Vec::new() }
    }
}

impl EvictionPolicy for Ordered {
    fn name(&self) -> &'static str {
        self.name
    }
    fn insert(&mut self, id: EntryId, meta: BlockMeta) {
        let k = (self.rank)(&meta);
        if id as usize >= self.keys.len() {
            self.keys.resize(id as usize + 1, None);
        }
        self.keys[id as usize] = Some(k);
        self.set.insert((k, id));
    }
    fn remove(&mut self, id: EntryId) {
        if let Some(k) = self.keys.get_mut(id as usize).and_then(Option::take) {
            self.set.remove(&(k, id));
        }
    }
    fn pop(&mut self) -> Option<EntryId> {
        let (_, id) = self.set.pop_first()?;
        self.keys[id as usize] = None;
        Some(id)
    }
    fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(hits: u32, cached_seq: u64, release_seq: u64) -> BlockMeta {
        BlockMeta { hits, cached_seq, release_seq }
    }

    #[test]
    fn list_ops() {
        let mut l = IdList::new();
        for i in [3, 1, 7] {
            l.push_back(i);
        }
        assert!(l.unlink(1));
        assert!(!l.unlink(1));
        assert_eq!(l.len(), 2);
        assert_eq!(l.pop_front(), Some(3));
        l.push_back(1);
        assert_eq!((l.pop_front(), l.pop_front(), l.pop_front()), (Some(7), Some(1), None));
    }

    #[test]
    fn lru_evicts_least_recently_released() {
        let mut p = build(Eviction::Lru);
        for (i, id) in [5, 2, 9].into_iter().enumerate() {
            p.insert(id, meta(0, 0, i as u64));
        }
        p.remove(2);
        p.insert(2, meta(1, 0, 3));
        assert_eq!((p.pop(), p.pop(), p.pop(), p.pop()), (Some(5), Some(9), Some(2), None));
    }

    #[test]
    fn lfu_and_fifo_orders() {
        let mut lfu = build(Eviction::Lfu);
        lfu.insert(1, meta(3, 0, 0));
        lfu.insert(2, meta(1, 1, 1));
        lfu.insert(3, meta(1, 2, 2));
        assert_eq!((lfu.pop(), lfu.pop(), lfu.pop()), (Some(2), Some(3), Some(1)));
        let mut fifo = build(Eviction::Fifo);
        fifo.insert(1, meta(0, 9, 0));
        fifo.insert(2, meta(0, 4, 1));
        fifo.insert(3, meta(0, 6, 2));
        fifo.remove(3);
        assert_eq!((fifo.pop(), fifo.pop(), fifo.pop()), (Some(2), Some(1), None));
    }
}
