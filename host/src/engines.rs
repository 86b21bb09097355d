//! Serving-engine profiles (`engine: vllm | sglang | trtllm`): data files
//! (`configs/engines/*.yaml`, embedded) whose values fill the keys a native config leaves out.
//! The config always wins; the profile never branches the engine loop. docs/engines.md lists
//! every default with its source.
//!
//! A profile file has: `pool:` (defaults for `system`, or for each pool of `disaggregated`),
//! `sim:` (defaults for `sim`), `backend_params:` (parameters given to the backend when it
//! accepts them, e.g. the all-reduce implementation), `tiers:` (defaults that depend on the
//! pool's device and tensor-parallel degree, as the engines choose them at start-up; a matching
//! tier wins over the base, an earlier tier over a later one) and `estimates:` (the inputs of
//! the `auto` memory values: activations, framework memory).

use crate::config::schema::OneOrMany;
use crate::config::yaml;
use crate::devices;
use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The shipped profiles: name and YAML text.
pub const PROFILES: [(&str, &str); 3] = [
    ("vllm", include_str!("../../configs/engines/vllm.yaml")),
    ("sglang", include_str!("../../configs/engines/sglang.yaml")),
    ("trtllm", include_str!("../../configs/engines/trtllm.yaml")),
];

const MIB: f64 = (1u64 << 20) as f64;

/// Activation memory estimate: AIConfigurator's `_get_memory_usage` (aiconfigurator-core
/// 0.12.0, `sdk/backends/base_backend.py`): `2 · tokens · (heads · head_dim) · c(tp)` bytes,
/// at least `min_mib`, times `1 + overhead_fraction`, with `tokens` the pool's
/// `max_batch_tokens` (the engine's profiling batch) and `c` looked up at the largest listed
/// TP degree not above the pool's (TP capped at 8).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationEstimate {
    pub coefficients_by_tp: BTreeMap<u32, f64>,
    pub min_mib: f64,
    pub overhead_fraction: f64,
}

/// Framework memory estimate (AIConfigurator 0.12.0, `systems/h100_sxm.yaml` `misc` and the
/// backends' `OTHERS_OVERHEAD_FRAC`): NCCL buffers by TP degree plus runtime memory (CUDA
/// context, allocator, graphs) times `1 + overhead_fraction`, in MiB.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkEstimate {
    pub nccl_mib_by_tp: BTreeMap<u32, f64>,
    pub other_mib: f64,
    pub overhead_fraction: f64,
}

/// The `estimates:` section of a profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimates {
    pub activation: ActivationEstimate,
    pub framework: FrameworkEstimate,
}

/// When a tier applies: every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct When {
    memory_gib_at_least: Option<f64>,
    memory_gib_below: Option<f64>,
    tp_at_least: Option<u32>,
    tp_below: Option<u32>,
    /// Case-insensitive substring of the device's name or preset key.
    name_contains: Option<OneOrMany>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tier {
    when: When,
    #[serde(default)]
    pool: Value,
    #[serde(default)]
    sim: Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    describes: String,
    estimates: Estimates,
    #[serde(default)]
    pool: Value,
    #[serde(default)]
    sim: Value,
    #[serde(default)]
    backend_params: Value,
    #[serde(default)]
    tiers: Vec<Tier>,
}

/// An applied profile: what the rest of the host still needs from it.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineProfile {
    /// `vllm`, `sglang` or `trtllm`.
    pub name: String,
    /// The engine and version it describes.
    pub describes: String,
    /// Inputs of the `auto` memory values.
    pub estimates: Estimates,
    /// Backend parameters to pass when the backend accepts them (the config's win).
    pub backend_params: Value,
}

fn parse_profile(name: &str, text: &str) -> Result<ProfileFile> {
    let origin = format!("built-in engine profile {name}");
    let tree = yaml::parse(text, &origin)?;
    serde_json::from_value(tree).map_err(|e| Error::Internal(format!("{origin}: {e}")))
}

/// The names of the shipped profiles.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

/// Fill `dst` with the keys of `src` it lacks, recursively through mappings; values present
/// in `dst` are kept.
pub fn merge_defaults(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (d @ Value::Null, s) => *d = s.clone(),
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(x) => merge_defaults(x, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => {}
    }
}

/// What a tier condition looks at, for one pool.
struct PoolFacts {
    memory_gib: f64,
    tp: u32,
    names: String,
}

