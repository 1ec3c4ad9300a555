//! The rest of the fault table: bad-file and bad-line policies, huge lines, trailing garbage, signals,
//! a full disk and an unwritable lake. Every case checks what got published and what did not.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::json;

/// Record `i`: its own interface, its bytes `i`.
fn record(i: u64) -> V2 {
    V2 {
        eni: format!("eni-{i:017x}"),
        srcport: 1024 + i % 60000,
        bytes: i,
        ..V2::default()
    }
}

fn records(range: std::ops::Range<u64>) -> String {
    v2_lines(range.map(record))
}

#[test]
fn salvage_publishes_the_complete_lines_before_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let full = v2_gz((0..20_000).map(record));
    let cut = &full[..full.len() * 2 / 3];
    put(tmp.path(), "in/2024/01/01/cut.log.gz", cut);
    // What a reader can decode from the cut file: the complete lines after the header.
    let mut prefix = Vec::new();
    let _ = flate2::read::GzDecoder::new(cut).read_to_end(&mut prefix);
    let complete = prefix.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
    assert!(complete > 1000 && complete < 20_000);

    let quarantined = tmp.path().join("q");
    let (run, report) = convert(&[&tmp.path().join("in")], &quarantined, &[]);
    assert_eq!(
        (run.code, report["rows_written"].clone()),
        (4, json!(0)),
        "default: none of its rows; its only file failed, so the partition is withheld"
    );
    assert_eq!(
        report["aborted"][0]["reason"],
        json!("every input file delivered for this partition failed to read")
    );
    assert!(parquet_files(&quarantined).is_empty());

    let salvaged = tmp.path().join("s");
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &salvaged,
        &["--on-bad-file", "salvage"],
    );
    assert_eq!(run.code, 3);
    assert_eq!(report["rows_written"], json!(complete));
    assert_eq!(report["failed"][0]["kind"], json!("truncated"));
    assert_eq!(report["failed"][0]["salvaged"], json!(true));
    assert_eq!(
        duckdb_one(&salvaged, "SELECT sum(bytes)::BIGINT FROM {lake}"),
        json!((0..complete).sum::<u64>()),
        "exactly the first lines, in order"
    );
}

#[test]
fn abort_policies_stop_before_publishing_and_name_the_culprit() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "in/2024/01/01/a.log.gz",
        &gzip(
            format!(
                "{HEADER}{}2 x eni-x junk\n{}",
                records(0..50),
                records(50..60)
            )
            .as_bytes(),
        ),
    );
    let lake = tmp.path().join("lake");
    let run = convert_expecting_failure(
        &[&tmp.path().join("in")],
        &lake,
        &["--on-bad-line", "abort"],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("a.log.gz:52:"), "{}", run.stderr);
    assert!(parquet_files(&lake).is_empty());

    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "in/2024/01/01/good.log.gz",
        &v2_gz((0..50).map(record)),
    );
    put(
        tmp.path(),
        "in/2024/01/01/bad.log.gz",
        b"\x1f\x8b\x08\x00garbage",
    );
    let lake = tmp.path().join("lake");
    let run = convert_expecting_failure(
        &[&tmp.path().join("in")],
        &lake,
        &["--on-bad-file", "abort"],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.log.gz"), "{}", run.stderr);
    assert!(parquet_files(&lake).is_empty());
}

#[test]
fn a_ten_megabyte_line_without_newline_is_rejected_as_too_long() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = format!("{HEADER}{}", records(0..100)).into_bytes();
    text.extend(std::iter::repeat_n(b'7', 10 << 20)); // no final newline
    put(tmp.path(), "in/2024/01/01/long.log.gz", &gzip(&text));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 3);
    assert_eq!(
        (report["rows_written"].clone(), report["rejected"].clone()),
        (json!(100), json!(1))
    );
    let rejects = report["rejects_file"].as_str().unwrap().to_string();
    let got = py(&format!(
        "import duckdb, json\nprint(json.dumps(duckdb.sql(\"SELECT line, kind, length(raw), \\\"offset\\\" FROM read_json_auto('{rejects}')\").fetchall()))"
    ));
    assert_eq!(
        got,
        json!([[102, "line_too_long", 1024, text.len() - (10 << 20)]])
    );
}

#[test]
fn trailing_garbage_and_a_corrupt_second_member_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let good = v2_gz((0..10).map(record));
    let mut garbage = good.clone();
    garbage.extend_from_slice(b"\0\0\0\0 some bytes a copy tool appended");
    put(tmp.path(), "in/2024/01/01/garbage.log.gz", &garbage);
    let mut second = good.clone();
    let mut bad = gzip(records(10..5000).as_bytes());
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff; // flipped bytes inside the deflate data
    second.extend(bad);
    put(tmp.path(), "in/2024/01/01/second.log.gz", &second);
    put(tmp.path(), "in/2024/01/01/fine.log.gz", &good);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 3);
    let mut kinds: Vec<(String, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("garbage.log.gz".to_string(), "trailing_garbage".to_string()),
            ("second.log.gz".to_string(), "corrupt".to_string())
        ]
    );
    assert_eq!(report["rows_written"], json!(10), "only fine.log.gz");
}

