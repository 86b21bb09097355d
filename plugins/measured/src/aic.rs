//! NVIDIA AIConfigurator's `systems/` layout and the tables this backend reads from it.
//!
//! Layout (AIConfigurator `aic-core/src/aiconfigurator_core/systems/`, and the subset shipped in
//! `plugins/measured/data/systems/`):
//!
//! ```text
//! <systems>/data/<system>/<family>/<framework>/<version>/<table>.parquet
//! ```
//!
//! with `family` one of `gemm`, `attention`, `comm` (and others not read here), `framework`
//! `trtllm`, `vllm`, `sglang` or (for `comm`) `nccl`. Units: `latency` in milliseconds;
//! collective `message_size` in elements of the table's data type.
//!
//! | table | key columns used | grid |
//! |---|---|---|
//! | `gemm_perf` | `gemm_dtype`, `m`, `n`, `k` | per dtype over (m, n, k) |
//! | `context_attention_perf` | `attn_dtype`, `kv_cache_dtype`, `num_heads`, `num_key_value_heads`, `head_dim`, `window_size` = 0, `batch_size`, `isl` | per head layout over (batch, isl) |
//! | `generation_attention_perf` | as above, context = `isl + step` | per head layout over (batch, context) |
//! | `nccl_perf` | `op_name`, `nccl_dtype` = half, `num_gpus`, `message_size` | per (op, GPUs) over bytes |
//! | `custom_allreduce_perf` | `allreduce_dtype` (16-bit), `num_gpus`, `message_size`; vLLM's `kernel_source` `*graph` rows (CUDA-graph replay) | per GPUs over bytes |

use crate::frame::{self, Frame};
use crate::grid::Grid;
use reallm_plugin_api::PluginError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the tables come from.
#[derive(Debug, Clone)]
pub enum Store {
    /// A directory in AIConfigurator's layout: `<dir>/data/<system>/...` (a `systems/` folder)
    /// or `<dir>/<system>/...`.
    Dir(PathBuf),
    /// The subset compiled into the binary ([`crate::embedded::FILES`]).
    Embedded,
}

impl Store {
    fn system_root(&self, system: &str) -> Option<PathBuf> {
        match self {
            Store::Dir(d) => {
                let a = d.join("data").join(system);
                if a.is_dir() {
                    return Some(a);
                }
                let b = d.join(system);
                b.is_dir().then_some(b)
            }
            Store::Embedded => None,
        }
    }

    /// Human-readable name of the store.
    pub fn describe(&self) -> String {
        match self {
            Store::Dir(d) => d.display().to_string(),
            Store::Embedded => "the shipped AIConfigurator subset (plugins/measured/data/systems)".into(),
        }
    }

    /// Systems present.
    pub fn systems(&self) -> Vec<String> {
        match self {
            Store::Dir(d) => {
                let base = if d.join("data").is_dir() { d.join("data") } else { d.clone() };
                let mut v: Vec<String> = std::fs::read_dir(base)
                    .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                v.sort();
                v
            }
            Store::Embedded => {
                let s: BTreeSet<String> =
                    crate::embedded::FILES.iter().filter_map(|(p, _)| p.split('/').nth(1).map(String::from)).collect();
                s.into_iter().collect()
            }
        }
    }

    /// Sub-folders (frameworks or versions) of `<system>/<rel>`.
    pub fn list(&self, system: &str, rel: &[&str]) -> Vec<String> {
        match self {
            Store::Dir(_) => {
                let Some(mut p) = self.system_root(system) else { return Vec::new() };
                for r in rel {
                    p = p.join(r);
                }
                let mut v: Vec<String> = std::fs::read_dir(p)
                    .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                v.sort();
                v
            }
            Store::Embedded => {
                let mut prefix = format!("data/{system}/");
                for r in rel {
                    prefix.push_str(r);
                    prefix.push('/');
                }
                let s: BTreeSet<String> = crate::embedded::FILES
                    .iter()
                    .filter_map(|(p, _)| p.strip_prefix(&prefix))
                    .filter_map(|rest| rest.split_once('/').map(|(first, _)| first.to_string()))
                    .collect();
                s.into_iter().collect()
            }
        }
    }

