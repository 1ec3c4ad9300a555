//! Finds the flow log files under the input roots and the partition each one belongs to (its keys
//! from the path and name, see [`crate::lake::partition`]). `--from`/`--to` prune folders during the
//! walk, so no file outside the range is listed, let alone opened. Nothing here reads a file.

use std::path::{Path, PathBuf};

use crate::date::Day;
use crate::error::{Error, Result};
use crate::lake::partition::{
    components, dir_in_range, is_firehose_object, last_year, path_and_name_info, Grain,
    PartitionKey, FIRST_YEAR,
};
use crate::storage::{Entry, ListProblem, Listing, Store};
use crate::text::route::TimeSlot;

/// How a file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Plain,
    /// No extension (a Firehose object): gzip when the bytes start with gzip's magic, else text.
    Sniff,
}

/// One flow log file to convert.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Where it is: the root as typed (made absolute, symbolic links not resolved) plus the path below.
    pub path: PathBuf,
    /// Its identity across runs, with `size`: the path below its date folders (`17/part.log.gz`), or
    /// its name when the date comes from the name. See [`identity_of`](crate::lake::partition::identity_of).
    pub rel: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: Option<i64>,
    /// The version listed (S3 ETag); reading fails if the object changed since.
    pub version: Option<String>,
    pub compression: Compression,
    pub key: PartitionKey,
    /// For a file with no date of its own, read for one partition (`key`): every slot its records
    /// fall in, in order; the first takes its records with no time, its rejects and its headers. Its
    /// records outside `key`'s slot are not this partition's (they are read again for theirs).
    pub undated: Option<std::sync::Arc<[TimeSlot]>>,
}

impl InputFile {
    /// The file as its store listed it.
    pub fn entry(&self) -> Entry {
        Entry {
            path: self.path.clone(),
            size: self.size,
            mtime: self.mtime,
            version: self.version.clone(),
        }
    }
}

/// A listed file (or folder) that will not be converted, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    #[serde(serialize_with = "crate::paths::lossy")]
    pub path: PathBuf,
    pub reason: String,
    /// The file looks like a flow log (`.log.gz`, `.log`, ...): skipping it makes the run not clean.
    pub flow_log: bool,
}

/// The result of the walk.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to convert, sorted by partition, then path.
    pub files: Vec<InputFile>,
    pub skipped: Vec<Skipped>,
    /// Entries below a root that could not be listed (dangling symbolic link, loop, unreadable folder).
    pub failed: Vec<ListProblem>,
    /// Things worth telling (a folder date and a file name date that disagree), by path.
    pub warnings: Vec<(PathBuf, String)>,
    /// Flow log files with no date in their path or name (CloudWatch Logs exports, undated text):
    /// their records are partitioned by their own time, so they are listed whatever `--from/--to`
    /// say and their `key.day` means nothing until they are read.
    pub undated: Vec<InputFile>,
}

/// Why folders whose name starts with `_` or `.` are not read.
const HIDDEN_REASON: &str =
    "folder name starts with `_` or `.` (bookkeeping or hidden, as Hive readers skip them): not read";

/// Lists every root through `source` and classifies what it finds. Only a root that cannot be listed
/// is an error; a bad entry below it is listed in [`Discovery::failed`].
pub fn discover(
    source: &dyn Store,
    roots: &[PathBuf],
    from: Option<Day>,
    to: Option<Day>,
    grain: Grain,
) -> Result<Discovery> {
    discover_pruned(source, roots, from, to, grain, &|_| true)
}

/// [`discover`] that also leaves out the folders below a root that `keep` refuses, unlisted (a shard's
/// pruning of the day folders other shards build, see `convert/listing.rs`).
pub fn discover_pruned(
    source: &dyn Store,
    roots: &[PathBuf],
    from: Option<Day>,
    to: Option<Day>,
    grain: Grain,
    keep: &dyn Fn(&Path) -> bool,
) -> Result<Discovery> {
    let mut out = Discovery::default();
    let range = in_range(from, to);
    let keep_dir = |dir: &Path| range(dir) && keep(dir);
    for root in roots {
        let listing = source
            .list(root, &keep_dir)
            .map_err(|source| Error::Input {
                path: root.clone(),
                source,
            })?;
        out.add(listing, from, to, grain);
    }
    out.sort();
    Ok(out)
}

/// The folder test of a listing for `--from`/`--to`: false for a folder whose date (its last one to
/// three names) is outside the range, so nothing below it is listed.
pub fn in_range(from: Option<Day>, to: Option<Day>) -> impl Fn(&Path) -> bool + Sync {
    move |dir: &Path| dir_in_range(&components(dir), from, to)
}

/// Classifies listings made some other way (an S3 Inventory report, a plan's entries) exactly as
/// [`discover`] classifies the listings of its roots.
pub fn classify(
    listings: impl IntoIterator<Item = Listing>,
    from: Option<Day>,
    to: Option<Day>,
    grain: Grain,
) -> Discovery {
    let mut out = Discovery::default();
    for listing in listings {
        out.add(listing, from, to, grain);
    }
    out.sort();
    out
}

