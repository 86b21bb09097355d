//! Collective times fitted to measured NCCL and framework all-reduce tables, per device, GPU
//! count and implementation.
//!
//! Each measured curve (time against message bytes for one operation, implementation and GPU
//! count, within one node) is fitted by a **segmented power law**: `ln t` is piecewise linear in
//! `log2 bytes` with knots every factor of 2 from 1 KiB to 1 GiB (the measured sizes), the knot
//! values chosen by least squares with a small curvature penalty
//! (`plugins/measured/examples/fit_aic.rs`). In effect a smoothed copy of the measured curve, 21
//! numbers per curve. A segmented law rather than `α + D/B` because measured collectives switch
//! protocol and algorithm with the size (NCCL's LL, LL128 and Simple protocols, ring and
//! tree/NVLS; the frameworks' one-shot and two-shot kernels and their hand-over to NCCL), which
//! no single α–β pair follows within 15 %: the best α–β fits miss H100 NCCL all-reduce by up to
//! 30–40 %, a soft-max of latency and bandwidth terms by up to 18–38 %. How well the law
//! predicts sizes it was not fitted on is measured by fitting on every other size (knots every
//! factor of 4) and testing on the rest (`docs/validation.md`).
//!
//! Outside the fitted range: below 1 KiB the 1 KiB time (the latency floor); above 1 GiB the
//! time grows in proportion to the bytes (bandwidth bound). GPU counts between fitted ones
//! interpolate linearly in the count; above the largest fitted count `P̂`, the `P̂` curve at the
//! bytes scaled by the ring traffic ratio `((P−1)/P) / ((P̂−1)/P̂)`, plus the measured growth of
//! the small-message latency per doubling of the count times `log2(P / P̂)` (an extrapolation:
//! no measurement beyond 8 GPUs).

use serde::{Deserialize, Serialize};

/// One fitted curve: `ln t` (seconds) at `log2(bytes) = log2_first + i·log2_step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    pub ranks: u32,
    pub log2_first: f64,
    pub log2_step: f64,
    pub ln_t: &'static [f64],
}

impl Curve {
    /// Seconds for a message of `bytes` bytes.
    pub fn eval(&self, bytes: f64) -> f64 {
        eval_knots(self.ln_t, self.log2_first, self.log2_step, bytes)
    }
}

/// Seconds for `bytes` from knot values `ln_t` at `log2 bytes = first + i·step` (see [`Curve`]).
pub fn eval_knots(ln_t: &[f64], first: f64, step: f64, bytes: f64) -> f64 {
    let n = ln_t.len();
    if n == 0 {
        return 0.0;
    }
    let x = bytes.max(1.0).log2();
    let last_x = first + step * (n - 1) as f64;
    if x <= first || n == 1 {
        return ln_t[0].exp();
    }
    if x >= last_x {
        // Bandwidth bound beyond the last knot.
        return ln_t[n - 1].exp() * (x - last_x).exp2();
    }
    let f = (x - first) / step;
    let i = (f.floor() as usize).min(n - 2);
    let w = f - i as f64;
    ((1.0 - w) * ln_t[i] + w * ln_t[i + 1]).exp()
}

/// The fitted curves of one device (sorted by GPU count within each operation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommFit {
    /// What the curves were fitted on.
    pub source: &'static str,
    pub nccl_all_reduce: &'static [Curve],
    pub nccl_all_gather: &'static [Curve],
    pub nccl_reduce_scatter: &'static [Curve],
    pub nccl_all_to_all: &'static [Curve],
    /// TensorRT-LLM's all-reduce (its automatic one-shot / two-shot / NCCL choice).
    pub trtllm_all_reduce: &'static [Curve],
    /// vLLM's custom all-reduce under CUDA-graph replay.
    pub vllm_all_reduce: &'static [Curve],
}

/// Devices with fitted collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommDevice {
    A100,
    H100,
    H200,
    B200,
}

impl CommDevice {
    /// The fitted curves.
    pub fn fit(self) -> &'static CommFit {
        match self {
            CommDevice::A100 => &crate::fitted::A100_COMM,
            CommDevice::H100 => &crate::fitted::H100_COMM,
            CommDevice::H200 => &crate::fitted::H200_COMM,
            CommDevice::B200 => &crate::fitted::B200_COMM,
        }
    }
}

/// Which all-reduce implementation a scale-up all-reduce runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllReduceImpl {
    /// TensorRT-LLM's all-reduce where fitted (it picks one-shot, two-shot or NCCL by size) and
    /// the group fits its largest fitted GPU count (8), else NCCL.
    #[default]
    Auto,
    /// NCCL.
    Nccl,
    /// TensorRT-LLM's custom all-reduce.
    Trtllm,
    /// vLLM's custom all-reduce (CUDA graphs); SGLang uses the same kernel.
    #[serde(alias = "sglang")]
    Vllm,
}

/// Time of a collective over `ranks` GPUs from the curves of one operation, or `None` when
/// there are none.
pub fn time(curves: &[Curve], ranks: u32, bytes: f64) -> Option<f64> {
    if curves.is_empty() || ranks < 2 {
        return None;
    }
    if let Some(c) = curves.iter().find(|c| c.ranks == ranks) {
        return Some(c.eval(bytes));
    }
    let first = curves[0];
    let last = curves[curves.len() - 1];
    if ranks < first.ranks {
        return Some(first.eval(bytes));
    }
    if ranks > last.ranks {
        let p = ranks as f64;
        let pl = last.ranks as f64;
        let traffic = ((p - 1.0) / p) / ((pl - 1.0) / pl);
        let growth = if curves.len() >= 2 {
            let prev = curves[curves.len() - 2];
            let small = 1024.0;
            ((last.eval(small) - prev.eval(small)) / (pl / prev.ranks as f64).log2()).max(0.0)
        } else {
            0.0
        };
        return Some(last.eval(bytes * traffic) + growth * (p / pl).log2());
    }
    // Between two fitted counts: linear in the count.
    let hi = curves.iter().position(|c| c.ranks > ranks)?;
    let (a, b) = (curves[hi - 1], curves[hi]);
    let w = (ranks - a.ranks) as f64 / (b.ranks - a.ranks) as f64;
    Some((1.0 - w) * a.eval(bytes) + w * b.eval(bytes))
}

