//! `flowlake plan` and `convert --plan` (#24): a plan and N shard processes write the lake one run
//! writes (rows and sums per partition, read back by DuckDB), on a local lake and from the loopback S3
//! server, where the shards make no listing request of the input; whole units are balanced by bytes
//! on a skewed input, and with `--partition-time start` an account's neighbouring days stay together; an input changed after planning fails its file, naming the plan, and its
//! partition is not published; a shard killed with SIGKILL then retried loses and duplicates
//! nothing; flags that would change a plan's settings, an unknown plan and another shard count are
//! refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::s3::Moto;
use serde_json::{json, Value};

/// Per partition: rows and sums of the integer columns, and distinct counts of two string columns.
fn partition_contents(lake: &Path) -> Vec<Vec<Value>> {
    duckdb(
        lake,
        &format!(
            "SELECT \"aws-account-id\", year, month, day, count(*), sum(packets), sum(bytes), \
             sum(srcport), sum(dstport), sum(start), sum(\"end\"), count(DISTINCT srcaddr), \
             count(DISTINCT interface_id) \
             FROM read_parquet('{}/aws-account-id=*/*/*/*/*/*/*.parquet', hive_partitioning=true, \
             hive_types_autocast=false) GROUP BY ALL ORDER BY ALL",
            lake.display()
        ),
    )
}