impl Discovery {
    /// Classifies the entries of one root's listing.
    fn add(&mut self, listing: Listing, from: Option<Day>, to: Option<Day>, grain: Grain) {
        for entry in listing.entries {
            classify_entry(entry, from, to, grain, self);
        }
        self.failed.extend(listing.problems);
        self.skipped
            .extend(listing.hidden.into_iter().map(|path| Skipped {
                path,
                reason: HIDDEN_REASON.into(),
                flow_log: false,
            }));
    }

    /// Sorts files by partition, then path, and drops an entry listed twice (overlapping roots).
    fn sort(&mut self) {
        self.files
            .sort_by(|a, b| (&a.key, &a.path).cmp(&(&b.key, &b.path)));
        self.files.dedup_by(|a, b| a.path == b.path);
        self.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        self.skipped.dedup_by(|a, b| a.path == b.path);
    }
}

/// Classifies one listed entry into `out` as [`discover`] does (a file to convert, an undated one,
/// or skipped with the reason); dated files outside `from`..=`to` are left out.
pub fn classify_entry(
    entry: Entry,
    from: Option<Day>,
    to: Option<Day>,
    grain: Grain,
    out: &mut Discovery,
) {
    let name = entry
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let skip = |out: &mut Discovery, reason: String| {
        out.skipped.push(Skipped {
            path: entry.path.clone(),
            reason,
            flow_log: compression_of(&name).is_some(),
        })
    };
    let Some(compression) = compression_of(&name) else {
        return if name.to_ascii_lowercase().ends_with(".parquet") {
            skip(
                out,
                "Parquet file among text logs (use `flowlake compact` for Parquet)".into(),
            )
        } else if name == "aws-logs-write-test" {
            skip(
                out,
                "CloudWatch Logs' permission probe of an export task, not a flow log".into(),
            )
        } else {
            skip(out, "not a flow log file (.log.gz, .gz, .log, .txt)".into())
        };
    };
    let (from_path, from_name) = path_and_name_info(&entry.path);
    if let Some(reason) = from_path.refused.or(from_name.refused) {
        return skip(out, reason);
    }
    let bad_year = from_path.bad_year.or(from_name.bad_year);
    let day = match (from_path.day.or(from_name.day), bad_year) {
        (Some(day), _) => Some(day),
        (None, Some(y)) => {
            let reason = format!(
                "year {y} is outside {FIRST_YEAR}..={} (not a flow log date)",
                last_year()
            );
            return skip(out, reason);
        }
        // No date at all: partitioned by each record's own time once read.
        (None, None) => None,
    };
    let Some(day) = day else {
        let file = input_file(
            entry,
            from_path.rel.unwrap_or(name),
            compression,
            UNDATED,
            None,
        );
        out.undated.push(InputFile {
            key: PartitionKey {
                account: from_path.account.or(from_name.account),
                region: from_path.region.or(from_name.region),
                ..file.key
            },
            ..file
        });
        return;
    };
    if from.is_some_and(|f| day < f) || to.is_some_and(|t| day > t) {
        return; // outside the requested range: not ours to report
    }
    if let (Some(folder), Some(named)) = (from_path.day, from_name.day) {
        if folder != named {
            out.warnings.push((
                entry.path.clone(),
                format!("its folders say {folder}, its file name says {named}: the folder's date is used"),
            ));
        }
    }
    let hour = if grain.is_hourly() {
        match from_path.hour.or(from_name.hour) {
            Some(h) => Some(h),
            None => {
                return skip(
                    out,
                    "--hourly: no hour in the path (HH or hour=HH) or the AWS file name".into(),
                )
            }
        }
    } else {
        None
    };
    let file = input_file(entry, from_path.rel.unwrap_or(name), compression, day, hour);
    out.files.push(InputFile {
        key: PartitionKey {
            account: from_path.account.or(from_name.account),
            region: from_path.region.or(from_name.region),
            ..file.key
        },
        ..file
    });
}

/// The placeholder day of an undated file's key (its records' own times decide its partitions).
const UNDATED: Day = Day {
    year: 1970,
    month: 1,
    day: 1,
};

/// A listed file as an input of `day` (and `hour`), with no account or region yet.
fn input_file(
    entry: Entry,
    rel: String,
    compression: Compression,
    day: Day,
    hour: Option<u8>,
) -> InputFile {
    InputFile {
        rel,
        path: entry.path,
        size: entry.size,
        mtime: entry.mtime,
        version: entry.version,
        compression,
        key: PartitionKey {
            account: None,
            region: None,
            day,
            hour,
        },
        undated: None,
    }
}

/// How a file with this name is stored, if it is a flow log file at all (any letter case).
pub fn compression_of(name: &str) -> Option<Compression> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") {
        Some(Compression::Gzip)
    } else if lower.ends_with(".log") || lower.ends_with(".txt") {
        Some(Compression::Plain)
    } else if is_firehose_object(name) {
        Some(Compression::Sniff)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_in_any_case() {
        assert_eq!(compression_of("A.LOG.GZ"), Some(Compression::Gzip));
        assert_eq!(compression_of("a.Log"), Some(Compression::Plain));
        assert_eq!(compression_of("a.parquet"), None);
    }
}