fn pool_facts(pool: &Value, key: &str, origin: &str, base_dir: Option<&Path>) -> Result<Option<PoolFacts>> {
    let Some(dev) = pool.get("device").and_then(Value::as_str) else { return Ok(None) };
    let device = devices::resolve(dev, base_dir)?;
    let n = pool.get("num_devices").and_then(Value::as_u64).unwrap_or(1) as u32;
    let tp = match pool.pointer("/parallelism/attention") {
        None | Some(Value::Null) => n.max(1),
        Some(Value::String(s)) => {
            reallm_plugin_api::Degrees::parse(s).map_err(|m| Error::config(origin, format!("key `{key}.parallelism.attention`: {m}")))?.tp
        }
        Some(v) => {
            serde_json::from_value::<reallm_plugin_api::Degrees>(v.clone())
                .map_err(|m| Error::config(origin, format!("key `{key}.parallelism.attention`: {m}")))?
                .tp
        }
    };
    Ok(Some(PoolFacts {
        memory_gib: device.spec.mem_capacity_bytes as f64 / (1u64 << 30) as f64,
        tp,
        names: format!("{} {}", device.key, device.spec.name).to_ascii_lowercase(),
    }))
}

fn matches(w: &When, f: &PoolFacts) -> bool {
    w.memory_gib_at_least.is_none_or(|x| f.memory_gib >= x)
        && w.memory_gib_below.is_none_or(|x| f.memory_gib < x)
        && w.tp_at_least.is_none_or(|x| f.tp >= x)
        && w.tp_below.is_none_or(|x| f.tp < x)
        && w.name_contains.as_ref().is_none_or(|n| n.clone().into_vec().iter().any(|s| f.names.contains(&s.to_ascii_lowercase())))
}

/// Apply the profile a native config tree names (`engine:`), if any: fill its pools' and its
/// `sim` section's missing keys from the profile (matching tiers first). Returns the profile.
pub fn apply(tree: &mut Value, origin: &str, base_dir: Option<&Path>) -> Result<Option<EngineProfile>> {
    let name = match tree.get("engine") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(v) => return Err(Error::config(origin, format!("key `engine`: invalid value {v}; expected one of {}", names().join(", ")))),
    };
    let text =
        PROFILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            Error::config(origin, format!("key `engine`: unknown engine `{name}`; expected one of {}", names().join(", ")))
        })?;
    let p = parse_profile(&name, text)?;
    let pool_keys: Vec<&str> = if tree.get("disaggregated").is_some_and(|d| !d.is_null()) {
        vec!["disaggregated.prefill", "disaggregated.decode"]
    } else {
        vec!["system"]
    };
    let mut first_facts = None;
    for key in pool_keys {
        let ptr = format!("/{}", key.replace('.', "/"));
        let Some(pool) = tree.pointer_mut(&ptr) else { continue };
        if !pool.is_object() {
            continue;
        }
        let facts = pool_facts(pool, key, origin, base_dir)?;
        if let Some(f) = &facts {
            for t in p.tiers.iter().filter(|t| matches(&t.when, f)) {
                merge_defaults(pool, &t.pool);
            }
        }
        if key == "disaggregated.decode" {
            // Prefix caching applies where prompts are prefilled: a decode pool receives
            // prefilled KV, so the profile leaves its cache off (validation refuses it on).
            let mut defaults = p.pool.clone();
            if let Some(m) = defaults.get_mut("memory").and_then(Value::as_object_mut) {
                m.remove("prefix_cache");
            }
            merge_defaults(pool, &defaults);
        } else {
            merge_defaults(pool, &p.pool);
        }
        if first_facts.is_none() {
            first_facts = facts;
        }
    }
    let obj = tree.as_object_mut().expect("checked by the loader");
    let sim = obj.entry("sim").or_insert(Value::Null);
    if let Some(f) = &first_facts {
        for t in p.tiers.iter().filter(|t| matches(&t.when, f)) {
            merge_defaults(sim, &t.sim);
        }
    }
    merge_defaults(sim, &p.sim);
    Ok(Some(EngineProfile { name: p.name, describes: p.describes, estimates: p.estimates, backend_params: p.backend_params }))
}

fn by_tp(table: &BTreeMap<u32, f64>, tp: u32) -> f64 {
    let tp = tp.clamp(1, 8);
    table.range(..=tp).next_back().or_else(|| table.iter().next()).map(|(_, v)| *v).unwrap_or(0.0)
}

