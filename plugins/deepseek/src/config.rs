//! Architecture of DeepSeek-V2/V3: multi-head latent attention (MLA) and a fine-grained MoE
//! with shared experts, with the catalogue presets and the Hugging Face `config.json` reader.
//!
//! Sources: the published `config.json` of deepseek-ai/DeepSeek-V2 and DeepSeek-V3 and the
//! native inference configs `config_236B.json` / `config_671B.json`, as collected in the
//! project's `shared/reference/models.md` §6.2; the tensor layout follows DeepSeek-V3's
//! `inference/model.py` (`MLA`: `wq_a`, `q_norm`, `wq_b`, `wkv_a`, `kv_norm`, `wkv_b`, `wo`;
//! `MoE`: `gate` (+ `bias` for V3), `experts`, `shared_experts`).

use reallm_model_kit::{check_bounds, params_error, ArchDims, FamilyConfig, HfConfig, MoeDims, ParamCounts, MAX_DIM, MAX_LAYERS};
use reallm_plugin_api::{DType, PluginError};
use serde::{Deserialize, Serialize};

/// A DeepSeek-V2/V3 architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeepSeekConfig {
    pub name: String,
    pub hidden: u64,
    /// Decoder layers, excluding multi-token-prediction (MTP) layers.
    pub n_layers: u32,
    pub n_heads: u64,
    /// Query compression rank (`q_lora_rank`); 0 = queries projected directly (V2-Lite).
    pub q_lora_rank: u64,
    /// KV compression rank (`kv_lora_rank`): the cached latent width.
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
    /// Dense FFN intermediate size of the first layers (`intermediate_size`).
    pub ffn_dim: u64,
    /// Intermediate size of one routed or shared expert (`moe_intermediate_size`).
    pub moe_ffn_dim: u64,
    pub n_routed_experts: u64,
    pub n_shared_experts: u64,
    pub experts_per_token: u64,
    /// Leading layers with a dense FFN (`first_k_dense_replace`).
    pub first_k_dense_replace: u32,
    /// Layer `i ≥ first_k_dense_replace` is MoE when `i % moe_layer_freq == 0`.
    pub moe_layer_freq: u32,
    pub vocab: u64,
    pub max_context: u64,
    pub tie_word_embeddings: bool,
    /// Router carries a per-expert score-correction bias (V3 `topk_method: noaux_tc`).
    pub router_bias: bool,
    /// MTP layers shipped with the checkpoint (`num_nextn_predict_layers`); not simulated and
    /// not counted in the parameters.
    pub mtp_layers: u32,
    /// Weights as shipped.
    pub weight_dtype: DType,
}

impl DeepSeekConfig {
    /// Query/key head dimension `nope + rope`.
    pub fn qk_head_dim(&self) -> u64 {
        self.qk_nope_head_dim + self.qk_rope_head_dim
    }

    /// Whether layer `i` has an MoE FFN (DeepSeek `DeepseekV2DecoderLayer`).
    pub fn is_moe_layer(&self, i: u32) -> bool {
        self.n_routed_experts > 0 && i >= self.first_k_dense_replace && i.is_multiple_of(self.moe_layer_freq.max(1))
    }

