//! Flow logs that went through CloudWatch Logs or straight to Kinesis Data Firehose, as Firehose
//! writes them to S3: objects with no extension (or `.gz`) under `YYYY/MM/DD/HH/`, holding gzip members
//! of JSON envelopes back to back, gzipped twice, plain JSON, the extracted messages, or direct-delivery
//! records. Real gzip files, read back with DuckDB.

use crate::common::*;
use serde_json::{json, Value};

/// A Firehose object name for the hour `2024-05-01 13:00`.
fn firehose_name(n: u32) -> String {
    format!("flowlogs-to-s3-1-2024-05-01-13-0{n}-11-0a1b2c3d-4e5f-6789-abcd-ef012345678{n}")
}

/// One CloudWatch Logs subscription envelope with `n` default-format records of ENI `eni`.
fn envelope(eni: &str, first: u64, n: u64) -> String {
    let events: Vec<String> = (first..first + n)
        .map(|i| {
            let record = V2 {
                account: "123456789010",
                eni: eni.into(),
                srcaddr: format!("10.0.0.{}", i % 250),
                srcport: 1024 + i,
                bytes: 100 + i,
                start: 1714568400,
                end: 1714568460,
                ..V2::default()
            };
            format!(
                r#"{{"id":"3560{i}","timestamp":{},"message":"{record}"}}"#,
                1714568400000u64 + i
            )
        })
        .collect();
    format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"/vpc/flowlogs","logStream":"{eni}-all","subscriptionFilters":["to-firehose"],"logEvents":[{}]}}"#,
        events.join(",")
    )
}

const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1714568401000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

#[test]
fn every_firehose_shape_converts_with_its_origin_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = "in/2024/05/01/13";
    // 1. CloudWatch Logs -> Firehose: each record gzipped by CloudWatch, concatenated, no extension;
    //    a control message among them.
    let mut members = gzip(envelope("eni-0a", 0, 3).as_bytes());
    members.extend(gzip(CONTROL.as_bytes()));
    members.extend(gzip(envelope("eni-0b", 3, 2).as_bytes()));
    put(
        tmp.path(),
        &format!("{hour}/{}", firehose_name(1)),
        &members,
    );
    // 2. The same with Firehose's own GZIP on top: gzipped twice, `.gz`.
    let twice = gzip(&gzip(envelope("eni-0c", 5, 2).as_bytes()));
    put(
        tmp.path(),
        &format!("{hour}/{}.gz", firehose_name(2)),
        &twice,
    );
    // 3. Firehose decompression on: plain JSON, one object per line.
    let plain = format!("{}\n{}\n", envelope("eni-0d", 7, 1), CONTROL);
    put(
        tmp.path(),
        &format!("{hour}/{}", firehose_name(3)),
        plain.as_bytes(),
    );
    // 4. Message extraction on: just the records, one per line.
    let extracted = "2 123456789010 eni-0e 10.0.0.9 10.0.1.1 2000 443 6 1 999 1714568400 1714568460 REJECT OK\n";
    put(
        tmp.path(),
        &format!("{hour}/{}", firehose_name(4)),
        extracted.as_bytes(),
    );
    // 5. Flow logs delivered straight to Firehose: `{"message":...}` records, gzipped by Firehose.
    let direct = r#"{"message":"2 647604195155 eni-05fdd58317a3a58e4 10.30.2.238 10.30.1.217 8089 39016 6 22 10527 1643160732 1643160792 ACCEPT OK"}{"message":"2 647604195155 eni-05fdd58317a3a58e4 52.94.228.178 10.30.2.238 443 37378 6 24 7211 1643160732 1643160792 ACCEPT OK"}"#;
    put(
        tmp.path(),
        &format!("{hour}/{}.gz", firehose_name(5)),
        &gzip(direct.as_bytes()),
    );

    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &["--fields", "default"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["files"], json!(5));
    assert_eq!(report["lines_read"], json!(3 + 2 + 2 + 1 + 1 + 2));
    assert_eq!(report["rows_written"], json!(11));
    assert_eq!(report["control_messages"], json!(2));
    assert_eq!(report["rejected"], json!(0));
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .to_string_lossy()
            .contains("year=2024/month=05/day=01"),
        "{files:?}"
    );
    // Values, and where each record came from.
    assert_eq!(
        duckdb(
            &lake,
            "SELECT interface_id, count(*), sum(bytes), min(account_id), \
             min(unknown_fields['cloudwatch-log-group']), min(unknown_fields['cloudwatch-log-stream']), \
             min(unknown_fields['cloudwatch-timestamp']) FROM {lake} GROUP BY 1 ORDER BY 1"
        ),
        vec![
            vec![json!("eni-05fdd58317a3a58e4"), json!(2), json!(10527 + 7211), json!("647604195155"), Value::Null, Value::Null, Value::Null],
            vec![json!("eni-0a"), json!(3), json!(100 + 101 + 102), json!("123456789010"), json!("/vpc/flowlogs"), json!("eni-0a-all"), json!("1714568400000")],
            vec![json!("eni-0b"), json!(2), json!(103 + 104), json!("123456789010"), json!("/vpc/flowlogs"), json!("eni-0b-all"), json!("1714568400003")],
            vec![json!("eni-0c"), json!(2), json!(105 + 106), json!("123456789010"), json!("/vpc/flowlogs"), json!("eni-0c-all"), json!("1714568400005")],
            vec![json!("eni-0d"), json!(1), json!(107), json!("123456789010"), json!("/vpc/flowlogs"), json!("eni-0d-all"), json!("1714568400007")],
            vec![json!("eni-0e"), json!(1), json!(999), json!("123456789010"), Value::Null, Value::Null, Value::Null],
        ]
    );
    assert_eq!(verify(&lake).0, 0);
    // A rerun finds nothing new.
    let (again, report) = convert(&[&tmp.path().join("in")], &lake, &["--fields", "default"]);
    assert_eq!(again.code, 0);
    assert_eq!(report["files_unchanged"], json!(5));
}