#[test]
fn sigint_stops_cleanly_and_the_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--days",
            "4",
            "--files-per-day",
            "16",
            "--lines-per-file",
            "8000",
        ],
    );
    let knobs = ["--threads", "1", "--read-ahead", "128KiB", "--quiet"];
    let lake = tmp.path().join("lake");
    let mut caught = 0;
    for attempt in 0..12u64 {
        let child = Command::new(bin())
            .arg("convert")
            .arg(&input)
            .arg("--out")
            .arg(&lake)
            .args(knobs)
            .arg("--rebuild")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(60 + 40 * attempt));
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait_with_output().unwrap().status;
        if status.code() == Some(130) {
            caught += 1;
        }
        let (code, report) = verify(&lake);
        assert_eq!(code, 0, "after SIGINT the lake is consistent: {report}");
        assert!(
            parquet_files(&lake.join("_flowlake")).is_empty(),
            "staging removed on interrupt"
        );
        if caught >= 3 {
            break;
        }
    }
    eprintln!("{caught} runs stopped by SIGINT with exit code 130");
    assert!(caught >= 1, "no run was interrupted mid-way");
    let (run, report) = convert(&[&input], &lake, &[]);
    assert_eq!(run.code, 0);
    let done = report["rows_written"].as_u64().unwrap();
    let total = duckdb_one(&lake, "SELECT count(*) FROM {lake}");
    assert_eq!(
        total,
        json!(4 * 16 * 8000),
        "rerun finished the job (wrote {done} rows)"
    );
}

/// Runs `script` in a private mount namespace (so it can mount a tmpfs) with `sh`.
fn in_mount_namespace(script: &str) -> std::process::Output {
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
        .expect("unshare (util-linux) is needed");
    assert!(
        out.status.code() != Some(97),
        "cannot mount a tmpfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_full_disk_fails_clearly_and_leaves_published_days_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--days",
            "2",
            "--files-per-day",
            "4",
            "--lines-per-file",
            "20000",
        ],
    );
    // Size the disk to hold the first day's output but not both days'.
    let probe = tmp.path().join("probe");
    let (_, report) = convert(&[&input], &probe, &["--partition-layout", "plain"]);
    let sizes: Vec<u64> = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["files"][0]["bytes"].as_u64().unwrap())
        .collect();
    let disk_kib = (sizes[0] + sizes[1] / 2) / 1024 + 64;
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let script = format!(
        "mount -t tmpfs -o size={disk_kib}k tmpfs {mnt} || exit 97\n\
         {bin} convert {input} --out {mnt}/lake --partition-layout plain --quiet --json > {out}/report.json 2> {out}/stderr; echo $? > {out}/code\n\
         {bin} verify {mnt}/lake --json > {out}/verify.json 2>/dev/null; echo $? > {out}/verify_code\n\
         find {mnt}/lake -name '*.parquet' | sort > {out}/files\n\
         {bin} convert {input} --out {mnt}/lake --partition-layout plain --quiet --json > {out}/report2.json 2>/dev/null; echo $? > {out}/code2\n",
        mnt = mnt.display(),
        bin = bin(),
        input = input.display(),
        out = out_dir.display()
    );
    let out = in_mount_namespace(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    assert_eq!(read("code").trim(), "1", "a full disk is a fatal error");
    assert!(
        read("stderr").contains("No space left on device"),
        "{}",
        read("stderr")
    );
    assert!(
        read("stderr").contains("day=16"),
        "the error names the partition: {}",
        read("stderr")
    );
    let files: Vec<String> = read("files").lines().map(String::from).collect();
    assert_eq!(files.len(), 1, "only the first day is visible: {files:?}");
    assert!(
        files[0].ends_with("/lake/year=2024/month=01/day=15/part-00000.parquet"),
        "{files:?}"
    );
    assert_eq!(read("verify_code").trim(), "0", "{}", read("verify.json"));
    // The rerun skips the intact first day and fails again on the second, still cleanly.
    assert_eq!(read("code2").trim(), "1");
}

#[test]
fn an_unwritable_partition_is_a_clear_error_and_earlier_days_stay() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "in/2024/01/01/a.log.gz",
        &v2_gz((0..100).map(record)),
    );
    put(
        tmp.path(),
        "in/2024/01/02/b.log.gz",
        &v2_gz((100..200).map(record)),
    );
    let lake = tmp.path().join("lake");
    put(
        &lake,
        "year=2024/month=01/day=02",
        b"a file where the partition folder must go",
    );
    let run = convert_expecting_failure(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("year=2024/month=01/day=02"),
        "{}",
        run.stderr
    );
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 1);
    assert!(files[0].to_string_lossy().contains("day=01"));
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), json!(100));
    // The publish that failed is left to repair: verify says so (exit 3), naming the partition.
    let (code, report) = verify(&lake);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["problems"], json!([]), "{report}");
    assert_eq!(report["interrupted"], json!(["year=2024/month=01/day=02"]));
}

