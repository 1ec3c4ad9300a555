//! Building what the plan says: units two at a time, a unit's files parsed in waves while the wave
//! before is encoded, rows routed to their partitions, and each partition finished (checked,
//! committed through the ledger) as soon as no later file can feed it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use crate::convert::plan::{partitions_fed, Output, Plan};
use crate::convert::report::other_kind_skip;
use crate::convert::report::{AbortedPartition, PartitionReport, Report};
use crate::convert::Run;
use crate::error::{Error, Result};
use crate::input::discover::{InputFile, Skipped};
use crate::input::parse::{BadFilePolicy, FileOutcome};
use crate::input::read::{ReadError, ReadErrorKind};
use crate::lake::ledger::rowmap::NO_INPUT;
use crate::lake::ledger::{
    FailedRecord, InputRecord, Journal, OutputRecord, PartitionEntry, Replaces, MANIFEST_VERSION,
};
use crate::lake::ocsf::mapping::Mapping;
use crate::lake::partition::PartitionTime;
use crate::lake::partition::{Grain, PartitionKey};
use crate::lake::schema::{OutputSchema, RecordKind};
use crate::lake::write::{PartitionWriter, Written};
use crate::storage::Entry;
use crate::text::route::{split_by_start, TimeSlot};

/// Free staging space kept beyond the estimate before two units are built at once.
const STAGING_MARGIN: u64 = 64 * 1024 * 1024;

/// A partition being built: its writer and what went into it.
pub(super) struct Building<'l> {
    pub writer: PartitionWriter<'l>,
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
    pub carried_rows: u64,
    /// The carried inputs.
    pub carried: Vec<InputRecord>,
    /// The inputs whose rows were handed to the writer, by the source number they were given with.
    sources: Vec<PathBuf>,
    source_of: HashMap<PathBuf, u32>,
    /// An input of a plan that feeds it changed since the plan was made: it is not published.
    stale: bool,
    /// Inputs of another kind of records than the lake's (not read past their header).
    other_kind: HashMap<PathBuf, RecordKind>,
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
            stale: false,
            other_kind: HashMap::new(),
        }
    }

    /// The source number of the rows of the input at `path` (see [`PartitionWriter::write`]).
    pub fn source(&mut self, path: &Path) -> u32 {
        if let Some(&n) = self.source_of.get(path) {
            return n;
        }
        let n = self.sources.len() as u32;
        self.sources.push(path.to_path_buf());
        self.source_of.insert(path.to_path_buf(), n);
        n
    }

    /// Counts a file delivered in its slot.
    fn count(&mut self, outcome: &FileOutcome) {
        self.files += 1;
        self.unreadable += u64::from(outcome.error.is_some() && !outcome.salvaged);
        self.lines += outcome.lines;
        self.rejected += outcome.rejected;
        self.filtered += outcome.filtered;
        if let Some(e) = &outcome.error {
            self.failed.push(FailedRecord {
                path: outcome.path.clone(),
                kind: e.kind,
                message: e.message.clone(),
            });
        }
    }
}

/// The partitions of one unit being built, by slot.
type Partitions<'l> = BTreeMap<TimeSlot, Building<'l>>;

