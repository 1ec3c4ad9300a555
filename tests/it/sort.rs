//! `--sort-by`: rows in key order across each partition's files (spilling to staging past
//! `--sort-memory`), the `sorting_columns` metadata, row groups whose key ranges do not overlap, and
//! the row maps that let a rebuild carry over the rows of vanished inputs from sorted files.

use std::path::Path;

use crate::common::*;
use serde_json::{json, Value};

/// `n` records whose `bytes` are `base, base + 1, ...` and whose source addresses spread over the
/// whole range, so that the rows of every file interleave with every other's once sorted.
fn log(base: u64, n: u64) -> Vec<u8> {
    v2_gz((0..n).map(|i| V2 {
        srcaddr: format!("10.0.{}.{}", (i * 7 + base) % 13, (i * 31 + base) % 250),
        srcport: 1024 + i,
        bytes: base + i,
        ..V2::default()
    }))
}

/// Every row's columns, for comparing lakes whatever their row order.
fn rows_of(lake: &Path) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        "SELECT srcaddr, dstaddr, srcport, dstport, bytes, interface_id, start FROM {lake} ORDER BY ALL",
    )
}

/// Per file of `lake` (name order): the values of `columns` in row order, and per row group the
/// sorting columns and the min/max statistics of the first column, read with pyarrow.
fn files_of(lake: &Path, columns: &[&str]) -> Value {
    py(&format!(
        r#"
import glob, json, pyarrow.parquet as pq
out = []
for f in sorted(glob.glob({lake:?} + "/**/*.parquet", recursive=True)):
    pf = pq.ParquetFile(f)
    table = pf.read(columns={columns:?})
    groups = []
    for i in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(i)
        sc = [[c.column_index, c.descending, c.nulls_first] for c in (rg.sorting_columns or [])]
        col = [j for j in range(rg.num_columns) if rg.column(j).path_in_schema == {first:?}][0]
        st = rg.column(col).statistics
        groups.append({{"sorting": sc, "min": st.min if st.has_min_max else None,
                        "max": st.max if st.has_min_max else None, "rows": rg.num_rows}})
    out.append({{"file": f, "values": [table.column(c).to_pylist() for c in {columns:?}],
                 "groups": groups}})
print(json.dumps(out, default=str))
"#,
        lake = lake.display().to_string(),
        columns = columns,
        first = columns[0],
    ))
}

fn generated(dir: &Path) {
    generate(
        dir,
        &[
            "--days",
            "1",
            "--accounts",
            "2",
            "--files-per-day",
            "6",
            "--lines-per-file",
            "2500",
        ],
    );
}

