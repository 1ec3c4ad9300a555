//! Transit Gateway flow logs: told apart from VPC flow logs by their header (or `--fields`), never by
//! their path; with `--tgw-out` converted into a lake of their own with AWS's Transit Gateway schema,
//! without it skipped and named (the run is not clean), never mixed into the VPC lake.

use std::path::Path;

use crate::common::*;
use serde_json::{json, Value};

/// The day folder AWS delivers both kinds of flow logs of account 123456789012 to.
const DAY: &str = "in/AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14";

/// OpenTelemetry's Transit Gateway test file (`fixtures/samples/otel-tgw-v6-header.log`), gzipped in
/// `DAY` under an AWS file name.
fn tgw_file(root: &Path, name: &str) -> std::path::PathBuf {
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    put(
        root,
        &format!(
            "{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0{name}_20231114T2210Z_aaaa1111.log.gz"
        ),
        &gzip(&bytes),
    )
}

/// A VPC flow log of two records in `DAY`.
fn vpc_file(root: &Path) -> std::path::PathBuf {
    let records = [
        V2 {
            bytes: 111,
            start: 1699999990,
            end: 1700000050,
            ..V2::default()
        },
        V2 {
            bytes: 222,
            start: 1700000000,
            end: 1700000060,
            ..V2::default()
        },
    ];
    put(
        root,
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0vpc_20231114T2210Z_bbbb2222.log.gz"),
        &v2_gz(records),
    )
}

/// Every column of the Transit Gateway lake's rows, in the lake's order (unknown_fields as JSON).
fn tgw_rows(lake: &Path) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        "SELECT * EXCLUDE (unknown_fields, \"aws-account-id\", \"aws-service\", \"aws-region\", year, \
         month, day), to_json(unknown_fields) FROM {lake} ORDER BY start",
    )
}

/// The OTel record as OTel's expected output gives its values (`valid_tgw_flow_log_expected.yaml`),
/// in the lake's column order, then `unknown_fields` (none); `resource-type`, the VPC account ids and
/// the AWS services are not in the file's format (NULL).
fn otel_record() -> Vec<Value> {
    vec![
        json!(6),
        Value::Null,
        json!("123456789012"),
        json!("tgw-0abc12345def67890"),
        json!("tgw-attach-0abc12345def67890"),
        Value::Null,
        Value::Null,
        json!("vpc-0abc12345def67890"),
        json!("vpc-0def12345abc67890"),
        json!("subnet-0abc12345def67890"),
        json!("subnet-0def12345abc67890"),
        json!("eni-0abc12345def67890"),
        json!("eni-0def12345abc67890"),
        json!("use1-az1"),
        json!("use1-az2"),
        json!("tgw-attach-0def12345abc67890"),
        json!("10.0.0.1"),
        json!("10.0.1.1"),
        json!(12345),
        json!(443),
        json!(6),
        json!(10),
        json!(1000),
        json!(1700000000),
        json!(1700000060),
        json!("OK"),
        json!("IPv4"),
        json!(1),
        json!(2),
        json!(3),
        json!(4),
        json!(2),
        json!("us-east-1"),
        json!("ingress"),
        Value::Null,
        Value::Null,
        Value::Null,
    ]
}

