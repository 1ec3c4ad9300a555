//! Storage: the one place that knows where bytes live, on a local disk or on S3.
//!
//! Two layers. Below, the object store: everything flowlake reads and writes goes through a [`Store`],
//! which lists a tree of inputs (pruned as it goes), reads an object whole, by range or as a stream,
//! writes small objects with a condition (create only if absent, replace only the version read),
//! uploads a staged file and deletes, and fails with one error type, [`io::Error`], whose kind says
//! what happened (`NotFound`; `AlreadyExists`: a conditional write lost, see [`is_conflict`];
//! `Unsupported`: an `s3://` URL in a store opened without S3). `local.rs` is the local side (fsync,
//! temporary names out of readers' sight, no UTF-8 assumption on names); `s3.rs` is the S3 client, on
//! `object_store`, and `s3store.rs` makes it a store.
//!
//! Above it, [`policy`]: how runs share a lake (locks, staging, replacing a partition's files, who is
//! writing), with a local and an S3 side. The object store knows nothing of it.
//!
//! [`open`] is the only place that picks the side for a path (local or `s3://`); above storage, code
//! asks a store what it can do ([`Store::local_file`]: "is this on this machine's disk?") and
//! [`is_local`] answers for URLs that are not store paths (where an engine will read the lake).
//! Storage speaks paths, entries and bytes: it knows no stage of the pipeline (no days, inputs or
//! manifests; a run that shares the lake says which member of which group it is,
//! [`policy::LockScope::Member`], and the policy names its locks from that) and imports nothing of
//! flowlake but `error`.

pub mod http;
mod local;
pub mod policy;
mod s3;
mod s3store;

use std::fmt::Debug;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
pub use local::LocalStore;
pub use s3::{Requests, S3Settings, S3Url};
pub use s3store::S3Store;

/// One listed file or object.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: Option<i64>,
    /// The listed version of an object (its S3 ETag); reading a changed object fails instead of
    /// mixing two versions. `None` on a local disk.
    pub version: Option<String>,
}

/// An entry below a listed root that could not be listed (a dangling symbolic link, a loop, a folder
/// the process may not read, a prefix whose listing failed).
#[derive(Debug, Clone)]
pub struct ListProblem {
    pub path: PathBuf,
    pub message: String,
}

/// What listing one root found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Files, sorted by path.
    pub entries: Vec<Entry>,
    /// Entries that could not be listed; the rest of the tree was.
    pub problems: Vec<ListProblem>,
    /// Folders not descended into because their name starts with `_` or `.`.
    pub hidden: Vec<PathBuf>,
}

/// Whether a recursive listing descends into `_` and `.` folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// Skip them, as Hive, Trino and Spark do (a lake's `_flowlake/`, Spark's `_temporary`, `.git`).
    Skip,
    /// List them too.
    Include,
}

/// True for folder names that listings skip under [`Hidden::Skip`].
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The version of an object as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// It did not exist.
    Absent,
    /// It existed with this ETag (S3).
    Tag(String),
    /// It existed; the store keeps no versions (local disk).
    Untracked,
}

/// The condition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is there.
    Any,
    /// Write only if the object is still at this version (`Absent`: only if it does not exist).
    Version(Version),
}

/// A conditional write lost: someone else wrote the object since it was read.
pub fn is_conflict(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AlreadyExists
}

