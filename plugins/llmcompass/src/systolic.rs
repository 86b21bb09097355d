//! Core-level compute: systolic-array cycles and the L0 split of an L1 tile over the arrays
//! of one core (`shared/reference/llmcompass-model.md` §2.1, "L0 / core level" and
//! "Systolic-array cycles").

/// Cycles of one output-stationary `h × w` systolic array computing `[m, k] × [k, n]` at
/// `mac` MACs per PE per cycle (`Matmul.simulate_systolic_array_cycle_count`, §2.1).
///
/// The closed-form shortcuts for "long enough" tiles are reproduced with Python's exact
/// left-to-right float evaluation order so that every `ceil` lands where LLMCompass's does.
/// Short tiles use the formula that every row of LLMCompass's SCALE-Sim look-up tables
/// satisfies, `ceil(m/h)·ceil(n/w)·(k + h + w − 2) − 1` (§2.1), divided by `mac`.
///
/// `underuse_speedup` keeps LLMCompass's quirk 3 (§7): the under-utilised shortcuts divide by
/// `util / 0.98`, a 2 % speed-up. With `false` they multiply by 0.98 instead (2 % loss).
/// All arguments must be positive (callers guarantee it).
pub fn sa_cycles(m: u64, n: u64, k: u64, h: u64, w: u64, mac: f64, underuse_speedup: bool) -> u64 {
    sa_cycles_lut(m, n, k, h, w, mac, underuse_speedup, None)
}

/// Cycles of one fold sequence: `ceil(m/h)·ceil(n/w)·(k + h + w − 2) − 1` (every row of
/// LLMCompass's SCALE-Sim look-up tables satisfies it).
pub(crate) fn fold_cycles(m: u64, n: u64, k: u64, h: u64, w: u64) -> u64 {
    m.div_ceil(h) * n.div_ceil(w) * (k + h + w - 2) - 1
}

/// LLMCompass's systolic-array look-up table as it fills during one matmul search (quirk 7,
/// `reference/llmcompass-model.md` §2.1 "Systolic-array cycles"): a short tile `(m, n, k)` is
/// looked up as `(m, n, k)`, then as the swapped `(n, m, k)`, and only on a double miss
/// simulated (here: the fold formula) and stored under `(m, n, k)`. On a non-square array
/// (GH100's 16×32) a hit on the swapped row returns the other orientation's fold count, so the
/// cycles of a shape depend on which orientation the search met first. Starting from an empty
/// table reproduces a fresh LLMCompass whose shipped table lacks both rows: for GH100
/// M = 128, K = 8192, N = 3584 the `(16, 32, 128)` tiles of the `(2, 1, 2)` split find the
/// `(32, 16, 128)` row of the `(1, 2, 2)` split, tried just before, and cost two folds, which
/// moves the best mapping and adds 2.3 % (32,567 instead of 31,821 cycles).
#[derive(Debug, Clone, Default)]
pub struct SaLut {
    rows: rustc_hash::FxHashMap<(u64, u64, u64), u64>,
}

impl SaLut {
    /// Raw (SCALE-Sim) cycles of a short tile as the table answers.
    pub fn cycles(&mut self, m: u64, n: u64, k: u64, h: u64, w: u64) -> u64 {
        if let Some(&c) = self.rows.get(&(m, n, k)) {
            return c;
        }
        if let Some(&c) = self.rows.get(&(n, m, k)) {
            return c;
        }
        let c = fold_cycles(m, n, k, h, w);
        self.rows.insert((m, n, k), c);
        c
    }

