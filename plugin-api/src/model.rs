//! What a model describes: its dimensions, its memory, and the logical work of one step.

use crate::dtype::DType;
use crate::kernel::{Collective, Kernel};
use serde::{Deserialize, Serialize};

/// Weight bytes of a model by part (all layers, unsharded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightBytes {
    pub embedding: u64,
    pub attention: u64,
    pub dense_ffn: u64,
    pub shared_experts: u64,
    pub routed_experts: u64,
    /// Router (gate) weights of MoE layers.
    pub router: u64,
    pub norms: u64,
    pub lm_head: u64,
}

impl WeightBytes {
    pub fn total(&self) -> u64 {
        self.embedding
            + self.attention
            + self.dense_ffn
            + self.shared_experts
            + self.routed_experts
            + self.router
            + self.norms
            + self.lm_head
    }
}

/// A model's dimensions and footprint: everything the host, parallelism plugins and reports
/// need to know without seeing kernels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// Plugin family that built it (`llama`, `deepseek`, ...).
    pub family: String,
    pub n_layers: u32,
    pub hidden: u64,
    pub n_heads: u64,
    /// KV heads (GQA); for MLA the latent cache is one shared "head".
    pub n_kv_heads: u64,
    pub head_dim: u64,
    /// Dense FFN intermediate size.
    pub ffn_dim: u64,
    pub vocab: u64,
    /// Routed experts (0 for a dense model).
    pub n_routed_experts: u64,
    pub n_shared_experts: u64,
    pub experts_per_token: u64,
    pub moe_ffn_dim: u64,
    /// Layers before the first MoE layer that use the dense FFN.
    pub first_dense_layers: u32,
    pub weight_dtype: DType,
    pub act_dtype: DType,
    pub kv_dtype: DType,
    pub params_total: u64,
    pub params_active: u64,
    pub weights: WeightBytes,
    /// KV-cache bytes one token occupies over all layers (windowed layers included: the
    /// figure for a context no longer than the window; see [`ModelInfo::kv_bytes_for_context`]).
    pub kv_bytes_per_token: u64,
    pub max_context: u64,
    /// Attention window of the windowed layers, tokens: a sliding window (gpt-oss:
    /// `sliding_window` 128) or chunked local attention (Llama 4: `attention_chunk_size` 8192).
    /// Such a layer keeps the KV of at most this many tokens of a sequence. 0 when no layer is
    /// windowed. Added after 1.0 with `#[serde(default)]`: a 1.0 plugin's JSON reads as 0.
    #[serde(default)]
    pub kv_window_tokens: u64,
    /// How many of the `n_layers` layers are windowed (0 when none).
    #[serde(default)]
    pub kv_windowed_layers: u32,
}

impl ModelInfo {
    pub fn is_moe(&self) -> bool {
        self.n_routed_experts > 0
    }
    /// KV bytes of one token in one layer.
    pub fn kv_bytes_per_token_per_layer(&self) -> u64 {
        self.kv_bytes_per_token / self.n_layers.max(1) as u64
    }
    /// KV-cache bytes one sequence of `context` tokens holds over all layers: every full
    /// layer keeps `context` tokens, every windowed layer `min(context, kv_window_tokens)`
    /// (an upper bound for chunked attention, which keeps only the tokens of the current
    /// chunk). Equals `kv_bytes_per_token · context` when no layer is windowed.
    pub fn kv_bytes_for_context(&self, context: u64) -> u64 {
        let layers = self.n_layers.max(1) as u128;
        let windowed = if self.kv_window_tokens == 0 { 0 } else { self.kv_windowed_layers.min(self.n_layers) as u128 };
        let context = context as u128;
        // Layer-tokens held, times the bytes of one token in one layer (kv_bytes_per_token / L).
        let layer_tokens = (layers - windowed) * context + windowed * context.min(self.kv_window_tokens as u128);
        (self.kv_bytes_per_token as u128 * layer_tokens).div_ceil(layers) as u64
    }
}

/// One prefill chunk in a batch: `tokens` new prompt tokens after `prefix` already-cached ones.
/// `last` is true when the chunk completes the prompt, so its final token produces logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrefillChunk {
    pub tokens: u64,
    pub prefix: u64,
    pub last: bool,
}

/// The shape of one iteration's batch, as a model sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchShape {
    pub prefills: Vec<PrefillChunk>,
    /// Sequences producing one decode token each.
    pub decode_seqs: u64,
    /// Sum over decoding sequences of the context each attends to (cached tokens + the new one).
    pub decode_ctx_sum: u64,
    /// Seed for any sampling the model does for this step (expert routing).
    pub seed: u64,
}

impl BatchShape {
    pub fn prefill_tokens(&self) -> u64 {
        self.prefills.iter().map(|p| p.tokens).sum()
    }
    /// All tokens the step processes (rows of every token-wise GEMM).
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens() + self.decode_seqs
    }
    /// Tokens that produce logits: one per decoding sequence and one per prompt-completing chunk.
    pub fn logit_tokens(&self) -> u64 {
        self.decode_seqs + self.prefills.iter().filter(|p| p.last).count() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.prefills.is_empty() && self.decode_seqs == 0
    }
}

/// How a logical op is divided by parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shard {
    /// Every rank runs the whole op (norms, residual adds on the full hidden size).
    Replicated,
    /// Weight columns (output features: heads, FFN intermediate) split over TP.
    Column,
    /// Weight rows (input features) split over TP; the output is a partial sum that needs a
    /// reduction across the TP group.
    Row,
    /// Attention over heads: query and KV heads split over TP.
    Heads,
    /// Element-wise on an already column-split activation (SiLU, multiply on the FFN
    /// intermediate, RoPE on heads): divided like its input.
    Split,
    /// Routed-expert grouped GEMM: experts split over EP, tokens from the routing.
    Experts,
    /// Vocabulary projection: vocab split over TP.
    Vocab,
}

