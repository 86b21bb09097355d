use super::*;
use reallm_plugin_api::{DType, Kernel, ModelInfo, Phase, PluginError, Segment, SegmentKind, Shard, Stage, WeightBytes, WorkItem};

/// A two-layer toy model: one GEMM per layer over the step's tokens (or over the decoding
/// sequences only, when `ignores_spec`, as a 1.0 plugin would).
struct Toy {
    info: ModelInfo,
    ignores_spec: bool,
}

fn toy(ignores_spec: bool) -> Toy {
    let dt = DType::Bf16;
    Toy {
        info: ModelInfo {
            name: "toy".into(),
            family: "toy".into(),
            n_layers: 2,
            hidden: 64,
            n_heads: 1,
            n_kv_heads: 1,
            head_dim: 64,
            ffn_dim: 64,
            vocab: 100,
            n_routed_experts: 0,
            n_shared_experts: 0,
            experts_per_token: 0,
            moe_ffn_dim: 0,
            first_dense_layers: 2,
            weight_dtype: dt,
            act_dtype: dt,
            kv_dtype: dt,
            params_total: 0,
            params_active: 0,
            weights: WeightBytes::default(),
            kv_bytes_per_token: 256,
            max_context: 1 << 20,
            kv_window_tokens: 0,
            kv_windowed_layers: 0,
        },
        ignores_spec,
    }
}

impl ModelArch for Toy {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn build_step(&self, b: &BatchShape, g: &mut ModelGraph) -> std::result::Result<(), PluginError> {
        let t = if self.ignores_spec { b.prefill_tokens() + b.decode_seqs } else { b.tokens() };
        let items = vec![WorkItem::kernel(Kernel::matmul(t, 64, 64, DType::Bf16), Shard::Column, Phase::Ffn)];
        g.stages.push(Stage { segments: vec![Segment { kind: SegmentKind::Layers, first_layer: 0, n_layers: 2, items }] });
        Ok(())
    }
}

#[test]
fn a_model_that_ignores_spec_tokens_is_refused() {
    assert!(check_verification_support(&toy(false)).is_ok());
    let e = check_verification_support(&toy(true)).unwrap_err().to_string();
    assert!(e.contains("spec_tokens") && e.contains("toy"), "{e}");
}

#[test]
fn methods_parse_by_engine_names() {
    for m in SpecMethod::ALL {
        assert_eq!(SpecMethod::parse(m.name()), Some(m));
    }
    assert_eq!(SpecMethod::parse("deepseek_mtp"), Some(SpecMethod::Mtp));
    assert_eq!(SpecMethod::parse("EAGLE3"), Some(SpecMethod::Eagle));
    assert_eq!(SpecMethod::parse("standalone"), Some(SpecMethod::DraftModel));
    assert_eq!(SpecMethod::parse("medusa"), None);
    assert!(!SpecMethod::Ngram.needs_drafter() && SpecMethod::Eagle.needs_drafter());
}

#[test]
fn totals_count_per_position() {
    let mut t = SpecDecodeTotals::default();
    t.record(3, 2, 3);
    t.record(3, 0, 1);
    t.record(3, 3, 2);
    assert_eq!((t.drafts, t.draft_tokens, t.accepted_tokens, t.emitted_tokens), (3, 9, 5, 6));
    assert_eq!(t.accepted_at, vec![2, 2, 1]);
}

#[test]
fn step_costs_add_field_by_field() {
    let mut a = StepCost { total_s: 1.0, compute_s: 0.75, comm_s: 0.25, flops: 10.0, bytes: 20.0, ..Default::default() };
    a.by_kind_s[0] = 0.75;
    let mut b = a;
    b.by_kind_s[1] = 0.5;
    a.add(&b);
    assert_eq!((a.total_s, a.compute_s, a.comm_s, a.flops, a.bytes), (2.0, 1.5, 0.5, 20.0, 40.0));
    assert_eq!((a.by_kind_s[0], a.by_kind_s[1]), (1.5, 0.5));
}
