//! The ledger's store: the entries, row maps and journal marks of a lake's partitions, and its fixed
//! settings, in its bookkeeping folder.
//!
//! One small JSON file per partition, `<lake>/_flowlake/manifest/<partition path>.json`, where no
//! reader looks (Hive, Trino and Spark skip `_` folders; DuckDB's `**/*.parquet` glob matches no
//! `.json`), lists its inputs, outputs and fingerprint ([`PartitionEntry`]); `rows/<partition>/`
//! holds its row map ([`rowmap`](super::rowmap)); `journal/<partition>.pending` or `.compacting`
//! marks a commit under way (see [`journal`](super::journal)).
//!
//! Entries are written whole (a local temporary file renamed into place, or one S3 PUT), so an entry
//! is whole or absent, and the old entry stays until the new one replaces it (a crash never loses
//! what built a partition); on S3 the write is conditional on the version read, so two writers of
//! one partition are detected.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::lake::ledger::entry::{CompactionMark, LakeSettings, PartitionEntry};
use crate::lake::ledger::rowmap::{self, RowMapError, NO_INPUT};
use crate::lake::META_DIR;
use crate::storage::{is_conflict, Expect, Hidden, Store, Version};

/// Why the rows of a partition's inputs cannot be told apart in its files.
#[derive(Debug, thiserror::Error)]
pub enum RowRunsError {
    #[error(
        "its manifest entry (written by an older flowlake) does not say how many rows are theirs"
    )]
    NoRowCounts,
    #[error(
        "its manifest entry does not say which rows are theirs (an entry written by an older \
         flowlake, or recorded after an interrupted compaction)"
    )]
    NoRowRanges,
    #[error(transparent)]
    Map(#[from] RowMapError),
    /// The row map its entry names cannot be read.
    #[error(transparent)]
    Read(Box<Error>),
}

/// Name of the lake's settings object, next to `manifest/` and `journal/`.
const SETTINGS: &str = "lake.json";
/// Journal mark of a partition whose convert swap has not finished (rebuild it).
const PUBLISHING: &str = ".pending";
/// Journal mark of a partition whose compact swap has not finished (refresh its outputs).
const COMPACTING: &str = ".compacting";

/// The manifest of a lake, over its bookkeeping store (local `_flowlake/` folder or S3 prefix).
///
/// Entries remember the version they were read at: writing an entry back is conditional on it (on
/// S3), so a run that lost a race with another writer of the same partition fails instead of
/// overwriting what the other run recorded.
#[derive(Debug, Clone)]
pub struct Manifest {
    store: Bookkeeping,
    versions: Arc<Mutex<HashMap<String, Version>>>,
}

/// The bookkeeping folder (`<lake>/_flowlake`) of a lake in its store: small whole objects addressed
/// by `/`-separated names relative to the folder.
#[derive(Debug, Clone)]
struct Bookkeeping {
    store: Arc<dyn Store>,
    dir: PathBuf,
}

impl Bookkeeping {
    fn read(&self, name: &str) -> io::Result<Option<(Vec<u8>, Version)>> {
        self.store.get(&self.dir.join(name))
    }

    fn write(&self, name: &str, bytes: &[u8], expect: Expect) -> io::Result<Version> {
        self.store.put(&self.dir.join(name), bytes, expect)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.store.delete(&self.dir.join(name))
    }

