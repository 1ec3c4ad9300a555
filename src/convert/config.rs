//! The validated settings of a `convert` run, with every tuning default as a named constant.
//!
//! The CLI turns flags into a [`ConvertConfig`]; the library only ever sees this type.

use std::path::PathBuf;

use crate::convert::shard::Shard;
use crate::error::{Error, Result};
use crate::input::discover::Day;
use crate::text::layout::Layout;

/// Target size of one output Parquet file (about 256 MiB): large enough for scan engines, small
/// enough to split work across them.
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Upper bound on rows per Parquet row group (scan engines parallelise by row group). Measured on 25.9 M
/// generated rows: 256 Ki rows gives the smallest files (572 MB; 1 Mi rows: 636 MB, because larger
/// row groups overflow the dictionary pages of the address columns and fall back to plain encoding;
/// 128 Ki: 596 MB) at the same speed and memory. See `benches/README.md`.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 256 * 1024;
/// Rows per Arrow batch handed from the parser to the encoder.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;
/// ZSTD level of the Parquet pages.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Compressed input parsed per pipeline step; with the file buffers, bounds the memory of a run.
pub const DEFAULT_READ_AHEAD_BYTES: u64 = 16 * 1024 * 1024;
/// Largest decompressed file accepted (AWS caps delivered files at 75 MB); bigger files are failed.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;
/// Longest line accepted; longer lines are rejected as `line_too_long` (flow log lines are < 2 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest share of rejected lines a partition may have and still be published.
pub const DEFAULT_MAX_REJECT_RATIO: f64 = 0.05;
/// Hard limit of `max_file_bytes`: offsets into a file buffer are `u32`, string offsets `i32`.
pub const MAX_FILE_BYTES_LIMIT: u64 = i32::MAX as u64;
/// Most worker threads a run accepts (`--threads`). Work is split per core; far more threads than
/// cores only cost start-up time and memory (thousands take many seconds just to start).
pub const MAX_THREADS: usize = 256;
/// Smallest `target_file_bytes` accepted.
pub const MIN_TARGET_FILE_BYTES: u64 = 1024;

/// Which Hive keys the partitions get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionLayout {
    /// AWS's keys when every input names its account and region, plain otherwise.
    #[default]
    Auto,
    /// `aws-account-id=/aws-service=vpcflowlogs/aws-region=/year=/month=/day=`.
    Aws,
    /// `year=/month=/day=`.
    Plain,
}

/// Which time decides a row's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionTime {
    /// The delivery folder (or file name) of the row's file, as AWS partitions.
    #[default]
    Delivery,
    /// The row's own `start`, when it lies in its file's delivery day (hour) or the one before.
    Start,
}

/// What a bad line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadLinePolicy {
    /// Record it in the rejects sidecar and go on (the partition's reject ratio still applies).
    #[default]
    Reject,
    /// Stop the run with an error before the partition is published.
    Abort,
}

/// What a file that cannot be read completely (truncated, corrupt, not gzip, ...) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadFilePolicy {
    /// List it in the report and convert the other files without it (none of its rows are published).
    #[default]
    Quarantine,
    /// Like `Quarantine`, but publish the complete lines decoded before the damage.
    Salvage,
    /// Stop the run with an error before the partition is published.
    Abort,
}

/// Settings of a `convert` run.
#[derive(Debug, Clone)]
pub struct ConvertConfig {
    /// Input roots (folders or files).
    pub inputs: Vec<PathBuf>,
    /// Lake root.
    pub out: PathBuf,
    /// First day to convert (inclusive).
    pub from: Option<Day>,
    /// Last day to convert (inclusive).
    pub to: Option<Day>,
    /// Field list for files without a header line.
    pub fields: Option<Layout>,
    pub partition_layout: PartitionLayout,
    /// Add an `hour=` partition key.
    pub hourly: bool,
    pub partition_time: PartitionTime,
    pub target_file_bytes: u64,
    pub row_group_rows: usize,
    pub batch_rows: usize,
    pub zstd_level: i32,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
    pub read_ahead_bytes: u64,
    pub max_file_bytes: u64,
    pub max_line_bytes: usize,
    pub on_bad_line: BadLinePolicy,
    pub on_bad_file: BadFilePolicy,
    /// A partition with more than this share of rejected lines is not published (0.0 to 1.0).
    pub max_reject_ratio: f64,
    /// Rebuild every partition in range, even those the manifest says are up to date.
    pub rebuild: bool,
    /// When an input of a published partition no longer exists, drop its rows at the partition's next
    /// rebuild (mirror the deletion) instead of carrying them over from the lake's files.
    pub mirror_deletions: bool,
    /// Build only this shard's partitions (see [`crate::convert::shard`]).
    pub shard: Option<Shard>,
    /// Endpoint of an S3-compatible store for `s3://` inputs and lakes (AWS S3 when `None`).
    pub endpoint: Option<String>,
}

