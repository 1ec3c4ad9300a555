//! Where a lake's bookkeeping lives (`<lake>/_flowlake/`: manifest entries, journal marks, `lake.json`):
//! small whole objects, read, written whole, listed and removed, on a local disk or on S3.
//!
//! A write can be conditional ([`Expect`]): "only if absent" or "only if still the version I read". On
//! S3 that is a conditional PUT, which is how concurrent writers are detected instead of silently
//! interleaved; on a local disk the lake's OS lock already keeps writers apart, so only "only if
//! absent" is checked (by linking a complete temporary file into place).

use std::fmt::Debug;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::storage::s3::{S3Error, S3Url, S3};

/// The version of a bookkeeping object as read.
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

/// Small objects under a lake's `_flowlake/`, addressed by relative `/`-separated names.
pub trait MetaStore: Debug + Send + Sync {
    /// The object's bytes and version, or `None` if it does not exist.
    fn read(&self, name: &str) -> io::Result<Option<(Vec<u8>, Version)>>;
    /// Writes the object whole (never half-written); returns its new version. A lost condition is an
    /// error of kind `AlreadyExists` (see [`is_conflict`]).
    fn write(&self, name: &str, bytes: &[u8], expect: Expect) -> io::Result<Version>;
    /// Removes the object (a missing one is fine).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Names of every object under `dir`, relative to `dir`, sorted.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Where the store is, for messages.
    fn location(&self, name: &str) -> PathBuf;
}

/// `<lake>/_flowlake/` on a local disk.
#[derive(Debug, Clone)]
pub struct LocalMeta {
    dir: PathBuf,
}

impl LocalMeta {
    pub fn new(dir: &Path) -> LocalMeta {
        LocalMeta {
            dir: dir.to_path_buf(),
        }
    }
}

impl MetaStore for LocalMeta {
    fn read(&self, name: &str) -> io::Result<Option<(Vec<u8>, Version)>> {
        match fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some((bytes, Version::Untracked))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, name: &str, bytes: &[u8], expect: Expect) -> io::Result<Version> {
        let path = self.dir.join(name);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&dir)?;
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let placed = if expect == Expect::Version(Version::Absent) {
            // Only if absent: a hard link fails when the name exists. Where hard links are not
            // supported, check then rename (the lake's lock keeps other writers out locally).
            match fs::hard_link(&tmp, &path) {
                Ok(()) => fs::remove_file(&tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::remove_file(&tmp)?;
                    Err(e)
                }
                Err(_) if path.exists() => {
                    fs::remove_file(&tmp)?;
                    Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists"))
                }
                Err(_) => fs::rename(&tmp, &path),
            }
        } else {
            fs::rename(&tmp, &path)
        };
        placed?;
        if let Ok(d) = File::open(&dir) {
            d.sync_all()?;
        }
        Ok(Version::Untracked)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let root = self.dir.join(dir);
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&root) {
            let entry = match entry {
                Ok(e) => e,
                // No folder yet (or one removed while listing): nothing there. Any other failure (a
                // folder that cannot be read) is an error, never an empty listing.
                Err(e)
                    if e.io_error()
                        .is_some_and(|e| e.kind() == io::ErrorKind::NotFound) =>
                {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(rel) = entry
                .path()
                .strip_prefix(&root)
                .ok()
                .and_then(|p| p.to_str())
            else {
                continue;
            };
            if !rel.ends_with(".tmp") {
                out.push(rel.replace('\\', "/"));
            }
        }
        out.sort();
        Ok(out)
    }

    fn location(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// `<lake>/_flowlake/` on S3.
#[derive(Debug, Clone)]
pub struct S3Meta {
    s3: Arc<S3>,
    dir: S3Url,
}

impl S3Meta {
    pub fn new(s3: Arc<S3>, dir: S3Url) -> S3Meta {
        S3Meta { s3, dir }
    }
}

impl MetaStore for S3Meta {
    fn read(&self, name: &str) -> io::Result<Option<(Vec<u8>, Version)>> {
        match self.s3.get_tagged(&self.dir.join(name)) {
            Ok((bytes, tag)) => Ok(Some((
                bytes.to_vec(),
                tag.map_or(Version::Untracked, Version::Tag),
            ))),
            Err(S3Error::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn write(&self, name: &str, bytes: &[u8], expect: Expect) -> io::Result<Version> {
        let condition = match expect {
            Expect::Any | Expect::Version(Version::Untracked) => None,
            Expect::Version(Version::Absent) => Some(None),
            Expect::Version(Version::Tag(t)) => Some(Some(t)),
        };
        let tag = self.s3.put(
            &self.dir.join(name),
            Bytes::copy_from_slice(bytes),
            condition,
        )?;
        Ok(tag.map_or(Version::Untracked, Version::Tag))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        Ok(self.s3.delete(&self.dir.join(name))?)
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let prefix = self.dir.join(dir);
        let mut out: Vec<String> = self
            .s3
            .list_all(&prefix)?
            .into_iter()
            .filter_map(|o| {
                o.url
                    .key
                    .strip_prefix(&prefix.key)
                    .map(|r| r.trim_start_matches('/').to_string())
            })
            .filter(|r| !r.is_empty())
            .collect();
        out.sort();
        Ok(out)
    }

    fn location(&self, name: &str) -> PathBuf {
        self.dir.join(name).to_path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_writes_whole_lists_and_creates_only_if_absent() {
        let dir = tempfile::tempdir().unwrap();
        let m = LocalMeta::new(dir.path());
        assert_eq!(m.read("a/b.json").unwrap(), None);
        m.write("a/b.json", b"1", Expect::Any).unwrap();
        m.write("a/c/d.json", b"2", Expect::Any).unwrap();
        assert_eq!(m.read("a/b.json").unwrap().unwrap().0, b"1");
        assert_eq!(m.list("a").unwrap(), ["b.json", "c/d.json"]);
        let lost = m
            .write("a/b.json", b"3", Expect::Version(Version::Absent))
            .unwrap_err();
        assert!(is_conflict(&lost), "{lost}");
        assert_eq!(m.read("a/b.json").unwrap().unwrap().0, b"1");
        m.remove("a/b.json").unwrap();
        m.remove("a/b.json").unwrap();
        assert_eq!(m.list("a").unwrap(), ["c/d.json"]);
        assert_eq!(m.list("missing").unwrap(), Vec::<String>::new());
    }
}
