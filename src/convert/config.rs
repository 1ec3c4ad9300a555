//! The validated settings of a `convert` run, with every tuning default as a named constant.
//!
//! The CLI turns flags into a [`ConvertConfig`]; the library only ever sees this type.

use std::path::PathBuf;

use crate::convert::shard::Shard;
use crate::date::{check_range, Day};
use crate::enrich::{EnrichSet, Given};
use crate::error::{Error, Result};
use crate::input::parse::{BadFilePolicy, BadLinePolicy, ParseSettings};
use crate::lake::filter::Filters;
use crate::lake::partition::{is_account, is_region};
use crate::lake::partition::{Grain, PartitionLayout, PartitionTime};
use crate::lake::schema::{OutputSchema, RecordKind};
use crate::lake::write::WriteSettings;
use crate::threads;

/// Rows per Arrow batch handed from the parser to the encoder.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;
/// Compressed input parsed per pipeline step; with the file buffers, bounds the memory of a run.
/// Small waves keep both the parser and the encoder busy from the first to the last file (measured:
/// benches/README.md, "Waves").
pub const DEFAULT_READ_AHEAD_BYTES: u64 = 4 * 1024 * 1024;
/// The same for `s3://` inputs: a wave's objects are downloaded together, and a bigger wave hides
/// more of S3's latency behind the encoding of the one before.
pub const DEFAULT_S3_READ_AHEAD_BYTES: u64 = 16 * 1024 * 1024;
/// Largest decompressed file accepted (AWS caps delivered files at 75 MB); bigger files are failed.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024 * 1024;
/// Longest line accepted; longer lines are rejected as `line_too_long` (flow log lines are < 2 KiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest share of rejected lines a partition may have and still be published.
pub const DEFAULT_MAX_REJECT_RATIO: f64 = 0.05;
/// Hard limit of `max_file_bytes`: offsets into a file buffer are `u32`, string offsets `i32`.
pub const MAX_FILE_BYTES_LIMIT: u64 = i32::MAX as u64;

/// Where a run's rows go: the lake's partition keys, their grain, the time that picks a row's
/// partition, and the keys of inputs that name none. A lake records the first three when it is first
/// written (`lake.json`), and later runs must use the same.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Partitioning {
    /// `--partition-layout`.
    pub layout: PartitionLayout,
    /// Day partitions, or hour partitions (`--hourly`, an `hour=` key).
    pub grain: Grain,
    /// `--partition-time`.
    pub time: PartitionTime,
    /// Account and region for inputs whose path and name give none (CloudWatch Logs and Firehose
    /// objects, headerless text in a plain tree): `--account`, `--region`.
    pub account: Option<String>,
    pub region: Option<String>,
}

/// Settings of a `convert` run, grouped by concern: where rows go ([`Partitioning`]), how inputs
/// are read and parsed ([`ParseSettings`], with the records the lake keeps), and how the lake's
/// files are written ([`WriteSettings`], shared with `compact`).
///
/// The settings the shards of a plan must share are stored in the plan (serde, see
/// [`crate::convert::shard_plan`]); what is the process's own (the lake it was given, read-ahead,
/// threads, shard, plan, endpoint) is not.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConvertConfig {
    /// Input roots (folders or files).
    #[serde(with = "crate::paths::lossless_all")]
    pub inputs: Vec<PathBuf>,
    /// Lake root.
    #[serde(skip)]
    pub out: PathBuf,
    /// First day to convert (inclusive).
    pub from: Option<Day>,
    /// Last day to convert (inclusive).
    pub to: Option<Day>,
    pub partitioning: Partitioning,
    pub parse: ParseSettings,
    pub write: WriteSettings,
    /// Compressed input per wave ([`DEFAULT_READ_AHEAD_BYTES`], or [`DEFAULT_S3_READ_AHEAD_BYTES`]
    /// when an input is on S3).
    #[serde(skip)]
    pub read_ahead_bytes: u64,
    /// A partition with more than this share of rejected lines is not published (0.0 to 1.0).
    pub max_reject_ratio: f64,
    /// Worker threads; 0 = one per core.
    #[serde(skip)]
    pub threads: usize,
    /// Rebuild every partition in range, even those the manifest says are up to date.
    pub rebuild: bool,
    /// When an input of a published partition no longer exists, drop its rows at the partition's next
    /// rebuild (mirror the deletion) instead of carrying them over from the lake's files.
    pub mirror_deletions: bool,
    /// Build only this shard's partitions (see [`crate::convert::shard`]; with `plan`, the plan's
    /// part K of N).
    #[serde(skip)]
    pub shard: Option<Shard>,
    /// Endpoint of an S3-compatible store for `s3://` inputs and lakes (AWS S3 when `None`).
    #[serde(skip)]
    pub endpoint: Option<String>,
    /// Build `shard`'s part of the plan with this id (made by
    /// [`plan_shards`](crate::convert::plan_shards)) instead of listing the inputs; the settings must
    /// be the plan's ([`ShardPlan::config`](crate::convert::planning::ShardPlan::config)).
    #[serde(skip)]
    pub plan: Option<String>,
    /// An S3 Inventory report (its `manifest.json`, an `s3://` URL or a local copy) read as the
    /// listing of the inputs instead of listing them (see [`crate::input::inventory`]).
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// The lake of the Transit Gateway flow logs among the inputs (`--tgw-out`): converted after the
    /// VPC flow logs into a lake of their own; without it they are skipped, and named.
    #[serde(skip)]
    pub tgw_out: Option<PathBuf>,
    /// The columns to add (`--enrich`) and the data files they read.
    #[serde(default)]
    pub enrich: EnrichConfig,
    /// The schema of the lake's files (`--schema`): AWS's, or OCSF (with Security Lake's
    /// partitions, see [`ConvertConfig::for_ocsf`]).
    #[serde(default)]
    pub schema: OutputSchema,
}