    /// Check that the dimensions are usable.
    pub fn validate(&self, plugin: &str) -> Result<(), PluginError> {
        let err = |m: String| params_error(plugin, format!("model `{}`: {m}", self.name));
        for (field, v) in [
            ("hidden_size", self.hidden),
            ("num_hidden_layers", self.n_layers as u64),
            ("num_attention_heads", self.n_heads),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_nope_head_dim", self.qk_nope_head_dim),
            ("qk_rope_head_dim", self.qk_rope_head_dim),
            ("v_head_dim", self.v_head_dim),
            ("vocab_size", self.vocab),
        ] {
            if v == 0 {
                return Err(err(format!("`{field}` must be positive")));
            }
        }
        let f = |v: u64| v as f64;
        // ≈ param_counts(): MLA projections, dense FFN and (routed + shared) experts per layer,
        // plus embedding and LM head.
        let qk = f(self.qk_nope_head_dim) + f(self.qk_rope_head_dim);
        let attn = f(self.hidden) * (f(self.q_lora_rank) + f(self.kv_lora_rank) + f(self.qk_rope_head_dim))
            + (f(self.q_lora_rank).max(f(self.hidden))) * f(self.n_heads) * qk
            + f(self.kv_lora_rank) * f(self.n_heads) * (f(self.qk_nope_head_dim) + f(self.v_head_dim))
            + f(self.n_heads) * f(self.v_head_dim) * f(self.hidden);
        let ffn = 3.0 * f(self.hidden) * (f(self.ffn_dim) + (f(self.n_routed_experts) + f(self.n_shared_experts)) * f(self.moe_ffn_dim));
        let approx = (f(self.n_layers as u64) + f(self.mtp_layers as u64)) * (attn + ffn) + 2.0 * f(self.vocab) * f(self.hidden);
        check_bounds(
            plugin,
            &self.name,
            &[
                ("num_hidden_layers", self.n_layers as u64, MAX_LAYERS),
                ("num_nextn_predict_layers", self.mtp_layers as u64, MAX_LAYERS),
                ("hidden_size", self.hidden, MAX_DIM),
                ("num_attention_heads", self.n_heads, MAX_DIM),
                ("q_lora_rank", self.q_lora_rank, MAX_DIM),
                ("kv_lora_rank", self.kv_lora_rank, MAX_DIM),
                ("qk_nope_head_dim", self.qk_nope_head_dim, MAX_DIM),
                ("qk_rope_head_dim", self.qk_rope_head_dim, MAX_DIM),
                ("v_head_dim", self.v_head_dim, MAX_DIM),
                ("intermediate_size", self.ffn_dim, MAX_DIM),
                ("moe_intermediate_size", self.moe_ffn_dim, MAX_DIM),
                ("n_routed_experts", self.n_routed_experts, MAX_DIM),
                ("n_shared_experts", self.n_shared_experts, MAX_DIM),
                ("num_experts_per_tok", self.experts_per_token, MAX_DIM),
                ("vocab_size", self.vocab, MAX_DIM),
            ],
            approx,
        )?;
        let moe = self.moe_layers();
        if moe.iter().any(|m| !m) && self.ffn_dim == 0 {
            return Err(err("dense FFN layers need `intermediate_size` > 0".into()));
        }
        if moe.iter().any(|&m| m)
            && (self.experts_per_token == 0 || self.experts_per_token > self.n_routed_experts || self.moe_ffn_dim == 0)
        {
            return Err(err(format!(
                "MoE needs 1 ≤ num_experts_per_tok ≤ n_routed_experts and moe_intermediate_size > 0 (got top-{} of {}, size {})",
                self.experts_per_token, self.n_routed_experts, self.moe_ffn_dim
            )));
        }
        Ok(())
    }

