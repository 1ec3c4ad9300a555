//! What a convert run builds: the lake's partition layout, every partition the listed inputs feed
//! (files without a date of their own placed by their records' times), the partitions stopped runs
//! left half-published, and of all those the ones that are not up to date, grouped into units.
//!
//! Deciding reads only ([`Survey`]): a run decides before it builds, and `flowlake plan` decides the
//! same way for all its shards. The decisions that need no I/O are free functions, unit-tested below:
//! which partitions a file feeds ([`partitions_fed`]), whether a partition is up to date
//! ([`up_to_date`]), the units ([`units`]) and the fingerprint ([`fingerprint`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::convert::config::ConvertConfig;
use crate::convert::parsers::ParserPool;
use crate::convert::report::{other_kind_skip, FailedFile, HeldPartition, Report, Warning};
use crate::convert::shard::Assignment;
use crate::convert::shard_plan::PlannedInputs;
use crate::error::{Error, Result};
use crate::input::copies::drop_copies;
use crate::input::discover::{discover, Discovery, InputFile, Skipped};
use crate::input::inventory;
use crate::input::parse::FileOutcome;
use crate::input::read::ReadErrorKind;
use crate::lake::dataset::Dataset;
use crate::lake::ledger::{
    self, Fingerprint, InputRecord, Lake, LakeSettings, Manifest, OutputRecord, PartitionEntry,
    Recovery,
};
use crate::lake::partition::{Grain, PartitionKey, PartitionLayout, PartitionTime};
use crate::lake::schema::RecordKind;
use crate::storage::Store;
use crate::text::rejects::RejectLog;
use crate::text::route::TimeSlot;

/// One output partition the run may (re)build.
pub(super) struct Output {
    /// Its day (or hour).
    pub slot: TimeSlot,
    pub path: String,
    /// The files delivered in its slot and, with `--partition-time start`, in the next one.
    pub inputs: Vec<InputFile>,
    /// Inputs of its earlier build that no longer exist (or cannot be checked): their rows are carried
    /// over from its published files, read in the order `before` lists them.
    pub carried: Vec<InputRecord>,
    /// Its published files, as its manifest entry records them.
    pub before: Vec<OutputRecord>,
    /// Whose rows the published files hold, in their row order: runs of (index into `carried`,
    /// rows), `None` for rows of inputs that are read again (or of no input).
    pub carried_runs: Vec<(Option<usize>, u64)>,
}

impl Output {
    /// The output of partition `path` (slot `slot`) in `outputs`, added with nothing in it yet.
    fn of(outputs: &mut BTreeMap<String, Output>, path: String, slot: TimeSlot) -> &mut Output {
        outputs.entry(path.clone()).or_insert_with(|| Output {
            slot,
            path,
            inputs: Vec::new(),
            carried: Vec::new(),
            before: Vec::new(),
            carried_runs: Vec::new(),
        })
    }
}

/// What [`Survey::settle`] decided for a partition.
enum Settled {
    /// To build.
    Build(Output),
    /// Up to date, with its inputs of another kind (their paths, files, kinds).
    UpToDate(Vec<(PathBuf, (InputFile, RecordKind))>),
    /// Held: see [`HeldPartition`].
    Held,
}

/// What the run builds: units of partitions, each unit built in one pass over its inputs.
pub(super) struct Plan {
    pub partition_layout: PartitionLayout,
    pub fingerprint: Fingerprint,
    pub units: Vec<Vec<Output>>,
    /// Inputs of up-to-date partitions that their entries remember as records of another kind than
    /// the lake's (not read again; reported as skipped), by path.
    pub other_kind: BTreeMap<PathBuf, (InputFile, RecordKind)>,
    /// Files with no date of their own whose records are of another kind (read for their slots, they
    /// stopped at their header).
    pub undated_others: Vec<(InputFile, RecordKind)>,
}

impl Plan {
    /// The distinct input files the plan reads, by path.
    pub fn to_read(&self) -> Vec<&InputFile> {
        let mut files: Vec<&InputFile> = self
            .units
            .iter()
            .flatten()
            .flat_map(|o| &o.inputs)
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        files
    }
}

