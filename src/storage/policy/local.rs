//! The local disk's lake policy: OS file locks under `<meta>/lock` and `<meta>/locks/`, released by
//! the kernel however a run ends (a killed run leaves no stale lock); a staging folder beside the lake,
//! on its filesystem and out of every reader's reach; and the folder exchange of `exchange.rs`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::exchange;
use super::locks::{Lock, LockFile, LockScope, MEMBER_LOCKS};
use super::{Policy, StagingRoot, Swap, Swapped};
use crate::error::{Error, Result};

/// The policy of a lake on this machine's disk.
#[derive(Debug, Clone)]
pub struct LocalPolicy {
    lake: PathBuf,
    meta_dir: PathBuf,
}

impl LocalPolicy {
    /// The policy of the local lake `lake`, whose bookkeeping folder is `meta_dir`.
    pub fn new(lake: &Path, meta_dir: &Path) -> LocalPolicy {
        LocalPolicy {
            lake: lake.to_path_buf(),
            meta_dir: meta_dir.to_path_buf(),
        }
    }
}

impl Policy for LocalPolicy {
    fn staging_root(&self) -> StagingRoot {
        let (lake, meta_dir) = (&self.lake, &self.meta_dir);
        let inside = meta_dir.join("staging");
        match staging_beside(lake, meta_dir) {
            Ok(path) => StagingRoot {
                path,
                inside_lake: None,
                also: Some(inside),
            },
            Err(why) => StagingRoot {
                path: inside,
                inside_lake: Some(why.to_string()),
                also: None,
            },
        }
    }

    fn lock(&self, scope: LockScope, holder: &str, _token: &str) -> Result<Lock> {
        take(&self.lake, &self.meta_dir, scope, holder)
    }

    fn live_writers(&self) -> Result<Vec<String>> {
        live_writers(&self.meta_dir)
    }

    fn replace_files(
        &self,
        staged: &Path,
        dir: &Path,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
        swap: Swap,
        guard: &dyn Fn() -> Result<()>,
    ) -> Result<Swapped> {
        exchange::replace_files(staged, dir, names, replaced, swap, guard)
    }
}

/// Takes the local lake lock(s) for `scope` under `meta_dir`.
fn take(lake: &Path, meta_dir: &Path, scope: LockScope, holder: &str) -> Result<Lock> {
    let mut files = Vec::new();
    let path = |file: LockFile| meta_dir.join(file.path());
    match scope {
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
                &path(LockFile::of(scope)),
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
fn live_writers(meta_dir: &Path) -> Result<Vec<String>> {
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
pub(super) enum Kind {
    Shared,
    Exclusive,
    /// Exclusive, on a file no other run takes (a run's staging lock): only another run's cleanup,
    /// probing whether the run is alive, can hold it, and only for an instant, so wait for it.
    Private,
}

/// Locks `path` (creating it) for `holder`, whose name is written into it when the lock is exclusive.
pub(super) fn lock_file(lake: &Path, path: &Path, holder: &str, kind: Kind) -> Result<File> {
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

/// `<parent>/.<lake name>.flowlake-staging`, the folder beside the lake where its runs stage their
/// files: outside the lake's tree, so that a `<lake>/**/*.parquet` glob (DuckDB's does not skip `_`
/// or `.` folders) never reaches a staged file nor a replaced one, whatever instant a run stops at,
/// and where a folder renames into the lake (same mount: a staged partition folder is exchanged with
/// the published one in one rename). The lake's real path is used (a lake reached through a symbolic
/// link is staged beside its target). Fails, saying why, where no such folder can be used: a lake that
/// is a mount point (bind mounts included: checked by a real rename into `meta_dir`), a parent folder
/// this user cannot write, or a folder there that is not this user's own (another user could swap
/// what a run stages).
fn staging_beside(lake: &Path, meta_dir: &Path) -> std::result::Result<PathBuf, NoStagingBeside> {
    let real = fs::canonicalize(lake).map_err(NoStagingBeside::Unresolved)?;
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(NoStagingBeside::Root);
    };
    let mut folder = std::ffi::OsString::from(".");
    folder.push(name);
    folder.push(".flowlake-staging");
    let beside = parent.join(folder);
    let created = match fs::create_dir(&beside) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(source) => {
            return Err(NoStagingBeside::Create {
                path: beside,
                source,
            })
        }
    };
    let gone = |why: NoStagingBeside| {
        if created {
            let _ = fs::remove_dir(&beside);
        }
        Err(why)
    };
    // A real folder (not a link), owned by the user of this run, whose probe folder renames into the
    // lake's bookkeeping folder.
    let meta = match fs::symlink_metadata(&beside) {
        Ok(meta) if meta.is_dir() => meta,
        _ => return gone(NoStagingBeside::NotAFolder(beside.clone())),
    };
    let probe = beside.join(format!(".probe-{}", std::process::id()));
    let moved = meta_dir.join(format!(".staging-probe-{}", std::process::id()));
    if let Err(source) = fs::create_dir(&probe) {
        return gone(NoStagingBeside::Unwritable {
            path: beside.clone(),
            source,
        });
    }
    let mine = owner(&meta) == fs::metadata(&probe).ok().as_ref().and_then(owner);
    let renamed = fs::rename(&probe, &moved);
    let _ = fs::remove_dir(&moved);
    let _ = fs::remove_dir(&probe);
    if !mine {
        return gone(NoStagingBeside::NotOwned(beside.clone()));
    }
    if let Err(e) = renamed {
        return gone(NoStagingBeside::MountPoint(e));
    }
    Ok(beside)
}

/// Why no staging folder beside the lake can be used (see [`staging_beside`]); the message ends the
/// sentence of [`StagingRoot::inside_lake`]'s warning.
#[derive(Debug, thiserror::Error)]
enum NoStagingBeside {
    #[error("the lake's path cannot be resolved ({0})")]
    Unresolved(#[source] io::Error),
    #[error("the lake is the root folder")]
    Root,
    #[error(
        "{} cannot be created ({source}; a user who may write the lake's parent folder stages \
         there)",
        path.display()
    )]
    Create { path: PathBuf, source: io::Error },
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{} cannot be written ({source})", path.display())]
    Unwritable { path: PathBuf, source: io::Error },
    #[error(
        "{} belongs to another user (it could change what a run stages there)",
        .0.display()
    )]
    NotOwned(PathBuf),
    #[error(
        "a folder beside the lake does not rename into it ({0}): the lake is a mount point \
         (or a bind mount), so no folder beside it is on its filesystem; a folder below the \
         mount point as the lake stages outside it"
    )]
    MountPoint(#[source] io::Error),
}

/// The user owning a file (None where the platform has no owners).
fn owner(meta: &fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}
