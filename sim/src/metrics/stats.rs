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

/// The order statistics percentile `q` of `n ≥ 1` values interpolates between: ranks `lo` and
/// `hi` and the weight of `hi`.
fn rank_of(q: f64, n: usize) -> (usize, usize, f64) {
    let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
    let pos = q / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (pos.ceil() as usize).min(n - 1);
    (lo, hi, pos - lo as f64)
}

/// The same as [`percentile`] over `v` sorted, without sorting: `qs` ascending. Small inputs
/// use selection (`O(n)` per percentile); from [`RADIX_MIN_LEN`] values on, one histogram of
/// the values' high bits finds the few buckets that hold the wanted order statistics, and only
/// those are sorted (three linear passes in all). Both give exactly the sorted order's values.
/// Reorders `v`.
pub fn percentiles_unsorted(v: &mut [f64], qs: &[f64], out: &mut [f64]) {
    let n = v.len();
    if n == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let rank = |q: &f64| rank_of(*q, n);
    if n < RADIX_MIN_LEN || n > u32::MAX as usize {
        // Selection left to right: everything left of `start` is ≤ v[start..].
        let mut start = 0usize;
        let mut order_stat = |v: &mut [f64], k: usize| -> f64 {
            if k < start {
                // Ranks only go back by one, to the previous `lo`, which was selected exactly
                // and sits in place.
                return v[k];
            }
            let (_, x, _) = v[start..].select_nth_unstable_by(k - start, f64::total_cmp);
            let x = *x;
            start = k + 1;
            x
        };
        for (q, o) in qs.iter().zip(out.iter_mut()) {
            let (lo, hi, frac) = rank(q);
            let a = order_stat(v, lo);
            let b = if hi == lo { a } else { order_stat(v, hi) };
            *o = a + (b - a) * frac;
        }
        return;
    }
    percentiles_radix(v, qs, out);
}

/// [`percentiles_unsorted`]'s histogram path, which only reads `v` (`RADIX_MIN_LEN ≤ v.len() ≤
/// u32::MAX`).
fn percentiles_radix(v: &[f64], qs: &[f64], out: &mut [f64]) {
    let n = v.len();
    let rank = |q: &f64| rank_of(*q, n);
    let ranks: Vec<(usize, usize, f64)> = qs.iter().map(rank).collect();
    let mut wanted: Vec<usize> = ranks.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut values = vec![0.0; wanted.len()];
    order_stats_radix(v, &wanted, &mut values);
    let at = |r: usize| values[wanted.partition_point(|&w| w < r)];
    for (&(lo, hi, frac), o) in ranks.iter().zip(out.iter_mut()) {
        let (a, b) = (at(lo), at(hi));
        *o = a + (b - a) * frac;
    }
}

/// `percentiles_unsorted(v, &[q, 100.0], ..)` (a high percentile and the maximum), in one
/// pass over `v` when the percentile's rank is among the 16 largest values (a request's TBT
/// gaps at p99 up to 1,600 gaps); otherwise by [`percentiles_unsorted`]. May reorder `v`.
pub fn percentile_and_max(v: &mut [f64], q: f64) -> (f64, f64) {
    const TOP: usize = 16;
    let n = v.len();
    let q = if q.is_nan() { 50.0 } else { q.clamp(0.0, 100.0) };
    let pos = q / 100.0 * n.saturating_sub(1) as f64;
    let lo = pos.floor() as usize;
    let k = n.saturating_sub(lo);
    if n == 0 || k > TOP {
        let mut out = [0.0; 2];
        percentiles_unsorted(v, &[q, 100.0], &mut out);
        return (out[0], out[1]);
    }
    // The k largest values, largest first (ties are equal bits: any copy will do).
    let mut top = [0.0f64; TOP];
    top[..k].copy_from_slice(&v[..k]);
    top[..k].sort_unstable_by(|a, b| b.total_cmp(a));
    for &x in &v[k..] {
        if x.total_cmp(&top[k - 1]).is_gt() {
            let mut i = k - 1;
            while i > 0 && x.total_cmp(&top[i - 1]).is_gt() {
                top[i] = top[i - 1];
                i -= 1;
            }
            top[i] = x;
        }
    }
    // Rank r (ascending) is top[n − 1 − r].
    let hi = (pos.ceil() as usize).min(n - 1);
    let frac = pos - lo as f64;
    let a = top[n - 1 - lo];
    let b = if hi == lo { a } else { top[n - 1 - hi] };
    let max = top[0];
    // The same expression as `percentiles_unsorted` evaluates, for both.
    (lerp(a, b, frac), lerp(max, max, 0.0))
}

