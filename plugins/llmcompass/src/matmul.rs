//! LLMCompass's matmul model (`software_model/matmul.py`), ported exactly and made fast.
//!
//! Reference: `shared/reference/llmcompass-model.md` §2.1 (GEMV shortcut, `heuristic-GPU`
//! mapping search, two-level tile pipeline, systolic-array cycles) and §2.1.4 (BatchedMatmul).
//!
//! # How the port stays exact while being fast
//!
//! LLMCompass simulates every candidate mapping tile by tile. Four observations make the same
//! numbers cheap, without changing a single result:
//!
//! * **L2 level.** Each step of the DRAM ↔ L2 pipeline depends only on the classes (full or
//!   remainder in each dimension, at most 8) of the previous and current L2 tile and on the kind
//!   of index change. [`l2_pipeline_cycles`] therefore sums whole runs of identical steps with a
//!   multiplication, in O(1).
//! * **L1 level.** The wave schedule (which operand tiles each wave of `C` L1 tiles reads from
//!   L2 and writes back) does not depend on the L0 split. [`WaveSummary`] records it once per
//!   distinct (L2 tile shape, L1 tile shape) as a histogram of `(read cycles, set of compute
//!   classes of the previous wave)`, and every L0 split is then priced from the histogram. A
//!   wave is a contiguous run of the `knm` tile order, so each set the tile walk builds is a
//!   run of rows, columns or output positions: `wave_summary` prices a wave in O(K slices it
//!   touches) with prefix sums instead of O(C) tiles.
//! * **Memo.** The cycles of an L2 tile shape under each L0 split, with the fold formula for
//!   short array tiles, depend only on the device, the precision and `(L2 tile, L1 tile)`;
//!   [`SearchMemo`] keeps them across the candidates of one search and, in the backend, across
//!   searches. LLMCompass's look-up-table history (quirk 8) is per search and can change the
//!   cycles of a short tile on a non-square array: the memo also records which tiles of each
//!   shape are *history-sensitive*, each search keeps its own table of those, fed in
//!   LLMCompass's order, and a shape whose tile meets the other orientation there is re-priced
//!   (see [`SearchMemo`] for why this is exact).
//! * **Pruning.** Every step of the L2 pipeline is non-decreasing in the tiles' compute cycles,
//!   so the pipeline with zero compute is a lower bound on any mapping with those L2 tiles.
//!   An L2 candidate whose bound is not below the best cycle count found so far (in
//!   enumeration order) cannot replace it (ties keep the first), and is skipped (its
//!   history-sensitive tiles still enter the search's table, as in LLMCompass).
//!
//! The straightforward tile-by-tile simulation is kept in the tests as the reference the fast
//! path is checked against, and so are the tile-by-tile wave walk and the audited search as it
//! stood before the memo (a fresh table of every short tile, a per-search memo), which the fast
//! search must match bit for bit.

use crate::hardware::Hardware;
use crate::systolic::{self, find_permutations, l1_tile_cycles_lut, L0Split, SaLut};
use reallm_plugin_api::PluginError;
use rustc_hash::FxHashMap;
use std::fmt;

/// Element widths and MAC rate of one GEMM.
///
/// LLMCompass has a single operator word size for DRAM/L2 traffic and the systolic array's
/// input/output word size for L2 ↔ L1 traffic. Here each operand has its own width, in bits
/// (so fp4 works and a bf16 × fp8 GEMM reads fp8 weights); with equal widths every formula
/// reduces exactly to LLMCompass's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GemmPrecision {
    /// Left operand `[M, K]`, bits per element (DRAM and L2).
    pub a_bits: u64,
    /// Right operand `[K, N]` (the weight), bits per element.
    pub w_bits: u64,
    /// Result `[M, N]` and partial sums, bits per element.
    pub out_bits: u64,
    /// L2 → L1 width of the left operand (LLMCompass: the systolic array's input word).
    pub l1_a_bits: u64,
    /// L2 → L1 width of the right operand (LLMCompass: the systolic array's input word).
    pub l1_w_bits: u64,
    /// L1 ↔ L2 width of results and partial sums (LLMCompass: the array's output word).
    pub l1_out_bits: u64,
    /// MACs per PE per cycle (the device's `mac_per_cycle`, scaled for narrow types).
    pub mac_per_cycle: f64,
    /// Keep quirk 3 (the 2 % speed-up of under-utilised arrays, §7).
    pub underuse_speedup: bool,
    /// Reproduce LLMCompass's look-up-table history within a search (swapped-row hits on
    /// non-square arrays; [`SaLut`]).
    pub lut_history: bool,
}

/// Hashable identity of a [`GemmPrecision`].
pub type PrecisionKey = (u64, u64, u64, u64, u64, u64, u64, bool, bool);

impl GemmPrecision {
    /// One word size throughout, the systolic array's word at L1 and its native MAC rate: the
    /// exact LLMCompass configuration for an operator of `word_bytes`-byte elements.
    pub fn llmcompass(hw: &Hardware, word_bytes: u64) -> GemmPrecision {
        let bits = word_bytes * 8;
        GemmPrecision {
            a_bits: bits,
            w_bits: bits,
            out_bits: bits,
            l1_a_bits: hw.sa_word_bits,
            l1_w_bits: hw.sa_word_bits,
            l1_out_bits: hw.sa_word_bits,
            mac_per_cycle: hw.mac_per_cycle,
            underuse_speedup: true,
            lut_history: true,
        }
    }

    /// A hashable identity of the precision (for caches).
    pub fn key(&self) -> PrecisionKey {
        (
            self.a_bits,
            self.w_bits,
            self.out_bits,
            self.l1_a_bits,
            self.l1_w_bits,
            self.l1_out_bits,
            self.mac_per_cycle.to_bits(),
            self.underuse_speedup,
            self.lut_history,
        )
    }
}

/// One `heuristic-GPU` mapping of a matmul (§2.1, "Mapping search"). Loop orders are always
/// `knm` at both levels and the dataflow is always output-stationary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mapping {
    /// L2 (global-buffer) tile, elements.
    pub l2_tile_m: u64,
    pub l2_tile_n: u64,
    pub l2_tile_k: u64,
    /// Whether the L2 tile is double-buffered (the working set fits half of L2).
    pub l2_double_buffered: bool,
    /// L1 (per-core local buffer) tile, elements. The L1 is always treated as double-buffered.
    pub l1_tile_m: u64,
    pub l1_tile_n: u64,
    pub l1_tile_k: u64,
    /// L0 split of the L1 tile over the systolic arrays of a core.
    pub l0_m: u64,
    pub l0_n: u64,
    pub l0_k: u64,
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "L2 {}×{}×{}{}, L1 {}×{}×{}, L0 ({},{},{}), loops knm/knm, dataflow os",
            self.l2_tile_m,
            self.l2_tile_n,
            self.l2_tile_k,
            if self.l2_double_buffered { " double-buffered" } else { "" },
            self.l1_tile_m,
            self.l1_tile_n,
            self.l1_tile_k,
            self.l0_m,
            self.l0_n,
            self.l0_k
        )
    }
}

/// How LLMCompass costed a matmul.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatmulMethod {
    /// `M == 1` or `N == 1`: the vector-unit GEMV shortcut (no mapping).
    Gemv,
    /// The tiled simulation with its best mapping and cycle count.
    Tiled { cycles: u64, mapping: Mapping },
}

/// The result of costing one matmul.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulEstimate {
    pub seconds: f64,
    pub method: MatmulMethod,
}

fn check_dims(m: u64, k: u64, n: u64) -> Result<(), PluginError> {
    if m == 0 || k == 0 || n == 0 {
        return Err(PluginError::invalid(format!("matmul dimensions must be positive, got M={m}, K={k}, N={n}")));
    }
    // Keeps every element count of the simulation (at most M·N, K·N, M·K times 32 bits) far
    // inside u64 and every product exactly representable where LLMCompass relies on floats.
    const LIMIT: u64 = 1 << 40;
    if m.checked_mul(k).is_none_or(|x| x > LIMIT)
        || k.checked_mul(n).is_none_or(|x| x > LIMIT)
        || m.checked_mul(n).is_none_or(|x| x > LIMIT)
    {
        return Err(PluginError::invalid(format!(
            "matmul M={m}, K={k}, N={n} is too large for the llmcompass model (an operand exceeds 2^40 elements)"
        )));
    }
    Ok(())
}

/// LLMCompass's matmul roofline (`Matmul.roofline_model`, §2.1(a)):
/// `max(2MNK / peak_SA_flops, (MK + KN + MN) / min(io_bw, l2_bw))`.
///
/// With `count_elements` (quirk 1 of §7) the memory term divides an *element* count by a byte
/// bandwidth, as LLMCompass does (2× optimistic for fp16); otherwise it is multiplied by
/// `word_bytes`.
pub fn matmul_roofline_s(hw: &Hardware, m: u64, k: u64, n: u64, word_bytes: f64, count_elements: bool) -> f64 {
    let flops = 2.0 * m as f64 * n as f64 * k as f64;
    let elements = (m * k + k * n + m * n) as f64;
    let traffic = if count_elements { elements } else { elements * word_bytes };
    let bw = hw.dram_bytes_per_s.min(hw.l2_bytes_per_cycle * hw.freq_hz);
    (flops / hw.matmul_flops_per_s(hw.mac_per_cycle)).max(traffic / bw)
}

