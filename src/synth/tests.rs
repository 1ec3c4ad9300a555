//! End-to-end tests of the generator: files written by [`generate`], read back as text.

use super::delivery::Plan;
use super::export;
use super::traffic::MAX_PACKETS;
use super::world::REGIONS;
use super::*;
use crate::date;
use crate::lake::schema;
use flate2::read::MultiGzDecoder;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

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
    for (format, fields, version) in [(GenFormat::V2, 14, "2"), (GenFormat::V5, 29, "5")] {
        let dir = TempDir::new("headers");
        let report = generate(&small(&dir.0, format)).unwrap();
        let parsed = parsed(&dir.0);
        assert_eq!(parsed.len(), 3);
        let mut text_bytes = 0;
        for (path, head, data) in &parsed {
            assert_eq!(head.len(), fields, "{path}");
            for name in head {
                assert!(schema::lookup(name.as_bytes()).is_some(), "{path}: {name}");
            }
            if format == GenFormat::V2 {
                assert_eq!(head.join(" "), schema::DEFAULT_FORMAT, "{path}");
            }
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
                            assert!(path == "-" || (1..=8).contains(&path.parse::<u8>().unwrap()))
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

/// Records come as real deliveries hold them: runs of one interface's capture window (shared `start`
/// and `end`), windows in time order through the file give or take the jitter, scans from a long tail
/// of scanners that repeat, `NODATA` from a quiet tail of the interfaces and `SKIPDATA` from a few.
#[test]
fn records_come_in_runs_of_capture_windows_like_a_real_delivery() {
    let dir = TempDir::new("runs");
    let cfg = GenerateConfig {
        files_per_day: 4,
        lines_per_file: 10_000,
        enis: 400,
        format: GenFormat::V2,
        ..GenerateConfig::new(dir.0.clone())
    };
    generate(&cfg).unwrap();
    let (mut records, mut runs, mut out_of_order) = (0usize, 0usize, 0usize);
    let mut scanners: BTreeMap<String, usize> = BTreeMap::new();
    let (mut nodata, mut skipdata, mut all) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for (_, head, data) in parsed(&dir.0) {
        let col = |name: &str| head.iter().position(|h| h == name).unwrap();
        let (eni, start, end, status, action, src, dst) = (
            col("interface-id"),
            col("start"),
            col("end"),
            col("log-status"),
            col("action"),
            col("srcaddr"),
            col("dstaddr"),
        );
        let mut previous: Option<(&str, &str, &str)> = None;
        let mut latest_start = 0i64;
        for line in &data {
            records += 1;
            all.insert(line[eni].clone());
            match line[status].as_str() {
                "NODATA" => {
                    nodata.insert(line[eni].clone());
                    continue;
                }
                "SKIPDATA" => {
                    skipdata.insert(line[eni].clone());
                    continue;
                }
                _ => {}
            }
            let key = (line[eni].as_str(), line[start].as_str(), line[end].as_str());
            if previous != Some(key) {
                runs += 1;
                let t: i64 = line[start].parse().unwrap();
                // A window starts at most 2 x 20 s before the latest one so far (the jitter).
                if t < latest_start - 40 {
                    out_of_order += 1;
                }
                latest_start = latest_start.max(t);
            }
            previous = Some(key);
            // A scan: a rejected inbound flow from a public IPv4 address to the ENI.
            let public =
                |a: &str| !a.starts_with("10.") && !a.starts_with("192.168.") && !a.contains(':');
            if line[action] == "REJECT" && public(&line[src]) && !public(&line[dst]) {
                *scanners.entry(line[src].clone()).or_default() += 1;
            }
        }
    }
    // Runs of several records each, windows in time order.
    assert!(records / runs >= 4, "{records} records in {runs} runs");
    assert_eq!(out_of_order, 0, "windows out of time order");
    // Scanners repeat: far fewer addresses than scans, the busiest seen dozens of times.
    let scans: usize = scanners.values().sum();
    let busiest = scanners.values().max().copied().unwrap_or(0);
    assert!(
        scans > 1_000 && scanners.len() * 4 < scans * 3 && busiest >= 20,
        "{scans} scans, {} scanners, busiest {busiest}",
        scanners.len()
    );
    // NODATA from the quiet quarter, SKIPDATA from at most three interfaces.
    assert!(
        !nodata.is_empty() && nodata.len() <= 100,
        "{} NODATA interfaces",
        nodata.len()
    );
    assert!(
        !skipdata.is_empty() && skipdata.len() <= 3,
        "{} SKIPDATA interfaces",
        skipdata.len()
    );
    assert!(all.len() > 200, "{} interfaces", all.len());
}

/// Release-mode throughput check, run with
/// `cargo test --release synth::tests::throughput -- --ignored --nocapture`.
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

// ---- Firehose deliveries ----

const FIREHOSE: [Delivery; 5] = [
    Delivery::CloudWatchFirehose,
    Delivery::CloudWatchFirehoseGzip,
    Delivery::CloudWatchFirehoseJson,
    Delivery::CloudWatchFirehoseExtracted,
    Delivery::FirehoseDirect,
];

fn gunzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Every JSON value of `text`, back to back or one per line.
fn json_values(text: &[u8]) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_slice(text)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap())
        .collect()
}

