//! Pieces shared by the model plugins (`llama` here, and `deepseek`, which depends on this
//! crate): the parameter schema, data types, parameter counts, Hugging Face config access,
//! prefill-chunk grouping and the builders of the FFN / MoE work items.

use crate::routing::{ExpertRouter, RoutingSpec, DEFAULT_EXACT_MAX_TOKENS};
use reallm_plugin_api::{
    BatchShape, DType, Kernel, ModelArch, ModelGraph, ModelInfo, Phase, PluginError, Segment, SegmentKind, Shard, Stage, WeightBytes,
    WorkItem,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How attention is expressed as kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionForm {
    /// One fused (flash) attention kernel per group of identical prefill chunks, and one fused
    /// decode-attention kernel for all decoding sequences.
    #[default]
    Flash,
    /// The original ReaLLM's form: QKᵀ batched GEMM, softmax, SV batched GEMM.
    Unfused,
}

/// Parameters common to the model plugins. Exactly one of `preset`, `hf_config` and `config`
/// selects the architecture; the rest tune how it is simulated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelParams {
    /// A catalogue name (or alias), e.g. `llama3-70b`, `deepseek-v3`.
    pub preset: Option<String>,
    /// Path of a Hugging Face `config.json` (relative paths resolve against the working
    /// directory of the process; the host resolves config-relative paths before passing them).
    pub hf_config: Option<PathBuf>,
    /// An inline Hugging Face-style config object (same field names as `config.json`).
    pub config: Option<serde_json::Value>,
    /// Display name (defaults to the preset name, the config's `_name_or_path`, or the file stem).
    pub name: Option<String>,
    /// Weight type of the decoder linear layers (attention projections, FFN, experts).
    pub weight_dtype: Option<String>,
    /// Activation type; also the type of the embedding, LM head, norms and router weights.
    pub act_dtype: Option<String>,
    /// KV-cache type.
    pub kv_dtype: Option<String>,
    /// `flash` (default) or `unfused`.
    pub attention: AttentionForm,
    /// Emit the embedding lookup (Pre segment) and final norm + LM head (Post segment). The
    /// original ReaLLM left them out; switch off to match it.
    pub include_embedding_and_head: bool,
    /// One GEMM for gate and up projections (n = 2·I) instead of two (n = I each).
    pub fuse_gate_up: bool,
    /// Expert popularity for MoE models.
    pub routing: RoutingSpec,
    /// Steps with at most this many tokens route token by token; larger ones multinomially.
    pub exact_routing_max_tokens: u64,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            preset: None,
            hf_config: None,
            config: None,
            name: None,
            weight_dtype: None,
            act_dtype: None,
            kv_dtype: None,
            attention: AttentionForm::Flash,
            include_embedding_and_head: true,
            fuse_gate_up: true,
            routing: RoutingSpec::Uniform,
            exact_routing_max_tokens: DEFAULT_EXACT_MAX_TOKENS,
        }
    }
}

/// Where an architecture comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// A catalogue name.
    Preset(String),
    /// A Hugging Face-style config object; `origin` names it in error messages (a path or
    /// `inline config`); `stem` is a fallback display name.
    Hf { json: serde_json::Value, origin: String, stem: String },
}

