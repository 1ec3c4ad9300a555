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

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Int32Type, Int64Type, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::date::check_range;
use crate::date::Day;
use crate::error::{Error, Result};
use crate::lake::conform::to_lake_batch;
use crate::lake::dataset::{Dataset, ParquetFile, READ_BATCH_ROWS};
use crate::lake::is_part_file;
use crate::lake::ledger::rowmap::{Runs, NO_INPUT};
use crate::lake::ledger::{
    self, new_run_id, Journal, Lake, Manifest, OutputRecord, PartitionEntry, Recovery, Replaces,
    RowRunsError,
};
use crate::lake::schema;
use crate::lake::sort::{SortColumns, SortMemory, DEFAULT_SORT_MEMORY};
use crate::lake::write::{
    writer_properties, BloomColumns, PartitionWriter, WriteSettings, Written,
    DEFAULT_ROW_GROUP_ROWS, DEFAULT_TARGET_FILE_BYTES,
};
use crate::storage::{self, policy::LockScope, S3Settings};
use crate::threads;

/// Settings of a `compact` run.
#[derive(Debug, Clone)]
pub struct CompactConfig {
    pub lake: PathBuf,
    pub target_file_bytes: u64,
    pub row_group_rows: usize,
    /// ZSTD level of every column; `None`: each column's measured default.
    pub zstd_level: Option<i32>,
    /// Columns with a Bloom filter in every row group.
    pub bloom_filter: BloomColumns,
    /// The order of the rows across each partition (`--sort-by`).
    pub sort_by: SortColumns,
    /// Memory a partition's rows may take before the sort spills them (`--sort-memory`).
    pub sort_memory: usize,
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
            target_file_bytes: DEFAULT_TARGET_FILE_BYTES,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            zstd_level: None,
            bloom_filter: BloomColumns::default(),
            sort_by: SortColumns::none(),
            sort_memory: DEFAULT_SORT_MEMORY,
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
        WriteSettings {
            target_file_bytes: self.target_file_bytes,
            row_group_rows: self.row_group_rows,
            zstd_level: self.zstd_level,
            bloom_filter: self.bloom_filter.clone(),
            sort_by: self.sort_by.clone(),
            sort_memory: SortMemory::new(self.sort_memory),
        }
        .validate()?;
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

/// Runs `compact` on `cfg.lake`.
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
    let settings = WriteSettings {
        target_file_bytes: cfg.target_file_bytes,
        row_group_rows: cfg.row_group_rows,
        zstd_level: cfg.zstd_level,
        bloom_filter: cfg.bloom_filter.clone(),
        sort_by: cfg.sort_by.clone(),
        sort_memory: SortMemory::new(cfg.sort_memory),
    };
    let props = Arc::new(writer_properties(&settings)?);
    let mut report = CompactReport {
        dry_run: cfg.dry_run,
        ..CompactReport::default()
    };
    let run_id = format!("compact-{}", new_run_id());
    let lake = if cfg.dry_run {
        None
    } else {
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
    let mut needs_rebuild = Vec::new();
    if let Some(lake) = &lake {
        report.warnings.extend(lake.staging_warning());
        let marks = ledger::marks(&manifest)?;
        for partition in marks.partitions() {
            match ledger::recover(lake, &dataset, &manifest, &marks, partition)? {
                Recovery::Finished | Recovery::Undone => report.repaired.push(partition.clone()),
                // A convert run stopped while it replaced every part file: it finishes or redoes
                // that; the partition is not compacted meanwhile.
                Recovery::NeedsRebuild { .. } => needs_rebuild.push(partition.clone()),
            }
        }
    } else {
        needs_rebuild = manifest.publishing()?;
    }
    let partitions = dataset.partitions(cfg.from, cfg.to)?;
    report.partitions_seen = partitions.len();
    let pool = threads::pool(cfg.threads)?;
    for (path, files) in partitions {
        let small = files
            .iter()
            .filter(|f| f.bytes < cfg.target_file_bytes / 2)
            .count();
        if small < cfg.min_files.max(2) {
            // Few small files: rewritten only when `--sort-by` asks for an order its files lack.
            match out_of_order(&dataset, &path, &files, &cfg.sort_by) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(message) => {
                    report.failed.push(CompactFailure { path, message });
                    continue;
                }
            }
        }
        if needs_rebuild.contains(&path) {
            report.failed.push(CompactFailure {
                path,
                message: "an interrupted convert run left this partition to be rebuilt; run convert first"
                    .into(),
            });
            continue;
        }
        let rows = match footer_rows(&dataset, &path, &files) {
            Ok(rows) => rows,
            Err(message) => {
                report.failed.push(CompactFailure { path, message });
                continue;
            }
        };
        let bytes_in: u64 = files.iter().map(|f| f.bytes).sum();
        let mut plan = PartitionPlan {
            path: path.clone(),
            files_in: files.len(),
            bytes_in,
            rows,
            files_out: bytes_in.div_ceil(cfg.target_file_bytes).max(1) as usize,
            bytes_out: 0,
        };
        let mut files = files;
        let sources = match sources_of(&manifest, &path, &mut files) {
            Ok(sources) => sources,
            Err(why) => {
                report.failed.push(CompactFailure {
                    path,
                    message: why.to_string(),
                });
                continue;
            }
        };
        let Some(lake) = &lake else {
            report.compacted.push(plan);
            continue;
        };
        let written = pool.install(|| {
            rewrite(
                lake,
                &path,
                &dataset,
                &files,
                sources.as_deref(),
                props.clone(),
                settings.clone(),
            )
        });
        let written = match written {
            Ok(w) => w,
            Err(PartitionError::Failed(message)) => {
                report.failed.push(CompactFailure { path, message });
                continue;
            }
            Err(PartitionError::Fatal(e)) => return Err(e),
        };
        publish(lake, &manifest, &path, &files, &written)?;
        plan.files_out = written.files.len();
        plan.bytes_out = written.files.iter().map(|f| f.bytes).sum();
        report.compacted.push(plan);
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

fn footer_rows(
    dataset: &Dataset,
    partition: &str,
    files: &[ParquetFile],
) -> std::result::Result<u64, String> {
    let mut rows = 0u64;
    for f in files {
        let footer = dataset
            .footer(partition, f)
            .map_err(|e| format!("{}: {e}", dataset.file(partition, &f.name).display()))?;
        rows += footer.file_metadata().num_rows().max(0) as u64;
    }
    Ok(rows)
}

/// True when `sort_by` names an order and some row group of the partition's files does not declare
/// it in its `sorting_columns` (matched by column name, ascending, NULLs first, as flowlake writes
/// them: only after sorting the rows across all of the partition's files). No order asked: false,
/// without reading a footer.
fn out_of_order(
    dataset: &Dataset,
    partition: &str,
    files: &[ParquetFile],
    sort_by: &SortColumns,
) -> std::result::Result<bool, String> {
    if sort_by.is_none() {
        return Ok(false);
    }
    let wanted = sort_by.names();
    for f in files {
        let footer = dataset
            .footer(partition, f)
            .map_err(|e| format!("{}: {e}", dataset.file(partition, &f.name).display()))?;
        let schema = footer.file_metadata().schema_descr();
        for rg in footer.row_groups() {
            let declared: Option<Vec<String>> = rg.sorting_columns().and_then(|columns| {
                columns
                    .iter()
                    .map(|c| {
                        let leaf = usize::try_from(c.column_idx).ok()?;
                        (leaf < schema.num_columns() && !c.descending && c.nulls_first)
                            .then(|| schema.column(leaf).path().string())
                    })
                    .collect()
            });
            if declared.as_deref() != Some(wanted.as_slice()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Why a partition was not rewritten: its own input (the run goes on) or the lake (the run stops).
enum PartitionError {
    Failed(String),
    Fatal(Error),
}

impl From<Error> for PartitionError {
    fn from(e: Error) -> Self {
        PartitionError::Fatal(e)
    }
}

/// Why a partition built by `convert` cannot be compacted without losing track of its rows.
#[derive(Debug, thiserror::Error)]
enum Untracked {
    /// Files its entry does not list (a foreign file merged into flowlake's own would be dropped by
    /// the next rebuild, which replaces those), or listed files missing.
    #[error(
        "its files are not the ones its manifest entry lists ({0}): run convert on its days \
         first, and move files flowlake did not write out of the partition"
    )]
    Files(String),
    /// Its entry does not say where each input's rows are, or its row map cannot be read or
    /// disagrees with the entry or the files.
    #[error("{0}: rebuild it with convert --rebuild first")]
    Rows(#[from] RowRunsError),
    #[error(transparent)]
    Lake(#[from] Error),
}

/// Which input each row of the partition's files came from ([`Manifest::row_runs`]), over `files`,
/// which it puts in the entry's order (the order they were written); `None` for a partition no
/// convert run built (AWS's own files, with no entry or one `compact` wrote, without inputs).
fn sources_of(
    manifest: &Manifest,
    partition: &str,
    files: &mut [ParquetFile],
) -> std::result::Result<Option<Vec<(u32, u64)>>, Untracked> {
    let Some(entry) = manifest.entry(partition)? else {
        return Ok(None);
    };
    if entry.inputs.is_empty() {
        return Ok(None);
    }
    let mut found: Vec<(&str, u64)> = files.iter().map(|f| (f.name.as_str(), f.bytes)).collect();
    let mut listed: Vec<(&str, u64)> = entry
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.bytes))
        .collect();
    found.sort_unstable();
    listed.sort_unstable();
    if found != listed {
        let strangers: Vec<&str> = found
            .iter()
            .filter(|f| !listed.contains(f))
            .map(|f| f.0)
            .collect();
        return Err(Untracked::Files(if strangers.is_empty() {
            "some are missing".to_string()
        } else {
            format!("not listed: {}", strangers.join(", "))
        }));
    }
    let runs = manifest.row_runs(&entry)?;
    // The runs go over the files in the entry's order (the order they were written).
    files.sort_by_key(|f| entry.outputs.iter().position(|o| o.name == f.name));
    Ok(Some(runs))
}

/// Reads every file of the partition (in name order) into staged files at the target size and checks
/// that the staged files hold exactly what was read. `sources` (see [`sources_of`]) follow the rows
/// into the new files' order ([`Written::sources`]).
fn rewrite(
    lake: &Lake,
    partition: &str,
    dataset: &Dataset,
    files: &[ParquetFile],
    sources: Option<&[(u32, u64)]>,
    props: Arc<parquet::file::properties::WriterProperties>,
    settings: WriteSettings,
) -> std::result::Result<Written, PartitionError> {
    let mut runs = Runs::new(sources.unwrap_or_default());
    let schema = schema::lake_schema();
    let mut before = Fingerprint::new(&schema);
    let mut writer =
        PartitionWriter::new(lake, partition.to_string(), schema.clone(), props, settings)
            .numbered_from(first_free_part(files));
    for f in files {
        let path = dataset.file(partition, &f.name);
        let failed =
            |message: String| PartitionError::Failed(format!("{}: {message}", path.display()));
        let reader = dataset
            .batches(partition, f)
            .map_err(|e| failed(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| failed(format!("reading: {e}")))?;
            let batch = to_lake_batch(&batch, &schema).map_err(|e| failed(e.to_string()))?;
            before.add(&batch);
            let mut of_rows = Vec::with_capacity(batch.num_rows());
            runs.take(batch.num_rows() as u64, |input, rows| {
                of_rows.extend(std::iter::repeat_n(
                    input.unwrap_or(NO_INPUT),
                    rows as usize,
                ));
            });
            writer.write_sourced(batch, UInt32Array::from(of_rows))?;
        }
    }
    let written = writer.finish()?;
    let mut after = Fingerprint::new(&schema);
    for f in &written.files {
        let path = lake.staged_file(partition, &f.name);
        let read_back = File::open(&path)
            .map_err(|e| Error::output(&path, e))
            .and_then(|file| {
                ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
                    .map_err(|source| Error::Parquet {
                        path: path.clone(),
                        source,
                    })
            })?;
        for batch in read_back {
            after.add(&batch.map_err(Error::Arrow)?);
        }
    }
    if let Some(column) = before.differs(&after) {
        return Err(PartitionError::Failed(format!(
            "the rewritten files do not hold the same data as the input (column {column}); nothing was published"
        )));
    }
    Ok(written)
}

/// Per-column fingerprint of a set of rows, independent of their order and of how they are split in
/// batches and files: non-NULL count, and the sum of the values (integers) or of their lengths and
/// 64-bit FNV-1a hashes (strings; the map column's keys and values).
struct Fingerprint {
    names: Vec<String>,
    rows: u64,
    columns: Vec<ColumnSums>,
}

#[derive(Default, Clone, PartialEq, Eq)]
struct ColumnSums {
    non_null: u64,
    sum: i128,
    lengths: u64,
    hashes: u64,
}

impl Fingerprint {
    fn new(schema: &SchemaRef) -> Self {
        Fingerprint {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            rows: 0,
            columns: vec![ColumnSums::default(); schema.fields().len()],
        }
    }

    fn add(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows() as u64;
        for (sums, array) in self.columns.iter_mut().zip(batch.columns()) {
            sums.non_null += (array.len() - array.null_count()) as u64;
            add_values(sums, array.as_ref());
        }
    }

    /// The first column whose fingerprint differs, if any ("rows" for the row count).
    fn differs(&self, other: &Fingerprint) -> Option<String> {
        if self.rows != other.rows {
            return Some("row count".into());
        }
        self.columns
            .iter()
            .zip(&other.columns)
            .zip(&self.names)
            .find(|((a, b), _)| a != b)
            .map(|(_, name)| name.clone())
    }
}

fn add_values(sums: &mut ColumnSums, array: &dyn Array) {
    match array.data_type() {
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            sums.sum += a.iter().flatten().map(i128::from).sum::<i128>();
        }
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            sums.sum += a.iter().flatten().map(i128::from).sum::<i128>();
        }
        DataType::Utf8 => {
            for v in array.as_string::<i32>().iter().flatten() {
                sums.lengths += v.len() as u64;
                sums.hashes = sums.hashes.wrapping_add(crate::hash::fnv1a(v.as_bytes()));
            }
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let entries = map.entries();
            for child in entries.columns() {
                sums.sum += (child.len() - child.null_count()) as i128;
                add_values(sums, child.as_ref());
            }
        }
        _ => {}
    }
}

/// Swaps the staged files in (replacing exactly the files that were read) and records them, with the
/// row map of their rows' inputs when the partition has an entry with inputs.
fn publish(
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

/// The index of the first part file `part-NNNNN.parquet` after every one among `files`: the names a
/// compaction gives its new files, so that they never replace a file of the partition under the same
/// name (which a swap cut short could not undo).
fn first_free_part(files: &[ParquetFile]) -> usize {
    files
        .iter()
        .filter(|f| is_part_file(&f.name))
        .filter_map(|f| {
            f.name
                .strip_prefix("part-")?
                .strip_suffix(".parquet")?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |i| i + 1)
}
