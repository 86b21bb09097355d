//! The architecture's boundaries, checked: the core crate's dependencies are pure, and the
//! plugin API compiles its dynamic-loading layer only behind its `ffi` feature.

use crate::support::repo;

/// The `[dependencies]` names of a crate's manifest (not dev-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(manifest)).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                deps.push(name.trim().trim_end_matches(".workspace").to_string());
            }
        }
    }
    deps
}

/// The simulation core does no IO: its dependencies are the plugin API and small pure crates.
/// A YAML, CLI, file-format, terminal or plugin-loading crate here is a design error: such code
/// belongs in the host.
#[test]
fn the_core_depends_on_pure_crates_only() {
    const ALLOWED: [&str; 8] =
        ["reallm-plugin-api", "serde", "rand", "rand_chacha", "rand_distr", "thiserror", "rustc-hash", "sketches-ddsketch"];
    let deps = dependencies("sim/Cargo.toml");
    assert!(deps.contains(&"reallm-plugin-api".to_string()), "{deps:?}");
    for d in &deps {
        assert!(ALLOWED.contains(&d.as_str()), "sim/ depends on `{d}`: the core must stay free of IO, config and terminal crates");
    }
    // And the plugin API is used without its dynamic-loading layer.
    let text = std::fs::read_to_string(repo().join("sim/Cargo.toml")).unwrap();
    assert!(!text.contains("\"ffi\""), "the core must not enable the plugin API's ffi feature");
}

/// `abi_stable` is optional in the plugin API (feature `ffi`), so a static plugin does not
/// compile it.
#[test]
fn the_plugin_api_keeps_abi_stable_behind_a_feature() {
    let text = std::fs::read_to_string(repo().join("plugin-api/Cargo.toml")).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("abi_stable")).unwrap();
    assert!(line.contains("optional = true"), "{line}");
    assert!(text.contains("ffi = [\"dep:abi_stable\"]"));
    for plugin in ["plugins/llama", "plugins/deepseek", "plugins/roofline", "plugins/parallel", "plugins/batching"] {
        let t = std::fs::read_to_string(repo().join(plugin).join("Cargo.toml")).unwrap();
        assert!(!t.contains("features = [\"ffi\"]"), "{plugin} is a static plugin and needs no ffi layer");
    }
}
