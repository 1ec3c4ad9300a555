//! Command-line flags (clap derive) and their conversion into the library's validated configs.
//!
//! Nothing below this module sees raw flags: `into_config` resolves sizes, dates and field lists and
//! reports a bad value with the flag's name.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use flowlake::convert::config::{
    parse_size, ConvertConfig, DEFAULT_BATCH_ROWS, DEFAULT_MAX_REJECT_RATIO,
};
use flowlake::convert::shard::{resolve, resolve_planned, ShardError};
use flowlake::convert::ShardPlan;
use flowlake::date::NotADate;
use flowlake::ddl::sqltext::Refused;
use flowlake::enrich::EnrichSet;
use flowlake::input::parse::{BadFilePolicy, BadLinePolicy};
use flowlake::lake::filter::{ActionFilter, LogStatus};
use flowlake::lake::sort::{SortColumns, SortMemory};
use flowlake::lake::write::{
    BloomColumns, WriteSettings, DEFAULT_BLOOM_FILTER, DEFAULT_ROW_GROUP_ROWS,
};
use flowlake::synth::{Delivery, GenFormat, GenerateConfig, V5_FORMAT};
use flowlake::text::layout::{FieldLayout, FieldLayoutError};
use flowlake::Day;
use flowlake::{Grain, PartitionLayout, PartitionTime};

const EXIT_CODES: &str = "Exit codes: 0 clean run; 3 completed, but lines were rejected, files could not be \
read or flow log files were skipped (see the summary and _flowlake/rejects/); 4 some partitions were not \
published (reject ratio above --max-reject-ratio, or all their files failed); 1 fatal error (partitions not yet published are untouched); 2 usage error; \
130 interrupted (SIGINT/SIGTERM; partitions not yet published are untouched).";

const PLAN_EXIT_CODES: &str = "Prints the plan's id on stdout (with --json, the plan's id and per-shard \
figures as one JSON object). Exit codes: 0 plan written; 3 plan written, but flow log files were skipped or \
could not be listed or read, or partitions need a rebuild they cannot have (see the summary); 1 fatal error \
(nothing is written but the plan); 2 usage error.";

/// Flags that make no valid settings: the command stops with the usage exit code, saying why.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// `--fields` is not a field list.
    #[error("--fields: {0}")]
    Fields(#[source] FieldLayoutError),
    /// `--enrich` names an unknown enrichment, or one without its data file (or a data file without
    /// its enrichment).
    #[error("{0}")]
    Enrich(String),
    /// `--schema ocsf` without its source name, or with settings it fixes.
    #[error("{0}")]
    Ocsf(String),
    /// `--max-line-size` is beyond this machine's addresses.
    #[error("--max-line-size is too large")]
    MaxLineSize(#[source] std::num::TryFromIntError),
    /// `--shard`, `--shards` and the scheduler's environment say no one shard.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// Settings the library refuses (its `validate`), or a `--plan` the lake does not have.
    #[error(transparent)]
    Settings(#[from] flowlake::Error),
    /// `ddl` flags that cannot be written into the statement safely.
    #[error("refused: {0}")]
    Refused(#[source] Refused),
    /// `generate --format mixed` with a delivery whose records carry no header.
    #[error(
        "--format mixed needs --delivery s3: Firehose and export records carry no header and one \
convert run reads them with one --fields list; generate v2 and v5 into separate folders"
    )]
    MixedWithoutHeader,
    /// `generate --hive` or `--hourly` with a delivery that has its own keys.
    #[error(
        "--hive and --hourly apply to --delivery s3 only: Firehose's keys are always \
firehose/YYYY/MM/DD/HH/, an export's exportedlogs/<task-id>/<log-stream>/"
    )]
    KeysWithoutS3,
}

