//! Architecture of the Llama family: grouped-query attention (GQA), SwiGLU FFN, RMSNorm, and
//! optionally mixture-of-experts FFN layers (Mixtral, Qwen3-MoE, gpt-oss, Llama 4), with the
//! catalogue presets and the Hugging Face `config.json` reader.
//!
//! Also in the family, by their published configs and the Hugging Face `transformers` model
//! code: Qwen3 dense (per-head q/k RMSNorm), gpt-oss (alternating sliding-window and full
//! attention layers, attention sinks, biased projections and experts, MXFP4 experts) and
//! Llama 4 (MoE layers with a shared expert interleaved with dense layers, chunked local
//! attention in the RoPE layers, full attention in every fourth, NoPE, layer).
//!
//! Preset values are the published `config.json` fields: the copies in this crate's
//! `configs/` folder (see its NOTICE.md), and for Llama 2/3/3.1, Mixtral and Qwen3 0.6B–14B
//! the values collected in the project's reference `shared/reference/models.md` and the
//! models' cards (cited at each preset).

use reallm_model_kit::{
    check_bounds, params_error, ArchDims, AttentionWindow, FamilyConfig, HfConfig, LayerAttention, MoeDims, ParamCounts, MAX_DIM,
    MAX_LAYERS,
};
use reallm_plugin_api::{DType, PluginError};
use serde::{Deserialize, Serialize};

/// Mixture-of-experts part of a Llama-family model (Mixtral, Qwen3-MoE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoeConfig {
    /// Routed experts (`num_local_experts` / `num_experts`).
    pub n_experts: u64,
    /// Experts per token (`num_experts_per_tok`).
    pub top_k: u64,
    /// Intermediate size of one expert (Mixtral: `intermediate_size`; Qwen: `moe_intermediate_size`).
    pub expert_ffn_dim: u64,
    /// Always-on shared experts of `expert_ffn_dim` each (`n_shared_experts`; 0 for Mixtral/Qwen3).
    pub n_shared_experts: u64,
    /// Every `sparse_step`-th layer is MoE (`decoder_sparse_step`, Qwen semantics: layer `i` is
    /// MoE when `(i + 1) % sparse_step == 0`); 1 = every layer.
    pub sparse_step: u32,
    /// Layers that keep a dense FFN (`mlp_only_layers`).
    pub mlp_only_layers: Vec<u32>,
}

/// A Llama-family architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub name: String,
    pub hidden: u64,
    pub n_layers: u32,
    pub n_heads: u64,
    pub n_kv_heads: u64,
    pub head_dim: u64,
    /// Dense FFN intermediate size (`intermediate_size`); unused when every layer is MoE.
    pub ffn_dim: u64,
    pub vocab: u64,
    /// `max_position_embeddings`.
    pub max_context: u64,
    pub tie_word_embeddings: bool,
    /// Biases on q, k, v and o projections (`attention_bias`).
    pub attention_bias: bool,
    /// Biases on gate, up and down projections (`mlp_bias`).
    pub mlp_bias: bool,
    /// Per-head RMSNorm of queries and keys (Qwen3 `q_norm` / `k_norm`), `d` gain weights each.
    pub qk_norm: bool,
    /// Weightless L2 norm of queries and keys in the RoPE layers (Llama 4 `use_qk_norm`).
    pub qk_l2_norm: bool,
    /// One learned attention-sink logit per query head per layer (gpt-oss `sinks`).
    pub attention_sinks: bool,
    /// The MoE router has a bias per expert (gpt-oss `router.bias`).
    pub router_bias: bool,
    pub moe: Option<MoeConfig>,
    /// Attention variant of every layer (window, RoPE); empty = full attention with RoPE in
    /// every layer.
    pub layer_attention: Vec<LayerAttention>,
    /// Weights as shipped.
    pub weight_dtype: DType,
    /// Routed-expert weights as shipped (gpt-oss: MXFP4; otherwise `weight_dtype`).
    pub expert_dtype: DType,
}

impl LlamaConfig {
    #[allow(clippy::too_many_arguments)]
    fn dense(name: &str, hidden: u64, n_layers: u32, n_heads: u64, n_kv_heads: u64, ffn_dim: u64, vocab: u64, max_context: u64) -> Self {
        LlamaConfig {
            name: name.into(),
            hidden,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim: hidden / n_heads,
            ffn_dim,
            vocab,
            max_context,
            tie_word_embeddings: false,
            attention_bias: false,
            mlp_bias: false,
            qk_norm: false,
            qk_l2_norm: false,
            attention_sinks: false,
            router_bias: false,
            moe: None,
            layer_attention: Vec::new(),
            weight_dtype: DType::Bf16,
            expert_dtype: DType::Bf16,
        }
    }

    /// A Qwen3 dense model: explicit `head_dim` 128, q/k RMSNorm, vocabulary 151,936, 40,960
    /// positions (the published Qwen3 `config.json` values common to 0.6B–32B).
    fn qwen3(name: &str, hidden: u64, n_layers: u32, n_heads: u64, ffn_dim: u64, tied: bool) -> Self {
        LlamaConfig {
            head_dim: 128,
            qk_norm: true,
            tie_word_embeddings: tied,
            ..LlamaConfig::dense(name, hidden, n_layers, n_heads, 8, ffn_dim, 151_936, 40_960)
        }
    }

    /// gpt-oss with `n_layers` layers and `n_experts` experts (the two published sizes differ
    /// in nothing else).
    fn gpt_oss(name: &str, n_layers: u32, n_experts: u64) -> Self {
        let sliding = LayerAttention { window: AttentionWindow::Sliding { tokens: 128 }, rope: true };
        LlamaConfig {
            head_dim: 64,
            attention_bias: true,
            mlp_bias: true,
            attention_sinks: true,
            router_bias: true,
            moe: Some(MoeConfig {
                n_experts,
                top_k: 4,
                expert_ffn_dim: 2880,
                n_shared_experts: 0,
                sparse_step: 1,
                mlp_only_layers: vec![],
            }),
            // `layer_types`: sliding_attention at even layers, full_attention at odd ones.
            layer_attention: (0..n_layers).map(|i| if i % 2 == 0 { sliding } else { LayerAttention::default() }).collect(),
            expert_dtype: DType::Mxfp4,
            ..LlamaConfig::dense(name, 2880, n_layers, 64, 8, 0, 201_088, 131_072)
        }
    }