/// A bookkeeping folder that cannot be listed or read (permissions, a broken mount) stops convert and
/// compact before they change anything: read as "nothing there", it would hide an interrupted publish
/// (journal) or rebuild partitions without the inputs their entries remember (manifest).
#[test]
fn a_journal_or_manifest_that_cannot_be_read_stops_the_run_before_any_change() {
    for (folder, command) in [
        ("journal", "convert"),
        ("manifest", "convert"),
        ("journal", "compact"),
    ] {
        let tmp = reachable_tempdir();
        let input = tmp.path().join("in");
        copy_tree(&fixtures().join("aws"), &input);
        let lake = tmp.path().join("lake");
        // Day 9 is in the lake; day 10 is new, so a convert run has something to publish.
        let (first, _) = convert(&[&input], &lake, &["--to", "2024-03-09"]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        make_reachable(tmp.path(), &lake);
        // Every published file with its size, inode and modification time: rewritten files differ.
        let published = |lake: &std::path::Path| -> Vec<_> {
            walk(lake)
                .into_iter()
                .filter(|p| !p.starts_with(lake.join("_flowlake")))
                .map(|p| {
                    let m = std::fs::metadata(&p).unwrap();
                    (p, m.len(), m.ino(), m.modified().unwrap())
                })
                .collect()
        };
        let before = published(&lake);
        let dir = lake.join("_flowlake").join(folder);
        assert!(dir.is_dir(), "{}", dir.display());
        set_mode(&dir, 0o000);
        let run = match command {
            "convert" => flowlake_unprivileged(&[
                "convert",
                input.to_str().unwrap(),
                "--out",
                lake.to_str().unwrap(),
                "--json",
                "-q",
            ]),
            _ => flowlake_unprivileged(&[
                "compact",
                lake.to_str().unwrap(),
                "--target-file-size",
                "64MiB",
                "--json",
                "-q",
            ]),
        };
        set_mode(&dir, 0o777);
        assert_eq!(
            run.code, 1,
            "{command} with {folder} unreadable: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&dir.display().to_string()),
            "names the folder: {}",
            run.stderr
        );
        assert_eq!(
            before,
            published(&lake),
            "{command} with {folder} unreadable changed the lake"
        );
        // Readable again: the run goes through and the lake is whole.
        let (again, report) = convert(&[&input], &lake, &[]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(report["partitions"], json!(2), "day 10 of both accounts");
        assert_eq!(
            duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
            json!(6000)
        );
        assert_eq!(verify(&lake).0, 0);
    }
}

// ---- kill -9 at every rename and unlink of a run --------------------------------------------

/// The system calls by which a run changes what a reader of the lake's folders sees: a kill is
/// injected at each call of each (strace counts calls per system call), one run per call.
const PUBLISH_CALLS: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "rmdir",
];

/// strace, which injects the kills (Debian's `strace`; `.ci/run` installs it).
fn strace() -> Command {
    let found = Command::new("strace").arg("-V").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "strace is needed for the kill tests (apt-get install strace)"
    );
    Command::new("strace")
}

/// Runs `flowlake <args>` under strace. With `kill_at = Some((call, n))` the run is killed by SIGKILL
/// at the n-th `call` of one of its threads (strace counts calls per thread). Returns whether it was
/// killed, and for each of [`PUBLISH_CALLS`] the most calls one thread made (the runs are given
/// `--threads 1`, so that one thread makes them all and every call is reached).
fn traced(
    args: &[String],
    kill_at: Option<(&str, usize)>,
    log: &Path,
) -> (bool, BTreeMap<String, usize>) {
    let mut cmd = strace();
    cmd.args(["-f", "-qq", "-o"]).arg(log);
    match kill_at {
        Some((call, n)) => cmd.args([
            format!("-etrace={call}"),
            format!("-einject={call}:signal=SIGKILL:when={n}"),
        ]),
        None => cmd.arg(format!("-etrace={}", PUBLISH_CALLS.join(","))),
    };
    let out = cmd.arg(bin()).args(args).output().expect("run strace");
    let killed = out.status.code() == Some(128 + 9) || out.status.code().is_none();
    if kill_at.is_none() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "the run to count calls failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut per_thread: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        // `<pid> <call>(<args>) = <result>`, or `<pid> <call>(<args> <unfinished ...>` then
        // `<pid> <... <call> resumed> ...`: one call either way.
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        if let Some((call, _)) = rest.trim_start().split_once('(') {
            if PUBLISH_CALLS.contains(&call) {
                *per_thread
                    .entry((call.to_string(), pid.to_string()))
                    .or_default() += 1;
            }
        }
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for ((call, _), n) in per_thread {
        let most = counts.entry(call).or_default();
        *most = (*most).max(n);
    }
    (killed, counts)
}

