//! Regenerate the AIConfigurator subset shipped in `plugins/measured/data/systems/` from the
//! full AIConfigurator `systems/` folder.
//!
//! ```text
//! cargo run --release -p reallm-measured --example subset -- \
//!     ../shared/data/calibration/aiconfigurator plugins/measured/data/systems plugins/measured/src/embedded.rs
//! ```
//!
//! The third argument (optional) is the Rust file listing the written tables for
//! `include_bytes!` (the backend's default data).
//!
//! What is kept (the same layout, so the backend reads it as it reads the full data):
//!
//! * families `gemm`, `attention` and `comm` of every system, framework and version present
//!   (MoE, MLA and the rest are not read by the backend);
//! * `gemm_perf`: columns `gemm_dtype, m, n, k, latency`, every row;
//! * `context_attention_perf`, `generation_attention_perf`: rows with `head_dim` = 128,
//!   `window_size` = 0 and `beam_width` = 1 (the shipped models' attention); columns
//!   `attn_dtype, kv_cache_dtype, num_heads, num_key_value_heads, head_dim, batch_size, isl,
//!   step, latency`;
//! * `nccl_perf`: the 16-bit (`half`) rows; columns `op_name, nccl_dtype, num_gpus, message_size,
//!   latency`;
//! * `custom_allreduce_perf`: every row; columns `allreduce_dtype, num_gpus, message_size,
//!   kernel_source, latency`;
//! * `latency` rounded to 4 significant digits (0.05 %, below the run-to-run noise of the
//!   measurements) and stored as 32-bit floats; rows sorted by their key columns; ZSTD level 19.
//!
//! The system YAML files and the licence are copied unchanged.

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use reallm_measured::frame::{read_path, Column, Frame};
use std::path::{Path, PathBuf};
use std::sync::Arc;

enum Out {
    Str(Vec<String>),
    Int(Vec<i64>),
    F32(Vec<f32>),
}

fn round_sig(x: f64, digits: i32) -> f32 {
    if x == 0.0 || !x.is_finite() {
        return x as f32;
    }
    let e = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - e);
    ((x * scale).round() / scale) as f32
}

/// Keep `rows` (in order) of the named columns; the latency column is rounded.
fn select(f: &Frame, cols: &[&str], rows: &[usize]) -> Vec<(String, Out)> {
    cols.iter()
        .filter(|c| f.has(c))
        .map(|c| {
            let i = f.names.iter().position(|n| n == c).unwrap_or(0);
            let out = match &f.columns[i] {
                Column::Int(v) => Out::Int(rows.iter().map(|&r| v[r]).collect()),
                Column::Float(v) if *c == "latency" => Out::F32(rows.iter().map(|&r| round_sig(v[r], 4)).collect()),
                Column::Float(v) => Out::F32(rows.iter().map(|&r| v[r] as f32).collect()),
                Column::Str(v) => Out::Str(rows.iter().map(|&r| v[r].clone()).collect()),
                Column::Other => panic!("{}: column {c} has a type the subset does not keep", f.origin),
            };
            (c.to_string(), out)
        })
        .collect()
}

fn write(path: &Path, cols: &[(String, Out)]) {
    let fields: Vec<String> = cols
        .iter()
        .map(|(n, c)| match c {
            Out::Str(_) => format!("REQUIRED BYTE_ARRAY {n} (UTF8);"),
            Out::Int(_) => format!("REQUIRED INT64 {n};"),
            Out::F32(_) => format!("REQUIRED FLOAT {n};"),
        })
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message schema {{ {} }}", fields.join(" "))).expect("schema"));
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(19).expect("level")))
            .set_created_by("reallm-measured subset example".into())
            .build(),
    );
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut w = SerializedFileWriter::new(file, schema, props).expect("writer");
    let mut rg = w.next_row_group().expect("row group");
    let mut i = 0;
    while let Some(mut col) = rg.next_column().expect("column") {
        match &cols[i].1 {
            Out::Str(v) => {
                let b: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                col.typed::<ByteArrayType>().write_batch(&b, None, None).expect("write");
            }
            Out::Int(v) => {
                col.typed::<Int64Type>().write_batch(v, None, None).expect("write");
            }
            Out::F32(v) => {
                col.typed::<FloatType>().write_batch(v, None, None).expect("write");
            }
        }
        col.close().expect("close column");
        i += 1;
    }
    rg.close().expect("close row group");
    w.close().expect("close file");
}

