//! Synthetic request lengths (a number or a distribution per length, seeded) and Poisson
//! arrivals, as benchmark clients generate them (vLLM `bench serve --dataset-name random`,
//! genai-perf / AIPerf synthetic inputs, `trtllm-bench` token-norm-dist datasets).

use crate::request::Request;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};

/// How one length (prompt or output tokens) is drawn. Draws are rounded to the nearest
/// integer and then clamped to `[min, max]` (so a clamped normal puts the tails' mass on the
/// bounds rather than redrawing: deterministic and cheap, and the mean moves only when the
/// bounds cut the distribution).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthDist {
    /// Always `n` tokens.
    Fixed(u32),
    /// Uniform over the integers `min..=max`.
    Uniform { min: u32, max: u32 },
    /// Normal with this mean and standard deviation (tokens).
    Normal { mean: f64, std: f64, min: u32, max: u32 },
    /// Log-normal whose own mean and standard deviation (tokens, not those of the underlying
    /// normal) are `mean` and `std`: `σ² = ln(1 + std²/mean²)`, `μ = ln(mean) − σ²/2`.
    LogNormal { mean: f64, std: f64, min: u32, max: u32 },
}

impl LengthDist {
    /// Check the parameters; the message names the parameter (the caller adds the key).
    pub fn validate(&self) -> Result<(), String> {
        let bounds = |min: u32, max: u32| -> Result<(), String> {
            if min == 0 {
                return Err("min = 0: a length must be at least 1 token".into());
            }
            if min > max {
                return Err(format!("min = {min} is above max = {max}"));
            }
            Ok(())
        };
        match *self {
            LengthDist::Fixed(0) => Err("0 tokens: a length must be at least 1 token".into()),
            LengthDist::Fixed(_) => Ok(()),
            LengthDist::Uniform { min, max } => bounds(min, max),
            LengthDist::Normal { mean, std, min, max } | LengthDist::LogNormal { mean, std, min, max } => {
                if !(mean.is_finite() && mean > 0.0) {
                    return Err(format!("mean = {mean}: expected a positive number of tokens"));
                }
                if !(std.is_finite() && std >= 0.0) {
                    return Err(format!("std = {std}: expected a non-negative number of tokens"));
                }
                bounds(min, max)
            }
        }
    }

    /// The mean of the distribution before rounding and clamping (the midpoint for uniform).
    pub fn nominal_mean(&self) -> f64 {
        match *self {
            LengthDist::Fixed(n) => n as f64,
            LengthDist::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            LengthDist::Normal { mean, .. } | LengthDist::LogNormal { mean, .. } => mean,
        }
    }

    /// One draw. `self` must be valid ([`LengthDist::validate`]).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        let clamp = |x: f64, min: u32, max: u32| -> u32 {
            let r = x.round();
            if r.is_nan() || r <= min as f64 {
                min
            } else if r >= max as f64 {
                max
            } else {
                r as u32
            }
        };
        match *self {
            LengthDist::Fixed(n) => n,
            LengthDist::Uniform { min, max } => rng.random_range(min..=max),
            LengthDist::Normal { mean, std, min, max } => {
                let x = Normal::new(mean, std).map(|d| d.sample(rng)).unwrap_or(mean);
                clamp(x, min, max)
            }
            LengthDist::LogNormal { mean, std, min, max } => {
                let s2 = (1.0 + (std / mean).powi(2)).ln();
                let mu = mean.ln() - s2 / 2.0;
                let x = LogNormal::new(mu, s2.sqrt()).map(|d| d.sample(rng)).unwrap_or(mean);
                clamp(x, min, max)
            }
        }
    }
}

/// An endless, seeded stream of (prompt, output) lengths: each item draws the prompt length,
/// then the output length, from one ChaCha8 generator.
#[derive(Debug, Clone)]
pub struct LengthSampler {
    input: LengthDist,
    output: LengthDist,
    rng: ChaCha8Rng,
}

impl LengthSampler {
    /// A sampler of `input` and `output` lengths seeded with `seed`.
    pub fn new(input: LengthDist, output: LengthDist, seed: u64) -> Self {
        LengthSampler { input, output, rng: ChaCha8Rng::seed_from_u64(seed) }
    }
}

impl Iterator for LengthSampler {
    type Item = (u32, u32);
    fn next(&mut self) -> Option<(u32, u32)> {
        let i = self.input.sample(&mut self.rng);
        let o = self.output.sample(&mut self.rng);
        Some((i, o))
    }
}