/// What deciding what to build reads: the run's settings, its store, the lake's manifest and
/// partition folders, and parsers for the undated files whose times must be read. It writes nothing
/// but what [`Survey::decide`] is told to (the lake's settings, repairs), so `flowlake plan` decides
/// with it exactly as a run does.
pub(super) struct Survey<'r> {
    pub cfg: &'r ConvertConfig,
    pub store: &'r Arc<dyn Store>,
    pub manifest: &'r Manifest,
    pub parsers: &'r ParserPool,
    /// The inputs of a plan's part (a shard of a plan): the slots of its undated files are the plan's.
    pub planned: Option<&'r PlannedInputs>,
}

/// How a decision may touch the lake.
#[derive(Clone, Copy)]
pub(super) enum Touch<'l> {
    /// A run about to build: the lake's settings are recorded on its first run, and partitions stopped
    /// runs left half-published are finished or undone ([`ledger::recover`]).
    Build(&'l Lake),
    /// `flowlake plan`: nothing is written; a partition with a journal mark is to be rebuilt, and the
    /// shard that builds it repairs it first.
    ReadOnly,
}

impl Survey<'_> {
    /// Decides what the run builds from what discovery found (`found`): the partition layout, the
    /// files that have no place in it, and the [`plan`](Survey::plan). Discovery's skipped, failed
    /// and warned entries go to `report`.
    pub(super) fn decide(
        &self,
        mut found: Discovery,
        report: &mut Report,
        touch: Touch<'_>,
        assignment: &Assignment,
    ) -> Result<Plan> {
        let all: Vec<&InputFile> = found.files.iter().chain(&found.undated).collect();
        let layout = self.partition_layout(&all, matches!(touch, Touch::Build(_)))?;
        if matches!(layout, PartitionLayout::Aws | PartitionLayout::SecurityLake) {
            // A file that names no account and region has no place in a lake with AWS's (or
            // Security Lake's) keys.
            drop_unkeyed(&mut found, layout);
        }
        report.files_skipped += found.skipped.len() as u64;
        report.skipped.append(&mut found.skipped);
        // Entries below a root that could not be listed: named, the rest converts.
        for problem in std::mem::take(&mut found.failed) {
            report.files_failed += 1;
            report.failed.push(FailedFile::unread(
                problem.path,
                ReadErrorKind::Listing,
                problem.message,
            ));
        }
        report.warnings.extend(
            std::mem::take(&mut found.warnings)
                .into_iter()
                .map(|(path, message)| Warning { path, message }),
        );
        self.plan(found, layout, report, touch, assignment)
    }

    /// Plans the run over what discovery found (`found`, its skipped and failed entries already
    /// in `report`): the partitions of `assignment` that are not up to date.
    fn plan(
        &self,
        mut found: Discovery,
        layout: PartitionLayout,
        report: &mut Report,
        touch: Touch<'_>,
        assignment: &Assignment,
    ) -> Result<Plan> {
        let cfg = self.cfg;
        let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
        // Moved, not copied (a plan's listing may hold millions of files); copied for a second slot.
        for file in std::mem::take(&mut found.files) {
            let delivery = TimeSlot::of_key(&file.key, cfg.partitioning.grain);
            let mut slots = partitions_fed(delivery, cfg.partitioning.time);
            let last = slots.pop();
            for slot in slots {
                let path = slot.key(&file.key).path(layout);
                Output::of(&mut outputs, path, slot)
                    .inputs
                    .push(file.clone());
            }
            if let Some(slot) = last {
                let path = slot.key(&file.key).path(layout);
                Output::of(&mut outputs, path, slot).inputs.push(file);
            }
        }
        // Files with no date of their own: read now (or known from the manifest) to find the slots
        // their records fall in, then an input of each of those partitions.
        let mut undated_others = Vec::new();
        let undated = std::mem::take(&mut found.undated);
        for (file, slots) in self.undated_slots(undated, report, &mut undated_others)? {
            let feeds: Arc<[TimeSlot]> = Arc::from(slots.as_slice());
            for slot in slots {
                let key = slot.key(&file.key);
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
        // Counted among the listed partitions only: a journal mark of another shard's partition may
        // be that shard's commit in flight, not a partition of this run's input.
        let listed_elsewhere = outputs.keys().filter(|p| !assignment.owns(p)).count();
        let interrupted = self.recover(&mut outputs, report, touch, assignment)?;
        // A shard builds its own partitions only (interrupted ones included: their owner repairs them).
        if *assignment != Assignment::All {
            outputs.retain(|path, _| assignment.owns(path));
            report.shard = assignment.shard().map(|s| s.to_string());
            report.plan = assignment.plan().map(str::to_string);
            report.partitions_in_other_shards = listed_elsewhere as u64;
        }
        let fingerprint = fingerprint(cfg);
        let mut rebuild = Vec::new();
        let mut other_kind = BTreeMap::new();
        for (path, output) in outputs {
            let interrupted = interrupted.contains(&path);
            let settled = self.settle(output, interrupted, &fingerprint, report)?;
            match settled {
                Settled::Build(output) => rebuild.push(output),
                Settled::UpToDate(others) => other_kind.extend(others),
                Settled::Held => {}
            }
        }
        for (file, kind) in other_kind.values().chain(&undated_others) {
            if cfg.hands_over(*kind) {
                report.files_other_kind += 1;
            } else {
                report.files_skipped += 1;
                report.skipped.push(other_kind_skip(&file.path, *kind));
            }
        }
        Ok(Plan {
            partition_layout: layout,
            fingerprint,
            units: units(rebuild, cfg.partitioning.time == PartitionTime::Start),
            other_kind,
            undated_others,
        })
    }

    /// Finds the partitions stopped runs left half-committed and returns those only a rebuild
    /// repairs, each added to `outputs` (whatever this run's range) when its entry says what built
    /// it. A run that builds repairs what it can first ([`ledger::recover`]), its own partitions only;
    /// a read-only decision repairs nothing and counts every marked partition.
    fn recover(
        &self,
        outputs: &mut BTreeMap<String, Output>,
        report: &mut Report,
        touch: Touch<'_>,
        assignment: &Assignment,
    ) -> Result<HashSet<String>> {
        let cfg = self.cfg;
        let root = &cfg.out;
        let marks = ledger::marks(self.manifest)?;
        let mut interrupted = HashSet::new();
        if marks.is_empty() {
            return Ok(interrupted);
        }
        let repair = match touch {
            Touch::Build(lake) => Some((lake, Dataset::open(self.store.clone(), root)?)),
            Touch::ReadOnly => None,
        };
        for path in marks.partitions() {
            let Some((lake, dataset)) = repair.as_ref().filter(|_| assignment.owns(path)) else {
                interrupted.insert(path.clone());
                continue;
            };
            match ledger::recover(lake, dataset, self.manifest, &marks, path)? {
                Recovery::Finished | Recovery::Undone => {}
                Recovery::NeedsRebuild { note } => {
                    if let Some(message) = note {
                        report.warnings.push(Warning {
                            path: root.join(path),
                            message,
                        });
                    }
                    interrupted.insert(path.clone());
                }
            }
        }
        for path in &interrupted {
            if outputs.contains_key(path) {
                continue;
            }
            let key = PartitionKey::from_path(path, cfg.partitioning.grain);
            match (key, self.manifest.entry(path)?) {
                (Some(key), Some(_)) => {
                    Output::of(
                        outputs,
                        path.clone(),
                        TimeSlot::of_key(&key, cfg.partitioning.grain),
                    );
                }
                _ => report.warnings.push(Warning {
                    path: root.join(path),
                    message: "a stopped run was publishing this partition and no manifest entry \
                              says what built it: convert its days again to rebuild it"
                        .into(),
                }),
            }
        }
        Ok(interrupted)
    }

    /// Decides one partition: up to date, held (inputs of it vanished and its rows cannot be found),
    /// or the output to rebuild, with what its earlier build carries over.
    fn settle(
        &self,
        mut output: Output,
        interrupted: bool,
        fingerprint: &Fingerprint,
        report: &mut Report,
    ) -> Result<Settled> {
        let path = output.path.clone();
        let entry = self.manifest.entry(&path)?;
        if let Some(entry) = &entry {
            output.carried = self.resolve_remembered(&mut output.inputs, entry, report);
        }
        output.inputs.sort_by(|a, b| a.path.cmp(&b.path));
        output.inputs.dedup_by(|a, b| a.path == b.path);
        let published = self.published(&path)?;
        let fresh = !interrupted
            && entry
                .as_ref()
                .is_some_and(|e| up_to_date(e, &output, fingerprint, &published));
        // A plan's --rebuild rebuilds each partition once: a retried shard skips what it rebuilt.
        let rebuilt =
            self.cfg.plan.is_some() && entry.as_ref().is_some_and(|e| e.plan == self.cfg.plan);
        if fresh && (!self.cfg.rebuild || rebuilt) {
            let remembered: HashMap<&Path, RecordKind> = entry
                .iter()
                .flat_map(|e| &e.inputs)
                .filter_map(|i| Some((i.path.as_path(), i.kind?)))
                .collect();
            let (others, own): (Vec<InputFile>, Vec<InputFile>) = output
                .inputs
                .into_iter()
                .partition(|f| remembered.contains_key(f.path.as_path()));
            report.partitions_unchanged += 1;
            report.files_unchanged += own.len() as u64;
            let others = others.into_iter().map(|f| {
                let kind = remembered[f.path.as_path()];
                (f.path.clone(), (f, kind))
            });
            return Ok(Settled::UpToDate(others.collect()));
        }
        if let Some(e) = entry.filter(|_| !output.carried.is_empty()) {
            match self.carried_runs(&e, &output.carried, &published) {
                Ok(runs) => output.carried_runs = runs,
                Err(why) => {
                    report.partitions_unchanged += 1;
                    report.held.push(HeldPartition {
                        path,
                        reason: format!(
                            "inputs of it no longer exist and {why}; restore them, or rebuild \
                             with --mirror-deletions to drop their rows"
                        ),
                    });
                    return Ok(Settled::Held);
                }
            }
            output.before = e.outputs;
        }
        Ok(Settled::Build(output))
    }

    /// Names and sizes of the flowlake part files now published in `partition`, in name order.
    fn published(&self, partition: &str) -> Result<Vec<(String, u64)>> {
        let dir = self.cfg.out.join(partition);
        let files = self
            .store
            .list_dir(&dir)
            .map_err(|e| Error::output(&dir, e))?;
        Ok(ledger::commit::part_files(&files))
    }

    /// The partition layout of this run: the lake's own once it has one (a different explicit choice,
    /// hourly, partition time or filters are refused), else resolved and, when `record`, recorded for
    /// the next runs.
    fn partition_layout(&self, files: &[&InputFile], record: bool) -> Result<PartitionLayout> {
        let cfg = &self.cfg.partitioning;
        let filters = &self.cfg.parse.filters;
        if let Some(stored) = self.manifest.settings()? {
            return agrees(self.cfg, &stored);
        }
        let layout = match cfg.layout {
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
        if record && !files.is_empty() {
            self.manifest.put_settings(&LakeSettings {
                partition_layout: layout,
                hourly: cfg.grain.is_hourly(),
                partition_time: cfg.time,
                filters: filters.clone(),
                record_kind: self.cfg.parse.record_kind,
                enrich: self.cfg.enrich.set.clone(),
                schema: self.cfg.schema,
            })?;
            // A concurrent first run (another shard) may have recorded its settings instead: check ours
            // against whatever is recorded now.
            return self.partition_layout(files, record);
        }
        Ok(layout)
    }

    /// The slots (days, or hours) the records of each undated file fall in, in order (the first takes
    /// its records with no time). A file a plan's part lists comes with the slots the plan found; one
    /// whose path, size and modification time the manifest remembers is not read: its slots are the
    /// partitions that remember it. Others are parsed once here (nothing recorded) and again for each
    /// partition they feed. A file that cannot be read, or whose records all lack a time, is listed
    /// as failed.
    fn undated_slots(
        &self,
        files: Vec<InputFile>,
        report: &mut Report,
        others: &mut Vec<(InputFile, RecordKind)>,
    ) -> Result<Vec<(InputFile, Vec<TimeSlot>)>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let grain = self.cfg.partitioning.grain;
        let slots_of = |feeds: &[i64]| feeds.iter().map(|&i| TimeSlot::new(grain, i)).collect();
        // Every slot each remembered undated input feeds, as recorded with the file's size and mtime.
        let mut known: HashMap<PathBuf, (u64, Option<i64>, Vec<TimeSlot>)> = HashMap::new();
        for entry in self.manifest.all()?.into_values() {
            for input in entry.inputs.into_iter().filter(|i| !i.vanished) {
                if let Some(feeds) = input.feeds {
                    known.insert(input.path, (input.size, input.mtime, slots_of(&feeds)));
                }
            }
        }
        for f in &files {
            if let Some(feeds) = self.planned.and_then(|p| p.get(&f.path)?.feeds.as_deref()) {
                known.insert(f.path.clone(), (f.size, f.mtime, slots_of(feeds)));
            }
        }
        let (remembered, new): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| {
            known
                .get(&f.path)
                .is_some_and(|(size, mtime, _)| (*size, *mtime) == (f.size, f.mtime))
        });
        let mut out: Vec<(InputFile, Vec<TimeSlot>)> = remembered
            .into_iter()
            .filter_map(|f| {
                let (_, _, feeds) = known.remove(&f.path)?;
                Some((f, feeds))
            })
            .collect();
        let store = self.store.as_ref();
        let discard = RejectLog::discard();
        let read: Vec<Result<(InputFile, FileOutcome, Vec<TimeSlot>)>> = new
            .into_par_iter()
            .map(|f| {
                let mut outcome = self
                    .parsers
                    .with(|parser| parser.slots_of(store, &f, &self.cfg.parse, &discard, grain))?;
                outcome.batches.clear();
                let slots = std::mem::take(&mut outcome.line_slots)
                    .into_iter()
                    .collect();
                Ok((f, outcome, slots))
            })
            .collect();
        for r in read {
            let (file, outcome, slots) = r?;
            if let Some(kind) = outcome.other_kind {
                others.push((file, kind)); // for the lake of its kind
                continue;
            }
            match undated_failure(&outcome, slots.is_empty()) {
                Some((kind, message)) => {
                    report.files_failed += 1;
                    report
                        .failed
                        .push(FailedFile::unread(file.path, kind, message));
                }
                None => out.push((file, slots)),
            }
        }
        Ok(out)
    }
}

