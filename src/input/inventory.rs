//! Reads an S3 Inventory report as the input listing.
//!
//! For an archive of hundreds of millions of objects, one LIST of the whole logs bucket takes hours
//! and hundreds of thousands of requests. S3 Inventory writes the same facts (key, size, last
//! modified, ETag) into a few data files once a day or once a week; `--inventory <manifest.json>`
//! reads those instead, so the logs bucket is never listed. The result is the [`Listing`] a listing
//! of each input root would give (paths `s3://<sourceBucket>/<key>`, sizes, modification times,
//! versions as S3's listing returns ETags, so every GET stays conditional), classified by
//! [`discover::classify`] exactly like a listing: the same lake as a listed run.
//!
//! What AWS writes, and how it is read (from the S3 User Guide, "Amazon S3 Inventory"):
//! - `manifest.json` names the `sourceBucket`, the `destinationBucket` (an ARN) holding the data
//!   files, the `fileFormat` (`CSV`, `ORC` or `Parquet`), the `fileSchema` (for CSV the field names
//!   separated by commas, else a Parquet or ORC schema) and `files` (`key`, `size`, `MD5checksum`).
//!   Each data file's size and MD5 are checked before it is used.
//! - CSV data files are gzipped, have no header and quote every field; keys are URL-encoded as a form
//!   encodes them (`+` for a space, `%2B` for `+`, `%3D` for `=`, `%2F` for `/`) and decoded here.
//! - Parquet data files have typed columns (`key`, `size`, `last_modified_date` as a timestamp,
//!   `e_tag`, ...); their keys are not encoded. ORC is refused with a message saying so.
//! - An inventory of all versions adds `IsLatest` and `IsDeleteMarker`: only latest versions that
//!   are not delete markers are objects to read.
//!
//! Only objects under the input roots are kept, pruned by the roots' folder test (`keep_dir`, the
//! `--from`/`--to` test of [`discover`](super::discover)) level by level as a listing prunes, and
//! `_`/`.` folders are skipped and reported as a listing skips them. A row that cannot be read (a
//! key that does not decode, a size that is not a number) is a [`ListProblem`], the rest is used.
//!
//! An inventory is a snapshot: objects written after it are not in it (the next run's inventory has
//! them), and an object deleted since it was made fails when it is read
//! ([`ReadErrorKind::Gone`](crate::error::ReadErrorKind::Gone), see [`gone_message`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampSecondType};
use bytes::Bytes;
use md5::{Digest, Md5};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;

use crate::date::{days_from_civil, is_valid_date, Day};
use crate::error::{Error, Result};
use crate::input::discover::{classify, in_range, Discovery};
use crate::lake::partition::Grain;
use crate::storage::{is_hidden, is_local, Entry, ListProblem, Listing, S3Url, Store};

/// The name of the manifest in a report's folder (`.../<config-ID>/<YYYY-MM-DDTHH-MMZ>/`).
pub const MANIFEST_NAME: &str = "manifest.json";

/// Rows decoded per Parquet batch.
const PARQUET_BATCH_ROWS: usize = 64 * 1024;

/// Why an S3 Inventory report cannot be used as the listing. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The manifest or a data file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The manifest or a data file does not exist.
    #[error("{path}: no such file or object")]
    Missing { path: PathBuf },
    /// The manifest is not the JSON S3 Inventory writes.
    #[error("{path}: not an S3 Inventory manifest.json: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// An ORC inventory.
    #[error("{path}: ORC inventories are not supported; configure CSV or Parquet")]
    Orc { path: PathBuf },
    /// A `fileFormat` S3 Inventory does not write.
    #[error(
        "{path}: unknown inventory fileFormat `{format}` (S3 Inventory writes CSV, ORC or Parquet)"
    )]
    Format { path: PathBuf, format: String },
    /// The report lacks a field flowlake needs.
    #[error(
        "{path}: the inventory has no {missing} field (fileSchema: {schema}); configure the \
         inventory with the fields Size, LastModifiedDate and ETag"
    )]
    MissingFields {
        path: PathBuf,
        missing: String,
        schema: String,
    },
    /// A Parquet `fileSchema` that is not a Parquet schema.
    #[error("{path}: the Parquet fileSchema cannot be read: {source}")]
    Schema {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A data file whose size is not the one the manifest lists (cut short, or another file).
    #[error("data file {path}: {actual} bytes, but the manifest lists {listed}")]
    Size {
        path: PathBuf,
        actual: u64,
        listed: u64,
    },
    /// A data file whose MD5 is not the one the manifest lists.
    #[error("data file {path}: MD5 {actual}, but the manifest lists {listed}")]
    Checksum {
        path: PathBuf,
        actual: String,
        listed: String,
    },
    /// A data file that cannot be decoded.
    #[error("data file {path}: {source}")]
    DataFile {
        path: PathBuf,
        #[source]
        source: DataError,
    },
    /// A local manifest whose data files are not found below any folder above it.
    #[error(
        "data file {key}: not found below any folder above the manifest (keep the destination \
         bucket's tree as it is, or give the manifest's s3:// URL)"
    )]
    DataFileNotFound { key: String },
    /// An input root on a local disk.
    #[error("input {root} is not an s3:// URL: an S3 Inventory report lists the objects of an S3 bucket")]
    NotS3 { root: PathBuf },
    /// An input root that is not in the inventory's bucket.
    #[error(
        "input {root} is not in the bucket the inventory lists (s3://{bucket}): give the inputs \
         as s3://{bucket}/<prefix>"
    )]
    OutsideBucket { root: PathBuf, bucket: String },
}