    /// Rows stored so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// [`sa_cycles`] with short tiles answered by `lut` (LLMCompass's table history) when given.
#[allow(clippy::too_many_arguments)]
pub fn sa_cycles_lut(m: u64, n: u64, k: u64, h: u64, w: u64, mac: f64, underuse_speedup: bool, lut: Option<&mut SaLut>) -> u64 {
    if let Some(c) = sa_shortcut(m, n, k, h, w, mac, underuse_speedup) {
        return c;
    }
    let cycles = match lut {
        Some(l) => l.cycles(m, n, k, h, w),
        None => fold_cycles(m, n, k, h, w),
    };
    (cycles as f64 / mac).ceil() as u64
}

/// The closed-form shortcuts of [`sa_cycles`] for tiles long enough in some dimension; `None`
/// for a short tile (answered by the look-up table, or the fold formula). Whether a tile is
/// short does not depend on `mac` or `underuse_speedup`.
fn sa_shortcut(m: u64, n: u64, k: u64, h: u64, w: u64, mac: f64, underuse_speedup: bool) -> Option<u64> {
    let (mf, nf, kf, hf, wf) = (m as f64, n as f64, k as f64, h as f64, w as f64);
    let mx = h.max(w) as f64;
    let mnk = (m as u128 * n as u128 * k as u128) as f64;
    let under = |util: f64| -> u64 {
        let util = if underuse_speedup { util / 0.98 } else { util * 0.98 };
        (mnk / hf / wf / mac / util).ceil() as u64
    };
    if m >= h && n >= w {
        let folds = mnk / hf / wf / mx;
        if folds >= 128.0 {
            return Some((mnk / hf / wf / mac / 0.99).ceil() as u64);
        } else if folds >= 64.0 {
            return Some((mnk / hf / wf / mac / 0.98).ceil() as u64);
        }
    } else if m >= h && n < w {
        if (k as u128 * m as u128) as f64 / hf / mx >= 64.0 {
            return Some(under(nf / wf));
        }
    } else if m < h && n >= w {
        if (k as u128 * n as u128) as f64 / wf / mx >= 64.0 {
            return Some(under(mf / hf));
        }
    } else if kf / mx >= 64.0 {
        return Some(under(mf / hf * nf / wf));
    }
    None
}

/// Whether LLMCompass's look-up-table history can change the cycles of the array tile
/// `(m, n, k)` on an `h × w` array: the tile is short (it reaches the table) and its two
/// orientations have different fold counts. For any other tile the table answers what the fold
/// formula gives, whatever rows it holds, so such tiles can be left out of the history: the
/// answer for a tile only ever depends on which orientation of *its own* pair the search met
/// first (see [`SaLut`]).
pub(crate) fn history_sensitive(m: u64, n: u64, k: u64, h: u64, w: u64) -> bool {
    sa_shortcut(m, n, k, h, w, 1.0, true).is_none() && fold_cycles(m, n, k, h, w) != fold_cycles(n, m, k, h, w)
}

/// Cycles of one core computing an L1 tile `[m, k] × [k, n]` split `(fm, fn_, fk)` over its
/// systolic arrays (`L1TileSimulator`, §2.1):
/// `ceil(SA(ceil(m/fm), ceil(n/fn), ceil(k/fk)) + (fk − 1)·m·n / Vc)`; the second term is the
/// cross-sublane K reduction on the core's vector unit.
#[allow(clippy::too_many_arguments)]
pub fn l1_tile_cycles(m: u64, n: u64, k: u64, split: L0Split, h: u64, w: u64, mac: f64, vc: f64, underuse_speedup: bool) -> u64 {
    l1_tile_cycles_lut(m, n, k, split, h, w, mac, vc, underuse_speedup, None)
}

/// [`l1_tile_cycles`] with LLMCompass's look-up-table history (see [`SaLut`]).
#[allow(clippy::too_many_arguments)]
pub fn l1_tile_cycles_lut(
    m: u64,
    n: u64,
    k: u64,
    split: L0Split,
    h: u64,
    w: u64,
    mac: f64,
    vc: f64,
    underuse_speedup: bool,
    lut: Option<&mut SaLut>,
) -> u64 {
    let sa = sa_cycles_lut(m.div_ceil(split.m), n.div_ceil(split.n), k.div_ceil(split.k), h, w, mac, underuse_speedup, lut);
    (sa as f64 + ((split.k - 1) * m * n) as f64 / vc).ceil() as u64
}

/// How an L1 tile is split over the `S` systolic arrays of a core: `m · n · k = S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L0Split {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

/// Every ordered triple with product `s`, in the order LLMCompass's
/// `Matmul.find_permutations(s)` returns them: it builds a Python `set` and returns
/// `list(set)`, so the order is CPython's hash-table slot order (deterministic for tuples of
/// small ints). This emulates CPython ≥ 3.8's tuple hash and set insertion exactly; for
/// `s = 4` it gives (4,1,1), (1,2,2), (2,1,2), (2,2,1), (1,1,4), (1,4,1), the order quoted in
/// §2.1, which decides ties between equal-cycle mappings.
pub fn find_permutations(s: u64) -> Vec<L0Split> {
    let mut set = PySet::new();
    for i in 1..=s {
        if s.is_multiple_of(i) {
            for j in 1..=s {
                if (s / i).is_multiple_of(j) {
                    set.add(L0Split { m: i, n: j, k: s / (i * j) });
                }
            }
        }
    }
    set.into_list()
}

/// CPython's `tuplehash` (Objects/tupleobject.c, xxHash-based since 3.8) of a tuple of
/// non-negative small ints (whose hash is the value itself).
fn py_tuple_hash(items: &[u64]) -> u64 {
    const P1: u64 = 11400714785074694791;
    const P2: u64 = 14029467366897019727;
    const P5: u64 = 2870177450012600261;
    let mut acc = P5;
    for &lane in items {
        acc = acc.wrapping_add(lane.wrapping_mul(P2));
        acc = acc.rotate_left(31);
        acc = acc.wrapping_mul(P1);
    }
    acc = acc.wrapping_add(items.len() as u64 ^ (P5 ^ 3527539));
    if acc == u64::MAX {
        1546275796
    } else {
        acc
    }
}

/// A minimal model of CPython's `set` (Objects/setobject.c): open addressing with 9 linear
/// probes then perturbed jumps, resized to `used·4` when `fill·5 ≥ mask·3`. Only insertion of
/// distinct keys is needed.
struct PySet {
    table: Vec<Option<(u64, L0Split)>>,
    used: usize,
}

impl PySet {
    const LINEAR_PROBES: usize = 9;
    const PERTURB_SHIFT: u32 = 5;

