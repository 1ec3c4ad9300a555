//! The local disk as a [`Store`]: directory walks that go on past one bad entry, and writes that are
//! never half-visible (a complete, fsynced temporary file renamed or linked into place).
//!
//! Names are paths, never assumed to be UTF-8; a file reached through two symbolic links is listed once.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use walkdir::WalkDir;

use super::{is_hidden, same_bytes, Entry, Expect, Hidden, ListProblem, Listing, Store, Version};

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
}

/// What tells two local files apart whatever their paths: device and inode.
pub(super) fn file_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
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
