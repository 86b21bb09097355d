//! Built-in parallelism plugins: `dp`, `cp`, `tp`, `ep` and `pp`.
//!
//! A model emits the logical (unsharded) work of one step as a single-stage [`ModelGraph`]
//! whose items carry a [`Shard`](reallm_plugin_api::Shard) rule and a [`Phase`]. Each pass
//! here rewrites that graph in place into the work of **one device** (the most loaded one where
//! the split is uneven) plus the collectives the scheme adds. Attention degrees of the
//! [`ParallelPlan`] apply to `Attention` and `Embed` items, FFN degrees to `Ffn`, `Moe` and
//! `Head` items; `Transfer` items are never split.
//!
//! The passes compose in the fixed order [`PASS_ORDER`] (dp, cp, tp, ep, pp): token splits
//! first, so that the collectives tp inserts are sized for the rows one device holds.
//! [`apply_all`] runs them.
//!
//! # Device layout
//!
//! Collective scope ([`LinkScope`]) follows from which devices a group spans. Devices are
//! numbered with tp fastest, then cp, then dp (attention) or ep (FFN), then pp (Megatron-LM's
//! order), so a tp group spans `tp` consecutive devices, a cp group `cp·tp`, an ep group
//! `ep·tp`, and a pipeline boundary joins devices `devices/pp` apart. A group that fits within
//! `devices_per_node` consecutive devices uses the scale-up link, otherwise scale-out.
//!
//! # Conservation of FLOPs
//!
//! [`ModelGraph::replicated_flops`] holds the FLOPs that the per-device view counts more than
//! once over the devices of a pipeline stage: work every rank repeats (replicated norms under
//! tp, KV projections of replicated KV heads) and the rounding surplus of taking the most
//! loaded rank's share (`⌈m/d⌉·d − m` rows, the heaviest expert-parallel rank). With
//! `D = devices / pp` devices per stage, after all passes
//!
//! ```text
//! graph.kernel_flops() · D − graph.replicated_flops = logical kernel FLOPs
//! ```
//!
//! holds exactly (up to float rounding). Each pass adds, per segment and part (attention or
//! FFN), `(after · degree − before) · prior`, where `prior` is the product of the degrees the
//! earlier passes of [`PASS_ORDER`] already applied to that part.

mod cp;
mod dp;
mod ep;
mod pp;
mod tp;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use cp::{ContextParallel, CpAlgo, CpParams};
pub use dp::{DataParallel, DpParams};
pub use ep::{EpParams, ExpertParallel, ExpertPlacement};
pub use pp::{PipelineParallel, PpParams};
pub use tp::{TensorParallel, TpParams};

use reallm_plugin_api::{
    register_plugin, Constructor, Degrees, Kernel, LinkScope, ModelGraph, ModelInfo, ParallelPlan, Parallelism, Phase, PluginError,
    PluginInfo, PluginKind, PluginRegistration, WorkItem, WorkKind,
};

/// The order in which the host applies the passes whose degree exceeds one.
pub const PASS_ORDER: [&str; 5] = ["dp", "cp", "tp", "ep", "pp"];

/// Whether pass `name` has work to do under `plan` (a degree above one for attention or FFN).
/// Unknown names give `false`.
pub fn pass_enabled(plan: &ParallelPlan, name: &str) -> bool {
    match pass_degrees(plan, name) {
        Some((a, f)) => a > 1 || f > 1,
        None => false,
    }
}

/// The (attention, ffn) degrees of pass `name`, or `None` for an unknown name.
fn pass_degrees(plan: &ParallelPlan, name: &str) -> Option<(u32, u32)> {
    let pick = |d: &Degrees| match name {
        "dp" => Some(d.dp),
        "cp" => Some(d.cp),
        "tp" => Some(d.tp),
        "ep" => Some(d.ep),
        "pp" => Some(d.pp),
        _ => None,
    };
    Some((pick(&plan.attention)?, pick(&plan.ffn)?))
}

/// Build a built-in pass by name from its parameters (`null` for the defaults).
pub fn builtin(name: &str, params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    match name {
        "tp" => create_tp(params),
        "dp" => create_dp(params),
        "cp" => create_cp(params),
        "ep" => create_ep(params),
        "pp" => create_pp(params),
        other => Err(PluginError::unsupported(format!("no built-in parallelism `{other}`; expected one of {}", PASS_ORDER.join(", ")))),
    }
}

