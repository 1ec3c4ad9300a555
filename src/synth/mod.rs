//! Deterministic generator of realistic AWS deliveries of VPC flow logs.
//!
//! Used to make small committed test fixtures and multi-GB benchmark inputs for the converter.
//! With [`Delivery::S3`] (the default), [`generate`] writes gzipped text files exactly where and how
//! AWS delivers them to S3 (AWS's VPC User Guide, *Publish flow logs to Amazon S3*): plain or Hive-compatible keys,
//! optional hour folder, `<account>_vpcflowlogs_<region>_<flow-log-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz`
//! names, a header line naming the fields, then one space-separated record per line. The other
//! deliveries write the very same records as Kinesis Data Firehose writes them to S3, after a
//! CloudWatch Logs subscription or straight from the flow log (see [`Delivery`] and `firehose.rs`), or
//! as a CloudWatch Logs export task writes them (`export.rs`).
//!
//! Records look like real traffic: hundreds of ENIs per account with fixed private addresses (some
//! dual-stack), peers that are other ENIs, on-premises hosts or a pool of public/AWS-service addresses,
//! TCP/UDP/ICMP/ICMPv6 with well-known service ports and ephemeral client ports, heavy-tailed packet
//! counts, ~15 % `REJECT` (mostly port scans), ~1 % `NODATA` and ~0.2 % `SKIPDATA` lines, and for the
//! version 5 format consistent `vpc-id`/`subnet-id`/`az-id`, `tcp-flags`, `type`, NAT/EKS-style
//! `pkt-srcaddr`/`pkt-dstaddr`, AWS service names, `flow-direction` and `traffic-path`.
//!
//! Output is a pure function of the [`GenerateConfig`]: every file has its own PRNG seeded from
//! (seed, account, flow log, day, file index), account/ENI/peer attributes are hashes of their
//! indices, and the gzip header carries no timestamp, so parallel runs produce byte-identical files.
//! Files are written as `<name>.tmp` and renamed when complete.
//!
//! The field names and orders come from the field catalogue, [`crate::lake::schema`]: the v2 header is
//! its `DEFAULT_FORMAT`, and every field a format writes is a catalogue entry.
//!
//! ```text
//! mod.rs       the public face: GenerateConfig, GenFormat, generate, GenerateReport
//! delivery.rs  which files, their S3 keys and names, writing them gzipped
//! firehose.rs  the Firehose deliveries: object keys, CloudWatch Logs envelopes, direct records
//! export.rs    CloudWatch Logs exports: task folders, log stream objects, timed lines, the probe
//! records.rs   one file's records in memory, grouped by interface (log stream)
//! formats.rs   the v2 and v5 formats as catalogue fields, and a record as a line
//! traffic.rs   the records of one file: flows, ports, packets, actions, NODATA/SKIPDATA
//! world.rs     accounts, regions, VPCs, ENIs, public peers, addresses
//! render.rs    numbers, addresses and resource ids as text
//! rng.rs       the PRNG and the hashes everything is derived from
//! ```

mod delivery;
mod export;
mod firehose;
mod formats;
mod records;
mod render;
mod rng;
#[cfg(test)]
mod tests;
mod traffic;
mod world;

use std::io;
use std::ops::Add;
use std::path::PathBuf;

use rayon::prelude::*;

use delivery::Plan;

use crate::lake::partition::Grain;

/// Default PRNG seed.
pub const DEFAULT_SEED: u64 = 42;
/// Default first day `(year, month, day)`.
pub const DEFAULT_START: (i32, u32, u32) = (2024, 1, 15);
/// Default number of days.
pub const DEFAULT_DAYS: u32 = 1;
/// Default number of files per flow log per day.
pub const DEFAULT_FILES_PER_DAY: u32 = 4;
/// Default number of data lines per file.
pub const DEFAULT_LINES_PER_FILE: u64 = 1000;
/// Default number of AWS accounts.
pub const DEFAULT_ACCOUNTS: u32 = 1;
/// Default number of network interfaces per account.
pub const DEFAULT_ENIS: u32 = 200;

