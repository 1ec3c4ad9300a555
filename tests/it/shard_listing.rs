//! Shards without a plan list only their own day folders (#24): on the loopback S3 server N shards
//! together make about as many listing pages as one run, and together they build one run's lake
//! (rows and sums per partition, read back by DuckDB). The cases covered are AWS's layout with file
//! names that name another account or region, hour partitions, `--partition-time start`, plain lakes,
//! and a new lake that turns out plain. A file that folders below a day folder move into another
//! partition is reported, never built by some shards and lost by others.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::s3::Moto;
use serde_json::Value;

/// Where the shards run: local inputs, or inputs on the loopback S3 server (lakes are local).
enum Runner<'a> {
    Local,
    S3(&'a Moto),
}

impl Runner<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match self {
            Runner::Local => {
                let mut cmd = Command::new(bin());
                cmd.args(args)
                    .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
                    .env_remove("JOB_COMPLETION_INDEX");
                cmd
            }
            Runner::S3(moto) => moto.command(args, &[]),
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Starts `flowlake convert <inputs> --out <lake> --json --quiet <extra>`.
    fn spawn(&self, inputs: &[&str], lake: &Path, extra: &[&str]) -> Child {
        let lake = lake.to_str().unwrap();
        let mut args = vec!["convert"];
        args.extend_from_slice(inputs);
        args.extend_from_slice(&["--out", lake, "--json", "--quiet", "--threads", "1"]);
        args.extend_from_slice(extra);
        self.command(&args).spawn().expect("start flowlake")
    }
}

/// Waits for a convert; its exit code and report.
fn report_of(child: Child) -> (i32, Value) {
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report (exit {code}, {e}): {stderr}"));
    (code, report)
}

/// One unsharded run of `inputs` into `lake`, which must succeed.
fn one_run(runner: &Runner, inputs: &[&str], lake: &Path, extra: &[&str]) -> Value {
    let (code, report) = report_of(runner.spawn(inputs, lake, extra));
    assert_eq!(code, 0, "one run: {report}");
    report
}

/// Shards 0..n of `inputs`, all at once into `lake` as an array job's tasks run; their exit codes
/// and reports.
fn shards(
    runner: &Runner,
    inputs: &[&str],
    lake: &Path,
    n: u32,
    extra: &[&str],
) -> Vec<(i32, Value)> {
    let children: Vec<Child> = (0..n)
        .map(|k| {
            let shard = format!("{k}/{n}");
            let mut args = extra.to_vec();
            args.extend_from_slice(&["--shard", &shard]);
            runner.spawn(inputs, lake, &args)
        })
        .collect();
    children.into_iter().map(report_of).collect()
}

/// Per partition folder (any layout): rows, sums of the integer columns and distinct counts.
fn by_partition(lake: &Path) -> Vec<Vec<Value>> {
    let root = lake.display().to_string();
    duckdb(
        lake,
        &format!(
            "SELECT replace(regexp_replace(filename, '/[^/]*$', ''), '{root}/', '') AS partition, \
             count(*), sum(packets), sum(bytes), sum(srcport), sum(dstport), sum(start), sum(\"end\"), \
             count(DISTINCT srcaddr), count(DISTINCT interface_id) \
             FROM read_parquet('{root}/**/*.parquet', filename = true, hive_partitioning = false) \
             WHERE position('/_flowlake/' IN filename) = 0 GROUP BY ALL ORDER BY ALL"
        ),
    )
}

