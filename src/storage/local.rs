//! The local disk as a [`Store`]: directory walks that go on past one bad entry, writes that are never
//! half-visible (a complete, fsynced temporary file renamed or linked into place), and the atomic
//! folder exchange that publishes a partition in one step.
//!
//! Names are paths, never assumed to be UTF-8; a file reached through two symbolic links is listed once.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use walkdir::WalkDir;

use super::locks::{self, Lock, LockScope};
use super::{
    is_hidden, same_bytes, Entry, Expect, Hidden, ListProblem, Listing, StagingRoot, Store, Swap,
    Swapped, Version,
};
use crate::error::{Error, Result};

/// The local filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalStore;

impl Store for LocalStore {
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> io::Result<Listing> {
        // The root as typed, made absolute: never canonicalised, so the folders a symbolic link
        // points into do not become partition keys, and a linked day folder keeps its date.
        let root = std::path::absolute(root)?;
        if fs::metadata(&root)?.is_dir() {
            fs::read_dir(&root)?;
        }
        let hidden = std::cell::RefCell::new(Vec::new());
        let walk = WalkDir::new(&root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 || !e.file_type().is_dir() {
                    return true;
                }
                if is_hidden(&e.file_name().to_string_lossy()) {
                    hidden.borrow_mut().push(e.path().to_path_buf());
                    return false;
                }
                keep_dir(e.path())
            });
        let mut listing = Listing::default();
        // A file reached through two symbolic links is listed once (first path in name order).
        let mut seen = std::collections::HashSet::new();
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().map_or_else(|| root.clone(), Path::to_path_buf);
                    let message = match (e.loop_ancestor(), e.io_error()) {
                        (Some(ancestor), _) => {
                            format!("symbolic link loop (leads back to {})", ancestor.display())
                        }
                        (None, Some(io)) if io.kind() == io::ErrorKind::NotFound => {
                            "dangling symbolic link (its target does not exist)".to_string()
                        }
                        (None, Some(io)) => format!("cannot be listed: {io}"),
                        (None, None) => e.to_string(),
                    };
                    if e.depth() == 0 {
                        return Err(io::Error::other(message));
                    }
                    listing.problems.push(ListProblem { path, message });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) => {
                    listing.problems.push(ListProblem {
                        path: entry.path().to_path_buf(),
                        message: format!("cannot be listed: {e}"),
                    });
                    continue;
                }
            };
            if file_id(&meta).is_some_and(|id| !seen.insert(id)) {
                continue;
            }
            listing.entries.push(Entry {
                size: meta.len(),
                mtime: mtime_of(&meta),
                path: entry.into_path(),
                version: None,
            });
        }
        listing.hidden = hidden.into_inner();
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    fn list_below(&self, dir: &Path, hidden: Hidden) -> io::Result<Vec<Entry>> {
        let walk = WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || hidden == Hidden::Include
                    || !is_hidden(&e.file_name().to_string_lossy())
            });
        let mut out = Vec::new();
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                // No folder yet (or one removed while listing): nothing there. Any other failure (a
                // folder that cannot be read) is an error, never a shorter listing.
                Err(e)
                    if e.io_error()
                        .is_some_and(|e| e.kind() == io::ErrorKind::NotFound) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            // A symbolic link to a file is listed as the file (a `**/*.parquet` glob reads it).
            let linked = entry.file_type().is_symlink();
            if !entry.file_type().is_file() && !linked {
                continue;
            }
            let meta = if linked {
                match fs::metadata(entry.path()) {
                    Ok(meta) if meta.is_file() => meta,
                    _ => continue, // a link to a folder, to nothing, or in a loop
                }
            } else {
                match entry.metadata() {
                    Ok(meta) => meta,
                    // Renamed or removed since the folder was read (a write or a journal mark of
                    // a concurrent run): not there any more.
                    Err(e)
                        if e.io_error()
                            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound) =>
                    {
                        continue
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            out.push(Entry {
                size: meta.len(),
                mtime: mtime_of(&meta),
                path: entry.into_path(),
                version: None,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            // No folder there (or a file where a folder would be): no files in it. Writing there
            // fails later with its own message.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // removed meanwhile
                Err(e) => return Err(e),
            };
            if meta.is_file() {
                out.push(Entry {
                    path: entry.path(),
                    size: meta.len(),
                    mtime: mtime_of(&meta),
                    version: None,
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn stat(&self, path: &Path) -> io::Result<Entry> {
        let meta = fs::metadata(path)?;
        Ok(Entry {
            path: path.to_path_buf(),
            size: meta.len(),
            mtime: mtime_of(&meta),
            version: None,
        })
    }

    fn open(
        &self,
        path: &Path,
        _version: Option<&str>,
        _limit: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(path)?))
    }

    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool> {
        let id = |p: &Path| fs::metadata(p).map(|m| file_id(&m));
        if id(&a.path)?.is_some_and(|x| Some(x) == id(&b.path).ok().flatten()) {
            return Ok(true);
        }
        same_bytes(self, a, b)
    }

    fn get(&self, path: &Path) -> io::Result<Option<(Vec<u8>, Version)>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some((bytes, Version::Untracked))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn get_range(&self, path: &Path, start: u64, end: u64) -> io::Result<Bytes> {
        use std::io::{Seek, SeekFrom};
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(end.saturating_sub(start) as usize);
        f.take(end.saturating_sub(start)).read_to_end(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    fn local_file(&self, path: &Path) -> Option<PathBuf> {
        Some(path.to_path_buf())
    }

    fn put(&self, path: &Path, bytes: &[u8], expect: Expect) -> io::Result<Version> {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        fs::create_dir_all(&dir)?;
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let placed = if expect == Expect::Version(Version::Absent) {
            // Only if absent: a hard link fails when the name exists. Where hard links are not
            // supported, check then rename (the lake's lock keeps other writers out locally).
            match fs::hard_link(&tmp, path) {
                Ok(()) => fs::remove_file(&tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::remove_file(&tmp)?;
                    Err(e)
                }
                Err(_) if path.exists() => {
                    fs::remove_file(&tmp)?;
                    Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"))
                }
                Err(_) => fs::rename(&tmp, path),
            }
        } else {
            fs::rename(&tmp, path)
        };
        placed?;
        if let Ok(d) = File::open(&dir) {
            d.sync_all()?;
        }
        Ok(Version::Untracked)
    }

    fn delete(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn upload(&self, local: &Path, to: &Path) -> io::Result<()> {
        if local == to {
            return Ok(());
        }
        let dir = to.parent().unwrap_or(Path::new(".")).to_path_buf();
        fs::create_dir_all(&dir)?;
        let tmp = to.with_extension(format!("{}.tmp", std::process::id()));
        fs::copy(local, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, to)?;
        if let Ok(d) = File::open(&dir) {
            d.sync_all()?;
        }
        Ok(())
    }

    fn replace_files(
        &self,
        staged: &Path,
        target: &Path,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
        swap: Swap,
        guard: &dyn Fn() -> Result<()>,
    ) -> Result<Swapped> {
        guard()?;
        let parent = target.parent().unwrap_or(target).to_path_buf();
        if !target.exists() {
            if !names.is_empty() {
                fs::create_dir_all(&parent).map_err(|e| Error::output(&parent, e))?;
                fs::rename(staged, target).map_err(|e| Error::output(target, e))?;
                sync_dir(&parent)?;
            }
            return Ok(Swapped::Exchanged);
        }
        if swap == Swap::OneByOne {
            replace_file_by_file(staged, target, names, replaced)?;
            return Ok(Swapped::OneByOne(
                "the folder holds the lake's bookkeeping and cannot be exchanged".into(),
            ));
        }
        // A partition folder reached through a symbolic link is exchanged where it is (the link
        // stays), when that is on the staging folder's filesystem.
        let real = fs::symlink_metadata(target)
            .is_ok_and(|m| m.file_type().is_symlink())
            .then(|| fs::canonicalize(target).ok())
            .flatten();
        let folder = real.as_deref().unwrap_or(target);
        // Whatever of the partition folder this publish does not replace goes into the new folder
        // too, as hard links (files flowlake did not write, and folders with everything in them),
        // and the new folder takes the old one's owner and permissions.
        fs::create_dir_all(staged).map_err(|e| Error::output(staged, e))?;
        let exchanged = match link_contents(folder, staged, replaced) {
            Ok(()) => match exchange(staged, folder) {
                Ok(()) => Ok(folder),
                Err(_) if real.is_some() => exchange(staged, target)
                    .map(|()| target)
                    .map_err(|e| format!("the folder exchange failed ({e})")),
                Err(e) => Err(format!("the folder exchange failed ({e})")),
            },
            Err(Unlinkable::Mount(at)) => Err(format!(
                "{} is a mount point inside the partition folder",
                at.display()
            )),
            Err(Unlinkable::Io(at, e)) => return Err(Error::output(&at, e)),
        };
        match exchanged {
            Ok(at) => {
                // The one step a reader sees: the old folder left the lake as the new one entered
                // it; from the staging folder beside the lake neither is within a glob's reach.
                sync_dir(at.parent().unwrap_or(at))?;
                // `staged` now holds the old files: rescue any that arrived after the links.
                move_missing(staged, at, replaced)?;
                fs::remove_dir_all(staged).map_err(|e| Error::output(staged, e))?;
                Ok(Swapped::Exchanged)
            }
            Err(why) => {
                replace_file_by_file(staged, target, names, replaced)?;
                Ok(Swapped::OneByOne(why))
            }
        }
    }

    fn staging_root(&self, lake: &Path, meta_dir: &Path) -> StagingRoot {
        let inside = meta_dir.join("staging");
        match staging_beside(lake, meta_dir) {
            Ok(path) => StagingRoot {
                path,
                inside_lake: None,
                also: Some(inside),
            },
            Err(why) => StagingRoot {
                path: inside,
                inside_lake: Some(why),
                also: None,
            },
        }
    }

    fn lock(
        &self,
        lake: &Path,
        meta_dir: &Path,
        scope: &LockScope,
        holder: &str,
        _token: &str,
    ) -> Result<Lock> {
        locks::take_local(lake, meta_dir, scope, holder)
    }

    fn live_writers(&self, meta_dir: &Path) -> Result<Vec<String>> {
        locks::live_local_writers(meta_dir)
    }
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
fn staging_beside(lake: &Path, meta_dir: &Path) -> std::result::Result<PathBuf, String> {
    let real =
        fs::canonicalize(lake).map_err(|e| format!("the lake's path cannot be resolved ({e})"))?;
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err("the lake is the root folder".into());
    };
    let mut folder = std::ffi::OsString::from(".");
    folder.push(name);
    folder.push(".flowlake-staging");
    let beside = parent.join(folder);
    let created = match fs::create_dir(&beside) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) => {
            return Err(format!(
                "{} cannot be created ({e}; a user who may write the lake's parent folder stages \
                 there)",
                beside.display()
            ))
        }
    };
    let gone = |why: String| {
        if created {
            let _ = fs::remove_dir(&beside);
        }
        Err(why)
    };
    // A real folder (not a link), owned by the user of this run, whose probe folder renames into the
    // lake's bookkeeping folder.
    let meta = match fs::symlink_metadata(&beside) {
        Ok(meta) if meta.is_dir() => meta,
        _ => return gone(format!("{} is not a folder", beside.display())),
    };
    let probe = beside.join(format!(".probe-{}", std::process::id()));
    let moved = meta_dir.join(format!(".staging-probe-{}", std::process::id()));
    if let Err(e) = fs::create_dir(&probe) {
        return gone(format!("{} cannot be written ({e})", beside.display()));
    }
    let mine = owner(&meta) == fs::metadata(&probe).ok().as_ref().and_then(owner);
    let renamed = fs::rename(&probe, &moved);
    let _ = fs::remove_dir(&moved);
    let _ = fs::remove_dir(&probe);
    if !mine {
        return gone(format!(
            "{} belongs to another user (it could change what a run stages there)",
            beside.display()
        ));
    }
    if let Err(e) = renamed {
        return gone(format!(
            "a folder beside the lake does not rename into it ({e}): the lake is a mount point \
             (or a bind mount), so no folder beside it is on its filesystem; a folder below the \
             mount point as the lake stages outside it"
        ));
    }
    Ok(beside)
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

/// Why a folder's contents could not be linked into a new folder.
enum Unlinkable {
    /// A folder inside is another filesystem's mount point: its files cannot be linked, and an
    /// exchange would carry the mount out of the lake.
    Mount(PathBuf),
    /// An operation failed at this path.
    Io(PathBuf, io::Error),
}

/// Fills the new folder `to` with the contents of `from` that a publish keeps: every file for which
/// `replaced` is false and every folder (their whole trees), as hard links (copies where links fail;
/// symbolic links recreated), with the old folders' owners and permissions.
fn link_contents(
    from: &Path,
    to: &Path,
    replaced: &dyn Fn(&str) -> bool,
) -> std::result::Result<(), Unlinkable> {
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Unlinkable::Io(p, e)
    };
    let meta = fs::metadata(from).map_err(at(from))?;
    for entry in fs::read_dir(from).map_err(at(from))? {
        let entry = entry.map_err(at(from))?;
        let kind = entry.file_type().map_err(at(&entry.path()))?;
        let path = to.join(entry.file_name());
        if kind.is_dir() {
            let inner = entry.metadata().map_err(at(&entry.path()))?;
            if file_id(&inner).map(|(dev, _)| dev) != file_id(&meta).map(|(dev, _)| dev) {
                return Err(Unlinkable::Mount(entry.path()));
            }
            fs::create_dir(&path).map_err(at(&path))?;
            link_contents(&entry.path(), &path, &|_| false)?;
        } else if !replaced(&entry.file_name().to_string_lossy()) {
            link_entry(&entry.path(), &path, kind).map_err(at(&path))?;
        }
    }
    keep_attributes(&meta, to);
    Ok(())
}

/// Gives the folder `to` the owner, group and permissions (setgid included) of the folder `meta`
/// describes, as far as this user may: a partition folder keeps them through an exchange.
fn keep_attributes(meta: &fs::Metadata, to: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid())).is_err() {
            let _ = std::os::unix::fs::chown(to, None, Some(meta.gid()));
        }
    }
    let _ = fs::set_permissions(to, meta.permissions());
}

/// Links (or copies, where hard links fail) the file, or recreates the symbolic link, `from` at `to`.
fn link_entry(from: &Path, to: &Path, kind: fs::FileType) -> io::Result<()> {
    #[cfg(unix)]
    if kind.is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(from)?, to);
    }
    let _ = kind;
    fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(|_| ()))
}