/// The GEMV shortcut (§2.1(b)1): `max((MK + KN + MN)·word / io_bw, 2MNK / (Vc·C·f))`, seconds.
/// Weights stream at full DRAM bandwidth; the multiply-adds run on the vector units.
pub fn gemv_s(hw: &Hardware, m: u64, k: u64, n: u64, prec: &GemmPrecision) -> f64 {
    let bits = (m * k) as f64 * prec.a_bits as f64 + (k * n) as f64 * prec.w_bits as f64 + (m * n) as f64 * prec.out_bits as f64;
    let io = bits / 8.0 / hw.dram_bytes_per_s;
    let compute = 2.0 * m as f64 * n as f64 * k as f64 / (hw.vc() * hw.cores as f64 * hw.freq_hz);
    io.max(compute)
}

/// `Matmul.compile_and_simulate(device, "heuristic-GPU")`: the GEMV shortcut when `M == 1` or
/// `N == 1`, the tiled search otherwise.
/// `Matmul.compile_and_simulate(device, "heuristic-GPU")`: the GEMV shortcut when `M == 1` or
/// `N == 1`, the tiled search otherwise.
pub fn matmul(hw: &Hardware, m: u64, k: u64, n: u64, prec: &GemmPrecision) -> Result<MatmulEstimate, PluginError> {
    matmul_memo(hw, m, k, n, prec, &mut SearchMemo::new())
}

/// [`matmul`] with a search memo kept across calls (see [`search_memo`]).
pub fn matmul_memo(
    hw: &Hardware,
    m: u64,
    k: u64,
    n: u64,
    prec: &GemmPrecision,
    memo: &mut SearchMemo,
) -> Result<MatmulEstimate, PluginError> {
    check_dims(m, k, n)?;
    if m == 1 || n == 1 {
        return Ok(MatmulEstimate { seconds: gemv_s(hw, m, k, n, prec), method: MatmulMethod::Gemv });
    }
    let (cycles, mapping) = search_memo(hw, m, k, n, prec, memo)?;
    Ok(MatmulEstimate { seconds: hw.seconds(cycles as f64), method: MatmulMethod::Tiled { cycles, mapping } })
}

/// `BatchedMatmul.compile_and_simulate` (§2.1.4): `bs` products `[M, K] × [K, N]`, costed as
/// `min(bs × Matmul(M, K, N), Matmul(M, K·bs, N) + (bs − 1)·M·N·word / io_bw)`. `matmul_s`
/// costs one matmul (so callers can cache it).
pub fn batched_matmul_s(
    hw: &Hardware,
    bs: u64,
    m: u64,
    k: u64,
    n: u64,
    prec: &GemmPrecision,
    mut matmul_s: impl FnMut(u64, u64, u64) -> Result<f64, PluginError>,
) -> Result<f64, PluginError> {
    if bs == 0 {
        return Ok(0.0);
    }
    let separate = bs as f64 * matmul_s(m, k, n)?;
    if bs == 1 {
        return Ok(separate);
    }
    let long_k = k.checked_mul(bs).ok_or_else(|| PluginError::invalid("batched matmul K·batch overflows"))?;
    let extra_writes = (bs - 1) as f64 * (m * n) as f64 * prec.out_bits as f64 / 8.0 / hw.dram_bytes_per_s;
    let concatenated = matmul_s(m, long_k, n)? + extra_writes;
    Ok(separate.min(concatenated))
}

// ---------------------------------------------------------------------------------------------
// Tile grids
// ---------------------------------------------------------------------------------------------

/// One dimension cut into tiles of `tile`: `count` tiles, the last one of size `last`
/// (`rem` when `last < tile`, i.e. a remainder tile). Tiles are not clipped to the matrix: a
/// tile larger than the dimension leaves one remainder tile of the real size (§2.1).
#[derive(Debug, Clone, Copy)]
struct Dim {
    tile: u64,
    count: u64,
    last: u64,
    rem: bool,
}

impl Dim {
    fn new(total: u64, tile: u64) -> Dim {
        let r = total % tile;
        Dim { tile, count: total / tile + u64::from(r > 0), last: if r > 0 { r } else { tile }, rem: r > 0 }
    }
    /// 1 if index `i` is the remainder tile.
    fn class(&self, i: u64) -> usize {
        usize::from(self.rem && i + 1 == self.count)
    }
    fn size(&self, class: usize) -> u64 {
        if class == 1 {
            self.last
        } else {
            self.tile
        }
    }
    fn size_at(&self, i: u64) -> u64 {
        self.size(self.class(i))
    }
}

/// Whether some tile of the grid has class `idx`: index 0 of a dimension is a full tile unless
/// the dimension is one remainder tile, and a remainder class needs a remainder.
fn present(dm: &Dim, dn: &Dim, dk: &Dim, idx: usize) -> bool {
    let ok = |d: &Dim, c: usize| if c == 1 { d.rem } else { d.count > 1 || !d.rem };
    ok(dm, idx & 1) && ok(dn, idx >> 1 & 1) && ok(dk, idx >> 2 & 1)
}

/// Tile class: bit 0 = remainder in M, bit 1 = remainder in N, bit 2 = remainder in K.
fn class(mc: usize, nc: usize, kc: usize) -> usize {
    mc | nc << 1 | kc << 2
}

/// Per-class L2-tile costs of the DRAM ↔ L2 pipeline, cycles (`L2TileSimulator`, §2.1).
#[derive(Debug, Clone, Copy, Default)]
struct L2Costs {
    mk_io: [u64; 8],
    kn_io: [u64; 8],
    mn_io: [u64; 8],
    /// Partial-sum accumulation: `ceil(m·n / Vd) + 2·ceil(m·n·word / l2bw)`.
    red: [u64; 8],
}

impl L2Costs {
    fn new(hw: &Hardware, dm: &Dim, dn: &Dim, dk: &Dim, prec: &GemmPrecision) -> L2Costs {
        let bpc = hw.dram_bytes_per_cycle();
        // `ceil(rows·cols·word / bpc)`; bits/8 is exact, so this is LLMCompass's float expression.
        let io = |elements: u64, bits: u64| ((elements * bits) as f64 / 8.0 / bpc).ceil() as u64;
        let vd = hw.vd() as f64;
        let mut c = L2Costs::default();
        for idx in 0..8 {
            let (m, n, k) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
            c.mk_io[idx] = io(m * k, prec.a_bits);
            c.kn_io[idx] = io(k * n, prec.w_bits);
            c.mn_io[idx] = io(m * n, prec.out_bits);
            c.red[idx] =
                ((m * n) as f64 / vd).ceil() as u64 + 2 * ((m * n * prec.out_bits) as f64 / 8.0 / hw.l2_bytes_per_cycle).ceil() as u64;
        }
        c
    }
}

/// Cycles of the DRAM ↔ L2 tile pipeline (`Matmul.simulate`, L2 level, loop order `knm`),
/// given each L2 tile class's compute cycles. Exact, in O(1): steps inside an `m` run,
/// between `n` runs and between `k` runs are summed per (previous class, current class), and
/// the K slices `1 ..= kt − 2` (full, not first, after a full slice) contribute alike.
fn l2_pipeline_cycles(dm: &Dim, dn: &Dim, dk: &Dim, io: &L2Costs, comp: &[u64; 8], double_buffered: bool) -> u64 {
    let step = |read: u64, compute: u64, write: u64| if double_buffered { read.max(compute) + write } else { read + compute + write };
    let (mt, nt, kt) = (dm.count, dn.count, dk.count);
    let m_first = dm.class(0);
    let m_last = dm.class(mt - 1);
    let n_first = dn.class(0);
    let n_last = dn.class(nt - 1);
    let mn_changes_with_k = mt > 1 || nt > 1;

    let mut total = io.mk_io[class(m_first, n_first, dk.class(0))] + io.kn_io[class(m_first, n_first, dk.class(0))];
    // The steps of K slice k: they depend on k only through its class, `k > 0` and the class
    // of slice k − 1.
    let slice = |k: u64| -> u64 {
        let mut total = 0;
        let kc = dk.class(k);
        let kpos = k > 0;
        // Steps inside the m run of one (n, k): m → m+1 reuses the K×N tile and reads M×K.
        let m_step = |pc: usize, cc: usize| {
            let read = io.mk_io[cc] + if kpos { io.mn_io[cc] } else { 0 };
            let compute = comp[pc] + if kpos { io.red[pc] } else { 0 };
            step(read, compute, io.mn_io[pc])
        };
        let m_run = |nc: usize| -> u64 {
            let full = class(0, nc, kc);
            if mt < 2 {
                0
            } else if dm.rem {
                (mt - 2) * m_step(full, full) + m_step(full, class(1, nc, kc))
            } else {
                (mt - 1) * m_step(full, full)
            }
        };
        let n_full_count = nt - u64::from(dn.rem);
        total += n_full_count * m_run(0) + if dn.rem { m_run(1) } else { 0 };
        // Steps from the end of one n run to the start of the next (same k).
        let n_step = |pnc: usize, cnc: usize| {
            let (pc, cc) = (class(m_last, pnc, kc), class(m_first, cnc, kc));
            let read = if mt == 1 { io.kn_io[cc] } else { io.mk_io[cc] + io.kn_io[cc] } + if kpos { io.mn_io[cc] } else { 0 };
            let compute = comp[pc] + if kpos { io.red[pc] } else { 0 };
            step(read, compute, io.mn_io[pc])
        };
        if nt >= 2 {
            total += if dn.rem { (nt - 2) * n_step(0, 0) + n_step(0, 1) } else { (nt - 1) * n_step(0, 0) };
        }
        // Step from the last tile of k−1 to the first tile of k.
        if kpos {
            let (pc, cc) = (class(m_last, n_last, dk.class(k - 1)), class(m_first, n_first, kc));
            let read = io.mk_io[cc] + io.kn_io[cc] + if mn_changes_with_k { io.mn_io[cc] } else { 0 };
            let compute = comp[pc] + io.red[pc];
            total += step(read, compute, if mn_changes_with_k { io.mn_io[pc] } else { 0 });
        }
        total
    };
    total += slice(0);
    if kt >= 3 {
        total += (kt - 2) * slice(1);
    }
    if kt >= 2 {
        total += slice(kt - 1);
    }
    let last = class(m_last, n_last, dk.class(kt - 1));
    total += io.mn_io[last] + comp[last];
    if kt > 1 {
        total += io.red[last];
    }
    total
}