/// Which record format(s) the generated flow logs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// One flow log per account in AWS's default format ([`crate::lake::schema::DEFAULT_FORMAT`]).
    V2,
    /// One flow log per account in a custom version 5 format: all 29 fields of versions 2–5, in the
    /// order of AWS's own example.
    V5,
    /// Two flow logs per account, one v2 and one v5, writing to the same prefix.
    Mixed,
    /// One Transit Gateway flow log per account in AWS's default Transit Gateway format (all 36
    /// fields, version 6): the interfaces' traffic as it crosses the account's transit gateway, one
    /// attachment per VPC. Headerless deliveries take `--fields tgw-default`.
    Tgw,
}

/// The field list of the [`GenFormat::V5`] records, as `flowlake convert --fields` takes it: Firehose
/// deliveries carry no header line, so their v5 records are read with this list.
pub const V5_FORMAT: &str = "version srcaddr dstaddr srcport dstport protocol start end type packets \
bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id \
action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path \
flow-direction log-status";

/// How the generated flow logs reach storage. Every delivery writes the same records for the same
/// config (same seed, format, days, files and lines per file); only the framing differs.
///
/// The Firehose deliveries write one object per (account, flow log, 5-minute slot), like the S3 text
/// files, at `<out>/firehose/YYYY/MM/DD/HH/vpc-flow-logs-1-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]` (UTC slot
/// time, a deterministic lowercase uuid). Their records have no header line, so they are converted
/// with `--fields default` (v2) or `--fields` [`V5_FORMAT`] (v5); [`GenFormat::Mixed`] is refused
/// with them (one `--fields` list per convert run), and so are `hive` and an hourly `grain` (Firehose's layout
/// always has the hour folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// AWS's S3 text delivery: `AWSLogs/...` keys, `.log.gz` files, a header line, then the records.
    #[default]
    S3,
    /// Flow log to CloudWatch Logs, a subscription filter to Firehose, Firehose to S3: each object is
    /// gzip members back to back, each member one JSON envelope (`DATA_MESSAGE` with the events of one
    /// log stream, i.e. one ENI, at most 100; or a `CONTROL_MESSAGE` health check in the first object
    /// of each day of each flow log). No extension.
    CloudWatchFirehose,
    /// [`Delivery::CloudWatchFirehose`] with Firehose's own GZIP on: the object gzipped once more, `.gz`.
    CloudWatchFirehoseGzip,
    /// [`Delivery::CloudWatchFirehose`] with Firehose's decompression on: the envelopes as plain JSON,
    /// one per line. No extension.
    CloudWatchFirehoseJson,
    /// Firehose's decompression and message extraction on: just the records, one per line, in the
    /// order of the envelopes (no header, no control message). No extension.
    CloudWatchFirehoseExtracted,
    /// Flow log delivered straight to Firehose: `{"message":"<record>"}` per record, back to back with
    /// no delimiter, in the records' order, gzipped by Firehose, `.gz`.
    FirehoseDirect,
    /// Flow log to CloudWatch Logs, then `CreateExportTask` to S3: one task per flow log and day,
    /// `exportedlogs/<task-id>/<eni-...-all>/NNNNNN.gz` objects of gzipped `<ISO time>Z <record>`
    /// lines (one object per interface of each file of the s3 delivery), and the
    /// `exportedlogs/aws-logs-write-test` probe. See `export.rs`.
    CloudWatchExport,
}

impl Delivery {
    /// True for the deliveries through Kinesis Data Firehose.
    pub fn is_firehose(self) -> bool {
        !matches!(self, Delivery::S3 | Delivery::CloudWatchExport)
    }

    /// True for the deliveries whose records carry no header (every one but [`Delivery::S3`]): they
    /// take one format, and their keys are their own (no Hive layout, no hour folder option).
    pub fn is_headerless(self) -> bool {
        self != Delivery::S3
    }
}