/// Open-loop requests: `count` requests with Poisson arrivals at `rate_per_s` (exponential
/// gaps, mean `1/rate`, from a ChaCha8 generator seeded with `arrival_seed`; the first request
/// arrives after one gap) and lengths from `lengths`, ids 0, 1, 2, … Stops early if `lengths`
/// ends. `rate_per_s` must be positive and finite.
pub fn poisson_requests(rate_per_s: f64, count: u64, lengths: impl Iterator<Item = (u32, u32)>, arrival_seed: u64) -> Vec<Request> {
    let mut rng = ChaCha8Rng::seed_from_u64(arrival_seed);
    let exp = Exp::new(rate_per_s).ok();
    let mut t = 0.0f64;
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    for (id, (p, o)) in (0..count).zip(lengths) {
        t += exp.as_ref().map(|e| e.sample(&mut rng)).unwrap_or(0.0);
        out.push(Request::new(id, t, p, o));
    }
    out
}

/// A stable 64-bit seed from a seed and a label (FNV-1a, not `std`'s hasher, whose output may
/// change between releases): separate streams for lengths and arrivals.
pub fn stream_seed(seed: u64, label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(label.as_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(d: LengthDist, n: usize, seed: u64) -> Vec<u32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    fn mean_std(v: &[u32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    }

    #[test]
    fn distributions_have_their_moments_and_bounds() {
        assert!(draws(LengthDist::Fixed(7), 100, 0).iter().all(|&x| x == 7));
        let u = draws(LengthDist::Uniform { min: 10, max: 20 }, 20_000, 1);
        assert!(u.iter().all(|&x| (10..=20).contains(&x)));
        assert!(u.contains(&10) && u.contains(&20));
        let (m, _) = mean_std(&u);
        assert!((m - 15.0).abs() < 0.1, "{m}");
        // Normal(1000, 100) far from its bounds: mean and std within 2 % over 20,000 draws.
        let n = draws(LengthDist::Normal { mean: 1000.0, std: 100.0, min: 1, max: 100_000 }, 20_000, 2);
        let (m, s) = mean_std(&n);
        assert!((m / 1000.0 - 1.0).abs() < 0.02 && (s / 100.0 - 1.0).abs() < 0.02, "{m} {s}");
        // Log-normal with mean 500, std 250 (σ² = ln 1.25): its own mean and std.
        let l = draws(LengthDist::LogNormal { mean: 500.0, std: 250.0, min: 1, max: 1_000_000 }, 50_000, 3);
        let (m, s) = mean_std(&l);
        assert!((m / 500.0 - 1.0).abs() < 0.02 && (s / 250.0 - 1.0).abs() < 0.05, "{m} {s}");
        // Clamped: Normal(100, 1000) on [50, 60] gives only 50 … 60, both bounds hit.
        let c = draws(LengthDist::Normal { mean: 100.0, std: 1000.0, min: 50, max: 60 }, 1000, 4);
        assert!(c.iter().all(|&x| (50..=60).contains(&x)) && c.contains(&50) && c.contains(&60));
    }

    #[test]
    fn degenerate_parameters_are_rejected() {
        assert!(LengthDist::Fixed(0).validate().unwrap_err().contains("at least 1"));
        assert!(LengthDist::Uniform { min: 5, max: 4 }.validate().unwrap_err().contains("min = 5 is above max = 4"));
        assert!(LengthDist::Uniform { min: 0, max: 4 }.validate().unwrap_err().contains("min = 0"));
        assert!(LengthDist::Normal { mean: -1.0, std: 1.0, min: 1, max: 9 }.validate().unwrap_err().contains("mean"));
        assert!(LengthDist::LogNormal { mean: 1.0, std: f64::NAN, min: 1, max: 9 }.validate().unwrap_err().contains("std"));
        assert!(LengthDist::Normal { mean: 5.0, std: 0.0, min: 1, max: 9 }.validate().is_ok());
    }

    #[test]
    fn sampler_and_arrivals_are_seeded() {
        let s = |seed| LengthSampler::new(LengthDist::Uniform { min: 1, max: 1000 }, LengthDist::Fixed(3), seed);
        let a: Vec<_> = s(5).take(50).collect();
        assert_eq!(a, s(5).take(50).collect::<Vec<_>>());
        assert_ne!(a, s(6).take(50).collect::<Vec<_>>());
        assert!(a.iter().all(|&(_, o)| o == 3));
        let r = poisson_requests(4.0, 20_000, s(1), 9);
        assert_eq!(r.len(), 20_000);
        assert_eq!(r[7].id, 7);
        assert!(r.windows(2).all(|w| w[1].arrival_s >= w[0].arrival_s));
        let rate = r.len() as f64 / r.last().unwrap().arrival_s;
        assert!((rate / 4.0 - 1.0).abs() < 0.03, "{rate}");
        // Lengths do not depend on the arrival stream.
        let r2 = poisson_requests(8.0, 10, s(1), 10);
        assert!(r2.iter().zip(&r).all(|(a, b)| a.prompt_tokens == b.prompt_tokens));
        assert_ne!(stream_seed(1, "lengths"), stream_seed(1, "arrivals"));
    }
}
