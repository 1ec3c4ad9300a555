//! `flowlake compact`: rewrites partitions of many small Parquet files into few files at the target size.
//!
//! It works on flowlake's own lakes and on AWS's native Parquet deliveries (`*.log.parquet` under AWS's
//! plain, Hive-compatible or hourly folders, INT32/INT64/string columns, any subset of the fields). A
//! partition is any folder that holds Parquet files; it is rewritten when at least `--min-files` of
//! them are below half the target size, so a compacted partition (files at the target size and one
//! remainder) is left alone by the next run. The output has the lake's schema
//! ([`schema::lake_schema`]) and the convert writer's settings, whatever the input files had.
//!
//! Nothing is lost and nothing is visible half-done: every input batch is mapped onto the lake schema
//! by column name (missing fields become NULL; a column the lake does not know, or a value that does
//! not fit its lake type, fails the partition instead of being dropped), a fingerprint of every
//! column (row count, non-NULL count, integer sums, string lengths and hashes) is taken of the input
//! and again of the staged output read back from disk, and only when they are equal is the partition
//! swapped in with convert's atomic publish. A journal mark covers the gap between the swap and the
//! manifest entry; the next compact run brings the entry up to date.
//!
//! This file holds the settings, the report and the run: recovery through the ledger, then for each
//! partition its plan (`plan.rs`: which partitions and files), its rewrite (`rewrite.rs`, checked by
//! `fingerprint.rs`) and its commit, and the errors that fail a partition or stop the run.

mod fingerprint;
mod plan;
mod rewrite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::error::ArrowError;

use crate::date::check_range;
use crate::date::Day;
use crate::error::{Error, Result};
use crate::lake::conform::ConformError;
use crate::lake::dataset::{Dataset, FileError, ParquetFile};
use crate::lake::ledger::{
    self, new_run_id, Journal, Lake, Manifest, OutputRecord, PartitionEntry, Recovery, Replaces,
};
use crate::lake::ocsf;
use crate::lake::schema::{table_schema, OutputSchema};
use crate::lake::write::{writer_properties, WriteSettings, Written};
use crate::storage::{self, policy::LockScope, S3Settings};
use crate::threads;

/// Settings of a `compact` run.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    pub lake: PathBuf,
    /// The files written, as `convert` writes them (`--target-file-size`, `--sort-by`, ...).
    pub write: WriteSettings,
    /// A partition is rewritten when at least this many of its files are below half the target size.
    pub min_files: usize,
    pub from: Option<Day>,
    pub to: Option<Day>,
    /// Plan only: report what would be rewritten, write nothing.
    pub dry_run: bool,
    /// Worker threads for column encoding (0 = one per core).
    pub threads: usize,
    /// Endpoint of an S3-compatible store for an `s3://` lake.
    pub endpoint: Option<String>,
}

impl CompactConfig {
    pub fn new(lake: PathBuf) -> Self {
        CompactConfig {
            lake,
            write: WriteSettings::default(),
            min_files: DEFAULT_MIN_FILES,
            from: None,
            to: None,
            dry_run: false,
            threads: 0,
            endpoint: None,
        }
    }

    /// Checks the settings as `convert` checks its own; the error names the offending flag.
    pub fn validate(&self) -> Result<()> {
        check_range(self.from, self.to)?;
        self.write.validate()?;
        threads::validate(self.threads)
    }
}

/// Default of `--min-files`.
pub const DEFAULT_MIN_FILES: usize = 2;

/// One partition of the plan (and, after the run, of the result).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionPlan {
    /// Folder, relative to the lake root.
    pub path: String,
    pub files_in: usize,
    pub bytes_in: u64,
    /// Rows, from the input footers.
    pub rows: u64,
    /// Files written (a dry run: the estimate at the target size).
    pub files_out: usize,
    /// Bytes written (0 in a dry run).
    pub bytes_out: u64,
}

/// A partition that could not be compacted; its files are untouched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompactFailure {
    pub path: String,
    pub message: String,
}

/// What a compact run did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    pub dry_run: bool,
    /// Folders holding Parquet files within the date range.
    pub partitions_seen: usize,
    /// Partitions rewritten (planned, in a dry run).
    pub compacted: Vec<PartitionPlan>,
    pub failed: Vec<CompactFailure>,
    /// Partitions whose interrupted compaction this run finished recording.
    pub repaired: Vec<String>,
    /// What the user should know that did not stop the run (where it staged its files).
    pub warnings: Vec<String>,
    pub seconds: f64,
}

impl CompactReport {
    pub fn files_in(&self) -> usize {
        self.compacted.iter().map(|p| p.files_in).sum()
    }
    pub fn files_out(&self) -> usize {
        self.compacted.iter().map(|p| p.files_out).sum()
    }