/// Turn AWS VPC Flow Logs into a Hive-partitioned, compacted Parquet lake.
#[derive(Debug, Parser)]
#[command(name = "flowlake", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of its largest variant (convert's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Convert gzipped flow log text files into the Parquet lake.
    #[command(after_help = EXIT_CODES)]
    Convert(ConvertArgs),
    /// List the input once, decide what convert would build, and assign it to N shards by input
    /// bytes: a plan kept in the lake that `convert --plan ID --shard K/N` builds part K of.
    #[command(after_help = PLAN_EXIT_CODES)]
    Plan(PlanArgs),
    /// Check a lake against its manifest: every Parquet footer, row count and size; orphans; missing files.
    #[command(
        after_help = "Reads only: needs no write access to the lake, takes no lock. Exit codes: 0 the lake \
matches its manifest (or differs only in partitions a running convert or compact is publishing); 3 \
problems found (including a publish a stopped run left unfinished); 1 fatal error."
    )]
    Verify(VerifyArgs),
    /// Rewrite partitions of many small Parquet files (flowlake's or AWS's native Parquet deliveries)
    /// into few files at the target size, losslessly.
    #[command(
        after_help = "Exit codes: 0 done (or nothing to do); 3 some partitions could not be compacted and were left as they were; 1 fatal error; 2 usage error."
    )]
    Compact(CompactArgs),
    /// Print the SQL that makes the lake a table: Athena's CREATE EXTERNAL TABLE (columns typed as
    /// the Parquet files are, partition projection for the folder keys) or DuckDB's view.
    Ddl(DdlArgs),
    /// Write realistic synthetic AWS flow log deliveries (for tests and benchmarks).
    Generate(GenerateArgs),
    /// Benchmark floor: decompress every input file and nothing else; prints JSON.
    #[command(hide = true)]
    Inflate(InflateArgs),
}

#[derive(Debug, Args)]
pub struct InflateArgs {
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Worker threads (0 = one per core).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Lake root (a folder or an s3:// URL).
    #[arg(value_name = "LAKE")]
    pub lake: PathBuf,
    /// Endpoint of an S3-compatible store for an s3:// lake (default: AWS S3, or AWS_ENDPOINT_URL_S3 /
    /// AWS_ENDPOINT_URL when set).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Output file settings shared by `convert` and `compact`.
#[derive(Debug, Args)]
pub struct WriterArgs {
    /// Target size of each Parquet file (e.g. 64MiB, 256MiB, 1GiB).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub target_file_size: u64,
    /// Maximum rows per Parquet row group.
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_ROW_GROUP_ROWS)]
    pub row_group_rows: usize,
    /// ZSTD compression level (1-22) of every column [default: 3 for the columns it makes smaller
    /// (ports, source address), 1 for the others]
    #[arg(long, value_name = "LEVEL")]
    pub zstd_level: Option<i32>,
    /// Columns that get a Parquet Bloom filter in every row group: `none`, or names separated by
    /// commas (string columns: `srcaddr,dstaddr,interface_id`)
    #[arg(long, value_name = "COLUMNS", default_value = DEFAULT_BLOOM_FILTER, value_parser = BloomColumns::parse)]
    pub bloom_filter: BloomColumns,
    /// The order of the rows across each partition's files: `none` (arrival order), or column names
    /// separated by commas, most significant first (`srcaddr`, `interface_id,start`)
    #[arg(long, value_name = "COLUMNS", default_value = "none", value_parser = SortColumns::parse)]
    pub sort_by: SortColumns,
    /// Memory the rows being sorted may take, for the whole run (partitions built side by side share
    /// it), before sorted runs are spilled to the staging folder
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub sort_memory: u64,
}

impl WriterArgs {
    /// The settings `convert` and `compact` write their files with.
    pub fn settings(&self) -> WriteSettings {
        WriteSettings {
            target_file_bytes: self.target_file_size,
            row_group_rows: self.row_group_rows,
            zstd_level: self.zstd_level,
            bloom_filter: self.bloom_filter.clone(),
            sort_by: self.sort_by.clone(),
            sort_memory: SortMemory::new(usize::try_from(self.sort_memory).unwrap_or(usize::MAX)),
        }
    }
}

/// Which engine's statement `flowlake ddl` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EngineArg {
    /// CREATE EXTERNAL TABLE with partition projection (Athena; Hive DDL).
    Athena,
    /// CREATE OR REPLACE VIEW over read_parquet, partition keys read from each file's path.
    Duckdb,
}

