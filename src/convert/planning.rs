//! `flowlake plan`: the input listed once, what convert would build decided once (read-only, as a run
//! decides), and whole units of it assigned to N shards by input bytes, kept in the lake as a plan
//! (see [`shard_plan`](crate::convert::shard_plan) for its files); and the other side, a shard of a
//! plan, which reads its part instead of listing the input.
//!
//! A shard of a plan builds the Discovery of its part's inputs through the classification a listing
//! uses, so it keys, skips and dates them as a run that listed them would; then it decides as any run
//! (a retried shard finds what it published up to date) over its own partitions only. An input that
//! changed or vanished since the plan was made ([`PlannedPart::stale`]) fails, naming the plan, and
//! the partitions it feeds are not published: a partition is never built from a mix of what the
//! plan listed and what is there now.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::convert::config::ConvertConfig;
use crate::convert::parsers::ParserPool;
use crate::convert::plan::{self, Survey, Touch};
use crate::convert::report::{FailedFile, HeldPartition, Report, VanishedInput, Warning};
use crate::convert::shard::{Assignment, Shard};
use crate::convert::shard_plan::{
    assign_by_bytes, decode_part, decode_summary, distinct, encode_part, encode_summary,
    is_plan_id, new_plan_id, part_name, Figures, Noted, PlanFileError, PlanSummary, PlannedInput,
    PlannedInputs, PlannedPartition, ShardFigures, ShardPart, PLANS_DIR, PLAN_FORMAT, SUMMARY_NAME,
};
use crate::convert::store_for;
use crate::error::{Error, Result};
use crate::input::discover::{classify_entry, Discovery, InputFile, Skipped};
use crate::lake::ledger::Manifest;
use crate::lake::META_DIR;
use crate::storage::{self, is_conflict, Expect, S3Settings, Store, Version};
use crate::threads;

/// What `flowlake plan` made: the plan's id and where it is, the work of each shard, and what the
/// listing and the decision found on the way (as a convert run reports them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardPlanReport {
    /// The plan's id: `convert --out LAKE --plan ID --shard K/N`.
    pub id: String,
    /// The lake it is for (absolute), and its `plan.json` there.
    #[serde(serialize_with = "crate::paths::lossy")]
    pub lake: PathBuf,
    #[serde(serialize_with = "crate::paths::lossy")]
    pub plan: PathBuf,
    /// N.
    pub shard_count: u32,
    /// Each shard's partitions, distinct input files and their bytes, in shard order.
    pub shards: Vec<ShardFigures>,
    pub total: Figures,
    /// The largest shard's input bytes over the mean (1 when there is nothing to build).
    pub largest_over_mean: f64,
    /// Partitions that are up to date (not in the plan), and their input files.
    pub partitions_unchanged: u64,
    pub files_unchanged: u64,
    /// Listed files that will not be converted; entries that could not be listed, and undated files
    /// whose times could not be read.
    pub files_skipped: u64,
    pub files_failed: u64,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<FailedFile>,
    /// Partitions that need a rebuild and cannot have one (see convert's report).
    pub held: Vec<HeldPartition>,
    pub vanished: Vec<VanishedInput>,
    pub warnings: Vec<Warning>,
    /// Requests sent to S3 (listing pages, GETs, PUTs, ...) when an input or the lake is on S3.
    pub s3_requests: Option<storage::Requests>,
    /// Listing the input (wall).
    pub list_seconds: f64,
    pub seconds: f64,
}

impl ShardPlanReport {
    /// True when every listed flow log file is in the plan or up to date (as convert's clean run:
    /// nothing failed, no flow log skipped, no partition held).
    pub fn is_clean(&self) -> bool {
        self.files_failed == 0 && self.held.is_empty() && !self.skipped.iter().any(|s| s.flow_log)
    }

    /// One human-readable line.
    pub fn summary_line(&self) -> String {
        let mut s = format!(
            "plan {}: {} partitions, {} files ({}) in {} shards (largest {:.2} x the mean) in {:.1}s",
            self.id,
            self.total.partitions,
            self.total.files,
            crate::convert::report::human_bytes(self.total.bytes),
            self.shard_count,
            self.largest_over_mean,
            self.seconds
        );
        if self.partitions_unchanged > 0 {
            s.push_str(&format!(
                "; {} partitions unchanged",
                self.partitions_unchanged
            ));
        }
        if !self.held.is_empty() {
            s.push_str(&format!("; {} partitions NOT REBUILT", self.held.len()));
        }
        if self.files_failed > 0 {
            s.push_str(&format!("; {} files FAILED", self.files_failed));
        }
        if self.files_skipped > 0 {
            s.push_str(&format!("; {} files skipped", self.files_skipped));
        }
        if !self.warnings.is_empty() {
            s.push_str(&format!("; {} warnings", self.warnings.len()));
        }
        s
    }
}

