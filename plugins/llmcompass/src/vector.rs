//! Vector-unit operators: softmax, layer norm and the element-wise family (GeLU, SiLU, Mul).
//!
//! Reference: `shared/reference/llmcompass-model.md` §2.2 (softmax), §2.3 (layernorm), §2.4
//! (GeLU; the fork's SiLU and Mul). `word_bytes` is the element size; LLMCompass always passes
//! 2 (quirk 5 of §7: the vector data type of a template is fp16), the backend passes the kernel's
//! size when quirks are off.

use crate::hardware::{Hardware, FLOPS_PER_EXP};
use reallm_plugin_api::PluginError;

fn check_rows(op: &str, m: u64, n: u64) -> Result<(), PluginError> {
    if m == 0 || n == 0 {
        return Err(PluginError::invalid(format!("{op} over [{m}, {n}]: both dimensions must be positive")));
    }
    Ok(())
}

/// Rows of an L2 tile: `min(M, floor(L2 / (N·word) / div))`, at least 1 (LLMCompass divides by
/// zero when one row does not fit; a row larger than L2 is streamed one at a time here).
fn l2_rows(hw: &Hardware, m: u64, n: u64, word_bytes: f64, div: f64) -> u64 {
    let rows = (hw.l2_bytes as f64 / (n as f64 * word_bytes)).floor();
    let rows = (rows / div).floor() as u64;
    rows.clamp(1, m)
}

/// `Softmax.compile_and_simulate` (§2.2): row softmax over `[m, n]`, in cycles.
///
/// L2 tiles are `l2M = min(M, L2 // (N·word))` full rows, not double-buffered; per L2 tile
/// `read + compute + write` with `read = write = ceil(m·N·word / bpc)`. The compute of an L2
/// tile of `m` rows with L1 tile `(l1M, l1N)` is
/// `(ceil(ceil(m/l1M)·ceil(N/l1N) / C) + 1) · (2r + c + log2(ceil(N/l1N))·red)` with
/// `r = ceil(l1M·l1N·word / l2bw)`, `c = ceil(l1M·l1N·(3·35 + 7) / Vc)` and
/// `red = l1M·l1N·(35 + 2)/Vc + l1M·l1N·word·2/(l2bw/C)`. The minimum over
/// `l1N = ceil(N/g)`, `g ∈ {1,…,32}`, and `l1M ∈ {1,…,256}` fitting the local buffer wins (the
/// L1 double-buffer flag only changes that fit test, quirk 6, so the fit is `≤ SRAM`).
pub fn softmax_cycles(hw: &Hardware, m: u64, n: u64, word_bytes: f64) -> Result<f64, PluginError> {
    check_rows("softmax", m, n)?;
    let l2m = l2_rows(hw, m, n, word_bytes, 1.0);
    let bpc = hw.dram_bytes_per_cycle();
    let l2bw = hw.l2_bytes_per_cycle;
    let vc = hw.vc();
    let c_cores = hw.cores as f64;
    let tiles = [(l2m, m / l2m), (m % l2m, u64::from(!m.is_multiple_of(l2m)))];
    let mut best = f64::INFINITY;
    for g in [1u64, 2, 4, 8, 16, 32] {
        let l1n = n.div_ceil(g);
        for l1m in [1u64, 2, 4, 8, 16, 32, 64, 128, 256] {
            let elems = (l1m * l1n) as f64;
            if elems * word_bytes > hw.sram_bytes as f64 {
                continue;
            }
            let r = (elems * word_bytes / l2bw).ceil();
            let c = (elems * (3 * FLOPS_PER_EXP + 7) as f64 / vc).ceil();
            let red = elems * (FLOPS_PER_EXP + 2) as f64 / vc + elems * word_bytes * 2.0 / (l2bw / c_cores);
            let n_tiles = n.div_ceil(l1n);
            let per_wave = r + r + c + (n_tiles as f64).log2() * red;
            let mut total = 0.0;
            for (rows, count) in tiles {
                if count == 0 {
                    continue;
                }
                let io = ((rows * n) as f64 * word_bytes / bpc).ceil();
                let waves = (rows.div_ceil(l1m) * n_tiles).div_ceil(hw.cores) + 1;
                total += count as f64 * (io + waves as f64 * per_wave + io);
            }
            if total < best {
                best = total;
            }
        }
    }
    if best.is_finite() {
        Ok(best)
    } else {
        Err(PluginError::invalid(format!("softmax over [{m}, {n}]: no L1 tile fits the {} B local buffer", hw.sram_bytes)))
    }
}