/// The partition layout of a run of `config` into a lake whose recorded settings are `stored`: the lake's
/// own; other settings that decide where rows go or what they hold (an explicit other layout, hourly,
/// partition time, record kind, filters, enrichments) are refused, naming both.
pub(super) fn agrees(config: &ConvertConfig, stored: &LakeSettings) -> Result<PartitionLayout> {
    let (root, filters) = (&config.out, &config.parse.filters);
    let cfg = &config.partitioning;
    // The schema first: another schema means other partitions too, and says more.
    if stored.schema != config.schema {
        return Err(Error::Config(format!(
            "the lake {} is written in the {} schema; this run would write the {} schema: use the \
             same --schema, or a new lake",
            root.display(),
            stored.schema,
            config.schema
        )));
    }
    let layout = match stored.partition_layout {
        PartitionLayout::Plain => PartitionLayout::Plain,
        PartitionLayout::Aws | PartitionLayout::Auto => PartitionLayout::Aws,
        PartitionLayout::SecurityLake => PartitionLayout::SecurityLake,
    };
    let explicit_differs = cfg.layout != PartitionLayout::Auto && cfg.layout != layout;
    if explicit_differs
        || Grain::from_hourly(stored.hourly) != cfg.grain
        || stored.partition_time != cfg.time
    {
        return Err(Error::Config(format!(
                "the lake {} was written with --partition-layout {} --partition-time {}{}; this run \
                 would write other partitions next to them (readers would count rows twice): use the \
                 same settings, or a new lake",
                root.display(),
                layout,
                stored.partition_time,
                if stored.hourly { " --hourly" } else { "" }
            )));
    }
    let kind = config.parse.record_kind;
    if stored.record_kind != kind {
        return Err(Error::Config(format!(
            "the lake {} holds {} records; this run would write {} records into it: \
                 give each kind its own lake (VPC flow logs with --out, Transit Gateway flow \
                 logs with --tgw-out)",
            root.display(),
            stored.record_kind.describe(),
            kind.describe()
        )));
    }
    if stored.filters != *filters {
        // Rebuilding with other filters would mix partitions of both, and could not bring
        // back the records of inputs that have expired since: refused.
        return Err(Error::Config(format!(
            "the lake {} keeps {}; this run would keep {}: use the same --action and \
                 --drop-log-status, or a new lake",
            root.display(),
            stored.filters.describe(),
            filters.describe()
        )));
    }
    let enrich = &config.enrich.set;
    if stored.enrich != *enrich {
        // Partitions with other columns side by side would be one table no reader reads
        // without `union_by_name`, and rows of expired inputs could not be enriched again.
        return Err(Error::Config(format!(
            "the lake {} is enriched with {}; this run would enrich with {}: use the same \
                 --enrich (with its data files: a newer ip-ranges.json or MaxMind DB is fine, \
                 partitions record which they were built with), or a new lake",
            root.display(),
            stored.enrich.describe(),
            enrich.describe()
        )));
    }
    Ok(layout)
}

