//! The shared model scaffold: what a family's architecture config provides
//! ([`FamilyConfig`]), the family-independent state of a model instance ([`ModelCore`]: its
//! [`ModelInfo`], layer runs and expert router, and the step structure around the family's
//! attention block), and the model type [`FamilyModel`] that implements [`ModelArch`].

use crate::blocks::{check_batch, layer_runs, push_routed_experts, push_router, push_swiglu, MoeShape};
use crate::counts::ParamCounts;
use crate::params::{params_error, AttentionForm, ConfigSource, Dtypes, ModelParams};
use crate::routing::ExpertRouter;
use crate::window::LayerAttention;
use reallm_plugin_api::{
    BatchShape, DType, Kernel, ModelArch, ModelGraph, ModelInfo, Phase, PluginError, Segment, SegmentKind, Shard, Stage, WorkItem,
};

/// Expert dimensions of an MoE architecture, as reported in [`ModelInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeDims {
    /// Routed experts.
    pub n_routed: u64,
    /// Always-on shared experts, each of `expert_ffn_dim`.
    pub n_shared: u64,
    /// Routed experts per token.
    pub top_k: u64,
    /// Intermediate size of one routed or shared expert.
    pub expert_ffn_dim: u64,
}

/// The dimensions of an architecture that the shared model scaffold ([`ModelCore`]) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchDims {
    pub n_layers: u32,
    pub hidden: u64,
    pub n_heads: u64,
    /// KV heads as reported in [`ModelInfo`] (1 for a shared latent cache).
    pub n_kv_heads: u64,
    /// Query/key head dimension as reported in [`ModelInfo`].
    pub head_dim: u64,
    /// Dense FFN intermediate size.
    pub ffn_dim: u64,
    pub vocab: u64,
    pub max_context: u64,
    /// KV-cache elements per token per layer (Llama: `2·KV·d`; DeepSeek MLA: `kv_lora + rope`).
    pub kv_elems_per_token_per_layer: u64,
    /// Expert dimensions, if the model reports any (`None` for a dense model).
    pub moe: Option<MoeDims>,
}

/// What a model family's architecture config provides to the shared constructor
/// ([`load_config`], [`ModelCore::new`]).
pub trait FamilyConfig: Sized {
    /// The plugin (family) name, used in [`ModelInfo::family`] and error messages.
    const FAMILY: &'static str;
    /// Presets as `(canonical name, aliases)`.
    const PRESETS: &'static [(&'static str, &'static [&'static str])];
    /// Hugging Face `architectures` entries whose `config.json` this family reads (e.g.
    /// `LlamaForCausalLM`), for importing a config by path.
    const HF_ARCHITECTURES: &'static [&'static str];
    /// Hugging Face `model_type` values this family reads (e.g. `llama`, `qwen3`).
    const HF_MODEL_TYPES: &'static [&'static str];
    /// The preset of a canonical name or alias.
    fn preset(name: &str) -> Option<Self>;
    /// Parse a Hugging Face `config.json` object (`fallback_name` names the model when the
    /// object does not).
    fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError>;
    /// The model name.
    fn name(&self) -> &str;
    /// Rename the model.
    fn set_name(&mut self, name: String);
    /// Check that the dimensions are usable.
    fn validate(&self, plugin: &str) -> Result<(), PluginError>;
    /// Weights as shipped.
    fn weight_dtype(&self) -> DType;
    /// Routed-expert weights as shipped (the same as [`FamilyConfig::weight_dtype`] unless the
    /// checkpoint quantises its experts alone, as gpt-oss does).
    fn expert_weight_dtype(&self) -> DType {
        self.weight_dtype()
    }
    /// The attention variant of layer `i` (its window, whether it applies RoPE); full
    /// attention with RoPE unless the family says otherwise.
    fn layer_attention(&self, _i: u32) -> LayerAttention {
        LayerAttention::default()
    }
    /// Parameter counts by part.
    fn param_counts(&self) -> ParamCounts;
    /// Whether layer `i` has an MoE FFN.
    fn is_moe_layer(&self, i: u32) -> bool;
    /// The dimensions the scaffold needs.
    fn dims(&self) -> ArchDims;
    /// Per layer, whether it is an MoE layer.
    fn moe_layers(&self) -> Vec<bool> {
        (0..self.dims().n_layers).map(|i| self.is_moe_layer(i)).collect()
    }
}