/// `flowlake plan <inputs> --out <lake> --shards <n> --json <extra>` run in `cwd`: (exit code, report).
fn plan_in(cwd: &Path, inputs: &[&str], lake: &str, n: u32, extra: &[&str]) -> (i32, Value) {
    let run: Run = Command::new(bin())
        .current_dir(cwd)
        .arg("plan")
        .args(inputs)
        .args([
            "--out",
            lake,
            "--shards",
            &n.to_string(),
            "--json",
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("run flowlake plan")
        .into();
    assert!(
        matches!(run.code, 0 | 3),
        "plan failed ({}): {}",
        run.code,
        run.stderr
    );
    let report = run.report();
    assert!(report["id"].is_string(), "{report}");
    (run.code, report)
}

fn plan(inputs: &[&Path], lake: &Path, n: u32, extra: &[&str]) -> Value {
    let inputs: Vec<&str> = inputs.iter().map(|p| p.to_str().unwrap()).collect();
    plan_in(Path::new("/"), &inputs, lake.to_str().unwrap(), n, extra).1
}

/// A shard process of plan `id`, made by `new_command` from its arguments; `how` says where its
/// shard number comes from.
fn shard(
    new_command: &dyn Fn(&[&str]) -> Command,
    lake: &str,
    id: &str,
    (k, n): (u32, u32),
    how: &str,
) -> Command {
    let spelled = format!("{k}/{n}");
    let mut args = vec!["convert", "--out", lake, "--plan", id, "--json", "--quiet"];
    args.extend(["--threads", "1"]);
    if how == "flag" {
        args.extend(["--shard", &spelled]);
    }
    let mut cmd = new_command(&args);
    cmd.env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .env_remove("AWS_BATCH_JOB_ARRAY_SIZE")
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match how {
        "flag" => {}
        // AWS Batch's index without its size, and Kubernetes' index without --shards: N is the plan's.
        "aws-batch" => {
            cmd.env("AWS_BATCH_JOB_ARRAY_INDEX", k.to_string());
        }
        "kubernetes" => {
            cmd.env("JOB_COMPLETION_INDEX", k.to_string());
        }
        other => panic!("{other}"),
    }
    cmd
}

/// `flowlake <args>` run from `/`.
fn local(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir("/").args(args);
    cmd
}

/// Runs the N shards of plan `report` at once (commands from `new_command`); their reports.
fn run_shards(new_command: &dyn Fn(&[&str]) -> Command, lake: &str, report: &Value) -> Vec<Value> {
    let id = report["id"].as_str().unwrap();
    let n = report["shard_count"].as_u64().unwrap() as u32;
    let children: Vec<_> = (0..n)
        .map(|k| {
            let how = ["aws-batch", "kubernetes", "flag"][k as usize % 3];
            shard(new_command, lake, id, (k, n), how)
                .spawn()
                .expect("start a shard")
        })
        .collect();
    children
        .into_iter()
        .enumerate()
        .map(|(k, child)| {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "shard {k}/{n}: {stderr}");
            let r: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(r["shard"], format!("{k}/{n}"), "{r}");
            assert_eq!(r["plan"], id);
            r
        })
        .collect()
}

fn written(report: &Value) -> BTreeSet<String> {
    report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect()
}

/// Each partition written by exactly one shard, all of them together the single run's; the shards'
/// rows and input bytes those of the plan.
fn check_shards(shards: &[Value], plan: &Value, single: &Value) {
    let mut seen = BTreeSet::new();
    for (k, r) in shards.iter().enumerate() {
        for p in written(r) {
            assert!(seen.insert(p.clone()), "{p} written twice");
        }
        let figures = &plan["shards"][k];
        assert_eq!(r["partitions"], figures["partitions"], "shard {k}: {r}");
        assert_eq!(r["files"], figures["files"], "shard {k}");
        assert_eq!(r["input_bytes"], figures["bytes"], "shard {k}");
    }
    assert_eq!(seen, written(single));
    let rows: u64 = shards
        .iter()
        .map(|r| r["rows_written"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, single["rows_written"].as_u64().unwrap());
    assert_eq!(
        plan["total"]["partitions"].as_u64().unwrap() as usize,
        seen.len()
    );
}

/// The parts of a plan as written: per shard, its partitions' paths and their inputs' bytes.
fn parts(lake: &Path, plan: &Value) -> Vec<BTreeMap<String, u64>> {
    let dir = lake
        .join("_flowlake/plans")
        .join(plan["id"].as_str().unwrap());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(summary["format"], "flowlake-plan/1");
    assert_eq!(summary["shards"], plan["shards"]);
    summary["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let gz = std::fs::read(dir.join(s["part"].as_str().unwrap())).unwrap();
            let mut json = String::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_string(&mut json)
                .unwrap();
            let part: Value = serde_json::from_str(&json).unwrap();
            part["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let bytes = p["inputs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["size"].as_u64().unwrap())
                        .sum();
                    (p["path"].as_str().unwrap().to_string(), bytes)
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_plan_and_its_shards_write_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "4",
            "--accounts",
            "3",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "200",
        ],
    );
    let (_, single) = convert(&[&input], &tmp.path().join("single"), &[]);
    let expected = partition_contents(&tmp.path().join("single"));
    assert_eq!(expected.len(), 12);

    // Planned with a relative input path and lake, in the temporary folder; the shards run from /.
    let (code, report) = plan_in(tmp.path(), &["input"], "lake", 3, &[]);
    assert_eq!(code, 0, "{report}");
    let lake = tmp.path().join("lake");
    assert_eq!(report["shard_count"], 3);
    assert_eq!(report["total"]["partitions"], 12);
    assert_eq!(report["total"]["files"], 36);
    assert!(
        report["plan"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{}/plan.json", report["id"].as_str().unwrap())),
        "{report}"
    );
    let stored = parts(&lake, &report);
    let dir = lake
        .join("_flowlake/plans")
        .join(report["id"].as_str().unwrap());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("plan.json")).unwrap()).unwrap();
    let root = summary["settings"]["inputs"][0].as_str().unwrap();
    assert_eq!(Path::new(root), input, "inputs are stored absolute");
    assert_eq!(summary["settings"]["partitioning"]["layout"], "aws");
    assert!(summary["settings"].get("threads").is_none(), "{summary}");
    // Nothing but the plan is written to the lake.
    let written_files: Vec<PathBuf> = walk(&lake);
    assert!(
        written_files.iter().all(|p| p.strip_prefix(&dir).is_ok()),
        "{written_files:?}"
    );

    let shards = run_shards(&local, lake.to_str().unwrap(), &report);
    check_shards(&shards, &report, &single);
    for (k, r) in shards.iter().enumerate() {
        let mine: BTreeSet<String> = stored[k].keys().cloned().collect();
        assert_eq!(written(r), mine, "shard {k} builds exactly its part");
    }
    assert_eq!(partition_contents(&lake), expected);
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");

    // Run again: every shard's partitions are up to date.
    let again = run_shards(&local, lake.to_str().unwrap(), &report);
    for r in &again {
        assert_eq!(r["rows_written"], 0, "{r}");
        assert_eq!(r["files"], 0);
    }
    let unchanged: u64 = again
        .iter()
        .map(|r| r["partitions_unchanged"].as_u64().unwrap())
        .sum();
    assert_eq!(unchanged, 12);

    // A plan of an up-to-date lake has nothing to build.
    let nothing = plan(&[&input], &lake, 2, &[]);
    assert_eq!(nothing["total"]["partitions"], 0);
    assert_eq!(nothing["partitions_unchanged"], 12);
    assert_eq!(nothing["files_unchanged"], 36);
}