/// Check a plan on its own terms and against the model: every degree at least one, the
/// attention and FFN degree products equal to the device count, equal pipeline degrees, no
/// expert parallelism on attention, and no more stages than layers.
pub fn validate_plan(model: &ModelInfo, plan: &ParallelPlan) -> Result<(), PluginError> {
    if plan.devices == 0 {
        return Err(PluginError::invalid("the parallel plan has 0 devices; it needs at least 1"));
    }
    if plan.devices_per_node == 0 {
        return Err(PluginError::invalid("devices_per_node is 0; it must be at least 1"));
    }
    for (part, d) in [("attention", &plan.attention), ("ffn", &plan.ffn)] {
        for (name, v) in [("tp", d.tp), ("pp", d.pp), ("cp", d.cp), ("dp", d.dp), ("ep", d.ep)] {
            if v == 0 {
                return Err(PluginError::invalid(format!("{part} parallelism has {name}0: every degree must be at least 1")));
            }
        }
        let product = d.product();
        if product != plan.devices as u64 {
            return Err(PluginError::invalid(format!(
                "{part} parallelism {d} spans {product} devices but the plan has {} devices: the product of its degrees must equal the device count",
                plan.devices
            )));
        }
    }
    if plan.attention.pp != plan.ffn.pp {
        return Err(PluginError::invalid(format!(
            "attention pp{} and ffn pp{} differ: pipeline stages hold whole layers, so attention and FFN need the same pp degree",
            plan.attention.pp, plan.ffn.pp
        )));
    }
    if plan.attention.ep > 1 {
        return Err(PluginError::invalid(format!(
            "attention parallelism {} has ep{}, but attention has no experts to split; use dp{} for attention data parallelism",
            plan.attention, plan.attention.ep, plan.attention.ep
        )));
    }
    if plan.attention.pp as u64 > model.n_layers as u64 {
        return Err(PluginError::invalid(format!(
            "pp {} exceeds the {} layers of {}: every pipeline stage needs at least one layer",
            plan.attention.pp, model.n_layers, model.name
        )));
    }
    Ok(())
}

/// [`validate_plan`], then the `validate` of every pass [`pass_enabled`] under the plan, with
/// default parameters. Returns their notes in [`PASS_ORDER`].
pub fn validate_all(model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
    validate_plan(model, plan)?;
    let mut notes = Vec::new();
    for name in PASS_ORDER {
        if pass_enabled(plan, name) {
            notes.extend(with_default(name, |p| p.validate(model, plan))?);
        }
    }
    Ok(notes)
}