// ---------------------------------------------------------------------------------------------
// L1 level: waves of C tiles
// ---------------------------------------------------------------------------------------------

/// Compute class of an L1 tile: its tile class (bits 0–2) plus bit 3 for `k > 0` (the tile
/// adds a partial sum on the core's vector unit).
fn compute_class(mc: usize, nc: usize, kc: usize, kpos: bool) -> usize {
    class(mc, nc, kc) | usize::from(kpos) << 3
}

/// The L0-independent part of the L2-tile compute simulation
/// (`L2TileSimulator.simulate_l2_tile_compute_cycle_count`, §2.1 "L1 level") for one L2 tile
/// shape and one L1 tile shape. With `comp(mask)` = the largest compute among the classes in
/// `mask`, the L2 tile takes
/// `first_read + Σ count·max(read, comp(prev_mask)) + write_cycles + comp(last_mask)` cycles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WaveSummary {
    /// Read cycles of the first wave (nothing to overlap with).
    first_read: u64,
    /// `(read cycles of wave w, compute classes of wave w−1, number of such waves)`, sorted.
    steps: Vec<(u64, u16, u64)>,
    /// Every previous-wave write-back plus the final write of the last wave.
    write_cycles: u64,
    last_mask: u16,
    /// Every compute class some wave holds (the only entries [`WaveSummary::cycles`] reads).
    classes: u16,
}

impl WaveSummary {
    fn cycles(&self, class_cycles: &[u64; 16]) -> u64 {
        let comp = |mask: u16| -> u64 {
            let mut best = 0;
            let mut bits = mask;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                best = best.max(class_cycles[i]);
                bits &= bits - 1;
            }
            best
        };
        let mut total = self.first_read + self.write_cycles + comp(self.last_mask);
        for &(read, mask, count) in &self.steps {
            total += count * read.max(comp(mask));
        }
        total
    }
}

/// Prefix sums of tile sizes over one L2 tile's grid of L1 tiles, positions `q = n·mt + m`
/// of one K slice (`knm` order): every sum the wave schedule needs in O(1).
#[derive(Debug, Clone, Copy)]
struct SliceGrid {
    dm: Dim,
    dn: Dim,
    /// `mt · nt`: tiles per K slice.
    p: u64,
    /// Rows and columns of the L2 tile (sums of all tile sizes).
    rows: u64,
    cols: u64,
}

impl SliceGrid {
    /// `Σ m-size` over the cyclic run of `len ≤ mt` row indices starting at `r0`.
    fn m_run(&self, r0: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let d = &self.dm;
        len * d.tile - if r0 + len >= d.count { d.tile - d.last } else { 0 }
    }

    /// `Σ n-size` over column indices `n0..=n1`.
    fn n_range(&self, n0: u64, n1: u64) -> u64 {
        let d = &self.dn;
        (n1 - n0 + 1) * d.tile - if n1 + 1 == d.count { d.tile - d.last } else { 0 }
    }

    /// `Σ m-size · n-size` over positions `0..q` (`q ≤ p`).
    fn prefix(&self, q: u64) -> u64 {
        let (j, r) = (q / self.dm.count, q % self.dm.count);
        let cols_before = if j >= self.dn.count { self.cols } else { j * self.dn.tile };
        cols_before * self.rows + if r > 0 { self.dn.size_at(j) * r * self.dm.tile } else { 0 }
    }

    /// `Σ m-size · n-size` over the cyclic run of `len ≤ p` positions starting at `q0 < p`.
    fn area_run(&self, q0: u64, len: u64) -> u64 {
        if q0 + len <= self.p {
            self.prefix(q0 + len) - self.prefix(q0)
        } else {
            self.prefix(self.p) - self.prefix(q0) + self.prefix(q0 + len - self.p)
        }
    }

    /// Bit set of the row classes present among row indices `a..=b` (bit 0 full, bit 1 remainder).
    fn m_classes(&self, a: u64, b: u64) -> u8 {
        classes(&self.dm, a, b)
    }

    fn n_classes(&self, a: u64, b: u64) -> u8 {
        classes(&self.dn, a, b)
    }
}

/// Bit set of the tile classes present among indices `a..=b` of a dimension.
fn classes(d: &Dim, a: u64, b: u64) -> u8 {
    let full = !d.rem || a + 1 < d.count;
    let rem = d.rem && b + 1 == d.count;
    u8::from(full) | u8::from(rem) << 1
}

/// Compute-class bits of every (row class, column class) pair of two class sets, for K class
/// `kc` and `kpos`.
fn mask_of(mc: u8, nc: u8, kc: usize, kpos: bool) -> u16 {
    let mut mask = 0;
    for m in 0..2 {
        for n in 0..2 {
            if mc >> m & 1 == 1 && nc >> n & 1 == 1 {
                mask |= 1 << compute_class(m, n, kc, kpos);
            }
        }
    }
    mask
}

/// Walk the L1 tiles of an `m2 × n2 × k2` L2 tile in `knm` order, in waves of `C` tiles, and
/// record each wave's L2 ↔ L1 traffic (§2.1 "L1 level"): operand tiles not held by the previous
/// wave are read; partial sums are read when the wave's last tile of that output has `k > 0`
/// and the previous wave neither read nor wrote it; the previous wave's outputs are written
/// back unless this wave keeps accumulating them.
///
/// Each wave is priced in O(K slices it touches) rather than O(C) tiles: the tiles of a wave
/// are one contiguous run of the `knm` order, so within a K slice they form a run of positions
/// `q = n·mt + m`, and every set the tile-by-tile walk builds (operand tiles not in the
/// previous wave, outputs read or written back) is a run of rows, of columns or of positions,
/// whose size is a prefix-sum difference ([`SliceGrid`]). The tile-by-tile walk is kept in
/// the tests (`wave_summary_by_tiles`) and the two are compared exhaustively on small grids.
#[allow(clippy::too_many_arguments)]
fn wave_summary(hw: &Hardware, prec: &GemmPrecision, m2: u64, n2: u64, k2: u64, l1m: u64, l1n: u64, l1k: u64) -> WaveSummary {
    let (dm, dn, dk) = (Dim::new(m2, l1m), Dim::new(n2, l1n), Dim::new(k2, l1k));
    let (mt, kt) = (dm.count, dk.count);
    let p = mt * dn.count;
    let g = SliceGrid { dm, dn, p, rows: m2, cols: n2 };
    let total = p * kt;
    let c = hw.cores;
    let l2bw = hw.l2_bytes_per_cycle;
    let cycles = |elements_bits: u64| (elements_bits as f64 / 8.0 / l2bw).ceil() as u64;

    let mut out = WaveSummary::default();
    let mut steps: Vec<(u64, u16, u64)> = Vec::new();
    let mut prev_mask: u16 = 0;
    let waves = total.div_ceil(c);
    for w in 0..waves {
        let a = w * c;
        let b = (a + c).min(total);
        let (k_first, k_last) = (a / p, (b - 1) / p);
        let (mut mk_elems, mut kn_elems) = (0u64, 0u64);
        let mut mask: u16 = 0;
        for k in k_first..=k_last {
            let qs = if k == k_first { a % p } else { 0 };
            let qe = if k == k_last { (b - 1) % p + 1 } else { p };
            let ksz = dk.size_at(k);
            // The previous wave's tiles in this slice: positions [qp, qs), only in the slice
            // holding tile a − 1.
            let prev_len = if w > 0 && k == k_first && qs > 0 { qs - (a - c).saturating_sub(k * p) } else { 0 };
            // Rows of M×K tiles new to this wave: the run from qs % mt, less the rows the
            // previous wave's run (ending just before) already holds.
            let cur_rows = (qe - qs).min(mt);
            let held_rows = prev_len.min(mt);
            mk_elems += g.m_run(qs % mt, cur_rows.min(mt - held_rows)) * ksz;
            // Columns of K×N tiles: n0..=n1, less the column shared with the previous wave.
            let (n0, n1) = (qs / mt + u64::from(prev_len > 0 && qs % mt != 0), (qe - 1) / mt);
            if n0 <= n1 {
                kn_elems += g.n_range(n0, n1) * ksz;
            }
            // Compute classes: first column, whole columns, last column.
            let (kc, kpos) = (dk.class(k), k > 0);
            let (c0, c1) = (qs / mt, (qe - 1) / mt);
            if c0 == c1 {
                mask |= mask_of(g.m_classes(qs % mt, (qe - 1) % mt), g.n_classes(c0, c0), kc, kpos);
            } else {
                mask |= mask_of(g.m_classes(qs % mt, mt - 1), g.n_classes(c0, c0), kc, kpos);
                if c1 > c0 + 1 {
                    mask |= mask_of(g.m_classes(0, mt - 1), g.n_classes(c0 + 1, c1 - 1), kc, kpos);
                }
                mask |= mask_of(g.m_classes(0, (qe - 1) % mt), g.n_classes(c1, c1), kc, kpos);
            }
        }
        // Output positions: this wave's run from a % p, the previous wave's run ending there.
        let q0 = a % p;
        let cur_len = (b - a).min(p);
        let prev_len = if w > 0 { c.min(p) } else { 0 };
        // Partial sums read: positions new to this wave whose last tile here has k > 0. Only a
        // wave starting in slice 0 has positions whose last tile is in slice 0: [max(a, b − p), min(b, p)).
        let new_len = cur_len.min(p - prev_len);
        let mut mn_read_elems = g.area_run(q0, new_len);
        if a < p {
            let (lo, hi) = (a.max(b.saturating_sub(p)), (a + new_len).min(b).min(p));
            if lo < hi {
                mn_read_elems -= g.prefix(hi) - g.prefix(lo);
            }
        }
        let read = cycles(mk_elems * prec.l1_a_bits + kn_elems * prec.l1_w_bits + mn_read_elems * prec.l1_out_bits);
        if w == 0 {
            out.first_read = read;
        } else {
            // The previous wave's outputs are written back unless this wave holds them (its
            // tiles there all have k > 0, so it keeps accumulating them).
            let overlap = (cur_len + prev_len).saturating_sub(p);
            let kept = if overlap > 0 { g.area_run((q0 + p - prev_len) % p, overlap) } else { 0 };
            let write_elems = g.area_run((q0 + p - prev_len) % p, prev_len) - kept;
            out.write_cycles += cycles(write_elems * prec.l1_out_bits);
            match steps.last_mut() {
                Some((r, m, n)) if *r == read && *m == prev_mask => *n += 1,
                _ => steps.push((read, prev_mask, 1)),
            }
        }
        out.classes |= mask;
        prev_mask = mask;
        if w + 1 == waves {
            // The last wave's compute and write-back (with the operator's output word).
            out.write_cycles += cycles(g.area_run(q0, cur_len) * prec.out_bits);
        }
    }
    out.last_mask = prev_mask;
    steps.sort_unstable();
    for (read, mask, n) in steps {
        match out.steps.last_mut() {
            Some((r, m, c)) if *r == read && *m == mask => *c += n,
            _ => out.steps.push((read, mask, n)),
        }
    }
    out
}