impl ModelParams {
    /// Which architecture source the parameters select (exactly one must be given).
    pub fn source(&self, plugin: &str) -> Result<ConfigSource, PluginError> {
        let given = self.preset.is_some() as u8 + self.hf_config.is_some() as u8 + self.config.is_some() as u8;
        if given != 1 {
            return Err(params_error(
                plugin,
                format!("give exactly one of `preset`, `hf_config` or `config` (got {given}); e.g. `preset: llama3-70b`"),
            ));
        }
        if let Some(p) = &self.preset {
            return Ok(ConfigSource::Preset(p.clone()));
        }
        if let Some(path) = &self.hf_config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| params_error(plugin, format!("cannot read hf_config `{}`: {e}", path.display())))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| params_error(plugin, format!("hf_config `{}` is not valid JSON: {e}", path.display())))?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "custom".into());
            // A file named config.json says nothing; use its folder's name.
            let stem = if stem == "config" {
                path.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned()).unwrap_or(stem)
            } else {
                stem
            };
            return Ok(ConfigSource::Hf { json, origin: path.display().to_string(), stem });
        }
        let json = self.config.clone().unwrap_or_default();
        Ok(ConfigSource::Hf { json, origin: "inline config".into(), stem: "custom".into() })
    }

    /// The data types, with `default_weight` when `weight_dtype` is not given. Activations and
    /// the KV cache default to bf16.
    pub fn dtypes(&self, plugin: &str, default_weight: DType) -> Result<Dtypes, PluginError> {
        let parse = |field: &str, v: &Option<String>, default: DType| -> Result<DType, PluginError> {
            match v {
                None => Ok(default),
                Some(s) => DType::parse(s).ok_or_else(|| {
                    params_error(
                        plugin,
                        format!("`{field}: {s}` is not a data type; expected fp32, bf16, fp16, fp8, fp8_block, int8, fp4 (nvfp4) or mxfp4"),
                    )
                }),
            }
        };
        Ok(Dtypes {
            weight: parse("weight_dtype", &self.weight_dtype, default_weight)?,
            act: parse("act_dtype", &self.act_dtype, DType::Bf16)?,
            kv: parse("kv_dtype", &self.kv_dtype, DType::Bf16)?,
        })
    }
}

/// Sanity bounds on the architecture fields of a config: far above any published model, and
/// low enough that parameter counts fit in a `u64` and per-layer tables stay small. Layers.
pub const MAX_LAYERS: u64 = 10_000;
/// Largest dimension (hidden size, heads, head size, FFN size, vocabulary, experts, ranks).
pub const MAX_DIM: u64 = 1 << 24;
/// Largest total parameter count (10^15; the largest published models have ~10^12).
pub const MAX_PARAMS: f64 = 1e15;

/// Check `(field, value, limit)` triples and an estimate of the parameter count against the
/// sanity bounds, so that absurd configs fail with a message rather than overflow or hang.
pub fn check_bounds(plugin: &str, model: &str, fields: &[(&str, u64, u64)], approx_params: f64) -> Result<(), PluginError> {
    for &(field, v, limit) in fields {
        if v > limit {
            return Err(params_error(plugin, format!("model `{model}`: `{field}` = {v} is beyond the limit of {limit}")));
        }
    }
    if approx_params.is_nan() || approx_params > MAX_PARAMS {
        return Err(params_error(
            plugin,
            format!("model `{model}`: about {approx_params:.3e} parameters, beyond the limit of {MAX_PARAMS:e}"),
        ));
    }
    Ok(())
}

/// A `PluginError::Params` for `plugin`.
pub fn params_error(plugin: &str, message: impl Into<String>) -> PluginError {
    PluginError::Params { plugin: plugin.to_string(), message: message.into() }
}

/// The three data types of a model instance.
///
/// `weight` applies to the decoder's linear layers. The embedding table, LM head, norm gains
/// and router weights are kept at `act` precision, as in DeepSeek-V3's FP8 recipe (technical
/// report §3.3.1: "the embedding module, the output head, MoE gating modules, normalization
/// operators" stay in BF16/FP32) and in common FP8 serving setups. For bf16 models the
/// distinction vanishes. FP8 block-scale factors (one fp32 per 128×128 block, ≈0.02 %) are
/// not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dtypes {
    pub weight: DType,
    pub act: DType,
    pub kv: DType,
}

