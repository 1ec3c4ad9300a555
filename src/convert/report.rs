//! What a run did: counts, per-partition and per-file detail, failures, and the accounting check.
//!
//! The library never prints; it returns a [`Report`] and the binary renders it as one summary line or
//! as JSON. The invariant the report carries is the one a nightly job is judged by: every line read is
//! a row (published, withheld with its partition, or already in an unchanged neighbouring partition) or
//! a reject, for every file and for the run.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::enrich::enricher::LookupCount;
use crate::enrich::{DataVersion, EnrichSet};
use crate::error::{Error, Result};
use crate::input::discover::Skipped;
use crate::input::parse::FileOutcome;
use crate::input::read::ReadErrorKind;
use crate::lake::schema::RecordKind;
use crate::lake::write::WrittenFile;

/// A file that could not be read completely; none of its rows were published unless `salvaged`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailedFile {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub kind: ReadErrorKind,
    pub message: String,
    /// Something of the file was kept (`--on-bad-file salvage`): the whole lines, or the records of
    /// the whole envelopes, decoded before the damage. False when nothing before it could be used.
    pub salvaged: bool,
    /// The record lines kept (each a row, a reject or filtered); 0 unless `salvaged`.
    pub salvaged_lines: u64,
    /// An undated file, read once per partition it feeds: its reads' kept lines add up here.
    #[serde(skip)]
    pub undated: bool,
}

impl FailedFile {
    /// A file that failed before anything of it could be read (nothing salvaged).
    pub fn unread(path: PathBuf, kind: ReadErrorKind, message: String) -> FailedFile {
        FailedFile {
            path,
            kind,
            message,
            salvaged: false,
            salvaged_lines: 0,
            undated: false,
        }
    }
}

/// A note about a file that is not an error.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub message: String,
}

/// A partition that needed a rebuild (new, changed or vanished inputs, other settings) and was left
/// as it is: some of its inputs no longer exist and where their rows are in its files cannot be told,
/// so a rebuild would lose them. Its new inputs are not converted until the user decides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldPartition {
    /// Folder, relative to the lake root.
    pub path: String,
    pub reason: String,
}

/// Per-file detail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub partition: String,
    pub input_bytes: u64,
    pub lines: u64,
    pub rows: u64,
    pub rejected: u64,
}

/// A partition that was built but not published (its earlier build, if any, stays).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AbortedPartition {
    pub path: String,
    /// Why: the reject ratio, or every input file failed.
    pub reason: String,
    pub lines: u64,
    pub rejected: u64,
    pub rows: u64,
}

/// Per-partition detail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PartitionReport {
    pub path: String,
    pub input_files: u64,
    /// Rows from the lines read by this run.
    pub rows: u64,
    /// Rows of vanished inputs carried over from the partition's earlier files.
    pub rows_carried_over: u64,
    pub files: Vec<WrittenFile>,
}

/// An input that built a partition and no longer exists (lifecycle rules expire raw logs).
#[derive(Debug, Clone, serde::Serialize)]
pub struct VanishedInput {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub partition: String,
    /// Rows it put into the partition, when the manifest knows.
    pub rows: Option<u64>,
    /// Its rows stay in the lake (the default); false with `--mirror-deletions`.
    pub kept: bool,
}

/// Where the time went, in seconds. Stages that run on several threads at once are summed over the
/// threads (CPU seconds), so they can add up to more than the run's wall time.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stages {
    /// Walking the input roots (wall).
    pub list: f64,
    /// Reading and decompressing files.
    pub decompress: f64,
    /// Splitting lines and parsing fields.
    pub tokenize: f64,
    /// Building Arrow arrays.
    pub build: f64,
    /// Sorting rows (`--sort-by`), spilling and merging included.
    pub sort: f64,
    /// Encoding Parquet columns.
    pub encode: f64,
    /// Assembling row groups, finishing and flushing files.
    pub write: f64,
    /// Renaming into partitions and updating the manifest (wall).
    pub publish: f64,
}

/// What enriched a run's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnrichmentReport {
    pub enrich: EnrichSet,
    /// The data files, by their own versions (recorded in each partition's entry).
    pub data: Vec<DataVersion>,
    /// Addresses enriched (source and destination of each row) and the lookups they took.
    #[serde(flatten)]
    pub count: LookupCount,
}