/// Validate the plan ([`validate_all`]) and apply every built-in pass with default parameters
/// in [`PASS_ORDER`], skipping those whose degrees are all one. Returns the validation notes.
pub fn apply_all(model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<Vec<String>, PluginError> {
    let notes = validate_all(model, plan)?;
    for name in PASS_ORDER {
        if pass_enabled(plan, name) {
            with_default(name, |p| p.apply(model, plan, graph))?;
        }
    }
    Ok(notes)
}

/// Run `f` on the built-in pass `name` with default parameters (no allocation).
fn with_default<R>(name: &str, f: impl FnOnce(&dyn Parallelism) -> Result<R, PluginError>) -> Result<R, PluginError> {
    match name {
        "dp" => f(&DataParallel::new()),
        "cp" => f(&ContextParallel::new(CpParams::default())),
        "tp" => f(&TensorParallel::new()),
        "ep" => f(&ExpertParallel::new(EpParams::default())),
        "pp" => f(&PipelineParallel::new(PpParams::default())),
        other => Err(PluginError::unsupported(format!("no built-in parallelism `{other}`"))),
    }
}

/// Devices in one pipeline stage: `devices / pp`.
pub fn devices_per_stage(plan: &ParallelPlan) -> u64 {
    plan.devices as u64 / plan.attention.pp.max(1) as u64
}

/// Link a collective over a group spanning `span_devices` consecutive devices uses:
/// scale-up when the group fits in one node (`span ≤ devices_per_node`), else scale-out.
pub fn scope_for(span_devices: u64, plan: &ParallelPlan) -> LinkScope {
    if span_devices <= plan.devices_per_node as u64 {
        LinkScope::ScaleUp
    } else {
        LinkScope::ScaleOut
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers of the passes.

/// Which set of degrees governs an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// `Attention` and `Embed` items: attention degrees.
    Attention,
    /// `Ffn`, `Moe` and `Head` items: FFN degrees.
    Ffn,
    /// `Transfer` items: never split.
    Other,
}

pub(crate) fn part_of(phase: Phase) -> Part {
    match phase {
        Phase::Attention | Phase::Embed => Part::Attention,
        Phase::Ffn | Phase::Moe | Phase::Head => Part::Ffn,
        Phase::Transfer => Part::Other,
    }
}

/// Index of a part in `[attention, ffn]` arrays.
pub(crate) fn part_index(part: Part) -> Option<usize> {
    match part {
        Part::Attention => Some(0),
        Part::Ffn => Some(1),
        Part::Other => None,
    }
}

/// `[attention, ffn]` degrees of pass `name`, as floats for the FLOP accounting.
pub(crate) fn ways(plan: &ParallelPlan, name: &str) -> [f64; 2] {
    let (a, f) = pass_degrees(plan, name).unwrap_or((1, 1));
    [a as f64, f as f64]
}

/// `[attention, ffn]` products of the degrees the passes before `name` in [`PASS_ORDER`]
/// applied: the number of groups an item is already divided over when `name` runs.
pub(crate) fn prior_ways(plan: &ParallelPlan, name: &str) -> [f64; 2] {
    let mut prior = [1.0, 1.0];
    for earlier in PASS_ORDER.iter().take_while(|p| **p != name) {
        let w = ways(plan, earlier);
        prior[0] *= w[0];
        prior[1] *= w[1];
    }
    prior
}

/// Kernel FLOPs of one layer's items, `[attention part, ffn part]` (`count` included).
pub(crate) fn part_flops(items: &[WorkItem]) -> [f64; 2] {
    let mut f = [0.0, 0.0];
    for it in items {
        if let (WorkKind::Kernel(k), Some(i)) = (it.work, part_index(part_of(it.phase))) {
            f[i] += k.flops() * it.count as f64;
        }
    }
    f
}

/// FLOPs a pass added to the all-device count of a segment: `Σ_part (after·ways − before)·prior·n_layers`.
pub(crate) fn excess_flops(before: [f64; 2], after: [f64; 2], ways: [f64; 2], prior: [f64; 2], n_layers: u32) -> f64 {
    (0..2).map(|i| (after[i] * ways[i] - before[i]) * prior[i]).sum::<f64>() * n_layers as f64
}

/// A kernel's token dimension divided over `d` groups (ceiling: the most loaded group):
/// GEMM rows `m`, grouped-GEMM `rows`/`max_rows`, attention `seqs`, decode attention `seqs`
/// and `kv_total`, element-wise and norm rows `m`, embedding `tokens`, top-k rows `m`.
pub(crate) fn split_tokens(k: Kernel, d: u64) -> Kernel {
    if d <= 1 {
        return k;
    }
    let c = |x: u64| x.div_ceil(d);
    match k {
        Kernel::Gemm { b, m, k: kk, n, a, w, out } => Kernel::Gemm { b, m: c(m), k: kk, n, a, w, out },
        Kernel::GroupedGemm { groups, rows, max_rows, k: kk, n, a, w, out } => {
            let rows = c(rows);
            Kernel::GroupedGemm { groups, rows, max_rows: c(max_rows).min(rows), k: kk, n, a, w, out }
        }
        Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => {
            Kernel::Attention { seqs: c(seqs), q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv }
        }
        Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => {
            Kernel::DecodeAttention { seqs: c(seqs), kv_total: c(kv_total), q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv }
        }
        Kernel::Softmax { m, n, dtype } => Kernel::Softmax { m: c(m), n, dtype },
        Kernel::LayerNorm { m, n, dtype } => Kernel::LayerNorm { m: c(m), n, dtype },
        Kernel::Silu { m, n, dtype } => Kernel::Silu { m: c(m), n, dtype },
        Kernel::Gelu { m, n, dtype } => Kernel::Gelu { m: c(m), n, dtype },
        Kernel::Mul { m, n, dtype } => Kernel::Mul { m: c(m), n, dtype },
        Kernel::Add { m, n, dtype } => Kernel::Add { m: c(m), n, dtype },
        Kernel::Rope { m, n, dtype } => Kernel::Rope { m: c(m), n, dtype },
        Kernel::Embedding { tokens, hidden, dtype } => Kernel::Embedding { tokens: c(tokens), hidden, dtype },
        Kernel::TopK { m, n, k: kk, dtype } => Kernel::TopK { m: c(m), n, k: kk, dtype },
        // A kernel of a later plugin API is not divided (every rank does all of it).
        other => other,
    }
}

/// The token-like dimension [`split_tokens`] divides (GEMM `m`, grouped `rows`, attention
/// `seqs`, ...), used to rescale collectives that follow a token-split item.
pub(crate) fn token_rows(k: &Kernel) -> u64 {
    match *k {
        Kernel::Gemm { m, .. } => m,
        Kernel::GroupedGemm { rows, .. } => rows,
        Kernel::Attention { seqs, .. } | Kernel::DecodeAttention { seqs, .. } => seqs,
        Kernel::Softmax { m, .. }
        | Kernel::LayerNorm { m, .. }
        | Kernel::Silu { m, .. }
        | Kernel::Gelu { m, .. }
        | Kernel::Mul { m, .. }
        | Kernel::Add { m, .. }
        | Kernel::Rope { m, .. }
        | Kernel::TopK { m, .. } => m,
        Kernel::Embedding { tokens, .. } => tokens,
        // A kernel of a later plugin API: not divided by `split_tokens`, no rows to rescale by.
        _ => 0,
    }
}

/// `x · num / den` in exact integer arithmetic, rounded up (`x` when `den` is 0).
pub(crate) fn scale_ceil(x: u64, num: u64, den: u64) -> u64 {
    if den == 0 {
        return x;
    }
    let v = (x as u128 * num as u128).div_ceil(den as u128);
    v.min(u64::MAX as u128) as u64
}

// ---------------------------------------------------------------------------------------------
// Registration.

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "tp",
        aliases: &["tensor"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "tensor parallelism: heads, FFN columns/rows and vocabulary split, with all-reduce (or reduce-scatter + all-gather)",
        example_params: "{}\n",
        presets: &[],
    },
    ctor: Constructor::Parallelism(create_tp),
});

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "dp",
        aliases: &["data"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "data parallelism: tokens and sequences split over groups (attention DP, token-parallel FFN)",
        example_params: "{}\n",
        presets: &[],
    },
    ctor: Constructor::Parallelism(create_dp),
});

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "cp",
        aliases: &["context"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "context parallelism: each sequence's queries and KV split over ranks, ring or all-gather KV exchange",
        example_params: "cp_algo: ring\nhide_ring_comm: false\n",
        presets: &[],
    },
    ctor: Constructor::Parallelism(create_cp),
});

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "ep",
        aliases: &["expert"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "expert parallelism: routed experts placed on ranks, all-to-all dispatch and combine, token-parallel dense work",
        example_params: "redundant_experts: 0\nallow_uneven: false\n",
        presets: &[],
    },
    ctor: Constructor::Parallelism(create_ep),
});

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "pp",
        aliases: &["pipeline"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "pipeline parallelism: whole layers split into stages with a send/recv of activations between stages",
        example_params: "layers_per_stage: [27, 27, 26]\n",
        presets: &[],
    },
    ctor: Constructor::Parallelism(create_pp),
});

fn create_tp(params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    let _: TpParams = reallm_plugin_api::parse_params("tp", params)?;
    Ok(Box::new(TensorParallel::new()))
}

fn create_dp(params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    let _: DpParams = reallm_plugin_api::parse_params("dp", params)?;
    Ok(Box::new(DataParallel::new()))
}

fn create_cp(params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    Ok(Box::new(ContextParallel::new(reallm_plugin_api::parse_params("cp", params)?)))
}

fn create_ep(params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    Ok(Box::new(ExpertParallel::new(reallm_plugin_api::parse_params("ep", params)?)))
}

fn create_pp(params: &serde_json::Value) -> Result<Box<dyn Parallelism>, PluginError> {
    Ok(Box::new(PipelineParallel::new(reallm_plugin_api::parse_params("pp", params)?)))
}