    /// One line for the terminal.
    pub fn summary_line(&self) -> String {
        let verb = if self.dry_run {
            "would rewrite"
        } else {
            "rewrote"
        };
        let bytes_in: u64 = self.compacted.iter().map(|p| p.bytes_in).sum();
        let bytes_out: u64 = self.compacted.iter().map(|p| p.bytes_out).sum();
        let mut line = format!(
            "{} partitions with Parquet files; {verb} {} of them: {} files ({:.1} MiB) -> {} files",
            self.partitions_seen,
            self.compacted.len(),
            self.files_in(),
            bytes_in as f64 / 1048576.0,
            self.files_out(),
        );
        if !self.dry_run {
            line.push_str(&format!(" ({:.1} MiB)", bytes_out as f64 / 1048576.0));
        }
        line.push_str(&format!(" in {:.1}s", self.seconds));
        if !self.failed.is_empty() {
            line.push_str(&format!("; {} partitions FAILED", self.failed.len()));
        }
        line
    }
}

/// Runs `compact` on `cfg.lake`: finishes what interrupted runs left, then, partition by partition,
/// plans ([`plan::choose`]), rewrites ([`rewrite::rewrite`]) and commits ([`commit`]). A partition
/// that cannot be compacted is reported and left as it is; an error of the lake stops the run.
pub fn compact(cfg: &CompactConfig) -> Result<CompactReport> {
    cfg.validate()?;
    let store = storage::open(
        &[&cfg.lake],
        &S3Settings {
            endpoint: cfg.endpoint.clone(),
        },
    )?;
    let dataset = Dataset::open(store.clone(), &cfg.lake)?;
    let started = Instant::now();
    let settings = cfg.write.for_run();
    // A lake without settings (AWS's native Parquet) holds VPC flow log records, not enriched, in
    // AWS's schema.
    let stored = Manifest::of_lake(store.clone(), &cfg.lake)
        .settings()?
        .unwrap_or_default();
    let ocsf = stored.schema == OutputSchema::Ocsf;
    if ocsf && !settings.sort_by.is_none() {
        return Err(Error::Config(
            "--sort-by cannot be used on an OCSF lake: its files are sorted by time, as Security \
             Lake asks"
                .into(),
        ));
    }
    let props = Arc::new(if ocsf {
        ocsf::writer_properties(&settings)?
    } else {
        writer_properties(&settings)?
    });
    let mut report = CompactReport {
        dry_run: cfg.dry_run,
        ..CompactReport::default()
    };
    let lake = if cfg.dry_run {
        None
    } else {
        let run_id = format!("compact-{}", new_run_id());
        let holder = format!("flowlake run {run_id}");
        Some(Lake::open(
            store.clone(),
            &cfg.lake,
            &run_id,
            LockScope::Whole,
            &holder,
        )?)
    };
    let manifest = match &lake {
        Some(lake) => lake.manifest(),
        None => Manifest::of_lake(store.clone(), &cfg.lake),
    };
    let needs_rebuild = recover(lake.as_ref(), &dataset, &manifest, &mut report)?;

    let partitions = dataset.partitions(cfg.from, cfg.to)?;
    report.partitions_seen = partitions.len();
    let run = Run {
        cfg,
        dataset: &dataset,
        manifest: &manifest,
        lake: lake.as_ref(),
        needs_rebuild: &needs_rebuild,
        writing: rewrite::Writing {
            props,
            settings,
            schema: if ocsf {
                ocsf::schema()
            } else {
                table_schema(stored.record_kind, &stored.enrich)
            },
            ocsf,
        },
        pool: threads::pool(cfg.threads)?,
    };
    for (path, files) in partitions {
        match run.partition(&path, files) {
            Ok(Some(plan)) => report.compacted.push(plan),
            Ok(None) => {}
            Err(e) => report.failed.push(e.into_failure(path)?),
        }
    }
    if let Some(lake) = &lake {
        lake.remove_staging()?;
        for (partition, note) in lake.take_notes() {
            let folder = if partition.is_empty() {
                "."
            } else {
                &partition
            };
            report.warnings.push(format!("{folder}: {note}"));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Finishes or undoes the commits stopped runs left ([`ledger::recover`]; not in a dry run, which
/// writes nothing), recording the partitions repaired and where the run stages its files. Returns the
/// partitions a stopped convert run left to be rebuilt: they are not compacted meanwhile.
fn recover(
    lake: Option<&Lake>,
    dataset: &Dataset,
    manifest: &Manifest,
    report: &mut CompactReport,
) -> Result<Vec<String>> {
    let Some(lake) = lake else {
        return manifest.publishing();
    };
    report.warnings.extend(lake.staging_warning());
    let marks = ledger::marks(manifest)?;
    let mut needs_rebuild = Vec::new();
    for partition in marks.partitions() {
        match ledger::recover(lake, dataset, manifest, &marks, partition)? {
            Recovery::Finished | Recovery::Undone => report.repaired.push(partition.clone()),
            // A convert run stopped while it replaced every part file: it finishes or redoes
            // that; the partition is not compacted meanwhile.
            Recovery::NeedsRebuild { .. } => needs_rebuild.push(partition.clone()),
        }
    }
    Ok(needs_rebuild)
}

/// What every partition of a run is compacted with; `lake` is `None` in a dry run.
struct Run<'a> {
    cfg: &'a CompactConfig,
    dataset: &'a Dataset,
    manifest: &'a Manifest,
    lake: Option<&'a Lake>,
    needs_rebuild: &'a [String],
    writing: rewrite::Writing,
    pool: rayon::ThreadPool,
}

impl Run<'_> {
    /// Compacts the partition at `path` (relative to the lake root): its plan when it was rewritten
    /// (or, in a dry run, would be), `None` when it is left alone.
    fn partition(
        &self,
        path: &str,
        files: Vec<ParquetFile>,
    ) -> std::result::Result<Option<PartitionPlan>, PartitionError> {
        let Some(chosen) = plan::choose(
            self.cfg,
            self.dataset,
            self.manifest,
            self.needs_rebuild,
            path,
            files,
        )?
        else {
            return Ok(None);
        };
        let Some(lake) = self.lake else {
            return Ok(Some(chosen.plan));
        };
        let written = self.pool.install(|| {
            rewrite::rewrite(
                lake,
                path,
                self.dataset,
                &chosen.files,
                chosen.sources.as_deref(),
                &self.writing,
            )
        })?;
        commit(lake, self.manifest, path, &chosen.files, &written)?;
        Ok(Some(PartitionPlan {
            files_out: written.files.len(),
            bytes_out: written.files.iter().map(|f| f.bytes).sum(),
            ..chosen.plan
        }))
    }
}

/// Why a partition was not compacted: its own files or entry (it is reported, left as it is, and the
/// run goes on), or the lake (`Lake`: the run stops).
#[derive(Debug, thiserror::Error)]
enum PartitionError {
    /// A file's footer cannot be read.
    #[error("{}: {source}", path.display())]
    Footer {
        path: PathBuf,
        #[source]
        source: FileError,
    },
    /// A convert run stopped while it replaced the partition's files.
    #[error("an interrupted convert run left this partition to be rebuilt; run convert first")]
    NeedsRebuild,
    /// A partition `convert` built whose rows could not be followed into the new files.
    #[error(transparent)]
    Untracked(#[from] plan::Untracked),
    /// A file cannot be opened as Parquet.
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: FileError,
    },
    /// A file's rows cannot be decoded.
    #[error("{}: reading: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: ArrowError,
    },
    /// A file has a column the lake does not know, or a value that does not fit its lake type.
    #[error("{}: {source}", path.display())]
    Conform {
        path: PathBuf,
        #[source]
        source: Box<ConformError>,
    },
    /// The staged files do not hold what was read.
    #[error(
        "the rewritten files do not hold the same data as the input (column {column}); nothing \
         was published"
    )]
    Differs { column: String },
    /// The lake failed (writing, staging, committing): the run stops.
    #[error(transparent)]
    Lake(#[from] Error),
}

