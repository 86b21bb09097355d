//! The acceptance model: how many of a step's draft tokens the target accepts.
//!
//! Draft token `i` (1-based) of a sequence's step is accepted with probability `p_i` given that
//! tokens `1..i` were; the first rejection ends the run (chain drafting: a token after a
//! rejected one is never used). The step then emits `1 + accepted` tokens: the accepted drafts
//! plus the target's own token at the first rejected position (or after the last draft, the
//! "bonus" token). The mean tokens per step (the "mean acceptance length" τ that EAGLE and
//! vLLM report) is `1 + Σ_i Π_{j≤i} p_j`.
//!
//! Draws are a pure function of (seed, request, step): the same run draws the same acceptances
//! whatever the batching, and a rerun with the same seed is byte-identical.

/// Per-position conditional acceptance rates of `k` draft tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Acceptance {
    rates: Vec<f64>,
}

impl Acceptance {
    /// Rates for `k` draft tokens: `rates[i]` is the probability that draft token `i + 1` is
    /// accepted when every earlier one was. One rate applies to every position; otherwise
    /// exactly `k` are needed. Each in `[0, 1]`.
    pub fn from_rates(rates: &[f64], k: u32) -> Result<Acceptance, String> {
        if k == 0 {
            return Err("num_speculative_tokens must be at least 1".into());
        }
        if let Some(p) = rates.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(format!("acceptance rate {p} is not a probability in [0, 1]"));
        }
        let rates = match rates.len() {
            1 => vec![rates[0]; k as usize],
            n if n == k as usize => rates.to_vec(),
            n => return Err(format!("{n} acceptance rates for {k} speculative tokens: give one rate (every position) or exactly {k}")),
        };
        Ok(Acceptance { rates })
    }

    /// One rate `p` for every position such that the mean tokens per step is `mean_length`
    /// (τ, in `[1, k + 1]`): `1 + p + p² + … + p^k = τ`, solved by bisection (the left side
    /// rises with `p`).
    pub fn from_mean_length(mean_length: f64, k: u32) -> Result<Acceptance, String> {
        if k == 0 {
            return Err("num_speculative_tokens must be at least 1".into());
        }
        let top = k as f64 + 1.0;
        if !(1.0..=top).contains(&mean_length) {
            return Err(format!(
                "mean acceptance length {mean_length} is outside [1, {top}] (tokens per step with {k} speculative tokens, the bonus token included)"
            ));
        }
        let tau = |p: f64| (0..=k).map(|i| p.powi(i as i32)).sum::<f64>();
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if tau(mid) < mean_length {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Acceptance::from_rates(&[0.5 * (lo + hi)], k)
    }

    /// Draft tokens per step.
    pub fn k(&self) -> u32 {
        self.rates.len() as u32
    }

    /// The conditional rates, one per position.
    pub fn rates(&self) -> &[f64] {
        &self.rates
    }

    /// Probability that draft token `i + 1` is accepted (all earlier ones too), per position.
    pub fn marginal(&self, i: usize) -> f64 {
        self.rates[..=i].iter().product()
    }

    /// Expected tokens per step, the bonus token included (τ).
    pub fn mean_length(&self) -> f64 {
        1.0 + (0..self.rates.len()).map(|i| self.marginal(i)).sum::<f64>()
    }

    /// Draft tokens accepted in step `step` of request `request` (0..=k), drawn from `seed`.
    pub fn sample(&self, seed: u64, request: u64, step: u64) -> u32 {
        let mut h = mix(seed ^ mix(request ^ mix(step ^ 0xACCE_B7ED)));
        for (i, &p) in self.rates.iter().enumerate() {
            h = mix(h.wrapping_add(i as u64));
            // 53 random bits → [0, 1).
            let u = (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            if !(u < p) {
                return i as u32;
            }
        }
        self.rates.len() as u32
    }
}

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_broadcast_and_check() {
        assert_eq!(Acceptance::from_rates(&[0.8], 3).unwrap().rates(), &[0.8, 0.8, 0.8]);
        assert_eq!(Acceptance::from_rates(&[0.9, 0.7], 2).unwrap().rates(), &[0.9, 0.7]);
        assert!(Acceptance::from_rates(&[0.9, 0.7], 3).unwrap_err().contains("exactly 3"));
        assert!(Acceptance::from_rates(&[1.2], 1).unwrap_err().contains("[0, 1]"));
        assert!(Acceptance::from_rates(&[f64::NAN], 1).is_err());
        assert!(Acceptance::from_rates(&[0.5], 0).is_err());
    }

    #[test]
    fn mean_length_by_hand() {
        // p = 0.5, k = 3: 1 + 0.5 + 0.25 + 0.125 = 1.875.
        let a = Acceptance::from_rates(&[0.5], 3).unwrap();
        assert!((a.mean_length() - 1.875).abs() < 1e-12);
        // Chained rates 0.9, 0.5: 1 + 0.9 + 0.45 = 2.35.
        let b = Acceptance::from_rates(&[0.9, 0.5], 2).unwrap();
        assert!((b.mean_length() - 2.35).abs() < 1e-12);
        // The inverse: τ = 1.875 with k = 3 gives p = 0.5.
        let c = Acceptance::from_mean_length(1.875, 3).unwrap();
        assert!((c.rates()[0] - 0.5).abs() < 1e-9, "{:?}", c.rates());
        // The ends: τ = 1 is p = 0, τ = k + 1 is p = 1.
        assert!(Acceptance::from_mean_length(1.0, 2).unwrap().rates()[0] < 1e-12);
        assert!(Acceptance::from_mean_length(3.0, 2).unwrap().rates()[0] > 1.0 - 1e-12);
        assert!(Acceptance::from_mean_length(3.5, 2).unwrap_err().contains("[1, 3]"));
    }

    #[test]
    fn extremes_are_exact() {
        let none = Acceptance::from_rates(&[0.0], 4).unwrap();
        let all = Acceptance::from_rates(&[1.0], 4).unwrap();
        for r in 0..50 {
            for s in 0..50 {
                assert_eq!(none.sample(7, r, s), 0);
                assert_eq!(all.sample(7, r, s), 4);
            }
        }
    }

    #[test]
    fn draws_follow_the_rates() {
        // 200,000 draws of rates (0.9, 0.6): P(0) = 0.1, P(1) = 0.36, P(2) = 0.54. The
        // standard error of each frequency is ≤ 0.0012; a 0.005 tolerance is over 4 of them.
        let a = Acceptance::from_rates(&[0.9, 0.6], 2).unwrap();
        let mut n = [0u64; 3];
        for r in 0..2000 {
            for s in 0..100 {
                n[a.sample(42, r, s) as usize] += 1;
            }
        }
        let f: Vec<f64> = n.iter().map(|&x| x as f64 / 200_000.0).collect();
        for (got, want) in f.iter().zip([0.1, 0.36, 0.54]) {
            assert!((got - want).abs() < 0.005, "{f:?}");
        }
        // Seeded: the same inputs give the same draw, another seed other draws.
        assert_eq!(a.sample(1, 2, 3), a.sample(1, 2, 3));
        let differ = (0..100).filter(|&s| a.sample(1, 0, s) != a.sample(2, 0, s)).count();
        assert!(differ > 10, "{differ}");
    }
}