/// Compute cycles of the L1 compute classes in `classes` (see [`compute_class`]) for one L0
/// split; the other entries are left 0 (no wave holds them). With `lut`, short array tiles are
/// answered by LLMCompass's look-up-table history (see [`SaLut`]).
#[allow(clippy::too_many_arguments)]
fn l1_class_cycles(
    hw: &Hardware,
    prec: &GemmPrecision,
    dm: &Dim,
    dn: &Dim,
    dk: &Dim,
    split: L0Split,
    classes: u16,
    mut lut: Option<&mut SaLut>,
) -> [u64; 16] {
    let mut out = [0; 16];
    let vc = hw.vc();
    for idx in 0..8 {
        if classes & (1 << idx | 1 << (idx | 8)) == 0 {
            continue;
        }
        let (m, n, k) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
        let c = l1_tile_cycles_lut(
            m,
            n,
            k,
            split,
            hw.sa_height,
            hw.sa_width,
            prec.mac_per_cycle,
            vc,
            prec.underuse_speedup,
            lut.as_deref_mut(),
        );
        out[idx] = c;
        // With a partial sum to add (k > 0): ceil(m·n / Vc) on the core's vector unit.
        out[idx | 8] = c + ((m * n) as f64 / vc).ceil() as u64;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The heuristic-GPU search
// ---------------------------------------------------------------------------------------------

/// Memo key of one L2 tile shape under one L1 tiling: `(M, N, K, l1M = l1N, l1K)`.
type TileKey = (u64, u64, u64, u64, u64);

/// "None" in the `u32` fields of [`MemoEntry`].
const NONE: u32 = u32::MAX;

/// What a [`SearchMemo`] knows of one [`TileKey`] (indices into the memo's vectors, [`NONE`]
/// where absent).
#[derive(Debug, Clone, Copy)]
struct MemoEntry {
    /// Offset in [`SearchMemo::cycles`] of the cycles under each L0 split, once priced.
    cycles_at: u32,
    /// Offset in [`SearchMemo::ranges`] of one range of [`SearchMemo::queries`] per L0 split:
    /// the array tiles of this shape whose cycles the look-up-table history can change, in
    /// LLMCompass's query order (L1 tile class order). [`NONE`] when there is none.
    ranges_at: u32,
    /// Index in [`SearchMemo::summaries`] of the L0-independent wave schedule, kept (once
    /// priced) only for shapes with history-sensitive tiles, to re-price a split.
    summary: u32,
}

/// Heap bytes (as [`SearchMemo::heap_bytes`] estimates them) beyond which a memo starts
/// afresh at the start of a search, so that a long run over ever new shapes keeps it bounded
/// (about 200 bytes per L2 tile shape on square arrays, 400–700 with the history-sensitive
/// tiles of non-square ones; default_homo.yaml's 216 searches make 45,000 shapes on GA100). The
/// memo is a pure cache: clearing it changes no result.
const MEMO_MAX_BYTES: usize = 32 << 20;

/// L2 tile shapes already priced, for one device and precision, kept across the candidates of
/// one search and, in the backend, across searches (chunked prefill produces many shapes that
/// share all but their remainder tiles).
///
/// # Why sharing is exact with LLMCompass's look-up-table history
///
/// For each [`TileKey`] the memo stores the cycles under every L0 split *as the fold formula
/// gives them* (no table), which is a pure function of the device, the precision and the key.
/// LLMCompass's table (quirk 8, [`SaLut`]) answers a short array tile `(m, n, k)` with the fold
/// count of whichever orientation of `{(m, n, k), (n, m, k)}` the search queried first, so the
/// table changes a tile's cycles only when its two orientations fold differently (never on a
/// square array) and the search met the other orientation first. The memo records, per key and
/// split, exactly those *history-sensitive* tiles (`systolic::history_sensitive`); each search
/// keeps its own table of them, fed in LLMCompass's query order (pruned candidates included),
/// and re-prices a (key, split) from the kept `WaveSummary` only when one of its tiles meets
/// the other orientation in that table. Tiles that are not history-sensitive are answered the
/// same by any table, so leaving them out of it changes no answer. The tests compare the result
/// with the straightforward audited search (a fresh table holding every short tile, a fresh
/// memo, the tile-by-tile wave walk) bit for bit.
#[derive(Debug, Clone, Default)]
pub struct SearchMemo {
    /// The device and precision the entries belong to; another pair clears the memo.
    owner: Option<(Hardware, PrecisionKey)>,
    /// L0 splits of the device, in [`find_permutations`] order.
    splits: Vec<L0Split>,
    /// Whether the look-up-table history can change any result (quirk on, non-square array).
    track: bool,
    index: FxHashMap<TileKey, u32>,
    entries: Vec<MemoEntry>,
    /// Cycles per split, `splits.len()` values per priced key.
    cycles: Vec<u64>,
    /// `splits.len()` ranges of `queries` per key with history-sensitive tiles.
    ranges: Vec<(u32, u32)>,
    /// History-sensitive array tiles `(m, n, k)`.
    queries: Vec<(u64, u64, u64)>,
    summaries: Vec<WaveSummary>,
    /// Steps held by `summaries` (their capacity).
    summary_steps: usize,
}

impl SearchMemo {
    /// An empty memo.
    pub fn new() -> SearchMemo {
        SearchMemo::default()
    }

    /// L2 tile shapes met so far.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Nothing met yet.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Make the memo one for `hw` and `prec` (emptied if it held another pair's entries, or
    /// too many).
    fn bind(&mut self, hw: &Hardware, prec: &GemmPrecision) {
        self.bind_with_limit(hw, prec, MEMO_MAX_BYTES);
    }

    /// [`SearchMemo::bind`] with the size limit given.
    pub(crate) fn bind_with_limit(&mut self, hw: &Hardware, prec: &GemmPrecision, max_bytes: usize) {
        if self.owner.as_ref().is_some_and(|(h, p)| h == hw && *p == prec.key()) && self.heap_bytes() < max_bytes {
            return;
        }
        *self = SearchMemo {
            owner: Some((hw.clone(), prec.key())),
            splits: find_permutations(hw.sublanes),
            track: prec.lut_history && hw.sa_height != hw.sa_width,
            ..SearchMemo::default()
        };
    }

    /// An estimate of the heap the memo holds, bytes: its vectors' capacities, the index's
    /// slots (key, value and a control byte, at the map's capacity) and the wave schedules.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.index.capacity() * (size_of::<TileKey>() + size_of::<u32>() + 1)
            + self.entries.capacity() * size_of::<MemoEntry>()
            + self.cycles.capacity() * size_of::<u64>()
            + self.ranges.capacity() * size_of::<(u32, u32)>()
            + self.queries.capacity() * size_of::<(u64, u64, u64)>()
            + self.summaries.capacity() * size_of::<WaveSummary>()
            + self.summary_steps * size_of::<(u64, u16, u64)>()
    }

    /// The L1 grid of a key.
    fn grid(key: TileKey) -> (Dim, Dim, Dim) {
        let (sm, sn, sk, l1mn, l1k) = key;
        (Dim::new(sm, l1mn), Dim::new(sn, l1mn), Dim::new(sk, l1k))
    }

    /// Index of `key`'s entry, created (with its history-sensitive tiles, not yet priced) if new.
    fn id(&mut self, hw: &Hardware, key: TileKey) -> usize {
        if let Some(&id) = self.index.get(&key) {
            return id as usize;
        }
        let mut ranges_at = NONE;
        if self.track {
            let (dm, dn, dk) = Self::grid(key);
            let (first_range, first_query) = (self.ranges.len(), self.queries.len());
            for split in &self.splits {
                let start = self.queries.len() as u32;
                // The array tile of each L1 tile class, as `l1_tile_cycles_lut` forms it, in
                // the order `l1_class_cycles` queries the table.
                for idx in (0..8).filter(|&idx| present(&dm, &dn, &dk, idx)) {
                    let (m, n, k) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
                    let q = (m.div_ceil(split.m), n.div_ceil(split.n), k.div_ceil(split.k));
                    if systolic::history_sensitive(q.0, q.1, q.2, hw.sa_height, hw.sa_width) {
                        self.queries.push(q);
                    }
                }
                self.ranges.push((start, self.queries.len() as u32));
            }
            if self.queries.len() > first_query {
                ranges_at = first_range as u32;
            } else {
                self.ranges.truncate(first_range);
            }
        }
        let id = self.entries.len();
        self.entries.push(MemoEntry { cycles_at: NONE, ranges_at, summary: NONE });
        self.index.insert(key, id as u32);
        id
    }

    /// Offset in `cycles` of the per-split cycles of entry `id` (fold formula, no table),
    /// pricing it if new.
    fn priced(&mut self, hw: &Hardware, prec: &GemmPrecision, id: usize, key: TileKey) -> usize {
        if self.entries[id].cycles_at != NONE {
            return self.entries[id].cycles_at as usize;
        }
        let (sm, sn, sk, l1mn, l1k) = key;
        let summary = wave_summary(hw, prec, sm, sn, sk, l1mn, l1mn, l1k);
        let (dm, dn, dk) = Self::grid(key);
        let at = self.cycles.len();
        for &split in &self.splits {
            let class_cycles = l1_class_cycles(hw, prec, &dm, &dn, &dk, split, summary.classes, None);
            self.cycles.push(summary.cycles(&class_cycles));
        }
        let entry = &mut self.entries[id];
        entry.cycles_at = at as u32;
        if entry.ranges_at != NONE {
            entry.summary = self.summaries.len() as u32;
            self.summary_steps += summary.steps.capacity();
            self.summaries.push(summary);
        }
        at
    }

    /// Feed the history-sensitive tiles of entry `id` under split `si` to the search's table,
    /// in LLMCompass's order; true when one of them is answered with the other orientation's
    /// fold count (the memoised cycles do not hold for this search).
    fn replay(&self, hw: &Hardware, id: usize, si: usize, lut: &mut SaLut) -> bool {
        let at = self.entries[id].ranges_at;
        if at == NONE {
            return false;
        }
        let (start, end) = self.ranges[at as usize + si];
        let mut changed = false;
        for &(m, n, k) in &self.queries[start as usize..end as usize] {
            changed |= lut.cycles(m, n, k, hw.sa_height, hw.sa_width) != systolic::fold_cycles(m, n, k, hw.sa_height, hw.sa_width);
        }
        changed
    }

    /// Cycles of priced entry `id` under split `si` with the search's table answering short
    /// array tiles (after [`SearchMemo::replay`] has fed it this entry's tiles).
    fn repriced(&self, hw: &Hardware, prec: &GemmPrecision, id: usize, key: TileKey, si: usize, lut: &mut SaLut) -> u64 {
        let summary = &self.summaries[self.entries[id].summary as usize];
        let (dm, dn, dk) = Self::grid(key);
        summary.cycles(&l1_class_cycles(hw, prec, &dm, &dn, &dk, self.splits[si], summary.classes, Some(lut)))
    }
}

/// Candidate L2 `M` tiles of `heuristic-GPU` (§2.1): 64 … 2048.
const L2_TILE_M: [u64; 6] = [64, 128, 256, 512, 1024, 2048];
/// Candidate square L1 tiles (`l1M = l1N`), kept only when `≤ min(l2M, l2N)`.
const L1_TILE_MN: [u64; 4] = [32, 64, 128, 256];
/// L1 K split factors: `l1K = ceil(l2K / g)`.
const L1_K_FACTORS: [u64; 6] = [1, 2, 4, 8, 16, 32];

/// Largest power of two `≤ x` (`2 ** floor(log2(x))`), for `x ≥ 1`.
fn pow2_floor(x: u64) -> u64 {
    1 << (63 - x.leading_zeros())
}

/// The `heuristic-GPU` mapping search of `Matmul.compile_and_simulate` (§2.1(b)2): returns the
/// minimum cycle count of the tiled simulation and the first mapping (in LLMCompass's
/// enumeration order l2M → l2N → K factor → l1M → l1K factor → L0 split) that reaches it.
///
/// The GEMV shortcut is *not* applied here (see [`matmul`]).
pub fn search(hw: &Hardware, m: u64, k: u64, n: u64, prec: &GemmPrecision) -> Result<(u64, Mapping), PluginError> {
    search_memo(hw, m, k, n, prec, &mut SearchMemo::new())
}

/// [`search`] with a memo of priced L2 tile shapes kept across searches (same result, less
/// time when shapes share L2 tiles; see [`SearchMemo`]).
pub fn search_memo(
    hw: &Hardware,
    m: u64,
    k: u64,
    n: u64,
    prec: &GemmPrecision,
    memo: &mut SearchMemo,
) -> Result<(u64, Mapping), PluginError> {
    search_with(hw, m, k, n, prec, true, memo)
}

/// The L1 candidates of one L2 candidate, in search order: `(l1M = l1N, l1K)`.
fn l1_candidates(prec: &GemmPrecision, l2m: u64, l2n: u64, l2k: u64, sram_bits: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    L1_TILE_MN.into_iter().filter(move |&l1mn| l1mn <= l2m.min(l2n)).flat_map(move |l1mn| {
        L1_K_FACTORS.into_iter().filter_map(move |g| {
            let l1k = l2k.div_ceil(g);
            let l1_bits = l1mn * l1mn * prec.out_bits + l1mn * l1k * prec.w_bits + l1mn * l1k * prec.a_bits;
            (2 * l1_bits <= sram_bits).then_some((l1mn, l1k))
        })
    })
}

/// [`search_memo`] with the lower-bound pruning switchable (the tests check it changes nothing).
pub(crate) fn search_with(
    hw: &Hardware,
    m: u64,
    k: u64,
    n: u64,
    prec: &GemmPrecision,
    prune: bool,
    memo: &mut SearchMemo,
) -> Result<(u64, Mapping), PluginError> {
    check_dims(m, k, n)?;
    memo.bind(hw, prec);
    let l2_bits = hw.l2_bytes.saturating_mul(8);
    let sram_bits = hw.sram_bytes.saturating_mul(8);
    let k_factors: [u64; 4] = if k <= 12288 { [1, 2, 4, 8] } else { [k / 1024, k / 2048, k / 4096, k / 8192] };
    let nsplits = memo.splits.len();

    let mut best: Option<(u64, Mapping)> = None;
    // LLMCompass's look-up table, filled in its search order with the history-sensitive tiles
    // (quirk 8; see `SearchMemo`). Stays empty unless `memo.track`.
    let mut lut = SaLut::default();

    for l2m in L2_TILE_M {
        for l2n in [l2m / 2, l2m, l2m * 2] {
            for f in k_factors {
                let l2k = pow2_floor(k.div_ceil(f));
                // L2 working set (§2.1): skip when it exceeds L2, double-buffer when it fits half.
                let ws_bits = l2n * l2k * prec.w_bits + l2m * l2k * prec.a_bits + l2m * l2n * prec.out_bits;
                if ws_bits > l2_bits {
                    continue;
                }
                let double_buffered = 2 * ws_bits <= l2_bits;
                let (dm, dn, dk) = (Dim::new(m, l2m), Dim::new(n, l2n), Dim::new(k, l2k));
                let io = L2Costs::new(hw, &dm, &dn, &dk, prec);
                let key = |idx: usize, l1mn: u64, l1k: u64| (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1), l1mn, l1k);
                if let Some((best_cycles, _)) = best.filter(|_| prune) {
                    if l2_pipeline_cycles(&dm, &dn, &dk, &io, &[0; 8], double_buffered) >= best_cycles {
                        // LLMCompass simulates this candidate anyway: its short tiles enter the
                        // look-up table, which later candidates see.
                        if memo.track {
                            for (l1mn, l1k) in l1_candidates(prec, l2m, l2n, l2k, sram_bits) {
                                for si in 0..nsplits {
                                    for idx in (0..8).filter(|&idx| present(&dm, &dn, &dk, idx)) {
                                        let id = memo.id(hw, key(idx, l1mn, l1k));
                                        memo.replay(hw, id, si, &mut lut);
                                    }
                                }
                            }
                        }
                        continue;
                    }
                }
                for (l1mn, l1k) in l1_candidates(prec, l2m, l2n, l2k, sram_bits) {
                    // Per-split compute cycles of the distinct L2 tile shapes (at most 8).
                    let mut shapes: [Option<(usize, usize)>; 8] = [None; 8];
                    for (idx, shape) in shapes.iter_mut().enumerate() {
                        if present(&dm, &dn, &dk, idx) {
                            let id = memo.id(hw, key(idx, l1mn, l1k));
                            *shape = Some((id, memo.priced(hw, prec, id, key(idx, l1mn, l1k))));
                        }
                    }
                    for si in 0..nsplits {
                        let mut comp = [0u64; 8];
                        for (idx, (c, shape)) in comp.iter_mut().zip(&shapes).enumerate() {
                            if let Some((id, at)) = *shape {
                                *c = if memo.track && memo.replay(hw, id, si, &mut lut) {
                                    memo.repriced(hw, prec, id, key(idx, l1mn, l1k), si, &mut lut)
                                } else {
                                    memo.cycles[at + si]
                                };
                            }
                        }
                        let total = l2_pipeline_cycles(&dm, &dn, &dk, &io, &comp, double_buffered);
                        if best.is_none_or(|(b, _)| total < b) {
                            let split = memo.splits[si];
                            best = Some((
                                total,
                                Mapping {
                                    l2_tile_m: l2m,
                                    l2_tile_n: l2n,
                                    l2_tile_k: l2k,
                                    l2_double_buffered: double_buffered,
                                    l1_tile_m: l1mn,
                                    l1_tile_n: l1mn,
                                    l1_tile_k: l1k,
                                    l0_m: split.m,
                                    l0_n: split.n,
                                    l0_k: split.k,
                                },
                            ));
                        }
                    }
                }
            }
        }
    }
    best.ok_or_else(|| {
        PluginError::invalid(format!(
            "no heuristic-GPU mapping of matmul M={m}, K={k}, N={n} fits the device's L2 ({} B) and local buffer ({} B)",
            hw.l2_bytes, hw.sram_bytes
        ))
    })
}

