//! End-to-end `convert` tests: the real binary on the committed fixtures and on generated input, the
//! lake read back by DuckDB and pyarrow, every figure checked against the input text.

use crate::common::*;
use serde_json::json;

const INT_FIELDS: [(&str, &str); 9] = [
    ("version", "version"),
    ("srcport", "srcport"),
    ("dstport", "dstport"),
    ("protocol", "protocol"),
    ("packets", "packets"),
    ("bytes", "bytes"),
    ("start", "start"),
    ("end", "\"end\""),
    ("traffic-path", "traffic_path"),
];

#[test]
fn aws_layout_fixture_round_trips_through_duckdb() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("aws");
    let (run, report) = convert(&[&input], &lake, &[]);
    assert_eq!(run.code, 0, "clean run: {}", run.stderr);

    let inputs: Vec<_> = walk(&input)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
        .collect();
    let records = reference_records(&inputs);
    assert_eq!(records.len(), 6000);
    assert_eq!(report["files"], json!(inputs.len()));
    assert_eq!(report["lines_read"], json!(6000));
    assert_eq!(report["rows_written"], json!(6000));
    assert_eq!(report["rejected"], json!(0));
    assert_eq!(report["header_lines"], json!(inputs.len()));
    // 2 accounts x 2 days, each partition holding the v2 and the v5 flow log's files.
    assert_eq!(report["partitions"], json!(4));
    assert_eq!(report["output_files"], json!(4));

    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(6000)
    );
    for (field, column) in INT_FIELDS {
        let got = duckdb_one(
            &lake,
            &format!("SELECT coalesce(sum({column}), 0)::BIGINT FROM {{lake}}"),
        );
        assert_eq!(got, json!(ref_sum(&records, field)), "sum of {column}");
        let nulls = duckdb_one(
            &lake,
            &format!("SELECT count(*) - count({column}) FROM {{lake}}"),
        );
        assert_eq!(
            nulls,
            json!(ref_nulls(&records, field)),
            "NULLs of {column}"
        );
    }
    for (field, column) in [
        ("srcaddr", "srcaddr"),
        ("action", "action"),
        ("vpc-id", "vpc_id"),
        ("flow-direction", "flow_direction"),
    ] {
        let nulls = duckdb_one(
            &lake,
            &format!("SELECT count(*) - count({column}) FROM {{lake}}"),
        );
        assert_eq!(
            nulls,
            json!(ref_nulls(&records, field)),
            "NULLs of {column}"
        );
    }
    // NODATA/SKIPDATA lines carry `-` for addresses: they must be NULL, never the string "-".
    assert_eq!(
        duckdb_one(
            &lake,
            "SELECT count(*) FROM {lake} WHERE srcaddr = '-' OR action = '-'"
        ),
        json!(0)
    );
    let nodata = records
        .iter()
        .filter(|r| r["log-status"] == "NODATA")
        .count();
    assert!(nodata > 0);
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake} WHERE log_status = 'NODATA' AND srcaddr IS NULL AND packets IS NULL"),
        json!(nodata)
    );
    // Partition values and row counts equal those of the input paths.
    let mut expected: Vec<Vec<serde_json::Value>> = Vec::new();
    for f in &inputs {
        let p = f.to_string_lossy();
        let after = &p[p.find("AWSLogs/").unwrap() + 8..];
        let parts: Vec<&str> = after.split('/').collect();
        let key = vec![
            json!(parts[0]),
            json!(parts[2]),
            json!(format!("{}-{}-{}", parts[3], parts[4], parts[5])),
        ];
        let n = reference_records(std::slice::from_ref(f)).len() as u64;
        match expected.iter_mut().find(|e| e[..3] == key[..]) {
            Some(e) => e[3] = json!(e[3].as_u64().unwrap() + n),
            None => expected.push([key, vec![json!(n)]].concat()),
        }
    }
    expected.sort_by_key(|e| e.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    let got = duckdb(
        &lake,
        "SELECT \"aws-account-id\"::VARCHAR, \"aws-region\", printf('%04d-%02d-%02d', year::INT, month::INT, day::INT), count(*) \
         FROM {lake} WHERE \"aws-service\" = 'vpcflowlogs' GROUP BY ALL ORDER BY 1, 2, 3",
    );
    assert_eq!(got, expected);
    // account_id column matches the folder's account except for AWS-service ENIs ("unknown").
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake} WHERE account_id <> \"aws-account-id\"::VARCHAR AND account_id <> 'unknown'"),
        json!(0)
    );
}