/// The outcome of a `convert` run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Input files read and parsed.
    pub files: u64,
    /// Input files that could not be read (see `failed`).
    pub files_failed: u64,
    /// Listed files that are not flow logs or have no partition date (see `skipped`).
    pub files_skipped: u64,
    /// Files of another kind of records than this lake's, handed to the lake of their kind
    /// (Transit Gateway flow logs with `--tgw-out`: counted in [`transit_gateway`](Self::transit_gateway)).
    pub files_other_kind: u64,
    /// Record lines read (blank lines and headers are not records).
    pub lines_read: u64,
    pub rows_written: u64,
    /// Rows of partitions withheld by `--max-reject-ratio` (see `aborted`).
    pub rows_not_published: u64,
    /// Rows read from a neighbouring day's files (`--partition-time start`) that belong to a partition
    /// this run does not rebuild: one that was up to date and kept (the lake has them already), or,
    /// in a sharded run, one another shard builds (from the same files).
    pub rows_in_unchanged_partitions: u64,
    /// Rows of vanished inputs carried over into rebuilt partitions from their earlier files (not
    /// read from any line this run, so outside `lines_read`; the output files hold
    /// `rows_written + rows_carried_over` rows).
    pub rows_carried_over: u64,
    pub rejected: u64,
    /// Records dropped by the lake's filters (`--action`, `--drop-log-status`): read, not rows.
    pub filtered: u64,
    pub header_lines: u64,
    pub blank_lines: u64,
    /// CloudWatch Logs `CONTROL_MESSAGE` envelopes (destination health checks) skipped: not records.
    pub control_messages: u64,
    pub partitions: u64,
    /// Partitions left as they were: the manifest shows the same inputs and intact outputs.
    pub partitions_unchanged: u64,
    /// Input files of the unchanged partitions (not read).
    pub files_unchanged: u64,
    /// `K/N` when the run was one shard of a sharded run.
    pub shard: Option<String>,
    /// The id of the plan whose part the run built (`--plan`).
    pub plan: Option<String>,
    /// Partitions in the listed input that other shards build (not read here). A shard lists only its
    /// own day folders where their paths decide the partition, so these are fed by the folders every
    /// shard lists (files dated by their names only, undated files, folders that name no account).
    pub partitions_in_other_shards: u64,
    /// Requests sent to S3 (listing pages, GETs, PUTs, ...) when an input or the lake is on S3.
    pub s3_requests: Option<crate::storage::Requests>,
    pub output_files: u64,
    pub output_bytes: u64,
    /// Compressed bytes of the files read.
    pub input_bytes: u64,
    /// Decompressed bytes of the files read.
    pub text_bytes: u64,
    pub seconds: f64,
    pub stages: Stages,
    /// Header fields the catalogue does not know → number of files that had them (kept in `unknown_fields`).
    pub unknown_fields: BTreeMap<String, u64>,
    /// Where the rejected lines were written, if any were.
    #[serde(serialize_with = "crate::paths::lossy_opt")]
    pub rejects_file: Option<PathBuf>,
    pub failed: Vec<FailedFile>,
    /// Partitions not published because their reject ratio passed `--max-reject-ratio`.
    pub aborted: Vec<AbortedPartition>,
    pub skipped: Vec<Skipped>,
    /// Inputs of partitions in this run's range that no longer exist (see [`VanishedInput`]).
    pub vanished: Vec<VanishedInput>,
    /// Partitions left as they are although they needed a rebuild (see [`HeldPartition`]).
    pub held: Vec<HeldPartition>,
    pub warnings: Vec<Warning>,
    pub partition_details: Vec<PartitionReport>,
    pub file_details: Vec<FileReport>,
    /// With `--enrich`: the enrichments, the data files' versions, and how many lookups the
    /// addresses of the rows written took (one per distinct public address of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<EnrichmentReport>,
    /// With `--tgw-out`: the report of the Transit Gateway flow logs' conversion into their lake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_gateway: Option<Box<Report>>,
    /// Undated files already counted (each is read once per partition it feeds, counted once),
    /// shared by the reports of the units a run builds at once.
    #[serde(skip)]
    pub(super) undated: Arc<Mutex<UndatedSeen>>,
    /// The files read this run that hold records of another kind (handed to their lake).
    #[serde(skip)]
    pub(super) handed_over: Vec<PathBuf>,
}

/// The undated files a run has counted: those whose read, and those whose failure, was counted.
#[derive(Debug, Default)]
pub(super) struct UndatedSeen {
    read: HashSet<PathBuf>,
    failed: HashSet<PathBuf>,
}