/// `a + (b − a)·frac`, the interpolation between two order statistics.
fn lerp(a: f64, b: f64, frac: f64) -> f64 {
    a + (b - a) * frac
}

/// Inputs from which [`percentiles_unsorted`] uses a histogram rather than selection.
pub const RADIX_MIN_LEN: usize = 1 << 14;

/// `x`'s bits mapped so that unsigned order is `f64::total_cmp` order.
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    // Negative: all bits flipped; positive: the sign bit set.
    b ^ (((b as i64 >> 63) as u64) | 1 << 63)
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// The order statistics `ranks` (ascending, distinct) of `v` under `f64::total_cmp`, by
/// histograms: see [`radix_gather`]; inside each gathered bucket the
/// same again, until a bucket is small or all one value.
fn order_stats_radix(v: &[f64], ranks: &[usize], out: &mut [f64]) {
    let mut keys = vec![0u64; ranks.len()];
    let (mut gathered, regions, at) = radix_gather(|| v.iter().map(|&x| order_key(x)), ranks);
    select_in_regions(&mut gathered, &regions, &at, &mut keys);
    for (o, k) in out.iter_mut().zip(keys) {
        *o = from_order_key(k);
    }
}

/// Order statistics `ranks` (ascending, distinct) of `keys`, reordering them.
fn select_keys(keys: &mut [u64], ranks: &[usize], out: &mut [u64]) {
    let (lo, hi) = keys.iter().fold((u64::MAX, 0), |(lo, hi), &k| (lo.min(k), hi.max(k)));
    if lo == hi {
        out.iter_mut().for_each(|o| *o = lo);
    } else if keys.len() < RADIX_MIN_LEN {
        let mut start = 0usize;
        for (&r, o) in ranks.iter().zip(out.iter_mut()) {
            let (_, k, _) = keys[start..].select_nth_unstable(r - start);
            *o = *k;
            start = r + 1;
        }
    } else {
        let (mut gathered, regions, at) = radix_gather(|| keys.iter().copied(), ranks);
        select_in_regions(&mut gathered, &regions, &at, out);
    }
}

/// Solve each gathered bucket with [`select_keys`]: `at[i]` is rank `i`'s (bucket, rank inside).
fn select_in_regions(gathered: &mut [u64], regions: &[(usize, usize)], at: &[(usize, usize)], out: &mut [u64]) {
    let mut i = 0;
    while i < at.len() {
        let reg = at[i].0;
        let j = i + at[i..].iter().take_while(|a| a.0 == reg).count();
        let local: Vec<usize> = at[i..j].iter().map(|a| a.1).collect();
        let (start, len) = regions[reg];
        select_keys(&mut gathered[start..start + len], &local, &mut out[i..j]);
        i = j;
    }
}

