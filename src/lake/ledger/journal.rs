//! The journal: which commits stopped runs left half-done ([`marks`]), and the one way the next run
//! finishes or undoes them ([`recover`]).
//!
//! A commit marks its partition before it swaps any file and unmarks it after the partition's new
//! entry is written ([`Lake::commit`]). The mark holds the entry being recorded (and, for a
//! compaction, the files it replaces), so the partition's folder tells how far the swap got:
//!
//! | mark        | folder holds                        | recovery                                   |
//! |-------------|-------------------------------------|--------------------------------------------|
//! | rebuild     | exactly the mark's files, new names | record the mark's entry: `Finished`        |
//! | rebuild     | anything else                       | `NeedsRebuild` (convert rebuilds it)       |
//! | compaction  | every new file                      | remove the replaced ones, record: `Finished` |
//! | compaction  | some new files                      | remove those, keep the entry: `Undone`     |
//!
//! A rebuild's mark wins over a compaction's: a rebuild replaces every part file.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::lake::dataset::Dataset;
use crate::lake::is_part_file;
use crate::lake::ledger::commit::{Journal, Lake};
use crate::lake::ledger::entry::{OutputRecord, PartitionEntry};
use crate::lake::ledger::manifest::Manifest;

/// The partitions the journal marks, by the kind of commit that was cut short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Partitions a convert run was publishing.
    pub rebuild: BTreeSet<String>,
    /// Partitions a compact run was swapping.
    pub compaction: BTreeSet<String>,
}

impl Marks {
    /// Every marked partition, in order.
    pub fn partitions(&self) -> BTreeSet<&String> {
        self.rebuild.iter().chain(&self.compaction).collect()
    }

    pub fn contains(&self, partition: &str) -> bool {
        self.rebuild.contains(partition) || self.compaction.contains(partition)
    }

    pub fn is_empty(&self) -> bool {
        self.rebuild.is_empty() && self.compaction.is_empty()
    }

    /// Adds the marks of `other` (a second look at the journal).
    pub fn extend(&mut self, other: Marks) {
        self.rebuild.extend(other.rebuild);
        self.compaction.extend(other.compaction);
    }

    /// What repairs `partition` once its writer is gone, for `verify`'s report.
    pub fn repair_note(&self, partition: &str) -> &'static str {
        match (
            self.rebuild.contains(partition),
            self.compaction.contains(partition),
        ) {
            (true, false) => {
                "a convert run stopped while publishing this partition: the next `flowlake convert` \
                 on this lake rebuilds it"
            }
            (false, true) => {
                "a compact run stopped while swapping this partition's files: the next \
                 `flowlake compact` on this lake records them"
            }
            _ => {
                "a convert and a compact run stopped while swapping this partition's files: the next \
                 `flowlake convert` on this lake rebuilds it"
            }
        }
    }
}

/// The partitions the journal marks now. A journal that cannot be listed is an error.
pub fn marks(manifest: &Manifest) -> Result<Marks> {
    Ok(Marks {
        rebuild: manifest.publishing()?.into_iter().collect(),
        compaction: manifest.compacting()?.into_iter().collect(),
    })
}

/// What [`recover`] did with a marked partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The commit had swapped the files in: its entry is now recorded and the mark gone.
    Finished,
    /// A compaction's swap was undone (its new files removed): the partition has its files and
    /// entry from before, and the mark is gone.
    Undone,
    /// Only a rebuild can repair it (a convert run's swap cut short): the mark stays until one does.
    /// `note` says why a finished swap could not be recorded, when that is the reason.
    NeedsRebuild { note: Option<String> },
}

/// Finishes or undoes the commit a stopped run left in `partition` (see the module's table). An
/// unmarked partition is `Finished` as it is. A mark or folder the store cannot read, or a file that
/// cannot be removed, is an error.
pub fn recover(
    lake: &Lake,
    dataset: &Dataset,
    manifest: &Manifest,
    marks: &Marks,
    partition: &str,
) -> Result<Recovery> {
    if marks.rebuild.contains(partition) {
        return finish_rebuild(lake, manifest, partition);
    }
    if !marks.compaction.contains(partition) {
        return Ok(Recovery::Finished);
    }
    match compaction_entry(lake, dataset, manifest, partition)? {
        (Some(entry), recovery) => {
            lake.finish(manifest, &entry, Journal::Compaction)?;
            Ok(recovery)
        }
        (None, recovery) => {
            lake.check_lock()?;
            manifest.clear_compacting(partition)?;
            Ok(recovery)
        }
    }
}