#[test]
fn a_transit_gateway_file_is_skipped_and_named_without_tgw_out_and_never_mixed_in() {
    let tmp = tempfile::tempdir().unwrap();
    let tgw = tgw_file(tmp.path(), "tgw");
    vpc_file(tmp.path());
    let input = tmp.path().join("in");
    let lake = tmp.path().join("vpc");
    for run in 0..2 {
        let (r, report) = convert(&[&input], &lake, &[]);
        assert_eq!(r.code, 3, "run {run}: not clean: {report}");
        let skipped = report["skipped"].as_array().unwrap();
        assert_eq!(skipped.len(), 1, "run {run}: {report}");
        assert_eq!(skipped[0]["path"], tgw.to_str().unwrap());
        assert_eq!(skipped[0]["flow_log"], true);
        let reason = skipped[0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("Transit Gateway") && reason.contains("--tgw-out"),
            "{reason}"
        );
        assert_eq!(report["files_skipped"], 1);
        // The first run reads the VPC file; the second finds the day up to date and still names
        // the Transit Gateway file (remembered, not read again).
        assert_eq!(report["files"], if run == 0 { 1 } else { 0 });
        assert_eq!(report["partitions_unchanged"], run);
        assert_eq!(report["files_unchanged"], run);
    }
    assert_eq!(
        duckdb(
            &lake,
            "SELECT count(*), sum(bytes), count(DISTINCT version) FROM {lake}"
        ),
        vec![vec![json!(2), json!(333), json!(1)]],
        "only the VPC records are in the VPC lake"
    );
    let cols = duckdb(
        &lake,
        "SELECT count(*) FROM (DESCRIBE SELECT * FROM {lake}) WHERE column_name LIKE 'tgw%'",
    );
    assert_eq!(cols, vec![vec![json!(0)]]);
    let run = flowlake([
        "convert",
        input.to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
    ]);
    assert!(
        run.stderr.contains("skipped:") && run.stderr.contains("--tgw-out"),
        "{}",
        run.stderr
    );
}

#[test]
fn with_tgw_out_each_kind_goes_to_its_own_lake_with_its_own_schema() {
    let tmp = tempfile::tempdir().unwrap();
    tgw_file(tmp.path(), "tgw");
    vpc_file(tmp.path());
    let input = tmp.path().join("in");
    // The VPC lake of the VPC file alone: the Transit Gateway file changes nothing in it.
    let alone = tempfile::tempdir().unwrap();
    vpc_file(alone.path());
    let reference = tmp.path().join("reference");
    convert(&[&alone.path().join("in")], &reference, &[]);

    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let tgw_s = tgw.to_str().unwrap();
    let (r, report) = convert(&[&input], &vpc, &["--tgw-out", tgw_s]);
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(
        (
            &report["files"],
            &report["files_other_kind"],
            &report["files_skipped"]
        ),
        (&json!(1), &json!(1), &json!(0))
    );
    let t = &report["transit_gateway"];
    assert_eq!(
        (
            &t["files"],
            &t["lines_read"],
            &t["rows_written"],
            &t["rejected"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0)),
        "{t}"
    );
    assert_eq!(
        t["partition_details"][0]["path"],
        "aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2023/month=11/day=14"
    );
    assert_eq!(tgw_rows(&tgw), vec![otel_record()]);
    let types = duckdb(
        &tgw,
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {lake}) \
         WHERE column_name IN ('protocol', 'packets_lost_no_route', 'tcp_flags', 'srcport', 'tgw_id') \
         ORDER BY 1",
    );
    assert_eq!(
        types,
        vec![
            vec![json!("packets_lost_no_route"), json!("BIGINT")],
            vec![json!("protocol"), json!("BIGINT")],
            vec![json!("srcport"), json!("INTEGER")],
            vec![json!("tcp_flags"), json!("INTEGER")],
            vec![json!("tgw_id"), json!("VARCHAR")],
        ]
    );
    let contents = |lake: &Path| {
        duckdb(
            lake,
            "SELECT count(*), sum(bytes), sum(start), min(srcaddr) FROM {lake}",
        )
    };
    assert_eq!(contents(&vpc), contents(&reference));
    // Same bytes too: the VPC lake is the lake of the VPC file alone.
    let part = |lake: &Path| std::fs::read(&parquet_files(lake)[0]).unwrap();
    assert_eq!(part(&vpc), part(&reference));

    // A rerun: both lakes up to date, nothing read.
    let (r, again) = convert(&[&input], &vpc, &["--tgw-out", tgw_s]);
    assert_eq!(r.code, 0, "{again}");
    assert_eq!(
        (
            &again["files"],
            &again["files_other_kind"],
            &again["partitions_unchanged"]
        ),
        (&json!(0), &json!(1), &json!(1))
    );
    let t = &again["transit_gateway"];
    assert_eq!(
        (&t["files"], &t["partitions_unchanged"]),
        (&json!(0), &json!(1))
    );

    // The lake of each kind refuses the other kind; the two lakes cannot nest.
    let run = convert_expecting_failure(&[&input], &tgw, &[]);
    assert!(
        run.stderr
            .contains("holds Transit Gateway flow log records"),
        "{}",
        run.stderr
    );
    let inside = vpc.join("tgw");
    let run = convert_expecting_failure(&[&input], &vpc, &["--tgw-out", inside.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("neither inside the other"),
        "{}",
        run.stderr
    );

    // verify, compact and ddl know a Transit Gateway lake.
    let (code, check) = verify(&tgw);
    assert_eq!(code, 0, "{check}");
    let ddl = flowlake(["ddl", tgw_s, "--engine", "duckdb"]);
    assert_eq!(ddl.code, 0, "{}", ddl.stderr);
    assert!(ddl.stdout.contains("tgw_flow_logs"), "{}", ddl.stdout);
    let sql = format!(
        "import duckdb, json\ncon = duckdb.connect()\ncon.execute({:?})\nprint(json.dumps(con.sql('SELECT tgw_id, packets_lost_ttl_expired, protocol FROM tgw_flow_logs').fetchall()))",
        ddl.stdout
    );
    assert_eq!(py(&sql), json!([["tgw-0abc12345def67890", 4, 6]]));
    let athena = flowlake(["ddl", tgw_s, "--location", "s3://b/tgw/"]);
    assert!(
        athena.stdout.contains("`packets_lost_blackhole` bigint")
            && athena.stdout.contains("`protocol` bigint")
            && athena.stdout.contains("`tgw_flow_logs`"),
        "{}",
        athena.stdout
    );
}

