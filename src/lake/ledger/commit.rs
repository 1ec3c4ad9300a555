//! A lake opened for writing, and the one protocol that commits a partition: stage, row map,
//! journal, publish, lock check, entry, unjournal, prune. Convert and compact both commit through
//! [`Lake::commit`].
//!
//! Publishing is how readers are kept from ever seeing a partial file, or a row twice: output is
//! written to the run's private staging folder, flushed to disk, then made the partition's files in
//! one step by the policy ([`Policy::replace_files`]). On a local disk the staging folder is beside the
//! lake (`<parent>/.<lake>.flowlake-staging/<run>/`, same filesystem, outside the lake's tree), so a
//! `<lake>/**/*.parquet` glob never reaches a staged file, nor a replaced one after the exchange;
//! where no such folder can be used it is `<lake>/_flowlake/staging/<run>/` and the run says so. An S3
//! lake stages in a local temporary folder. The journal mark written first and removed last makes the
//! next run repair a commit cut short anywhere in between.
//!
//! Opening a lake takes its lock, held until the `Lake` is dropped (see [`crate::storage::policy`]): two
//! runs never interleave on one lake; the shards of a sharded run share it, each holding its own shard
//! lock. Each run also locks its own staging folder; staging folders whose run is gone are removed on
//! open.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lake::ledger::entry::PartitionEntry;
use crate::lake::ledger::manifest::Manifest;
use crate::lake::{is_part_file, META_DIR};
use crate::storage::policy::{
    self, move_missing, remove_staging_folder, staging_folder, Lock, LockScope, Policy, Swap,
    Swapped,
};
use crate::storage::{Entry, Store};

/// Suffix a staged file carries until the instant its partition is published. DuckDB's
/// `read_parquet('<lake>/**/*.parquet')`, the most common way to read a folder of Parquet, does not
/// skip `_flowlake/`: with the suffix it never meets a file still being written there.
pub const STAGED_SUFFIX: &str = ".staged";

/// The name a file has while it is staged.
fn staged_name(name: &str) -> String {
    format!("{name}{STAGED_SUFFIX}")
}

/// A run's id, unique on this machine: start time in nanoseconds and the process id.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", std::process::id())
}