/// Rows per folder (relative to the lake) of every file `read_parquet('<lake>/**/*.parquet')` reads,
/// for each lake, read by real DuckDB in one process.
fn glob_rows(lakes: &[PathBuf]) -> Vec<BTreeMap<String, u64>> {
    let lakes: Vec<String> = lakes.iter().map(|l| l.display().to_string()).collect();
    let script = format!(
        r#"
import duckdb, json, os
out = []
for lake in json.loads({lakes:?}):
    con = duckdb.connect()
    rows = {{}}
    try:
        found = con.execute(
            "select filename, count(*) from read_parquet($1, filename=true) group by filename",
            [lake + "/**/*.parquet"]).fetchall()
    except duckdb.IOException as e:
        if "No files found" not in str(e):
            raise
        found = []
    for name, n in found:
        folder = os.path.relpath(os.path.dirname(name), lake)
        rows[folder] = rows.get(folder, 0) + n
    out.append(rows)
print(json.dumps(out))
"#,
        lakes = serde_json::to_string(&lakes).unwrap()
    );
    serde_json::from_value(py(&script)).unwrap()
}

/// `{lake}` in `args` replaced by `lake`.
fn with_lake(args: &[&str], lake: &Path) -> Vec<String> {
    args.iter()
        .map(|a| a.replace("{lake}", &lake.display().to_string()))
        .collect()
}

/// The staging folder beside `lake` (`.<name>.flowlake-staging`): what runs that were killed left.
fn staging_beside(lake: &Path) -> PathBuf {
    let name = lake.file_name().unwrap().to_string_lossy();
    lake.with_file_name(format!(".{name}.flowlake-staging"))
}

/// Kills the run `args` (`{lake}`: a copy of `template`) at each rename, link and unlink it makes, one
/// copy per call, and checks after each kill: through DuckDB's `**/*.parquet` glob every folder reads
/// exactly as before the run or as the whole run leaves it (never a row twice, never one missing,
/// nothing from a staged or replaced file); `verify` exits non-zero while a journal mark says a
/// publish is unfinished; and the same command run again gives the whole run's lake, which `verify`
/// passes, leaving no staged file behind. Returns how many kills landed.
fn kill_at_every_call(tmp: &Path, template: &Path, args: &[&str]) -> usize {
    let copy = |name: &str| {
        let lake = tmp.join(name);
        copy_tree(template, &lake);
        lake
    };
    let counted = copy("counted");
    let (_, counts) = traced(&with_lake(args, &counted), None, &tmp.join("count.log"));
    assert!(
        counts.values().sum::<usize>() > 5,
        "strace saw the run's calls: {counts:?}"
    );
    let [before, after]: [BTreeMap<String, u64>; 2] =
        glob_rows(&[template.to_path_buf(), counted.clone()])
            .try_into()
            .unwrap();
    let files = |lake: &Path| -> Vec<PathBuf> {
        parquet_files(lake)
            .into_iter()
            .map(|p| p.strip_prefix(lake).unwrap().to_path_buf())
            .collect()
    };
    assert_ne!(
        (&before, files(template)),
        (&after, files(&counted)),
        "the run changes the lake"
    );

    let mut lakes = Vec::new();
    for (call, &n) in &counts {
        for i in 1..=n {
            let lake = copy(&format!("kill-{call}-{i}"));
            let (killed, _) = traced(
                &with_lake(args, &lake),
                Some((call, i)),
                &tmp.join("kill.log"),
            );
            lakes.push((format!("{call} #{i}"), lake, killed));
        }
    }
    let paths: Vec<PathBuf> = lakes.iter().map(|(_, l, _)| l.clone()).collect();
    let seen = glob_rows(&paths);
    let mut killed = 0;
    for ((at, lake, was_killed), seen) in lakes.iter().zip(&seen) {
        killed += usize::from(*was_killed);
        let folders: std::collections::BTreeSet<&String> = before
            .keys()
            .chain(after.keys())
            .chain(seen.keys())
            .collect();
        for folder in folders {
            let (rows, old, new) = (
                seen.get(folder).copied().unwrap_or(0),
                before.get(folder).copied().unwrap_or(0),
                after.get(folder).copied().unwrap_or(0),
            );
            assert!(
                rows == old || rows == new,
                "killed at {at}: the glob reads {rows} rows in {folder} (before the run {old}, after \
                 it {new})"
            );
        }
        // A journal mark is `<partition>.pending` or `.compacting` (a `.tmp` one was not written).
        let marks: Vec<PathBuf> = walk(&lake.join("_flowlake/journal"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e != "tmp"))
            .collect();
        let (code, report) = verify(lake);
        if !marks.is_empty() {
            assert_ne!(
                code, 0,
                "killed at {at}: verify passes a lake with journal marks {marks:?}: {report}"
            );
            assert!(
                !report["interrupted"].as_array().unwrap().is_empty(),
                "{report}"
            );
        }
    }
    // The same command again repairs every lake into the whole run's.
    for (at, lake, _) in &lakes {
        let run = flowlake(with_lake(args, lake));
        assert!(
            matches!(run.code, 0 | 3),
            "rerun after a kill at {at}: {}",
            run.stderr
        );
        let (code, report) = verify(lake);
        assert_eq!(
            code, 0,
            "after the rerun following a kill at {at}: {report}"
        );
        let left: Vec<PathBuf> = walk(&staging_beside(lake));
        assert!(
            left.is_empty(),
            "after the rerun following a kill at {at}: {left:?}"
        );
    }
    for ((at, _, _), seen) in lakes.iter().zip(glob_rows(&paths)) {
        assert_eq!(seen, after, "after the rerun following a kill at {at}");
    }
    killed
}