impl Dtypes {
    /// A linear layer over activations: `[m,k] act × [k,n] weight → [m,n] act`.
    pub fn linear(&self, m: u64, k: u64, n: u64) -> Kernel {
        Kernel::Gemm { b: 1, m, k, n, a: self.act, w: self.weight, out: self.act }
    }
    /// A linear layer whose weight is kept at activation precision (LM head, router).
    pub fn hp_linear(&self, m: u64, k: u64, n: u64) -> Kernel {
        Kernel::matmul(m, k, n, self.act)
    }
}

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

    /// Weight bytes: linear parts at `dt.weight`, the rest at `dt.act` (see [`Dtypes`]).
    pub fn weight_bytes(&self, dt: &Dtypes) -> WeightBytes {
        WeightBytes {
            embedding: dt.act.bytes_for(self.embedding),
            attention: dt.weight.bytes_for(self.attention),
            dense_ffn: dt.weight.bytes_for(self.dense_ffn),
            shared_experts: dt.weight.bytes_for(self.shared_experts),
            routed_experts: dt.weight.bytes_for(self.routed_experts),
            router: dt.act.bytes_for(self.router),
            norms: dt.act.bytes_for(self.norms),
            lm_head: dt.act.bytes_for(self.lm_head),
        }
    }
}

/// Read access to a Hugging Face config object with errors that name the field and the file.
pub struct HfConfig<'a> {
    obj: &'a serde_json::Map<String, serde_json::Value>,
    origin: &'a str,
    plugin: &'a str,
}

impl<'a> HfConfig<'a> {
    pub fn new(json: &'a serde_json::Value, origin: &'a str, plugin: &'a str) -> Result<Self, PluginError> {
        let obj = json.as_object().ok_or_else(|| params_error(plugin, format!("{origin}: a model config must be a JSON object")))?;
        Ok(HfConfig { obj, origin, plugin })
    }

    fn err(&self, msg: String) -> PluginError {
        params_error(self.plugin, format!("{}: {msg}", self.origin))
    }

    /// The value of `key`, treating JSON `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a serde_json::Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, PluginError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.err(format!("field `{key}` must be a non-negative integer, got {v}"))),
        }
    }

    /// A required non-negative integer.
    pub fn u64(&self, key: &str) -> Result<u64, PluginError> {
        self.opt_u64(key)?.ok_or_else(|| self.err(format!("field `{key}` is missing")))
    }

    /// The first of `keys` present.
    pub fn u64_any(&self, keys: &[&str]) -> Result<u64, PluginError> {
        for k in keys {
            if let Some(v) = self.opt_u64(k)? {
                return Ok(v);
            }
        }
        Err(self.err(format!("field `{}` is missing", keys.join("` or `"))))
    }

    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, PluginError> {
        Ok(self.opt_u64(key)?.unwrap_or(default))
    }

    /// A u32-sized integer (layer counts and indices).
    pub fn u32_or(&self, key: &str, default: u32) -> Result<u32, PluginError> {
        let v = self.u64_or(key, default as u64)?;
        u32::try_from(v).map_err(|_| self.err(format!("field `{key}` = {v} is too large")))
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.err(format!("field `{key}` must be true or false, got {v}"))),
        }
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|v| v.as_str())
    }

    /// A list of layer indices (e.g. Qwen's `mlp_only_layers`).
    pub fn u32_list(&self, key: &str) -> Result<Vec<u32>, PluginError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_u64().and_then(|x| u32::try_from(x).ok()).ok_or_else(|| self.err(format!("`{key}` must list layer indices"))))
                .collect(),
            Some(v) => Err(self.err(format!("field `{key}` must be a list, got {v}"))),
        }
    }

    /// Weight type as shipped: `quantization_config.quant_method` `fp8`/`fbgemm_fp8` gives
    /// fp8; otherwise `torch_dtype` (or `dtype`), defaulting to bf16. Other quantisation
    /// methods are not interpreted: set `weight_dtype` explicitly for them.
    pub fn weight_dtype(&self) -> DType {
        if let Some(q) = self.get("quantization_config") {
            if let Some(m) = q.get("quant_method").and_then(|m| m.as_str()) {
                if matches!(m, "fp8" | "fbgemm_fp8") {
                    return DType::F8;
                }
            }
        }
        self.str("torch_dtype").or_else(|| self.str("dtype")).and_then(DType::parse).unwrap_or(DType::Bf16)
    }

    /// A display name: `_name_or_path`'s last component, or `fallback`.
    pub fn name_or(&self, fallback: &str) -> String {
        self.str("_name_or_path")
            .and_then(|p| p.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_else(|| fallback.to_string())
    }

    pub fn error(&self, msg: impl Into<String>) -> PluginError {
        self.err(msg.into())
    }
}

