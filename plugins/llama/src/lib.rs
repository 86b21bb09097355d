//! `llama`: the Llama-family model plugin of ReaLLM.
//!
//! Grouped-query attention with RoPE, RMSNorm and a SwiGLU FFN, as in Llama 2/3/3.1 and Qwen3
//! (with per-head q/k norms); the FFN may be a mixture of experts with Llama-style attention
//! (Mixtral-8x7B, Qwen3-MoE, gpt-oss, Llama 4 with its shared expert). Layers may attend over
//! a sliding window (gpt-oss) or a local chunk (Llama 4). Presets come from the published
//! configs (`configs/`, `shared/reference/models.md`); any Hugging Face `config.json` of these
//! families can be given instead.
//!
//! What a step emits ([`LlamaModel::build_step`](reallm_plugin_api::ModelArch::build_step)):
//! one [`Stage`](reallm_plugin_api::Stage) with
//!
//! 1. `Pre` (layer 0, ×1): the embedding lookup of the step's `T` tokens (omitted with
//!    `include_embedding_and_head: false`);
//! 2. one `Layers` segment per run of identical layers (one for dense models; MoE models with
//!    leading dense layers or `mlp_only_layers` get several): attention block then FFN block,
//!    logical (unsharded) shapes with their [`Shard`](reallm_plugin_api::Shard) rule;
//! 3. `Post` (`first_layer` = last layer, ×1): final norm over `T` tokens and the LM head over
//!    the logit tokens (one per decoding sequence and per prompt-completing chunk; omitted with
//!    the embedding).
//!
//! FLOP accounting: every linear layer is a GEMM of `2·rows·params` FLOPs, so the GEMM FLOPs
//! of a step are `2·T·(active params − embedding − LM head − norm gains) + 2·logits·hidden·vocab`
//! (the embedding lookup has no FLOPs; the LM head runs only for logit tokens), plus
//! attention, norms and element-wise work (see the tests of [`model`]).
//!
//! The parameter schema, Hugging Face config access, layer builders and expert routing come
//! from the model-building kit shared with the `deepseek` plugin ([`reallm_model_kit`]).

pub mod config;
pub mod model;

pub use config::{LlamaConfig, MoeConfig};
pub use model::LlamaModel;
pub use reallm_model_kit::{
    format_graph, format_info, kernel_shape, AttentionForm, Dtypes, ExpertRouter, ModelParams, ParamCounts, RoutingSpec,
};

use reallm_plugin_api::{register_plugin, Constructor, ModelArch, PluginError, PluginInfo, PluginKind, PluginRegistration};

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Model,
        name: "llama",
        aliases: &["mixtral", "qwen3_moe", "qwen3", "gpt_oss", "llama4"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "Llama-family transformer (GQA + SwiGLU, optional MoE, sliding/chunked windows): Llama 2/3/3.1/4, Mixtral, Qwen3, Qwen3-MoE, gpt-oss",
        example_params: "preset: llama3-70b\nattention: flash\ninclude_embedding_and_head: true\n",
        presets: config::PRESET_NAMES,
    },
    ctor: Constructor::Model(create),
});

/// Registry constructor: parameters as in [`ModelParams`].
pub fn create(params: &serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError> {
    Ok(Box::new(LlamaModel::from_params(params)?))
}
