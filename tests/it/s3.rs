//! `s3://` inputs and lakes against a real S3-compatible server on loopback (moto's server mode, started
//! here): S3 to S3, S3 to local and local to S3 give the same lake as a local run; reruns do nothing;
//! three shards write one S3 lake; a lock held by a live run refuses, an abandoned one is taken over;
//! an object changed between listing and reading is caught; a run killed mid-upload leaves only whole
//! objects and the rerun converges.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

/// A moto S3 server on a free loopback port, stopped on drop (also used by `plan.rs`,
/// `shard_listing.rs` and `inventory.rs`).
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (pip install -r scripts/requirements-test.txt)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint }
    }

    /// Runs boto3 code with `s3` bound to a client of this server.
    pub(crate) fn boto(&self, code: &str) -> Value {
        py(&format!(
            "import boto3, json, os\ns3 = boto3.client('s3', endpoint_url={:?}, aws_access_key_id='test', \
             aws_secret_access_key='test', region_name='us-east-1')\n{code}",
            self.endpoint
        ))
    }

    pub(crate) fn bucket(&self, name: &str) {
        self.boto(&format!("s3.create_bucket(Bucket={name:?})\nprint(1)"));
    }

    /// Uploads the files under `dir` to `s3://bucket/prefix/<relative path>`.
    pub(crate) fn upload(&self, dir: &Path, bucket: &str, prefix: &str) {
        self.boto(&format!(
            "n = 0\nfor d, _, fs in os.walk({dir:?}):\n    for f in fs:\n        p = os.path.join(d, f)\n        \
             s3.upload_file(p, {bucket:?}, {prefix:?} + '/' + os.path.relpath(p, {dir:?}))\n        n += 1\nprint(n)",
            dir = dir.display().to_string()
        ));
    }

    /// Downloads every object under `s3://bucket/prefix/` into `dir`; returns the keys.
    pub(crate) fn download(&self, bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
        let keys = self.boto(&format!(
            "keys = []\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket={bucket:?}, Prefix={prefix:?} + '/'):\n    \
             for o in page.get('Contents', []):\n        k = o['Key']\n        keys.append(k)\n        \
             p = os.path.join({dir:?}, k[len({prefix:?}) + 1:])\n        os.makedirs(os.path.dirname(p), exist_ok=True)\n        \
             s3.download_file({bucket:?}, k, p)\nprint(json.dumps(sorted(keys)))",
            dir = dir.display().to_string()
        ));
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) fn flowlake(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.command(args, env)
            .output()
            .expect("run flowlake")
            .into()
    }

    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .args(["--endpoint", &self.endpoint])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .env_remove("JOB_COMPLETION_INDEX");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `flowlake convert <input> --out <lake> --json --quiet` that must succeed; its report.
    pub(crate) fn convert(&self, input: &str, lake: &str, extra: &[&str]) -> Value {
        let mut args = vec!["convert", input, "--out", lake, "--json", "--quiet"];
        args.extend_from_slice(extra);
        let run = self.flowlake(&args, &[]);
        assert_eq!(run.code, 0, "convert {input} -> {lake}: {}", run.stderr);
        run.report()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows of a local lake by partition: count and sums, and the Parquet files' names.
pub(crate) fn contents(lake: &Path) -> (Vec<Vec<Value>>, Vec<String>) {
    let rows = duckdb(
        lake,
        &format!(
            "SELECT \"aws-account-id\", year, month, day, count(*), sum(packets), sum(bytes), \
             sum(srcport), sum(start), count(DISTINCT srcaddr), count(log_status) \
             FROM read_parquet('{}/aws-account-id=*/*/*/*/*/*/*.parquet', hive_partitioning=true, \
             hive_types_autocast=false) GROUP BY ALL ORDER BY ALL",
            lake.display()
        ),
    );
    let files = parquet_files(lake)
        .iter()
        .filter(|p| !p.to_string_lossy().contains("_flowlake"))
        .map(|p| p.strip_prefix(lake).unwrap().display().to_string())
        .collect();
    (rows, files)
}

#[test]
fn s3_to_s3_s3_to_local_and_local_to_s3_equal_a_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("lake");
    let fixture = fixtures().join("aws");
    moto.upload(&fixture, "logs", "archive");

    let reference = tmp.path().join("reference");
    convert(&[&fixture], &reference, &[]);
    let expected = contents(&reference);

    // S3 -> S3, then a rerun that does nothing.
    let report = moto.convert("s3://logs/archive/AWSLogs", "s3://lake/flows", &[]);
    assert_eq!(report["files"], 24);
    assert_eq!(report["rows_written"], 6000);
    let requests = &report["s3_requests"];
    assert!(requests["get"].as_u64().unwrap() >= 24, "{requests}");
    assert!(requests["put"].as_u64().unwrap() >= 4 + 4, "{requests}");
    let rerun = moto.convert("s3://logs/archive/AWSLogs", "s3://lake/flows", &[]);
    assert_eq!(rerun["rows_written"], 0);
    assert_eq!(rerun["partitions_unchanged"], 4);
    assert_eq!(
        rerun["s3_requests"]["get"].as_u64().unwrap(),
        rerun["partitions_unchanged"].as_u64().unwrap() + 2,
        "a rerun reads the manifest entries, lake.json and the bucket's (is the lake inside \
         another?), no logs: {}",
        rerun["s3_requests"]
    );
    let s3s3 = tmp.path().join("s3s3");
    let keys = moto.download("lake", "flows", &s3s3);
    assert!(
        keys.iter()
            .all(|k| !k.contains("staging") && !k.ends_with("lock")),
        "{keys:?}"
    );
    assert_eq!(contents(&s3s3), expected, "S3 -> S3");

    // S3 -> local.
    let local = tmp.path().join("s3local");
    let report = moto.convert("s3://logs/archive/AWSLogs", local.to_str().unwrap(), &[]);
    assert_eq!(report["rows_written"], 6000);
    assert_eq!(contents(&local), expected, "S3 -> local");
    let (code, check) = verify(&local);
    assert_eq!(code, 0, "{check}");

    // local -> S3, with a date range: only the listed days' prefixes are read.
    let report = moto.convert(
        fixture.to_str().unwrap(),
        "s3://lake/ranged",
        &["--from", "2024-03-10", "--to", "2024-03-10"],
    );
    assert_eq!(report["partitions"], 2);
    let ranged = tmp.path().join("ranged");
    moto.download("lake", "ranged", &ranged);
    let (rows, _) = contents(&ranged);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[3] == "10"), "{rows:?}");
    assert!(
        expected.0.contains(&rows[0]) && expected.0.contains(&rows[1]),
        "{rows:?} vs {:?}",
        expected.0
    );

    // Listing S3 by date: a one-day run lists the day prefixes it needs, not the other day's files.
    let one_day = moto.convert(
        "s3://logs/archive/AWSLogs",
        tmp.path().join("one-day").to_str().unwrap(),
        &["--from", "2024-03-09", "--to", "2024-03-09"],
    );
    assert_eq!(one_day["files"], 12);
    assert_eq!(
        one_day["s3_requests"]["get"], 12,
        "only that day's objects were read"
    );
}