/// Prefill chunks with the same `(tokens, prefix)`: one attention kernel covers them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChunkGroup {
    /// New tokens per chunk (`q_len`).
    pub tokens: u64,
    /// Cached tokens before the chunk (`kv_len − q_len`).
    pub prefix: u64,
    /// Chunks in the group.
    pub seqs: u64,
}

impl ChunkGroup {
    pub fn kv_len(&self) -> u64 {
        self.prefix + self.tokens
    }
}

/// Group a batch's prefill chunks by `(tokens, prefix)` (empty chunks dropped), sorted by
/// `(tokens, prefix)`. `O(c log c)` in the chunk count `c`.
pub fn prefill_groups(batch: &BatchShape) -> Vec<ChunkGroup> {
    let mut keys: Vec<(u64, u64)> = batch.prefills.iter().filter(|p| p.tokens > 0).map(|p| (p.tokens, p.prefix)).collect();
    keys.sort_unstable();
    let mut groups: Vec<ChunkGroup> = Vec::with_capacity(keys.len());
    for (tokens, prefix) in keys {
        match groups.last_mut() {
            Some(g) if g.tokens == tokens && g.prefix == prefix => g.seqs += 1,
            _ => groups.push(ChunkGroup { tokens, prefix, seqs: 1 }),
        }
    }
    groups
}

/// Check the decode part of a batch: every decoding sequence attends to at least its own token.
pub fn check_batch(batch: &BatchShape) -> Result<(), PluginError> {
    if batch.decode_ctx_sum < batch.decode_seqs {
        return Err(PluginError::invalid(format!(
            "batch has {} decoding sequences but a context sum of {} (each attends to at least its new token)",
            batch.decode_seqs, batch.decode_ctx_sum
        )));
    }
    if batch.decode_seqs == 0 && batch.decode_ctx_sum > 0 {
        return Err(PluginError::invalid(format!("batch has no decoding sequence but a decode context sum of {}", batch.decode_ctx_sum)));
    }
    Ok(())
}

/// Push a SwiGLU FFN (without its norm and residual): gate+up (Column), SiLU and multiply on
/// the intermediate (Split), down (Row). `silu(x·W_gate) ⊙ (x·W_up) · W_down` (Llama `LlamaMLP`,
/// DeepSeek `MLP`).
pub fn push_swiglu(items: &mut Vec<WorkItem>, tokens: u64, hidden: u64, inter: u64, fuse_gate_up: bool, dt: &Dtypes, phase: Phase) {
    if fuse_gate_up {
        items.push(WorkItem::kernel(dt.linear(tokens, hidden, 2 * inter), Shard::Column, phase));
    } else {
        let gemm = dt.linear(tokens, hidden, inter);
        items.push(WorkItem::kernel(gemm, Shard::Column, phase));
        items.push(WorkItem::kernel(gemm, Shard::Column, phase));
    }
    items.push(WorkItem::kernel(Kernel::Silu { m: tokens, n: inter, dtype: dt.act }, Shard::Split, phase));
    items.push(WorkItem::kernel(Kernel::Mul { m: tokens, n: inter, dtype: dt.act }, Shard::Split, phase));
    items.push(WorkItem::kernel(dt.linear(tokens, inter, hidden), Shard::Row, phase));
}