    /// Read `<system>/<family>/<framework>/<version>/<table>.parquet`, `None` when absent.
    pub fn read(&self, system: &str, family: &str, framework: &str, version: &str, table: &str) -> Result<Option<Frame>, PluginError> {
        match self {
            Store::Dir(_) => {
                let Some(root) = self.system_root(system) else { return Ok(None) };
                let p = root.join(family).join(framework).join(version).join(format!("{table}.parquet"));
                if !p.is_file() {
                    return Ok(None);
                }
                frame::read_path(&p).map(Some)
            }
            Store::Embedded => {
                let name = format!("data/{system}/{family}/{framework}/{version}/{table}.parquet");
                match crate::embedded::FILES.iter().find(|(p, _)| *p == name) {
                    Some((p, bytes)) => frame::read_bytes(bytes, &format!("(embedded) {p}")).map(Some),
                    None => Ok(None),
                }
            }
        }
    }
}

/// Order version strings: numeric dot-separated parts compare as numbers; a pre-release suffix
/// (`1.3.0rc20`) sorts before the release (`1.3.0`).
pub fn version_key(v: &str) -> Vec<(u64, u64, String)> {
    v.split('.')
        .map(|part| {
            let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
            let rest = &part[digits.len()..];
            let n = digits.parse::<u64>().unwrap_or(0);
            // Release (no suffix) after any pre-release of the same number.
            let (rel, tail) = if rest.is_empty() { (1, String::new()) } else { (0, rest.to_string()) };
            // Numeric pre-release counters (rc9 < rc20).
            let tail_digits: String = tail.chars().skip_while(|c| !c.is_ascii_digit()).collect();
            let tail_key = format!("{:>20}", tail_digits);
            (n, rel, format!("{}{}", tail.trim_end_matches(|c: char| c.is_ascii_digit()), tail_key))
        })
        .collect()
}

/// The newest of `versions` ([`version_key`] order).
pub fn newest(versions: &[String]) -> Option<String> {
    versions.iter().max_by(|a, b| version_key(a).cmp(&version_key(b))).cloned()
}

/// Whether row `i` has no null.
pub fn rows_ok(frame: &Frame, i: usize) -> bool {
    frame.valid.get(i).copied().unwrap_or(false)
}

fn u(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&x| x > 0)
}

/// Milliseconds to seconds, rejecting bad values.
fn secs(frame: &Frame, ms: f64, row: usize) -> Result<f64, PluginError> {
    if !(ms.is_finite() && ms > 0.0) {
        return Err(PluginError::invalid(format!(
            "{}: row {row}: latency = {ms}: expected a positive number of milliseconds",
            frame.origin
        )));
    }
    Ok(ms * 1e-3)
}

/// GEMM grids by AIConfigurator dtype name (`bfloat16`, `fp8`, `fp8_block`, `nvfp4`, ...).
#[derive(Debug, Clone, Default)]
pub struct GemmTables {
    pub by_dtype: BTreeMap<String, Grid<3>>,
}

impl GemmTables {
    pub fn from_frame(f: &Frame) -> Result<GemmTables, PluginError> {
        let (dt, m, n, k, lat) = (f.strs("gemm_dtype")?, f.ints("m")?, f.ints("n")?, f.ints("k")?, f.floats("latency")?);
        let mut pts: BTreeMap<String, Vec<([u64; 3], f64)>> = BTreeMap::new();
        for i in 0..f.rows {
            if !rows_ok(f, i) {
                continue;
            }
            let (Some(m), Some(n), Some(k)) = (u(m[i]), u(n[i]), u(k[i])) else { continue };
            pts.entry(dt[i].clone()).or_default().push(([m, n, k], secs(f, lat[i], i)?));
        }
        Ok(GemmTables { by_dtype: pts.into_iter().map(|(d, p)| (d, Grid::from_points(&p))).collect() })
    }
}

