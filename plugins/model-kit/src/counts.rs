//! Parameter counts of a model by part, and their weight bytes.

use crate::params::Dtypes;
use reallm_plugin_api::WeightBytes;
use serde::{Deserialize, Serialize};

/// Parameter counts of a model by part (all layers). `active` counts the parameters one token
/// uses: everything except the routed experts it is not sent to (embedding and LM head
/// included, as in the published "active parameter" figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    pub embedding: u64,
    pub attention: u64,
    pub dense_ffn: u64,
    pub shared_experts: u64,
    pub routed_experts: u64,
    /// Bias terms of the routed experts, included in `routed_experts` (gpt-oss's experts have
    /// biases; they stay at activation precision when the expert weights are quantised).
    pub routed_expert_bias: u64,
    /// Router weights (and bias terms such as DeepSeek-V3's `e_score_correction_bias`).
    pub router: u64,
    pub norms: u64,
    /// 0 when the LM head is tied to the embedding.
    pub lm_head: u64,
    pub active: u64,
}

impl ParamCounts {
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

    /// Weight bytes: linear parts at `dt.weight` (routed experts at `dt.expert`), the rest at
    /// `dt.act` (see [`Dtypes`]).
    pub fn weight_bytes(&self, dt: &Dtypes) -> WeightBytes {
        WeightBytes {
            embedding: dt.act.bytes_for(self.embedding),
            attention: dt.weight.bytes_for(self.attention),
            dense_ffn: dt.weight.bytes_for(self.dense_ffn),
            shared_experts: dt.weight.bytes_for(self.shared_experts),
            routed_experts: dt.expert.bytes_for(self.routed_experts - self.routed_expert_bias) + dt.act.bytes_for(self.routed_expert_bias),
            router: dt.act.bytes_for(self.router),
            norms: dt.act.bytes_for(self.norms),
            lm_head: dt.act.bytes_for(self.lm_head),
        }
    }
}