/// `--enrich` and its data files: each a local path, an `s3://` URL or an `http(s)://` URL, read once
/// at the start of a run (a file that cannot serve its enrichment stops the run before any work).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrichConfig {
    pub set: EnrichSet,
    /// AWS's `ip-ranges.json` (`--ip-ranges`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_ranges: Option<String>,
    /// A MaxMind DB with countries (`--geoip-country`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geoip_country: Option<String>,
    /// A MaxMind DB with autonomous systems (`--geoip-asn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geoip_asn: Option<String>,
}

impl EnrichConfig {
    /// Which data files are given.
    pub fn given(&self) -> Given {
        Given {
            ip_ranges: self.ip_ranges.is_some(),
            country: self.geoip_country.is_some(),
            asn: self.geoip_asn.is_some(),
        }
    }
}

impl ConvertConfig {
    /// A configuration with every default (the read-ahead for `s3://` inputs when any input is one).
    pub fn new(inputs: Vec<PathBuf>, out: PathBuf) -> Self {
        let read_ahead_bytes = if inputs.iter().all(|p| crate::storage::is_local(p)) {
            DEFAULT_READ_AHEAD_BYTES
        } else {
            DEFAULT_S3_READ_AHEAD_BYTES
        };
        ConvertConfig {
            inputs,
            out,
            from: None,
            to: None,
            partitioning: Partitioning::default(),
            parse: ParseSettings {
                fields: None,
                batch_rows: DEFAULT_BATCH_ROWS,
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                max_line_bytes: DEFAULT_MAX_LINE_BYTES,
                on_bad_line: BadLinePolicy::Reject,
                on_bad_file: BadFilePolicy::Quarantine,
                filters: Filters::default(),
                record_kind: RecordKind::Vpc,
            },
            write: WriteSettings::default(),
            read_ahead_bytes,
            max_reject_ratio: DEFAULT_MAX_REJECT_RATIO,
            threads: 0,
            rebuild: false,
            mirror_deletions: false,
            shard: None,
            endpoint: None,
            plan: None,
            inventory: None,
            tgw_out: None,
            enrich: EnrichConfig::default(),
            schema: OutputSchema::Aws,
        }
    }

    /// The schema of the files the run writes.
    pub fn file_schema(&self) -> arrow::datatypes::SchemaRef {
        match self.schema {
            OutputSchema::Aws => {
                crate::lake::schema::table_schema(self.parse.record_kind, &self.enrich.set)
            }
            OutputSchema::Ocsf => crate::lake::ocsf::schema(),
        }
    }

    /// The same settings for an OCSF lake (`--schema ocsf`): Security Lake's partitions
    /// (`region=/accountId=/eventDay=`), each row in the day of its own start (`eventDay` is the
    /// record's day, UTC).
    pub fn for_ocsf(mut self) -> Self {
        self.schema = OutputSchema::Ocsf;
        self.partitioning.layout = PartitionLayout::SecurityLake;
        self.partitioning.time = PartitionTime::Start;
        self
    }

    /// True when the run hands files of `kind` to a lake of their own (Transit Gateway flow logs with
    /// `--tgw-out`) instead of skipping them.
    pub fn hands_over(&self, kind: RecordKind) -> bool {
        kind == RecordKind::TransitGateway && self.tgw_out.is_some()
    }

    /// The settings of the Transit Gateway pass of a run with `--tgw-out`: the same inputs, range and
    /// settings, into the Transit Gateway lake, for Transit Gateway records (which have no `action`:
    /// `--action` does not apply to them, `--drop-log-status` does).
    pub fn for_transit_gateway(&self) -> Option<ConvertConfig> {
        let out = self.tgw_out.clone()?;
        let mut cfg = self.clone();
        cfg.out = out;
        cfg.tgw_out = None;
        cfg.parse.record_kind = RecordKind::TransitGateway;
        cfg.parse.filters.action = crate::lake::filter::ActionFilter::All;
        Some(cfg)
    }

