//! Pipeline parallelism (GPipe, Huang et al. 2019; Megatron-LM's inter-layer split): the
//! decoder layers are cut into `p` stages of whole layers.
//!
//! - Balanced split: the first `n_layers mod p` stages get `⌈n_layers/p⌉` layers, the others
//!   `⌊n_layers/p⌋` (80 layers over 3 stages: 27, 27, 26); `layers_per_stage: [..]` sets an
//!   explicit, possibly uneven split.
//! - The `Pre` segment (embedding) goes to stage 0, `Post` (final norm, LM head) to the last.
//! - Every stage but the last ends with a `Post` segment of one `SendRecv` (phase `Transfer`)
//!   of the hidden states it hands on: `rows · hidden · act` bytes, where `rows` is the row
//!   count of the stage's last residual-stream kernel (an `Add` or `LayerNorm` of width
//!   `hidden`) after the token splits of the earlier passes, i.e. what one device holds.
//! - Scope per boundary: with devices numbered stage by stage, `devices/pp` per stage, a
//!   boundary crosses nodes when some device and its counterpart in the next stage lie in
//!   different `devices_per_node` blocks.

use crate::devices_per_stage;
use reallm_plugin_api::{
    Collective, CollectiveKind, Kernel, LinkScope, ModelGraph, ModelInfo, ParallelPlan, Parallelism, Phase, PluginError, Segment,
    SegmentKind, Stage, WorkItem, WorkKind,
};
use serde::Deserialize;

/// Parameters of `pp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpParams {
    /// Explicit layers of each stage (must have `pp` entries, each at least 1, summing to the
    /// model's layers). Unset: the balanced split.
    pub layers_per_stage: Option<Vec<u32>>,
}

/// The `pp` pass.
#[derive(Debug, Clone, Default)]
pub struct PipelineParallel {
    params: PpParams,
}

impl PipelineParallel {
    /// The pass with the given parameters.
    pub fn new(params: PpParams) -> Self {
        PipelineParallel { params }
    }

    /// Layers of each of the `p` stages for a model of `n_layers` layers.
    pub fn stage_layers(&self, model: &ModelInfo, p: u32) -> Result<Vec<u32>, PluginError> {
        let n = model.n_layers;
        if p == 0 || p > n {
            return Err(PluginError::invalid(format!("pp {p} cannot split the {n} layers of {}: need 1 ≤ pp ≤ {n}", model.name)));
        }
        match &self.params.layers_per_stage {
            Some(list) => {
                let sum: u64 = list.iter().map(|&l| l as u64).sum();
                if list.len() != p as usize || sum != n as u64 || list.contains(&0) {
                    return Err(PluginError::invalid(format!(
                        "layers_per_stage {list:?} must have {p} entries (one per pp stage), each at least 1, summing to the {n} layers of {}",
                        model.name
                    )));
                }
                Ok(list.clone())
            }
            None => Ok((0..p).map(|s| n / p + u32::from(s < n % p)).collect()),
        }
    }
}

