//! Load levels, and the requests a deployment is measured with at each.
//!
//! Built on the workload machinery of `sim` runs (`reallm_sim::workloads`): request lengths
//! fixed (`isl`, `osl`) or drawn from `workload.synthetic`'s distributions
//! ([`LengthSampler`]), offered either open loop, Poisson arrivals at a request rate
//! ([`poisson_requests`]), or closed loop, `C` clients each with one request outstanding
//! ([`ClosedLoop`], as `workload.concurrency` runs). Every level's requests (or, for a closed
//! loop, its list of lengths) are built once and shared by every deployment; each simulation
//! replays them from the start through [`Level::workload`].

use crate::error::{Error, Result};
use crate::workload::Request;
use reallm_sim::workloads::synthetic::poisson_requests;
use reallm_sim::{ClosedLoop, LengthDist, LengthSampler, RequestRecord, TraceWorkload, Workload};

/// What one load level offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop: Poisson arrivals at this many requests per second (over the whole budget).
    Rate(f64),
    /// Closed loop: this many clients (over the whole budget), each sending its next request
    /// when its previous one completes (after the think time).
    Concurrency(u32),
}

impl Load {
    /// The level's value: requests/s, or clients.
    pub fn value(&self) -> f64 {
        match *self {
            Load::Rate(r) => r,
            Load::Concurrency(c) => c as f64,
        }
    }

    /// The level as written in `search.csv`: (`rate_req_s`, `concurrency`), one of them empty.
    pub fn cells(&self) -> (String, String) {
        match *self {
            Load::Rate(r) => (crate::output::fmt_f64(r), String::new()),
            Load::Concurrency(c) => (String::new(), c.to_string()),
        }
    }
}

/// How the requests of every level are shaped (the search's `workload`).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub input: LengthDist,
    pub output: LengthDist,
    /// Requests per level.
    pub requests: u32,
    pub seed: u64,
    /// Closed loops: seconds a client waits after a completion.
    pub think_time_s: f64,
    /// (prompt, output) lengths of a trace's requests, in order: when set, the levels use its
    /// first `requests` lengths (all when it has fewer) instead of `input` and `output`.
    pub trace: Option<Vec<(u32, u32)>>,
}

impl Shape {
    /// Whether both lengths are fixed: then the requests are exactly the `isl`/`osl` ones of
    /// earlier searches (same arrival stream).
    fn fixed(&self) -> Option<(u32, u32)> {
        if self.trace.is_some() {
            return None;
        }
        match (self.input, self.output) {
            (LengthDist::Fixed(i), LengthDist::Fixed(o)) => Some((i, o)),
            _ => None,
        }
    }

    /// The (prompt, output) lengths of the level's requests, in order: the same at every level
    /// (seeded by the search seed alone), so levels differ only in their load.
    pub fn lengths(&self) -> Vec<(u32, u32)> {
        if let Some(t) = &self.trace {
            return t.iter().take(self.requests as usize).copied().collect();
        }
        match self.fixed() {
            Some(io) => vec![io; self.requests as usize],
            None => {
                let seed = reallm_sim::workloads::synthetic::stream_seed(self.seed, "search lengths");
                LengthSampler::new(self.input, self.output, seed).take(self.requests as usize).collect()
            }
        }
    }
}

/// The requests of one load level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub load: Load,
    /// Open loop: the requests with their arrival times. Closed loop: ids and lengths in the
    /// order clients issue them (arrival times are set by the loop).
    requests: Vec<Request>,
    lengths: Vec<(u32, u32)>,
    think_time_s: f64,
}