    /// A Llama 4 text model: 48 layers of 5120, 40 query heads of 128, 8 KV heads, experts of
    /// 8192 (top-1) plus one shared expert, dense layers of 16,384, every `moe_step`-th layer
    /// MoE, chunked attention (8192) in the RoPE layers and full attention in every fourth
    /// (NoPE) layer, vocabulary 202,048.
    fn llama4(name: &str, n_experts: u64, moe_step: u32, qk_l2_norm: bool, max_context: u64) -> Self {
        let chunked = LayerAttention { window: AttentionWindow::Chunked { tokens: 8192 }, rope: true };
        let nope = LayerAttention { window: AttentionWindow::Full, rope: false };
        LlamaConfig {
            qk_l2_norm,
            moe: Some(MoeConfig {
                n_experts,
                top_k: 1,
                expert_ffn_dim: 8192,
                n_shared_experts: 1,
                sparse_step: moe_step,
                mlp_only_layers: vec![],
            }),
            layer_attention: (0..48).map(|i| if (i + 1) % 4 == 0 { nope } else { chunked }).collect(),
            ..LlamaConfig::dense(name, 5120, 48, 40, 8, 16384, 202_048, max_context)
        }
    }

    /// The attention variant of layer `i`.
    pub fn layer_attention(&self, i: u32) -> LayerAttention {
        self.layer_attention.get(i as usize).copied().unwrap_or_default()
    }

    /// Whether layer `i` has an MoE FFN.
    pub fn is_moe_layer(&self, i: u32) -> bool {
        match &self.moe {
            None => false,
            Some(m) => m.n_experts > 0 && (i + 1).is_multiple_of(m.sparse_step.max(1)) && !m.mlp_only_layers.contains(&i),
        }
    }

    /// Check that the dimensions are usable.
    pub fn validate(&self, plugin: &str) -> Result<(), PluginError> {
        let err = |m: String| params_error(plugin, format!("model `{}`: {m}", self.name));
        for (field, v) in [
            ("hidden_size", self.hidden),
            ("num_attention_heads", self.n_heads),
            ("num_key_value_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab),
            ("num_hidden_layers", self.n_layers as u64),
        ] {
            if v == 0 {
                return Err(err(format!("`{field}` must be positive")));
            }
        }
        let moe = self.moe.as_ref();
        let (experts, top_k, expert_dim, shared) =
            moe.map(|m| (m.n_experts, m.top_k, m.expert_ffn_dim, m.n_shared_experts)).unwrap_or((0, 0, 0, 0));
        let f = |v: u64| v as f64;
        // ≈ param_counts(): attention + dense FFN + (routed + shared) experts per layer, plus
        // embedding and LM head.
        let per_layer = f(self.hidden) * f(self.head_dim) * (2.0 * f(self.n_heads) + 2.0 * f(self.n_kv_heads))
            + 3.0 * f(self.hidden) * (f(self.ffn_dim) + (f(experts) + f(shared)) * f(expert_dim));
        let approx = f(self.n_layers as u64) * per_layer + 2.0 * f(self.vocab) * f(self.hidden);
        check_bounds(
            plugin,
            &self.name,
            &[
                ("num_hidden_layers", self.n_layers as u64, MAX_LAYERS),
                ("hidden_size", self.hidden, MAX_DIM),
                ("num_attention_heads", self.n_heads, MAX_DIM),
                ("num_key_value_heads", self.n_kv_heads, MAX_DIM),
                ("head_dim", self.head_dim, MAX_DIM),
                ("intermediate_size", self.ffn_dim, MAX_DIM),
                ("vocab_size", self.vocab, MAX_DIM),
                ("num_experts", experts, MAX_DIM),
                ("num_experts_per_tok", top_k, MAX_DIM),
                ("moe_intermediate_size", expert_dim, MAX_DIM),
                ("n_shared_experts", shared, MAX_DIM),
            ],
            approx,
        )?;
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(err(format!("{} attention heads are not a multiple of {} KV heads", self.n_heads, self.n_kv_heads)));
        }
        let moe_layers = self.moe_layers();
        if moe_layers.iter().any(|m| !m) && self.ffn_dim == 0 {
            return Err(err("dense FFN layers need `intermediate_size` > 0".into()));
        }
        if !self.layer_attention.is_empty() && self.layer_attention.len() != self.n_layers as usize {
            return Err(err(format!("{} layer attention types given for {} layers", self.layer_attention.len(), self.n_layers)));
        }
        for a in &self.layer_attention {
            match a.window.tokens() {
                Some(0) => return Err(err("an attention window (`sliding_window` / `attention_chunk_size`) must be positive".into())),
                Some(w) if w > MAX_DIM * 1024 => {
                    return Err(err(format!("attention window of {w} tokens is beyond the limit of {}", MAX_DIM * 1024)))
                }
                _ => {}
            }
        }
        if let Some(m) = &self.moe {
            if m.top_k == 0 || m.top_k > m.n_experts || m.expert_ffn_dim == 0 {
                return Err(err(format!(
                    "MoE needs 1 ≤ num_experts_per_tok ≤ experts and an expert size > 0 (got top-{} of {}, size {})",
                    m.top_k, m.n_experts, m.expert_ffn_dim
                )));
            }
        }
        Ok(())
    }

