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
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};

use crate::date::Day;
use crate::error::{Error, Result};
use crate::lake::partition::{key_for_path, Grain};
use crate::lake::META_DIR;
use crate::storage::{policy, Hidden, Store};

/// Rows per batch when a lake file is read back (compact, carry-over).
pub const READ_BATCH_ROWS: usize = 64 * 1024;

/// A Parquet file of a dataset folder.
#[derive(Debug, Clone)]
pub struct ParquetFile {
    pub name: String,
    pub bytes: u64,
}

/// The Parquet files found under a dataset's root.
#[derive(Debug, Default)]
pub struct Scan {
    /// Folders (relative, `""` for the root) outside `_`/`.` folders, with their files (not named
    /// `_`/`.`) in name order.
    pub partitions: BTreeMap<String, Vec<ParquetFile>>,
    /// `*.parquet` files with a `_`/`.` name or in a `_`/`.` folder (path, bytes), when asked for.
    pub hidden: Vec<(PathBuf, u64)>,
}

/// A lake (or any Hive-style Parquet dataset) to read, in its store.
#[derive(Debug, Clone)]
pub struct Dataset {
    store: Arc<dyn Store>,
    root: PathBuf,
}

/// Why one file of a dataset could not be read (the run goes on past it).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("cannot download: {0}")]
    Download(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    NotParquet(#[source] parquet::errors::ParquetError),
}

impl Dataset {
    /// The dataset at `root` in `store`. A local folder must exist (an S3 prefix need not).
    pub fn open(store: Arc<dyn Store>, root: &Path) -> Result<Dataset> {
        if let Some(local) = store.local_file(root) {
            if !local.is_dir() {
                return Err(Error::Input {
                    path: root.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such lake folder",
                    ),
                });
            }
        }
        Ok(Dataset {
            store,
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Where a file of a partition is (a path or an `s3://` URL), for messages and manifests.
    pub fn file(&self, partition: &str, name: &str) -> PathBuf {
        self.root.join(partition).join(name)
    }

    /// The folders holding `*.parquet` files (relative, `""` for the root), with their files in name
    /// order, skipping `_`/`.` folders; with `from`/`to`, only folders whose path names a day in range.
    pub fn partitions(
        &self,
        from: Option<Day>,
        to: Option<Day>,
    ) -> Result<BTreeMap<String, Vec<ParquetFile>>> {
        Ok(self.scan(Hidden::Skip, from, to)?.partitions)
    }

    /// Every file a `<root>/**/*.parquet` glob reads (DuckDB's does not skip `_` or `.` names): the
    /// partitions as [`partitions`](Self::partitions) gives them, and the files with a `_`/`.` name or
    /// in a `_`/`.` folder ([`Scan::hidden`]), which Hive, Trino and Spark skip.
    pub fn glob(&self) -> Result<Scan> {
        self.scan(Hidden::Include, None, None)
    }

    fn scan(&self, hidden: Hidden, from: Option<Day>, to: Option<Day>) -> Result<Scan> {
        let entries = self
            .store
            .list_below(&self.root, hidden)
            .map_err(|source| Error::Input {
                path: self.root.clone(),
                source,
            })?;
        let mut found = Scan::default();
        let out = &mut found.partitions;
        for e in entries {
            let Some(name) = e.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            if !name.ends_with(".parquet") {
                continue;
            }
            let hidden_part = e.path.strip_prefix(&self.root).is_ok_and(|below| {
                below
                    .iter()
                    .any(|part| crate::storage::is_hidden(&part.to_string_lossy()))
            });
            if hidden_part {
                found.hidden.push((e.path.clone(), e.size));
                continue;
            }
            let dir = e
                .path
                .parent()
                .and_then(|d| d.strip_prefix(&self.root).ok())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if from.is_some() || to.is_some() {
                let Some(key) = key_for_path(&e.path, Grain::Day) else {
                    continue; // no day in the path: outside any range
                };
                if from.is_some_and(|f| key.day < f) || to.is_some_and(|t| key.day > t) {
                    continue;
                }
            }
            out.entry(dir).or_default().push(ParquetFile {
                name,
                bytes: e.size,
            });
        }
        for files in out.values_mut() {
            files.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(found)
    }

    /// The Parquet files directly in one partition folder, in name order.
    pub fn files_in(&self, partition: &str) -> Result<Vec<ParquetFile>> {
        let dir = self.root.join(partition);
        let entries = self.store.list_dir(&dir).map_err(|source| Error::Input {
            path: dir.clone(),
            source,
        })?;
        let mut out: Vec<ParquetFile> = entries
            .into_iter()
            .filter_map(|e| {
                let name = e.path.file_name()?.to_string_lossy().into_owned();
                name.ends_with(".parquet").then_some(ParquetFile {
                    name,
                    bytes: e.size,
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Who is writing the lake now, found without writing anything.
    pub fn live_writers(&self) -> Result<Vec<String>> {
        policy::for_lake(&self.store, &self.root, &self.root.join(META_DIR)).live_writers()
    }

    /// A file's contents for reading (local: the open file; remote: downloaded whole).
    pub fn content(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<Content, FileError> {
        let path = self.file(partition, &file.name);
        match self.store.local_file(&path) {
            Some(local) => File::open(local)
                .map(Content::File)
                .map_err(FileError::Open),
            None => {
                let mut bytes = Vec::with_capacity(file.bytes as usize);
                self.store
                    .open(&path, None, u64::MAX)
                    .and_then(|mut r| r.read_to_end(&mut bytes))
                    .map_err(FileError::Download)?;
                Ok(Content::Bytes(Bytes::from(bytes)))
            }
        }
    }

    /// A file's rows, in batches of [`READ_BATCH_ROWS`].
    pub fn batches(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<ParquetRecordBatchReader, FileError> {
        let content = self.content(partition, file)?;
        ParquetRecordBatchReaderBuilder::try_new(content)
            .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
            .map_err(FileError::NotParquet)
    }

    /// A file's footer (remote: two ranged reads, the 8-byte tail then the metadata).
    pub fn footer(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<ParquetMetaData, FileError> {
        let path = self.file(partition, &file.name);
        let parsed = match self.store.local_file(&path) {
            Some(local) => {
                let f = File::open(local).map_err(FileError::Open)?;
                ParquetMetaDataReader::new().parse_and_finish(&f)
            }
            None => {
                let remote = Remote {
                    store: self.store.clone(),
                    path,
                    size: file.bytes,
                };
                ParquetMetaDataReader::new().parse_and_finish(&remote)
            }
        };
        parsed.map_err(FileError::NotParquet)
    }

    /// A file's Arrow schema (from its footer).
    pub fn schema(
        &self,
        partition: &str,
        file: &ParquetFile,
    ) -> std::result::Result<arrow::datatypes::SchemaRef, FileError> {
        let footer = self.footer(partition, file)?;
        let meta = ArrowReaderMetadata::try_new(Arc::new(footer), Default::default())
            .map_err(FileError::NotParquet)?;
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

/// A remote object read by ranges (footers only: two small GETs).
struct Remote {
    store: Arc<dyn Store>,
    path: PathBuf,
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
        self.store
            .get_range(&self.path, start, start + length as u64)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}