/// Makes a plan of `shards` shards for `cfg` (its inputs, range, filters and settings, as `convert`
/// takes them): lists the inputs once, decides what convert would build (new, late and changed
/// inputs, partitions stopped runs left half-published, undated files placed by their records'
/// times) without writing anything to the lake but the plan, and assigns whole units to shards by
/// input bytes.
pub fn plan_shards(cfg: &ConvertConfig, shards: u32) -> Result<ShardPlanReport> {
    cfg.validate()?;
    if shards == 0 {
        return Err(Error::Config("--shards must be at least 1".into()));
    }
    if cfg.shard.is_some() || cfg.plan.is_some() {
        return Err(Error::Config(
            "a plan is made for every shard at once: no --shard or --plan".into(),
        ));
    }
    let cfg = absolute(cfg)?;
    // The data files are checked now, so a plan no shard could carry out is never made.
    super::enrichment::load(&cfg)?;
    threads::pool(cfg.threads)?.install(|| make(&cfg, shards))
}

/// `cfg` with its local paths absolute: a shard may run in another working folder.
fn absolute(cfg: &ConvertConfig) -> Result<ConvertConfig> {
    let made = |p: &Path| -> Result<PathBuf> {
        if !storage::is_local(p) {
            return Ok(p.to_path_buf());
        }
        std::path::absolute(p).map_err(|source| Error::Input {
            path: p.to_path_buf(),
            source,
        })
    };
    let mut cfg = cfg.clone();
    cfg.inputs = cfg.inputs.iter().map(|p| made(p)).collect::<Result<_>>()?;
    cfg.out = made(&cfg.out)?;
    let e = &mut cfg.enrich;
    for at in [&mut e.ip_ranges, &mut e.geoip_country, &mut e.geoip_asn]
        .into_iter()
        .flatten()
    {
        if !storage::http::is_url(at) {
            *at = made(Path::new(at.as_str()))?.to_string_lossy().into_owned();
        }
    }
    Ok(cfg)
}