    /// Parameter counts (weights of `LlamaForCausalLM` / `MixtralForCausalLM` /
    /// `Qwen3ForCausalLM` / `Qwen3MoeForCausalLM` / `GptOssForCausalLM` / the text model of
    /// `Llama4ForConditionalGeneration`).
    ///
    /// Per layer: attention `hidden·(H+2·KV)·d + H·d·hidden` (+ biases `(H+2·KV)·d + hidden`,
    /// and `H` sink logits), two RMSNorm gains of `hidden` (+ `2·d` for q/k norms; Llama 4's L2
    /// norm has no weights); dense FFN `3·hidden·I` (+ biases `2·I + hidden`); MoE FFN
    /// `E·3·hidden·I_e` routed (+ biases `E·(2·I_e + hidden)`), `S·3·hidden·I_e` shared,
    /// router `hidden·E` (+ `E` bias). Plus embedding `vocab·hidden`, final norm `hidden`, LM
    /// head `hidden·vocab` unless tied. Active: routed experts count `top_k` of `E`.
    pub fn param_counts(&self) -> ParamCounts {
        let (h, d, nh, nkv) = (self.hidden, self.head_dim, self.n_heads, self.n_kv_heads);
        let mut attn = h * (nh + 2 * nkv) * d + nh * d * h;
        if self.attention_bias {
            attn += (nh + 2 * nkv) * d + h;
        }
        if self.attention_sinks {
            attn += nh;
        }
        let mut norms_per_layer = 2 * h;
        if self.qk_norm {
            norms_per_layer += 2 * d;
        }
        let dense_ffn = 3 * h * self.ffn_dim + if self.mlp_bias { 2 * self.ffn_dim + h } else { 0 };
        let n_moe = self.moe_layers().iter().filter(|&&m| m).count() as u64;
        let n_dense = self.n_layers as u64 - n_moe;
        let l = self.n_layers as u64;
        let mut c = ParamCounts {
            embedding: self.vocab * h,
            attention: l * attn,
            dense_ffn: n_dense * dense_ffn,
            norms: l * norms_per_layer + h,
            lm_head: if self.tie_word_embeddings { 0 } else { h * self.vocab },
            ..Default::default()
        };
        let mut routed_active = 0;
        if let Some(m) = &self.moe {
            let bias = if self.mlp_bias { 2 * m.expert_ffn_dim + h } else { 0 };
            let expert = 3 * h * m.expert_ffn_dim + bias;
            c.routed_experts = n_moe * m.n_experts * expert;
            c.routed_expert_bias = n_moe * m.n_experts * bias;
            c.shared_experts = n_moe * m.n_shared_experts * expert;
            c.router = n_moe * (h * m.n_experts + if self.router_bias { m.n_experts } else { 0 });
            routed_active = n_moe * m.top_k * expert;
        }
        c.active = c.total() - c.routed_experts + routed_active;
        c
    }

    /// Read a Llama / Mistral / Mixtral / Qwen2 / Qwen3 / Qwen3-MoE / gpt-oss / Llama 4
    /// `config.json` object (Llama 4: the `text_config` of the multimodal config; the vision
    /// encoder is not simulated or counted).
    pub fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError> {
        let top = HfConfig::new(json, origin, plugin)?;
        let model_type = top.str("model_type").unwrap_or("");
        if model_type.starts_with("deepseek") || model_type == "kimi_k2" || top.has("kv_lora_rank") {
            return Err(top.error(format!("`{model_type}` uses multi-head latent attention: use the `deepseek` model plugin")));
        }
        // Llama 4 nests the language model's fields in `text_config`.
        let text_origin = format!("{origin} (text_config)");
        let nested = match top.get("text_config") {
            Some(tc) if model_type == "llama4" => Some(HfConfig::new(tc, &text_origin, plugin)?),
            _ => None,
        };
        let c = nested.as_ref().unwrap_or(&top);
        let model_type = if nested.is_some() { c.str("model_type").unwrap_or("llama4_text") } else { model_type };
        let llama4 = model_type == "llama4_text";
        let gpt_oss = model_type == "gpt_oss";

        let hidden = c.u64("hidden_size")?;
        let n_heads = c.u64("num_attention_heads")?;
        if n_heads == 0 {
            return Err(c.error("`num_attention_heads` must be positive"));
        }
        let n_layers = u32::try_from(c.u64("num_hidden_layers")?).map_err(|_| c.error("`num_hidden_layers` is too large"))?;
        // Before any per-layer table is built.
        check_bounds(plugin, &top.name_or(fallback_name), &[("num_hidden_layers", n_layers as u64, MAX_LAYERS)], 0.0)?;
        let n_experts = c.opt_u64("num_local_experts")?.or(c.opt_u64("num_experts")?).unwrap_or(0);
        let ffn_dim = c.u64_or("intermediate_size", 0)?;
        let moe = if n_experts > 0 {
            let expert_ffn_dim = match c.opt_u64("moe_intermediate_size")? {
                Some(v) => v,
                // Mixtral, gpt-oss, Llama 4: `intermediate_size` is the size of each expert.
                None => ffn_dim,
            };
            if c.has("shared_expert_intermediate_size") {
                return Err(c.error("Qwen2-MoE-style gated shared experts (`shared_expert_intermediate_size`) are not supported"));
            }
            Some(MoeConfig {
                n_experts,
                top_k: c.u64("num_experts_per_tok")?,
                expert_ffn_dim,
                // Llama 4: one always-on shared expert of `intermediate_size` in every MoE layer.
                n_shared_experts: if llama4 { 1 } else { c.u64_or("n_shared_experts", 0)? },
                // Llama 4's `interleave_moe_layer_step` has Qwen's `decoder_sparse_step` meaning:
                // layers step−1, 2·step−1, ... are MoE (transformers `Llama4TextConfig.moe_layers`).
                sparse_step: if llama4 { c.u32_or("interleave_moe_layer_step", 1)? } else { c.u32_or("decoder_sparse_step", 1)? },
                mlp_only_layers: c.u32_list("mlp_only_layers")?,
            })
        } else {
            None
        };
        // The dense FFN size: Llama 4 gives it as `intermediate_size_mlp`; Mixtral-like configs
        // (experts without `moe_intermediate_size`) have no dense FFN.
        let dense_ffn = if llama4 {
            c.u64_or("intermediate_size_mlp", 0)?
        } else if moe.is_some() && !c.has("moe_intermediate_size") {
            0
        } else {
            ffn_dim
        };
        let layer_attention = layer_attention_from_hf(c, model_type, n_layers)?;
        let weight_dtype = if nested.is_some() && !top.has("quantization_config") { c.weight_dtype() } else { top.weight_dtype() };
        let cfg = LlamaConfig {
            name: top.name_or(fallback_name),
            hidden,
            n_layers,
            n_heads,
            n_kv_heads: c.u64_or("num_key_value_heads", n_heads)?,
            head_dim: c.u64_or("head_dim", hidden / n_heads)?,
            ffn_dim: dense_ffn,
            vocab: c.u64("vocab_size")?,
            max_context: c.u64_or("max_position_embeddings", 0)?,
            tie_word_embeddings: c.bool_or("tie_word_embeddings", top.bool_or("tie_word_embeddings", false)?)?,
            attention_bias: c.bool_or("attention_bias", false)?,
            // gpt-oss experts carry biases (`gate_up_proj_bias`, `down_proj_bias`).
            mlp_bias: gpt_oss || c.bool_or("mlp_bias", false)?,
            qk_norm: matches!(model_type, "qwen3" | "qwen3_moe"),
            qk_l2_norm: llama4 && c.bool_or("use_qk_norm", false)?,
            attention_sinks: gpt_oss,
            router_bias: gpt_oss,
            moe,
            layer_attention,
            weight_dtype,
            expert_dtype: top.expert_weight_dtype().unwrap_or(weight_dtype),
        };
        cfg.validate(plugin)?;
        Ok(cfg)
    }
}

