//! Distribution summaries: exact percentiles, and a bounded-memory accumulator that switches
//! to a relative-error sketch beyond a size.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

/// Distribution summary, in the unit of the field name that holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Values summarised.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

/// Percentile `q` ∈ [0, 100] of sorted values, linear interpolation (numpy's `linear`):
/// `x[⌊r⌋] + (x[⌈r⌉] − x[⌊r⌋])·(r − ⌊r⌋)` with `r = q/100·(n − 1)`. 0 for no values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (pos.ceil() as usize).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// The same as [`percentile`] over `v` sorted, without sorting: `qs` ascending, each found by
/// selection (`O(n)` per percentile instead of `O(n log n)` for the sort). Reorders `v`.
pub fn percentiles_unsorted(v: &mut [f64], qs: &[f64], out: &mut [f64]) {
    let n = v.len();
    if n == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    // Order statistics are found left to right: everything left of `start` is ≤ v[start..].
    let mut start = 0usize;
    let order_stat = |v: &mut [f64], k: usize, start: &mut usize| -> f64 {
        if k < *start {
            // Ranks only go back by one, to the previous `lo`, which was selected exactly
            // and sits in place.
            return v[k];
        }
        let (_, x, _) = v[*start..].select_nth_unstable_by(k - *start, f64::total_cmp);
        let x = *x;
        *start = k + 1;
        x
    };
    for (q, o) in qs.iter().zip(out.iter_mut()) {
        let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
        let pos = q / 100.0 * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (pos.ceil() as usize).min(n - 1);
        let frac = pos - lo as f64;
        let a = order_stat(v, lo, &mut start);
        let b = if hi == lo { a } else { order_stat(v, hi, &mut start) };
        *o = a + (b - a) * frac;
    }
}

impl Stats {
    /// Summary of unsorted values (reordered in place, not fully sorted).
    pub fn of(mut v: Vec<f64>) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let mut p = [0.0; 6];
        percentiles_unsorted(&mut v, &[50.0, 90.0, 95.0, 99.0, 99.9, 100.0], &mut p);
        Stats { count: n as u64, mean, p50: p[0], p90: p[1], p95: p[2], p99: p[3], p999: p[4], max: p[5] }
    }
}

/// Values kept exactly by a [`Quantiles`] before it switches to a sketch (32 MiB of `f64`).
pub const EXACT_LIMIT: usize = 1 << 22;

/// Relative accuracy of the sketch a [`Quantiles`] switches to: a reported percentile `x̂` of a
/// true order statistic `x` satisfies `|x̂ − x| ≤ α·x` (DDSketch, Masson et al., VLDB 2019).
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

/// A distribution accumulated value by value: exact (every value kept, [`Stats::of`]) up to a
/// limit, then a DDSketch with relative accuracy [`SKETCH_RELATIVE_ACCURACY`]. Count, mean
/// and max stay exact either way.
#[derive(Clone)]
pub struct Quantiles {
    values: Vec<f64>,
    sketch: Option<Box<DDSketch>>,
    limit: usize,
    sum: f64,
    count: u64,
    max: f64,
}

impl Default for Quantiles {
    fn default() -> Self {
        Quantiles::with_limit(EXACT_LIMIT)
    }
}

impl std::fmt::Debug for Quantiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantiles").field("exact", &self.is_exact()).field("len", &self.len()).finish()
    }
}

impl Quantiles {
    /// Values added.
    pub fn len(&self) -> u64 {
        if self.sketch.is_none() {
            self.values.len() as u64
        } else {
            self.count
        }
    }

    /// No value added yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exact up to `limit` values.
    pub fn with_limit(limit: usize) -> Self {
        Quantiles { values: Vec::new(), sketch: None, limit, sum: 0.0, count: 0, max: f64::NEG_INFINITY }
    }

    /// Add one value.
    pub fn push(&mut self, x: f64) {
        match &mut self.sketch {
            None => {
                self.values.push(x);
                if self.values.len() > self.limit {
                    let mut s = DDSketch::new(Config::new(SKETCH_RELATIVE_ACCURACY, 4096, 1e-9));
                    for &v in &self.values {
                        s.add(v);
                        self.sum += v;
                        self.max = self.max.max(v);
                    }
                    self.count = self.values.len() as u64;
                    self.values = Vec::new();
                    self.sketch = Some(Box::new(s));
                }
            }
            Some(s) => {
                s.add(x);
                self.sum += x;
                self.count += 1;
                self.max = self.max.max(x);
            }
        }
    }

    /// Whether the percentiles are exact.
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }

    /// The summary.
    pub fn stats(self) -> Stats {
        match self.sketch {
            None => Stats::of(self.values),
            Some(s) => {
                let q = |p: f64| s.quantile(p).ok().flatten().unwrap_or(0.0);
                Stats {
                    count: self.count,
                    mean: self.sum / self.count as f64,
                    p50: q(0.5),
                    p90: q(0.9),
                    p95: q(0.95),
                    p99: q(0.99),
                    p999: q(0.999),
                    max: self.max,
                }
            }
        }
    }
}