/// What of an undated file is counted once.
#[derive(Clone, Copy)]
enum Seen {
    Read,
    Failure,
}

impl Report {
    /// An empty report for one unit of partitions built alongside others: its counts are added to
    /// the run's by [`Report::absorb`]; an undated file is still counted once in the whole run.
    pub fn for_unit(&self) -> Report {
        Report {
            undated: Arc::clone(&self.undated),
            ..Report::default()
        }
    }

    /// Adds the counts and lists of `unit` (from [`Report::for_unit`]) to this report. Every field is
    /// named, so a new one cannot be forgotten; the run's own fields (shard, S3 requests, seconds,
    /// rejects file) are not a unit's.
    pub fn absorb(&mut self, unit: Report) {
        let Report {
            files,
            files_failed,
            files_skipped,
            files_other_kind,
            lines_read,
            rows_written,
            rows_not_published,
            rows_in_unchanged_partitions,
            rows_carried_over,
            rejected,
            filtered,
            header_lines,
            blank_lines,
            control_messages,
            partitions,
            partitions_unchanged,
            files_unchanged,
            shard: _,
            plan: _,
            partitions_in_other_shards,
            s3_requests: _,
            output_files,
            output_bytes,
            input_bytes,
            text_bytes,
            seconds: _,
            stages,
            unknown_fields,
            rejects_file: _,
            failed,
            aborted,
            skipped,
            vanished,
            held,
            warnings,
            partition_details,
            file_details,
            transit_gateway: _,
            enrichment: _,
            undated: _,
            handed_over,
        } = unit;
        self.files += files;
        self.files_failed += files_failed;
        self.files_skipped += files_skipped;
        self.files_other_kind += files_other_kind;
        self.handed_over.extend(handed_over);
        self.lines_read += lines_read;
        self.rows_written += rows_written;
        self.rows_not_published += rows_not_published;
        self.rows_in_unchanged_partitions += rows_in_unchanged_partitions;
        self.rows_carried_over += rows_carried_over;
        self.rejected += rejected;
        self.filtered += filtered;
        self.header_lines += header_lines;
        self.blank_lines += blank_lines;
        self.control_messages += control_messages;
        self.partitions += partitions;
        self.partitions_unchanged += partitions_unchanged;
        self.files_unchanged += files_unchanged;
        self.partitions_in_other_shards += partitions_in_other_shards;
        self.output_files += output_files;
        self.output_bytes += output_bytes;
        self.input_bytes += input_bytes;
        self.text_bytes += text_bytes;
        let Stages {
            list,
            decompress,
            tokenize,
            build,
            sort,
            encode,
            write,
            publish,
        } = stages;
        self.stages.list += list;
        self.stages.decompress += decompress;
        self.stages.tokenize += tokenize;
        self.stages.build += build;
        self.stages.sort += sort;
        self.stages.encode += encode;
        self.stages.write += write;
        self.stages.publish += publish;
        for (name, n) in unknown_fields {
            *self.unknown_fields.entry(name).or_default() += n;
        }
        for f in failed {
            self.add_failed_read(f);
        }
        self.aborted.extend(aborted);
        self.skipped.extend(skipped);
        self.vanished.extend(vanished);
        self.held.extend(held);
        self.warnings.extend(warnings);
        self.partition_details.extend(partition_details);
        self.file_details.extend(file_details);
    }

    /// True the first time this run sees `what` of the undated `file`.
    fn first_undated(&self, what: Seen, file: &FileOutcome) -> bool {
        let mut seen = self.undated.lock().unwrap_or_else(|p| p.into_inner());
        let set = match what {
            Seen::Read => &mut seen.read,
            Seen::Failure => &mut seen.failed,
        };
        set.insert(file.path.clone())
    }

    /// Lists a failed file; another read of an undated file already listed adds what it kept to
    /// that entry (one entry per file, its kept lines summed over the partitions it feeds).
    fn add_failed_read(&mut self, read: FailedFile) {
        let listed = read
            .undated
            .then(|| {
                self.failed
                    .iter_mut()
                    .find(|f| f.undated && f.path == read.path)
            })
            .flatten();
        match listed {
            Some(f) => {
                f.salvaged |= read.salvaged;
                f.salvaged_lines += read.salvaged_lines;
            }
            None => self.failed.push(read),
        }
    }

