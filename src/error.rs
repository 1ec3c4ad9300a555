//! The library's error type: what stops a run (as opposed to a bad line or a bad file, which are
//! recorded in the [`Report`](crate::convert::report::Report) and do not stop anything), and the kinds
//! of bad file ([`ReadErrorKind`]) that reports and manifests record.

use std::path::PathBuf;

/// A fatal error: the run cannot go on (bad configuration, unusable output, I/O failure on the lake).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid; the message says which and why.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A data file a setting names (`--ip-ranges`, `--geoip-country`, `--geoip-asn`) cannot be read
    /// or is not what the setting needs; the message names the file. Found before any work: a usage
    /// error.
    #[error(transparent)]
    DataFile(Box<dyn std::error::Error + Send + Sync>),
    /// An input root does not exist or cannot be read.
    #[error("input {path}: {source}")]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the lake failed (disk full, permission denied, ...).
    #[error("output {path}: {source}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A lake cannot be described or read as one table (mixed layouts, conflicting column types, ...).
    #[error("lake {path}: {message}")]
    Lake { path: PathBuf, message: String },
    /// The Parquet encoder failed.
    #[error("writing Parquet {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building Arrow arrays failed (an internal invariant was broken).
    #[error("building Arrow data: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A bad line with `--on-bad-line abort`.
    #[error("{path}:{line}: {message} (--on-bad-line abort)")]
    BadLine {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// An unreadable file with `--on-bad-file abort`.
    #[error("{path}: {message} (--on-bad-file abort)")]
    BadFile { path: PathBuf, message: String },
    /// The run was interrupted (SIGINT, SIGTERM); nothing half-done was published.
    #[error("interrupted; partitions not yet published are untouched")]
    Interrupted,
    /// Another run holds the lake's lock.
    #[error("another flowlake run is using the lake {lake} ({holder}); it releases the lock when it ends")]
    Locked { lake: PathBuf, holder: String },
    /// The accounting check failed: lines read != rows written + rejected.
    #[error("accounting mismatch for {what}: {lines} lines read but {rows} rows written + {rejected} rejected")]
    Accounting {
        what: String,
        lines: u64,
        rows: u64,
        rejected: u64,
    },
}

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn output(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Output {
            path: path.into(),
            source,
        }
    }
}

/// Why a file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadErrorKind {
    /// A `.gz` file that does not start with the gzip magic bytes.
    NotGzip,
    /// The gzip stream ends early (an interrupted upload or copy).
    Truncated,
    /// Bad deflate data, or a CRC or length mismatch, in a member.
    Corrupt,
    /// Bytes after the last complete member that are not another gzip member.
    TrailingGarbage,
    /// The decompressed file is larger than `--max-file-size`.
    TooLarge,
    /// An object of JSON envelopes (CloudWatch Logs, Firehose) holds something that is not one: cut
    /// short, or foreign bytes after the envelopes read.
    BadEnvelope,
    /// The lake keeps records by a field (`--action`, `--drop-log-status`) that the file's format
    /// lacks, so its records cannot be filtered.
    Unfilterable,
    /// A file with no date in its path or name whose records have no time either: no partition.
    NoTime,
    /// A file whose headers switch between VPC and Transit Gateway records (two files of different
    /// kinds concatenated): its records belong in two lakes, none of its lines are used.
    MixedKinds,
    /// The file could not be opened or read.
    Io,
    /// The file was listed (by the store or an S3 Inventory report) but no longer exists when read.
    Gone,
    /// An entry below an input root could not be listed (a dangling symbolic link, a loop, a folder
    /// the process may not read): not read, the rest of the run goes on.
    Listing,
    /// An input of a plan (`convert --plan`) that changed or vanished since the plan listed it: not
    /// read, and the partitions it feeds are not published (make a new plan).
    Stale,
}

impl ReadErrorKind {
    /// True for a gzip stream that broke (truncated, corrupt, trailing garbage): the text decoded
    /// before the damage is there, for `--on-bad-file salvage`.
    pub fn is_damage(self) -> bool {
        matches!(
            self,
            ReadErrorKind::Truncated | ReadErrorKind::Corrupt | ReadErrorKind::TrailingGarbage
        )
    }

    /// True for failures that may pass on a later run without the file changing (I/O, the size
    /// limit): such a file is retried even when its partition is otherwise up to date.
    pub fn may_pass(self) -> bool {
        matches!(
            self,
            ReadErrorKind::Io
                | ReadErrorKind::Gone
                | ReadErrorKind::TooLarge
                | ReadErrorKind::Stale
        )
    }

    /// The name used in reports and the manifest (`too_large`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadErrorKind::NotGzip => "not_gzip",
            ReadErrorKind::Truncated => "truncated",
            ReadErrorKind::Corrupt => "corrupt",
            ReadErrorKind::TrailingGarbage => "trailing_garbage",
            ReadErrorKind::TooLarge => "too_large",
            ReadErrorKind::BadEnvelope => "bad_envelope",
            ReadErrorKind::Unfilterable => "unfilterable",
            ReadErrorKind::NoTime => "no_time",
            ReadErrorKind::MixedKinds => "mixed_kinds",
            ReadErrorKind::Io => "io",
            ReadErrorKind::Gone => "gone",
            ReadErrorKind::Listing => "listing",
            ReadErrorKind::Stale => "stale",
        }
    }
}
