//! `deepseek`: the DeepSeek-V2/V3 model plugin of ReaLLM (multi-head latent attention and a
//! fine-grained mixture of experts with shared experts), also DeepSeek-R1 (V3's architecture)
//! and Kimi K2 (V3's architecture with 384 routed experts and 64 heads).
//!
//! A step emits one [`Stage`](reallm_plugin_api::Stage): `Pre` (embedding), a `Layers` segment
//! for the leading dense-FFN layers (`first_k_dense_replace`), a `Layers` segment for the MoE
//! layers, and `Post` (final norm, LM head over the logit tokens). Prefill attention is the
//! up-projected MLA form, decode the weight-absorbed form (see [`model`]). Expert routing is
//! sampled per step with the batch seed ([`reallm_model_kit::routing`]).
//!
//! Parameters are those of every model plugin built on the kit ([`ModelParams`]): `preset`
//! (`deepseek-v2`, `deepseek-v3`, `deepseek-r1`, `kimi-k2`), `hf_config` or `config`, dtype
//! overrides, `attention`, `include_embedding_and_head`, `fuse_gate_up`, `routing`. DeepSeek-V3,
//! R1 and Kimi K2 weights default to fp8 as shipped; multi-token-prediction layers are neither simulated nor counted.

pub mod config;
pub mod model;

pub use config::DeepSeekConfig;
pub use model::DeepSeekModel;
pub use reallm_model_kit::{format_graph, format_info, ModelParams, RoutingSpec};

use reallm_plugin_api::{register_plugin, Constructor, ModelArch, PluginError, PluginInfo, PluginKind, PluginRegistration};

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Model,
        name: "deepseek",
        aliases: &["mla", "kimi_k2"],
        version: env!("CARGO_PKG_VERSION"),
        summary: "DeepSeek-V2/V3/R1, Kimi K2: multi-head latent attention + MoE with shared experts, seeded expert routing",
        example_params: "preset: deepseek-v3\nrouting:\n  kind: zipf\n  skew: 1.2\n",
        presets: config::PRESET_NAMES,
    },
    ctor: Constructor::Model(create),
});

/// Registry constructor: parameters as in [`ModelParams`].
pub fn create(params: &serde_json::Value) -> Result<Box<dyn ModelArch>, PluginError> {
    Ok(Box::new(DeepSeekModel::from_params(params)?))
}