/// The attention variant of every layer of a Hugging Face config (empty when every layer is
/// full attention with RoPE):
///
/// * `layer_types` (transformers ≥ 4.54; gpt-oss ships it): `full_attention`,
///   `sliding_attention` (window `sliding_window`), `chunked_attention` (window
///   `attention_chunk_size`);
/// * Llama 4 without `layer_types`: `no_rope_layers[i]` = 1 marks a RoPE layer, which uses
///   chunked attention; the default is every fourth layer NoPE with full attention
///   (`no_rope_layer_interval` 4), as `Llama4TextConfig` derives it;
/// * Qwen2/Qwen3 with `use_sliding_window`: layers from `max_window_layers` on slide;
/// * Mistral / Mixtral with a `sliding_window`: every layer slides.
fn layer_attention_from_hf(c: &HfConfig, model_type: &str, n_layers: u32) -> Result<Vec<LayerAttention>, PluginError> {
    let sliding = || -> Result<AttentionWindow, PluginError> {
        Ok(AttentionWindow::Sliding {
            tokens: c.u64("sliding_window").map_err(|_| c.error("`sliding_attention` layers need `sliding_window`"))?,
        })
    };
    let chunked = || -> Result<AttentionWindow, PluginError> {
        Ok(AttentionWindow::Chunked {
            tokens: c.u64("attention_chunk_size").map_err(|_| c.error("`chunked_attention` layers need `attention_chunk_size`"))?,
        })
    };
    let n = n_layers as usize;
    let llama4 = model_type == "llama4_text";
    // Llama 4's NoPE layers: `no_rope_layers[i]` = 0.
    let rope: Vec<bool> = if llama4 {
        let given = c.u32_list("no_rope_layers")?;
        if given.is_empty() {
            let interval = c.u32_or("no_rope_layer_interval", 4)?.max(1);
            (0..n_layers).map(|i| (i + 1) % interval != 0).collect()
        } else if given.len() != n {
            return Err(c.error(format!("`no_rope_layers` lists {} layers, but there are {n_layers}", given.len())));
        } else {
            given.iter().map(|&v| v != 0).collect()
        }
    } else {
        vec![true; n]
    };
    let windows: Vec<AttentionWindow> = if let Some(types) = c.str_list("layer_types")? {
        if types.len() != n {
            return Err(c.error(format!("`layer_types` lists {} layers, but there are {n_layers}", types.len())));
        }
        types
            .iter()
            .map(|t| match *t {
                "full_attention" => Ok(AttentionWindow::Full),
                "sliding_attention" => sliding(),
                "chunked_attention" => chunked(),
                other => Err(c.error(format!(
                    "`layer_types` entry `{other}` is not supported; expected full_attention, sliding_attention or chunked_attention"
                ))),
            })
            .collect::<Result<_, _>>()?
    } else if llama4 && c.has("attention_chunk_size") {
        let w = chunked()?;
        rope.iter().map(|&r| if r { w } else { AttentionWindow::Full }).collect()
    } else if matches!(model_type, "qwen2" | "qwen3" | "qwen2_moe" | "qwen3_moe")
        && c.bool_or("use_sliding_window", false)?
        && c.has("sliding_window")
    {
        let w = sliding()?;
        let from = c.u32_or("max_window_layers", n_layers)?;
        (0..n_layers).map(|i| if i >= from { w } else { AttentionWindow::Full }).collect()
    } else if matches!(model_type, "mistral" | "mixtral") && c.has("sliding_window") {
        vec![sliding()?; n]
    } else {
        vec![AttentionWindow::Full; n]
    };
    let layers: Vec<LayerAttention> = windows.into_iter().zip(rope).map(|(window, rope)| LayerAttention { window, rope }).collect();
    Ok(if layers.iter().all(|l| *l == LayerAttention::default()) { Vec::new() } else { layers })
}