impl Parallelism for PipelineParallel {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        crate::validate_plan(model, plan)?;
        let p = plan.attention.pp;
        if p <= 1 {
            return Ok(Vec::new());
        }
        let layers = self.stage_layers(model, p)?;
        let list: Vec<String> = layers.iter().map(u32::to_string).collect();
        Ok(vec![format!(
            "pp {p}: {} layers in stages of {} layers; a send/recv of the hidden states between consecutive stages",
            model.n_layers,
            list.join(", ")
        )])
    }

    fn apply(&self, model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let p = plan.attention.pp;
        if p <= 1 {
            return Ok(());
        }
        if graph.stages.len() != 1 {
            return Err(PluginError::invalid(format!(
                "pp expects the model's single-stage graph but got {} stages (was pp applied twice?)",
                graph.stages.len()
            )));
        }
        let layers = self.stage_layers(model, p)?;
        // bounds[s]..bounds[s+1] are stage s's layers.
        let mut bounds = Vec::with_capacity(layers.len() + 1);
        bounds.push(0u32);
        for l in &layers {
            bounds.push(bounds.last().copied().unwrap_or(0) + l);
        }
        let logical = std::mem::take(&mut graph.stages[0]);
        let mut stages: Vec<Stage> = (0..p).map(|_| Stage::default()).collect();
        for seg in logical.segments {
            match seg.kind {
                SegmentKind::Pre => stages[0].segments.push(seg),
                SegmentKind::Post => stages[p as usize - 1].segments.push(seg),
                SegmentKind::Layers => {
                    let (start, end) = (seg.first_layer, seg.first_layer.saturating_add(seg.n_layers));
                    if end > model.n_layers {
                        return Err(PluginError::invalid(format!(
                            "a segment of layers {start}..{end} exceeds the {} layers of {}",
                            model.n_layers, model.name
                        )));
                    }
                    for (s, stage) in stages.iter_mut().enumerate() {
                        let (lo, hi) = (start.max(bounds[s]), end.min(bounds[s + 1]));
                        if lo < hi {
                            stage.segments.push(Segment {
                                kind: SegmentKind::Layers,
                                first_layer: lo,
                                n_layers: hi - lo,
                                items: seg.items.clone(),
                            });
                        }
                    }
                }
            }
        }
        let per_stage = devices_per_stage(plan);
        let act = model.act_dtype;
        for s in 0..stages.len() - 1 {
            let rows = hidden_rows(&stages[s], model).ok_or_else(|| {
                PluginError::invalid(format!(
                    "pp: stage {s} of {} has no kernel of width hidden = {} to size the activations it sends",
                    model.name, model.hidden
                ))
            })?;
            let scope = boundary_scope(s as u64, per_stage, plan.devices_per_node as u64);
            let c = Collective {
                kind: CollectiveKind::SendRecv,
                bytes: act.bytes_for(rows * model.hidden),
                ranks: 2,
                scope,
                algo: plan.comm_algo,
            };
            stages[s].segments.push(Segment {
                kind: SegmentKind::Post,
                first_layer: bounds[s + 1],
                n_layers: 1,
                items: vec![WorkItem::comm(c, Phase::Transfer)],
            });
        }
        graph.stages = stages;
        Ok(())
    }
}

/// Rows of the last residual-stream kernel (`Add`/`LayerNorm` of width `hidden`, else a GEMM
/// producing `hidden`, else the embedding) in a stage.
fn hidden_rows(stage: &Stage, model: &ModelInfo) -> Option<u64> {
    let kernels = || {
        stage.segments.iter().rev().flat_map(|seg| seg.items.iter().rev()).filter_map(|it| match it.work {
            WorkKind::Kernel(k) => Some(k),
            WorkKind::Comm(_) => None,
        })
    };
    let h = model.hidden;
    kernels()
        .find_map(|k| match k {
            Kernel::Add { m, n, .. } | Kernel::LayerNorm { m, n, .. } if n == h => Some(m),
            _ => None,
        })
        .or_else(|| {
            kernels().find_map(|k| match k {
                Kernel::Gemm { m, n, .. } if n == h => Some(m),
                Kernel::Embedding { tokens, hidden, .. } if hidden == h => Some(tokens),
                _ => None,
            })
        })
}

/// Scope of the boundary after stage `s` when stages are `per_stage` consecutive devices:
/// scale-out if any device `r` of the stage and `r + per_stage` sit in different nodes.
fn boundary_scope(s: u64, per_stage: u64, per_node: u64) -> LinkScope {
    let per_node = per_node.max(1);
    if per_stage >= per_node {
        return LinkScope::ScaleOut;
    }
    let first = s * per_stage;
    let crosses = (first..first + per_stage).any(|r| r / per_node != (r + per_stage) / per_node);
    if crosses {
        LinkScope::ScaleOut
    } else {
        LinkScope::ScaleUp
    }
}