/// Least-squares knot values (`ln` seconds) at `log2 bytes = first + i·step`, `i < n`, for
/// measured points `(log2 bytes, ln seconds)`: `ln t` piecewise linear between knots, flat
/// below the first, proportional to bytes beyond the last (as [`Curve::eval`]); a small
/// second-difference penalty makes knots without data continue the neighbouring slope.
pub fn fit_knots(points: &[(f64, f64)], first: f64, step: f64, n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let mut ata = vec![vec![0.0; n]; n];
    let mut aty = vec![0.0; n];
    let last = first + step * (n - 1) as f64;
    for &(x, y) in points {
        let mut row = vec![0.0; n];
        let mut y = y;
        if x <= first || n == 1 {
            row[0] = 1.0;
        } else if x >= last {
            row[n - 1] = 1.0;
            y -= (x - last) * std::f64::consts::LN_2;
        } else {
            let f = (x - first) / step;
            let i = (f.floor() as usize).min(n - 2);
            let w = f - i as f64;
            row[i] = 1.0 - w;
            row[i + 1] = w;
        }
        for a in 0..n {
            aty[a] += row[a] * y;
            for b in 0..n {
                ata[a][b] += row[a] * row[b];
            }
        }
    }
    let lambda = 1e-4;
    for j in 1..n.saturating_sub(1) {
        let d = [(j - 1, 1.0), (j, -2.0), (j + 1, 1.0)];
        for &(a, wa) in &d {
            for &(b, wb) in &d {
                ata[a][b] += lambda * wa * wb;
            }
        }
    }
    // A tiny ridge keeps the system solvable when a whole curve has no data.
    for (j, row) in ata.iter_mut().enumerate() {
        row[j] += 1e-12;
    }
    solve(ata, aty)
}

/// Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        let d = a[c][c];
        if d.abs() < 1e-300 {
            continue;
        }
        let pivot = a[c].clone();
        for r in c + 1..n {
            let f = a[r][c] / d;
            for (x, p) in a[r].iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = if a[r][r].abs() < 1e-300 { 0.0 } else { (b[r] - s) / a[r][r] };
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const LN: [f64; 3] = [0.0, 1.0, 3.0];

    #[test]
    fn segmented_power_law_by_hand() {
        // Knots at 2^10, 2^12, 2^14 bytes with ln t = 0, 1, 3.
        let c = Curve { ranks: 8, log2_first: 10.0, log2_step: 2.0, ln_t: &LN };
        assert_eq!(c.eval(1024.0), 1.0);
        assert_eq!(c.eval(100.0), 1.0, "flat below the first knot");
        assert!((c.eval(2048.0) - 0.5f64.exp()).abs() < 1e-12, "halfway in log2 between the first two knots");
        assert!((c.eval(8192.0) - 2.0f64.exp()).abs() < 1e-12);
        // Beyond the last knot: proportional to bytes.
        assert!((c.eval(65536.0) - 3.0f64.exp() * 4.0).abs() < 1e-9);
    }

    #[test]
    fn least_squares_knots_recover_a_power_law() {
        // t = 1e-6 · (bytes / 1024): ln t linear in log2 bytes with slope ln 2; knots every 2.
        let pts: Vec<(f64, f64)> = (10..=20).map(|x| (x as f64, (1e-6f64).ln() + (x - 10) as f64 * std::f64::consts::LN_2)).collect();
        let k = fit_knots(&pts, 10.0, 2.0, 6);
        for (i, v) in k.iter().enumerate() {
            assert!((v - ((1e-6f64).ln() + 2.0 * i as f64 * std::f64::consts::LN_2)).abs() < 1e-6, "{i}: {v}");
        }
        // Beyond the data the extrapolation continues proportionally.
        assert!((eval_knots(&k, 10.0, 2.0, 1024.0 * 8192.0) / (8192e-6) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn ranks_between_and_beyond() {
        static A: [f64; 2] = [0.0, 1.0];
        static B: [f64; 2] = [1.0, 2.0];
        let curves = [
            Curve { ranks: 2, log2_first: 10.0, log2_step: 2.0, ln_t: &A },
            Curve { ranks: 4, log2_first: 10.0, log2_step: 2.0, ln_t: &B },
        ];
        assert_eq!(time(&curves, 2, 1024.0), Some(1.0));
        // 3 ranks: the mean of the 2- and 4-rank times.
        assert!((time(&curves, 3, 1024.0).unwrap() - (1.0 + 1f64.exp()) / 2.0).abs() < 1e-12);
        // 8 ranks: 4-rank curve at bytes · (7/8)/(3/4) plus (e − 1) per doubling of the count.
        let t8 = time(&curves, 8, 1024.0).unwrap();
        let expect = curves[1].eval(1024.0 * (7.0 / 8.0) / 0.75) + (1f64.exp() - 1.0);
        assert!((t8 - expect).abs() < 1e-12);
        assert_eq!(time(&curves, 1, 1024.0), None);
        assert_eq!(time(&[], 4, 1024.0), None);
    }
}
