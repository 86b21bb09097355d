//! `reallm-model-kit`: the model-building kit that ReaLLM's model plugins (`llama`, `deepseek`)
//! share. It registers no plugin; a family crate supplies its architecture config (presets, the
//! Hugging Face reader, parameter counts) and its attention block, and the kit does the rest.
//!
//! * [`params`]: the plugin parameter schema ([`ModelParams`]: `preset` / `hf_config` /
//!   `config`, dtype overrides, attention form, routing) and the data types of an instance
//!   ([`Dtypes`]); sanity bounds on architecture fields.
//! * [`hf`]: typed read access to a Hugging Face `config.json` object ([`HfConfig`]).
//! * [`counts`]: parameter counts by part ([`ParamCounts`]) and their weight bytes.
//! * [`blocks`]: work-item builders shared by families (prefill-chunk grouping, SwiGLU FFN,
//!   router and routed experts, unfused attention, layer runs).
//! * [`family`]: the scaffold ([`FamilyConfig`], [`ModelCore`], [`AttentionBlock`],
//!   [`FamilyModel`]): `ModelInfo`, layer runs, embedding / layers / head segments.
//! * [`window`]: sliding-window and chunked local attention ([`AttentionWindow`],
//!   [`LayerAttention`]): the spans a windowed layer's prefill attention is cut into and its
//!   capped decode context.
//! * [`routing`]: seeded expert routing ([`ExpertRouter`]).
//! * [`describe`]: human-readable listings of a model and of a step's work.

pub mod blocks;
pub mod counts;
pub mod describe;
pub mod family;
pub mod hf;
pub mod params;
pub mod routing;
pub mod window;

pub use blocks::{
    check_batch, layer_runs, prefill_groups, push_routed_experts, push_router, push_swiglu, push_unfused_attention, ChunkGroup, MoeShape,
};
pub use counts::ParamCounts;
pub use describe::{format_graph, format_info, kernel_shape};
pub use family::{load_config, ArchDims, AttentionBlock, FamilyConfig, FamilyModel, ModelCore, MoeDims};
pub use hf::HfConfig;
pub use params::{check_bounds, params_error, AttentionForm, ConfigSource, Dtypes, ModelParams, MAX_DIM, MAX_LAYERS, MAX_PARAMS};
pub use routing::{ExpertRouter, RoutingSpec};
pub use window::{decode_context, prefill_spans, AttentionWindow, AttnSpan, LayerAttention};