/// Moves into the folder `new` what it lacks of the folder `old` (at any depth), except the files at
/// the top for which `skip` is true: after an exchange, a file delivered into the partition after its
/// links were made; after a stopped run, such a file left in its staging folder.
pub fn move_missing(old: &Path, new: &Path, skip: &dyn Fn(&str) -> bool) -> Result<()> {
    for entry in fs::read_dir(old).map_err(|e| Error::output(old, e))? {
        let entry = entry.map_err(|e| Error::output(old, e))?;
        let to = new.join(entry.file_name());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && skip(&entry.file_name().to_string_lossy()) {
            continue;
        }
        match fs::symlink_metadata(&to) {
            Ok(meta) if is_dir && meta.is_dir() => move_missing(&entry.path(), &to, &|_| false)?,
            Ok(_) => {}
            Err(_) => fs::rename(entry.path(), &to).map_err(|e| Error::output(&to, e))?,
        }
    }
    Ok(())
}

/// Where the atomic exchange is not available (not Linux, a filesystem without it, a mount point inside
/// the folder) or not wanted ([`Swap::OneByOne`]): the new files are renamed in one by one (each
/// rename atomic), then the stale ones removed, so a reader may see both for that moment; the
/// caller's journal repairs a replacement cut short.
fn replace_file_by_file(
    staged: &Path,
    dir: &Path,
    names: &[String],
    replaced: &dyn Fn(&str) -> bool,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    for name in names {
        let from = staged.join(name);
        let to = dir.join(name);
        fs::rename(&from, &to).map_err(|e| Error::output(&to, e))?;
    }
    let stale: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::output(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            replaced(&name) && !names.contains(&name)
        })
        .collect();
    for path in stale {
        fs::remove_file(&path).map_err(|e| Error::output(&path, e))?;
    }
    sync_dir(dir)
}

