//! `flowlake verify`: checks a lake against its manifest, with read access only.
//!
//! Opens the footer of every Parquet file under the lake (outside `_flowlake/`) and compares what it
//! finds with the manifest entries: every recorded output must exist with its recorded size and row
//! count, and every Parquet file must be recorded.
//!
//! Verify writes nothing, locally or on S3 (no lock, no staging folder), so a role that can only read
//! the lake can run it. It does not keep writers out either; instead it tells a lake being written
//! from a damaged one:
//!
//! - a live writer is found without writing: locally, a shared non-blocking probe of the lock files a
//!   run holds exclusively; on S3, lock objects whose heartbeat is
//!   fresh (see [`crate::storage::policy`]);
//! - a partition whose swap has started and not finished carries a journal mark (see
//!   [`crate::lake::ledger`]). While a writer is live, a marked partition is *in progress*: its
//!   differences are not damage. With no live writer, a mark is an *interrupted* publish: its
//!   differences are reported, saying which run repairs them;
//! - a partition whose manifest entry changed while verify read it was published meanwhile: it is
//!   checked again, and counts as in progress if it still differs while a writer is live.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::enrich::{DataVersion, EnrichSet};
use crate::error::Result;
use crate::lake::dataset::Dataset;
use crate::lake::dataset::ParquetFile;
use crate::lake::ledger::{self, Manifest, PartitionEntry, RowRunsError};
use crate::lake::META_DIR;
use crate::storage::policy::staging_in_use;
use crate::storage::{self, S3Settings};

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
    /// The row map the entry names (which input each row came from) is missing, damaged, or
    /// disagrees with the entry: the rows of an input that vanishes could not be carried over.
    RowMap,
    /// A `*.parquet` file that a `<lake>/**/*.parquet` glob reads (DuckDB's does not skip `_` or `.`
    /// names) but that is not one of the lake's files: a staged or replaced file a stopped run left,
    /// or a file in a `_`/`.` folder, whose rows such a reader counts twice or should not see.
    Leftover,
}

/// One problem found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub kind: ProblemKind,
    pub message: String,
    /// The problem is in a partition whose publish a stopped run left unfinished (a journal mark, no
    /// live writer): the message says which command repairs it.
    pub interrupted: bool,
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
    /// Differences between the lake and its manifest, outside the partitions in progress.
    pub problems: Vec<Problem>,
    /// A convert or compact run held the lake's lock (or a shard's) while verify ran.
    pub writer_active: bool,
    /// Who holds it: the holder text of each live lock (`pid 4242 flowlake run …` locally).
    pub writers: Vec<String>,
    /// Partitions a live run is publishing (journal marks, or an entry that changed while verify
    /// read it): their differences are not problems.
    pub in_progress: Vec<String>,
    /// Partitions whose publish a stopped run left unfinished (journal marks, no live run); their
    /// differences are in `problems` with `interrupted: true`.
    pub interrupted: Vec<String>,
    /// The lake's enrichments (`--enrich`), absent when it has none.
    #[serde(skip_serializing_if = "EnrichSet::is_empty")]
    pub enrich: EnrichSet,
    /// The data files that enriched its partitions (as their entries record them), each with the
    /// number of partitions it enriched: a lake enriched night after night with newer files lists each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enriched_with: Vec<EnrichedWith>,
}

/// One data file version and the partitions it enriched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnrichedWith {
    #[serde(flatten)]
    pub data: DataVersion,
    pub partitions: u64,
}

impl VerifyReport {
    /// True when the lake matches its manifest, apart from partitions a live run is publishing, and
    /// no stopped run left a publish to repair.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.interrupted.is_empty()
    }
}

/// Verifies the local lake at `root`.
pub fn verify(root: &Path) -> Result<VerifyReport> {
    verify_at(root, None)
}

/// The check of one partition.
#[derive(Debug, Default)]
struct Checked {
    files: u64,
    rows: u64,
    bytes: u64,
    problems: Vec<Problem>,
}