/// What one Firehose object holds, decoded the way its delivery frames it.
struct FirehoseObject {
    /// The envelopes (CloudWatch Logs deliveries but the extracted one) or direct records.
    json: Vec<serde_json::Value>,
    /// Every record's line, in the object's order.
    records: Vec<String>,
    control_messages: u64,
}

fn decode_object(delivery: Delivery, key: &str, bytes: &[u8]) -> FirehoseObject {
    const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
    let text = match delivery {
        Delivery::CloudWatchFirehose | Delivery::FirehoseDirect => gunzip_bytes(bytes),
        Delivery::CloudWatchFirehoseGzip => {
            let once = gunzip_bytes(bytes);
            assert!(
                bytes.is_empty() || once.starts_with(&GZIP_MAGIC),
                "{key}: not gzipped twice"
            );
            gunzip_bytes(&once)
        }
        Delivery::CloudWatchFirehoseJson | Delivery::CloudWatchFirehoseExtracted => {
            assert!(!bytes.starts_with(&GZIP_MAGIC), "{key}: gzipped");
            bytes.to_vec()
        }
        Delivery::S3 | Delivery::CloudWatchExport => unreachable!(),
    };
    if delivery == Delivery::CloudWatchFirehose {
        // Each envelope is a gzip member of its own: the first member alone is one whole envelope.
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut first)
            .unwrap();
        assert_eq!(json_values(&first).len(), 1, "{key}");
    }
    let mut out = FirehoseObject {
        json: Vec::new(),
        records: Vec::new(),
        control_messages: 0,
    };
    let text = String::from_utf8(text).unwrap();
    match delivery {
        Delivery::CloudWatchFirehoseExtracted => {
            assert!(text.is_empty() || text.ends_with('\n'), "{key}");
            out.records = text.lines().map(String::from).collect();
            return out;
        }
        Delivery::CloudWatchFirehoseJson => {
            for line in text.lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("{key}: {e}: {line}"));
            }
        }
        Delivery::FirehoseDirect
        | Delivery::CloudWatchFirehose
        | Delivery::CloudWatchFirehoseGzip => {
            assert!(!text.contains('\n'), "{key}: a delimiter between objects");
        }
        Delivery::S3 | Delivery::CloudWatchExport => unreachable!(),
    }
    out.json = json_values(text.as_bytes());
    for v in &out.json {
        if delivery == Delivery::FirehoseDirect {
            let o = v.as_object().unwrap();
            assert_eq!(o.len(), 1, "{key}: {v}");
            out.records.push(o["message"].as_str().unwrap().to_string());
            continue;
        }
        match v["messageType"].as_str().unwrap() {
            "CONTROL_MESSAGE" => {
                out.control_messages += 1;
                assert_eq!(v["owner"], "CloudwatchLogs");
                assert_eq!(v["logEvents"].as_array().unwrap().len(), 1);
                assert_eq!(v["logEvents"][0]["message"], firehose::CONTROL_TEXT);
            }
            "DATA_MESSAGE" => {
                for e in v["logEvents"].as_array().unwrap() {
                    out.records.push(e["message"].as_str().unwrap().to_string());
                }
            }
            other => panic!("{key}: messageType {other}"),
        }
    }
    out
}