    fn new() -> PySet {
        PySet { table: vec![None; 8], used: 0 }
    }

    /// Slot a key lands in (`set_add_entry` / `set_insert_clean` probing: the two agree when
    /// the table holds no dummies and the key is absent).
    fn free_slot(table: &[Option<(u64, L0Split)>], hash: u64) -> usize {
        let mask = table.len() - 1;
        let mut perturb = hash;
        let mut i = hash as usize & mask;
        loop {
            if table[i].is_none() {
                return i;
            }
            if i + Self::LINEAR_PROBES <= mask {
                for j in 1..=Self::LINEAR_PROBES {
                    if table[i + j].is_none() {
                        return i + j;
                    }
                }
            }
            perturb >>= Self::PERTURB_SHIFT;
            i = (i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb as usize)) & mask;
        }
    }

    fn add(&mut self, key: L0Split) {
        if self.table.iter().flatten().any(|(_, k)| *k == key) {
            return;
        }
        let hash = py_tuple_hash(&[key.m, key.n, key.k]);
        let slot = Self::free_slot(&self.table, hash);
        self.table[slot] = Some((hash, key));
        self.used += 1;
        let mask = self.table.len() - 1;
        // No deletions, so `fill == used`.
        if self.used * 5 >= mask * 3 {
            let minused = if self.used > 50000 { self.used * 2 } else { self.used * 4 };
            let mut size = 8;
            while size <= minused {
                size <<= 1;
            }
            let old = std::mem::replace(&mut self.table, vec![None; size]);
            for (hash, key) in old.into_iter().flatten() {
                let slot = Self::free_slot(&self.table, hash);
                self.table[slot] = Some((hash, key));
            }
        }
    }