/// Verifies the lake at `root`, a local folder or an `s3://` URL (`endpoint`: an S3-compatible store).
/// Reads only; see the module documentation for how a run writing the lake meanwhile is told apart.
pub fn verify_at(root: &Path, endpoint: Option<&str>) -> Result<VerifyReport> {
    let store = storage::open(
        &[root],
        &S3Settings {
            endpoint: endpoint.map(String::from),
        },
    )?;
    let dataset = Dataset::open(store, root)?;
    let manifest = Manifest::of_lake(dataset.store().clone(), root);

    let writers_before = dataset.live_writers()?;
    let mut marks = ledger::marks(&manifest)?;
    let entries = manifest.all()?;
    let scan = dataset.glob()?;
    let files = scan.partitions;
    let partitions: BTreeSet<&String> = entries.keys().chain(files.keys()).collect();
    let mut checked: BTreeMap<String, (Option<PartitionEntry>, Checked)> = BTreeMap::new();
    for partition in partitions {
        let entry = entries.get(partition.as_str());
        let present = files.get(partition.as_str()).map_or(&[][..], |v| &v[..]);
        let result = check_partition(&dataset, &manifest, partition, entry, present);
        checked.insert(partition.clone(), (entry.cloned(), result));
    }
    let writers_after = dataset.live_writers()?;
    marks.extend(ledger::marks(&manifest)?);
    let mut writers = writers_before;
    for w in writers_after {
        if !writers.contains(&w) {
            writers.push(w);
        }
    }
    let writer_active = !writers.is_empty();

    // A partition whose entry changed while it was read was published meanwhile: check it again,
    // against its new entry and files.
    let mut changed = BTreeSet::new();
    for (partition, (entry, result)) in checked.iter_mut() {
        if result.problems.is_empty() {
            continue;
        }
        let now = manifest.entry(partition)?;
        if now != *entry {
            let present = dataset.files_in(partition)?;
            *result = check_partition(&dataset, &manifest, partition, now.as_ref(), &present);
            *entry = now;
            changed.insert(partition.clone());
        }
    }

    let mut enriched: BTreeMap<&DataVersion, u64> = BTreeMap::new();
    for entry in entries.values() {
        for data in &entry.enriched_with {
            *enriched.entry(data).or_default() += 1;
        }
    }
    let mut report = VerifyReport {
        writer_active,
        writers,
        enrich: manifest.settings()?.map(|s| s.enrich).unwrap_or_default(),
        enriched_with: enriched
            .into_iter()
            .map(|(data, partitions)| EnrichedWith {
                data: data.clone(),
                partitions,
            })
            .collect(),
        ..VerifyReport::default()
    };
    for (path, bytes) in &scan.hidden {
        if let Some(problem) = leftover(&dataset, path, *bytes, writer_active) {
            report.problems.push(problem);
        }
    }
    for (partition, (entry, result)) in checked {
        if let Some(entry) = &entry {
            report.partitions += 1;
            report.quarantined_inputs += entry.failed.len() as u64;
        }
        report.files += result.files;
        report.rows += result.rows;
        report.bytes += result.bytes;
        let marked = marks.contains(&partition);
        if writer_active && (marked || changed.contains(&partition)) {
            if marked || !result.problems.is_empty() {
                report.in_progress.push(partition);
            }
            continue;
        }
        if marked {
            let repair = marks.repair_note(&partition);
            report
                .problems
                .extend(result.problems.into_iter().map(|p| Problem {
                    message: format!("{}; {repair}", p.message),
                    interrupted: true,
                    ..p
                }));
            report.interrupted.push(partition);
        } else {
            report.problems.extend(result.problems);
        }
    }
    // Marks of partitions with neither an entry nor files (a first publish cut short before its files
    // landed) are listed too.
    for partition in marks.partitions() {
        if !report.in_progress.contains(partition) && !report.interrupted.contains(partition) {
            if writer_active {
                report.in_progress.push(partition.clone());
            } else {
                report.interrupted.push(partition.clone());
            }
        }
    }
    report.in_progress.sort();
    report.interrupted.sort();
    Ok(report)
}