#[test]
fn every_file_has_the_same_aws_parquet_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(
        &[&fixtures().join("aws"), &fixtures().join("samples")],
        &lake,
        &[],
    );
    let files = parquet_files(&lake);
    assert!(files.len() >= 4);
    let script = format!(
        r#"
import json, pyarrow.parquet as pq
files = {files:?}
out = {{"schemas": set(), "physical": {{}}, "compression": set(), "stats": True, "page_index": True, "logical": {{}}, "encodings": {{}}}}
for f in files:
    pf = pq.ParquetFile(f)
    out["schemas"].add(str(pf.schema_arrow))
    md = pf.metadata
    for i in range(md.num_columns):
        col = md.schema.column(i)
        out["physical"][col.path] = col.physical_type
        out["logical"][col.path] = str(col.logical_type)
    for rg in range(md.num_row_groups):
        for i in range(md.num_columns):
            c = md.row_group(rg).column(i)
            out["compression"].add(c.compression)
            if c.num_values > c.statistics.null_count:
                out["encodings"].setdefault(c.path_in_schema, set()).update(c.encodings)
            out["stats"] = out["stats"] and c.is_stats_set
            out["page_index"] = out["page_index"] and c.has_offset_index and c.has_column_index
out["schemas"] = len(out["schemas"])
out["compression"] = sorted(out["compression"])
out["encodings"] = {{k: sorted(v) for k, v in out["encodings"].items()}}
print(json.dumps(out))
"#,
        files = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
    );
    let got = py(&script);
    assert_eq!(got["schemas"], json!(1), "one schema across all files");
    assert_eq!(got["compression"], json!(["ZSTD"]));
    assert_eq!(got["stats"], json!(true));
    assert_eq!(got["page_index"], json!(true));
    // Encodings chosen per column (benches/README.md): dictionaries, plain ports, delta timestamps.
    let encodings = &got["encodings"];
    for c in ["srcaddr", "interface_id", "action", "protocol", "packets"] {
        assert_eq!(
            encodings[c],
            json!(["PLAIN", "RLE", "RLE_DICTIONARY"]),
            "{c}"
        );
    }
    for c in ["srcport", "dstport"] {
        assert_eq!(encodings[c], json!(["PLAIN", "RLE"]), "{c}");
    }
    for c in ["start", "end"] {
        assert_eq!(encodings[c], json!(["DELTA_BINARY_PACKED", "RLE"]), "{c}");
    }
    let physical = &got["physical"];
    for c in [
        "version",
        "srcport",
        "dstport",
        "protocol",
        "tcp_flags",
        "traffic_path",
        "encryption_status",
    ] {
        assert_eq!(physical[c], json!("INT32"), "{c}");
    }
    for c in ["packets", "bytes", "start", "end"] {
        assert_eq!(physical[c], json!("INT64"), "{c}");
    }
    for c in [
        "account_id",
        "interface_id",
        "srcaddr",
        "log_status",
        "ecs_task_arn",
        "next_hop_interface_type",
    ] {
        assert_eq!(physical[c], json!("BYTE_ARRAY"), "{c}");
        assert_eq!(got["logical"][c], json!("String"), "{c}");
    }
    assert_eq!(
        physical["unknown_fields.key_value.key"],
        json!("BYTE_ARRAY")
    );
    // DuckDB: SELECT * over the whole lake with no options, columns in AWS's order.
    let cols = duckdb(
        &lake,
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {lake}) LIMIT 14",
    );
    let names: Vec<&str> = cols.iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(
        names.join(" "),
        "version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status"
    );
    assert_eq!(cols[7][1], json!("INTEGER"));
    assert_eq!(cols[8][1], json!("BIGINT"));
}