#[test]
fn three_shards_write_one_s3_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("lake");
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "4",
            "--accounts",
            "2",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "200",
        ],
    );
    moto.upload(&input, "logs", "in");
    let reference = tmp.path().join("reference");
    convert(&[&input], &reference, &[]);

    let children: Vec<_> = (0..3)
        .map(|k| {
            moto.command(
                &[
                    "convert",
                    "s3://logs/in",
                    "--out",
                    "s3://lake/sharded",
                    "--json",
                    "--quiet",
                    "--shard",
                    &format!("{k}/3"),
                ],
                &[],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut rows = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        rows += report["rows_written"].as_u64().unwrap();
    }
    assert_eq!(rows, 8 * 3 * 200);
    let lake = tmp.path().join("sharded");
    moto.download("lake", "sharded", &lake);
    assert_eq!(contents(&lake), contents(&reference));
}

#[test]
fn a_live_lock_refuses_and_an_abandoned_one_is_taken_over() {
    let moto = Moto::start();
    moto.bucket("lake");
    let fixture = fixtures().join("aws");
    let put_lock = |age: u64| {
        moto.boto(&format!(
            "import time\ns3.put_object(Bucket='lake', Key='l/_flowlake/lock', Body=json.dumps({{'holder': \
             'flowlake run 42 on another host', 'pid': 1, 'heartbeat': int(time.time()) - {age}}}))\nprint(1)"
        ));
    };
    put_lock(0);
    let run = moto.flowlake(
        &["convert", fixture.to_str().unwrap(), "--out", "s3://lake/l"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("flowlake run 42 on another host"),
        "{}",
        run.stderr
    );
    // Shards of another count are refused too; shards of the same count are not.
    moto.boto(
        "import time\ns3.put_object(Bucket='lake', Key='l/_flowlake/locks/shard-0-of-4', Body=json.dumps({'holder': \
         'shard 0/4 elsewhere', 'token': 'x', 'heartbeat': int(time.time())}))\nprint(1)",
    );
    let on_l = |s: &str| {
        moto.flowlake(
            &[
                "convert",
                fixture.to_str().unwrap(),
                "--out",
                "s3://lake/l",
                "--shard",
                s,
            ],
            &[],
        )
    };
    put_lock(600);
    let run = on_l("0/3");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("shard 0/4 elsewhere"), "{}", run.stderr);
    let run = on_l("1/4");
    assert_eq!(run.code, 0, "same count: {}", run.stderr);
    moto.boto("s3.delete_object(Bucket='lake', Key='l/_flowlake/locks/shard-0-of-4')\nprint(1)");
    // A shard retried while its killed predecessor's lock still looks alive waits for it to go stale.
    moto.boto(
        "import time\ns3.put_object(Bucket='lake', Key='l/_flowlake/locks/shard-1-of-2', Body=json.dumps({'holder': \
         'killed shard 1/2', 'token': 'k', 'heartbeat': int(time.time())}))\nprint(1)",
    );
    let started = Instant::now();
    let run = moto.flowlake(
        &[
            "convert",
            fixture.to_str().unwrap(),
            "--out",
            "s3://lake/l",
            "--shard",
            "1/2",
        ],
        &[("FLOWLAKE_S3_LOCK_STALE_SECS", "2")],
    );
    assert_eq!(run.code, 0, "retried shard: {}", run.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the lock to go stale"
    );
    let run = moto.flowlake(
        &["convert", fixture.to_str().unwrap(), "--out", "s3://lake/l"],
        &[],
    );
    assert_eq!(run.code, 0, "abandoned lock: {}", run.stderr);
    let left = moto.boto(
        "print(json.dumps([o['Key'] for o in s3.list_objects_v2(Bucket='lake', Prefix='l/_flowlake/lock').get('Contents', [])]))",
    );
    assert_eq!(left, serde_json::json!([]), "the run removed its lock");
}

#[test]
fn an_object_changed_after_listing_is_caught() {
    use flowlake::input::discover::discover;
    use flowlake::storage::{S3Settings, S3Store};
    use flowlake::Grain;

    // The store is built in this process and reads its keys from the environment.
    let keys = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    if !in_own_process("s3::an_object_changed_after_listing_is_caught", &keys) {
        return;
    }
    let moto = Moto::start();
    moto.bucket("logs");
    let fixture = fixtures().join("aws");
    moto.upload(&fixture, "logs", "a");
    let source = S3Store::new(&S3Settings {
        endpoint: Some(moto.endpoint.clone()),
    })
    .unwrap();
    let found = discover(
        &source,
        &[PathBuf::from("s3://logs/a")],
        None,
        None,
        Grain::Day,
    )
    .unwrap();
    assert_eq!(found.files.len(), 24);
    let first = &found.files[0];
    assert!(first.version.is_some(), "the listing's ETag is kept");
    let mut buf = Vec::new();
    flowlake::input::read::read_file(&source, first, &mut buf, 1 << 30).expect("unchanged: reads");
    assert!(!buf.is_empty());

    // Replaced after the listing: the conditional GET refuses it.
    let key = first
        .path
        .to_str()
        .unwrap()
        .strip_prefix("s3://logs/")
        .unwrap();
    moto.boto(&format!(
        "import gzip\ns3.put_object(Bucket='logs', Key={key:?}, Body=gzip.compress(b'version srcaddr\\n2 10.0.0.1\\n'))\nprint(1)"
    ));
    let err = flowlake::input::read::read_file(&source, first, &mut buf, 1 << 30).unwrap_err();
    assert!(
        err.message.contains("changed since it was listed"),
        "{}",
        err.message
    );
}

#[test]
fn a_run_killed_mid_upload_leaves_whole_objects_and_the_rerun_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("lake");
    let input = tmp.path().join("input");
    generate(
        &input,
        &[
            "--days",
            "6",
            "--files-per-day",
            "8",
            "--lines-per-file",
            "4000",
        ],
    );
    let reference = tmp.path().join("reference");
    convert(&[&input], &reference, &[]);
    let stale = [("FLOWLAKE_S3_LOCK_STALE_SECS", "2")];
    let args = [
        "convert",
        input.to_str().unwrap(),
        "--out",
        "s3://lake/k",
        "--quiet",
        "--target-file-size",
        "64KiB",
    ];
    // Kill at growing delays until a kill lands after some objects were uploaded but before the end.
    let mut interrupted = false;
    for delay_ms in [150u64, 300, 500, 800, 1200, 1800] {
        let mut child = moto.command(&args, &stale).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(2500)); // its lock goes stale
        interrupted = true;
        // Every visible Parquet object is whole (readable footer, rows as it says).
        let partial = tmp.path().join(format!("partial-{delay_ms}"));
        moto.download("lake", "k", &partial);
        for f in parquet_files(&partial) {
            py(&format!(
                "import pyarrow.parquet as pq\nt = pq.read_table({:?})\nprint(t.num_rows)",
                f.display().to_string()
            ));
        }
    }
    assert!(interrupted, "no kill landed inside a run");
    let run = moto.flowlake(&args, &stale);
    assert_eq!(run.code, 0, "rerun: {}", run.stderr);
    let lake = tmp.path().join("final");
    moto.download("lake", "k", &lake);
    let (rows, _) = contents(&lake);
    assert_eq!(
        rows,
        contents(&reference).0,
        "the rerun converges to a clean run"
    );
}