    /// Parameter counts, excluding MTP layers.
    ///
    /// Per layer, attention (MLA): `wq_a` hidden·q_lora, `wq_b` q_lora·H·(nope+rope) (or `wq`
    /// hidden·H·(nope+rope) without q_lora), `wkv_a` hidden·(kv_lora+rope), `wkv_b`
    /// kv_lora·H·(nope+v), `wo` H·v·hidden; norms: attention and FFN norms 2·hidden, `q_norm`
    /// q_lora, `kv_norm` kv_lora. Dense FFN 3·hidden·I; MoE: routed E·3·hidden·I_e, shared
    /// S·3·hidden·I_e, router E·hidden (+ E bias). Plus embedding, final norm, LM head.
    /// Active: `top_k` of the `E` routed experts.
    pub fn param_counts(&self) -> ParamCounts {
        let (h, nh) = (self.hidden, self.n_heads);
        let q = if self.q_lora_rank > 0 {
            h * self.q_lora_rank + self.q_lora_rank * nh * self.qk_head_dim()
        } else {
            h * nh * self.qk_head_dim()
        };
        let attn = q
            + h * (self.kv_lora_rank + self.qk_rope_head_dim)
            + self.kv_lora_rank * nh * (self.qk_nope_head_dim + self.v_head_dim)
            + nh * self.v_head_dim * h;
        let norms_per_layer = 2 * h + self.q_lora_rank + self.kv_lora_rank;
        let n_moe = self.moe_layers().iter().filter(|&&m| m).count() as u64;
        let l = self.n_layers as u64;
        let expert = 3 * h * self.moe_ffn_dim;
        let mut c = ParamCounts {
            embedding: self.vocab * h,
            attention: l * attn,
            dense_ffn: (l - n_moe) * 3 * h * self.ffn_dim,
            shared_experts: n_moe * self.n_shared_experts * expert,
            routed_experts: n_moe * self.n_routed_experts * expert,
            router: n_moe * (h * self.n_routed_experts + if self.router_bias { self.n_routed_experts } else { 0 }),
            norms: l * norms_per_layer + h,
            lm_head: if self.tie_word_embeddings { 0 } else { h * self.vocab },
            routed_expert_bias: 0,
            active: 0,
        };
        c.active = c.total() - c.routed_experts + n_moe * self.experts_per_token * expert;
        c
    }

    /// Read a DeepSeek-V2/V3 (or R1) `config.json` object.
    pub fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError> {
        let c = HfConfig::new(json, origin, plugin)?;
        if !c.has("kv_lora_rank") {
            let t = c.str("model_type").unwrap_or("unknown");
            return Err(
                c.error(format!("model type `{t}` has no `kv_lora_rank` (not multi-head latent attention): use the `llama` model plugin"))
            );
        }
        let cfg = DeepSeekConfig {
            name: c.name_or(fallback_name),
            hidden: c.u64("hidden_size")?,
            n_layers: c.u32_or("num_hidden_layers", 0)?,
            n_heads: c.u64("num_attention_heads")?,
            q_lora_rank: c.u64_or("q_lora_rank", 0)?,
            kv_lora_rank: c.u64("kv_lora_rank")?,
            qk_nope_head_dim: c.u64("qk_nope_head_dim")?,
            qk_rope_head_dim: c.u64("qk_rope_head_dim")?,
            v_head_dim: c.u64("v_head_dim")?,
            ffn_dim: c.u64_or("intermediate_size", 0)?,
            moe_ffn_dim: c.u64_or("moe_intermediate_size", 0)?,
            n_routed_experts: c.u64_or("n_routed_experts", 0)?,
            n_shared_experts: c.u64_or("n_shared_experts", 0)?,
            experts_per_token: c.u64_or("num_experts_per_tok", 0)?,
            first_k_dense_replace: c.u32_or("first_k_dense_replace", 0)?,
            moe_layer_freq: c.u32_or("moe_layer_freq", 1)?,
            vocab: c.u64("vocab_size")?,
            max_context: c.u64_or("max_position_embeddings", 0)?,
            tie_word_embeddings: c.bool_or("tie_word_embeddings", false)?,
            router_bias: c.str("topk_method") == Some("noaux_tc"),
            mtp_layers: c.u32_or("num_nextn_predict_layers", 0)?,
            weight_dtype: c.weight_dtype(),
        };
        cfg.validate(plugin)?;
        Ok(cfg)
    }
}

