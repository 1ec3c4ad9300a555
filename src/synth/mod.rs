//! Deterministic generator of realistic AWS S3 deliveries of VPC flow logs.
//!
//! Used to make small committed test fixtures and multi-GB benchmark inputs for the converter.
//! [`generate`] writes gzipped text files exactly where and how AWS delivers them to S3
//! (`flowlogs-spec.md` §2.1, §2.2, §3.1): plain or Hive-compatible keys, optional hour folder,
//! `<account>_vpcflowlogs_<region>_<flow-log-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz` names, a header line
//! naming the fields, then one space-separated record per line.
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

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::ops::Add;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use rayon::prelude::*;

use crate::date;

/// Header line of the default (version 2) format: the 14 v2 fields in AWS's table order.
pub const DEFAULT_V2_FORMAT: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Header line of the custom version 5 format generated for [`GenFormat::V5`]: all 29 fields of
/// versions 2–5 in the non-table order of AWS's own example (`awsdocs-v5-service-traffic-path.log`).
pub const DEFAULT_V5_FORMAT: &str = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";

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

/// Length of one S3 delivery slot (AWS publishes files at 5-minute intervals).
const SLOT_SECS: i64 = 300;
/// Number of 5-minute slots in a day.
const SLOTS_PER_DAY: u64 = 288;
/// How far before its file's slot a record's `start` may lie.
const START_LEAD_SECS: u64 = 60;
/// Longest flow duration (`end - start`) within one aggregation interval.
const MAX_FLOW_SECS: u64 = 60;
/// Text is handed to the gzip encoder in chunks of about this size.
const WRITE_CHUNK: usize = 64 * 1024;
/// Buffer between the gzip encoder and the file.
const FILE_BUFFER: usize = 128 * 1024;
/// Number of distinct public peers (shared by all accounts, like the internet).
const PEER_POOL: u64 = 5_000;
/// Cap of the heavy-tailed packet count.
const MAX_PACKETS: u64 = 1_000_000;
/// Account ids are `ACCOUNT_BASE + (x mod ACCOUNT_SPAN)`, always 12 digits.
const ACCOUNT_BASE: u64 = 100_000_000_000;
const ACCOUNT_SPAN: u64 = 900_000_000_000;
/// Odd, not a multiple of 3 or 5, hence coprime with `ACCOUNT_SPAN`: distinct accounts get distinct ids.
const ACCOUNT_STRIDE: u64 = 123_456_789_011;
/// IPv4 host slots per /20 subnet used for ENI addresses, and a prime stride coprime with it.
const HOST_SLOTS: u64 = 4_000;
const HOST_STRIDE: u64 = 2_503;

// Rates, in units of 1/10 000 of all lines.
const NODATA_RATE: u64 = 100;
const SKIPDATA_RATE: u64 = 20;
const REJECT_RATE: u64 = 1_500;

// Hash domain tags (keep attributes of different kinds independent).
const TAG_ACCOUNT: u64 = 1;
const TAG_REGION: u64 = 2;
const TAG_FLOW_LOG: u64 = 3;
const TAG_FILE: u64 = 4;
const TAG_NAME: u64 = 5;
const TAG_VPC: u64 = 6;
const TAG_SUBNET: u64 = 7;
const TAG_ENI: u64 = 8;
const TAG_INSTANCE: u64 = 9;
const TAG_PEER: u64 = 10;

/// Which record format(s) the generated flow logs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// One flow log per account in the default format ([`DEFAULT_V2_FORMAT`]).
    V2,
    /// One flow log per account in a custom version 5 format ([`DEFAULT_V5_FORMAT`]).
    V5,
    /// Two flow logs per account, one v2 and one v5, writing to the same prefix.
    Mixed,
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
    /// Add the per-hour folder.
    pub hourly: bool,
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
            hourly: false,
        }
    }
}

/// Totals of one [`generate`] run.
#[derive(Debug, Clone, Default)]
pub struct GenerateReport {
    /// Files written.
    pub files: u64,
    /// Data lines written (header lines not counted).
    pub lines: u64,
    /// Uncompressed text bytes, header lines included.
    pub text_bytes: u64,
    /// Bytes of the `.log.gz` files on disk.
    pub gzip_bytes: u64,
}

impl Add for GenerateReport {
    type Output = GenerateReport;

    fn add(self, o: GenerateReport) -> GenerateReport {
        GenerateReport {
            files: self.files.saturating_add(o.files),
            lines: self.lines.saturating_add(o.lines),
            text_bytes: self.text_bytes.saturating_add(o.text_bytes),
            gzip_bytes: self.gzip_bytes.saturating_add(o.gzip_bytes),
        }
    }
}

/// Writes every file of `cfg` under `cfg.out`, in parallel on the rayon thread pool.
///
/// Generates `accounts × flow logs per account (2 for Mixed, else 1) × days × files_per_day` files
/// (none if `enis` is 0). Existing files with the same names are overwritten; nothing else is touched.
/// Errors: `InvalidInput` for an invalid `start` date or a file count that overflows `u64`, otherwise
/// the first I/O error met (files finished before it stay in place; no half-written file is left
/// under a final name).
pub fn generate(cfg: &GenerateConfig) -> io::Result<GenerateReport> {
    let plan = Plan::new(cfg)?;
    (0..plan.total_files)
        .into_par_iter()
        .map(|i| plan.write_file(&plan.job(i)))
        .try_reduce(GenerateReport::default, |a, b| Ok(a + b))
}

// ---------------------------------------------------------------------------------------------
// Plan: which files exist and where they go
// ---------------------------------------------------------------------------------------------

/// Record layout of one flow log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineFormat {
    V2,
    V5,
}

impl LineFormat {
    fn header(self) -> &'static str {
        match self {
            LineFormat::V2 => DEFAULT_V2_FORMAT,
            LineFormat::V5 => DEFAULT_V5_FORMAT,
        }
    }
}

/// The flow logs each account has, by format.
fn flow_log_formats(format: GenFormat) -> &'static [LineFormat] {
    match format {
        GenFormat::V2 => &[LineFormat::V2],
        GenFormat::V5 => &[LineFormat::V5],
        GenFormat::Mixed => &[LineFormat::V2, LineFormat::V5],
    }
}

/// One file to write.
#[derive(Debug, Clone, Copy)]
struct FileJob {
    account: u32,
    flow_log: u32,
    /// Absolute day number (days since 1970-01-01).
    day: i64,
    /// Index of the file within its flow log and day.
    index: u32,
}

/// Validated config plus the derived file count.
struct Plan<'a> {
    cfg: &'a GenerateConfig,
    first_day: i64,
    formats: &'static [LineFormat],
    total_files: u64,
}

impl<'a> Plan<'a> {
    fn new(cfg: &'a GenerateConfig) -> io::Result<Self> {
        let (y, m, d) = cfg.start;
        if !date::is_valid_date(y, m, d) {
            return Err(invalid_input(format!(
                "invalid start date {y:04}-{m:02}-{d:02}"
            )));
        }
        let formats = flow_log_formats(cfg.format);
        let total_files = if cfg.enis == 0 {
            0
        } else {
            [cfg.days, cfg.files_per_day, formats.len() as u32]
                .iter()
                .try_fold(u64::from(cfg.accounts), |acc, &n| {
                    acc.checked_mul(u64::from(n))
                })
                .ok_or_else(|| invalid_input("file count overflows u64".to_string()))?
        };
        Ok(Plan {
            cfg,
            first_day: date::days_from_civil(y, m, d),
            formats,
            total_files,
        })
    }