/// Parse plugin parameters and load the architecture they name (`{preset: NAME}`,
/// `{hf_config: PATH}` or `{config: {...}}`).
pub fn load_config<C: FamilyConfig>(params: &serde_json::Value) -> Result<(C, ModelParams), PluginError> {
    let plugin = C::FAMILY;
    let p: ModelParams = reallm_plugin_api::parse_params(plugin, params)?;
    let cfg = match p.source(plugin)? {
        ConfigSource::Preset(name) => C::preset(&name).ok_or_else(|| {
            let known: Vec<&str> = C::PRESETS.iter().map(|(n, _)| *n).collect();
            params_error(plugin, format!("unknown preset `{name}`; known: {}", known.join(", ")))
        })?,
        ConfigSource::Hf { json, origin, stem } => C::from_hf(&json, &origin, &stem, plugin)?,
    };
    Ok((cfg, p))
}

/// The family-independent part of a model instance: its [`ModelInfo`], options, layer runs and
/// expert router, and the step structure around the family's attention block.
#[derive(Debug, Clone)]
pub struct ModelCore {
    /// The model's summary.
    pub info: ModelInfo,
    /// Parameter counts by part.
    pub counts: ParamCounts,
    /// The data types in use.
    pub dt: Dtypes,
    /// How attention is expressed.
    pub attention: AttentionForm,
    /// Emit the embedding (Pre) and final norm + LM head (Post) segments.
    pub include_embedding_and_head: bool,
    /// One gate+up GEMM rather than two.
    pub fuse_gate_up: bool,
    /// Runs of consecutive identical layers: `(first_layer, n_layers, (is_moe, attention))`.
    pub runs: Vec<(u32, u32, (bool, LayerAttention))>,
    /// The expert router (models with MoE layers only).
    pub router: Option<ExpertRouter>,
    /// Dense FFN intermediate size (also kept where [`ModelInfo::ffn_dim`] reports 0).
    ffn_dim: u64,
}

impl ModelCore {
    /// Validate `cfg` (renamed by `p.name` first) and build the shared state (the source
    /// fields of `p` are ignored).
    pub fn new<C: FamilyConfig>(cfg: &mut C, p: &ModelParams) -> Result<Self, PluginError> {
        let plugin = C::FAMILY;
        if let Some(n) = &p.name {
            cfg.set_name(n.clone());
        }
        cfg.validate(plugin)?;
        let dt = p.dtypes(plugin, cfg.weight_dtype(), cfg.expert_weight_dtype())?;
        let counts = cfg.param_counts();
        let moe_layers = cfg.moe_layers();
        let dims = cfg.dims();
        let router = match &dims.moe {
            Some(m) if moe_layers.iter().any(|&x| x) => Some(
                ExpertRouter::new(&p.routing, m.n_routed, m.top_k, p.exact_routing_max_tokens)
                    .map_err(|e| params_error(plugin, e.to_string()))?,
            ),
            _ => None,
        };
        let moe = dims.moe.unwrap_or(MoeDims { n_routed: 0, n_shared: 0, top_k: 0, expert_ffn_dim: 0 });
        let layer_attention: Vec<LayerAttention> = (0..dims.n_layers).map(|i| cfg.layer_attention(i)).collect();
        // Windowed layers keep at most their window of KV; with several window sizes (none
        // published so far) the largest is reported, which over-states their KV.
        let windows: Vec<u64> = layer_attention.iter().filter_map(|a| a.window.tokens()).collect();
        let kv_window_tokens = windows.iter().copied().max().unwrap_or(0);
        let info = ModelInfo {
            name: cfg.name().to_string(),
            family: plugin.into(),
            n_layers: dims.n_layers,
            hidden: dims.hidden,
            n_heads: dims.n_heads,
            n_kv_heads: dims.n_kv_heads,
            head_dim: dims.head_dim,
            ffn_dim: if moe_layers.iter().any(|&m| !m) { dims.ffn_dim } else { 0 },
            vocab: dims.vocab,
            n_routed_experts: moe.n_routed,
            n_shared_experts: moe.n_shared,
            experts_per_token: moe.top_k,
            moe_ffn_dim: moe.expert_ffn_dim,
            first_dense_layers: moe_layers.iter().take_while(|&&m| !m).count() as u32,
            weight_dtype: dt.weight,
            act_dtype: dt.act,
            kv_dtype: dt.kv,
            params_total: counts.total(),
            params_active: counts.active,
            weights: counts.weight_bytes(&dt),
            kv_bytes_per_token: dt.kv.bytes_for(dims.n_layers as u64 * dims.kv_elems_per_token_per_layer),
            max_context: dims.max_context,
            kv_window_tokens,
            kv_windowed_layers: windows.len() as u32,
        };
        let kinds: Vec<(bool, LayerAttention)> = moe_layers.iter().copied().zip(layer_attention).collect();
        Ok(ModelCore {
            runs: layer_runs(&kinds),
            info,
            counts,
            dt,
            attention: p.attention,
            include_embedding_and_head: p.include_embedding_and_head,
            fuse_gate_up: p.fuse_gate_up,
            router,
            ffn_dim: dims.ffn_dim,
        })
    }

