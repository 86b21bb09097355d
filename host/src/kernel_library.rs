//! The kernel library (the `kernel` stage): enumerate the kernel shapes a model produces under the configured
//! parallel plan for the configured prefill blocks and decode contexts, cost each with the
//! backend, and write the kernel library (`{kind}_sizes.txt`, `{device}_{kind}_latency.csv`).

use crate::assemble::build_passes;
use crate::config::Experiment;
use crate::error::Result;
use crate::output::{fmt_f64, write_atomic};
use reallm_plugin_api::{BatchShape, Degrees, Kernel, ModelGraph, ParallelPlan, PrefillChunk, WorkKind};
use reallm_sim::CostModel;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Library file kind and the shape columns of a kernel (batched GEMMs share the `matmul`
/// files, with their batch in the `B` column).
pub fn kernel_row(k: &Kernel) -> (&'static str, &'static str, Vec<u64>) {
    use reallm_plugin_api::KernelKind as K;
    match *k {
        Kernel::Gemm { b, m, k, n, .. } => (K::Matmul.name(), "B,M,K,N", vec![b, m, k, n]),
        Kernel::GroupedGemm { groups, rows, max_rows, k, n, .. } => {
            (K::GroupedMatmul.name(), "G,ROWS,MAX_ROWS,K,N", vec![groups, rows, max_rows, k, n])
        }
        Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, .. } => (
            K::FlashAttention.name(),
            "S,Q,KV,HQ,HKV,DQK,DV,CAUSAL",
            vec![seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal as u64],
        ),
        Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, .. } => {
            (K::DecodeAttention.name(), "S,KV_TOTAL,HQ,HKV,DQK,DV", vec![seqs, kv_total, q_heads, kv_heads, d_qk, d_v])
        }
        Kernel::Softmax { m, n, .. } => (K::Softmax.name(), "M,N", vec![m, n]),
        Kernel::LayerNorm { m, n, .. } => (K::LayerNorm.name(), "M,N", vec![m, n]),
        Kernel::Silu { m, n, .. } => (K::Silu.name(), "M,N", vec![m, n]),
        Kernel::Gelu { m, n, .. } => (K::Gelu.name(), "M,N", vec![m, n]),
        Kernel::Mul { m, n, .. } => (K::Mul.name(), "M,N", vec![m, n]),
        Kernel::Add { m, n, .. } => (K::Add.name(), "M,N", vec![m, n]),
        Kernel::Rope { m, n, .. } => (K::Rope.name(), "M,N", vec![m, n]),
        Kernel::Embedding { tokens, hidden, .. } => (K::Embedding.name(), "M,N", vec![tokens, hidden]),
        Kernel::TopK { m, n, k, .. } => (K::TopK.name(), "M,N,K", vec![m, n, k]),
        // A kernel of a later plugin API: its kind's file, no shape columns (the kernel
        // stage enumerates only the kinds above).
        other => (other.kind().name(), "", Vec::new()),
    }
}

/// The batch shapes the library covers: one prefill of each block size, and decode batches
/// of each size at each context length.
pub fn shapes(exp: &Experiment) -> Vec<BatchShape> {
    let mut v = Vec::new();
    for &p in &exp.kernel.prefill_blocks {
        v.push(BatchShape { prefills: vec![PrefillChunk { tokens: p, prefix: 0, last: true }], ..Default::default() });
    }
    for &b in &exp.kernel.decode_batches {
        for &c in &exp.kernel.decode_ctx {
            v.push(BatchShape { decode_seqs: b, decode_ctx_sum: b * c, ..Default::default() });
        }
    }
    v
}

/// Every parallel plan of `devices` devices, as the original tool's kernel stage enumerated
/// them: each ordered factorisation `E·T·P·C = devices` gives attention `tp T, pp P, cp C,
/// dp E` and FFN `ep E, tp T, pp P, cp C` (the expert dimension is data parallel for
/// attention). Sequence parallelism and the collective algorithm come from `base`.
pub fn all_plans(base: &ParallelPlan) -> Vec<ParallelPlan> {
    let n = base.devices;
    let divisors: Vec<u32> = (1..=n).filter(|d| n.is_multiple_of(*d)).collect();
    let mut out = Vec::new();
    for &e in &divisors {
        for &t in divisors.iter().filter(|&&t| (n / e).is_multiple_of(t)) {
            for &p in divisors.iter().filter(|&&p| (n / e / t).is_multiple_of(p)) {
                let c = n / e / t / p;
                let attention = Degrees { tp: t, pp: p, cp: c, dp: e, ep: 1 };
                let ffn = Degrees { tp: t, pp: p, cp: c, dp: 1, ep: e };
                out.push(ParallelPlan { attention, ffn, ..base.clone() });
            }
        }
    }
    out
}

