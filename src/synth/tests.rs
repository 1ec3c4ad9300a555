//! End-to-end tests of the generator: files written by [`generate`], read back as text.

use super::delivery::Plan;
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
