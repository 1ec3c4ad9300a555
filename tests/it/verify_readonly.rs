//! `flowlake verify` needs read access only: it verifies a lake the user cannot write (run as `nobody`
//! when the tests run as root) and leaves the tree exactly as it was; it tells a lake a live run is
//! writing (lock held, journal marks) from a damaged one, and a publish cut short from both; a journal
//! it cannot list is an error, not "no marks".

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

const DAY09: &str =
    "aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=09";
const DAY10: &str =
    "aws-account-id=662306410322/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=10";

/// `flowlake verify <lake> --json` as the unprivileged user: (exit code, report, stderr).
fn verify_unprivileged(lake: &Path) -> (i32, Value, String) {
    let run = flowlake_unprivileged(&["verify", lake.to_str().unwrap(), "--json"]);
    let report = run.report();
    (run.code, report, run.stderr)
}

/// Everything under `root`, folders included: path -> (is folder, mode, size, mtime in ns, inode).
fn tree(root: &Path) -> BTreeMap<PathBuf, (bool, u32, u64, i64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.insert(
                rel,
                (
                    m.is_dir(),
                    m.mode(),
                    m.len(),
                    m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                    m.ino(),
                ),
            );
        }
    }
    out
}

fn kinds(report: &Value) -> Vec<String> {
    let mut k: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[test]
fn a_read_only_lake_is_verified_by_a_user_who_cannot_write_it_and_nothing_changes() {
    let tmp = reachable_tempdir();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    assert!(
        lake.join("_flowlake/lock").is_file(),
        "convert leaves its lock file"
    );

    // Owned by root (or the test user), folders 755, files 644: nobody else can write; then
    // `chmod -R a-w` (for a non-root run, where the owner verifies).
    for (dir_mode, file_mode) in [(0o755, 0o644), (0o555, 0o444)] {
        if !is_root() && dir_mode == 0o755 {
            continue; // the owner could write: only the a-w tree is read-only to a non-root run
        }
        chmod_tree(&lake, dir_mode, file_mode);
        let denied = flowlake_unprivileged(&[
            "convert",
            fixtures().join("aws").to_str().unwrap(),
            "--out",
            lake.to_str().unwrap(),
            "--rebuild",
            "--quiet",
        ]);
        assert_eq!(
            denied.code, 1,
            "the test user cannot write the lake: {}",
            denied.stderr
        );
        let before = tree(&lake);
        let (code, report, stderr) = verify_unprivileged(&lake);
        assert_eq!(code, 0, "{report}\n{stderr}");
        assert_eq!(
            report,
            json!({
                "partitions": 4, "files": 4, "rows": 6000, "bytes": report["bytes"].clone(),
                "quarantined_inputs": 0, "problems": [], "writer_active": false, "writers": [],
                "in_progress": [], "interrupted": []
            })
        );
        let bytes: u64 = parquet_files(&lake)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(report["bytes"], json!(bytes));
        assert_eq!(tree(&lake), before, "verify changed nothing under the lake");
    }

    // A Parquet folder without `_flowlake/`: the files are reported, no bookkeeping folder appears.
    let bare = tmp.path().join("bare");
    let src = lake.join(DAY09).join("part-00000.parquet");
    let copy = bare.join(DAY09).join("part-00000.parquet");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&src, &copy).unwrap();
    chmod_tree(&bare, 0o555, 0o444);
    let before = tree(&bare);
    let (code, report, _) = verify_unprivileged(&bare);
    assert_eq!(code, 3);
    assert_eq!(kinds(&report), ["no_manifest"]);
    assert_eq!(report["problems"][0]["path"], json!(copy));
    assert!(!bare.join("_flowlake").exists(), "no _flowlake folder made");
    assert_eq!(tree(&bare), before);
    chmod_tree(&lake, 0o755, 0o644);
    chmod_tree(&bare, 0o755, 0o644);
}

#[test]
fn a_journal_that_cannot_be_listed_is_an_error_naming_it() {
    let tmp = reachable_tempdir();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let journal = lake.join("_flowlake/journal");
    assert!(journal.is_dir());
    // Unreadable for the test user: before, verify read this as "no journal marks".
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = flowlake_unprivileged(&["verify", lake.to_str().unwrap(), "--json"]);
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no report: {}", run.stdout);
    assert!(
        run.stderr
            .contains(&format!("{}: cannot list the folder", journal.display())),
        "{}",
        run.stderr
    );
}

