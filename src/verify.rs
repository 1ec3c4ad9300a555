//! `flowlake verify`: checks a lake against its manifest.
//!
//! Opens the footer of every Parquet file under the lake (outside `_flowlake/`) and compares what it
//! finds with the manifest entries: every recorded output must exist with its recorded size and row
//! count, and every Parquet file must be recorded. The lake's lock is held while checking, so a
//! running conversion cannot make the answer inconsistent.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use walkdir::WalkDir;

use crate::error::Result;
use crate::manifest::Manifest;
use crate::storage::{lock, META_DIR};

/// What is wrong with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The manifest lists the file but it is not there.
    Missing,
    /// The file is in a partition the manifest knows, but not among that partition's outputs.
    Orphan,
    /// The file is in a partition the manifest has no entry for (an interrupted or foreign write).
    NoManifest,
    /// The footer's row count differs from the manifest's.
    RowCount,
    /// The file's size differs from the manifest's.
    Size,
    /// The file is not a readable Parquet file.
    Unreadable,
}

/// One problem found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub kind: ProblemKind,
    pub message: String,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub partitions: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Input files the manifest records as unreadable when their partition was built.
    pub quarantined_inputs: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the lake at `root`.
pub fn verify(root: &Path) -> Result<VerifyReport> {
    let _lock = lock(root, "verify")?;
    let manifest = Manifest::new(&root.join(META_DIR));
    let entries = manifest.all();
    let mut report = VerifyReport::default();
    let mut recorded = BTreeSet::new();
    for (partition, entry) in &entries {
        report.partitions += 1;
        report.quarantined_inputs += entry.failed.len() as u64;
        for out in &entry.outputs {
            let path = root.join(partition).join(&out.name);
            recorded.insert(path.clone());
            let problem = |kind, message: String| Problem {
                path: path.clone(),
                kind,
                message,
            };
            let size = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) => {
                    report.problems.push(problem(
                        ProblemKind::Missing,
                        format!("listed in the manifest: {e}"),
                    ));
                    continue;
                }
            };
            if size != out.bytes {
                report.problems.push(problem(
                    ProblemKind::Size,
                    format!("{size} bytes, the manifest says {}", out.bytes),
                ));
            }
            match footer_rows(&path) {
                Ok(rows) if rows == out.rows => {
                    report.files += 1;
                    report.rows += rows;
                    report.bytes += size;
                }
                Ok(rows) => report.problems.push(problem(
                    ProblemKind::RowCount,
                    format!("{rows} rows, the manifest says {}", out.rows),
                )),
                Err(e) => report.problems.push(problem(ProblemKind::Unreadable, e)),
            }
        }
    }
    let walk = WalkDir::new(root).into_iter().filter_entry(|e| {
        e.depth() == 0
            || !(e.file_name().to_string_lossy().starts_with('_')
                || e.file_name().to_string_lossy().starts_with('.'))
    });
    for entry in walk.filter_map(|e| e.ok()) {
        let path = entry.path();
        if !entry.file_type().is_file()
            || path.extension().is_none_or(|e| e != "parquet")
            || recorded.contains(path)
        {
            continue;
        }
        let partition = path
            .parent()
            .and_then(|p| p.strip_prefix(root).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (kind, message) = if entries.contains_key(&partition) {
            (
                ProblemKind::Orphan,
                "not among the partition's outputs in the manifest".to_string(),
            )
        } else {
            (
                ProblemKind::NoManifest,
                "its partition has no manifest entry".to_string(),
            )
        };
        let message = match footer_rows(path) {
            Ok(rows) => format!("{message} ({rows} rows)"),
            Err(e) => format!("{message}; {e}"),
        };
        report.problems.push(Problem {
            path: path.to_path_buf(),
            kind,
            message,
        });
    }
    Ok(report)
}

/// Rows of a Parquet file, from its footer.
pub(crate) fn footer_rows(path: &Path) -> std::result::Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