/// The record lines of every S3 text file of `root` (headers dropped), by the file's slot
/// `YYYYMMDDTHHmm` and account.
fn s3_records(root: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut out = BTreeMap::new();
    for (path, _, data) in parsed(root) {
        let name: Vec<&str> = path.rsplit('/').next().unwrap().split('_').collect();
        let key = (name[4][..13].to_string(), name[0].to_string());
        let old = out.insert(key, data.into_iter().map(|l| l.join(" ")).collect());
        assert!(old.is_none(), "{path}: two files of one slot and account");
    }
    out
}

/// Checks a Firehose key and returns its slot as `YYYYMMDDTHHmm`.
fn check_firehose_key(key: &str, delivery: Delivery) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 6, "{key}");
    assert_eq!(parts[0], "firehose", "{key}");
    let name = parts[5];
    assert!(
        crate::lake::partition::is_firehose_object(name),
        "{key}: not a Firehose object name"
    );
    let gz = matches!(
        delivery,
        Delivery::CloudWatchFirehoseGzip | Delivery::FirehoseDirect
    );
    let stem = match name.strip_suffix(".gz") {
        Some(stem) => {
            assert!(gz, "{key}");
            stem
        }
        None => {
            assert!(!gz, "{key}");
            name
        }
    };
    assert!(!stem.contains('.'), "{key}");
    // <stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>
    let rest = stem
        .strip_prefix(&format!("{}-", firehose::STREAM))
        .unwrap();
    let f: Vec<&str> = rest.split('-').collect();
    assert_eq!(f.len(), 12, "{key}");
    assert!(f[0].bytes().all(|b| b.is_ascii_digit()), "{key}");
    assert!(
        is_digits(f[1], 4)
            && [f[2], f[3], f[4], f[5], f[6]]
                .iter()
                .all(|p| is_digits(p, 2))
    );
    assert_eq!(
        [f[1], f[2], f[3], f[4]],
        [parts[1], parts[2], parts[3], parts[4]],
        "{key}"
    );
    assert_eq!(f[6], "00", "{key}");
    for (p, n) in f[7..].iter().zip([8, 4, 4, 4, 12]) {
        assert!(is_hex(p, n), "{key}");
    }
    format!("{}{}{}T{}{}", f[1], f[2], f[3], f[4], f[5])
}