/// Shapes of an MoE block's routed part for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeShape {
    pub tokens: u64,
    pub hidden: u64,
    pub n_experts: u64,
    pub top_k: u64,
    /// Intermediate size of one routed expert.
    pub expert_inter: u64,
    /// Tokens of the most loaded expert this step.
    pub max_rows: u64,
}

/// Push the router: scores `[T, hidden] × [hidden, E]` (Replicated, weight at activation
/// precision) and top-k selection.
pub fn push_router(items: &mut Vec<WorkItem>, s: &MoeShape, dt: &Dtypes) {
    items.push(WorkItem::kernel(dt.hp_linear(s.tokens, s.hidden, s.n_experts), Shard::Replicated, Phase::Moe));
    items.push(WorkItem::kernel(Kernel::TopK { m: s.tokens, n: s.n_experts, k: s.top_k, dtype: dt.act }, Shard::Replicated, Phase::Moe));
}

/// Push the routed experts as grouped GEMMs over the `T·top_k` routed rows (Shard::Experts):
/// gate+up fused (n = 2·I) or separate, SiLU and multiply on the rows, down. The weighted
/// combine of each token's `top_k` outputs is taken as fused into the down GEMM's epilogue
/// (as in fused-MoE kernels) and not emitted.
pub fn push_routed_experts(items: &mut Vec<WorkItem>, s: &MoeShape, fuse_gate_up: bool, dt: &Dtypes) {
    let rows = s.tokens * s.top_k;
    let grouped = |k: u64, n: u64| Kernel::GroupedGemm {
        groups: s.n_experts,
        rows,
        max_rows: s.max_rows,
        k,
        n,
        a: dt.act,
        w: dt.weight,
        out: dt.act,
    };
    if fuse_gate_up {
        items.push(WorkItem::kernel(grouped(s.hidden, 2 * s.expert_inter), Shard::Experts, Phase::Moe));
    } else {
        items.push(WorkItem::kernel(grouped(s.hidden, s.expert_inter), Shard::Experts, Phase::Moe));
        items.push(WorkItem::kernel(grouped(s.hidden, s.expert_inter), Shard::Experts, Phase::Moe));
    }
    items.push(WorkItem::kernel(Kernel::Silu { m: rows, n: s.expert_inter, dtype: dt.act }, Shard::Experts, Phase::Moe));
    items.push(WorkItem::kernel(Kernel::Mul { m: rows, n: s.expert_inter, dtype: dt.act }, Shard::Experts, Phase::Moe));
    items.push(WorkItem::kernel(grouped(s.expert_inter, s.hidden), Shard::Experts, Phase::Moe));
}

/// Push the unfused attention of `seqs` sequences with `q_len` queries over `kv_len` keys
/// (the original ReaLLM's form, all Shard::Heads): `QKᵀ` = Gemm{b: seqs·q_heads, m: q_len,
/// k: d_qk, n: kv_len}, Softmax{m: seqs·q_heads·q_len, n: kv_len}, `SV` = Gemm{b: seqs·q_heads,
/// m: q_len, k: kv_len, n: d_v}. The full score matrix is computed (no causal skipping), and K
/// and V are read per query head (`w` = `kv` type). `b` counts query heads, so tensor
/// parallelism divides `b` by its degree for Heads-sharded GEMMs.
#[allow(clippy::too_many_arguments)]
pub fn push_unfused_attention(
    items: &mut Vec<WorkItem>,
    seqs: u64,
    q_len: u64,
    kv_len: u64,
    q_heads: u64,
    d_qk: u64,
    d_v: u64,
    act: DType,
    kv: DType,
) {
    let b = seqs * q_heads;
    let heads = |k: Kernel| WorkItem::kernel(k, Shard::Heads, Phase::Attention);
    items.push(heads(Kernel::Gemm { b, m: q_len, k: d_qk, n: kv_len, a: act, w: kv, out: act }));
    items.push(heads(Kernel::Softmax { m: b * q_len, n: kv_len, dtype: act }));
    items.push(heads(Kernel::Gemm { b, m: q_len, k: kv_len, n: d_v, a: act, w: kv, out: act }));
}

