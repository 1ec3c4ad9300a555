//! Filters at conversion: `--action accept|reject` (the flow log's "All, Accept or Reject" setting)
//! and `--drop-log-status`; dropped records are counted, the lake remembers its filters.

use crate::common::*;
use serde_json::json;

/// One day of default-format records: `accept` ACCEPT, `reject` REJECT, then NODATA and SKIPDATA ones.
fn day_file(accept: usize, reject: usize, nodata: usize, skipdata: usize) -> Vec<u8> {
    let kinds = [
        (accept, "ACCEPT", "OK"),
        (reject, "REJECT", "OK"),
        (nodata, "-", "NODATA"),
        (skipdata, "-", "SKIPDATA"),
    ];
    let records = kinds
        .into_iter()
        .flat_map(|(n, action, log_status)| std::iter::repeat_n((action, log_status), n))
        .zip(0..)
        .map(|((action, log_status), i)| V2 {
            eni: format!("eni-{i:04}"),
            dstaddr: "10.0.0.1".into(),
            srcport: 1024 + i,
            bytes: 100 + i,
            start: 1714568400,
            end: 1714568460,
            action,
            log_status,
            ..V2::default()
        });
    v2_gz(records)
}

#[test]
fn action_and_log_status_filters_are_counted_and_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "in/2024/05/01/a.log.gz", &day_file(5, 3, 2, 1));
    put(tmp.path(), "in/2024/05/02/b.log.gz", &day_file(4, 6, 1, 0));
    let input = tmp.path().join("in");

    let lake = tmp.path().join("accept");
    let (run, report) = convert(&[&input], &lake, &["--action", "accept"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["lines_read"], json!(22));
    assert_eq!(report["rows_written"], json!(9));
    assert_eq!(report["filtered"], json!(13));
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake} WHERE action = 'ACCEPT'"),
        json!(9)
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(9));
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_flowlake/lake.json")).unwrap()).unwrap();
    assert_eq!(
        settings["filters"],
        json!({"action": "accept", "drop_log_status": []})
    );
    assert_eq!(verify(&lake).0, 0);
    // A run with other filters would mix two selections in one lake: refused, nothing changes.
    let other = convert_expecting_failure(&[&input], &lake, &["--action", "reject"]);
    assert_eq!(other.code, 1);
    assert!(
        other.stderr.contains("keeps ACCEPT records only"),
        "{}",
        other.stderr
    );
    let none = convert_expecting_failure(&[&input], &lake, &[]);
    assert!(
        none.stderr.contains("this run would keep every record"),
        "{}",
        none.stderr
    );
    // The table's statement says what the lake holds.
    let ddl = flowlake(["ddl", lake.to_str().unwrap(), "--engine", "duckdb"]);
    assert_eq!(ddl.code, 0, "{}", ddl.stderr);
    assert!(
        ddl.stdout
            .starts_with("-- This lake keeps ACCEPT records only"),
        "{}",
        ddl.stdout
    );
    let view = py(&format!(
        "import duckdb, json\ncon = duckdb.connect()\ncon.execute({:?})\nprint(json.dumps(con.execute('SELECT count(*) FROM vpc_flow_logs').fetchone()[0]))",
        ddl.stdout
    ));
    assert_eq!(view, json!(9));
    // The same filters: nothing to do.
    let (again, report) = convert(&[&input], &lake, &["--action", "accept"]);
    assert_eq!(again.code, 0);
    assert_eq!(report["files_unchanged"], json!(2));

    let lake = tmp.path().join("quiet");
    let (run, report) = convert(&[&input], &lake, &["--drop-log-status", "nodata,skipdata"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(18));
    assert_eq!(report["filtered"], json!(4));
    assert_eq!(
        duckdb_one(
            &lake,
            "SELECT count(*) FROM {lake} WHERE log_status <> 'OK'"
        ),
        json!(0)
    );

    let lake = tmp.path().join("reject");
    let (_, report) = convert(
        &[&input],
        &lake,
        &["--action", "reject", "--drop-log-status", "ok"],
    );
    assert_eq!(
        report["rows_written"],
        json!(0),
        "REJECT records are all OK ones"
    );
    assert_eq!(report["filtered"], json!(22));
    // Unfiltered lakes write no filters: lake.json stays as earlier versions wrote it.
    let lake = tmp.path().join("all");
    convert(&[&input], &lake, &[]);
    let text = std::fs::read_to_string(lake.join("_flowlake/lake.json")).unwrap();
    assert!(!text.contains("filters"), "{text}");
}

#[test]
fn a_format_without_the_filtered_field_is_failed_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "in/2024/05/01/a.log.gz", &day_file(2, 2, 0, 0));
    // A custom format with no `action` field.
    put(
        tmp.path(),
        "in/2024/05/01/b.log.gz",
        &gzip(
            b"version srcaddr dstaddr log-status\n2 10.0.0.1 10.0.0.2 OK\n2 10.0.0.3 10.0.0.4 OK\n",
        ),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &["--action", "reject"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(2));
    assert_eq!(report["filtered"], json!(2));
    assert_eq!(report["failed"].as_array().unwrap().len(), 1);
    assert_eq!(report["failed"][0]["kind"], json!("unfilterable"));
    assert!(report["failed"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("b.log.gz"));
    assert!(
        report["failed"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no `action` field"),
        "{report}"
    );
    // Filtering by log-status works on that file.
    let lake2 = tmp.path().join("lake2");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake2,
        &["--drop-log-status", "nodata"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(6));
}

#[test]
fn envelope_records_are_filtered_too() {
    let tmp = tempfile::tempdir().unwrap();
    let direct = r#"{"message":"2 647604195155 eni-05fdd58317a3a58e4 10.30.2.238 10.30.1.217 8089 39016 6 22 10527 1643160732 1643160792 ACCEPT OK"}{"message":"2 647604195155 eni-05fdd58317a3a58e4 52.94.228.178 10.30.2.238 443 37378 6 24 7211 1643160732 1643160792 REJECT OK"}{"message":"2 647604195155 eni-05fdd58317a3a58e4 - - - - - - - 1643160732 1643160792 - NODATA"}"#;
    put(
        tmp.path(),
        "in/2022/01/26/01/flows-1-2022-01-26-01-32-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789.gz",
        &gzip(direct.as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--fields", "default", "--action", "reject"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(1));
    assert_eq!(report["filtered"], json!(2));
    assert_eq!(
        duckdb_one(&lake, "SELECT srcaddr FROM {lake}"),
        json!("52.94.228.178")
    );
}