/// A run killed after it recorded a partition's entry and before it removed the journal mark (the
/// last unlink of a commit): the next run finishes the commit and skips the partition as up to date,
/// instead of rebuilding it (a retried shard would otherwise redo everything it had published).
#[test]
fn a_commit_killed_between_its_entry_and_its_unmark_is_finished_not_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("aws");
    let (_, first) = convert(&[&input], &lake, &[]);
    let partitions = first["partitions"].as_u64().unwrap();
    assert!(partitions >= 2, "{first}");
    // What the kill leaves: every partition's entry recorded and its mark (holding that entry) still there.
    let manifest = lake.join("_flowlake/manifest");
    let entries: Vec<PathBuf> = walk(&manifest)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len() as u64, partitions);
    for entry in &entries {
        let partition = entry.strip_prefix(&manifest).unwrap().with_extension("");
        let mark = lake
            .join("_flowlake/journal")
            .join(format!("{}.pending", partition.display()));
        std::fs::create_dir_all(mark.parent().unwrap()).unwrap();
        std::fs::copy(entry, &mark).unwrap();
    }
    let files: BTreeMap<PathBuf, u64> = parquet_files(&lake)
        .into_iter()
        .map(|p| {
            let ino = std::fs::metadata(&p).unwrap().ino();
            (p, ino)
        })
        .collect();
    let (code, check) = verify(&lake);
    assert_ne!(code, 0, "verify names the unfinished commits: {check}");

    let (run, again) = convert(&[&input], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        again["partitions_unchanged"].as_u64(),
        Some(partitions),
        "{again}"
    );
    assert_eq!(again["rows_written"], json!(0), "{again}");
    assert!(
        walk(&lake.join("_flowlake/journal")).is_empty(),
        "marks removed"
    );
    let kept: BTreeMap<PathBuf, u64> = parquet_files(&lake)
        .into_iter()
        .map(|p| {
            let ino = std::fs::metadata(&p).unwrap().ino();
            (p, ino)
        })
        .collect();
    assert_eq!(kept, files, "no file rewritten");
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
}

/// The day folder of the first generated file of `day` (`YYYY/MM/DD`) under `input`.
fn day_folder(input: &Path, day: &str) -> PathBuf {
    walk(input)
        .into_iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with(day)))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("no file of {day} under {}", input.display()))
}

#[test]
fn a_convert_killed_at_any_rename_or_unlink_never_shows_a_row_twice_or_misses_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let gen = [
        "--days",
        "2",
        "--files-per-day",
        "2",
        "--lines-per-file",
        "150",
    ];
    generate(&input, &gen);
    let template = tmp.path().join("template");
    let (_, report) = convert(&[&input], &template, &["--partition-layout", "plain"]);
    assert_eq!(report["rows_written"], json!(600));
    // A late file for the first day (rebuilt with more rows), a third day (published for the first
    // time), and --rebuild (the second day is republished with the same rows).
    put(
        &day_folder(&input, "2024/01/15"),
        "late.log.gz",
        &v2_gz((0..40).map(record)),
    );
    generate(
        &input,
        &[
            "--start",
            "2024-01-17",
            "--files-per-day",
            "2",
            "--lines-per-file",
            "150",
        ],
    );
    let args = [
        "convert",
        input.to_str().unwrap(),
        "--out",
        "{lake}",
        "--partition-layout",
        "plain",
        "--rebuild",
        "--quiet",
        "--threads",
        "1",
    ];
    let killed = kill_at_every_call(tmp.path(), &template, &args);
    assert!(killed >= 10, "{killed} kills landed");
}

