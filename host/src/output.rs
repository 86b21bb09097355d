//! Writing results: atomic files and stable number formatting.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// A file written under a temporary name in the same directory and renamed into place on
/// [`AtomicFile::commit`]. Dropped without commit, the temporary file is removed, so a reader
/// never sees a half-written result under the final name.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
        // Unique per process and per file being written (threads of a sweep may write the
        // same generated trace at once; each renames a complete copy into place).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, writer: Some(BufWriter::with_capacity(1 << 16, f)) })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer present until commit")
    }

    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("writer present until commit");
        let f = w.into_inner().map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        f.sync_all().ok();
        drop(f);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer.take();
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write a whole file atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = AtomicFile::create(path)?;
    f.writer().write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// Shortest round-trip decimal form of a float (Ryū): stable across platforms. Whole numbers
/// print without a fraction (`3`, not `3.0`); non-finite values as `nan` / `inf` / `-inf`.
pub fn fmt_f64(v: f64) -> String {
    let mut b = ryu::Buffer::new();
    fmt_f64_into(&mut b, v).to_string()
}

/// [`fmt_f64`] into a reusable buffer (no allocation).
pub fn fmt_f64_into(b: &mut ryu::Buffer, v: f64) -> &str {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        };
    }
    let s = b.format_finite(v);
    s.strip_suffix(".0").unwrap_or(s)
}

/// A request rate as it appears in file names: `1`, `2.5`.
pub fn fmt_rate(r: f64) -> String {
    if r.fract() == 0.0 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_leaves_nothing_on_drop() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.writer().write_all(b"half").unwrap();
        }
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&p, b"whole").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"whole");
    }
}