/// One histogram pass over `keys()` (called three times, same sequence each time): the range
/// `[lo, hi]` cut into `2^16` equal buckets, the buckets holding the wanted `ranks` (ascending),
/// and their keys gathered bucket after bucket. Returns the gathered keys, each wanted bucket's
/// `(start, len)` in them, and each rank's `(bucket index, rank inside the bucket)`.
#[allow(clippy::type_complexity)]
fn radix_gather<I: Iterator<Item = u64>>(keys: impl Fn() -> I, ranks: &[usize]) -> (Vec<u64>, Vec<(usize, usize)>, Vec<(usize, usize)>) {
    const BITS: u32 = 16;
    const MASK: usize = (1 << BITS) - 1;
    let (lo, hi) = keys().fold((u64::MAX, 0), |(lo, hi), k| (lo.min(k), hi.max(k)));
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(BITS);
    // `& MASK` changes nothing (the range fits `BITS` bits) and spares the bounds checks.
    let bucket = |k: u64| ((k - lo) >> shift) as usize & MASK;
    let mut counts: Box<[u32; 1 << BITS]> = Box::new([0; 1 << BITS]);
    for k in keys() {
        counts[bucket(k)] += 1;
    }
    let mut place: Box<[u32; 1 << BITS]> = Box::new([u32::MAX; 1 << BITS]);
    let mut regions: Vec<(usize, usize)> = Vec::new();
    let mut at: Vec<(usize, usize)> = Vec::with_capacity(ranks.len());
    let (mut below, mut b, mut gathered) = (0usize, 0usize, 0usize);
    for &r in ranks {
        while below + counts[b] as usize <= r {
            below += counts[b] as usize;
            b += 1;
        }
        if place[b] == u32::MAX {
            place[b] = regions.len() as u32;
            regions.push((gathered, counts[b] as usize));
            gathered += counts[b] as usize;
        }
        at.push((place[b] as usize, r - below));
    }
    let mut out = vec![0u64; gathered];
    let mut fill: Vec<usize> = regions.iter().map(|r| r.0).collect();
    for k in keys() {
        let p = place[bucket(k)];
        if p != u32::MAX {
            out[fill[p as usize]] = k;
            fill[p as usize] += 1;
        }
    }
    (out, regions, at)
}

/// The percentiles a [`Stats`] reports.
const STATS_PERCENTILES: [f64; 6] = [50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

impl Stats {
    /// Summary of unsorted values (reordered in place, not fully sorted).
    pub fn of(mut v: Vec<f64>) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let mut p = [0.0; 6];
        percentiles_unsorted(&mut v, &STATS_PERCENTILES, &mut p);
        Stats::from_parts(v.len(), mean, p)
    }

    /// [`Stats::of`] values it may not reorder: the same summary, bit for bit. Large inputs
    /// (the histogram path) are only read; smaller ones are copied first.
    pub fn of_slice(v: &[f64]) -> Stats {
        if v.len() < RADIX_MIN_LEN || v.len() > u32::MAX as usize {
            return Stats::of(v.to_vec());
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let mut p = [0.0; 6];
        percentiles_radix(v, &STATS_PERCENTILES, &mut p);
        Stats::from_parts(v.len(), mean, p)
    }

    fn from_parts(n: usize, mean: f64, p: [f64; 6]) -> Stats {
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
        if self.sketch.is_none() && self.values.len() == self.limit {
            // The value past the limit: switch before storing it, so that the exact values
            // never outgrow `limit` (a `Vec` would double its buffer for this one value).
            self.switch_to_sketch();
        }
        match &mut self.sketch {
            None => self.values.push(x),
            Some(s) => {
                s.add(x);
                self.sum += x;
                self.count += 1;
                self.max = self.max.max(x);
            }
        }
    }

    /// Add values in order (the same as pushing each: past the limit the sketch, sum and max
    /// see the same values in the same order).
    pub fn extend(&mut self, xs: impl ExactSizeIterator<Item = f64>) {
        if self.sketch.is_none() && self.values.len() + xs.len() <= self.limit {
            self.values.extend(xs);
        } else {
            xs.for_each(|x| self.push(x));
        }
    }

    /// Move the exact values into a sketch.
    fn switch_to_sketch(&mut self) {
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

    /// Whether the percentiles are exact.
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }

    /// The summary.
    pub fn stats(self) -> Stats {
        match self.sketch {
            None => Stats::of(self.values),
            Some(s) => Self::sketch_stats(&s, self.count, self.sum, self.max),
        }
    }

    /// [`Quantiles::stats`] of a distribution that stays as it is (no copy of large exact
    /// values: see [`Stats::of_slice`]).
    pub fn stats_of_ref(&self) -> Stats {
        match &self.sketch {
            None => Stats::of_slice(&self.values),
            Some(s) => Self::sketch_stats(s, self.count, self.sum, self.max),
        }
    }

    fn sketch_stats(s: &DDSketch, count: u64, sum: f64, max: f64) -> Stats {
        let q = |p: f64| s.quantile(p).ok().flatten().unwrap_or(0.0);
        Stats { count, mean: sum / count as f64, p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), p999: q(0.999), max }
    }
}