#[test]
fn the_real_format_envelope_samples_convert_and_the_owner_fills_a_missing_account() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = fixtures().join("samples");
    for (name, fields, expect) in [
        (
            "otel-cwl-subscription-default.json",
            "default",
            vec![
                vec![
                    json!("123456789010"),
                    json!("172.31.16.139"),
                    json!(22),
                    json!("ACCEPT"),
                    json!("eni-1235b8ca123456789"),
                    json!("1418530010000"),
                ],
                vec![
                    json!("123456789010"),
                    json!("172.31.9.69"),
                    json!(3389),
                    json!("REJECT"),
                    json!("eni-1235b8ca123456789"),
                    json!("1418530010000"),
                ],
            ],
        ),
        (
            // The envelope's format, configured out of band by its source test.
            "otel-cwl-subscription-custom.json",
            "version interface-id srcaddr dstaddr",
            vec![
                vec![
                    json!("123456789012"),
                    json!("172.31.16.139"),
                    Value::Null,
                    Value::Null,
                    json!("eni-1234567890abcdef"),
                    json!("1733430000000"),
                ],
                vec![
                    json!("123456789012"),
                    json!("172.31.9.69"),
                    Value::Null,
                    Value::Null,
                    json!("eni-1234567890abcdef"),
                    json!("1733430001000"),
                ],
            ],
        ),
    ] {
        let dir = tmp.path().join(name);
        let bytes = std::fs::read(samples.join(name)).unwrap();
        put(
            &dir,
            &format!("in/2024/12/05/20/{}", firehose_name(1)),
            &gzip(&bytes),
        );
        let lake = dir.join("lake");
        let (run, report) = convert(&[&dir.join("in")], &lake, &["--fields", fields]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(report["rows_written"], json!(2), "{name}");
        assert_eq!(
            duckdb(
                &lake,
                "SELECT account_id, srcaddr, dstport, action, unknown_fields['cloudwatch-log-stream'], \
                 unknown_fields['cloudwatch-timestamp'] FROM {lake} ORDER BY srcaddr"
            ),
            expect,
            "{name}"
        );
    }
}

#[test]
fn records_that_do_not_fit_are_rejected_and_a_cut_object_is_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = "in/2024/05/01/13";
    // A record with too few fields, and one without --fields.
    let odd = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":[{"timestamp":1,"message":"2 123456789010 eni-1 10.0.0.1"},{"timestamp":2,"message":"2 123456789010 eni-1 10.0.0.1 10.0.1.1 1 2 6 1 1 1714568400 1714568460 ACCEPT OK"}]}"#;
    put(
        tmp.path(),
        &format!("{hour}/{}", firehose_name(1)),
        &gzip(odd.as_bytes()),
    );
    // An object cut short (an interrupted write): its envelopes are not used, the rest converts.
    let whole = envelope("eni-0a", 0, 3);
    let mut cut = gzip(whole.as_bytes());
    cut.extend(gzip(&whole.as_bytes()[..whole.len() / 2]));
    put(tmp.path(), &format!("{hour}/{}", firehose_name(2)), &cut);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--fields", "default", "--max-reject-ratio", "1"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(1));
    assert_eq!(report["rejected"], json!(1));
    assert_eq!(
        report["failed"][0]["kind"],
        json!("bad_envelope"),
        "{report}"
    );
    assert!(
        report["failed"][0]["message"]
            .as_str()
            .unwrap()
            .contains("envelope 1 at byte"),
        "{report}"
    );
    let rejects = std::fs::read_to_string(report["rejects_file"].as_str().unwrap()).unwrap();
    let reject: Value = serde_json::from_str(rejects.lines().next().unwrap()).unwrap();
    assert_eq!(reject["kind"], json!("too_few_fields"));
    assert_eq!(reject["line"], json!(1), "the first event of the object");
    assert_eq!(reject["raw"], json!("2 123456789010 eni-1 10.0.0.1"));
    // Salvage keeps the events of the whole envelopes before the cut.
    let lake2 = tmp.path().join("lake2");
    let (_, report) = convert(
        &[&tmp.path().join("in")],
        &lake2,
        &[
            "--fields",
            "default",
            "--max-reject-ratio",
            "1",
            "--on-bad-file",
            "salvage",
        ],
    );
    assert_eq!(report["rows_written"], json!(1 + 3));
    // Without --fields every record is rejected with the reason.
    let lake3 = tmp.path().join("lake3");
    let (_, report) = convert(
        &[&tmp.path().join("in")],
        &lake3,
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(report["rows_written"], json!(0));
    assert_eq!(report["rejected"], json!(2));
}