/// Lists the inputs of `cfg` through `store`: every file below the roots in the run's range (see
/// [`discover`]; with `--inventory`, the objects of the S3 Inventory report instead, see
/// [`inventory::discover`]), keyed ([`fill_keys`]), and an input listed twice (two roots holding the
/// same tree) kept once.
pub(super) fn list(cfg: &ConvertConfig, store: &dyn Store) -> Result<Discovery> {
    let (roots, grain) = (&cfg.inputs, cfg.partitioning.grain);
    let mut found = match &cfg.inventory {
        Some(manifest) => inventory::discover(store, manifest, roots, cfg.from, cfg.to, grain)?,
        None => discover(store, roots, cfg.from, cfg.to, grain)?,
    };
    fill_keys(cfg, &mut found);
    for files in [&mut found.files, &mut found.undated] {
        found.skipped.extend(drop_copies(store, files));
    }
    Ok(found)
}

/// Fills the keys an input lacks from `--account`/`--region` (never over what its path or name says).
pub(super) fn fill_keys(cfg: &ConvertConfig, found: &mut Discovery) {
    for file in found.files.iter_mut().chain(&mut found.undated) {
        if file.key.account.is_none() {
            file.key.account.clone_from(&cfg.partitioning.account);
        }
        if file.key.region.is_none() {
            file.key.region.clone_from(&cfg.partitioning.region);
        }
    }
}

