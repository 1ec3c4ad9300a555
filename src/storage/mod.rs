//! The storage seam: list and read inputs, stage and publish outputs.
//!
//! The pipeline only talks to a [`Source`] (list, open) and a [`Lake`] (stage a file, publish a
//! partition), so an object store can be added behind the same calls without forking the pipeline.
//! This module holds the local-filesystem implementation.
//!
//! Publishing is how readers are kept from ever seeing a partial file: output is written under
//! `<lake>/_flowlake/staging/` (a folder Hive, Trino and Spark skip, and which holds no `.parquet`
//! file once a run has ended), flushed to disk, then renamed into its partition folder, where the
//! rename replaces a file of the same name atomically. Files of an earlier build of the partition that
//! the new build does not replace are removed after the renames.

pub mod meta;
pub mod s3;
pub mod s3lock;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

use crate::convert::shard::Shard;
use crate::error::{Error, Result};
use crate::input::discover::{key_for_path, Day, InputFile};
use crate::lake::manifest::Manifest;
use crate::storage::meta::{LocalMeta, MetaStore, S3Meta};
use crate::storage::s3::{is_s3, S3Url, S3};
use crate::storage::s3lock::S3Lock;

/// One listed input object.
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

/// True for folder names that listing does not descend into (`_flowlake`, `.git`, Spark's `_temporary`).
fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Where input files come from.
pub trait Source: Sync {
    /// Lists every file under `root` (or `root` itself if it is a file), descending only into folders
    /// for which `keep_dir` is true. Paths are the root as given (made absolute, symbolic links not
    /// resolved) joined with the path below it. Only a root that cannot be listed is an error.
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> Result<Listing>;
    /// Opens one listed file for reading; with `version`, fails if the file is no longer that version.
    /// The caller reads at most `limit` bytes (what [`prefetch`](Source::prefetch) fetches is limited to
    /// that; a file opened without prefetching is read whole).
    fn open(
        &self,
        path: &Path,
        version: Option<&str>,
        limit: u64,
    ) -> io::Result<Box<dyn Read + Send>>;
    /// Size and modification time of one file, if it still exists (`NotFound` when it does not).
    fn stat(&self, path: &Path) -> io::Result<Entry>;
    /// Says which files are about to be opened (each up to `limit` bytes), so a remote source can
    /// fetch them concurrently; forgets what an earlier call fetched and was not opened.
    fn prefetch(&self, _files: &[&InputFile], _limit: u64) {}
    /// True when two listed files hold the same bytes (a copy of a tree next to the original).
    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool> {
        same_bytes(self, a, b)
    }
}