#[test]
fn verify_compact_and_ddl_work_on_an_s3_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("lake");
    let fixture = fixtures().join("aws");
    moto.convert(fixture.to_str().unwrap(), "s3://lake/v", &[]);

    // verify: clean, then a deleted object is reported missing.
    let run = moto.flowlake(&["verify", "s3://lake/v", "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report()["rows"], 6000);
    let key = "v/aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=09/part-00000.parquet";
    moto.boto(&format!(
        "s3.delete_object(Bucket='lake', Key={key:?})\nprint(1)"
    ));
    let run = moto.flowlake(&["verify", "s3://lake/v", "--json"], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.report()["problems"][0]["kind"], "missing");

    // ddl: the location is the lake's URL; types from the footers read by ranged GETs.
    let run = moto.flowlake(&["ddl", "s3://lake/v"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("LOCATION 's3://lake/v/'"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("`protocol` int,"));
    assert!(run
        .stdout
        .contains("'projection.aws-region.values' = 'ap-southeast-2,us-east-1'"));
    assert!(
        run.stderr.is_empty(),
        "no note for an s3 lake: {}",
        run.stderr
    );

    // compact: 60 AWS-native-shaped GZIP files (a subset of the fields) into one lake-schema file.
    let local = tmp.path().join("local");
    convert(&[&fixture], &local, &[]);
    let day = "aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=10";
    moto.boto(&format!(
        "import io, pyarrow.parquet as pq\nt = pq.read_table({src:?}, columns=['version', 'account_id', 'srcaddr', 'dstport', 'packets', 'bytes', 'start', 'action'])\n\
         for i in range(60):\n    b = io.BytesIO()\n    pq.write_table(t.slice(i * 25, 25), b, compression='gzip')\n    \
         s3.put_object(Bucket='lake', Key='native/' + {day:?} + '/f%03d.log.parquet' % i, Body=b.getvalue())\nprint(t.num_rows)",
        src = local.join(day).display().to_string()
    ));
    let run = moto.flowlake(&["compact", "s3://lake/native", "--json", "--quiet"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["compacted"][0]["files_in"], 60);
    assert_eq!(report["compacted"][0]["files_out"], 1);
    assert_eq!(report["compacted"][0]["rows"], 1500);
    let compacted = tmp.path().join("compacted");
    let keys = moto.download("lake", "native", &compacted);
    let parts: Vec<&String> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert_eq!(parts.len(), 1, "{keys:?}");
    let sums = |dir: &Path| {
        duckdb(
            dir,
            &format!(
                "SELECT count(*), sum(packets), sum(bytes), sum(dstport), sum(start), count(DISTINCT srcaddr), \
                 count(action) FROM read_parquet('{}/{day}/*.parquet')",
                dir.display()
            ),
        )
    };
    assert_eq!(sums(&compacted), sums(&local));
    let run = moto.flowlake(&["verify", "s3://lake/native"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again = moto.flowlake(&["compact", "s3://lake/native", "--json", "--quiet"], &[]);
    assert_eq!(again.report()["compacted"], serde_json::json!([]));
}

#[test]
fn large_files_go_up_in_parts_and_a_kill_during_the_upload_shows_nothing_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("lake");
    let input = tmp.path().join("input");
    // One day, ~1.2 M rows: one Parquet file of about 16 MB, uploaded in 5 MiB parts.
    generate(
        &input,
        &["--files-per-day", "12", "--lines-per-file", "100000"],
    );
    let reference = tmp.path().join("reference");
    convert(&[&input], &reference, &[]);
    let parts = [
        ("FLOWLAKE_S3_PART_BYTES", "5242880"),
        ("FLOWLAKE_S3_LOCK_STALE_SECS", "2"),
    ];
    let args = [
        "convert",
        input.to_str().unwrap(),
        "--out",
        "s3://lake/m",
        "--quiet",
        "--json",
    ];
    for delay_ms in [300u64, 600, 900] {
        let mut child = moto
            .command(&args, &parts)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let seen = tmp.path().join(format!("seen-{delay_ms}"));
        for key in moto.download("lake", "m", &seen) {
            if key.ends_with(".parquet") {
                let f = seen.join(key.strip_prefix("m/").unwrap());
                py(&format!(
                    "import pyarrow.parquet as pq\nprint(pq.read_metadata({:?}).num_rows)",
                    f.display().to_string()
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(2500));
    }
    let run = moto.flowlake(&args, &parts);
    assert_eq!(run.code, 0, "rerun after the kills: {}", run.stderr);
    // A clean run into a fresh prefix: the file goes up in parts.
    let fresh = [
        "convert",
        input.to_str().unwrap(),
        "--out",
        "s3://lake/m2",
        "--quiet",
        "--json",
    ];
    let run = moto.flowlake(&fresh, &parts);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = &run.report()["s3_requests"];
    assert!(
        requests["upload_part"].as_u64().unwrap() >= 2 + 3,
        "{requests}"
    );
    let whole = tmp.path().join("m2");
    moto.download("lake", "m2", &whole);
    assert_eq!(contents(&whole).0, contents(&reference).0);
    let lake = tmp.path().join("final");
    moto.download("lake", "m", &lake);
    let files = parquet_files(&lake);
    assert!(
        files
            .iter()
            .any(|f| std::fs::metadata(f).unwrap().len() > 10 << 20),
        "a file large enough for a multipart upload"
    );
    assert_eq!(contents(&lake).0, contents(&reference).0);
}

#[test]
fn verify_writes_nothing_to_an_s3_lake_and_tells_a_live_writer_from_an_interrupted_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("lake");
    let fixture = fixtures().join("aws");
    moto.convert(fixture.to_str().unwrap(), "s3://lake/ro", &[]);
    // With versioning on, any PUT or DELETE verify made (even of a lock object it removed again) leaves
    // a version or a delete marker behind.
    moto.boto(
        "s3.put_bucket_versioning(Bucket='lake', VersioningConfiguration={'Status': 'Enabled'})\nprint(1)",
    );
    let history = || {
        moto.boto(
            "v = s3.list_object_versions(Bucket='lake', Prefix='ro/')\n\
             print(json.dumps(sorted([[o['Key'], o['VersionId'], o['ETag'], o['IsLatest']] for o in v.get('Versions', [])] + \
             [[d['Key'], d['VersionId'], 'delete marker', d['IsLatest']] for d in v.get('DeleteMarkers', [])])))",
        )
    };
    // No local staging folder either: the system temporary folder stays empty.
    let local_tmp = tmp.path().join("tmp");
    std::fs::create_dir(&local_tmp).unwrap();
    let verify = || {
        let run = moto.flowlake(
            &["verify", "s3://lake/ro", "--json"],
            &[("TMPDIR", local_tmp.to_str().unwrap())],
        );
        let report = run.report();
        (run.code, report, run.stderr)
    };
    let before = history();
    assert!(before.as_array().unwrap().len() >= 8, "{before}");
    let (code, report, stderr) = verify();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (
            report["rows"].clone(),
            report["files"].clone(),
            report["writer_active"].clone()
        ),
        (
            serde_json::json!(6000),
            serde_json::json!(4),
            serde_json::json!(false)
        )
    );
    assert_eq!(history(), before, "verify wrote nothing to the bucket");
    assert_eq!(std::fs::read_dir(&local_tmp).unwrap().count(), 0);

    // A run publishing day 09 on another host: a fresh lock, a journal mark, a file not yet recorded.
    let day = "aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=09";
    let other = "aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=10";
    let put_lock = |age: u64| {
        moto.boto(&format!(
            "import time\ns3.put_object(Bucket='lake', Key='ro/_flowlake/lock', Body=json.dumps({{'holder': \
             'flowlake run 42 on another host', 'token': 't', 'heartbeat': int(time.time()) - {age}}}))\nprint(1)"
        ))
    };
    put_lock(0);
    moto.boto(&format!(
        "s3.put_object(Bucket='lake', Key='ro/_flowlake/journal/{day}.pending', Body=b'')\n\
         s3.copy_object(Bucket='lake', Key='ro/{day}/part-00001.parquet', \
         CopySource={{'Bucket': 'lake', 'Key': 'ro/{other}/part-00000.parquet'}})\nprint(1)"
    ));
    let before = history();
    let (code, report, stderr) = verify();
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["writer_active"], serde_json::json!(true));
    assert_eq!(
        report["writers"],
        serde_json::json!(["flowlake run 42 on another host"])
    );
    assert_eq!(report["in_progress"], serde_json::json!([day]));
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(
        stderr.contains("a run is writing the lake: flowlake run 42 on another host"),
        "{stderr}"
    );
    assert_eq!(history(), before, "verify wrote nothing to the bucket");

    // Its heartbeat is older than the stale limit (120 s): the run is gone, its publish interrupted.
    put_lock(600);
    let before = history();
    let (code, report, stderr) = verify();
    assert_eq!(code, 3, "{report}\n{stderr}");
    assert_eq!(report["writer_active"], serde_json::json!(false));
    assert_eq!(report["interrupted"], serde_json::json!([day]));
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["kind"], "orphan");
    assert_eq!(problems[0]["interrupted"], true);
    assert_eq!(
        problems[0]["path"],
        serde_json::json!(format!("s3://lake/ro/{day}/part-00001.parquet"))
    );
    assert_eq!(history(), before, "verify wrote nothing to the bucket");
    assert_eq!(std::fs::read_dir(&local_tmp).unwrap().count(), 0);
}

/// A lifecycle rule expires raw objects while the lake (on S3 too) is the long-term store: a rebuild
/// of their day keeps their rows, carried over from the lake's objects.
#[test]
fn rows_of_expired_s3_inputs_stay_in_an_s3_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("lake");
    let fixture = fixtures().join("aws");
    moto.upload(&fixture, "logs", "archive");
    let first = moto.convert("s3://logs/archive/AWSLogs", "s3://lake/flows", &[]);
    assert_eq!(first["rows_written"], 6000);
    let reference = tmp.path().join("reference");
    moto.download("lake", "flows", &reference);
    let expected = contents(&reference).0;

    // Expire half the objects of one account's 2024-03-09, and rebuild everything.
    let day = "archive/AWSLogs/662306410322/vpcflowlogs/us-east-1/2024/03/09/";
    let expired = moto.boto(&format!(
        "keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='logs', Prefix={day:?})['Contents'])\n\
         keys = keys[:len(keys) // 2]\n\
         for k in keys:\n    s3.delete_object(Bucket='logs', Key=k)\nprint(len(keys))"
    ));
    let expired = expired.as_u64().unwrap();
    assert!(expired > 0);
    let rebuilt = moto.convert(
        "s3://logs/archive/AWSLogs",
        "s3://lake/flows",
        &["--rebuild"],
    );
    assert_eq!(
        rebuilt["vanished"].as_array().unwrap().len() as u64,
        expired
    );
    assert!(
        rebuilt["rows_carried_over"].as_u64().unwrap() > 0,
        "{rebuilt}"
    );
    assert_eq!(
        rebuilt["rows_written"].as_u64().unwrap() + rebuilt["rows_carried_over"].as_u64().unwrap(),
        6000
    );
    let after = tmp.path().join("after");
    moto.download("lake", "flows", &after);
    assert_eq!(
        contents(&after).0,
        expected,
        "the same rows, per partition and column"
    );
}

/// A Firehose delivery of CloudWatch Logs envelopes (extensionless objects of gzip members, one
/// gzipped twice) read straight from an S3-compatible bucket.
#[test]
fn firehose_envelopes_convert_from_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("firehose");
    moto.bucket("lake");
    let envelope = |eni: &str, n: u64| {
        let events: Vec<String> = (0..n)
            .map(|i| {
                let record = V2 {
                    account: "123456789010",
                    eni: eni.into(),
                    srcaddr: format!("10.0.0.{i}"),
                    srcport: 1024 + i,
                    bytes: 100 + i,
                    start: 1714568400,
                    end: 1714568460,
                    ..V2::default()
                };
                format!(
                    r#"{{"id":"{i}","timestamp":{},"message":"{record}"}}"#,
                    1714568400000u64 + i
                )
            })
            .collect();
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"/vpc/flowlogs","logStream":"{eni}-all","subscriptionFilters":[],"logEvents":[{}]}}"#,
            events.join(",")
        )
    };
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1714568401000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    let dir = tmp.path().join("up");
    let mut members = gzip(envelope("eni-0a", 4).as_bytes());
    members.extend(gzip(control.as_bytes()));
    members.extend(gzip(envelope("eni-0b", 3).as_bytes()));
    put(
        &dir,
        "2024/05/01/13/flows-1-2024-05-01-13-00-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        &members,
    );
    put(
        &dir,
        "2024/05/01/14/flows-1-2024-05-01-14-00-11-0a1b2c3d-4e5f-6789-abcd-ef0123456780.gz",
        &gzip(&gzip(envelope("eni-0c", 2).as_bytes())),
    );
    moto.upload(&dir, "firehose", "vpc");
    let report = moto.convert(
        "s3://firehose/vpc",
        "s3://lake/flows",
        &["--fields", "default"],
    );
    assert_eq!(report["files"], 2);
    assert_eq!(report["rows_written"], 9);
    assert_eq!(report["control_messages"], 1);
    let local = tmp.path().join("lake");
    moto.download("lake", "flows", &local);
    assert_eq!(
        duckdb(
            &local,
            "SELECT interface_id, count(*), sum(bytes), min(unknown_fields['cloudwatch-log-stream']) \
             FROM {lake} GROUP BY 1 ORDER BY 1"
        ),
        vec![
            vec![json!("eni-0a"), json!(4), json!(406), json!("eni-0a-all")],
            vec![json!("eni-0b"), json!(3), json!(303), json!("eni-0b-all")],
            vec![json!("eni-0c"), json!(2), json!(201), json!("eni-0c-all")],
        ]
    );
    // A rerun lists, finds nothing new, reads nothing.
    let again = moto.convert(
        "s3://firehose/vpc",
        "s3://lake/flows",
        &["--fields", "default"],
    );
    assert_eq!(again["files_unchanged"], 2);
}
