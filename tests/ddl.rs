//! `flowlake ddl`: the Athena table's columns and types equal the Parquet files' schema (both parsed:
//! the DDL text here, the footers by pyarrow), the partition keys and projection match the folders, and
//! DuckDB's view reads every row with the partition keys as strings.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::Value;

fn ddl(lake: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["ddl", lake.to_str().unwrap()];
    args.extend_from_slice(extra);
    flowlake(&args)
}

/// The `(name, type)` pairs of a parenthesised column list starting at `header` in Hive DDL.
fn parse_columns(sql: &str, header: &str) -> Vec<(String, String)> {
    let start = sql
        .find(header)
        .unwrap_or_else(|| panic!("no `{header}` in:\n{sql}"))
        + header.len();
    let body = &sql[start..];
    let end = body.find("\n)").expect("column list closes");
    body[..end]
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let name_end = l[1..].find('`').expect("quoted name") + 1;
            assert!(l.starts_with('`'), "name not quoted: {l}");
            (
                l[1..name_end].to_string(),
                l[name_end + 1..].trim().to_string(),
            )
        })
        .collect()
}

/// `projection.<key>.<prop>` value in the DDL.
fn property(sql: &str, name: &str) -> Option<String> {
    let needle = format!("'{name}' = '");
    let at = sql.find(&needle)? + needle.len();
    Some(sql[at..at + sql[at..].find('\'')?].to_string())
}