#[test]
fn a_compaction_killed_at_any_rename_or_unlink_never_shows_a_row_twice_or_misses_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, &["--files-per-day", "2", "--lines-per-file", "150"]);
    // flowlake's own small files, and AWS's native Parquet delivery (with a file that is not
    // Parquet, which the exchange keeps) in a lake of their own.
    let template = tmp.path().join("template");
    convert(
        &[&input],
        &template,
        &["--target-file-size", "4KiB", "--row-group-rows", "100"],
    );
    assert!(parquet_files(&template).len() >= 3);
    let args = ["compact", "{lake}", "--quiet", "--threads", "1"];
    let killed = kill_at_every_call(tmp.path(), &template, &args);
    assert!(killed >= 5, "{killed} kills landed");

    let native_tmp = tempfile::tempdir().unwrap();
    let native = native_tmp.path().join("native");
    make_native(&native, 3);
    // A partition folder that holds a folder of Parquet files too (its own partition): the exchange of
    // the outer one carries it along.
    let day = walk(&native)
        .into_iter()
        .find(|p| {
            p.to_string_lossy().contains("day=01") && p.extension().is_some_and(|e| e == "parquet")
        })
        .unwrap();
    for i in 0..2 {
        let inner = day
            .parent()
            .unwrap()
            .join("extra")
            .join(format!("inner-{i}.parquet"));
        std::fs::create_dir_all(inner.parent().unwrap()).unwrap();
        std::fs::copy(&day, inner).unwrap();
    }
    // And a `_` folder (a tool's logs): carried along too, no file-by-file swap.
    put(day.parent().unwrap(), "_logs/run.txt", b"not Parquet");
    let killed = kill_at_every_call(native_tmp.path(), &native, &args);
    assert!(killed >= 5, "{killed} kills landed");
}

/// Where no folder beside the lake is on its filesystem (the lake is a mount point), files are staged
/// inside it: the run says so, and after a kill at the exchange the staged files a glob reads are
/// named by `verify`, which fails, until the next run removes them.
#[test]
fn a_lake_at_a_mount_point_stages_inside_it_says_so_and_verify_names_what_a_kill_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, &["--files-per-day", "2", "--lines-per-file", "100"]);
    let mnt = tmp.path().join("mnt");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    strace(); // fails loudly when missing
    let script = format!(
        "mount -t tmpfs -o size=64m tmpfs {mnt} || exit 97\n\
         {bin} convert {input} --out {mnt} --json --quiet > {out}/first.json 2> {out}/first.err\n\
         strace -f -qq -o /dev/null -e trace=renameat2 -e inject=renameat2:signal=SIGKILL:when=1 \
           {bin} convert {input} --out {mnt} --rebuild --quiet 2> /dev/null; echo $? > {out}/killed_code\n\
         cp -a {mnt} {out}/lake\n",
        mnt = mnt.display(),
        bin = bin(),
        input = input.display(),
        out = out.display()
    );
    let ran = in_mount_namespace(&script);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let first: serde_json::Value = serde_json::from_str(&read("first.json")).unwrap();
    assert_eq!(first["rows_written"], json!(200), "{first}");
    let warned = first["warnings"].as_array().unwrap().iter().any(|w| {
        let m = w["message"].as_str().unwrap();
        m.contains("staged inside the lake") && m.contains("mount point")
    });
    assert!(warned, "{first}");
    assert_eq!(read("killed_code").trim(), "137", "the kill landed");
    // Inside the lake, the staged folder's files are read by the glob beside the published ones: the
    // case the warning names. verify names each such file, and fails.
    let lake = out.join("lake");
    let [seen]: [BTreeMap<String, u64>; 1] =
        glob_rows(std::slice::from_ref(&lake)).try_into().unwrap();
    assert_eq!(seen.values().sum::<u64>(), 400, "{seen:?}");
    let staged: Vec<&String> = seen
        .keys()
        .filter(|k| k.starts_with("_flowlake/staging/"))
        .collect();
    assert_eq!(staged.len(), 1, "{seen:?}");
    let (code, report) = verify(&lake);
    assert_ne!(code, 0, "{report}");
    let leftovers: Vec<&serde_json::Value> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == json!("leftover"))
        .collect();
    assert_eq!(leftovers.len(), 1, "{report}");
    let path = leftovers[0]["path"].as_str().unwrap();
    assert!(
        path.contains(staged[0].as_str()) && path.ends_with(".parquet"),
        "{report}"
    );
    assert!(
        leftovers[0]["message"]
            .as_str()
            .unwrap()
            .contains("200 rows"),
        "{report}"
    );
    // The next run (here, of the copy: a plain folder, staged beside) removes them.
    let (run, _) = convert(&[&input], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let [seen]: [BTreeMap<String, u64>; 1] =
        glob_rows(std::slice::from_ref(&lake)).try_into().unwrap();
    assert_eq!(seen.values().sum::<u64>(), 200, "{seen:?}");
    assert_eq!(verify(&lake).0, 0);
}

