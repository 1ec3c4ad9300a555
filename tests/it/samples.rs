//! Every real-format text sample in `fixtures/samples/` (copied from AWS docs, Elastic and
//! OpenTelemetry test data) converts, with its values checked in DuckDB.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

/// Converts one sample (placed in a dated folder) into its own lake; returns (exit code, report, lake).
fn convert_sample(name: &str, extra: &[&str]) -> (i32, Value, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("samples").join(name)).unwrap();
    put(tmp.path(), &format!("in/2024/01/02/{name}"), &bytes);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, extra);
    (run.code, report, lake, tmp)
}

fn rows(lake: &Path, columns: &str) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        &format!("SELECT {columns} FROM {{lake}} ORDER BY start NULLS FIRST, srcaddr NULLS FIRST"),
    )
}

#[test]
fn otel_v2_header_nodata() {
    let (code, report, lake, _t) = convert_sample("otel-v2-header-nodata.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["rows_written"], json!(1));
    assert_eq!(
        rows(&lake, "version, account_id, interface_id, srcaddr, dstport, packets, start, \"end\", action, log_status"),
        vec![vec![json!(2), json!("12345678910"), json!("eni-0eb1e4178af74336c"), Value::Null, Value::Null, Value::Null, json!(1742570089), json!(1742570142), Value::Null, json!("NODATA")]]
    );
}

#[test]
fn otel_v2_header_multi_without_final_newline() {
    let (code, report, lake, _t) = convert_sample("otel-v2-header-multi.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["rows_written"], json!(2));
    assert_eq!(
        rows(
            &lake,
            "srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, action"
        ),
        vec![
            vec![
                json!("172.31.16.139"),
                json!("172.31.16.21"),
                json!(20641),
                json!(22),
                json!(6),
                json!(20),
                json!(4249),
                json!("ACCEPT")
            ],
            vec![
                json!("172.31.9.69"),
                json!("172.31.9.12"),
                json!(49761),
                json!(3389),
                json!(6),
                json!(20),
                json!(4249),
                json!("REJECT")
            ],
        ]
    );
}

#[test]
fn otel_ecs_fields() {
    let (code, _, lake, _t) = convert_sample("otel-ecs-fields-header.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        rows(&lake, "version, ecs_cluster_arn, ecs_cluster_name, ecs_container_instance_id, ecs_container_id, ecs_second_container_id, ecs_service_name, ecs_task_definition_arn, ecs_task_id"),
        vec![vec![
            json!(5),
            json!("arn:aws:ecs:us-east-1:123456789012:cluster/my-cluster"),
            json!("my-cluster"),
            json!("abcdef1234567890"),
            json!("container-1"),
            json!("container-2"),
            json!("my-service"),
            json!("arn:aws:ecs:us-east-1:123456789012:task-definition/my-task:1"),
            json!("abcdef1234567890"),
        ]]
    );
}

// `otel-tgw-v6-header.log` and `otel-tgw-cwl-subscription.json`: see `tgw.rs`.

#[test]
fn beats_two_headers_blank_line_skipdata_nodata() {
    let (code, report, lake, _t) = convert_sample("beats-two-headers-skipdata-nodata.log", &[]);
    assert_eq!(
        code, 0,
        "a repeated header and a blank line are not rejects"
    );
    assert_eq!(report["header_lines"], json!(2));
    assert_eq!(report["blank_lines"], json!(1));
    assert_eq!(
        rows(&lake, "version, vpc_id, subnet_id, instance_id, interface_id, type, srcaddr, protocol, tcp_flags, action, log_status"),
        vec![
            vec![json!(3), json!("vpc-abcdefab012345678"), json!("subnet-aaaaaaaa012345678"), json!("i-01234567890123456"), json!("eni-1235b8ca123456789"), Value::Null, Value::Null, Value::Null, Value::Null, Value::Null, json!("SKIPDATA")],
            vec![json!(3), json!("vpc-abcdefab012345678"), json!("subnet-aaaaaaaa012345678"), json!("i-01234567890123456"), json!("eni-1235b8ca123456789"), Value::Null, Value::Null, Value::Null, Value::Null, Value::Null, json!("NODATA")],
        ]
    );
}

#[test]
fn beats_v7_ecs_blog_order() {
    let (code, _, lake, _t) = convert_sample("beats-v7-ecs-awsblog.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        rows(&lake, "account_id, protocol, packets, bytes, action, ecs_task_id, ecs_cluster_name, ecs_second_container_id, ecs_service_name"),
        vec![vec![json!("64111117617"), json!(17), json!(52), json!(1), json!("REJECT"), json!("b9ad2f8a90b24f7bbce4b0341034852f"), json!("DEMOGO-ECS"), Value::Null, json!("cats")]]
    );
}

#[test]
fn awsdocs_v5_service_and_traffic_path() {
    let (code, _, lake, _t) = convert_sample("awsdocs-v5-service-traffic-path.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        duckdb(&lake, "SELECT flow_direction, traffic_path, pkt_src_aws_service, pkt_dst_aws_service, tcp_flags, az_id, sublocation_type FROM {lake} ORDER BY flow_direction"),
        vec![
            vec![json!("egress"), json!(8), Value::Null, json!("S3"), json!(3), json!("apse2-az3"), Value::Null],
            vec![json!("ingress"), Value::Null, json!("S3"), Value::Null, json!(19), json!("apse2-az3"), Value::Null],
        ]
    );
}

#[test]
fn awsdocs_nat_gateway_format_without_version() {
    let (code, report, lake, _t) = convert_sample("awsdocs-custom-nat-gateway-no-version.log", &[]);
    assert_eq!(code, 0);
    assert_eq!(report["rows_written"], json!(4));
    assert_eq!(
        duckdb(&lake, "SELECT count(version), count(instance_id), count(*) FILTER (WHERE srcaddr <> pkt_srcaddr), min(pkt_dstaddr) FROM {lake}"),
        vec![vec![json!(0), json!(0), json!(1), json!("10.0.0.220")]]
    );
}

#[test]
fn integrations_headerless_v2_with_default_fields() {
    let (code, report, lake, _t) = convert_sample(
        "integrations-noheader-v2-ipv6-nodata-skipdata.log",
        &["--fields", "default"],
    );
    assert_eq!(code, 0);
    assert_eq!(report["rows_written"], json!(7));
    assert_eq!(
        duckdb(&lake, "SELECT count(*) FILTER (WHERE srcaddr LIKE '2001:db8:%'), count(*) FILTER (WHERE protocol = 1 AND srcport = 0 AND dstport = 0), count(*) FILTER (WHERE log_status = 'SKIPDATA'), sum(bytes) FROM {lake}"),
        vec![vec![json!(1), json!(2), json!(1), json!(8855 + 4249 + 4249 + 336 + 336)]]
    );
}

#[test]
fn integrations_headerless_v5_all_fields_format_string() {
    let format = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${vpc-id} ${subnet-id} ${instance-id} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${region} ${az-id} ${sublocation-type} ${sublocation-id} ${pkt-src-aws-service} ${pkt-dst-aws-service} ${flow-direction} ${traffic-path}";
    let (code, _, lake, _t) = convert_sample(
        "integrations-noheader-v5-all-fields.log",
        &["--fields", format],
    );
    assert_eq!(code, 0);
    assert_eq!(
        rows(&lake, "start, tcp_flags, pkt_dstaddr, region, az_id, pkt_src_aws_service, pkt_dst_aws_service, flow_direction, traffic_path"),
        vec![vec![json!(164000066), json!(1), json!("10.200.0.80"), json!("us-east-1"), json!("use1-az5"), json!("AMAZON"), json!("CLOUDFRONT"), json!("ingress"), json!(1)]]
    );
}

#[test]
fn headerless_without_fields_and_junk_lines_are_rejected_with_reasons() {
    let (code, report, lake, _t) = convert_sample("beats-bad.log", &["--fields", "default"]);
    assert_eq!(
        code, 4,
        "all lines rejected: the partition is past --max-reject-ratio"
    );
    assert_eq!(
        (report["lines_read"].clone(), report["rejected"].clone()),
        (json!(1), json!(1))
    );
    let rejects = report["rejects_file"].as_str().unwrap().to_string();
    let got = py(&format!(
        "import duckdb, json\nprint(json.dumps(duckdb.sql(\"SELECT file, line, \\\"offset\\\", kind, raw FROM read_json_auto('{rejects}')\").fetchall()))"
    ));
    let row = &got[0];
    assert!(row[0].as_str().unwrap().ends_with("beats-bad.log"));
    assert_eq!(
        (row[1].clone(), row[2].clone(), row[3].clone()),
        (json!(1), json!(0), json!("too_few_fields"))
    );
    assert_eq!(row[4], json!("Phony unsupported log format."));
    assert!(parquet_files(&lake).is_empty(), "no rows, no Parquet file");

    let (code, report, _, _t) =
        convert_sample("integrations-noheader-v2-ipv6-nodata-skipdata.log", &[]);
    assert_eq!(code, 4, "every line rejected: past --max-reject-ratio");
    assert_eq!(report["rejected"], json!(7));
    let (code, report, lake, _t) = convert_sample(
        "beats-bad.log",
        &["--fields", "default", "--max-reject-ratio", "1"],
    );
    assert_eq!(code, 3, "allowed rejects still make the exit code non-zero");
    assert_eq!(report["partitions"], json!(1));
    assert!(parquet_files(&lake).is_empty(), "no rows, no Parquet file");
}