/// Why a data file cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("not CSV as S3 Inventory writes it: {0}")]
    Csv(#[from] csv::Error),
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Column(String),
}

impl InventoryError {
    /// The crate's error for a run given the inventory `manifest`, naming the file at fault.
    pub fn into_error(self, manifest: &Path) -> Error {
        let kind = match &self {
            InventoryError::Read { source, .. } => source.kind(),
            InventoryError::Missing { .. } | InventoryError::DataFileNotFound { .. } => {
                io::ErrorKind::NotFound
            }
            InventoryError::OutsideBucket { .. } | InventoryError::NotS3 { .. } => {
                io::ErrorKind::InvalidInput
            }
            _ => io::ErrorKind::InvalidData,
        };
        let path = match &self {
            InventoryError::OutsideBucket { root, .. } | InventoryError::NotS3 { root } => {
                root.clone()
            }
            _ => manifest.to_path_buf(),
        };
        Error::Input {
            path,
            source: io::Error::new(kind, self),
        }
    }
}

/// The message of an input the inventory listed that no longer exists when it is read.
pub fn gone_message(manifest: &Path) -> String {
    format!(
        "listed by the inventory {}, but no longer exists (deleted since the inventory was made)",
        manifest.display()
    )
}

/// [`discover`](super::discover::discover) with the inventory at `manifest` as the listing of
/// `roots` (`s3://` URLs in the inventory's bucket): the logs bucket is not listed at all.
pub fn discover(
    store: &dyn Store,
    manifest: &Path,
    roots: &[PathBuf],
    from: Option<Day>,
    to: Option<Day>,
    grain: Grain,
) -> Result<Discovery> {
    if let Some(root) = roots.iter().find(|r| is_local(r)) {
        let root = root.clone();
        return Err(InventoryError::NotS3 { root }.into_error(manifest));
    }
    let keep_dir = in_range(from, to);
    let listings = Inventory::open(store, manifest)
        .and_then(|inventory| inventory.list(store, roots, &keep_dir))
        .map_err(|e| e.into_error(manifest))?;
    Ok(classify(listings, from, to, grain))
}

/// How the data files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
}

/// `manifest.json` as S3 Inventory writes it (the fields flowlake reads).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    source_bucket: String,
    destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<FileJson>,
}

#[derive(Debug, serde::Deserialize)]
struct FileJson {
    key: String,
    size: u64,
    #[serde(rename = "MD5checksum")]
    md5: Option<String>,
}

/// One data file of the report.
#[derive(Debug, Clone)]
struct DataFile {
    path: PathBuf,
    size: u64,
    md5: Option<String>,
}

/// Where each field is in a row (CSV: the position in `fileSchema`; Parquet: the column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    key: usize,
    size: usize,
    modified: Option<usize>,
    etag: Option<usize>,
    latest: Option<usize>,
    delete_marker: Option<usize>,
}