impl FamilyConfig for DeepSeekConfig {
    const FAMILY: &'static str = "deepseek";
    const PRESETS: &'static [(&'static str, &'static [&'static str])] = PRESETS;
    const HF_ARCHITECTURES: &'static [&'static str] = HF_ARCHITECTURES;
    const HF_MODEL_TYPES: &'static [&'static str] = HF_MODEL_TYPES;

    fn preset(name: &str) -> Option<Self> {
        preset(name)
    }

    fn from_hf(json: &serde_json::Value, origin: &str, fallback_name: &str, plugin: &str) -> Result<Self, PluginError> {
        DeepSeekConfig::from_hf(json, origin, fallback_name, plugin)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn validate(&self, plugin: &str) -> Result<(), PluginError> {
        DeepSeekConfig::validate(self, plugin)
    }

    fn weight_dtype(&self) -> DType {
        self.weight_dtype
    }

    fn param_counts(&self) -> ParamCounts {
        DeepSeekConfig::param_counts(self)
    }

    fn is_moe_layer(&self, i: u32) -> bool {
        DeepSeekConfig::is_moe_layer(self, i)
    }

    fn dims(&self) -> ArchDims {
        // Expert dimensions are reported only when some layer is MoE.
        let any_moe = (0..self.n_layers).any(|i| self.is_moe_layer(i));
        ArchDims {
            n_layers: self.n_layers,
            hidden: self.hidden,
            n_heads: self.n_heads,
            // The latent cache is one KV "head" shared by all query heads.
            n_kv_heads: 1,
            head_dim: self.qk_head_dim(),
            ffn_dim: self.ffn_dim,
            vocab: self.vocab,
            max_context: self.max_context,
            // Cached per token per layer: the latent c_kv (kv_lora) and the rotary key k_pe (rope).
            kv_elems_per_token_per_layer: self.kv_lora_rank + self.qk_rope_head_dim,
            moe: any_moe.then_some(MoeDims {
                n_routed: self.n_routed_experts,
                n_shared: self.n_shared_experts,
                top_k: self.experts_per_token,
                expert_ffn_dim: self.moe_ffn_dim,
            }),
        }
    }
}

/// Hugging Face `architectures` this family reads (Kimi K2 ships as `DeepseekV3ForCausalLM`).
pub const HF_ARCHITECTURES: &[&str] = &["DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"];

/// Hugging Face `model_type` values this family reads.
pub const HF_MODEL_TYPES: &[&str] = &["deepseek_v2", "deepseek_v3", "kimi_k2"];

/// Catalogue: `(canonical name, aliases)`.
pub const PRESETS: &[(&str, &[&str])] = &[
    ("deepseek-v2", &["deepseekv2", "deepseek-v2-236b"]),
    ("deepseek-v3", &["deepseekv3"]),
    ("deepseek-r1", &["deepseekr1"]),
    ("kimi-k2", &["kimik2", "kimi-k2-instruct"]),
];

/// Every preset name and alias, for [`PluginInfo::presets`](reallm_plugin_api::PluginInfo).
pub const PRESET_NAMES: &[&str] = &[
    "deepseek-v2",
    "deepseekv2",
    "deepseek-v2-236b",
    "deepseek-v3",
    "deepseekv3",
    "deepseek-r1",
    "deepseekr1",
    "kimi-k2",
    "kimik2",
    "kimi-k2-instruct",
];

/// The canonical name of a preset or alias (case-insensitive), if known.
pub fn canonical_preset(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    PRESETS.iter().find(|(c, aliases)| *c == n || aliases.contains(&n.as_str())).map(|(c, _)| *c)
}