/// Runs of consecutive layers of the same kind: `(first_layer, n_layers, is_moe)`.
pub fn layer_runs(is_moe: &[bool]) -> Vec<(u32, u32, bool)> {
    let mut runs: Vec<(u32, u32, bool)> = Vec::new();
    for (i, &m) in is_moe.iter().enumerate() {
        match runs.last_mut() {
            Some(r) if r.2 == m => r.1 += 1,
            _ => runs.push((i as u32, 1, m)),
        }
    }
    runs
}

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
    /// `(first_layer, n_layers, is_moe)` runs.
    pub runs: Vec<(u32, u32, bool)>,
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
        let dt = p.dtypes(plugin, cfg.weight_dtype())?;
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
        };
        Ok(ModelCore {
            runs: layer_runs(&moe_layers),
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

    /// Emit one step: the embedding (Pre), one Layers segment per run of layers (the family's
    /// attention block from `push_attention(items, tokens)`, then the FFN norm, a dense SwiGLU
    /// or MoE block, and the residual add), and the final norm + LM head (Post).
    pub fn build_step(
        &self,
        batch: &BatchShape,
        graph: &mut ModelGraph,
        push_attention: impl FnOnce(&mut Vec<WorkItem>, u64),
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

        // The attention block, identical in every layer.
        let mut attn = Vec::with_capacity(16);
        push_attention(&mut attn, t);
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

        for &(first_layer, n_layers, is_moe) in &self.runs {
            let mut items = Vec::with_capacity(attn.len() + 14);
            items.extend_from_slice(&attn);
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
    /// Push the attention block of one layer (from the input norm to the residual add) for a
    /// step of `tokens` tokens.
    fn push_attention_block(&self, core: &ModelCore, items: &mut Vec<WorkItem>, tokens: u64, batch: &BatchShape);
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
        self.core.build_step(batch, graph, |items, t| self.cfg.push_attention_block(&self.core, items, t, batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::PrefillChunk;

    #[test]
    fn groups_identical_chunks() {
        let c = |tokens, prefix| PrefillChunk { tokens, prefix, last: true };
        let b = BatchShape { prefills: vec![c(512, 0), c(256, 512), c(512, 0), c(0, 7), c(512, 0)], ..Default::default() };
        assert_eq!(
            prefill_groups(&b),
            vec![ChunkGroup { tokens: 256, prefix: 512, seqs: 1 }, ChunkGroup { tokens: 512, prefix: 0, seqs: 3 }]
        );
    }

    #[test]
    fn runs_of_layers() {
        assert_eq!(layer_runs(&[false, false, true, true, true]), vec![(0, 2, false), (2, 3, true)]);
        assert_eq!(layer_runs(&[false, true, false, true]).len(), 4);
        assert!(layer_runs(&[]).is_empty());
    }

    #[test]
    fn exactly_one_source() {
        let p = ModelParams { preset: Some("x".into()), config: Some(serde_json::json!({})), ..Default::default() };
        assert!(p.source("llama").unwrap_err().to_string().contains("exactly one"));
        assert!(ModelParams::default().source("llama").is_err());
    }

    #[test]
    fn dtype_overrides() {
        let p = ModelParams { weight_dtype: Some("fp8".into()), kv_dtype: Some("FP16".into()), ..Default::default() };
        let d = p.dtypes("llama", DType::Bf16).unwrap();
        assert_eq!((d.weight, d.act, d.kv), (DType::F8, DType::Bf16, DType::F16));
        let bad = ModelParams { act_dtype: Some("fp7".into()), ..Default::default() };
        assert!(bad.dtypes("llama", DType::Bf16).unwrap_err().to_string().contains("fp7"));
    }
}
