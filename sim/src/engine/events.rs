//! The event queue's entries: earliest first, then first created.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum EvKind {
    /// A replica's first pipeline stage becomes free.
    Wake(usize),
    /// A micro-batch (slot in `batches`) finished its last stage.
    BatchDone(usize),
    /// A request's KV has reached the decode pool (slot in `transfers`).
    TransferDone(usize),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Event {
    pub t: f64,
    pub seq: u64,
    pub kind: EvKind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then first-created) event.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}
