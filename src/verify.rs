//! `flowlake verify`: checks a lake against its manifest.
//!
//! Opens the footer of every Parquet file under the lake (outside `_flowlake/`) and compares what it
//! finds with the manifest entries: every recorded output must exist with its recorded size and row
//! count, and every Parquet file must be recorded. The lake's lock is held while checking, so a
//! running conversion cannot make the answer inconsistent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::Result;
use crate::storage::{lock, Lake};

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

/// Verifies the local lake at `root`.
pub fn verify(root: &Path) -> Result<VerifyReport> {
    verify_at(root, None)
}

/// Verifies the lake at `root`, a local folder or an `s3://` URL (`endpoint`: an S3-compatible store).
pub fn verify_at(root: &Path, endpoint: Option<&str>) -> Result<VerifyReport> {
    let s3 = crate::s3::client_for(&[root], endpoint)?;
    let dataset = Dataset::open(root, s3.clone())?;
    // Held while checking, so a running conversion cannot make the answer inconsistent.
    let (_local_lock, lake) = match &dataset {
        Dataset::Local(_) => (Some(lock(root, "verify")?), None),
        Dataset::S3(..) => {
            let run_id = format!("verify-{}", crate::storage::new_run_id());
            (None, Some(Lake::open_with(root, &run_id, None, s3)?))
        }
    };
    let manifest = dataset.manifest();
    let entries = manifest.all()?;
    let files = dataset.partitions(None, None)?;
    let mut report = VerifyReport::default();
    let mut recorded = BTreeSet::new();
    for (partition, entry) in &entries {
        report.partitions += 1;
        report.quarantined_inputs += entry.failed.len() as u64;
        let present = files.get(partition.as_str());
        for out in &entry.outputs {
            let path = dataset.file(partition, &out.name);
            recorded.insert((partition.clone(), out.name.clone()));
            let problem = |kind, message: String| Problem {
                path: path.clone(),
                kind,
                message,
            };
            let Some(file) = present.and_then(|fs| fs.iter().find(|f| f.name == out.name)) else {
                report.problems.push(problem(
                    ProblemKind::Missing,
                    "listed in the manifest, not in the lake".into(),
                ));
                continue;
            };
            if file.bytes != out.bytes {
                report.problems.push(problem(
                    ProblemKind::Size,
                    format!("{} bytes, the manifest says {}", file.bytes, out.bytes),
                ));
            }
            match dataset.footer(partition, file) {
                Ok(f) if f.file_metadata().num_rows().max(0) as u64 == out.rows => {
                    report.files += 1;
                    report.rows += out.rows;
                    report.bytes += file.bytes;
                }
                Ok(f) => report.problems.push(problem(
                    ProblemKind::RowCount,
                    format!(
                        "{} rows, the manifest says {}",
                        f.file_metadata().num_rows(),
                        out.rows
                    ),
                )),
                Err(e) => report.problems.push(problem(ProblemKind::Unreadable, e)),
            }
        }
    }
    for (partition, fs) in &files {
        for f in fs {
            if recorded.contains(&(partition.clone(), f.name.clone())) {
                continue;
            }
            let (kind, message) = if entries.contains_key(partition) {
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
            let message = match dataset.footer(partition, f) {
                Ok(footer) => format!("{message} ({} rows)", footer.file_metadata().num_rows()),
                Err(e) => format!("{message}; {e}"),
            };
            report.problems.push(Problem {
                path: dataset.file(partition, &f.name),
                kind,
                message,
            });
        }
    }
    if let Some(lake) = lake {
        lake.remove_staging()?;
    }
    Ok(report)
}