impl FamilyConfig for LlamaConfig {
    const FAMILY: &'static str = "llama";
    const PRESETS: &'static [(&'static str, &'static [&'static str])] = PRESETS;
    const HF_ARCHITECTURES: &'static [&'static str] = HF_ARCHITECTURES;
    const HF_MODEL_TYPES: &'static [&'static str] = HF_MODEL_TYPES;

    fn preset(name: &str) -> Option<Self> {
        preset(name)
    }

    fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError> {
        LlamaConfig::from_hf(json, origin, fallback_name, plugin)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn validate(&self, plugin: &str) -> Result<(), PluginError> {
        LlamaConfig::validate(self, plugin)
    }

    fn weight_dtype(&self) -> DType {
        self.weight_dtype
    }

    fn expert_weight_dtype(&self) -> DType {
        self.expert_dtype
    }

    fn layer_attention(&self, i: u32) -> LayerAttention {
        LlamaConfig::layer_attention(self, i)
    }

    fn param_counts(&self) -> ParamCounts {
        LlamaConfig::param_counts(self)
    }

    fn is_moe_layer(&self, i: u32) -> bool {
        LlamaConfig::is_moe_layer(self, i)
    }

    fn dims(&self) -> ArchDims {
        ArchDims {
            n_layers: self.n_layers,
            hidden: self.hidden,
            n_heads: self.n_heads,
            n_kv_heads: self.n_kv_heads,
            head_dim: self.head_dim,
            ffn_dim: self.ffn_dim,
            vocab: self.vocab,
            max_context: self.max_context,
            // K and V of every KV head: 2·KV·d elements per layer.
            kv_elems_per_token_per_layer: 2 * self.n_kv_heads * self.head_dim,
            moe: self.moe.as_ref().map(|m| MoeDims {
                n_routed: m.n_experts,
                n_shared: m.n_shared_experts,
                top_k: m.top_k,
                expert_ffn_dim: m.expert_ffn_dim,
            }),
        }
    }
}

/// Hugging Face `architectures` this family reads.
pub const HF_ARCHITECTURES: &[&str] = &[
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "MixtralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "Qwen3MoeForCausalLM",
    "GptOssForCausalLM",
    "Llama4ForConditionalGeneration",
    "Llama4ForCausalLM",
];

/// Hugging Face `model_type` values this family reads.
pub const HF_MODEL_TYPES: &[&str] = &["llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gpt_oss", "llama4", "llama4_text"];

/// Catalogue: `(canonical name, aliases)`.
pub const PRESETS: &[(&str, &[&str])] = &[
    ("llama2-7b", &["llama-2-7b"]),
    ("llama3-8b", &["llama-3-8b", "llama8b"]),
    ("llama3-70b", &["llama70b", "llama-3-70b"]),
    ("llama3.1-8b", &["llama-3.1-8b"]),
    ("llama3.1-70b", &["llama-3.1-70b"]),
    ("llama3.1-405b", &["llama405b", "llama-3.1-405b", "llama3-405b"]),
    ("mixtral-8x7b", &["mixtral", "mixtral8x7b"]),
    ("qwen3-235b-a22b", &["qwen3-235b", "qwen3moe"]),
    ("qwen3-30b-a3b", &["qwen3-30b"]),
    ("qwen3-0.6b", &[]),
    ("qwen3-1.7b", &[]),
    ("qwen3-4b", &[]),
    ("qwen3-8b", &[]),
    ("qwen3-14b", &[]),
    ("qwen3-32b", &[]),
    ("gpt-oss-20b", &["gptoss-20b"]),
    ("gpt-oss-120b", &["gptoss-120b"]),
    ("llama4-scout", &["llama-4-scout", "llama-4-scout-17b-16e"]),
    ("llama4-maverick", &["llama-4-maverick", "llama-4-maverick-17b-128e"]),
];

/// Every preset name and alias, for [`PluginInfo::presets`](reallm_plugin_api::PluginInfo).
pub const PRESET_NAMES: &[&str] = &[
    "llama2-7b",
    "llama-2-7b",
    "llama3-8b",
    "llama-3-8b",
    "llama8b",
    "llama3-70b",
    "llama70b",
    "llama-3-70b",
    "llama3.1-8b",
    "llama-3.1-8b",
    "llama3.1-70b",
    "llama-3.1-70b",
    "llama3.1-405b",
    "llama405b",
    "llama-3.1-405b",
    "llama3-405b",
    "mixtral-8x7b",
    "mixtral",
    "mixtral8x7b",
    "qwen3-235b-a22b",
    "qwen3-235b",
    "qwen3moe",
    "qwen3-30b-a3b",
    "qwen3-30b",
    "qwen3-0.6b",
    "qwen3-1.7b",
    "qwen3-4b",
    "qwen3-8b",
    "qwen3-14b",
    "qwen3-32b",
    "gpt-oss-20b",
    "gptoss-20b",
    "gpt-oss-120b",
    "gptoss-120b",
    "llama4-scout",
    "llama-4-scout",
    "llama-4-scout-17b-16e",
    "llama4-maverick",
    "llama-4-maverick",
    "llama-4-maverick-17b-128e",
];

/// The canonical name of a preset or alias (case-insensitive), if known.
pub fn canonical_preset(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    PRESETS.iter().find(|(c, aliases)| *c == n || aliases.contains(&n.as_str())).map(|(c, _)| *c)
}