impl Fields {
    /// The fields among `names` (CSV's `LastModifiedDate` and Parquet's `last_modified_date` alike);
    /// `Err` names the required ones missing.
    fn find<S: AsRef<str>>(names: &[S]) -> std::result::Result<Fields, String> {
        let norm: Vec<String> = names
            .iter()
            .map(|n| {
                n.as_ref()
                    .chars()
                    .filter(|c| *c != '_' && !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .collect();
        let at = |name: &str| norm.iter().position(|n| n == name);
        match (at("key"), at("size")) {
            (Some(key), Some(size)) => Ok(Fields {
                key,
                size,
                modified: at("lastmodifieddate"),
                etag: at("etag"),
                latest: at("islatest"),
                delete_marker: at("isdeletemarker"),
            }),
            (None, Some(_)) => Err("Key".into()),
            (Some(_), None) => Err("Size".into()),
            (None, None) => Err("Key and Size".into()),
        }
    }

    fn all(&self) -> Vec<usize> {
        [Some(self.key), Some(self.size)]
            .into_iter()
            .chain([self.modified, self.etag, self.latest, self.delete_marker])
            .flatten()
            .collect()
    }
}

/// An S3 Inventory report: its manifest read, its data files located.
#[derive(Debug)]
pub struct Inventory {
    manifest: PathBuf,
    source_bucket: String,
    format: Format,
    /// The CSV fields' positions (for Parquet, the columns are found in each file by name).
    fields: Fields,
    files: Vec<DataFile>,
}

impl Inventory {
    /// Reads the manifest at `path` (a `manifest.json`, or the report's folder holding it).
    pub fn open(store: &dyn Store, path: &Path) -> std::result::Result<Inventory, InventoryError> {
        let manifest = if path.extension().is_some_and(|e| e == "json") {
            path.to_path_buf()
        } else {
            path.join(MANIFEST_NAME)
        };
        let bytes = fetch(store, &manifest)?;
        let json: ManifestJson =
            serde_json::from_slice(&bytes).map_err(|source| InventoryError::Manifest {
                path: manifest.clone(),
                source,
            })?;
        let format = match json.file_format.to_ascii_lowercase().as_str() {
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "orc" => return Err(InventoryError::Orc { path: manifest }),
            _ => {
                return Err(InventoryError::Format {
                    path: manifest,
                    format: json.file_format,
                })
            }
        };
        let names: Vec<String> = match format {
            Format::Csv => json
                .file_schema
                .split(',')
                .map(|n| n.trim().to_string())
                .collect(),
            Format::Parquet => parquet::schema::parser::parse_message_type(&json.file_schema)
                .map_err(|source| InventoryError::Schema {
                    path: manifest.clone(),
                    source,
                })?
                .get_fields()
                .iter()
                .map(|f| f.name().to_string())
                .collect(),
        };
        let fields = Fields::find(&names).map_err(|missing| InventoryError::MissingFields {
            path: manifest.clone(),
            missing,
            schema: json.file_schema.clone(),
        })?;
        let base = data_root(store, &manifest, &json)?;
        let files = json
            .files
            .into_iter()
            .map(|f| DataFile {
                path: base.join(&f.key),
                size: f.size,
                md5: f.md5.filter(|m| !m.is_empty()),
            })
            .collect();
        Ok(Inventory {
            manifest,
            source_bucket: json.source_bucket,
            format,
            fields,
            files,
        })
    }

    /// The bucket the report lists.
    pub fn source_bucket(&self) -> &str {
        &self.source_bucket
    }

    /// One [`Listing`] per root (in order): the report's objects below it, descending only into
    /// folders for which `keep_dir` is true and skipping `_`/`.` folders, as
    /// [`Store::list`] lists. The data files are read in parallel (on the current rayon pool).
    pub fn list(
        &self,
        store: &dyn Store,
        roots: &[PathBuf],
        keep_dir: &(dyn Fn(&Path) -> bool + Sync),
    ) -> std::result::Result<Vec<Listing>, InventoryError> {
        let roots: Vec<S3Url> = roots
            .iter()
            .map(|root| {
                S3Url::from_path(root)
                    .filter(|u| u.bucket == self.source_bucket)
                    .ok_or_else(|| InventoryError::OutsideBucket {
                        root: root.clone(),
                        bucket: self.source_bucket.clone(),
                    })
            })
            .collect::<std::result::Result<_, _>>()?;
        let parts = self
            .files
            .par_iter()
            .map(|file| {
                let mut sink = Sink::new(&self.source_bucket, &roots, keep_dir);
                let bytes = self.fetch_data(store, file)?;
                let read = match self.format {
                    Format::Csv => read_csv(&bytes, &self.fields, &file.path, &mut sink),
                    Format::Parquet => read_parquet(bytes, &file.path, &mut sink),
                };
                read.map_err(|source| InventoryError::DataFile {
                    path: file.path.clone(),
                    source,
                })?;
                Ok(sink.listings)
            })
            .collect::<std::result::Result<Vec<_>, InventoryError>>()?;
        let mut listings: Vec<Listing> = roots.iter().map(|_| Listing::default()).collect();
        for part in parts {
            for (all, one) in listings.iter_mut().zip(part) {
                all.entries.extend(one.entries);
                all.problems.extend(one.problems);
                all.hidden.extend(one.hidden);
            }
        }
        for listing in &mut listings {
            listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
            listing.entries.dedup_by(|a, b| a.path == b.path);
            listing.hidden.sort();
            listing.hidden.dedup();
        }
        Ok(listings)
    }

    /// A data file's bytes, checked against the size and MD5 the manifest lists.
    fn fetch_data(
        &self,
        store: &dyn Store,
        file: &DataFile,
    ) -> std::result::Result<Vec<u8>, InventoryError> {
        let bytes = fetch(store, &file.path)?;
        if bytes.len() as u64 != file.size {
            return Err(InventoryError::Size {
                path: file.path.clone(),
                actual: bytes.len() as u64,
                listed: file.size,
            });
        }
        if let Some(listed) = &file.md5 {
            let actual: String = Md5::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !actual.eq_ignore_ascii_case(listed) {
                return Err(InventoryError::Checksum {
                    path: file.path.clone(),
                    actual,
                    listed: listed.clone(),
                });
            }
        }
        Ok(bytes)
    }

    /// The manifest's path.
    pub fn manifest(&self) -> &Path {
        &self.manifest
    }
}

/// A small object or file whole.
fn fetch(store: &dyn Store, path: &Path) -> std::result::Result<Vec<u8>, InventoryError> {
    match store.get(path) {
        Ok(Some((bytes, _))) => Ok(bytes),
        Ok(None) => Err(InventoryError::Missing {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(InventoryError::Missing {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(InventoryError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Where the data files' keys start: the destination bucket for a manifest on S3; for a local copy
/// of the destination bucket's tree, the nearest folder above the manifest that holds the first
/// data file's key.
fn data_root(
    store: &dyn Store,
    manifest: &Path,
    json: &ManifestJson,
) -> std::result::Result<PathBuf, InventoryError> {
    if !is_local(manifest) {
        // `arn:aws:s3:::bucket` (any partition), or a bare bucket name.
        let arn = json.destination_bucket.as_str();
        let bucket = arn.rsplit_once(":::").map_or(arn, |(_, b)| b);
        return Ok(S3Url {
            bucket: bucket.to_string(),
            key: String::new(),
        }
        .to_path());
    }
    let Some(first) = json.files.first() else {
        return Ok(PathBuf::new());
    };
    manifest
        .ancestors()
        .skip(1)
        .find(|dir| store.stat(&dir.join(&first.key)).is_ok())
        .map(Path::to_path_buf)
        .ok_or_else(|| InventoryError::DataFileNotFound {
            key: first.key.clone(),
        })
}

/// One row of the report, as read.
struct Object<'a> {
    key: Cow<'a, str>,
    size: Option<u64>,
    /// Last modified, seconds since the epoch.
    modified: Option<i64>,
    etag: Option<&'a str>,
    latest: Option<bool>,
    delete_marker: Option<bool>,
}

/// What one data file contributes to the roots' listings.
struct Sink<'a> {
    bucket: &'a str,
    roots: &'a [S3Url],
    keep_dir: &'a (dyn Fn(&Path) -> bool + Sync),
    listings: Vec<Listing>,
    /// Per root: the folders (below it) already judged, and whether they are descended into.
    kept: Vec<HashMap<String, bool>>,
}

impl<'a> Sink<'a> {
    fn new(
        bucket: &'a str,
        roots: &'a [S3Url],
        keep_dir: &'a (dyn Fn(&Path) -> bool + Sync),
    ) -> Self {
        Sink {
            bucket,
            roots,
            keep_dir,
            listings: roots.iter().map(|_| Listing::default()).collect(),
            kept: roots.iter().map(|_| HashMap::new()).collect(),
        }
    }

    /// A row that cannot be used (a [`ListProblem`] of the first root's listing).
    fn problem(&mut self, path: PathBuf, message: String) {
        if let Some(listing) = self.listings.first_mut() {
            listing.problems.push(ListProblem { path, message });
        }
    }

    /// Adds `object` to the listing of every root it is below; `at` says where it was read.
    fn add(&mut self, object: Object<'_>, at: &dyn Fn() -> String) {
        if object.latest == Some(false) || object.delete_marker == Some(true) {
            return; // an older version, or a deletion
        }
        let key = object.key.as_ref();
        if key.is_empty() || key.ends_with('/') {
            return; // a folder marker, which a listing does not return either
        }
        let url = S3Url {
            bucket: self.bucket.to_string(),
            key: key.to_string(),
        };
        for i in 0..self.roots.len() {
            let root = &self.roots[i].key;
            let rel = if root.is_empty() {
                key
            } else if key == root {
                ""
            } else if let Some(rel) = key
                .strip_prefix(root.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                rel
            } else {
                continue;
            };
            if !self.descends(i, rel) {
                continue;
            }
            let Some(size) = object.size else {
                self.problem(url.to_path(), format!("{}: no Size", at()));
                return;
            };
            self.listings[i].entries.push(Entry {
                path: url.to_path(),
                size,
                mtime: object.modified,
                version: object.etag.filter(|e| !e.is_empty()).map(quoted),
            });
        }
    }

    /// True when a listing of root `i` would reach the object at `rel` below it: no folder on the
    /// way is hidden or refused by `keep_dir` (each folder judged once).
    fn descends(&mut self, i: usize, rel: &str) -> bool {
        let Some((parent, _)) = rel.rsplit_once('/') else {
            return true;
        };
        if let Some(&kept) = self.kept[i].get(parent) {
            return kept;
        }
        let folders = rel
            .match_indices('/')
            .map(|(at, _)| &rel[..at])
            .take_while(|f| f.len() <= parent.len());
        for folder in folders {
            let kept = match self.kept[i].get(folder) {
                Some(&kept) => kept,
                None => {
                    let name = folder.rsplit('/').next().unwrap_or(folder);
                    let path = self.roots[i].join(folder).to_path();
                    let kept = if is_hidden(name) {
                        self.listings[i].hidden.push(path);
                        false
                    } else {
                        (self.keep_dir)(&path)
                    };
                    self.kept[i].insert(folder.to_string(), kept);
                    kept
                }
            };
            if !kept {
                // Everything below is out too.
                self.kept[i].insert(parent.to_string(), false);
                return false;
            }
        }
        true
    }
}

/// An ETag as S3's listing returns it (in double quotes), so conditional GETs match.
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

/// Reads a CSV data file (gzipped, as S3 Inventory writes them; plain text is read as well).
fn read_csv(
    bytes: &[u8],
    fields: &Fields,
    file: &Path,
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DataError> {
    let text: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        let line = record.position().map_or(0, |p| p.line());
        let at = || format!("{} line {line}", file.display());
        match csv_object(&record, fields) {
            Ok(object) => sink.add(object, &at),
            Err(message) => sink.problem(file.to_path_buf(), format!("line {line}: {message}")),
        }
    }
    Ok(())
}

/// One CSV row as an object (`Err` says what is wrong with it).
fn csv_object<'r>(
    record: &'r csv::ByteRecord,
    fields: &Fields,
) -> std::result::Result<Object<'r>, String> {
    let text = |i: usize| -> std::result::Result<&'r str, String> {
        let bytes = record.get(i).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|_| format!("field {} is not UTF-8", i + 1))
    };
    let optional = |i: Option<usize>| -> std::result::Result<Option<&'r str>, String> {
        Ok(match i {
            Some(i) => Some(text(i)?).filter(|t| !t.is_empty()),
            None => None,
        })
    };
    if record.len() <= fields.key.max(fields.size) {
        return Err(format!(
            "{} fields, fewer than the fileSchema's",
            record.len()
        ));
    }
    let raw = text(fields.key)?;
    let key = decode_key(raw).ok_or_else(|| format!("key `{raw}` is not URL-encoded UTF-8"))?;
    let size = optional(Some(fields.size))?
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("{key}: size `{s}` is not a number"))
        })
        .transpose()?;
    let modified = optional(fields.modified)?
        .map(|t| {
            parse_time(t).ok_or_else(|| format!("{key}: LastModifiedDate `{t}` is not a time"))
        })
        .transpose()?;
    let flag = |i: Option<usize>, name: &str| -> std::result::Result<Option<bool>, String> {
        optional(i)?
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{key}: {name} `{v}` is not true or false")),
            })
            .transpose()
    };
    Ok(Object {
        size,
        modified,
        etag: optional(fields.etag)?,
        latest: flag(fields.latest, "IsLatest")?,
        delete_marker: flag(fields.delete_marker, "IsDeleteMarker")?,
        key,
    })
}