/// Cycles of the tiled simulation of one given mapping (`Matmul.simulate`), via the fast path,
/// with the pure fold formula for short tiles (no look-up-table history).
pub fn simulate_mapping(hw: &Hardware, m: u64, k: u64, n: u64, prec: &GemmPrecision, mapping: &Mapping) -> Result<u64, PluginError> {
    check_dims(m, k, n)?;
    let split = L0Split { m: mapping.l0_m, n: mapping.l0_n, k: mapping.l0_k };
    if [mapping.l2_tile_m, mapping.l2_tile_n, mapping.l2_tile_k, mapping.l1_tile_m, mapping.l1_tile_n, mapping.l1_tile_k].contains(&0)
        || split.m * split.n * split.k != hw.sublanes
    {
        return Err(PluginError::invalid(format!("invalid mapping {mapping} for a device with {} systolic arrays per core", hw.sublanes)));
    }
    let (dm, dn, dk) = (Dim::new(m, mapping.l2_tile_m), Dim::new(n, mapping.l2_tile_n), Dim::new(k, mapping.l2_tile_k));
    let io = L2Costs::new(hw, &dm, &dn, &dk, prec);
    let mut comp = [0u64; 8];
    for (idx, c) in comp.iter_mut().enumerate() {
        if !present(&dm, &dn, &dk, idx) {
            continue;
        }
        let (sm, sn, sk) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
        let summary = wave_summary(hw, prec, sm, sn, sk, mapping.l1_tile_m, mapping.l1_tile_n, mapping.l1_tile_k);
        let (sdm, sdn, sdk) = (Dim::new(sm, mapping.l1_tile_m), Dim::new(sn, mapping.l1_tile_n), Dim::new(sk, mapping.l1_tile_k));
        *c = summary.cycles(&l1_class_cycles(hw, prec, &sdm, &sdn, &sdk, split, summary.classes, None));
    }
    Ok(l2_pipeline_cycles(&dm, &dn, &dk, &io, &comp, mapping.l2_double_buffered))
}