/// A convert run's publish: finished when the folder holds exactly the files the mark's entry lists
/// (and the entry before listed others, so the folder tells the two states apart).
fn finish_rebuild(lake: &Lake, manifest: &Manifest, partition: &str) -> Result<Recovery> {
    let needs_rebuild = Ok(Recovery::NeedsRebuild { note: None });
    let Some(entry) = manifest.pending(partition)? else {
        return needs_rebuild;
    };
    let done = entry.output_files();
    let before = manifest.entry(partition)?.map(|e| e.output_files());
    if lake.published(partition)? != done || before.as_ref() == Some(&done) {
        return needs_rebuild;
    }
    Ok(match lake.finish(manifest, &entry, Journal::Rebuild) {
        Ok(()) => Recovery::Finished,
        Err(e) => Recovery::NeedsRebuild {
            note: Some(format!(
                "could not record a finished publish ({e}): rebuilding it"
            )),
        },
    })
}

/// The entry to record for a partition whose compaction stopped between its journal mark and its
/// manifest write, and whether the swap was finished or undone. Its new files never have the names
/// of files it replaces (see `compact`'s part numbering), so the folder tells how far the swap got,
/// also when it was done file by file (S3, or a folder holding subfolders): every new file in place:
/// finished (replaced files still there are removed) and the mark's entry, row map included, is
/// recorded; otherwise undone (new files already placed are removed) and the current entry stays. A
/// mark without contents (an older version's): the current entry when the folder holds its files,
/// else the files as found, with no row positions. `None`: nothing to record (AWS's own files, never
/// compacted, are back as they were).
fn compaction_entry(
    lake: &Lake,
    dataset: &Dataset,
    manifest: &Manifest,
    partition: &str,
) -> Result<(Option<PartitionEntry>, Recovery)> {
    let present: Vec<(String, u64)> = dataset
        .files_in(partition)?
        .into_iter()
        .map(|f| (f.name, f.bytes))
        .collect();
    let current = manifest.entry(partition)?;
    if let Some(mark) = manifest.pending_compaction(partition)? {
        let new: Vec<&str> = mark.entry.outputs.iter().map(|o| o.name.as_str()).collect();
        let placed = |name: &str| present.iter().any(|(n, _)| n == name);
        let all_in = mark
            .entry
            .outputs
            .iter()
            .all(|o| present.iter().any(|(n, b)| *n == o.name && *b == o.bytes));
        if all_in {
            let stale: Vec<String> = mark
                .replaces
                .iter()
                .filter(|n| placed(n) && !new.contains(&n.as_str()))
                .cloned()
                .collect();
            lake.remove_files(partition, &stale)?;
            return Ok((Some(mark.entry), Recovery::Finished));
        }
        let keep = |name: &str| {
            mark.replaces.iter().any(|n| n == name)
                || current
                    .as_ref()
                    .is_some_and(|e| e.outputs.iter().any(|o| o.name == name))
        };
        let undo: Vec<String> = new
            .iter()
            .filter(|n| placed(n) && !keep(n))
            .map(|n| n.to_string())
            .collect();
        lake.remove_files(partition, &undo)?;
    }
    let found = entry_as_found(dataset, current.clone(), partition)?;
    let entry = match current {
        Some(e) if e.output_files() == found.output_files() => Some(e),
        None if found.outputs.is_empty() => None,
        _ => Some(found),
    };
    Ok((entry, Recovery::Undone))
}

/// After an interrupted compaction: the partition's entry (`current`, or a new one) with its part
/// files as they now are. Whether the row map written for the new files got recorded is unknown: it
/// says nothing about which rows are whose rather than something wrong (carrying over from this
/// partition is then refused with a warning).
fn entry_as_found(
    dataset: &Dataset,
    current: Option<PartitionEntry>,
    partition: &str,
) -> Result<PartitionEntry> {
    let mut outputs = Vec::new();
    for f in dataset.files_in(partition)? {
        if !is_part_file(&f.name) {
            continue;
        }
        let footer = dataset.footer(partition, &f).map_err(|e| {
            crate::error::Error::output(
                dataset.file(partition, &f.name),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        outputs.push(OutputRecord {
            name: f.name,
            rows: footer.file_metadata().num_rows().max(0) as u64,
            bytes: f.bytes,
        });
    }
    let mut entry = PartitionEntry::with_outputs(current, partition, outputs);
    entry.row_map = None;
    for input in &mut entry.inputs {
        input.first_row = None;
    }
    Ok(entry)
}
