//! The `deepseek` model plugin: the logical kernels of one forward step of DeepSeek-V2/V3.
//!
//! Attention is multi-head latent attention (DeepSeek-V2 paper §2.1; V3 `inference/model.py`
//! class `MLA`). Queries: `q = wq_b(q_norm(wq_a(x)))` per head `[nope | rope]`. Keys and values
//! are compressed into a latent `c_kv = kv_norm(wkv_a(x)[:kv_lora])` plus a shared rotary key
//! `k_pe = rope(wkv_a(x)[kv_lora:])`; only `c_kv` and `k_pe` are cached, `kv_lora + rope`
//! elements per token per layer. Two computation forms are used, as in the reference code:
//!
//! * **prefill** (up-projected, `attn_impl = "naive"`): `wkv_b` expands the latents into per-head
//!   `k_nope` and `v`, and ordinary attention runs with `d_qk = nope + rope`, `d_v = v`. A chunk
//!   after a cached prefix also up-projects the prefix latents, so the `wkv_b` GEMM has
//!   `Σ kv_len` rows (prefix + new tokens of every chunk), not just the new tokens.
//! * **decode** (weight-absorbed, `attn_impl = "absorb"`): `q_nope` is multiplied by the `W_UK`
//!   slice of `wkv_b` per head (`q absorb`), attention runs directly over the cached latents as
//!   one shared KV head (`d_qk = kv_lora + rope`, `d_v = kv_lora`, K and V read from the same
//!   entries), and the result is multiplied by the `W_UV` slice per head (`un-absorb`).

use crate::config::{preset, DeepSeekConfig, PRESETS};
use reallm_llama::common::{
    check_batch, layer_runs, params_error, prefill_groups, push_routed_experts, push_router, push_swiglu, push_unfused_attention,
    AttentionForm, ConfigSource, Dtypes, ModelParams, MoeShape, ParamCounts,
};
use reallm_llama::routing::ExpertRouter;
use reallm_plugin_api::{
    BatchShape, Kernel, ModelArch, ModelGraph, ModelInfo, Phase, PluginError, Segment, SegmentKind, Shard, Stage, WorkItem,
};

const PLUGIN: &str = "deepseek";

/// A DeepSeek-V2/V3 model instance (architecture plus simulation options).
#[derive(Debug, Clone)]
pub struct DeepSeekModel {
    cfg: DeepSeekConfig,
    info: ModelInfo,
    counts: ParamCounts,
    dt: Dtypes,
    attention: AttentionForm,
    include_embedding_and_head: bool,
    fuse_gate_up: bool,
    runs: Vec<(u32, u32, bool)>,
    router: Option<ExpertRouter>,
}

impl DeepSeekModel {
    /// Build from plugin parameters (`{preset: NAME}`, `{hf_config: PATH}` or `{config: {...}}`
    /// plus options; see [`ModelParams`]).
    pub fn from_params(params: &serde_json::Value) -> Result<Self, PluginError> {
        let p: ModelParams = reallm_plugin_api::parse_params(PLUGIN, params)?;
        let cfg = match p.source(PLUGIN)? {
            ConfigSource::Preset(name) => preset(&name).ok_or_else(|| {
                let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                params_error(PLUGIN, format!("unknown preset `{name}`; known: {}", known.join(", ")))
            })?,
            ConfigSource::Hf { json, origin, stem } => DeepSeekConfig::from_hf(&json, &origin, &stem, PLUGIN)?,
        };
        Self::with_params(cfg, &p)
    }

    /// A preset with default options.
    pub fn preset(name: &str) -> Result<Self, PluginError> {
        Self::from_params(&serde_json::json!({ "preset": name }))
    }