#[test]
fn account_and_region_flags_give_envelope_inputs_aws_keys() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        &format!("in/2024/05/01/13/{}", firehose_name(1)),
        &gzip(envelope("eni-0a", 0, 3).as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &[
            "--fields",
            "default",
            "--account",
            "123456789010",
            "--region",
            "eu-west-1",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(3));
    let files = parquet_files(&lake);
    assert!(
        files[0].to_string_lossy().contains(
            "aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=05/day=01/"
        ),
        "{files:?}"
    );
    // Without them the same lake (AWS keys) skips such inputs with the reason; bad values are usage errors.
    let (_, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--fields", "default", "--rebuild"],
    );
    assert_eq!(report["files_skipped"], json!(1), "{report}");
    for bad in [["--account", "12345"], ["--region", "Europe"]] {
        let run = flowlake(
            [
                "convert",
                tmp.path().join("in").to_str().unwrap(),
                "--out",
                lake.to_str().unwrap(),
            ]
            .into_iter()
            .chain(bad),
        );
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
    }
}

/// A CloudWatch Logs export (CreateExportTask): `<prefix>/<task-id>/<log stream>/000000.gz` of
/// `<ISO time> <record>` lines, not in time order, and a permission probe object; no date in any key.
#[test]
fn cloudwatch_exports_and_undated_text_are_partitioned_by_each_records_time() {
    let tmp = tempfile::tempdir().unwrap();
    let day1 = 1714568400u64; // 2024-05-01 13:00:00
    let day2 = day1 + 86_400;
    let line = |t: u64, port: u64| {
        let iso = {
            let secs = t % 86_400;
            let d = if t >= day2 { "02" } else { "01" };
            format!(
                "2024-05-{d}T{:02}:{:02}:{:02}.000Z",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )
        };
        format!("{iso} 2 123456789010 eni-0a 10.0.0.1 10.0.1.1 {port} 443 6 1 {port} {t} {} ACCEPT OK\n", t + 60)
    };
    // Day 2, day 1, day 2: not in time order; a record that does not fit (day 2); a NODATA record
    // whose start comes first.
    let text = format!(
        "{}{}{}2024-05-02T14:00:00.000Z 2 123456789010 eni-0a 10.0.0.1\n{}",
        line(day2 + 60, 1001),
        line(day1 + 120, 1002),
        line(day2 + 180, 1003),
        "2024-05-01T23:59:00.000Z 2 123456789010 eni-0a - - - - - - - 1714607940 1714608000 - NODATA\n",
    );
    put(
        tmp.path(),
        "in/exportedlogs/5c6f1a2b-task/eni-0a-all/000000.gz",
        &gzip(text.as_bytes()),
    );
    put(
        tmp.path(),
        "in/exportedlogs/aws-logs-write-test",
        b"Permission Check Successful",
    );
    // Undated text with a header (a file copied out of its date folders).
    let undated = format!(
        "{HEADER}2 123456789010 eni-0b 10.0.0.2 10.0.1.1 7 443 6 1 7 {} {} REJECT OK\n",
        day1 + 3600,
        day1 + 3660
    );
    put(
        tmp.path(),
        "in/loose/flows.log.gz",
        &gzip(undated.as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let input = tmp.path().join("in");
    let (run, report) = convert(
        &[&input],
        &lake,
        &["--fields", "default", "--max-reject-ratio", "1"],
    );
    assert_eq!(run.code, 3, "one reject: {}", run.stderr);
    assert_eq!(report["lines_read"], json!(6));
    assert_eq!(report["rows_written"], json!(5));
    assert_eq!(report["rejected"], json!(1));
    assert_eq!(report["partitions"], json!(2));
    // The export object feeds both days and is read for each, but it is one file.
    assert_eq!(report["files"], json!(2), "{report}");
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("aws-logs-write-test"), "{skipped}");
    assert!(skipped.contains("permission probe"), "{skipped}");
    assert_eq!(
        duckdb(
            &lake,
            "SELECT day, count(*), sum(bytes), min(unknown_fields['cloudwatch-log-stream']) \
             FROM read_parquet('{lake}/**/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1"
                .replace("{lake}", lake.to_str().unwrap())
                .as_str()
        ),
        vec![
            vec![json!("01"), json!(3), json!(1002 + 7), json!("eni-0a-all")],
            vec![json!("02"), json!(2), json!(1001 + 1003), json!("eni-0a-all")],
        ]
    );
    let rejects = std::fs::read_to_string(report["rejects_file"].as_str().unwrap()).unwrap();
    assert_eq!(
        rejects.lines().count(),
        1,
        "the reject is recorded once: {rejects}"
    );
    assert_eq!(verify(&lake).0, 0);
    // A rerun reads nothing: the manifest remembers which partitions each undated file fed.
    let (again, report) = convert(
        &[&input],
        &lake,
        &["--fields", "default", "--max-reject-ratio", "1"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(report["lines_read"], json!(0));
    assert_eq!(report["partitions_unchanged"], json!(2));
    // --from/--to keep their partitions only: each record counted where it is built.
    let lake2 = tmp.path().join("lake2");
    let (_, report) = convert(
        &[&input],
        &lake2,
        &[
            "--fields",
            "default",
            "--max-reject-ratio",
            "1",
            "--from",
            "2024-05-02",
        ],
    );
    assert_eq!(report["rows_written"], json!(2));
    assert_eq!(report["rejected"], json!(1));
    assert_eq!(report["partitions"], json!(1));
    // A later run over every day builds the days the ranged run left: the manifest knows all the
    // days each undated file feeds, not only those it was built for.
    let (_, report) = convert(
        &[&input],
        &lake2,
        &["--fields", "default", "--max-reject-ratio", "1"],
    );
    assert_eq!(report["rows_written"], json!(3));
    assert_eq!(report["partitions"], json!(1));
    assert_eq!(duckdb_one(&lake2, "SELECT count(*) FROM {lake}"), json!(5));
    // Shards: each reads the undated files and keeps its own partitions; together, one run's lake.
    let lake3 = tmp.path().join("lake3");
    let mut rows_written = 0;
    for k in 0..3 {
        let shard = format!("{k}/3");
        let (_, report) = convert(
            &[&input],
            &lake3,
            &[
                "--fields",
                "default",
                "--max-reject-ratio",
                "1",
                "--shard",
                &shard,
            ],
        );
        rows_written += report["rows_written"].as_u64().unwrap();
    }
    assert_eq!(rows_written, 5);
    assert_eq!(
        duckdb_one(&lake3, "SELECT sum(bytes) FROM {lake}"),
        json!(1002 + 7 + 1001 + 1003)
    );
    assert_eq!(verify(&lake3).0, 0);
}

#[test]
fn undated_records_with_impossible_times_make_no_partition_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    // Start 0 (1970) and a start in year 2286: not flow log times; their lines count in the file's
    // first real day. A file whose records have no usable time at all is failed with the reason.
    let text = format!(
        "{HEADER}\
         2 123456789010 eni-1 10.0.0.1 10.0.1.1 1 443 6 1 10 1714568400 1714568460 ACCEPT OK\n\
         2 123456789010 eni-1 10.0.0.1 10.0.1.1 2 443 6 1 20 0 60 ACCEPT OK\n\
         2 123456789010 eni-1 10.0.0.1 10.0.1.1 3 443 6 1 30 9999999999 9999999999 ACCEPT OK\n"
    );
    put(tmp.path(), "in/loose/a.log.gz", &gzip(text.as_bytes()));
    let timeless =
        format!("{HEADER}2 123456789010 eni-1 10.0.0.1 10.0.1.1 2 443 6 1 20 0 60 ACCEPT OK\n");
    put(tmp.path(), "in/loose/b.log.gz", &gzip(timeless.as_bytes()));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(3));
    assert_eq!(report["partitions"], json!(1));
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .to_string_lossy()
            .contains("year=2024/month=05/day=01"),
        "{files:?}"
    );
    assert_eq!(report["failed"][0]["kind"], json!("no_time"), "{report}");
    assert!(report["failed"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("b.log.gz"));
}

/// An export object expired by a lifecycle rule after its days were converted: a rebuild keeps its
/// rows in every day it fed, carried over from the lake's files.
#[test]
fn rows_of_an_expired_export_object_stay_in_every_day_it_fed() {
    let tmp = tempfile::tempdir().unwrap();
    let record = |iso: &str, t: u64, bytes: u64| {
        format!(
            "{iso} 2 123456789010 eni-0a 10.0.0.1 10.0.1.1 1 443 6 1 {bytes} {t} {} ACCEPT OK\n",
            t + 60
        )
    };
    let text = format!(
        "{}{}{}",
        record("2024-05-01T13:00:00.000Z", 1714568400, 10),
        record("2024-05-02T13:00:00.000Z", 1714654800, 20),
        record("2024-05-02T14:00:00.000Z", 1714658400, 30),
    );
    let object = put(
        tmp.path(),
        "in/exports/task/eni-0a-all/000000.gz",
        &gzip(text.as_bytes()),
    );
    let input = tmp.path().join("in");
    let lake = tmp.path().join("lake");
    let (_, report) = convert(&[&input], &lake, &["--fields", "default"]);
    assert_eq!(report["rows_written"], json!(3));
    assert_eq!(report["partitions"], json!(2));
    std::fs::remove_file(&object).unwrap();
    // A late file for day 1 and a rebuild: day 1 carries the expired object's row over from its
    // files; day 2, which nothing listed feeds any more, is left as it is. Both keep their rows.
    let late = format!(
        "{HEADER}2 123456789010 eni-0b 10.0.0.2 10.0.1.1 2 443 6 1 40 1714568500 1714568560 ACCEPT OK\n"
    );
    put(
        tmp.path(),
        "in/2024/05/01/late.log.gz",
        &gzip(late.as_bytes()),
    );
    let (run, report) = convert(&[&input], &lake, &["--fields", "default", "--rebuild"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(1), "{report}");
    assert_eq!(
        report["vanished"][0]["partition"],
        json!("year=2024/month=05/day=01")
    );
    assert_eq!(
        duckdb(
            &lake,
            "SELECT day, count(*), sum(bytes) FROM read_parquet('LAKE/**/*.parquet', hive_partitioning=true) \
             GROUP BY 1 ORDER BY 1"
                .replace("LAKE", lake.to_str().unwrap())
                .as_str()
        ),
        vec![
            vec![json!("01"), json!(2), json!(50)],
            vec![json!("02"), json!(2), json!(50)],
        ]
    );
    assert_eq!(verify(&lake).0, 0);
}

#[test]
fn a_generated_export_converts_to_the_rows_of_the_s3_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "--days",
        "2",
        "--files-per-day",
        "4",
        "--lines-per-file",
        "500",
        "--enis",
        "40",
    ];
    let (s3, export) = (tmp.path().join("s3"), tmp.path().join("export"));
    generate(&s3, &args);
    let mut export_args = args.to_vec();
    export_args.extend(["--delivery", "cloudwatch-export"]);
    generate(&export, &export_args);
    // The real layout: exportedlogs/<task-id>/<eni-...-all>/NNNNNN.gz, and the probe.
    let objects: Vec<String> = walk(&export)
        .iter()
        .map(|p| {
            p.strip_prefix(&export)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(objects.contains(&"exportedlogs/aws-logs-write-test".to_string()));
    let tasks: std::collections::BTreeSet<&str> = objects
        .iter()
        .filter_map(|k| k.split('/').nth(1).filter(|_| k.ends_with(".gz")))
        .collect();
    assert_eq!(
        tasks.len(),
        2,
        "one export task per flow log and day: {tasks:?}"
    );
    for key in objects.iter().filter(|k| k.ends_with(".gz")) {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 4, "{key}");
        assert!(
            parts[2].starts_with("eni-") && parts[2].ends_with("-all"),
            "{key}"
        );
        assert_eq!(parts[3].len(), "000000.gz".len(), "{key}");
    }

    let (s3_lake, export_lake) = (tmp.path().join("s3-lake"), tmp.path().join("export-lake"));
    let (run, s3_report) = convert(&[&s3], &s3_lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (run, report) = convert(&[&export], &export_lake, &["--fields", "default"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["lines_read"], json!(2 * 4 * 500));
    assert_eq!(report["rows_written"], s3_report["rows_written"]);
    assert_eq!(
        report["files"],
        json!(objects.len() - 1),
        "every object once, not the probe"
    );
    assert_eq!(report["files_skipped"], json!(1));
    // The same rows in the same days (by each record's start; the S3 delivery's lake partitions by
    // delivery time, so compare by start's day).
    let by_day =
        "SELECT CAST(to_timestamp(start) AS DATE)::VARCHAR, count(*), sum(bytes), sum(packets), \
                  count(DISTINCT interface_id) FROM {lake} GROUP BY 1 ORDER BY 1";
    assert_eq!(duckdb(&export_lake, by_day), duckdb(&s3_lake, by_day));
    // Each row keeps its log stream (its interface) and its event time (its start).
    assert_eq!(
        duckdb_one(
            &export_lake,
            "SELECT count(*) FROM {lake} WHERE unknown_fields['cloudwatch-log-stream'] = interface_id || '-all' \
             AND unknown_fields['cloudwatch-timestamp'] = CAST(start * 1000 AS VARCHAR)"
        ),
        json!(2 * 4 * 500)
    );
    assert_eq!(verify(&export_lake).0, 0);
}

/// A damaged export object whose records fall in two days, read for each day (the days are built side
/// by side): one failure in the report, not one per read, the same report on every run, and with
/// salvage each day keeps its own whole lines from before the damage.
#[test]
fn a_cut_export_object_spanning_two_days_is_one_failure_on_every_run() {
    let tmp = tempfile::tempdir().unwrap();
    let day1 = 1714521600u64; // 2024-05-01T00:00:00Z
    let mut text = String::new();
    for i in 0..4000u64 {
        let t = day1 + (i % 2) * 86_400 + i * 7;
        let record = V2 {
            account: "123456789010",
            eni: "eni-0a".into(),
            srcaddr: format!("10.0.{}.{}", i % 250, (i * 37) % 250),
            srcport: 1024 + i,
            bytes: 100 + i,
            start: t,
            end: t + 60,
            ..V2::default()
        };
        text.push_str(&format!("2024-05-0{}T00:00:00.000Z {record}\n", 1 + i % 2));
    }
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() * 3 / 5];
    put(tmp.path(), "in/exportedlogs/task/eni-0a-all/000000.gz", cut);
    // A whole one beside it, also spanning both days.
    put(
        tmp.path(),
        "in/exportedlogs/task/eni-0a-all/000001.gz",
        &gzip(
            text.lines()
                .take(10)
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .as_bytes(),
        ),
    );
    let input = tmp.path().join("in");
    let mut reports = Vec::new();
    for k in 0..3 {
        let lake = tmp.path().join(format!("lake{k}"));
        let (run, report) = convert(
            &[&input],
            &lake,
            &[
                "--fields",
                "default",
                "--on-bad-file",
                "salvage",
                "--threads",
                "2",
            ],
        );
        assert_eq!(run.code, 3, "a damaged file: {}", run.stderr);
        assert_eq!(report["files_failed"], json!(1), "{report}");
        assert_eq!(report["failed"].as_array().unwrap().len(), 1, "{report}");
        assert_eq!(report["files"], json!(1), "the whole object");
        assert_eq!(report["partitions"], json!(2));
        let lines = report["lines_read"].as_u64().unwrap();
        assert!(lines > 10 && lines < 4010, "{lines}");
        assert_eq!(report["rows_written"], json!(lines));
        assert_eq!(
            duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
            json!(lines)
        );
        assert_eq!(verify(&lake).0, 0);
        reports.push(json!([
            report["failed"],
            report["file_details"],
            report["partition_details"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| json!([p["path"], p["rows"]]))
                .collect::<Vec<_>>(),
        ]));
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
    // Without salvage the first read finds the damage: one failure, nothing of it in the lake.
    let lake = tmp.path().join("lake-abort");
    let (run, report) = convert(&[&input], &lake, &["--fields", "default"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["files_failed"], json!(1), "{report}");
    assert_eq!(report["rows_written"], json!(10));
}

// ---- damaged objects: what --on-bad-file salvage keeps ------------------------------------------

/// How an object's records are framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// CloudWatch Logs -> Firehose: each envelope its own gzip member, a control message first.
    CloudWatchMembers,
    /// Envelopes one per line (Firehose decompression on), a control message among them, gzipped
    /// as one member.
    CloudWatchLines,
    /// Direct delivery: `{"message":...}` back to back, one member.
    DirectBackToBack,
    /// Direct delivery, one record per line, one member.
    DirectLines,
}

/// The default-format record `i` of object `object`: its port is the object, its bytes `i`.
fn damaged_record(object: u32, i: u32) -> V2 {
    V2 {
        account: "123456789010",
        eni: "eni-0a".into(),
        srcport: 1024 + u64::from(i),
        dstport: object.into(),
        bytes: i.into(),
        start: 1714568400,
        end: 1714568460,
        ..V2::default()
    }
}

/// The text of each gzip member of a whole object (20 records).
fn member_texts(framing: Framing, object: u32) -> Vec<String> {
    let events = |from: u32| -> String {
        (from..from + 5)
            .map(|i| {
                format!(
                    r#"{{"id":"{i}","timestamp":1714568400000,"message":"{}"}}"#,
                    damaged_record(object, i)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let envelope = |from: u32| {
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"/vpc/flowlogs","logStream":"eni-0a-all","subscriptionFilters":["to-firehose"],"logEvents":[{}]}}"#,
            events(from)
        )
    };
    let direct = |i: u32| format!(r#"{{"message":"{}"}}"#, damaged_record(object, i));
    match framing {
        Framing::CloudWatchMembers => std::iter::once(CONTROL.to_string())
            .chain((0..4).map(|k| envelope(5 * k)))
            .collect(),
        Framing::CloudWatchLines => vec![format!(
            "{}\n{CONTROL}\n{}\n{}\n{}\n",
            envelope(0),
            envelope(5),
            envelope(10),
            envelope(15)
        )],
        Framing::DirectBackToBack => vec![(0..20).map(direct).collect()],
        Framing::DirectLines => vec![(0..20).map(|i| direct(i) + "\n").collect()],
    }
}

/// The damage done to an object, and what it is expected to be reported as.
#[derive(Debug, Clone, PartialEq)]
enum Damage {
    /// Cut after `n` bytes.
    Cut(usize),
    /// The CRC of the member at these bytes flipped.
    Crc(std::ops::Range<usize>),
}

/// Every cut worth making in `members` (gzip members back to back): at each member boundary, in
/// each member's header, at a quarter, half and three quarters of it, and in its trailer; and each
/// member's CRC flipped.
fn damages(members: &[Vec<u8>]) -> Vec<Damage> {
    let mut out = Vec::new();
    let mut start = 0;
    for m in members {
        let end = start + m.len();
        if start > 0 {
            out.push(Damage::Cut(start));
        }
        for at in [
            start + 5,
            start + m.len() / 4,
            start + m.len() / 2,
            start + m.len() * 3 / 4,
            end - 4,
        ] {
            out.push(Damage::Cut(at));
        }
        out.push(Damage::Crc(start..end));
        start = end;
    }
    out
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    match damage {
        Damage::Cut(n) => bytes[..*n].to_vec(),
        Damage::Crc(member) => {
            let mut b = bytes.to_vec();
            b[member.end - 8] ^= 1;
            b
        }
    }
}

/// A reference for what is decodable before the damage: members one by one with flate2, the text of
/// a cut member as far as it goes, nothing of a member whose checksum fails.
fn reference_text(bytes: &[u8], crc_damage: bool) -> Vec<u8> {
    use std::io::Read;
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let mut text = Vec::new();
        match decoder.read_to_end(&mut text) {
            Ok(_) => {
                out.extend(text);
                rest = decoder.into_inner();
            }
            Err(_) => {
                if !crc_damage {
                    out.extend(text);
                }
                break;
            }
        }
    }
    out
}

/// The records (their `bytes` values) of the whole envelopes and records of `text`, in order.
fn whole_records(text: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let bytes_of = |m: &str| m.split(' ').nth(9).unwrap().parse::<u64>().unwrap();
    for value in serde_json::Deserializer::from_slice(text).into_iter::<Value>() {
        let Ok(v) = value else { break };
        if v["messageType"] == json!("DATA_MESSAGE") {
            for e in v["logEvents"].as_array().unwrap() {
                out.push(bytes_of(e["message"].as_str().unwrap()));
            }
        } else if let Some(m) = v["message"].as_str() {
            out.push(bytes_of(m));
        }
    }
    out
}

/// Firehose objects of every framing, gzipped once and twice, damaged at every member boundary,
/// inside every member and in every checksum (and, twice gzipped, in the outer layer): salvage keeps
/// exactly the records of the whole envelopes (and whole records) decoded before the damage, says
/// `salvaged` only when it kept some, with their count; the default mode lists each as failed with
/// its kind. Each object's records carry its number as their port, so the lake says what each kept.
/// The report's `failed` files by file name.
fn failed_by_name(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (path.rsplit('/').next().unwrap().to_string(), f.clone())
        })
        .collect()
}

#[test]
fn salvage_keeps_the_whole_envelopes_before_the_damage_in_every_framing() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = "in/2024/05/01/13";
    // object -> (name, expected kept records, expected failure kind or None for a whole object)
    let mut expected: Vec<(String, Vec<u64>, Option<&str>)> = Vec::new();
    let mut object = 0u32;
    let mut add = |bytes: Vec<u8>, kept: Vec<u64>, kind: Option<&'static str>, object: u32| {
        let name = format!(
            "flowlogs-to-s3-1-2024-05-01-13-00-00-0a1b2c3d-4e5f-6789-abcd-{object:012x}.gz"
        );
        put(tmp.path(), &format!("{hour}/{name}"), &bytes);
        expected.push((name, kept, kind));
    };
    for framing in [
        Framing::CloudWatchMembers,
        Framing::CloudWatchLines,
        Framing::DirectBackToBack,
        Framing::DirectLines,
    ] {
        // Damage in the (only, or inner) layer, gzipped once and twice (the outer layer whole).
        let members_of = |object: u32| -> Vec<Vec<u8>> {
            member_texts(framing, object)
                .iter()
                .map(|t| gzip(t.as_bytes()))
                .collect()
        };
        let outer_of = |object: u32| vec![gzip(&members_of(object).concat())];
        for twice in [false, true] {
            for d in 0..damages(&members_of(0)).len() {
                object += 1;
                let members = members_of(object);
                let damage = damages(&members)[d].clone();
                let damaged = apply(&members.concat(), &damage);
                let crc = matches!(damage, Damage::Crc(_));
                let kept = whole_records(&reference_text(&damaged, crc));
                let at_boundary = matches!(damage, Damage::Cut(n) if {
                    let mut ends = members.iter().scan(0, |s, m| { *s += m.len(); Some(*s) });
                    ends.any(|e| e == n)
                });
                let kind = match (&damage, at_boundary) {
                    (_, true) => None,
                    (Damage::Cut(_), false) => Some("truncated"),
                    (Damage::Crc(_), false) => Some("corrupt"),
                };
                let bytes = if twice { gzip(&damaged) } else { damaged };
                add(bytes, kept, kind, object);
            }
        }
        // Gzipped twice, damage in the outer layer (its one member).
        for d in 0..damages(&outer_of(0)).len() {
            object += 1;
            let outer = outer_of(object);
            let damage = damages(&outer)[d].clone();
            let damaged = apply(&outer[0], &damage);
            let crc = matches!(damage, Damage::Crc(_));
            let inner = reference_text(&damaged, crc);
            let kept = whole_records(&reference_text(&inner, false));
            let kind = if crc { "corrupt" } else { "truncated" };
            add(damaged, kept, Some(kind), object);
        }
    }
    let kept_total: usize = expected.iter().map(|e| e.1.len()).sum();
    let salvaged_objects = expected
        .iter()
        .filter(|e| e.2.is_some() && !e.1.is_empty())
        .count();
    assert!(
        salvaged_objects > 50 && kept_total > 500,
        "{salvaged_objects} damaged objects keep records, {kept_total} records"
    );
    let port_of =
        |name: &str| u32::from_str_radix(&name[name.len() - 15..name.len() - 3], 16).unwrap();
    let fields = ["--fields", "default", "--max-reject-ratio", "0"];

    let lake = tmp.path().join("salvage");
    let mut args = fields.to_vec();
    args.extend(["--on-bad-file", "salvage"]);
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &args);
    assert_eq!(run.code, 3, "damaged files: {}", run.stderr);
    assert_eq!(report["rows_written"], json!(kept_total), "{report}");
    assert_eq!(report["rejected"], json!(0));
    let failed = failed_by_name(&report);
    let in_lake: std::collections::BTreeMap<u32, Vec<u64>> = duckdb(
        &lake,
        "SELECT dstport, list(bytes ORDER BY bytes) FROM {lake} GROUP BY dstport",
    )
    .into_iter()
    .map(|r| {
        let records = r[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap())
            .collect();
        (r[0].as_u64().unwrap() as u32, records)
    })
    .collect();
    for (name, kept, kind) in &expected {
        let got = in_lake.get(&port_of(name)).cloned().unwrap_or_default();
        assert_eq!(&got, kept, "{name}: the records kept");
        match kind {
            None => assert!(
                !failed.contains_key(name),
                "{name} is whole: {}",
                failed[name]
            ),
            Some(kind) => {
                let f = &failed[name];
                assert_eq!(f["kind"], json!(kind), "{name}: {f}");
                assert_eq!(f["salvaged"], json!(!kept.is_empty()), "{name}: {f}");
                assert_eq!(f["salvaged_lines"], json!(kept.len()), "{name}: {f}");
            }
        }
    }
    assert!(report["skipped"].as_array().unwrap().is_empty(), "{report}");

    // The default mode keeps nothing of them and lists each as failed with its kind.
    let lake = tmp.path().join("quarantine");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &fields);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let whole: usize = expected
        .iter()
        .filter(|e| e.2.is_none())
        .map(|e| e.1.len())
        .sum();
    assert_eq!(report["rows_written"], json!(whole));
    let failed = failed_by_name(&report);
    for (name, _, kind) in &expected {
        match kind {
            None => assert!(!failed.contains_key(name), "{name}"),
            Some(kind) => {
                assert_eq!(failed[name]["kind"], json!(kind), "{name}");
                assert_eq!(failed[name]["salvaged"], json!(false), "{name}");
            }
        }
    }
    assert!(report["skipped"].as_array().unwrap().is_empty(), "{report}");
}

