//! Loading: text → YAML tree → `--set` overrides → form detection → typed file → [`Experiment`].

use super::native::from_product;
use super::original::from_original;
use super::schema::*;
use super::*;
use crate::error::{Error, Result};
use std::path::Path;

/// Load a config file (or the embedded default when `path` is `None`) and apply overrides
/// (`key.path=value`).
pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Experiment> {
    let (text, origin, base_dir) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let base = p.parent().map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d.to_path_buf() });
            (text, p.display().to_string(), base)
        }
        None => (DEFAULT_CONFIG.to_string(), "built-in default".to_string(), None),
    };
    load_str(&text, &origin, base_dir, overrides)
}

/// Load from text; `origin` names the source in errors.
pub fn load_str(text: &str, origin: &str, base_dir: Option<PathBuf>, overrides: &[String]) -> Result<Experiment> {
    let mut tree = yaml::parse(text, origin)?;
    if !tree.is_object() {
        return Err(Error::config(origin, "expected a mapping of keys at the top level"));
    }
    for o in overrides {
        apply_override(&mut tree, o).map_err(|m| Error::Usage(format!("--set {m}")))?;
    }
    let is_original = tree.as_object().map(|m| m.keys().any(|k| ORIGINAL_KEYS.contains(&k.as_str()))).unwrap_or(false)
        || tree.pointer("/system/batching_algo").is_some()
        || tree.pointer("/system/attention_parallelism").is_some();
    let exp = if is_original {
        if tree.get("engine").is_some() {
            return Err(Error::config(
                origin,
                "key `engine`: engine profiles apply to ReaLLM's own config form, not the original tool's layout",
            ));
        }
        let f: OriginalFile = deserialize(tree, origin)?;
        from_original(f, origin, base_dir)?
    } else {
        let engine = crate::engines::apply(&mut tree, origin, base_dir.as_deref())?;
        let f: ProductFile = deserialize(tree, origin)?;
        let mut e = from_product(f, origin, base_dir)?;
        e.engine = engine;
        e
    };
    validate(&exp)?;
    Ok(exp)
}

pub(super) fn deserialize<T: serde::de::DeserializeOwned>(tree: Value, origin: &str) -> Result<T> {
    serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let hint = did_you_mean(&msg).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
        let at = if path == "." { "top level".to_string() } else { format!("key `{path}`") };
        Error::config(origin, format!("{at}: {msg}{hint}"))
    })
}

/// From serde's "unknown field `x`, expected one of `a`, `b`" pick the closest expected name.
fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (bad, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    expected
        .into_iter()
        .map(|e| (strsim::levenshtein(bad, e), e))
        .filter(|(d, e)| *d <= 3.max(e.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e.to_string())
}

/// Set `a.b.c` to a YAML-parsed value, creating maps on the way.
pub fn apply_override(tree: &mut Value, spec: &str) -> std::result::Result<(), String> {
    let (key, value) = spec.split_once('=').ok_or_else(|| format!("override `{spec}`: expected KEY.PATH=VALUE"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.is_empty()) {
        return Err(format!("override `{spec}`: empty key segment"));
    }
    let mut cur = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let obj = match cur {
            Value::Object(m) => m,
            other => {
                *other = Value::Object(Default::default());
                other.as_object_mut().expect("just set")
            }
        };
        if i + 1 == parts.len() {
            obj.insert(part.to_string(), yaml::parse_value(value));
            return Ok(());
        }
        cur = obj.entry(part.to_string()).or_insert_with(|| Value::Object(Default::default()));
    }
    Ok(())
}

/// A `--plugin KIND=NAME` selection: an override like `--set`, applied to the resolved
/// experiment in every place the kind appears (the backend; the batch policy of every pool; the
/// model family).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginOverride {
    pub kind: reallm_plugin_api::PluginKind,
    pub name: String,
}

impl PluginOverride {
    /// Parse `KIND=NAME`. Parallelism is not selectable: the passes follow from the plan's
    /// degrees (tp, pp, cp, ep, dp), see docs/plugins.md.
    pub fn parse(spec: &str) -> std::result::Result<PluginOverride, String> {
        use reallm_plugin_api::PluginKind;
        let (kind, name) = spec.split_once('=').ok_or_else(|| format!("--plugin `{spec}`: expected KIND=NAME, e.g. backend=llmcompass"))?;
        let kind = PluginKind::parse(kind.trim())
            .ok_or_else(|| format!("--plugin `{spec}`: unknown kind `{kind}`; expected backend, model, parallelism or batching"))?;
        if kind == PluginKind::Parallelism {
            return Err("--plugin parallelism=NAME: parallelism plugins are chosen by the plan's degrees (tp, pp, cp, ep, dp)".into());
        }
        Ok(PluginOverride { kind, name: name.trim().to_string() })
    }
}

/// Apply plugin selections to every pool they concern.
pub fn apply_plugin_overrides(exp: &mut Experiment, overrides: &[PluginOverride]) {
    use reallm_plugin_api::PluginKind;
    for o in overrides {
        let sel = PluginSel { name: o.name.clone(), params: serde_json::Value::Null };
        match o.kind {
            PluginKind::Backend => exp.backend = sel,
            PluginKind::Batching => {
                exp.pool.batching = sel.clone();
                if let Some(d) = &mut exp.decode_pool {
                    d.batching = sel;
                }
            }
            PluginKind::Model => exp.model.plugin = Some(o.name.clone()),
            PluginKind::Parallelism => {}
        }
    }
}