/// Any `*.parquet` file a glob over the lake reads outside its partitions is named by `verify`, which
/// fails: a file in `_flowlake/`, in a `.` folder, or with a `_` name in a partition.
#[test]
fn verify_names_every_parquet_file_a_glob_reads_outside_the_lakes_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, &["--files-per-day", "1", "--lines-per-file", "50"]);
    let lake = tmp.path().join("lake");
    convert(&[&input], &lake, &["--partition-layout", "plain"]);
    assert_eq!(verify(&lake).0, 0);
    let published = parquet_files(&lake).remove(0);
    let strays = [
        lake.join("_flowlake/old/part-00000.parquet"),
        lake.join(".trash/x.parquet"),
        published.with_file_name("_copy.parquet"),
    ];
    for stray in &strays {
        std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
        std::fs::copy(&published, stray).unwrap();
    }
    let (code, report) = verify(&lake);
    assert_ne!(code, 0, "{report}");
    let mut named: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["kind"], json!("leftover"), "{p}");
            assert!(p["message"].as_str().unwrap().contains("50 rows"), "{p}");
            p["path"].as_str().unwrap().to_string()
        })
        .collect();
    named.sort();
    let mut expected: Vec<String> = strays.iter().map(|p| p.display().to_string()).collect();
    expected.sort();
    assert_eq!(named, expected);
}

// ---- the exchange and what surrounds it ---------------------------------------------------

/// A lake of one day (`--partition-layout plain`), converted from `input`; returns its partition
/// folder.
fn one_day_lake(input: &Path, lake: &Path) -> PathBuf {
    generate(input, &["--files-per-day", "2", "--lines-per-file", "100"]);
    let (run, _) = convert(&[input], lake, &["--partition-layout", "plain"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    lake.join("year=2024/month=01/day=15")
}

/// The messages of a `--json` report's `warnings` (convert: objects; compact: strings).
fn warnings(report: &serde_json::Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["message"].as_str().or(w.as_str()).unwrap().to_string())
        .collect()
}

/// The exchange keeps what the partition folder was: its owner, group and permissions (setgid
/// included), those of its folders, and a partition folder that is a symbolic link stays one (the
/// folder it points to is exchanged).
#[test]
fn the_exchange_keeps_permissions_owners_and_a_linked_partition_folder() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (input, lake) = (tmp.path().join("in"), tmp.path().join("lake"));
    let day = one_day_lake(&input, &lake);
    put(&day, "extra/notes.txt", b"kept");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    set_mode(&day, 0o2770);
    set_mode(&day.join("extra"), 0o700);
    if is_root() {
        std::os::unix::fs::chown(&day, Some(65534), Some(65534)).unwrap();
    }
    let (run, _) = convert(&[&input], &lake, &["--rebuild"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode(&day), 0o2770);
    assert_eq!(mode(&day.join("extra")), 0o700);
    if is_root() {
        let meta = std::fs::metadata(&day).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
    assert_eq!(std::fs::read(day.join("extra/notes.txt")).unwrap(), b"kept");

    // A day folder that is a link to a folder elsewhere on the same disk.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::rename(&day, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &day).unwrap();
    let (run, report) = convert(&[&input], &lake, &["--rebuild"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(warnings(&report).is_empty(), "{report}");
    assert!(std::fs::symlink_metadata(&day)
        .unwrap()
        .file_type()
        .is_symlink());
    // (DuckDB's `**` does not follow a linked folder; the folder itself holds the new file.)
    let files = parquet_files(&elsewhere);
    assert_eq!(files.len(), 1);
    let rows = py(&format!(
        "import pyarrow.parquet as pq\nprint(pq.read_metadata({:?}).num_rows)",
        files[0].display().to_string()
    ));
    assert_eq!(rows, json!(200));
}

/// A folder beside the lake that this user does not own (another user made it first in a shared
/// parent), or a link there, is never staged in: the run stages inside the lake and says why.
#[test]
fn a_staging_folder_beside_the_lake_that_is_not_the_users_own_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, lake) = (tmp.path().join("in"), tmp.path().join("lake"));
    one_day_lake(&input, &lake);
    let beside = tmp.path().join(".lake.flowlake-staging");
    std::fs::remove_dir_all(&beside).unwrap();
    let planted = tmp.path().join("planted");
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::symlink(&planted, &beside).unwrap();
    let (_, report) = convert(&[&input], &lake, &["--rebuild"]);
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.contains("staged inside the lake") && w.contains("is not a folder")),
        "{report}"
    );
    assert!(walk(&planted).is_empty(), "nothing staged through the link");
    if is_root() {
        std::fs::remove_file(&beside).unwrap();
        std::fs::create_dir(&beside).unwrap();
        std::os::unix::fs::chown(&beside, Some(65534), Some(65534)).unwrap();
        let (_, report) = convert(&[&input], &lake, &["--rebuild"]);
        assert!(
            warnings(&report)
                .iter()
                .any(|w| w.contains("belongs to another user")),
            "{report}"
        );
        assert!(walk(&beside).is_empty());
    }
    assert_eq!(verify(&lake).0, 0);
}