/// What to generate. Build with [`GenerateConfig::new`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Root folder; files go under `<out>/AWSLogs/...`.
    pub out: PathBuf,
    /// PRNG seed; the same config always produces byte-identical files.
    pub seed: u64,
    /// First day `(year, month, day)`; must be a valid date.
    pub start: (i32, u32, u32),
    /// Number of consecutive days.
    pub days: u32,
    /// Files per flow log per day, spread evenly over the day's 288 five-minute slots.
    pub files_per_day: u32,
    /// Data lines per file (the header line is not counted).
    pub lines_per_file: u64,
    /// Number of AWS accounts (each has its own flow log(s)); 0 generates nothing.
    pub accounts: u32,
    /// Distinct network interfaces per account; 0 generates nothing (no interface, no traffic).
    pub enis: u32,
    /// Record format(s).
    pub format: GenFormat,
    /// AWS Hive-compatible key layout (`aws-account-id=…/year=…`) instead of the plain one.
    pub hive: bool,
    /// [`Grain::Hour`] adds the per-hour folder.
    pub grain: Grain,
    /// How the files reach storage; [`Delivery::S3`] unless set.
    pub delivery: Delivery,
}

impl GenerateConfig {
    /// A config writing under `out` with the `DEFAULT_*` values (one account, one day, four v2 files
    /// of 1000 lines, 200 ENIs, plain layout without hour folders).
    pub fn new(out: PathBuf) -> Self {
        GenerateConfig {
            out,
            seed: DEFAULT_SEED,
            start: DEFAULT_START,
            days: DEFAULT_DAYS,
            files_per_day: DEFAULT_FILES_PER_DAY,
            lines_per_file: DEFAULT_LINES_PER_FILE,
            accounts: DEFAULT_ACCOUNTS,
            enis: DEFAULT_ENIS,
            format: GenFormat::V2,
            hive: false,
            grain: Grain::Day,
            delivery: Delivery::S3,
        }
    }
}

/// Totals of one [`generate`] run.
#[derive(Debug, Clone, Default)]
pub struct GenerateReport {
    /// Files written (for an export, its objects of records; the permission probe is not counted).
    pub files: u64,
    /// Records written (header lines and control messages not counted).
    pub lines: u64,
    /// Uncompressed bytes: the text, header lines included, or for a Firehose delivery the object's
    /// content before any gzip (the JSON envelopes, the records, or the direct records).
    pub text_bytes: u64,
    /// Bytes of the files on disk (gzipped, except for the uncompressed Firehose deliveries).
    pub gzip_bytes: u64,
    /// CloudWatch Logs `CONTROL_MESSAGE` envelopes written.
    pub control_messages: u64,
}

impl Add for GenerateReport {
    type Output = GenerateReport;

    fn add(self, o: GenerateReport) -> GenerateReport {
        GenerateReport {
            files: self.files.saturating_add(o.files),
            lines: self.lines.saturating_add(o.lines),
            text_bytes: self.text_bytes.saturating_add(o.text_bytes),
            gzip_bytes: self.gzip_bytes.saturating_add(o.gzip_bytes),
            control_messages: self.control_messages.saturating_add(o.control_messages),
        }
    }
}

/// Writes every file of `cfg` under `cfg.out`, in parallel on the rayon thread pool.
///
/// Generates `accounts × flow logs per account (2 for Mixed, else 1) × days × files_per_day` files
/// (none if `enis` is 0); an export writes one object per interface of each of them instead. Existing files with the same names are overwritten; nothing else is touched.
/// Errors: `InvalidInput` for an invalid `start` date, a file count that overflows `u64`, or a
/// headerless delivery with [`GenFormat::Mixed`], `hive` or an hourly `grain`; `Other` if
/// a format names a field the catalogue does not know (a bug the unit tests catch), otherwise the
/// first I/O error met (files finished before it stay in place; no half-written file is left
/// under a final name).
pub fn generate(cfg: &GenerateConfig) -> io::Result<GenerateReport> {
    let plan = Plan::new(cfg)?;
    (0..plan.total_files)
        .into_par_iter()
        .map(|i| plan.write_file(&plan.job(i)))
        .try_reduce(GenerateReport::default, |a, b| Ok(a + b))
}