/// Every Parquet file's schema as `(name, Hive type)` from pyarrow's own type names; all must agree.
fn parquet_schema(lake: &Path) -> Vec<(String, String)> {
    let files: Vec<String> = parquet_files(lake)
        .iter()
        .filter(|p| !p.to_string_lossy().contains("/_flowlake/"))
        .map(|p| p.display().to_string())
        .collect();
    let script = format!(
        r#"
import json, pyarrow.parquet as pq
names = {{"int32": "int", "int64": "bigint", "string": "string"}}
def hive(t):
    s = str(t)
    if s.startswith("map<string, string"):
        return "map<string,string>"
    return names[s]
schemas = set()
for f in {files:?}:
    schemas.add(tuple((fld.name, hive(fld.type)) for fld in pq.read_schema(f)))
assert len(schemas) == 1, "files differ in schema"
print(json.dumps([list(c) for c in schemas.pop()]))
"#
    );
    match py(&script) {
        Value::Array(cols) => cols
            .into_iter()
            .map(|c| {
                (
                    c[0].as_str().unwrap().to_string(),
                    c[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
        other => panic!("{other}"),
    }
}

/// Hive keys of the partition folders holding Parquet files: the key names and each key's values.
fn folder_keys(lake: &Path) -> (Vec<String>, Vec<BTreeSet<String>>) {
    let mut names = Vec::new();
    let mut values: Vec<BTreeSet<String>> = Vec::new();
    for f in parquet_files(lake) {
        let rel = f.parent().unwrap().strip_prefix(lake).unwrap().to_owned();
        if rel.starts_with("_flowlake") {
            continue;
        }
        let pairs: Vec<(String, String)> = rel
            .iter()
            .map(|c| {
                let (k, v) = c.to_str().unwrap().split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        names = pairs.iter().map(|p| p.0.clone()).collect();
        values.resize(names.len(), BTreeSet::new());
        for (i, (_, v)) in pairs.into_iter().enumerate() {
            values[i].insert(v);
        }
    }
    (names, values)
}

#[test]
fn athena_columns_and_types_equal_the_parquet_schema_and_keys_the_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let run = ddl(
        &lake,
        &[
            "--location",
            "s3://my-bucket/flow-lake",
            "--table",
            "flows",
            "--database",
            "netlogs",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sql = run.stdout;
    assert!(sql.contains("CREATE EXTERNAL TABLE IF NOT EXISTS `netlogs`.`flows` ("));

    let columns = parse_columns(&sql, "`flows` (\n");
    let schema = parquet_schema(&lake);
    assert_eq!(columns, schema, "DDL columns vs Parquet schema");
    // The types AWS's own DDL gets wrong for Parquet, and the reserved word.
    let ty = |c: &str| columns.iter().find(|(n, _)| n == c).unwrap().1.clone();
    assert_eq!(ty("protocol"), "int");
    assert_eq!(ty("srcport"), "int");
    assert_eq!(ty("end"), "bigint");
    assert_eq!(ty("unknown_fields"), "map<string,string>");
    assert_eq!(columns.len(), 55);

    let keys = parse_columns(&sql, "PARTITIONED BY (\n");
    let (names, values) = folder_keys(&lake);
    assert_eq!(
        keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>(),
        names,
        "partition keys = folder keys"
    );
    assert_eq!(
        names,
        [
            "aws-account-id",
            "aws-service",
            "aws-region",
            "year",
            "month",
            "day"
        ]
    );
    assert!(keys.iter().all(|k| k.1 == "string"));

    // Projection: enums of exactly the values in the folders, zero-padded integer dates.
    let enum_values = |k: &str| property(&sql, &format!("projection.{k}.values")).unwrap();
    let joined = |i: usize| values[i].iter().cloned().collect::<Vec<_>>().join(",");
    assert_eq!(enum_values("aws-account-id"), joined(0));
    assert_eq!(enum_values("aws-account-id"), "662306410322,785763199333");
    assert_eq!(enum_values("aws-service"), "vpcflowlogs");
    assert_eq!(enum_values("aws-region"), joined(2));
    assert_eq!(property(&sql, "projection.enabled").unwrap(), "true");
    assert_eq!(property(&sql, "projection.year.type").unwrap(), "integer");
    let year_range = property(&sql, "projection.year.range").unwrap();
    let (first, last) = year_range.split_once(',').unwrap();
    assert_eq!(first, "2024");
    assert!(last.parse::<i32>().unwrap() >= 2031, "{year_range}");
    assert_eq!(property(&sql, "projection.month.range").unwrap(), "1,12");
    assert_eq!(property(&sql, "projection.month.digits").unwrap(), "2");
    assert_eq!(property(&sql, "projection.day.range").unwrap(), "1,31");
    assert_eq!(property(&sql, "projection.day.digits").unwrap(), "2");
    assert_eq!(
        property(&sql, "storage.location.template").unwrap(),
        "s3://my-bucket/flow-lake/aws-account-id=${aws-account-id}/aws-service=${aws-service}/\
         aws-region=${aws-region}/year=${year}/month=${month}/day=${day}/"
    );
    assert!(sql.contains("LOCATION 's3://my-bucket/flow-lake/'"));
    assert!(
        run.stderr.is_empty(),
        "no note for an s3 location: {}",
        run.stderr
    );
}

#[test]
fn hourly_hive_lake_gets_an_hour_key_and_duckdb_reads_it_through_the_view() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (_, report) = convert(&[&fixtures().join("hive")], &lake, &["--hourly"]);
    let rows = report["rows_written"].as_u64().unwrap();

    let athena = ddl(&lake, &[]);
    assert_eq!(athena.code, 0, "{}", athena.stderr);
    let keys = parse_columns(&athena.stdout, "PARTITIONED BY (\n");
    assert_eq!(keys.last().unwrap().0, "hour");
    assert_eq!(
        property(&athena.stdout, "projection.hour.range").unwrap(),
        "0,23"
    );
    assert_eq!(
        property(&athena.stdout, "projection.hour.digits").unwrap(),
        "2"
    );
    // No --location: the lake's own path, and a note that Athena needs s3://.
    let abs = std::fs::canonicalize(&lake).unwrap();
    assert!(athena
        .stdout
        .contains(&format!("LOCATION 'file://{}/'", abs.display())));
    assert!(athena.stderr.contains("--location s3://"));
    assert_eq!(
        parse_columns(&athena.stdout, "`vpc_flow_logs` (\n"),
        parquet_schema(&lake)
    );

    // DuckDB: the view reads every row, never the bookkeeping folder, with string partition keys.
    let duck = ddl(&lake, &["--engine", "duckdb"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    // A stray Parquet file under _flowlake/ (a crashed run's staging) must not be read.
    std::fs::create_dir_all(lake.join("_flowlake/staging/x")).unwrap();
    std::fs::copy(
        &parquet_files(&lake)[0],
        lake.join("_flowlake/staging/x/part-00000.parquet"),
    )
    .unwrap();
    let script = format!(
        r#"
import duckdb, json
con = duckdb.connect()
for stmt in {sql:?}.split(";\n"):
    if stmt.strip():
        con.execute(stmt)
r = con.execute('SELECT count(*), typeof(any_value(hour)), min(hour), typeof(any_value("aws-account-id")), sum(packets) FROM vpc_flow_logs').fetchone()
print(json.dumps([r[0], r[1], r[2], r[3], int(r[4])]))
"#,
        sql = duck.stdout
    );
    let got = py(&script);
    assert_eq!(got[0].as_u64().unwrap(), rows);
    assert_eq!(got[1], "VARCHAR");
    assert_eq!(got[2].as_str().unwrap().len(), 2, "zero-padded hour string");
    assert_eq!(got[3], "VARCHAR");
    let records = reference_records(
        &walk(&fixtures().join("hive"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".gz"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(got[4].as_i64().unwrap(), ref_sum(&records, "packets"));
}

#[test]
fn folders_that_are_not_hive_partitions_or_disagree_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let file = parquet_files(&lake)
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("_flowlake"))
        .unwrap();

    // AWS's plain (non-Hive) hourly folders cannot become Hive partitions.
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(plain.join("2024/03/09/05")).unwrap();
    std::fs::copy(&file, plain.join("2024/03/09/05/a.log.parquet")).unwrap();
    let run = ddl(&plain, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("2024/03/09/05"), "{}", run.stderr);
    assert!(run.stderr.contains("key=value"), "{}", run.stderr);

    // Two layouts in one lake.
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(mixed.join("year=2024/month=03/day=09")).unwrap();
    std::fs::create_dir_all(mixed.join("year=2024/month=03/day=10/hour=01")).unwrap();
    std::fs::copy(&file, mixed.join("year=2024/month=03/day=09/a.parquet")).unwrap();
    std::fs::copy(
        &file,
        mixed.join("year=2024/month=03/day=10/hour=01/a.parquet"),
    )
    .unwrap();
    let run = ddl(&mixed, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("mixes partition layouts"),
        "{}",
        run.stderr
    );

    // A column whose type differs between files: named with both files.
    let conflict = tmp.path().join("conflict");
    let day = conflict.join("year=2024/month=03/day=09");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::copy(&file, day.join("a.parquet")).unwrap();
    py(&format!(
        r#"
import pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({{"protocol": pa.array([6], pa.int64())}}), {:?})
print(1)
"#,
        day.join("b.parquet").display().to_string()
    ));
    let run = ddl(&conflict, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("b.parquet") && run.stderr.contains("`protocol` is bigint"),
        "{}",
        run.stderr
    );

    // An empty lake.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = ddl(&empty, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no Parquet files"), "{}", run.stderr);
}
