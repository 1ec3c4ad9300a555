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
//! settings), [`report`] (the account of every line), [`shard`] (splitting a run across
//! processes), `listing` (what a run, and a shard, lists) and [`planning`] (`flowlake plan`: list
//! once, assign by bytes, a shard builds its part of the plan, in the files of [`shard_plan`]). It
//! uses `input`, `text`, `lake`, `enrich`, `storage` and the base modules; no other engine.

mod build;
mod carry;
pub mod config;
pub(crate) mod enrichment;
mod listing;
mod parsers;
mod plan;
pub mod planning;
pub mod report;
pub mod shard;
pub mod shard_plan;

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use rayon::prelude::*;

use crate::convert::config::ConvertConfig;
use crate::convert::parsers::ParserPool;
use crate::convert::plan::{Survey, Touch};
use crate::convert::planning::PlannedPart;
use crate::convert::report::{EnrichmentReport, Report, Warning};
use crate::convert::shard::Assignment;
use crate::enrich::Enricher;
use crate::error::Result;
use crate::input::copies::drop_copies;
use crate::input::discover::{discover, Discovery, InputFile};
use crate::input::inventory;
use crate::input::read::ReadErrorKind;
use crate::lake::ledger::{new_run_id, Lake, Manifest};
use crate::lake::ocsf;
use crate::lake::schema::{table_schema, OutputSchema};
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