#[test]
fn rows_are_sorted_across_each_file_and_row_groups_do_not_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generated(&input);
    let arrival = tmp.path().join("arrival");
    convert(&[&input], &arrival, &[]);
    let sorted = tmp.path().join("sorted");
    // A small memory bound: the sort spills runs to staging and merges them.
    let (_, report) = convert(
        &[&input],
        &sorted,
        &[
            "--sort-by",
            "srcaddr",
            "--sort-memory",
            "512KiB",
            "--row-group-rows",
            "1000",
            "--target-file-size",
            "24KiB",
        ],
    );
    assert_eq!(report["rows_written"], json!(30000));
    assert!(report["stages"]["sort"].as_f64().unwrap() > 0.0);
    assert_eq!(rows_of(&sorted), rows_of(&arrival), "the same rows");
    assert!(
        walk(&sorted.join("_flowlake/staging")).is_empty(),
        "no spilled run is left behind"
    );

    let files = files_of(&sorted, &["srcaddr"]);
    let files = files.as_array().unwrap();
    assert!(files.len() >= 4, "several files per partition");
    let mut previous: Option<(String, String)> = None; // (partition folder, last value)
    let mut groups = 0;
    for file in files {
        let path = file["file"].as_str().unwrap();
        let folder = path.rsplit_once('/').unwrap().0.to_string();
        let values: Vec<String> = file["values"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        // Sorted by bytes, across the file and from one file of a partition to the next.
        assert!(
            values
                .windows(2)
                .all(|w| w[0].as_bytes() <= w[1].as_bytes()),
            "{path} is not sorted"
        );
        if let Some((f, last)) = &previous {
            if *f == folder {
                assert!(
                    last.as_bytes() <= values[0].as_bytes(),
                    "{path} starts before its predecessor ends"
                );
            }
        }
        previous = Some((folder, values.last().cloned().unwrap_or_default()));
        let mut last_max: Option<String> = None;
        for g in file["groups"].as_array().unwrap() {
            groups += 1;
            assert_eq!(
                g["sorting"],
                json!([[3, false, true]]),
                "{path}: sorting_columns"
            );
            let (min, max) = (g["min"].as_str().unwrap(), g["max"].as_str().unwrap());
            if let Some(m) = &last_max {
                assert!(
                    m.as_bytes() <= min.as_bytes(),
                    "{path}: row groups overlap beyond ties"
                );
            }
            last_max = Some(max.to_string());
        }
    }
    assert!(groups >= 30, "{groups} row groups");

    // Arrival order says nothing about sorting.
    let plain = files_of(&arrival, &["srcaddr"]);
    assert_eq!(plain[0]["groups"][0]["sorting"], json!([]));

    // Two columns: the second orders the rows the first leaves tied.
    let two = tmp.path().join("two");
    convert(
        &[&input],
        &two,
        &["--sort-by", "interface-id,start", "--sort-memory", "256KiB"],
    );
    assert_eq!(rows_of(&two), rows_of(&arrival));
    for file in files_of(&two, &["interface_id", "start"])
        .as_array()
        .unwrap()
    {
        let enis = file["values"][0].as_array().unwrap();
        let starts = file["values"][1].as_array().unwrap();
        let keys: Vec<(String, i64)> = enis
            .iter()
            .zip(starts)
            .map(|(e, s)| (e.as_str().unwrap().to_string(), s.as_i64().unwrap()))
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "not sorted by (interface_id, start)"
        );
        assert_eq!(
            file["groups"][0]["sorting"],
            json!([[2, false, true], [10, false, true]])
        );
    }

    let run = flowlake([
        "convert",
        input.to_str().unwrap(),
        "--out",
        tmp.path().join("bad").to_str().unwrap(),
        "--sort-by",
        "no_such_column",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no_such_column"), "{}", run.stderr);
}

#[test]
fn a_sorted_lake_keeps_the_rows_of_vanished_inputs_through_rebuilds_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(1_000, 300));
    put(&day, "b.log.gz", &log(2_000, 200));
    put(&day, "c.log.gz", &log(3_000, 100));
    let lake = tmp.path().join("lake");
    let sort = ["--sort-by", "srcaddr", "--sort-memory", "64KiB"];
    convert(&[&tmp.path().join("in")], &lake, &sort);
    let of_file = |lo: u64| {
        duckdb_one(
            &lake,
            &format!(
                "SELECT count(*) || ':' || coalesce(sum(bytes), 0) FROM {{lake}} WHERE bytes >= {lo} AND bytes < {}",
                lo + 1_000
            ),
        )
    };
    assert_eq!(
        of_file(1_000),
        json!(format!("300:{}", (1_000..1_300).sum::<u64>()))
    );

    // `a` expires; `b` is delivered again with other rows; a late file arrives. The rows of `a`
    // (spread all over the sorted file) are carried over, `b`'s old rows are not.
    std::fs::remove_file(day.join("a.log.gz")).unwrap();
    put(&day, "b.log.gz", &log(5_000, 50));
    put(&day, "late.log.gz", &log(4_000, 10));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &sort);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(160));
    assert_eq!(report["vanished"][0]["rows"], json!(300), "{report}");
    assert_eq!(
        of_file(1_000),
        json!(format!("300:{}", (1_000..1_300).sum::<u64>()))
    );
    assert_eq!(of_file(2_000), json!("0:0"), "b's old rows are gone");
    assert_eq!(
        of_file(5_000),
        json!(format!("50:{}", (5_000..5_050).sum::<u64>()))
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(460));

    // Compaction reorders the rows; the row map follows them.
    convert(
        &[&tmp.path().join("in")],
        &lake,
        &[
            "--rebuild",
            "--target-file-size",
            "1KiB",
            "--row-group-rows",
            "40",
        ],
    );
    let files_before = parquet_files(&lake).len();
    assert!(files_before > 3, "{files_before} files");
    let run = flowlake([
        "compact",
        lake.to_str().unwrap(),
        "--min-files",
        "2",
        "--sort-by",
        "dstport,srcaddr",
        "--quiet",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(parquet_files(&lake).len() < files_before);
    std::fs::remove_file(day.join("c.log.gz")).unwrap();
    put(&day, "later.log.gz", &log(6_000, 5));
    // A row map left by a run that stopped before recording its entry goes with the next commit.
    let maps = lake.join("_flowlake/rows/year=2024/month=01/day=01");
    std::fs::write(maps.join("00000000deadbeef.bin"), b"flowlake-rows 1\n").unwrap();
    let (run, _) = convert(&[&tmp.path().join("in")], &lake, &sort);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        of_file(1_000),
        json!(format!("300:{}", (1_000..1_300).sum::<u64>()))
    );
    assert_eq!(
        of_file(3_000),
        json!(format!("100:{}", (3_000..3_100).sum::<u64>()))
    );
    assert_eq!(
        of_file(6_000),
        json!(format!("5:{}", (6_000..6_005).sum::<u64>()))
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(465));
    // Only the current row map is kept.
    let maps = walk(&lake.join("_flowlake/rows"));
    assert_eq!(maps.len(), 1, "{maps:?}");
    let (code, report) = verify(&lake);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn entries_of_the_previous_version_carry_over_by_their_row_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(1_000, 30));
    put(&day, "b.log.gz", &log(2_000, 20));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    // The entry as the previous version wrote it: each input's rows as one range, no row map.
    let entry_path = lake.join("_flowlake/manifest/year=2024/month=01/day=01.json");
    let mut entry: Value = serde_json::from_slice(&std::fs::read(&entry_path).unwrap()).unwrap();
    entry.as_object_mut().unwrap().remove("row_map");
    let mut first = 0;
    for input in entry["inputs"].as_array_mut().unwrap() {
        let rows = input["rows"].as_u64().unwrap();
        input["first_row"] = json!(first);
        first += rows;
    }
    std::fs::write(&entry_path, serde_json::to_vec_pretty(&entry).unwrap()).unwrap();
    std::fs::remove_file(day.join("a.log.gz")).unwrap();
    put(&day, "late.log.gz", &log(3_000, 5));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &["--sort-by", "srcaddr"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions"], json!(1), "{report}");
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) || ':' || sum(bytes) FROM {lake}"),
        json!(format!(
            "55:{}",
            (1_000..1_030).sum::<u64>() + (2_000..2_020).sum::<u64>() + (3_000..3_005).sum::<u64>()
        ))
    );
    let entry: Value = serde_json::from_slice(&std::fs::read(&entry_path).unwrap()).unwrap();
    assert!(
        entry["row_map"].is_string(),
        "the rebuilt entry has a row map"
    );
}