/// One lone surrogate escape in one message: that record is a reject (file, record, reason, the
/// message as written), the rest of its envelope converts. An owner that is not a 12-digit account
/// is kept as `account_id` and warned about once per file and value.
#[test]
fn a_message_that_is_not_text_is_one_reject_and_an_odd_owner_one_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let fields = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    let record = |eni: &str, i: u32| {
        format!("2 {eni} 10.0.0.1 10.0.1.1 {i} 443 6 1 {i} 1714568400 1714568460 ACCEPT OK")
    };
    let envelope = |owner: &str, messages: &[String]| {
        let events: Vec<String> = messages
            .iter()
            .map(|m| format!(r#"{{"timestamp":1714568400000,"message":"{m}"}}"#))
            .collect();
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"{owner}","logGroup":"g","logStream":"eni-0a-all","logEvents":[{}]}}"#,
            events.join(",")
        )
    };
    let text = [
        envelope("1234", &[record("eni-0a", 1), record("eni-0a", 2)]),
        envelope("1234", &[record("eni-0a", 3)]),
        envelope(
            "111122223333",
            &[
                record("eni-0a", 4),
                record(r"eni-\ud800", 5),
                record("eni-0a", 6),
            ],
        ),
    ]
    .concat();
    put(
        tmp.path(),
        &format!("in/2024/05/01/13/{}", firehose_name(1)),
        &gzip(text.as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--fields", fields, "--max-reject-ratio", "1"],
    );
    assert_eq!(run.code, 3, "one reject: {}", run.stderr);
    assert!(report["failed"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(report["rows_written"], json!(5));
    assert_eq!(report["rejected"], json!(1));
    assert_eq!(
        duckdb(
            &lake,
            "SELECT account_id, list(bytes ORDER BY bytes) FROM {lake} GROUP BY 1 ORDER BY 1"
        ),
        vec![
            vec![json!("111122223333"), json!([4, 6])],
            vec![json!("1234"), json!([1, 2, 3])],
        ]
    );
    let rejects = std::fs::read_to_string(report["rejects_file"].as_str().unwrap()).unwrap();
    let reject: Value = serde_json::from_str(rejects.trim()).unwrap();
    assert!(reject["file"]
        .as_str()
        .unwrap()
        .ends_with(&firehose_name(1)));
    assert_eq!(reject["line"], json!(5), "the object's fifth record");
    assert_eq!(reject["kind"], json!("invalid_utf8"));
    assert!(
        reject["message"]
            .as_str()
            .unwrap()
            .contains("lone surrogate"),
        "{reject}"
    );
    assert_eq!(reject["raw"], json!(record(r"eni-\ud800", 5)));
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "once per file and value: {warnings:?}");
    assert!(warnings[0]["path"]
        .as_str()
        .unwrap()
        .ends_with(&firehose_name(1)));
    assert!(
        warnings[0]["message"].as_str().unwrap().contains("`1234`"),
        "{warnings:?}"
    );
}