/// Where flowlake's bytes live: objects, read and written whole or listed. Paths are local paths or
/// `s3://bucket/key` URLs held in a `PathBuf`; a store given a path it does not serve fails with
/// `InvalidInput`.
///
/// On a local disk a write is never half-visible (a complete temporary file renamed or linked into
/// place, then fsynced) and only "create if absent" is checked (the lake's OS lock keeps writers
/// apart); on S3 writes are conditional PUTs, so two writers are detected instead of interleaved.
pub trait Store: Debug + Send + Sync {
    /// Lists every file under `root` (or `root` itself if it is a file), descending only into folders
    /// for which `keep_dir` is true and skipping `_`/`.` folders. Paths are the root as given (made
    /// absolute, symbolic links not resolved) joined with the path below it. Entries that cannot be
    /// listed are [`Listing::problems`]; only a root that cannot be listed is an error.
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> io::Result<Listing>;
    /// Every file below `dir` at any depth, sorted by path; a folder that does not exist is empty. Any
    /// other failure is an error, never a shorter list.
    fn list_below(&self, dir: &Path, hidden: Hidden) -> io::Result<Vec<Entry>>;
    /// The files directly in `dir`, sorted by path; a folder that does not exist is empty.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<Entry>>;
    /// Size and modification time of one file, if it still exists (`NotFound` when it does not).
    fn stat(&self, path: &Path) -> io::Result<Entry>;
    /// Opens one listed file for reading; with `version`, fails if the file is no longer that version.
    /// The caller reads at most `limit` bytes (what [`prefetch`](Store::prefetch) fetches is limited to
    /// that; a file opened without prefetching is read whole).
    fn open(
        &self,
        path: &Path,
        version: Option<&str>,
        limit: u64,
    ) -> io::Result<Box<dyn Read + Send>>;
    /// Says which files are about to be opened (each up to `limit` bytes), so a remote store can
    /// fetch them concurrently; forgets what an earlier call fetched and was not opened.
    fn prefetch(&self, _files: &[&Entry], _limit: u64) {}
    /// True when two listed files hold the same bytes (a copy of a tree next to the original).
    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool>;
    /// A small object whole, with its version; `None` when it does not exist.
    fn get(&self, path: &Path) -> io::Result<Option<(Vec<u8>, Version)>>;
    /// Bytes `start..end` of an object.
    fn get_range(&self, path: &Path, start: u64, end: u64) -> io::Result<Bytes>;
    /// The path of `path` on this machine's disk, when it is a local file (read it directly).
    fn local_file(&self, path: &Path) -> Option<PathBuf>;

    /// Writes a small object whole (never half-written); returns its new version. A lost condition
    /// is an error of kind `AlreadyExists` (see [`is_conflict`]).
    fn put(&self, path: &Path, bytes: &[u8], expect: Expect) -> io::Result<Version>;
    /// Removes an object (a missing one is fine).
    fn delete(&self, path: &Path) -> io::Result<()>;
    /// Copies the complete local file `local` to `to` (visible only once complete).
    fn upload(&self, local: &Path, to: &Path) -> io::Result<()>;

    /// Requests sent so far, for stores that are paid by request.
    fn requests(&self) -> Option<Requests> {
        None
    }
}

/// The store for `paths`: the local disk, or (when any is an `s3://` URL) a store that serves both.
///
/// A path of the other kind met later (an `s3://` input a manifest remembers, in a run whose paths are
/// all local) fails with `Unsupported`: never `NotFound`, which would read as a deletion.
pub fn open(paths: &[&Path], settings: &S3Settings) -> Result<Arc<dyn Store>> {
    let s3 = if paths.iter().any(|p| s3::is_s3(p)) {
        Some(S3Store::new(settings).map_err(|e| Error::Config(e.to_string()))?)
    } else {
        None
    };
    Ok(Arc::new(Both { s3 }))
}

/// Bytes free for an unprivileged writer on the local file system holding `dir` (None when the
/// platform or the file system cannot say).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    local::free_bytes(dir)
}

/// True when `path` names a folder or file on this machine (not an object store URL).
pub fn is_local(path: &Path) -> bool {
    !s3::is_s3(path)
}

/// Local paths and `s3://` URLs side by side: each call goes to the side its path names.
#[derive(Debug)]
struct Both {
    /// Present when the paths the store was opened for include an `s3://` URL.
    s3: Option<S3Store>,
}

impl Both {
    fn pick(&self, path: &Path) -> &dyn Store {
        match (&self.s3, s3::is_s3(path)) {
            (_, false) => &LocalStore,
            (Some(s3), true) => s3,
            (None, true) => &Unserved,
        }
    }
}

