//! Bad and awkward input: the run goes on, nothing is lost silently, the exit code tells.

use crate::common::*;
use serde_json::json;

fn record(i: u64) -> V2 {
    V2 {
        eni: format!("eni-{i:017x}"),
        srcaddr: format!("10.0.0.{}", i % 250),
        srcport: 1024 + i,
        packets: i + 1,
        bytes: 100 * (i + 1),
        ..V2::default()
    }
}

fn records(range: std::ops::Range<u64>) -> String {
    v2_lines(range.map(record))
}

#[test]
fn awkward_but_valid_text_is_handled_not_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    // CRLF, runs of spaces, blank lines, a repeated header mid-file, no final newline.
    let text = format!(
        "{}{}\r\n\n   \n{}{}  2   123456789012  eni-x 10.0.0.9 10.0.1.1 1 2 6 3 4 1704067200 1704067260 REJECT OK  \r\n{}",
        HEADER.trim_end(),
        "",
        records(0..3).replace('\n', "\r\n"),
        HEADER,
        record(3)
    );
    put(tmp.path(), "in/2024/01/01/a.log.gz", &gzip(text.as_bytes()));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(5));
    assert_eq!(report["header_lines"], json!(2));
    assert_eq!(report["blank_lines"], json!(2));
    assert_eq!(
        duckdb(&lake, "SELECT sum(packets), sum(bytes), count(*) FILTER (WHERE action = 'REJECT'), max(length(log_status)) FROM {lake}"),
        vec![vec![json!(1 + 2 + 3 + 3 + 4), json!(100 + 200 + 300 + 4 + 400), json!(1), json!(2)]]
    );
}

#[test]
fn concatenated_gzip_members_with_different_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = v2_gz((0..10).map(record));
    bytes.extend(gzip(b"version srcaddr dstaddr srcport dstport protocol flow-direction traffic-path\n5 10.1.1.1 10.2.2.2 1 2 17 egress 2\n5 10.1.1.2 10.2.2.3 1 2 17 ingress -\n"));
    put(tmp.path(), "in/2024/01/01/two.log.gz", &bytes);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(report["rows_written"], json!(12));
    assert_eq!(
        duckdb(&lake, "SELECT count(*) FILTER (WHERE version = 5), count(interface_id), sum(traffic_path), count(*) FILTER (WHERE protocol = 17 AND account_id IS NULL) FROM {lake}"),
        vec![vec![json!(2), json!(10), json!(2), json!(2)]]
    );
}

#[test]
fn bad_lines_are_rejected_with_file_line_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}{}2 1 eni-a 10.0.0.1 10.0.0.2 99999 443 6 1 1 1 2 ACCEPT OK\n2 1 eni-a 10.0.0.1 10.0.0.2 http 443 6 1 1 1 2 ACCEPT OK\n2 1 eni-a 10.0.0.1\n2 1 eni-a 10.0.0.1 10.0.0.2 1 443 6 1 1 1 2 ACCEPT OK extra\n2 BADUTF8 eni-a 10.0.0.1 10.0.0.2 1 443 6 1 1 1 2 ACCEPT OK\n2 1 eni-a 10.0.0.1 10.0.0.2 1 443 6 99999999999999999999 1 1 2 ACCEPT OK\n{}",
        records(0..5),
        records(5..8)
    );
    let mut bytes = text.into_bytes();
    // An account id that is not UTF-8.
    let pos = bytes.windows(7).position(|w| w == b"BADUTF8").unwrap();
    bytes.splice(pos..pos + 7, [0xff, 0xfe, b'x']);
    put(tmp.path(), "in/2024/01/01/bad-lines.log.gz", &gzip(&bytes));
    let lake = tmp.path().join("lake");
    // 6 of 14 lines are bad: above the default --max-reject-ratio, so allow it to see it published.
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(run.code, 3);
    assert_eq!(report["lines_read"], json!(14));
    assert_eq!(report["rows_written"], json!(8));
    assert_eq!(report["rejected"], json!(6));
    let rejects = report["rejects_file"].as_str().unwrap().to_string();
    assert!(rejects.contains("/_flowlake/rejects/"));
    let got = py(&format!(
        "import duckdb, json\nprint(json.dumps(duckdb.sql(\"SELECT line, kind, \\\"column\\\" FROM read_json_auto('{rejects}') ORDER BY line\").fetchall()))"
    ));
    assert_eq!(
        got,
        json!([
            [7, "out_of_range", "srcport"],
            [8, "bad_integer", "srcport"],
            [9, "too_few_fields", null],
            [10, "too_many_fields", null],
            [11, "invalid_utf8", "account_id"],
            [12, "out_of_range", "packets"]
        ])
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(8));
    assert!(run.stderr.is_empty() || !run.stderr.contains("panic"));
}