    /// Adds one file's outcome (its batches are not kept).
    ///
    /// An undated file, read once for each partition it feeds, counts once as a file (its bytes,
    /// warnings, unknown fields and control messages with it, at its first read that gets any
    /// lines), and once as failed (at its first read that fails: a read for one day may succeed and
    /// the next fail, if the file changed or vanished in between); its lines are counted by each
    /// read, which keeps its own partition's.
    pub fn add_file(&mut self, partition: &str, file: &FileOutcome) -> Result<()> {
        let undated = file.undated;
        if let Some(e) = &file.error {
            let failed = FailedFile {
                path: file.path.clone(),
                kind: e.kind,
                message: e.message.clone(),
                salvaged: file.salvaged,
                salvaged_lines: if file.salvaged { file.lines } else { 0 },
                undated,
            };
            if !undated || self.first_undated(Seen::Failure, file) {
                self.files_failed += 1;
                self.failed.push(failed);
            } else {
                self.add_failed_read(failed);
            }
            if !file.salvaged {
                return Ok(());
            }
        }
        if file.lines != file.rows + file.rejected + file.filtered {
            return Err(Error::Accounting {
                what: file.path.display().to_string(),
                lines: file.lines,
                rows: file.rows + file.filtered,
                rejected: file.rejected,
            });
        }
        self.lines_read += file.lines;
        self.rejected += file.rejected;
        self.filtered += file.filtered;
        self.header_lines += file.headers;
        self.blank_lines += file.blank_lines;
        self.stages.decompress += file.read_seconds;
        self.stages.tokenize += file.tokenize_seconds;
        self.stages.build += file.build_seconds;
        if !undated || self.first_undated(Seen::Read, file) {
            if file.error.is_none() {
                self.files += 1;
            }
            self.control_messages += file.control_messages;
            self.input_bytes += file.input_bytes;
            self.text_bytes += file.text_bytes;
            for name in &file.unknown_fields {
                *self.unknown_fields.entry(name.clone()).or_default() += 1;
            }
            for w in &file.warnings {
                self.warnings.push(Warning {
                    path: file.path.clone(),
                    message: w.clone(),
                });
            }
        }
        self.file_details.push(FileReport {
            path: file.path.clone(),
            partition: partition.to_string(),
            input_bytes: file.input_bytes,
            lines: file.lines,
            rows: file.rows,
            rejected: file.rejected,
        });
        Ok(())
    }

    /// Adds a published partition.
    pub fn add_partition(&mut self, partition: PartitionReport) {
        self.partitions += 1;
        self.rows_written += partition.rows;
        self.rows_carried_over += partition.rows_carried_over;
        self.output_files += partition.files.len() as u64;
        self.output_bytes += partition.files.iter().map(|f| f.bytes).sum::<u64>();
        self.partition_details.push(partition);
    }

    /// Adds a partition withheld by the reject ratio.
    pub fn add_aborted(&mut self, aborted: AbortedPartition) {
        self.rows_not_published += aborted.rows;
        self.aborted.push(aborted);
    }

    /// Checks the run-level invariant
    /// `lines_read == rows_written + rows_not_published + rows_in_unchanged_partitions + rejected + filtered`.
    pub fn check(&self) -> Result<()> {
        let rows = self.rows_written
            + self.rows_not_published
            + self.rows_in_unchanged_partitions
            + self.filtered;
        if self.lines_read != rows + self.rejected {
            return Err(Error::Accounting {
                what: "the run".into(),
                lines: self.lines_read,
                rows,
                rejected: self.rejected,
            });
        }
        Ok(())
    }

    /// True when every line became a published row, every flow log file was read and every partition
    /// that needed a rebuild got one.
    pub fn is_clean(&self) -> bool {
        self.rejected == 0
            && self.files_failed == 0
            && self.aborted.is_empty()
            && self.held.is_empty()
            && !self.skipped.iter().any(|s| s.flow_log)
            && self.transit_gateway.as_ref().is_none_or(|t| t.is_clean())
    }

    /// True when a partition of this run (or of its Transit Gateway pass) was not published.
    pub fn has_aborted(&self) -> bool {
        !self.aborted.is_empty()
            || self
                .transit_gateway
                .as_ref()
                .is_some_and(|t| t.has_aborted())
    }