fn make(cfg: &ConvertConfig, shards: u32) -> Result<ShardPlanReport> {
    let started = Instant::now();
    let store = store_for(cfg)?;
    let manifest = Manifest::of_lake(store.clone(), &cfg.out);
    let parsers = ParserPool::default();
    let survey = Survey {
        cfg,
        store: &store,
        manifest: &manifest,
        parsers: &parsers,
        planned: None,
    };
    let found = plan::list(cfg, store.as_ref())?;
    let list_seconds = started.elapsed().as_secs_f64();
    let mut report = Report::default();
    let decided = survey.decide(found, &mut report, Touch::ReadOnly, &Assignment::All)?;

    let (id, created) = new_plan_id();
    let layout = decided.partition_layout;
    let parts = parts(decided.units, shards, &id); // what is left of the listing, moved
    let figures: Vec<ShardFigures> = parts.iter().map(figures_of).collect();
    let all_inputs = parts
        .iter()
        .flat_map(|p| &p.partitions)
        .flat_map(|p| &p.inputs);
    let (files, bytes) = distinct(all_inputs.map(|i| (i.path.as_path(), i.size)));
    let total = Figures {
        partitions: figures.iter().map(|f| f.partitions).sum(),
        files,
        bytes,
    };
    let mut settings = cfg.clone();
    settings.partitioning.layout = layout;
    let summary = PlanSummary {
        format: PLAN_FORMAT.into(),
        id: id.clone(),
        created,
        lake: cfg.out.clone(),
        shard_count: shards,
        settings,
        shards: figures.clone(),
        total,
        skipped: report
            .skipped
            .iter()
            .map(|s| noted(&s.path, &s.reason))
            .collect(),
        failed: report
            .failed
            .iter()
            .map(|f| noted(&f.path, &f.message))
            .collect(),
    };
    let plan = write(store.as_ref(), &cfg.out, &summary, &parts)?;
    let mean = figures.iter().map(|f| f.bytes).sum::<u64>() as f64 / f64::from(shards);
    let largest = figures.iter().map(|f| f.bytes).max().unwrap_or(0) as f64;
    Ok(ShardPlanReport {
        id,
        lake: cfg.out.clone(),
        plan,
        shard_count: shards,
        shards: figures,
        total,
        largest_over_mean: if mean > 0.0 { largest / mean } else { 1.0 },
        partitions_unchanged: report.partitions_unchanged,
        files_unchanged: report.files_unchanged,
        files_skipped: report.files_skipped,
        files_failed: report.files_failed,
        skipped: report.skipped,
        failed: report.failed,
        held: report.held,
        vanished: report.vanished,
        warnings: report.warnings,
        s3_requests: store.requests(),
        list_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The parts of plan `id`: `units` (each built in one pass) assigned to `shards` shards by their
/// distinct input bytes.
fn parts(units: Vec<Vec<plan::Output>>, shards: u32, id: &str) -> Vec<ShardPart> {
    let weights: Vec<(u64, &str)> = units
        .iter()
        .map(|unit| {
            let inputs = unit.iter().flat_map(|o| &o.inputs);
            let (_, bytes) = distinct(inputs.map(|f| (f.path.as_path(), f.size)));
            (bytes, unit.first().map_or("", |o| o.path.as_str()))
        })
        .collect();
    let assigned = assign_by_bytes(&weights, shards);
    drop(weights);
    let mut parts: Vec<ShardPart> = (0..shards)
        .map(|shard| ShardPart {
            format: PLAN_FORMAT.into(),
            id: id.to_string(),
            shard,
            shard_count: shards,
            partitions: Vec::new(),
        })
        .collect();
    for (unit, k) in units.into_iter().zip(assigned) {
        for output in unit {
            parts[k as usize].partitions.push(PlannedPartition {
                path: output.path,
                inputs: output.inputs.into_iter().map(planned_input).collect(),
            });
        }
    }
    parts
}

/// An input as the plan keeps it.
fn planned_input(f: InputFile) -> PlannedInput {
    PlannedInput {
        path: f.path,
        size: f.size,
        mtime: f.mtime,
        version: f.version,
        feeds: f
            .undated
            .as_deref()
            .map(|slots| slots.iter().map(|s| s.index()).collect()),
    }
}

fn figures_of(part: &ShardPart) -> ShardFigures {
    let inputs = part.partitions.iter().flat_map(|p| &p.inputs);
    let (files, bytes) = distinct(inputs.map(|i| (i.path.as_path(), i.size)));
    ShardFigures {
        shard: part.shard,
        partitions: part.partitions.len() as u64,
        files,
        bytes,
        part: part_name(part.shard),
    }
}

fn noted(path: &Path, reason: &str) -> Noted {
    Noted {
        path: path.to_string_lossy().into_owned(),
        reason: reason.to_string(),
    }
}

/// The folder of plan `id` in the lake at `lake`.
fn plan_dir(lake: &Path, id: &str) -> PathBuf {
    lake.join(META_DIR).join(PLANS_DIR).join(id)
}

/// Writes the plan's files, each created only if absent, the parts first: a `plan.json` that can be
/// read means a whole plan. Returns where `plan.json` is.
fn write(
    store: &dyn Store,
    lake: &Path,
    summary: &PlanSummary,
    parts: &[ShardPart],
) -> Result<PathBuf> {
    let dir = plan_dir(lake, &summary.id);
    let create = |name: &str, bytes: std::result::Result<Vec<u8>, PlanFileError>| {
        let path = dir.join(name);
        let bytes = bytes.map_err(|e| Error::Lake {
            path: path.clone(),
            message: e.to_string(),
        })?;
        match store.put(&path, &bytes, Expect::Version(Version::Absent)) {
            Ok(_) => Ok(path),
            Err(e) if is_conflict(&e) => Err(Error::Lake {
                path,
                message: format!("plan {} exists already: make the plan again", summary.id),
            }),
            Err(e) => Err(Error::output(&path, e)),
        }
    };
    for part in parts {
        create(&part_name(part.shard), encode_part(part))?;
    }
    create(SUMMARY_NAME, encode_summary(summary))
}

/// A plan read from its lake: its summary, from which a shard's settings come.
#[derive(Debug, Clone)]
pub struct ShardPlan {
    pub summary: PlanSummary,
}

impl ShardPlan {
    /// Reads plan `id` of the lake at `lake` (an `s3://` lake through `endpoint`).
    pub fn read(lake: &Path, id: &str, endpoint: Option<&str>) -> Result<ShardPlan> {
        let store = storage::open(
            &[lake],
            &S3Settings {
                endpoint: endpoint.map(str::to_string),
            },
        )?;
        let summary = read_summary(store.as_ref(), lake, id)?;
        Ok(ShardPlan { summary })
    }

    /// The settings of `shard` of this plan for a process working on `lake`: the plan's, with this
    /// process's defaults for its own (read-ahead, threads, endpoint; set them after).
    pub fn config(&self, lake: &Path, shard: Shard) -> ConvertConfig {
        let defaults = ConvertConfig::new(self.summary.settings.inputs.clone(), lake.into());
        ConvertConfig {
            out: lake.into(),
            read_ahead_bytes: defaults.read_ahead_bytes,
            threads: defaults.threads,
            shard: Some(shard),
            plan: Some(self.summary.id.clone()),
            endpoint: None,
            ..self.summary.settings.clone()
        }
    }
}

/// Reads `plan.json` of plan `id`; a plan that is not there is an error naming the id.
fn read_summary(store: &dyn Store, lake: &Path, id: &str) -> Result<PlanSummary> {
    if !is_plan_id(id) {
        return Err(Error::Config(format!(
            "--plan {id:?} is not a plan id (`flowlake plan` prints the id of each plan it makes)"
        )));
    }
    let path = plan_dir(lake, id).join(SUMMARY_NAME);
    let bytes = match store.get(&path).map_err(|e| Error::output(&path, e))? {
        Some((bytes, _)) => bytes,
        None => {
            return Err(Error::Config(format!(
                "no plan {id} in the lake {} ({} does not exist): `flowlake plan` prints the id of \
                 each plan it makes, and a plan is read from the lake it was made for",
                lake.display(),
                path.display()
            )))
        }
    };
    decode_summary(&bytes, id).map_err(|e| Error::Lake {
        path,
        message: e.to_string(),
    })
}

/// A shard's part of a plan, as its run uses it.
#[derive(Debug)]
pub(super) struct PlannedPart {
    pub id: String,
    pub shard: Shard,
    /// The partitions it builds.
    pub partitions: Vec<String>,
    pub inputs: PlannedInputs,
}

impl PlannedPart {
    /// Reads the part of plan `id` that `cfg` is the shard of, after checking that `cfg` has the
    /// plan's shard count and settings (so the shards of a plan cannot disagree).
    pub fn load(store: &dyn Store, cfg: &ConvertConfig, id: &str) -> Result<PlannedPart> {
        let summary = read_summary(store, &cfg.out, id)?;
        let planned = summary.shard_count;
        let shard = cfg.shard.ok_or_else(|| {
            Error::Config(format!(
                "--plan {id} needs a shard: --shard K/{planned}, AWS_BATCH_JOB_ARRAY_INDEX or \
                 JOB_COMPLETION_INDEX"
            ))
        })?;
        if shard.count != planned {
            return Err(Error::Config(format!(
                "plan {id} has {planned} shards, not {}: run its shards as K/{planned}",
                shard.count
            )));
        }
        let json = |c: &ConvertConfig| serde_json::to_value(c).ok();
        if json(cfg) != json(&summary.settings) {
            return Err(Error::Config(format!(
                "these settings are not plan {id}'s: a shard of a plan takes its inputs and \
                 settings from the plan"
            )));
        }
        let path = plan_dir(&cfg.out, id).join(part_name(shard.index));
        let bytes = match store.get(&path).map_err(|e| Error::output(&path, e))? {
            Some((bytes, _)) => bytes,
            None => {
                return Err(Error::Lake {
                    path,
                    message: format!("plan {id} has no part for shard {shard}"),
                })
            }
        };
        let part = decode_part(&bytes, id).map_err(|e| Error::Lake {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if (part.shard, part.shard_count) != (shard.index, shard.count) {
            return Err(Error::Lake {
                path,
                message: format!(
                    "it is the part of shard {}/{}",
                    part.shard, part.shard_count
                ),
            });
        }
        let (partitions, inputs) = PlannedInputs::of(part);
        Ok(PlannedPart {
            id: id.to_string(),
            shard,
            partitions,
            inputs,
        })
    }

    /// Which partitions the shard builds: its part's.
    pub fn assignment(&self) -> Assignment {
        Assignment::Planned {
            shard: self.shard,
            plan: self.id.clone(),
            partitions: self.partitions.iter().cloned().collect(),
        }
    }

    /// What a listing would have found, from the part's inputs: each classified as a listed entry is
    /// (the plan chose them, so no range applies here), keyed as the run keys them.
    pub fn discovery(&self, cfg: &ConvertConfig) -> Discovery {
        let mut found = Discovery::default();
        for input in self.inputs.sorted() {
            classify_entry(
                input.entry(),
                None,
                None,
                cfg.partitioning.grain,
                &mut found,
            );
        }
        found
            .files
            .sort_by(|a, b| (&a.key, &a.path).cmp(&(&b.key, &b.path)));
        plan::fill_keys(cfg, &mut found);
        found
    }

    /// Why `file` is not the input the plan listed (changed, gone, cannot be checked), as the message
    /// of its failure; `None` when it is the same, or not one of the plan's.
    pub fn stale(&self, store: &dyn Store, file: &InputFile) -> Option<String> {
        let planned = self.inputs.get(&file.path)?;
        let change = planned.change(&store.stat(&file.path))?;
        Some(format!(
            "changed since plan {} was made ({change}): the partitions it feeds are not published \
             from a mix of what the plan listed and what is there now; make a new plan \
             (`flowlake plan`) and run its shards",
            self.id
        ))
    }
}
