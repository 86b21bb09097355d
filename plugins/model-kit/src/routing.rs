//! Expert routing: how many of a step's tokens each routed expert receives.
//!
//! A trained router's choices depend on the tokens, which a trace-driven simulator does not
//! have. The router is therefore modelled by an expert *popularity* `p_e` (uniform, Zipf, or
//! explicit) from which every token picks `top_k` **distinct** experts. What the rest of the
//! simulator needs is only the per-expert token count of the step
//! ([`ModelGraph::expert_tokens`](reallm_plugin_api::ModelGraph::expert_tokens)), so the sampler is built to reproduce its distribution
//! exactly and cheaply:
//!
//! 1. **Inclusion probabilities.** Popularity is turned into the probability `π_e` that a token
//!    includes expert `e` among its `top_k`, with `Σ π_e = top_k` and `π_e ≤ 1` (a token cannot
//!    pick an expert twice): `π_e = min(1, c·p_e)`, with `c` found by water-filling (experts
//!    that would exceed 1 are capped at 1 and the rest re-scaled). Uniform popularity gives
//!    exactly `π_e = top_k / E`. For skewed popularity this is the standard proportional-to-size
//!    inclusion design; a trained router's true inclusion probabilities are unknown anyway.
//! 2. **Few tokens (exact).** Each token draws one uniform `u` and takes the experts whose
//!    cumulative-`π` interval contains one of `u, u+1, …, u+top_k−1` (systematic sampling,
//!    Madow 1949). Every interval is at most 1 wide, so the `top_k` experts are distinct, and
//!    expert `e` is included with probability exactly `π_e`: its count is `Binomial(T, π_e)`.
//!    Cost `O(T · top_k)` with a guide table (Chen & Asau 1974).
//! 3. **Many tokens (multinomial).** Above [`ExpertRouter::exact_max_tokens`] tokens the
//!    `T·top_k` assignments are drawn as one multinomial over the uncapped experts with
//!    probabilities `π_e / Σπ` (sequential conditional binomials, `O(E)`), and capped experts get
//!    exactly `T`. A count above `T` (possible only when `π_e` is close to 1) is clipped and the
//!    excess moved to the experts with the most room. The mean of every count is the same as in
//!    the exact path; the variance is `T·π_e·(1 − π_e/k')` instead of `T·π_e·(1 − π_e)`, which
//!    differs little when `π_e ≪ 1`.
//!
//! Either way the counts sum to exactly `T·top_k`, and the same seed gives the same counts.
//! The generator is ChaCha8 seeded with the step's [`BatchShape::seed`](reallm_plugin_api::BatchShape).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use reallm_plugin_api::PluginError;
use serde::{Deserialize, Serialize};

/// Default token count up to which routing is sampled token by token.
pub const DEFAULT_EXACT_MAX_TOKENS: u64 = 1024;

/// Guide-table buckets per expert (see [`ExpertRouter`]'s per-token path).
const GUIDE_PER_EXPERT: usize = 2;

/// Expert popularity, as given in a model plugin's `routing` parameter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RoutingSpec {
    /// Every expert equally popular (a well-balanced router; the default).
    #[default]
    Uniform,
    /// Zipf popularity: the expert of popularity rank `r` (1-based) has weight `r^(−skew)`.
    Zipf {
        /// Exponent `s ≥ 0` (0 is uniform; 1.2 is a strongly skewed router).
        skew: f64,
        /// Assign popularity ranks to expert ids by a fixed pseudo-random permutation (true,
        /// the default: hot experts land on arbitrary ids, as in trained models) or in id order
        /// (false: expert 0 hottest, the worst case for contiguous expert placement).
        #[serde(default = "default_true")]
        shuffle: bool,
    },
    /// Explicit relative popularity of every expert (non-negative; normalised here).
    Explicit { probabilities: Vec<f64> },
}

fn default_true() -> bool {
    true
}