/// `LayerNorm.compile_and_simulate` with `heuristic-GPU` (§2.3), in cycles.
///
/// `l2M = min(M, L2 // (N·word) // 2)`; L1 `l1N = N`, `l1M = SRAM // (l1N·word) // 2`, halving
/// `l1N` while `l1M < S`, then `l1M = min(l1M, l2M)`. Per L2 tile `read + compute + write`, and
/// compute = `ceil(ceil(m/l1M)·ceil(N/l1N) / C) · (3r + r + c + (ceil(N/l1N) − 1)·red)` with
/// `r = ceil(l1M·l1N·word / l2bw)`, `red = l1M·l1N/Vc + l1M·l1N·word·2/(l2bw/C)` and
/// `c = ceil(ab/fpl) + log2(vw) + 2·ceil(ab/fpl) + log2(vw) + 4·ceil(ab/fpl)`,
/// `a = ceil(l1M/S)`, `b = ceil(l1N/vw)` (mean, variance, normalise).
pub fn layernorm_cycles(hw: &Hardware, m: u64, n: u64, word_bytes: f64) -> Result<f64, PluginError> {
    check_rows("layernorm", m, n)?;
    let l2m = l2_rows(hw, m, n, word_bytes, 2.0);
    let sram = hw.sram_bytes as f64;
    let l1_rows = |l1n: u64| ((sram / (l1n as f64 * word_bytes)).floor() / 2.0).floor() as u64;
    let mut l1n = n;
    let mut l1m = l1_rows(l1n);
    while l1m < hw.sublanes {
        if l1n == 1 {
            return Err(PluginError::invalid(format!("layernorm: the {} B local buffer cannot hold {} rows", hw.sram_bytes, hw.sublanes)));
        }
        l1n /= 2;
        l1m = l1_rows(l1n);
    }
    let l1m = l1m.min(l2m);
    let bpc = hw.dram_bytes_per_cycle();
    let l2bw = hw.l2_bytes_per_cycle;
    let vc = hw.vc();
    let elems = (l1m * l1n) as f64;
    let r = (elems * word_bytes / l2bw).ceil();
    let red = elems / vc + elems * word_bytes * 2.0 / (l2bw / hw.cores as f64);
    let ab = (l1m.div_ceil(hw.sublanes) * l1n.div_ceil(hw.vector_width)) as f64;
    let fpl = hw.vector_flop_per_lane as f64;
    let log_vw = (hw.vector_width as f64).log2();
    let c = (ab / fpl).ceil() + log_vw + 2.0 * (ab / fpl).ceil() + log_vw + 4.0 * (ab / fpl).ceil();
    let n_tiles = n.div_ceil(l1n);
    let per_wave = 3.0 * r + r + c + (n_tiles - 1) as f64 * red;
    let mut total = 0.0;
    for (rows, count) in [(l2m, m / l2m), (m % l2m, u64::from(!m.is_multiple_of(l2m)))] {
        if count == 0 {
            continue;
        }
        let io = ((rows * n) as f64 * word_bytes / bpc).ceil();
        let waves = (rows.div_ceil(l1m) * n_tiles).div_ceil(hw.cores);
        total += count as f64 * (io + waves as f64 * per_wave + io);
    }
    Ok(total)
}

/// An element-wise vector operator in LLMCompass's GeLU structure (§2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elementwise {
    /// Tensors of `E` elements moved through DRAM and L2 (2 for GeLU/SiLU: one read, one write;
    /// 3 for Mul: two reads, one write).
    pub tensors: u64,
    /// Vector flops per element (GeLU `10 + 35`, SiLU `4 + 35`, Mul 1).
    pub flops_per_element: u64,
}

impl Elementwise {
    /// GeLU: 2 tensors, `10 + flops_per_exp` flops per element.
    pub const GELU: Elementwise = Elementwise { tensors: 2, flops_per_element: 10 + FLOPS_PER_EXP };
    /// SiLU (the fork): 2 tensors, `4 + flops_per_exp` flops per element.
    pub const SILU: Elementwise = Elementwise { tensors: 2, flops_per_element: 4 + FLOPS_PER_EXP };
    /// Mul (the fork, `a·b`): 3 tensors, 1 flop per element.
    pub const MUL: Elementwise = Elementwise { tensors: 3, flops_per_element: 1 };

    /// Seconds for `elements` elements (`GeLU.compile_and_simulate`, §2.4): `E` is rounded up
    /// to a multiple of `C · vector_width · S`; `io = T·E·word/io_bw + T·E·word/l2bw/f` (DRAM
    /// and L2 times added); `compute = E·flops/Vc/C/f`; the result is `max(compute, io)`.
    pub fn seconds(&self, hw: &Hardware, elements: u64, word_bytes: f64) -> f64 {
        let parallelism = hw.cores * hw.vector_width * hw.sublanes;
        let e = elements.div_ceil(parallelism) * parallelism;
        let io_bytes = e as f64 * self.tensors as f64 * word_bytes;
        let io = io_bytes / hw.dram_bytes_per_s + io_bytes / hw.l2_bytes_per_cycle / hw.freq_hz;
        let flops = e as f64 * self.flops_per_element as f64;
        let compute = flops / hw.vc() / hw.cores as f64 / hw.freq_hz;
        compute.max(io)
    }
}
