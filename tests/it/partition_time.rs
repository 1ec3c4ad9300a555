//! `--partition-time start`: rows go to the day of their own `start`; incremental runs rebuild the
//! neighbouring day a late file writes into; nightly runs add up to one full run.

use std::path::Path;

use crate::common::*;
use serde_json::{json, Value};

const START: [&str; 2] = ["--partition-time", "start"];

fn generate_days(dir: &Path, days: &str) {
    generate(
        dir,
        &[
            "--seed",
            "5",
            "--days",
            days,
            "--files-per-day",
            "6",
            "--lines-per-file",
            "2000",
            "--format",
            "mixed",
        ],
    );
}

/// (partition day, rows) of a lake.
fn per_day(lake: &Path) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        "SELECT year || '-' || month || '-' || day, count(*) FROM {lake} GROUP BY 1 ORDER BY 1",
    )
}

#[test]
fn rows_land_in_the_day_of_their_start() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate_days(&input, "3");
    let files: Vec<_> = walk(&input)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
        .collect();
    let records = reference_records(&files);
    let first_day = 1_705_276_800i64; // 2024-01-15 00:00 UTC
    let late = records
        .iter()
        .filter(|r| r["start"].parse::<i64>().unwrap() < first_day)
        .count();
    assert!(
        late > 0,
        "the generator writes records that started the day before their delivery"
    );

    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&input], &lake, &START);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(records.len()));
    assert_eq!(report["rows_in_unchanged_partitions"], json!(0));
    let days = per_day(&lake);
    assert_eq!(
        days[0],
        vec![json!("2024-01-14"), json!(late)],
        "late records of the first delivery day"
    );
    assert_eq!(days.len(), 4);
    // Every row's partition is the UTC day of its start.
    assert_eq!(
        duckdb_one(
            &lake,
            "SELECT count(*) FROM {lake} WHERE start // 86400 <> date_diff('day', DATE '1970-01-01', make_date(year::INT, month::INT, day::INT))"
        ),
        json!(0)
    );
    // Same rows as a delivery-partitioned lake, only placed differently.
    let delivery = tmp.path().join("delivery");
    convert(&[&input], &delivery, &[]);
    let sums =
        "SELECT count(*), sum(bytes)::BIGINT, sum(packets)::BIGINT, sum(start)::BIGINT FROM {lake}";
    assert_eq!(duckdb(&lake, sums), duckdb(&delivery, sums));
}

#[test]
fn a_late_file_rebuilds_its_day_and_the_day_it_writes_into() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate_days(&input, "3");
    let lake = tmp.path().join("lake");
    convert(&[&input], &lake, &START);
    let before = per_day(&lake);
    // A file delivered on the 16th with one record of the 15th (23:59) and one of the 16th.
    let day16 = walk(&input)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/2024/01/16/"))
        .unwrap();
    let name = day16
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace("T0000Z", "T0005Z")
        .replace(".log.gz", "9.log.gz");
    let header = HEADER;
    let text = format!(
        "{header}2 1 eni-late 10.1.1.1 10.2.2.2 1 2 6 3 4 1705363190 1705363199 ACCEPT OK\n2 1 eni-late 10.1.1.1 10.2.2.2 1 2 6 3 4 1705363210 1705363230 ACCEPT OK\n"
    );
    std::fs::write(day16.parent().unwrap().join(name), gzip(text.as_bytes())).unwrap();
    let (run, report) = convert(&[&input], &lake, &START);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        (
            report["partitions"].clone(),
            report["partitions_unchanged"].clone()
        ),
        (json!(2), json!(2))
    );
    let rebuilt: Vec<&str> = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(
        rebuilt[0].ends_with("year=2024/month=01/day=15")
            && rebuilt[1].ends_with("year=2024/month=01/day=16"),
        "{rebuilt:?}"
    );
    let after = per_day(&lake);
    let count = |v: &Vec<Vec<Value>>, i: usize| v[i][1].as_u64().unwrap();
    assert_eq!(
        (count(&after, 0), count(&after, 3)),
        (count(&before, 0), count(&before, 3)),
        "the 14th and 17th untouched"
    );
    assert_eq!(
        count(&after, 1),
        count(&before, 1) + 1,
        "the 15th gets the 23:59 record"
    );
    assert_eq!(count(&after, 2), count(&before, 2) + 1);
    assert_eq!(
        duckdb_one(
            &lake,
            "SELECT count(*) FROM {lake} WHERE interface_id = 'eni-late' AND day = '15'"
        ),
        json!(1)
    );
}

#[test]
fn nightly_runs_add_up_to_one_full_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate_days(&input, "3");
    let full = tmp.path().join("full");
    convert(&[&input], &full, &START);
    let nightly = tmp.path().join("nightly");
    for day in ["2024-01-15", "2024-01-16", "2024-01-17"] {
        let (run, _) = convert(
            &[&input],
            &nightly,
            &["--partition-time", "start", "--from", day, "--to", day],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(per_day(&nightly), per_day(&full));
    let sums =
        "SELECT sum(bytes)::BIGINT, sum(srcport)::BIGINT, count(DISTINCT interface_id) FROM {lake}";
    assert_eq!(duckdb(&nightly, sums), duckdb(&full, sums));
    assert_eq!(flowlake(["verify".as_ref(), nightly.as_os_str()]).code, 0);
    // The next night with nothing new changes nothing.
    let (_, report) = convert(
        &[&input],
        &nightly,
        &[
            "--partition-time",
            "start",
            "--from",
            "2024-01-17",
            "--to",
            "2024-01-17",
        ],
    );
    assert_eq!(
        (
            report["partitions"].clone(),
            report["partitions_unchanged"].clone()
        ),
        (json!(0), json!(2))
    );
}