#[test]
fn planned_shards_on_s3_list_nothing_of_the_input_and_write_what_one_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("lake");
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "3",
            "--accounts",
            "2",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "200",
        ],
    );
    moto.upload(&input, "logs", "in");
    let single_lake = tmp.path().join("single");
    let (_, single) = convert(&[&input], &single_lake, &[]);
    let expected = partition_contents(&single_lake);
    let one_run = moto.convert(
        "s3://logs/in",
        tmp.path().join("one").to_str().unwrap(),
        &[],
    );
    let one_run_pages = one_run["s3_requests"]["list"].as_u64().unwrap();

    // S3 input, local lake: every S3 request of a shard is the input's, and none is a listing.
    let lake = tmp.path().join("lake");
    let made = moto.flowlake(
        &[
            "plan",
            "s3://logs/in",
            "--out",
            lake.to_str().unwrap(),
            "--shards",
            "3",
            "--json",
        ],
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let report = made.report();
    let pages = report["s3_requests"]["list"].as_u64().unwrap();
    assert!(
        pages <= one_run_pages + one_run_pages / 10,
        "the plan lists once: {pages} pages, a run {one_run_pages}"
    );
    let shards = run_shards(&|a| moto.command(a, &[]), lake.to_str().unwrap(), &report);
    for r in &shards {
        let requests = &r["s3_requests"];
        assert_eq!(
            requests["list"], 0,
            "a planned shard lists nothing: {requests}"
        );
        assert_eq!(
            requests["get"].as_u64().unwrap(),
            r["files"].as_u64().unwrap(),
            "one GET per input: {requests}"
        );
    }
    check_shards(&shards, &report, &single);
    assert_eq!(partition_contents(&lake), expected);

    // S3 input, S3 lake: the plan is created in the lake's bucket, the shards read it from there.
    let made = moto.flowlake(
        &[
            "plan",
            "s3://logs/in",
            "--out",
            "s3://lake/planned",
            "--shards",
            "2",
            "--json",
        ],
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let report = made.report();
    let id = report["id"].as_str().unwrap();
    let keys = moto.boto(&format!(
        "r = s3.list_objects_v2(Bucket='lake', Prefix='planned/_flowlake/plans/{id}/')\n\
         print(json.dumps(sorted(o['Key'].rsplit('/', 1)[1] for o in r.get('Contents', []))))"
    ));
    assert_eq!(
        keys,
        serde_json::json!(["plan.json", "shard-0.json.gz", "shard-1.json.gz"])
    );
    let shards = run_shards(&|a| moto.command(a, &[]), "s3://lake/planned", &report);
    check_shards(&shards, &report, &single);
    let downloaded = tmp.path().join("downloaded");
    moto.download("lake", "planned", &downloaded);
    assert_eq!(partition_contents(&downloaded), expected);

    // An object replaced after planning: its conditional GET fails, the shard names the plan, and
    // its partition keeps what it had.
    let input_key = "in/AWSLogs";
    let replaced = moto.boto(&format!(
        "r = s3.list_objects_v2(Bucket='logs', Prefix='{input_key}')\nk = sorted(o['Key'] for o in r['Contents'])[0]\n\
         print(json.dumps(k))"
    ));
    let replaced = replaced.as_str().unwrap();
    let made = moto.flowlake(
        &[
            "plan",
            "s3://logs/in",
            "--out",
            "s3://lake/stale",
            "--shards",
            "1",
            "--json",
        ],
        &[],
    );
    let report = made.report();
    moto.boto(&format!(
        "import gzip\ns3.put_object(Bucket='logs', Key={replaced:?}, \
         Body=gzip.compress(b'version srcaddr\\n2 10.0.0.1\\n'))\nprint(1)"
    ));
    let id = report["id"].as_str().unwrap();
    let run = moto.flowlake(
        &[
            "convert",
            "--out",
            "s3://lake/stale",
            "--plan",
            id,
            "--shard",
            "0/1",
            "--json",
            "--quiet",
        ],
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let r = run.report();
    let failed = &r["failed"][0];
    assert_eq!(failed["kind"], "stale", "{r}");
    assert!(failed["path"].as_str().unwrap().ends_with(replaced));
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains(id) && message.contains("new plan"),
        "{message}"
    );
    assert_eq!(r["aborted"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["partitions"], 5);
}

#[test]
fn a_skewed_organisation_is_balanced_by_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    // One account with forty times the logs of each of five small ones, over six days.
    let mut inputs = Vec::new();
    for (seed, files, lines) in [
        (1, 8, 2000),
        (2, 2, 200),
        (3, 2, 200),
        (4, 2, 200),
        (5, 2, 200),
        (6, 2, 200),
    ] {
        let dir = tmp.path().join(format!("account-{seed}"));
        generate(
            &dir,
            &[
                "--seed",
                &seed.to_string(),
                "--days",
                "6",
                "--accounts",
                "1",
                "--files-per-day",
                &files.to_string(),
                "--lines-per-file",
                &lines.to_string(),
            ],
        );
        inputs.push(dir);
    }
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let lake = tmp.path().join("lake");
    for n in [2u32, 3, 4] {
        let report = plan(&inputs, &lake, n, &[]);
        assert_eq!(report["total"]["partitions"], 36);
        let stored = parts(&lake, &report);
        let bytes: Vec<u64> = report["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["bytes"].as_u64().unwrap())
            .collect();
        let per_part: Vec<u64> = stored.iter().map(|p| p.values().sum()).collect();
        assert_eq!(bytes, per_part, "the figures are the parts' inputs");
        let mean = bytes.iter().sum::<u64>() as f64 / f64::from(n);
        let largest = *bytes.iter().max().unwrap() as f64;
        let largest_partition = *stored.iter().flat_map(|p| p.values()).max().unwrap() as f64;
        assert!(
            largest <= (1.2 * mean).max(largest_partition),
            "{n} shards: {bytes:?}, mean {mean}, largest partition {largest_partition}"
        );
        let ratio = report["largest_over_mean"].as_f64().unwrap();
        assert!((ratio - largest / mean).abs() < 1e-9, "{report}");
        // The same input and lake give the same assignment.
        let again = plan(&inputs, &lake, n, &[]);
        assert_eq!(parts(&lake, &again), stored, "{n} shards: deterministic");
        assert_ne!(again["id"], report["id"]);
    }
}

#[test]
fn with_start_times_neighbouring_days_go_to_one_shard_and_the_lake_is_one_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "4",
            "--accounts",
            "3",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "300",
        ],
    );
    let start = ["--partition-time", "start"];
    let single_lake = tmp.path().join("single");
    let (_, single) = convert(&[&input], &single_lake, &start);
    let lake = tmp.path().join("lake");
    let report = plan(&[&input], &lake, 2, &start);
    // Each account's days (a file of day d feeds d - 1 and d) form one unit, built by one shard.
    let stored = parts(&lake, &report);
    let account = |p: &str| p.split('/').next().unwrap().to_string();
    let mut shard_of_account: BTreeMap<String, usize> = BTreeMap::new();
    for (k, part) in stored.iter().enumerate() {
        for p in part.keys() {
            let first = *shard_of_account.entry(account(p)).or_insert(k);
            assert_eq!(first, k, "{p}: its account's days are split over shards");
        }
    }
    assert_eq!(shard_of_account.len(), 3);
    let shards = run_shards(&local, lake.to_str().unwrap(), &report);
    check_shards(&shards, &report, &single);
    assert_eq!(partition_contents(&lake), partition_contents(&single_lake));
}

