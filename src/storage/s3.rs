//! The S3 client (S3 and S3-compatible stores): `s3://bucket/key` URLs, one `object_store` client per
//! bucket, and blocking calls over a small tokio runtime so the rest of flowlake stays synchronous.
//! `s3store.rs` makes it a [`Store`](super::Store).
//!
//! Credentials come in the AWS SDKs' order: environment keys (`AWS_ACCESS_KEY_ID`...), web identity
//! (`AWS_WEB_IDENTITY_TOKEN_FILE`, EKS), the shared credentials file (`AWS_PROFILE`,
//! `~/.aws/credentials`; static keys only), then ECS task and EC2 instance roles (through
//! `object_store`); the region from `AWS_REGION`/`AWS_DEFAULT_REGION`, else `~/.aws/config`.
//! The endpoint is `--endpoint`, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`; an
//! `http://` endpoint is allowed (S3-compatible servers on a private network or loopback).
//!
//! Every request is counted (`RequestCounts`), so reports can say what a run cost. `object_store`
//! retries transient failures (5xx, timeouts, throttling) with exponential backoff.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion, WriteMultipart,
};

/// Size of one uploaded part (S3's minimum is 5 MiB); files of two parts or more are uploaded in parts.
/// `FLOWLAKE_S3_PART_BYTES` overrides it (tests use 5 MiB).
const PART_BYTES: usize = 16 * 1024 * 1024;

