//! The rejects sidecar: every rejected line, with where it was and why, as JSON lines.
//!
//! Written while the run goes, to `<lake>/_flowlake/rejects/<run-id>.jsonl` (created on the first
//! reject only), so memory does not grow with the number of bad lines. DuckDB reads it directly:
//! `SELECT kind, count(*) FROM read_json_auto('<lake>/_flowlake/rejects/*.jsonl') GROUP BY kind`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::text::batch::{LineError, RejectKind};
use crate::text::tokenize::Line;

/// At most this many bytes of a rejected line are kept in the sidecar.
pub const DEFAULT_MAX_RAW_BYTES: usize = 1024;

/// One rejected line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reject {
    pub file: String,
    /// 1-based line number in the decompressed file.
    pub line: u64,
    /// Byte offset of the line in the decompressed file.
    pub offset: u64,
    pub kind: RejectKind,
    pub column: Option<String>,
    pub message: String,
    /// The line, cut at [`DEFAULT_MAX_RAW_BYTES`], invalid UTF-8 replaced.
    pub raw: String,
}

impl Reject {
    pub fn new(file: &Path, line: &Line<'_>, e: LineError) -> Reject {
        let raw = &line.text[..line.text.len().min(DEFAULT_MAX_RAW_BYTES)];
        Reject {
            file: file.display().to_string(),
            line: line.number,
            offset: line.offset as u64,
            kind: e.kind,
            column: e.column,
            message: e.message,
            raw: String::from_utf8_lossy(raw).into_owned(),
        }
    }
}

/// Append-only, thread-safe sink for [`Reject`]s.
pub struct RejectLog {
    path: Option<PathBuf>,
    writer: Mutex<Option<BufWriter<File>>>,
}

impl RejectLog {
    /// A log written to `path` (created on the first reject).
    pub fn to_file(path: PathBuf) -> RejectLog {
        RejectLog {
            path: Some(path),
            writer: Mutex::new(None),
        }
    }

    /// A log that keeps nothing (benchmarks; the counts still come from the parser).
    pub fn discard() -> RejectLog {
        RejectLog {
            path: None,
            writer: Mutex::new(None),
        }
    }

    /// Records one reject.
    pub fn record(&self, reject: &Reject) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(reject)
            .map_err(|e| Error::output(path, std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
            }
            *guard = Some(BufWriter::new(
                File::create(path).map_err(|e| Error::output(path, e))?,
            ));
        }
        if let Some(w) = guard.as_mut() {
            w.write_all(&line).map_err(|e| Error::output(path, e))?;
        }
        Ok(())
    }

    /// Flushes the log; returns its path if anything was written.
    pub fn finish(&self) -> Result<Option<PathBuf>> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match (guard.take(), &self.path) {
            (Some(mut w), Some(path)) => {
                w.flush().map_err(|e| Error::output(path, e))?;
                Ok(Some(path.clone()))
            }
            _ => Ok(None),
        }
    }
}