    /// One human-readable line.
    pub fn summary_line(&self) -> String {
        let mut s = format!(
            "{} files ({}), {} lines -> {} rows + {} rejected, {} partitions, {} Parquet files ({}) in {:.1}s",
            self.files,
            human_bytes(self.input_bytes),
            self.lines_read,
            self.rows_written,
            self.rejected,
            self.partitions,
            self.output_files,
            human_bytes(self.output_bytes),
            self.seconds
        );
        if self.rows_not_published > 0 {
            s.push_str(&format!("; {} rows withheld", self.rows_not_published));
        }
        if self.filtered > 0 {
            s.push_str(&format!("; {} records filtered out", self.filtered));
        }
        if self.control_messages > 0 {
            s.push_str(&format!(
                "; {} CloudWatch Logs control messages skipped",
                self.control_messages
            ));
        }
        if self.rows_in_unchanged_partitions > 0 {
            s.push_str(&format!(
                "; {} rows belong to partitions not rebuilt here",
                self.rows_in_unchanged_partitions
            ));
        }
        if !self.vanished.is_empty() {
            let kept = self.vanished.iter().filter(|v| v.kept).count();
            s.push_str(&format!(
                "; {} inputs vanished ({kept} with their rows kept in the lake, {} rows carried over)",
                self.vanished.len(),
                self.rows_carried_over
            ));
        }
        if self.partitions_unchanged > 0 {
            s.push_str(&format!(
                "; {} partitions unchanged",
                self.partitions_unchanged
            ));
        }
        if let Some(shard) = &self.shard {
            s.push_str(&format!(
                "; shard {shard}: {} partitions left to other shards",
                self.partitions_in_other_shards
            ));
        }
        if let Some(plan) = &self.plan {
            s.push_str(&format!(" (plan {plan})"));
        }
        if !self.aborted.is_empty() {
            let mut reasons: Vec<&str> = self.aborted.iter().map(|a| a.reason.as_str()).collect();
            reasons.sort_unstable();
            reasons.dedup();
            s.push_str(&format!(
                "; {} partitions NOT PUBLISHED ({})",
                self.aborted.len(),
                reasons.join("; ")
            ));
        }
        if !self.held.is_empty() {
            s.push_str(&format!(
                "; {} partitions NOT REBUILT (rows of vanished inputs cannot be located)",
                self.held.len()
            ));
        }
        if self.files_failed > 0 {
            s.push_str(&format!("; {} files FAILED", self.files_failed));
        }
        if !self.warnings.is_empty() {
            s.push_str(&format!("; {} warnings", self.warnings.len()));
        }
        if self.files_skipped > 0 {
            s.push_str(&format!("; {} files skipped", self.files_skipped));
        }
        if !self.unknown_fields.is_empty() {
            let names: Vec<&str> = self.unknown_fields.keys().map(String::as_str).collect();
            s.push_str(&format!("; unknown fields kept: {}", names.join(" ")));
        }
        if let Some(tgw) = &self.transit_gateway {
            s.push_str(&format!(
                "\nTransit Gateway flow logs: {}",
                tgw.summary_line()
            ));
        }
        s
    }
}

/// How a file of another kind of records than the lake's is reported: skipped, a flow log (so the run
/// is not clean), with the flag that converts it.
pub fn other_kind_skip(path: &Path, kind: RecordKind) -> Skipped {
    let reason = match kind {
        RecordKind::TransitGateway => "a Transit Gateway flow log (its header names Transit Gateway \
            fields): not converted into a VPC flow log lake; pass --tgw-out LAKE to convert Transit \
            Gateway flow logs into a lake of their own (in a run of AWS's schema: OCSF output maps \
            VPC flow logs only)"
            .to_string(),
        RecordKind::Vpc => "a VPC flow log: not converted into a Transit Gateway flow log lake"
            .to_string(),
    };
    Skipped {
        path: path.to_path_buf(),
        reason,
        flow_log: true,
    }
}

