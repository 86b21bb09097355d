//! Speculative decoding as part of the step model.
//!
//! With `k` speculative tokens, every step of a pool runs:
//!
//! 1. **Verification**: the target's forward over the batch with each decoding sequence feeding
//!    `1 + k` tokens (its last output token and `k` drafts), [`BatchShape::spec_tokens`] = `k`:
//!    GEMMs over `decode_seqs·(1 + k)` rows, attention of `1 + k` causal queries per sequence
//!    over its context, logits for every one of them. KV for `1 + k` new positions is reserved
//!    before the step; the slots of rejected drafts are released after it.
//! 2. **Drafting** for the next step ([`draft_cost`]), after the verification (on the last
//!    pipeline stage): a first draft pass over the same tokens as the verification (so the
//!    drafter sees every verified position and every prefill chunk, building its own KV), then
//!    `k − 1` passes of one token per decoding sequence. This is vLLM's EAGLE / MTP proposer
//!    (`EagleProposer.propose`: one forward over the step's tokens, then
//!    `num_speculative_tokens − 1` single-token forwards). The drafter is an MTP or EAGLE head
//!    ([`DraftHead`]) or a separate draft model with its own parallelism, each costed by its
//!    own [`CostModel`]; n-gram lookup costs no device time.
//! 3. **Acceptance** ([`Acceptance`]): each decoding sequence accepts `a` of its `k` drafts
//!    (seeded by run, request and step) and emits `1 + a` tokens at the step's end, never more
//!    than its output length asks for. The tokens of one step share a timestamp, so a
//!    request's inter-token gaps include zeros, as a benchmark client sees them when an
//!    engine streams a step's tokens together.
//!
//! Not modelled: the batch policy budgets one token per decoding sequence (vLLM counts the
//! `k` drafts against `max_num_batched_tokens`); tree drafting (EAGLE's top-k trees, SGLang's
//! `speculative_eagle_topk` > 1): drafts are a chain; the draft passes after the first see
//! contexts as if every draft were accepted (an error of at most `k` tokens per sequence).

mod acceptance;
mod head;

pub use acceptance::Acceptance;
pub use head::{DraftHead, HeadKind};

use crate::cost::{CostModel, DraftFootprint, StepCost};
use crate::error::{Result, SimError};
use reallm_plugin_api::{BatchShape, ModelArch, ModelGraph, ParallelPlan};

/// How draft tokens are proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecMethod {
    /// DeepSeek multi-token prediction: the checkpoint's MTP module (`num_nextn_predict_layers`).
    Mtp,
    /// An EAGLE head (EAGLE-1/2/3) over the target's hidden states.
    Eagle,
    /// Prompt/n-gram lookup: drafts copied from the context, no device work.
    Ngram,
    /// A separate, smaller model of the same vocabulary.
    DraftModel,
}

impl SpecMethod {
    /// Every method, for listings.
    pub const ALL: [SpecMethod; 4] = [SpecMethod::Mtp, SpecMethod::Eagle, SpecMethod::Ngram, SpecMethod::DraftModel];

    /// Parse a method name (vLLM's and SGLang's spellings accepted).
    pub fn parse(s: &str) -> Option<SpecMethod> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "mtp" | "deepseek_mtp" | "nextn" => SpecMethod::Mtp,
            "eagle" | "eagle3" | "eagle_3" => SpecMethod::Eagle,
            "ngram" | "n_gram" | "prompt_lookup" => SpecMethod::Ngram,
            "draft_model" | "draft" | "standalone" => SpecMethod::DraftModel,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            SpecMethod::Mtp => "mtp",
            SpecMethod::Eagle => "eagle",
            SpecMethod::Ngram => "ngram",
            SpecMethod::DraftModel => "draft_model",
        }
    }

    /// Whether the method runs a drafter on the device (all but n-gram lookup).
    pub fn needs_drafter(self) -> bool {
        self != SpecMethod::Ngram
    }
}

/// DeepSeek-V3's second-token (MTP) acceptance rate: "between 85% and 90% across various
/// generation topics" (DeepSeek-V3 Technical Report, arXiv 2412.19437, §5.4.3); the low end.
pub const MTP_DEEPSEEK_V3_RATE: f64 = 0.85;

/// EAGLE-3's mean acceptance length τ on LLaMA-3.3-70B-Instruct, MT-bench, temperature 0
/// (arXiv 2503.01840v3, Table 1; tree drafting).
pub const EAGLE3_LLAMA33_70B_MTBENCH_TAU: f64 = 5.63;

/// Draft tokens per step when the config gives none: 1 for MTP (DeepSeek-V3 ships
/// `num_nextn_predict_layers` = 1), 3 for EAGLE (a common chain length; our choice, not a
/// published figure). n-gram and draft models need it stated.
pub fn default_k(method: SpecMethod) -> Option<u32> {
    match method {
        SpecMethod::Mtp => Some(1),
        SpecMethod::Eagle => Some(3),
        SpecMethod::Ngram | SpecMethod::DraftModel => None,
    }
}