#[test]
fn unreadable_files_are_failed_and_contribute_no_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let day = "in/2024/01/01";
    put(
        tmp.path(),
        &format!("{day}/good.log.gz"),
        &v2_gz((0..100).map(record)),
    );
    let full = v2_gz((100..5000).map(record));
    put(
        tmp.path(),
        &format!("{day}/truncated.log.gz"),
        &full[..full.len() / 2],
    );
    let mut flipped = full.clone();
    let n = flipped.len();
    flipped[n - 5] ^= 0x55; // CRC trailer: every line parses, the check fails at the very end
    put(tmp.path(), &format!("{day}/crc.log.gz"), &flipped);
    put(
        tmp.path(),
        &format!("{day}/not-gzip.log.gz"),
        b"this is not gzip",
    );
    put(tmp.path(), &format!("{day}/empty.log.gz"), b"");
    put(
        tmp.path(),
        &format!("{day}/header-only.log.gz"),
        &gzip(HEADER.as_bytes()),
    );
    put(tmp.path(), &format!("{day}/stray.parquet"), b"PAR1");
    put(tmp.path(), &format!("{day}/notes.txt.md"), b"hello");
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 3, "failed files make the run not clean");
    assert_eq!(
        report["rows_written"],
        json!(100),
        "only the good file's rows"
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(100));
    let mut failed: Vec<(String, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (
                path.rsplit('/').next().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        [
            ("crc.log.gz".into(), "corrupt".into()),
            ("not-gzip.log.gz".into(), "not_gzip".into()),
            ("truncated.log.gz".into(), "truncated".into())
        ]
    );
    assert_eq!(report["files_failed"], json!(3));
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        warnings.contains(&"file is empty".to_string()),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&"file has a header but no records".to_string()),
        "{warnings:?}"
    );
    let skipped: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().any(|r| r.contains("Parquet")), "{skipped:?}");
    assert!(
        run.stderr.is_empty(),
        "--quiet prints nothing: {}",
        run.stderr
    );
}

#[test]
fn unknown_header_fields_are_kept_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "in/2024/01/01/x.log.gz",
        &gzip(
            b"version srcaddr future-field-x instance-tag\n11 10.0.0.1 abc web\n11 10.0.0.2 - -\n",
        ),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(report["unknown_fields"], json!({"future-field-x": 1}));
    assert_eq!(
        duckdb(&lake, "SELECT version, unknown_fields['future-field-x'], instance_tag FROM {lake} ORDER BY srcaddr"),
        vec![vec![json!(11), json!("abc"), json!("web")], vec![json!(11), serde_json::Value::Null, serde_json::Value::Null]]
    );
}

#[test]
fn a_record_that_looks_like_a_header_stays_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    // Tag values are user text: `region` is also a field name.
    put(
        tmp.path(),
        "in/2024/01/01/tags.log.gz",
        &gzip(b"interface-id instance-tag flow-direction\neni-0a1 region ingress\neni-0b2 web egress\n"),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        (
            report["rows_written"].clone(),
            report["header_lines"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(
        duckdb(
            &lake,
            "SELECT interface_id, instance_tag, flow_direction FROM {lake} ORDER BY 1"
        ),
        vec![
            vec![json!("eni-0a1"), json!("region"), json!("ingress")],
            vec![json!("eni-0b2"), json!("web"), json!("egress")]
        ]
    );
}

/// A gzip bomb (about 1.2 MB that decompresses to 1.2 GB) beside a good file: `too_large`, named,
/// none of its rows, and the good file converts. (The decoder stops at the limit: see
/// `input::inflate` and `input::read` for the bytes and memory it may take.)
#[test]
fn a_gzip_bomb_is_too_large_and_the_rest_converts() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1200 {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    put(tmp.path(), "in/2024/01/01/bomb.log.gz", &bomb);
    put(
        tmp.path(),
        "in/2024/01/01/good.log.gz",
        &v2_gz((0..10).map(record)),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--max-file-size", "64MiB", "--on-bad-file", "salvage"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(10));
    assert_eq!(report["failed"][0]["kind"], json!("too_large"), "{report}");
    assert_eq!(report["failed"][0]["salvaged"], json!(false));
    assert!(report["failed"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("bomb.log.gz"));
    assert!(report["failed"][0]["message"]
        .as_str()
        .unwrap()
        .contains("67108864"));
}