/// The configuration of a preset (by name or alias).
pub fn preset(name: &str) -> Option<LlamaConfig> {
    let canonical = canonical_preset(name)?;
    // Sources: shared/reference/models.md §6.1 (Meta params.json / HF config.json values) and
    // §6.2 (Mixtral-8x7B-v0.1, Qwen3-235B-A22B, Qwen3-30B-A3B config.json).
    Some(match canonical {
        // Llama-2-7b-hf config.json: 4096 hidden, 32 layers, 32 heads (MHA), FFN 11008, vocab 32000, 4K context.
        "llama2-7b" => LlamaConfig::dense(canonical, 4096, 32, 32, 32, 11008, 32000, 4096),
        "llama3-8b" => LlamaConfig::dense(canonical, 4096, 32, 32, 8, 14336, 128_256, 8192),
        "llama3-70b" => LlamaConfig::dense(canonical, 8192, 80, 64, 8, 28672, 128_256, 8192),
        "llama3.1-8b" => LlamaConfig::dense(canonical, 4096, 32, 32, 8, 14336, 128_256, 131_072),
        "llama3.1-70b" => LlamaConfig::dense(canonical, 8192, 80, 64, 8, 28672, 128_256, 131_072),
        "llama3.1-405b" => LlamaConfig::dense(canonical, 16384, 126, 128, 8, 53248, 128_256, 131_072),
        "mixtral-8x7b" => LlamaConfig {
            ffn_dim: 0,
            moe: Some(MoeConfig {
                n_experts: 8,
                top_k: 2,
                expert_ffn_dim: 14336,
                n_shared_experts: 0,
                sparse_step: 1,
                mlp_only_layers: vec![],
            }),
            ..LlamaConfig::dense(canonical, 4096, 32, 32, 8, 0, 32000, 32768)
        },
        "qwen3-235b-a22b" => LlamaConfig {
            head_dim: 128,
            qk_norm: true,
            moe: Some(MoeConfig {
                n_experts: 128,
                top_k: 8,
                expert_ffn_dim: 1536,
                n_shared_experts: 0,
                sparse_step: 1,
                mlp_only_layers: vec![],
            }),
            ..LlamaConfig::dense(canonical, 4096, 94, 64, 4, 12288, 151_936, 40960)
        },
        "qwen3-30b-a3b" => LlamaConfig {
            head_dim: 128,
            qk_norm: true,
            moe: Some(MoeConfig {
                n_experts: 128,
                top_k: 8,
                expert_ffn_dim: 768,
                n_shared_experts: 0,
                sparse_step: 1,
                mlp_only_layers: vec![],
            }),
            ..LlamaConfig::dense(canonical, 2048, 48, 32, 4, 6144, 151_936, 40960)
        },
        // Qwen3 dense. 8B and 32B: configs/Qwen--Qwen3-{8B,32B}.json. 0.6B, 1.7B, 4B, 14B: the
        // published config.json values (hidden, layers, heads, FFN, tied embeddings), checked
        // against the model cards' total and non-embedding counts in the tests.
        "qwen3-0.6b" => LlamaConfig::qwen3(canonical, 1024, 28, 16, 3072, true),
        "qwen3-1.7b" => LlamaConfig::qwen3(canonical, 2048, 28, 16, 6144, true),
        "qwen3-4b" => LlamaConfig::qwen3(canonical, 2560, 36, 32, 9728, true),
        "qwen3-8b" => LlamaConfig::qwen3(canonical, 4096, 36, 32, 12288, false),
        "qwen3-14b" => LlamaConfig::qwen3(canonical, 5120, 40, 40, 17408, false),
        "qwen3-32b" => LlamaConfig::qwen3(canonical, 5120, 64, 64, 25600, false),
        // gpt-oss (configs/openai--gpt-oss-{20b,120b}.json): 2880 hidden, 64 query heads of 64,
        // 8 KV heads, experts of 2880 (top-4), layers alternating sliding (128) and full
        // attention starting with sliding, attention sinks, biases, MXFP4 experts.
        "gpt-oss-20b" => LlamaConfig::gpt_oss(canonical, 24, 32),
        "gpt-oss-120b" => LlamaConfig::gpt_oss(canonical, 36, 128),
        // Llama 4 text models (configs/meta-llama--Llama-4-{Scout-17B-16E,Maverick-17B-128E}-Instruct.json).
        "llama4-scout" => LlamaConfig::llama4(canonical, 16, 1, true, 10_485_760),
        "llama4-maverick" => LlamaConfig::llama4(canonical, 128, 2, false, 1_048_576),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_and_names_are_listed() {
        for (name, aliases) in PRESETS {
            assert!(preset(name).is_some(), "{name}");
            assert!(PRESET_NAMES.contains(name));
            for a in *aliases {
                assert_eq!(canonical_preset(a), Some(*name));
                assert!(PRESET_NAMES.contains(a));
            }
        }
        assert_eq!(PRESET_NAMES.len(), PRESETS.iter().map(|(_, a)| 1 + a.len()).sum::<usize>());
        assert_eq!(canonical_preset("LLAMA70B"), Some("llama3-70b"));
        assert!(preset("gpt-4").is_none());
    }

    #[test]
    fn llama3_70b_params() {
        // embedding = lm_head = 128256·8192 = 1,050,673,152
        // per layer: q 8192·8192 = 67,108,864; k+v 2·8192·1024 = 16,777,216; o 67,108,864
        //            → attention 150,994,944; FFN 3·8192·28672 = 704,643,072; norms 2·8192
        //            = 855,654,400 per layer, ×80 = 68,452,352,000
        // total = 68,452,352,000 + 2·1,050,673,152 + 8192 (final norm) = 70,553,706,496
        let c = preset("llama3-70b").unwrap().param_counts();
        assert_eq!(c.total(), 70_553_706_496);
        assert_eq!(c.active, c.total());
        assert_eq!(c.attention, 80 * 150_994_944);
    }

    #[test]
    fn llama3_8b_and_405b_params() {
        // 8B: layer = 41,943,040 attn + 176,160,768 FFN + 8192 norms = 218,112,000; ×32 = 6,979,584,000
        //     + 2·525,336,576 + 4096 = 8,030,261,248
        assert_eq!(preset("llama3-8b").unwrap().param_counts().total(), 8_030_261_248);
        // 405B: layer = 570,425,344 attn + 2,617,245,696 FFN + 32,768 norms = 3,187,703,808; ×126
        //       = 401,650,679,808 + 2·2,101,346,304 + 16,384 = 405,853,388,800
        assert_eq!(preset("llama405b").unwrap().param_counts().total(), 405_853_388_800);
        // Llama-2-7B: layer = 4·4096² + 3·4096·11008 + 2·4096 = 202,383,360; ×32 = 6,476,267,520
        //             + 2·32000·4096 + 4096 = 6,738,415,616
        assert_eq!(preset("llama2-7b").unwrap().param_counts().total(), 6_738_415_616);
    }

    #[test]
    fn moe_params() {
        // Mixtral-8x7B: expert 3·4096·14336 = 176,160,768; attention 41,943,040; router 32,768; norms 8192
        //   total layer = 41,943,040 + 8·176,160,768 + 32,768 + 8192 = 1,451,270,144; ×32 = 46,440,644,608
        //   + 2·32000·4096 + 4096 = 46,702,792,704 (46.7 B)
        //   active layer = 41,943,040 + 2·176,160,768 + 32,768 + 8192 = 394,305,536; ×32 = 12,617,777,152
        //   + 262,148,096 = 12,879,925,248 (12.9 B)
        let m = preset("mixtral").unwrap().param_counts();
        assert_eq!((m.total(), m.active), (46_702_792_704, 12_879_925_248));
        // Qwen3-235B-A22B: attention 4096·(64+8)·128 + 64·128·4096 = 71,303,168; norms 2·4096 + 2·128
        //   experts 128·3·4096·1536 = 2,415,919,104; router 524,288
        //   layer 2,487,755,008 ×94 = 233,848,970,752 + 2·622,329,856 + 4096 = 235,093,634,560
        //   active layer = 71,303,168 + 8448 + 8·18,874,368 + 524,288 = 222,830,848 ×94
        //   = 20,946,099,712 + 1,244,663,808 = 22,190,763,520
        let q = preset("qwen3-235b-a22b").unwrap().param_counts();
        assert_eq!((q.total(), q.active), (235_093_634_560, 22_190_763_520));
    }

    /// Published Qwen3 model-card figures: (preset, total, non-embedding), in units of 0.01 B
    /// rounded as on the cards ("Number of Parameters: 8.2B; Number of Parameters
    /// (Non-Embedding): 6.95B" and so on; the 0.6B card gives 0.6B / 0.44B).
    #[test]
    fn qwen3_dense_params_match_the_model_cards() {
        // Layer: attention 2·hidden·H·128 + 2·hidden·8·128, q/k norms 2·128, two RMSNorms
        // 2·hidden, SwiGLU 3·hidden·I. Embedding 151,936·hidden, LM head the same unless tied.
        // 8B: attention 4096·(32+16)·128 + 32·128·4096 = 41,943,040; FFN 3·4096·12288
        //     = 150,994,944; norms 8192 + 256 → layer 192,946,432; ×36 = 6,946,071,552
        //     + final norm 4096 = 6,946,075,648 non-embedding; + 2·622,329,856 = 8,190,735,360.
        let cases = [
            ("qwen3-0.6b", 596_049_920, 440_467_456, "0.6", "0.44"),
            ("qwen3-1.7b", 1_720_574_976, 1_409_410_048, "1.7", "1.4"),
            ("qwen3-4b", 4_022_468_096, 3_633_511_936, "4.0", "3.6"),
            ("qwen3-8b", 8_190_735_360, 6_946_075_648, "8.2", "6.95"),
            ("qwen3-14b", 14_768_307_200, 13_212_482_560, "14.8", "13.2"),
            ("qwen3-32b", 32_762_123_264, 31_206_298_624, "32.8", "31.2"),
        ];
        // Billions with as many decimals as the card prints.
        let as_card = |v: u64, card: &str| format!("{:.*}", card.split('.').nth(1).map_or(0, str::len), v as f64 / 1e9);
        for (name, total, non_embedding, card_total, card_non_emb) in cases {
            let c = preset(name).unwrap().param_counts();
            assert_eq!(c.total(), total, "{name}");
            assert_eq!(c.total() - c.embedding - c.lm_head, non_embedding, "{name}");
            assert_eq!(c.active, c.total());
            assert_eq!(as_card(total, card_total), card_total, "{name} total");
            assert_eq!(as_card(non_embedding, card_non_emb), card_non_emb, "{name} non-embedding");
        }
        // The three small models tie the LM head to the embedding.
        assert_eq!(preset("qwen3-4b").unwrap().param_counts().lm_head, 0);
    }

    #[test]
    fn gpt_oss_params_match_the_model_card() {
        // gpt-oss model card (OpenAI, "gpt-oss-120b & gpt-oss-20b Model Card", Table 1):
        // 120b: MLP 114.71 B, attention 0.96 B, embed + unembed 1.16 B, active 5.13 B, total
        // 116.83 B; 20b: 19.12 B, 0.64 B, 1.16 B, 3.61 B, 20.91 B. The card's "active" leaves out
        // the embedding table (a lookup) but counts the unembedding.
        // Per layer: attention 2880·(64+16)·64 + 64·64·2880 = 26,542,080, biases 5120 + 2880,
        // sinks 64 → 26,550,144. Expert 3·2880·2880 + biases 2·2880 + 2880 = 24,891,840;
        // router 2880·E + E. Norms 2·2880.
        let c = preset("gpt-oss-120b").unwrap().param_counts();
        assert_eq!(c.attention, 36 * 26_550_144);
        assert_eq!(c.routed_experts + c.router, 114_714_874_368); // 36·(128·24,891,840 + 368,768)
        assert_eq!(c.embedding + c.lm_head, 2 * 579_133_440); // 201,088·2880
        assert_eq!(c.total(), 116_829_156_672);
        assert_eq!(c.active, 5_711_982_912);
        assert_eq!(c.active - c.embedding, 5_132_849_472); // card: 5.13 B
        assert_eq!(c.routed_expert_bias, 36 * 128 * 3 * 2880);
        let c = preset("gpt-oss-20b").unwrap().param_counts();
        assert_eq!(c.routed_experts + c.router, 19_119_145_728); // 24·(32·24,891,840 + 92,192)
        assert_eq!(c.attention, 637_203_456);
        assert_eq!(c.total(), 20_914_757_184);
        assert_eq!(c.active - c.embedding, 3_608_307_264); // card: 3.61 B
    }

    #[test]
    fn llama4_text_params_by_config_arithmetic() {
        // Per layer: attention 5120·(40+16)·128 + 40·128·5120 = 62,914,560; norms 2·5120 (the
        // q/k L2 norm has no weights). MoE layer: E experts + 1 shared of 3·5120·8192 =
        // 125,829,120 each, router 5120·E. Dense layer: 3·5120·16384 = 251,658,240.
        // Embedding = LM head = 202,048·5120 = 1,034,485,760; final norm 5120.
        // Scout (48 MoE layers, E = 16): 48·(62,924,800 + 17·125,829,120 + 81,920) + 2,068,976,640
        //   = 107,769,861,120; active: 48·(62,924,800 + 2·125,829,120 + 81,920) + 2,068,976,640
        //   = 17,172,894,720.
        // Maverick (24 MoE layers, E = 128; 24 dense): 48·62,924,800 + 24·(129·125,829,120 + 655,360)
        //   + 24·251,658,240 + 2,068,976,640 = 400,711,848,960; active 17,184,691,200.
        // The model cards (meta-llama/Llama-4-Scout-17B-16E: "17B activated, 109B total";
        // Maverick-17B-128E: "17B activated, 400B total") count the whole multimodal model;
        // the vision encoder is not simulated here. The text model is within 2 % of them.
        let s = preset("llama4-scout").unwrap().param_counts();
        assert_eq!((s.total(), s.active), (107_769_861_120, 17_172_894_720));
        let m = preset("llama4-maverick").unwrap().param_counts();
        assert_eq!((m.total(), m.active), (400_711_848_960, 17_184_691_200));
        for (total, card) in [(s.total(), 109e9), (m.total(), 400e9)] {
            assert!((total as f64 - card).abs() / card < 0.02, "{total} vs {card}");
        }
        assert_eq!((s.active as f64 / 1e9).round(), 17.0);
        assert_eq!((m.active as f64 / 1e9).round(), 17.0);
    }

    #[test]
    fn layer_types_of_the_new_presets() {
        let g = preset("gpt-oss-120b").unwrap();
        let sliding = LayerAttention { window: AttentionWindow::Sliding { tokens: 128 }, rope: true };
        assert_eq!(g.layer_attention(0), sliding);
        assert_eq!(g.layer_attention(1), LayerAttention::default());
        assert_eq!(g.layer_attention.iter().filter(|a| **a == sliding).count(), 18);
        let s = preset("llama4-scout").unwrap();
        // Layers 3, 7, ..., 47 are NoPE with full attention; the rest chunked (8192) with RoPE.
        assert_eq!(s.layer_attention(3), LayerAttention { window: AttentionWindow::Full, rope: false });
        assert_eq!(s.layer_attention(4), LayerAttention { window: AttentionWindow::Chunked { tokens: 8192 }, rope: true });
        assert_eq!(s.layer_attention.iter().filter(|a| !a.rope).count(), 12);
        // Maverick: odd layers are MoE.
        let m = preset("llama4-maverick").unwrap();
        assert!(!m.is_moe_layer(0) && m.is_moe_layer(1) && m.is_moe_layer(47));
        assert!(preset("qwen3-8b").unwrap().layer_attention.is_empty());
    }

    /// A config copied into this crate's `configs/` folder.
    fn published(file: &str) -> serde_json::Value {
        let text = match file {
            "Qwen--Qwen3-8B" => include_str!("../configs/Qwen--Qwen3-8B.json"),
            "Qwen--Qwen3-32B" => include_str!("../configs/Qwen--Qwen3-32B.json"),
            "Qwen--Qwen3-30B-A3B" => include_str!("../configs/Qwen--Qwen3-30B-A3B.json"),
            "Qwen--Qwen3-235B-A22B" => include_str!("../configs/Qwen--Qwen3-235B-A22B.json"),
            "openai--gpt-oss-20b" => include_str!("../configs/openai--gpt-oss-20b.json"),
            "openai--gpt-oss-120b" => include_str!("../configs/openai--gpt-oss-120b.json"),
            "meta-llama--Llama-4-Scout-17B-16E-Instruct" => include_str!("../configs/meta-llama--Llama-4-Scout-17B-16E-Instruct.json"),
            "meta-llama--Llama-4-Maverick-17B-128E-Instruct" => {
                include_str!("../configs/meta-llama--Llama-4-Maverick-17B-128E-Instruct.json")
            }
            "meta-llama--Meta-Llama-3.1-8B" => include_str!("../configs/meta-llama--Meta-Llama-3.1-8B.json"),
            other => panic!("no copy of {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn published_configs_import_as_the_presets() {
        for (file, name) in [
            ("Qwen--Qwen3-8B", "qwen3-8b"),
            ("Qwen--Qwen3-32B", "qwen3-32b"),
            ("Qwen--Qwen3-30B-A3B", "qwen3-30b-a3b"),
            ("Qwen--Qwen3-235B-A22B", "qwen3-235b-a22b"),
            ("openai--gpt-oss-20b", "gpt-oss-20b"),
            ("openai--gpt-oss-120b", "gpt-oss-120b"),
            ("meta-llama--Llama-4-Scout-17B-16E-Instruct", "llama4-scout"),
            ("meta-llama--Llama-4-Maverick-17B-128E-Instruct", "llama4-maverick"),
            ("meta-llama--Meta-Llama-3.1-8B", "llama3.1-8b"),
        ] {
            let mut cfg = LlamaConfig::from_hf(&published(file), file, name, "llama").unwrap();
            cfg.name = name.into();
            assert_eq!(cfg, preset(name).unwrap(), "{file}");
        }
    }

    #[test]
    fn bad_layer_types_are_errors() {
        let mut j = published("openai--gpt-oss-20b");
        j["layer_types"][3] = serde_json::json!("global_attention");
        let e = LlamaConfig::from_hf(&j, "x.json", "x", "llama").unwrap_err().to_string();
        assert!(e.contains("global_attention") && e.contains("sliding_attention"), "{e}");
        j["layer_types"] = serde_json::json!(["full_attention"]);
        assert!(LlamaConfig::from_hf(&j, "x.json", "x", "llama").unwrap_err().to_string().contains("1 layers"));
        let mut j = published("openai--gpt-oss-20b");
        j["sliding_window"] = serde_json::Value::Null;
        assert!(LlamaConfig::from_hf(&j, "x.json", "x", "llama").unwrap_err().to_string().contains("sliding_window"));
        j["sliding_window"] = serde_json::json!(0);
        assert!(LlamaConfig::from_hf(&j, "x.json", "x", "llama").unwrap_err().to_string().contains("positive"));
    }
}
