//! Architecture of the Llama family: grouped-query attention (GQA), SwiGLU FFN, RMSNorm, and
//! optionally mixture-of-experts FFN layers (Mixtral, Qwen3-MoE), with the catalogue presets
//! and the Hugging Face `config.json` reader.
//!
//! Preset values are the published `config.json` fields, as collected in the project's
//! reference `shared/reference/models.md` (§6.1 dense, §6.2 MoE).

use reallm_model_kit::{check_bounds, params_error, ArchDims, FamilyConfig, HfConfig, MoeDims, ParamCounts, MAX_DIM, MAX_LAYERS};
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
    /// Per-head RMSNorm of queries and keys (Qwen3 `q_norm` / `k_norm`).
    pub qk_norm: bool,
    pub moe: Option<MoeConfig>,
    /// Weights as shipped.
    pub weight_dtype: DType,
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
            moe: None,
            weight_dtype: DType::Bf16,
        }
    }

    /// Whether layer `i` has an MoE FFN.
    pub fn is_moe_layer(&self, i: u32) -> bool {
        match &self.moe {
            None => false,
            Some(m) => m.n_experts > 0 && (i + 1) % m.sparse_step.max(1) == 0 && !m.mlp_only_layers.contains(&i),
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
        if self.n_heads % self.n_kv_heads != 0 {
            return Err(err(format!("{} attention heads are not a multiple of {} KV heads", self.n_heads, self.n_kv_heads)));
        }
        let moe_layers = self.moe_layers();
        if moe_layers.iter().any(|m| !m) && self.ffn_dim == 0 {
            return Err(err("dense FFN layers need `intermediate_size` > 0".into()));
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
    /// `Qwen3MoeForCausalLM`).
    ///
    /// Per layer: attention `hidden·(H+2·KV)·d + H·d·hidden` (+ biases `(H+2·KV)·d + hidden`),
    /// two RMSNorm gains of `hidden` (+ `2·d` for q/k norms); dense FFN `3·hidden·I`
    /// (+ biases `2·I + hidden`); MoE FFN `E·3·hidden·I_e` routed, `S·3·hidden·I_e` shared,
    /// router `hidden·E`. Plus embedding `vocab·hidden`, final norm `hidden`, LM head
    /// `hidden·vocab` unless tied. Active: routed experts count `top_k` of `E`.
    pub fn param_counts(&self) -> ParamCounts {
        let (h, d, nh, nkv) = (self.hidden, self.head_dim, self.n_heads, self.n_kv_heads);
        let mut attn = h * (nh + 2 * nkv) * d + nh * d * h;
        if self.attention_bias {
            attn += (nh + 2 * nkv) * d + h;
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
            let expert = 3 * h * m.expert_ffn_dim + if self.mlp_bias { 2 * m.expert_ffn_dim + h } else { 0 };
            c.routed_experts = n_moe * m.n_experts * expert;
            c.shared_experts = n_moe * m.n_shared_experts * expert;
            c.router = n_moe * h * m.n_experts;
            routed_active = n_moe * m.top_k * expert;
        }
        c.active = c.total() - c.routed_experts + routed_active;
        c
    }

    /// Read a Llama / Mistral / Mixtral / Qwen2 / Qwen3 / Qwen3-MoE `config.json` object.
    pub fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError> {
        let c = HfConfig::new(json, origin, plugin)?;
        let model_type = c.str("model_type").unwrap_or("");
        if model_type.starts_with("deepseek") || c.has("kv_lora_rank") {
            return Err(c.error(format!("`{model_type}` uses multi-head latent attention: use the `deepseek` model plugin")));
        }
        let hidden = c.u64("hidden_size")?;
        let n_heads = c.u64("num_attention_heads")?;
        if n_heads == 0 {
            return Err(c.error("`num_attention_heads` must be positive"));
        }
        let n_layers = u32::try_from(c.u64("num_hidden_layers")?).map_err(|_| c.error("`num_hidden_layers` is too large"))?;
        let n_experts = c.opt_u64("num_local_experts")?.or(c.opt_u64("num_experts")?).unwrap_or(0);
        let ffn_dim = c.u64_or("intermediate_size", 0)?;
        let moe = if n_experts > 0 {
            let expert_ffn_dim = match c.opt_u64("moe_intermediate_size")? {
                Some(v) => v,
                // Mixtral: `intermediate_size` is the size of each expert.
                None => ffn_dim,
            };
            if c.has("shared_expert_intermediate_size") {
                return Err(c.error("Qwen2-MoE-style gated shared experts (`shared_expert_intermediate_size`) are not supported"));
            }
            Some(MoeConfig {
                n_experts,
                top_k: c.u64("num_experts_per_tok")?,
                expert_ffn_dim,
                n_shared_experts: c.u64_or("n_shared_experts", 0)?,
                sparse_step: c.u32_or("decoder_sparse_step", 1)?,
                mlp_only_layers: c.u32_list("mlp_only_layers")?,
            })
        } else {
            None
        };
        let is_mixtral_like = moe.as_ref().is_some_and(|_| !c.has("moe_intermediate_size"));
        let cfg = LlamaConfig {
            name: c.name_or(fallback_name),
            hidden,
            n_layers,
            n_heads,
            n_kv_heads: c.u64_or("num_key_value_heads", n_heads)?,
            head_dim: c.u64_or("head_dim", hidden / n_heads)?,
            // Mixtral has no dense FFN; its `intermediate_size` is the expert size.
            ffn_dim: if is_mixtral_like { 0 } else { ffn_dim },
            vocab: c.u64("vocab_size")?,
            max_context: c.u64_or("max_position_embeddings", 0)?,
            tie_word_embeddings: c.bool_or("tie_word_embeddings", false)?,
            attention_bias: c.bool_or("attention_bias", false)?,
            mlp_bias: c.bool_or("mlp_bias", false)?,
            qk_norm: matches!(model_type, "qwen3" | "qwen3_moe"),
            moe,
            weight_dtype: c.weight_dtype(),
        };
        cfg.validate(plugin)?;
        Ok(cfg)
    }
}

impl FamilyConfig for LlamaConfig {
    const FAMILY: &'static str = "llama";
    const PRESETS: &'static [(&'static str, &'static [&'static str])] = PRESETS;

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
}
