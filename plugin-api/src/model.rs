//! What a model describes: its dimensions, its memory, and the logical work of one step.

use crate::dtype::DType;
use crate::kernel::{Collective, Kernel};
use serde::{Deserialize, Serialize};

/// Weight bytes of a model by part (all layers, unsharded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightBytes {
    /// Token embedding table.
    pub embedding: u64,
    /// Attention projections of every layer.
    pub attention: u64,
    /// Dense FFNs (dense layers).
    pub dense_ffn: u64,
    /// Shared experts of MoE layers.
    pub shared_experts: u64,
    /// Routed experts of MoE layers.
    pub routed_experts: u64,
    /// Router (gate) weights of MoE layers.
    pub router: u64,
    /// Norm weights.
    pub norms: u64,
    /// Output projection (LM head).
    pub lm_head: u64,
}

impl WeightBytes {
    /// Bytes of every weight.
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    /// Preset or configured name.
    pub name: String,
    /// Plugin family that built it (`llama`, `deepseek`, ...).
    pub family: String,
    /// Decoder layers.
    pub n_layers: u32,
    /// Hidden size.
    pub hidden: u64,
    /// Query heads.
    pub n_heads: u64,
    /// KV heads (GQA); for MLA the latent cache is one shared "head".
    pub n_kv_heads: u64,
    /// Head dimension.
    pub head_dim: u64,
    /// Dense FFN intermediate size.
    pub ffn_dim: u64,
    /// Vocabulary size.
    pub vocab: u64,
    /// Routed experts (0 for a dense model).
    pub n_routed_experts: u64,
    /// Shared experts per MoE layer.
    pub n_shared_experts: u64,
    /// Routed experts each token goes to (top-k).
    pub experts_per_token: u64,
    /// Intermediate size of one expert.
    pub moe_ffn_dim: u64,
    /// Layers before the first MoE layer that use the dense FFN.
    pub first_dense_layers: u32,
    /// Weight type (dense layers).
    pub weight_dtype: DType,
    /// Activation type.
    pub act_dtype: DType,
    /// KV-cache type.
    pub kv_dtype: DType,
    /// Parameters in all.
    pub params_total: u64,
    /// Parameters a token goes through (MoE: shared + top-k experts).
    pub params_active: u64,
    /// Weight bytes by part.
    pub weights: WeightBytes,
    /// KV-cache bytes one token occupies over all layers (windowed layers included: the
    /// figure for a context no longer than the window; see [`ModelInfo::kv_bytes_for_context`]).
    pub kv_bytes_per_token: u64,
    /// Longest context the model supports, tokens.
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
    /// Whether any layer has routed experts.
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct PrefillChunk {
    /// New prompt tokens of the chunk.
    pub tokens: u64,
    /// Tokens of the prompt already in the KV cache (read by attention, not computed).
    pub prefix: u64,
    /// The chunk ends the prompt (its last token yields the first output token).
    pub last: bool,
}

/// The shape of one iteration's batch, as a model sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchShape {
    /// Prefill chunks in the batch.
    pub prefills: Vec<PrefillChunk>,
    /// Decoding sequences. Each feeds `1 + spec_tokens` tokens: its last output token, then
    /// the draft tokens it verifies (none without speculative decoding).
    pub decode_seqs: u64,
    /// Sum over decoding sequences of the context each one's first token attends to (cached
    /// tokens + that token). Under speculative decoding the sequence's `j`-th draft token
    /// (`j` = 1..=`spec_tokens`) attends to `j` keys more (causal within the sequence).
    pub decode_ctx_sum: u64,
    /// Seed for any sampling the model does for this step (expert routing).
    pub seed: u64,
    /// Speculative decoding: draft tokens each decoding sequence verifies in this step (0: plain
    /// decoding, one token per sequence). Every one of the `1 + spec_tokens` tokens of a
    /// sequence goes through every layer and produces logits. Added in 1.1 with
    /// `#[serde(default)]`: a 1.0 shape reads as 0. A model that ignores it would cost a
    /// verification step as a plain decode step; the engine checks that a model's graph grows
    /// with it before it runs speculative decoding on that model.
    #[serde(default)]
    pub spec_tokens: u64,
}

