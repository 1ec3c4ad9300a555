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
            InventoryError::OutsideBucket { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        let path = match &self {
            InventoryError::OutsideBucket { root, .. } => root.clone(),
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
