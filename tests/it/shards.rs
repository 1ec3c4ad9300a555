//! Sharding: 1, 3 and 7 shard processes, run at once on the same input and the same lake, write the
//! same partitions, rows and per-column sums as one unsharded run, no partition twice; shard numbers
//! come from `--shard`, AWS Batch's and Kubernetes' environment variables; a retried shard is a rerun.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;
use serde_json::Value;

/// Per partition: rows and sums of the integer columns, and distinct counts of two string columns.
fn partition_contents(lake: &Path) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        "SELECT \"aws-account-id\", year, month, day, count(*), sum(packets), sum(bytes), sum(srcport), \
         sum(dstport), sum(protocol), sum(start), sum(\"end\"), count(DISTINCT srcaddr), \
         count(DISTINCT interface_id), count(log_status) \
         FROM read_parquet('{lake}/aws-account-id=*/*/*/*/*/*/*.parquet', hive_partitioning=true) \
         GROUP BY ALL ORDER BY ALL"
            .replace("{lake}", &lake.display().to_string())
            .as_str(),
    )
}

/// Starts one shard process; `how` says where its shard number comes from.
fn spawn_shard(input: &Path, lake: &Path, k: u32, n: u32, how: &str) -> std::process::Child {
    let mut cmd = Command::new(bin());
    cmd.arg("convert")
        .arg(input)
        .arg("--out")
        .arg(lake)
        .args(["--json", "--quiet", "--threads", "1"])
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_SIZE")
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match how {
        "flag" => {
            cmd.arg("--shard").arg(format!("{k}/{n}"));
        }
        "aws-batch" => {
            cmd.env("AWS_BATCH_JOB_ARRAY_INDEX", k.to_string())
                .env("AWS_BATCH_JOB_ARRAY_SIZE", n.to_string());
        }
        "kubernetes" => {
            cmd.env("JOB_COMPLETION_INDEX", k.to_string())
                .arg("--shards")
                .arg(n.to_string());
        }
        other => panic!("{other}"),
    }
    cmd.spawn().expect("start a shard")
}

fn written_partitions(report: &Value) -> BTreeSet<String> {
    report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_three_and_seven_shards_write_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "5",
            "--accounts",
            "2",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "300",
        ],
    );
    let single = tmp.path().join("single");
    let (_, report) = convert(&[&input], &single, &[]);
    let all = written_partitions(&report);
    assert_eq!(all.len(), 10, "2 accounts x 5 days");
    let expected = partition_contents(&single);
    assert_eq!(expected.len(), 10);

    for n in [1u32, 3, 7] {
        let lake = tmp.path().join(format!("shards-{n}"));
        // All shards at once, on one lake, as an array job's tasks would run.
        let children: Vec<_> = (0..n)
            .map(|k| {
                let how = match k {
                    0 => "aws-batch",
                    1 => "kubernetes",
                    _ => "flag",
                };
                spawn_shard(&input, &lake, k, n, how)
            })
            .collect();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut rows = 0;
        for (k, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "shard {k}/{n}: {stderr}");
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["shard"], format!("{k}/{n}"));
            let mine = written_partitions(&report);
            // A shard lists only its own day folders (#24): it sees no other shard's partition.
            assert_eq!(report["partitions_in_other_shards"], 0);
            for p in &mine {
                assert!(seen.insert(p.clone()), "{p} written by two shards of {n}");
                assert_eq!(flowlake_shard(p, n), k as u32, "{p} in the wrong shard");
            }
            let count = |f: &str| report[f].as_u64().unwrap();
            assert_eq!(
                count("lines_read"),
                count("rows_written") + count("rejected")
            );
            rows += count("rows_written");
        }
        assert_eq!(seen, all, "{n} shards together write every partition");
        assert_eq!(rows, report["rows_written"].as_u64().unwrap());
        assert_eq!(partition_contents(&lake), expected, "{n} shards");
        let (code, check) = verify(&lake);
        assert_eq!(code, 0, "verify after {n} shards: {check}");
        let staging: Vec<_> = std::fs::read_dir(lake.join("_flowlake/staging"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(staging.is_empty(), "staging left: {staging:?}");

        // A retried shard is a rerun: nothing to do, nothing rewritten.
        if n == 3 {
            let (_, again) = convert(&[&input], &lake, &["--shard", "1/3"]);
            assert_eq!(again["rows_written"], 0);
            assert_eq!(again["files"], 0);
            assert_eq!(
                again["partitions_unchanged"].as_u64().unwrap() as usize,
                all.iter().filter(|p| flowlake_shard(p, 3) == 1).count()
            );
        }
    }
}

/// The shard of a partition, recomputed here (FNV-1a 64 of its account folder `aws-account-id=...`
/// when it has one, else of the path of its day's partition, modulo N): the assignment is a
/// contract, so the test does not take it from the code under test.
fn flowlake_shard(partition: &str, n: u32) -> u32 {
    let first = partition.split('/').next().unwrap();
    let owner = match partition.rsplit_once('/') {
        _ if first.starts_with("aws-account-id=") => first,
        Some((day, last)) if last.starts_with("hour=") => day,
        _ => partition,
    };
    let mut h: u64 = 0xcbf29ce484222325;
    for b in owner.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % n as u64) as u32
}

#[test]
fn bad_shard_settings_are_usage_errors_and_an_unsharded_run_waits_for_nobody() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("aws");
    let lake = tmp.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    let input_s = input.to_str().unwrap();
    for (args, message) in [
        (vec!["--shard", "3/3"], "0 <= K < N"),
        (vec!["--shard", "x"], "not a shard"),
        (vec!["--shards", "4"], "needs a shard index"),
        (vec!["--shard", "0/3", "--shards", "4"], "disagree"),
    ] {
        let mut all = vec!["convert", input_s, "--out", lake_s];
        all.extend(args.iter());
        let run = flowlake(&all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    let run = Command::new(bin())
        .args(["convert", input_s, "--out", lake_s])
        .env("JOB_COMPLETION_INDEX", "0")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--shards"));

    // Shards of 2, then an unsharded run on the same lake: it has nothing left to do.
    for k in 0..2 {
        convert(&[&input], &lake, &["--shard", &format!("{k}/2")]);
    }
    let (_, whole) = convert(&[&input], &lake, &[]);
    assert_eq!(whole["rows_written"], 0);
    assert_eq!(whole["partitions_unchanged"], 4);
    assert!(whole["shard"].is_null());
}
