//! The read side of a lake for `verify`, `compact` and `ddl`: its Parquet files by partition folder,
//! their footers and their contents, on a local disk or under an `s3://` prefix.
//!
//! On S3 a footer costs two ranged GETs (the 8-byte tail, then the metadata), never the whole file;
//! a file's contents are downloaded whole only when `compact` rewrites it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, Result};
use crate::input::discover::{key_for_path, Day};
use crate::lake::manifest::Manifest;
use crate::storage::meta::S3Meta;
use crate::storage::s3::{S3Url, S3};
use crate::storage::{parquet_partitions, ParquetFile, META_DIR};

/// A lake (or any Hive-style Parquet dataset) to read.
#[derive(Debug, Clone)]
pub enum Dataset {
    Local(PathBuf),
    S3(Arc<S3>, S3Url),
}

impl Dataset {
    /// The dataset at `root`: a local folder (which must exist) or, with a client, an `s3://` URL.
    pub fn open(root: &Path, s3: Option<Arc<S3>>) -> Result<Dataset> {
        if let Some(url) = S3Url::from_path(root) {
            let s3 = s3.ok_or_else(|| Error::Config("an s3:// lake needs an S3 client".into()))?;
            return Ok(Dataset::S3(s3, url));
        }
        if !root.is_dir() {
            return Err(Error::Input {
                path: root.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such lake folder"),
            });
        }
        Ok(Dataset::Local(root.to_path_buf()))
    }

    /// Where a file of a partition is (a path or an `s3://` URL), for messages and manifests.
    pub fn file(&self, partition: &str, name: &str) -> PathBuf {
        match self {
            Dataset::Local(root) => root.join(partition).join(name),
            Dataset::S3(_, url) => url.join(partition).join(name).to_path(),
        }
    }

    /// The folders holding `*.parquet` files (relative, `""` for the root), with their files in name
    /// order, skipping `_`/`.` folders; with `from`/`to`, only folders whose path names a day in range.
    pub fn partitions(
        &self,
        from: Option<Day>,
        to: Option<Day>,
    ) -> Result<BTreeMap<String, Vec<ParquetFile>>> {
        let (s3, url) = match self {
            Dataset::Local(root) => return parquet_partitions(root, from, to),
            Dataset::S3(s3, url) => (s3, url),
        };
        let objects = s3.list_all(url).map_err(|e| Error::Input {
            path: url.to_path(),
            source: e.into(),
        })?;
        let mut out: BTreeMap<String, Vec<ParquetFile>> = BTreeMap::new();
        for o in objects {
            let rel = o
                .url
                .key
                .strip_prefix(&url.key)
                .unwrap_or(&o.url.key)
                .trim_start_matches('/');
            let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            let hidden = dir
                .split('/')
                .any(|c| c.starts_with('_') || c.starts_with('.'));
            if hidden || !name.ends_with(".parquet") {
                continue;
            }
            if from.is_some() || to.is_some() {
                let Some(key) = key_for_path(&o.url.to_path(), false) else {
                    continue;
                };
                if from.is_some_and(|f| key.day < f) || to.is_some_and(|t| key.day > t) {
                    continue;
                }
            }
            out.entry(dir.to_string()).or_default().push(ParquetFile {
                name: name.to_string(),
                bytes: o.size,
            });
        }
        for files in out.values_mut() {
            files.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(out)
    }

    /// The Parquet files directly in one partition folder, in name order.
    pub fn files_in(&self, partition: &str) -> Result<Vec<ParquetFile>> {
        let mut out: Vec<ParquetFile> = match self {
            Dataset::Local(root) => std::fs::read_dir(root.join(partition))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let bytes = e.metadata().ok().filter(|m| m.is_file())?.len();
                    name.ends_with(".parquet")
                        .then_some(ParquetFile { name, bytes })
                })
                .collect(),
            Dataset::S3(s3, url) => {
                let dir = url.join(partition);
                let (_, objects) = s3.list_dir(&dir).map_err(|e| Error::Input {
                    path: dir.to_path(),
                    source: e.into(),
                })?;
                objects
                    .into_iter()
                    .filter_map(|o| {
                        let name = o.url.key.rsplit('/').next()?.to_string();
                        name.ends_with(".parquet").then_some(ParquetFile {
                            name,
                            bytes: o.size,
                        })
                    })
                    .collect()
            }
        };
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The lake's manifest (read-only use: `verify`, a compact dry run).
    pub fn manifest(&self) -> Manifest {
        match self {
            Dataset::Local(root) => Manifest::new(&root.join(META_DIR)),
            Dataset::S3(s3, url) => {
                Manifest::with_store(Arc::new(S3Meta::new(s3.clone(), url.join(META_DIR))))
            }
        }
    }

    /// A file's contents for reading (local: the open file; S3: downloaded whole).
    pub fn content(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<Content, String> {
        match self {
            Dataset::Local(_) => File::open(self.file(partition, &file.name))
                .map(Content::File)
                .map_err(|e| format!("cannot open: {e}")),
            Dataset::S3(s3, url) => s3
                .get(&url.join(partition).join(&file.name), None)
                .map(Content::Bytes)
                .map_err(|e| format!("cannot download: {e}")),
        }
    }

    /// A file's footer.
    pub fn footer(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<ParquetMetaData, String> {
        let parse = |r: &dyn Fn() -> parquet::errors::Result<ParquetMetaData>| {
            r().map_err(|e| format!("not a readable Parquet file: {e}"))
        };
        match self {
            Dataset::Local(_) => {
                let f = File::open(self.file(partition, &file.name))
                    .map_err(|e| format!("cannot open: {e}"))?;
                parse(&|| ParquetMetaDataReader::new().parse_and_finish(&f))
            }
            Dataset::S3(s3, url) => {
                let remote = Remote {
                    s3: s3.clone(),
                    url: url.join(partition).join(&file.name),
                    size: file.bytes,
                };
                parse(&|| ParquetMetaDataReader::new().parse_and_finish(&remote))
            }
        }
    }

    /// A file's Arrow schema (from its footer).
    pub fn schema(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<arrow::datatypes::SchemaRef, String> {
        let footer = self.footer(partition, file)?;
        let meta = ArrowReaderMetadata::try_new(Arc::new(footer), Default::default())
            .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        Ok(meta.schema().clone())
    }
}

/// A Parquet file to read batches from.
#[derive(Debug)]
pub enum Content {
    File(File),
    Bytes(Bytes),
}

impl Length for Content {
    fn len(&self) -> u64 {
        match self {
            Content::File(f) => Length::len(f),
            Content::Bytes(b) => Length::len(b),
        }
    }
}

impl ChunkReader for Content {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            Content::File(f) => Box::new(f.get_read(start)?),
            Content::Bytes(b) => Box::new(b.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            Content::File(f) => f.get_bytes(start, length),
            Content::Bytes(b) => b.get_bytes(start, length),
        }
    }
}

/// An S3 object read by ranges (footers only: two small GETs).
struct Remote {
    s3: Arc<S3>,
    url: S3Url,
    size: u64,
}

impl Length for Remote {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for Remote {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        Ok(self
            .get_bytes(start, (self.size - start.min(self.size)) as usize)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.s3
            .get_range(&self.url, start, start + length as u64)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(std::io::Error::from(e))))
    }
}