impl Run<'_> {
    /// Builds the plan's units, two at a time: while one unit's last rows are encoded, its files
    /// flushed and its partitions published (steps that keep few cores busy), the next unit's files
    /// are parsed. Each unit fills a report of its own, added to `report` in unit order, so the
    /// report does not depend on which unit finished first. The first error stops both.
    ///
    /// Two units stage files at once only when the staging disk has room for both: two partitions
    /// racing for the last free bytes could both fail, where one at a time publishes the first
    /// (and each rerun gets further). One thread, or too little room: one unit at a time.
    pub(super) fn build(&self, plan: &Plan, report: &mut Report) -> Result<()> {
        let units = &plan.units;
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
                if let Err(e) = self.build_unit(&units[i], plan, &mut unit_report) {
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
    fn build_unit(&self, unit: &[Output], plan: &Plan, report: &mut Report) -> Result<()> {
        let start_mode = self.cfg.partitioning.time == PartitionTime::Start;
        let mut building: Partitions<'_> = unit
            .iter()
            .map(|o| {
                let writer = match self.cfg.schema {
                    OutputSchema::Aws => PartitionWriter::new(
                        &self.lake,
                        o.path.clone(),
                        self.schema.clone(),
                        self.props.clone(),
                        self.write.clone(),
                    ),
                    OutputSchema::Ocsf => {
                        // The partition's keys fill the account and region of records without
                        // them, its day the time of records with neither start nor end.
                        let key = PartitionKey::from_path(&o.path, Grain::Day);
                        let mapping = match key {
                            Some(k) => Mapping::new(k.account.clone(), k.region.clone())
                                .in_day(TimeSlot::of_key(&k, Grain::Day).index() * 86_400_000),
                            None => Mapping::default(),
                        };
                        PartitionWriter::ocsf(
                            &self.lake,
                            o.path.clone(),
                            self.props.clone(),
                            self.write.clone(),
                            Some(mapping),
                        )
                    }
                };
                (o.slot, Building::new(writer))
            })
            .collect();
        for o in unit {
            if let Some(b) = building.get_mut(&o.slot) {
                self.carry_over(o, b)?;
            }
        }
        for (delivery, files) in deliveries(unit, self.cfg.partitioning.grain) {
            let partition = delivery.key(&files[0].key).path(plan.partition_layout);
            self.feed(&files, delivery, &partition, &mut building, report)?;
            // With --partition-time start, a file delivered in slot d feeds slots d - 1 and d, so
            // every partition up to d - 1 is now complete.
            let complete = if start_mode {
                delivery.prev()
            } else {
                delivery
            };
            let done: Vec<TimeSlot> = building.range(..=complete).map(|(s, _)| *s).collect();
            for slot in done {
                if let (Some(b), Some(o)) =
                    (building.remove(&slot), unit.iter().find(|o| o.slot == slot))
                {
                    self.finish_partition(o, b, plan, report)?;
                }
            }
        }
        for (slot, b) in building {
            if let Some(o) = unit.iter().find(|o| o.slot == slot) {
                self.finish_partition(o, b, plan, report)?;
            }
        }
        Ok(())
    }

    /// Parses the files delivered in one slot (in waves, encoding one wave while parsing the next)
    /// and hands their rows to the partitions being built.
    fn feed(
        &self,
        files: &[&InputFile],
        delivery: TimeSlot,
        partition: &str,
        building: &mut Partitions<'_>,
        report: &mut Report,
    ) -> Result<()> {
        let mut take = |outcomes: Vec<FileOutcome>| -> Result<()> {
            for outcome in outcomes {
                self.take(outcome, delivery, partition, building, report)?;
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

    /// Accounts for one parsed file delivered in slot `delivery` (whose own partition is
    /// `partition`) and hands its rows to the partitions they belong in.
    fn take(
        &self,
        outcome: FileOutcome,
        delivery: TimeSlot,
        partition: &str,
        building: &mut Partitions<'_>,
        report: &mut Report,
    ) -> Result<()> {
        if let (Some(e), BadFilePolicy::Abort) = (&outcome.error, self.cfg.parse.on_bad_file) {
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
            return Ok(());
        }
        if let Some(kind) = outcome.other_kind {
            if self.cfg.hands_over(kind) {
                report.files_other_kind += 1;
                report.handed_over.push(outcome.path.clone());
            } else {
                report.files_skipped += 1;
                report.skipped.push(other_kind_skip(&outcome.path, kind));
            }
            for slot in partitions_fed(delivery, self.cfg.partitioning.time) {
                if let Some(b) = building.get_mut(&slot) {
                    b.other_kind.insert(outcome.path.clone(), kind);
                }
            }
            return Ok(());
        }
        report.add_file(partition, &outcome)?;
        if let Some(own) = building.get_mut(&delivery) {
            own.count(&outcome);
        }
        let start_mode = self.cfg.partitioning.time == PartitionTime::Start;
        if outcome
            .error
            .as_ref()
            .is_some_and(|e| e.kind == ReadErrorKind::Stale)
        {
            for slot in partitions_fed(delivery, self.cfg.partitioning.time) {
                if let Some(b) = building.get_mut(&slot) {
                    b.stale = true;
                }
            }
        }
        let mut per_slot: BTreeMap<TimeSlot, Vec<RecordBatch>> = BTreeMap::new();
        for batch in outcome.batches {
            if start_mode {
                for (slot, rows) in split_by_start(&batch, delivery)? {
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
                        what: format!("{} (no partition for its rows)", outcome.path.display()),
                        lines: outcome.lines,
                        rows,
                        rejected: outcome.rejected,
                    })
                }
            }
        }
        Ok(())
    }

    /// Closes a partition's files, checks them, and commits them through the ledger (or withholds
    /// them past the reject ratio).
    fn finish_partition(
        &self,
        output: &Output,
        building: Building<'_>,
        plan: &Plan,
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
            stale,
            other_kind,
        } = building;
        let done = writer.finish()?;
        report.stages.sort += done.sort_seconds;
        report.stages.encode += done.encode_seconds;
        report.stages.write += done.write_seconds;
        let rows_in_files: u64 = done.files.iter().map(|f| f.rows).sum();
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
        let reason = if stale {
            Some(format!(
                "an input changed since plan {} was made (see the failed files): make a new plan",
                self.assignment.plan().unwrap_or_default()
            ))
        } else if files > 0 && unreadable == files {
            Some("every input file delivered for this partition failed to read".into())
        } else if lines > 0 && rejected as f64 > self.cfg.max_reject_ratio * lines as f64 {
            Some("reject ratio above --max-reject-ratio".into())
        } else {
            None
        };
        if let Some(reason) = reason {
            report.add_aborted(AbortedPartition {
                path: partition.to_string(),
                reason,
                lines,
                rejected,
                rows,
            });
            return Ok(()); // its staged files go with the staging folder; the published ones stay
        }
        let (inputs, runs) = inputs_and_runs(output, carried, &sources, &done, &other_kind);
        let entry = PartitionEntry {
            version: MANIFEST_VERSION,
            partition: partition.to_string(),
            fingerprint: plan.fingerprint.clone(),
            inputs,
            outputs: done
                .files
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
            row_map: None,
            plan: self.cfg.plan.clone(),
            enriched_with: self
                .enricher
                .as_ref()
                .map(|e| e.versions())
                .unwrap_or_default(),
        };
        // A run that stops anywhere in the commit leaves the journal mark, and the next run rebuilds
        // this partition (whatever its range) from the inputs the entry remembers.
        let started = Instant::now();
        let names: Vec<String> = done.files.iter().map(|f| f.name.clone()).collect();
        self.lake.commit(
            &self.manifest,
            entry,
            Some(&runs),
            &names,
            Replaces::PartFiles,
            Journal::Rebuild,
        )?;
        report.stages.publish += started.elapsed().as_secs_f64();
        report.add_partition(PartitionReport {
            path: partition.to_string(),
            input_files: output.inputs.len() as u64,
            rows,
            rows_carried_over: carried_rows,
            files: done.files,
        });
        Ok(())
    }

    /// Splits a partition's files into waves of about `read_ahead_bytes` (at least one file per thread).
    fn waves<'f>(&self, files: &'f [&'f InputFile]) -> Vec<&'f [&'f InputFile]> {
        waves(
            files,
            self.cfg.read_ahead_bytes,
            rayon::current_num_threads().max(1),
        )
    }

    fn parse_wave(&self, wave: &[&InputFile]) -> Result<Vec<FileOutcome>> {
        let entries: Vec<Entry> = wave.iter().map(|f| f.entry()).collect();
        let entries: Vec<&Entry> = entries.iter().collect();
        self.store
            .prefetch(&entries, self.cfg.parse.max_file_bytes.saturating_add(1));
        wave.par_iter()
            .map(|file| {
                if self.progress.should_stop() {
                    return Err(Error::Interrupted);
                }
                // A plan's input is checked against the plan: one with a version (an ETag) by the
                // read itself (conditional), then only when the read failed; one without first.
                let plan_check = self.planned.as_ref().filter(|_| file.version.is_none());
                if let Some(message) = plan_check.and_then(|p| p.stale(self.store.as_ref(), file)) {
                    return Ok(stale(file, message));
                }
                let mut outcome = self.parsers.with(|parser| {
                    parser.parse(self.store.as_ref(), file, &self.cfg.parse, &self.rejects)
                })?;
                let failed = outcome.error.is_some() && file.version.is_some();
                if let Some(p) = self.planned.as_ref().filter(|_| failed) {
                    if let Some(message) = p.stale(self.store.as_ref(), file) {
                        outcome = stale(file, message);
                    }
                }
                if let Some(enricher) = &self.enricher {
                    let started = Instant::now();
                    for batch in &mut outcome.batches {
                        *batch = enricher.enrich(batch, &self.schema)?;
                    }
                    outcome.build_seconds += started.elapsed().as_secs_f64();
                }
                self.progress.file_done(file.size, outcome.rows);
                Ok(outcome)
            })
            .collect()
    }
}

/// The outcome of a plan's input that is not what the plan listed: failed, nothing of it read.
fn stale(file: &InputFile, message: String) -> FileOutcome {
    FileOutcome {
        path: file.path.clone(),
        undated: file.undated.is_some(),
        input_bytes: file.size,
        error: Some(ReadError::new(ReadErrorKind::Stale, message)),
        ..FileOutcome::default()
    }
}

/// The files of a unit by the slot they were delivered in, each slot's in path order. An undated
/// file is read once for each partition it feeds (each read keeps its slot).
fn deliveries(unit: &[Output], grain: Grain) -> BTreeMap<TimeSlot, Vec<&InputFile>> {
    let mut deliveries: BTreeMap<TimeSlot, Vec<&InputFile>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for file in unit.iter().flat_map(|o| &o.inputs) {
        let slot = TimeSlot::of_key(&file.key, grain);
        if seen.insert((&file.path, file.undated.as_ref().map(|_| slot))) {
            deliveries.entry(slot).or_default().push(file);
        }
    }
    for files in deliveries.values_mut() {
        files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    deliveries
}

/// The entry's inputs (those read, with their rows, and the carried ones), sorted, and the runs of
/// (index into them, rows) over the written files' rows: where every input's rows are, so a later
/// rebuild can carry over those of an input that has vanished by then.
fn inputs_and_runs(
    output: &Output,
    carried: Vec<InputRecord>,
    sources: &[PathBuf],
    done: &Written,
    other_kind: &HashMap<PathBuf, RecordKind>,
) -> (Vec<InputRecord>, Vec<(u32, u64)>) {
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
            rel: f.rel.clone(),
            rows: Some(rows_of.get(f.path.as_path()).copied().unwrap_or(0)),
            first_row: None,
            vanished: false,
            feeds: f
                .undated
                .as_deref()
                .map(|slots| slots.iter().map(|s| s.index()).collect()),
            kind: other_kind.get(&f.path).copied(),
        })
        .chain(carried)
        .collect();
    inputs.sort();
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
    (inputs, runs)
}

/// Splits files into waves of about `bytes` of input, each of at least `min_files` files (but the
/// last).
fn waves<'f>(files: &'f [&'f InputFile], bytes: u64, min_files: usize) -> Vec<&'f [&'f InputFile]> {
    let mut waves = Vec::new();
    let (mut start, mut size) = (0, 0u64);
    for (i, f) in files.iter().enumerate() {
        size += f.size;
        if size >= bytes && i + 1 - start >= min_files {
            waves.push(&files[start..=i]);
            (start, size) = (i + 1, 0);
        }
    }
    if start < files.len() {
        waves.push(&files[start..]);
    }
    waves
}