/// Reads a Parquet data file.
fn read_parquet(
    bytes: Vec<u8>,
    file: &Path,
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DataError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let fields = Fields::find(&names).map_err(|missing| {
        DataError::Column(format!(
            "no {missing} column (columns: {})",
            names.join(", ")
        ))
    })?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), fields.all());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(PARQUET_BATCH_ROWS)
        .build()?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch?;
        let column = |i: usize| {
            batch
                .column_by_name(&names[i])
                .ok_or_else(|| DataError::Column(format!("no column {}", names[i])))
        };
        let key = cast(column(fields.key)?, &DataType::Utf8)?;
        let key = key.as_string::<i32>();
        let size = cast(column(fields.size)?, &DataType::Int64)?;
        let size = size.as_primitive::<Int64Type>();
        let modified = fields
            .modified
            .map(|i| seconds(column(i)?.as_ref(), &names[i]))
            .transpose()?;
        let etag = fields
            .etag
            .map(|i| cast(column(i)?, &DataType::Utf8).map_err(DataError::from))
            .transpose()?;
        let etag = etag.as_ref().map(|a| a.as_string::<i32>());
        let flag = |i: Option<usize>| {
            i.map(|i| cast(column(i)?, &DataType::Boolean).map_err(DataError::from))
                .transpose()
        };
        let (latest, delete_marker) = (flag(fields.latest)?, flag(fields.delete_marker)?);
        let bool_at = |a: &Option<arrow::array::ArrayRef>, r: usize| {
            a.as_ref()
                .filter(|a| a.is_valid(r))
                .map(|a| a.as_boolean().value(r))
        };
        for r in 0..batch.num_rows() {
            row += 1;
            let at = || format!("{} row {row}", file.display());
            if key.is_null(r) {
                sink.problem(file.to_path_buf(), format!("row {row}: no key"));
                continue;
            }
            let size = match size.is_valid(r).then(|| u64::try_from(size.value(r))) {
                Some(Err(_)) => {
                    let message = format!("row {row}: negative size {}", size.value(r));
                    sink.problem(file.to_path_buf(), message);
                    continue;
                }
                Some(Ok(n)) => Some(n),
                None => None,
            };
            let object = Object {
                key: Cow::Borrowed(key.value(r)),
                size,
                modified: modified.as_ref().and_then(|m| m[r]),
                etag: etag.filter(|e| e.is_valid(r)).map(|e| e.value(r)),
                latest: bool_at(&latest, r),
                delete_marker: bool_at(&delete_marker, r),
            };
            sink.add(object, &at);
        }
    }
    Ok(())
}

