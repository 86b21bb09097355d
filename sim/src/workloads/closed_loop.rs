//! Closed-loop load: `C` clients, each with one request outstanding at a time, as benchmark
//! clients measure (vLLM `bench serve --max-concurrency C`, SGLang `bench_serving
//! --max-concurrency`, genai-perf / AIPerf `--concurrency C`, `trtllm-bench --concurrency`).
//!
//! At time 0 every client sends a request. When a request completes at `t`, its client sends
//! the next at `t + think_s`. Requests are numbered (ids 0, 1, 2, …) in the order they are
//! issued; clients that become ready at the same time issue in the order their previous
//! requests completed (which the engine makes deterministic). Issuing stops after `limit`
//! requests, when the lengths run out, or for requests that would be issued at or after
//! `stop_issuing_s` (a duration); requests already issued run to completion.
//!
//! A request issued at the instant another completes reaches the engine after that
//! completion's iteration has been planned, so with zero think time it joins the next
//! iteration (a real client's next request also arrives after the response, by a network round
//! trip).

use crate::request::{Request, RequestRecord};
use crate::workload::Workload;
use std::collections::VecDeque;

/// A closed-loop workload over a source of (prompt, output) lengths: a pre-generated list
/// (`Vec::into_iter()`) or an endless seeded sampler
/// ([`LengthSampler`](super::LengthSampler)).
#[derive(Debug, Clone)]
pub struct ClosedLoop<I: Iterator<Item = (u32, u32)>> {
    think_s: f64,
    limit: Option<u64>,
    stop_issuing_s: Option<f64>,
    lengths: I,
    /// The next request's lengths, drawn ahead so that [`Workload::peek_arrival_s`] is exact;
    /// `None` once nothing more will be issued (limit reached or lengths exhausted).
    next: Option<(u32, u32)>,
    /// Times at which idle clients send their next request, earliest first. Completions are
    /// reported in time order and the think time is constant, so pushing at the back keeps
    /// the queue sorted.
    ready: VecDeque<f64>,
    issued: u64,
}

impl<I: Iterator<Item = (u32, u32)>> ClosedLoop<I> {
    /// `clients` clients (≥ 1) sending requests with lengths from `lengths`, waiting `think_s`
    /// seconds (≥ 0) after each completion; at most `limit` requests, none issued at or after
    /// `stop_issuing_s`.
    pub fn new(clients: u32, think_s: f64, mut lengths: I, limit: Option<u64>, stop_issuing_s: Option<f64>) -> Self {
        let think_s = if think_s.is_finite() && think_s > 0.0 { think_s } else { 0.0 };
        let next = if limit == Some(0) { None } else { lengths.next() };
        ClosedLoop { think_s, limit, stop_issuing_s, lengths, next, ready: std::iter::repeat_n(0.0, clients as usize).collect(), issued: 0 }
    }

    /// Requests issued so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }
}

impl<I: Iterator<Item = (u32, u32)>> Workload for ClosedLoop<I> {
    fn peek_arrival_s(&self) -> Option<f64> {
        let t = *self.ready.front()?;
        if self.next.is_none() || self.stop_issuing_s.is_some_and(|end| t >= end) {
            return None;
        }
        Some(t)
    }

    fn next_request(&mut self) -> Option<Request> {
        let t = self.peek_arrival_s()?;
        self.ready.pop_front();
        let (p, o) = self.next.take()?;
        let r = Request::new(self.issued, t, p, o);
        self.issued += 1;
        if self.limit.is_none_or(|n| self.issued < n) {
            self.next = self.lengths.next();
        }
        Some(r)
    }

    fn on_complete(&mut self, _rec: &RequestRecord, now_s: f64) {
        if self.next.is_some() {
            self.ready.push_back(now_s + self.think_s);
        }
    }

    fn expected_requests(&self) -> Option<u64> {
        if self.stop_issuing_s.is_some() {
            return self.limit;
        }
        let (lo, hi) = self.lengths.size_hint();
        let rest = self.next.is_some() as u64;
        let known = (hi == Some(lo)).then(|| self.issued + rest + lo as u64);
        match (self.limit, known) {
            (Some(n), Some(k)) => Some(n.min(k)),
            (Some(n), None) => Some(n),
            (None, k) => k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(w: &mut impl Workload, t: f64) {
        w.on_complete(&RequestRecord::default(), t);
    }

    #[test]
    fn clients_start_together_and_resend_after_think_time() {
        let mut w = ClosedLoop::new(3, 0.5, std::iter::repeat((10, 2)), Some(5), None);
        assert_eq!(w.expected_requests(), Some(5));
        // Three requests at time 0, ids 0, 1, 2; then nothing until one completes.
        for id in 0..3 {
            assert_eq!(w.peek_arrival_s(), Some(0.0));
            let r = w.next_request().unwrap();
            assert_eq!((r.id, r.arrival_s, r.prompt_tokens, r.output_tokens), (id, 0.0, 10, 2));
        }
        assert_eq!(w.peek_arrival_s(), None);
        done(&mut w, 2.0);
        done(&mut w, 3.0);
        assert_eq!(w.peek_arrival_s(), Some(2.5));
        assert_eq!(w.next_request().unwrap().arrival_s, 2.5);
        assert_eq!(w.next_request().unwrap().arrival_s, 3.5);
        // The limit of 5 is reached: the remaining client stays idle.
        assert_eq!(w.issued(), 5);
        done(&mut w, 4.0);
        assert_eq!(w.peek_arrival_s(), None);
        assert_eq!(w.next_request(), None);
    }

    #[test]
    fn a_list_or_a_duration_ends_issuing() {
        let mut w = ClosedLoop::new(4, 0.0, vec![(1, 1), (2, 2)].into_iter(), None, None);
        assert_eq!(w.expected_requests(), Some(2));
        assert_eq!(w.next_request().unwrap().prompt_tokens, 1);
        assert_eq!(w.next_request().unwrap().prompt_tokens, 2);
        assert_eq!(w.peek_arrival_s(), None, "the list is exhausted although two clients are idle");
        let mut w = ClosedLoop::new(1, 0.0, std::iter::repeat((5, 5)), None, Some(1.0));
        assert_eq!(w.expected_requests(), None);
        w.next_request().unwrap();
        done(&mut w, 0.9);
        assert_eq!(w.next_request().unwrap().arrival_s, 0.9);
        done(&mut w, 1.0);
        assert_eq!(w.peek_arrival_s(), None, "nothing is issued at or after the duration");
        let w = ClosedLoop::new(2, 0.0, std::iter::repeat((5, 5)), Some(0), None);
        assert_eq!(w.peek_arrival_s(), None);
    }
}