/// Compares two listed files byte by byte (after their sizes).
fn same_bytes<S: Source + ?Sized>(source: &S, a: &Entry, b: &Entry) -> io::Result<bool> {
    if a.size != b.size {
        return Ok(false);
    }
    let mut x = source.open(&a.path, a.version.as_deref(), u64::MAX)?;
    let mut y = source.open(&b.path, b.version.as_deref(), u64::MAX)?;
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
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// The local filesystem as a [`Source`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalFs;

impl Source for LocalFs {
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> Result<Listing> {
        let input_err = |source: io::Error| Error::Input {
            path: root.to_path_buf(),
            source,
        };
        // The root as typed, made absolute: never canonicalised, so the folders a symbolic link
        // points into do not become partition keys, and a linked day folder keeps its date.
        let root = std::path::absolute(root).map_err(input_err)?;
        if fs::metadata(&root).map_err(input_err)?.is_dir() {
            fs::read_dir(&root).map_err(input_err)?;
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
                        return Err(input_err(io::Error::other(message)));
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

    fn stat(&self, path: &Path) -> io::Result<Entry> {
        let meta = fs::metadata(path)?;
        Ok(Entry {
            path: path.to_path_buf(),
            size: meta.len(),
            mtime: mtime_of(&meta),
            version: None,
        })
    }
}

/// S3 as a [`Source`]: listing walks the key tree level by level (each level's prefixes listed
/// concurrently), so `keep_dir` prunes whole days outside `--from/--to` before they are listed;
/// [`prefetch`](Source::prefetch) downloads a wave of files concurrently, and every GET is conditional on
/// the ETag seen when listing.
#[derive(Debug)]
pub struct S3Source {
    s3: Arc<S3>,
    fetched: Mutex<HashMap<PathBuf, std::result::Result<bytes::Bytes, String>>>,
}

impl S3Source {
    pub fn new(s3: Arc<S3>) -> S3Source {
        S3Source {
            s3,
            fetched: Mutex::new(HashMap::new()),
        }
    }

    fn url(path: &Path) -> io::Result<S3Url> {
        S3Url::from_path(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not an s3:// URL", path.display()),
            )
        })
    }
}

fn entry_of(o: &crate::storage::s3::Object) -> Entry {
    Entry {
        path: o.url.to_path(),
        size: o.size,
        mtime: Some(o.mtime),
        version: o.etag.clone(),
    }
}

impl Source for S3Source {
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> Result<Listing> {
        let input_err = |e: crate::storage::s3::S3Error| Error::Input {
            path: root.to_path_buf(),
            source: e.into(),
        };
        let url = S3Source::url(root).map_err(|source| Error::Input {
            path: root.to_path_buf(),
            source,
        })?;
        let mut listing = Listing::default();
        let mut level = vec![url.clone()];
        let mut first = true;
        while !level.is_empty() {
            let mut next = Vec::new();
            for (dir, listed) in level.iter().zip(self.s3.list_dirs(&level)) {
                let (dirs, objects) = match listed {
                    Ok(listed) => listed,
                    Err(e) if first => return Err(input_err(e)),
                    Err(e) => {
                        // One prefix whose listing failed (after retries): named, the rest goes on.
                        listing.problems.push(ListProblem {
                            path: dir.to_path(),
                            message: format!("cannot be listed: {e}"),
                        });
                        continue;
                    }
                };
                if first && dirs.is_empty() && objects.is_empty() && !url.key.is_empty() {
                    // Not a prefix: perhaps one object.
                    let object = self.s3.head(&url).map_err(input_err)?;
                    listing.entries.push(entry_of(&object));
                }
                listing.entries.extend(objects.iter().map(entry_of));
                for d in dirs {
                    let name = d
                        .key
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default();
                    if is_hidden(name) {
                        listing.hidden.push(d.to_path());
                    } else if keep_dir(&d.to_path()) {
                        next.push(d);
                    }
                }
            }
            first = false;
            level = next;
        }
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    fn open(
        &self,
        path: &Path,
        version: Option<&str>,
        _limit: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        let prefetched = self
            .fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        let bytes = match prefetched {
            Some(Ok(bytes)) => bytes,
            Some(Err(message)) => return Err(io::Error::other(message)),
            None => {
                // Not prefetched (no listed size at hand, and S3 refuses a range of an empty
                // object): the whole object; the reader applies the limit.
                self.s3.get(&S3Source::url(path)?, version)?
            }
        };
        Ok(Box::new(io::Cursor::new(bytes)))
    }

    fn stat(&self, path: &Path) -> io::Result<Entry> {
        Ok(entry_of(&self.s3.head(&S3Source::url(path)?)?))
    }

    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool> {
        if a.size == b.size && a.version.is_some() && a.version == b.version {
            return Ok(true);
        }
        same_bytes(self, a, b)
    }

    fn prefetch(&self, files: &[&InputFile], limit: u64) {
        let wanted: Vec<(S3Url, Option<String>, Option<u64>)> = files
            .iter()
            .filter_map(|f| {
                let url = S3Url::from_path(&f.path)?;
                Some((url, f.version.clone(), (f.size > limit).then_some(limit)))
            })
            .collect();
        self.fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let results = self.s3.get_each(&wanted);
        let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        for ((url, _, _), result) in wanted.iter().zip(results) {
            fetched.insert(url.to_path(), result.map_err(|e| e.to_string()));
        }
    }
}

/// Local paths and `s3://` URLs side by side: each call goes to the source its path names.
#[derive(Debug)]
pub struct AnySource {
    s3: Option<S3Source>,
}

impl AnySource {
    /// A source for local paths, and for `s3://` URLs when `s3` is given.
    pub fn new(s3: Option<Arc<S3>>) -> AnySource {
        AnySource {
            s3: s3.map(S3Source::new),
        }
    }

    fn pick(&self, path: &Path) -> io::Result<&dyn Source> {
        if !is_s3(path) {
            return Ok(&LocalFs);
        }
        match &self.s3 {
            Some(s3) => Ok(s3),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "s3:// URL without an S3 client",
            )),
        }
    }
}

