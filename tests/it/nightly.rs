//! Nightly-safe runs: incremental and idempotent conversion, repair after damage or a crash, the lake
//! lock, the reject-ratio policy and `flowlake verify`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::*;
use serde_json::{json, Value};

/// (inode, mtime in ns) of every published Parquet file: changes when a file is rewritten.
fn identities(lake: &Path) -> BTreeMap<PathBuf, (u64, i64)> {
    parquet_files(lake)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("/_flowlake/"))
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap();
            (p, (m.ino(), m.mtime_nsec() + m.mtime() * 1_000_000_000))
        })
        .collect()
}

/// Count and per-column sums of a lake, through DuckDB.
fn fingerprint(lake: &Path) -> Vec<Value> {
    duckdb(
        lake,
        "SELECT count(*), sum(packets)::BIGINT, sum(bytes)::BIGINT, sum(srcport)::BIGINT, sum(start)::BIGINT, \
         count(srcaddr), count(DISTINCT interface_id) FROM {lake}",
    )
    .remove(0)
}

#[test]
fn rerun_with_nothing_new_rewrites_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (_, first) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(first["partitions"], json!(4));
    let before = identities(&lake);
    let (run, again) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        (
            again["partitions"].clone(),
            again["partitions_unchanged"].clone()
        ),
        (json!(0), json!(4))
    );
    assert_eq!(
        (again["files"].clone(), again["files_unchanged"].clone()),
        (json!(0), json!(24))
    );
    assert_eq!(identities(&lake), before, "no file rewritten");
    assert_eq!(verify(&lake).0, 0);
    // --rebuild rewrites, with the same content.
    let reference = fingerprint(&lake);
    let (_, rebuilt) = convert(&[&fixtures().join("aws")], &lake, &["--rebuild"]);
    assert_eq!(rebuilt["partitions"], json!(4));
    assert_eq!(fingerprint(&lake), reference);
    assert_ne!(identities(&lake), before, "--rebuild wrote new files");
}

#[test]
fn a_new_file_in_an_old_day_rebuilds_that_day_only() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copy_tree(&fixtures().join("aws"), &input);
    let lake = tmp.path().join("lake");
    convert(&[&input], &lake, &[]);
    let before = identities(&lake);
    let day = walk(&input)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/us-east-1/2024/03/09/"))
        .unwrap();
    let late = day
        .parent()
        .unwrap()
        .join("662306410322_vpcflowlogs_us-east-1_fl-late_20240309T2355Z_0000beef.log.gz");
    let header = HEADER;
    std::fs::write(&late, gzip(format!("{header}2 662306410322 eni-late 10.9.9.9 10.8.8.8 1 2 6 7 700 1710028500 1710028560 ACCEPT OK\n").as_bytes())).unwrap();
    let (_, report) = convert(&[&input], &lake, &[]);
    assert_eq!(
        (
            report["partitions"].clone(),
            report["partitions_unchanged"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(report["rows_written"], json!(1501));
    let after = identities(&lake);
    let changed: Vec<&PathBuf> = after
        .keys()
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert_eq!(changed.len(), 1);
    assert!(changed[0]
        .to_string_lossy()
        .contains("aws-region=us-east-1/year=2024/month=03/day=09/"));
    assert_eq!(fingerprint(&lake)[0], json!(6001));
    // A changed file (new size and mtime) rebuilds its day too; a narrower input root does not drop
    // the other files of that day (the manifest remembers them).
    std::fs::write(&late, gzip(format!("{header}2 662306410322 eni-late 10.9.9.9 10.8.8.8 1 2 6 7 700 1710028500 1710028560 ACCEPT OK\n2 662306410322 eni-late 10.9.9.9 10.8.8.8 1 2 6 7 700 1710028500 1710028560 ACCEPT OK\n").as_bytes())).unwrap();
    let (_, report) = convert(&[&late], &lake, &[]);
    assert_eq!(report["partitions"], json!(1));
    assert_eq!(
        report["rows_written"],
        json!(1502),
        "the day's other files are still in"
    );
    assert_eq!(fingerprint(&lake)[0], json!(6002));
    assert_eq!(verify(&lake).0, 0);
}

#[test]
fn damage_to_the_lake_is_found_by_verify_and_repaired_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let reference = fingerprint(&lake);
    let files = parquet_files(&lake);
    std::fs::remove_file(&files[0]).unwrap();
    std::fs::write(&files[1], b"PAR1 not really").unwrap();
    let stray = files[2].parent().unwrap().join("part-00007.parquet");
    std::fs::copy(&files[3], &stray).unwrap();
    let (code, report) = verify(&lake);
    assert_eq!(code, 3);
    let mut kinds: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["missing", "orphan", "size", "unreadable"]);
    let (_, run) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(
        (
            run["partitions"].clone(),
            run["partitions_unchanged"].clone()
        ),
        (json!(3), json!(1))
    );
    assert_eq!(fingerprint(&lake), reference);
    assert_eq!(verify(&lake).0, 0);
}