/// Row order by the given key columns (strings and integers), stable.
fn sort_rows(f: &Frame, keys: &[&str], mut rows: Vec<usize>) -> Vec<usize> {
    let key_cols: Vec<&Column> =
        keys.iter().filter(|k| f.has(k)).map(|k| &f.columns[f.names.iter().position(|n| n == k).unwrap_or(0)]).collect();
    rows.sort_by(|&a, &b| {
        for c in &key_cols {
            let o = match c {
                Column::Int(v) => v[a].cmp(&v[b]),
                Column::Str(v) => v[a].cmp(&v[b]),
                Column::Float(v) => v[a].total_cmp(&v[b]),
                Column::Other => std::cmp::Ordering::Equal,
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    rows
}

fn ints<'a>(f: &'a Frame, c: &str) -> Option<&'a [i64]> {
    f.ints(c).ok()
}

fn subset_table(table: &str, f: &Frame) -> Option<Vec<(String, Out)>> {
    let all: Vec<usize> = (0..f.rows).filter(|&i| f.valid[i]).collect();
    match table {
        "gemm_perf" => {
            let keys = ["gemm_dtype", "m", "n", "k"];
            let rows = sort_rows(f, &keys, all);
            Some(select(f, &["gemm_dtype", "m", "n", "k", "latency"], &rows))
        }
        "context_attention_perf" | "generation_attention_perf" => {
            let (hd, win, beam) = (ints(f, "head_dim")?, ints(f, "window_size"), ints(f, "beam_width"));
            let rows: Vec<usize> =
                all.into_iter().filter(|&i| hd[i] == 128 && win.is_none_or(|w| w[i] == 0) && beam.is_none_or(|b| b[i] == 1)).collect();
            let keys = ["attn_dtype", "kv_cache_dtype", "num_heads", "num_key_value_heads", "head_dim", "batch_size", "isl", "step"];
            let rows = sort_rows(f, &keys, rows);
            let mut cols = keys.to_vec();
            cols.push("latency");
            Some(select(f, &cols, &rows))
        }
        "nccl_perf" => {
            let dt = f.strs("nccl_dtype").ok()?;
            let rows: Vec<usize> = all.into_iter().filter(|&i| dt[i] == "half").collect();
            let keys = ["op_name", "nccl_dtype", "num_gpus", "message_size"];
            let rows = sort_rows(f, &keys, rows);
            Some(select(f, &["op_name", "nccl_dtype", "num_gpus", "message_size", "latency"], &rows))
        }
        "custom_allreduce_perf" => {
            let keys = ["kernel_source", "allreduce_dtype", "num_gpus", "message_size"];
            let rows = sort_rows(f, &keys, all);
            Some(select(f, &["allreduce_dtype", "num_gpus", "message_size", "kernel_source", "latency"], &rows))
        }
        _ => None,
    }
}

fn dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 && args.len() != 4 {
        eprintln!("usage: subset <aiconfigurator systems dir> <output dir> [embedded.rs to write]");
        std::process::exit(2);
    }
    let mut written: Vec<String> = Vec::new();
    let (src, dst) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let mut total = 0u64;
    for sys in dirs(&src.join("data")) {
        for fam in ["gemm", "attention", "comm"] {
            for fw in dirs(&sys.join(fam)) {
                for ver in dirs(&fw) {
                    let mut files: Vec<PathBuf> =
                        std::fs::read_dir(&ver).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
                    files.sort();
                    for file in files {
                        let name = file.file_name().unwrap_or_default().to_string_lossy().to_string();
                        let Some(table) = name.strip_suffix(".parquet") else { continue };
                        let frame = read_path(&file).unwrap_or_else(|e| panic!("{e}"));
                        let Some(cols) = subset_table(table, &frame) else { continue };
                        let rel = file.strip_prefix(&src).expect("inside src");
                        let out = dst.join(rel);
                        write(&out, &cols);
                        written.push(rel.to_string_lossy().replace('\\', "/"));
                        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                        total += size;
                        let n = match &cols[0].1 {
                            Out::Str(v) => v.len(),
                            Out::Int(v) => v.len(),
                            Out::F32(v) => v.len(),
                        };
                        println!("{:>9} B {:>7} rows  {}", size, n, rel.display());
                    }
                }
            }
        }
    }
    // The system YAML files (GPU and node figures) and the licence, unchanged.
    let mut top: Vec<PathBuf> = std::fs::read_dir(&src).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    top.sort();
    for p in top {
        let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
        if p.is_file() && (name.ends_with(".yaml") || name == "LICENSE") {
            std::fs::copy(&p, dst.join(&name)).expect("copy");
        }
    }
    println!("total {total} B of Parquet");
    if let Some(rs) = args.get(3) {
        // Paths relative to the embedded.rs file: it lives in plugins/measured/src, the data in
        // plugins/measured/data/systems.
        let mut text = String::from(
            "//! The AIConfigurator subset compiled into the binary (`plugins/measured/data/systems/`; see its\n\
             //! `NOTICE.md`). Generated by `cargo run --release -p reallm-measured --example subset`.\n\n\
             /// (path in the AIConfigurator layout, Parquet bytes)\n\
             pub const FILES: &[(&str, &[u8])] = &[\n",
        );
        written.sort();
        for w in &written {
            text.push_str(&format!("    (\"{w}\", include_bytes!(\"../data/systems/{w}\")),\n"));
        }
        text.push_str("];\n");
        std::fs::write(rs, text).expect("write embedded.rs");
    }
}