/// The problem of a `*.parquet` file a glob over the lake reads in a `_`/`.` folder or under a
/// `_`/`.` name (`path`, `bytes` long); none for a file a live run is staging now.
fn leftover(dataset: &Dataset, path: &Path, bytes: u64, writer_active: bool) -> Option<Problem> {
    let staging = dataset.root().join(META_DIR).join("staging");
    let run = path
        .strip_prefix(&staging)
        .ok()
        .and_then(|below| below.iter().next())
        .map(|run| staging.join(run));
    if writer_active && run.as_deref().is_some_and(staging_in_use) {
        return None; // a live run's staging folder: its files leave it at their publish
    }
    let staged = run.is_some();
    let below = path.strip_prefix(dataset.root()).unwrap_or(path);
    let partition = below.parent().map(|p| p.to_string_lossy().into_owned());
    let name = below.file_name().map(|n| n.to_string_lossy().into_owned());
    let rows = match (partition, name) {
        (Some(partition), Some(name)) => {
            match dataset.footer(&partition, &ParquetFile { name, bytes }) {
                Ok(f) => format!("{} rows", f.file_metadata().num_rows()),
                Err(e) => e.to_string(),
            }
        }
        _ => format!("{bytes} bytes"),
    };
    let why = if staged {
        "a run that stopped while publishing left it in its staging folder (the rows it holds are \
         also in, or were replaced in, their partition): the next `flowlake convert` or `flowlake \
         compact` on this lake removes it"
    } else {
        "it is not one of the lake's files (a `_` or `.` folder or name, which Hive, Trino and \
         Spark skip): move it out of the lake"
    };
    Some(Problem {
        path: path.to_path_buf(),
        kind: ProblemKind::Leftover,
        message: format!("a `**/*.parquet` glob over the lake reads this file ({rows}); {why}"),
        interrupted: staged,
    })
}

/// Compares one partition's files (`present`) with its manifest entry.
fn check_partition(
    dataset: &Dataset,
    manifest: &Manifest,
    partition: &str,
    entry: Option<&PartitionEntry>,
    present: &[ParquetFile],
) -> Checked {
    let mut out = Checked::default();
    let mut recorded = BTreeSet::new();
    for rec in entry.map_or(&[][..], |e| &e.outputs[..]) {
        let path = dataset.file(partition, &rec.name);
        recorded.insert(rec.name.as_str());
        let problem = |kind, message: String| Problem {
            path: path.clone(),
            kind,
            message,
            interrupted: false,
        };
        let Some(file) = present.iter().find(|f| f.name == rec.name) else {
            out.problems.push(problem(
                ProblemKind::Missing,
                "listed in the manifest, not in the lake".into(),
            ));
            continue;
        };
        if file.bytes != rec.bytes {
            out.problems.push(problem(
                ProblemKind::Size,
                format!("{} bytes, the manifest says {}", file.bytes, rec.bytes),
            ));
        }
        match dataset.footer(partition, file) {
            Ok(f) if f.file_metadata().num_rows().max(0) as u64 == rec.rows => {
                out.files += 1;
                out.rows += rec.rows;
                out.bytes += file.bytes;
            }
            Ok(f) => out.problems.push(problem(
                ProblemKind::RowCount,
                format!(
                    "{} rows, the manifest says {}",
                    f.file_metadata().num_rows(),
                    rec.rows
                ),
            )),
            Err(e) => out
                .problems
                .push(problem(ProblemKind::Unreadable, e.to_string())),
        }
    }
    if let Some(entry) = entry {
        // Entries written before row maps are not checked: their rows' inputs are ranges.
        let wrong = match &entry.row_map {
            Some(name) => match manifest.row_runs(entry) {
                Ok(_) => None,
                Err(RowRunsError::Read(e)) => match *e {
                    crate::error::Error::Lake { message, .. } => Some((name.clone(), message)),
                    e => Some((name.clone(), e.to_string())),
                },
                Err(e) => Some((name.clone(), e.to_string())),
            },
            None => None,
        };
        if let Some((name, why)) = wrong {
            out.problems.push(Problem {
                path: dataset.root().join(META_DIR).join(name),
                kind: ProblemKind::RowMap,
                message: format!(
                    "{why}; if one of its inputs vanished its rows could not be carried over: \
                     rebuild the partition (convert --rebuild) while its inputs exist"
                ),
                interrupted: false,
            });
        }
    }
    for f in present {
        if recorded.contains(f.name.as_str()) {
            continue;
        }
        let (kind, message) = if entry.is_some() {
            (
                ProblemKind::Orphan,
                "not among the partition's outputs in the manifest",
            )
        } else {
            (
                ProblemKind::NoManifest,
                "its partition has no manifest entry",
            )
        };
        let message = match dataset.footer(partition, f) {
            Ok(footer) => format!("{message} ({} rows)", footer.file_metadata().num_rows()),
            Err(e) => format!("{message}; {e}"),
        };
        out.problems.push(Problem {
            path: dataset.file(partition, &f.name),
            kind,
            message,
            interrupted: false,
        });
    }
    out
}