/// Run the stage; returns the files written. With `kernel.all_plans`, shapes are enumerated
/// over every plan of the device count that the model admits (others are skipped, with a
/// count in the log), deduplicated.
pub fn run(exp: &Experiment, system: &mut CostModel, device_key: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    // kind -> (columns, shape row -> latency); BTreeMap keeps the output order stable.
    let mut lib: BTreeMap<&'static str, (&'static str, BTreeMap<Vec<u64>, f64>)> = BTreeMap::new();
    let mut graph = ModelGraph::default();
    let wanted = |kind: &str| exp.kernel.kernel_types.iter().any(|t| t == kind || (t == "matmul" && kind == "grouped_matmul"));
    let configured = system.plan.clone();
    let configured_passes = std::mem::take(&mut system.passes);
    let plans = if exp.kernel.all_plans { all_plans(&configured) } else { vec![configured.clone()] };
    let mut skipped = 0usize;
    for plan in plans {
        // A plan the model rejects is skipped (counted), not an error.
        let Ok((passes, _)) = build_passes(&system.info, &plan, &exp.origin) else {
            skipped += 1;
            continue;
        };
        system.set_plan(plan, passes);
        collect(exp, system, &mut graph, &mut lib, &wanted)?;
    }
    if skipped > 0 {
        log::info!("kernel: {skipped} parallel plans of {} devices do not fit {} and were skipped", configured.devices, system.info.name);
    }
    system.set_plan(configured, configured_passes);
    write_library(&lib, device_key, dir)
}

type Library = BTreeMap<&'static str, (&'static str, BTreeMap<Vec<u64>, f64>)>;

fn collect(
    exp: &Experiment,
    system: &mut CostModel,
    graph: &mut ModelGraph,
    lib: &mut Library,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<()> {
    for shape in shapes(exp) {
        system.device_graph(&shape, graph)?;
        let kernels: Vec<Kernel> = graph
            .items()
            .filter_map(|(_, it, _)| match it.work {
                WorkKind::Kernel(k) => Some(k),
                WorkKind::Comm(_) => None,
            })
            .collect();
        for k in kernels {
            let (kind, cols, row) = kernel_row(&k);
            if !wanted(kind) {
                continue;
            }
            let entry = &mut lib.entry(kind).or_insert_with(|| (cols, BTreeMap::new())).1;
            if let std::collections::btree_map::Entry::Vacant(v) = entry.entry(row) {
                v.insert(system.kernel_time(&k)?);
            }
        }
    }
    Ok(())
}

fn write_library(lib: &Library, dev: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (kind, (cols, rows)) in lib {
        let mut sizes = String::new();
        let mut lat = format!("{cols},latency\n");
        for (row, t) in rows {
            let r = row.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
            sizes.push_str(&r);
            sizes.push('\n');
            lat.push_str(&format!("{r},{}\n", fmt_f64(*t)));
        }
        let sp = dir.join(format!("{kind}_sizes.txt"));
        let lp = dir.join(format!("{dev}_{kind}_latency.csv"));
        write_atomic(&sp, sizes.as_bytes())?;
        write_atomic(&lp, lat.as_bytes())?;
        written.push(sp);
        written.push(lp);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_factorisation_once() {
        let plans = all_plans(&ParallelPlan::tensor(8));
        // Ordered factorisations of 2^3 into 4 factors: C(3+3, 3) = 20.
        assert_eq!(plans.len(), 20);
        let mut keys: Vec<String> = plans.iter().map(|p| format!("{}|{}", p.attention, p.ffn)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 20);
        assert!(plans.iter().all(|p| p.attention.product() == 8 && p.ffn.product() == 8));
    }
}