/// The configuration of a preset (by name or alias).
pub fn preset(name: &str) -> Option<DeepSeekConfig> {
    let canonical = canonical_preset(name)?;
    // shared/reference/models.md §6.2.
    let v2 = DeepSeekConfig {
        name: canonical.into(),
        hidden: 5120,
        n_layers: 60,
        n_heads: 128,
        q_lora_rank: 1536,
        kv_lora_rank: 512,
        qk_nope_head_dim: 128,
        qk_rope_head_dim: 64,
        v_head_dim: 128,
        ffn_dim: 12288,
        moe_ffn_dim: 1536,
        n_routed_experts: 160,
        n_shared_experts: 2,
        experts_per_token: 6,
        first_k_dense_replace: 1,
        moe_layer_freq: 1,
        vocab: 102_400,
        max_context: 163_840,
        tie_word_embeddings: false,
        router_bias: false,
        mtp_layers: 0,
        weight_dtype: DType::Bf16,
    };
    // DeepSeek-V3's config.json (configs/deepseek-ai--DeepSeek-V3.json); DeepSeek-R1 has the
    // same architecture (configs/deepseek-ai--DeepSeek-R1.json differs only in metadata).
    let v3 = DeepSeekConfig {
        hidden: 7168,
        n_layers: 61,
        ffn_dim: 18432,
        moe_ffn_dim: 2048,
        n_routed_experts: 256,
        n_shared_experts: 1,
        experts_per_token: 8,
        first_k_dense_replace: 3,
        vocab: 129_280,
        router_bias: true,
        mtp_layers: 1,
        weight_dtype: DType::F8,
        ..v2.clone()
    };
    Some(match canonical {
        "deepseek-v2" => v2,
        "deepseek-v3" | "deepseek-r1" => v3,
        // Kimi K2 (configs/moonshotai--Kimi-K2-Instruct.json): the DeepSeek-V3 architecture with
        // 384 routed experts, 64 heads, one leading dense layer, a 163,840-token vocabulary,
        // 128K context and no MTP layer.
        "kimi-k2" => DeepSeekConfig {
            n_heads: 64,
            n_routed_experts: 384,
            first_k_dense_replace: 1,
            vocab: 163_840,
            max_context: 131_072,
            mtp_layers: 0,
            ..v3
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_params() {
        // Attention per layer: wq_a 7168·1536 = 11,010,048; wq_b 1536·128·192 = 37,748,736;
        //   wkv_a 7168·576 = 4,128,768; wkv_b 512·128·256 = 16,777,216; wo 128·128·7168 = 117,440,512
        //   → 187,105,280; ×61 = 11,413,422,080.
        // Norms per layer 2·7168 + 1536 + 512 = 16,384; ×61 + 7168 = 1,006,592.
        // Dense FFN 3·7168·18432 = 396,361,728; ×3 = 1,189,085,184.
        // Expert 3·7168·2048 = 44,040,192; routed 256× ×58 = 653,908,770,816; shared ×58 = 2,554,331,136.
        // Router (7168·256 + 256 bias) ×58 = 106,445,312. Embedding = head = 129280·7168 = 926,679,040.
        // Total 671,026,419,200; active = total − 248·44,040,192·58 = 37,552,297,472.
        let c = preset("deepseek-v3").unwrap().param_counts();
        assert_eq!(c.attention, 11_413_422_080);
        assert_eq!(c.norms, 1_006_592);
        assert_eq!(c.routed_experts, 653_908_770_816);
        assert_eq!(c.router, 106_445_312);
        assert_eq!(c.total(), 671_026_419_200);
        assert_eq!(c.active, 37_552_297_472);
        assert_eq!(format!("{:.1} / {:.1}", c.total() as f64 / 1e9, c.active as f64 / 1e9), "671.0 / 37.6");
    }

    #[test]
    fn kimi_k2_and_r1_params() {
        // Kimi K2: DeepSeek-V3's layer with 64 heads and 384 routed experts.
        // Attention per layer: wq_a 7168·1536 = 11,010,048; wq_b 1536·64·192 = 18,874,368;
        //   wkv_a 7168·576 = 4,128,768; wkv_b 512·64·256 = 8,388,608; wo 64·128·7168 = 58,720,256
        //   → 101,122,048; ×61 = 6,168,444,928.
        // Norms 16,384 per layer; ×61 + 7168 = 1,006,592. Dense FFN (1 layer) 396,361,728.
        // MoE layers 60: routed 384·44,040,192 = 16,911,433,728, shared 44,040,192, router
        //   7168·384 + 384 = 2,752,896 → 16,958,226,816 per layer; ×60 = 1,017,493,608,960.
        // Embedding = head = 163,840·7168 = 1,174,405,120.
        // Total 1,026,408,232,448; active = total − 60·376·44,040,192 = 32,861,500,928.
        // Model card (moonshotai/Kimi-K2-Instruct): "1T total parameters, 32B activated"; the
        // activated figure without the embedding table is 31.69 B.
        let c = preset("kimi-k2").unwrap().param_counts();
        assert_eq!(c.attention, 61 * 101_122_048);
        assert_eq!((c.total(), c.active), (1_026_408_232_448, 32_861_500_928));
        assert_eq!(format!("{:.2}T / {:.0}B", c.total() as f64 / 1e12, (c.active - c.embedding) as f64 / 1e9), "1.03T / 32B");
        // DeepSeek-R1 is DeepSeek-V3's architecture under its own name.
        let r1 = preset("deepseek-r1").unwrap();
        assert_eq!(r1.name, "deepseek-r1");
        assert_eq!(DeepSeekConfig { name: "deepseek-v3".into(), ..r1 }, preset("deepseek-v3").unwrap());
    }

    #[test]
    fn published_configs_import_as_the_presets() {
        for (text, name) in [
            (include_str!("../configs/deepseek-ai--DeepSeek-V3.json"), "deepseek-v3"),
            (include_str!("../configs/deepseek-ai--DeepSeek-R1.json"), "deepseek-r1"),
            (include_str!("../configs/moonshotai--Kimi-K2-Instruct.json"), "kimi-k2"),
        ] {
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut cfg = DeepSeekConfig::from_hf(&json, name, name, "deepseek").unwrap();
            cfg.name = name.into();
            assert_eq!(cfg, preset(name).unwrap(), "{name}");
        }
    }

    #[test]
    fn v2_params() {
        // Attention per layer: 5120·1536 + 1536·24576 + 5120·576 + 512·32768 + 16384·5120 = 149,225,472; ×60.
        // Norms per layer 2·5120 + 1536 + 512 = 12,288; ×60 + 5120.
        // Dense FFN (1 layer) 3·5120·12288 = 188,743,680. Expert 3·5120·1536 = 23,592,960;
        // MoE layer = 160 + 2 experts + router 819,200 = 3,822,878,720; ×59 = 225,549,844,480.
        // Embedding + head 2·102400·5120 = 1,048,576,000.
        // Total 8,953,528,320 + 737,280 + 5120 + 188,743,680 + 225,549,844,480 + 1,048,576,000 = 235,741,434,880
        // Active: MoE layer 8·23,592,960 + 819,200 = 189,562,880 → 21,375,800,320.
        let c = preset("deepseekv2").unwrap().param_counts();
        assert_eq!((c.total(), c.active), (235_741_434_880, 21_375_800_320));
        assert_eq!(format!("{:.1} / {:.1}", c.total() as f64 / 1e9, c.active as f64 / 1e9), "235.7 / 21.4");
    }

    #[test]
    fn layer_kinds() {
        let v3 = preset("deepseek-v3").unwrap();
        let m = v3.moe_layers();
        assert_eq!((m.iter().filter(|&&x| !x).count(), m[2], m[3]), (3, false, true));
    }

    #[test]
    fn presets_listed() {
        for (name, aliases) in PRESETS {
            assert!(preset(name).is_some() && PRESET_NAMES.contains(name));
            assert!(aliases.iter().all(|a| canonical_preset(a) == Some(*name) && PRESET_NAMES.contains(a)));
        }
        assert_eq!(PRESET_NAMES.len(), PRESETS.iter().map(|(_, a)| 1 + a.len()).sum::<usize>());
    }
}
