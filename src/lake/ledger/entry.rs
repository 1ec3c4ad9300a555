//! A partition's entry in the ledger: its inputs, outputs, line account and fingerprint, the journal
//! mark of a compaction, the lake's fixed settings, and the one upgrade of older entries.

use std::path::PathBuf;

use crate::enrich::{DataVersion, EnrichSet};
use crate::error::ReadErrorKind;
use crate::lake::filter::Filters;
use crate::lake::partition::{identity_of, PartitionLayout, PartitionTime};
use crate::lake::schema::{OutputSchema, RecordKind};

/// Version of the entry format, 1: an entry lists its inputs (path, size, mtime, identity, rows),
/// its outputs (name, rows, bytes), its line account, its failed inputs and the name of its row map.
/// Entries written by earlier releases of version 1 lack some of those (`rel`, `rows`, `first_row`,
/// `row_map`); [`PartitionEntry::upgrade`] is the one place that reads them as today's.
pub const MANIFEST_VERSION: u32 = 1;

/// One input file as it was when it was converted, and where its rows are.
///
/// Entries written before `rel`, `rows` and `first_row` existed read with them absent: `rel` is then
/// derived from the path ([`PartitionEntry::upgrade`]), and the rows of such an input cannot be told
/// apart from the others'.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct InputRecord {
    #[serde(with = "crate::paths::lossless")]
    pub path: PathBuf,
    pub size: u64,
    pub mtime: Option<i64>,
    /// Its identity with `size`: the path below its date folders (see [`identity_of`](crate::lake::partition::identity_of)).
    #[serde(default)]
    pub rel: String,
    /// Rows it put into this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Where its rows start in the partition's row order (its outputs read in the order `outputs`
    /// lists them), in entries written before row maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_row: Option<u64>,
    /// The file no longer exists; its rows were carried over from the partition's earlier files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vanished: bool,
    /// For a file with no date in its path or name: every slot its records fall in (days since
    /// 1970-01-01, or hours in an hourly lake), in order, so a rerun knows all the partitions it feeds
    /// without reading it (this entry may be one of several, or the only one a ranged or sharded run
    /// wrote). The first slot takes its records with no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeds: Option<Vec<i64>>,
    /// The file holds records of another kind than this lake's (a Transit Gateway flow log among VPC
    /// flow logs): none of its lines are here; a run remembers it so it is not read again, and
    /// hands it to the lake of its kind (`--tgw-out`) or reports it as skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RecordKind>,
}

impl PartitionEntry {
    /// Names and sizes of its output files, in name order (what a partition folder is compared with).
    pub fn output_files(&self) -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = self
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.bytes))
            .collect();
        files.sort_unstable();
        files
    }
}

impl InputRecord {
    /// What decides whether a partition is up to date: the file as it was (path, size, mtime).
    pub fn state(&self) -> (&std::path::Path, u64, Option<i64>) {
        (&self.path, self.size, self.mtime)
    }
}

/// One output file of the partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputRecord {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// An input file that could not be read when the partition was built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedRecord {
    #[serde(with = "crate::paths::lossless")]
    pub path: PathBuf,
    pub kind: ReadErrorKind,
    pub message: String,
}

/// What built one partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionEntry {
    pub version: u32,
    pub partition: String,
    /// What shaped the output besides the inputs.
    pub fingerprint: Fingerprint,
    /// Inputs, sorted by path.
    pub inputs: Vec<InputRecord>,
    pub outputs: Vec<OutputRecord>,
    /// Record lines of its inputs (for the inputs whose rows were carried over, those rows).
    pub lines: u64,
    pub rows: u64,
    pub rejected: u64,
    /// Lines dropped by the lake's filters (`lines = rows + rejected + filtered`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered: u64,
    pub failed: Vec<FailedRecord>,
    /// Which input each row came from (see `rowmap.rs`): the name of its row map in the bookkeeping
    /// folder. Entries written before row maps existed say it with each input's `first_row`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_map: Option<String>,
    /// The plan (`flowlake plan`) whose shard built it: a retried shard of a plan made with
    /// `--rebuild` leaves what its plan already rebuilt as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The data files that enriched its rows (`--enrich`), by their own versions; empty in a lake
    /// without enrichment from data files. A compaction keeps it; a rebuild records the files of its run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enriched_with: Vec<DataVersion>,
}