    fn into_list(self) -> Vec<L0Split> {
        self.table.into_iter().flatten().map(|(_, k)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(s: u64) -> Vec<(u64, u64, u64)> {
        find_permutations(s).into_iter().map(|p| (p.m, p.n, p.k)).collect()
    }

    #[test]
    fn permutation_order_matches_cpython() {
        // Printed by CPython 3.11 running LLMCompass's `find_permutations` verbatim.
        assert_eq!(triples(1), [(1, 1, 1)]);
        assert_eq!(triples(2), [(1, 2, 1), (2, 1, 1), (1, 1, 2)]);
        assert_eq!(triples(4), [(4, 1, 1), (1, 2, 2), (2, 1, 2), (2, 2, 1), (1, 1, 4), (1, 4, 1)]);
        assert_eq!(triples(6), [(1, 3, 2), (1, 2, 3), (1, 1, 6), (2, 1, 3), (3, 2, 1), (6, 1, 1), (3, 1, 2), (2, 3, 1), (1, 6, 1)]);
        assert_eq!(
            triples(8),
            [(2, 2, 2), (1, 8, 1), (2, 4, 1), (4, 2, 1), (1, 1, 8), (4, 1, 2), (8, 1, 1), (1, 4, 2), (1, 2, 4), (2, 1, 4)]
        );
        assert_eq!(
            triples(16),
            [
                (1, 16, 1),
                (1, 8, 2),
                (1, 1, 16),
                (1, 4, 4),
                (16, 1, 1),
                (8, 2, 1),
                (4, 1, 4),
                (4, 4, 1),
                (8, 1, 2),
                (2, 2, 4),
                (2, 8, 1),
                (1, 2, 8),
                (2, 1, 8),
                (2, 4, 2),
                (4, 2, 2)
            ]
        );
    }

    #[test]
    fn sa_formula_and_shortcuts() {
        // Short tile, 16×16 array: one fold of K + H + W − 2 minus one.
        // SA(16, 16, 32) = 1·1·(32 + 30) − 1 = 61.
        assert_eq!(sa_cycles(16, 16, 32, 16, 16, 1.0, true), 61);
        // Two folds in M, three in N: SA(17, 40, 10) = 2·3·(10 + 30) − 1 = 239; at 2 MAC/cycle ceil(239/2) = 120.
        assert_eq!(sa_cycles(17, 40, 10, 16, 16, 1.0, true), 239);
        assert_eq!(sa_cycles(17, 40, 10, 16, 16, 2.0, true), 120);
        // Long tile: 64·64·1024/256/16 = 1024 ≥ 128, so ceil(64·64·1024/256/0.99) = ceil(16384/0.99) = 16550.
        assert_eq!(sa_cycles(64, 64, 1024, 16, 16, 1.0, true), 16550);
        // 32·32·256/256/16 = 64 (≥ 64, < 128): ceil(1024/0.98) = 1045.
        assert_eq!(sa_cycles(32, 32, 256, 16, 16, 1.0, true), 1045);
        // M < H, N ≥ W, K·N/W/16 = 1024·32/16/16 = 128 ≥ 64: util = 2/16/0.98,
        // ceil(2·32·1024/256/util) = ceil(256/0.127551...) = ceil(2007.04) = 2008 (= 0.98·N·K/W).
        assert_eq!(sa_cycles(2, 32, 1024, 16, 16, 1.0, true), 2008);
        // The same without the quirk: util = 0.125·0.98, ceil(256/0.1225) = ceil(2089.8) = 2090.
        assert_eq!(sa_cycles(2, 32, 1024, 16, 16, 1.0, false), 2090);
        // M, N < array, K/16 = 64: ceil(0.98·1024) = ceil(1003.52) = 1004.
        assert_eq!(sa_cycles(8, 8, 1024, 16, 16, 1.0, true), 1004);
        // GH100's 16×32 array, short tile: SA(16, 32, 64) = 1·1·(64 + 46) − 1 = 109.
        assert_eq!(sa_cycles(16, 32, 64, 16, 32, 1.0, true), 109);
    }

    #[test]
    fn l1_tile_adds_cross_sublane_reduction() {
        // 32×32×128 split (1,2,2) on 16×16 arrays: SA(32, 16, 64): 32·16·64/256/16 = 8 < 64, so the
        // fold formula: 2·1·(64 + 30) − 1 = 187; reduction (2−1)·32·32/512 = 2 → 189.
        let split = L0Split { m: 1, n: 2, k: 2 };
        assert_eq!(l1_tile_cycles(32, 32, 128, split, 16, 16, 1.0, 512.0, true), 189);
    }
}
