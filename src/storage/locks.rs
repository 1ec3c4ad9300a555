//! Locks that keep runs apart, and the private staging folder of each run.
//!
//! A lake is held by one whole-lake run at a time (convert, compact), or by the members of one group
//! side by side (the shards of a sharded run: they never write the same partition). Members of
//! different groups, and a whole-lake run and any member, exclude each other; a member never runs twice
//! at once. On a local disk the locks are OS file locks under `<meta>/lock` and `<meta>/locks/`,
//! released by the kernel however the process ends, so a killed run leaves no stale lock; on S3 they
//! are objects kept alive by a heartbeat (see `s3lock.rs`). `verify` takes no lock: it only probes
//! them ([`Store::live_writers`](super::Store::live_writers)).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::StagingRoot;
use crate::error::{Error, Result};

/// Who may hold a lake at the same time as whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// The whole lake, alone.
    Whole,
    /// Member `index` (`0..count`) of a group of `count` runs that split the lake between them (the
    /// shards of a sharded run): the members of one group run side by side, each at most once.
    Member { index: u32, count: u32 },
}

/// The folder of member and group locks, below a lake's bookkeeping folder.
pub(super) const MEMBER_LOCKS: &str = "locks";

/// A lock file (local disk) or lock object (S3) of a lake, as named below its bookkeeping folder.
///
/// The names are a stored format that runs of other versions read: they are written from
/// [`LockFile::path`] and read back by [`LockFile::parse`], nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockFile {
    /// `lock`: held by a whole-lake run, or (shared, on a local disk) by every member.
    Lake,
    /// `locks/shard-K-of-N`: member K of a group of N.
    Member { index: u32, count: u32 },
    /// `locks/count-N`: held (shared, on a local disk) by every running member of a group of N.
    Group { count: u32 },
}

impl LockFile {
    /// The lock a run of `scope` holds as its own.
    pub(super) fn of(scope: LockScope) -> LockFile {
        match scope {
            LockScope::Whole => LockFile::Lake,
            LockScope::Member { index, count } => LockFile::Member { index, count },
        }
    }

    /// Its path below the bookkeeping folder: `lock`, `locks/shard-2-of-4`, `locks/count-4`.
    pub(super) fn path(self) -> String {
        match self {
            LockFile::Lake => "lock".to_string(),
            LockFile::Member { index, count } => format!("{MEMBER_LOCKS}/shard-{index}-of-{count}"),
            LockFile::Group { count } => format!("{MEMBER_LOCKS}/count-{count}"),
        }
    }

    /// The lock a file or object named `name` (its last path segment) is; `None` for a name no run
    /// writes.
    pub(super) fn parse(name: &str) -> Option<LockFile> {
        if name == "lock" {
            return Some(LockFile::Lake);
        }
        if let Some(count) = name.strip_prefix("count-") {
            return Some(LockFile::Group {
                count: count.parse().ok()?,
            });
        }
        let (index, count) = name.strip_prefix("shard-")?.split_once("-of-")?;
        Some(LockFile::Member {
            index: index.parse().ok()?,
            count: count.parse().ok()?,
        })
    }
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    held: Box<dyn Held>,
}

/// What holds a lock: open files holding OS locks (here), or an S3 lock object kept alive by its
/// heartbeat (`s3lock.rs`).
pub(super) trait Held: std::fmt::Debug + Send + Sync {
    /// Fails if this run no longer owns the lock.
    fn check(&self) -> Result<()>;
}

/// Open files holding OS locks, released by the kernel however the process ends.
#[derive(Debug)]
struct Files(#[allow(dead_code)] Vec<File>);

impl Held for Files {
    fn check(&self) -> Result<()> {
        Ok(()) // an OS file lock cannot be lost
    }
}

impl Lock {
    pub(super) fn files(files: Vec<File>) -> Lock {
        Lock::held(Files(files))
    }

    pub(super) fn held(held: impl Held + 'static) -> Lock {
        Lock {
            held: Box::new(held),
        }
    }

    /// Fails if this run no longer owns the lock. An OS file lock cannot be lost; an S3 lock can (see
    /// `s3lock.rs`): called before every upload, delete and manifest write.
    pub fn check(&self) -> Result<()> {
        self.held.check()
    }
}

/// Takes the local lake lock(s) for `scope` under `meta_dir`.
pub(super) fn take_local(
    lake: &Path,
    meta_dir: &Path,
    scope: &LockScope,
    holder: &str,
) -> Result<Lock> {
    let mut files = Vec::new();
    let path = |file: LockFile| meta_dir.join(file.path());
    match *scope {
        LockScope::Whole => files.push(lock_file(
            lake,
            &path(LockFile::Lake),
            holder,
            Kind::Exclusive,
        )?),
        LockScope::Member { count, .. } => {
            files.push(lock_file(
                lake,
                &path(LockFile::Lake),
                holder,
                Kind::Shared,
            )?);
            // Members split the lake disjointly only within one group: refuse while members of another
            // group run.
            files.push(lock_file(
                lake,
                &path(LockFile::Group { count }),
                "",
                Kind::Shared,
            )?);
            let groups = meta_dir.join(MEMBER_LOCKS);
            for entry in fs::read_dir(&groups)
                .map_err(|e| Error::output(&groups, e))?
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(LockFile::Group { count: other }) = LockFile::parse(&name) else {
                    continue;
                };
                if other != count && File::open(entry.path()).is_ok_and(|f| f.try_lock().is_err()) {
                    return Err(Error::Locked {
                        lake: lake.to_path_buf(),
                        holder: format!("the shards of a run split {other} ways"),
                    });
                }
            }
            files.push(lock_file(
                lake,
                &path(LockFile::of(*scope)),
                holder,
                Kind::Exclusive,
            )?);
        }
    }
    Ok(Lock::files(files))
}

