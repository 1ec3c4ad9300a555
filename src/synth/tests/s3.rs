//! The S3 text delivery: keys, headers, counts, determinism, degenerate settings.

use super::*;
use crate::lake::schema;
use crate::synth::world::REGIONS;

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
    cfg.grain = Grain::Hour;
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
            grain: Grain::from_hourly(hourly),
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
        grain: Grain::Hour,
        ..plan_cfg.clone()
    };
    let key = Plan::new(&hourly_cfg).unwrap().key(&job);
    assert!(key.contains("/year=2024/month=01/day=15/hour=06/"), "{key}");
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