/// Opens (creating) a lock file the way a run does and writes its holder text.
fn hold(path: &Path, holder: &str, exclusive: bool) -> File {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    if exclusive {
        f.lock().unwrap();
        f.set_len(0).unwrap();
        writeln!(f, "{holder}").unwrap();
    } else {
        f.lock_shared().unwrap();
    }
    f
}

#[test]
fn a_live_writer_s_partitions_are_in_progress_and_once_it_is_gone_an_interrupted_publish() {
    let tmp = reachable_tempdir();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    // A publish of day 09 half done: journal mark, a new file the manifest does not list yet.
    put(
        &lake.join("_flowlake/journal"),
        &format!("{DAY09}.pending"),
        b"",
    );
    let orphan = lake.join(DAY09).join("part-00001.parquet");
    std::fs::copy(lake.join(DAY10).join("part-00000.parquet"), &orphan).unwrap();
    chmod_tree(&lake, 0o755, 0o644);

    // A whole-lake run holds the lock (as convert and compact do).
    let holder = format!("pid {} flowlake run test-writer", std::process::id());
    let lock = hold(&lake.join("_flowlake/lock"), &holder, true);
    std::fs::set_permissions(
        lake.join("_flowlake/lock"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let before = tree(&lake);
    let (code, report, stderr) = verify_unprivileged(&lake);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["writer_active"], json!(true));
    assert_eq!(report["writers"], json!([holder]));
    assert_eq!(report["in_progress"], json!([DAY09]));
    assert_eq!(report["interrupted"], json!([]));
    assert_eq!(report["problems"], json!([]));
    assert_eq!(
        (report["files"].clone(), report["rows"].clone()),
        (json!(4), json!(6000)),
        "the recorded files still check out"
    );
    assert!(
        stderr.contains(&format!("a run is writing the lake: {holder}")),
        "{stderr}"
    );
    assert!(stderr.contains(DAY09), "{stderr}");
    assert_eq!(tree(&lake), before, "verify wrote nothing");
    drop(lock);

    // The run is gone and left its mark: an interrupted publish, which the next convert repairs.
    let (code, report, stderr) = verify_unprivileged(&lake);
    assert_eq!(code, 3, "{report}\n{stderr}");
    assert_eq!(report["writer_active"], json!(false));
    assert_eq!(report["writers"], json!([]));
    assert_eq!(report["in_progress"], json!([]));
    assert_eq!(report["interrupted"], json!([DAY09]));
    assert_eq!(kinds(&report), ["orphan"]);
    let problem = &report["problems"][0];
    assert_eq!(problem["path"], json!(orphan));
    assert_eq!(problem["interrupted"], json!(true));
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("not among the partition's outputs in the manifest (1500 rows)")
            && message.contains("the next `flowlake convert` on this lake rebuilds it"),
        "{message}"
    );

    // A running shard (its own lock exclusive, the lake lock shared) is a live writer too.
    let shared = hold(&lake.join("_flowlake/lock"), "", false);
    let shard_holder = format!(
        "pid {} flowlake run test-shard, shard 1/3",
        std::process::id()
    );
    let shard = hold(
        &lake.join("_flowlake/locks/shard-1-of-3"),
        &shard_holder,
        true,
    );
    chmod_tree(&lake, 0o755, 0o644);
    let (code, report, stderr) = verify_unprivileged(&lake);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["writers"], json!([shard_holder]));
    assert_eq!(report["in_progress"], json!([DAY09]));
    drop((shard, shared));

    // The next convert rebuilds the marked partition: clean, no marks left.
    let (run, _) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!orphan.exists(), "the stray part file was replaced");
    let (code, report) = verify(&lake);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["interrupted"], json!([]));
    assert_eq!(report["rows"], json!(6000));
}

#[test]
fn a_stopped_compaction_says_compact_records_the_files() {
    let tmp = reachable_tempdir();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    put(
        &lake.join("_flowlake/journal"),
        &format!("{DAY10}.compacting"),
        b"",
    );
    let file = lake.join(DAY10).join("part-00000.parquet");
    std::fs::remove_file(&file).unwrap();
    chmod_tree(&lake, 0o755, 0o644);
    let (code, report, stderr) = verify_unprivileged(&lake);
    assert_eq!(code, 3, "{report}\n{stderr}");
    assert_eq!(report["interrupted"], json!([DAY10]));
    assert_eq!(kinds(&report), ["missing"]);
    assert_eq!(report["problems"][0]["path"], json!(file));
    let message = report["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("the next `flowlake compact` on this lake records them"),
        "{message}"
    );
}