#[test]
fn hive_hourly_input_keeps_hours_and_hive_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("hive");
    let (run, report) = convert(&[&input], &lake, &["--hourly"]);
    assert_eq!(run.code, 0);
    assert_eq!(report["rows_written"], json!(600));
    let dirs: Vec<String> = parquet_files(&lake)
        .iter()
        .map(|p| {
            p.parent()
                .unwrap()
                .strip_prefix(&lake)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(dirs.len(), 4);
    for d in &dirs {
        assert!(d.starts_with("aws-account-id=317312077346/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=03/day=10/hour="), "{d}");
    }
    let hours = duckdb(
        &lake,
        "SELECT hour::VARCHAR, count(*) FROM {lake} GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        hours,
        vec![
            vec![json!("00"), json!(150)],
            vec![json!("06"), json!(150)],
            vec![json!("12"), json!(150)],
            vec![json!("18"), json!(150)]
        ]
    );
    // Without --hourly the same input lands in one day partition; --partition-layout plain drops the AWS keys.
    let plain = tmp.path().join("plain");
    let (_, report) = convert(&[&input], &plain, &["--partition-layout", "plain"]);
    assert_eq!(report["partitions"], json!(1));
    let files = parquet_files(&plain);
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with(plain.join("year=2024/month=03/day=10")));
}

#[test]
fn files_roll_at_the_target_size_with_deterministic_names() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--seed",
            "3",
            "--files-per-day",
            "6",
            "--lines-per-file",
            "20000",
        ],
    );
    let lake = tmp.path().join("lake");
    let args = [
        "--target-file-size",
        "512KiB",
        "--row-group-rows",
        "16384",
        "--read-ahead",
        "64KiB",
    ];
    let (_, report) = convert(&[&input], &lake, &args);
    assert_eq!(report["rows_written"], json!(120_000));
    let files = parquet_files(&lake);
    assert!(
        files.len() >= 3,
        "expected several files, got {}",
        files.len()
    );
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<String> = (0..files.len())
        .map(|i| format!("part-{i:05}.parquet"))
        .collect();
    assert_eq!(names, expected);
    let target = 512 * 1024u64;
    for f in &files[..files.len() - 1] {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(
            size >= target && size < target * 3 / 2,
            "{} is {size} bytes for a {target}-byte target",
            f.display()
        );
    }
    let per_file = py(&format!(
        "import json, pyarrow.parquet as pq\nprint(json.dumps([[pq.ParquetFile(f).metadata.num_rows, pq.ParquetFile(f).metadata.num_row_groups] for f in {:?}]))",
        files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()
    ));
    let rows: u64 = per_file
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap())
        .sum();
    assert_eq!(rows, 120_000);
    for r in per_file.as_array().unwrap() {
        assert!(r[1].as_u64().unwrap() >= 1);
    }
    // Nothing is left in staging, and a rebuild from the same input writes the same bytes.
    assert!(parquet_files(&lake.join("_flowlake")).is_empty());
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let (_, again) = convert(&[&input], &lake, &[&args[..], &["--rebuild"]].concat());
    assert_eq!(
        again["partitions"],
        json!(1),
        "--rebuild rewrote the partition"
    );
    let after: Vec<Vec<u8>> = parquet_files(&lake)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(before == after, "rerun produced different files");
}

#[test]
fn date_range_limits_the_walk() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--start",
            "2024-02-27",
            "--days",
            "4",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "10",
        ],
    );
    let lake = tmp.path().join("lake");
    let (_, report) = convert(
        &[&input],
        &lake,
        &["--from", "2024-02-28", "--to", "2024-02-29"],
    );
    assert_eq!(report["files"], json!(4));
    assert_eq!(report["rows_written"], json!(40));
    let days = duckdb(
        &lake,
        "SELECT DISTINCT month::VARCHAR || '-' || day::VARCHAR FROM {lake} ORDER BY 1",
    );
    assert_eq!(days, vec![vec![json!("02-28")], vec![json!("02-29")]]);
    // A day folder given directly is its own root.
    let one_day = input.join("AWSLogs");
    let day_dir = walk(&one_day)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/2024/03/01/"))
        .unwrap();
    let lake2 = tmp.path().join("lake2");
    let (_, report) = convert(&[day_dir.parent().unwrap()], &lake2, &[]);
    assert_eq!(report["files"], json!(2));
    assert_eq!(report["partitions"], json!(1));
    assert!(parquet_files(&lake2)[0]
        .to_string_lossy()
        .contains("/year=2024/month=03/day=01/"));
}