/// Converts the configured inputs into the lake and reports what happened. With `--tgw-out`, the
/// Transit Gateway flow logs the run finds among its inputs are converted next into their own lake
/// (their report is the report's `transit_gateway`); without it they are skipped, and named.
pub fn convert(cfg: &ConvertConfig, progress: &dyn Progress) -> Result<Report> {
    cfg.validate()?;
    threads::pool(cfg.threads)?.install(|| {
        // Read once, before any work: a data file that cannot serve its enrichment changes nothing.
        let enricher = enrichment::load(cfg)?;
        // The Transit Gateway lake's settings are checked before the VPC pass changes anything: a
        // run the second lake would refuse is refused whole.
        if let Some(tgw) = cfg.for_transit_gateway() {
            let manifest = Manifest::of_lake(store_for(&tgw)?, &tgw.out);
            if let Some(stored) = manifest.settings()? {
                plan::agrees(&tgw, &stored)?;
            }
        }
        let (mut report, handed) = Run::new(cfg, progress, enricher.clone())?.convert()?;
        if let Some(tgw) = cfg.for_transit_gateway() {
            let mut run = Run::new(&tgw, progress, enricher)?;
            run.given = Some(handed);
            let (tgw_report, _) = run.convert()?;
            report.transit_gateway = Some(Box::new(tgw_report));
        }
        Ok(report)
    })
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

pub use planning::{plan_shards, ShardPlan, ShardPlanReport};

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

/// Refuses a lake inside another (a folder above `out` holding a lake's settings: an OCSF lake's
/// `ext/<source>/` below an AWS-schema lake's root, say), whose readers would read both. A folder
/// that cannot be read (a role allowed only below `out`) is not a lake as far as the run can tell.
fn refuse_nested(store: &Arc<dyn Store>, out: &std::path::Path) -> Result<()> {
    let s3 = !storage::is_local(out);
    for above in out.ancestors().skip(1) {
        // Up to the bucket (`s3://bucket` is two components), or the root of the file system.
        if above.as_os_str().is_empty() || (s3 && above.components().count() < 2) {
            break;
        }
        if let Ok(Some(settings)) = Manifest::of_lake(store.clone(), above).settings() {
            return Err(crate::error::Error::Config(format!(
                "--out {}: it is inside the lake {} (of the {} schema), whose readers would read \
                 this lake's files too: choose a folder outside it",
                out.display(),
                above.display(),
                settings.schema
            )));
        }
    }
    Ok(())
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
    /// The partitions this run builds.
    assignment: Assignment,
    /// The part of a plan this run builds (`--plan`), read instead of listing the inputs.
    planned: Option<PlannedPart>,
    /// The inputs, when another run found them (the Transit Gateway pass: the files the VPC pass
    /// found to be Transit Gateway flow logs), instead of listing.
    given: Option<Discovery>,
    /// The enrichments of the run (`--enrich`), with their data.
    enricher: Option<Arc<Enricher>>,
    /// The schema of the lake's files: the kind's columns, then the enrichments'.
    schema: SchemaRef,
}

impl<'a> Run<'a> {
    fn new(
        cfg: &'a ConvertConfig,
        progress: &'a dyn Progress,
        enricher: Option<Arc<Enricher>>,
    ) -> Result<Run<'a>> {
        let store = store_for(cfg)?;
        // A plan is read before the lake is locked: a wrong id or shard count changes nothing.
        let planned = match &cfg.plan {
            Some(id) => Some(PlannedPart::load(store.as_ref(), cfg, id)?),
            None => None,
        };
        let assignment = match (&planned, cfg.shard) {
            (Some(part), _) => part.assignment(),
            (None, Some(shard)) => Assignment::Hash(shard),
            (None, None) => Assignment::All,
        };
        let run_id = new_run_id();
        let (scope, holder) = match (assignment.shard(), assignment.plan()) {
            (None, _) => (LockScope::Whole, format!("flowlake run {run_id}")),
            (Some(s), plan) => (
                LockScope::Member {
                    index: s.index,
                    count: s.count,
                },
                match plan {
                    Some(id) => format!("flowlake run {run_id}, shard {s} of plan {id}"),
                    None => format!("flowlake run {run_id}, shard {s}"),
                },
            ),
        };
        refuse_nested(&store, &cfg.out)?;
        let lake = Lake::open(store.clone(), &cfg.out, &run_id, scope, &holder)?;
        let rejects = RejectLog::to_file(lake.meta_path(&format!("rejects/{run_id}.jsonl")));
        let write = cfg.write.for_run();
        Ok(Run {
            cfg,
            progress,
            store,
            rejects,
            props: Arc::new(match cfg.schema {
                OutputSchema::Aws => writer_properties(&write)?,
                OutputSchema::Ocsf => ocsf::writer_properties(&write)?,
            }),
            write,
            parsers: ParserPool::default(),
            manifest: lake.manifest(),
            lake,
            assignment,
            planned,
            given: None,
            schema: table_schema(cfg.parse.record_kind, &cfg.enrich.set),
            enricher,
        })
    }

    /// What deciding reads (see [`Survey`]).
    fn survey(&self) -> Survey<'_> {
        Survey {
            cfg: self.cfg,
            store: &self.store,
            manifest: &self.manifest,
            parsers: &self.parsers,
            planned: self.planned.as_ref().map(|p| &p.inputs),
        }
    }

    /// Converts, and returns the report and the inputs of another kind of records it found (the
    /// Transit Gateway flow logs among VPC flow logs), for the lake of their kind.
    fn convert(self) -> Result<(Report, Discovery)> {
        let started = Instant::now();
        let cfg = self.cfg;
        let counted = self
            .enricher
            .as_ref()
            .map(|e| e.lookup_count())
            .unwrap_or_default();
        let found = self.list()?;
        let mut report = Report::default();
        report.stages.list = started.elapsed().as_secs_f64();
        if let Some(message) = self.lake.staging_warning() {
            report.warnings.push(Warning {
                path: cfg.out.clone(),
                message,
            });
        }
        let plan = self.survey().decide(
            found,
            &mut report,
            Touch::Build(&self.lake),
            &self.assignment,
        )?;
        let to_read = plan.to_read();
        self.progress
            .start(to_read.len() as u64, to_read.iter().map(|f| f.size).sum());
        let result = self.build(&plan, &mut report);
        let handed: std::collections::HashSet<&std::path::Path> =
            report.handed_over.iter().map(|p| p.as_path()).collect();
        let mut others: Vec<InputFile> = to_read
            .iter()
            .filter(|f| handed.contains(f.path.as_path()))
            .map(|f| (*f).clone())
            .chain(plan.other_kind.values().map(|(f, _)| f.clone()))
            .collect();
        others.sort_by(|a, b| a.path.cmp(&b.path));
        others.dedup_by(|a, b| a.path == b.path);
        let others = Discovery {
            files: others,
            undated: plan.undated_others.iter().map(|(f, _)| f.clone()).collect(),
            ..Discovery::default()
        };
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
        report.enrichment = self.enricher.as_ref().map(|e| EnrichmentReport {
            enrich: e.set().clone(),
            data: e.versions(),
            count: e.lookup_count().since(counted),
        });
        report.s3_requests = self.store.requests();
        report.seconds = started.elapsed().as_secs_f64();
        Ok((report, others))
    }

    /// The inputs: a plan's part (no listing at all), or listed: every file below the roots in the
    /// run's range (a shard: its own day folders, see [`listing`]), keys an input lacks filled from
    /// `--account`/`--region` (never over what its path or name says), and an input listed twice (two
    /// roots holding the same tree) kept once.
    fn list(&self) -> Result<Discovery> {
        if let Some(given) = &self.given {
            return Ok(Discovery {
                files: given.files.clone(),
                undated: given.undated.clone(),
                ..Discovery::default()
            });
        }
        if let Some(part) = &self.planned {
            return Ok(part.discovery(self.cfg));
        }
        if self.cfg.inventory.is_some() {
            // An S3 Inventory report as the listing: the inputs' bucket is not listed.
            return plan::list(self.cfg, self.store.as_ref());
        }
        let mut found = self.discover_inputs()?;
        for files in [&mut found.files, &mut found.undated] {
            found
                .skipped
                .extend(drop_copies(self.store.as_ref(), files));
        }
        Ok(found)
    }
}