/// `1.5 GiB`-style sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_is_checked_per_file_and_per_run() {
        let mut r = Report::default();
        let ok = FileOutcome {
            lines: 10,
            rows: 8,
            rejected: 2,
            unknown_fields: vec!["tgw-id".into()],
            ..FileOutcome::default()
        };
        r.add_file("p", &ok).unwrap();
        let bad = FileOutcome {
            lines: 10,
            rows: 8,
            rejected: 1,
            ..FileOutcome::default()
        };
        assert!(matches!(
            r.add_file("p", &bad),
            Err(Error::Accounting { .. })
        ));
        assert!(r.check().is_err(), "rows not yet written");
        r.add_partition(PartitionReport {
            path: "p".into(),
            input_files: 1,
            rows: 8,
            rows_carried_over: 0,
            files: vec![],
        });
        r.check().unwrap();
        assert!(!r.is_clean());
        assert_eq!(r.unknown_fields["tgw-id"], 1);
        assert!(r.summary_line().contains("10 lines -> 8 rows + 2 rejected"));
    }

    #[test]
    fn an_undated_file_read_for_two_partitions_counts_once() {
        let mut r = Report::default();
        let read = |lines, damaged: bool| FileOutcome {
            path: "in/export/000000.gz".into(),
            undated: true,
            input_bytes: 100,
            text_bytes: 400,
            lines,
            rows: lines,
            warnings: vec!["a warning".into()],
            error: damaged.then(|| crate::input::read::ReadError {
                kind: ReadErrorKind::Truncated,
                message: "cut short".into(),
            }),
            salvaged: damaged,
            ..FileOutcome::default()
        };
        r.add_file("day=01", &read(3, true)).unwrap();
        r.add_file("day=02", &read(2, true)).unwrap();
        assert_eq!((r.files, r.files_failed, r.failed.len()), (0, 1, 1));
        assert_eq!(
            (r.failed[0].salvaged, r.failed[0].salvaged_lines),
            (true, 5)
        );
        assert_eq!(
            (r.input_bytes, r.text_bytes, r.warnings.len()),
            (100, 400, 1)
        );
        assert_eq!(
            r.lines_read, 5,
            "each read counts its own partition's lines"
        );
        assert_eq!(r.file_details.len(), 2);
        // A file with a date is counted each time (it is read once per run anyway).
        let mut r = Report::default();
        for _ in 0..2 {
            r.add_file(
                "day=01",
                &FileOutcome {
                    undated: false,
                    ..read(1, false)
                },
            )
            .unwrap();
        }
        assert_eq!((r.files, r.input_bytes), (2, 200));
        // Undated and read cleanly: one file.
        let mut r = Report::default();
        r.add_file("day=01", &read(1, false)).unwrap();
        r.add_file("day=02", &read(1, false)).unwrap();
        assert_eq!((r.files, r.files_failed, r.input_bytes), (1, 0, 100));
        // Read for one day, then gone or changed when read for the next: still reported as failed.
        let mut r = Report::default();
        r.add_file("day=01", &read(1, false)).unwrap();
        let gone = FileOutcome {
            salvaged: false,
            ..read(0, true)
        };
        r.add_file("day=02", &gone).unwrap();
        r.add_file("day=03", &gone).unwrap();
        assert_eq!((r.files, r.files_failed, r.failed.len()), (1, 1, 1));
        assert!(!r.is_clean());
    }

    #[test]
    fn unit_reports_add_up_and_share_the_undated_files_counted() {
        let mut run = Report::default();
        let (mut a, mut b) = (run.for_unit(), run.for_unit());
        let undated = FileOutcome {
            path: "in/export/000000.gz".into(),
            undated: true,
            input_bytes: 100,
            lines: 2,
            rows: 2,
            unknown_fields: vec!["tgw-id".into()],
            ..FileOutcome::default()
        };
        a.add_file("day=01", &undated).unwrap();
        b.add_file("day=02", &undated).unwrap();
        let dated = FileOutcome {
            path: "in/2024/05/01/a.log.gz".into(),
            input_bytes: 7,
            lines: 3,
            rows: 1,
            rejected: 1,
            filtered: 1,
            ..FileOutcome::default()
        };
        b.add_file("day=01", &dated).unwrap();
        b.stages.encode = 1.5;
        b.files_unchanged = 4;
        a.add_partition(PartitionReport {
            path: "day=01".into(),
            input_files: 2,
            rows: 3,
            rows_carried_over: 1,
            files: vec![],
        });
        run.absorb(a);
        run.absorb(b);
        assert_eq!(
            (run.files, run.input_bytes),
            (2, 107),
            "the export object once"
        );
        assert_eq!((run.lines_read, run.rejected, run.filtered), (7, 1, 1));
        assert_eq!(
            (run.rows_written, run.rows_carried_over, run.partitions),
            (3, 1, 1)
        );
        assert_eq!(run.unknown_fields["tgw-id"], 1);
        assert_eq!((run.stages.encode, run.files_unchanged), (1.5, 4));
        let order: Vec<&str> = run
            .file_details
            .iter()
            .map(|f| f.partition.as_str())
            .collect();
        assert_eq!(
            order,
            ["day=01", "day=02", "day=01"],
            "unit a's details, then b's"
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
