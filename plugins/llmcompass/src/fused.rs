//! Kernels LLMCompass lacks, modelled with its own building blocks: fused (flash) attention and
//! fused decode attention. Each model is stated in full on its function.

use crate::hardware::{Hardware, FLOPS_PER_EXP};
use crate::matmul::GemmPrecision;
use crate::systolic::{find_permutations, l1_tile_cycles};
use reallm_plugin_api::PluginError;

/// Vector flops per attention score for the online softmax: scale, running max, subtract,
/// exponential (LLMCompass's 35), running sum.
pub const SOFTMAX_FLOPS_PER_SCORE: u64 = FLOPS_PER_EXP + 5;

/// Shape of one fused attention launch (the fields of `Kernel::Attention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub seqs: u64,
    pub q_len: u64,
    pub kv_len: u64,
    pub q_heads: u64,
    pub kv_heads: u64,
    pub d_qk: u64,
    pub d_v: u64,
    pub causal: bool,
    pub kv_shared: bool,
}

/// Flash-attention block sizes: `(query rows, key columns)` per work tile. Starts from
/// FlashAttention-2's forward default for head dim 128 (128 × 64) and halves the key block,
/// then the query block, until a query tile, double-buffered K and V tiles and the score tile
/// fit the local buffer: `(Bq·d_qk + 2·Bkv·(d_qk + d_v) + Bq·Bkv)·word ≤ SRAM`.
pub fn flash_blocks(hw: &Hardware, s: &AttentionShape, word_bytes: f64) -> (u64, u64) {
    let (mut bq, mut bkv) = (128u64, 64u64);
    let fits = |bq: u64, bkv: u64| ((bq * s.d_qk + 2 * bkv * (s.d_qk + s.d_v) + bq * bkv) as f64) * word_bytes <= hw.sram_bytes as f64;
    while !fits(bq, bkv) && (bq > 16 || bkv > 16) {
        if bkv > 16 {
            bkv /= 2;
        } else {
            bq /= 2;
        }
    }
    (bq, bkv)
}