#[test]
fn a_key_that_is_null_in_every_row_spilled_at_every_batch_keeps_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(1_000, 300));
    put(&day, "b.log.gz", &log(2_000, 200));
    put(&day, "empty.log.gz", &gzip(b""));
    put(&day, "header-only.log.gz", &gzip(HEADER.as_bytes()));
    let lake = tmp.path().join("lake");
    // `vpc_id` is not in this format: NULL everywhere, so `srcaddr` decides the order.
    let (_, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--sort-by", "vpc_id,srcaddr", "--sort-memory", "1KiB"],
    );
    assert_eq!(report["rows_written"], json!(500));
    assert_eq!(
        duckdb_one(&lake, "SELECT sum(bytes) FROM {lake}"),
        json!((1_000..1_300).sum::<u64>() + (2_000..2_200).sum::<u64>())
    );
    let files = files_of(&lake, &["srcaddr"]);
    let values = files[0]["values"][0].as_array().unwrap();
    let values: Vec<&str> = values.iter().map(|v| v.as_str().unwrap()).collect();
    assert!(values
        .windows(2)
        .all(|w| w[0].as_bytes() <= w[1].as_bytes()));
    assert_eq!(
        files[0]["groups"][0]["sorting"],
        json!([[14, false, true], [3, false, true]])
    );
    assert!(walk(&lake.join("_flowlake/staging")).is_empty());
}