/// Why an undated file has no partition: it could not be read (and nothing was salvaged), or none of
/// its records has a time.
fn undated_failure(outcome: &FileOutcome, no_slots: bool) -> Option<(ReadErrorKind, String)> {
    match (&outcome.error, no_slots) {
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
    }
}

/// Files of an AWS-keyed lake that name no account and region: listed as skipped, with the reason.
pub(super) fn drop_unkeyed(found: &mut Discovery, layout: PartitionLayout) {
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
    found.skipped.extend(drop.into_iter().map(|f| {
        Skipped {
            flow_log: true,
            path: f.path,
            reason: match layout {
                PartitionLayout::SecurityLake => {
                    "an OCSF lake's partitions are keyed by region= and accountId= and neither the \
                     path nor the file name gives this file's account and region (--account and \
                     --region give them)"
                }
                _ => {
                    "the lake uses AWS's keys (aws-account-id=, aws-region=) and neither the path \
                     nor the file name gives this file's account and region"
                }
            }
            .into(),
        }
    }));
}

/// The slots of the partitions a file delivered in slot `delivery` feeds: its own, and with
/// `--partition-time start` the one before (a flow that started before the delivery's slot).
pub(super) fn partitions_fed(delivery: TimeSlot, time: PartitionTime) -> Vec<TimeSlot> {
    match time {
        PartitionTime::Start => vec![delivery.prev(), delivery],
        PartitionTime::Delivery => vec![delivery],
    }
}