#[cfg(test)]
pub(crate) mod reference {
    //! The tile-by-tile simulation, a direct transcription of LLMCompass's `Matmul.simulate`,
    //! `L2TileSimulator` and `L1TileSimulator` (§2.1), used to check the fast path.

    use super::*;
    use crate::systolic::l1_tile_cycles;
    use std::collections::{HashMap, HashSet};

    fn l1_tile(hw: &Hardware, prec: &GemmPrecision, m: u64, n: u64, k: u64, split: L0Split) -> u64 {
        l1_tile_cycles(m, n, k, split, hw.sa_height, hw.sa_width, prec.mac_per_cycle, hw.vc(), prec.underuse_speedup)
    }

    fn l2_tile_compute(hw: &Hardware, prec: &GemmPrecision, m2: u64, n2: u64, k2: u64, map: &Mapping) -> u64 {
        let split = L0Split { m: map.l0_m, n: map.l0_n, k: map.l0_k };
        let (dm, dn, dk) = (Dim::new(m2, map.l1_tile_m), Dim::new(n2, map.l1_tile_n), Dim::new(k2, map.l1_tile_k));
        let l2bw = hw.l2_bytes_per_cycle;
        let mut tiles = Vec::new();
        for k in 0..dk.count {
            for n in 0..dn.count {
                for m in 0..dm.count {
                    tiles.push((m, n, k));
                }
            }
        }
        let mut total = 0u64;
        let mut prev_mk: HashSet<(u64, u64)> = HashSet::new();
        let mut prev_kn: HashSet<(u64, u64)> = HashSet::new();
        let mut prev_rmn: HashMap<(u64, u64), bool> = HashMap::new();
        let mut prev_wmn: HashSet<(u64, u64)> = HashSet::new();
        let mut prev_compute = 0u64;
        for wave in tiles.chunks(hw.cores as usize) {
            let mut mk = HashSet::new();
            let mut kn = HashSet::new();
            let mut rmn: HashMap<(u64, u64), bool> = HashMap::new();
            let mut wmn = HashSet::new();
            let mut compute = 0u64;
            for &(m, n, k) in wave {
                mk.insert((m, k));
                kn.insert((k, n));
                rmn.insert((m, n), k > 0);
                wmn.insert((m, n));
                let (tm, tn, tk) = (dm.size_at(m), dn.size_at(n), dk.size_at(k));
                let mut c = l1_tile(hw, prec, tm, tn, tk, split);
                if k > 0 {
                    c += ((tm * tn) as f64 / hw.vc()).ceil() as u64;
                }
                compute = compute.max(c);
            }
            let mut read_bits = 0;
            for &(m, k) in mk.difference(&prev_mk) {
                read_bits += dm.size_at(m) * dk.size_at(k) * prec.l1_a_bits;
            }
            for &(k, n) in kn.difference(&prev_kn) {
                read_bits += dk.size_at(k) * dn.size_at(n) * prec.l1_w_bits;
            }
            for (&(m, n), &r) in &rmn {
                if r && !prev_rmn.get(&(m, n)).copied().unwrap_or(false) && !prev_wmn.contains(&(m, n)) {
                    read_bits += dm.size_at(m) * dn.size_at(n) * prec.l1_out_bits;
                }
            }
            let mut write_bits = 0;
            for &(m, n) in &prev_wmn {
                if !rmn.get(&(m, n)).copied().unwrap_or(false) {
                    write_bits += dm.size_at(m) * dn.size_at(n) * prec.l1_out_bits;
                }
            }
            let read = (read_bits as f64 / 8.0 / l2bw).ceil() as u64;
            let write = (write_bits as f64 / 8.0 / l2bw).ceil() as u64;
            total += read.max(prev_compute) + write;
            prev_compute = compute;
            prev_mk = mk;
            prev_kn = kn;
            prev_rmn = rmn;
            prev_wmn = wmn;
        }
        let last_bits: u64 = prev_wmn.iter().map(|&(m, n)| dm.size_at(m) * dn.size_at(n) * prec.out_bits).sum();
        total + prev_compute + (last_bits as f64 / 8.0 / l2bw).ceil() as u64
    }