/// Activation memory per device, bytes ([`ActivationEstimate`]).
pub fn activation_bytes(e: &ActivationEstimate, tokens: u64, attention_width: u64, tp: u32) -> u64 {
    let raw = 2.0 * tokens as f64 * attention_width as f64 * by_tp(&e.coefficients_by_tp, tp);
    (raw.max(e.min_mib * MIB) * (1.0 + e.overhead_fraction)) as u64
}

/// Framework memory per device, bytes ([`FrameworkEstimate`]).
pub fn framework_bytes(f: &FrameworkEstimate, tp: u32) -> u64 {
    ((by_tp(&f.nccl_mib_by_tp, tp) + f.other_mib * (1.0 + f.overhead_fraction)) * MIB) as u64
}

/// SGLang's default `mem_fraction_static` (`ServerArgs._handle_gpu_memory_settings`, SGLang
/// 0.5.x; mirrored in AIConfigurator 0.12.0 `derive_sglang_mem_fraction_static`): with `M` the
/// device memory in MiB, `reserved = 512 + 1.5·max(chunk, 2048) + 2·cuda_graph_max_bs +
/// 1024·tp·pp/8` MiB, at least 10,240 MiB when `M` > 60 GiB, and
/// `f = round((M − reserved)/M, 3)`.
pub fn sglang_mem_fraction(capacity_bytes: u64, chunk_tokens: u32, cuda_graph_max_bs: u32, tp: u32, pp: u32) -> f64 {
    let m = capacity_bytes as f64 / MIB;
    let mut reserved = 512.0 + 1.5 * chunk_tokens.max(2048) as f64 + 2.0 * cuda_graph_max_bs as f64 + 1024.0 * (tp * pp) as f64 / 8.0;
    if m > 60.0 * 1024.0 {
        reserved = reserved.max(10_240.0);
    }
    ((m - reserved) / m * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_parse() {
        for (name, text) in PROFILES {
            let p = parse_profile(name, text).unwrap();
            assert_eq!(p.name, name);
            assert!(p.pool.get("memory").is_some() && p.pool.get("batching").is_some(), "{name}");
        }
    }

    #[test]
    fn merge_keeps_what_is_there() {
        let mut a = serde_json::json!({"x": 1, "m": {"y": 2}});
        merge_defaults(&mut a, &serde_json::json!({"x": 9, "z": 3, "m": {"y": 8, "w": 4}}));
        assert_eq!(a, serde_json::json!({"x": 1, "z": 3, "m": {"y": 2, "w": 4}}));
    }

    #[test]
    fn estimates_by_hand() {
        let e = ActivationEstimate {
            coefficients_by_tp: [(1, 11.0), (2, 6.5), (4, 5.0), (8, 5.0)].into(),
            min_mib: 70.0,
            overhead_fraction: 0.0,
        };
        // Llama-3-70B (64 heads × 128), 8192 tokens, TP2: 2 · 8192 · 8192 · 6.5 = 872,415,232.
        assert_eq!(activation_bytes(&e, 8192, 8192, 2), 872_415_232);
        // TP3 uses TP2's coefficient; TP16 uses TP8's; a tiny batch takes the 70 MiB floor.
        assert_eq!(activation_bytes(&e, 8192, 8192, 3), 872_415_232);
        assert_eq!(activation_bytes(&e, 1, 8192, 16), 70 << 20);
        let f = FrameworkEstimate { nccl_mib_by_tp: [(1, 0.0), (2, 342.0)].into(), other_mib: 551.0, overhead_fraction: 0.2 };
        // 342 + 551 · 1.2 = 1003.2 MiB.
        assert_eq!(framework_bytes(&f, 2), (1003.2 * MIB) as u64);
        // H100 (81,920 MiB), chunk 8192, graphs to 256, TP2: reserved 512 + 12,288 + 512 + 256
        // = 13,568 MiB → (81,920 − 13,568)/81,920 = 0.834375 → 0.834.
        assert_eq!(sglang_mem_fraction(80 << 30, 8192, 256, 2, 1), 0.834);
        // A 24 GiB part: reserved 512 + 3072 + 48 + 128 = 3760 (no 10 GiB floor) → 0.847.
        assert_eq!(sglang_mem_fraction(24 << 30, 2048, 24, 1, 1), 0.847);
    }
}
