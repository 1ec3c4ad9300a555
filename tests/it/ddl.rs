//! `flowlake ddl`: the Athena table's columns and types equal the Parquet files' schema (both parsed:
//! the DDL text here, the footers by pyarrow), the partition keys and projection match the folders, and
//! DuckDB's view reads every row with the partition keys as strings.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;
use proptest::prelude::*;
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

/// A lake stored under folders named like partitions (`.../year=1999/env=prod/lake`): DuckDB's
/// `hive_partitioning` would read `year` from the first `year=` of the path and add an `env` column;
/// the view reads the keys from the lake's own folders, prunes files by them, and adds nothing.
#[test]
fn duckdb_view_ignores_key_value_folders_above_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("year=1999/env=prod/month=13/lake");
    let (_, report) = convert(
        &[&fixtures().join("hive"), &fixtures().join("aws")],
        &lake,
        &[],
    );
    let rows = report["rows_written"].as_u64().unwrap();
    let (keys, values) = folder_keys(&lake);
    let years = &values[keys.iter().position(|k| k == "year").unwrap()];
    let duck = ddl(&lake, &["--engine", "duckdb"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    let script = format!(
        r#"
import duckdb, json
con = duckdb.connect()
for stmt in {sql:?}.split(";\n"):
    if stmt.strip():
        con.execute(stmt)
cols = [r[0] for r in con.execute('DESCRIBE vpc_flow_logs').fetchall()]
years = sorted(r[0] for r in con.execute('SELECT DISTINCT year FROM vpc_flow_logs').fetchall())
months = sorted(r[0] for r in con.execute('SELECT DISTINCT month FROM vpc_flow_logs').fetchall())
n = con.execute('SELECT count(*) FROM vpc_flow_logs').fetchone()[0]
y = years[0]
one = con.execute("SELECT count(*) FROM vpc_flow_logs WHERE year = ?", [y]).fetchone()[0]
plan = con.execute("EXPLAIN ANALYZE SELECT count(*) FROM vpc_flow_logs WHERE year = '1999'").fetchall()[0][1]
days = sorted(r[0] for r in con.execute('SELECT DISTINCT day FROM vpc_flow_logs').fetchall())
files = con.execute("SELECT count(DISTINCT flowlake_file) FROM read_parquet(?, filename = 'flowlake_file')",
                    [{glob:?}]).fetchone()[0]
read = con.execute("EXPLAIN ANALYZE SELECT count(*) FROM vpc_flow_logs WHERE day = ?", [days[0]]).fetchall()[0][1]
wanted = con.execute("SELECT count(DISTINCT flowlake_file) FROM read_parquet(?, filename = 'flowlake_file') "
                     "WHERE flowlake_file LIKE ?", [{glob:?}, '%/day=' + days[0] + '/%']).fetchone()[0]
print(json.dumps({{"cols": cols, "years": years, "months": months, "rows": n, "one": one,
                   "pruned": "Total Files Read: 0" in plan,
                   "files": files, "day_files": wanted,
                   "day_read": "Total Files Read: " + str(wanted) in read}}))
"#,
        sql = duck.stdout,
        glob = format!("{}/**/*.parquet", lake.display())
    );
    let got = py(&script);
    let cols: Vec<&str> = got["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        !cols.contains(&"env"),
        "a column from above the lake: {cols:?}"
    );
    assert_eq!(cols.iter().filter(|c| **c == "year").count(), 1, "{cols:?}");
    assert_eq!(cols[cols.len() - 3..], ["year", "month", "day"], "{cols:?}");
    let got_years: BTreeSet<String> = got["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(&got_years, years, "the lake's own year folders");
    assert!(
        !got["months"].to_string().contains("13"),
        "{}",
        got["months"]
    );
    assert_eq!(got["rows"].as_u64().unwrap(), rows);
    assert!(got["one"].as_u64().unwrap() > 0);
    assert_eq!(got["pruned"], true, "a key filter prunes files");
    // A value that exists reads exactly the files of its folders.
    assert!(
        got["day_files"].as_u64().unwrap() < got["files"].as_u64().unwrap(),
        "{got}"
    );
    assert_eq!(got["day_read"], true, "{got}");
}

/// A Hive lake flowlake did not write: ten partition keys (DuckDB numbers regex groups up to 9) and a
/// column named `filename` (the name `read_parquet` gives a file's path by default). The view reads
/// every key and keeps the column.
#[test]
fn duckdb_view_reads_ten_keys_and_a_filename_column() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let script = format!(
        r#"
import duckdb, os
con = duckdb.connect()
for n in (1, 2):
    d = os.path.join({lake:?}, *[f"k{{i}}=v{{n}}{{i}}" for i in range(10)])
    os.makedirs(d)
    con.execute(f"COPY (SELECT {{n}} AS a, 'f{{n}}' AS filename) TO '{{d}}/part.parquet' (FORMAT parquet)")
print('{{}}')
"#,
        lake = lake.display().to_string()
    );
    py(&script);
    let duck = ddl(&lake, &["--engine", "duckdb"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    let got = py(&format!(
        r#"
import duckdb, json
con = duckdb.connect()
for stmt in {sql:?}.split(";\n"):
    if stmt.strip():
        con.execute(stmt)
cols = [r[0] for r in con.execute('DESCRIBE vpc_flow_logs').fetchall()]
rows = con.execute('SELECT a, filename, k0, k9 FROM vpc_flow_logs ORDER BY a').fetchall()
print(json.dumps({{"cols": cols, "rows": rows}}))
"#,
        sql = duck.stdout
    ));
    let cols: Vec<String> = got["cols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let mut want = vec!["a".to_string(), "filename".to_string()];
    want.extend((0..10).map(|i| format!("k{i}")));
    assert_eq!(cols, want);
    assert_eq!(
        got["rows"],
        serde_json::json!([[1, "f1", "v10", "v19"], [2, "f2", "v20", "v29"]])
    );
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

#[test]
fn a_lake_whose_filters_dropped_every_record_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (_, report) = convert(
        &[&fixtures().join("aws")],
        &lake,
        &["--drop-log-status", "ok,nodata,skipdata"],
    );
    assert_eq!(report["rows_written"], 0);
    let filtered = report["filtered"].as_u64().unwrap();
    assert_eq!(filtered, report["lines_read"].as_u64().unwrap());
    assert_eq!(filtered, 6000);
    for engine in ["athena", "duckdb"] {
        let run = ddl(&lake, &["--engine", engine]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains(
                "no rows kept by the filters: 6000 lines filtered of 6000 lines read in 4 partitions \
                 (filters: without OK/NODATA/SKIPDATA records)"
            ),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("yet"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

/// Runs each DuckDB script in `cases` (`(sql, view)`) in a fresh in-memory DuckDB: (statement count,
/// statement types, views that exist afterwards as `schema.name`, `count(*)` over `view`).
fn run_duckdb_scripts(cases: &[(String, String)]) -> Value {
    let cases: Vec<Value> = cases
        .iter()
        .map(|(sql, view)| serde_json::json!({"sql": sql, "view": view}))
        .collect();
    py_stdin(
        r#"
import duckdb, json, sys
out = []
for case in json.load(sys.stdin):
    stmts = duckdb.extract_statements(case["sql"])
    con = duckdb.connect()
    for s in stmts:
        con.execute(s)
    views = [f"{s}.{v}" for s, v in con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {case['view']}").fetchone()[0]
    out.append([len(stmts), [s.type.name for s in stmts], views, rows])
print(json.dumps(out))
"#,
        &Value::Array(cases),
    )
}

#[test]
fn a_lake_path_with_a_line_break_is_never_read_as_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp
        .path()
        .join("lake\nselect 'INJECTED'; --\r\u{2028}*/ `x` \"y\"\u{85}é");
    let (_, report) = convert(&[&fixtures().join("aws")], &lake, &[]);
    let rows = report["rows_written"].as_u64().unwrap();

    // DuckDB: one statement that names the real folder, on lines that data never breaks.
    let duck = ddl(&lake, &["--engine", "duckdb"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    let first = duck.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("-- DuckDB view over the flowlake lake at ")
            && first.contains(r#"lake\nselect 'INJECTED'; --\r\u{2028}*/ `x` "y"\u{85}é/"#),
        "{first}"
    );
    assert_eq!(
        duck.stdout.lines().filter(|l| l.starts_with("--")).count(),
        1
    );
    let got = run_duckdb_scripts(&[(duck.stdout.clone(), "vpc_flow_logs".into())]);
    assert_eq!(
        got[0],
        serde_json::json!([1, ["CREATE"], ["main.vpc_flow_logs"], rows])
    );

    // Athena cannot name the folder safely: refused, as a usage error naming it on one line.
    let athena = ddl(&lake, &[]);
    assert_eq!(athena.code, 2, "{}", athena.stderr);
    assert!(athena.stdout.is_empty(), "{}", athena.stdout);
    assert_eq!(athena.stderr.lines().count(), 1, "{}", athena.stderr);
    assert!(
        athena.stderr.contains(r#"refused: lake path "file://"#)
            && athena.stderr.contains(r"lake\nselect 'INJECTED'; --\r")
            && athena.stderr.contains("holds U+000A")
            && athena.stderr.contains("--location"),
        "{}",
        athena.stderr
    );
    // ... and fine with the URL it is uploaded to.
    let athena = ddl(&lake, &["--location", "s3://bucket/flows"]);
    assert_eq!(athena.code, 0, "{}", athena.stderr);
    assert!(athena.stdout.contains("LOCATION 's3://bucket/flows/'"));

    // Names given on the command line: a line break or a quote is never SQL.
    for engine in ["athena", "duckdb"] {
        for (flag, value) in [
            ("--table", "t\nselect 'INJECTED'; --"),
            ("--database", "d\r;"),
        ] {
            let run = ddl(
                &lake,
                &["--engine", engine, "--location", "s3://b/p", flag, value],
            );
            assert_eq!(run.code, 2, "{engine} {flag}: {}", run.stderr);
            assert!(run.stdout.is_empty());
            assert!(
                run.stderr.contains(&format!("refused: {flag} name")) && run.stderr.contains(r"\"),
                "{}",
                run.stderr
            );
        }
    }
    let quoted = ddl(
        &lake,
        &[
            "--engine",
            "duckdb",
            "--database",
            "d\"; select 'INJECTED",
            "--table",
            "t`'\"",
        ],
    );
    assert_eq!(quoted.code, 0, "{}", quoted.stderr);
    let got = run_duckdb_scripts(&[(
        quoted.stdout.clone(),
        r#""d""; select 'INJECTED"."t`'""""#.into(),
    )]);
    assert_eq!(
        got[0],
        serde_json::json!([
            2,
            ["CREATE", "CREATE"],
            ["d\"; select 'INJECTED.t`'\""],
            rows
        ])
    );
}

#[cfg(unix)]
#[test]
fn a_lake_path_that_is_not_utf8_is_refused_where_a_literal_must_name_it() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"lake-\xff\xfe-\nx"));
    convert(&[&fixtures().join("aws")], &lake, &[]);
    for engine in ["athena", "duckdb"] {
        let run = flowlake([
            "ddl".as_ref(),
            lake.as_os_str(),
            "--engine".as_ref(),
            engine.as_ref(),
        ]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(
            run.stderr.contains(r#"lake-\xff\xfe-\nx" is not UTF-8"#)
                && run.stderr.contains("--location"),
            "{}",
            run.stderr
        );
        // With --location the lake's own path is in no literal.
        let run = flowlake([
            "ddl".as_ref(),
            lake.as_os_str(),
            "--engine".as_ref(),
            engine.as_ref(),
            "--location".as_ref(),
            "s3://bucket/flows".as_ref(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stdout.contains("'s3://bucket/flows/"));
    }
}

/// Byte strings that have broken SQL text built from data somewhere, to mix into arbitrary ones.
const NASTY: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"'",
    b"''",
    b"\"",
    b"`",
    b"``",
    b"*/",
    b"/*",
    b"--",
    b";",
    b"\\",
    b"\\'",
    b"\t",
    b" ",
    b",",
    b"*",
    b"?",
    b"[",
    b"]",
    b"{",
    b"=",
    b"${x}",
    b"\x0b",
    b"\x1b[2J",
    b"\x7f",
    b"\xe2\x80\xa8", // U+2028 LINE SEPARATOR
    b"\xe2\x80\xa9", // U+2029 PARAGRAPH SEPARATOR
    b"\xc2\x85",     // U+0085 NEXT LINE
    b"\xe2\x80\xae", // U+202E RIGHT-TO-LEFT OVERRIDE
    b"\xef\xbf\xbd", // U+FFFD
    b"\xc3\xa9",     // é
    b"\xff",
    b"\xc3",
    b"select 'INJECTED'; --",
    b"a",
    b"Z9",
];

/// Arbitrary bytes with pieces of [`NASTY`] mixed in.
fn nasty_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            2 => prop::sample::select(NASTY).prop_map(|b| b.to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

/// Printable text with the characters SQL gives a meaning to (`;`, `--`, `*/`, `"`, backticks, `$`)
/// but none a quoting rule must refuse: every engine must take it, and keep it inert.
fn printable_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.:;*/\\-\"`$&{}()é€=!?#@%~+^|<>\\[\\]]{1,12}"
}

/// Printable text around one of the sequences that quoting must handle.
fn marked_text() -> impl Strategy<Value = String> {
    (
        printable_text(),
        prop::sample::select(vec![
            "${env:HOME}",
            "${x}",
            "'",
            "''",
            "\\",
            "\\'",
            "\n",
            "\r",
            "--",
            "*/",
            ";",
            "`",
            "\"",
            "\u{2028}",
            "\u{85}",
        ]),
        printable_text(),
    )
        .prop_map(|(a, m, b)| format!("{a}{m}{b}"))
}

/// A folder name: any bytes but `/` and NUL, not `.` or `..`, not empty.
fn folder_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => printable_text().prop_map(String::into_bytes),
        1 => marked_text().prop_map(String::into_bytes),
        1 => nasty_bytes(6),
    ]
    .prop_map(|mut b| {
        b.retain(|&c| c != b'/' && c != 0);
        if b.is_empty() || b == b"." || b == b".." {
            b.push(b'x');
        }
        b
    })
}

/// A name or value as text (what `--table` or a folder name can be): arbitrary strings, strings of
/// nasty pieces read lossily, and ordinary names.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => nasty_bytes(5).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => any::<String>(),
        4 => printable_text(),
        2 => marked_text(),
        3 => "[a-z_][a-z0-9_-]{0,12}",
    ]
}

#[derive(Debug, Clone)]
struct TextCase {
    folders: Vec<Vec<u8>>,
    table: String,
    database: Option<String>,
    column: String,
    keys: Vec<(String, Vec<String>)>,
}

fn text_case() -> impl Strategy<Value = TextCase> {
    (
        prop::collection::vec(folder_name(), 1..3),
        nasty_text(),
        prop::option::of(nasty_text()),
        nasty_text(),
        prop::collection::vec(
            (
                prop_oneof![
                    6 => prop::sample::select(vec!["aws-region", "year", "k_1"]).prop_map(String::from),
                    1 => nasty_text(),
                ],
                prop::collection::vec(
                    prop_oneof![4 => printable_text(), 1 => nasty_text()],
                    1..3,
                ),
            ),
            0..3,
        ),
    )
        .prop_map(|(folders, table, database, column, mut keys)| {
            // Folder keys are distinct (a repeated key is not a layout describe() reads).
            let mut seen = BTreeSet::new();
            keys.retain(|(k, _)| seen.insert(k.clone()));
            (folders, table, database, column, keys)
        })
        .prop_map(|(folders, table, database, column, keys)| TextCase {
            folders,
            table,
            database,
            column,
            keys,
        })
}

/// Characters no quoting rule should need to refuse in a name or a path: a value made only of these
/// must be accepted.
fn ordinary(c: char) -> bool {
    c.is_alphanumeric() || " _-./:=@+%~".contains(c)
}

/// No character that ends or reorders a line (control characters but `\n`, U+2028, U+2029, bidi
/// overrides): data never breaks a line of the statement or a message.
fn one_line_safe(text: &str) -> bool {
    !text.chars().any(|c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    })
}

#[cfg(unix)]
#[test]
fn sql_text_from_any_path_name_or_folder_is_exactly_the_intended_statements() {
    use flowlake::ddl::sqltext::{self, Refused, Source};
    use flowlake::ddl::{DdlConfig, LakeTable, PartitionKeyValues};
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::cell::RefCell;
    use std::os::unix::ffi::OsStrExt;

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let cases: RefCell<Vec<Value>> = RefCell::new(Vec::new());
    let refusals = RefCell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&text_case(), |case| {
        let mut bytes = root.as_os_str().as_bytes().to_vec();
        for f in &case.folders {
            bytes.push(b'/');
            bytes.extend_from_slice(f);
        }
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
        let mut cfg = DdlConfig::new(path.clone());
        cfg.table = Some(case.table.clone());
        cfg.database = case.database.clone();
        let path_text = match sqltext::utf8_path(&path, Source::Lake) {
            Ok(text) => text.to_string(),
            Err(e) => {
                prop_assert!(std::str::from_utf8(&bytes).is_err(), "{e}");
                prop_assert!(matches!(e, Refused::NotUtf8 { .. }), "{}", e);
                prop_assert!(one_line_safe(&e.to_string()), "{e}");
                *refusals.borrow_mut() += 1;
                return Ok(());
            }
        };
        let names_ordinary = case.table.chars().all(ordinary)
            && !case.table.is_empty()
            && case
                .database
                .as_ref()
                .is_none_or(|d| d.chars().all(ordinary) && !d.is_empty());
        // Checked by Python: a real DuckDB runs the view over a real file at the path.
        let duck_table = LakeTable {
            // Generated folders above the lake may be named `k=v`: the view must read its keys from
            // the folders right above each file only, and add no column for them.
            columns: vec![("flowlake_value".into(), "bigint".into())],
            partition_keys: vec![
                PartitionKeyValues {
                    name: "year".into(),
                    values: ["2024".to_string()].into(),
                },
                PartitionKeyValues {
                    name: "aws-region".into(),
                    values: ["eu-west-1".to_string()].into(),
                },
            ],
            files: 1,
        };
        let check = |result: Result<String, Refused>,
                     ordinary: bool|
         -> Result<Option<String>, TestCaseError> {
            match result {
                Ok(sql) => {
                    prop_assert!(
                        one_line_safe(&sql),
                        "a raw line break or control character:\n{sql}"
                    );
                    Ok(Some(sql))
                }
                Err(e) => {
                    prop_assert!(!ordinary, "refused an ordinary value: {e}");
                    prop_assert!(one_line_safe(&e.to_string()), "{e}");
                    *refusals.borrow_mut() += 1;
                    Ok(None)
                }
            }
        };
        let duck_ordinary = names_ordinary && path_text.chars().all(ordinary);
        if let Some(sql) = check(
            flowlake::ddl::duckdb(&duck_table, &cfg, &path_text),
            duck_ordinary,
        )? {
            cases.borrow_mut().push(serde_json::json!({
                "engine": "duckdb", "sql": sql, "path": path_text,
                "table": case.table, "database": case.database,
            }));
        }
        // Athena: arbitrary keys, values and a column name from the folders and footers.
        let athena_table = LakeTable {
            columns: vec![
                ("end".into(), "bigint".into()),
                (case.column.clone(), "string".into()),
            ],
            partition_keys: case
                .keys
                .iter()
                .map(|(k, v)| PartitionKeyValues {
                    name: k.clone(),
                    values: v.iter().cloned().collect(),
                })
                .collect(),
            files: 1,
        };
        let location = format!("file://{path_text}");
        let athena_ordinary = names_ordinary
            && location.chars().all(ordinary)
            && !case.column.is_empty()
            && case.column.chars().all(ordinary)
            && case.keys.iter().all(|(k, values)| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    && values.iter().all(|v| v.chars().all(ordinary))
            });
        if let Some(sql) = check(
            flowlake::ddl::athena(&athena_table, &cfg, &location, 2026),
            athena_ordinary,
        )? {
            let keys: Vec<Value> = athena_table
                .partition_keys
                .iter()
                .map(|k| serde_json::json!([k.name, k.values.iter().collect::<Vec<_>>()]))
                .collect();
            cases.borrow_mut().push(serde_json::json!({
                "engine": "athena", "sql": sql, "location": location,
                "table": case.table, "database": case.database, "column": case.column, "keys": keys,
            }));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let cases = cases.into_inner();
    let refusals = refusals.into_inner();
    let count = |engine: &str| cases.iter().filter(|c| c["engine"] == engine).count();
    assert!(
        count("duckdb") >= 100 && count("athena") >= 30 && refusals >= 100,
        "the cases reach both outcomes: {} DuckDB, {} Athena statements, {refusals} refusals",
        count("duckdb"),
        count("athena")
    );

    let failures = py_stdin(PARSE_CHECK, &Value::Array(cases.clone()));
    let failures = failures.as_array().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} statements are not what was intended; first:\n{:#}",
        failures.len(),
        cases.len(),
        failures[0]
    );
}

/// Checks every case of the property test in one Python process; prints the failures.
///
/// DuckDB: a real file at the path; the script is exactly the intended statements
/// (`duckdb.extract_statements`), running them creates exactly the intended view (and schema), and the
/// view reads the file. Athena: the text is read by two lexers, Hive's (`\` escapes, `''` is two
/// strings) and ANSI/Trino's (`''` is a quote, `\` a character); both must see the same tokens, every
/// literal and identifier closed, exactly one statement, no `${` (Hive and Spark substitute variables
/// before parsing) but the template's placeholders, and the table name, location, column, keys and
/// enum values that were intended.
const PARSE_CHECK: &str = r#"
import duckdb, json, os, sys
import pyarrow as pa, pyarrow.parquet as pq

def qi(name):
    return '"' + name.replace('"', '""') + '"'

def lex(sql, hive):
    toks, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith('--', i):
            while i < n and sql[i] not in '\r\n':
                i += 1
            continue
        if sql.startswith('/*', i):
            raise ValueError('block comment at %d' % i)
        if c in " \n\t":
            i += 1
            continue
        if c in "'`" or c == '"':
            if c == '"':
                raise ValueError('double quote outside a literal at %d' % i)
            j, val = i + 1, []
            while True:
                if j >= n:
                    raise ValueError('unclosed %s from %d' % (c, i))
                d = sql[j]
                if c == "'" and hive and d == '\\':
                    val.append(sql[j + 1:j + 2]); j += 2; continue
                if d == c:
                    if sql[j + 1:j + 2] == c and (c == '`' or not hive):
                        val.append(c); j += 2; continue
                    j += 1
                    break
                val.append(d); j += 1
            toks.append(('str' if c == "'" else 'id', ''.join(val)))
            i = j
            continue
        if c in '();,.=<>:':
            toks.append(('p', c)); i += 1; continue
        j = i
        while j < n and sql[j] not in " \n\t'`\"();,.=<>:":
            j += 1
        toks.append(('w', sql[i:j].upper()))
        i = j
    return toks

def check_athena(case):
    sql = case['sql']
    hive, ansi = lex(sql, True), lex(sql, False)
    if hive != ansi:
        return 'Hive and ANSI lexers disagree'
    if sql.splitlines() != sql.rstrip('\n').split('\n'):
        return 'a line break that is not \\n'
    # Hive and Spark substitute ${...} before parsing, inside quotes too: only the template's own.
    bare = sql
    for key, _ in case['keys']:
        bare = bare.replace('%s=${%s}/' % (key, key), '')
    if '${' in bare:
        return 'a ${ that Hive would substitute'
    semis = [i for i, t in enumerate(hive) if t == ('p', ';')]
    if semis != [len(hive) - 1]:
        return 'not exactly one statement: ; at %s of %d tokens' % (semis, len(hive))
    at = hive.index(('w', 'EXISTS')) + 1
    name = [case['database'], case['table']] if case['database'] is not None else [case['table']]
    got = [t[1] for t in hive[at:at + 2 * len(name) - 1] if t[0] == 'id']
    if got != name:
        return 'table %r, intended %r' % (got, name)
    loc = hive[hive.index(('w', 'LOCATION')) + 1]
    want = case['location'] if case['location'].endswith('/') else case['location'] + '/'
    if loc != ('str', want):
        return 'location %r' % (loc,)
    if ('id', case['column']) not in hive:
        return 'column %r missing' % case['column']
    props = {}
    if ('w', 'TBLPROPERTIES') in hive:
        body = hive[hive.index(('w', 'TBLPROPERTIES')) + 2:-2]
        for k in range(0, len(body), 4):
            key, eq, val = body[k:k + 3]
            if key[0] != 'str' or eq != ('p', '=') or val[0] != 'str':
                return 'property %r' % (body[k:k + 4],)
            props[key[1]] = val[1]
    for key, values in case['keys']:
        if ('id', key) not in hive:
            return 'key %r missing' % key
        if props.get('projection.%s.type' % key) == 'enum' and props['projection.%s.values' % key].split(',') != values:
            return 'enum of %r: %r' % (key, props['projection.%s.values' % key])
    if case['keys']:
        template = want + ''.join('%s=${%s}/' % (k, k) for k, _ in case['keys'])
        if props.get('storage.location.template') != template:
            return 'template %r' % props.get('storage.location.template')
    return None

def check_duckdb(case):
    folder = os.path.join(case['path'], 'year=2024', 'aws-region=eu-west-1')
    os.makedirs(folder, exist_ok=True)
    pq.write_table(pa.table({'flowlake_value': [7]}), os.path.join(folder, 'part-00000.parquet'))
    sql = case['sql']
    stmts = duckdb.extract_statements(sql)
    want = 1 if case['database'] is None else 2
    if len(stmts) != want or any(s.type.name != 'CREATE' for s in stmts):
        return '%d statements %s' % (len(stmts), [s.type.name for s in stmts])
    con = duckdb.connect()
    for s in stmts:
        con.execute(s)
    views = con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    schema = case['database'] if case['database'] is not None else 'main'
    if views != [(schema, case['table'])]:
        return 'views %r' % views
    name = qi(case['table']) if case['database'] is None else qi(schema) + '.' + qi(case['table'])
    columns = [r[0] for r in con.execute('DESCRIBE ' + name).fetchall()]
    if columns != ['flowlake_value', 'year', 'aws-region']:
        return 'the view has columns %r' % (columns,)
    got = con.execute('SELECT count(*), sum(flowlake_value), any_value(year), any_value("aws-region") FROM ' + name).fetchone()
    if got != (1, 7, '2024', 'eu-west-1'):
        return 'the view reads %r' % (got,)
    return None

failures = []
for case in json.load(sys.stdin):
    try:
        why = check_duckdb(case) if case['engine'] == 'duckdb' else check_athena(case)
    except Exception as e:
        why = '%s: %s' % (type(e).__name__, e)
    if why:
        failures.append({'why': why, 'case': case})
print(json.dumps(failures))
"#;

#[test]
fn folder_keys_and_values_sql_cannot_carry_are_refused_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let file = parquet_files(&lake)
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("_flowlake"))
        .unwrap();
    let rows = py(&format!(
        "import pyarrow.parquet as pq\nprint(pq.read_metadata({:?}).num_rows)",
        file.display().to_string()
    ));

    // A value with a comma: Athena's enum projection would read two values.
    let comma = tmp.path().join("comma");
    std::fs::create_dir_all(comma.join("zone=eu,west")).unwrap();
    std::fs::copy(&file, comma.join("zone=eu,west/a.parquet")).unwrap();
    let athena = ddl(&comma, &["--location", "s3://b/p"]);
    assert_eq!(athena.code, 1, "{}", athena.stderr);
    assert!(athena.stdout.is_empty());
    assert!(
        athena.stderr.contains(
            r#"refused: partition value "eu,west" holds `,` (U+002C), which Athena's enum"#
        ),
        "{}",
        athena.stderr
    );
    // DuckDB's view names no value: it reads the folder, value and all.
    let duck = ddl(&comma, &["--engine", "duckdb"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    let got = run_duckdb_scripts(&[(duck.stdout.clone(), "vpc_flow_logs".into())]);
    assert_eq!(got[0][3], rows);

    // A key that would be spelled into property names and globs: refused by both engines.
    let key = tmp.path().join("key");
    std::fs::create_dir_all(key.join("a.b*=1")).unwrap();
    std::fs::copy(&file, key.join("a.b*=1/a.parquet")).unwrap();
    for engine in ["athena", "duckdb"] {
        let run = ddl(&key, &["--engine", engine, "--location", "s3://b/p"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr
                .contains(r#"refused: partition key "a.b*" holds `.` (U+002E)"#),
            "{}",
            run.stderr
        );
    }
}