fn part_bytes() -> usize {
    std::env::var("FLOWLAKE_S3_PART_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 5 * 1024 * 1024)
        .unwrap_or(PART_BYTES)
}
/// Requests in flight at once for listings and downloads.
pub const MAX_CONCURRENCY: usize = 16;

/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Url {
    pub bucket: String,
    /// Key or prefix, without a leading or trailing `/` (empty for the bucket's root).
    pub key: String,
}

impl S3Url {
    /// Parses `s3://bucket[/key]`; `None` for anything else.
    pub fn parse(text: &str) -> Option<S3Url> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Url {
            bucket: bucket.to_string(),
            key: key.trim_matches('/').to_string(),
        })
    }

    /// The URL held in a path (inputs and lakes are `PathBuf`s throughout; an S3 one holds the URL).
    pub fn from_path(path: &FsPath) -> Option<S3Url> {
        path.to_str().and_then(S3Url::parse)
    }

    /// This URL with `rel` (`a/b`) appended.
    pub fn join(&self, rel: &str) -> S3Url {
        let rel = rel.trim_matches('/');
        let key = match (self.key.is_empty(), rel.is_empty()) {
            (_, true) => self.key.clone(),
            (true, false) => rel.to_string(),
            (false, false) => format!("{}/{rel}", self.key),
        };
        S3Url {
            bucket: self.bucket.clone(),
            key,
        }
    }

    pub fn to_path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    fn object_path(&self) -> Path {
        Path::from_iter(self.key.split('/').filter(|p| !p.is_empty()))
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// True when `path` holds an `s3://` URL.
pub(super) fn is_s3(path: &FsPath) -> bool {
    path.to_str().is_some_and(|s| s.starts_with("s3://"))
}

/// Requests sent, by kind (a listing page, a GET, ...).
#[derive(Debug, Default)]
pub struct RequestCounts {
    pub list: AtomicU64,
    pub get: AtomicU64,
    pub head: AtomicU64,
    pub put: AtomicU64,
    /// Parts of multipart uploads (plus one request each to start and to complete an upload).
    pub upload_part: AtomicU64,
    pub delete: AtomicU64,
    /// Bytes downloaded and uploaded.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// A copy of `RequestCounts` for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Requests {
    pub list: u64,
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub upload_part: u64,
    pub delete: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl RequestCounts {
    pub fn snapshot(&self) -> Requests {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Requests {
            list: n(&self.list),
            get: n(&self.get),
            head: n(&self.head),
            put: n(&self.put),
            upload_part: n(&self.upload_part),
            delete: n(&self.delete),
            bytes_in: n(&self.bytes_in),
            bytes_out: n(&self.bytes_out),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// What went wrong with a request, in the terms flowlake acts on.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("no such object")]
    NotFound,
    /// A conditional request lost: the object exists (create) or changed (update, read).
    #[error("{message}")]
    Precondition {
        message: String,
        #[source]
        source: Option<object_store::Error>,
    },
    /// Any other failure of a request (after `object_store`'s retries).
    #[error(transparent)]
    Request(object_store::Error),
    /// The client could not be set up, or a local file to upload could not be read.
    #[error("{message}")]
    Setup {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl S3Error {
    fn setup(message: String, source: impl std::error::Error + Send + Sync + 'static) -> S3Error {
        S3Error::Setup {
            message,
            source: Some(Box::new(source)),
        }
    }
}

impl From<object_store::Error> for S3Error {
    fn from(e: object_store::Error) -> S3Error {
        match e {
            object_store::Error::NotFound { .. } => S3Error::NotFound,
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => S3Error::Precondition {
                message: e.to_string(),
                source: Some(e),
            },
            other => S3Error::Request(other),
        }
    }
}

impl From<S3Error> for std::io::Error {
    fn from(e: S3Error) -> std::io::Error {
        let kind = match e {
            S3Error::NotFound => std::io::ErrorKind::NotFound,
            S3Error::Precondition { .. } => std::io::ErrorKind::AlreadyExists,
            S3Error::Request(_) | S3Error::Setup { .. } => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

pub type S3Result<T> = std::result::Result<T, S3Error>;

/// A listed object.
#[derive(Debug, Clone)]
pub struct Object {
    pub url: S3Url,
    pub size: u64,
    /// Last modified, seconds since the epoch.
    pub mtime: i64,
    pub etag: Option<String>,
}

/// Connection settings shared by every bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible store; AWS when `None`.
    pub endpoint: Option<String>,
}

/// S3 access for one process: a tokio runtime and a client per bucket.
pub struct S3 {
    runtime: tokio::runtime::Runtime,
    settings: S3Settings,
    stores: Mutex<HashMap<String, Arc<AmazonS3>>>,
    pub counts: RequestCounts,
}

impl fmt::Debug for S3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3")
            .field("settings", &self.settings)
            .finish()
    }
}

impl S3 {
    pub fn new(settings: S3Settings) -> S3Result<S3> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flowlake-s3")
            .enable_all()
            .build()
            .map_err(|e| S3Error::setup(format!("cannot start the S3 runtime: {e}"), e))?;
        Ok(S3 {
            runtime,
            settings,
            stores: Mutex::new(HashMap::new()),
            counts: RequestCounts::default(),
        })
    }

    fn store(&self, bucket: &str) -> S3Result<Arc<AmazonS3>> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let store = Arc::new(builder(&self.settings, bucket).build().map_err(|e| {
            S3Error::setup(format!("cannot configure S3 for bucket {bucket}: {e}"), e)
        })?);
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The folders (common prefixes) and objects directly under `dir` (one listing, all its pages).
    pub fn list_dir(&self, dir: &S3Url) -> S3Result<(Vec<S3Url>, Vec<Object>)> {
        self.list_dirs(std::slice::from_ref(dir)).remove(0)
    }

    /// [`list_dir`](Self::list_dir) of many folders, up to [`MAX_CONCURRENCY`] at once, in input order.
    pub fn list_dirs(&self, dirs: &[S3Url]) -> Vec<S3Result<(Vec<S3Url>, Vec<Object>)>> {
        self.block_on(async {
            stream::iter(dirs.iter().map(|d| async move {
                let store = self.store(&d.bucket)?;
                let prefix = d.object_path();
                let result = store
                    .list_with_delimiter((!d.key.is_empty()).then_some(&prefix))
                    .await?;
                add(
                    &self.counts.list,
                    pages(result.common_prefixes.len() + result.objects.len()),
                );
                let sub = result
                    .common_prefixes
                    .iter()
                    .map(|p| S3Url {
                        bucket: d.bucket.clone(),
                        key: p.to_string(),
                    })
                    .collect();
                let objects = result
                    .objects
                    .into_iter()
                    .map(|m| object(&d.bucket, m))
                    .collect();
                Ok((sub, objects))
            }))
            .buffered(MAX_CONCURRENCY)
            .collect()
            .await
        })
    }

    /// Every object under `prefix`, at any depth.
    pub fn list_all(&self, prefix: &S3Url) -> S3Result<Vec<Object>> {
        let store = self.store(&prefix.bucket)?;
        let path = prefix.object_path();
        let metas: Vec<ObjectMeta> = self.block_on(async {
            store
                .list((!prefix.key.is_empty()).then_some(&path))
                .try_collect()
                .await
        })?;
        add(&self.counts.list, pages(metas.len()));
        Ok(metas
            .into_iter()
            .map(|m| object(&prefix.bucket, m))
            .collect())
    }

    /// Size, mtime and ETag of one object.
    pub fn head(&self, url: &S3Url) -> S3Result<Object> {
        let store = self.store(&url.bucket)?;
        add(&self.counts.head, 1);
        let meta = self.block_on(async { store.head(&url.object_path()).await })?;
        Ok(object(&url.bucket, meta))
    }

    /// The whole object; with `if_match`, only if its ETag is still that one
    /// ([`S3Error::Precondition`] when it changed since it was listed).
    pub fn get(&self, url: &S3Url, if_match: Option<&str>) -> S3Result<Bytes> {
        self.get_each(&[(url.clone(), if_match.map(String::from), None)])
            .remove(0)
    }

    /// Several objects, up to [`MAX_CONCURRENCY`] at once, one result per object in input order: each
    /// `(url, etag, limit)` whole or its first `limit` bytes (never ask a range of an object that may
    /// be empty: S3 refuses it), conditional on its ETag when one is given.
    pub fn get_each(
        &self,
        objects: &[(S3Url, Option<String>, Option<u64>)],
    ) -> Vec<S3Result<Bytes>> {
        self.block_on(async {
            stream::iter(objects.iter().map(|(url, if_match, limit)| async move {
                let store = self.store(&url.bucket)?;
                add(&self.counts.get, 1);
                let options = GetOptions {
                    if_match: if_match.clone(),
                    range: limit.map(|n| object_store::GetRange::Bounded(0..n)),
                    ..GetOptions::default()
                };
                let result = store.get_opts(&url.object_path(), options).await;
                let bytes = match result {
                    Ok(r) => r.bytes().await?,
                    Err(e @ object_store::Error::Precondition { .. }) => {
                        return Err(S3Error::Precondition {
                            message: format!(
                                "{url} changed since it was listed (its ETag is no longer {})",
                                if_match.as_deref().unwrap_or("-")
                            ),
                            source: Some(e),
                        })
                    }
                    Err(e) => return Err(e.into()),
                };
                add(&self.counts.bytes_in, bytes.len() as u64);
                Ok(bytes)
            }))
            .buffered(MAX_CONCURRENCY)
            .collect()
            .await
        })
    }

    /// The whole object and its ETag.
    pub fn get_tagged(&self, url: &S3Url) -> S3Result<(Bytes, Option<String>)> {
        let store = self.store(&url.bucket)?;
        add(&self.counts.get, 1);
        let (bytes, tag) = self.block_on(async {
            let result = store
                .get_opts(&url.object_path(), GetOptions::default())
                .await?;
            let tag = result.meta.e_tag.clone();
            Ok::<_, object_store::Error>((result.bytes().await?, tag))
        })?;
        add(&self.counts.bytes_in, bytes.len() as u64);
        Ok((bytes, tag))
    }

    /// Bytes `start..end` of an object.
    pub fn get_range(&self, url: &S3Url, start: u64, end: u64) -> S3Result<Bytes> {
        let store = self.store(&url.bucket)?;
        add(&self.counts.get, 1);
        let bytes =
            self.block_on(async { store.get_range(&url.object_path(), start..end).await })?;
        add(&self.counts.bytes_in, bytes.len() as u64);
        Ok(bytes)
    }

    /// Writes a small object whole. `expect`: `None` overwrites; `Some(None)` creates only if absent;
    /// `Some(Some(etag))` replaces only that version. Returns the new ETag.
    pub fn put(
        &self,
        url: &S3Url,
        bytes: Bytes,
        expect: Option<Option<String>>,
    ) -> S3Result<Option<String>> {
        let store = self.store(&url.bucket)?;
        add(&self.counts.put, 1);
        add(&self.counts.bytes_out, bytes.len() as u64);
        let mode = match expect {
            None => PutMode::Overwrite,
            Some(None) => PutMode::Create,
            Some(Some(e_tag)) => PutMode::Update(UpdateVersion {
                e_tag: Some(e_tag),
                version: None,
            }),
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let result = self.block_on(async {
            store
                .put_opts(&url.object_path(), PutPayload::from_bytes(bytes), options)
                .await
        })?;
        Ok(result.e_tag)
    }

    /// Uploads a local file: one PUT when smaller than two parts, parts of [`PART_BYTES`] otherwise. The object becomes
    /// visible only when the upload completes; a failed multipart upload is aborted.
    pub fn upload(&self, local: &FsPath, url: &S3Url) -> S3Result<()> {
        let read_err = |e: std::io::Error| S3Error::setup(format!("{}: {e}", local.display()), e);
        let size = std::fs::metadata(local).map_err(read_err)?.len();
        let part = part_bytes();
        if size < 2 * part as u64 {
            let bytes = std::fs::read(local).map_err(read_err)?;
            self.put(url, Bytes::from(bytes), None)?;
            return Ok(());
        }
        let store = self.store(&url.bucket)?;
        self.block_on(async {
            add(&self.counts.upload_part, 2); // create + complete
            let mut file = std::fs::File::open(local).map_err(read_err)?;
            let upload = store.put_multipart(&url.object_path()).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part);
            let mut buf = vec![0u8; part];
            // Any failure before completion aborts the upload, so no parts are left behind.
            let failed = loop {
                let n = match std::io::Read::read(&mut file, &mut buf) {
                    Ok(0) => break writer.wait_for_capacity(0).await.err().map(S3Error::from),
                    Ok(n) => n,
                    Err(e) => break Some(read_err(e)),
                };
                if let Err(e) = writer.wait_for_capacity(4).await {
                    break Some(e.into());
                }
                writer.write(&buf[..n]);
                add(&self.counts.bytes_out, n as u64);
            };
            if let Some(e) = failed {
                let _ = writer.abort().await;
                return Err(e);
            }
            add(&self.counts.upload_part, size.div_ceil(part as u64));
            writer.finish().await.map(|_| ()).map_err(S3Error::from)
        })
    }

    /// Deletes one object (a missing one is not an error).
    pub fn delete(&self, url: &S3Url) -> S3Result<()> {
        let store = self.store(&url.bucket)?;
        add(&self.counts.delete, 1);
        match self.block_on(async { store.delete(&url.object_path()).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Listing pages a result of `entries` took (S3 returns up to 1000 keys per page).
fn pages(entries: usize) -> u64 {
    (entries as u64).div_ceil(1000).max(1)
}

fn object(bucket: &str, meta: ObjectMeta) -> Object {
    Object {
        url: S3Url {
            bucket: bucket.to_string(),
            key: meta.location.to_string(),
        },
        size: meta.size,
        mtime: meta.last_modified.timestamp(),
        etag: meta.e_tag,
    }
}

/// The client builder for `bucket`: environment, then the shared files, then the endpoint.
fn builder(settings: &S3Settings, bucket: &str) -> AmazonS3Builder {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // The SDKs' order: environment keys, web identity, then the shared files, then container and
    // instance roles (object_store's own fallbacks).
    if env("AWS_ACCESS_KEY_ID").is_none() && env("AWS_WEB_IDENTITY_TOKEN_FILE").is_none() {
        if let Some(p) = profile::credentials() {
            b = b
                .with_access_key_id(p.access_key_id)
                .with_secret_access_key(p.secret_access_key);
            if let Some(token) = p.session_token {
                b = b.with_token(token);
            }
        }
    }
    if env("AWS_REGION").is_none() && env("AWS_DEFAULT_REGION").is_none() {
        if let Some(region) = profile::region() {
            b = b.with_region(region);
        }
    }
    let endpoint = settings
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"));
    if let Some(endpoint) = endpoint {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    b
}

/// The shared credentials and config files (`~/.aws/credentials`, `~/.aws/config`).
mod profile {
    use std::collections::HashMap;
    use std::path::PathBuf;

    pub struct Keys {
        pub access_key_id: String,
        pub secret_access_key: String,
        pub session_token: Option<String>,
    }

    fn name() -> String {
        std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into())
    }

    fn file(var: &str, default: &str) -> Option<PathBuf> {
        std::env::var_os(var).map(PathBuf::from).or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(default))
        })
    }

    /// The `key = value` pairs of `[section]` in an INI file.
    pub fn section(text: &str, wanted: &str) -> HashMap<String, String> {
        let mut out = HashMap::new();
        let mut inside = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                inside = name.trim() == wanted;
            } else if inside {
                if let Some((k, v)) = line.split_once('=') {
                    out.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        out
    }

    pub fn credentials() -> Option<Keys> {
        let text =
            std::fs::read_to_string(file("AWS_SHARED_CREDENTIALS_FILE", "credentials")?).ok()?;
        let mut s = section(&text, &name());
        Some(Keys {
            access_key_id: s.remove("aws_access_key_id")?,
            secret_access_key: s.remove("aws_secret_access_key")?,
            session_token: s.remove("aws_session_token"),
        })
    }

    pub fn region() -> Option<String> {
        let text = std::fs::read_to_string(file("AWS_CONFIG_FILE", "config")?).ok()?;
        let profile = name();
        let header = if profile == "default" {
            profile
        } else {
            format!("profile {profile}")
        };
        section(&text, &header).remove("region")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_join_and_print() {
        let u = S3Url::parse("s3://logs/AWSLogs/123/").unwrap();
        assert_eq!(u.bucket, "logs");
        assert_eq!(u.key, "AWSLogs/123");
        assert_eq!(
            u.join("vpcflowlogs/").to_string(),
            "s3://logs/AWSLogs/123/vpcflowlogs"
        );
        assert_eq!(
            S3Url::parse("s3://b").unwrap().join("x").to_string(),
            "s3://b/x"
        );
        assert_eq!(S3Url::parse("s3://b").unwrap().to_string(), "s3://b");
        assert!(S3Url::parse("s3://").is_none());
        assert!(S3Url::parse("/tmp/x").is_none());
        assert!(is_s3(FsPath::new("s3://b/k")));
        let p = PathBuf::from("s3://b/AWSLogs/1/vpcflowlogs/us-east-1/2024/03/09");
        assert_eq!(
            S3Url::from_path(&p).unwrap().key,
            "AWSLogs/1/vpcflowlogs/us-east-1/2024/03/09"
        );
        assert_eq!(pages(0), 1);
        assert_eq!(pages(1000), 1);
        assert_eq!(pages(1001), 2);
    }

    #[test]
    fn profile_sections() {
        let text = "[default]\naws_access_key_id = A\n\n[profile prod]\nregion = eu-west-1\n# c\n[other]\nregion=x\n";
        assert_eq!(profile::section(text, "default")["aws_access_key_id"], "A");
        assert_eq!(
            profile::section(text, "profile prod")["region"],
            "eu-west-1"
        );
        assert!(profile::section(text, "missing").is_empty());
    }
}