    /// Names of every object under `dir`, relative to `dir`, sorted (temporary files of a local
    /// write in progress left out).
    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let root = self.dir.join(dir);
        let mut out: Vec<String> = self
            .store
            .list_below(&root, Hidden::Include)?
            .into_iter()
            .filter_map(|e| {
                let rel = e
                    .path
                    .strip_prefix(&root)
                    .ok()?
                    .to_str()?
                    .replace('\\', "/");
                (!rel.is_empty() && !rel.ends_with(".tmp")).then_some(rel)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn location(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Manifest {
    /// The manifest of the lake at `root` in `store` (read-only use: `verify`, a compact dry run).
    pub fn of_lake(store: Arc<dyn Store>, root: &Path) -> Manifest {
        Manifest::new(store, &root.join(META_DIR))
    }

    /// The manifest kept in the bookkeeping folder `meta_dir` (`<lake>/_flowlake`) of `store`.
    pub fn new(store: Arc<dyn Store>, meta_dir: &Path) -> Manifest {
        Manifest {
            store: Bookkeeping {
                store,
                dir: meta_dir.to_path_buf(),
            },
            versions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn name(partition: &str) -> String {
        format!("manifest/{partition}.json")
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Version>> {
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `partition`, if there is a usable one: a damaged or foreign entry counts as none
    /// (the partition is then rebuilt); an entry the store cannot read is an error naming it (never
    /// "none", which would rebuild a partition without the inputs the entry remembers).
    pub fn entry(&self, partition: &str) -> Result<Option<PartitionEntry>> {
        self.read_entry(partition).map_err(|e| Error::Lake {
            path: self.store.location(&Manifest::name(partition)),
            message: format!("cannot read the manifest entry: {e}"),
        })
    }

    fn read_entry(&self, partition: &str) -> io::Result<Option<PartitionEntry>> {
        let read = self.store.read(&Manifest::name(partition))?;
        let version = read.as_ref().map_or(Version::Absent, |(_, v)| v.clone());
        self.versions().insert(partition.to_string(), version);
        let Some((bytes, _)) = read else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<PartitionEntry>(&bytes)
            .ok()
            .and_then(|e| e.upgrade(partition)))
    }

    /// Writes the entry of its partition whole. When this manifest read the entry before, the write
    /// is conditional on it being unchanged since (S3): a concurrent writer is an error, not a loss.
    pub fn put(&self, entry: &PartitionEntry) -> Result<()> {
        let name = Manifest::name(&entry.partition);
        let path = self.store.location(&name);
        let json = serde_json::to_vec_pretty(entry)
            .map_err(|e| Error::output(&path, io::Error::other(e)))?;
        let expect = match self.versions().get(&entry.partition) {
            Some(v) => Expect::Version(v.clone()),
            None => Expect::Any,
        };
        match self.store.write(&name, &json, expect) {
            Ok(version) => {
                self.versions().insert(entry.partition.clone(), version);
                Ok(())
            }
            Err(e) if is_conflict(&e) => Err(Error::Lake {
                path,
                message: format!(
                    "another run recorded partition {} while this one was building it                      (two runs on one lake, or shards with different --shard N): this run's files were                      published but its entry was not written; rerun to rebuild the partition",
                    entry.partition
                ),
            }),
            Err(e) => Err(Error::output(path, e)),
        }
    }

    /// Stores the row map of `partition` (runs of (input index, rows); see `rowmap.rs`) and returns
    /// its name, for the entry's `row_map`. Written before the entry that names it.
    pub fn put_row_map(&self, partition: &str, runs: &[(u32, u64)]) -> Result<String> {
        let bytes = rowmap::encode(runs)
            .map_err(|e| Error::output(self.store.location(&format!("rows/{partition}")), e))?;
        let name = rowmap::name(partition, &bytes);
        self.store
            .write(&name, &bytes, Expect::Any)
            .map_err(|e| Error::output(self.store.location(&name), e))?;
        Ok(name)
    }

    /// The runs of the row map `name`; a missing or damaged map is an error naming it.
    pub fn row_map(&self, name: &str) -> Result<Vec<(u32, u64)>> {
        let path = self.store.location(name);
        let lake_err = |message: String| Error::Lake {
            path: path.clone(),
            message,
        };
        let bytes = match self.store.read(name) {
            Ok(Some((bytes, _))) => bytes,
            Ok(None) => {
                return Err(lake_err(
                    "the row map its manifest entry names is missing".into(),
                ))
            }
            Err(e) => return Err(lake_err(format!("cannot read the row map: {e}"))),
        };
        rowmap::decode(&bytes).map_err(|e| lake_err(format!("bad row map: {e}")))
    }

    /// Which input each row of the partition's files came from, in the order `entry.outputs` lists
    /// the files: runs of (index into `entry.inputs`, or [`NO_INPUT`], rows), checked against the
    /// entry. Read from its row map, or, in entries written before row maps, from each input's
    /// `first_row` and `rows`.
    pub fn row_runs(
        &self,
        entry: &PartitionEntry,
    ) -> std::result::Result<Vec<(u32, u64)>, RowRunsError> {
        let total: u64 = entry.outputs.iter().map(|o| o.rows).sum();
        let runs = match &entry.row_map {
            Some(name) => self
                .row_map(name)
                .map_err(|e| RowRunsError::Read(Box::new(e)))?,
            None => {
                let mut ranges = Vec::new();
                for (i, r) in entry.inputs.iter().enumerate() {
                    match (r.first_row, r.rows) {
                        (_, Some(0)) => {}
                        (Some(first), Some(rows)) => ranges.push((first, rows, i as u32)),
                        (None, Some(_)) => return Err(RowRunsError::NoRowRanges),
                        (_, None) => return Err(RowRunsError::NoRowCounts),
                    }
                }
                rowmap::from_ranges(ranges, NO_INPUT, total)?
            }
        };
        let counts: Vec<Option<u64>> = entry.inputs.iter().map(|r| r.rows).collect();
        rowmap::check(&runs, &counts, total)?;
        Ok(runs)
    }

    /// Removes the row maps of `partition` other than `keep` (the one its entry now names): the one
    /// the entry named before, and any a run that stopped before recording its entry left. Called
    /// after the entry is written; a failure leaves small files no entry names, harmless.
    pub fn prune_row_maps(&self, partition: &str, keep: Option<&str>) {
        let dir = format!("rows/{partition}");
        let Ok(names) = self.store.list(&dir) else {
            return;
        };
        for name in names.iter().filter(|n| !n.contains('/')) {
            let full = format!("{dir}/{name}");
            if Some(full.as_str()) != keep {
                let _ = self.store.remove(&full);
            }
        }
    }

    /// The lake's fixed settings, if it has been written before.
    pub fn settings(&self) -> Result<Option<LakeSettings>> {
        let path = self.store.location(SETTINGS);
        match self.store.read(SETTINGS) {
            Ok(Some((bytes, _))) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Config(format!("{} is damaged: {e}", path.display()))),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::output(&path, e)),
        }
    }

    /// Records the lake's fixed settings unless a run (a concurrent shard, say) recorded them first:
    /// the file is created whole or not at all, never overwritten. Read them back with [`settings`](Self::settings).
    pub fn put_settings(&self, settings: &LakeSettings) -> Result<()> {
        let path = self.store.location(SETTINGS);
        let json = serde_json::to_vec_pretty(settings)
            .map_err(|e| Error::output(&path, io::Error::other(e)))?;
        match self
            .store
            .write(SETTINGS, &json, Expect::Version(Version::Absent))
        {
            Err(e) if !is_conflict(&e) => Err(Error::output(&path, e)),
            _ => Ok(()),
        }
    }

    /// Marks `partition` as being swapped by convert (durably, before the swap starts); the mark
    /// holds the entry the swap is to be recorded with, so a run stopped after the swap and before the
    /// manifest write is finished by recording it ([`pending`](Self::pending)).
    pub fn mark_publishing(&self, entry: &PartitionEntry) -> Result<()> {
        self.write_mark(&format!("journal/{}{PUBLISHING}", entry.partition), entry)
    }

    /// The entry a stopped convert run was publishing `partition` with, if its mark holds a readable
    /// one (a mark written by an older version holds none); a mark the store cannot read is an error.
    pub fn pending(&self, partition: &str) -> Result<Option<PartitionEntry>> {
        let mark: Option<PartitionEntry> =
            self.read_mark(&format!("journal/{partition}{PUBLISHING}"))?;
        Ok(mark.and_then(|e| e.upgrade(partition)))
    }

    /// What a stopped compact run was recording `partition` with (a mark written before marks held
    /// one holds none); a mark the store cannot read is an error.
    pub fn pending_compaction(&self, partition: &str) -> Result<Option<CompactionMark>> {
        let mark: Option<CompactionMark> =
            self.read_mark(&format!("journal/{partition}{COMPACTING}"))?;
        Ok(mark.and_then(|m| {
            Some(CompactionMark {
                entry: m.entry.upgrade(partition)?,
                replaces: m.replaces,
            })
        }))
    }

    fn write_mark(&self, name: &str, what: &impl serde::Serialize) -> Result<()> {
        let json = serde_json::to_vec(what)
            .map_err(|e| Error::output(self.store.location(name), io::Error::other(e)))?;
        self.store
            .write(name, &json, Expect::Any)
            .map(|_| ())
            .map_err(|e| Error::output(self.store.location(name), e))
    }

    /// A mark's contents; `None` when it holds none this version reads (an empty mark of an older
    /// version); a mark the store cannot read is an error.
    fn read_mark<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let read = self.store.read(name).map_err(|e| Error::Lake {
            path: self.store.location(name),
            message: format!("cannot read the journal mark: {e}"),
        })?;
        Ok(read.and_then(|(bytes, _)| serde_json::from_slice(&bytes).ok()))
    }

    /// Unmarks `partition` (after its new entry is written).
    pub fn clear_publishing(&self, partition: &str) -> Result<()> {
        self.clear(partition, PUBLISHING)
    }

    /// Partitions whose swap a convert run started and did not finish (or, while a run is live, is
    /// doing now). Fails when the journal folder cannot be listed.
    pub fn publishing(&self) -> Result<Vec<String>> {
        self.marked(PUBLISHING)
    }

    /// Marks `entry`'s partition as being swapped by compact; the mark holds the entry the swap is to
    /// be recorded with (its row map included) and the names of the files it replaces, so a swap cut
    /// short, even one done file by file, can be finished or undone ([`CompactionMark`]).
    pub fn mark_compacting(&self, entry: &PartitionEntry, replaces: &[String]) -> Result<()> {
        let mark = CompactionMark {
            entry: entry.clone(),
            replaces: replaces.to_vec(),
        };
        self.write_mark(&format!("journal/{}{COMPACTING}", entry.partition), &mark)
    }

    /// Unmarks `partition` (after its entry records the compacted files).
    pub fn clear_compacting(&self, partition: &str) -> Result<()> {
        self.clear(partition, COMPACTING)
    }

    /// Partitions whose swap a compact run started and did not finish (or, while a run is live, is
    /// doing now). Fails when the journal folder cannot be listed.
    pub fn compacting(&self) -> Result<Vec<String>> {
        self.marked(COMPACTING)
    }

    fn clear(&self, partition: &str, suffix: &str) -> Result<()> {
        let name = format!("journal/{partition}{suffix}");
        self.store
            .remove(&name)
            .map_err(|e| Error::output(self.store.location(&name), e))
    }

    fn marked(&self, suffix: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .list("journal")?
            .iter()
            .filter_map(|n| n.strip_suffix(suffix).map(String::from))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The names under a bookkeeping folder; a folder that cannot be listed is an error naming it
    /// (never "nothing there": that would hide journal marks or entries).
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        self.store.list(dir).map_err(|e| Error::Lake {
            path: self.store.location(dir),
            message: format!("cannot list the folder: {e}"),
        })
    }

    /// Every entry, by partition. A damaged or foreign entry is left out (its partition then has
    /// none); a folder or entry the store cannot read is an error.
    pub fn all(&self) -> Result<BTreeMap<String, PartitionEntry>> {
        let mut out = BTreeMap::new();
        for name in self.list("manifest")? {
            if let Some(partition) = name.strip_suffix(".json") {
                if let Some(e) = self.entry(partition)? {
                    out.insert(partition.to_string(), e);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::filter::Filters;
    use crate::lake::ledger::entry::{Fingerprint, InputRecord, OutputRecord, MANIFEST_VERSION};
    use crate::lake::partition::{PartitionLayout, PartitionTime};

    fn entry(partition: &str) -> PartitionEntry {
        PartitionEntry {
            version: MANIFEST_VERSION,
            partition: partition.into(),
            fingerprint: Fingerprint::Convert("f".into()),
            inputs: vec![InputRecord {
                path: "/in/a.log.gz".into(),
                size: 10,
                mtime: Some(5),
                rel: "a.log.gz".into(),
                rows: Some(3),
                first_row: Some(0),
                vanished: false,
                feeds: None,
                kind: None,
            }],
            outputs: vec![OutputRecord {
                name: "part-00000.parquet".into(),
                rows: 3,
                bytes: 100,
            }],
            lines: 4,
            rows: 3,
            rejected: 1,
            filtered: 0,
            failed: vec![],
            row_map: None,
            plan: None,
            enriched_with: Vec::new(),
        }
    }

    #[test]
    fn put_get_replace_all() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        let p = "aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2024/month=01/day=02";
        assert_eq!(m.entry(p).unwrap(), None);
        m.put(&entry(p)).unwrap();
        m.put(&entry("year=2024/month=01/day=03")).unwrap();
        assert_eq!(m.entry(p).unwrap(), Some(entry(p)));
        assert_eq!(m.all().unwrap().len(), 2);
        let replaced = PartitionEntry {
            rows: 9,
            ..entry(p)
        };
        m.put(&replaced).unwrap();
        assert_eq!(
            m.entry(p).unwrap(),
            Some(replaced),
            "a new entry replaces the old one"
        );
        assert_eq!(m.all().unwrap().len(), 2);
    }

    #[test]
    fn journal_marks_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        assert!(m.publishing().unwrap().is_empty());
        m.mark_publishing(&entry("aws-account-id=1/year=2024/month=01/day=02"))
            .unwrap();
        m.mark_publishing(&entry("year=2024/month=01/day=03"))
            .unwrap();
        assert_eq!(
            m.pending("year=2024/month=01/day=03").unwrap(),
            Some(entry("year=2024/month=01/day=03")),
            "the mark holds the entry being published"
        );
        assert_eq!(
            m.publishing().unwrap(),
            [
                "aws-account-id=1/year=2024/month=01/day=02",
                "year=2024/month=01/day=03"
            ]
        );
        m.clear_publishing("year=2024/month=01/day=03").unwrap();
        m.clear_publishing("year=2024/month=01/day=03").unwrap();
        assert_eq!(m.publishing().unwrap().len(), 1);
    }

    #[test]
    fn settings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        assert_eq!(m.settings().unwrap(), None);
        let s = LakeSettings {
            partition_layout: PartitionLayout::Aws,
            hourly: true,
            partition_time: PartitionTime::Start,
            filters: Filters::default(),
            record_kind: crate::lake::schema::RecordKind::TransitGateway,
            enrich: crate::enrich::EnrichSet::none(),
            schema: crate::lake::schema::OutputSchema::Aws,
        };
        m.put_settings(&s).unwrap();
        assert_eq!(m.settings().unwrap(), Some(s.clone()));
        // An OCSF lake's settings name its schema and Security Lake's layout.
        let ocsf = LakeSettings {
            partition_layout: PartitionLayout::SecurityLake,
            hourly: false,
            record_kind: crate::lake::schema::RecordKind::Vpc,
            schema: crate::lake::schema::OutputSchema::Ocsf,
            ..s
        };
        let other = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), other.path());
        m.put_settings(&ocsf).unwrap();
        assert_eq!(m.settings().unwrap(), Some(ocsf));
    }

    #[test]
    fn damaged_entry_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        m.put(&entry("year=2024/month=01/day=02")).unwrap();
        std::fs::write(
            dir.path().join("manifest/year=2024/month=01/day=02.json"),
            b"{\"version\": 1, trunc",
        )
        .unwrap();
        assert_eq!(m.entry("year=2024/month=01/day=02").unwrap(), None);
    }

    #[test]
    fn listing_while_another_run_writes_marks_never_fails() {
        // A mark is written as `<name>.<pid>.tmp`, renamed, then removed: a listing that stats a
        // name that has just gone must skip it, not fail (verify runs beside a live convert).
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        m.mark_compacting(&entry("year=2024/month=01/day=01"), &[])
            .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let journal = dir.path().join("journal");
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (journal, stop) = (journal.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // What another process's writes look like from here: names that appear
                        // and vanish between the folder read and the stat.
                        let p = journal.join(format!("day={w}{}.compacting.{i}.tmp", i % 50));
                        std::fs::write(&p, b"").unwrap();
                        std::fs::remove_file(&p).unwrap();
                        i += 1;
                    }
                })
            })
            .collect();
        let started = std::time::Instant::now();
        let mut listings = 0;
        while started.elapsed() < std::time::Duration::from_millis(1500) {
            let marked = m.compacting().unwrap();
            assert!(marked.contains(&"year=2024/month=01/day=01".to_string()));
            listings += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        assert!(listings > 10);
    }

    #[test]
    fn row_runs_come_from_the_map_or_the_ranges_of_older_entries_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(Arc::new(crate::storage::LocalStore), dir.path());
        let p = "year=2024/month=01/day=02";
        let mut e = entry(p);
        e.inputs.push(InputRecord {
            path: "/in/b.log.gz".into(),
            rows: Some(0),
            first_row: None,
            ..e.inputs[0].clone()
        });
        // An older entry: one range per input (one with no rows needs none).
        assert_eq!(m.row_runs(&e).unwrap(), [(0, 3)]);
        e.inputs[0].first_row = None;
        assert!(matches!(m.row_runs(&e), Err(RowRunsError::NoRowRanges)));
        e.inputs[0].rows = None;
        assert!(matches!(m.row_runs(&e), Err(RowRunsError::NoRowCounts)));
        // A map, checked against the entry: its runs, or what disagrees.
        e.inputs[0].rows = Some(3);
        e.row_map = Some(m.put_row_map(p, &[(0, 2), (NO_INPUT, 0), (0, 1)]).unwrap());
        assert_eq!(m.row_runs(&e).unwrap(), [(0, 2), (NO_INPUT, 0), (0, 1)]);
        e.row_map = Some(m.put_row_map(p, &[(1, 3)]).unwrap());
        assert!(matches!(
            m.row_runs(&e),
            Err(RowRunsError::Map(RowMapError::InputRows { input: 0, .. }))
        ));
        let name = m.put_row_map(p, &[(0, 3)]).unwrap();
        std::fs::write(dir.path().join(&name), b"flowlake-rows 1\n\xff").unwrap();
        e.row_map = Some(name);
        assert!(matches!(m.row_runs(&e), Err(RowRunsError::Read(_))));
    }
}
