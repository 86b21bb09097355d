//! A minimal column reader for Parquet tables, through the `parquet` crate's low-level column
//! API (no arrow): every column of a file decoded into one vector, by name.
//!
//! Physical types are widened: INT32 / INT64 to `i64`, FLOAT / DOUBLE to `f64`, BYTE_ARRAY to
//! `String`. A null in a column marks its row invalid ([`Frame::valid`]); readers skip such rows.

use bytes::Bytes;
use parquet::column::reader::ColumnReader;
use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use reallm_plugin_api::PluginError;

/// One decoded column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str(Vec<String>),
    /// A physical type this reader does not decode (boolean, INT96, fixed-length bytes).
    Other,
}

/// A whole table, column by column.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Where it came from (a path or an embedded file name), for messages.
    pub origin: String,
    pub names: Vec<String>,
    pub columns: Vec<Column>,
    /// `valid[i]` is false when row `i` has a null in any column.
    pub valid: Vec<bool>,
    pub rows: usize,
}

impl Frame {
    fn col(&self, name: &str) -> Result<&Column, PluginError> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| PluginError::invalid(format!("{}: no `{name}` column (columns: {})", self.origin, self.names.join(", "))))?;
        Ok(&self.columns[i])
    }

    /// Whether the table has a column of this name.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// An integer column.
    pub fn ints(&self, name: &str) -> Result<&[i64], PluginError> {
        match self.col(name)? {
            Column::Int(v) => Ok(v),
            _ => Err(PluginError::invalid(format!("{}: column `{name}` is not an integer column", self.origin))),
        }
    }

    /// A floating-point column.
    pub fn floats(&self, name: &str) -> Result<&[f64], PluginError> {
        match self.col(name)? {
            Column::Float(v) => Ok(v),
            _ => Err(PluginError::invalid(format!("{}: column `{name}` is not a floating-point column", self.origin))),
        }
    }

    /// A string column.
    pub fn strs(&self, name: &str) -> Result<&[String], PluginError> {
        match self.col(name)? {
            Column::Str(v) => Ok(v),
            _ => Err(PluginError::invalid(format!("{}: column `{name}` is not a string column", self.origin))),
        }
    }
}

fn perr(origin: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::invalid(format!("{origin}: cannot read the Parquet table: {e}"))
}

/// Read a Parquet file from disk.
pub fn read_path(path: &std::path::Path) -> Result<Frame, PluginError> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| PluginError::invalid(format!("{origin}: {e}")))?;
    read(file, origin)
}

/// Read a Parquet file held in memory (the embedded subset).
pub fn read_bytes(data: &'static [u8], origin: &str) -> Result<Frame, PluginError> {
    read(Bytes::from_static(data), origin.to_string())
}

const BATCH: usize = 8192;

fn read<R: ChunkReader + 'static>(src: R, origin: String) -> Result<Frame, PluginError> {
    let reader = SerializedFileReader::new(src).map_err(|e| perr(&origin, e))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let ncols = schema.num_columns();
    let rows = usize::try_from(meta.file_metadata().num_rows()).map_err(|e| perr(&origin, e))?;
    let mut frame = Frame {
        origin: origin.clone(),
        names: (0..ncols).map(|i| schema.column(i).name().to_string()).collect(),
        columns: Vec::with_capacity(ncols),
        valid: vec![true; rows],
        rows,
    };
    let mut cols: Vec<Column> = (0..ncols)
        .map(|i| match schema.column(i).physical_type() {
            parquet::basic::Type::INT32 | parquet::basic::Type::INT64 => Column::Int(Vec::with_capacity(rows)),
            parquet::basic::Type::FLOAT | parquet::basic::Type::DOUBLE => Column::Float(Vec::with_capacity(rows)),
            parquet::basic::Type::BYTE_ARRAY => Column::Str(Vec::with_capacity(rows)),
            _ => Column::Other,
        })
        .collect();
    let mut defs: Vec<i16> = Vec::new();
    for rg in 0..reader.num_row_groups() {
        let group = reader.get_row_group(rg).map_err(|e| perr(&origin, e))?;
        for (c, col) in cols.iter_mut().enumerate() {
            if matches!(col, Column::Other) {
                continue;
            }
            let max_def = schema.column(c).max_def_level();
            let creader = group.get_column_reader(c).map_err(|e| perr(&origin, e))?;
            defs.clear();
            let mut nulls: Vec<usize> = Vec::new();
            macro_rules! drain {
                ($r:expr, $buf:expr, $conv:expr, $out:expr, $null:expr) => {{
                    let mut r = $r;
                    loop {
                        $buf.clear();
                        defs.clear();
                        let (recs, _vals, _levels) =
                            r.read_records(BATCH, Some(&mut defs), None, &mut $buf).map_err(|e| perr(&origin, e))?;
                        if recs == 0 {
                            break;
                        }
                        let mut vi = 0;
                        for ri in 0..recs {
                            let present = max_def == 0 || defs.get(ri).is_some_and(|&d| d == max_def);
                            if present {
                                $out.push($conv(&$buf[vi]));
                                vi += 1;
                            } else {
                                nulls.push($out.len());
                                $out.push($null);
                            }
                        }
                    }
                }};
            }
            match (creader, &mut *col) {
                (ColumnReader::Int32ColumnReader(r), Column::Int(out)) => {
                    let mut buf: Vec<i32> = Vec::new();
                    drain!(r, buf, |x: &i32| *x as i64, out, 0)
                }
                (ColumnReader::Int64ColumnReader(r), Column::Int(out)) => {
                    let mut buf: Vec<i64> = Vec::new();
                    drain!(r, buf, |x: &i64| *x, out, 0)
                }
                (ColumnReader::FloatColumnReader(r), Column::Float(out)) => {
                    let mut buf: Vec<f32> = Vec::new();
                    drain!(r, buf, |x: &f32| *x as f64, out, f64::NAN)
                }
                (ColumnReader::DoubleColumnReader(r), Column::Float(out)) => {
                    let mut buf: Vec<f64> = Vec::new();
                    drain!(r, buf, |x: &f64| *x, out, f64::NAN)
                }
                (ColumnReader::ByteArrayColumnReader(r), Column::Str(out)) => {
                    let mut buf: Vec<parquet::data_type::ByteArray> = Vec::new();
                    drain!(r, buf, |x: &parquet::data_type::ByteArray| String::from_utf8_lossy(x.data()).into_owned(), out, String::new())
                }
                _ => return Err(perr(&origin, format!("column `{}` changed type between row groups", frame.names[c]))),
            }
            for i in nulls {
                if let Some(v) = frame.valid.get_mut(i) {
                    *v = false;
                }
            }
        }
    }
    for (c, col) in cols.iter().enumerate() {
        let n = match col {
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Other => rows,
        };
        if n != rows {
            return Err(perr(&origin, format!("column `{}` has {n} values for {rows} rows", frame.names[c])));
        }
    }
    frame.columns = cols;
    Ok(frame)
}