impl BatchShape {
    /// New prompt tokens over all chunks.
    pub fn prefill_tokens(&self) -> u64 {
        self.prefills.iter().map(|p| p.tokens).sum()
    }
    /// Tokens the decoding sequences feed: `decode_seqs · (1 + spec_tokens)`.
    pub fn decode_tokens(&self) -> u64 {
        self.decode_seqs * (1 + self.spec_tokens)
    }
    /// All tokens the step processes (rows of every token-wise GEMM).
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens() + self.decode_tokens()
    }
    /// Tokens that produce logits: every decode token (the last output token and each draft
    /// token) and one per prompt-completing chunk.
    pub fn logit_tokens(&self) -> u64 {
        self.decode_tokens() + self.prefills.iter().filter(|p| p.last).count() as u64
    }
    /// Query–key pairs of the decoding sequences' attention (full attention, no window):
    /// `Σ_seq Σ_{j=0..=s} (ctx_seq + j) = (1 + s)·decode_ctx_sum + decode_seqs·s(s+1)/2` for
    /// `s = spec_tokens`; `decode_ctx_sum` without speculation.
    pub fn decode_attention_pairs(&self) -> u64 {
        let s = self.spec_tokens;
        (1 + s) * self.decode_ctx_sum + self.decode_seqs * s * (s + 1) / 2
    }
    /// No prefill chunk and no decoding sequence.
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
    /// Embedding lookup.
    Embed,
    /// Attention block.
    Attention,
    /// Dense FFN block.
    Ffn,
    /// MoE block (router, experts).
    Moe,
    /// Final norm and LM head.
    Head,
    /// Communication between pipeline stages or pools.
    Transfer,
}

impl Phase {
    /// The name used in listings.
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
    /// A kernel.
    Kernel(Kernel),
    /// A collective.
    Comm(Collective),
}

/// One unit of work, run `count` times per layer of its segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    /// What runs.
    pub work: WorkKind,
    /// How tensor parallelism splits it.
    pub shard: Shard,
    /// Which part of the model it belongs to.
    pub phase: Phase,
    /// Launches per layer.
    pub count: u32,
}

/// What a model emits: a logical op with its sharding rule.
pub type LogicalOp = WorkItem;

impl WorkItem {
    /// One launch of a kernel.
    pub fn kernel(kernel: Kernel, shard: Shard, phase: Phase) -> Self {
        WorkItem { work: WorkKind::Kernel(kernel), shard, phase, count: 1 }
    }
    /// One collective.
    pub fn comm(c: Collective, phase: Phase) -> Self {
        WorkItem { work: WorkKind::Comm(c), shard: Shard::Replicated, phase, count: 1 }
    }
}

/// Where a segment sits in the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Before the first layer (embedding).
    Pre,
    /// Repeated decoder layers.
    #[default]
    Layers,
    /// After the last layer (final norm, LM head).
    Post,
}

/// A run of identical layers (`n_layers` from `first_layer`), or the pre/post work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Segment {
    /// Where it sits.
    pub kind: SegmentKind,
    /// Index of its first layer.
    pub first_layer: u32,
    /// Identical layers it stands for.
    pub n_layers: u32,
    /// The work of one layer, in order.
    pub items: Vec<WorkItem>,
}

/// One pipeline stage's work: its segments in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stage {
    /// Segments in order.
    pub segments: Vec<Segment>,
}

/// The work of one forward step. A model emits a single stage with logical (unsharded)
/// shapes; parallelism passes rewrite it in place into per-device work and may split it into
/// pipeline stages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelGraph {
    /// Pipeline stages (one before the PP pass).
    pub stages: Vec<Stage>,
    /// Tokens routed to each expert in this step (empty for dense models): sampled by the
    /// model, mapped to devices by expert parallelism.
    pub expert_tokens: Vec<u32>,
    /// FLOPs that parallelism duplicated on several ranks (for conservation checks/reports).
    pub replicated_flops: f64,
}

impl ModelGraph {
    /// Remove every stage (keeping allocations).
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
    fn a_1_0_batch_shape_reads_as_plain_decoding() {
        let old = r#"{"prefills":[{"tokens":5,"prefix":0,"last":true}],"decode_seqs":3,"decode_ctx_sum":30,"seed":7}"#;
        let b: BatchShape = serde_json::from_str(old).unwrap();
        assert_eq!(b.spec_tokens, 0);
        assert_eq!((b.tokens(), b.logit_tokens(), b.decode_attention_pairs()), (8, 4, 30));
        // With 2 draft tokens: 3 · 3 decode tokens, all with logits; pairs 3·30 + 3·(1 + 2).
        let s = BatchShape { spec_tokens: 2, ..b };
        assert_eq!((s.decode_tokens(), s.tokens(), s.logit_tokens(), s.decode_attention_pairs()), (9, 14, 10, 99));
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