impl Store for Both {
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> io::Result<Listing> {
        self.pick(root).list(root, keep_dir)
    }
    fn list_below(&self, dir: &Path, hidden: Hidden) -> io::Result<Vec<Entry>> {
        self.pick(dir).list_below(dir, hidden)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        self.pick(dir).list_dir(dir)
    }
    fn stat(&self, path: &Path) -> io::Result<Entry> {
        self.pick(path).stat(path)
    }
    fn open(
        &self,
        path: &Path,
        version: Option<&str>,
        limit: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.pick(path).open(path, version, limit)
    }
    fn prefetch(&self, files: &[&Entry], limit: u64) {
        let remote: Vec<&Entry> = files
            .iter()
            .copied()
            .filter(|f| s3::is_s3(&f.path))
            .collect();
        if let (Some(s3), false) = (&self.s3, remote.is_empty()) {
            s3.prefetch(&remote, limit);
        }
    }
    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool> {
        if s3::is_s3(&a.path) == s3::is_s3(&b.path) {
            return self.pick(&a.path).same_content(a, b);
        }
        same_bytes(self, a, b)
    }
    fn get(&self, path: &Path) -> io::Result<Option<(Vec<u8>, Version)>> {
        self.pick(path).get(path)
    }
    fn get_range(&self, path: &Path, start: u64, end: u64) -> io::Result<Bytes> {
        self.pick(path).get_range(path, start, end)
    }
    fn local_file(&self, path: &Path) -> Option<PathBuf> {
        self.pick(path).local_file(path)
    }
    fn put(&self, path: &Path, bytes: &[u8], expect: Expect) -> io::Result<Version> {
        self.pick(path).put(path, bytes, expect)
    }
    fn delete(&self, path: &Path) -> io::Result<()> {
        self.pick(path).delete(path)
    }
    fn upload(&self, local: &Path, to: &Path) -> io::Result<()> {
        self.pick(to).upload(local, to)
    }
    fn requests(&self) -> Option<Requests> {
        self.s3.as_ref().and_then(S3Store::requests)
    }
}

/// The side of an `s3://` URL in a store opened without an S3 client: every call fails with
/// `Unsupported`.
#[derive(Debug)]
struct Unserved;

fn unserved(_path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "s3:// URL without an S3 client")
}

impl Store for Unserved {
    fn list(&self, root: &Path, _: &dyn Fn(&Path) -> bool) -> io::Result<Listing> {
        Err(unserved(root))
    }
    fn list_below(&self, dir: &Path, _: Hidden) -> io::Result<Vec<Entry>> {
        Err(unserved(dir))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        Err(unserved(dir))
    }
    fn stat(&self, path: &Path) -> io::Result<Entry> {
        Err(unserved(path))
    }
    fn open(&self, path: &Path, _: Option<&str>, _: u64) -> io::Result<Box<dyn Read + Send>> {
        Err(unserved(path))
    }
    fn same_content(&self, a: &Entry, _: &Entry) -> io::Result<bool> {
        Err(unserved(&a.path))
    }
    fn get(&self, path: &Path) -> io::Result<Option<(Vec<u8>, Version)>> {
        Err(unserved(path))
    }
    fn get_range(&self, path: &Path, _: u64, _: u64) -> io::Result<Bytes> {
        Err(unserved(path))
    }
    fn local_file(&self, _: &Path) -> Option<PathBuf> {
        None
    }
    fn put(&self, path: &Path, _: &[u8], _: Expect) -> io::Result<Version> {
        Err(unserved(path))
    }
    fn delete(&self, path: &Path) -> io::Result<()> {
        Err(unserved(path))
    }
    fn upload(&self, _: &Path, to: &Path) -> io::Result<()> {
        Err(unserved(to))
    }
}

/// Compares two listed files byte by byte (after their sizes).
fn same_bytes<S: Store + ?Sized>(store: &S, a: &Entry, b: &Entry) -> io::Result<bool> {
    if a.size != b.size {
        return Ok(false);
    }
    let mut x = store.open(&a.path, a.version.as_deref(), u64::MAX)?;
    let mut y = store.open(&b.path, b.version.as_deref(), u64::MAX)?;
    let (mut bx, mut by) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut x, &mut bx)?;
        if n != read_full(&mut y, &mut by)? || bx[..n] != by[..n] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An `InvalidInput` error for a path a store does not serve.
fn not_mine(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not {what}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_store_refuses_s3_urls_without_calling_them_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&[dir.path()], &S3Settings::default()).unwrap();
        let url = Path::new("s3://bucket/logs/2024/01/01/a.log.gz");
        for err in [
            store.stat(url).unwrap_err(),
            store.get(url).unwrap_err(),
            store.list_dir(url).unwrap_err(),
        ] {
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        }
        assert!(store.local_file(url).is_none());
        assert!(store.requests().is_none());
        // Local paths still work.
        std::fs::write(dir.path().join("x"), b"abc").unwrap();
        assert_eq!(store.stat(&dir.path().join("x")).unwrap().size, 3);
    }
}