/// The journal mark of a compaction: the entry it records, and the files it replaces.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompactionMark {
    pub entry: PartitionEntry,
    /// Names of the files the compaction read and replaces (never the names of its new files).
    pub replaces: Vec<String>,
}

/// Settings that decide where rows go, fixed when a lake is first written: a run with other values
/// would put the same rows under a second folder tree, which every `**/*.parquet` reader would count
/// twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LakeSettings {
    /// `aws` or `plain` (never `auto`: resolved on the first write).
    pub partition_layout: PartitionLayout,
    pub hourly: bool,
    pub partition_time: PartitionTime,
    /// The records the lake keeps; absent (every record) in lakes without filters.
    #[serde(default, skip_serializing_if = "Filters::keeps_all")]
    pub filters: Filters,
    /// The kind of records it holds (its schema); absent in VPC flow log lakes.
    #[serde(default, skip_serializing_if = "is_vpc")]
    pub record_kind: RecordKind,
    /// The columns it adds to the kind's (`--enrich`); absent in lakes without enrichment.
    #[serde(default, skip_serializing_if = "EnrichSet::is_empty")]
    pub enrich: EnrichSet,
    /// The schema of its files (`--schema`); absent in lakes of AWS's schema.
    #[serde(default, skip_serializing_if = "OutputSchema::is_aws")]
    pub schema: OutputSchema,
}

fn is_vpc(kind: &RecordKind) -> bool {
    *kind == RecordKind::Vpc
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What shaped a partition's output besides its inputs, written as text in the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// Built by `convert`: the text of the settings that shape the output (see
    /// `convert::plan::fingerprint`); a partition is rebuilt when the text changes.
    Convert(String),
    /// Recorded by `compact` for Parquet files no convert run built (AWS's native deliveries).
    Compacted,
}

/// How [`Fingerprint::Compacted`] is written.
const COMPACTED: &str = "compacted";

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fingerprint::Convert(text) => s.serialize_str(text),
            Fingerprint::Compacted => s.serialize_str(COMPACTED),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(if text == COMPACTED {
            Fingerprint::Compacted
        } else {
            Fingerprint::Convert(text)
        })
    }
}

impl PartitionEntry {
    /// The entry of a partition no convert run built (AWS's native Parquet, compacted): its files and
    /// their rows, no inputs.
    pub fn compacted(partition: &str, outputs: Vec<OutputRecord>) -> PartitionEntry {
        let rows = outputs.iter().map(|o| o.rows).sum();
        PartitionEntry {
            version: MANIFEST_VERSION,
            partition: partition.to_string(),
            fingerprint: Fingerprint::Compacted,
            inputs: Vec::new(),
            outputs,
            lines: rows,
            rows,
            rejected: 0,
            filtered: 0,
            failed: Vec::new(),
            row_map: None,
            plan: None,
            enriched_with: Vec::new(),
        }
    }

    /// The entry `current` (what convert recorded: inputs, fingerprint, line counts) with `outputs`,
    /// or, for a partition without one, [`compacted`](Self::compacted).
    pub fn with_outputs(
        current: Option<PartitionEntry>,
        partition: &str,
        outputs: Vec<OutputRecord>,
    ) -> PartitionEntry {
        match current {
            Some(mut entry) => {
                entry.outputs = outputs;
                entry
            }
            None => PartitionEntry::compacted(partition, outputs),
        }
    }

    /// An entry as read, in today's terms: `None` for one of another version or partition (its
    /// partition is then rebuilt); inputs recorded before identities get theirs from their path.
    pub fn upgrade(mut self, partition: &str) -> Option<PartitionEntry> {
        if self.version != MANIFEST_VERSION || self.partition != partition {
            return None;
        }
        for input in &mut self.inputs {
            if input.rel.is_empty() {
                input.rel = identity_of(&input.path);
            }
        }
        Some(self)
    }
}