    /// Checks the settings against each other; the error names the offending setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.inputs.is_empty() {
            return bad("no input given".into());
        }
        self.partitioning.validate()?;
        self.check_schema()?;
        self.enrich
            .set
            .check(&self.enrich.given())
            .map_err(Error::Config)?;
        check_range(self.from, self.to)?;
        self.write.validate()?;
        threads::validate(self.threads)?;
        let parse = &self.parse;
        if parse.batch_rows == 0 {
            return bad("--batch-rows must be positive".into());
        }
        if parse.max_line_bytes == 0 {
            return bad("--max-line-size must be at least 1 byte".into());
        }
        if parse.max_file_bytes == 0 || parse.max_file_bytes > MAX_FILE_BYTES_LIMIT {
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
        if let Some(tgw) = &self.tgw_out {
            if tgw.starts_with(&self.out) || self.out.starts_with(tgw) {
                return bad(format!(
                    "--tgw-out {} and --out {} must be two lakes, neither inside the other \
                     (readers of one would read the other's files)",
                    tgw.display(),
                    self.out.display()
                ));
            }
            if let Some(input) = self.inputs.iter().find(|i| i.starts_with(tgw) && *i != tgw) {
                return bad(format!(
                    "input {} is inside the Transit Gateway lake",
                    input.display()
                ));
            }
            if self.plan.is_some() {
                return bad(
                    "--tgw-out cannot be used with --plan yet: run the shards of a plan \
                            without it, and convert the Transit Gateway flow logs in a run of \
                            their own with --tgw-out"
                        .into(),
                );
            }
            if !self.write.sort_by.is_none() {
                return bad(
                    "--sort-by cannot be used with --tgw-out yet: the Transit Gateway \
                            lake's columns are not the VPC lake's"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

impl ConvertConfig {
    /// Checks the settings `--schema ocsf` fixes or cannot serve.
    fn check_schema(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        let security_lake = self.partitioning.layout == PartitionLayout::SecurityLake;
        if self.schema == OutputSchema::Aws {
            if security_lake {
                return bad("Security Lake's partition layout is for --schema ocsf");
            }
            return Ok(());
        }
        if !security_lake {
            return bad(
                "--partition-layout cannot be used with --schema ocsf: an OCSF lake has Security \
                 Lake's partitions (region=/accountId=/eventDay=)",
            );
        }
        if self.partitioning.grain.is_hourly() {
            return bad(
                "--hourly cannot be used with --schema ocsf: Security Lake partitions by day",
            );
        }
        if self.partitioning.time != PartitionTime::Start {
            return bad(
                "--partition-time delivery cannot be used with --schema ocsf: Security Lake \
                 partitions a record by its own day (eventDay)",
            );
        }
        if !self.enrich.set.is_empty() {
            return bad(
                "--enrich cannot be used with --schema ocsf: Security Lake's Network Activity \
                 table has no columns for the enrichments",
            );
        }
        if self.tgw_out.is_some() {
            return bad(
                "--tgw-out cannot be used with --schema ocsf: Transit Gateway flow logs have no \
                 OCSF mapping here; convert them into an AWS-schema lake of their own",
            );
        }
        if !self.write.sort_by.is_none() {
            return bad(
                "--sort-by cannot be used with --schema ocsf: an OCSF lake's files are sorted by \
                 time, as Security Lake asks",
            );
        }
        if self.parse.record_kind != RecordKind::Vpc {
            return bad("--schema ocsf maps VPC flow logs only");
        }
        Ok(())
    }
}

impl Partitioning {
    /// Checks `--account` and `--region`: each well formed, and both or neither.
    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if let Some(a) = self.account.as_deref().filter(|a| !is_account(a)) {
            return bad(format!("--account {a}: an AWS account id is 12 digits"));
        }
        if let Some(r) = self.region.as_deref().filter(|r| !is_region(r)) {
            return bad(format!(
                "--region {r}: not an AWS region name (like us-east-1)"
            ));
        }
        match (&self.account, &self.region) {
            (Some(a), None) => bad(format!(
                "--account {a} needs --region: a partition gets AWS's keys \
                 (aws-account-id=/aws-region=) only with both, so one alone would be ignored"
            )),
            (None, Some(r)) => bad(format!(
                "--region {r} needs --account: a partition gets AWS's keys \
                 (aws-account-id=/aws-region=) only with both, so one alone would be ignored"
            )),
            _ => Ok(()),
        }
    }
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
        c.write.zstd_level = Some(0);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--zstd-level"));
        c.write.zstd_level = Some(3);
        c.from = Day::new(2024, 2, 1);
        c.to = Day::new(2024, 1, 1);
        assert!(c.validate().unwrap_err().to_string().contains("--from"));
        c.from = None;
        c.parse.max_line_bytes = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid configuration: --max-line-size must be at least 1 byte"
        );
        c.parse.max_line_bytes = DEFAULT_MAX_LINE_BYTES;
        c.threads = crate::threads::MAX_THREADS + 1;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid configuration: --threads 257 is above the limit of 256 (0 = one per core)"
        );
        c.threads = crate::threads::MAX_THREADS;
        assert!(c.validate().is_ok());
    }
}
