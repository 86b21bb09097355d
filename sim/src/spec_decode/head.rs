//! Draft heads that live inside the target model: DeepSeek's multi-token-prediction (MTP)
//! module and an EAGLE head, as a [`ModelArch`] built from the target's own step graph.
//!
//! * **MTP** (DeepSeek-V3 report §2.2; vLLM `deepseek_mtp.py`): the module combines the
//!   target's hidden state and the embedding of the next token, `h' = M·[RMSNorm(h);
//!   RMSNorm(Emb(t))]` with `M ∈ R^{d×2d}` (`eh_proj`), runs one Transformer block (layer 61 of
//!   DeepSeek-V3, an MLA + MoE layer like the target's last) and the shared output head. The
//!   embedding and the LM head are the target's (vLLM shares them), so the head's own weights
//!   are one layer, `eh_proj` and two norms.
//! * **EAGLE** (EAGLE-3: arXiv 2503.01840): an `fc` fuses three of the target's hidden states
//!   (`3d → d`), then one decoder layer and an LM head. The head's layer is costed as one of the
//!   target's dense layers (its last dense run; the last layer when every layer is MoE).
//!   Not modelled: EAGLE-3's attention input of width `2d` (its q/k/v GEMMs read twice the
//!   hidden size) and its reduced draft vocabulary (32k for the Llama-3.1 heads: the LM head is
//!   costed over the target's vocabulary, an over-estimate).
//!
//! [`DraftHead::build_step`] builds the target's step over the same batch and keeps the
//! embedding (Pre), one layer of the chosen run, and the final norm and LM head (Post), then
//! adds the fusion projection (`eh_proj` / `fc`, replicated, at activation precision, as
//! vLLM's `nn.Linear`) and its two input norms. As in vLLM's proposer, logits are computed for
//! one position per sequence (the last it fed) and per prompt-completing chunk, not for every
//! token the pass runs over.

use reallm_plugin_api::{
    BatchShape, Kernel, ModelArch, ModelGraph, ModelInfo, Phase, PluginError, Segment, SegmentKind, Shard, WeightBytes, WorkItem, WorkKind,
};

/// Which in-model draft head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// DeepSeek multi-token prediction: `eh_proj` (`2d → d`) + the target's last layer kind.
    Mtp,
    /// EAGLE: `fc` (`3d → d`) + one dense decoder layer.
    Eagle,
}

impl HeadKind {
    /// Hidden-size multiple the fusion projection reads (`[emb; h]` for MTP, three hidden
    /// states for EAGLE-3).
    fn fuse_inputs(self) -> u64 {
        match self {
            HeadKind::Mtp => 2,
            HeadKind::Eagle => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            HeadKind::Mtp => "MTP head",
            HeadKind::Eagle => "EAGLE head",
        }
    }
}

/// An MTP or EAGLE head over a target model (see the module docs).
pub struct DraftHead {
    inner: Box<dyn ModelArch>,
    info: ModelInfo,
    kind: HeadKind,
}

fn is_moe(seg: &Segment) -> bool {
    seg.items.iter().any(|it| matches!(it.work, WorkKind::Kernel(Kernel::GroupedGemm { .. })))
}

/// Index (in `segments`) of the Layers segment the head copies: MTP the last run; EAGLE the last
/// dense run, or the last run when every run is MoE.
fn chosen(segments: &[Segment], kind: HeadKind) -> Option<usize> {
    let layers = || segments.iter().enumerate().filter(|(_, s)| s.kind == SegmentKind::Layers);
    let last = layers().next_back().map(|(i, _)| i);
    match kind {
        HeadKind::Mtp => last,
        HeadKind::Eagle => layers().rfind(|(_, s)| !is_moe(s)).map(|(i, _)| i).or(last),
    }
}

