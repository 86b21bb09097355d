//! Writing results: atomic files and stable number formatting.
//!
//! Every result file goes through [`AtomicFile`]: it is written under a hidden temporary name
//! in its final directory and renamed into place when complete. The temporaries alive at any
//! moment are tracked, so that an interrupt (Ctrl-C, see `main.rs`) can remove them with
//! [`abort_temporaries`] before the process exits: after an interrupted run every result file
//! is either absent or complete, and no temporary is left behind (`docs/reliability.md`).

use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Temporaries being written (`None` once [`abort_temporaries`] ran: no new one may start).
/// Creating, committing (the rename) and removing a temporary happen under this lock, so an
/// abort sees each file either before its rename (and removes it) or after (complete).
static TEMPORARIES: Mutex<Option<BTreeSet<PathBuf>>> = Mutex::new(Some(BTreeSet::new()));

/// The guard of the set of live temporaries.
pub type TemporariesGuard = MutexGuard<'static, Option<BTreeSet<PathBuf>>>;

fn temporaries() -> TemporariesGuard {
    // A panic while the lock was held leaves the set itself consistent.
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove every temporary file being written and refuse new ones; returns how many were
/// removed, and the lock guard: holding it until the process exits keeps other threads from
/// starting or committing a file in between.
pub fn abort_temporaries() -> (usize, TemporariesGuard) {
    let mut g = temporaries();
    let mut n = 0;
    if let Some(set) = g.take() {
        for p in set {
            if std::fs::remove_file(&p).is_ok() {
                n += 1;
            }
        }
    }
    (n, g)
}

/// Temporary files currently being written (for tests and diagnostics).
pub fn live_temporaries() -> Vec<PathBuf> {
    temporaries().as_ref().map(|s| s.iter().cloned().collect()).unwrap_or_default()
}

/// Whether `name` is the name of an [`AtomicFile`] temporary (`.NAME.tmp-PID-N`).
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// A file written under a temporary name in the same directory and renamed into place on
/// [`AtomicFile::commit`]. Dropped without commit, the temporary file is removed, so a reader
/// never sees a half-written result under the final name, whatever stops the run (an error,
/// Ctrl-C, a panic). Files are not `fsync`ed: results are reproducible by running again, and
/// syncing the 38 MB `sim_results.csv` of a 10,000-request run took 18–35 ms, a tenth of the
/// run (docs/performance.md); after a power loss a file may be missing or empty.
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
        let mut live = temporaries();
        let Some(set) = live.as_mut() else {
            return Err(Error::Interrupted);
        };
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        set.insert(tmp.clone());
        Ok(AtomicFile { path: path.to_path_buf(), tmp, writer: Some(BufWriter::with_capacity(1 << 16, f)) })
    }

    /// The buffered writer of the temporary file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        // Invariant, not input: `writer` is `None` only inside `commit` and `drop`, which
        // consume the value.
        self.writer.as_mut().expect("writer present until commit")
    }

    /// Flush what is written so far, ahead of [`AtomicFile::commit`]: a caller with other work
    /// to do hands the data to the system while it does it. A flush error is returned.
    pub fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        self.writer.as_mut().expect("writer present until commit").flush()
    }

    /// Flush and rename the temporary into place.
    pub fn commit(mut self) -> Result<()> {
        let Some(w) = self.writer.take() else {
            return Err(Error::Internal(format!("{}: committed twice", self.path.display())));
        };
        let f = match w.into_inner() {
            Ok(f) => f,
            Err(e) => {
                let err = Error::io(&self.tmp, e.into_error());
                self.discard();
                return Err(err);
            }
        };
        drop(f);
        let mut live = temporaries();
        let Some(set) = live.as_mut() else {
            // Interrupted: the abort already removed the temporary.
            return Err(Error::Interrupted);
        };
        set.remove(&self.tmp);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            Error::io(&self.path, e)
        })
    }

    fn discard(&mut self) {
        self.writer.take();
        let mut live = temporaries();
        if let Some(set) = live.as_mut() {
            set.remove(&self.tmp);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.discard();
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
    fn atomic_file_flushed_early_keeps_what_is_written_after() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        for (i, more) in [&b""[..], b"tail\n"].into_iter().enumerate() {
            let p = dir.path().join(format!("s{i}.csv"));
            let mut f = AtomicFile::create(&p).unwrap();
            f.writer().write_all(b"head\n").unwrap();
            f.flush().unwrap();
            // Flushed and renamed later: nothing under the final name yet.
            assert!(!p.exists());
            f.writer().write_all(more).unwrap();
            f.commit().unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), [&b"head\n"[..], more].concat());
        }
        // Only the final files remain.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

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