    /// Decodes file number `i` (0 ≤ i < total_files) into its job.
    fn job(&self, i: u64) -> FileJob {
        let per_day = u64::from(self.cfg.files_per_day);
        let days = u64::from(self.cfg.days);
        let flow_logs = self.formats.len() as u64;
        let rest = i / per_day;
        let (day, rest) = (rest % days, rest / days);
        FileJob {
            index: (i % per_day) as u32,
            day: self.first_day + day as i64,
            flow_log: (rest % flow_logs) as u32,
            account: (rest / flow_logs) as u32,
        }
    }

    /// Unix time of the start of the file's 5-minute slot.
    fn slot_start(&self, job: &FileJob) -> i64 {
        let slot = u64::from(job.index) * SLOTS_PER_DAY / u64::from(self.cfg.files_per_day);
        job.day * date::SECS_PER_DAY + slot as i64 * SLOT_SECS
    }

    /// Key of the file relative to `out`, `/`-separated, exactly as AWS lays it out.
    fn key(&self, job: &FileJob) -> String {
        let account = Account::new(self.cfg.seed, job.account);
        let acct = account.id;
        let region = account.region.name;
        let slot_start = self.slot_start(job);
        let (y, mo, d, h) = date::unix_to_civil_hour(slot_start);
        let minute = slot_start.rem_euclid(date::SECS_PER_HOUR) / 60;
        let flow_log = flow_log_id(self.cfg.seed, job.account, job.flow_log);
        let hash = file_hash(self.cfg.seed, job);
        let mut key = if self.cfg.hive {
            format!(
                "AWSLogs/aws-account-id={acct}/aws-service=vpcflowlogs/aws-region={region}/year={y:04}/month={mo:02}/day={d:02}/"
            )
        } else {
            format!("AWSLogs/{acct}/vpcflowlogs/{region}/{y:04}/{mo:02}/{d:02}/")
        };
        if self.cfg.hourly {
            key.push_str(&if self.cfg.hive {
                format!("hour={h:02}/")
            } else {
                format!("{h:02}/")
            });
        }
        key.push_str(&format!(
            "{acct}_vpcflowlogs_{region}_{flow_log}_{y:04}{mo:02}{d:02}T{h:02}{minute:02}Z_{hash:08x}.log.gz"
        ));
        key
    }