/// Samples per-expert token counts for one step. Built once per model instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpertRouter {
    top_k: u64,
    /// `π_e`: probability that one token includes expert `e` (sums to `top_k`).
    inclusion: Vec<f64>,
    /// `cumulative[e] = Σ_{j ≤ e} π_j` (upper edge of expert `e`'s interval).
    cumulative: Vec<f64>,
    /// Guide table over `[0, top_k)` in `GUIDE_PER_EXPERT·E` equal buckets: `guide[b]` is the
    /// first expert whose interval reaches into bucket `b`, so a lookup scans O(1) experts.
    guide: Vec<u32>,
    /// Steps with more tokens than this use the multinomial path.
    exact_max_tokens: u64,
}

impl ExpertRouter {
    /// Build the router of `n_experts` experts with `top_k` picks per token.
    pub fn new(spec: &RoutingSpec, n_experts: u64, top_k: u64, exact_max_tokens: u64) -> Result<Self, PluginError> {
        let bad = |m: String| PluginError::Params { plugin: "routing".into(), message: m };
        if n_experts == 0 || top_k == 0 {
            return Err(bad(format!("routing needs at least one expert and top_k ≥ 1 (got {n_experts} experts, top_k {top_k})")));
        }
        if top_k > n_experts {
            return Err(bad(format!("top_k {top_k} exceeds the {n_experts} routed experts")));
        }
        let e = n_experts as usize;
        let popularity: Vec<f64> = match spec {
            RoutingSpec::Uniform => vec![1.0; e],
            RoutingSpec::Zipf { skew, shuffle } => {
                if !skew.is_finite() || *skew < 0.0 {
                    return Err(bad(format!("zipf skew must be a finite number ≥ 0, got {skew}")));
                }
                let mut rank_of: Vec<usize> = (0..e).collect();
                if *shuffle {
                    // Fixed permutation (seed 0), independent of the step seed.
                    let mut rng = ChaCha8Rng::seed_from_u64(0);
                    for i in (1..e).rev() {
                        let j = rng.random_range(0..=i);
                        rank_of.swap(i, j);
                    }
                }
                rank_of.iter().map(|&r| ((r + 1) as f64).powf(-skew)).collect()
            }
            RoutingSpec::Explicit { probabilities } => {
                if probabilities.len() != e {
                    return Err(bad(format!("explicit routing lists {} probabilities for {e} experts", probabilities.len())));
                }
                if let Some(p) = probabilities.iter().find(|p| !p.is_finite() || **p < 0.0) {
                    return Err(bad(format!("explicit routing probability {p} is not a finite number ≥ 0")));
                }
                probabilities.clone()
            }
        };
        let positive = popularity.iter().filter(|&&p| p > 0.0).count() as u64;
        if positive < top_k {
            return Err(bad(format!("only {positive} experts have non-zero popularity; each token needs {top_k} distinct ones")));
        }
        let inclusion = water_fill(&popularity, top_k as f64);
        let mut cumulative = Vec::with_capacity(e);
        let mut acc = 0.0;
        for p in &inclusion {
            acc += p;
            cumulative.push(acc);
        }
        let buckets = GUIDE_PER_EXPERT * e;
        let width = top_k as f64 / buckets as f64;
        let guide = (0..buckets).map(|b| cumulative.partition_point(|&c| c <= b as f64 * width).min(e - 1) as u32).collect();
        Ok(ExpertRouter { top_k, inclusion, cumulative, guide, exact_max_tokens })
    }

    /// Number of routed experts.
    pub fn n_experts(&self) -> usize {
        self.inclusion.len()
    }

    /// Experts each token picks.
    pub fn top_k(&self) -> u64 {
        self.top_k
    }

    /// `π_e`, the probability that one token includes expert `e`; sums to `top_k`. The expected
    /// count of expert `e` in a step of `T` tokens is `T·π_e`.
    pub fn inclusion_probabilities(&self) -> &[f64] {
        &self.inclusion
    }

    /// Token count above which the multinomial path is used.
    pub fn exact_max_tokens(&self) -> u64 {
        self.exact_max_tokens
    }