/// Head layout and data types of one attention table block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttnKey {
    pub attn_dtype: String,
    pub kv_dtype: String,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
}

/// Attention grids: prefill over (batch, isl), decode over (batch, context length).
#[derive(Debug, Clone, Default)]
pub struct AttnTables {
    pub by_key: BTreeMap<AttnKey, Grid<2>>,
}

impl AttnTables {
    /// `generation`: the second coordinate is `isl + step` (the context length of the step).
    pub fn from_frame(f: &Frame, generation: bool) -> Result<AttnTables, PluginError> {
        let (b, isl, h, kvh, hd) =
            (f.ints("batch_size")?, f.ints("isl")?, f.ints("num_heads")?, f.ints("num_key_value_heads")?, f.ints("head_dim")?);
        let (adt, kdt, lat) = (f.strs("attn_dtype")?, f.strs("kv_cache_dtype")?, f.floats("latency")?);
        let step = if f.has("step") { Some(f.ints("step")?) } else { None };
        let window = if f.has("window_size") { Some(f.ints("window_size")?) } else { None };
        let beam = if f.has("beam_width") { Some(f.ints("beam_width")?) } else { None };
        let mut pts: BTreeMap<AttnKey, Vec<([u64; 2], f64)>> = BTreeMap::new();
        for i in 0..f.rows {
            if !rows_ok(f, i) || window.is_some_and(|w| w[i] != 0) || beam.is_some_and(|w| w[i] > 1) {
                continue;
            }
            let s = if generation { isl[i] + step.map_or(0, |s| s[i]) } else { isl[i] };
            let (Some(b), Some(s), Some(h), Some(kvh), Some(hd)) = (u(b[i]), u(s), u(h[i]), u(kvh[i]), u(hd[i])) else { continue };
            let key = AttnKey { attn_dtype: adt[i].clone(), kv_dtype: kdt[i].clone(), heads: h, kv_heads: kvh, head_dim: hd };
            pts.entry(key).or_default().push(([b, s], secs(f, lat[i], i)?));
        }
        Ok(AttnTables { by_key: pts.into_iter().map(|(k, p)| (k, Grid::from_points(&p))).collect() })
    }
}

/// Collective curves over message bytes.
#[derive(Debug, Clone, Default)]
pub struct CommTables {
    /// NCCL by (op name as in the table: `all_reduce`, `all_gather`, `reduce_scatter`,
    /// `alltoall`; GPUs).
    pub nccl: BTreeMap<(String, u32), Grid<1>>,
    /// The framework's own all-reduce by GPUs.
    pub custom: BTreeMap<u32, Grid<1>>,
}

/// Points of one curve per key.
type CurvePoints<K> = BTreeMap<K, Vec<([u64; 1], f64)>>;

fn dtype_bytes(name: &str) -> Option<u64> {
    Some(match name {
        "half" | "float16" | "bfloat16" | "fp16" | "bf16" => 2,
        "int8" | "fp8" | "uint8" => 1,
        "float" | "float32" | "fp32" => 4,
        _ => return None,
    })
}

impl CommTables {
    /// Add the rows of an `nccl_perf` table (16-bit rows only: the int8 rows repeat the same
    /// byte sizes).
    pub fn add_nccl(&mut self, f: &Frame) -> Result<(), PluginError> {
        let (op, dt, gpus, size, lat) =
            (f.strs("op_name")?, f.strs("nccl_dtype")?, f.ints("num_gpus")?, f.ints("message_size")?, f.floats("latency")?);
        let mut pts: CurvePoints<(String, u32)> = BTreeMap::new();
        for i in 0..f.rows {
            if !rows_ok(f, i) || dtype_bytes(&dt[i]) != Some(2) {
                continue;
            }
            let (Some(p), Some(n)) = (u(gpus[i]), u(size[i])) else { continue };
            let p = u32::try_from(p).unwrap_or(u32::MAX);
            pts.entry((op[i].clone(), p)).or_default().push(([2 * n], secs(f, lat[i], i)?));
        }
        for (k, p) in pts {
            self.nccl.insert(k, Grid::from_points(&p));
        }
        Ok(())
    }