/// The shard of a partition, recomputed here as the contract says (FNV-1a 64 of its account folder
/// `aws-account-id=...` when it has one, else of the path of its day's partition, modulo N), not
/// taken from the code under test.
fn owner(partition: &str, n: u32) -> u32 {
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

fn written(report: &Value) -> BTreeSet<String> {
    report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect()
}

fn listing_pages(report: &Value) -> u64 {
    report["s3_requests"]["list"].as_u64().unwrap()
}

fn sum_of(reports: &[(i32, Value)], field: &str) -> u64 {
    reports
        .iter()
        .map(|(_, r)| r[field].as_u64().unwrap())
        .sum()
}

/// The shards succeeded, built each partition once, in its own shard, and together wrote what one
/// run wrote into `single`.
fn assert_one_runs_lake(single: &Path, sharded: &Path, all: &[(i32, Value)], what: &str) {
    let n = all.len() as u32;
    let mut seen = BTreeSet::new();
    for (k, (code, report)) in all.iter().enumerate() {
        assert_eq!(*code, 0, "{what}: shard {k}/{n}: {report}");
        for p in written(report) {
            assert_eq!(owner(&p, n), k as u32, "{what}: {p} built by shard {k}");
            assert!(seen.insert(p.clone()), "{what}: {p} built twice");
        }
    }
    assert!(!seen.is_empty(), "{what}: nothing built");
    let expected = by_partition(single);
    assert!(!expected.is_empty());
    assert_eq!(
        by_partition(sharded),
        expected,
        "{what}: {n} shards vs one run"
    );
}

/// The `AWSLogs/<account>/vpcflowlogs/<region>` folders of a generated tree.
fn series(input: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for account in std::fs::read_dir(input.join("AWSLogs")).unwrap() {
        let service = account.unwrap().path().join("vpcflowlogs");
        for region in std::fs::read_dir(service).unwrap() {
            out.push(region.unwrap().path());
        }
    }
    out.sort();
    out
}

/// A generated tree of two accounts, plus two series whose file names name another series: the first
/// account's files copied into a region folder of its own that their names do not name, the second's
/// into the folder of an account that their names do not name. The path's keys win, as in one run.
fn names_that_disagree_with_their_folders(input: &Path, days: &str) {
    generate(
        input,
        &[
            "--accounts",
            "2",
            "--days",
            days,
            "--start",
            "2024-03-01",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "20",
            "--enis",
            "5",
        ],
    );
    let found = series(input);
    assert_eq!(found.len(), 2, "{found:?}");
    let region = found[0].file_name().unwrap().to_str().unwrap();
    let other = if region == "eu-north-1" {
        "us-west-2"
    } else {
        "eu-north-1"
    };
    copy_tree(&found[0], &found[0].with_file_name(other));
    let region = found[1].file_name().unwrap();
    copy_tree(
        &found[1],
        &input.join("AWSLogs/999999999999/vpcflowlogs").join(region),
    );
}

#[test]
fn unplanned_s3_shards_together_list_about_what_one_run_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    // 2 accounts x 2 regions (4 series), 2 files a day: two days (a nightly run, where the key tree
    // above the day folders is most of the listing) and thirty.
    for days in [2u64, 30] {
        let input = tmp.path().join(format!("input-{days}"));
        names_that_disagree_with_their_folders(&input, &days.to_string());
        let prefix = format!("in-{days}");
        moto.upload(&input, "logs", &prefix);
        let runner = Runner::S3(&moto);
        let root = format!("s3://logs/{prefix}");
        let inputs = [root.as_str()];
        let single = tmp.path().join(format!("single-{days}"));
        let one = one_run(&runner, &inputs, &single, &[]);
        assert_eq!(written(&one).len() as u64, 4 * days);
        assert_eq!(one["files"], 4 * days * 2);
        let pages = listing_pages(&one);
        for n in [3u32, 4] {
            let lake = tmp.path().join(format!("shards-{days}-{n}"));
            let all = shards(&runner, &inputs, &lake, n, &[]);
            let what = format!("{days} days, {n} S3 shards");
            assert_one_runs_lake(&single, &lake, &all, &what);
            assert_eq!(
                sum_of(&all, "files"),
                4 * days * 2,
                "{what}: each file read once"
            );
            assert_eq!(
                sum_of(&all, "partitions_in_other_shards"),
                0,
                "{what}: a shard lists no account folder of another shard"
            );
            let each: Vec<u64> = all.iter().map(|(_, r)| listing_pages(r)).collect();
            let total: u64 = each.iter().sum();
            eprintln!("{what}: listing pages: one run {pages}; shards {total} ({each:?})");
            assert!(
                total as f64 <= 1.5 * pages as f64,
                "{what}: shards listed {total} pages ({each:?}), one run {pages}"
            );
        }
        // A retried shard is a rerun: nothing left to build.
        let lake = tmp.path().join(format!("shards-{days}-3"));
        let (code, again) = report_of(runner.spawn(&inputs, &lake, &["--shard", "1/3"]));
        assert_eq!((code, &again["rows_written"]), (0, &Value::from(0)));
        assert_eq!(again["files"], 0);
    }
}

