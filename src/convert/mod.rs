//! The `convert` pipeline: discover → read → tokenize → build batches → write → publish.
//!
//! Partitions (in units: one partition, or with `--partition-time start` a run of neighbours that
//! share files) are converted two units at a time when the staging disk has room, so one unit's
//! parsing fills the cores while the other's last rows are encoded and published; inside a unit,
//! input files are parsed in parallel (one [`FileParser`] per busy thread, reused from file to file)
//! in *waves* of about `read_ahead_bytes` of compressed input, and while wave k+1 is being parsed,
//! wave k's batches are encoded (columns in parallel, see `lake/write.rs`). So the nightly single-day
//! run uses every core as well as a many-day migration does, and memory is bounded by the wave size,
//! the file buffers and the open row groups of two units, never by the input size. Waves keep the input order, so the output of a rerun on
//! the same input is the same.
//!
//! A partition's files are staged, checked (rows parsed == rows encoded), then committed at once
//! ([`Lake::commit`]). This folder is the `convert` engine: [`config`] (its validated settings),
//! [`report`] (the account of every line) and [`shard`] (splitting a run across processes). It uses
//! `input`, `text`, `lake`, `storage` and the base modules; no other engine.

pub mod config;
pub mod report;
pub mod shard;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;

use arrow::array::{BooleanArray, BooleanBufferBuilder, UInt32Array};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use crate::convert::config::ConvertConfig;
use crate::convert::report::{
    AbortedPartition, FailedFile, HeldPartition, PartitionReport, Report, VanishedInput, Warning,
};
use crate::error::{Error, Result};
use crate::input::copies::drop_copies;
use crate::input::discover::{compression_of, discover, InputFile, Skipped};
use crate::input::parse::{BadFilePolicy, FileOutcome, FileParser, ParseSettings};
use crate::input::read::ReadErrorKind;
use crate::lake::commit::{new_run_id, Journal, Lake, Replaces};
use crate::lake::conform::to_lake_batch;
use crate::lake::dataset::{Dataset, ParquetFile};
use crate::lake::manifest::{
    FailedRecord, InputRecord, LakeSettings, Manifest, OutputRecord, PartitionEntry,
    MANIFEST_VERSION,
};
use crate::lake::partition::{
    identity_of, key_for_path, PartitionKey, PartitionLayout, PartitionTime,
};
use crate::lake::rowmap::{self, Runs, NO_INPUT};
use crate::lake::schema;
use crate::lake::sort::SortMemory;
use crate::lake::write::{writer_properties, PartitionWriter, WriteSettings};
use crate::storage::{self, policy::LockScope, Entry, S3Settings, Store};
use crate::text::rejects::RejectLog;
use crate::text::route::{key_at, slot_of, slot_seconds, split_by_start};
use crate::threads;

/// Receives progress events; the library's only channel to a user interface. Called from worker
/// threads.
pub trait Progress: Sync {
    /// Discovery finished: this many files and compressed bytes are to be converted.
    fn start(&self, _files: u64, _bytes: u64) {}
    /// One file was read and parsed.
    fn file_done(&self, _bytes: u64, _rows: u64) {}
    /// The run ended.
    fn finish(&self) {}
    /// Polled between files and partitions: true stops the run with [`Error::Interrupted`], leaving
    /// every partition either as it was or fully published.
    fn should_stop(&self) -> bool {
        false
    }
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Converts the configured inputs into the lake and reports what happened.
pub fn convert(cfg: &ConvertConfig, progress: &dyn Progress) -> Result<Report> {
    cfg.validate()?;
    threads::pool(cfg.threads)?.install(|| Run::new(cfg, progress).and_then(Run::convert))
}

/// What [`decompress_only`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InflateReport {
    pub files: u64,
    pub failed: u64,
    pub input_bytes: u64,
    pub text_bytes: u64,
    pub seconds: f64,
}