    /// Add the rows of a `custom_allreduce_perf` table. vLLM's table has eager and CUDA-graph
    /// rows (`kernel_source` ending in `graph` / `eager`); decode steps replay CUDA graphs, so
    /// the graph rows are used.
    pub fn add_custom(&mut self, f: &Frame) -> Result<(), PluginError> {
        let (dt, gpus, size, lat) = (f.strs("allreduce_dtype")?, f.ints("num_gpus")?, f.ints("message_size")?, f.floats("latency")?);
        let src = if f.has("kernel_source") { Some(f.strs("kernel_source")?) } else { None };
        let mut pts: CurvePoints<u32> = BTreeMap::new();
        for i in 0..f.rows {
            if !rows_ok(f, i) || src.is_some_and(|s| s[i].to_ascii_lowercase().ends_with("eager")) {
                continue;
            }
            let Some(eb) = dtype_bytes(&dt[i]) else { continue };
            let (Some(p), Some(n)) = (u(gpus[i]), u(size[i])) else { continue };
            let p = u32::try_from(p).unwrap_or(u32::MAX);
            pts.entry(p).or_default().push(([eb * n], secs(f, lat[i], i)?));
        }
        for (k, p) in pts {
            self.custom.insert(k, Grid::from_points(&p));
        }
        Ok(())
    }
}

/// The AIConfigurator system name for a device name (`NVIDIA H100-SXM5-80GB` → `h100_sxm`).
pub fn system_for_device(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_uppercase();
    Some(if n.contains("GB200") {
        "gb200"
    } else if n.contains("B200") {
        "b200_sxm"
    } else if n.contains("H200") {
        "h200_sxm"
    } else if n.contains("H100") {
        "h100_sxm"
    } else if n.contains("A100") {
        "a100_sxm"
    } else {
        return None;
    })
}

/// Resolve a directory given by the user: relative paths are taken from the working directory.
pub fn check_dir(p: &Path) -> Result<Store, PluginError> {
    if !p.is_dir() {
        return Err(PluginError::Params {
            plugin: crate::NAME.into(),
            message: format!("data_dir `{}` is not a directory (expected an AIConfigurator `systems/` folder)", p.display()),
        });
    }
    Ok(Store::Dir(p.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order() {
        let v: Vec<String> = ["1.0.0", "1.3.0rc20", "1.3.0rc9", "0.24.0", "1.2.10"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&v).as_deref(), Some("1.3.0rc20"));
        let v: Vec<String> = ["1.3.0rc20", "1.3.0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&v).as_deref(), Some("1.3.0"));
        let v: Vec<String> = ["2.27.3", "2.29.2", "2.3.0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(newest(&v).as_deref(), Some("2.29.2"));
    }

    #[test]
    fn system_names() {
        assert_eq!(system_for_device("NVIDIA H100-SXM5-80GB"), Some("h100_sxm"));
        assert_eq!(system_for_device("NVIDIA H200-SXM-141GB"), Some("h200_sxm"));
        assert_eq!(system_for_device("NVIDIA B200-SXM-180GB"), Some("b200_sxm"));
        assert_eq!(system_for_device("NVIDIA GB200-NVL72"), Some("gb200"));
        assert_eq!(system_for_device("NVIDIA A100-SXM4-80GB"), Some("a100_sxm"));
        assert_eq!(system_for_device("toy"), None);
    }
}