/// True when the partition's entry still describes it: the same fingerprint, no input that failed
/// for a reason that may pass (I/O, size limit), the same inputs (path, size, mtime: the files found
/// and the vanished ones whose rows stay) and the published files it lists.
fn up_to_date(
    entry: &PartitionEntry,
    output: &Output,
    fingerprint: &Fingerprint,
    published: &[(String, u64)],
) -> bool {
    let mut now: Vec<(&Path, u64, Option<i64>)> = output
        .inputs
        .iter()
        .map(|f| (f.path.as_path(), f.size, f.mtime))
        .chain(output.carried.iter().map(InputRecord::state))
        .collect();
    now.sort_unstable();
    let mut then: Vec<_> = entry.inputs.iter().map(InputRecord::state).collect();
    then.sort_unstable();
    entry.fingerprint == *fingerprint
        && entry.failed.iter().all(|f| !f.kind.may_pass())
        && then == now
        && published == entry.output_files()
}

/// Groups the partitions to rebuild into units built in one pass: with `--partition-time start`,
/// runs of consecutive slots of one account and region (neighbours share input files); otherwise
/// one partition per unit.
fn units(mut rebuild: Vec<Output>, start_mode: bool) -> Vec<Vec<Output>> {
    // The partition's keys above its time (`year=` keys, or Security Lake's `eventDay=`).
    let series = |o: &Output| {
        let p = o.path.as_str();
        let time = ["year=", "eventDay="]
            .iter()
            .filter_map(|k| p.find(k))
            .min();
        p[..time.unwrap_or(p.len())].to_string()
    };
    rebuild.sort_by_cached_key(|o| (series(o), o.slot));
    let mut units: Vec<Vec<Output>> = Vec::new();
    for output in rebuild {
        let joins = start_mode
            && units.last().and_then(|u| u.last()).is_some_and(|last| {
                series(last) == series(&output) && last.slot.next() == output.slot
            });
        match units.last_mut() {
            Some(unit) if joins => unit.push(output),
            _ => units.push(vec![output]),
        }
    }
    units
}