#[test]
fn usage_errors_exit_2_and_bad_values_name_the_flag() {
    let run = flowlake(["convert", "--out", "x"]);
    assert_eq!(run.code, 2);
    let run = flowlake([
        "convert",
        "in",
        "--out",
        "x",
        "--target-file-size",
        "12parsecs",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--target-file-size"), "{}", run.stderr);
    let run = flowlake(["convert", "in", "--out", "x", "--from", "2024-13-01"]);
    assert_eq!(run.code, 2);
    let tmp = tempfile::tempdir().unwrap();
    let run = flowlake([
        "convert",
        tmp.path().join("missing").to_str().unwrap(),
        "--out",
        tmp.path().join("lake").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    let run = flowlake(["convert", "in", "--out", "x", "--fields", "srcaddr srcaddr"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--fields"), "{}", run.stderr);
}

#[test]
fn the_tests_header_is_the_catalogues_default_format() {
    assert_eq!(
        HEADER.strip_suffix('\n'),
        Some(flowlake::lake::schema::DEFAULT_FORMAT)
    );
}

/// Partitions are built two at a time; the report still lists them, and each one's files, in the
/// order of a one-at-a-time run, and its counts add up to what the lake holds.
#[test]
fn partitions_built_side_by_side_report_in_order_and_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--accounts",
            "3",
            "--days",
            "3",
            "--files-per-day",
            "4",
            "--lines-per-file",
            "2000",
        ],
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&input], &lake, &["--threads", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions"], json!(9));
    assert_eq!(report["files"], json!(36));
    assert_eq!(report["rows_written"], json!(3 * 3 * 4 * 2000));
    let partitions: Vec<String> = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = partitions.clone();
    sorted.sort();
    assert_eq!(partitions, sorted, "partitions in build order");
    let rows: u64 = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, 3 * 3 * 4 * 2000);
    // Each partition's files together, partitions in the same order as above.
    let mut seen: Vec<String> = Vec::new();
    for f in report["file_details"].as_array().unwrap() {
        let p = f["partition"].as_str().unwrap().to_string();
        if seen.last() != Some(&p) {
            assert!(!seen.contains(&p), "{p}: its files are not together");
            seen.push(p);
        }
    }
    assert_eq!(seen, partitions);
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(3 * 3 * 4 * 2000)
    );
    assert_eq!(verify(&lake).0, 0);
}

/// The string columns are written by the lake's own dictionary writer (`src/lake/strings.rs`): a
/// column whose dictionary outgrows its page (every source address distinct) goes on in PLAIN pages,
/// and values longer than the statistics limit (ECS ARNs) get truncated bounds. Every reader must
/// still see every value, and filters that prune by those statistics must still find every row.
#[test]
fn string_columns_past_the_dictionary_limit_and_long_values_read_back_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = 120_000;
    let arn = |i: usize| {
        format!("arn:aws:ecs:us-east-1:123456789012:task/a-cluster-with-a-long-name/{i:032x}")
    };
    let mut text = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status ecs-task-arn\n",
    );
    for i in 0..rows {
        let task = if i % 7 == 0 {
            "-".to_string()
        } else {
            arn(i % 50)
        };
        text.push_str(&format!(
            "5 123456789012 eni-{:017x} 10.{}.{}.{} 172.16.0.{} 443 {} 6 1 40 1700000000 1700000060 ACCEPT OK {task}\n",
            i % 3,
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            i % 20,
            1024 + i % 50000,
        ));
    }
    let input = put(
        tmp.path(),
        "in/2023/11/14/123456789012_vpcflowlogs_us-east-1_fl-1_20231114T2200Z_abcd.log.gz",
        &gzip(text.as_bytes()),
    );
    let lake = tmp.path().join("lake");
    convert(&[&input], &lake, &[]);

    let addr = |i: usize| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
    let addrs: Vec<String> = (0..rows).map(addr).collect();
    let counts = &duckdb(
        &lake,
        "SELECT count(*), count(DISTINCT srcaddr), min(srcaddr), max(srcaddr), count(ecs_task_arn), \
         count(DISTINCT ecs_task_arn), max(ecs_task_arn) FROM {lake}",
    )[0];
    assert_eq!(counts[0], json!(rows));
    assert_eq!(counts[1], json!(rows));
    assert_eq!(counts[2], json!(addrs.iter().min()));
    assert_eq!(counts[3], json!(addrs.iter().max()));
    assert_eq!(counts[4], json!(rows - rows.div_ceil(7)));
    assert_eq!(counts[5], json!(50));
    assert_eq!(counts[6], json!(arn(49)));
    // The chunk statistics readers prune by: exact for the addresses, cut to 64 bytes for the ARNs (the
    // maximum's last byte incremented so it stays above every value with that prefix).
    let stats = duckdb(
        &lake,
        "SELECT path_in_schema, stats_min_value, stats_max_value, stats_null_count, num_values \
         FROM parquet_metadata('{files}') WHERE path_in_schema IN ('srcaddr', 'ecs_task_arn') \
         ORDER BY path_in_schema"
            .replace("{files}", &format!("{}/**/*.parquet", lake.display()))
            .as_str(),
    );
    let mut arn_max = arn(49).into_bytes()[..64].to_vec();
    *arn_max.last_mut().unwrap() += 1;
    assert_eq!(
        stats,
        vec![
            vec![
                json!("ecs_task_arn"),
                json!(&arn(0)[..64]),
                json!(String::from_utf8(arn_max).unwrap()),
                json!(rows.div_ceil(7)),
                json!(rows)
            ],
            vec![
                json!("srcaddr"),
                json!(addrs.iter().min()),
                json!(addrs.iter().max()),
                json!(0),
                json!(rows)
            ],
        ]
    );
    // Lookups that DuckDB prunes by min/max: rows late in the file (PLAIN pages), ranges, and the
    // largest and smallest long values (truncated bounds).
    let tasks = |k: usize| (0..rows).filter(|i| i % 7 != 0 && i % 50 == k).count();
    let above = |bound: &str| addrs.iter().filter(|a| a.as_str() > bound).count();
    for (filter, want) in [
        ("srcaddr = '10.1.212.159'".to_string(), 1),
        ("srcaddr = '10.0.0.1'".to_string(), 1),
        ("srcaddr > '10.1.9'".to_string(), above("10.1.9")),
        ("srcaddr > '10.0.255.3'".to_string(), above("10.0.255.3")),
        (format!("ecs_task_arn = '{}'", arn(49)), tasks(49)),
        (format!("ecs_task_arn = '{}'", arn(0)), tasks(0)),
        (
            format!("ecs_task_arn >= '{}'", arn(48)),
            tasks(48) + tasks(49),
        ),
    ] {
        assert_eq!(
            duckdb_one(
                &lake,
                &format!("SELECT count(*) FROM {{lake}} WHERE {filter}")
            ),
            json!(want),
            "{filter}"
        );
    }
    // pyarrow reads every value of both columns, and a filtered dataset read agrees.
    let files = parquet_files(&lake);
    let got = py(&format!(
        r#"
import json, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table({files:?}, columns=["srcaddr", "ecs_task_arn"])
f = pq.read_table({files:?}, columns=["srcaddr"], filters=[("srcaddr", "=", "10.1.212.159")])
g = pq.read_table({files:?}, columns=["ecs_task_arn"], filters=[("ecs_task_arn", "=", {last:?})])
print(json.dumps([t.num_rows, len(pc.unique(t["srcaddr"])), t["ecs_task_arn"].null_count, f.num_rows, g.num_rows]))
"#,
        files = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>(),
        last = arn(49),
    ));
    assert_eq!(got, json!([rows, rows, rows.div_ceil(7), 1, tasks(49)]));
}

