//! Measured times on a rectilinear grid, interpolated multilinearly in log–log space.
//!
//! A kernel's time is close to a power law in each of its dimensions piecewise (flat where it
//! is latency or weight bound, linear where it is compute or bandwidth bound), so
//! interpolation runs on `ln t` over `ln x` in every dimension: between two measured sizes the
//! curve is the power law through them. The result lies between the smallest and largest of
//! the corners it is built from (multilinear weights are non-negative and sum to 1), so it is
//! monotone wherever the data is. Outside the measured range of any dimension, or where a
//! corner with non-zero weight was not measured, there is no answer (the backend then falls
//! back to its model and counts it).

/// Times on a `D`-dimensional grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid<const D: usize> {
    /// Measured coordinates per dimension, ascending.
    pub axes: [Vec<u64>; D],
    ln_axes: [Vec<f64>; D],
    /// `ln(seconds)` in row-major order of `axes` (last dimension fastest); NaN = not measured.
    ln_t: Vec<f64>,
}

// Loops over the dimensions index several per-dimension arrays at once.
#[allow(clippy::needless_range_loop)]
impl<const D: usize> Grid<D> {
    /// Build from points `(coordinates, seconds)`. Duplicate coordinates keep the smallest time
    /// (alternative kernels for one shape: the framework's tuner picks the fastest). Points
    /// with a zero coordinate or a non-positive or non-finite time are ignored.
    pub fn from_points(points: &[([u64; D], f64)]) -> Grid<D> {
        let mut axes: [Vec<u64>; D] = std::array::from_fn(|_| Vec::new());
        for (x, t) in points {
            if x.contains(&0) || !(t.is_finite() && *t > 0.0) {
                continue;
            }
            for d in 0..D {
                axes[d].push(x[d]);
            }
        }
        for a in axes.iter_mut() {
            a.sort_unstable();
            a.dedup();
        }
        let size: usize = axes.iter().map(Vec::len).product();
        let mut ln_t = vec![f64::NAN; size];
        for (x, t) in points {
            if x.contains(&0) || !(t.is_finite() && *t > 0.0) {
                continue;
            }
            let mut idx = 0;
            for d in 0..D {
                // Present by construction.
                let i = axes[d].binary_search(&x[d]).unwrap_or(0);
                idx = idx * axes[d].len() + i;
            }
            let v = t.ln();
            if ln_t[idx].is_nan() || v < ln_t[idx] {
                ln_t[idx] = v;
            }
        }
        let ln_axes = std::array::from_fn(|d| axes[d].iter().map(|&v| (v as f64).ln()).collect());
        Grid { axes, ln_axes, ln_t }
    }

    /// Number of measured points.
    pub fn points(&self) -> usize {
        self.ln_t.iter().filter(|v| !v.is_nan()).count()
    }

    /// The measured time at exact grid coordinates, seconds.
    pub fn at(&self, x: [u64; D]) -> Option<f64> {
        let mut idx = 0;
        for d in 0..D {
            let i = self.axes[d].binary_search(&x[d]).ok()?;
            idx = idx * self.axes[d].len() + i;
        }
        let v = self.ln_t[idx];
        (!v.is_nan()).then(|| v.exp())
    }

    /// Interpolated time at `x` (positive, possibly fractional coordinates), seconds.
    pub fn lookup(&self, x: [f64; D]) -> Option<f64> {
        // Per dimension: lower index, upper index, weight of the upper one.
        let mut br = [(0usize, 0usize, 0.0f64); D];
        for d in 0..D {
            if !(x[d] > 0.0 && x[d].is_finite()) {
                return None;
            }
            br[d] = bracket(&self.ln_axes[d], x[d].ln())?;
        }
        let mut acc = 0.0;
        for corner in 0..(1usize << D) {
            let mut w = 1.0;
            let mut idx = 0;
            for d in 0..D {
                let (lo, hi, wu) = br[d];
                let upper = corner >> d & 1 == 1;
                let (i, wd) = if upper { (hi, wu) } else { (lo, 1.0 - wu) };
                w *= wd;
                idx = idx * self.axes[d].len() + i;
            }
            if w == 0.0 {
                continue;
            }
            let v = self.ln_t[idx];
            if v.is_nan() {
                return None;
            }
            acc += w * v;
        }
        Some(acc.exp())
    }
}

/// `(lower, upper, weight of upper)` of `v` in the ascending `axis`; an exact match has weight 0
/// (or 1 at the last point). `None` outside `[first, last]` (with a relative tolerance of 1e-12).
fn bracket(axis: &[f64], v: f64) -> Option<(usize, usize, f64)> {
    let n = axis.len();
    if n == 0 {
        return None;
    }
    let tol = 1e-12 * v.abs().max(1.0);
    if v < axis[0] - tol || v > axis[n - 1] + tol {
        return None;
    }
    let i = axis.partition_point(|&a| a < v);
    if i < n && (axis[i] - v).abs() <= tol {
        return Some((i, i, 0.0));
    }
    if i == 0 {
        return Some((0, 0, 0.0));
    }
    if i == n {
        return Some((n - 1, n - 1, 0.0));
    }
    let (a, b) = (axis[i - 1], axis[i]);
    Some((i - 1, i, ((v - a) / (b - a)).clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_between_points_and_none_outside() {
        // t = 1e-6 · x at x = 1, 4, 16: log-log interpolation reproduces the line exactly.
        let g = Grid::<1>::from_points(&[([1], 1e-6), ([4], 4e-6), ([16], 16e-6)]);
        assert!((g.lookup([2.0]).unwrap() - 2e-6).abs() < 1e-18);
        assert!((g.lookup([8.0]).unwrap() - 8e-6).abs() < 1e-18);
        assert_eq!(g.lookup([16.0]), Some(16e-6_f64.ln().exp()));
        assert_eq!(g.lookup([17.0]), None);
        assert_eq!(g.lookup([0.5]), None);
        // Flat then rising: the value at 2 lies between the two neighbours.
        let g = Grid::<1>::from_points(&[([1], 5e-6), ([4], 5e-6), ([16], 20e-6)]);
        assert!((g.lookup([2.0]).unwrap() - 5e-6).abs() < 1e-15);
        let t = g.lookup([8.0]).unwrap();
        // ln-linear: 5 µs · 4^(ln 2 / ln 4) = 10 µs.
        assert!((t - 10e-6).abs() < 1e-12, "{t}");
    }

    #[test]
    fn bilinear_duplicates_and_holes() {
        // t(a, b) = a · b µs on a 2×2 grid; the duplicate keeps the smaller time.
        let g = Grid::<2>::from_points(&[([1, 1], 1e-6), ([1, 4], 4e-6), ([4, 1], 4e-6), ([4, 4], 16e-6), ([4, 4], 20e-6)]);
        assert_eq!(g.points(), 4);
        assert!((g.lookup([2.0, 2.0]).unwrap() - 4e-6).abs() < 1e-15);
        assert_eq!(g.at([4, 4]), Some((16e-6f64).ln().exp()));
        // A hole at (4, 4): points that need it have no answer, points on the edge do.
        let g = Grid::<2>::from_points(&[([1, 1], 1e-6), ([1, 4], 4e-6), ([4, 1], 4e-6)]);
        assert_eq!(g.lookup([2.0, 2.0]), None);
        assert!((g.lookup([1.0, 2.0]).unwrap() - 2e-6).abs() < 1e-15);
    }
}