/// Fused (flash) attention, cycles. A tile-level model in LLMCompass's terms:
///
/// * Work unit = one (sequence, query head, block of `Bq` query rows), the unit a GPU flash
///   kernel gives one core. It loops over the `ceil(visible / Bkv)` key blocks its last row sees
///   (all `kv_len` keys, or `kv_len − q_len + row + 1` with the causal mask; masked tiles are
///   computed in full, as on hardware).
/// * One tile of `r ≤ Bq` rows costs `QKᵀ + PV + softmax + rescale`, where `QKᵀ` is the L1-tile
///   cycles ([`l1_tile_cycles`], best L0 split) of `[r, d_qk] × [d_qk, Bkv]`, `PV` of
///   `[r, Bkv] × [Bkv, d_v]`, softmax `ceil(r·Bkv·40 / Vc)` and the output rescale
///   `ceil(r·d_v / Vc)` on the core's vector unit (no overlap of SA and vector work, as in
///   FlashAttention-2).
/// * Compute = `max(ceil(Σ unit cycles / C), longest unit)`: units are spread over the `C`
///   cores, and no schedule beats the longest unit.
/// * DRAM: Q, K, V read once and O written once (`dram_bits / 8 / bpc` cycles); L2 → cores: each
///   unit reads its Q block once and every K (and V, unless `kv_shared`) block it visits, and
///   writes its O block (`/ l2bw`).
/// * Result `max(compute, DRAM, L2)`.
pub fn attention_cycles(hw: &Hardware, s: &AttentionShape, prec: &GemmPrecision, dram_bytes: f64) -> Result<f64, PluginError> {
    if s.seqs == 0 || s.q_len == 0 || s.kv_len == 0 || s.q_heads == 0 {
        return Ok(0.0);
    }
    if s.d_qk == 0 || s.d_v == 0 {
        return Err(PluginError::invalid("attention head dimensions must be positive"));
    }
    let act_bytes = prec.a_bits as f64 / 8.0;
    let kv_bytes = prec.w_bits as f64 / 8.0;
    let (bq, bkv) = flash_blocks(hw, s, act_bytes.max(kv_bytes));
    let splits = find_permutations(hw.sublanes);
    let vc = hw.vc();
    let best_l1 = |m: u64, n: u64, k: u64| {
        splits
            .iter()
            .map(|&sp| l1_tile_cycles(m, n, k, sp, hw.sa_height, hw.sa_width, prec.mac_per_cycle, vc, prec.underuse_speedup))
            .min()
            .unwrap_or(0)
    };
    let tile = |r: u64| -> f64 {
        (best_l1(r, bkv, s.d_qk) + best_l1(r, s.d_v, bkv)) as f64
            + ((r * bkv * SOFTMAX_FLOPS_PER_SCORE) as f64 / vc).ceil()
            + ((r * s.d_v) as f64 / vc).ceil()
    };
    let (full_tile, prefix) = (tile(bq), s.kv_len.saturating_sub(s.q_len));
    let v_dim = if s.kv_shared { 0 } else { s.d_v };
    let mut unit_sum = 0.0;
    let mut longest: f64 = 0.0;
    let mut l2_bytes_per_head = 0.0;
    let mut start = 0;
    while start < s.q_len {
        let rows = bq.min(s.q_len - start);
        let visible = if s.causal { (prefix + start + rows).min(s.kv_len) } else { s.kv_len };
        let blocks = visible.div_ceil(bkv);
        let t = if rows == bq { full_tile } else { tile(rows) };
        let unit = blocks as f64 * t;
        unit_sum += unit;
        longest = longest.max(unit);
        l2_bytes_per_head += (rows * (s.d_qk + s.d_v)) as f64 * act_bytes + (blocks * bkv * (s.d_qk + v_dim)) as f64 * kv_bytes;
        start += rows;
    }
    let heads = (s.seqs * s.q_heads) as f64;
    let compute = (unit_sum * heads / hw.cores as f64).ceil().max(longest);
    let dram = (dram_bytes / hw.dram_bytes_per_cycle()).ceil();
    let l2 = (l2_bytes_per_head * heads / hw.l2_bytes_per_cycle).ceil();
    Ok(compute.max(dram).max(l2))
}

/// Fused decode attention, seconds: one query per sequence over `kv_total` cached tokens.
///
/// LLMCompass costs decode attention `[b·h, 1, d] × [b·h, d, s]` with the GEMV shortcut
/// (§2.1.4): `max(bytes / io_bw, flops / vector peak)`. That holds when each KV head serves one
/// query head. With `g = q_heads / kv_heads > 1` query heads sharing a KV head (GQA, MLA), the
/// `g` queries form the M dimension of a matmul on the systolic arrays, which LLMCompass's SA
/// model runs at `min(1, g / H)` of peak (one fold of `H` rows holds `g` useful rows). So:
///
/// * `g ≤ 1`: compute = `(2·kv·q_heads·(d_qk + d_v) + kv·q_heads·40) / vector peak`;
/// * `g > 1`: compute = `2·kv·q_heads·(d_qk + d_v) / (SA peak · min(1, g/H))` plus the softmax
///   flops on the vector units;
///
/// and the time is `max(compute, DRAM bytes / io_bw)`.
pub fn decode_attention_s(
    hw: &Hardware,
    prec: &GemmPrecision,
    kv_total: u64,
    q_heads: u64,
    kv_heads: u64,
    matmul_flops: f64,
    dram_bytes: f64,
) -> f64 {
    if kv_total == 0 || q_heads == 0 {
        return 0.0;
    }
    let softmax_flops = (kv_total * q_heads * SOFTMAX_FLOPS_PER_SCORE) as f64;
    let g = q_heads as f64 / kv_heads.max(1) as f64;
    let compute = if g <= 1.0 {
        (matmul_flops + softmax_flops) / hw.vector_flops_per_s()
    } else {
        let util = (g / hw.sa_height as f64).min(1.0);
        matmul_flops / (hw.matmul_flops_per_s(prec.mac_per_cycle) * util) + softmax_flops / hw.vector_flops_per_s()
    };
    compute.max(dram_bytes / hw.dram_bytes_per_s)
}