#[test]
fn a_second_run_on_a_locked_lake_refuses_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    std::fs::create_dir_all(lake.join("_flowlake")).unwrap();
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lake.join("_flowlake/lock"))
        .unwrap();
    holder.try_lock().unwrap();
    let run = convert_expecting_failure(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("another flowlake run is using the lake"),
        "{}",
        run.stderr
    );
    assert!(parquet_files(&lake).is_empty());
    // verify takes no lock: it reads the lake and says a run is writing it.
    let (code, report) = verify(&lake);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["writer_active"].clone(), report["writers"].clone()),
        (json!(true), json!(["a flowlake run"]))
    );
    drop(holder);
    let (run, _) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(run.code, 0);
}

#[test]
fn a_partition_past_the_reject_ratio_is_not_published() {
    let tmp = tempfile::tempdir().unwrap();
    let header = HEADER;
    let good = "2 1 eni-a 10.0.0.1 10.0.0.2 1 2 6 3 4 1704067200 1704067260 ACCEPT OK\n";
    put(
        tmp.path(),
        "in/2024/01/01/ok.log.gz",
        &gzip(format!("{header}{}", good.repeat(100)).as_bytes()),
    );
    put(
        tmp.path(),
        "in/2024/01/02/bad.log.gz",
        &gzip(
            format!(
                "{header}{}{}",
                good.repeat(90),
                "2 1 eni-a junk\n".repeat(10)
            )
            .as_bytes(),
        ),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 4, "10% rejects > default 5%");
    assert_eq!(
        report["aborted"],
        json!([{"path": "year=2024/month=01/day=02", "reason": "reject ratio above --max-reject-ratio", "lines": 100, "rejected": 10, "rows": 90}])
    );
    assert_eq!(
        (
            report["rows_written"].clone(),
            report["rows_not_published"].clone()
        ),
        (json!(100), json!(90))
    );
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 1);
    assert!(files[0].to_string_lossy().contains("day=01"));
    // Raising the limit publishes it (the good day is unchanged and not rewritten).
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--max-reject-ratio", "0.2"],
    );
    assert_eq!(run.code, 3);
    assert_eq!(
        (
            report["partitions"].clone(),
            report["partitions_unchanged"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(190));
}

/// kill -9 at many moments of real runs on one lake, then a normal run: the lake equals a clean run's.
#[test]
fn kill_dash_nine_at_random_moments_then_rerun_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--seed",
            "9",
            "--days",
            "3",
            "--files-per-day",
            "12",
            "--lines-per-file",
            "6000",
            "--format",
            "mixed",
        ],
    );
    // Small files and row groups: several files per partition, many publish steps to interrupt.
    let knobs = [
        "--target-file-size",
        "1MiB",
        "--row-group-rows",
        "20000",
        "--read-ahead",
        "256KiB",
        "--threads",
        "2",
    ];
    let reference_lake = tmp.path().join("reference");
    let started = Instant::now();
    convert(&[&input], &reference_lake, &knobs);
    let clean = started.elapsed();
    let reference = fingerprint(&reference_lake);
    assert_eq!(reference[0], json!(3 * 12 * 2 * 6000));

    let lake = tmp.path().join("lake");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    // Kill at a random moment of the expected run time; when a run finished before its kill, the
    // estimate was too long (the machine is less loaded now): shrink it. Go on until 20 kills have
    // interrupted real runs.
    let mut estimate = clean;
    let (mut interrupted, mut attempts) = (0, 0);
    while interrupted < 20 {
        attempts += 1;
        assert!(
            attempts <= 120,
            "only {interrupted} of {attempts} kills interrupted a run"
        );
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let fraction = (seed >> 33) as f64 / (1u64 << 31) as f64; // 0..1
        let mut cmd = Command::new(bin());
        cmd.arg("convert")
            .arg(&input)
            .arg("--out")
            .arg(&lake)
            .args(knobs);
        if interrupted % 4 != 3 {
            cmd.arg("--rebuild"); // rewrite everything: kills land in swaps of already-published days too
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(estimate.mul_f64(0.02 + fraction * 0.9));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        } else {
            estimate = estimate.mul_f64(0.8);
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        // Whatever the moment, no reader can find an unreadable (partial) Parquet file: not verify,
        // and not DuckDB's `**/*.parquet` glob, which does not skip `_flowlake/`.
        let (_, report) = verify(&lake);
        for p in report["problems"].as_array().into_iter().flatten() {
            assert_ne!(p["kind"], json!("unreadable"), "kill {attempts}: {p}");
        }
        if !parquet_files(&lake).is_empty() {
            let rows = py(&format!(
                "import duckdb, json\nprint(json.dumps(duckdb.connect().sql(\"SELECT count(*), sum(bytes) \
                 FROM read_parquet('{}/**/*.parquet', hive_partitioning = true)\").fetchall()[0][0]))",
                lake.display()
            ));
            assert!(rows.as_u64().is_some(), "kill {attempts}: {rows}");
        }
    }
    eprintln!("{interrupted} of {attempts} kills interrupted a run (clean run: {clean:?})");
    let (run, _) = convert(&[&input], &lake, &knobs);
    assert!(run.code == 0, "{}", run.stderr);
    assert_eq!(
        fingerprint(&lake),
        reference,
        "after {interrupted} kills the lake equals a clean run"
    );
    let (code, report) = verify(&lake);
    assert_eq!(code, 0, "{report}");
    assert!(
        parquet_files(&lake.join("_flowlake")).is_empty(),
        "staging is cleaned"
    );
}