#[test]
fn firehose_deliveries_frame_the_records_of_the_s3_delivery() {
    for format in [GenFormat::V2, GenFormat::V5] {
        let s3_dir = TempDir::new("fh-s3");
        let base = GenerateConfig {
            accounts: 2,
            days: 2,
            files_per_day: 3,
            lines_per_file: 400,
            enis: 30,
            format,
            ..GenerateConfig::new(s3_dir.0.clone())
        };
        let s3_report = generate(&base).unwrap();
        let s3 = s3_records(&s3_dir.0);
        let interface_col = if format == GenFormat::V2 { 2 } else { 15 };
        let account_col = if format == GenFormat::V2 { 1 } else { 11 };
        let start_col = if format == GenFormat::V2 { 10 } else { 6 };
        for delivery in FIREHOSE {
            let dir = TempDir::new("fh");
            let cfg = GenerateConfig {
                out: dir.0.clone(),
                delivery,
                ..base.clone()
            };
            let report = generate(&cfg).unwrap();
            let objects = files(&dir.0);
            assert_eq!(objects.len(), 2 * 2 * 3, "{delivery:?}");
            assert_eq!(report.files, s3_report.files);
            assert_eq!(report.lines, s3_report.lines);
            let on_disk: u64 = objects.values().map(|v| v.len() as u64).sum();
            assert_eq!(report.gzip_bytes, on_disk, "{delivery:?}");
            let mut by_file: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
            let mut controls = 0;
            let mut text_bytes = 0;
            for (key, bytes) in &objects {
                let slot = check_firehose_key(key, delivery);
                let obj = decode_object(delivery, key, bytes);
                controls += obj.control_messages;
                text_bytes += match delivery {
                    Delivery::CloudWatchFirehose => gunzip_bytes(bytes).len(),
                    Delivery::CloudWatchFirehoseGzip => gunzip_bytes(&gunzip_bytes(bytes)).len(),
                    Delivery::FirehoseDirect => gunzip_bytes(bytes).len(),
                    _ => bytes.len(),
                } as u64;
                assert_eq!(obj.records.len(), 400, "{key}");
                let is_cwl = !matches!(
                    delivery,
                    Delivery::FirehoseDirect | Delivery::CloudWatchFirehoseExtracted
                );
                if is_cwl {
                    // The control message comes first, in the first object of the day only.
                    let first_of_day = slot.ends_with("T0000");
                    assert_eq!(obj.control_messages, u64::from(first_of_day), "{key}");
                    if first_of_day {
                        assert_eq!(obj.json[0]["messageType"], "CONTROL_MESSAGE", "{key}");
                    }
                    for env in obj
                        .json
                        .iter()
                        .filter(|e| e["messageType"] == "DATA_MESSAGE")
                    {
                        let events = env["logEvents"].as_array().unwrap();
                        assert!((1..=firehose::MAX_EVENTS).contains(&events.len()), "{key}");
                        assert_eq!(env["logGroup"], firehose::LOG_GROUP);
                        assert_eq!(
                            env["subscriptionFilters"],
                            serde_json::json!([firehose::SUBSCRIPTION_FILTER])
                        );
                        let owner = env["owner"].as_str().unwrap();
                        assert!(is_digits(owner, 12), "{owner}");
                        let stream = env["logStream"].as_str().unwrap();
                        for e in events {
                            let id = e["id"].as_str().unwrap();
                            assert!(is_digits(id, firehose::EVENT_ID_DIGITS), "{id}");
                            let line: Vec<&str> =
                                e["message"].as_str().unwrap().split(' ').collect();
                            assert_eq!(format!("{}-all", line[interface_col]), stream);
                            assert!(line[account_col] == owner || line[account_col] == "unknown");
                            let start: i64 = line[start_col].parse().unwrap();
                            assert_eq!(e["timestamp"].as_i64(), Some(start * 1000));
                        }
                    }
                }
                if is_cwl || delivery == Delivery::CloudWatchFirehoseExtracted {
                    // Grouped by interface: each interface's records are one run.
                    let mut seen = std::collections::HashSet::new();
                    let mut last = "";
                    for r in &obj.records {
                        let eni = r.split(' ').nth(interface_col).unwrap();
                        if eni != last {
                            assert!(seen.insert(eni), "{key}: {eni} in two runs");
                            last = eni;
                        }
                    }
                }
                // The object's account: its records' (interface endpoints say `unknown`).
                let account = obj
                    .records
                    .iter()
                    .map(|r| r.split(' ').nth(account_col).unwrap())
                    .find(|a| *a != "unknown")
                    .unwrap()
                    .to_string();
                let old = by_file.insert((slot, account), obj.records);
                assert!(old.is_none(), "{key}: two objects of one slot and account");
            }
            assert_eq!(report.text_bytes, text_bytes, "{delivery:?}");
            assert_eq!(report.control_messages, controls, "{delivery:?}");
            let expect_controls = match delivery {
                Delivery::FirehoseDirect | Delivery::CloudWatchFirehoseExtracted => 0,
                _ => 2 * 2,
            };
            assert_eq!(controls, expect_controls, "{delivery:?}");
            // The same records, file by file (slot and account), as multisets; the direct delivery
            // also in order.
            assert_eq!(
                by_file.keys().collect::<Vec<_>>(),
                s3.keys().collect::<Vec<_>>()
            );
            for (file, lines) in &by_file {
                let mut got = lines.clone();
                let mut want = s3[file].clone();
                if delivery != Delivery::FirehoseDirect {
                    got.sort();
                    want.sort();
                }
                assert!(
                    got == want,
                    "{delivery:?} {format:?} {file:?}: records differ"
                );
            }
        }
    }
}

#[test]
fn firehose_objects_decode_with_the_converters_envelope_reader() {
    for delivery in [
        Delivery::CloudWatchFirehose,
        Delivery::CloudWatchFirehoseGzip,
        Delivery::CloudWatchFirehoseJson,
        Delivery::FirehoseDirect,
    ] {
        let dir = TempDir::new("fh-decode");
        let cfg = GenerateConfig {
            delivery,
            ..small(&dir.0, GenFormat::V2)
        };
        generate(&cfg).unwrap();
        let mut decoded = crate::input::envelope::Decoded::default();
        let (mut lines, mut controls) = (0, 0);
        for (key, bytes) in files(&dir.0) {
            let mut text = gunzip_if(&bytes);
            if text.starts_with(&[0x1f, 0x8b]) {
                text = gunzip_bytes(&text);
            }
            assert!(crate::input::envelope::looks_like_envelopes(&text), "{key}");
            crate::input::envelope::decode(&text, &mut decoded).unwrap();
            lines += decoded.lines.len();
            controls += decoded.control_messages;
        }
        assert_eq!(lines, 3 * 300, "{delivery:?}");
        let expect = if delivery == Delivery::FirehoseDirect {
            0
        } else {
            1
        };
        assert_eq!(controls, expect, "{delivery:?}");
    }
}