/// Who is writing the local lake whose bookkeeping is `meta_dir` now, found without writing anything:
/// the holder text of `lock` when a whole-lake run holds it, and of each member lock a running member
/// holds.
///
/// Each lock file is opened read-only and probed with a shared, non-blocking lock that is released at
/// once: it cannot be had while a run holds the file exclusively. (A run starting during that instant
/// finds the lock busy and says so; it never waits.) Missing files mean no run.
pub(super) fn live_local_writers(meta_dir: &Path) -> Result<Vec<String>> {
    let mut lock_files = vec![meta_dir.join(LockFile::Lake.path())];
    let members = meta_dir.join(MEMBER_LOCKS);
    match fs::read_dir(&members) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| cannot_probe(&members, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if !matches!(LockFile::parse(&name), Some(LockFile::Group { .. })) {
                    lock_files.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot_probe(&members, e)),
    }
    lock_files.sort();
    let mut holders = Vec::new();
    for path in lock_files {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(cannot_probe(&path, e)),
        };
        match file.try_lock_shared() {
            Ok(()) => {} // nobody holds it exclusively; closing `file` releases our probe
            Err(fs::TryLockError::WouldBlock) => {
                let text = fs::read_to_string(&path).unwrap_or_default();
                holders.push(match text.trim() {
                    "" => "a flowlake run".to_string(),
                    h => h.to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(cannot_probe(&path, e)),
        }
    }
    Ok(holders)
}

fn cannot_probe(path: &Path, e: io::Error) -> Error {
    Error::Lake {
        path: path.to_path_buf(),
        message: format!("cannot tell whether a run is writing the lake: {e}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Shared,
    Exclusive,
    /// Exclusive, on a file no other run takes (a run's staging lock): only another run's cleanup,
    /// probing whether the run is alive, can hold it, and only for an instant, so wait for it.
    Private,
}

/// Locks `path` (creating it) for `holder`, whose name is written into it when the lock is exclusive.
fn lock_file(lake: &Path, path: &Path, holder: &str, kind: Kind) -> Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::output(path, e))?;
    let taken = match kind {
        Kind::Shared => file.try_lock_shared(),
        Kind::Exclusive => file.try_lock(),
        Kind::Private => file.lock().map_err(fs::TryLockError::Error),
    };
    match taken {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(path).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "shards of a sharded run".to_string(),
                h => h.to_string(),
            };
            return Err(Error::Locked {
                lake: lake.to_path_buf(),
                holder,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(Error::output(path, e)),
    }
    // The file may have been removed (as an abandoned lock) between our open and our lock: then the lock
    // guards nothing that others can see; take it again on the file now at `path`.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ours = file.metadata().map(|m| m.ino()).ok();
        let now = fs::metadata(path).map(|m| m.ino()).ok();
        if ours != now {
            drop(file);
            return lock_file(lake, path, holder, kind);
        }
    }
    if kind != Kind::Shared {
        file.set_len(0)
            .and_then(|_| writeln!(file, "pid {} {holder}", std::process::id()))
            .map_err(|e| Error::output(path, e))?;
    }
    Ok(file)
}

/// Makes this run's private staging folder `<root>/<run_id>`, locked (`<run_id>.lock`) for as long as
/// the returned lock lives, after removing the folders of runs that are gone (whose lock is not held)
/// from the root and from [`StagingRoot::also`], each handed to `salvage` first (which may move what
/// must not be lost out of it). Other live runs' folders are kept.
pub fn staging_folder(
    lake: &Path,
    root: &StagingRoot,
    run_id: &str,
    holder: &str,
    salvage: &dyn Fn(&Path) -> Result<()>,
) -> Result<(PathBuf, Lock)> {
    for folder in std::iter::once(&root.path).chain(&root.also) {
        remove_abandoned_staging(folder, salvage)?;
    }
    let staging_root = &root.path;
    // Lock before creating: another run's cleanup must never see this folder unlocked. The lock file
    // is ours once we hold a lock on the file at its path (see `lock_file`): a cleanup may remove the
    // file between our open and our lock, never after.
    let staging = staging_root.join(run_id);
    let lock = lock_file(lake, &lock_path_of(&staging), holder, Kind::Private)?;
    fs::create_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
    Ok((staging, Lock::files(vec![lock])))
}

/// True while the run that made the staging folder `folder` is alive (its lock is held): found
/// without taking it, for `verify`.
pub fn staging_in_use(folder: &Path) -> bool {
    File::open(lock_path_of(folder)).is_ok_and(|f| f.try_lock_shared().is_err())
}

/// `<folder>.lock`, the lock file of a staging folder.
fn lock_path_of(folder: &Path) -> PathBuf {
    let mut path = folder.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Removes a run's staging folder and its lock file (the lock itself lasts until dropped).
pub fn remove_staging_folder(staging: &Path) -> Result<()> {
    for result in [
        fs::remove_dir_all(staging),
        fs::remove_file(lock_path_of(staging)),
    ] {
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::output(staging, e)),
            _ => {}
        }
    }
    Ok(())
}

/// Removes the staging folders (and lock files) of runs that are no longer running: those whose
/// `<run>.lock` is missing or not held.
///
/// The probe keeps the lock it took while it removes the folder and then the lock file: a run makes
/// its folder only after it holds the lock on the file at the lock's path, so nothing a run owns can
/// appear or vanish while the probe holds it. (Letting go before removing would let a starting run
/// take the lock and make its folder in between, and then lose its lock file, and with it its folder
/// to the next cleanup.)
fn remove_abandoned_staging(
    staging_root: &Path,
    salvage: &dyn Fn(&Path) -> Result<()>,
) -> Result<()> {
    let Ok(entries) = fs::read_dir(staging_root) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let is_lock = !is_dir && path.extension().is_some_and(|e| e == "lock");
        if !is_dir && !is_lock {
            continue;
        }
        let folder = if is_dir {
            path.clone()
        } else {
            path.with_extension("")
        };
        let lock_path = lock_path_of(&folder);
        let probe = match File::open(&lock_path) {
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(file),
                Err(_) => continue, // alive, or being probed by another cleanup
            },
            // No lock file: a run makes it before its folder and removes it after, so nobody owns
            // this folder.
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(_) => continue,
        };
        if folder.is_dir() {
            salvage(&folder)?;
        }
        // Another run may be removing the same folder: one already gone is fine.
        match fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::output(&folder, e)),
            _ => {}
        }
        if probe.is_some() {
            let _ = fs::remove_file(&lock_path);
        }
        drop(probe);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_names_are_written_and_read_back_in_one_place() {
        let member = LockScope::Member { index: 2, count: 7 };
        assert_eq!(LockFile::of(member).path(), "locks/shard-2-of-7");
        assert_eq!(LockFile::of(LockScope::Whole).path(), "lock");
        assert_eq!(LockFile::Group { count: 7 }.path(), "locks/count-7");
        for file in [
            LockFile::Lake,
            LockFile::of(member),
            LockFile::Group { count: 7 },
        ] {
            let path = file.path();
            let name = path.rsplit('/').next().unwrap();
            assert_eq!(LockFile::parse(name), Some(file), "{path}");
        }
        for stranger in ["shard-x-of-7", "count-", "shard-1-of", "other", "lock.tmp"] {
            assert_eq!(LockFile::parse(stranger), None, "{stranger}");
        }
    }

    /// Runs starting and ending side by side, each cleaning up after dead runs as it starts: no run
    /// ever loses its staging folder. (Before the cleanup kept its probe lock while removing a lock
    /// file, a run starting in that instant lost its lock file and then its folder; seen as a shard
    /// failing with "No such file or directory" on its own staging folder.)
    #[test]
    fn starting_runs_never_remove_a_live_runs_staging_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Arc::new(StagingRoot {
            path: dir.path().join("staging"),
            inside_lake: None,
            also: None,
        });
        // A dead run's leftovers, with and without their lock file, and an orphan lock file.
        let dead = &root.path;
        fs::create_dir_all(dead.join("dead-1/p")).unwrap();
        fs::write(dead.join("dead-1.lock"), "pid 1").unwrap();
        fs::create_dir_all(dead.join("dead-2")).unwrap();
        fs::write(dead.join("dead-3.lock"), "pid 3").unwrap();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || {
                    for i in 0..150 {
                        let id = format!("run-{t}-{i}");
                        let (staging, lock) =
                            staging_folder(Path::new("lake"), &root, &id, "test", &|_| Ok(()))
                                .unwrap();
                        let part = staging.join("year=2024");
                        fs::create_dir_all(&part).unwrap();
                        fs::write(part.join("f.parquet"), b"x").unwrap();
                        for _ in 0..3 {
                            std::thread::yield_now();
                            assert!(part.join("f.parquet").exists(), "{id} lost its staging");
                            assert!(lock_path_of(&staging).exists(), "{id} lost its lock");
                        }
                        remove_staging_folder(&staging).unwrap();
                        drop(lock);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let left: Vec<_> = fs::read_dir(&root.path).unwrap().flatten().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