impl Source for AnySource {
    fn list(&self, root: &Path, keep_dir: &dyn Fn(&Path) -> bool) -> Result<Listing> {
        let source = self.pick(root).map_err(|source| Error::Input {
            path: root.to_path_buf(),
            source,
        })?;
        source.list(root, keep_dir)
    }

    fn open(
        &self,
        path: &Path,
        version: Option<&str>,
        limit: u64,
    ) -> io::Result<Box<dyn Read + Send>> {
        self.pick(path)?.open(path, version, limit)
    }

    fn stat(&self, path: &Path) -> io::Result<Entry> {
        self.pick(path)?.stat(path)
    }

    fn same_content(&self, a: &Entry, b: &Entry) -> io::Result<bool> {
        if is_s3(&a.path) == is_s3(&b.path) {
            return self.pick(&a.path)?.same_content(a, b);
        }
        same_bytes(self, a, b)
    }

    fn prefetch(&self, files: &[&InputFile], limit: u64) {
        if let Some(s3) = &self.s3 {
            let remote: Vec<&InputFile> =
                files.iter().copied().filter(|f| is_s3(&f.path)).collect();
            if !remote.is_empty() {
                s3.prefetch(&remote, limit);
            }
        }
    }
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

/// Name of the lake's bookkeeping folder (staging, rejects; skipped by Hive, Trino and Spark).
pub const META_DIR: &str = "_flowlake";

/// Suffix a staged file carries until the instant its partition is published. DuckDB's
/// `read_parquet('<lake>/**/*.parquet')`, the most common way to read a folder of Parquet, does not
/// skip `_flowlake/`: with the suffix it never meets a file still being written there.
pub const STAGED_SUFFIX: &str = ".staged";

/// The name a file has while it is staged.
fn staged_name(name: &str) -> String {
    format!("{name}{STAGED_SUFFIX}")
}

/// A file being written outside the partition folders.
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

/// A lake on the local filesystem: staging, publishing, bookkeeping paths.
///
/// Opening a lake takes its lock (`_flowlake/lock`, an OS file lock), held until the `Lake` is dropped
/// and released by the kernel however the process ends, so two runs never interleave on one lake and a
/// killed run leaves no stale lock. The shards of a sharded run share the lake lock (they never build
/// the same partition) and each holds its own shard lock, so a shard cannot run twice at once and an
/// unsharded run (or compact) waits for none of them but refuses while any is running. Each run also
/// locks its own staging folder; staging folders whose run is gone are removed on open. `verify` opens
/// no `Lake` and takes no lock: it only probes them ([`live_writers`]).
///
/// An `s3://` lake keeps the same contract where S3 allows it: files are staged on the local disk and
/// uploaded (in parts when large), so an object is visible only once complete; bookkeeping lives under
/// `<lake>/_flowlake/` as objects, written with conditional PUTs; the lock is an object created only if
/// absent and kept alive by a heartbeat (see [`S3Lock`]). S3 has no atomic folder exchange: while a
/// partition is published, a reader may see the new files next to old ones not yet deleted; the
/// journal mark makes the next run finish a publish that was cut short.
#[derive(Debug)]
pub struct Lake {
    root: PathBuf,
    staging: PathBuf,
    meta: Arc<dyn MetaStore>,
    s3: Option<(Arc<S3>, S3Url, S3Lock)>,
    _locks: Vec<File>,
}

impl Lake {
    /// Opens (creating if needed) the local lake at `root`, locks it (shared with the other shards of a
    /// sharded run), and makes a staging folder for `run_id`.
    pub fn open(root: &Path, run_id: &str, shard: Option<Shard>) -> Result<Lake> {
        Lake::open_with(root, run_id, shard, None)
    }

