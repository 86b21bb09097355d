//! Records of the requests in flight, in a slab, and their delivery in arrival order.

use crate::request::{Request, RequestRecord};
use crate::workload::RecordSink;
use std::collections::BTreeMap;

struct Slot {
    rec: RequestRecord,
    /// Its KV sits in host memory after a swap preemption.
    swapped: bool,
}

/// The slab of live requests (`RequestState::id` is the slot) and the reorder buffer that
/// delivers finished records in arrival order.
#[derive(Default)]
pub(super) struct Live {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    live: usize,
    /// Arrivals so far (the next arrival's `seq`).
    arrived: u64,
    /// The next `seq` the sink expects.
    next_emit: u64,
    /// Finished records waiting for an earlier arrival to finish.
    parked: BTreeMap<u64, RequestRecord>,
}

impl Live {
    /// A new arrival routed to `replica`: its slot.
    pub fn admit(&mut self, r: &Request, replica: u32) -> usize {
        let mut rec = RequestRecord::new(self.arrived, r);
        self.arrived += 1;
        rec.replica = replica;
        rec.token_times.reserve_exact(r.output_tokens as usize);
        self.live += 1;
        let slot = Slot { rec, swapped: false };
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    fn slot(&mut self, id: u64) -> &mut Slot {
        self.slots[id as usize].as_mut().expect("live request")
    }

    pub fn record_mut(&mut self, id: u64) -> &mut RequestRecord {
        &mut self.slot(id).rec
    }

    /// Whether the request's KV is swapped out to host memory.
    pub fn is_swapped(&self, id: u64) -> bool {
        self.slots[id as usize].as_ref().is_some_and(|s| s.swapped)
    }

    /// Mark the request's KV as swapped out (or back in); returns the previous state.
    pub fn set_swapped(&mut self, id: u64, swapped: bool) -> bool {
        std::mem::replace(&mut self.slot(id).swapped, swapped)
    }

    /// The request finished: free its slot and return its record.
    pub fn complete(&mut self, id: u64) -> RequestRecord {
        let s = self.slots[id as usize].take().expect("live request");
        self.free.push(id as usize);
        self.live -= 1;
        s.rec
    }

    /// Deliver `rec` now if every earlier arrival has been delivered, else park it.
    pub fn emit(&mut self, rec: RequestRecord, sink: &mut dyn RecordSink) {
        if rec.seq != self.next_emit {
            self.parked.insert(rec.seq, rec);
            return;
        }
        sink.record_owned(rec);
        self.next_emit += 1;
        while let Some(e) = self.parked.first_entry() {
            if *e.key() != self.next_emit {
                break;
            }
            sink.record_owned(e.remove());
            self.next_emit += 1;
        }
    }

    /// At the end of a run: deliver the unfinished requests' records with the parked ones,
    /// in arrival order.
    pub fn flush_unfinished(&mut self, sink: &mut dyn RecordSink) {
        for s in self.slots.iter_mut().filter_map(Option::take) {
            self.parked.insert(s.rec.seq, s.rec);
        }
        self.live = 0;
        for (_, rec) in std::mem::take(&mut self.parked) {
            sink.record_owned(rec);
        }
        self.next_emit = self.arrived;
    }

    /// At the end of a run: deliver the record of a request that never arrived.
    pub fn emit_unarrived(&mut self, r: &Request, sink: &mut dyn RecordSink) {
        let rec = RequestRecord::new(self.arrived, r);
        self.arrived += 1;
        self.next_emit += 1;
        sink.record_owned(rec);
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Requests arrived so far.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }
}