/// Which part of the model an op belongs to (attention and FFN may be split differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Embed,
    Attention,
    Ffn,
    Moe,
    Head,
    /// Communication between pipeline stages or pools.
    Transfer,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Embed => "embed",
            Phase::Attention => "attention",
            Phase::Ffn => "ffn",
            Phase::Moe => "moe",
            Phase::Head => "head",
            Phase::Transfer => "transfer",
        }
    }
}

/// A kernel or a collective.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Kernel(Kernel),
    Comm(Collective),
}

/// One unit of work, run `count` times per layer of its segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub work: WorkKind,
    pub shard: Shard,
    pub phase: Phase,
    pub count: u32,
}

/// What a model emits: a logical op with its sharding rule.
pub type LogicalOp = WorkItem;

impl WorkItem {
    pub fn kernel(kernel: Kernel, shard: Shard, phase: Phase) -> Self {
        WorkItem { work: WorkKind::Kernel(kernel), shard, phase, count: 1 }
    }
    pub fn comm(c: Collective, phase: Phase) -> Self {
        WorkItem { work: WorkKind::Comm(c), shard: Shard::Replicated, phase, count: 1 }
    }
}

/// Where a segment sits in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Before the first layer (embedding).
    Pre,
    /// Repeated decoder layers.
    Layers,
    /// After the last layer (final norm, LM head).
    Post,
}

/// A run of identical layers (`n_layers` from `first_layer`), or the pre/post work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub kind: SegmentKind,
    pub first_layer: u32,
    pub n_layers: u32,
    pub items: Vec<WorkItem>,
}

/// One pipeline stage's work: its segments in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub segments: Vec<Segment>,
}

/// The work of one forward step. A model emits a single stage with logical (unsharded)
/// shapes; parallelism passes rewrite it in place into per-device work and may split it into
/// pipeline stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelGraph {
    pub stages: Vec<Stage>,
    /// Tokens routed to each expert in this step (empty for dense models): sampled by the
    /// model, mapped to devices by expert parallelism.
    pub expert_tokens: Vec<u32>,
    /// FLOPs that parallelism duplicated on several ranks (for conservation checks/reports).
    pub replicated_flops: f64,
}

impl ModelGraph {
    pub fn clear(&mut self) {
        self.stages.clear();
        self.expert_tokens.clear();
        self.replicated_flops = 0.0;
    }

    /// Total kernel FLOPs of the graph as it stands (per device once sharded).
    pub fn kernel_flops(&self) -> f64 {
        self.stages
            .iter()
            .flat_map(|s| &s.segments)
            .map(|seg| {
                seg.items
                    .iter()
                    .map(|it| match it.work {
                        WorkKind::Kernel(k) => k.flops() * it.count as f64,
                        WorkKind::Comm(_) => 0.0,
                    })
                    .sum::<f64>()
                    * seg.n_layers as f64
            })
            .sum()
    }

    /// Every item with its total multiplicity (`count × n_layers`), in order.
    pub fn items(&self) -> impl Iterator<Item = (usize, &WorkItem, u64)> {
        self.stages.iter().enumerate().flat_map(|(si, s)| {
            s.segments.iter().flat_map(move |seg| seg.items.iter().map(move |it| (si, it, it.count as u64 * seg.n_layers as u64)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n_layers: u32, kv_bytes_per_token: u64, window: u64, windowed: u32) -> ModelInfo {
        let dt = DType::Bf16;
        ModelInfo {
            name: "m".into(),
            family: "test".into(),
            n_layers,
            hidden: 64,
            n_heads: 1,
            n_kv_heads: 1,
            head_dim: 64,
            ffn_dim: 64,
            vocab: 10,
            n_routed_experts: 0,
            n_shared_experts: 0,
            experts_per_token: 0,
            moe_ffn_dim: 0,
            first_dense_layers: n_layers,
            weight_dtype: dt,
            act_dtype: dt,
            kv_dtype: dt,
            params_total: 0,
            params_active: 0,
            weights: WeightBytes::default(),
            kv_bytes_per_token,
            max_context: 0,
            kv_window_tokens: window,
            kv_windowed_layers: windowed,
        }
    }

    #[test]
    fn windowed_layers_cap_their_kv() {
        // gpt-oss-120b: 36 layers, 18 sliding (window 128), 2·8·64·2 = 2048 bytes per token per
        // layer, 73,728 per token. A 1000-token sequence: 18·1000 + 18·128 = 20,304 layer-tokens
        // · 2048 = 41,582,592 bytes (instead of 73,728,000 uncapped).
        let m = info(36, 73_728, 128, 18);
        assert_eq!(m.kv_bytes_for_context(1000), 41_582_592);
        // Within the window nothing is capped.
        assert_eq!(m.kv_bytes_for_context(100), 7_372_800);
        // No windowed layer: bytes per token × context.
        assert_eq!(info(36, 73_728, 0, 0).kv_bytes_for_context(1000), 73_728_000);
        assert_eq!(info(36, 73_728, 128, 0).kv_bytes_for_context(1000), 73_728_000);
    }

    #[test]
    fn a_1_0_model_info_without_window_fields_still_loads() {
        let mut v = serde_json::to_value(info(2, 8, 0, 0)).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("kv_window_tokens");
        obj.remove("kv_windowed_layers");
        let back: ModelInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, info(2, 8, 0, 0));
    }
}
