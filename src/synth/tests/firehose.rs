//! The Firehose deliveries: objects that frame the very records of the S3 delivery (envelopes, direct
//! records, extracted lines), their keys, and what the converter's envelope reader makes of them.

use super::*;
use crate::synth::firehose;

const FIREHOSE: [Delivery; 5] = [
    Delivery::CloudWatchFirehose,
    Delivery::CloudWatchFirehoseGzip,
    Delivery::CloudWatchFirehoseJson,
    Delivery::CloudWatchFirehoseExtracted,
    Delivery::FirehoseDirect,
];

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

/// Checks the envelopes of a CloudWatch Logs object of `slot`: the day's control message first in
/// its first object only, the data envelopes' fields, and each event's stream, owner and timestamp
/// against its record.
fn check_envelopes(key: &str, slot: &str, obj: &FirehoseObject, cols: &Columns) {
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
            let line: Vec<&str> = e["message"].as_str().unwrap().split(' ').collect();
            assert_eq!(format!("{}-all", line[cols.interface]), stream);
            assert!(line[cols.account] == owner || line[cols.account] == "unknown");
            let start: i64 = line[cols.start].parse().unwrap();
            assert_eq!(e["timestamp"].as_i64(), Some(start * 1000));
        }
    }
}

/// Checks that the records of an object come grouped by interface: each interface's are one run.
fn check_runs_by_interface(key: &str, records: &[String], interface: usize) {
    let mut seen = std::collections::HashSet::new();
    let mut last = "";
    for r in records {
        let eni = r.split(' ').nth(interface).unwrap();
        if eni != last {
            assert!(seen.insert(eni), "{key}: {eni} in two runs");
            last = eni;
        }
    }
}

/// The uncompressed size of an object's content, as the report counts it.
fn text_bytes(delivery: Delivery, bytes: &[u8]) -> u64 {
    (match delivery {
        Delivery::CloudWatchFirehose => gunzip_bytes(bytes).len(),
        Delivery::CloudWatchFirehoseGzip => gunzip_bytes(&gunzip_bytes(bytes)).len(),
        Delivery::FirehoseDirect => gunzip_bytes(bytes).len(),
        _ => bytes.len(),
    }) as u64
}

/// Generates `delivery` with the settings of `base` and checks its objects: their keys and framing,
/// the report's counts, and the records of each, by the S3 file (slot and account) they match.
fn check_delivery(
    base: &GenerateConfig,
    delivery: Delivery,
    s3_report: &GenerateReport,
) -> BTreeMap<(String, String), Vec<String>> {
    let cols = Columns::of(base.format);
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
    let (mut controls, mut text) = (0, 0);
    for (key, bytes) in &objects {
        let slot = check_firehose_key(key, delivery);
        let obj = decode_object(delivery, key, bytes);
        controls += obj.control_messages;
        text += text_bytes(delivery, bytes);
        assert_eq!(obj.records.len(), 400, "{key}");
        let is_cwl = !matches!(
            delivery,
            Delivery::FirehoseDirect | Delivery::CloudWatchFirehoseExtracted
        );
        if is_cwl {
            check_envelopes(key, &slot, &obj, &cols);
        }
        if is_cwl || delivery == Delivery::CloudWatchFirehoseExtracted {
            check_runs_by_interface(key, &obj.records, cols.interface);
        }
        // The object's account: its records' (interface endpoints say `unknown`).
        let account = obj
            .records
            .iter()
            .map(|r| r.split(' ').nth(cols.account).unwrap())
            .find(|a| *a != "unknown")
            .unwrap()
            .to_string();
        let old = by_file.insert((slot, account), obj.records);
        assert!(old.is_none(), "{key}: two objects of one slot and account");
    }
    assert_eq!(report.text_bytes, text, "{delivery:?}");
    assert_eq!(report.control_messages, controls, "{delivery:?}");
    let expect_controls = match delivery {
        Delivery::FirehoseDirect | Delivery::CloudWatchFirehoseExtracted => 0,
        _ => 2 * 2,
    };
    assert_eq!(controls, expect_controls, "{delivery:?}");
    by_file
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
        for delivery in FIREHOSE {
            let by_file = check_delivery(&base, delivery, &s3_report);
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
            grain: Grain::Hour,
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
