//! The one place that names the YAML crate (serde_norway, a maintained serde_yaml fork).

use crate::error::{Error, Result};

/// Parse YAML text into a JSON value tree (configs are handled as JSON values so that
/// overrides, form detection and error paths work the same for YAML and JSON files).
pub fn parse(text: &str, origin: &str) -> Result<serde_json::Value> {
    let v: serde_json::Value = serde_norway::from_str(text).map_err(|e| {
        let loc = e.location().map(|l| format!(" at line {}, column {}", l.line(), l.column())).unwrap_or_default();
        Error::config(origin, format!("YAML syntax error{loc}: {e}"))
    })?;
    Ok(if v.is_null() { serde_json::Value::Object(Default::default()) } else { v })
}

/// Parse one scalar or flow value given on the command line (`--set a.b=VALUE`).
pub fn parse_value(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Render a JSON value tree as YAML (for `config current` and `plugins describe`).
pub fn to_string(v: &serde_json::Value) -> String {
    serde_norway::to_string(v).unwrap_or_else(|_| v.to_string())
}