/// A file being written in the staging folder.
pub struct StagedFile {
    file: File,
    path: PathBuf,
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedFile {
    /// Flushes the file to disk; it is then ready to publish.
    pub fn commit(&mut self) -> Result<()> {
        self.file
            .sync_all()
            .map_err(|e| Error::output(&self.path, e))
    }
}

/// Which files of a partition a commit replaces.
#[derive(Debug, Clone, Copy)]
pub enum Replaces<'a> {
    /// flowlake's part files (convert rebuilds the whole partition; other files stay).
    PartFiles,
    /// Exactly these files (compact replaces the small files it merged, whatever their names).
    Only(&'a [String]),
}

impl Replaces<'_> {
    fn contains(&self, name: &str) -> bool {
        match self {
            Replaces::PartFiles => is_part_file(name),
            Replaces::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// What the journal says while a commit is under way, so that the next run can finish or redo it.
#[derive(Debug, Clone, Copy)]
pub enum Journal {
    /// A rebuild by convert: the mark holds the entry being committed.
    Rebuild,
    /// A compaction: the mark holds the entry and the files it replaces; the next compact finishes
    /// or undoes the swap.
    Compaction,
}

/// A lake opened for writing: its store, lock, staging folder and manifest.
#[derive(Debug)]
pub struct Lake {
    root: PathBuf,
    meta_dir: PathBuf,
    staging: PathBuf,
    store: Arc<dyn Store>,
    /// How this lake's runs lock and publish (local disk or S3).
    policy: Box<dyn Policy>,
    lock: Lock,
    _staging_lock: Lock,
    /// Why this run stages inside the lake, where a reader's glob reaches its files during a publish
    /// (see [`crate::storage::policy::StagingRoot::inside_lake`]); `None` when it stages out of every reader's
    /// reach.
    staged_inside: Option<String>,
    /// Notes of publishes for the report (see [`Lake::publish`]).
    notes: std::sync::Mutex<Vec<(String, String)>>,
}

impl Lake {
    /// Opens (creating if needed) the lake at `root` in `store`, locks it for `scope` (see
    /// [`LockScope`]) with `holder` as the text others see, and makes a staging folder for `run_id`.
    pub fn open(
        store: Arc<dyn Store>,
        root: &Path,
        run_id: &str,
        scope: LockScope,
        holder: &str,
    ) -> Result<Lake> {
        let meta_dir = root.join(META_DIR);
        let policy = policy::for_lake(&store, root, &meta_dir);
        let lock = policy.lock(scope, holder, run_id)?;
        let staging_root = policy.staging_root();
        let manifest = Manifest::new(store.clone(), &meta_dir);
        let salvage = |abandoned: &Path| match store.local_file(root) {
            Some(lake) => salvage_arrivals(&manifest, &lake, abandoned),
            None => Ok(()), // an S3 lake's staging never holds what was in the lake
        };
        let (staging, staging_lock) =
            staging_folder(root, &staging_root, run_id, holder, &salvage)?;
        Ok(Lake {
            root: root.to_path_buf(),
            meta_dir,
            staging,
            store,
            policy,
            lock,
            _staging_lock: staging_lock,
            staged_inside: staging_root.inside_lake,
            notes: std::sync::Mutex::default(),
        })
    }

    /// A warning for the run's report when it stages inside the lake: why, and what a reader may see.
    pub fn staging_warning(&self) -> Option<String> {
        self.staged_inside.as_ref().map(|why| {
            format!(
                "files are staged inside the lake ({}) because {why}: a `**/*.parquet` glob over the \
                 lake may count a partition's rows twice for the instant of its publish, and until \
                 the next run if this one is killed then (`flowlake verify` names such files)",
                self.staging.display()
            )
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The lake's manifest (in its bookkeeping folder, `<lake>/_flowlake`).
    pub fn manifest(&self) -> Manifest {
        Manifest::new(self.store.clone(), &self.meta_dir)
    }

    /// Names and sizes of the flowlake part files now published in `partition`, in name order.
    pub fn published(&self, partition: &str) -> Result<Vec<(String, u64)>> {
        let dir = self.root.join(partition);
        let files = self
            .store
            .list_dir(&dir)
            .map_err(|e| Error::output(&dir, e))?;
        Ok(part_files(&files))
    }

    /// Removes the files `names` of `partition` (missing ones are fine): how a commit cut short in the
    /// middle of a file-by-file swap is finished or undone.
    pub fn remove_files(&self, partition: &str, names: &[String]) -> Result<()> {
        for name in names {
            self.lock.check()?;
            let path = self.root.join(partition).join(name);
            self.store
                .delete(&path)
                .map_err(|e| Error::output(&path, e))?;
        }
        Ok(())
    }

    /// Fails if this run no longer owns the lake's lock (see [`Lock::check`]). Called before writing
    /// the manifest.
    pub fn check_lock(&self) -> Result<()> {
        self.lock.check()
    }

    /// Local path where a bookkeeping file (the rejects of a run) is written: under
    /// `<lake>/_flowlake/` when that is on this machine, else in the staging folder until
    /// [`keep_meta_file`](Self::keep_meta_file) stores it.
    pub fn meta_path(&self, name: &str) -> PathBuf {
        match self.store.local_file(&self.meta_dir) {
            Some(dir) => dir.join(name),
            None => self.staging.join(META_DIR).join(name),
        }
    }

    /// Keeps a bookkeeping file written at [`meta_path`](Self::meta_path) in the lake under `name`;
    /// returns where it now is.
    pub fn keep_meta_file(&self, local: &Path, name: &str) -> Result<PathBuf> {
        if self.store.local_file(&self.meta_dir).is_some() {
            return Ok(local.to_path_buf());
        }
        let target = self.meta_dir.join(name);
        self.store
            .upload(local, &target)
            .map_err(|e| Error::output(&target, e))?;
        Ok(target)
    }

    /// Path of a staged file (before it is committed).
    pub fn staged_file(&self, partition: &str, name: &str) -> PathBuf {
        self.staging.join(partition).join(staged_name(name))
    }

    /// Creates `name` for `partition` in the staging folder.
    pub fn create_staged(&self, partition: &str, name: &str) -> Result<StagedFile> {
        let path = self.staged_file(partition, name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
        }
        let file = File::create(&path).map_err(|e| Error::output(&path, e))?;
        Ok(StagedFile { file, path })
    }

    /// Commits `entry`'s partition: its row map is written from `rows` (runs of (index into
    /// `entry.inputs`, rows) over the new files; `None`: the entry says nothing of its rows' inputs),
    /// its staged files `names` become its files (replacing `replaces`) and `entry` its manifest
    /// entry. Journal first, unjournal last: a run that stops anywhere in between leaves the mark, and
    /// the next run finishes or redoes the commit ([`journal`](super::journal)).
    pub fn commit(
        &self,
        manifest: &Manifest,
        mut entry: PartitionEntry,
        rows: Option<&[(u32, u64)]>,
        names: &[String],
        replaces: Replaces<'_>,
        journal: Journal,
    ) -> Result<()> {
        entry.row_map = match rows {
            Some(runs) => Some(manifest.put_row_map(&entry.partition, runs)?),
            None => None,
        };
        match journal {
            Journal::Rebuild => manifest.mark_publishing(&entry)?,
            Journal::Compaction => {
                let replaced: &[String] = match replaces {
                    Replaces::Only(names) => names,
                    Replaces::PartFiles => &[],
                };
                manifest.mark_compacting(&entry, replaced)?
            }
        }
        self.publish(&entry.partition, names, replaces)?;
        self.finish(manifest, &entry, journal)
    }

    /// The end of a commit, also how a later run finishes one that stopped after its publish: records
    /// `entry` (if this run still owns the lock), removes the journal mark, then the row maps of the
    /// partition other than the one `entry` names (a failure there leaves small files no entry
    /// names, harmless).
    pub fn finish(
        &self,
        manifest: &Manifest,
        entry: &PartitionEntry,
        journal: Journal,
    ) -> Result<()> {
        self.check_lock()?;
        manifest.put(entry)?;
        match journal {
            // A rebuild replaces every part file: a compaction stopped before it is moot.
            Journal::Rebuild => {
                manifest.clear_publishing(&entry.partition)?;
                manifest.clear_compacting(&entry.partition)?;
            }
            Journal::Compaction => manifest.clear_compacting(&entry.partition)?,
        }
        manifest.prune_row_maps(&entry.partition, entry.row_map.as_deref());
        Ok(())
    }

    /// Makes the staged `names` the files of `partition`, replacing `replaces`: the staged files get
    /// their final names (see [`STAGED_SUFFIX`]) right before the lake's policy swaps them in
    /// ([`Policy::replace_files`]). A file that appears in the partition meanwhile (a delivery landing
    /// mid-swap) is kept.
    ///
    /// A partition swapped file by file (the lake's root folder, which holds `_flowlake/`; a
    /// filesystem without the exchange) is noted for the run's report ([`take_notes`](Self::take_notes)):
    /// a reader may have counted its rows twice for that moment.
    pub fn publish(&self, partition: &str, names: &[String], replaces: Replaces<'_>) -> Result<()> {
        let staged = self.staging.join(partition);
        for name in names {
            let to = staged.join(name);
            std::fs::rename(self.staged_file(partition, name), &to)
                .map_err(|e| Error::output(&to, e))?;
        }
        let swap = if partition.is_empty() {
            Swap::OneByOne
        } else {
            Swap::Exchange
        };
        let swapped = self.policy.replace_files(
            &staged,
            &self.root.join(partition),
            names,
            &|name| replaces.contains(name),
            swap,
            &|| self.lock.check(),
        )?;
        if let Swapped::OneByOne(why) = swapped {
            let note = format!(
                "its files were swapped one by one ({why}): a `**/*.parquet` glob may have read new \
                 and replaced files side by side for that moment"
            );
            if let Ok(mut notes) = self.notes.lock() {
                notes.push((partition.to_string(), note));
            }
        }
        Ok(())
    }

    /// What publishes noted for the run's report since the last call: (partition, note).
    pub fn take_notes(&self) -> Vec<(String, String)> {
        self.notes
            .lock()
            .map(|mut notes| std::mem::take(&mut *notes))
            .unwrap_or_default()
    }

    /// Bytes free on the disk this run stages files on (None when unknown).
    pub fn staging_free_bytes(&self) -> Option<u64> {
        crate::storage::free_bytes(&self.staging)
    }

    /// Removes this run's staging folder (and its lock file: the lock itself lasts until drop).
    pub fn remove_staging(&self) -> Result<()> {
        remove_staging_folder(&self.staging)
    }
}

/// Moves back into the lake `lake` what a run that stopped in the middle of a publish left in its
/// staging folder `abandoned` and the lake has nowhere else: a file delivered into the partition
/// between the links and the exchange (the exchange took it out with the old folder, and the run was
/// killed before it moved it over). Only partitions the journal marks as being swapped are looked at,
/// and the files a publish writes or replaces stay out: flowlake's part files and staged files, and a
/// compaction's replaced files, which its mark names (a mark that names none moves nothing).
fn salvage_arrivals(manifest: &Manifest, lake: &Path, abandoned: &Path) -> Result<()> {
    let flowlake_file = |name: &str| is_part_file(name) || name.ends_with(STAGED_SUFFIX);
    let compacting = manifest.compacting()?;
    for partition in manifest.publishing()? {
        let old = abandoned.join(&partition);
        if !compacting.contains(&partition) && old.is_dir() {
            move_missing(&old, &lake.join(&partition), &flowlake_file)?;
        }
    }
    for partition in compacting {
        let old = abandoned.join(&partition);
        let Some(mark) = manifest.pending_compaction(&partition)? else {
            continue;
        };
        if !mark.replaces.is_empty() && old.is_dir() {
            let skip = |name: &str| flowlake_file(name) || mark.replaces.iter().any(|r| r == name);
            move_missing(&old, &lake.join(&partition), &skip)?;
        }
    }
    Ok(())
}

/// Names and sizes of the flowlake part files among `files`, in name order.
pub fn part_files(files: &[Entry]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = files
        .iter()
        .filter_map(|e| {
            let name = e.path.file_name()?.to_str()?.to_string();
            is_part_file(&name).then_some((name, e.size))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::policy::LocalPolicy;
    use crate::storage::LocalStore;
    use std::fs;

    fn open(root: &Path, run: &str, scope: LockScope) -> Result<Lake> {
        Lake::open(
            Arc::new(LocalStore),
            root,
            run,
            scope,
            &format!("flowlake run {run}"),
        )
    }

    fn shard(k: u32, n: u32) -> LockScope {
        LockScope::Member { index: k, count: n }
    }

    #[test]
    fn publish_replaces_and_removes_stale_parts() {
        let dir = tempfile::tempdir().unwrap();
        let lake = open(dir.path(), "run1", LockScope::Whole).unwrap();
        let part = "year=2024/month=01/day=02";
        fs::create_dir_all(dir.path().join(part)).unwrap();
        fs::write(dir.path().join(part).join("part-00000.parquet"), b"old0").unwrap();
        fs::write(dir.path().join(part).join("part-00001.parquet"), b"old1").unwrap();
        fs::write(dir.path().join(part).join("notes.txt"), b"keep").unwrap();
        let mut f = lake.create_staged(part, "part-00000.parquet").unwrap();
        f.write_all(b"new0").unwrap();
        f.commit().unwrap();
        lake.publish(
            part,
            &["part-00000.parquet".to_string()],
            Replaces::PartFiles,
        )
        .unwrap();
        let p = dir.path().join(part);
        assert_eq!(fs::read(p.join("part-00000.parquet")).unwrap(), b"new0");
        assert!(!p.join("part-00001.parquet").exists());
        assert!(p.join("notes.txt").exists());
        assert_eq!(
            lake.published(part).unwrap(),
            vec![("part-00000.parquet".to_string(), 4)]
        );
        assert!(lake.staging_warning().is_none());
        lake.remove_staging().unwrap();
        let beside = dir.path().parent().unwrap().join(format!(
            ".{}.flowlake-staging",
            dir.path().file_name().unwrap().to_string_lossy()
        ));
        assert!(beside.is_dir(), "staged beside the lake");
        assert!(!beside.join("run1").exists());
        assert!(!dir.path().join("_flowlake/staging").exists());
        fs::remove_dir(beside).unwrap();
    }

    fn entry(partition: &str) -> PartitionEntry {
        PartitionEntry {
            version: crate::lake::ledger::entry::MANIFEST_VERSION,
            partition: partition.into(),
            fingerprint: crate::lake::ledger::entry::Fingerprint::Convert("f".into()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            lines: 0,
            rows: 0,
            rejected: 0,
            filtered: 0,
            failed: Vec::new(),
            row_map: None,
            plan: None,
            enriched_with: Vec::new(),
        }
    }

    /// A run killed between a partition's exchange and the rescue of what was delivered into it
    /// meanwhile leaves that file in its staging folder, with the old files: the next run moves the
    /// delivery back (never the files the publish replaced or wrote), then removes the folder.
    #[test]
    fn a_delivery_left_in_a_killed_runs_staging_is_moved_back_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = &dir.path().join("lake");
        let staging = dir.path().join(".lake.flowlake-staging");
        let (rebuilt, compacted, unmarked) = ("day=01", "day=02", "day=03");
        for p in [rebuilt, compacted, unmarked] {
            fs::create_dir_all(root.join(p)).unwrap();
            fs::write(root.join(p).join("part-00007.parquet"), b"new").unwrap();
            fs::write(root.join(p).join("notes.txt"), b"kept").unwrap();
        }
        let lake = open(root, "first", LockScope::Whole).unwrap();
        let manifest = lake.manifest();
        manifest.mark_publishing(&entry(rebuilt)).unwrap();
        manifest
            .mark_compacting(&entry(compacted), &["aws-1.log.parquet".to_string()])
            .unwrap();
        drop(lake);
        // What the killed run's folder holds: each partition's old folder.
        let killed = staging.join("killed");
        for p in [rebuilt, compacted, unmarked] {
            let old = killed.join(p);
            fs::create_dir_all(old.join("inner")).unwrap();
            for (name, bytes) in [
                ("part-00000.parquet", &b"replaced"[..]),
                ("notes.txt", b"kept"),
                ("aws-1.log.parquet", b"replaced by the compaction"),
                ("aws-2.log.parquet", b"delivered mid-swap"),
                ("sort-run-00001.arrow.staged", b"spill"),
                ("inner/late.parquet", b"delivered mid-swap"),
            ] {
                fs::write(old.join(name), bytes).unwrap();
            }
        }
        let next = open(root, "next", LockScope::Whole).unwrap();
        assert!(!killed.exists(), "the killed run's folder is removed");
        let names = |p: &str| -> Vec<String> {
            let mut v: Vec<String> = crate::testutil::walk_names(&root.join(p));
            v.sort();
            v
        };
        assert_eq!(
            names(rebuilt),
            [
                "aws-1.log.parquet",
                "aws-2.log.parquet",
                "inner/late.parquet",
                "notes.txt",
                "part-00007.parquet"
            ],
            "a rebuild replaces part files only"
        );
        assert_eq!(
            names(compacted),
            [
                "aws-2.log.parquet",
                "inner/late.parquet",
                "notes.txt",
                "part-00007.parquet"
            ],
            "a compaction's mark names the files it replaced"
        );
        assert_eq!(
            fs::read(root.join(compacted).join("notes.txt")).unwrap(),
            b"kept"
        );
        assert_eq!(
            names(unmarked),
            ["notes.txt", "part-00007.parquet"],
            "no journal mark, no publish cut short"
        );
        drop(next);
    }

    #[test]
    fn shards_share_the_lake_but_not_their_shard_and_keep_each_others_staging() {
        let dir = tempfile::tempdir().unwrap();
        let root = &dir.path().join("lake");
        fs::create_dir_all(root).unwrap();
        let staging = dir.path().join(".lake.flowlake-staging");
        let a = open(root, "a", shard(0, 3)).unwrap();
        let b = open(root, "b", shard(1, 3)).unwrap();
        assert!(staging.join("a").is_dir());
        assert!(
            staging.join("b").is_dir(),
            "b's open kept a's staging and a's kept b's"
        );
        let again = open(root, "c", shard(0, 3)).unwrap_err().to_string();
        assert!(again.contains("flowlake run a"), "{again}");
        let other_count = open(root, "e", shard(0, 4)).unwrap_err();
        assert!(
            other_count.to_string().contains("split 3 ways"),
            "{other_count}"
        );
        let whole = open(root, "d", LockScope::Whole).unwrap_err();
        assert!(matches!(whole, Error::Locked { .. }), "{whole}");
        assert!(staging.join("a").is_dir(), "failed opens removed nothing");
        let writers = LocalPolicy::new(root, &root.join(META_DIR))
            .live_writers()
            .unwrap();
        assert_eq!(writers.len(), 2, "{writers:?}");
        drop(a);
        // a's staging is abandoned now (its run is gone): the next open removes it, not b's.
        let c = open(root, "c", shard(2, 3)).unwrap();
        assert!(!staging.join("a").exists());
        assert!(!staging.join("a.lock").exists());
        assert!(staging.join("b").is_dir());
        b.remove_staging().unwrap();
        drop((b, c));
        let whole = open(root, "d", LockScope::Whole).unwrap();
        let left: Vec<_> = fs::read_dir(&staging)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "only d's folder and lock: {left:?}");
        drop(whole);
    }
}