    /// Emit one step: the embedding (Pre), one Layers segment per run of identical layers (the
    /// family's attention block from `push_attention(items, tokens, layer_attention)`, built
    /// once per attention variant, then the FFN norm, a dense SwiGLU or MoE block, and the
    /// residual add), and the final norm + LM head (Post).
    pub fn build_step(
        &self,
        batch: &BatchShape,
        graph: &mut ModelGraph,
        mut push_attention: impl FnMut(&mut Vec<WorkItem>, u64, &LayerAttention),
    ) -> Result<(), PluginError> {
        check_batch(batch)?;
        let t = batch.tokens();
        let mut stage = Stage { segments: Vec::with_capacity(self.runs.len() + 2) };
        if t == 0 {
            graph.stages.push(stage);
            return Ok(());
        }
        let (dt, hidden) = (&self.dt, self.info.hidden);

        if self.include_embedding_and_head {
            let emb = Kernel::Embedding { tokens: t, hidden, dtype: dt.act };
            stage.segments.push(Segment {
                kind: SegmentKind::Pre,
                first_layer: 0,
                n_layers: 1,
                items: vec![WorkItem::kernel(emb, Shard::Replicated, Phase::Embed)],
            });
        }

        // The attention block of each attention variant (one for most models; gpt-oss and
        // Llama 4 alternate windowed and full layers).
        let mut attn_blocks: Vec<(LayerAttention, Vec<WorkItem>)> = Vec::with_capacity(2);
        for (_, _, (_, la)) in &self.runs {
            if !attn_blocks.iter().any(|(a, _)| a == la) {
                let mut attn = Vec::with_capacity(16);
                push_attention(&mut attn, t, la);
                attn_blocks.push((*la, attn));
            }
        }
        let ffn_norm = WorkItem::kernel(Kernel::LayerNorm { m: t, n: hidden, dtype: dt.act }, Shard::Replicated, Phase::Ffn);
        let residual = WorkItem::kernel(Kernel::Add { m: t, n: hidden, dtype: dt.act }, Shard::Replicated, Phase::Ffn);

        // Routing is sampled once per step and shared by every MoE layer (the graph carries a
        // single expert-count vector).
        let moe_shape = self.router.as_ref().map(|r| {
            r.sample(t, batch.seed, &mut graph.expert_tokens);
            let max_rows = graph.expert_tokens.iter().copied().max().unwrap_or(0) as u64;
            let i = &self.info;
            MoeShape { tokens: t, hidden, n_experts: i.n_routed_experts, top_k: i.experts_per_token, expert_inter: i.moe_ffn_dim, max_rows }
        });

        for &(first_layer, n_layers, (is_moe, la)) in &self.runs {
            let attn = attn_blocks.iter().find(|(a, _)| *a == la).map(|(_, v)| v.as_slice()).unwrap_or_default();
            let mut items = Vec::with_capacity(attn.len() + 14);
            items.extend_from_slice(attn);
            items.push(ffn_norm);
            match (is_moe, &moe_shape) {
                (true, Some(s)) => {
                    let n_shared = self.info.n_shared_experts;
                    push_router(&mut items, s, dt);
                    if n_shared > 0 {
                        push_swiglu(&mut items, t, hidden, n_shared * s.expert_inter, self.fuse_gate_up, dt, Phase::Ffn);
                    }
                    push_routed_experts(&mut items, s, self.fuse_gate_up, dt);
                    if n_shared > 0 {
                        // Routed + shared outputs.
                        items.push(WorkItem::kernel(Kernel::Add { m: t, n: hidden, dtype: dt.act }, Shard::Replicated, Phase::Moe));
                    }
                }
                _ => push_swiglu(&mut items, t, hidden, self.ffn_dim, self.fuse_gate_up, dt, Phase::Ffn),
            }
            items.push(residual);
            stage.segments.push(Segment { kind: SegmentKind::Layers, first_layer, n_layers, items });
        }

        if self.include_embedding_and_head {
            let mut items = vec![WorkItem::kernel(Kernel::LayerNorm { m: t, n: hidden, dtype: dt.act }, Shard::Replicated, Phase::Head)];
            let logits = batch.logit_tokens();
            if logits > 0 {
                items.push(WorkItem::kernel(dt.hp_linear(logits, hidden, self.info.vocab), Shard::Vocab, Phase::Head));
            }
            let last = self.info.n_layers.saturating_sub(1);
            stage.segments.push(Segment { kind: SegmentKind::Post, first_layer: last, n_layers: 1, items });
        }
        graph.stages.push(stage);
        Ok(())
    }
}