    /// [`open`](Self::open) for a local path or, with an S3 client, an `s3://` URL.
    pub fn open_with(
        root: &Path,
        run_id: &str,
        shard: Option<Shard>,
        s3: Option<Arc<S3>>,
    ) -> Result<Lake> {
        let holder = match shard {
            Some(s) => format!("flowlake run {run_id}, shard {s}"),
            None => format!("flowlake run {run_id}"),
        };
        if let Some(url) = S3Url::from_path(root) {
            let s3 = s3.ok_or_else(|| Error::Config("an s3:// lake needs an S3 client".into()))?;
            let meta_url = url.join(META_DIR);
            let lock = S3Lock::take(s3.clone(), &meta_url, &holder, run_id, shard, root)?;
            // Staging is local: a private folder under the system's temporary directory.
            let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
            let staging_root = std::env::temp_dir().join(format!("flowlake-staging-{user}"));
            remove_abandoned_staging(&staging_root)?;
            let staging_lock = lock_file(
                root,
                &staging_root.join(format!("{run_id}.lock")),
                &holder,
                LockKind::Exclusive,
            )?;
            let staging = staging_root.join(run_id);
            fs::create_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
            return Ok(Lake {
                root: root.to_path_buf(),
                staging,
                meta: Arc::new(S3Meta::new(s3.clone(), meta_url)),
                s3: Some((s3, url, lock)),
                _locks: vec![staging_lock],
            });
        }
        let meta = root.join(META_DIR);
        let mut locks = Vec::new();
        match shard {
            None => locks.push(lock_file(
                root,
                &meta.join("lock"),
                &holder,
                LockKind::Exclusive,
            )?),
            Some(s) => {
                locks.push(lock_file(
                    root,
                    &meta.join("lock"),
                    &holder,
                    LockKind::Shared,
                )?);
                // Shards split the partitions disjointly only among shards of one count: refuse while
                // shards of another count run.
                let counts = meta.join("locks");
                locks.push(lock_file(
                    root,
                    &counts.join(format!("count-{}", s.count)),
                    "",
                    LockKind::Shared,
                )?);
                for entry in fs::read_dir(&counts).into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let other = name
                        .strip_prefix("count-")
                        .and_then(|n| n.parse::<u32>().ok());
                    if let Some(n) = other.filter(|&n| n != s.count) {
                        if File::open(entry.path()).is_ok_and(|f| f.try_lock().is_err()) {
                            return Err(Error::Locked {
                                lake: root.to_path_buf(),
                                holder: format!("the shards of a run split {n} ways"),
                            });
                        }
                    }
                }
                let own = counts.join(format!("shard-{}-of-{}", s.index, s.count));
                locks.push(lock_file(root, &own, &holder, LockKind::Exclusive)?);
            }
        }
        let staging_root = meta.join("staging");
        remove_abandoned_staging(&staging_root)?;
        // Lock before creating: another shard's cleanup must never see this folder unlocked.
        locks.push(lock_file(
            root,
            &staging_root.join(format!("{run_id}.lock")),
            &holder,
            LockKind::Exclusive,
        )?);
        let staging = staging_root.join(run_id);
        fs::create_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
        Ok(Lake {
            root: root.to_path_buf(),
            staging,
            meta: Arc::new(LocalMeta::new(&meta)),
            s3: None,
            _locks: locks,
        })
    }

    /// The lake's manifest (in its bookkeeping folder or prefix, `<lake>/_flowlake`).
    pub fn manifest(&self) -> Manifest {
        Manifest::with_store(self.meta.clone())
    }