#[test]
fn a_stale_plan_fails_the_changed_file_and_publishes_no_mixed_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "2",
            "--accounts",
            "1",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "100",
        ],
    );
    let lake = tmp.path().join("lake");
    let report = plan(&[&input], &lake, 1, &[]);
    let id = report["id"].as_str().unwrap().to_string();
    let files: Vec<PathBuf> = walk(&input)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
        .collect();
    assert_eq!(files.len(), 6);
    // After planning: one file of day 1 replaced (other records), one of day 2 deleted.
    let changed = files
        .iter()
        .find(|p| p.to_string_lossy().contains("/15/"))
        .unwrap();
    let gone = files
        .iter()
        .find(|p| p.to_string_lossy().contains("/16/"))
        .unwrap();
    std::fs::write(
        changed,
        v2_gz((0..7).map(|i| V2 {
            srcport: 4000 + i,
            ..V2::default()
        })),
    )
    .unwrap();
    std::fs::remove_file(gone).unwrap();

    let run: Run = Command::new(bin())
        .args(["convert", "--out", lake.to_str().unwrap(), "--plan", &id])
        .args(["--shard", "0/1", "--json", "--quiet"])
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 4, "partitions not published: {}", run.stderr);
    let r = run.report();
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{r}");
    for f in failed {
        assert_eq!(f["kind"], "stale");
        let message = f["message"].as_str().unwrap();
        assert!(message.contains(&format!("plan {id}")), "{message}");
        assert!(message.contains("make a new plan"), "{message}");
    }
    assert!(failed
        .iter()
        .any(|f| f["message"].as_str().unwrap().contains("gone")));
    assert_eq!(r["aborted"].as_array().unwrap().len(), 2, "{r}");
    assert!(r["aborted"][0]["reason"].as_str().unwrap().contains(&id));
    assert_eq!(r["rows_written"], 0);
    assert!(parquet_files(&lake).is_empty(), "nothing published");

    // A new plan builds from what is there now, as one run would.
    let fresh = plan(&[&input], &lake, 1, &[]);
    let shards = run_shards(&local, lake.to_str().unwrap(), &fresh);
    let (_, single) = convert(&[&input], &tmp.path().join("single"), &[]);
    check_shards(&shards, &fresh, &single);
    assert_eq!(
        partition_contents(&lake),
        partition_contents(&tmp.path().join("single"))
    );
}