#[test]
fn unplanned_shards_with_hour_partitions_and_start_times_build_one_runs_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--accounts",
            "2",
            "--days",
            "6",
            "--start",
            "2024-02-27",
            "--files-per-day",
            "6",
            "--lines-per-file",
            "40",
            "--enis",
            "5",
            "--hourly",
        ],
    );
    moto.upload(&input, "logs", "in");
    let runner = Runner::S3(&moto);
    let inputs = ["s3://logs/in"];
    for (name, extra) in [
        ("hourly", &["--hourly"][..]),
        ("start", &["--partition-time", "start"][..]),
        (
            "hourly-start",
            &["--hourly", "--partition-time", "start"][..],
        ),
    ] {
        let single = tmp.path().join(format!("{name}-single"));
        let one = one_run(&runner, &inputs, &single, extra);
        let pages = listing_pages(&one);
        let lake = tmp.path().join(format!("{name}-shards"));
        let all = shards(&runner, &inputs, &lake, 3, extra);
        assert_one_runs_lake(&single, &lake, &all, name);
        let each: Vec<u64> = all.iter().map(|(_, r)| listing_pages(r)).collect();
        let total: u64 = each.iter().sum();
        eprintln!("{name}: listing pages: one run {pages}; 3 shards {total} ({each:?})");
        // Each day folder is listed by one shard (with start times: by the shards of its day and of
        // the day before), never by all three.
        let bound = if name.contains("start") { 3.0 } else { 1.5 };
        assert!(
            (total as f64) < bound * pages as f64,
            "{name}: {total} pages ({each:?}), one run {pages}"
        );
        if name == "hourly" {
            // The hours of a day are built by the shard of the day.
            for (_, report) in &all {
                for p in written(report) {
                    assert!(p.contains("/hour="), "{p}");
                }
            }
        }
    }
}

#[test]
fn plain_lakes_and_a_new_lake_that_turns_out_plain_build_one_runs_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--accounts",
            "2",
            "--days",
            "5",
            "--start",
            "2024-03-01",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "20",
            "--enis",
            "5",
        ],
    );
    let runner = Runner::Local;
    let n = 3;
    // AWS-named files in plain day folders (`flat/2024/03/01/<account>_vpcflowlogs_...`): a day
    // folder says nothing of the account, the names do.
    let flat = tmp.path().join("flat");
    for region in series(&input) {
        copy_tree(&region, &flat);
    }
    let flat_s = flat.to_str().unwrap();
    // A new lake with AWS's keys (from the names): no day folder can be left out.
    let single = tmp.path().join("flat-single");
    one_run(&runner, &[flat_s], &single, &[]);
    let lake = tmp.path().join("flat-shards");
    let all = shards(&runner, &[flat_s], &lake, n, &[]);
    assert_one_runs_lake(&single, &lake, &all, "flat tree, AWS keys");
    assert_eq!(
        sum_of(&all, "partitions_in_other_shards"),
        u64::from(n - 1) * 10,
        "every shard lists every day"
    );
    // A plain lake: a day folder's files go to its day's partition, whatever their names say.
    let plain = ["--partition-layout", "plain"];
    let single = tmp.path().join("plain-single");
    one_run(&runner, &[flat_s], &single, &plain);
    let lake = tmp.path().join("plain-shards");
    let all = shards(&runner, &[flat_s], &lake, n, &plain);
    assert_one_runs_lake(&single, &lake, &all, "flat tree, plain lake");
    assert_eq!(sum_of(&all, "partitions_in_other_shards"), 0);
    // ... and a second run into the plain lake knows its layout from the lake.
    put(
        &flat,
        "2024/03/06/late.log.gz",
        &v2_gz([V2 {
            bytes: 4242,
            start: 1709683200,
            end: 1709683260,
            ..V2::default()
        }]),
    );
    one_run(&runner, &[flat_s], &single, &[]);
    let all = shards(&runner, &[flat_s], &lake, n, &[]);
    assert_one_runs_lake(&single, &lake, &all, "plain lake, its layout stored");
    assert_eq!(sum_of(&all, "rows_written"), 1);
    assert_eq!(sum_of(&all, "partitions_in_other_shards"), 0);

    // A new lake (auto layout) of AWS's tree and one file that names no account: the lake will be
    // plain, so the day folders the shards left out as AWS-keyed partitions are listed after all.
    let loose = tmp.path().join("loose");
    put(
        &loose,
        "2024/03/02/flows.log.gz",
        &v2_gz([V2 {
            bytes: 777,
            start: 1709337600,
            end: 1709337660,
            ..V2::default()
        }]),
    );
    let roots = [input.to_str().unwrap(), loose.to_str().unwrap()];
    let single = tmp.path().join("mixed-single");
    let one = one_run(&runner, &roots, &single, &[]);
    assert!(
        written(&one).iter().all(|p| p.starts_with("year=")),
        "a plain lake: {one}"
    );
    let lake = tmp.path().join("mixed-shards");
    let all = shards(&runner, &roots, &lake, n, &[]);
    assert_one_runs_lake(&single, &lake, &all, "AWS tree and a file with no account");
}