    /// Names and sizes of the flowlake part files now published in `partition`.
    pub fn published(&self, partition: &str) -> Vec<(String, u64)> {
        let Some((s3, url, _)) = &self.s3 else {
            return part_files(&self.root.join(partition));
        };
        let mut out: Vec<(String, u64)> = match s3.list_dir(&url.join(partition)) {
            Ok((_, objects)) => objects
                .into_iter()
                .filter_map(|o| {
                    let name = o.url.key.rsplit('/').next()?.to_string();
                    is_part_file(&name).then_some((name, o.size))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
    }

    /// Fails if this run no longer owns the lake's lock (S3: see [`S3Lock::check`]); a local lock
    /// cannot be lost. Called before writing the manifest.
    pub fn check_lock(&self) -> Result<()> {
        match &self.s3 {
            Some((_, _, lock)) => lock.check(),
            None => Ok(()),
        }
    }

    /// Keeps a bookkeeping file written locally (the rejects of a run) in the lake under `name`;
    /// returns where it now is.
    pub fn keep_meta_file(&self, local: &Path, name: &str) -> Result<PathBuf> {
        let Some((s3, url, _)) = &self.s3 else {
            return Ok(local.to_path_buf());
        };
        let target = url.join(META_DIR).join(name);
        s3.upload(local, &target)
            .map_err(|e| Error::output(target.to_path(), e.into()))?;
        Ok(target.to_path())
    }

    /// Path of a staged file (before [`publish`](Self::publish)).
    pub fn staged_file(&self, partition: &str, name: &str) -> PathBuf {
        self.staged_path(partition, name)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Local path where a bookkeeping file is written: under `<lake>/_flowlake/`, or for an S3 lake in
    /// the local staging folder until [`keep_meta_file`](Self::keep_meta_file) uploads it.
    pub fn meta_path(&self, name: &str) -> PathBuf {
        match &self.s3 {
            None => self.root.join(META_DIR).join(name),
            Some(_) => self.staging.join(META_DIR).join(name),
        }
    }

    fn staged_path(&self, partition: &str, name: &str) -> PathBuf {
        self.staging.join(partition).join(staged_name(name))
    }

    /// Gives a partition's staged files their final names, right before they are published (see
    /// [`STAGED_SUFFIX`]).
    fn finalize_staged(&self, partition: &str, names: &[String]) -> Result<()> {
        let dir = self.staging.join(partition);
        for name in names {
            let to = dir.join(name);
            fs::rename(self.staged_path(partition, name), &to)
                .map_err(|e| Error::output(&to, e))?;
        }
        Ok(())
    }

    /// Creates `name` for `partition` in the staging area.
    pub fn create_staged(&self, partition: &str, name: &str) -> Result<StagedFile> {
        let path = self.staged_path(partition, name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
        }
        let file = File::create(&path).map_err(|e| Error::output(&path, e))?;
        Ok(StagedFile { file, path })
    }

    /// Makes the staged `names` the content of `partition`, replacing its earlier flowlake files.
    ///
    /// On Linux the staged folder and the partition folder are exchanged in one atomic
    /// `renameat2(RENAME_EXCHANGE)`, so a reader sees either the old files or the new ones, never a
    /// mix, and a crash leaves one or the other. Files in the partition that flowlake did not write are
    /// hard-linked into the new folder first, so they survive. Where the exchange is not available the
    /// files are renamed one by one (each rename atomic) and the stale ones removed; the caller's
    /// journal makes the next run repair a partition whose swap was cut short.
    pub fn publish(&self, partition: &str, names: &[String]) -> Result<()> {
        self.publish_replacing(partition, names, &|name| is_part_file(name))
    }

    /// [`publish`](Self::publish), replacing the files for which `replaced` is true (instead of
    /// flowlake's part files): compaction replaces the small files it merged, whatever their names.
    /// A file that appears in the partition while the new folder is being put together (a delivery
    /// landing mid-swap) is moved into the new folder after the exchange, not lost with the old one.
    pub fn publish_replacing(
        &self,
        partition: &str,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        if let Some((s3, url, lock)) = &self.s3 {
            return publish_s3(
                s3,
                &url.join(partition),
                lock,
                &self.staging.join(partition),
                names,
                replaced,
            );
        }
        let staged = self.staging.join(partition);
        let target = self.root.join(partition);
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        // From here to the removal of the old files below, a `**/*.parquet` reader may see a
        // partition's files twice (the instant of the publish); never a partial file.
        self.finalize_staged(partition, names)?;
        if !target.exists() {
            if names.is_empty() {
                return Ok(());
            }
            fs::create_dir_all(&parent).map_err(|e| Error::output(&parent, e))?;
            fs::rename(&staged, &target).map_err(|e| Error::output(&target, e))?;
            return sync_dir(&parent);
        }
        fs::create_dir_all(&staged).map_err(|e| Error::output(&staged, e))?;
        let mut foreign_dirs = false;
        for entry in fs::read_dir(&target).map_err(|e| Error::output(&target, e))? {
            let entry = entry.map_err(|e| Error::output(&target, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                foreign_dirs = true;
            } else if !replaced(&name) {
                let to = staged.join(&name);
                fs::hard_link(entry.path(), &to)
                    .or_else(|_| fs::copy(entry.path(), &to).map(|_| ()))
                    .map_err(|e| Error::output(&to, e))?;
            }
        }
        if !foreign_dirs && exchange(&staged, &target).is_ok() {
            sync_dir(&parent)?;
            // `staged` now holds the old files: rescue any that arrived after the links were made.
            for entry in fs::read_dir(&staged).map_err(|e| Error::output(&staged, e))? {
                let entry = entry.map_err(|e| Error::output(&staged, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let to = target.join(&name);
                if !replaced(&name) && !to.exists() {
                    fs::rename(entry.path(), &to).map_err(|e| Error::output(&to, e))?;
                }
            }
            return fs::remove_dir_all(&staged).map_err(|e| Error::output(&staged, e));
        }
        self.publish_file_by_file(partition, names, replaced)
    }

    fn publish_file_by_file(
        &self,
        partition: &str,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let dir = self.root.join(partition);
        fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
        for name in names {
            let from = self.staging.join(partition).join(name);
            let to = dir.join(name);
            fs::rename(&from, &to).map_err(|e| Error::output(&to, e))?;
        }
        let stale: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(|e| Error::output(&dir, e))?
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
        sync_dir(&dir)
    }

    /// Removes this run's staging folder (and its lock file: the lock itself lasts until drop).
    pub fn remove_staging(&self) -> Result<()> {
        for result in [
            fs::remove_dir_all(&self.staging),
            fs::remove_file(self.staging.with_extension("lock")),
        ] {
            match result {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::output(&self.staging, e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Uploads the staged `names` of a partition to `dir`, then deletes the files they replace.
fn publish_s3(
    s3: &S3,
    dir: &S3Url,
    lock: &S3Lock,
    staged: &Path,
    names: &[String],
    replaced: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let out_err =
        |url: &S3Url, e: crate::storage::s3::S3Error| Error::output(url.to_path(), e.into());
    for name in names {
        lock.check()?;
        let target = dir.join(name);
        let local = staged.join(staged_name(name));
        s3.upload(&local, &target)
            .map_err(|e| out_err(&target, e))?;
        // Uploaded: the local copy is not needed any more (staging stays small however big the run).
        let _ = fs::remove_file(&local);
    }
    let (_, present) = s3.list_dir(dir).map_err(|e| out_err(dir, e))?;
    for object in present {
        let name = object.url.key.rsplit('/').next().unwrap_or_default();
        if replaced(name) && !names.iter().any(|n| n == name) {
            lock.check()?;
            s3.delete(&object.url)
                .map_err(|e| out_err(&object.url, e))?;
        }
    }
    lock.check()
}

/// Takes the lake's lock (`<lake>/_flowlake/lock`) for `holder`; fails with [`Error::Locked`] when another
/// process holds it. The lock lasts as long as the returned file is open.
pub fn lock(root: &Path, holder: &str) -> Result<File> {
    lock_file(
        root,
        &root.join(META_DIR).join("lock"),
        holder,
        LockKind::Exclusive,
    )
}

/// Who is writing the local lake at `root` now, found without writing anything (for `verify`, which
/// may run with read-only access): the holder text of `<lake>/_flowlake/lock` when a whole-lake run
/// (convert, compact) holds it, and of each `_flowlake/locks/shard-K-of-N` a running shard holds.
///
/// Each lock file is opened read-only and probed with a shared, non-blocking lock that is released at
/// once: it cannot be had while a run holds the file exclusively. (A run starting during that instant
/// finds the lock busy and says so; it never waits.) Missing files mean no run.
pub fn live_writers(root: &Path) -> Result<Vec<String>> {
    let meta = root.join(META_DIR);
    let mut lock_files = vec![meta.join("lock")];
    let shards = meta.join("locks");
    match fs::read_dir(&shards) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| cannot_probe(&shards, e))?;
                if entry.file_name().to_string_lossy().starts_with("shard-") {
                    lock_files.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot_probe(&shards, e)),
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
enum LockKind {
    Shared,
    Exclusive,
}

/// Locks `path` (creating it) for `holder`, whose name is written into it when the lock is exclusive.
fn lock_file(root: &Path, path: &Path, holder: &str, kind: LockKind) -> Result<File> {
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
        LockKind::Shared => file.try_lock_shared(),
        LockKind::Exclusive => file.try_lock(),
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
                lake: root.to_path_buf(),
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
            return lock_file(root, path, holder, kind);
        }
    }
    if kind == LockKind::Exclusive {
        file.set_len(0)
            .and_then(|_| writeln!(file, "pid {} {holder}", std::process::id()))
            .map_err(|e| Error::output(path, e))?;
    }
    Ok(file)
}

/// Removes the staging folders (and lock files) of runs that are no longer running: those whose
/// `<run>.lock` is not held.
fn remove_abandoned_staging(staging_root: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(staging_root) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir {
            // A lock file whose folder is gone: remove it once nobody holds it.
            let orphan = path.extension().is_some_and(|e| e == "lock")
                && !path.with_extension("").exists()
                && File::open(&path).is_ok_and(|f| f.try_lock().is_ok());
            if orphan {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        let lock_path = path.with_extension("lock");
        let alive = File::open(&lock_path).is_ok_and(|f| f.try_lock().is_err());
        if alive {
            continue;
        }
        // Another run may be removing the same folder: one already gone is fine.
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::output(&path, e)),
            _ => {}
        }
        let _ = fs::remove_file(&lock_path);
    }
    Ok(())
}

/// A run's id, unique on this machine: start time in nanoseconds and the process id.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", std::process::id())
}

/// Names and sizes of the flowlake part files in `dir`, in name order.
pub fn part_files(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = e.metadata().ok()?.len();
            is_part_file(&name).then_some((name, size))
        })
        .collect();
    out.sort();
    out
}

/// A Parquet file of a dataset folder.
#[derive(Debug, Clone)]
pub struct ParquetFile {
    pub name: String,
    pub bytes: u64,
}

/// The folders of a Parquet dataset under `root` (relative paths, `""` for the root itself) with
/// their `*.parquet` files in name order, skipping `_`/`.` folders (flowlake's bookkeeping, Spark's
/// and Hive's markers) as Hive readers do; restricted to days in `from..=to` when the folder names a day.
pub fn parquet_partitions(
    root: &Path,
    from: Option<Day>,
    to: Option<Day>,
) -> Result<BTreeMap<String, Vec<ParquetFile>>> {
    let mut out: BTreeMap<String, Vec<ParquetFile>> = BTreeMap::new();
    let walk = WalkDir::new(root).sort_by_file_name().into_iter();
    let walk = walk.filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        e.depth() == 0 || !(name.starts_with('_') || name.starts_with('.'))
    });
    for entry in walk {
        let entry = entry.map_err(|e| Error::Input {
            path: e.path().unwrap_or(root).to_path_buf(),
            source: e.into(),
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().is_file() || !name.ends_with(".parquet") {
            continue;
        }
        let Some(dir) = entry.path().parent() else {
            continue;
        };
        let rel = dir
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if from.is_some() || to.is_some() {
            let Some(key) = key_for_path(entry.path(), false) else {
                continue; // no day in the path: outside any range
            };
            if from.is_some_and(|f| key.day < f) || to.is_some_and(|t| key.day > t) {
                continue;
            }
        }
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.entry(rel)
            .or_default()
            .push(ParquetFile { name, bytes });
    }
    Ok(out)
}

/// Name of the `index`-th output file of a partition.
pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// True for names produced by [`part_file_name`].
pub fn is_part_file(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
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

fn sync_dir(dir: &Path) -> Result<()> {
    // Directory fsync makes the renames durable; not every platform allows opening a folder.
    if let Ok(d) = File::open(dir) {
        d.sync_all().map_err(|e| Error::output(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_file_name(3), "part-00003.parquet");
        assert!(is_part_file("part-00003.parquet"));
        assert!(!is_part_file("part-.parquet"));
        assert!(!is_part_file("other.parquet"));
        assert!(!is_part_file("part-00001.parquet.tmp"));
    }

    #[test]
    fn publish_replaces_and_removes_stale_parts() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path(), "run1", None).unwrap();
        let part = "year=2024/month=01/day=02";
        fs::create_dir_all(dir.path().join(part)).unwrap();
        fs::write(dir.path().join(part).join("part-00000.parquet"), b"old0").unwrap();
        fs::write(dir.path().join(part).join("part-00001.parquet"), b"old1").unwrap();
        fs::write(dir.path().join(part).join("notes.txt"), b"keep").unwrap();
        let mut f = lake.create_staged(part, "part-00000.parquet").unwrap();
        f.write_all(b"new0").unwrap();
        f.commit().unwrap();
        lake.publish(part, &["part-00000.parquet".to_string()])
            .unwrap();
        let p = dir.path().join(part);
        assert_eq!(fs::read(p.join("part-00000.parquet")).unwrap(), b"new0");
        assert!(!p.join("part-00001.parquet").exists());
        assert!(p.join("notes.txt").exists());
        lake.remove_staging().unwrap();
        assert!(!dir.path().join("_flowlake/staging/run1").exists());
    }

    #[test]
    fn shards_share_the_lake_but_not_their_shard_and_keep_each_others_staging() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let s = |k| Shard::new(k, 3);
        let a = Lake::open(root, "a", s(0)).unwrap();
        let b = Lake::open(root, "b", s(1)).unwrap();
        assert!(root.join("_flowlake/staging/a").is_dir());
        assert!(
            root.join("_flowlake/staging/b").is_dir(),
            "b's open kept a's staging and a's kept b's"
        );
        let again = Lake::open(root, "c", s(0)).unwrap_err().to_string();
        assert!(again.contains("shard 0/3"), "{again}");
        let other_count = Lake::open(root, "e", Shard::new(0, 4)).unwrap_err();
        assert!(
            other_count.to_string().contains("split 3 ways"),
            "{other_count}"
        );
        let whole = Lake::open(root, "d", None).unwrap_err();
        assert!(matches!(whole, Error::Locked { .. }), "{whole}");
        assert!(matches!(lock(root, "verify"), Err(Error::Locked { .. })));
        assert!(
            root.join("_flowlake/staging/a").is_dir(),
            "failed opens removed nothing"
        );
        drop(a);
        // a's staging is abandoned now (its run is gone): the next open removes it, not b's.
        let c = Lake::open(root, "c", s(2)).unwrap();
        assert!(!root.join("_flowlake/staging/a").exists());
        assert!(!root.join("_flowlake/staging/a.lock").exists());
        assert!(root.join("_flowlake/staging/b").is_dir());
        b.remove_staging().unwrap();
        drop((b, c));
        let whole = Lake::open(root, "d", None).unwrap();
        let left: Vec<_> = fs::read_dir(root.join("_flowlake/staging"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "only d's folder and lock: {left:?}");
        drop(whole);
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
        let all = LocalFs.list(dir.path(), &|_| true).unwrap().entries;
        let mut names: Vec<_> = all
            .iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["keep.log", "x.log.gz"]);
        let pruned = LocalFs
            .list(dir.path(), &|p| !p.ends_with("a"))
            .unwrap()
            .entries;
        assert_eq!(pruned.len(), 1);
        let missing = LocalFs
            .list(&dir.path().join("nope"), &|_| true)
            .unwrap_err();
        assert!(missing.to_string().contains("nope"));
    }
}
