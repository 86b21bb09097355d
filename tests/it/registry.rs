//! Built-in plugins are registered (and not linked out).

use reallm_plugin_api::PluginKind;

#[test]
fn builtin_names_are_registered() {
    let all = reallm::registry::all();
    let has = |k: PluginKind, n: &str| all.iter().any(|r| r.kind == k && r.name == n);
    for n in ["roofline", "llmcompass"] {
        assert!(has(PluginKind::Backend, n), "backend {n}");
    }
    for n in ["llama", "deepseek"] {
        assert!(has(PluginKind::Model, n), "model {n}");
    }
    for n in ["tp", "pp", "cp", "ep", "dp"] {
        assert!(has(PluginKind::Parallelism, n), "parallelism {n}");
    }
    for n in ["continuous", "mixed", "chunked", "baseline", "no_batching", "upto_memory_limit"] {
        assert!(has(PluginKind::Batching, n), "batching {n}");
    }
    // The original tool's names resolve.
    assert_eq!(reallm::registry::find(PluginKind::Batching, "mixed-sarathi").unwrap().name, "chunked");
    assert_eq!(reallm::registry::find_model_preset("llama70b").unwrap().name, "llama");
    assert_eq!(reallm::registry::find_model_preset("deepseekv3").unwrap().name, "deepseek");
}