    /// Build from an architecture and options (the source fields of `p` are ignored; `p.name`
    /// renames the model).
    pub fn with_params(mut cfg: DeepSeekConfig, p: &ModelParams) -> Result<Self, PluginError> {
        if let Some(n) = &p.name {
            cfg.name = n.clone();
        }
        cfg.validate(PLUGIN)?;
        let dt = p.dtypes(PLUGIN, cfg.weight_dtype)?;
        let counts = cfg.param_counts();
        let moe_layers = cfg.moe_layers();
        let any_moe = moe_layers.iter().any(|&m| m);
        let router = if any_moe {
            Some(
                ExpertRouter::new(&p.routing, cfg.n_routed_experts, cfg.experts_per_token, p.exact_routing_max_tokens)
                    .map_err(|e| params_error(PLUGIN, e.to_string()))?,
            )
        } else {
            None
        };
        let info = ModelInfo {
            name: cfg.name.clone(),
            family: PLUGIN.into(),
            n_layers: cfg.n_layers,
            hidden: cfg.hidden,
            n_heads: cfg.n_heads,
            // The latent cache is one KV "head" shared by all query heads.
            n_kv_heads: 1,
            head_dim: cfg.qk_head_dim(),
            ffn_dim: if moe_layers.iter().any(|&m| !m) { cfg.ffn_dim } else { 0 },
            vocab: cfg.vocab,
            n_routed_experts: if any_moe { cfg.n_routed_experts } else { 0 },
            n_shared_experts: if any_moe { cfg.n_shared_experts } else { 0 },
            experts_per_token: if any_moe { cfg.experts_per_token } else { 0 },
            moe_ffn_dim: if any_moe { cfg.moe_ffn_dim } else { 0 },
            first_dense_layers: moe_layers.iter().take_while(|&&m| !m).count() as u32,
            weight_dtype: dt.weight,
            act_dtype: dt.act,
            kv_dtype: dt.kv,
            params_total: counts.total(),
            params_active: counts.active,
            weights: counts.weight_bytes(&dt),
            // Cached per token per layer: the latent c_kv (kv_lora) and the rotary key k_pe (rope).
            kv_bytes_per_token: dt.kv.bytes_for(cfg.n_layers as u64 * (cfg.kv_lora_rank + cfg.qk_rope_head_dim)),
            max_context: cfg.max_context,
        };
        Ok(DeepSeekModel {
            runs: layer_runs(&moe_layers),
            cfg,
            info,
            counts,
            dt,
            attention: p.attention,
            include_embedding_and_head: p.include_embedding_and_head,
            fuse_gate_up: p.fuse_gate_up,
            router,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &DeepSeekConfig {
        &self.cfg
    }

    /// Parameter counts by part (MTP layers excluded).
    pub fn param_counts(&self) -> &ParamCounts {
        &self.counts
    }

    /// The data types in use.
    pub fn dtypes(&self) -> Dtypes {
        self.dt
    }

    /// The expert router.
    pub fn router(&self) -> Option<&ExpertRouter> {
        self.router.as_ref()
    }

    /// The MLA block of one layer (everything from the input norm to the residual add).
    fn push_mla(&self, items: &mut Vec<WorkItem>, t: u64, batch: &BatchShape) {
        let (c, dt) = (&self.cfg, &self.dt);
        let (hid, h, nope, rope, v, lora) = (c.hidden, c.n_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim, c.kv_lora_rank);
        let qk = nope + rope;
        let at = |k: Kernel, s: Shard| WorkItem::kernel(k, s, Phase::Attention);
        items.push(at(Kernel::LayerNorm { m: t, n: hid, dtype: dt.act }, Shard::Replicated));
        if c.q_lora_rank > 0 {
            items.push(at(dt.linear(t, hid, c.q_lora_rank), Shard::Replicated));
            items.push(at(Kernel::LayerNorm { m: t, n: c.q_lora_rank, dtype: dt.act }, Shard::Replicated));
            items.push(at(dt.linear(t, c.q_lora_rank, h * qk), Shard::Column));
        } else {
            items.push(at(dt.linear(t, hid, h * qk), Shard::Column));
        }
        items.push(at(dt.linear(t, hid, lora + rope), Shard::Replicated));
        items.push(at(Kernel::LayerNorm { m: t, n: lora, dtype: dt.act }, Shard::Replicated));
        // RoPE on the H query rope parts and the one shared k_pe: n = (H + 1)·rope. Split, so TP
        // divides it whole (k_pe is in fact replicated; it is 1/(H+1) of the op).
        items.push(at(Kernel::Rope { m: t, n: (h + 1) * rope, dtype: dt.act }, Shard::Split));

        // Prefill: up-project latents of every chunk's prefix and new tokens, then attention.
        let groups = prefill_groups(batch);
        if !groups.is_empty() {
            let latent_rows: u64 = groups.iter().map(|g| g.seqs * g.kv_len()).sum();
            items.push(at(dt.linear(latent_rows, lora, h * (nope + v)), Shard::Column));
            for g in &groups {
                match self.attention {
                    // K and V are fresh activations of the up-projection (act type).
                    AttentionForm::Flash => items.push(at(
                        Kernel::Attention {
                            seqs: g.seqs,
                            q_len: g.tokens,
                            kv_len: g.kv_len(),
                            q_heads: h,
                            kv_heads: h,
                            d_qk: qk,
                            d_v: v,
                            causal: true,
                            kv_shared: false,
                            act: dt.act,
                            kv: dt.act,
                        },
                        Shard::Heads,
                    )),
                    AttentionForm::Unfused => push_unfused_attention(items, g.seqs, g.tokens, g.kv_len(), h, qk, v, dt.act, dt.act),
                }
            }
        }

        // Decode: weight-absorbed attention over the cached latents.
        let d = batch.decode_seqs;
        if d > 0 {
            let absorb = |k: u64, n: u64| Kernel::Gemm { b: h, m: d, k, n, a: dt.act, w: dt.weight, out: dt.act };
            items.push(at(absorb(nope, lora), Shard::Heads));
            match self.attention {
                AttentionForm::Flash => items.push(at(
                    Kernel::DecodeAttention {
                        seqs: d,
                        kv_total: batch.decode_ctx_sum,
                        q_heads: h,
                        kv_heads: 1,
                        d_qk: lora + rope,
                        d_v: lora,
                        kv_shared: true,
                        act: dt.act,
                        kv: dt.kv,
                    },
                    Shard::Heads,
                )),
                // Mean context ⌈Σctx / seqs⌉, as in the llama plugin.
                AttentionForm::Unfused => {
                    push_unfused_attention(items, d, 1, batch.decode_ctx_sum.div_ceil(d), h, lora + rope, lora, dt.act, dt.kv)
                }
            }
            items.push(at(absorb(lora, v), Shard::Heads));
        }
        items.push(at(dt.linear(t, h * v, hid), Shard::Row));
        items.push(at(Kernel::Add { m: t, n: hid, dtype: dt.act }, Shard::Replicated));
    }
}

impl ModelArch for DeepSeekModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError> {
        check_batch(batch)?;
        let t = batch.tokens();
        let mut stage = Stage { segments: Vec::with_capacity(self.runs.len() + 2) };
        if t == 0 {
            graph.stages.push(stage);
            return Ok(());
        }
        let (c, dt) = (&self.cfg, &self.dt);
        let hid = c.hidden;

        if self.include_embedding_and_head {
            stage.segments.push(Segment {
                kind: SegmentKind::Pre,
                first_layer: 0,
                n_layers: 1,
                items: vec![WorkItem::kernel(Kernel::Embedding { tokens: t, hidden: hid, dtype: dt.act }, Shard::Replicated, Phase::Embed)],
            });
        }

        let mut attn = Vec::with_capacity(16);
        self.push_mla(&mut attn, t, batch);
        let ffn_norm = WorkItem::kernel(Kernel::LayerNorm { m: t, n: hid, dtype: dt.act }, Shard::Replicated, Phase::Ffn);
        let residual = WorkItem::kernel(Kernel::Add { m: t, n: hid, dtype: dt.act }, Shard::Replicated, Phase::Ffn);

        // One routing sample per step, shared by every MoE layer (the graph carries one
        // expert-count vector).
        let moe_shape = self.router.as_ref().map(|r| {
            r.sample(t, batch.seed, &mut graph.expert_tokens);
            let max_rows = graph.expert_tokens.iter().copied().max().unwrap_or(0) as u64;
            MoeShape {
                tokens: t,
                hidden: hid,
                n_experts: c.n_routed_experts,
                top_k: c.experts_per_token,
                expert_inter: c.moe_ffn_dim,
                max_rows,
            }
        });

        for &(first_layer, n_layers, is_moe) in &self.runs {
            let mut items = Vec::with_capacity(attn.len() + 14);
            items.extend_from_slice(&attn);
            items.push(ffn_norm);
            match (is_moe, &moe_shape) {
                (true, Some(s)) => {
                    push_router(&mut items, s, dt);
                    if c.n_shared_experts > 0 {
                        push_swiglu(&mut items, t, hid, c.n_shared_experts * c.moe_ffn_dim, self.fuse_gate_up, dt, Phase::Ffn);
                    }
                    push_routed_experts(&mut items, s, self.fuse_gate_up, dt);
                    if c.n_shared_experts > 0 {
                        // Routed + shared outputs.
                        items.push(WorkItem::kernel(Kernel::Add { m: t, n: hid, dtype: dt.act }, Shard::Replicated, Phase::Moe));
                    }
                }
                _ => push_swiglu(&mut items, t, hid, c.ffn_dim, self.fuse_gate_up, dt, Phase::Ffn),
            }
            items.push(residual);
            stage.segments.push(Segment { kind: SegmentKind::Layers, first_layer, n_layers, items });
        }

        if self.include_embedding_and_head {
            let mut items = vec![WorkItem::kernel(Kernel::LayerNorm { m: t, n: hid, dtype: dt.act }, Shard::Replicated, Phase::Head)];
            let logits = batch.logit_tokens();
            if logits > 0 {
                items.push(WorkItem::kernel(dt.hp_linear(logits, hid, c.vocab), Shard::Vocab, Phase::Head));
            }
            stage.segments.push(Segment { kind: SegmentKind::Post, first_layer: c.n_layers.saturating_sub(1), n_layers: 1, items });
        }
        graph.stages.push(stage);
        Ok(())
    }
}