#[test]
fn two_real_runs_at_once_never_interleave() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--days",
            "2",
            "--files-per-day",
            "16",
            "--lines-per-file",
            "5000",
        ],
    );
    let lake = tmp.path().join("lake");
    let spawn = || {
        Command::new(bin())
            .arg("convert")
            .arg(&input)
            .arg("--out")
            .arg(&lake)
            .args(["--quiet", "--threads", "1"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    assert_eq!(codes, [0, 1], "one run converts, the other refuses");
    let refused = if a.status.code() == Some(1) { &a } else { &b };
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another flowlake run is using the lake")
    );
    assert_eq!(fingerprint(&lake)[0], json!(2 * 16 * 5000));
    assert_eq!(verify(&lake).0, 0);
}

#[test]
fn a_stopped_swap_is_repaired_even_outside_the_next_runs_range() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let reference = fingerprint(&lake);
    // The state a run stopped in the middle of a file-by-file swap of one partition leaves: its journal
    // mark, and old and new files side by side (duplicate rows).
    let part = parquet_files(&lake)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("day=09"))
        .unwrap();
    let dir = part.parent().unwrap().to_path_buf();
    std::fs::copy(&part, dir.join("part-00009.parquet")).unwrap();
    let partition = dir
        .strip_prefix(&lake)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    put(
        &lake,
        &format!("_flowlake/journal/{partition}.pending"),
        b"",
    );
    assert_ne!(
        fingerprint(&lake)[0],
        reference[0],
        "readers see duplicates"
    );
    // The next night converts another day only; the stopped swap is still repaired.
    let (run, report) = convert(
        &[&fixtures().join("aws")],
        &lake,
        &["--from", "2024-03-10", "--to", "2024-03-10"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rebuilt: Vec<&str> = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(rebuilt.contains(&partition.as_str()), "{rebuilt:?}");
    assert_eq!(fingerprint(&lake), reference);
    assert!(walk(&lake.join("_flowlake/journal")).is_empty());
    assert_eq!(verify(&lake).0, 0);
}

#[test]
fn settings_that_move_rows_are_fixed_per_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    for other in [
        &["--partition-layout", "plain"][..],
        &["--hourly"],
        &["--partition-time", "start"],
    ] {
        let mut args = vec![
            "convert".to_string(),
            fixtures().join("aws").display().to_string(),
            "--out".into(),
            lake.display().to_string(),
        ];
        args.extend(other.iter().map(|s| s.to_string()));
        let run = flowlake(&args);
        assert_eq!(run.code, 1, "{other:?}");
        assert!(
            run.stderr
                .contains("was written with --partition-layout aws --partition-time delivery"),
            "{}",
            run.stderr
        );
    }
    // A file that names no account or region cannot join a lake with AWS's keys: skipped, said why.
    let extra = tmp.path().join("extra");
    put(
        &extra,
        "2024/03/11/flows.log",
        b"version srcaddr\n2 10.0.0.1\n",
    );
    let (run, report) = convert(&[&extra], &lake, &[]);
    assert_eq!(
        run.code, 3,
        "a skipped flow log file makes the run not clean"
    );
    assert_eq!(report["files_skipped"], json!(1));
    assert_eq!(report["skipped"][0]["flow_log"], json!(true));
    assert!(report["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("AWS's keys"));
    assert_eq!(fingerprint(&lake)[0], json!(6000));
}

#[test]
fn a_moved_input_tree_is_not_read_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    copy_tree(&fixtures().join("aws"), &old);
    let lake = tmp.path().join("lake");
    convert(&[&old], &lake, &[]);
    let new = tmp.path().join("new");
    copy_tree(&old, &new); // copies get new mtimes: every partition's inputs changed
    let (_, report) = convert(&[&new], &lake, &[]);
    assert_eq!(report["partitions"], json!(4));
    assert_eq!(
        report["files"],
        json!(24),
        "the old copies are not read again"
    );
    assert_eq!(fingerprint(&lake)[0], json!(6000));
}

#[test]
fn files_that_failed_for_a_passing_reason_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let header = HEADER;
    let line = "2 1 eni-a 10.0.0.1 10.0.0.2 1 2 6 3 4 1704067200 1704067260 ACCEPT OK\n";
    put(
        tmp.path(),
        "in/2024/01/01/small.log.gz",
        &gzip(format!("{header}{line}").as_bytes()),
    );
    put(
        tmp.path(),
        "in/2024/01/01/big.log.gz",
        &gzip(format!("{header}{}", line.repeat(200)).as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let small_limit = ["--max-file-size", "4KiB"];
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &small_limit);
    assert_eq!((run.code, report["rows_written"].clone()), (3, json!(1)));
    assert_eq!(report["failed"][0]["kind"], json!("too_large"));
    let (_, again) = convert(&[&tmp.path().join("in")], &lake, &small_limit);
    assert_eq!(
        again["partitions"],
        json!(1),
        "a too_large file is retried, not taken as done"
    );
    let (run, last) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!((run.code, last["rows_written"].clone()), (0, json!(201)));
    assert_eq!(fingerprint(&lake)[0], json!(201));
}