/// Seconds since the epoch of a timestamp column (any unit; a plain integer column is read as
/// milliseconds, the unit S3 Inventory writes).
fn seconds(array: &dyn Array, name: &str) -> std::result::Result<Vec<Option<i64>>, DataError> {
    match array.data_type() {
        DataType::Timestamp(_, tz) => {
            let secs = cast(array, &DataType::Timestamp(TimeUnit::Second, tz.clone()))?;
            Ok(secs.as_primitive::<TimestampSecondType>().iter().collect())
        }
        DataType::Int64 => Ok(array
            .as_primitive::<Int64Type>()
            .iter()
            .map(|ms| ms.map(|ms| ms.div_euclid(1000)))
            .collect()),
        other => Err(DataError::Column(format!(
            "{name} is {other}, not a timestamp"
        ))),
    }
}

/// Decodes a key as S3 Inventory writes it in CSV: form encoding (`+` for a space, `%XX` for a
/// byte; everything else as is). `None` for a bad escape or bytes that are not UTF-8.
pub fn decode_key(encoded: &str) -> Option<Cow<'_, str>> {
    if !encoded.contains(['%', '+']) {
        return Some(Cow::Borrowed(encoded));
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let (hi, lo) = (bytes.get(i + 1).copied()?, bytes.get(i + 2).copied()?);
                out.push(hex(hi)? << 4 | hex(lo)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Seconds since the epoch of an ISO 8601 time as S3 Inventory writes `LastModifiedDate`
/// (`2024-03-09T17:05:01.000Z`; an offset `+hh:mm` is also read). Fractions are dropped, as S3's
/// listing drops them.
pub fn parse_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', ' '])?;
    let mut ymd = date.splitn(3, '-');
    let (y, m, d): (i32, u32, u32) = (
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
    );
    if !is_valid_date(y, m, d) {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (time, 0)
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.splitn(3, ':');
    let (h, mi, s): (i64, i64, i64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next().unwrap_or("0").parse().ok()?,
    );
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::storage::LocalStore;
    use crate::testutil::gz;

    const CSV_SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, \
        LastModifiedDate, ETag, StorageClass";

    /// 2024-03-09T17:05:01Z.
    const T: i64 = 1_710_003_901;

    fn keep_all(_: &Path) -> bool {
        true
    }

    /// A local copy of a destination bucket: `<dir>/inv/logs/cfg/<ts>/manifest.json` and its data
    /// file `<dir>/inv/logs/cfg/data/<name>`; returns the manifest's path.
    fn report(dir: &Path, format: &str, schema: &str, name: &str, data: &[u8]) -> PathBuf {
        let key = format!("inv/logs/cfg/data/{name}");
        let file = dir.join(&key);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, data).unwrap();
        let md5: String = Md5::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let manifest = serde_json::json!({
            "sourceBucket": "logs",
            "destinationBucket": "arn:aws:s3:::inventories",
            "version": "2016-11-30",
            "creationTimestamp": "1710003600000",
            "fileFormat": format,
            "fileSchema": schema,
            "files": [{"key": key, "size": data.len(), "MD5checksum": md5}],
        });
        let path = dir.join("inv/logs/cfg/2024-03-09T17-00Z/manifest.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
        path
    }

    fn list(
        manifest: &Path,
        roots: &[&str],
        keep: &(dyn Fn(&Path) -> bool + Sync),
    ) -> Vec<Listing> {
        let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
        Inventory::open(&LocalStore, manifest)
            .unwrap()
            .list(&LocalStore, &roots, keep)
            .unwrap()
    }

    fn paths(listing: &Listing) -> Vec<String> {
        listing
            .entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect()
    }

    #[test]
    fn keys_are_decoded_as_aws_form_encodes_them() {
        assert_eq!(
            decode_key("AWSLogs/1/a.log.gz").unwrap(),
            "AWSLogs/1/a.log.gz"
        );
        assert!(matches!(decode_key("plain"), Some(Cow::Borrowed(_))));
        assert_eq!(
            decode_key("AWSLogs%2Fyear%3D2024%2Fmy+file%2B1.log.gz").unwrap(),
            "AWSLogs/year=2024/my file+1.log.gz"
        );
        assert_eq!(decode_key("caf%C3%A9%20x").unwrap(), "café x");
        assert_eq!(decode_key("%2f%2F").unwrap(), "//");
        for bad in ["a%2", "a%", "%zz", "%+1", "%FF"] {
            assert_eq!(decode_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn last_modified_dates_are_read_to_the_second() {
        assert_eq!(parse_time("2024-03-09T17:05:01.000Z"), Some(T));
        assert_eq!(parse_time("2024-03-09T17:05:01.999Z"), Some(T));
        assert_eq!(parse_time("2024-03-09T17:05:01Z"), Some(T));
        assert_eq!(parse_time("2024-03-09T18:05:01.000+01:00"), Some(T));
        assert_eq!(parse_time("2024-03-09T16:35:01-00:30"), Some(T));
        assert_eq!(parse_time("1970-01-01T00:00:00.000Z"), Some(0));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-03-09",
            "2024-03-09T25:00:00Z",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_are_found_by_name_in_either_spelling() {
        let csv: Vec<&str> = CSV_SCHEMA.split(',').map(str::trim).collect();
        let f = Fields::find(&csv).unwrap();
        assert_eq!(
            (f.key, f.size, f.modified, f.etag),
            (1, 5, Some(6), Some(7))
        );
        assert_eq!((f.latest, f.delete_marker), (Some(3), Some(4)));
        let f = Fields::find(&["bucket", "key", "size", "last_modified_date", "e_tag"]).unwrap();
        assert_eq!((f.modified, f.etag, f.latest), (Some(3), Some(4), None));
        assert_eq!(Fields::find(&["Bucket", "Key"]), Err("Size".into()));
        assert_eq!(Fields::find(&["Bucket"]), Err("Key and Size".into()));
    }

    #[test]
    fn manifests_are_read_and_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = report(dir.path(), "CSV", CSV_SCHEMA, "a.csv.gz", &gz(b""));
        let inventory = Inventory::open(&LocalStore, &path).unwrap();
        assert_eq!(inventory.source_bucket(), "logs");
        assert_eq!(inventory.format, Format::Csv);
        assert_eq!(
            inventory.files[0].path,
            dir.path().join("inv/logs/cfg/data/a.csv.gz"),
            "a local copy: the data file found below a folder above the manifest"
        );
        // The report's folder is enough.
        assert!(Inventory::open(&LocalStore, path.parent().unwrap()).is_ok());

        // AWS's Parquet schema, as its documentation shows it.
        let parquet_schema = "message s3.inventory { required binary bucket (UTF8); required binary key \
            (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean \
            is_delete_marker;  optional int64 size;  optional int64 last_modified_date \
            (TIMESTAMP_MILLIS);  optional binary e_tag (UTF8);  optional binary storage_class \
            (UTF8);}";
        let path = report(dir.path(), "Parquet", parquet_schema, "a.parquet", b"");
        let inventory = Inventory::open(&LocalStore, &path).unwrap();
        assert_eq!(inventory.format, Format::Parquet);

        let err = |format: &str, schema: &str| {
            let path = report(dir.path(), format, schema, "b", b"");
            let e = Inventory::open(&LocalStore, &path).unwrap_err();
            let message = e.into_error(&path).to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            message
        };
        let orc = err("ORC", "struct<bucket:string,key:string,size:bigint>");
        assert!(
            orc.contains("ORC inventories are not supported; configure CSV or Parquet"),
            "{orc}"
        );
        let missing = err("CSV", "Bucket, Key, LastModifiedDate, ETag");
        assert!(
            missing.contains("the inventory has no Size field"),
            "{missing}"
        );
        let missing = err(
            "Parquet",
            "message s3.inventory { required binary bucket (UTF8); }",
        );
        assert!(missing.contains("no Key and Size field"), "{missing}");
        assert!(err("Avro", CSV_SCHEMA).contains("unknown inventory fileFormat `Avro`"));
        assert!(err("Parquet", "not a schema").contains("Parquet fileSchema cannot be read"));

        std::fs::write(&path, b"{\"sourceBucket\": 1}").unwrap();
        let e = Inventory::open(&LocalStore, &path).unwrap_err();
        assert!(
            e.to_string().contains("not an S3 Inventory manifest.json"),
            "{e}"
        );
        let e = Inventory::open(&LocalStore, &dir.path().join("none.json")).unwrap_err();
        assert!(matches!(e, InventoryError::Missing { .. }), "{e}");
    }

    #[test]
    fn csv_rows_are_unquoted_decoded_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [
            // A Hive-style folder, a space and a plus in the key; a quote and a comma in a field.
            r#""logs","in%2Fyear%3D2024%2Fmonth%3D03%2Fday%3D09%2Fa+b%2B1.log.gz","v1","true","false","120","2024-03-09T17:05:01.000Z","0123abcd","ST""AND,ARD""#,
            // An older version, then a delete marker: neither is an object to read.
            r#""logs","in%2F2024%2F03%2F09%2Fold.log.gz","v0","false","false","5","2024-03-09T17:05:01.000Z","aa","STANDARD""#,
            r#""logs","in%2F2024%2F03%2F09%2Fgone.log.gz","v2","true","true","","2024-03-09T17:05:01.000Z","","""#,
            // Outside the root, and under a hidden folder.
            r#""logs","other%2F2024%2F03%2F09%2Fx.log.gz","","","","7","2024-03-09T17:05:01.000Z","bb","STANDARD""#,
            r#""logs","in%2F_tmp%2Fx.log.gz","","","","7","2024-03-09T17:05:01.000Z","bb","STANDARD""#,
            // A multipart ETag; a folder marker.
            r#""logs","in%2F2024%2F03%2F10%2Fc.log.gz","","","","9","2024-03-10T00:00:00.000Z","ff-2","STANDARD""#,
            r#""logs","in%2F2024%2F","","","","0","2024-03-10T00:00:00.000Z","ee","STANDARD""#,
            // Rows that cannot be used.
            r#""logs","in%2F2024%2F03%2F09%2Fbad.log.gz","","","","12x","2024-03-09T17:05:01.000Z","cc","STANDARD""#,
            r#""logs","in%2Fbad%ZZ","","","","1","2024-03-09T17:05:01.000Z","cc","STANDARD""#,
        ];
        let data = gz((rows.join("\n") + "\n").as_bytes());
        let manifest = report(dir.path(), "CSV", CSV_SCHEMA, "a.csv.gz", &data);
        let listings = list(&manifest, &["s3://logs/in"], &keep_all);
        let listing = &listings[0];
        assert_eq!(
            paths(listing),
            [
                "s3://logs/in/2024/03/10/c.log.gz",
                "s3://logs/in/year=2024/month=03/day=09/a b+1.log.gz",
            ]
        );
        let first = &listing.entries[1];
        assert_eq!((first.size, first.mtime), (120, Some(T)));
        assert_eq!(
            first.version.as_deref(),
            Some("\"0123abcd\""),
            "quoted as S3 lists ETags"
        );
        assert_eq!(listing.entries[0].version.as_deref(), Some("\"ff-2\""));
        assert_eq!(listing.hidden, [PathBuf::from("s3://logs/in/_tmp")]);
        let problems: Vec<&str> = listing
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("line 8") && problems[0].contains("size `12x`"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("line 9") && problems[1].contains("not URL-encoded"),
            "{problems:?}"
        );

        // Two roots, one of them one object; a folder test prunes whole days.
        let not_the_10th = |p: &Path| !p.ends_with("2024/03/10");
        let listings = list(
            &manifest,
            &["s3://logs/in/2024", "s3://logs/other/2024/03/09/x.log.gz"],
            &not_the_10th,
        );
        assert!(listings[0].entries.is_empty(), "{:?}", paths(&listings[0]));
        assert_eq!(paths(&listings[1]), ["s3://logs/other/2024/03/09/x.log.gz"]);

        // A root in another bucket, or on a local disk.
        for root in ["s3://elsewhere/in", "/data/in"] {
            let e = Inventory::open(&LocalStore, &manifest)
                .unwrap()
                .list(&LocalStore, &[PathBuf::from(root)], &keep_all)
                .unwrap_err();
            assert!(
                e.to_string()
                    .contains("not in the bucket the inventory lists (s3://logs)"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_data_file_that_is_not_what_the_manifest_says_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = gz(br#""logs","in%2Fa.log.gz","","","","1","","","""#);
        let manifest = report(dir.path(), "CSV", CSV_SCHEMA, "a.csv.gz", &data);
        let file = dir.path().join("inv/logs/cfg/data/a.csv.gz");
        let open = || {
            Inventory::open(&LocalStore, &manifest).unwrap().list(
                &LocalStore,
                &[PathBuf::from("s3://logs")],
                &keep_all,
            )
        };
        assert_eq!(open().unwrap()[0].entries.len(), 1);
        std::fs::write(&file, &data[..data.len() - 1]).unwrap();
        let e = open().unwrap_err();
        assert!(matches!(e, InventoryError::Size { .. }), "{e}");
        let mut other = data.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        std::fs::write(&file, &other).unwrap();
        let e = open().unwrap_err();
        assert!(matches!(e, InventoryError::Checksum { .. }), "{e}");
        assert!(e.to_string().contains(&file.display().to_string()), "{e}");
    }

    #[test]
    fn parquet_rows_are_read_by_column_name() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("bucket", DataType::Utf8, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("is_latest", DataType::Boolean, true),
            Field::new("is_delete_marker", DataType::Boolean, true),
            Field::new("size", DataType::Int64, true),
            Field::new(
                "last_modified_date",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("e_tag", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["logs"; 4])),
                // Parquet keys are not URL-encoded.
                Arc::new(StringArray::from(vec![
                    "in/year=2024/a b+1.log.gz",
                    "in/old.log.gz",
                    "in/gone.log.gz",
                    "in/_x/y.log.gz",
                ])),
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    Some(true),
                    None,
                ])),
                Arc::new(BooleanArray::from(vec![
                    Some(false),
                    Some(false),
                    Some(true),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![Some(120), Some(5), None, Some(1)])),
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(T * 1000 + 999), None, None, None])
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from(vec![Some("0123abcd"), None, None, None])),
            ],
        )
        .unwrap();
        let mut data = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut data, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let parquet_schema =
            "message s3.inventory { required binary bucket (UTF8); required binary key \
            (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 \
            size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag \
            (UTF8); }";
        let manifest = report(dir.path(), "Parquet", parquet_schema, "a.parquet", &data);
        let listings = list(&manifest, &["s3://logs/in"], &keep_all);
        assert_eq!(paths(&listings[0]), ["s3://logs/in/year=2024/a b+1.log.gz"]);
        let entry = &listings[0].entries[0];
        assert_eq!((entry.size, entry.mtime), (120, Some(T)));
        assert_eq!(entry.version.as_deref(), Some("\"0123abcd\""));
        assert_eq!(listings[0].hidden, [PathBuf::from("s3://logs/in/_x")]);
        assert!(
            listings[0].problems.is_empty(),
            "{:?}",
            listings[0].problems
        );
    }
}