impl PartitionError {
    /// The edge of a partition's errors: the report's line for a partition left as it is, or the
    /// error that stops the run.
    fn into_failure(self, path: String) -> Result<CompactFailure> {
        match self {
            PartitionError::Lake(e) => Err(e),
            failed => Ok(CompactFailure {
                path,
                message: failed.to_string(),
            }),
        }
    }
}

/// Swaps the staged files in (replacing exactly the files that were read) and records them, with the
/// row map of their rows' inputs when the partition has an entry with inputs.
fn commit(
    lake: &Lake,
    manifest: &Manifest,
    partition: &str,
    inputs: &[ParquetFile],
    written: &Written,
) -> Result<()> {
    let names: Vec<String> = written.files.iter().map(|f| f.name.clone()).collect();
    let read: Vec<String> = inputs.iter().map(|f| f.name.clone()).collect();
    let outputs: Vec<OutputRecord> = written
        .files
        .iter()
        .map(|f| OutputRecord {
            name: f.name.clone(),
            rows: f.rows,
            bytes: f.bytes,
        })
        .collect();
    let mut entry = PartitionEntry::with_outputs(manifest.entry(partition)?, partition, outputs);
    let rows = (!entry.inputs.is_empty()).then_some(written.sources.as_slice());
    for input in &mut entry.inputs {
        input.first_row = None;
    }
    lake.commit(
        manifest,
        entry,
        rows,
        &names,
        Replaces::Only(&read),
        Journal::Compaction,
    )
}