impl DraftHead {
    /// The head of `kind` over `target` (a second instance of the target model: the head
    /// builds the target's step graph and keeps part of it).
    pub fn new(target: Box<dyn ModelArch>, kind: HeadKind) -> Result<DraftHead, PluginError> {
        let t = target.info().clone();
        // Probe one decode step to see the layer runs (MoE or dense, layers in each).
        let mut g = ModelGraph::default();
        target.build_step(&BatchShape { decode_seqs: 1, decode_ctx_sum: 1, ..Default::default() }, &mut g)?;
        let segments: Vec<Segment> = g.stages.into_iter().flat_map(|s| s.segments).collect();
        let Some(pick) = chosen(&segments, kind) else {
            return Err(PluginError::invalid(format!("model `{}` emitted no decoder layers; a {} needs one to copy", t.name, kind.name())));
        };
        let layers = |moe: bool| -> u64 {
            segments.iter().filter(|s| s.kind == SegmentKind::Layers && is_moe(s) == moe).map(|s| s.n_layers as u64).sum()
        };
        let moe = is_moe(&segments[pick]);
        let n_layers = t.n_layers.max(1) as u64;
        let w = &t.weights;
        let per = |x: u64, n: u64| x / n.max(1);
        let act = t.act_dtype;
        let fuse = kind.fuse_inputs();
        // Replicated parts: the layer's norms, the two input norms and the fusion projection.
        let extra = act.bytes_for(2 * t.hidden + fuse * t.hidden * t.hidden);
        let weights = WeightBytes {
            embedding: 0,
            attention: per(w.attention, n_layers),
            dense_ffn: if moe { 0 } else { per(w.dense_ffn, layers(false)) },
            shared_experts: if moe { per(w.shared_experts, layers(true)) } else { 0 },
            routed_experts: if moe { per(w.routed_experts, layers(true)) } else { 0 },
            router: if moe { per(w.router, layers(true)) } else { 0 },
            norms: per(w.norms, n_layers) + extra,
            lm_head: 0,
        };
        // Parameters in proportion to the weight bytes (an estimate; reports only).
        let share = weights.total() as f64 / w.total().max(1) as f64;
        let info = ModelInfo {
            name: format!("{} {}", t.name, kind.name()),
            n_layers: 1,
            first_dense_layers: if moe { 0 } else { 1 },
            params_total: (t.params_total as f64 * share).round() as u64,
            params_active: (t.params_active as f64 * share).round() as u64,
            weights,
            kv_bytes_per_token: t.kv_bytes_per_token / n_layers,
            // The head's layer keeps a full context of KV; a window of the target (if any) is
            // kept so that the decode memo stays off for it (the copied layer may be windowed).
            kv_windowed_layers: 0,
            ..t
        };
        Ok(DraftHead { inner: target, info, kind })
    }

    /// Which head.
    pub fn kind(&self) -> HeadKind {
        self.kind
    }
}

impl ModelArch for DraftHead {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError> {
        self.inner.build_step(batch, graph)?;
        let t = batch.tokens();
        if graph.stages.len() != 1 {
            return Err(PluginError::invalid(format!(
                "expected one logical stage from `{}`, got {}",
                self.inner.info().name,
                graph.stages.len()
            )));
        }
        let stage = &mut graph.stages[0];
        let Some(pick) = chosen(&stage.segments, self.kind) else {
            return Err(PluginError::invalid(format!("model `{}` emitted no decoder layers", self.inner.info().name)));
        };
        let mut i = 0;
        stage.segments.retain_mut(|seg| {
            let here = i;
            i += 1;
            match seg.kind {
                SegmentKind::Layers if here == pick => {
                    seg.first_layer = 0;
                    seg.n_layers = 1;
                    true
                }
                SegmentKind::Layers => false,
                SegmentKind::Pre => true,
                SegmentKind::Post => {
                    seg.first_layer = 0;
                    true
                }
            }
        });
        if t == 0 {
            return Ok(());
        }
        // Logits at one position per decoding sequence and per prompt-completing chunk.
        let (all_logits, want) = (batch.logit_tokens(), batch.decode_seqs + batch.prefills.iter().filter(|p| p.last).count() as u64);
        let (hidden, vocab, act) = (self.info.hidden, self.info.vocab, self.info.act_dtype);
        if let Some(post) = stage.segments.iter_mut().find(|s| s.kind == SegmentKind::Post) {
            for it in &mut post.items {
                if let WorkKind::Kernel(Kernel::Gemm { b: 1, m, k, n, .. }) = &mut it.work {
                    if *m == all_logits && *k == hidden && *n == vocab {
                        *m = want;
                    }
                }
            }
            post.items.retain(|it| !matches!(it.work, WorkKind::Kernel(Kernel::Gemm { m: 0, .. })));
        }
        let fusion = [
            WorkItem::kernel(Kernel::LayerNorm { m: t, n: hidden, dtype: act }, Shard::Replicated, Phase::Embed),
            WorkItem::kernel(Kernel::LayerNorm { m: t, n: hidden, dtype: act }, Shard::Replicated, Phase::Embed),
            WorkItem::kernel(Kernel::matmul(t, self.kind.fuse_inputs() * hidden, hidden, act), Shard::Replicated, Phase::Embed),
        ];
        match stage.segments.first_mut() {
            Some(pre) if pre.kind == SegmentKind::Pre => pre.items.extend_from_slice(&fusion),
            _ => stage.segments.insert(0, Segment { kind: SegmentKind::Pre, first_layer: 0, n_layers: 1, items: fusion.to_vec() }),
        }
        Ok(())
    }
}
