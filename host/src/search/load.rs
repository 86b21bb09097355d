//! Load levels, and the requests a deployment is measured with at each.
//!
//! ```text
//! ╔══════════════════════════════════════════════════════════════════════════════════════╗
//! ║ WORKLOAD INTERFACE of the search. Everything the search knows about traffic goes      ║
//! ║ through `Level::new` (the requests of one level, built once and shared by every       ║
//! ║ deployment) and `Level::workload` (a fresh `Workload` over them for one simulation).  ║
//! ║ The generator below is a stand-in: fixed-length requests with Poisson arrivals at a   ║
//! ║ request rate. When the synthetic workloads (`workload.synthetic`) and closed-loop     ║
//! ║ `workload.concurrency` land, add `Load::Concurrency` here and build those workloads   ║
//! ║ in these two functions; nothing else in the search needs to change.                   ║
//! ╚══════════════════════════════════════════════════════════════════════════════════════╝
//! ```

use crate::error::{Error, Result};
use crate::workload::Request;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use reallm_sim::{TraceWorkload, Workload};

/// What one load level offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop: Poisson arrivals at this many requests per second (over the whole budget).
    Rate(f64),
}

impl Load {
    /// The level's value as written in `search.csv` (`rate_req_s`).
    pub fn value(&self) -> f64 {
        match *self {
            Load::Rate(r) => r,
        }
    }
}

/// The requests of one load level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub load: Load,
    requests: Vec<Request>,
}

impl Level {
    /// `n` requests of `isl` prompt and `osl` output tokens arriving as a Poisson process at
    /// `load`'s rate. The arrival stream depends only on (seed, isl, osl, rate), so every
    /// deployment sees the same requests at a level, and a shard or a rerun regenerates them
    /// bit for bit.
    pub fn new(load: Load, isl: u32, osl: u32, n: u32, seed: u64) -> Result<Level> {
        let Load::Rate(rate) = load;
        let exp = match Exp::new(rate) {
            Ok(e) if rate.is_finite() && rate > 0.0 => e,
            _ => return Err(Error::config("search", format!("request rate {rate}: expected a positive number of requests per second"))),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, isl, osl, rate));
        let mut t = 0.0f64;
        let requests = (0..n as u64)
            .map(|id| {
                t += exp.sample(&mut rng);
                Request::new(id, t, isl, osl)
            })
            .collect();
        Ok(Level { load, requests })
    }

    /// A workload replaying this level from the start (one per simulation).
    pub fn workload(&self) -> impl Workload + '_ {
        TraceWorkload::new(&self.requests)
    }

    /// The requests, for writing the winner's trace file.
    pub fn requests(&self) -> &[Request] {
        &self.requests
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

    #[test]
    fn poisson_levels_are_fixed_length_and_reproducible() {
        let a = Level::new(Load::Rate(4.0), 100, 20, 4000, 7).unwrap();
        let b = Level::new(Load::Rate(4.0), 100, 20, 4000, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.requests().iter().all(|r| r.prompt_tokens == 100 && r.output_tokens == 20));
        assert!(a.requests().windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        // Mean inter-arrival 1/4 s: 4000 arrivals span about 1000 s (±5 % is > 3 sigma).
        let span = a.requests().last().unwrap().arrival_s;
        assert!((span - 1000.0).abs() < 50.0, "{span}");
        let c = Level::new(Load::Rate(4.0), 100, 20, 4000, 8).unwrap();
        assert_ne!(a, c);
        assert!(Level::new(Load::Rate(0.0), 1, 2, 3, 0).is_err());
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
