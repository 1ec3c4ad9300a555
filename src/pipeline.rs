//! The `convert` pipeline: discover → read → tokenize → build batches → write → publish.
//!
//! Partitions are converted one after another; inside a partition, input files are parsed in parallel
//! (one [`FileParser`] per busy thread, reused from file to file) in *waves* of about
//! `read_ahead_bytes` of compressed input, and while wave k+1 is being parsed, wave k's batches are
//! encoded (columns in parallel, see `write.rs`). So the nightly single-day run uses every core as
//! well as a many-day migration does, and memory is bounded by the wave size, the file buffers and the
//! open row group, never by the input size. Waves keep the input order, so the output of a rerun on
//! the same input is the same.
//!
//! A partition's files are staged, checked (rows parsed == rows encoded), then published at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::config::{ConvertConfig, PartitionLayout};
use crate::discover::{discover, InputFile};
use crate::error::{Error, Result};
use crate::parse::{FileOutcome, FileParser, ParseSettings};
use crate::rejects::RejectLog;
use crate::report::{PartitionReport, Report};
use crate::schema;
use crate::storage::{Lake, LocalFs, Source};
use crate::write::{writer_properties, PartitionWriter, WriteSettings};

/// Receives progress events; the library's only channel to a user interface. Called from worker
/// threads.
pub trait Progress: Sync {
    /// Discovery finished: this many files and compressed bytes are to be converted.
    fn start(&self, _files: u64, _bytes: u64) {}
    /// One file was read and parsed.
    fn file_done(&self, _bytes: u64, _rows: u64) {}
    /// The run ended.
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Converts the configured inputs into the lake and reports what happened.
pub fn convert(cfg: &ConvertConfig, progress: &dyn Progress) -> Result<Report> {
    cfg.validate()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| Error::Config(format!("cannot start {} threads: {e}", cfg.threads)))?;
    pool.install(|| Run::new(cfg, progress).and_then(Run::convert))
}

/// Reusable parsers, one per thread that is busy at once.
#[derive(Default)]
struct ParserPool(Mutex<Vec<FileParser>>);

impl ParserPool {
    fn parse(&self, file: &InputFile, run: &Run<'_>) -> Result<FileOutcome> {
        let mut parser = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        let outcome = parser.parse(run.source, file, &run.parse, &run.rejects);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(parser);
        outcome
    }
}

struct Run<'a> {
    cfg: &'a ConvertConfig,
    progress: &'a dyn Progress,
    source: &'a dyn Source,
    lake: Lake,
    rejects: RejectLog,
    parse: ParseSettings,
    write: WriteSettings,
    props: Arc<parquet::file::properties::WriterProperties>,
    parsers: ParserPool,
}

impl<'a> Run<'a> {
    fn new(cfg: &'a ConvertConfig, progress: &'a dyn Progress) -> Result<Run<'a>> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let run_id = format!("{nanos}-{}", std::process::id());
        let lake = Lake::open(&cfg.out, &run_id)?;
        let rejects = RejectLog::to_file(lake.meta_path(&format!("rejects/{run_id}.jsonl")));
        let write = WriteSettings {
            target_file_bytes: cfg.target_file_bytes,
            row_group_rows: cfg.row_group_rows,
            zstd_level: cfg.zstd_level,
        };
        Ok(Run {
            cfg,
            progress,
            source: &LocalFs,
            lake,
            rejects,
            parse: ParseSettings {
                fields: cfg.fields.clone(),
                batch_rows: cfg.batch_rows,
                max_file_bytes: cfg.max_file_bytes,
            },
            props: Arc::new(writer_properties(&write)?),
            write,
            parsers: ParserPool::default(),
        })
    }

    fn convert(self) -> Result<Report> {
        let started = Instant::now();
        let cfg = self.cfg;
        let found = discover(self.source, &cfg.inputs, cfg.from, cfg.to, cfg.hourly)?;
        let layout = match cfg.partition_layout {
            PartitionLayout::Auto
                if found
                    .files
                    .iter()
                    .all(|f| f.key.account.is_some() && f.key.region.is_some()) =>
            {
                PartitionLayout::Aws
            }
            PartitionLayout::Auto => PartitionLayout::Plain,
            chosen => chosen,
        };
        let mut partitions: BTreeMap<String, Vec<&InputFile>> = BTreeMap::new();
        for file in &found.files {
            partitions
                .entry(file.key.path(layout))
                .or_default()
                .push(file);
        }
        let mut report = Report {
            files_skipped: found.skipped.len() as u64,
            skipped: found.skipped.clone(),
            ..Report::default()
        };
        self.progress.start(
            found.files.len() as u64,
            found.files.iter().map(|f| f.size).sum(),
        );
        let result = partitions.iter().try_for_each(|(partition, files)| {
            self.convert_partition(partition, files, &mut report)
        });
        self.progress.finish();
        report.rejects_file = self.rejects.finish()?;
        self.lake.remove_staging()?;
        result?;
        report.check()?;
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Parses, encodes, checks and publishes one partition.
    fn convert_partition(
        &self,
        partition: &str,
        files: &[&InputFile],
        report: &mut Report,
    ) -> Result<()> {
        let mut writer = PartitionWriter::new(
            &self.lake,
            partition.to_string(),
            schema::lake_schema(),
            self.props.clone(),
            self.write.clone(),
        );
        let mut rows_parsed = 0u64;
        let mut take =
            |outcomes: Vec<FileOutcome>, writer: &mut PartitionWriter<'_>| -> Result<()> {
                for outcome in outcomes {
                    writer.write(&outcome.batches)?;
                    rows_parsed += outcome.rows;
                    report.add_file(partition, &outcome)?;
                }
                Ok(())
            };
        let mut waves = self.waves(files).into_iter();
        let mut ready = match waves.next() {
            Some(wave) => self.parse_wave(wave)?,
            None => Vec::new(),
        };
        for wave in waves {
            let (written, parsed) =
                rayon::join(|| take(ready, &mut writer), || self.parse_wave(wave));
            written?;
            ready = parsed?;
        }
        take(ready, &mut writer)?;
        let written = writer.finish()?;
        let rows_written: u64 = written.iter().map(|f| f.rows).sum();
        if rows_written != rows_parsed {
            return Err(Error::Accounting {
                what: format!("partition {partition}"),
                lines: rows_parsed,
                rows: rows_written,
                rejected: 0,
            });
        }
        let names: Vec<String> = written.iter().map(|f| f.name.clone()).collect();
        if !names.is_empty() || self.lake.root().join(partition).exists() {
            self.lake.publish(partition, &names)?;
        }
        report.add_partition(PartitionReport {
            path: partition.to_string(),
            input_files: files.len() as u64,
            rows: rows_written,
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
        wave.par_iter()
            .map(|file| {
                let outcome = self.parsers.parse(file, self)?;
                self.progress.file_done(file.size, outcome.rows);
                Ok(outcome)
            })
            .collect()
    }
}