impl Level {
    /// The level's requests. Open loop: Poisson arrivals at `load`'s rate; the stream depends
    /// only on (seed, lengths, rate), so every deployment sees the same requests at a level, and
    /// a shard or a rerun regenerates them bit for bit.
    pub fn new(load: Load, shape: &Shape) -> Result<Level> {
        let lengths = shape.lengths();
        let requests = match load {
            Load::Rate(rate) => {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(Error::config("search", format!("request rate {rate}: expected a positive number of requests per second")));
                }
                let seed = match shape.fixed() {
                    Some((i, o)) => stream_seed(shape.seed, i, o, rate),
                    None => stream_seed(shape.seed, 0, 0, rate),
                };
                poisson_requests(rate, lengths.len() as u64, lengths.iter().copied(), seed)
            }
            Load::Concurrency(c) => {
                if c == 0 || c > crate::config::MAX_CLIENTS {
                    return Err(Error::config("search", format!("concurrency {c}: expected 1 to {} clients", crate::config::MAX_CLIENTS)));
                }
                vec![]
            }
        };
        let lengths = if matches!(load, Load::Rate(_)) { vec![] } else { lengths };
        Ok(Level { load, requests, lengths, think_time_s: shape.think_time_s })
    }

    /// A workload replaying this level from the start (one per simulation).
    pub fn workload(&self) -> LevelWorkload<'_> {
        match self.load {
            Load::Rate(_) => LevelWorkload::Open(TraceWorkload::new(&self.requests)),
            Load::Concurrency(c) => {
                let n = self.lengths.len() as u64;
                LevelWorkload::Closed(ClosedLoop::new(c, self.think_time_s, self.lengths.iter().copied(), Some(n), None))
            }
        }
    }

    /// The requests, for writing the winner's trace file: open loop, as they arrive; closed
    /// loop, the lengths in issue order at time 0 (a closed loop over a trace ignores its
    /// arrival times).
    pub fn requests(&self) -> Vec<Request> {
        match self.load {
            Load::Rate(_) => self.requests.clone(),
            Load::Concurrency(_) => self.lengths.iter().enumerate().map(|(i, &(p, o))| Request::new(i as u64, 0.0, p, o)).collect(),
        }
    }
}

/// The workload of one simulation at a level.
pub enum LevelWorkload<'a> {
    Open(TraceWorkload<'a>),
    Closed(ClosedLoop<std::iter::Copied<std::slice::Iter<'a, (u32, u32)>>>),
}

impl Workload for LevelWorkload<'_> {
    fn peek_arrival_s(&self) -> Option<f64> {
        match self {
            LevelWorkload::Open(w) => w.peek_arrival_s(),
            LevelWorkload::Closed(w) => w.peek_arrival_s(),
        }
    }
    fn next_request(&mut self) -> Option<Request> {
        match self {
            LevelWorkload::Open(w) => w.next_request(),
            LevelWorkload::Closed(w) => w.next_request(),
        }
    }
    fn on_complete(&mut self, rec: &RequestRecord, now_s: f64) {
        match self {
            LevelWorkload::Open(w) => w.on_complete(rec, now_s),
            LevelWorkload::Closed(w) => w.on_complete(rec, now_s),
        }
    }
    fn expected_requests(&self) -> Option<u64> {
        match self {
            LevelWorkload::Open(w) => w.expected_requests(),
            LevelWorkload::Closed(w) => w.expected_requests(),
        }
    }
}