#[test]
fn a_file_that_folders_below_a_day_folder_move_to_another_day_is_reported_not_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--accounts",
            "1",
            "--days",
            "9",
            "--start",
            "2024-03-01",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "20",
            "--enis",
            "5",
        ],
    );
    let plain = ["--partition-layout", "plain"];
    let reference = tmp.path().join("reference-plain");
    one_run(
        &Runner::Local,
        &[input.to_str().unwrap()],
        &reference,
        &plain,
    );
    // A copy kept inside the day folder of 03-01, of a file of 03-09: one run takes the deeper date.
    let region = &series(&input)[0];
    let name = region.file_name().unwrap().to_str().unwrap();
    let account = region
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .unwrap()
        .to_str()
        .unwrap();
    let stray_name = format!("{account}_vpcflowlogs_{name}_fl-1_20240309T0000Z_0000beef.log.gz");
    let stray = put(
        region,
        &format!("2024/03/01/backup/2024/03/09/{stray_name}"),
        &v2_gz([V2 {
            bytes: 777,
            start: 1709942400,
            end: 1709942460,
            ..V2::default()
        }]),
    );
    let input_s = input.to_str().unwrap();
    let n = 3;
    // With AWS's keys the account decides the shard: its shard lists the whole tree and builds the
    // copied file into 03-09 as one run does.
    let single = tmp.path().join("single");
    let one = one_run(&Runner::Local, &[input_s], &single, &[]);
    assert_eq!(one["files"], 9 * 2 + 1);
    let lake = tmp.path().join("shards");
    let all = shards(&Runner::Local, &[input_s], &lake, n, &[]);
    assert_one_runs_lake(&single, &lake, &all, "one account, a copy in another day");
    assert_eq!(sum_of(&all, "files"), 9 * 2 + 1);
    let busy: Vec<u64> = all
        .iter()
        .map(|(_, r)| r["partitions"].as_u64().unwrap())
        .collect();
    assert_eq!(busy.iter().filter(|&&p| p > 0).count(), 1, "{busy:?}");
    for (_, report) in &all {
        let warnings = report["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w["message"]
                .as_str()
                .unwrap()
                .starts_with("1 account(s) for 3 shards")),
            "every shard says why two have nothing to do: {warnings:?}"
        );
    }

    // A plain lake's shards own days: the shard that lists the day folder of 03-01 names the file;
    // none builds it; the rest is built.
    let lake = tmp.path().join("shards-plain");
    let all = shards(&Runner::Local, &[input_s], &lake, n, &plain);
    let first = "year=2024/month=03/day=01";
    for (k, (code, report)) in all.iter().enumerate() {
        let failed: Vec<&Value> = report["failed"].as_array().unwrap().iter().collect();
        if owner(first, n) == k as u32 {
            assert_eq!(*code, 3, "{report}");
            assert_eq!(failed.len(), 1, "{report}");
            assert_eq!(failed[0]["path"], stray.to_str().unwrap());
            assert_eq!(failed[0]["kind"], "listing");
            assert!(
                failed[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("without a plan"),
                "{report}"
            );
        } else {
            assert_eq!((*code, failed.len()), (0, 0), "{report}");
        }
    }
    assert_eq!(sum_of(&all, "files"), 9 * 2);
    assert_eq!(
        by_partition(&lake),
        by_partition(&reference),
        "the shards' lake holds every other file once"
    );
}
