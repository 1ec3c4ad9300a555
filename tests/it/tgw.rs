//! Transit Gateway flow logs: told apart from VPC flow logs by their header (or `--fields`), never by
//! their path; with `--tgw-out` converted into a lake of their own with AWS's Transit Gateway schema,
//! without it skipped and named (the run is not clean), never mixed into the VPC lake.

use std::collections::BTreeMap;
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

#[test]
fn elastics_headerless_transit_gateway_samples_convert_with_tgw_default_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes =
        std::fs::read(fixtures().join("samples/integrations-tgw-noheader-default.log")).unwrap();
    put(
        tmp.path(),
        "in/AWSLogs/748335378900/vpcflowlogs/us-east-1/2025/08/19/tgw.log.gz",
        &gzip(&bytes),
    );
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, report) = convert(
        &[&tmp.path().join("in")],
        &vpc,
        &[
            "--fields",
            "tgw-default",
            "--tgw-out",
            tgw.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(report["transit_gateway"]["rows_written"], 10, "{report}");
    // Elastic's expected documents (test-tgw-samples.log-expected.json), first five in file order:
    // aws.vpcflow.{tgw_attachment_id, tgw_src_vpc_id, tgw_dst_vpc_id, tgw_src_eni, tgw_dst_eni,
    // log_status}, source.{address, port}, destination.{address, port}, network.{iana_number,
    // packets, bytes}, event.start/end as Unix seconds.
    let rows = duckdb(
        &tgw,
        "SELECT tgw_attachment_id, tgw_src_vpc_id, tgw_dst_vpc_id, tgw_src_eni, tgw_dst_eni, \
         log_status, srcaddr, srcport, dstaddr, dstport, protocol, packets, bytes, start, \"end\", \
         account_id, resource_type, region, flow_direction \
         FROM {lake} ORDER BY start LIMIT 5",
    );
    let expected = [
        (
            "tgw-attach-0789ijkl",
            "vpc-0jkl5678",
            "vpc-0ghi9012",
            "eni-0cc3dd4ee5f66aa7b",
            "eni-0cc3dd4ee5f66aa7b",
            "SKIPDATA",
            "1.128.0.0",
            39464,
            "2a02:cf40::",
            22,
            6,
            49,
            8947,
            1755592533,
            1755592558,
        ),
        (
            "tgw-attach-0456efgh",
            "vpc-0abc1234",
            "vpc-0ghi9012",
            "eni-0ee5f66aa7bcc89d0",
            "eni-0aa1bb2cc3dd4ee5f",
            "NODATA",
            "175.16.199.0",
            56846,
            "67.43.156.0",
            80,
            17,
            45,
            9771,
            1755592543,
            1755592598,
        ),
        (
            "tgw-attach-0123abcd",
            "vpc-0abc1234",
            "vpc-0def5678",
            "eni-0ee5f66aa7bcc89d0",
            "eni-0dd4ee5f66aa7bcc8",
            "OK",
            "216.160.83.56",
            36721,
            "89.160.20.128",
            8080,
            17,
            13,
            6842,
            1755592553,
            1755592580,
        ),
        (
            "tgw-attach-0789ijkl",
            "vpc-0ghi9012",
            "vpc-0def5678",
            "eni-0aa1bb2cc3dd4ee5f",
            "eni-0bb2cc3dd4ee5f66",
            "SKIPDATA",
            "81.2.69.142",
            3147,
            "1.128.0.0",
            3389,
            17,
            48,
            5970,
            1755592563,
            1755592613,
        ),
        (
            "tgw-attach-0123abcd",
            "vpc-0jkl5678",
            "vpc-0jkl5678",
            "eni-0bb2cc3dd4ee5f66",
            "eni-0cc3dd4ee5f66aa7b",
            "SKIPDATA",
            "81.2.69.144",
            59410,
            "89.160.20.112",
            80,
            17,
            3,
            6949,
            1755592573,
            1755592617,
        ),
    ];
    assert_eq!(rows.len(), 5);
    for (row, e) in rows.iter().zip(expected) {
        let want = vec![
            json!(e.0),
            json!(e.1),
            json!(e.2),
            json!(e.3),
            json!(e.4),
            json!(e.5),
            json!(e.6),
            json!(e.7),
            json!(e.8),
            json!(e.9),
            json!(e.10),
            json!(e.11),
            json!(e.12),
            json!(e.13),
            json!(e.14),
            json!("748335378900"),
            Value::Null,
            Value::Null,
            json!("ingress"),
        ];
        assert_eq!(row, &want);
    }
    assert_eq!(
        duckdb(&tgw, "SELECT count(*), sum(bytes), count(packets_lost_blackhole), count(DISTINCT tgw_attachment_id) FROM {lake}"),
        vec![vec![json!(10), json!(63958), json!(0), json!(4)]]
    );
}

/// Packets lost, flows, first and last start of one (transit gateway, attachment, reason).
type Lost = (u64, u64, u64, u64);

#[test]
fn the_shipped_transit_gateway_queries_give_the_answers_computed_from_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    // AWS's default Transit Gateway format with a header: flows of two attachments losing packets.
    let header =
        "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id \
        tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id \
        tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr \
        srcport dstport protocol packets bytes start end log-status type packets-lost-no-route \
        packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region \
        flow-direction pkt-src-aws-service pkt-dst-aws-service";
    let mut text = format!("{header}\n");
    let mut lines = Vec::new();
    for i in 0..40u64 {
        let attach = ["tgw-attach-0aaa", "tgw-attach-0bbb"][(i % 2) as usize];
        let (src, dst) = [
            ("vpc-01", "vpc-02"),
            ("vpc-02", "vpc-03"),
            ("vpc-03", "vpc-01"),
        ][(i % 3) as usize];
        let lost = |k: u64| {
            if (i + k).is_multiple_of(4) {
                (i * k + 1).to_string()
            } else {
                "-".to_string()
            }
        };
        let line = format!(
            "6 TransitGateway 123456789012 tgw-0main {attach} 123456789012 210987654321 {src} {dst} \
             subnet-1 subnet-2 eni-1 eni-2 use1-az1 use1-az2 tgw-attach-0pair 10.0.{i}.1 10.1.0.{i} \
             {} 443 6 {} {} {} {} OK IPv4 {} {} {} {} 2 us-east-1 egress - -",
            1000 + i,
            i + 1,
            100 * (i + 1),
            1700000000 + i,
            1700000060 + i,
            lost(1),
            lost(2),
            lost(3),
            lost(4)
        );
        text.push_str(&line);
        text.push('\n');
        lines.push(line);
    }
    put(
        tmp.path(),
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0tgw_20231114T2210Z_eeee5555.log.gz"),
        &gzip(text.as_bytes()),
    );
    tgw_file(tmp.path(), "otel");
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, report) = convert(
        &[&tmp.path().join("in")],
        &vpc,
        &["--tgw-out", tgw.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(report["transit_gateway"]["rows_written"], 41);

    // Independently: the records as fields, the OTel record's counters added by hand (1 2 3 4).
    let names: Vec<&str> = header.split_whitespace().collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    let mut lost: BTreeMap<(String, String, String), Lost> = Default::default();
    let mut pairs: BTreeMap<(String, String), (u64, u64, u64)> = Default::default();
    let mut add_lost = |tgw: &str, attach: &str, reason: &str, n: u64, start: u64| {
        let e = lost
            .entry((tgw.into(), attach.into(), reason.into()))
            .or_insert((0, 0, u64::MAX, 0));
        *e = (e.0 + n, e.1 + 1, e.2.min(start), e.3.max(start));
    };
    for line in &lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let start: u64 = f[at("start")].parse().unwrap();
        for (field, reason) in [
            ("packets-lost-no-route", "no_route"),
            ("packets-lost-blackhole", "blackhole"),
            ("packets-lost-mtu-exceeded", "mtu_exceeded"),
            ("packets-lost-ttl-expired", "ttl_expired"),
        ] {
            if let Ok(n) = f[at(field)].parse::<u64>() {
                if n > 0 {
                    add_lost(
                        f[at("tgw-id")],
                        f[at("tgw-attachment-id")],
                        reason,
                        n,
                        start,
                    );
                }
            }
        }
        let e = pairs
            .entry((
                f[at("tgw-src-vpc-id")].into(),
                f[at("tgw-dst-vpc-id")].into(),
            ))
            .or_default();
        *e = (
            e.0 + f[at("bytes")].parse::<u64>().unwrap(),
            e.1 + f[at("packets")].parse::<u64>().unwrap(),
            e.2 + 1,
        );
    }
    for (reason, n) in [
        ("no_route", 1),
        ("blackhole", 2),
        ("mtu_exceeded", 3),
        ("ttl_expired", 4),
    ] {
        add_lost(
            "tgw-0abc12345def67890",
            "tgw-attach-0abc12345def67890",
            reason,
            n,
            1700000000,
        );
    }
    let e = pairs
        .entry((
            "vpc-0abc12345def67890".into(),
            "vpc-0def12345abc67890".into(),
        ))
        .or_default();
    *e = (e.0 + 1000, e.1 + 10, e.2 + 1);

    let mut want: Vec<Vec<String>> = lost
        .into_iter()
        .map(|((t, a, r), (n, flows, first, last))| {
            vec![
                t,
                a,
                r,
                n.to_string(),
                flows.to_string(),
                first.to_string(),
                last.to_string(),
            ]
        })
        .collect();
    want.sort_by(|x, y| {
        let n = |v: &Vec<String>| v[3].parse::<u64>().unwrap();
        n(y).cmp(&n(x)).then_with(|| x[..3].cmp(&y[..3]))
    });
    assert!(want.len() > 4);
    assert_eq!(query(&tgw, "tgw/packets_lost", &[]), want);

    let mut want: Vec<Vec<String>> = pairs
        .into_iter()
        .map(|((s, d), (bytes, packets, flows))| {
            vec![
                s,
                d,
                bytes.to_string(),
                packets.to_string(),
                flows.to_string(),
            ]
        })
        .collect();
    want.sort_by(|x, y| {
        let b = |v: &Vec<String>| v[2].parse::<u64>().unwrap();
        b(y).cmp(&b(x)).then_with(|| x[..2].cmp(&y[..2]))
    });
    assert_eq!(want.len(), 4);
    assert_eq!(query(&tgw, "tgw/top_talkers_between_vpcs", &[]), want);
}