/// What tells two local files apart whatever their paths: device and inode.
fn file_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn mtime_of(meta: &fs::Metadata) -> Option<i64> {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// Atomically exchanges two folders (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no atomic folder exchange on this platform",
    ))
}

/// Bytes available to unprivileged writers on the file system holding `dir`.
#[cfg(unix)]
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
pub(crate) fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Makes the renames in `dir` durable; not every platform allows opening a folder.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    if let Ok(d) = File::open(dir) {
        d.sync_all().map_err(|e| Error::output(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_are_reported_for_a_real_folder() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert_eq!(free_bytes(&dir.path().join("missing")), None);
    }

    #[test]
    fn listing_skips_hidden_and_meta_folders_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "a/2024/01/01/x.log.gz",
            "a/_flowlake/y.log.gz",
            "a/.git/z.log",
            "b/keep.log",
        ] {
            let path = dir.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"").unwrap();
        }
        let all = LocalStore.list(dir.path(), &|_| true).unwrap().entries;
        let mut names: Vec<_> = all
            .iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["keep.log", "x.log.gz"]);
        let pruned = LocalStore
            .list(dir.path(), &|p| !p.ends_with("a"))
            .unwrap()
            .entries;
        assert_eq!(pruned.len(), 1);
        let missing = LocalStore
            .list(&dir.path().join("nope"), &|_| true)
            .unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let below = LocalStore.list_below(dir.path(), Hidden::Include).unwrap();
        assert_eq!(below.len(), 4);
        let below = LocalStore.list_below(dir.path(), Hidden::Skip).unwrap();
        assert_eq!(below.len(), 2);
        assert!(LocalStore
            .list_below(&dir.path().join("nope"), Hidden::Skip)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn writes_whole_and_creates_only_if_absent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m/x.json");
        assert!(LocalStore.get(&p).unwrap().is_none());
        LocalStore.put(&p, b"one", Expect::Any).unwrap();
        assert_eq!(LocalStore.get(&p).unwrap().unwrap().0, b"one");
        let lost = LocalStore
            .put(&p, b"two", Expect::Version(Version::Absent))
            .unwrap_err();
        assert!(super::super::is_conflict(&lost));
        assert_eq!(LocalStore.get(&p).unwrap().unwrap().0, b"one");
        assert_eq!(&LocalStore.get_range(&p, 1, 3).unwrap()[..], b"ne");
        LocalStore.delete(&p).unwrap();
        LocalStore.delete(&p).unwrap();
        assert!(LocalStore
            .list_dir(&dir.path().join("m"))
            .unwrap()
            .is_empty());
    }
}
