//! The CloudWatch Logs export: one object per log stream holding the records of the S3 delivery, the
//! permission probe, and what the converter's export reader makes of it.

use super::*;
use crate::date;
use crate::synth::export;

/// Checks an export object's key, `exportedlogs/<task-id>/eni-<17 hex>-all/NNNNNN.gz`, and returns
/// its task and interface.
fn check_export_key(key: &str) -> (&str, &str) {
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 4, "{key}");
    assert_eq!(format!("{}/", parts[0]), export::PREFIX);
    let task: Vec<&str> = parts[1].split('-').collect();
    for (p, n) in task.iter().zip([8, 4, 4, 4, 12]) {
        assert!(is_hex(p, n), "{key}");
    }
    let eni = parts[2].strip_suffix("-all").unwrap();
    assert!(eni.starts_with("eni-") && is_hex(&eni[4..], 17), "{key}");
    let number = parts[3].strip_suffix(".gz").unwrap();
    assert!(
        is_digits(number, 6) && number.parse::<u32>().unwrap() < 3,
        "{key}"
    );
    (parts[1], eni)
}

/// Checks one line of the export object `key` of interface `eni`, `<ISO time>Z <record>`, and
/// returns its record.
fn check_export_line<'l>(key: &str, line: &'l str, eni: &str, cols: &Columns) -> &'l str {
    let (time, record) = line.split_once(' ').unwrap();
    let fields: Vec<&str> = record.split(' ').collect();
    assert_eq!(fields[cols.interface], eni, "{key}: {line}");
    // The event time is the record's start, to the millisecond.
    let start: i64 = fields[cols.start].parse().unwrap();
    let (y, mo, d) = date::civil_from_days(start.div_euclid(date::SECS_PER_DAY));
    let s = start.rem_euclid(date::SECS_PER_DAY);
    let want = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    );
    assert_eq!(time, want, "{key}");
    record
}

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
        let cols = Columns::of(format);
        let mut tasks = std::collections::BTreeSet::new();
        let mut text_bytes = 0;
        let mut got: Vec<String> = Vec::new();
        for (key, bytes) in objects.iter().filter(|(k, _)| **k != probe) {
            let (task, eni) = check_export_key(key);
            tasks.insert(task.to_string());
            let text = gunzip(bytes);
            text_bytes += text.len() as u64;
            assert!(text.ends_with('\n') && !text.is_empty(), "{key}");
            for line in text.lines() {
                got.push(check_export_line(key, line, eni, &cols).to_string());
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
}

/// One format per export, and no S3 layouts.
#[test]
fn an_export_refuses_mixed_formats_and_s3_layouts() {
    let dir = TempDir::new("ex-refuse");
    for cfg in [
        GenerateConfig {
            delivery: Delivery::CloudWatchExport,
            ..small(&dir.0, GenFormat::Mixed)
        },
        GenerateConfig {
            delivery: Delivery::CloudWatchExport,
            grain: Grain::Hour,
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