fn gunzip_if(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip_bytes(bytes)
    } else {
        bytes.to_vec()
    }
}

#[test]
fn firehose_deliveries_are_deterministic_and_leave_no_temporary_file() {
    for delivery in FIREHOSE {
        let (a, b) = (TempDir::new("fh-det-a"), TempDir::new("fh-det-b"));
        let cfg = GenerateConfig {
            delivery,
            accounts: 2,
            ..small(&a.0, GenFormat::V5)
        };
        generate(&cfg).unwrap();
        generate(&GenerateConfig {
            out: b.0.clone(),
            ..cfg.clone()
        })
        .unwrap();
        let fa = files(&a.0);
        assert_eq!(fa.len(), 2 * 3);
        assert_eq!(fa, files(&b.0), "{delivery:?}");
        assert!(fa.keys().all(|k| !k.ends_with(".tmp")), "{delivery:?}");
        // Keys are the same for every Firehose delivery but for `.gz`.
        let plan = Plan::new(&cfg).unwrap();
        let key = plan.key(&plan.job(0));
        assert!(fa.contains_key(&key), "{key}");
    }
    // Header-only files become objects without records: empty but for the day's control message.
    let dir = TempDir::new("fh-empty");
    let cfg = GenerateConfig {
        delivery: Delivery::CloudWatchFirehoseJson,
        lines_per_file: 0,
        ..small(&dir.0, GenFormat::V2)
    };
    let r = generate(&cfg).unwrap();
    assert_eq!((r.files, r.lines, r.control_messages), (3, 0, 1));
}