#[test]
fn both_lakes_on_s3_from_inputs_on_s3() {
    let tmp = tempfile::tempdir().unwrap();
    tgw_file(tmp.path(), "tgw");
    vpc_file(tmp.path());
    let moto = crate::s3::Moto::start();
    for b in ["logs", "lake"] {
        moto.bucket(b);
    }
    moto.upload(&tmp.path().join("in"), "logs", "in");
    let convert = |extra: &[&str]| -> Value {
        let mut args = vec![
            "convert",
            "s3://logs/in",
            "--out",
            "s3://lake/vpc",
            "--tgw-out",
            "s3://lake/tgw",
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let out = moto.command(&args, &[]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = convert(&[]);
    assert_eq!(
        (
            &first["rows_written"],
            &first["transit_gateway"]["rows_written"]
        ),
        (&json!(2), &json!(1)),
        "{first}"
    );
    let again = convert(&[]);
    assert_eq!(
        (
            &again["rows_written"],
            &again["transit_gateway"]["rows_written"],
            &again["files_other_kind"]
        ),
        (&json!(0), &json!(0), &json!(1)),
        "{again}"
    );
    let local = tmp.path().join("tgw");
    moto.download("lake", "tgw", &local);
    assert_eq!(tgw_rows(&local), vec![otel_record()]);
}

#[test]
fn adding_tgw_out_later_converts_the_remembered_transit_gateway_files() {
    let tmp = tempfile::tempdir().unwrap();
    tgw_file(tmp.path(), "tgw");
    vpc_file(tmp.path());
    let input = tmp.path().join("in");
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, first) = convert(&[&input], &vpc, &[]);
    assert_eq!(r.code, 3, "{first}");
    // The VPC day is up to date: the Transit Gateway file comes from the VPC lake's memory.
    let (r, second) = convert(&[&input], &vpc, &["--tgw-out", tgw.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{second}");
    assert_eq!(
        (
            &second["files"],
            &second["partitions_unchanged"],
            &second["files_other_kind"]
        ),
        (&json!(0), &json!(1), &json!(1)),
        "{second}"
    );
    assert_eq!(second["skipped"], json!([]));
    assert_eq!(second["transit_gateway"]["rows_written"], 1, "{second}");
    assert_eq!(tgw_rows(&tgw), vec![otel_record()]);
    // The Transit Gateway file changes: its lake rebuilds the day, the VPC lake does not.
    let changed = std::fs::read_to_string(fixtures().join("samples/otel-tgw-v6-header.log"))
        .unwrap()
        .replace(" 1 2 3 4 ", " 5 6 7 8 ");
    let path = tgw_file(tmp.path(), "tgw");
    std::fs::write(&path, gzip(changed.as_bytes())).unwrap();
    let (r, third) = convert(&[&input], &vpc, &["--tgw-out", tgw.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{third}");
    assert_eq!(third["transit_gateway"]["rows_written"], 1, "{third}");
    assert_eq!(
        duckdb(
            &tgw,
            "SELECT packets_lost_no_route, packets_lost_ttl_expired FROM {lake}"
        ),
        vec![vec![json!(5), json!(8)]]
    );
    assert_eq!(duckdb_one(&vpc, "SELECT count(*) FROM {lake}"), json!(2));
}

#[test]
fn bad_transit_gateway_lines_are_rejects_named_by_column_and_accounted() {
    let tmp = tempfile::tempdir().unwrap();
    let header =
        "version tgw-id tgw-attachment-id srcaddr protocol packets-lost-blackhole start end";
    let mut text = format!("{header}\n").into_bytes();
    text.extend_from_slice(b"6 tgw-1 att-1 10.0.0.1 6 3 1700000000 1700000060\n");
    text.extend_from_slice(b"6 tgw-1 att-1 10.0.0.2 6 lots 1700000000 1700000060\n");
    text.extend_from_slice(b"6 tgw-\xff\xfe att-1 10.0.0.3 6 1 1700000000 1700000060\n");
    text.extend_from_slice(b"6 tgw-1 att-1 10.0.0.4 6 1 1700000000\n");
    text.extend_from_slice(b"6 tgw-1 att-1 10.0.0.5 6 -1 1700000000 1700000060\n");
    put(
        tmp.path(),
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0bad_20231114T2210Z_ffff6666.log.gz"),
        &gzip(&text),
    );
    // A header-only Transit Gateway file: no records, nothing lost.
    put(
        tmp.path(),
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0nil_20231114T2210Z_ffff7777.log.gz"),
        &gzip(format!("{header}\n").as_bytes()),
    );
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let tgw_s = tgw.to_str().unwrap();
    // Four rejects in five lines: the day is withheld (exit 4) unless the ratio allows it.
    let (r, report) = convert(&[&tmp.path().join("in")], &vpc, &["--tgw-out", tgw_s]);
    assert_eq!(r.code, 4, "{report}");
    assert_eq!(
        report["transit_gateway"]["rows_not_published"], 1,
        "{report}"
    );
    let allow = ["--tgw-out", tgw_s, "--max-reject-ratio", "1"];
    let (r, report) = convert(&[&tmp.path().join("in")], &vpc, &allow);
    assert_eq!(r.code, 3, "{report}");
    let t = &report["transit_gateway"];
    assert_eq!(
        (
            &t["files"],
            &t["lines_read"],
            &t["rows_written"],
            &t["rejected"]
        ),
        (&json!(2), &json!(5), &json!(1), &json!(4)),
        "{t}"
    );
    let rejects = t["rejects_file"].as_str().unwrap();
    let text = std::fs::read_to_string(rejects).unwrap();
    for column in ["packets_lost_blackhole", "tgw_id"] {
        assert!(text.contains(column), "{column}: {text}");
    }
    assert_eq!(
        duckdb(
            &tgw,
            "SELECT srcaddr, packets_lost_blackhole, protocol FROM {lake}"
        ),
        vec![vec![json!("10.0.0.1"), json!(3), json!(6)]]
    );
    assert_eq!(report["files"], 0, "the VPC lake read no record of them");
}

#[test]
fn generated_transit_gateway_deliveries_beside_vpc_ones_split_into_the_two_lakes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let common = [
        "--accounts",
        "2",
        "--days",
        "2",
        "--files-per-day",
        "3",
        "--lines-per-file",
        "150",
    ];
    generate(&input, &common);
    let mut tgw_args = common.to_vec();
    tgw_args.extend(["--format", "tgw"]);
    generate(&input, &tgw_args);
    // The same folders hold both kinds: 2 accounts x 2 days x 3 files of each.
    let files = walk(&input)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"));
    assert_eq!(files.count(), 24);
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, report) = convert(&[&input], &vpc, &["--tgw-out", tgw.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(
        (
            &report["files"],
            &report["rows_written"],
            &report["files_other_kind"]
        ),
        (&json!(12), &json!(1800), &json!(12))
    );
    let t = &report["transit_gateway"];
    assert_eq!(
        (&t["files"], &t["rows_written"], &t["partitions"]),
        (&json!(12), &json!(1800), &json!(4))
    );
    // Generated from the same interfaces and times, a flow of each kind per line: same sums.
    let sums = "SELECT count(*), sum(bytes), sum(packets), sum(start) FROM {lake}";
    assert_eq!(duckdb(&tgw, sums), duckdb(&vpc, sums));
    // Rejected flows are packets lost to a blackhole route.
    assert_eq!(
        duckdb_one(&tgw, "SELECT count(*) FROM {lake} WHERE packets_lost_blackhole > 0 AND packets_lost_blackhole <> packets"),
        json!(0)
    );
    assert!(
        duckdb_one(
            &tgw,
            "SELECT count(*) FROM {lake} WHERE packets_lost_blackhole > 0"
        )
        .as_u64()
        .unwrap()
            > 0
    );
    assert_eq!(
        duckdb_one(&tgw, "SELECT count(DISTINCT tgw_attachment_id) > 1 AND bool_and(resource_type = 'TransitGateway') FROM {lake}"),
        json!(true)
    );
}

#[test]
fn a_transit_gateway_file_with_a_byte_order_mark_and_crlf_lines_is_still_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.replace('\n', "\r\n").as_bytes());
    bytes.extend_from_slice(b"\r\n");
    put(
        tmp.path(),
        &format!("{DAY}/123456789012_vpcflowlogs_us-east-1_fl-0bom_20231114T2210Z_abab1212.log.gz"),
        &gzip(&bytes),
    );
    let (vpc, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (r, report) = convert(
        &[&tmp.path().join("in")],
        &vpc,
        &["--tgw-out", tgw.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{report}");
    assert_eq!(report["files_other_kind"], 1, "{report}");
    assert_eq!(tgw_rows(&tgw), vec![otel_record()]);
}