/// The benchmark floor: lists and decompresses every input file of `cfg` with the same reader and
/// thread pool as [`convert`], and does nothing else.
pub fn decompress_only(cfg: &ConvertConfig) -> Result<InflateReport> {
    let pool = threads::pool(cfg.threads)?;
    let started = Instant::now();
    let source = store_for(cfg)?;
    let source = source.as_ref();
    let found = discover(source, &cfg.inputs, cfg.from, cfg.to, cfg.hourly)?;
    let (files, failed, input_bytes, text_bytes) = pool.install(|| {
        found
            .files
            .par_iter()
            .chain(found.undated.par_iter())
            .map_init(
                || (crate::input::read::FileReader::new(), Vec::new()),
                |(reader, buf), f| {
                    let ok = reader.read(source, f, buf, cfg.max_file_bytes).is_ok();
                    (u64::from(ok), u64::from(!ok), f.size, buf.len() as u64)
                },
            )
            .reduce(
                || (0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3),
            )
    });
    Ok(InflateReport {
        files,
        failed,
        input_bytes,
        text_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The store that serves the run's inputs and lake (local, S3 or both).
fn store_for(cfg: &ConvertConfig) -> Result<Arc<dyn Store>> {
    let paths: Vec<&std::path::Path> = cfg
        .inputs
        .iter()
        .chain([&cfg.out])
        .map(|p| p.as_path())
        .collect();
    storage::open(
        &paths,
        &S3Settings {
            endpoint: cfg.endpoint.clone(),
        },
    )
}

/// One output partition the run may (re)build.
struct Output {
    /// Its day (or hour) number, see `route.rs`.
    slot: i64,
    path: String,
    /// The files delivered in its slot and, with `--partition-time start`, in the next one.
    inputs: Vec<InputFile>,
    /// Inputs of its earlier build that no longer exist (or cannot be checked): their rows are carried
    /// over from its published files, read in the order `before` lists them.
    carried: Vec<InputRecord>,
    /// Its published files, as its manifest entry records them.
    before: Vec<OutputRecord>,
    /// Whose rows the published files hold, in their row order: runs of (index into `carried`,
    /// rows), `None` for rows of inputs that are read again (or of no input).
    provenance: Vec<(Option<usize>, u64)>,
}

impl Output {
    /// The output of partition `path` (slot `slot`) in `outputs`, added with nothing in it yet.
    fn of(outputs: &mut BTreeMap<String, Output>, path: String, slot: i64) -> &mut Output {
        outputs.entry(path.clone()).or_insert_with(|| Output {
            slot,
            path,
            inputs: Vec::new(),
            carried: Vec::new(),
            before: Vec::new(),
            provenance: Vec::new(),
        })
    }
}

/// A partition being built: its writer and what went into it.
struct Building<'l> {
    writer: PartitionWriter<'l>,
    /// Rows handed to the writer.
    rows: u64,
    /// Files delivered in its slot, and how many of them could not be read.
    files: u64,
    unreadable: u64,
    /// Lines, rejects and unreadable files of the files delivered in its slot.
    lines: u64,
    rejected: u64,
    /// Lines of those files dropped by the lake's filters.
    filtered: u64,
    failed: Vec<FailedRecord>,
    /// Rows carried over from its earlier files (handed to the writer before any read row).
    carried_rows: u64,
    /// The carried inputs.
    carried: Vec<InputRecord>,
    /// The inputs whose rows were handed to the writer, by the source number they were given with.
    sources: Vec<PathBuf>,
    source_of: HashMap<PathBuf, u32>,
}

impl<'l> Building<'l> {
    fn new(writer: PartitionWriter<'l>) -> Self {
        Building {
            writer,
            rows: 0,
            files: 0,
            unreadable: 0,
            lines: 0,
            rejected: 0,
            filtered: 0,
            failed: Vec::new(),
            carried_rows: 0,
            carried: Vec::new(),
            sources: Vec::new(),
            source_of: HashMap::new(),
        }
    }

    /// The source number of the rows of the input at `path` (see [`PartitionWriter::write`]).
    fn source(&mut self, path: &Path) -> u32 {
        if let Some(&n) = self.source_of.get(path) {
            return n;
        }
        let n = self.sources.len() as u32;
        self.sources.push(path.to_path_buf());
        self.source_of.insert(path.to_path_buf(), n);
        n
    }
}

/// Groups the partitions to rebuild into units built in one pass: with `--partition-time start`,
/// runs of consecutive slots of one account and region (neighbours share input files); otherwise
/// one partition per unit.
fn units(mut rebuild: Vec<Output>, start_mode: bool) -> Vec<Vec<Output>> {
    let series = |o: &Output| o.path.split("year=").next().unwrap_or_default().to_string();
    rebuild.sort_by_cached_key(|o| (series(o), o.slot));
    let mut units: Vec<Vec<Output>> = Vec::new();
    for output in rebuild {
        let joins = start_mode
            && units.last().and_then(|u| u.last()).is_some_and(|last| {
                series(last) == series(&output) && last.slot + 1 == output.slot
            });
        match units.last_mut() {
            Some(unit) if joins => unit.push(output),
            _ => units.push(vec![output]),
        }
    }
    units
}

/// Free staging space kept beyond the estimate before two units are built at once.
const STAGING_MARGIN: u64 = 64 * 1024 * 1024;

/// Reusable parsers, one per thread that is busy at once.
#[derive(Default)]
struct ParserPool(Mutex<Vec<FileParser>>);

impl ParserPool {
    /// Runs `work` with a parser of the pool (a new one when all are busy), then returns it.
    fn with<T>(&self, work: impl FnOnce(&mut FileParser) -> T) -> T {
        let mut parser = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let out = work(&mut parser);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(parser);
        out
    }

    fn parse(&self, file: &InputFile, run: &Run<'_>) -> Result<FileOutcome> {
        self.with(|parser| parser.parse(run.store.as_ref(), file, &run.parse, &run.rejects))
    }
}

struct Run<'a> {
    cfg: &'a ConvertConfig,
    progress: &'a dyn Progress,
    /// Where the inputs and the lake are.
    store: Arc<dyn Store>,
    lake: Lake,
    rejects: RejectLog,
    parse: ParseSettings,
    write: WriteSettings,
    props: Arc<parquet::file::properties::WriterProperties>,
    parsers: ParserPool,
    manifest: Manifest,
}

impl<'a> Run<'a> {
    fn new(cfg: &'a ConvertConfig, progress: &'a dyn Progress) -> Result<Run<'a>> {
        let store = store_for(cfg)?;
        let run_id = new_run_id();
        let (scope, holder) = match cfg.shard {
            None => (LockScope::Whole, format!("flowlake run {run_id}")),
            Some(s) => (
                LockScope::Member {
                    index: s.index,
                    count: s.count,
                },
                format!("flowlake run {run_id}, shard {s}"),
            ),
        };
        let lake = Lake::open(store.clone(), &cfg.out, &run_id, scope, &holder)?;
        let rejects = RejectLog::to_file(lake.meta_path(&format!("rejects/{run_id}.jsonl")));
        let write = WriteSettings {
            target_file_bytes: cfg.target_file_bytes,
            row_group_rows: cfg.row_group_rows,
            zstd_level: cfg.zstd_level,
            bloom_filter: cfg.bloom_filter.clone(),
            sort_by: cfg.sort_by.clone(),
            sort_memory: SortMemory::new(cfg.sort_memory),
        };
        Ok(Run {
            cfg,
            progress,
            store,
            rejects,
            parse: ParseSettings {
                fields: cfg.fields.clone(),
                batch_rows: cfg.batch_rows,
                max_file_bytes: cfg.max_file_bytes,
                max_line_bytes: cfg.max_line_bytes,
                on_bad_line: cfg.on_bad_line,
                on_bad_file: cfg.on_bad_file,
                filters: cfg.filters.clone(),
            },
            props: Arc::new(writer_properties(&write)?),
            write,
            parsers: ParserPool::default(),
            manifest: lake.manifest(),
            lake,
        })
    }

    fn convert(self) -> Result<Report> {
        let started = Instant::now();
        let cfg = self.cfg;
        let mut found = discover(
            self.store.as_ref(),
            &cfg.inputs,
            cfg.from,
            cfg.to,
            cfg.hourly,
        )?;
        let listed = started.elapsed().as_secs_f64();
        // Keys an input lacks, from --account/--region (never over what its path or name says).
        for file in &mut found.files {
            if file.key.account.is_none() {
                file.key.account.clone_from(&cfg.account);
            }
            if file.key.region.is_none() {
                file.key.region.clone_from(&cfg.region);
            }
        }
        for file in &mut found.undated {
            if file.key.account.is_none() {
                file.key.account.clone_from(&cfg.account);
            }
            if file.key.region.is_none() {
                file.key.region.clone_from(&cfg.region);
            }
        }
        // An input listed twice (two roots holding the same tree) is read once.
        for files in [&mut found.files, &mut found.undated] {
            found
                .skipped
                .extend(drop_copies(self.store.as_ref(), files));
        }
        let all: Vec<&InputFile> = found.files.iter().chain(&found.undated).collect();
        let layout = self.lake_layout(&all)?;
        if layout == PartitionLayout::Aws {
            // A file that names no account and region has no place in a lake with AWS's keys.
            let keyed = |f: &InputFile| f.key.account.is_some() && f.key.region.is_some();
            let (keep, mut drop): (Vec<_>, Vec<_>) = std::mem::take(&mut found.files)
                .into_iter()
                .partition(keyed);
            found.files = keep;
            let (keep, undated_drop): (Vec<_>, Vec<_>) = std::mem::take(&mut found.undated)
                .into_iter()
                .partition(keyed);
            found.undated = keep;
            drop.extend(undated_drop);
            found.skipped.extend(drop.into_iter().map(|f| Skipped {
                flow_log: true,
                path: f.path,
                reason: "the lake uses AWS's keys (aws-account-id=, aws-region=) and neither the path nor \
                         the file name gives this file's account and region"
                    .into(),
            }));
        }
        let mut report = Report {
            files_skipped: found.skipped.len() as u64,
            skipped: found.skipped.clone(),
            ..Report::default()
        };
        report.stages.list = listed;
        // Entries below a root that could not be listed: named, the rest converts.
        for problem in std::mem::take(&mut found.failed) {
            report.files_failed += 1;
            report.failed.push(FailedFile::unread(
                problem.path,
                ReadErrorKind::Listing,
                problem.message,
            ));
        }
        if let Some(message) = self.lake.staging_warning() {
            report.warnings.push(Warning {
                path: cfg.out.clone(),
                message,
            });
        }
        report.warnings.extend(
            std::mem::take(&mut found.warnings)
                .into_iter()
                .map(|(path, message)| Warning { path, message }),
        );
        // Every output partition the listed files can feed, with its inputs.
        let start_mode = cfg.partition_time == PartitionTime::Start;
        let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
        for file in &found.files {
            let delivery = slot_of(&file.key, cfg.hourly);
            let slots = if start_mode {
                delivery - 1..=delivery
            } else {
                delivery..=delivery
            };
            for slot in slots {
                let path = key_at(&file.key, slot, cfg.hourly).path(layout);
                Output::of(&mut outputs, path, slot)
                    .inputs
                    .push(file.clone());
            }
        }
        // Files with no date of their own: read now (or known from the manifest) to find the slots
        // their records fall in, then an input of each of those partitions.
        for (file, slots) in self.undated_slots(std::mem::take(&mut found.undated), &mut report)? {
            let feeds: Arc<[i64]> = Arc::from(slots.as_slice());
            for slot in slots {
                let key = key_at(&file.key, slot, cfg.hourly);
                if cfg.from.is_some_and(|f| key.day < f) || cfg.to.is_some_and(|t| key.day > t) {
                    continue;
                }
                let path = key.path(layout);
                Output::of(&mut outputs, path, slot).inputs.push(InputFile {
                    key,
                    undated: Some(feeds.clone()),
                    ..file.clone()
                });
            }
        }
        // Partitions a stopped run was swapping: where the swap was done (the folder holds exactly the
        // files the mark's entry lists), recording that entry finishes it; the others are rebuilt
        // whatever this run's range.
        let mut interrupted = Vec::new();
        for path in self.manifest.publishing()? {
            if !self.finish_interrupted(&path, &mut report)? {
                interrupted.push(path);
            }
        }
        for path in &interrupted {
            if outputs.contains_key(path) {
                continue;
            }
            let key = PartitionKey::from_path(path, cfg.hourly);
            match (key, self.manifest.entry(path)?) {
                (Some(key), Some(_)) => {
                    Output::of(&mut outputs, path.clone(), slot_of(&key, cfg.hourly));
                }
                _ => report.warnings.push(Warning {
                    path: self.lake.root().join(path),
                    message:
                        "a stopped run was publishing this partition and no manifest entry says \
                              what built it: convert its days again to rebuild it"
                            .into(),
                }),
            }
        }
        // A shard builds its own partitions only (interrupted ones included: their owner repairs them).
        if let Some(shard) = cfg.shard {
            let before = outputs.len();
            outputs.retain(|path, _| shard.owns(path));
            report.shard = Some(shard.to_string());
            report.partitions_in_other_shards = (before - outputs.len()) as u64;
        }
        // Keep the partitions whose manifest entry still matches; rebuild the others.
        let fingerprint = fingerprint(cfg);
        // Partitions whose compaction stopped mid-commit (`compact` finishes those).
        let compacting = self.manifest.compacting()?;
        let mut rebuild = Vec::new();
        for (path, mut output) in outputs {
            let entry = self.manifest.entry(&path)?;
            if let Some(entry) = &entry {
                output.carried = self.resolve_remembered(&mut output.inputs, entry, &mut report);
            }
            output.inputs.sort_by(|a, b| a.path.cmp(&b.path));
            output.inputs.dedup_by(|a, b| a.path == b.path);
            // The inputs as they are now: the files found, and the vanished ones whose rows stay.
            let mut now: Vec<(&std::path::Path, u64, Option<i64>)> = output
                .inputs
                .iter()
                .map(|f| (f.path.as_path(), f.size, f.mtime))
                .chain(output.carried.iter().map(InputRecord::state))
                .collect();
            now.sort_unstable();
            let published = self.lake.published(&path)?;
            let up_to_date = !interrupted.contains(&path)
                && entry.as_ref().is_some_and(|e| {
                    let mut then: Vec<_> = e.inputs.iter().map(InputRecord::state).collect();
                    then.sort_unstable();
                    e.fingerprint == fingerprint
                    // a file that failed for a reason that may pass (I/O, size limit) is retried
                    && e.failed.iter().all(|f| !f.kind.may_pass())
                    && then == now
                    && published == e.output_files()
                });
            if up_to_date && !cfg.rebuild {
                report.partitions_unchanged += 1;
                report.files_unchanged += output.inputs.len() as u64;
                continue;
            }
            if let Some(e) = entry.filter(|_| !output.carried.is_empty()) {
                match self.provenance(&e, &output.carried, &published) {
                    Ok(runs) => output.provenance = runs,
                    Err(why) => {
                        report.partitions_unchanged += 1;
                        let reason = if compacting.contains(&path) {
                            "inputs of it no longer exist and a compaction of it stopped before \
                             recording its files: run `flowlake compact` on the lake to finish \
                             it, then convert again"
                                .to_string()
                        } else {
                            format!(
                                "inputs of it no longer exist and {why}; restore them, or \
                                 rebuild with --mirror-deletions to drop their rows"
                            )
                        };
                        report.held.push(HeldPartition {
                            path: path.clone(),
                            reason,
                        });
                        continue;
                    }
                }
                output.before = e.outputs;
            }
            rebuild.push(output);
        }
        let units = units(rebuild, start_mode);
        let mut to_read: Vec<&InputFile> = units.iter().flatten().flat_map(|o| &o.inputs).collect();
        to_read.sort_by(|a, b| a.path.cmp(&b.path));
        to_read.dedup_by(|a, b| a.path == b.path);
        self.progress
            .start(to_read.len() as u64, to_read.iter().map(|f| f.size).sum());
        let result = self.build_units(&units, layout, &fingerprint, &mut report);
        self.progress.finish();
        // The build's own error comes first; keeping the rejects and removing staging are done
        // whatever happened, and their errors are reported only when the build succeeded.
        let kept = self.rejects.finish().and_then(|local| match local {
            Some(local) => {
                let name = local.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = format!("rejects/{}", name.unwrap_or_default());
                self.lake.keep_meta_file(&local, &name).map(Some)
            }
            None => Ok(None),
        });
        let cleaned = self.lake.remove_staging();
        for (partition, message) in self.lake.take_notes() {
            report.warnings.push(Warning {
                path: cfg.out.join(partition),
                message,
            });
        }
        result?;
        report.rejects_file = kept?;
        cleaned?;
        report.check()?;
        report.s3_requests = self.store.requests();
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The partition layout of this run: the lake's own once it has one (a different explicit choice,
    /// hourly, partition time or filters are refused), else resolved and recorded for the next runs.
    fn lake_layout(&self, files: &[&InputFile]) -> Result<PartitionLayout> {
        let cfg = self.cfg;
        if let Some(stored) = self.manifest.settings()? {
            let layout = match stored.partition_layout {
                PartitionLayout::Plain => PartitionLayout::Plain,
                PartitionLayout::Aws | PartitionLayout::Auto => PartitionLayout::Aws,
            };
            let explicit_differs =
                cfg.partition_layout != PartitionLayout::Auto && cfg.partition_layout != layout;
            if explicit_differs
                || stored.hourly != cfg.hourly
                || stored.partition_time != cfg.partition_time
            {
                return Err(Error::Config(format!(
                    "the lake {} was written with --partition-layout {} --partition-time {}{}; this run \
                     would write other partitions next to them (readers would count rows twice): use the \
                     same settings, or a new lake",
                    self.lake.root().display(),
                    layout,
                    stored.partition_time,
                    if stored.hourly { " --hourly" } else { "" }
                )));
            }
            if stored.filters != cfg.filters {
                // Rebuilding with other filters would mix partitions of both, and could not bring
                // back the records of inputs that have expired since: refused.
                return Err(Error::Config(format!(
                    "the lake {} keeps {}; this run would keep {}: use the same --action and \
                     --drop-log-status, or a new lake",
                    self.lake.root().display(),
                    stored.filters.describe(),
                    cfg.filters.describe()
                )));
            }
            return Ok(layout);
        }
        let layout = match cfg.partition_layout {
            PartitionLayout::Auto
                if !files.is_empty()
                    && files
                        .iter()
                        .all(|f| f.key.account.is_some() && f.key.region.is_some()) =>
            {
                PartitionLayout::Aws
            }
            PartitionLayout::Auto => PartitionLayout::Plain,
            chosen => chosen,
        };
        if !files.is_empty() {
            self.manifest.put_settings(&LakeSettings {
                partition_layout: layout,
                hourly: cfg.hourly,
                partition_time: cfg.partition_time,
                filters: cfg.filters.clone(),
            })?;
            // A concurrent first run (another shard) may have recorded its settings instead: check ours
            // against whatever is recorded now.
            return self.lake_layout(files);
        }
        Ok(layout)
    }

    /// The slots (days, or hours) the records of each undated file fall in, in order (the first takes
    /// its records with no time). A file whose path, size and modification time the manifest
    /// remembers is not read: its slots are the partitions that remember it. Others are parsed once
    /// here (nothing recorded) and again for each partition they feed. A file that cannot be read,
    /// or whose records all lack a time, is listed as failed.
    fn undated_slots(
        &self,
        files: Vec<InputFile>,
        report: &mut Report,
    ) -> Result<Vec<(InputFile, Vec<i64>)>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let hourly = self.cfg.hourly;
        // Every slot each remembered undated input feeds, as recorded with the file's size and mtime.
        let mut known: HashMap<PathBuf, (u64, Option<i64>, Vec<i64>)> = HashMap::new();
        for entry in self.manifest.all()?.into_values() {
            for input in entry.inputs.into_iter().filter(|i| !i.vanished) {
                if let Some(feeds) = input.feeds {
                    known.insert(input.path, (input.size, input.mtime, feeds));
                }
            }
        }
        let (remembered, new): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| {
            known
                .get(&f.path)
                .is_some_and(|(size, mtime, _)| (*size, *mtime) == (f.size, f.mtime))
        });
        let mut out: Vec<(InputFile, Vec<i64>)> = remembered
            .into_iter()
            .filter_map(|f| {
                let (_, _, feeds) = known.remove(&f.path)?;
                Some((f, feeds))
            })
            .collect();
        let per = slot_seconds(hourly);
        let store = self.store.as_ref();
        let discard = RejectLog::discard();
        let read: Vec<Result<(InputFile, FileOutcome, Vec<i64>)>> = new
            .into_par_iter()
            .map(|f| {
                let mut outcome = self
                    .parsers
                    .with(|parser| parser.slots_of(store, &f, &self.parse, &discard, per))?;
                outcome.batches.clear();
                let slots = std::mem::take(&mut outcome.line_slots)
                    .into_iter()
                    .collect();
                Ok((f, outcome, slots))
            })
            .collect();
        for r in read {
            let (file, outcome, slots) = r?;
            let failed = match (&outcome.error, slots.is_empty()) {
                (Some(e), _) if !outcome.salvaged => Some((e.kind, e.message.clone())),
                (_, true) if outcome.lines > 0 => Some((
                    ReadErrorKind::NoTime,
                    format!(
                        "no record has a time that can be read (a `start` field, or an event \
                         timestamp, in {}..={}; a file without a header needs --fields), and its \
                         path and name have no date: its records belong to no partition",
                        crate::lake::partition::FIRST_YEAR,
                        crate::lake::partition::last_year()
                    ),
                )),
                _ => None,
            };
            if let Some((kind, message)) = failed {
                report.files_failed += 1;
                report
                    .failed
                    .push(FailedFile::unread(file.path, kind, message));
                continue;
            }
            out.push((file, slots));
        }
        Ok(out)
    }

    /// Finishes the publish of a partition a stopped run had swapped but not recorded: true when its
    /// folder holds exactly the files the journal mark's entry lists (and that entry is now recorded).
    /// A mark or folder the store cannot read is an error.
    fn finish_interrupted(&self, partition: &str, report: &mut Report) -> Result<bool> {
        if self.cfg.shard.is_some_and(|s| !s.owns(partition)) {
            return Ok(false);
        }
        let Some(entry) = self.manifest.pending(partition)? else {
            return Ok(false);
        };
        // The folder must tell the two states apart: when the new files have the names and sizes of
        // the old ones, rebuild instead.
        let done = entry.output_files();
        let before = self.manifest.entry(partition)?.map(|e| e.output_files());
        if self.lake.published(partition)? != done || before.as_ref() == Some(&done) {
            return Ok(false);
        }
        let recorded = self.lake.finish(&self.manifest, &entry, Journal::Rebuild);
        Ok(match recorded {
            Ok(()) => {
                self.manifest
                    .prune_row_maps(partition, entry.row_map.as_deref());
                true
            }
            Err(e) => {
                report.warnings.push(Warning {
                    path: self.lake.root().join(partition),
                    message: format!("could not record a finished publish ({e}): rebuilding it"),
                });
                false
            }
        })
    }

    /// Settles the inputs an earlier run built this partition from that this run's walk did not list
    /// (a narrower input root must not drop rows from the lake): one still there is added to `files`;
    /// one that is gone is returned, to have its rows carried over from the lake (or, with
    /// `--mirror-deletions`, dropped), and reported; one whose existence cannot be checked is
    /// returned too (a failed check is never read as a deletion).
    ///
    /// An input is known by its path, or, for a tree moved, copied or re-synced elsewhere, by its
    /// identity (the path below its date folders) and size: a file elsewhere with the same identity
    /// and size is the same input when the old path is gone or holds the same bytes.
    fn resolve_remembered(
        &self,
        files: &mut Vec<InputFile>,
        entry: &PartitionEntry,
        report: &mut Report,
    ) -> Vec<InputRecord> {
        let hourly = self.cfg.hourly;
        let fallback = files
            .first()
            .map(|f| f.key.clone())
            .or_else(|| PartitionKey::from_path(&entry.partition, hourly));
        let mut carried = Vec::new();
        let listed: std::collections::HashSet<PathBuf> =
            files.iter().map(|f| f.path.clone()).collect();
        for rec in &entry.inputs {
            if listed.contains(&rec.path) {
                continue;
            }
            let rel = rec.rel.clone().unwrap_or_else(|| identity_of(&rec.path));
            let twin = |size: u64| files.iter().find(|f| f.rel == rel && f.size == size);
            match self.store.stat(&rec.path) {
                Ok(stat) => {
                    if let Some(twin) = twin(stat.size) {
                        let twin = Entry {
                            path: twin.path.clone(),
                            size: twin.size,
                            mtime: twin.mtime,
                            version: twin.version.clone(),
                        };
                        if self.store.same_content(&stat, &twin).unwrap_or(false) {
                            continue; // a copy of a listed file
                        }
                    }
                    let name = rec.path.file_name().unwrap_or_default().to_string_lossy();
                    let dated = key_for_path(&rec.path, hourly);
                    // An input with no date of its own keeps only this partition's records.
                    let undated = match (&dated, &fallback) {
                        (None, Some(key)) => Some(
                            rec.feeds
                                .as_deref()
                                .map_or_else(|| Arc::from([slot_of(key, hourly)]), Arc::from),
                        ),
                        _ => None,
                    };
                    let key = dated.or_else(|| fallback.clone());
                    if let (Some(compression), Some(key)) = (compression_of(&name), key) {
                        files.push(InputFile {
                            path: stat.path,
                            rel,
                            size: stat.size,
                            mtime: stat.mtime,
                            version: stat.version,
                            compression,
                            key,
                            undated,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if twin(rec.size).is_some() {
                        continue; // moved or re-synced: the listed twin is this input
                    }
                    let kept = !self.cfg.mirror_deletions;
                    report.vanished.push(VanishedInput {
                        path: rec.path.clone(),
                        partition: entry.partition.clone(),
                        rows: rec.rows,
                        kept,
                    });
                    if kept {
                        carried.push(InputRecord {
                            rel: Some(rel),
                            vanished: true,
                            ..rec.clone()
                        });
                    }
                }
                Err(e) => {
                    report.warnings.push(Warning {
                        path: rec.path.clone(),
                        message: format!(
                            "cannot tell whether this input of {} still exists ({e}): its rows stay \
                             as they are",
                            entry.partition
                        ),
                    });
                    carried.push(InputRecord {
                        rel: Some(rel),
                        ..rec.clone()
                    });
                }
            }
        }
        carried
    }

    /// Which carried input each row of the partition's published files belongs to (see
    /// [`Output::provenance`]), from its entry's row map, or from the `first_row` of each input in
    /// entries written before row maps; `Err` says why the rows cannot be found.
    fn provenance(
        &self,
        entry: &PartitionEntry,
        carried: &[InputRecord],
        published: &[(String, u64)],
    ) -> std::result::Result<Vec<(Option<usize>, u64)>, String> {
        if published != entry.output_files() {
            return Err("its Parquet files are not the ones its manifest entry lists".into());
        }
        if carried.iter().any(|r| r.rows.is_none()) {
            return Err(
                "its manifest entry (written by an older flowlake) does not say how many \
                        rows are theirs"
                    .into(),
            );
        }
        let carried_index = |path: &Path| carried.iter().position(|r| r.path == path);
        let listed: u64 = entry.outputs.iter().map(|o| o.rows).sum();
        let runs: Vec<(Option<usize>, u64)> = match &entry.row_map {
            Some(name) => {
                let map = self.manifest.row_map(name).map_err(|e| e.to_string())?;
                let rows: Vec<Option<u64>> = entry.inputs.iter().map(|r| r.rows).collect();
                rowmap::check(&map, &rows, listed)?;
                let mut runs = Vec::with_capacity(map.len());
                for (input, rows) in map {
                    let who = match entry.inputs.get(input as usize) {
                        Some(r) => carried_index(&r.path),
                        None if input == NO_INPUT => None,
                        None => {
                            return Err("its row map names an input its entry does not list".into())
                        }
                    };
                    runs.push((who, rows));
                }
                runs
            }
            None => {
                // Entries before row maps: each input's rows are one range.
                if carried
                    .iter()
                    .any(|r| r.rows != Some(0) && r.first_row.is_none())
                {
                    return Err(
                        "its manifest entry does not say which rows are theirs (an entry \
                         written by an older flowlake, or recorded after an interrupted \
                         compaction)"
                            .into(),
                    );
                }
                let ranges = carried
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.first_row.unwrap_or(0), r.rows.unwrap_or(0), Some(i)))
                    .collect();
                rowmap::from_ranges(ranges, None, listed)?
            }
        };
        if runs.iter().map(|r| r.1).sum::<u64>() != listed {
            return Err("its manifest entry places their rows past the end of its files".into());
        }
        Ok(runs)
    }

    /// Hands the rows of the partition's carried inputs, read from its published files, to its
    /// writer (before any row read now), each as rows of its own input.
    fn carry_over(&self, output: &Output, building: &mut Building<'_>) -> Result<()> {
        if output.carried.is_empty() {
            return Ok(());
        }
        let partition = output.path.as_str();
        let ids: Vec<u32> = output
            .carried
            .iter()
            .map(|r| building.source(&r.path))
            .collect();
        let mut copied = vec![0u64; output.carried.len()];
        let dataset = Dataset::open(self.store.clone(), &self.cfg.out)?;
        let schema = schema::lake_schema();
        let mut runs = Runs::new(&output.provenance);
        for out in &output.before {
            // Only the files that hold carried rows are read.
            let mut ahead = runs.clone();
            let mut wanted = false;
            ahead.take(out.rows, |who, _| wanted |= who.flatten().is_some());
            if !wanted {
                runs = ahead;
                continue;
            }
            let file = ParquetFile {
                name: out.name.clone(),
                bytes: out.bytes,
            };
            let path = dataset.file(partition, &out.name);
            let lake_err = |message: String| Error::Lake {
                path: path.clone(),
                message: format!("carrying over the rows of vanished inputs: {message}"),
            };
            let reader = dataset
                .batches(partition, &file)
                .map_err(|e| lake_err(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| lake_err(e.to_string()))?;
                let batch = to_lake_batch(&batch, &schema).map_err(|e| lake_err(e.to_string()))?;
                let mut keep = BooleanBufferBuilder::new(batch.num_rows());
                let mut sources: Vec<u32> = Vec::new();
                runs.take(batch.num_rows() as u64, |who, rows| {
                    let who = who.flatten();
                    keep.append_n(rows as usize, who.is_some());
                    if let Some(i) = who {
                        sources.extend(std::iter::repeat_n(ids[i], rows as usize));
                        copied[i] += rows;
                    }
                });
                if sources.is_empty() {
                    continue;
                }
                let kept = filter_record_batch(&batch, &BooleanArray::new(keep.finish(), None))?;
                building.carried_rows += kept.num_rows() as u64;
                building
                    .writer
                    .write_sourced(kept, UInt32Array::from(sources))?;
            }
        }
        for (r, copied) in output.carried.iter().zip(copied) {
            if copied != r.rows.unwrap_or(0) {
                return Err(Error::Accounting {
                    what: format!(
                        "{} (rows of a vanished input carried over in {partition})",
                        r.path.display()
                    ),
                    lines: r.rows.unwrap_or(0),
                    rows: copied,
                    rejected: 0,
                });
            }
        }
        building.carried = output
            .carried
            .iter()
            .map(|r| InputRecord {
                first_row: None,
                ..r.clone()
            })
            .collect();
        Ok(())
    }

    /// Builds `units`, two at a time: while one unit's last rows are encoded, its files flushed and
    /// its partitions published (steps that keep few cores busy), the next unit's files are parsed.
    /// Each unit fills a report of its own, added to `report` in unit order, so the report does not
    /// depend on which unit finished first. The first error stops both.
    ///
    /// Two units stage files at once only when the staging disk has room for both: two partitions
    /// racing for the last free bytes could both fail, where one at a time publishes the first
    /// (and each rerun gets further). One thread, or too little room: one unit at a time.
    fn build_units(
        &self,
        units: &[Vec<Output>],
        layout: PartitionLayout,
        fingerprint: &str,
        report: &mut Report,
    ) -> Result<()> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let built: Mutex<Vec<(usize, Report)>> = Mutex::new(Vec::with_capacity(units.len()));
        let stream = || -> Result<()> {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units.len() || stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if self.progress.should_stop() {
                    stop.store(true, Ordering::Relaxed);
                    return Err(Error::Interrupted);
                }
                let mut unit_report = report.for_unit();
                if let Err(e) = self.build_unit(&units[i], layout, fingerprint, &mut unit_report) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                built
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, unit_report));
            }
        };
        let side_by_side =
            units.len() > 1 && rayon::current_num_threads() > 1 && self.room_for_two(units);
        let (a, b) = if side_by_side {
            rayon::join(stream, stream)
        } else {
            (stream(), Ok(()))
        };
        let mut built = built.into_inner().unwrap_or_else(|p| p.into_inner());
        built.sort_by_key(|(i, _)| *i);
        for (_, unit_report) in built {
            report.absorb(unit_report);
        }
        a.and(b)
    }

    /// True when the staging disk has room for the files of the two largest units at once: as many
    /// bytes as their inputs (Parquet from gzip text takes about half), plus [`STAGING_MARGIN`].
    fn room_for_two(&self, units: &[Vec<Output>]) -> bool {
        let mut sizes: Vec<u64> = units
            .iter()
            .map(|u| u.iter().flat_map(|o| &o.inputs).map(|f| f.size).sum())
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let need = sizes
            .iter()
            .take(2)
            .sum::<u64>()
            .saturating_add(STAGING_MARGIN);
        self.lake
            .staging_free_bytes()
            .is_some_and(|free| free >= need)
    }

    /// Builds the partitions of one unit: reads each of their input files once, in delivery order,
    /// routes the rows, and publishes each partition as soon as no later file can feed it.
    fn build_unit(
        &self,
        unit: &[Output],
        layout: PartitionLayout,
        fingerprint: &str,
        report: &mut Report,
    ) -> Result<()> {
        let hourly = self.cfg.hourly;
        let start_mode = self.cfg.partition_time == PartitionTime::Start;
        let mut building: BTreeMap<i64, Building<'_>> = unit
            .iter()
            .map(|o| {
                let writer = PartitionWriter::new(
                    &self.lake,
                    o.path.clone(),
                    schema::lake_schema(),
                    self.props.clone(),
                    self.write.clone(),
                );
                (o.slot, Building::new(writer))
            })
            .collect();
        for o in unit {
            if let Some(b) = building.get_mut(&o.slot) {
                self.carry_over(o, b)?;
            }
        }
        let mut deliveries: BTreeMap<i64, Vec<&InputFile>> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for file in unit.iter().flat_map(|o| &o.inputs) {
            // An undated file is read once for each partition it feeds (each read keeps its slot).
            let slot = file.undated.as_ref().map(|_| slot_of(&file.key, hourly));
            if seen.insert((&file.path, slot)) {
                deliveries
                    .entry(slot_of(&file.key, hourly))
                    .or_default()
                    .push(file);
            }
        }
        for (&delivery, files) in &mut deliveries {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            let partition = key_at(&files[0].key, delivery, hourly).path(layout);
            self.feed(files, delivery, &partition, &mut building, report)?;
            // With --partition-time start, a file delivered in slot d feeds slots d - 1 and d, so
            // every partition up to d - 1 is now complete.
            let complete = if start_mode { delivery - 1 } else { delivery };
            let done: Vec<i64> = building.range(..=complete).map(|(s, _)| *s).collect();
            for slot in done {
                if let (Some(b), Some(o)) =
                    (building.remove(&slot), unit.iter().find(|o| o.slot == slot))
                {
                    self.finish_partition(o, b, fingerprint, report)?;
                }
            }
        }
        for (slot, b) in building {
            if let Some(o) = unit.iter().find(|o| o.slot == slot) {
                self.finish_partition(o, b, fingerprint, report)?;
            }
        }
        Ok(())
    }

    /// Parses the files delivered in one slot (in waves, encoding one wave while parsing the next)
    /// and hands their rows to the partitions being built.
    fn feed(
        &self,
        files: &[&InputFile],
        delivery: i64,
        partition: &str,
        building: &mut BTreeMap<i64, Building<'_>>,
        report: &mut Report,
    ) -> Result<()> {
        let hourly = self.cfg.hourly;
        let start_mode = self.cfg.partition_time == PartitionTime::Start;
        let mut take = |outcomes: Vec<FileOutcome>| -> Result<()> {
            for outcome in outcomes {
                if let (Some(e), BadFilePolicy::Abort) = (&outcome.error, self.cfg.on_bad_file) {
                    return Err(Error::BadFile {
                        path: outcome.path.clone(),
                        message: e.message.clone(),
                    });
                }
                if let Some(reason) = &outcome.not_flow_log {
                    // Named like a flow log (`.log.gz`, `.log`): the run is not clean, the user is told.
                    let name = outcome.path.file_name().unwrap_or_default();
                    let name = name.to_string_lossy().to_ascii_lowercase();
                    report.files_skipped += 1;
                    report.skipped.push(Skipped {
                        path: outcome.path.clone(),
                        reason: reason.clone(),
                        flow_log: name.ends_with(".log.gz") || name.ends_with(".log"),
                    });
                    continue;
                }
                report.add_file(partition, &outcome)?;
                if let Some(own) = building.get_mut(&delivery) {
                    own.files += 1;
                    own.unreadable += u64::from(outcome.error.is_some() && !outcome.salvaged);
                    own.lines += outcome.lines;
                    own.rejected += outcome.rejected;
                    own.filtered += outcome.filtered;
                    if let Some(e) = &outcome.error {
                        own.failed.push(FailedRecord {
                            path: outcome.path.clone(),
                            kind: e.kind,
                            message: e.message.clone(),
                        });
                    }
                }
                let mut per_slot: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
                for batch in outcome.batches {
                    if start_mode {
                        for (slot, rows) in split_by_start(&batch, delivery, hourly)? {
                            per_slot.entry(slot).or_default().push(rows);
                        }
                    } else {
                        per_slot.entry(delivery).or_default().push(batch);
                    }
                }
                for (slot, batches) in per_slot {
                    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
                    match building.get_mut(&slot) {
                        Some(b) => {
                            let source = b.source(&outcome.path);
                            b.writer.write(&batches, source)?;
                            b.rows += rows;
                        }
                        // Rows of a neighbouring partition that is up to date: it has them already.
                        None if start_mode => report.rows_in_unchanged_partitions += rows,
                        None => {
                            return Err(Error::Accounting {
                                what: format!(
                                    "{} (no partition for its rows)",
                                    outcome.path.display()
                                ),
                                lines: outcome.lines,
                                rows,
                                rejected: outcome.rejected,
                            })
                        }
                    }
                }
            }
            Ok(())
        };
        let mut waves = self.waves(files).into_iter();
        let mut ready = match waves.next() {
            Some(wave) => self.parse_wave(wave)?,
            None => Vec::new(),
        };
        for wave in waves {
            let (written, parsed) = rayon::join(|| take(ready), || self.parse_wave(wave));
            written?;
            ready = parsed?;
        }
        take(ready)
    }

    /// Closes a partition's files, checks them, and publishes them (or withholds them past the
    /// reject ratio), updating the manifest around the swap.
    fn finish_partition(
        &self,
        output: &Output,
        building: Building<'_>,
        fingerprint: &str,
        report: &mut Report,
    ) -> Result<()> {
        let partition = output.path.as_str();
        let Building {
            writer,
            rows,
            files,
            unreadable,
            lines,
            rejected,
            filtered,
            failed,
            carried_rows,
            carried,
            sources,
            source_of: _,
        } = building;
        let done = writer.finish()?;
        report.stages.sort += done.sort_seconds;
        report.stages.encode += done.encode_seconds;
        report.stages.write += done.write_seconds;
        let written = done.files;
        let rows_in_files: u64 = written.iter().map(|f| f.rows).sum();
        if rows_in_files != rows + carried_rows {
            return Err(Error::Accounting {
                what: format!("partition {partition}"),
                lines: rows + carried_rows,
                rows: rows_in_files,
                rejected: 0,
            });
        }
        if self.progress.should_stop() {
            return Err(Error::Interrupted);
        }
        let reason = if files > 0 && unreadable == files {
            Some("every input file delivered for this partition failed to read")
        } else if lines > 0 && rejected as f64 > self.cfg.max_reject_ratio * lines as f64 {
            Some("reject ratio above --max-reject-ratio")
        } else {
            None
        };
        if let Some(reason) = reason {
            report.add_aborted(AbortedPartition {
                path: partition.to_string(),
                reason: reason.to_string(),
                lines,
                rejected,
                rows,
            });
            return Ok(()); // its staged files go with the staging folder; the published ones stay
        }
        let mut rows_of_source = vec![0u64; sources.len()];
        for &(source, n) in &done.sources {
            if let Some(rows) = rows_of_source.get_mut(source as usize) {
                *rows += n;
            }
        }
        let rows_of: HashMap<&Path, u64> = sources
            .iter()
            .zip(rows_of_source)
            .map(|(p, n)| (p.as_path(), n))
            .collect();
        let mut inputs: Vec<InputRecord> = output
            .inputs
            .iter()
            .map(|f| InputRecord {
                path: f.path.clone(),
                size: f.size,
                mtime: f.mtime,
                rel: Some(f.rel.clone()),
                rows: Some(rows_of.get(f.path.as_path()).copied().unwrap_or(0)),
                first_row: None,
                vanished: false,
                feeds: f.undated.as_deref().map(<[i64]>::to_vec),
            })
            .chain(carried)
            .collect();
        inputs.sort();
        // Where every input's rows are, so a later rebuild can carry over those of an input that
        // has vanished by then.
        let index: HashMap<&Path, u32> = inputs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path.as_path(), i as u32))
            .collect();
        let input_of: Vec<u32> = sources
            .iter()
            .map(|p| index.get(p.as_path()).copied().unwrap_or(NO_INPUT))
            .collect();
        let mut runs: Vec<(u32, u64)> = Vec::with_capacity(done.sources.len());
        for &(source, n) in &done.sources {
            let input = input_of.get(source as usize).copied().unwrap_or(NO_INPUT);
            match runs.last_mut() {
                Some((last, m)) if *last == input => *m += n,
                _ => runs.push((input, n)),
            }
        }
        let row_map = self.manifest.put_row_map(partition, &runs)?;
        let entry = PartitionEntry {
            version: MANIFEST_VERSION,
            partition: partition.to_string(),
            fingerprint: fingerprint.to_string(),
            inputs,
            outputs: written
                .iter()
                .map(|f| OutputRecord {
                    name: f.name.clone(),
                    rows: f.rows,
                    bytes: f.bytes,
                })
                .collect(),
            // Rows carried over from vanished inputs were lines of theirs: `lines = rows + rejected
            // + filtered` holds for the entry too (their rejects are not known any more).
            lines: lines + carried_rows,
            rows: rows_in_files,
            rejected,
            filtered,
            failed,
            row_map: Some(row_map.clone()),
        };
        // A run that stops anywhere in the commit leaves the journal mark, and the next run rebuilds
        // this partition (whatever its range) from the inputs the entry remembers.
        let started = Instant::now();
        let names: Vec<String> = written.iter().map(|f| f.name.clone()).collect();
        self.lake.commit(
            &self.manifest,
            partition,
            &names,
            Replaces::PartFiles,
            &entry,
            Journal::Rebuild,
        )?;
        self.manifest.prune_row_maps(partition, Some(&row_map));
        report.stages.publish += started.elapsed().as_secs_f64();
        report.add_partition(PartitionReport {
            path: partition.to_string(),
            input_files: output.inputs.len() as u64,
            rows,
            rows_carried_over: carried_rows,
            files: written,
        });
        Ok(())
    }

    /// Splits a partition's files into waves of about `read_ahead_bytes` (at least one file per thread).
    fn waves<'f>(&self, files: &'f [&'f InputFile]) -> Vec<&'f [&'f InputFile]> {
        let min_files = rayon::current_num_threads().max(1);
        let mut waves = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (i, f) in files.iter().enumerate() {
            bytes += f.size;
            if bytes >= self.cfg.read_ahead_bytes && i + 1 - start >= min_files {
                waves.push(&files[start..=i]);
                (start, bytes) = (i + 1, 0);
            }
        }
        if start < files.len() {
            waves.push(&files[start..]);
        }
        waves
    }

    fn parse_wave(&self, wave: &[&InputFile]) -> Result<Vec<FileOutcome>> {
        let entries: Vec<Entry> = wave.iter().map(|f| f.entry()).collect();
        let entries: Vec<&Entry> = entries.iter().collect();
        self.store
            .prefetch(&entries, self.cfg.max_file_bytes.saturating_add(1));
        wave.par_iter()
            .map(|file| {
                if self.progress.should_stop() {
                    return Err(Error::Interrupted);
                }
                let outcome = self.parsers.parse(file, self)?;
                self.progress.file_done(file.size, outcome.rows);
                Ok(outcome)
            })
            .collect()
    }
}

/// What shapes a partition's output besides its inputs: the lake schema, the field list used for
/// headerless files, the partition time, and the limits and policy that decide which lines and files
/// are used. A change rebuilds the partitions it touches on their next conversion, so a lake
/// never mixes schemas.
fn fingerprint(cfg: &ConvertConfig) -> String {
    let mut hash = crate::hash::Fnv1a::default();
    for field in schema::lake_schema().fields() {
        hash.add(format!("{}:{};", field.name(), field.data_type()).as_bytes());
    }
    let hash = hash.finish();
    let fields = cfg
        .fields
        .as_ref()
        .map(|l| l.header_line())
        .unwrap_or_default();
    format!(
        "schema={hash:016x};fields={fields};partition_time={:?};max_file_bytes={};max_line_bytes={};on_bad_file={:?}",
        cfg.partition_time, cfg.max_file_bytes, cfg.max_line_bytes, cfg.on_bad_file
    )
}