#[test]
fn compact_with_sort_by_reorders_partitions_of_one_file_and_then_leaves_them() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(1_000, 300));
    put(&day, "b.log.gz", &log(2_000, 200));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(parquet_files(&lake).len(), 1);
    let before = rows_of(&lake);
    let compact = |args: &[&str]| {
        let mut all = vec!["compact", lake.to_str().unwrap(), "--json"];
        all.extend_from_slice(args);
        let run = flowlake(all);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        report["compacted"].as_array().unwrap().len()
    };
    // One file, in arrival order: plain compaction has nothing to do, `--sort-by` rewrites it.
    assert_eq!(compact(&[]), 0);
    assert_eq!(
        compact(&["--sort-by", "srcaddr", "--sort-memory", "16KiB"]),
        1
    );
    let files = files_of(&lake, &["srcaddr"]);
    let values = files[0]["values"][0].as_array().unwrap();
    assert_eq!(values.len(), 500);
    let keys: Vec<&str> = values.iter().map(|v| v.as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert_eq!(files[0]["groups"][0]["sorting"], json!([[3, false, true]]));
    assert_eq!(rows_of(&lake), before);
    // In that order already: left alone; another order rewrites it again.
    assert_eq!(compact(&["--sort-by", "srcaddr"]), 0);
    assert_eq!(compact(&["--sort-by", "dstport"]), 1);
    assert_eq!(rows_of(&lake), before);
    // The row map followed the rows: an expired input's rows are carried over by the next rebuild.
    std::fs::remove_file(day.join("a.log.gz")).unwrap();
    put(&day, "late.log.gz", &log(4_000, 10));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(300), "{report}");
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(510));
    let (code, report) = verify(&lake);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn verify_reports_a_row_map_that_is_missing_damaged_or_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(1_000, 30));
    put(&day, "b.log.gz", &log(2_000, 20));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &["--sort-by", "srcaddr"]);
    let maps = walk(&lake.join("_flowlake/rows"));
    assert_eq!(maps.len(), 1);
    let map = maps[0].clone();
    let good = std::fs::read(&map).unwrap();
    let kinds = || {
        let (code, report) = verify(&lake);
        let kinds: Vec<String> = report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}: {}", p["kind"], p["message"]))
            .collect();
        (code, kinds)
    };
    assert_eq!(kinds(), (0, vec![]));
    // Cut short, gone, or the map of other rows (one input's rows given to the other).
    std::fs::write(&map, &good[..good.len() - 3]).unwrap();
    let (code, found) = kinds();
    assert_eq!(code, 3);
    assert!(found[0].starts_with("\"row_map\""), "{found:?}");
    std::fs::remove_file(&map).unwrap();
    let (_, found) = kinds();
    assert!(found[0].contains("missing"), "{found:?}");
    // The map of other rows: same total, another split between the two inputs.
    let other = tmp.path().join("other");
    let other_day = other.join("in/2024/01/01");
    put(&other_day, "a.log.gz", &log(1_000, 25));
    put(&other_day, "b.log.gz", &log(2_000, 25));
    convert(
        &[&other.join("in")],
        &other.join("lake"),
        &["--sort-by", "srcaddr"],
    );
    let other_map = walk(&other.join("lake/_flowlake/rows"))[0].clone();
    std::fs::copy(&other_map, &map).unwrap();
    let (code, found) = kinds();
    assert_eq!(code, 3);
    assert!(
        found[0].contains("gives input 0 25 rows and its entry 30"),
        "{found:?}"
    );
    // A rebuild writes a good map again.
    let (run, _) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--sort-by", "srcaddr", "--rebuild"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(kinds(), (0, vec![]));
}