    /// Generates and writes one file (via `<name>.tmp` + rename), returning its totals.
    fn write_file(&self, job: &FileJob) -> io::Result<GenerateReport> {
        let path = self.cfg.out.join(self.key(job));
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = tmp_path(&path);
        let result = self.write_gzip(job, &tmp);
        match result {
            Ok(report) => {
                fs::rename(&tmp, &path)?;
                Ok(report)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    fn write_gzip(&self, job: &FileJob, path: &Path) -> io::Result<GenerateReport> {
        let format = self.formats[job.flow_log as usize];
        let file = BufWriter::with_capacity(FILE_BUFFER, File::create(path)?);
        let mut gz = GzEncoder::new(file, Compression::default());
        let mut buf = Vec::with_capacity(WRITE_CHUNK + 1024);
        buf.extend_from_slice(format.header().as_bytes());
        buf.push(b'\n');
        let mut text_bytes = 0u64;
        let mut lines = LineGen::new(self.cfg, job, self.slot_start(job), format);
        for _ in 0..self.cfg.lines_per_file {
            lines.write_line(&mut buf);
            if buf.len() >= WRITE_CHUNK {
                gz.write_all(&buf)?;
                text_bytes = text_bytes.saturating_add(buf.len() as u64);
                buf.clear();
            }
        }
        gz.write_all(&buf)?;
        text_bytes = text_bytes.saturating_add(buf.len() as u64);
        let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        let gzip_bytes = file.metadata()?.len();
        Ok(GenerateReport {
            files: 1,
            lines: self.cfg.lines_per_file,
            text_bytes,
            gzip_bytes,
        })
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `<path>.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".tmp");
    PathBuf::from(s)
}

/// `fl-` + 17 hex digits, fixed per (seed, account, flow log).
fn flow_log_id(seed: u64, account: u32, flow_log: u32) -> String {
    let mut id = b"fl-".to_vec();
    push_hex17(
        &mut id,
        key(&[seed, TAG_FLOW_LOG, account.into(), flow_log.into()]),
    );
    String::from_utf8_lossy(&id).into_owned()
}

/// The 8-hex-digit hash of a file name: a keyed bijection of the file index, so files of the same
/// flow log and day never collide even when several share a 5-minute slot.
fn file_hash(seed: u64, job: &FileJob) -> u32 {
    let k = key(&[
        seed,
        TAG_NAME,
        job.account.into(),
        job.flow_log.into(),
        job.day as u64,
    ]);
    permute32(job.index ^ k as u32)
}

// ---------------------------------------------------------------------------------------------
// Hashing and PRNG
// ---------------------------------------------------------------------------------------------

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64 finaliser: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bijective 32-bit mixer (Wellons' lowbias32).
fn permute32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Hash of a tuple of integers (order-sensitive).
fn key(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6a09_e667_f3bc_c909, |h, &p| {
        mix64(h ^ mix64(p.wrapping_add(GOLDEN)))
    })
}

/// Picks from a weighted table using the value `r`.
fn weighted<T: Copy>(table: &[(T, u32)], r: u64) -> T {
    let total: u64 = table.iter().map(|&(_, w)| u64::from(w)).sum();
    let mut x = r % total.max(1);
    for &(v, w) in table {
        if x < u64::from(w) {
            return v;
        }
        x -= u64::from(w);
    }
    table[0].0
}

/// SplitMix64 generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `0..n` (0 if `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// In `0..n`, skewed towards small values (`n·u²`): a few busy items, a long quiet tail.
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.next_u64() >> 32;
        let u2 = (u * u) >> 32;
        ((u128::from(u2) * u128::from(n)) >> 32) as u64
    }

    fn pick<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let r = self.next_u64();
        weighted(table, r)
    }

    /// Heavy-tailed (Pareto, α = 1) count ≥ 1, capped at [`MAX_PACKETS`]. Integer-only so files are
    /// identical on every platform.
    fn pareto(&mut self) -> u64 {
        let scale = 1 + self.below(8);
        let r = (self.next_u64() >> 32) + 1;
        ((scale << 32) / r).min(MAX_PACKETS)
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts, VPCs, ENIs, peers: pure functions of (seed, indices)
// ---------------------------------------------------------------------------------------------

/// An AWS region and its availability zone ids.
struct Region {
    name: &'static str,
    azs: &'static [&'static str],
}

const REGIONS: &[Region] = &[
    Region {
        name: "us-east-1",
        azs: &["use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"],
    },
    Region {
        name: "eu-west-1",
        azs: &["euw1-az1", "euw1-az2", "euw1-az3"],
    },
    Region {
        name: "ap-southeast-2",
        azs: &["apse2-az1", "apse2-az2", "apse2-az3"],
    },
    Region {
        name: "us-west-2",
        azs: &["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"],
    },
    Region {
        name: "eu-central-1",
        azs: &["euc1-az1", "euc1-az2", "euc1-az3"],
    },
    Region {
        name: "ap-northeast-1",
        azs: &["apne1-az1", "apne1-az2", "apne1-az4"],
    },
];

/// Service names of `pkt-*-aws-service` for public peers in AWS ranges, weighted.
const AWS_SERVICES: &[(&str, u32)] = &[
    ("S3", 35),
    ("AMAZON", 25),
    ("EC2", 15),
    ("DYNAMODB", 8),
    ("CLOUDFRONT", 6),
    ("API_GATEWAY", 3),
    ("ROUTE53", 2),
    ("ROUTE53_HEALTHCHECKS", 2),
    ("EC2_INSTANCE_CONNECT", 2),
    ("GLOBALACCELERATOR", 1),
    ("CODEBUILD", 1),
];

/// First octets of AWS-owned public IPv4 space.
const AWS_OCTETS: &[u32] = &[3, 13, 15, 18, 34, 35, 44, 52, 54, 99];
/// First octets of other public IPv4 space (no private, CGNAT, link-local or benchmark ranges).
const PUBLIC_OCTETS: &[u32] = &[
    8, 17, 20, 23, 31, 37, 40, 45, 64, 66, 72, 77, 81, 89, 91, 104, 108, 142, 151, 157, 162, 173,
    185, 195, 203, 209, 216,
];
/// Top 32 bits of AWS-owned public IPv6 space.
const AWS_V6_PREFIXES: &[u32] = &[0x2600_1f18, 0x2600_1f14, 0x2a05_d018, 0x2406_da1c];
/// Top 32 bits of other public IPv6 space.
const PUBLIC_V6_PREFIXES: &[u32] = &[
    0x2a00_1450,
    0x2606_4700,
    0x2620_0100,
    0x2a03_2880,
    0x2404_6800,
];

/// Service ports of TCP flows, weighted.
const TCP_PORTS: &[(u16, u32)] = &[
    (443, 40),
    (80, 10),
    (22, 6),
    (5432, 6),
    (3306, 5),
    (8080, 5),
    (6379, 4),
    (9092, 3),
    (3389, 3),
    (8443, 3),
    (2049, 3),
    (9200, 2),
    (27017, 2),
    (1433, 2),
    (445, 1),
    (25, 1),
    (11211, 1),
];
/// Service ports of UDP flows, weighted.
const UDP_PORTS: &[(u16, u32)] = &[
    (53, 60),
    (123, 20),
    (443, 6),
    (161, 3),
    (500, 3),
    (4500, 3),
    (514, 2),
    (1194, 1),
    (51820, 1),
    (137, 1),
];
/// Destination ports of rejected scans, weighted.
const SCAN_PORTS: &[(u16, u32)] = &[
    (22, 25),
    (3389, 15),
    (23, 10),
    (445, 10),
    (80, 8),
    (443, 6),
    (8080, 5),
    (1433, 4),
    (3306, 4),
    (21, 3),
    (5900, 3),
    (6379, 3),
    (9200, 2),
    (25, 2),
];
/// `tcp-flags` values of ordinary TCP flows, weighted (FIN 1, SYN 2, SYN-ACK 18, OR-ed).
const TCP_FLAGS: &[(u8, u32)] = &[(0, 25), (1, 10), (2, 10), (3, 20), (18, 10), (19, 25)];

/// What kind of resource owns an ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EniKind {
    /// EC2 instance.
    Instance,
    /// EC2 instance running pods on secondary IPs (pkt addresses differ).
    EksNode,
    /// NAT gateway (requester-managed; pkt addresses reveal the public side).
    NatGateway,
    /// Load balancer, Lambda, … (requester-managed, no instance id).
    Managed,
    /// Interface endpoint created by an AWS service (`account-id` is `unknown`).
    Endpoint,
}

/// An AWS account and its fixed attributes.
struct Account {
    seed: u64,
    index: u32,
    id: u64,
    region: &'static Region,
    vpcs: u64,
}

/// A VPC of an account.
struct Vpc {
    hash: u64,
    /// `a.b.0.0` of its /16.
    ip4_base: u32,
    /// Top 64 bits of its IPv6 /56 (low byte = subnet), if dual-stack.
    ip6_prefix: Option<u64>,
    subnets: u64,
}

/// A network interface and everything the records say about it.
#[derive(Clone, Copy)]
struct Eni {
    id: u64,
    vpc: u64,
    vpc_hash: u64,
    subnet_hash: u64,
    az: &'static str,
    ip4: u32,
    ip6: Option<u128>,
    kind: EniKind,
    instance: Option<u64>,
}

/// A public internet host.
struct Peer {
    ip4: u32,
    ip6: u128,
    service: Option<&'static str>,
}

impl Account {
    fn new(seed: u64, index: u32) -> Self {
        let offset = key(&[seed, TAG_ACCOUNT]) % ACCOUNT_SPAN;
        let id = (u128::from(offset) + u128::from(index) * u128::from(ACCOUNT_STRIDE))
            % u128::from(ACCOUNT_SPAN);
        let h = key(&[seed, TAG_REGION, index.into()]);
        Account {
            seed,
            index,
            id: ACCOUNT_BASE + id as u64,
            region: &REGIONS[(h % REGIONS.len() as u64) as usize],
            vpcs: 1 + (h >> 32) % 3,
        }
    }

    fn vpc(&self, j: u64) -> Vpc {
        let h = key(&[self.seed, TAG_VPC, self.index.into(), j]);
        let b = ((h >> 8) & 0xff) as u32;
        let ip4_base = match h % 10 {
            0..=6 => (10 << 24) | (b << 16),
            7 | 8 => (172 << 24) | ((16 + b % 16) << 16),
            _ => (192 << 24) | (168 << 16),
        };
        let ip6_prefix = (!(h >> 16).is_multiple_of(3)).then_some(
            0x2001_0db8_0000_0000 | (((h >> 24) & 0xffff) << 16) | ((h >> 40) & 0xff) << 8,
        );
        Vpc {
            hash: h,
            ip4_base,
            ip6_prefix,
            subnets: 2 + (h >> 48) % 5,
        }
    }

    /// ENI number `i`: VPC `i mod vpcs`, then subnet, then a unique host slot in the subnet's /20.
    fn eni(&self, i: u64) -> Eni {
        let j = i % self.vpcs;
        let vpc = self.vpc(j);
        let rest = i / self.vpcs;
        let (k, q) = (rest % vpc.subnets, rest / vpc.subnets);
        let subnet_hash = key(&[self.seed, TAG_SUBNET, self.index.into(), j, k]);
        let slot = ((q % HOST_SLOTS) * HOST_STRIDE + subnet_hash % HOST_SLOTS) % HOST_SLOTS;
        let ip4 = vpc.ip4_base | (((k * 16 + slot / 250) as u32) << 8) | (4 + (slot % 250) as u32);
        let h = key(&[self.seed, TAG_ENI, self.index.into(), i]);
        let ip6 = vpc
            .ip6_prefix
            .filter(|_| !h.is_multiple_of(3))
            .map(|p| (u128::from(p | k) << 64) | u128::from(mix64(h)));
        let kind = match (h >> 8) % 100 {
            0..=69 => EniKind::Instance,
            70..=79 => EniKind::EksNode,
            80..=85 => EniKind::NatGateway,
            86..=98 => EniKind::Managed,
            _ => EniKind::Endpoint,
        };
        let instance = matches!(kind, EniKind::Instance | EniKind::EksNode)
            .then(|| key(&[self.seed, TAG_INSTANCE, self.index.into(), i]));
        let azs = self.region.azs;
        Eni {
            id: h,
            vpc: j,
            vpc_hash: vpc.hash,
            subnet_hash,
            az: azs[(((vpc.hash >> 32) + k) % azs.len() as u64) as usize],
            ip4,
            ip6,
            kind,
            instance,
        }
    }
}

impl Peer {
    fn new(seed: u64, k: u64) -> Self {
        let h = key(&[seed, TAG_PEER, k]);
        let h2 = mix64(h);
        let service = (h % 100 < 30).then(|| weighted(AWS_SERVICES, h >> 8));
        let (octets, v6s) = if service.is_some() {
            (AWS_OCTETS, AWS_V6_PREFIXES)
        } else {
            (PUBLIC_OCTETS, PUBLIC_V6_PREFIXES)
        };
        let first = octets[((h >> 20) % octets.len() as u64) as usize];
        let v6 = v6s[((h >> 28) % v6s.len() as u64) as usize];
        Peer {
            ip4: public_ip4(first, h2),
            ip6: (u128::from(v6) << 96) | u128::from(mix64(h2)) | (u128::from(h2 as u32) << 64),
            service,
        }
    }
}

/// `first.x.y.z` with `z` in 1..=254.
fn public_ip4(first: u32, r: u64) -> u32 {
    (first << 24) | (((r >> 8) as u32 & 0xffff) << 8) | (1 + (r % 254) as u32)
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// An IPv4 or IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    V4(u32),
    V6(u128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    NoData,
    SkipData,
}

/// The far end of a flow, as seen from the ENI.
struct Remote {
    addr: Addr,
    service: Option<&'static str>,
    /// `traffic-path` if the flow is egress.
    path: u8,
    private: bool,
}

/// One generated record (fields not in the output format are simply not written).
struct Record {
    status: Status,
    eni: Eni,
    src: Addr,
    dst: Addr,
    pkt_src: Addr,
    pkt_dst: Addr,
    src_service: Option<&'static str>,
    dst_service: Option<&'static str>,
    srcport: u16,
    dstport: u16,
    protocol: u8,
    packets: u64,
    bytes: u64,
    start: i64,
    end: i64,
    reject: bool,
    tcp_flags: Option<u8>,
    egress: bool,
    traffic_path: Option<u8>,
}

/// Generates the records of one file.
struct LineGen {
    rng: Rng,
    account: Account,
    account_text: [u8; 12],
    enis: u64,
    slot_start: i64,
    format: LineFormat,
}

impl LineGen {
    fn new(cfg: &GenerateConfig, job: &FileJob, slot_start: i64, format: LineFormat) -> Self {
        let account = Account::new(cfg.seed, job.account);
        let mut account_text = [b'0'; 12];
        let mut id = account.id;
        for c in account_text.iter_mut().rev() {
            *c = b'0' + (id % 10) as u8;
            id /= 10;
        }
        let seed = key(&[
            cfg.seed,
            TAG_FILE,
            job.account.into(),
            job.flow_log.into(),
            job.day as u64,
            job.index.into(),
        ]);
        LineGen {
            rng: Rng(seed),
            account,
            account_text,
            enis: cfg.enis.into(),
            slot_start,
            format,
        }
    }

    fn write_line(&mut self, buf: &mut Vec<u8>) {
        let r = self.record();
        match self.format {
            LineFormat::V2 => write_v2(buf, &self.account_text, &r),
            LineFormat::V5 => write_v5(buf, &self.account_text, self.account.region.name, &r),
        }
    }

    fn record(&mut self) -> Record {
        let eni = self.account.eni(self.rng.skewed(self.enis));
        let roll = self.rng.below(10_000);
        if roll < NODATA_RATE {
            self.empty(eni, Status::NoData)
        } else if roll < NODATA_RATE + SKIPDATA_RATE {
            self.empty(eni, Status::SkipData)
        } else if roll < NODATA_RATE + SKIPDATA_RATE + REJECT_RATE {
            if self.rng.chance(800) {
                self.scan(eni)
            } else {
                let mut r = self.flow(eni);
                r.reject = true;
                r
            }
        } else {
            self.flow(eni)
        }
    }

    /// `(start, end)` of a flow: start up to 60 s before the slot up to the slot's end, 0–60 s long.
    fn times(&mut self) -> (i64, i64) {
        let start = self.slot_start - START_LEAD_SECS as i64
            + self.rng.below(START_LEAD_SECS + SLOT_SECS as u64) as i64;
        (start, start + self.rng.below(MAX_FLOW_SECS + 1) as i64)
    }

    /// A NODATA or SKIPDATA line: only the interface and an interval-like start/end.
    fn empty(&mut self, eni: Eni, status: Status) -> Record {
        let start =
            self.slot_start - START_LEAD_SECS as i64 + self.rng.below(SLOT_SECS as u64) as i64;
        let end = start + 50 + self.rng.below(11) as i64;
        let none = Addr::V4(0);
        Record {
            status,
            eni,
            src: none,
            dst: none,
            pkt_src: none,
            pkt_dst: none,
            src_service: None,
            dst_service: None,
            srcport: 0,
            dstport: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            start,
            end,
            reject: false,
            tcp_flags: None,
            egress: false,
            traffic_path: None,
        }
    }

    /// A rejected inbound probe from a random internet host.
    fn scan(&mut self, eni: Eni) -> Record {
        let r = self.rng.next_u64();
        let first = PUBLIC_OCTETS[(r % PUBLIC_OCTETS.len() as u64) as usize];
        let (src, dst) = match eni.ip6 {
            Some(ip6) if self.rng.chance(100) => {
                let prefix = PUBLIC_V6_PREFIXES[(r >> 40) as usize % PUBLIC_V6_PREFIXES.len()];
                let host = u128::from(self.rng.next_u64()) | (u128::from(r as u32) << 64);
                (Addr::V6((u128::from(prefix) << 96) | host), Addr::V6(ip6))
            }
            _ => (Addr::V4(public_ip4(first, r >> 8)), Addr::V4(eni.ip4)),
        };
        let tcp = self.rng.chance(900);
        let dstport = if self.rng.chance(150) {
            1 + self.rng.below(65_535) as u16
        } else {
            self.rng.pick(SCAN_PORTS)
        };
        let packets = 1 + self.rng.below(3);
        let (start, end) = self.times();
        Record {
            status: Status::Ok,
            eni,
            src,
            dst,
            pkt_src: src,
            pkt_dst: dst,
            src_service: None,
            dst_service: None,
            srcport: self.ephemeral_port(),
            dstport,
            protocol: if tcp { 6 } else { 17 },
            packets,
            bytes: packets
                * if tcp {
                    40 + 4 * self.rng.below(6)
                } else {
                    60 + self.rng.below(200)
                },
            start,
            end,
            reject: true,
            tcp_flags: Some(if tcp { 2 } else { 0 }),
            egress: false,
            traffic_path: None,
        }
    }

    /// An ordinary flow between the ENI and a remote host, in either direction and role.
    fn flow(&mut self, eni: Eni) -> Record {
        let v6 = eni.ip6.is_some() && self.rng.chance(300);
        let protocol = self.protocol(v6);
        let icmp = protocol == 1 || protocol == 58;
        let service_port = match protocol {
            6 => self.rng.pick(TCP_PORTS),
            17 => self.rng.pick(UDP_PORTS),
            _ => 0,
        };
        let client_port = if icmp { 0 } else { self.ephemeral_port() };
        let remote = self.remote(&eni, v6);
        let local = match (v6, eni.ip6) {
            (true, Some(ip6)) => Addr::V6(ip6),
            _ => Addr::V4(eni.ip4),
        };
        let (pkt_local, local_service) = self.packet_local(&eni, local, remote.private);
        let egress = self.rng.chance(500);
        let eni_is_client = self.rng.chance(600);
        let (local_port, remote_port) = if eni_is_client {
            (client_port, service_port)
        } else {
            (service_port, client_port)
        };
        let (packets, per_packet) = self.volume(protocol, service_port);
        let (start, end) = self.times();
        let (src, dst, pkt_src, pkt_dst, srcport, dstport, src_service, dst_service) = if egress {
            let (ls, rs) = (local_service, remote.service);
            (
                local,
                remote.addr,
                pkt_local,
                remote.addr,
                local_port,
                remote_port,
                ls,
                rs,
            )
        } else {
            let (rs, ls) = (remote.service, local_service);
            (
                remote.addr,
                local,
                remote.addr,
                pkt_local,
                remote_port,
                local_port,
                rs,
                ls,
            )
        };
        let tcp_flags = if protocol != 6 {
            Some(0)
        } else if self.rng.chance(1) {
            None
        } else {
            Some(self.rng.pick(TCP_FLAGS))
        };
        let traffic_path = (egress && !self.rng.chance(20)).then_some(remote.path);
        Record {
            status: Status::Ok,
            eni,
            src,
            dst,
            pkt_src,
            pkt_dst,
            src_service,
            dst_service,
            srcport,
            dstport,
            protocol,
            packets,
            bytes: packets * per_packet,
            start,
            end,
            reject: false,
            tcp_flags,
            egress,
            traffic_path,
        }
    }

    fn protocol(&mut self, v6: bool) -> u8 {
        let roll = self.rng.below(100);
        match (v6, roll) {
            (_, 0..=79) => 6,
            (_, 80..=94) => 17,
            (false, _) => 1,
            (true, _) => 58,
        }
    }

    fn ephemeral_port(&mut self) -> u16 {
        if self.rng.chance(700) {
            32_768 + self.rng.below(28_232) as u16 // Linux
        } else {
            49_152 + self.rng.below(16_384) as u16 // Windows
        }
    }

    /// `(packets, bytes per packet)` for a flow.
    fn volume(&mut self, protocol: u8, service_port: u16) -> (u64, u64) {
        match (protocol, service_port) {
            (1 | 58, _) => (1 + self.rng.below(10), 64 + self.rng.below(41)),
            (17, 53 | 123) => (1 + self.rng.below(4), 60 + self.rng.below(450)),
            (17, _) => (self.rng.pareto(), 60 + self.rng.below(1_141)),
            _ => (self.rng.pareto(), 40 + self.rng.below(1_461)),
        }
    }

    /// Picks the far end: another ENI of the account, an on-premises host, or a public host.
    fn remote(&mut self, eni: &Eni, v6: bool) -> Remote {
        let roll = self.rng.below(100);
        if roll < 40 {
            let other = self.account.eni(self.rng.skewed(self.enis));
            let addr = match (v6, other.ip6, eni.ip6) {
                (false, _, _) => Addr::V4(other.ip4),
                (true, Some(ip6), _) => Addr::V6(ip6),
                (true, None, Some(own)) => Addr::V6(own ^ u128::from(self.rng.next_u64())),
                (true, None, None) => Addr::V4(other.ip4),
            };
            let path = if other.vpc == eni.vpc {
                1
            } else if self.rng.chance(800) {
                4
            } else {
                5
            };
            Remote {
                addr,
                service: None,
                path,
                private: true,
            }
        } else if roll < 45 {
            let r = self.rng.next_u64();
            let addr = if v6 {
                Addr::V6((0xfd00_u128 << 112) | u128::from(r))
            } else {
                Addr::V4((192 << 24) | (168 << 16) | ((r as u32) & 0xffff))
            };
            Remote {
                addr,
                service: None,
                path: 3,
                private: true,
            }
        } else {
            let peer = Peer::new(self.account.seed, self.rng.skewed(PEER_POOL));
            let gateway_endpoint = matches!(peer.service, Some("S3" | "DYNAMODB"));
            let path = match (gateway_endpoint, self.rng.chance(500)) {
                (true, true) => 7,
                (false, true) => 8,
                (_, false) => 2,
            };
            Remote {
                addr: if v6 {
                    Addr::V6(peer.ip6)
                } else {
                    Addr::V4(peer.ip4)
                },
                service: peer.service,
                path,
                private: false,
            }
        }
    }

    /// The packet-level address on the ENI's side (`pkt-*addr`) and its AWS service, if any:
    /// a pod IP for EKS nodes, the real public host behind a NAT gateway, else the ENI's own address.
    fn packet_local(
        &mut self,
        eni: &Eni,
        local: Addr,
        remote_private: bool,
    ) -> (Addr, Option<&'static str>) {
        match (eni.kind, local) {
            (EniKind::EksNode, Addr::V4(ip)) if self.rng.chance(600) => (
                Addr::V4(ip.wrapping_add(1 + self.rng.below(30) as u32)),
                None,
            ),
            (EniKind::NatGateway, Addr::V4(_)) if remote_private => {
                let peer = Peer::new(self.account.seed, self.rng.skewed(PEER_POOL));
                (Addr::V4(peer.ip4), peer.service)
            }
            _ => (local, None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

const DASH: &[u8] = b"-";

/// A v2 (default format) line.
fn write_v2(buf: &mut Vec<u8>, account: &[u8; 12], r: &Record) {
    buf.extend_from_slice(b"2 ");
    push_account(buf, account, &r.eni);
    buf.extend_from_slice(b" eni-");
    push_hex17(buf, r.eni.id);
    buf.push(b' ');
    if r.status == Status::Ok {
        push_addr(buf, r.src);
        buf.push(b' ');
        push_addr(buf, r.dst);
        for v in [
            r.srcport.into(),
            r.dstport.into(),
            r.protocol.into(),
            r.packets,
            r.bytes,
        ] {
            buf.push(b' ');
            push_u64(buf, v);
        }
        buf.push(b' ');
    } else {
        buf.extend_from_slice(b"- - - - - - - ");
    }
    push_i64(buf, r.start);
    buf.push(b' ');
    push_i64(buf, r.end);
    buf.push(b' ');
    buf.extend_from_slice(action(r));
    buf.push(b' ');
    buf.extend_from_slice(status(r));
    buf.push(b'\n');
}

/// A line in [`DEFAULT_V5_FORMAT`] order.
fn write_v5(buf: &mut Vec<u8>, account: &[u8; 12], region: &str, r: &Record) {
    let ok = r.status == Status::Ok;
    buf.extend_from_slice(b"5 ");
    // srcaddr dstaddr srcport dstport protocol
    if ok {
        push_addr(buf, r.src);
        buf.push(b' ');
        push_addr(buf, r.dst);
        for v in [r.srcport.into(), r.dstport.into(), r.protocol.into()] {
            buf.push(b' ');
            push_u64(buf, v);
        }
        buf.push(b' ');
    } else {
        buf.extend_from_slice(b"- - - - - ");
    }
    // start end type packets bytes
    push_i64(buf, r.start);
    buf.push(b' ');
    push_i64(buf, r.end);
    buf.push(b' ');
    if ok {
        buf.extend_from_slice(match r.src {
            Addr::V4(_) => b"IPv4",
            Addr::V6(_) => b"IPv6",
        });
        buf.push(b' ');
        push_u64(buf, r.packets);
        buf.push(b' ');
        push_u64(buf, r.bytes);
    } else {
        buf.extend_from_slice(b"- - -");
    }
    // account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id
    buf.push(b' ');
    push_account(buf, account, &r.eni);
    buf.extend_from_slice(b" vpc-");
    push_hex17(buf, r.eni.vpc_hash);
    buf.extend_from_slice(b" subnet-");
    push_hex17(buf, r.eni.subnet_hash);
    buf.push(b' ');
    match r.eni.instance {
        Some(id) => {
            buf.extend_from_slice(b"i-");
            push_hex17(buf, id);
        }
        None => buf.extend_from_slice(DASH),
    }
    buf.extend_from_slice(b" eni-");
    push_hex17(buf, r.eni.id);
    buf.push(b' ');
    buf.extend_from_slice(region.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(r.eni.az.as_bytes());
    buf.extend_from_slice(b" - - ");
    // action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction
    buf.extend_from_slice(action(r));
    buf.push(b' ');
    if ok {
        push_opt_u64(buf, r.tcp_flags.map(u64::from));
        buf.push(b' ');
        push_addr(buf, r.pkt_src);
        buf.push(b' ');
        push_addr(buf, r.pkt_dst);
        buf.push(b' ');
        buf.extend_from_slice(r.src_service.map_or(DASH, str::as_bytes));
        buf.push(b' ');
        buf.extend_from_slice(r.dst_service.map_or(DASH, str::as_bytes));
        buf.push(b' ');
        push_opt_u64(buf, r.traffic_path.map(u64::from));
        buf.push(b' ');
        buf.extend_from_slice(if r.egress { b"egress" } else { b"ingress" });
    } else {
        buf.extend_from_slice(b"- - - - - - -");
    }
    // log-status
    buf.push(b' ');
    buf.extend_from_slice(status(r));
    buf.push(b'\n');
}

fn push_account(buf: &mut Vec<u8>, account: &[u8; 12], eni: &Eni) {
    if eni.kind == EniKind::Endpoint {
        buf.extend_from_slice(b"unknown");
    } else {
        buf.extend_from_slice(account);
    }
}

fn action(r: &Record) -> &'static [u8] {
    match (r.status, r.reject) {
        (Status::Ok, false) => b"ACCEPT",
        (Status::Ok, true) => b"REJECT",
        _ => DASH,
    }
}

fn status(r: &Record) -> &'static [u8] {
    match r.status {
        Status::Ok => b"OK",
        Status::NoData => b"NODATA",
        Status::SkipData => b"SKIPDATA",
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// 17 lowercase hex digits (AWS resource id suffix): one derived nibble, then the 16 of `v`.
fn push_hex17(buf: &mut Vec<u8>, v: u64) {
    buf.push(HEX[(mix64(v) & 0xf) as usize]);
    for shift in (0..16).rev() {
        buf.push(HEX[((v >> (shift * 4)) & 0xf) as usize]);
    }
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

fn push_opt_u64(buf: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_u64(buf, v),
        None => buf.extend_from_slice(DASH),
    }
}

fn push_addr(buf: &mut Vec<u8>, a: Addr) {
    match a {
        Addr::V4(ip) => push_ipv4(buf, ip),
        Addr::V6(ip) => push_ipv6(buf, ip),
    }
}

fn push_ipv4(buf: &mut Vec<u8>, ip: u32) {
    for (i, octet) in ip.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, octet.into());
    }
}

/// RFC 5952 text: lowercase, no leading zeros, longest run (≥ 2) of zero groups as `::`.
fn push_ipv6(buf: &mut Vec<u8>, ip: u128) {
    let groups: [u16; 8] = std::array::from_fn(|i| (ip >> (112 - 16 * i)) as u16);
    let (mut best_start, mut best_len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_start, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        (best_start, best_len) = (8, 0);
    }
    for (i, &g) in groups.iter().enumerate() {
        if i == best_start {
            buf.extend_from_slice(b"::");
        } else if i > best_start && i < best_start + best_len {
            continue;
        } else {
            if i > 0 && i != best_start + best_len {
                buf.push(b':');
            }
            push_hex_group(buf, g);
        }
    }
}

fn push_hex_group(buf: &mut Vec<u8>, g: u16) {
    let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        buf.push(HEX[((g >> (shift * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A fresh, unique scratch folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "flowlake-generate-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn small(out: &Path, format: GenFormat) -> GenerateConfig {
        GenerateConfig {
            files_per_day: 3,
            lines_per_file: 300,
            enis: 50,
            format,
            ..GenerateConfig::new(out.to_path_buf())
        }
    }

    /// All files under `root`, keyed by `/`-separated relative path.
    fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
                    out.insert(rel.join("/"), fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        if root.exists() {
            walk(root, root, &mut out);
        }
        out
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut s = String::new();
        MultiGzDecoder::new(bytes).read_to_string(&mut s).unwrap();
        s
    }

    /// Every decompressed file: (relative path, header fields, data lines split on single spaces).
    fn parsed(root: &Path) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
        files(root)
            .into_iter()
            .map(|(path, gz)| {
                let text = gunzip(&gz);
                assert!(text.ends_with('\n'), "{path}: no final newline");
                let mut lines = text.lines();
                let header = lines.next().unwrap().split(' ').map(String::from).collect();
                let data = lines
                    .map(|l| l.split(' ').map(String::from).collect())
                    .collect();
                (path, header, data)
            })
            .collect()
    }

    fn is_hex(s: &str, len: usize) -> bool {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    fn is_digits(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// Checks one key against AWS's plain/Hive, daily/hourly layout and file-name pattern.
    fn check_key(key: &str, hive: bool, hourly: bool) {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), if hourly { 9 } else { 8 }, "{key}");
        assert_eq!(parts[0], "AWSLogs");
        let strip = |s: &'static str, p: &str| -> String {
            if hive {
                p.strip_prefix(s)
                    .unwrap_or_else(|| panic!("{key}: {p} lacks {s}"))
                    .to_string()
            } else {
                p.to_string()
            }
        };
        let account = strip("aws-account-id=", parts[1]);
        assert!(is_digits(&account, 12), "{key}");
        assert_eq!(strip("aws-service=", parts[2]), "vpcflowlogs");
        let region = strip("aws-region=", parts[3]);
        assert!(REGIONS.iter().any(|r| r.name == region), "{key}");
        let (y, m, d) = (
            strip("year=", parts[4]),
            strip("month=", parts[5]),
            strip("day=", parts[6]),
        );
        assert!(
            is_digits(&y, 4) && is_digits(&m, 2) && is_digits(&d, 2),
            "{key}"
        );
        let hour = hourly.then(|| strip("hour=", parts[7]));
        let name = parts[parts.len() - 1];
        let fields: Vec<&str> = name.split('_').collect();
        assert_eq!(fields.len(), 6, "{key}");
        assert_eq!(fields[0], account);
        assert_eq!(fields[1], "vpcflowlogs");
        assert_eq!(fields[2], region);
        assert!(
            fields[3].starts_with("fl-") && is_hex(&fields[3][3..], 17),
            "{key}"
        );
        let stamp = fields[4];
        assert_eq!(stamp.len(), 14, "{key}");
        assert_eq!(&stamp[0..8], format!("{y}{m}{d}"), "{key}");
        assert_eq!(&stamp[8..9], "T");
        assert!(is_digits(&stamp[9..13], 4) && stamp.ends_with('Z'), "{key}");
        if let Some(h) = hour {
            assert!(is_digits(&h, 2));
            assert_eq!(&stamp[9..11], h, "{key}");
        }
        let minute: u32 = stamp[11..13].parse().unwrap();
        assert_eq!(minute % 5, 0, "{key}");
        let tail = fields[5].strip_suffix(".log.gz").unwrap();
        assert!(is_hex(tail, 8), "{key}");
    }

    #[test]
    fn same_config_gives_identical_bytes() {
        let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
        let mut cfg = small(&a.0, GenFormat::Mixed);
        cfg.accounts = 2;
        cfg.days = 2;
        cfg.hive = true;
        cfg.hourly = true;
        let ra = generate(&cfg).unwrap();
        cfg.out = b.0.clone();
        let rb = generate(&cfg).unwrap();
        let (fa, fb) = (files(&a.0), files(&b.0));
        assert_eq!(fa.len(), 2 * 2 * 2 * 3);
        assert_eq!(fa, fb);
        assert_eq!(ra.gzip_bytes, rb.gzip_bytes);
        assert_eq!(ra.text_bytes, rb.text_bytes);

        // A different seed changes the content.
        cfg.seed = 7;
        let c = TempDir::new("det-c");
        cfg.out = c.0.clone();
        generate(&cfg).unwrap();
        assert_ne!(files(&c.0).values().next(), fa.values().next());
    }

    #[test]
    fn headers_and_field_counts() {
        for (format, header, version) in [
            (GenFormat::V2, DEFAULT_V2_FORMAT, "2"),
            (GenFormat::V5, DEFAULT_V5_FORMAT, "5"),
        ] {
            let dir = TempDir::new("headers");
            let report = generate(&small(&dir.0, format)).unwrap();
            let parsed = parsed(&dir.0);
            assert_eq!(parsed.len(), 3);
            let mut text_bytes = 0;
            for (path, head, data) in &parsed {
                assert_eq!(head.join(" "), header, "{path}");
                assert_eq!(data.len(), 300);
                for line in data {
                    assert_eq!(line.len(), head.len(), "{path}: {line:?}");
                    assert!(line.iter().all(|f| !f.is_empty()), "{line:?}");
                    assert_eq!(line[0], version);
                }
                text_bytes += (head.join(" ").len() + 1) as u64
                    + data
                        .iter()
                        .map(|l| l.join(" ").len() as u64 + 1)
                        .sum::<u64>();
            }
            assert_eq!(report.text_bytes, text_bytes);
            assert_eq!(report.lines, 900);
            let on_disk: u64 = files(&dir.0).values().map(|v| v.len() as u64).sum();
            assert_eq!(report.gzip_bytes, on_disk);
        }
        assert_eq!(DEFAULT_V2_FORMAT.split(' ').count(), 14);
        assert_eq!(DEFAULT_V5_FORMAT.split(' ').count(), 29);
    }

    #[test]
    fn v5_header_matches_the_aws_example() {
        // The header of AWS's own v5 example (flow-logs-records-examples, "service and traffic path").
        let aws = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";
        assert_eq!(DEFAULT_V5_FORMAT, aws);
    }

    #[test]
    fn file_counts() {
        for (format, flow_logs) in [
            (GenFormat::V2, 1),
            (GenFormat::V5, 1),
            (GenFormat::Mixed, 2),
        ] {
            let dir = TempDir::new("counts");
            let cfg = GenerateConfig {
                accounts: 3,
                days: 2,
                files_per_day: 5,
                lines_per_file: 10,
                format,
                ..GenerateConfig::new(dir.0.clone())
            };
            let report = generate(&cfg).unwrap();
            let expected = 3 * flow_logs * 2 * 5;
            assert_eq!(report.files, expected);
            assert_eq!(report.lines, expected * 10);
            assert_eq!(files(&dir.0).len() as u64, expected);
        }
    }

    #[test]
    fn degenerate_configs_do_not_panic() {
        let dir = TempDir::new("degenerate");
        let base = small(&dir.0, GenFormat::Mixed);
        for cfg in [
            GenerateConfig {
                days: 0,
                ..base.clone()
            },
            GenerateConfig {
                accounts: 0,
                ..base.clone()
            },
            GenerateConfig {
                files_per_day: 0,
                ..base.clone()
            },
            GenerateConfig {
                enis: 0,
                ..base.clone()
            },
        ] {
            let r = generate(&cfg).unwrap();
            assert_eq!((r.files, r.lines), (0, 0));
        }
        assert!(files(&dir.0).is_empty());

        // Header-only files, one ENI, more files than slots, a leap day.
        let cfg = GenerateConfig {
            lines_per_file: 0,
            enis: 1,
            files_per_day: 300,
            start: (2024, 2, 29),
            ..base.clone()
        };
        let r = generate(&cfg).unwrap();
        assert_eq!((r.files, r.lines), (600, 0));
        assert_eq!(files(&dir.0).len(), 600);
        let cfg = GenerateConfig {
            enis: 1,
            files_per_day: 1,
            lines_per_file: 200,
            ..base.clone()
        };
        generate(&cfg).unwrap();

        // Invalid inputs are errors, not panics.
        let bad_date = GenerateConfig {
            start: (2023, 2, 29),
            ..base.clone()
        };
        assert_eq!(
            generate(&bad_date).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let huge = GenerateConfig {
            accounts: u32::MAX,
            days: u32::MAX,
            files_per_day: u32::MAX,
            ..base.clone()
        };
        assert_eq!(
            generate(&huge).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // No temporary file survives.
        assert!(files(&dir.0).keys().all(|k| k.ends_with(".log.gz")));
    }

    #[test]
    fn key_layouts() {
        for (hive, hourly) in [(false, false), (true, false), (false, true), (true, true)] {
            let dir = TempDir::new("keys");
            let cfg = GenerateConfig {
                hive,
                hourly,
                accounts: 2,
                files_per_day: 24,
                lines_per_file: 1,
                format: GenFormat::Mixed,
                ..GenerateConfig::new(dir.0.clone())
            };
            generate(&cfg).unwrap();
            let keys: Vec<String> = files(&dir.0).into_keys().collect();
            assert_eq!(keys.len(), 2 * 2 * 24);
            for k in &keys {
                check_key(k, hive, hourly);
            }
        }
        // Exact keys for the defaults.
        let plan_cfg = GenerateConfig::new(PathBuf::from("x"));
        let plan = Plan::new(&plan_cfg).unwrap();
        let job = plan.job(1);
        let key = plan.key(&job);
        assert!(key.starts_with("AWSLogs/"), "{key}");
        assert!(key.contains("/vpcflowlogs/"), "{key}");
        assert!(key.contains("/2024/01/15/"), "{key}");
        assert!(key.contains("_20240115T0600Z_"), "{key}");
        let hourly_cfg = GenerateConfig {
            hive: true,
            hourly: true,
            ..plan_cfg.clone()
        };
        let key = Plan::new(&hourly_cfg).unwrap().key(&job);
        assert!(key.contains("/year=2024/month=01/day=15/hour=06/"), "{key}");
    }

    #[test]
    fn accounts_and_flow_logs_are_distinct() {
        let accounts: std::collections::BTreeSet<u64> = (0..1000)
            .map(|i| Account::new(DEFAULT_SEED, i).id)
            .collect();
        assert_eq!(accounts.len(), 1000);
        assert!(accounts
            .iter()
            .all(|&a| (ACCOUNT_BASE..ACCOUNT_BASE + ACCOUNT_SPAN).contains(&a)));
        assert_ne!(flow_log_id(1, 0, 0), flow_log_id(1, 0, 1));
        let a = Account::new(DEFAULT_SEED, 0);
        let ips: std::collections::BTreeSet<u32> = (0..200).map(|i| a.eni(i).ip4).collect();
        let vpcs: std::collections::BTreeSet<u32> =
            (0..a.vpcs).map(|j| a.vpc(j).ip4_base).collect();
        // ENI addresses are unique unless two VPCs of the account share a CIDR.
        if vpcs.len() as u64 == a.vpcs {
            assert_eq!(ips.len(), 200);
        }
    }

    /// Statistics over a sample of ~60 000 records of each format.
    #[test]
    fn records_are_realistic() {
        for format in [GenFormat::V2, GenFormat::V5] {
            let dir = TempDir::new("realism");
            let cfg = GenerateConfig {
                files_per_day: 6,
                lines_per_file: 10_000,
                format,
                ..GenerateConfig::new(dir.0.clone())
            };
            generate(&cfg).unwrap();
            let day_start = date::days_from_civil(2024, 1, 15) * 86_400;
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            let mut total = 0u64;
            let mut enis = std::collections::BTreeSet::new();
            let mut max_packets = 0u64;
            let mut previous_day = 0;
            for (path, head, data) in parsed(&dir.0) {
                let col = |name: &str| head.iter().position(|h| h == name).unwrap();
                let stamp = path.split('_').nth(4).unwrap();
                let hh: i64 = stamp[9..11].parse().unwrap();
                let mm: i64 = stamp[11..13].parse().unwrap();
                let slot = day_start + hh * 3600 + mm * 60;
                for line in &data {
                    total += 1;
                    let f = |name: &str| line[col(name)].as_str();
                    let start: i64 = f("start").parse().unwrap();
                    let end: i64 = f("end").parse().unwrap();
                    assert!(start >= slot - 60 && start < slot + 300, "{line:?}");
                    assert!(end >= start && end <= start + 60, "{line:?}");
                    if start < day_start {
                        previous_day += 1;
                    }
                    let id = f("interface-id");
                    assert!(id.starts_with("eni-") && is_hex(&id[4..], 17));
                    enis.insert(id.to_string());
                    let acct = f("account-id");
                    assert!(is_digits(acct, 12) || acct == "unknown", "{acct}");
                    match f("log-status") {
                        "OK" => {}
                        s @ ("NODATA" | "SKIPDATA") => {
                            *counts
                                .entry(if s == "NODATA" { "nodata" } else { "skipdata" })
                                .or_default() += 1;
                            for name in [
                                "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
                                "bytes", "action",
                            ] {
                                assert_eq!(f(name), "-", "{line:?}");
                            }
                            continue;
                        }
                        s => panic!("bad status {s}"),
                    }
                    let (src, dst) = (f("srcaddr"), f("dstaddr"));
                    let v4 = src.parse::<Ipv4Addr>().is_ok();
                    assert!(v4 || src.parse::<Ipv6Addr>().is_ok(), "{src}");
                    assert_eq!(v4, dst.parse::<Ipv4Addr>().is_ok(), "{line:?}");
                    let proto = f("protocol");
                    let (sp, dp): (u16, u16) =
                        (f("srcport").parse().unwrap(), f("dstport").parse().unwrap());
                    match proto {
                        "6" | "17" => {}
                        "1" => assert!(v4 && sp == 0 && dp == 0),
                        "58" => assert!(!v4 && sp == 0 && dp == 0),
                        p => panic!("protocol {p}"),
                    }
                    *counts
                        .entry(match proto {
                            "6" => "tcp",
                            "17" => "udp",
                            _ => "icmp",
                        })
                        .or_default() += 1;
                    if !v4 {
                        *counts.entry("ipv6").or_default() += 1;
                    }
                    let packets: u64 = f("packets").parse().unwrap();
                    let bytes: u64 = f("bytes").parse().unwrap();
                    assert!((1..=MAX_PACKETS).contains(&packets));
                    assert!(bytes >= packets * 40 && bytes <= packets * 1500, "{line:?}");
                    max_packets = max_packets.max(packets);
                    match f("action") {
                        "ACCEPT" => {}
                        "REJECT" => *counts.entry("reject").or_default() += 1,
                        a => panic!("action {a}"),
                    }
                    if format == GenFormat::V5 {
                        assert_eq!(f("type"), if v4 { "IPv4" } else { "IPv6" });
                        let (ps, pd) = (f("pkt-srcaddr"), f("pkt-dstaddr"));
                        assert_eq!(ps.parse::<Ipv4Addr>().is_ok(), v4, "{line:?}");
                        assert_eq!(pd.parse::<Ipv4Addr>().is_ok(), v4, "{line:?}");
                        if ps != src || pd != dst {
                            *counts.entry("pkt_differs").or_default() += 1;
                        }
                        let flags = f("tcp-flags");
                        if proto == "6" {
                            assert!(["0", "1", "2", "3", "18", "19", "-"].contains(&flags));
                        } else {
                            assert_eq!(flags, "0");
                        }
                        assert!(f("vpc-id").starts_with("vpc-") && is_hex(&f("vpc-id")[4..], 17));
                        assert!(f("subnet-id").starts_with("subnet-"));
                        let inst = f("instance-id");
                        assert!(inst == "-" || (inst.starts_with("i-") && is_hex(&inst[2..], 17)));
                        let region = REGIONS.iter().find(|r| r.name == f("region")).unwrap();
                        assert!(region.azs.contains(&f("az-id")), "{line:?}");
                        assert_eq!(f("sublocation-type"), "-");
                        assert_eq!(f("sublocation-id"), "-");
                        let path = f("traffic-path");
                        match f("flow-direction") {
                            "ingress" => assert_eq!(path, "-"),
                            "egress" => {
                                assert!(
                                    path == "-" || (1..=8).contains(&path.parse::<u8>().unwrap())
                                )
                            }
                            d => panic!("direction {d}"),
                        }
                        if f("pkt-src-aws-service") != "-" || f("pkt-dst-aws-service") != "-" {
                            *counts.entry("service").or_default() += 1;
                        }
                    }
                }
            }
            let pct = |k: &str| *counts.get(k).unwrap_or(&0) as f64 * 100.0 / total as f64;
            assert_eq!(total, 60_000);
            assert!((0.6..1.5).contains(&pct("nodata")), "{counts:?}");
            assert!((0.05..0.5).contains(&pct("skipdata")), "{counts:?}");
            assert!((10.0..20.0).contains(&pct("reject")), "{counts:?}");
            assert!(
                pct("tcp") > 60.0 && pct("udp") > 8.0 && pct("icmp") > 1.0,
                "{counts:?}"
            );
            assert!(pct("ipv6") > 2.0, "{counts:?}");
            assert!(enis.len() > 150, "{}", enis.len());
            assert!(max_packets > 10_000, "{max_packets}");
            assert!(previous_day > 0, "no record starts on the previous day");
            if format == GenFormat::V5 {
                assert!(pct("pkt_differs") > 1.0, "{counts:?}");
                assert!(pct("service") > 5.0, "{counts:?}");
            }
        }
    }

    #[test]
    fn address_formatting_matches_std() {
        let mut rng = Rng(1);
        let mut samples: Vec<u128> = vec![0, 1, u128::MAX, 1 << 112, (0x2001_0db8 << 96) | 1];
        samples.extend((0..2000).map(|_| {
            let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            // Zero some groups to exercise `::` placement.
            let mask = (0..8).fold(0u128, |m, g| {
                if rng.chance(400) {
                    m
                } else {
                    m | (0xffff << (16 * g))
                }
            });
            r & mask
        }));
        for ip in samples {
            let std_text = Ipv6Addr::from(ip);
            // std prints IPv4-mapped/compatible forms differently; skip those.
            if std_text.to_ipv4_mapped().is_some() || (ip >> 32) == 0 {
                continue;
            }
            let mut buf = Vec::new();
            push_ipv6(&mut buf, ip);
            assert_eq!(String::from_utf8(buf).unwrap(), std_text.to_string());
        }
        for ip in [0u32, 0x0a00_0004, 0xffff_ffff, 0xc0a8_0101] {
            let mut buf = Vec::new();
            push_ipv4(&mut buf, ip);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                Ipv4Addr::from(ip).to_string()
            );
        }
        let mut buf = Vec::new();
        push_i64(&mut buf, -1_234_567);
        buf.push(b' ');
        push_u64(&mut buf, u64::MAX);
        assert_eq!(buf, b"-1234567 18446744073709551615");
    }

    /// Release-mode throughput check, run with
    /// `cargo test --release generate::tests::throughput -- --ignored --nocapture`.
    /// `FLOWLAKE_GEN_LINES` (default 50 000) sets lines per file; 100 files (50 v2 + 50 v5), about
    /// 1 GB of text and 200 MB of gzip with the default.
    #[test]
    #[ignore]
    fn throughput() {
        let lines = std::env::var("FLOWLAKE_GEN_LINES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50_000);
        let dir = TempDir::new("throughput");
        let cfg = GenerateConfig {
            files_per_day: 50,
            lines_per_file: lines,
            format: GenFormat::Mixed,
            ..GenerateConfig::new(dir.0.clone())
        };
        let t = std::time::Instant::now();
        let r = generate(&cfg).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let mb = |b: u64| b as f64 / 1e6;
        println!(
            "{} files, {} lines, {:.1} MB text, {:.1} MB gzip in {secs:.2} s on {} threads: \
             {:.1} MB/s gzip, {:.1} MB/s text, {:.2} M lines/s, ratio {:.2}",
            r.files,
            r.lines,
            mb(r.text_bytes),
            mb(r.gzip_bytes),
            rayon::current_num_threads(),
            mb(r.gzip_bytes) / secs,
            mb(r.text_bytes) / secs,
            r.lines as f64 / secs / 1e6,
            r.text_bytes as f64 / r.gzip_bytes as f64
        );
    }
}