#[test]
fn a_shard_killed_mid_run_and_retried_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "12",
            "--accounts",
            "1",
            "--files-per-day",
            "4",
            "--lines-per-file",
            "4000",
        ],
    );
    let single_lake = tmp.path().join("single");
    let (_, single) = convert(&[&input], &single_lake, &[]);
    let lake = tmp.path().join("lake");
    let report = plan(&[&input], &lake, 2, &[]);
    let id = report["id"].as_str().unwrap();
    let manifest = lake.join("_flowlake/manifest");
    let entries = || {
        walk(&manifest)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count() as u64
    };
    let mut child = shard(&local, lake.to_str().unwrap(), id, (0, 2), "flag")
        .spawn()
        .unwrap();
    // Killed once its first partition is published, before its last.
    let deadline = Instant::now() + Duration::from_secs(60);
    while entries() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    let published = entries();
    let planned = report["shards"][0]["partitions"].as_u64().unwrap();
    assert!(
        status.code().is_none() && published >= 1 && published < planned,
        "the kill landed mid-run: {status:?}, {published} of {planned} published"
    );

    // The retry builds the rest; the other shard its part; nothing twice, nothing lost.
    let shards = run_shards(&local, lake.to_str().unwrap(), &report);
    assert_eq!(
        shards[0]["partitions_unchanged"].as_u64().unwrap(),
        published,
        "the retry skips what was published: {}",
        shards[0]
    );
    let rows: u64 = shards
        .iter()
        .map(|r| r["rows_written"].as_u64().unwrap())
        .sum();
    assert!(rows < single["rows_written"].as_u64().unwrap());
    assert_eq!(partition_contents(&lake), partition_contents(&single_lake));
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
}