#[test]
fn a_cloudwatch_subscription_of_transit_gateway_records_is_read_with_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-cwl-subscription.json")).unwrap();
    put(
        tmp.path(),
        "in/2023/11/14/tgw-subscription.json.gz",
        &gzip(&bytes),
    );
    // OpenTelemetry's "default TGW format", the field list of the payload's records.
    let fields = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-id \
        tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id \
        tgw-dst-az-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status";
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let input = tmp.path().join("in");
    let (r, report) = convert(
        &[&input],
        &vpc,
        &["--fields", fields, "--tgw-out", tgw.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(report["transit_gateway"]["rows_written"], 1, "{report}");
    let rows = duckdb(
        &tgw,
        "SELECT resource_type, account_id, tgw_id, tgw_src_vpc_id, srcaddr, dstport, protocol, \
         packets, bytes, start, \"end\", log_status, unknown_fields['cloudwatch-log-group'] FROM {lake}",
    );
    assert_eq!(
        rows,
        vec![vec![
            json!("TransitGateway"),
            json!("123456789012"),
            json!("tgw-0abc12345def67890"),
            json!("vpc-0abc12345def67890"),
            json!("10.0.0.1"),
            json!(443),
            json!(6),
            json!(10),
            json!(1000),
            json!(1700000000),
            json!(1700000060),
            json!("OK"),
            json!("/aws/tgw/flowlogs"),
        ]]
    );
}

#[test]
fn a_file_whose_headers_switch_kinds_is_failed_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let tgw = std::fs::read_to_string(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    let mut text = v2_lines([V2::default()]);
    text.push_str(&tgw);
    text.push('\n');
    let mixed = put(
        tmp.path(),
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0mix_20231114T2210Z_cccc3333.log.gz"),
        &gzip(text.as_bytes()),
    );
    let (vpc, tgw_lake) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, report) = convert(
        &[&tmp.path().join("in")],
        &vpc,
        &["--tgw-out", tgw_lake.to_str().unwrap()],
    );
    // Its partition had no other file: not published (exit 4).
    assert_eq!(r.code, 4, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["path"], mixed.to_str().unwrap());
    assert_eq!(failed[0]["kind"], "mixed_kinds");
    assert_eq!(
        (&report["lines_read"], &report["rows_written"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(report["transit_gateway"]["files"], 0);
}

#[test]
fn an_undated_transit_gateway_file_goes_to_its_lake_by_its_records_times() {
    let tmp = tempfile::tempdir().unwrap();
    vpc_file(tmp.path());
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    let copy = put(tmp.path(), "in/copies/tgw-export.log", &bytes);
    let input = tmp.path().join("in");
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let plain = ["--partition-layout", "plain"];
    let (r, report) = convert(&[&input], &vpc, &plain);
    assert_eq!(r.code, 3, "{report}");
    assert_eq!(
        report["skipped"][0]["path"],
        copy.to_str().unwrap(),
        "{report}"
    );
    assert_eq!(report["files_failed"], 0, "{report}");
    let mut args = plain.to_vec();
    args.extend(["--tgw-out", tgw.to_str().unwrap()]);
    let (r, report) = convert(&[&input], &vpc, &args);
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(report["files_other_kind"], 1);
    let t = &report["transit_gateway"];
    assert_eq!(
        (&t["rows_written"], &t["files_failed"]),
        (&json!(1), &json!(0)),
        "{t}"
    );
    assert_eq!(
        t["partition_details"][0]["path"],
        "year=2023/month=11/day=14"
    );
    assert_eq!(
        duckdb(&tgw, "SELECT tgw_id, packets_lost_blackhole FROM {lake}"),
        vec![vec![json!("tgw-0abc12345def67890"), json!(2)]]
    );
    assert_eq!(duckdb_one(&vpc, "SELECT count(*) FROM {lake}"), json!(2));
}

#[test]
fn shards_with_tgw_out_build_both_lakes_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    for (account, day) in [
        ("111111111111", "14"),
        ("222222222222", "14"),
        ("333333333333", "15"),
    ] {
        vpc_file(tmp.path());
        let dir = format!("in/AWSLogs/{account}/vpcflowlogs/us-east-1/2023/11/{day}");
        put(
            tmp.path(),
            &format!(
                "{dir}/{account}_vpcflowlogs_us-east-1_fl-0tgw_202311{day}T2210Z_dddd4444.log.gz"
            ),
            &gzip(&bytes),
        );
    }
    let input = tmp.path().join("in");
    let lakes = |name: &str| {
        (
            tmp.path().join(format!("{name}-vpc")),
            tmp.path().join(format!("{name}-tgw")),
        )
    };
    let (one_vpc, one_tgw) = lakes("one");
    let (r, one) = convert(
        &[&input],
        &one_vpc,
        &["--tgw-out", one_tgw.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{one}");
    assert_eq!(one["transit_gateway"]["rows_written"], 3);
    let (vpc, tgw) = lakes("shards");
    let mut built = 0;
    for k in 0..3 {
        let shard = format!("{k}/3");
        let (r, report) = convert(
            &[&input],
            &vpc,
            &["--tgw-out", tgw.to_str().unwrap(), "--shard", &shard],
        );
        assert_eq!(r.code, 0, "{report}");
        assert_eq!(report["transit_gateway"]["shard"], shard.as_str());
        built += report["transit_gateway"]["partitions"].as_u64().unwrap();
    }
    assert_eq!(built, 3, "each Transit Gateway partition built once");
    let contents = |lake: &Path| {
        duckdb(
            lake,
            "SELECT \"aws-account-id\", day, count(*), sum(packets_lost_ttl_expired) FROM {lake} \
             GROUP BY ALL ORDER BY ALL",
        )
    };
    assert_eq!(contents(&tgw), contents(&one_tgw));
    assert_eq!(contents(&tgw).len(), 3);
}