#[test]
fn firehose_deliveries_refuse_mixed_formats_and_s3_layouts() {
    let dir = TempDir::new("fh-refuse");
    for cfg in [
        GenerateConfig {
            delivery: Delivery::FirehoseDirect,
            ..small(&dir.0, GenFormat::Mixed)
        },
        GenerateConfig {
            delivery: Delivery::CloudWatchFirehose,
            hive: true,
            ..small(&dir.0, GenFormat::V2)
        },
        GenerateConfig {
            delivery: Delivery::CloudWatchFirehoseJson,
            hourly: true,
            ..small(&dir.0, GenFormat::V5)
        },
    ] {
        assert_eq!(
            generate(&cfg).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
    assert!(files(&dir.0).is_empty());
}

#[test]
fn v5_format_is_the_v5_header() {
    let dir = TempDir::new("v5-format");
    generate(&GenerateConfig {
        files_per_day: 1,
        lines_per_file: 1,
        ..small(&dir.0, GenFormat::V5)
    })
    .unwrap();
    let (_, header, _) = parsed(&dir.0).remove(0);
    assert_eq!(header.join(" "), V5_FORMAT);
}

// ---- CloudWatch Logs export ----

#[test]
fn an_export_holds_the_records_of_the_s3_delivery_one_object_per_log_stream() {
    for format in [GenFormat::V2, GenFormat::V5] {
        let (s3_dir, dir) = (TempDir::new("ex-s3"), TempDir::new("ex"));
        let base = GenerateConfig {
            accounts: 2,
            days: 2,
            files_per_day: 3,
            lines_per_file: 300,
            enis: 25,
            format,
            ..GenerateConfig::new(s3_dir.0.clone())
        };
        generate(&base).unwrap();
        let cfg = GenerateConfig {
            out: dir.0.clone(),
            delivery: Delivery::CloudWatchExport,
            ..base.clone()
        };
        let report = generate(&cfg).unwrap();
        let objects = files(&dir.0);
        let probe = format!("{}{}", export::PREFIX, export::PROBE);
        assert_eq!(objects[&probe], export::PROBE_TEXT.as_bytes());
        assert_eq!(
            report.files as usize,
            objects.len() - 1,
            "the probe is not counted"
        );
        assert_eq!(report.lines, 2 * 2 * 3 * 300);
        let on_disk: usize = objects
            .iter()
            .filter(|(k, _)| **k != probe)
            .map(|(_, v)| v.len())
            .sum();
        assert_eq!(report.gzip_bytes, on_disk as u64);
        let interface_col = if format == GenFormat::V2 { 2 } else { 15 };
        let start_col = if format == GenFormat::V2 { 10 } else { 6 };
        let mut tasks = std::collections::BTreeSet::new();
        let mut text_bytes = 0;
        let mut got: Vec<String> = Vec::new();
        for (key, bytes) in objects.iter().filter(|(k, _)| **k != probe) {
            // exportedlogs/<task-id>/eni-<17 hex>-all/NNNNNN.gz
            let parts: Vec<&str> = key.split('/').collect();
            assert_eq!(parts.len(), 4, "{key}");
            assert_eq!(format!("{}/", parts[0]), export::PREFIX);
            let task: Vec<&str> = parts[1].split('-').collect();
            for (p, n) in task.iter().zip([8, 4, 4, 4, 12]) {
                assert!(is_hex(p, n), "{key}");
            }
            tasks.insert(parts[1].to_string());
            let eni = parts[2].strip_suffix("-all").unwrap();
            assert!(eni.starts_with("eni-") && is_hex(&eni[4..], 17), "{key}");
            let number = parts[3].strip_suffix(".gz").unwrap();
            assert!(
                is_digits(number, 6) && number.parse::<u32>().unwrap() < 3,
                "{key}"
            );
            let text = gunzip(bytes);
            text_bytes += text.len() as u64;
            assert!(text.ends_with('\n') && !text.is_empty(), "{key}");
            for line in text.lines() {
                let (time, record) = line.split_once(' ').unwrap();
                let fields: Vec<&str> = record.split(' ').collect();
                assert_eq!(fields[interface_col], eni, "{key}: {line}");
                // The event time is the record's start, to the millisecond.
                let start: i64 = fields[start_col].parse().unwrap();
                let (y, mo, d) = date::civil_from_days(start.div_euclid(date::SECS_PER_DAY));
                let s = start.rem_euclid(date::SECS_PER_DAY);
                let want = format!(
                    "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
                    s / 3600,
                    s % 3600 / 60,
                    s % 60
                );
                assert_eq!(time, want, "{key}");
                got.push(record.to_string());
            }
        }
        assert_eq!(report.text_bytes, text_bytes);
        assert_eq!(
            tasks.len(),
            2 * 2,
            "one task per flow log (account) and day"
        );
        // The very records of the S3 delivery.
        let mut want: Vec<String> = s3_records(&s3_dir.0).into_values().flatten().collect();
        got.sort();
        want.sort();
        assert!(got == want, "{format:?}: records differ");
        // Deterministic.
        let again = TempDir::new("ex-again");
        generate(&GenerateConfig {
            out: again.0.clone(),
            ..cfg.clone()
        })
        .unwrap();
        assert!(files(&again.0) == objects, "{format:?}: not deterministic");
    }
    // One format per export, and no S3 layouts.
    let dir = TempDir::new("ex-refuse");
    for cfg in [
        GenerateConfig {
            delivery: Delivery::CloudWatchExport,
            ..small(&dir.0, GenFormat::Mixed)
        },
        GenerateConfig {
            delivery: Delivery::CloudWatchExport,
            hourly: true,
            ..small(&dir.0, GenFormat::V2)
        },
    ] {
        assert_eq!(
            generate(&cfg).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
    assert!(files(&dir.0).is_empty());
}

#[test]
fn export_objects_decode_with_the_converters_export_reader() {
    let dir = TempDir::new("ex-decode");
    let cfg = GenerateConfig {
        delivery: Delivery::CloudWatchExport,
        ..small(&dir.0, GenFormat::V2)
    };
    generate(&cfg).unwrap();
    let mut decoded = crate::input::envelope::Decoded::default();
    let mut lines = 0;
    for (key, bytes) in files(&dir.0) {
        if key.ends_with(export::PROBE) {
            continue;
        }
        let text = gunzip_bytes(&bytes);
        assert!(crate::input::envelope::looks_like_export(&text), "{key}");
        let stream = key.split('/').nth(2).unwrap();
        crate::input::envelope::decode_export(&text, stream, &mut decoded);
        assert!(
            decoded
                .lines
                .iter()
                .all(|(_, ts)| ts.of(&decoded.text) != b"-"),
            "{key}"
        );
        lines += decoded.lines.len();
    }
    assert_eq!(lines, 3 * 300);
}