    /// `Matmul.simulate(mapping)`, tile by tile.
    pub fn simulate(hw: &Hardware, m: u64, k: u64, n: u64, prec: &GemmPrecision, map: &Mapping) -> u64 {
        let (dm, dn, dk) = (Dim::new(m, map.l2_tile_m), Dim::new(n, map.l2_tile_n), Dim::new(k, map.l2_tile_k));
        let io = L2Costs::new(hw, &dm, &dn, &dk, prec);
        let mut comp = [0u64; 8];
        for (idx, c) in comp.iter_mut().enumerate().filter(|(idx, _)| present(&dm, &dn, &dk, *idx)) {
            *c = l2_tile_compute(hw, prec, dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1), map);
        }
        let cls = |m: u64, n: u64, k: u64| class(dm.class(m), dn.class(n), dk.class(k));
        let mut total = io.mk_io[cls(0, 0, 0)] + io.kn_io[cls(0, 0, 0)];
        let (mut pm, mut pn, mut pk) = (0, 0, 0);
        for kk in 0..dk.count {
            for nn in 0..dn.count {
                for mm in 0..dm.count {
                    if (mm, nn, kk) == (0, 0, 0) {
                        continue;
                    }
                    let (cur, prev) = (cls(mm, nn, kk), cls(pm, pn, pk));
                    let mut read = if mm == pm && kk == pk {
                        io.kn_io[cur]
                    } else if nn == pn && kk == pk {
                        io.mk_io[cur]
                    } else {
                        io.mk_io[cur] + io.kn_io[cur]
                    };
                    if kk > 0 && (mm, nn) != (pm, pn) {
                        read += io.mn_io[cur];
                    }
                    let compute = comp[prev] + if kk > 0 { io.red[prev] } else { 0 };
                    let write = if (mm, nn) == (pm, pn) { 0 } else { io.mn_io[prev] };
                    total += if map.l2_double_buffered { read.max(compute) + write } else { read + compute + write };
                    (pm, pn, pk) = (mm, nn, kk);
                }
            }
        }
        let last = cls(dm.count - 1, dn.count - 1, dk.count - 1);
        total += io.mn_io[last] + comp[last];
        if pk > 0 {
            total += io.red[last];
        }
        total
    }
}

#[cfg(test)]
pub(crate) mod audited {
    //! The audited search as it stood before the shared memo (issue 16's LLMCompass audit): a
    //! fresh look-up table per search holding every short array tile in query order, a wave
    //! memo per search, the tile-by-tile wave walk. Kept verbatim as the reference the fast
    //! search ([`search_with`] with a shared [`SearchMemo`]) must match bit for bit.

    use super::*;
    use std::collections::HashMap;

    /// Compute cycles of each L1 compute class (see [`compute_class`]) for one L0 split; classes
    /// of tiles the grid does not have stay 0 (never referenced). With `lut`, short tiles are
    /// answered by LLMCompass's look-up-table history, in class order.
    fn audited_l1_class_cycles(
        hw: &Hardware,
        prec: &GemmPrecision,
        dm: &Dim,
        dn: &Dim,
        dk: &Dim,
        split: L0Split,
        mut lut: Option<&mut SaLut>,
    ) -> [u64; 16] {
        let mut out = [0; 16];
        let vc = hw.vc();
        for idx in 0..8 {
            if !present(dm, dn, dk, idx) {
                continue;
            }
            let (m, n, k) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
            let c = l1_tile_cycles_lut(
                m,
                n,
                k,
                split,
                hw.sa_height,
                hw.sa_width,
                prec.mac_per_cycle,
                vc,
                prec.underuse_speedup,
                lut.as_deref_mut(),
            );
            out[idx] = c;
            // With a partial sum to add (k > 0): ceil(m·n / Vc) on the core's vector unit.
            out[idx | 8] = c + ((m * n) as f64 / vc).ceil() as u64;
        }
        out
    }

    /// One distinct L2 tile shape of a candidate: its L1 grid and its wave-summary memo key
    /// `(M, N, K, l1M/N, l1K)`.
    type L2TileShape = (Dim, Dim, Dim, (u64, u64, u64, u64, u64));

