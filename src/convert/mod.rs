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
//! through the ledger ([`Lake::commit`]). A run lists its inputs, then [`plan`]s (what to build:
//! partition layout, partitions, recovery of stopped runs, the up-to-date test, units), then [`build`]s
//! (waves, feed, finish) and reports; `carry.rs` keeps the rows of inputs that vanished since a
//! partition's last build. This folder is the `convert` engine: [`config`] (its validated
//! settings), [`report`] (the account of every line) and [`shard`] (splitting a run across
//! processes). It uses `input`, `text`, `lake`, `storage` and the base modules; no other engine.

mod build;
mod carry;
pub mod config;
mod plan;
pub mod report;
pub mod shard;

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::convert::build::ParserPool;
use crate::convert::config::ConvertConfig;
use crate::convert::report::{FailedFile, Report, Warning};
use crate::error::Result;
use crate::input::copies::drop_copies;
use crate::input::discover::{discover, Discovery, InputFile};
use crate::input::inventory;
use crate::input::read::ReadErrorKind;
use crate::lake::ledger::{new_run_id, Lake, Manifest};
use crate::lake::partition::PartitionLayout;
use crate::lake::write::{writer_properties, WriteSettings};
use crate::storage::{self, policy::LockScope, S3Settings, Store};
use crate::text::rejects::RejectLog;
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
    let found = discover(
        source,
        &cfg.inputs,
        cfg.from,
        cfg.to,
        cfg.partitioning.grain,
    )?;
    let (files, failed, input_bytes, text_bytes) = pool.install(|| {
        found
            .files
            .par_iter()
            .chain(found.undated.par_iter())
            .map_init(
                || (crate::input::read::FileReader::new(), Vec::new()),
                |(reader, buf), f| {
                    let ok = reader
                        .read(source, f, buf, cfg.parse.max_file_bytes)
                        .is_ok();
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

struct Run<'a> {
    cfg: &'a ConvertConfig,
    progress: &'a dyn Progress,
    /// Where the inputs and the lake are.
    store: Arc<dyn Store>,
    lake: Lake,
    rejects: RejectLog,
    /// The run's write settings, with a sort memory bound of its own.
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
        let write = cfg.write.for_run();
        Ok(Run {
            cfg,
            progress,
            store,
            rejects,
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
        let mut found = self.list()?;
        let listed = started.elapsed().as_secs_f64();
        let all: Vec<&InputFile> = found.files.iter().chain(&found.undated).collect();
        let layout = self.partition_layout(&all)?;
        if layout == PartitionLayout::Aws {
            // A file that names no account and region has no place in a lake with AWS's keys.
            plan::drop_unkeyed(&mut found);
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
        let plan = self.plan(found, layout, &mut report)?;
        let to_read = plan.to_read();
        self.progress
            .start(to_read.len() as u64, to_read.iter().map(|f| f.size).sum());
        let result = self.build(&plan, &mut report);
        if let Some(manifest) = &cfg.inventory {
            let gone = report
                .failed
                .iter_mut()
                .filter(|f| f.kind == ReadErrorKind::Gone);
            gone.for_each(|f| f.message = inventory::gone_message(manifest));
        }
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

    /// Lists the inputs: every file below the roots in the run's range, keys an input lacks filled
    /// from `--account`/`--region` (never over what its path or name says), and an input listed
    /// twice (two roots holding the same tree) kept once.
    fn list(&self) -> Result<Discovery> {
        let cfg = self.cfg;
        let (source, grain) = (self.store.as_ref(), cfg.partitioning.grain);
        let mut found = match &cfg.inventory {
            // An S3 Inventory report as the listing: the inputs' bucket is not listed.
            Some(manifest) => {
                inventory::discover(source, manifest, &cfg.inputs, cfg.from, cfg.to, grain)?
            }
            None => discover(source, &cfg.inputs, cfg.from, cfg.to, grain)?,
        };
        for file in found.files.iter_mut().chain(&mut found.undated) {
            if file.key.account.is_none() {
                file.key.account.clone_from(&cfg.partitioning.account);
            }
            if file.key.region.is_none() {
                file.key.region.clone_from(&cfg.partitioning.region);
            }
        }
        for files in [&mut found.files, &mut found.undated] {
            found
                .skipped
                .extend(drop_copies(self.store.as_ref(), files));
        }
        Ok(found)
    }
}