impl ConvertConfig {
    /// A configuration with every default.
    pub fn new(inputs: Vec<PathBuf>, out: PathBuf) -> Self {
        ConvertConfig {
            inputs,
            out,
            from: None,
            to: None,
            fields: None,
            partition_layout: PartitionLayout::Auto,
            hourly: false,
            partition_time: PartitionTime::Delivery,
            target_file_bytes: DEFAULT_TARGET_FILE_BYTES,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            batch_rows: DEFAULT_BATCH_ROWS,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            threads: 0,
            read_ahead_bytes: DEFAULT_READ_AHEAD_BYTES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            on_bad_line: BadLinePolicy::Reject,
            on_bad_file: BadFilePolicy::Quarantine,
            max_reject_ratio: DEFAULT_MAX_REJECT_RATIO,
            rebuild: false,
            mirror_deletions: false,
            shard: None,
            endpoint: None,
        }
    }

    /// Checks the settings against each other; the error names the offending setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.inputs.is_empty() {
            return bad("no input given".into());
        }
        validate_range(self.from, self.to)?;
        validate_writer(self.target_file_bytes, self.row_group_rows, self.zstd_level)?;
        validate_threads(self.threads)?;
        if self.batch_rows == 0 {
            return bad("--batch-rows must be positive".into());
        }
        if self.max_line_bytes == 0 {
            return bad("--max-line-size must be at least 1 byte".into());
        }
        if self.max_file_bytes == 0 || self.max_file_bytes > MAX_FILE_BYTES_LIMIT {
            return bad(format!(
                "--max-file-size must be between 1 byte and {MAX_FILE_BYTES_LIMIT} bytes"
            ));
        }
        if !(0.0..=1.0).contains(&self.max_reject_ratio) {
            return bad(format!(
                "--max-reject-ratio {} is outside 0..=1",
                self.max_reject_ratio
            ));
        }
        for input in &self.inputs {
            if input.starts_with(&self.out) && input != &self.out {
                return bad(format!(
                    "input {} is inside the output lake",
                    input.display()
                ));
            }
        }
        Ok(())
    }
}

/// Checks a `--from`/`--to` day range (used by `convert` and `compact`).
pub fn validate_range(from: Option<Day>, to: Option<Day>) -> Result<()> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => {
            Err(Error::Config(format!("--from {from} is after --to {to}")))
        }
        _ => Ok(()),
    }
}

/// Checks the output file settings `convert` and `compact` share (`--target-file-size`,
/// `--row-group-rows`, `--zstd-level`); the error names the flag.
pub fn validate_writer(
    target_file_bytes: u64,
    row_group_rows: usize,
    zstd_level: i32,
) -> Result<()> {
    let bad = |m: String| Err(Error::Config(m));
    if target_file_bytes < MIN_TARGET_FILE_BYTES {
        return bad("--target-file-size must be at least 1KiB".into());
    }
    if row_group_rows == 0 {
        return bad("--row-group-rows must be positive".into());
    }
    if !(1..=22).contains(&zstd_level) {
        return bad(format!("--zstd-level {zstd_level} is outside 1..=22"));
    }
    Ok(())
}

/// Checks a worker thread count (`--threads`; 0 = one per core) against [`MAX_THREADS`].
pub fn validate_threads(threads: usize) -> Result<()> {
    if threads > MAX_THREADS {
        return Err(Error::Config(format!(
            "--threads {threads} is above the limit of {MAX_THREADS} (0 = one per core)"
        )));
    }
    Ok(())
}

/// Parses a size such as `256MiB`, `64KiB`, `1GiB`, `500MB`, `1048576` (bytes).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 64KiB, 256MiB, 1GiB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}` (use KiB, MiB, GiB)"
            ))
        }
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size `{text}` is out of range"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("256MiB"), Ok(268_435_456));
        assert_eq!(parse_size("1GiB"), Ok(1_073_741_824));
        assert_eq!(parse_size("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn validation_names_the_setting() {
        let mut c = ConvertConfig::new(vec!["in".into()], "out".into());
        assert!(c.validate().is_ok());
        c.zstd_level = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--zstd-level"));
        c.zstd_level = 3;
        c.from = Day::new(2024, 2, 1);
        c.to = Day::new(2024, 1, 1);
        assert!(c.validate().unwrap_err().to_string().contains("--from"));
        c.from = None;
        c.max_line_bytes = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid configuration: --max-line-size must be at least 1 byte"
        );
        c.max_line_bytes = DEFAULT_MAX_LINE_BYTES;
        c.threads = MAX_THREADS + 1;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid configuration: --threads 257 is above the limit of 256 (0 = one per core)"
        );
        c.threads = MAX_THREADS;
        assert!(c.validate().is_ok());
    }
}