/// The acceptance model when the config gives none (docs/speculative.md):
///
/// * MTP: [`MTP_DEEPSEEK_V3_RATE`] at every position (published for the first draft token
///   only; later positions of a reused MTP module are unmeasured and likely lower).
/// * EAGLE: one rate `p = 1 − 1/τ` at every position, from [`EAGLE3_LLAMA33_70B_MTBENCH_TAU`]:
///   the rate of an unbounded chain with that mean length (`τ = Σ_i p^i = 1/(1−p)`), ≈ 0.822.
///   The paper's τ comes from tree drafting, which accepts more than a chain of top-1 drafts
///   of the same depth: treat the default as optimistic.
/// * n-gram and draft models: none (acceptance depends on the data and the draft model).
pub fn default_acceptance(method: SpecMethod, k: u32) -> Option<Acceptance> {
    let rate = match method {
        SpecMethod::Mtp => MTP_DEEPSEEK_V3_RATE,
        SpecMethod::Eagle => 1.0 - 1.0 / EAGLE3_LLAMA33_70B_MTBENCH_TAU,
        SpecMethod::Ngram | SpecMethod::DraftModel => return None,
    };
    Acceptance::from_rates(&[rate], k).ok()
}

/// A pool's speculative decoding: the method and the acceptance model (whose length is the
/// number of speculative tokens `k`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDecodeSpec {
    pub method: SpecMethod,
    pub acceptance: Acceptance,
}

impl SpecDecodeSpec {
    /// Speculative tokens per step.
    pub fn k(&self) -> u32 {
        self.acceptance.k()
    }
}

/// What speculative decoding did over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecDecodeTotals {
    /// Verification steps of one sequence (a decoding sequence in an iteration).
    pub drafts: u64,
    /// Draft tokens verified (`k` per draft).
    pub draft_tokens: u64,
    /// Draft tokens accepted (as drawn, before the cap at a request's output length).
    pub accepted_tokens: u64,
    /// Tokens emitted by verification steps (1 + accepted per draft, capped at the output
    /// length).
    pub emitted_tokens: u64,
    /// Drafts whose token `i + 1` was accepted, per position.
    pub accepted_at: Vec<u64>,
    /// Device seconds spent drafting (summed over iterations).
    pub draft_s: f64,
}

impl SpecDecodeTotals {
    /// Count one sequence's verification: `k` drafts, `accepted` of them taken, `emitted`
    /// tokens out.
    pub fn record(&mut self, k: u32, accepted: u32, emitted: u32) {
        self.drafts += 1;
        self.draft_tokens += k as u64;
        self.accepted_tokens += accepted as u64;
        self.emitted_tokens += emitted as u64;
        if self.accepted_at.len() < k as usize {
            self.accepted_at.resize(k as usize, 0);
        }
        for a in &mut self.accepted_at[..accepted as usize] {
            *a += 1;
        }
    }
}

/// Check that `model` costs a verification step: its step graph must grow with
/// [`BatchShape::spec_tokens`] (a plugin built against API 1.0 ignores the field and would cost
/// a verification step as a plain decode step).
pub fn check_verification_support(model: &dyn ModelArch) -> Result<()> {
    let name = model.info().name.clone();
    let flops = |spec_tokens: u64| -> Result<f64> {
        let mut g = ModelGraph::default();
        let shape = BatchShape { decode_seqs: 2, decode_ctx_sum: 128, spec_tokens, ..Default::default() };
        model.build_step(&shape, &mut g).map_err(|e| SimError::plugin(&model.info().family, e))?;
        Ok(g.kernel_flops())
    };
    if !(flops(2)? > flops(0)?) {
        return Err(SimError::plugin(
            &model.info().family,
            format!(
                "model `{name}` does not cost speculative verification: its step graph ignores BatchShape.spec_tokens \
                 (plugin API 1.1); rebuild the plugin against API ≥ 1.1 or turn spec_decode off"
            ),
        ));
    }
    Ok(())
}

/// The device footprint of a drafter's cost model: its weights per device and its KV bytes per
/// token per device under its own plan.
pub fn footprint(drafter: &CostModel) -> DraftFootprint {
    footprint_of(&drafter.info, &drafter.plan)
}

fn footprint_of(info: &reallm_plugin_api::ModelInfo, plan: &ParallelPlan) -> DraftFootprint {
    DraftFootprint {
        weight_bytes_per_device: crate::cost::weight_bytes_per_device(info, plan),
        kv_bytes_per_token_per_device: crate::cost::kv_bytes_per_token_per_device(info, plan),
    }
}

/// Device time of drafting `k` tokens after a verification step of `shape` (see the module
/// docs): one drafter pass over `shape`, then `k − 1` passes of one token per decoding
/// sequence at contexts `decode_ctx_sum + (k + j)·decode_seqs`. `scratch` and `stage_s` are
/// reused buffers.
pub fn draft_cost(
    drafter: &mut CostModel,
    shape: &BatchShape,
    k: u32,
    scratch: &mut BatchShape,
    stage_s: &mut Vec<f64>,
) -> Result<StepCost> {
    let mut c = drafter.step_cost_stages(shape, stage_s)?;
    let d = shape.decode_seqs;
    if d > 0 {
        scratch.prefills.clear();
        scratch.decode_seqs = d;
        scratch.spec_tokens = 0;
        for j in 1..k as u64 {
            scratch.decode_ctx_sum = shape.decode_ctx_sum + (k as u64 + j) * d;
            scratch.seed = shape.seed ^ j.wrapping_mul(0xD1B5_4A32_D192_ED03);
            c.add(&drafter.step_cost_stages(scratch, stage_s)?);
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
