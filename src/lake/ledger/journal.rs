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
//! | rebuild     | the mark's files, entry recorded    | remove the mark: `Finished`                |
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
/// and either the manifest already records that entry (stopped before the unmark) or the entry
/// before listed other files (so the folder tells the two states apart).
fn finish_rebuild(lake: &Lake, manifest: &Manifest, partition: &str) -> Result<Recovery> {
    let needs_rebuild = Ok(Recovery::NeedsRebuild { note: None });
    let Some(entry) = manifest.pending(partition)? else {
        return needs_rebuild;
    };
    let done = entry.output_files();
    if lake.published(partition)? != done {
        return needs_rebuild;
    }
    // The manifest holds the mark's very entry: the run stopped after recording it, before the
    // unmark. Otherwise an entry before that listed the same files cannot be told from the new.
    let before = manifest.entry(partition)?;
    if before.as_ref() != Some(&entry) && before.map(|e| e.output_files()).as_ref() == Some(&done) {
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

#[cfg(test)]
mod tests {
    //! One test per row of the module's recovery table, on a real local lake with real Parquet files.
    use super::*;
    use crate::lake::ledger::entry::{Fingerprint, MANIFEST_VERSION};
    use crate::storage::policy::LockScope;
    use crate::storage::{LocalStore, Store};
    use arrow::array::{ArrayRef, Int32Array};
    use arrow::record_batch::RecordBatch;
    use std::fs;
    use std::sync::Arc;

    const PART: &str = "year=2024/month=01/day=02";
    /// How the manifest names a convert's journal mark.
    const PUBLISHING_SUFFIX: &str = ".pending";

    /// A lake with `files` (name, rows) written as real Parquet in [`PART`].
    struct Fixture {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        lake: Lake,
        dataset: Dataset,
        manifest: Manifest,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        fs::create_dir_all(root.join(PART)).unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore);
        let lake = Lake::open(store.clone(), &root, "run", LockScope::Whole, "test run").unwrap();
        let dataset = Dataset::open(store, &root).unwrap();
        let manifest = lake.manifest();
        Fixture {
            _dir: dir,
            root,
            lake,
            dataset,
            manifest,
        }
    }

    impl Fixture {
        /// Writes a Parquet file of `rows` rows into the partition; its record.
        fn write(&self, name: &str, rows: i32) -> OutputRecord {
            let path = self.root.join(PART).join(name);
            let column: ArrayRef = Arc::new(Int32Array::from_iter_values(0..rows));
            let batch = RecordBatch::try_from_iter([("n", column)]).unwrap();
            let file = fs::File::create(&path).unwrap();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            OutputRecord {
                name: name.into(),
                rows: rows as u64,
                bytes: fs::metadata(&path).unwrap().len(),
            }
        }

        fn names(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(self.root.join(PART))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }

        fn recover(&self) -> Recovery {
            let marks = marks(&self.manifest).unwrap();
            recover(&self.lake, &self.dataset, &self.manifest, &marks, PART).unwrap()
        }

        fn marks(&self) -> Marks {
            marks(&self.manifest).unwrap()
        }
    }

    fn entry(outputs: Vec<OutputRecord>, fingerprint: &str) -> PartitionEntry {
        PartitionEntry {
            version: MANIFEST_VERSION,
            partition: PART.into(),
            fingerprint: Fingerprint::Convert(fingerprint.into()),
            inputs: Vec::new(),
            rows: outputs.iter().map(|o| o.rows).sum(),
            outputs,
            lines: 0,
            rejected: 0,
            filtered: 0,
            failed: Vec::new(),
            row_map: None,
            plan: None,
            enriched_with: Vec::new(),
        }
    }

    #[test]
    fn an_unmarked_partition_is_finished_as_it_is() {
        let f = fixture();
        let old = f.write("part-00000.parquet", 3);
        f.manifest.put(&entry(vec![old.clone()], "old")).unwrap();
        assert_eq!(f.recover(), Recovery::Finished);
        assert_eq!(f.names(), ["part-00000.parquet"]);
        assert_eq!(f.manifest.entry(PART).unwrap().unwrap().outputs, [old]);
    }

    #[test]
    fn a_rebuild_whose_folder_holds_exactly_its_files_is_recorded() {
        let f = fixture();
        let new = f.write("part-00001.parquet", 5);
        f.manifest
            .put(&entry(
                vec![OutputRecord {
                    name: "part-00000.parquet".into(),
                    rows: 3,
                    bytes: 400,
                }],
                "old",
            ))
            .unwrap();
        f.manifest
            .mark_publishing(&entry(vec![new.clone()], "new"))
            .unwrap();
        assert_eq!(f.recover(), Recovery::Finished);
        let recorded = f.manifest.entry(PART).unwrap().unwrap();
        assert_eq!(recorded.outputs, [new]);
        assert_eq!(recorded.fingerprint, Fingerprint::Convert("new".into()));
        assert_eq!(recorded.rows, 5);
        assert!(f.marks().is_empty(), "{:?}", f.marks());
    }

    #[test]
    fn a_rebuild_cut_short_in_its_swap_needs_a_rebuild_and_keeps_its_mark() {
        let f = fixture();
        let old = f.write("part-00000.parquet", 3);
        let new = f.write("part-00001.parquet", 5);
        f.manifest.put(&entry(vec![old.clone()], "old")).unwrap();
        f.manifest
            .mark_publishing(&entry(vec![new], "new"))
            .unwrap();
        assert_eq!(f.recover(), Recovery::NeedsRebuild { note: None });
        assert_eq!(f.manifest.entry(PART).unwrap().unwrap().outputs, [old]);
        assert!(f.marks().rebuild.contains(PART), "the mark stays");
        assert_eq!(f.names(), ["part-00000.parquet", "part-00001.parquet"]);
    }

    /// A rebuild that writes the very files its entry before listed cannot be told apart from one
    /// that never started: only a rebuild is sure.
    #[test]
    fn a_rebuild_whose_files_match_the_entry_before_needs_a_rebuild() {
        let f = fixture();
        let same = f.write("part-00000.parquet", 3);
        f.manifest.put(&entry(vec![same.clone()], "old")).unwrap();
        f.manifest
            .mark_publishing(&entry(vec![same], "new"))
            .unwrap();
        assert_eq!(f.recover(), Recovery::NeedsRebuild { note: None });
        let kept = f.manifest.entry(PART).unwrap().unwrap();
        assert_eq!(kept.fingerprint, Fingerprint::Convert("old".into()));
    }

    /// Killed between recording the entry and removing the mark: the commit is whole, only the
    /// unmark is left (a retried shard then skips the partition instead of rebuilding it).
    #[test]
    fn a_rebuild_stopped_after_its_entry_was_recorded_is_finished() {
        let f = fixture();
        let same = f.write("part-00000.parquet", 3);
        let done = entry(vec![same.clone()], "new");
        f.manifest.mark_publishing(&done).unwrap();
        f.manifest.put(&done).unwrap();
        assert_eq!(f.recover(), Recovery::Finished);
        assert_eq!(f.manifest.entry(PART).unwrap().unwrap(), done);
        assert!(f.marks().is_empty(), "{:?}", f.marks());
        assert_eq!(f.names(), ["part-00000.parquet"]);
    }

    #[test]
    fn a_rebuild_mark_whose_entry_cannot_be_read_needs_a_rebuild() {
        let f = fixture();
        f.write("part-00001.parquet", 5);
        f.manifest
            .mark_publishing(&entry(Vec::new(), "new"))
            .unwrap();
        // The mark file of the partition, damaged.
        let marks_dir = f.root.join("_flowlake");
        let mut damaged = 0;
        for e in walkdir::WalkDir::new(&marks_dir) {
            let e = e.unwrap();
            if e.file_type().is_file() && e.path().to_string_lossy().ends_with(PUBLISHING_SUFFIX) {
                fs::write(e.path(), b"{ not json").unwrap();
                damaged += 1;
            }
        }
        assert_eq!(
            damaged,
            1,
            "one publishing mark under {}",
            marks_dir.display()
        );
        let marks = f.marks();
        assert!(marks.rebuild.contains(PART));
        assert_eq!(f.recover(), Recovery::NeedsRebuild { note: None });
        assert!(f.manifest.entry(PART).unwrap().is_none());
        assert!(f.marks().rebuild.contains(PART), "the mark stays");
    }

    #[test]
    fn a_compaction_with_every_new_file_in_place_is_finished_and_its_inputs_removed() {
        let f = fixture();
        let a = f.write("part-00000.parquet", 3);
        let b = f.write("part-00001.parquet", 4);
        f.manifest
            .put(&entry(vec![a.clone(), b.clone()], "conv"))
            .unwrap();
        let merged = f.write("part-00002.parquet", 7);
        let mut done = entry(vec![merged.clone()], "conv");
        done.fingerprint = Fingerprint::Compacted;
        f.manifest
            .mark_compacting(&done, &[a.name.clone(), b.name.clone()])
            .unwrap();
        fs::remove_file(f.root.join(PART).join(&b.name)).unwrap(); // removed before the stop
        assert_eq!(f.recover(), Recovery::Finished);
        assert_eq!(f.names(), ["part-00002.parquet"]);
        let recorded = f.manifest.entry(PART).unwrap().unwrap();
        assert_eq!(recorded.outputs, [merged]);
        assert_eq!(recorded.fingerprint, Fingerprint::Compacted);
        assert!(f.marks().is_empty());
    }

    #[test]
    fn a_compaction_with_some_new_files_placed_is_undone() {
        let f = fixture();
        let a = f.write("part-00000.parquet", 3);
        let b = f.write("part-00001.parquet", 4);
        let before = entry(vec![a.clone(), b.clone()], "conv");
        f.manifest.put(&before).unwrap();
        let placed = f.write("part-00002.parquet", 5);
        let missing = OutputRecord {
            name: "part-00003.parquet".into(),
            rows: 2,
            bytes: 300,
        };
        f.manifest
            .mark_compacting(
                &entry(vec![placed, missing], "conv"),
                &[a.name.clone(), b.name.clone()],
            )
            .unwrap();
        assert_eq!(f.recover(), Recovery::Undone);
        assert_eq!(f.names(), ["part-00000.parquet", "part-00001.parquet"]);
        assert_eq!(f.manifest.entry(PART).unwrap().unwrap(), before);
        assert!(f.marks().is_empty());
    }

    /// A placed new file whose size differs from the mark's is not the compaction's output: the swap
    /// is undone, not recorded with a file the entry misdescribes.
    #[test]
    fn a_compaction_whose_new_file_has_another_size_is_undone() {
        let f = fixture();
        let a = f.write("part-00000.parquet", 3);
        f.manifest.put(&entry(vec![a.clone()], "conv")).unwrap();
        let mut placed = f.write("part-00001.parquet", 3);
        placed.bytes += 1;
        f.manifest
            .mark_compacting(&entry(vec![placed], "conv"), std::slice::from_ref(&a.name))
            .unwrap();
        assert_eq!(f.recover(), Recovery::Undone);
        assert_eq!(f.names(), ["part-00000.parquet"]);
    }

    /// AWS's own Parquet files, never compacted before, have no entry: an undone compaction leaves
    /// none (and its mark goes).
    #[test]
    fn an_undone_compaction_of_files_no_entry_lists_records_nothing() {
        let f = fixture();
        f.write("aws-1.log.parquet", 3);
        f.write("aws-2.log.parquet", 4);
        let placed = f.write("part-00000.parquet", 2);
        let missing = OutputRecord {
            name: "part-00001.parquet".into(),
            rows: 5,
            bytes: 300,
        };
        f.manifest
            .mark_compacting(
                &entry(vec![placed, missing], "c"),
                &["aws-1.log.parquet".into(), "aws-2.log.parquet".into()],
            )
            .unwrap();
        assert_eq!(f.recover(), Recovery::Undone);
        assert_eq!(f.names(), ["aws-1.log.parquet", "aws-2.log.parquet"]);
        assert!(f.manifest.entry(PART).unwrap().is_none());
        assert!(f.marks().is_empty());
    }

    /// Part files found in the folder that the current entry does not list (a new file of the
    /// compaction that the current entry also lists is kept): the entry is rebuilt from the folder,
    /// with each file's rows read from its footer and no row positions.
    #[test]
    fn an_undone_compaction_records_the_folder_as_found_when_the_entry_disagrees() {
        let f = fixture();
        let a = f.write("part-00000.parquet", 3);
        let stray = f.write("part-00005.parquet", 6);
        let mut before = entry(vec![a.clone()], "conv");
        before.row_map = Some("map-1".into());
        f.manifest.put(&before).unwrap();
        let missing = OutputRecord {
            name: "part-00001.parquet".into(),
            rows: 3,
            bytes: 300,
        };
        f.manifest
            .mark_compacting(&entry(vec![missing], "conv"), std::slice::from_ref(&a.name))
            .unwrap();
        assert_eq!(f.recover(), Recovery::Undone);
        let recorded = f.manifest.entry(PART).unwrap().unwrap();
        assert_eq!(recorded.output_files(), {
            let mut v = vec![(a.name.clone(), a.bytes), (stray.name.clone(), stray.bytes)];
            v.sort();
            v
        });
        assert_eq!(
            recorded.outputs.iter().map(|o| o.rows).collect::<Vec<_>>(),
            [3, 6]
        );
        assert_eq!(recorded.row_map, None, "row positions are unknown now");
    }

    #[test]
    fn a_rebuild_mark_wins_over_a_compaction_mark() {
        let f = fixture();
        let old = f.write("part-00000.parquet", 3);
        let new = f.write("part-00001.parquet", 5);
        fs::remove_file(f.root.join(PART).join(&old.name)).unwrap();
        f.manifest.put(&entry(vec![old.clone()], "old")).unwrap();
        f.manifest
            .mark_compacting(
                &entry(vec![old.clone()], "c"),
                std::slice::from_ref(&old.name),
            )
            .unwrap();
        f.manifest
            .mark_publishing(&entry(vec![new.clone()], "new"))
            .unwrap();
        assert_eq!(f.recover(), Recovery::Finished);
        assert_eq!(f.manifest.entry(PART).unwrap().unwrap().outputs, [new]);
        assert!(f.marks().is_empty(), "the rebuild clears both marks");
    }

    #[test]
    fn repair_notes_name_the_command_that_repairs() {
        let mut marks = Marks::default();
        marks.rebuild.insert("a".into());
        marks.compaction.insert("b".into());
        marks.rebuild.insert("c".into());
        marks.compaction.insert("c".into());
        assert!(marks.repair_note("a").contains("`flowlake convert`"));
        assert!(marks.repair_note("b").contains("`flowlake compact`"));
        assert!(marks.repair_note("c").contains("`flowlake convert`"));
        assert_eq!(marks.partitions().len(), 3);
    }
}
