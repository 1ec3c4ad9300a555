//! S3 as a [`Store`]: the object operations over the client of `s3.rs`.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::s3::{Object, Requests, S3Error, S3Result, S3Settings, S3Url, S3};
use super::{is_hidden, same_bytes, Entry, Expect, Hidden, ListProblem, Listing, Store, Version};

/// S3 as a [`Store`]: listing walks the key tree level by level (each level's prefixes listed
/// concurrently), so `keep_dir` prunes whole days before they are listed; [`prefetch`](Store::prefetch)
/// downloads a wave of files concurrently, and every GET of a listed file is conditional on the ETag
/// seen when listing. Files bound for the lake are staged on the local disk and uploaded (in parts
/// when large), so an object is visible only once complete.
#[derive(Debug)]
pub struct S3Store {
    s3: Arc<S3>,
    /// What the last [`prefetch`](Store::prefetch) got of each file, taken out by its
    /// [`open`](Store::open): the bytes, or the GET's error, which `open` returns as an
    /// [`std::io::ErrorKind::Other`] error with the GET's message (`NotFound` for a missing object).
    fetched: Mutex<HashMap<PathBuf, S3Result<Bytes>>>,
}

impl S3Store {
    /// A store with its own client (`settings`: an S3-compatible endpoint).
    pub fn new(settings: &S3Settings) -> S3Result<S3Store> {
        Ok(S3Store {
            s3: Arc::new(S3::new(settings.clone())?),
            fetched: Mutex::new(HashMap::new()),
        })
    }

    /// The client, for the tests that check what requests a run sends.
    pub fn client(&self) -> &S3 {
        &self.s3
    }
}

fn url_of(path: &FsPath) -> std::io::Result<S3Url> {
    S3Url::from_path(path).ok_or_else(|| super::not_mine(path, "an s3:// URL"))
}

fn entry_of(o: &Object) -> Entry {
    Entry {
        path: o.url.to_path(),
        size: o.size,
        mtime: Some(o.mtime),
        version: o.etag.clone(),
    }
}

impl Store for S3Store {
    fn list(&self, root: &FsPath, keep_dir: &dyn Fn(&FsPath) -> bool) -> std::io::Result<Listing> {
        let url = url_of(root)?;
        let mut listing = Listing::default();
        let mut level = vec![url.clone()];
        let mut first = true;
        while !level.is_empty() {
            let mut next = Vec::new();
            for (dir, listed) in level.iter().zip(self.s3.list_dirs(&level)) {
                let (dirs, objects) = match listed {
                    Ok(listed) => listed,
                    Err(e) if first => return Err(e.into()),
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
                    let object = self.s3.head(&url)?;
                    listing.entries.push(entry_of(&object));
                }
                listing.entries.extend(objects.iter().map(entry_of));
                for d in dirs {
                    let name = d.key.trim_end_matches('/').rsplit('/').next();
                    if name.is_some_and(is_hidden) {
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

    fn list_below(&self, dir: &FsPath, hidden: Hidden) -> std::io::Result<Vec<Entry>> {
        let url = url_of(dir)?;
        let mut out: Vec<Entry> = self
            .s3
            .list_all(&url)?
            .iter()
            .filter(|o| {
                let rel = o.url.key.strip_prefix(&url.key).unwrap_or(&o.url.key);
                let rel = rel.trim_start_matches('/');
                let folders = rel.rsplit_once('/').map_or("", |(d, _)| d);
                hidden == Hidden::Include || !folders.split('/').any(is_hidden)
            })
            .map(entry_of)
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn list_dir(&self, dir: &FsPath) -> std::io::Result<Vec<Entry>> {
        let (_, objects) = self.s3.list_dir(&url_of(dir)?)?;
        let mut out: Vec<Entry> = objects.iter().map(entry_of).collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn stat(&self, path: &FsPath) -> std::io::Result<Entry> {
        Ok(entry_of(&self.s3.head(&url_of(path)?)?))
    }

    fn open(
        &self,
        path: &FsPath,
        version: Option<&str>,
        _limit: u64,
    ) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        let prefetched = self
            .fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        let bytes = match prefetched {
            Some(Ok(bytes)) => bytes,
            // A missing object keeps its kind (it was deleted since it was listed).
            Some(Err(S3Error::NotFound)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    S3Error::NotFound,
                ))
            }
            Some(Err(failed)) => return Err(std::io::Error::other(failed)),
            None => {
                // Not prefetched (no listed size at hand, and S3 refuses a range of an empty
                // object): the whole object; the reader applies the limit.
                self.s3.get(&url_of(path)?, version)?
            }
        };
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    fn prefetch(&self, files: &[&Entry], limit: u64) {
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
            fetched.insert(url.to_path(), result);
        }
    }

    fn same_content(&self, a: &Entry, b: &Entry) -> std::io::Result<bool> {
        if a.size == b.size && a.version.is_some() && a.version == b.version {
            return Ok(true);
        }
        same_bytes(self, a, b)
    }

    fn get(&self, path: &FsPath) -> std::io::Result<Option<(Vec<u8>, Version)>> {
        match self.s3.get_tagged(&url_of(path)?) {
            Ok((bytes, tag)) => Ok(Some((
                bytes.to_vec(),
                tag.map_or(Version::Untracked, Version::Tag),
            ))),
            Err(S3Error::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn get_range(&self, path: &FsPath, start: u64, end: u64) -> std::io::Result<Bytes> {
        Ok(self.s3.get_range(&url_of(path)?, start, end)?)
    }

    fn local_file(&self, _path: &FsPath) -> Option<PathBuf> {
        None
    }

    fn put(&self, path: &FsPath, bytes: &[u8], expect: Expect) -> std::io::Result<Version> {
        let condition = match expect {
            Expect::Any | Expect::Version(Version::Untracked) => None,
            Expect::Version(Version::Absent) => Some(None),
            Expect::Version(Version::Tag(t)) => Some(Some(t)),
        };
        let tag = self
            .s3
            .put(&url_of(path)?, Bytes::copy_from_slice(bytes), condition)?;
        Ok(tag.map_or(Version::Untracked, Version::Tag))
    }

    fn delete(&self, path: &FsPath) -> std::io::Result<()> {
        Ok(self.s3.delete(&url_of(path)?)?)
    }

    fn upload(&self, local: &FsPath, to: &FsPath) -> std::io::Result<()> {
        Ok(self.s3.upload(local, &url_of(to)?)?)
    }

    fn requests(&self) -> Option<Requests> {
        Some(self.s3.counts.snapshot())
    }
}