/// `--bloom-filter` puts a Parquet Bloom filter on the named string columns of every row group (and
/// only on those), which DuckDB reads to skip row groups; `compact` writes them the same way; a column
/// that is not a string is refused on both.
#[test]
fn bloom_filters_on_the_named_columns_are_used_by_duckdb_and_written_by_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(
        &[&fixtures().join("aws")],
        &lake,
        &["--bloom-filter", "srcaddr,interface-id"],
    );
    let glob = format!("{}/**/*.parquet", lake.display());
    let with_filters = |lake_glob: &str| {
        duckdb(
            &lake,
            &format!(
                "SELECT path_in_schema, count(*), count(bloom_filter_offset) FROM parquet_metadata('{lake_glob}') \
                 WHERE path_in_schema IN ('srcaddr', 'dstaddr', 'interface_id') GROUP BY 1 ORDER BY 1"
            ),
        )
    };
    let chunks = with_filters(&glob);
    let row_groups = chunks[0][1].clone();
    assert_eq!(
        chunks,
        vec![
            vec![json!("dstaddr"), row_groups.clone(), json!(0)],
            vec![
                json!("interface_id"),
                row_groups.clone(),
                row_groups.clone()
            ],
            vec![json!("srcaddr"), row_groups.clone(), row_groups.clone()],
        ]
    );
    // Every row group holding an address says it may; an address in no row group is excluded by
    // every filter (the hash is fixed, so this is deterministic).
    let present = duckdb_one(
        &lake,
        "SELECT srcaddr FROM {lake} WHERE srcaddr IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let present = present.as_str().unwrap();
    let absent = "198.51.100.77";
    assert_eq!(
        duckdb_one(
            &lake,
            &format!("SELECT count(*) FROM {{lake}} WHERE srcaddr = '{absent}'")
        ),
        json!(0)
    );
    let probe = |value: &str| {
        duckdb(
            &lake,
            &format!(
                "SELECT p.file_name, p.row_group_id, p.bloom_filter_excludes, coalesce(c.n, 0) \
                 FROM parquet_bloom_probe('{glob}', 'srcaddr', '{value}') p LEFT JOIN \
                 (SELECT filename, count(*) AS n FROM read_parquet('{glob}', filename = true) \
                  WHERE srcaddr = '{value}' GROUP BY 1) c ON c.filename = p.file_name"
            ),
        )
    };
    let rows = probe(present);
    assert!(rows.iter().any(|row| row[3].as_i64().unwrap() > 0));
    for row in rows {
        // One row group per fixture file: a file holding the address must not be excluded.
        if row[3].as_i64().unwrap() > 0 {
            assert_eq!(row[2], json!(false), "{row:?}");
        }
    }
    assert!(probe(absent).iter().all(|row| row[2] == json!(true)));

    // compact rewrites the partitions' small files with the filters it is told to write.
    convert(
        &[&fixtures().join("aws")],
        &lake,
        &[
            "--rebuild",
            "--target-file-size",
            "1KiB",
            "--row-group-rows",
            "8",
        ],
    );
    let run = flowlake([
        "compact",
        lake.to_str().unwrap(),
        "--min-files",
        "2",
        "--bloom-filter",
        "dstaddr",
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let chunks = with_filters(&glob);
    assert_eq!(chunks[0][0], json!("dstaddr"));
    assert_eq!(
        chunks[0][1], chunks[0][2],
        "every dstaddr chunk has a filter: {chunks:?}"
    );
    assert_eq!(
        chunks[2][2],
        json!(0),
        "srcaddr has none after compact: {chunks:?}"
    );

    for command in ["convert", "compact"] {
        let input = fixtures().join("aws");
        let mut args = vec![command];
        if command == "convert" {
            args.extend([input.to_str().unwrap(), "--out"]);
        }
        args.extend([lake.to_str().unwrap(), "--bloom-filter", "packets"]);
        let run = flowlake(&args);
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(
            run.stderr.contains("packets is not a string column"),
            "{}",
            run.stderr
        );
    }

    // By default both addresses get a filter, nothing else does.
    let plain = tmp.path().join("default");
    convert(&[&fixtures().join("aws")], &plain, &[]);
    let chunks = duckdb(
        &plain,
        &format!(
            "SELECT path_in_schema, count(*) = count(bloom_filter_offset) FROM parquet_metadata('{}/**/*.parquet') \
             WHERE bloom_filter_offset IS NOT NULL OR path_in_schema = 'srcaddr' GROUP BY 1 ORDER BY 1",
            plain.display()
        ),
    );
    assert_eq!(
        chunks,
        vec![
            vec![json!("dstaddr"), json!(true)],
            vec![json!("srcaddr"), json!(true)]
        ]
    );
}