    /// The audited `heuristic-GPU` search, with the lower-bound pruning switchable.
    pub(crate) fn audited_search(
        hw: &Hardware,
        m: u64,
        k: u64,
        n: u64,
        prec: &GemmPrecision,
        prune: bool,
    ) -> Result<(u64, Mapping), PluginError> {
        check_dims(m, k, n)?;
        let splits = find_permutations(hw.sublanes);
        let l2_bits = hw.l2_bytes.saturating_mul(8);
        let sram_bits = hw.sram_bytes.saturating_mul(8);
        let k_factors: [u64; 4] = if k <= 12288 { [1, 2, 4, 8] } else { [k / 1024, k / 2048, k / 4096, k / 8192] };

        let mut best: Option<(u64, Mapping)> = None;
        let mut memo: HashMap<(u64, u64, u64, u64, u64), WaveSummary> = HashMap::new();
        let mut scratch = by_tiles::WaveScratch::default();
        // LLMCompass's look-up table, filled in its search order (quirk; see `SaLut`).
        let mut lut = prec.lut_history.then(SaLut::default);

        for l2m in L2_TILE_M {
            for l2n in [l2m / 2, l2m, l2m * 2] {
                for f in k_factors {
                    let l2k = pow2_floor(k.div_ceil(f));
                    // L2 working set (§2.1): skip when it exceeds L2, double-buffer when it fits half.
                    let ws_bits = l2n * l2k * prec.w_bits + l2m * l2k * prec.a_bits + l2m * l2n * prec.out_bits;
                    if ws_bits > l2_bits {
                        continue;
                    }
                    let double_buffered = 2 * ws_bits <= l2_bits;
                    let (dm, dn, dk) = (Dim::new(m, l2m), Dim::new(n, l2n), Dim::new(k, l2k));
                    let io = L2Costs::new(hw, &dm, &dn, &dk, prec);
                    if let Some((best_cycles, _)) = best.filter(|_| prune) {
                        if l2_pipeline_cycles(&dm, &dn, &dk, &io, &[0; 8], double_buffered) >= best_cycles {
                            // LLMCompass simulates this candidate anyway: its short tiles enter the
                            // look-up table, which later candidates see.
                            if let Some(l) = lut.as_mut() {
                                audited_register_short_tiles(hw, prec, &dm, &dn, &dk, l2k, sram_bits, &splits, l);
                            }
                            continue;
                        }
                    }
                    for l1mn in L1_TILE_MN {
                        if l1mn > l2m.min(l2n) {
                            continue;
                        }
                        for g in L1_K_FACTORS {
                            let l1k = l2k.div_ceil(g);
                            let l1_bits = l1mn * l1mn * prec.out_bits + l1mn * l1k * prec.w_bits + l1mn * l1k * prec.a_bits;
                            if 2 * l1_bits > sram_bits {
                                continue;
                            }
                            // Wave schedules of the distinct L2 tile shapes (at most 8).
                            let mut shapes: [Option<L2TileShape>; 8] = [None; 8];
                            for (idx, shape) in shapes.iter_mut().enumerate() {
                                if !present(&dm, &dn, &dk, idx) {
                                    continue;
                                }
                                let (sm, sn, sk) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
                                let key = (sm, sn, sk, l1mn, l1k);
                                memo.entry(key).or_insert_with(|| {
                                    by_tiles::wave_summary_by_tiles(hw, prec, sm, sn, sk, l1mn, l1mn, l1k, &mut scratch)
                                });
                                *shape = Some((Dim::new(sm, l1mn), Dim::new(sn, l1mn), Dim::new(sk, l1k), key));
                            }
                            for &split in &splits {
                                let mut comp = [0u64; 8];
                                for (idx, shape) in shapes.iter().enumerate() {
                                    if let Some((sdm, sdn, sdk, key)) = shape {
                                        let class_cycles = audited_l1_class_cycles(hw, prec, sdm, sdn, sdk, split, lut.as_mut());
                                        comp[idx] = memo[key].cycles(&class_cycles);
                                    }
                                }
                                let total = l2_pipeline_cycles(&dm, &dn, &dk, &io, &comp, double_buffered);
                                if best.is_none_or(|(b, _)| total < b) {
                                    best = Some((
                                        total,
                                        Mapping {
                                            l2_tile_m: l2m,
                                            l2_tile_n: l2n,
                                            l2_tile_k: l2k,
                                            l2_double_buffered: double_buffered,
                                            l1_tile_m: l1mn,
                                            l1_tile_n: l1mn,
                                            l1_tile_k: l1k,
                                            l0_m: split.m,
                                            l0_n: split.n,
                                            l0_k: split.k,
                                        },
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        best.ok_or_else(|| {
            PluginError::invalid(format!(
                "no heuristic-GPU mapping of matmul M={m}, K={k}, N={n} fits the device's L2 ({} B) and local buffer ({} B)",
                hw.l2_bytes, hw.sram_bytes
            ))
        })
    }

    /// The look-up-table entries a pruned L2 candidate would have made: the short tiles of every
    /// L1 candidate and L0 split, in search order.
    #[allow(clippy::too_many_arguments)]
    fn audited_register_short_tiles(
        hw: &Hardware,
        prec: &GemmPrecision,
        dm: &Dim,
        dn: &Dim,
        dk: &Dim,
        l2k: u64,
        sram_bits: u64,
        splits: &[L0Split],
        lut: &mut SaLut,
    ) {
        for l1mn in L1_TILE_MN {
            if l1mn > dm.tile.min(dn.tile) {
                continue;
            }
            for g in L1_K_FACTORS {
                let l1k = l2k.div_ceil(g);
                let l1_bits = l1mn * l1mn * prec.out_bits + l1mn * l1k * prec.w_bits + l1mn * l1k * prec.a_bits;
                if 2 * l1_bits > sram_bits {
                    continue;
                }
                for &split in splits {
                    for idx in 0..8 {
                        if !present(dm, dn, dk, idx) {
                            continue;
                        }
                        let (sm, sn, sk) = (dm.size(idx & 1), dn.size(idx >> 1 & 1), dk.size(idx >> 2 & 1));
                        audited_l1_class_cycles(hw, prec, &Dim::new(sm, l1mn), &Dim::new(sn, l1mn), &Dim::new(sk, l1k), split, Some(lut));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod by_tiles {
    //! The tile-by-tile wave walk that [`wave_summary`] replaced (one step per L1 tile, set
    //! membership by wave stamps), kept to check the closed form against.

    use super::*;

    /// Reusable scratch buffers for [`wave_summary_by_tiles`].
    #[derive(Default)]
    pub(crate) struct WaveScratch {
        mk_stamp: Vec<u32>,
        kn_stamp: Vec<u32>,
        mn_stamp: Vec<u32>,
        mn_was_prev: Vec<bool>,
        mn_read: Vec<bool>,
        cur: Vec<u32>,
        prev: Vec<u32>,
        steps: Vec<(u64, u16)>,
    }

    /// Walk the L1 tiles of an `m2 × n2 × k2` L2 tile in `knm` order, in waves of `C` tiles, and
    /// record each wave's L2 ↔ L1 traffic (§2.1 "L1 level"): operand tiles not held by the previous
    /// wave are read; partial sums are read when the wave's last tile of that output has `k > 0`
    /// and the previous wave neither read nor wrote it; the previous wave's outputs are written
    /// back unless this wave keeps accumulating them.
    ///
    /// Set membership uses wave stamps (a tile of wave `w` is stamped `w + 2`; "in the previous
    /// wave" is stamp `w + 1`), so each tile costs O(1).
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    pub(crate) fn wave_summary_by_tiles(
        hw: &Hardware,
        prec: &GemmPrecision,
        m2: u64,
        n2: u64,
        k2: u64,
        l1m: u64,
        l1n: u64,
        l1k: u64,
        s: &mut WaveScratch,
    ) -> WaveSummary {
        let (dm, dn, dk) = (Dim::new(m2, l1m), Dim::new(n2, l1n), Dim::new(k2, l1k));
        let (mt, nt, kt) = (dm.count as usize, dn.count as usize, dk.count as usize);
        let cores = hw.cores as usize;
        let l2bw = hw.l2_bytes_per_cycle;
        let cycles = |elements_bits: u64| (elements_bits as f64 / 8.0 / l2bw).ceil() as u64;

        let reset = |v: &mut Vec<u32>, len: usize| {
            v.clear();
            v.resize(len, 0);
        };
        reset(&mut s.mk_stamp, mt * kt);
        reset(&mut s.kn_stamp, kt * nt);
        reset(&mut s.mn_stamp, mt * nt);
        s.mn_was_prev.clear();
        s.mn_was_prev.resize(mt * nt, false);
        s.mn_read.clear();
        s.mn_read.resize(mt * nt, false);
        s.cur.clear();
        s.prev.clear();
        s.steps.clear();

        let msz: Vec<u64> = (0..mt as u64).map(|i| dm.size_at(i)).collect();
        let nsz: Vec<u64> = (0..nt as u64).map(|i| dn.size_at(i)).collect();
        let mn_size = |p: u32| msz[p as usize % mt] * nsz[p as usize / mt];

        let mut out = WaveSummary::default();
        let total_tiles = mt * nt * kt;
        let mut wave: u32 = 0;
        let mut in_wave = 0usize;
        let mut seen = 0usize;
        let mut mask: u16 = 0;
        let mut prev_mask: u16 = 0;
        let (mut mk_elems, mut kn_elems) = (0u64, 0u64);

        for k in 0..kt {
            let ksz = dk.size_at(k as u64);
            let kc = dk.class(k as u64);
            let kpos = k > 0;
            for n in 0..nt {
                let nc = dn.class(n as u64);
                let kn = k * nt + n;
                for m in 0..mt {
                    let cur_stamp = wave + 2;
                    mask |= 1 << compute_class(dm.class(m as u64), nc, kc, kpos);
                    let mk = k * mt + m;
                    if s.mk_stamp[mk] != cur_stamp {
                        if s.mk_stamp[mk] != cur_stamp - 1 {
                            mk_elems += msz[m] * ksz;
                        }
                        s.mk_stamp[mk] = cur_stamp;
                    }
                    if s.kn_stamp[kn] != cur_stamp {
                        if s.kn_stamp[kn] != cur_stamp - 1 {
                            kn_elems += ksz * nsz[n];
                        }
                        s.kn_stamp[kn] = cur_stamp;
                    }
                    let p = n * mt + m;
                    if s.mn_stamp[p] != cur_stamp {
                        s.mn_was_prev[p] = s.mn_stamp[p] == cur_stamp - 1;
                        s.mn_stamp[p] = cur_stamp;
                        s.cur.push(p as u32);
                    }
                    s.mn_read[p] = kpos;
                    in_wave += 1;
                    seen += 1;
                    if in_wave == cores || seen == total_tiles {
                        // Close the wave.
                        let mut mn_read_elems = 0;
                        for &p in &s.cur {
                            if s.mn_read[p as usize] && !s.mn_was_prev[p as usize] {
                                mn_read_elems += mn_size(p);
                            }
                        }
                        let mut write_elems = 0;
                        for &p in &s.prev {
                            if !(s.mn_stamp[p as usize] == cur_stamp && s.mn_read[p as usize]) {
                                write_elems += mn_size(p);
                            }
                        }
                        let read = cycles(mk_elems * prec.l1_a_bits + kn_elems * prec.l1_w_bits + mn_read_elems * prec.l1_out_bits);
                        if wave == 0 {
                            out.first_read = read;
                        } else {
                            s.steps.push((read, prev_mask));
                            out.write_cycles += cycles(write_elems * prec.l1_out_bits);
                        }
                        prev_mask = mask;
                        mask = 0;
                        mk_elems = 0;
                        kn_elems = 0;
                        in_wave = 0;
                        wave += 1;
                        std::mem::swap(&mut s.cur, &mut s.prev);
                        s.cur.clear();
                    }
                }
            }
        }
        // The last wave's compute and write-back (with the operator's output word).
        let last_write: u64 = s.prev.iter().map(|&p| mn_size(p)).sum();
        out.write_cycles += cycles(last_write * prec.out_bits);
        out.last_mask = prev_mask;
        s.steps.sort_unstable();
        for &(read, mask) in &s.steps {
            match out.steps.last_mut() {
                Some((r, m, c)) if *r == read && *m == mask => *c += 1,
                _ => out.steps.push((read, mask, 1)),
            }
        }
        out.classes = out.steps.iter().fold(out.last_mask, |a, s| a | s.1);
        out
    }
}

#[cfg(test)]
mod wave_tests {
    use super::*;
    use crate::devices::ga100;

    fn hw_with_cores(cores: u64) -> Hardware {
        let mut hw = Hardware::from_spec(&ga100()).unwrap();
        hw.cores = cores;
        hw
    }

    fn prec(hw: &Hardware) -> GemmPrecision {
        // Distinct widths so that each traffic term is visible in the cycles.
        GemmPrecision { l1_a_bits: 8, l1_w_bits: 16, l1_out_bits: 32, out_bits: 64, ..GemmPrecision::llmcompass(hw, 2) }
    }

    #[test]
    fn closed_form_equals_tile_walk_on_every_small_grid() {
        let mut scratch = by_tiles::WaveScratch::default();
        let mut cases = 0;
        for cores in [1, 2, 3, 4, 7, 16] {
            let mut hw = hw_with_cores(cores);
            // A low L2 bandwidth so that one element more changes the cycle count.
            hw.l2_bytes_per_cycle = 1.0;
            let prec = prec(&hw);
            for (m2, n2, k2) in (1..=8).flat_map(|m| (1..=8).flat_map(move |n| (1..=8).map(move |k| (m, n, k)))) {
                for (l1m, l1n, l1k) in
                    [1, 2, 3, 5].into_iter().flat_map(|a| [1, 2, 3, 5].into_iter().flat_map(move |b| [1, 3, 5].map(|c| (a, b, c))))
                {
                    let fast = wave_summary(&hw, &prec, m2, n2, k2, l1m, l1n, l1k);
                    let slow = by_tiles::wave_summary_by_tiles(&hw, &prec, m2, n2, k2, l1m, l1n, l1k, &mut scratch);
                    assert_eq!(fast, slow, "cores {cores}, L2 tile {m2}×{n2}×{k2}, L1 tile {l1m}×{l1n}×{l1k}");
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 6 * 512 * 48);
    }

    #[test]
    fn closed_form_equals_tile_walk_on_real_tiles() {
        let mut scratch = by_tiles::WaveScratch::default();
        for cores in [108, 128, 132] {
            let hw = hw_with_cores(cores);
            let prec = GemmPrecision::llmcompass(&hw, 2);
            for (m2, n2, k2, l1, l1k) in [
                (270, 270, 128, 32, 4),
                (1292, 3340, 1024, 32, 32),
                (2047, 2047, 128, 64, 16),
                (64, 64, 4096, 32, 128),
                (14, 270, 2160, 32, 270),
                (2048, 1024, 512, 128, 64),
                (186, 4280, 128, 32, 2),
            ] {
                let fast = wave_summary(&hw, &prec, m2, n2, k2, l1, l1, l1k);
                let slow = by_tiles::wave_summary_by_tiles(&hw, &prec, m2, n2, k2, l1, l1, l1k, &mut scratch);
                assert_eq!(fast, slow, "cores {cores}, L2 tile {m2}×{n2}×{k2}, L1 tile {l1}×{l1}×{l1k}");
            }
        }
    }
}
