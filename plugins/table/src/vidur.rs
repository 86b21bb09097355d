//! The one reader of Vidur's `mlp.csv` profiles (`host/data/calibration/NOTICE.md`), shared by
//! the `table` backend, `reallm validate` and the roofline's Vidur fit
//! (`plugins/roofline/examples/fit.rs`).
//!
//! A profile row is one (model, `num_tokens` T, `num_tensor_parallel_workers` t) with the median
//! time of each operator in milliseconds (`time_stats.<op>.median`). [`read_profile`] returns the
//! rows with the model's dimensions and the medians in seconds; [`op_kernel`] maps an operator
//! to the kernel it measures (fp16; h = n_embd, I = n_expanded_embd, d = h / n_head):
//!
//! | operator | kernel |
//! |---|---|
//! | `attn_pre_proj` | Gemm [T, h] × [h, (H + 2·KV)·d / t] |
//! | `attn_post_proj` | Gemm [T, H·d / t] × [H·d / t, h] |
//! | `mlp_up_proj` | Gemm [T, h] × [h, 2·I / t] (gated MLP; [h, I / t] otherwise) |
//! | `mlp_down_proj` | Gemm [T, I / t] × [I / t, h] |
//! | `input_layernorm`, `post_attention_layernorm` | LayerNorm [T, h] |
//! | `mlp_act` | fused SiLU-and-multiply: the traffic of Mul [T, I / t] (reads 2·I/t, writes I/t); GeLU [T, I / t] without gating |
//! | `attn_rope` | Rope [T, (H + KV)·d / t] |
//! | `add` | Add [T, h] |

use reallm_plugin_api::{DType, Kernel, PluginError};
use std::path::{Path, PathBuf};

/// Operators of a profile this reader keeps, in layer order.
pub const OPS: [&str; 9] = [
    "input_layernorm",
    "attn_pre_proj",
    "attn_rope",
    "attn_post_proj",
    "post_attention_layernorm",
    "mlp_up_proj",
    "mlp_act",
    "mlp_down_proj",
    "add",
];

/// One profile row.
#[derive(Debug, Clone, PartialEq)]
pub struct VidurRow {
    /// The profile's folder name (the model).
    pub model: String,
    /// 1-based line in the file.
    pub line: usize,
    pub tokens: u64,
    pub tp: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub hidden: u64,
    pub inter: u64,
    pub gated: bool,
    /// (operator of [`OPS`], median seconds) for the operators present with a positive time.
    pub medians_s: Vec<(&'static str, f64)>,
}

impl VidurRow {
    /// The median of `op`, seconds.
    pub fn median_s(&self, op: &str) -> Option<f64> {
        self.medians_s.iter().find(|(o, _)| *o == op).map(|(_, t)| *t)
    }

    /// The kernel `op` measures on this row (see [`op_kernel`]).
    pub fn kernel(&self, op: &str) -> Option<Kernel> {
        op_kernel(op, self.tokens, self.tp, self.heads, self.kv_heads, self.hidden, self.inter, self.gated)
    }
}

/// The kernel a Vidur operator measures for `t` tokens on one of `tp` GPUs (module table).
#[allow(clippy::too_many_arguments)]
pub fn op_kernel(op: &str, t: u64, tp: u64, heads: u64, kv_heads: u64, h: u64, inter: u64, gated: bool) -> Option<Kernel> {
    let f = DType::F16;
    let d = h / heads.max(1);
    let tp = tp.max(1);
    Some(match op {
        "attn_pre_proj" => Kernel::matmul(t, h, (heads + 2 * kv_heads) * d / tp, f),
        "attn_post_proj" => Kernel::matmul(t, heads * d / tp, h, f),
        "mlp_up_proj" => Kernel::matmul(t, h, if gated { 2 } else { 1 } * inter / tp, f),
        "mlp_down_proj" => Kernel::matmul(t, inter / tp, h, f),
        "input_layernorm" | "post_attention_layernorm" => Kernel::LayerNorm { m: t, n: h, dtype: f },
        "mlp_act" if gated => Kernel::Mul { m: t, n: inter / tp, dtype: f },
        "mlp_act" => Kernel::Gelu { m: t, n: inter / tp, dtype: f },
        "attn_rope" => Kernel::Rope { m: t, n: (heads + kv_heads) * d / tp, dtype: f },
        "add" => Kernel::Add { m: t, n: h, dtype: f },
        _ => return None,
    })
}

fn err_at(path: &Path, line: usize, msg: impl std::fmt::Display) -> PluginError {
    PluginError::invalid(format!("{}:{line}: {msg}", path.display()))
}

/// Read one `mlp.csv`: every row, medians in seconds. Errors name the file, line and column.
pub fn read_profile(path: &Path) -> Result<Vec<VidurRow>, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|e| PluginError::invalid(format!("{}: {e}", path.display())))?;
    let model = path.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.split(',').map(str::trim).collect(),
        None => return Err(err_at(path, 1, "empty file: expected a Vidur profile header")),
    };
    let col = |name: &str| header.iter().position(|h| *h == name);
    let need = |name: &str| col(name).ok_or_else(|| err_at(path, 1, format!("no `{name}` column: not a Vidur mlp.csv profile")));
    let (c_h, c_kv, c_e, c_i, c_t, c_tp) = (
        need("n_head")?,
        need("n_kv_head")?,
        need("n_embd")?,
        need("n_expanded_embd")?,
        need("num_tokens")?,
        need("num_tensor_parallel_workers")?,
    );
    let c_gated = col("use_gated_mlp");
    let op_cols: Vec<(&'static str, usize)> =
        OPS.iter().filter_map(|op| col(&format!("time_stats.{op}.median")).map(|c| (*op, c))).collect();
    let mut out = Vec::new();
    for (i, line) in lines {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != header.len() {
            return Err(err_at(path, line_no, format!("{} fields: expected {} as in the header", f.len(), header.len())));
        }
        let int = |c: usize| {
            f[c].parse::<u64>().map_err(|_| err_at(path, line_no, format!("{} = `{}`: expected a whole number", header[c], f[c])))
        };
        let (heads, kv_heads, hidden, inter, tokens, tp) = (int(c_h)?, int(c_kv)?, int(c_e)?, int(c_i)?, int(c_t)?, int(c_tp)?);
        if heads == 0 || hidden % heads != 0 {
            return Err(err_at(path, line_no, format!("n_embd {hidden} is not a multiple of n_head {heads}")));
        }
        let gated = c_gated.is_none_or(|c| f[c].eq_ignore_ascii_case("true") || f[c] == "1");
        let mut medians_s = Vec::with_capacity(op_cols.len());
        for &(op, c) in &op_cols {
            if f[c].is_empty() {
                continue;
            }
            let ms: f64 = f[c].parse().map_err(|_| err_at(path, line_no, format!("{} = `{}`: expected milliseconds", header[c], f[c])))?;
            if !(ms.is_finite() && ms >= 0.0) {
                return Err(err_at(path, line_no, format!("{} = {ms}: expected a non-negative time", header[c])));
            }
            if ms > 0.0 {
                medians_s.push((op, ms * 1e-3));
            }
        }
        out.push(VidurRow { model: model.clone(), line: line_no, tokens, tp, heads, kv_heads, hidden, inter, gated, medians_s });
    }
    Ok(out)
}

/// Every `mlp.csv` under `dir`, sorted.
pub fn find_profiles(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n == "mlp.csv") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out
}