#[derive(Debug, Args)]
pub struct DdlArgs {
    /// Lake root: a flowlake lake or any Hive-partitioned Parquet folder (local or s3://).
    #[arg(value_name = "LAKE")]
    pub lake: PathBuf,
    /// Endpoint of an S3-compatible store for an s3:// lake (default: AWS S3, or AWS_ENDPOINT_URL_S3 /
    /// AWS_ENDPOINT_URL when set).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Where the engine reads the lake, e.g. s3://bucket/prefix/ (default: the lake's local path as file://).
    #[arg(long, value_name = "URL")]
    pub location: Option<String>,
    /// Table (or view) name [default: vpc_flow_logs; tgw_flow_logs for a Transit Gateway lake;
    /// ocsf_vpc_flow for an OCSF lake].
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Database (Athena/Glue) or schema (DuckDB) of the table.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Which statement to print.
    #[arg(long, value_enum, default_value = "athena")]
    pub engine: EngineArg,
}

impl DdlArgs {
    pub fn into_config(self) -> flowlake::ddl::DdlConfig {
        let mut c = flowlake::ddl::DdlConfig::new(self.lake);
        c.location = self.location;
        c.endpoint = self.endpoint;
        c.table = self.table;
        c.database = self.database;
        c.engine = match self.engine {
            EngineArg::Athena => flowlake::ddl::Engine::Athena,
            EngineArg::Duckdb => flowlake::ddl::Engine::DuckDb,
        };
        c
    }
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Lake root: a flowlake lake, or a folder of AWS's native Parquet flow log deliveries (a local
    /// folder or an s3:// URL).
    #[arg(value_name = "LAKE")]
    pub lake: PathBuf,
    /// Endpoint of an S3-compatible store for an s3:// lake (default: AWS S3, or AWS_ENDPOINT_URL_S3 /
    /// AWS_ENDPOINT_URL when set).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Rewrite a partition when at least this many of its files are below half the target size.
    #[arg(long, value_name = "N", default_value_t = flowlake::compact::DEFAULT_MIN_FILES)]
    pub min_files: usize,
    #[command(flatten)]
    pub writer: WriterArgs,
    /// First day to compact (YYYY-MM-DD, inclusive), from the partition's folder names.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub from: Option<Day>,
    /// Last day to compact (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub to: Option<Day>,
    /// Print the plan (partitions, files in, bytes in, files out) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads for encoding (0 = one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl CompactArgs {
    pub fn into_config(self) -> Result<flowlake::compact::CompactConfig, UsageError> {
        let mut c = flowlake::compact::CompactConfig::new(self.lake);
        c.min_files = self.min_files;
        c.write = self.writer.settings();
        c.from = self.from;
        c.to = self.to;
        c.dry_run = self.dry_run;
        c.threads = self.threads;
        c.endpoint = self.endpoint;
        c.validate()?;
        Ok(c)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// AWS's Hive keys when every input names its account and region, else year=/month=/day=.
    Auto,
    /// aws-account-id=/aws-service=vpcflowlogs/aws-region=/year=/month=/day=
    Aws,
    /// year=/month=/day=
    Plain,
}

/// The settings of a conversion that every shard of a plan shares, with [`WriterArgs`]: `plan` takes
/// them and stores them in the plan; `convert` takes them, or with `--plan` refuses them (they come
/// from the plan). No `flatten` here: clap's group of a struct with one is empty, and `--plan`
/// conflicts with this struct's group.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// First day to convert (YYYY-MM-DD, inclusive); folders before it are not even listed.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub from: Option<Day>,
    /// Last day to convert (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub to: Option<Day>,
    /// Field list of files without a header line: "version account-id ...", AWS's "${version} ..."
    /// format string, "default" (the v2 default format) or "tgw-default" (Transit Gateway flow logs'
    /// default format: all 36 fields). A file's own header always wins.
    #[arg(long, value_name = "FIELDS")]
    pub fields: Option<String>,
    /// Partition keys of the lake.
    #[arg(long, value_enum, default_value = "auto")]
    pub partition_layout: LayoutArg,
    /// Add an hour=HH partition key (from the HH folder or the AWS file name).
    #[arg(long)]
    pub hourly: bool,
    /// Which time decides a row's partition: the file's delivery folder (as AWS partitions), or the
    /// record's own start (a late-delivered flow at 23:59 lands in its own day; rows whose start is
    /// missing or not within the delivery day or the one before stay in the delivery partition)
    /// [default: delivery; start with --schema ocsf].
    #[arg(long, value_enum)]
    pub partition_time: Option<PartitionTimeArg>,
    /// The schema of the lake's files: aws (AWS's flow log fields and types, as AWS's own Parquet
    /// delivery) or ocsf (OCSF 1.1.0 Network Activity, as Amazon Security Lake's VPC flow source,
    /// written in its custom-source layout: see --source-name). The lake remembers it.
    #[arg(long, value_enum, default_value = "aws")]
    pub schema: SchemaArg,
    /// With --schema ocsf: the Security Lake custom source's name. The lake is
    /// <LAKE>/ext/<NAME>/ (the source's location when --out is the Security Lake bucket), with
    /// partitions region=/accountId=/eventDay=YYYYMMDD.
    #[arg(long, value_name = "NAME")]
    pub source_name: Option<String>,
    /// Rows per Arrow batch between parser and encoder.
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// Largest decompressed input file accepted (AWS caps deliveries at 75 MB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Longest line accepted; longer lines are rejected as line_too_long.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_size)]
    pub max_line_size: u64,
    /// What a bad line does: reject (to the rejects sidecar, the run goes on) or abort (stop the run
    /// before its partition is published).
    #[arg(long, value_enum, default_value = "reject")]
    pub on_bad_line: BadLineArg,
    /// What a file that cannot be read completely (truncated, corrupt, not gzip) does: quarantine (list
    /// it, publish none of its rows, go on), salvage (also publish its complete lines before the
    /// damage), or abort (stop the run before its partition is published).
    #[arg(long, value_enum, default_value = "quarantine")]
    pub on_bad_file: BadFileArg,
    /// A partition whose share of rejected lines is above this (0 to 1) is not published; the run
    /// goes on with the others and exits with code 4.
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_MAX_REJECT_RATIO)]
    pub max_reject_ratio: f64,
    /// Rebuild every partition in range, even those the manifest shows as up to date.
    #[arg(long)]
    pub rebuild: bool,
    /// When an input of a published partition no longer exists (expired by a lifecycle rule), drop its
    /// rows at the partition's next rebuild. Default: its rows stay in the lake.
    #[arg(long)]
    pub mirror_deletions: bool,
    /// Keep only this traffic, as the flow log setting "All, Accept or Reject" does: `accept` or
    /// `reject` keeps records with that action (NODATA/SKIPDATA records, whose action is `-`, are
    /// dropped). Dropped records are counted (`filtered`). A lake keeps the filters it was first
    /// written with.
    #[arg(long, value_enum, value_name = "ACTION", default_value = "all")]
    pub action: ActionArg,
    /// Drop records with these log statuses (comma-separated: nodata, skipdata, ok), e.g. the
    /// NODATA/SKIPDATA noise of idle interfaces. Dropped records are counted (`filtered`).
    #[arg(long, value_enum, value_name = "STATUS,...", value_delimiter = ',')]
    pub drop_log_status: Vec<LogStatusArg>,
    /// Account for inputs whose path and name name none (CloudWatch Logs and Firehose objects,
    /// headerless text in a plain tree); with --region, such inputs get AWS's partition keys.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Region for inputs whose path and name name none (CloudWatch Logs envelopes carry no region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Read this S3 Inventory report (its manifest.json: an s3:// URL or a local copy; CSV or
    /// Parquet) as the listing of the inputs instead of listing them: only its objects under the
    /// inputs (s3:// URLs in the inventory's bucket) and in --from/--to are converted.
    #[arg(long, value_name = "URL")]
    pub inventory: Option<PathBuf>,
    /// Columns to derive and append after AWS's (NULL where unknown), a comma-separated list:
    /// protocol (protocol_name), tcp-flags (tcp_flags_names), aws-service (src/dst_aws_service and
    /// _region; needs --ip-ranges), geo (src/dst_country with --geoip-country; src/dst_asn and
    /// _as_org with --geoip-asn), all (every one whose data is given). The lake remembers it.
    #[arg(long, value_name = "LIST")]
    pub enrich: Option<String>,
    /// AWS's ip-ranges.json for --enrich aws-service: a file, an s3:// URL or an https:// URL
    /// (https://ip-ranges.amazonaws.com/ip-ranges.json).
    #[arg(long, value_name = "FILE|URL")]
    pub ip_ranges: Option<String>,
    /// A MaxMind DB with countries (GeoLite2/GeoIP2 Country or City) for --enrich geo.
    #[arg(long, value_name = "MMDB")]
    pub geoip_country: Option<String>,
    /// A MaxMind DB with autonomous systems (GeoLite2-ASN, GeoIP2-ISP) for --enrich geo.
    #[arg(long, value_name = "MMDB")]
    pub geoip_asn: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input folders or files: AWS's AWSLogs/ tree (plain or Hive-compatible), any YYYY/MM/DD or
    /// year=/month=/day= tree, one day folder, or single files.
    #[arg(required_unless_present = "plan", value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Lake root to write.
    #[arg(long, short, value_name = "LAKE")]
    pub out: PathBuf,
    /// Lake root for the Transit Gateway flow logs among the inputs (told apart from VPC flow logs by
    /// their header's fields): converted into this lake of their own, with AWS's Transit Gateway
    /// schema. Without it they are skipped and named, and the run is not clean (exit 3).
    #[arg(long, value_name = "LAKE", conflicts_with = "plan")]
    pub tgw_out: Option<PathBuf>,
    /// Build this shard's part of a plan made by `flowlake plan` (its id): no listing of the input;
    /// inputs and settings come from the plan, so only --shard/--shards and this process's own
    /// options (--threads, --read-ahead, --endpoint, --json, --quiet) may be given with it.
    #[arg(long, value_name = "ID", conflicts_with_all = ["inputs", "SettingsArgs", "WriterArgs"])]
    pub plan: Option<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub writer: WriterArgs,
    /// Worker threads (0 = one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Compressed input parsed per pipeline step; bounds memory together with --max-file-size
    /// [default: 4MiB, 16MiB when an input is on s3://]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub read_ahead: Option<u64>,
    /// Build only shard K of N (zero-based): whole partitions, assigned by a hash of their account
    /// (with AWS's keys) or day (with --plan: the plan's part K), so N shards together write what
    /// one run writes. Default:
    /// AWS_BATCH_JOB_ARRAY_INDEX/_SIZE (AWS Batch array jobs) or JOB_COMPLETION_INDEX with --shards
    /// (Kubernetes Indexed Jobs; with --plan, N is the plan's).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<flowlake::convert::shard::Shard>,
    /// Endpoint of an S3-compatible store for s3:// inputs and lakes (default: AWS S3, or
    /// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Number of shards, for JOB_COMPLETION_INDEX (or AWS_BATCH_JOB_ARRAY_INDEX without its size).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// Print the run's report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Input folders or files, as `convert` takes them (local paths are stored absolute).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Lake root the plan is for (it is kept in the lake's `_flowlake/plans/`).
    #[arg(long, short, value_name = "LAKE")]
    pub out: PathBuf,
    /// Number of shards to assign the work to.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub writer: WriterArgs,
    /// Worker threads, for the files with no date whose records are read to place them (0 = one
    /// per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Endpoint of an S3-compatible store for s3:// inputs and lakes (default: AWS S3, or
    /// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Print the plan's id and per-shard figures as one JSON object on stdout (else the id alone).
    #[arg(long)]
    pub json: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaArg {
    /// AWS's flow log schema.
    Aws,
    /// OCSF 1.1.0 Network Activity (Amazon Security Lake).
    Ocsf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PartitionTimeArg {
    Delivery,
    Start,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    All,
    Accept,
    Reject,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogStatusArg {
    Ok,
    Nodata,
    Skipdata,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BadLineArg {
    Reject,
    Abort,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BadFileArg {
    Quarantine,
    Salvage,
    Abort,
}

/// A Security Lake custom source name: 1 to 64 letters, digits, `-` and `_`.
fn is_source_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The lake of a custom source `name` below `out`: `out/ext/<name>`, or `out` itself when it is
/// that folder already.
fn source_location(out: &std::path::Path, name: &str) -> PathBuf {
    let tail = std::path::Path::new("ext").join(name);
    if out.ends_with(&tail) {
        out.to_path_buf()
    } else {
        out.join(tail)
    }
}

fn parse_day(s: &str) -> Result<Day, NotADate> {
    s.parse()
}

impl SettingsArgs {
    /// A configuration of `inputs` into `out` with these settings.
    fn config(
        self,
        writer: &WriterArgs,
        inputs: Vec<PathBuf>,
        out: PathBuf,
    ) -> Result<ConvertConfig, UsageError> {
        let mut c = ConvertConfig::new(inputs, out);
        c.from = self.from;
        c.to = self.to;
        c.parse.fields = match self.fields {
            Some(f) => Some(FieldLayout::parse_format(&f).map_err(UsageError::Fields)?),
            None => None,
        };
        c.partitioning.layout = match self.partition_layout {
            LayoutArg::Auto => PartitionLayout::Auto,
            LayoutArg::Aws => PartitionLayout::Aws,
            LayoutArg::Plain => PartitionLayout::Plain,
        };
        c.partitioning.grain = Grain::from_hourly(self.hourly);
        c.partitioning.time = match self.partition_time {
            None | Some(PartitionTimeArg::Delivery) => PartitionTime::Delivery,
            Some(PartitionTimeArg::Start) => PartitionTime::Start,
        };
        c.write = writer.settings();
        c.parse.batch_rows = self.batch_rows;
        c.parse.max_file_bytes = self.max_file_size;
        c.parse.max_line_bytes =
            usize::try_from(self.max_line_size).map_err(UsageError::MaxLineSize)?;
        c.parse.on_bad_line = match self.on_bad_line {
            BadLineArg::Reject => BadLinePolicy::Reject,
            BadLineArg::Abort => BadLinePolicy::Abort,
        };
        c.parse.on_bad_file = match self.on_bad_file {
            BadFileArg::Quarantine => BadFilePolicy::Quarantine,
            BadFileArg::Salvage => BadFilePolicy::Salvage,
            BadFileArg::Abort => BadFilePolicy::Abort,
        };
        c.max_reject_ratio = self.max_reject_ratio;
        c.rebuild = self.rebuild;
        c.mirror_deletions = self.mirror_deletions;
        c.parse.filters.action = match self.action {
            ActionArg::All => ActionFilter::All,
            ActionArg::Accept => ActionFilter::Accept,
            ActionArg::Reject => ActionFilter::Reject,
        };
        let mut drop: Vec<LogStatus> = self
            .drop_log_status
            .iter()
            .map(|s| match s {
                LogStatusArg::Ok => LogStatus::Ok,
                LogStatusArg::Nodata => LogStatus::Nodata,
                LogStatusArg::Skipdata => LogStatus::Skipdata,
            })
            .collect();
        drop.sort();
        drop.dedup();
        c.parse.filters.drop_log_status = drop;
        c.partitioning.account = self.account;
        c.partitioning.region = self.region;
        c.inventory = self.inventory;
        c.enrich.ip_ranges = self.ip_ranges;
        c.enrich.geoip_country = self.geoip_country;
        c.enrich.geoip_asn = self.geoip_asn;
        let given = c.enrich.given();
        c.enrich.set = match &self.enrich {
            Some(list) => EnrichSet::parse(list, &given).map_err(UsageError::Enrich)?,
            None => EnrichSet::none(),
        };
        match (self.schema, &self.source_name) {
            (SchemaArg::Aws, None) => {}
            (SchemaArg::Aws, Some(_)) => {
                return Err(UsageError::Ocsf(
                    "--source-name names a Security Lake custom source: it goes with --schema ocsf"
                        .into(),
                ))
            }
            (SchemaArg::Ocsf, None) => return Err(UsageError::Ocsf(
                "--schema ocsf needs --source-name: the Security Lake custom source the lake is \
                 written for (its files go to <LAKE>/ext/<NAME>/)"
                    .into(),
            )),
            (SchemaArg::Ocsf, Some(name)) => {
                if !is_source_name(name) {
                    return Err(UsageError::Ocsf(format!(
                        "--source-name {name:?}: a Security Lake source name is 1 to 64 letters, \
                         digits, `-` and `_`"
                    )));
                }
                let explicit = |what: &str| {
                    Err(UsageError::Ocsf(format!(
                        "{what} cannot be used with --schema ocsf: an OCSF lake has Security \
                         Lake's partitions (region=/accountId=/eventDay=, a record in the day of \
                         its own start)"
                    )))
                };
                if !matches!(self.partition_layout, LayoutArg::Auto) {
                    return explicit("--partition-layout");
                }
                if self.hourly {
                    return explicit("--hourly");
                }
                if matches!(self.partition_time, Some(PartitionTimeArg::Delivery)) {
                    return explicit("--partition-time delivery");
                }
                c.out = source_location(&c.out, name);
                c = c.for_ocsf();
            }
        }
        Ok(c)
    }
}

impl ConvertArgs {
    /// The run's settings: from the flags, or with `--plan` from the plan (a plan the lake does not
    /// have, or a malformed id, is a usage error; a plan that cannot be read is not).
    pub fn into_config(self) -> Result<ConvertConfig, Box<dyn std::error::Error>> {
        let env = |name: &str| std::env::var(name).ok();
        let mut c = match &self.plan {
            Some(id) => {
                let plan = ShardPlan::read(&self.out, id, self.endpoint.as_deref()).map_err(
                    |e| -> Box<dyn std::error::Error> {
                        match e {
                            flowlake::Error::Config(_) => UsageError::Settings(e).into(),
                            e => e.into(),
                        }
                    },
                )?;
                let n = plan.summary.shard_count;
                let shard = resolve_planned(self.shard, self.shards, &env, id, n)
                    .map_err(UsageError::Shard)?;
                plan.config(&self.out, shard)
            }
            None => {
                let mut c = self.settings.config(&self.writer, self.inputs, self.out)?;
                c.shard = resolve(self.shard, self.shards, &env).map_err(UsageError::Shard)?;
                c
            }
        };
        c.threads = self.threads;
        if let Some(bytes) = self.read_ahead {
            c.read_ahead_bytes = bytes;
        }
        c.endpoint = self.endpoint;
        c.tgw_out = self.tgw_out;
        c.validate().map_err(UsageError::Settings)?;
        Ok(c)
    }
}

impl PlanArgs {
    /// The settings to plan, and the number of shards.
    pub fn into_config(self) -> Result<(ConvertConfig, u32), UsageError> {
        let mut c = self.settings.config(&self.writer, self.inputs, self.out)?;
        c.threads = self.threads;
        c.endpoint = self.endpoint;
        c.validate()?;
        Ok((c, self.shards))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// The default format (version 2).
    V2,
    /// A custom format with all 29 fields of versions 2-5, in a non-default order.
    V5,
    /// One v2 and one v5 flow log per account, writing to the same folders.
    Mixed,
    /// One Transit Gateway flow log per account, AWS's default Transit Gateway format (convert with
    /// --tgw-out; headerless deliveries with --fields tgw-default).
    Tgw,
}

/// How `flowlake generate` delivers the records (the same records for every delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliveryArg {
    /// AWS's S3 text delivery: AWSLogs/.../<name>.log.gz, a header line, then the records.
    S3,
    /// CloudWatch Logs subscription -> Firehose -> S3: gzip members of JSON envelopes back to back
    /// (one log stream, i.e. one ENI, per envelope, at most 100 events; a CONTROL_MESSAGE in the first
    /// object of each day), no extension.
    CloudwatchFirehose,
    /// As cloudwatch-firehose, gzipped once more by Firehose (.gz).
    CloudwatchFirehoseGzip,
    /// As cloudwatch-firehose with Firehose's decompression: plain JSON envelopes, one per line.
    CloudwatchFirehoseJson,
    /// As cloudwatch-firehose with Firehose's message extraction: just the records, one per line.
    CloudwatchFirehoseExtracted,
    /// Flow log straight to Firehose: {"message":"<record>"} per record, back to back, gzipped (.gz).
    FirehoseDirect,
    /// CloudWatch Logs export task: exportedlogs/<task-id>/<eni-...-all>/NNNNNN.gz objects of
    /// "<ISO time>Z <record>" lines, one task per flow log and day, and the aws-logs-write-test probe.
    CloudwatchExport,
}

/// Long help of `generate --delivery`, with the exact v5 field list.
fn delivery_help() -> String {
    format!(
        "How the records reach storage. Every delivery writes the same records for the same seed, \
format, days, files and lines per file; only the framing differs.\n\n\
The Firehose deliveries write one object per file of the s3 delivery (same account and 5-minute slot) under \
<OUT>/firehose/YYYY/MM/DD/HH/vpc-flow-logs-1-YYYY-MM-DD-HH-MM-SS-<uuid> (.gz when Firehose \
gzips). The cloudwatch-export delivery writes, for each file of the s3 delivery, one object per \
network interface (log stream) under <OUT>/exportedlogs/<task-id>/eni-...-all/NNNNNN.gz (one task \
per flow log and day, NNNNNN the file's index in the day), and <OUT>/exportedlogs/aws-logs-write-test. \
These records carry no header line: convert v2 with --fields default, v5 with \
--fields '{V5_FORMAT}'. --format mixed, --hive and --hourly are refused with them (one --fields \
list per convert run; these keys are the services' own)."
    )
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Root folder; files go under <OUT>/AWSLogs/... (<OUT>/firehose/... for Firehose deliveries,
    /// <OUT>/exportedlogs/... for an export)
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed: the same seed and settings give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_day, default_value = "2024-01-15")]
    pub start: Day,
    /// Number of days.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Files per flow log per day (AWS writes one about every 5 minutes: 288).
    #[arg(long, default_value_t = 4)]
    pub files_per_day: u32,
    /// Records per file.
    #[arg(long, default_value_t = 1000)]
    pub lines_per_file: u64,
    /// AWS accounts.
    #[arg(long, default_value_t = 1)]
    pub accounts: u32,
    /// Network interfaces per account.
    #[arg(long, default_value_t = 200)]
    pub enis: u32,
    /// Log format.
    #[arg(long, value_enum, default_value = "v2")]
    pub format: FormatArg,
    /// Use AWS's Hive-compatible key layout (aws-account-id=/.../year=/month=/day=).
    #[arg(long)]
    pub hive: bool,
    /// Add the hour folder.
    #[arg(long)]
    pub hourly: bool,
    /// How the records reach storage: AWS's S3 text files, or Firehose objects (v2 and v5 only;
    /// convert those with --fields, see --help).
    #[arg(long, value_enum, default_value = "s3", long_help = delivery_help())]
    pub delivery: DeliveryArg,
    /// Print counts as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl GenerateArgs {
    pub fn into_config(self) -> Result<GenerateConfig, UsageError> {
        let mut c = GenerateConfig::new(self.out);
        c.seed = self.seed;
        c.start = (
            self.start.year,
            u32::from(self.start.month),
            u32::from(self.start.day),
        );
        c.days = self.days;
        c.files_per_day = self.files_per_day;
        c.lines_per_file = self.lines_per_file;
        c.accounts = self.accounts;
        c.enis = self.enis;
        c.format = match self.format {
            FormatArg::V2 => GenFormat::V2,
            FormatArg::V5 => GenFormat::V5,
            FormatArg::Mixed => GenFormat::Mixed,
            FormatArg::Tgw => GenFormat::Tgw,
        };
        c.hive = self.hive;
        c.grain = Grain::from_hourly(self.hourly);
        c.delivery = match self.delivery {
            DeliveryArg::S3 => Delivery::S3,
            DeliveryArg::CloudwatchFirehose => Delivery::CloudWatchFirehose,
            DeliveryArg::CloudwatchFirehoseGzip => Delivery::CloudWatchFirehoseGzip,
            DeliveryArg::CloudwatchFirehoseJson => Delivery::CloudWatchFirehoseJson,
            DeliveryArg::CloudwatchFirehoseExtracted => Delivery::CloudWatchFirehoseExtracted,
            DeliveryArg::FirehoseDirect => Delivery::FirehoseDirect,
            DeliveryArg::CloudwatchExport => Delivery::CloudWatchExport,
        };
        if c.delivery.is_headerless() {
            if c.format == GenFormat::Mixed {
                return Err(UsageError::MixedWithoutHeader);
            }
            if c.hive || c.grain.is_hourly() {
                return Err(UsageError::KeysWithoutS3);
            }
        }
        Ok(c)
    }
}