/// What shapes a partition's output besides its inputs: the lake schema, the field list used for
/// headerless files, the partition time, and the limits and policy that decide which lines and files
/// are used. A change rebuilds the partitions it touches on their next conversion, so a lake
/// never mixes schemas.
pub(super) fn fingerprint(cfg: &ConvertConfig) -> Fingerprint {
    let mut hash = crate::hash::Fnv1a::default();
    for field in cfg.file_schema().fields() {
        hash.add(format!("{}:{};", field.name(), field.data_type()).as_bytes());
    }
    let hash = hash.finish();
    let parse = &cfg.parse;
    let fields = parse
        .fields
        .as_ref()
        .map(|l| l.header_line())
        .unwrap_or_default();
    Fingerprint::Convert(format!(
        "schema={hash:016x};fields={fields};partition_time={:?};max_file_bytes={};max_line_bytes={};on_bad_file={:?}",
        cfg.partitioning.time, parse.max_file_bytes, parse.max_line_bytes, parse.on_bad_file
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ReadErrorKind;
    use crate::lake::ledger::{FailedRecord, MANIFEST_VERSION};

    fn output(path: &str, slot: i64) -> Output {
        Output {
            slot: TimeSlot::new(Grain::Day, slot),
            path: path.into(),
            inputs: Vec::new(),
            carried: Vec::new(),
            before: Vec::new(),
            carried_runs: Vec::new(),
        }
    }

    fn record(path: &str, size: u64) -> InputRecord {
        InputRecord {
            path: path.into(),
            size,
            mtime: Some(7),
            rel: path.rsplit('/').next().unwrap_or_default().into(),
            rows: Some(3),
            first_row: None,
            vanished: true,
            feeds: None,
            kind: None,
        }
    }

    fn entry(inputs: Vec<InputRecord>, fingerprint: &Fingerprint) -> PartitionEntry {
        PartitionEntry {
            version: MANIFEST_VERSION,
            partition: "year=2024/month=01/day=02".into(),
            fingerprint: fingerprint.clone(),
            inputs,
            outputs: vec![OutputRecord {
                name: "part-00000.parquet".into(),
                rows: 3,
                bytes: 10,
            }],
            lines: 3,
            rows: 3,
            rejected: 0,
            filtered: 0,
            failed: Vec::new(),
            row_map: None,
            plan: None,
            enriched_with: Vec::new(),
        }
    }

    #[test]
    fn a_file_feeds_its_own_slot_and_with_start_times_the_one_before() {
        let day = |i| TimeSlot::new(Grain::Day, i);
        assert_eq!(partitions_fed(day(10), PartitionTime::Delivery), [day(10)]);
        assert_eq!(
            partitions_fed(day(10), PartitionTime::Start),
            [day(9), day(10)]
        );
    }

    #[test]
    fn up_to_date_needs_the_same_fingerprint_inputs_files_and_no_retryable_failure() {
        let print = Fingerprint::Convert("a".into());
        let files = [("part-00000.parquet".to_string(), 10)];
        let mut out = output("year=2024/month=01/day=02", 1);
        out.carried = vec![record("/in/a.log.gz", 5)];
        let e = entry(vec![record("/in/a.log.gz", 5)], &print);
        assert!(up_to_date(&e, &out, &print, &files));
        assert!(!up_to_date(&e, &out, &Fingerprint::Compacted, &files));
        assert!(!up_to_date(&e, &out, &print, &[]), "its files changed");
        let grown = entry(vec![record("/in/a.log.gz", 6)], &print);
        assert!(
            !up_to_date(&grown, &out, &print, &files),
            "an input changed"
        );
        let mut failed = entry(vec![record("/in/a.log.gz", 5)], &print);
        failed.failed.push(FailedRecord {
            path: "/in/b.log.gz".into(),
            kind: ReadErrorKind::Io,
            message: "i/o".into(),
        });
        assert!(
            !up_to_date(&failed, &out, &print, &files),
            "an I/O failure is retried"
        );
        failed.failed[0].kind = ReadErrorKind::Corrupt;
        assert!(up_to_date(&failed, &out, &print, &files), "damage is not");
    }

    #[test]
    fn start_time_units_join_consecutive_days_of_one_series() {
        let outs = || {
            vec![
                output("aws-account-id=1/year=2024/month=01/day=03", 3),
                output("aws-account-id=1/year=2024/month=01/day=02", 2),
                output("aws-account-id=2/year=2024/month=01/day=03", 3),
                output("aws-account-id=1/year=2024/month=01/day=05", 5),
            ]
        };
        let shape = |units: Vec<Vec<Output>>| -> Vec<Vec<i64>> {
            units
                .iter()
                .map(|u| u.iter().map(|o| o.slot.index()).collect())
                .collect()
        };
        assert_eq!(shape(units(outs(), true)), [vec![2, 3], vec![5], vec![3]]);
        assert_eq!(
            shape(units(outs(), false)),
            [vec![2], vec![3], vec![5], vec![3]]
        );
    }

    #[test]
    fn the_fingerprint_follows_what_shapes_the_output() {
        let base = ConvertConfig::new(vec!["/in".into()], "/out".into());
        let a = fingerprint(&base);
        assert_eq!(a, fingerprint(&base));
        let Fingerprint::Convert(text) = &a else {
            panic!("convert's fingerprint: {a:?}")
        };
        assert!(text.starts_with("schema=") && text.contains(";partition_time=Delivery;"));
        let mut start = base.clone();
        start.partitioning.time = PartitionTime::Start;
        assert_ne!(fingerprint(&start), a);
        let threads = ConvertConfig { threads: 3, ..base };
        assert_eq!(fingerprint(&threads), a, "threads do not shape the output");
    }
}