/// The family-specific attention block of a layer.
pub trait AttentionBlock {
    /// Push the attention block of a layer of variant `layer` (from the input norm to the
    /// residual add) for a step of `tokens` tokens.
    fn push_attention_block(&self, core: &ModelCore, items: &mut Vec<WorkItem>, tokens: u64, batch: &BatchShape, layer: &LayerAttention);
}

/// A model instance of one family: its architecture `C` plus the shared state and options.
#[derive(Debug, Clone)]
pub struct FamilyModel<C> {
    cfg: C,
    core: ModelCore,
}

impl<C: FamilyConfig> FamilyModel<C> {
    /// Build from plugin parameters (`{preset: NAME}`, `{hf_config: PATH}` or `{config: {...}}`
    /// plus options; see [`ModelParams`]).
    pub fn from_params(params: &serde_json::Value) -> Result<Self, PluginError> {
        let (cfg, p) = load_config(params)?;
        Self::with_params(cfg, &p)
    }

    /// A preset with default options.
    pub fn preset(name: &str) -> Result<Self, PluginError> {
        Self::from_params(&serde_json::json!({ "preset": name }))
    }

    /// Build from an architecture and options (the source fields of `p` are ignored; `p.name`
    /// renames the model).
    pub fn with_params(mut cfg: C, p: &ModelParams) -> Result<Self, PluginError> {
        let core = ModelCore::new(&mut cfg, p)?;
        Ok(FamilyModel { cfg, core })
    }

    /// The architecture.
    pub fn config(&self) -> &C {
        &self.cfg
    }

    /// Parameter counts by part (DeepSeek: MTP layers excluded).
    pub fn param_counts(&self) -> &ParamCounts {
        &self.core.counts
    }

    /// The data types in use.
    pub fn dtypes(&self) -> Dtypes {
        self.core.dt
    }

    /// The expert router (models with MoE layers only).
    pub fn router(&self) -> Option<&ExpertRouter> {
        self.core.router.as_ref()
    }
}

impl<C: FamilyConfig + AttentionBlock + Send + Sync> ModelArch for FamilyModel<C> {
    fn info(&self) -> &ModelInfo {
        &self.core.info
    }

    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError> {
        self.core.build_step(batch, graph, |items, t, layer| self.cfg.push_attention_block(&self.core, items, t, batch, layer))
    }
}