#[test]
fn flags_that_would_change_a_plan_an_unknown_plan_and_another_shard_count_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("aws");
    let lake = tmp.path().join("lake");
    let lake_s = lake.to_str().unwrap();
    // Without --json: the id alone on stdout, the shards' work on stderr.
    let made = flowlake([
        "plan",
        input.to_str().unwrap(),
        "--out",
        lake_s,
        "--shards",
        "3",
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let id = made.stdout.trim().to_string();
    assert!(
        lake.join("_flowlake/plans")
            .join(&id)
            .join("plan.json")
            .exists(),
        "{id}"
    );
    assert!(made.stderr.contains("shard 2/3:"), "{}", made.stderr);

    let convert_with = |args: &[&str]| -> Run {
        Command::new(bin())
            .args(["convert", "--out", lake_s])
            .args(args)
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .env_remove("AWS_BATCH_JOB_ARRAY_SIZE")
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .unwrap()
            .into()
    };
    for (conflicting, named) in [
        (vec!["--hourly"], "--hourly"),
        (vec!["--from", "2024-01-01"], "--from"),
        (vec!["--target-file-size", "1MiB"], "--target-file-size"),
        (vec!["--action", "accept"], "--action"),
        (vec!["--rebuild"], "--rebuild"),
        (vec![input.to_str().unwrap()], "[INPUT]"),
    ] {
        let mut args = vec!["--plan", &id, "--shard", "0/3"];
        args.extend(conflicting.iter());
        let run = convert_with(&args);
        assert_eq!(run.code, 2, "{conflicting:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("'--plan <ID>' cannot be used with") && run.stderr.contains(named),
            "{conflicting:?}: {}",
            run.stderr
        );
    }
    // The process's own options are the process's.
    let run = convert_with(&[
        "--plan",
        &id,
        "--shard",
        "0/3",
        "--threads",
        "1",
        "--read-ahead",
        "1MiB",
        "--quiet",
    ]);
    assert!(matches!(run.code, 0 | 3), "{}", run.stderr);

    let run = convert_with(&["--plan", "20990101T000000Z-00000000", "--shard", "0/3"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no plan 20990101T000000Z-00000000"),
        "{}",
        run.stderr
    );
    let run = convert_with(&["--plan", "../../etc", "--shard", "0/3"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a plan id"), "{}", run.stderr);
    for (args, message) in [
        (
            vec!["--shard", "0/4"],
            format!("plan {id} has 3 shards, not 4"),
        ),
        (
            vec!["--shard", "0/3", "--shards", "4"],
            "disagree".to_string(),
        ),
        (vec![], "needs a shard index".to_string()),
    ] {
        let mut all = vec!["--plan", id.as_str()];
        all.extend(args.iter());
        let run = convert_with(&all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(&message), "{args:?}: {}", run.stderr);
    }
    let run: Run = Command::new(bin())
        .args(["convert", "--out", lake_s, "--plan", &id])
        .env("AWS_BATCH_JOB_ARRAY_INDEX", "1")
        .env("AWS_BATCH_JOB_ARRAY_SIZE", "5")
        .output()
        .unwrap()
        .into();
    assert_eq!(
        run.code, 2,
        "an array of 5 over a plan of 3: {}",
        run.stderr
    );

    // A listing that skips flow log files makes a plan, and says so as convert does (exit 3).
    let odd = tmp.path().join("odd");
    copy_tree(&input, &odd);
    put(&odd, "1999/01/01/old.log.gz", &gzip(b"not read"));
    let (code, report) = plan_in(
        tmp.path(),
        &[odd.to_str().unwrap()],
        tmp.path().join("lake2").to_str().unwrap(),
        2,
        &[],
    );
    assert_eq!(code, 3, "{report}");
    let skipped = report["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["flow_log"] == true && s["path"].as_str().unwrap().contains("1999")),
        "{report}"
    );
    // And a plan for no shards is a usage error.
    let run = flowlake([
        "plan",
        input.to_str().unwrap(),
        "--out",
        lake_s,
        "--shards",
        "0",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn a_retried_shard_of_a_rebuild_plan_rebuilds_each_partition_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "4",
            "--accounts",
            "1",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "50",
        ],
    );
    let lake = tmp.path().join("lake");
    let (_, first) = convert(&[&input], &lake, &[]);
    let before = partition_contents(&lake);
    let lake_s = lake.to_str().unwrap();
    let run = |id: &str| -> Value {
        let out = shard(&local, lake_s, id, (0, 1), "flag").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let report = plan(&[&input], &lake, 1, &["--rebuild"]);
    let id = report["id"].as_str().unwrap();
    assert_eq!(report["shards"][0]["partitions"], 4, "{report}");
    let rebuilt = run(id);
    assert_eq!(rebuilt["partitions"], 4, "{rebuilt}");
    assert_eq!(rebuilt["rows_written"], first["rows_written"]);
    // The retry of the same shard: what its plan rebuilt stays.
    let retried = run(id);
    assert_eq!(
        (&retried["rows_written"], &retried["partitions_unchanged"]),
        (&Value::from(0), &Value::from(4)),
        "{retried}"
    );
    // Another plan with --rebuild rebuilds again.
    let again = plan(&[&input], &lake, 1, &["--rebuild"]);
    let rebuilt = run(again["id"].as_str().unwrap());
    assert_eq!(rebuilt["rows_written"], first["rows_written"], "{rebuilt}");
    assert_eq!(partition_contents(&lake), before);
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
}

/// A plan made with `--enrich` and a data file named relative to where the plan was made: the shards,
/// run elsewhere, read the same file, and the lake is the single run's, enriched alike.
#[test]
fn the_shards_of_a_plan_with_enrichment_enrich_as_one_run_does() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "2",
            "--accounts",
            "2",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "300",
        ],
    );
    let ranges = fixtures().join("enrich/ip-ranges-sample.json");
    std::fs::copy(&ranges, tmp.path().join("ranges.json")).unwrap();
    let enrich = ["--enrich", "protocol,aws-service", "--ip-ranges"];
    let single_lake = tmp.path().join("single");
    let (_, single) = convert(
        &[&input],
        &single_lake,
        &[&enrich[..], &[ranges.to_str().unwrap()]].concat(),
    );
    let (code, report) = plan_in(
        tmp.path(),
        &["input"],
        "lake",
        2,
        &[&enrich[..], &["ranges.json"]].concat(),
    );
    assert_eq!(code, 0, "{report}");
    let lake = tmp.path().join("lake");
    let shards = run_shards(&local, lake.to_str().unwrap(), &report);
    check_shards(&shards, &report, &single);
    for r in &shards {
        assert_eq!(
            r["enrichment"]["data"][0]["version"],
            json!("1784861225"),
            "{r}"
        );
    }
    let enriched = |lake: &Path| {
        duckdb(
            lake,
            "SELECT count(*), count(protocol_name), count(dst_aws_service), \
             count(DISTINCT dst_aws_service || dst_aws_region) FROM {lake}",
        )
    };
    assert_eq!(enriched(&lake), enriched(&single_lake));
    assert_eq!(partition_contents(&lake), partition_contents(&single_lake));
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["enriched_with"][0]["partitions"], json!(4));
}