/// FNV-1a over (seed, isl, osl, rate): a stable seed (not `std`'s hasher, which may change).
fn stream_seed(seed: u64, isl: u32, osl: u32, rate: f64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = seed
        .to_le_bytes()
        .into_iter()
        .chain(*b"search")
        .chain(isl.to_le_bytes())
        .chain(osl.to_le_bytes())
        .chain(rate.to_bits().to_le_bytes());
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `levels` rates spaced geometrically from `lo` to `hi` (both included), each rounded to three
/// significant digits so that the CSV and the docs read cleanly.
pub fn geometric_rates(lo: f64, hi: f64, levels: u32) -> Vec<f64> {
    let n = levels.max(1);
    let mut v: Vec<f64> = (0..n)
        .map(|i| {
            let f = if n == 1 { 1.0 } else { i as f64 / (n - 1) as f64 };
            round_sig(lo * (hi / lo).powf(f), 3)
        })
        .collect();
    v.dedup();
    v
}

/// `x` rounded to `digits` (≥ 1) significant digits, through its decimal form (so 0.3 stays 0.3).
pub fn round_sig(x: f64, digits: usize) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    format!("{:.*e}", digits.max(1) - 1, x).parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(input: LengthDist, output: LengthDist, requests: u32, seed: u64) -> Shape {
        Shape { input, output, requests, seed, think_time_s: 0.0, trace: None }
    }

    fn fixed(isl: u32, osl: u32, n: u32, seed: u64) -> Shape {
        shape(LengthDist::Fixed(isl), LengthDist::Fixed(osl), n, seed)
    }

    #[test]
    fn poisson_levels_are_fixed_length_and_reproducible() {
        let a = Level::new(Load::Rate(4.0), &fixed(100, 20, 4000, 7)).unwrap();
        let b = Level::new(Load::Rate(4.0), &fixed(100, 20, 4000, 7)).unwrap();
        assert_eq!(a, b);
        assert!(a.requests().iter().all(|r| r.prompt_tokens == 100 && r.output_tokens == 20));
        assert!(a.requests().windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        // Mean inter-arrival 1/4 s: 4000 arrivals span about 1000 s (±5 % is > 3 sigma).
        let span = a.requests().last().unwrap().arrival_s;
        assert!((span - 1000.0).abs() < 50.0, "{span}");
        let c = Level::new(Load::Rate(4.0), &fixed(100, 20, 4000, 8)).unwrap();
        assert_ne!(a, c);
        assert!(Level::new(Load::Rate(0.0), &fixed(1, 2, 3, 0)).is_err());
        assert!(Level::new(Load::Concurrency(0), &fixed(1, 2, 3, 0)).is_err());
    }

    #[test]
    fn synthetic_lengths_are_the_same_at_every_level() {
        let s = shape(LengthDist::Uniform { min: 10, max: 1000 }, LengthDist::Uniform { min: 2, max: 50 }, 300, 3);
        let (a, b) = (Level::new(Load::Rate(1.0), &s).unwrap(), Level::new(Load::Rate(9.0), &s).unwrap());
        let lens = |l: &Level| l.requests().iter().map(|r| (r.prompt_tokens, r.output_tokens)).collect::<Vec<_>>();
        assert_eq!(lens(&a), lens(&b));
        assert!(lens(&a).windows(2).any(|w| w[0] != w[1]), "drawn, not fixed");
        assert!(lens(&a).iter().all(|&(p, o)| (10..=1000).contains(&p) && (2..=50).contains(&o)));
        // The closed loop issues the same lengths in the same order.
        let c = Level::new(Load::Concurrency(4), &s).unwrap();
        assert_eq!(lens(&c), lens(&a));
    }

    #[test]
    fn trace_lengths_are_taken_in_order() {
        let mut s = fixed(1, 2, 3, 0);
        s.trace = Some(vec![(10, 2), (20, 3), (30, 4), (40, 5)]);
        let lens = |l: &Level| l.requests().iter().map(|r| (r.prompt_tokens, r.output_tokens)).collect::<Vec<_>>();
        let want = vec![(10, 2), (20, 3), (30, 4)];
        assert_eq!(lens(&Level::new(Load::Rate(2.0), &s).unwrap()), want);
        assert_eq!(lens(&Level::new(Load::Concurrency(2), &s).unwrap()), want);
        s.requests = 9;
        assert_eq!(Level::new(Load::Rate(2.0), &s).unwrap().requests().len(), 4, "a shorter trace gives what it has");
    }

    #[test]
    fn a_closed_loop_keeps_its_clients_busy() {
        // 3 clients, 5 requests: three at time 0, the next when one completes (think time 0.5 s).
        let mut s = fixed(10, 2, 5, 0);
        s.think_time_s = 0.5;
        let level = Level::new(Load::Concurrency(3), &s).unwrap();
        let mut w = level.workload();
        assert_eq!(w.expected_requests(), Some(5));
        for id in 0..3 {
            let r = w.next_request().unwrap();
            assert_eq!((r.id, r.arrival_s), (id, 0.0));
        }
        assert_eq!(w.peek_arrival_s(), None);
        w.on_complete(&RequestRecord::default(), 2.0);
        assert_eq!(w.next_request().unwrap().arrival_s, 2.5);
        // A fresh workload replays the level from the start.
        assert_eq!(level.workload().next_request().unwrap().arrival_s, 0.0);
        assert_eq!((Load::Concurrency(8).cells(), Load::Rate(2.5).cells()), ((String::new(), "8".into()), ("2.5".into(), String::new())));
    }

    #[test]
    fn rate_ladder() {
        let v = geometric_rates(0.5, 8.0, 5);
        // 0.5 · 16^(i/4) = 0.5, 1, 2, 4, 8.
        assert_eq!(v, vec![0.5, 1.0, 2.0, 4.0, 8.0]);
        assert_eq!(round_sig(0.123456, 3), 0.123);
        assert_eq!(round_sig(98765.0, 2), 99000.0);
        assert_eq!(geometric_rates(1.0, 2.0, 1), vec![2.0]);
    }
}
