//! JSON written by a 1.0 plugin or host still loads (docs/plugins.md, "The rules a 1.x release
//! keeps"). The fixtures are the 1.0 wire form of each type that crosses the boundary as JSON;
//! fields added since then take their defaults.

use reallm_plugin_api::{BatchShape, DType, DeviceSpec, ModelInfo, ParallelPlan};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn a_1_0_model_info_loads_with_the_new_fields_defaulted() {
    let m: ModelInfo = serde_json::from_str(&fixture("model_info_1_0.json")).unwrap();
    assert_eq!((m.name.as_str(), m.n_layers, m.kv_bytes_per_token), ("llama3-8b", 32, 131_072));
    assert_eq!(m.weight_dtype, DType::Bf16);
    // 1.1: attention windows default to "none", so the KV of a context is the 1.0 figure.
    assert_eq!((m.kv_window_tokens, m.kv_windowed_layers), (0, 0));
    assert_eq!(m.kv_bytes_for_context(1000), 131_072_000);
}

#[test]
fn a_1_0_batch_shape_loads_with_no_speculative_tokens() {
    let b: BatchShape = serde_json::from_str(&fixture("batch_shape_1_0.json")).unwrap();
    assert_eq!((b.decode_seqs, b.decode_ctx_sum, b.seed, b.prefills.len()), (3, 6000, 7, 1));
    assert_eq!(b.spec_tokens, 0);
}

#[test]
fn a_1_0_parallel_plan_and_device_load() {
    let p: ParallelPlan = serde_json::from_str(&fixture("parallel_plan_1_0.json")).unwrap();
    assert_eq!((p.devices, p.attention.tp, p.devices_per_node), (8, 8, 8));
    let d: DeviceSpec = serde_json::from_str(&fixture("device_spec_1_0.json")).unwrap();
    assert_eq!(d.core_count, 108);
    assert_eq!(d.interconnect.devices_per_node, 8);
    // And a device without a field a later minor added reads as its default.
    let mut v: serde_json::Value = serde_json::from_str(&fixture("device_spec_1_0.json")).unwrap();
    v.as_object_mut().unwrap().remove("fp4_multiplier");
    let d: DeviceSpec = serde_json::from_value(v).unwrap();
    assert_eq!(d.fp4_multiplier, 0.0);
}