    /// Fill `counts` (resized to the expert count) with the tokens each expert receives when
    /// `tokens` tokens are routed with `seed`. The counts sum to `tokens · top_k`.
    pub fn sample(&self, tokens: u64, seed: u64, counts: &mut Vec<u32>) {
        counts.clear();
        counts.resize(self.inclusion.len(), 0);
        if tokens == 0 {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if tokens <= self.exact_max_tokens {
            self.sample_per_token(tokens, &mut rng, counts);
        } else {
            self.sample_multinomial(tokens, &mut rng, counts);
        }
    }

    fn sample_per_token(&self, tokens: u64, rng: &mut ChaCha8Rng, counts: &mut [u32]) {
        let last = counts.len() - 1;
        let per_unit = self.guide.len() as f64 / self.top_k as f64;
        for _ in 0..tokens {
            let u: f64 = rng.random();
            for j in 0..self.top_k {
                let point = u + j as f64;
                // First expert whose upper edge exceeds the point, starting from the guide
                // table's bucket; the bound guards the round-off of the last edge (Σπ = top_k
                // up to a few ulps).
                let bucket = ((point * per_unit) as usize).min(self.guide.len() - 1);
                let mut e = self.guide[bucket] as usize;
                while e < last && self.cumulative[e] <= point {
                    e += 1;
                }
                counts[e] += 1;
            }
        }
    }

    fn sample_multinomial(&self, tokens: u64, rng: &mut ChaCha8Rng, counts: &mut [u32]) {
        let cap = u32::try_from(tokens).unwrap_or(u32::MAX);
        // Experts with π = 1 are in every token's choice.
        let mut free_mass = 0.0;
        let mut capped = 0u64;
        for (c, &p) in counts.iter_mut().zip(&self.inclusion) {
            if p >= 1.0 {
                *c = cap;
                capped += 1;
            } else {
                free_mass += p;
            }
        }
        let mut remaining = tokens * (self.top_k - capped);
        let mut mass_left = free_mass;
        for (c, &p) in counts.iter_mut().zip(&self.inclusion) {
            if p >= 1.0 || p <= 0.0 || remaining == 0 {
                continue;
            }
            let q = (p / mass_left).clamp(0.0, 1.0);
            // `Binomial::new` only fails for p outside [0, 1], excluded by the clamp.
            let x = Binomial::new(remaining, q).map(|b| b.sample(rng)).unwrap_or(0).min(remaining);
            *c = u32::try_from(x).unwrap_or(u32::MAX);
            remaining -= x;
            mass_left -= p;
        }
        // Round-off can leave a few assignments undistributed, and a count above T is clipped:
        // both go to the experts with the most room (the least loaded), keeping Σ = T·top_k.
        let mut excess = remaining;
        for c in counts.iter_mut() {
            if *c > cap {
                excess += (*c - cap) as u64;
                *c = cap;
            }
        }
        while excess > 0 {
            // The expert with the most room; the loop ends because Σ room = T·(E − k) + excess ≥ excess.
            let (idx, room) = counts.iter().enumerate().map(|(i, &c)| (i, (cap - c) as u64)).max_by_key(|&(_, r)| r).unwrap_or((0, 0));
            if room == 0 {
                break;
            }
            let add = room.min(excess);
            counts[idx] += add as u32;
            excess -= add;
        }
    }
}

/// `π_e = min(1, c·p_e)` with `Σ π_e = k` (water-filling). Requires at least `k` positive `p_e`.
fn water_fill(popularity: &[f64], k: f64) -> Vec<f64> {
    let mut capped = vec![false; popularity.len()];
    loop {
        let n_capped = capped.iter().filter(|&&c| c).count() as f64;
        let free: f64 = popularity.iter().zip(&capped).filter(|(_, &c)| !c).map(|(p, _)| p).sum();
        let scale = if free > 0.0 { (k - n_capped) / free } else { 0.0 };
        let mut changed = false;
        for (p, c) in popularity.iter().zip(capped.iter_mut()) {
            if !*c && p * scale >= 1.0 {
                *c = true;
                changed = true;
            }
        }
        if !changed {
            return popularity.iter().zip(&capped).map(|(p, &c)| if c { 1.0 } else { p * scale }).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(r: &ExpertRouter, tokens: u64, seed: u64) -> Vec<u32> {
        let mut v = Vec::new();
        r.sample(tokens, seed, &mut v);
        v
    }

    #[test]
    fn uniform_inclusion_is_k_over_e() {
        let r = ExpertRouter::new(&RoutingSpec::Uniform, 256, 8, DEFAULT_EXACT_MAX_TOKENS).unwrap();
        // 8 / 256 = 0.03125 for every expert.
        assert!(r.inclusion_probabilities().iter().all(|&p| (p - 0.03125).abs() < 1e-15));
    }

    #[test]
    fn counts_sum_to_tokens_times_k_on_both_paths() {
        for spec in [RoutingSpec::Uniform, RoutingSpec::Zipf { skew: 1.2, shuffle: true }, RoutingSpec::Zipf { skew: 3.0, shuffle: false }]
        {
            let r = ExpertRouter::new(&spec, 64, 6, 100).unwrap();
            for tokens in [1u64, 7, 100, 101, 5000, 123_457] {
                let c = counts(&r, tokens, 42);
                assert_eq!(c.iter().map(|&x| x as u64).sum::<u64>(), tokens * 6, "{spec:?} T={tokens}");
                assert!(c.iter().all(|&x| x as u64 <= tokens), "an expert got a token twice: {spec:?} T={tokens}");
            }
        }
    }

    #[test]
    fn per_token_picks_are_distinct() {
        // With one token every selected expert must be hit exactly once: k ones, the rest zero.
        let r = ExpertRouter::new(&RoutingSpec::Zipf { skew: 1.5, shuffle: false }, 16, 4, 10).unwrap();
        for seed in 0..200 {
            let c = counts(&r, 1, seed);
            assert_eq!(c.iter().filter(|&&x| x == 1).count(), 4);
            assert!(c.iter().all(|&x| x <= 1));
        }
    }

    #[test]
    fn uniform_load_matches_expectation() {
        // DeepSeek-V3 routing: 256 experts, top-8, 4000 tokens (exact path).
        // Expected count per expert = 4000·8/256 = 125; σ = sqrt(4000·(1/32)·(31/32)) ≈ 11.0.
        let r = ExpertRouter::new(&RoutingSpec::Uniform, 256, 8, 4000).unwrap();
        let c = counts(&r, 4000, 7);
        let sigma = (4000.0_f64 * (1.0 / 32.0) * (31.0 / 32.0)).sqrt();
        assert!(c.iter().all(|&x| (x as f64 - 125.0).abs() < 6.0 * sigma), "{c:?}");
        // Chi-square over 256 cells has mean ≈ 255·(31/32) ≈ 247; allow a wide band.
        let chi2: f64 = c.iter().map(|&x| (x as f64 - 125.0).powi(2) / (125.0 * 31.0 / 32.0)).sum();
        assert!((150.0..400.0).contains(&chi2), "chi2 {chi2}");
        // Multinomial path, 1,000,000 tokens: expected 31,250 each, σ ≈ 174.
        let big = counts(&r, 1_000_000, 7);
        assert!(big.iter().all(|&x| (x as f64 - 31_250.0).abs() < 6.0 * 177.0), "{big:?}");
    }

    #[test]
    fn both_paths_have_the_expected_mean() {
        // Zipf(1.0) over 64 experts, top-4, 2000 tokens, averaged over 40 seeds: the mean count
        // of expert e is 2000·π_e on both paths. Standard error of the average ≤ sqrt(2000·0.25/40)
        // ≈ 3.5 tokens; allow 5 standard errors.
        let spec = RoutingSpec::Zipf { skew: 1.0, shuffle: false };
        let exact = ExpertRouter::new(&spec, 64, 4, 2000).unwrap();
        let multi = ExpertRouter::new(&spec, 64, 4, 1999).unwrap();
        for r in [&exact, &multi] {
            let mut mean = vec![0.0; 64];
            for seed in 0..40 {
                for (m, c) in mean.iter_mut().zip(counts(r, 2000, seed)) {
                    *m += c as f64 / 40.0;
                }
            }
            for (m, p) in mean.iter().zip(r.inclusion_probabilities()) {
                assert!((m - 2000.0 * p).abs() < 17.5, "{m} vs {}", 2000.0 * p);
            }
        }
    }

    #[test]
    fn zipf_hottest_share_grows_with_skew() {
        let share = |skew: f64| {
            let r = ExpertRouter::new(&RoutingSpec::Zipf { skew, shuffle: true }, 128, 8, DEFAULT_EXACT_MAX_TOKENS).unwrap();
            let c = counts(&r, 3000, 1);
            *c.iter().max().unwrap() as f64 / (3000.0 * 8.0)
        };
        let (s0, s1, s2) = (share(0.0), share(0.8), share(1.6));
        // Uniform share is 1/128 ≈ 0.0078 (plus noise); a token includes an expert at most once,
        // so the hottest share is at most 1/8 = 0.125, reached by a capped expert.
        assert!(s0 < 0.012 && s0 < s1 && s1 < s2 && s2 <= 0.125 + 1e-12, "{s0} {s1} {s2}");
    }

    #[test]
    fn zipf_without_shuffle_makes_expert_zero_hottest() {
        let r = ExpertRouter::new(&RoutingSpec::Zipf { skew: 1.2, shuffle: false }, 32, 2, DEFAULT_EXACT_MAX_TOKENS).unwrap();
        let pi = r.inclusion_probabilities();
        assert!(pi.windows(2).all(|w| w[0] >= w[1]));
        assert!((pi.iter().sum::<f64>() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn water_filling_caps_at_one() {
        // p = (10, 1, 1, 1, 1), k = 2: expert 0 capped at 1; the other four share 1 → 0.25 each.
        let pi = water_fill(&[10.0, 1.0, 1.0, 1.0, 1.0], 2.0);
        assert_eq!(pi, vec![1.0, 0.25, 0.25, 0.25, 0.25]);
        let r = ExpertRouter::new(&RoutingSpec::Explicit { probabilities: vec![10.0, 1.0, 1.0, 1.0, 1.0] }, 5, 2, 10).unwrap();
        // Both paths give the capped expert every token.
        assert_eq!(counts(&r, 10, 3)[0], 10);
        assert_eq!(counts(&r, 10_000, 3)[0], 10_000);
    }

    #[test]
    fn same_seed_same_counts() {
        let r = ExpertRouter::new(&RoutingSpec::Zipf { skew: 1.2, shuffle: true }, 160, 6, DEFAULT_EXACT_MAX_TOKENS).unwrap();
        for t in [300, 50_000] {
            assert_eq!(counts(&r, t, 9), counts(&r, t, 9));
            assert_ne!(counts(&r, t, 9), counts(&r, t, 10));
        }
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(ExpertRouter::new(&RoutingSpec::Uniform, 4, 5, 1).is_err());
        assert!(ExpertRouter::new(&RoutingSpec::Zipf { skew: -1.0, shuffle: true }, 4, 1, 1).is_err());
        assert!(ExpertRouter::new(&RoutingSpec::Explicit { probabilities: vec![1.0, 0.0, 0.0] }, 3, 2, 1).is_err());
        assert!(ExpertRouter::new(&RoutingSpec::Explicit { probabilities: vec![1.0, 1.0] }, 3, 1, 1).is_err());
        assert!(ExpertRouter::new(&RoutingSpec::Explicit { probabilities: vec![1.0, f64::NAN, 1.0] }, 3, 1, 1).is_err());
    }

    #[test]
    fn spec_parses_from_params() {
        let z: RoutingSpec = serde_json::from_value(serde_json::json!({"kind": "zipf", "skew": 1.2})).unwrap();
        assert_eq!(z, RoutingSpec::Zipf { skew: 1.2, shuffle: true });
        let u: RoutingSpec = serde_json::from_value(serde_json::json!({"kind": "uniform"})).unwrap();
        assert_eq!(u, RoutingSpec::Uniform);
        assert!(serde_json::from_value::<RoutingSpec>(serde_json::json!({"kind": "zipf", "skew": 1.0, "bogus": 1})).is_err());
    }
}
