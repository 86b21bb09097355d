//! Where requests come from, and where finished records go.

use crate::request::{Request, RequestRecord};

/// A source of requests. The engine asks for the next arrival time before every event, takes
/// a request when its time comes, and reports every completion, so a closed-loop workload can
/// issue a client's next request when its previous one finishes.
pub trait Workload {
    /// Arrival time of the next request, seconds, if one is known now.
    fn peek_arrival_s(&self) -> Option<f64>;
    /// Take the next request (its arrival time has come).
    fn next_request(&mut self) -> Option<Request>;
    /// The request with arrival position `rec.seq` produced its last token at `now_s`.
    fn on_complete(&mut self, _rec: &RequestRecord, _now_s: f64) {}
    /// Requests expected in all, if known (for progress reports).
    fn expected_requests(&self) -> Option<u64> {
        None
    }
    /// True when every arrival time is fixed in advance: completions never add or move
    /// arrivals (an open loop). The engine then lets a replica run ahead of other replicas'
    /// events up to the next arrival. The default, false, is always safe.
    fn arrivals_fixed(&self) -> bool {
        false
    }
}

/// Open-loop replay of requests sorted by arrival time.
#[derive(Debug, Clone)]
pub struct TraceWorkload<'a> {
    requests: &'a [Request],
    next: usize,
}

impl<'a> TraceWorkload<'a> {
    /// Replay `requests` (sorted by arrival).
    pub fn new(requests: &'a [Request]) -> Self {
        TraceWorkload { requests, next: 0 }
    }
}

impl Workload for TraceWorkload<'_> {
    fn peek_arrival_s(&self) -> Option<f64> {
        self.requests.get(self.next).map(|r| r.arrival_s)
    }
    fn next_request(&mut self) -> Option<Request> {
        let r = self.requests.get(self.next).cloned();
        self.next += r.is_some() as usize;
        r
    }
    fn expected_requests(&self) -> Option<u64> {
        Some(self.requests.len() as u64)
    }
    fn arrivals_fixed(&self) -> bool {
        true
    }
}

/// Receives every request's record once, in arrival order, as soon as it and every earlier
/// arrival are finished (the rest when the run ends).
pub trait RecordSink {
    /// One finished (or, at the end of the run, unfinished) request.
    fn record(&mut self, rec: &RequestRecord);

    /// [`RecordSink::record`] given the record itself (the engine is done with it): a sink
    /// that keeps or forwards records takes it without a copy. The default lends it to
    /// `record`.
    fn record_owned(&mut self, rec: RequestRecord) {
        self.record(&rec);
    }
}

impl RecordSink for Vec<RequestRecord> {
    fn record(&mut self, rec: &RequestRecord) {
        self.push(rec.clone());
    }

    fn record_owned(&mut self, rec: RequestRecord) {
        self.push(rec);
    }
}

/// Two sinks fed the same records.
pub struct Tee<'a>(pub &'a mut dyn RecordSink, pub &'a mut dyn RecordSink);

impl RecordSink for Tee<'_> {
    fn record(&mut self, rec: &RequestRecord) {
        self.0.record(rec);
        self.1.record(rec);
    }
}

/// Told of the run's progress after every completed iteration; returning `false` stops the
/// run with [`SimError::Interrupted`](crate::SimError::Interrupted).
pub trait Observer {
    /// Simulated time, requests finished, requests expected (if known).
    fn progress(&mut self, sim_time_s: f64, done: u64, expected: Option<u64>) -> bool;
}

/// An observer that never stops the run.
pub struct NoObserver;

impl Observer for NoObserver {
    fn progress(&mut self, _: f64, _: u64, _: Option<u64>) -> bool {
        true
    }
}