/// A lake's root folder holding Parquet files (a compacted dataset with no partitions) cannot be
/// exchanged (it holds `_flowlake/`): its files are swapped one by one, and the run says so.
#[test]
fn a_root_folder_of_parquet_files_is_swapped_one_by_one_and_the_run_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("flat");
    make_native(&tmp.path().join("native"), 3);
    std::fs::create_dir_all(&lake).unwrap();
    for (i, f) in parquet_files(&tmp.path().join("native")).iter().enumerate() {
        std::fs::copy(f, lake.join(format!("f{i}.parquet"))).unwrap();
    }
    let run = flowlake(["compact", lake.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["compacted"][0]["files_out"], json!(1), "{report}");
    assert!(
        warnings(&report)
            .iter()
            .any(|w| w.starts_with(".: ") && w.contains("swapped one by one")),
        "{report}"
    );
    assert_eq!(parquet_files(&lake).len(), 1);
    assert_eq!(verify(&lake).0, 0);
}

/// A lake that is a bind mount (same device as its parent, but no rename crosses into it) stages
/// inside itself with the warning; a mount point inside a partition folder is never exchanged away
/// (its files stay), the partition is swapped file by file and the run says so.
#[test]
fn bind_mounts_and_mount_points_inside_a_partition_are_found_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, &["--files-per-day", "2", "--lines-per-file", "100"]);
    let (src, parent, out) = (
        tmp.path().join("src"),
        tmp.path().join("parent"),
        tmp.path().join("out"),
    );
    for d in [&src, &parent.join("lake"), &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    let day = "year=2024/month=01/day=15";
    let script = format!(
        "mount --bind {src} {parent}/lake || exit 97\n\
         {bin} convert {input} --out {parent}/lake --partition-layout plain --json --quiet > {out}/bind.json 2> {out}/bind.err\n\
         mkdir -p {parent}/lake/{day}/mnt && mount -t tmpfs tmpfs {parent}/lake/{day}/mnt || exit 97\n\
         echo kept > {parent}/lake/{day}/mnt/file.txt\n\
         {bin} convert {input} --out {parent}/lake --rebuild --json --quiet > {out}/inner.json 2> {out}/inner.err\n\
         cat {parent}/lake/{day}/mnt/file.txt > {out}/mounted.txt\n\
         find {parent}/lake -name '*.parquet' | wc -l > {out}/files\n",
        src = src.display(),
        parent = parent.display(),
        bin = bin(),
        input = input.display(),
        out = out.display()
    );
    let ran = in_mount_namespace(&script);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let bind: serde_json::Value = serde_json::from_str(&read("bind.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", read("bind.err")));
    assert_eq!(bind["rows_written"], json!(200));
    assert!(
        warnings(&bind)
            .iter()
            .any(|w| w.contains("staged inside the lake") && w.contains("bind mount")),
        "{bind}"
    );
    let inner: serde_json::Value = serde_json::from_str(&read("inner.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", read("inner.err")));
    assert_eq!(inner["rows_written"], json!(200));
    assert!(
        warnings(&inner)
            .iter()
            .any(|w| w.contains("swapped one by one") && w.contains("mount point")),
        "{inner}"
    );
    assert_eq!(read("mounted.txt").trim(), "kept", "the mount's files stay");
    assert_eq!(read("files").trim(), "1");
}

/// `verify` sees what a glob reads through symbolic links: a link to a Parquet file in a `_` folder
/// is a leftover, one in a partition an orphan.
#[test]
fn verify_names_links_to_parquet_files_a_glob_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, lake) = (tmp.path().join("in"), tmp.path().join("lake"));
    let day = one_day_lake(&input, &lake);
    let outside = tmp.path().join("outside.parquet");
    std::fs::copy(parquet_files(&day).remove(0), &outside).unwrap();
    std::fs::create_dir_all(lake.join("_old")).unwrap();
    std::os::unix::fs::symlink(&outside, lake.join("_old/x.parquet")).unwrap();
    std::os::unix::fs::symlink(&outside, day.join("extra.parquet")).unwrap();
    let (code, report) = verify(&lake);
    assert_eq!(code, 3, "{report}");
    let mut kinds: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let path = p["path"].as_str().unwrap();
            let name = Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, p["kind"].as_str().unwrap().to_string())
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("extra.parquet".to_string(), "orphan".to_string()),
            ("x.parquet".to_string(), "leftover".to_string())
        ]
    );
}

/// A lake whose name is not UTF-8 stages beside itself under the same bytes, and leaves nothing there.
#[test]
fn a_lake_named_with_bytes_that_are_not_utf8_stages_beside_itself() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let lake = tmp.path().join(std::ffi::OsStr::from_bytes(b"lake-\xff\n"));
    one_day_lake(&input, &lake);
    let (run, report) = convert(&[&input], &lake, &["--rebuild"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(warnings(&report).is_empty(), "{report}");
    let beside = tmp.path().join(std::ffi::OsStr::from_bytes(
        b".lake-\xff\n.flowlake-staging",
    ));
    assert!(beside.is_dir());
    assert!(walk(&beside).is_empty());
    assert!(!lake.join("_flowlake/staging").exists());
    assert_eq!(parquet_files(&lake).len(), 1);
}
