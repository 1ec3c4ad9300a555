//! Archive trees shaped the way real ones are: copied, reorganised, narrowed, symlinked, partly
//! expired by lifecycle rules, with odd names. Every case checks that no row is lost and that the
//! run goes on past one bad entry.

use std::path::Path;

use crate::common::*;
use serde_json::{json, Value};

/// `n` records whose `bytes` are `base, base + 1, ...` (so sums tell files apart) at 2024-01-01.
fn records(base: u64, n: u64) -> impl Iterator<Item = V2> {
    (0..n).map(move |i| V2 {
        srcaddr: format!("10.0.0.{}", i % 250),
        srcport: 1024 + i,
        bytes: base + i,
        ..V2::default()
    })
}

fn log(base: u64, n: u64) -> Vec<u8> {
    v2_gz(records(base, n))
}

fn count(lake: &Path) -> u64 {
    duckdb_one(lake, "SELECT count(*) FROM {lake}")
        .as_u64()
        .unwrap()
}

fn sum_bytes(lake: &Path) -> u64 {
    duckdb_one(lake, "SELECT coalesce(sum(bytes), 0)::BIGINT FROM {lake}")
        .as_u64()
        .unwrap()
}

fn expect_clean_verify(lake: &Path) {
    let (code, report) = verify(lake);
    assert_eq!(code, 0, "verify: {report}");
    assert!(report.is_object(), "verify printed no JSON");
}

fn paths_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect()
}

// ---- 1. identity: files that share a name are not one file ------------------------------------

#[test]
fn hour_folders_that_each_hold_the_same_name_keep_all_rows_when_rebuilt_from_one_hour() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    for h in 0..3u64 {
        put(&day, &format!("{h:02}/part.log.gz"), &log(h * 1000, 10));
    }
    let lake = tmp.path().join("lake");
    let (_, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(report["rows_written"], json!(30));
    // A late file in hour 01, converted from that hour alone: the day is rebuilt from all hours.
    put(&day, "01/late.log.gz", &log(9000, 5));
    let (run, report) = convert(&[&day.join("01")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        report["files"],
        json!(4),
        "the other hours' part.log.gz are read again"
    );
    assert_eq!(count(&lake), 35);
    assert_eq!(
        sum_bytes(&lake),
        (0..3)
            .map(|h| (0..10).map(|i| h * 1000 + i).sum::<u64>())
            .sum::<u64>()
            + (0..5).map(|i| 9000 + i).sum::<u64>()
    );
    expect_clean_verify(&lake);
}

#[test]
fn two_roots_with_the_same_file_names_and_sizes_keep_both_when_one_is_converted_alone() {
    let tmp = tempfile::tempdir().unwrap();
    // Plain text of the same length: same name, same size, different rows.
    let a = put(
        tmp.path(),
        "a/2024/01/01/flows.log",
        format!("{HEADER}{}", v2_lines(records(100, 20))).as_bytes(),
    );
    let b = put(
        tmp.path(),
        "b/2024/01/01/flows.log",
        format!("{HEADER}{}", v2_lines(records(700, 20))).as_bytes(),
    );
    assert_eq!(
        std::fs::metadata(&a).unwrap().len(),
        std::fs::metadata(&b).unwrap().len()
    );
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("a"), &tmp.path().join("b")], &lake, &[]);
    assert_eq!(count(&lake), 40);
    put(tmp.path(), "a/2024/01/01/late.log.gz", &log(5000, 3));
    let (run, report) = convert(&[&tmp.path().join("a")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        report["files"],
        json!(3),
        "b's flows.log is not taken for a's"
    );
    assert_eq!(count(&lake), 43);
    assert_eq!(
        sum_bytes(&lake),
        (0..20).map(|i| 100 + i + 700 + i).sum::<u64>() + (0..3).map(|i| 5000 + i).sum::<u64>()
    );
}

/// A tree and its backup given together: each input is read once (the copy is listed as skipped,
/// naming the one read), the next run over both changes nothing, and a run over the backup alone
/// recognises it.
#[test]
fn identical_copies_under_two_roots_of_one_run_are_read_once() {
    let tmp = tempfile::tempdir().unwrap();
    for root in ["a", "backup"] {
        put(
            tmp.path(),
            &format!("{root}/2024/01/01/00/part.log.gz"),
            &log(0, 10),
        );
        put(
            tmp.path(),
            &format!("{root}/2024/01/01/01/part.log.gz"),
            &log(100, 10),
        );
    }
    // Same identity and size in both roots, other bytes: two inputs.
    put(tmp.path(), "a/2024/01/01/02/part.log.gz", &log(200, 10));
    put(
        tmp.path(),
        "backup/2024/01/01/02/part.log.gz",
        &log(300, 10),
    );
    assert_eq!(
        std::fs::metadata(tmp.path().join("a/2024/01/01/02/part.log.gz"))
            .unwrap()
            .len(),
        std::fs::metadata(tmp.path().join("backup/2024/01/01/02/part.log.gz"))
            .unwrap()
            .len()
    );
    let (a, backup) = (tmp.path().join("a"), tmp.path().join("backup"));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&a, &backup], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["files"], json!(4), "{report}");
    assert_eq!(count(&lake), 40);
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().into(),
                s["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{report}");
    for (hour, (path, reason)) in ["00", "01"].iter().zip(&skipped) {
        assert!(
            path.ends_with(&format!("backup/2024/01/01/{hour}/part.log.gz")),
            "{path}"
        );
        assert!(
            reason.contains("identical copy")
                && reason.contains(&format!("a/2024/01/01/{hour}/part.log.gz")),
            "{reason}"
        );
    }
    let (_, again) = convert(&[&a, &backup], &lake, &[]);
    assert_eq!(again["partitions"], json!(0), "{again}");
    assert_eq!(again["partitions_unchanged"], json!(1), "{again}");
    let (_, alone) = convert(&[&backup], &lake, &[]);
    assert_eq!(alone["vanished"], json!([]), "{alone}");
    assert_eq!(count(&lake), 40);
}

#[test]
fn a_tree_moved_elsewhere_is_recognised_and_not_read_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    for h in 0..2u64 {
        put(
            &old,
            &format!("2024/01/01/{h:02}/part.log.gz"),
            &log(h * 100, 10),
        );
    }
    let lake = tmp.path().join("lake");
    convert(&[&old], &lake, &[]);
    let new = tmp.path().join("new");
    std::fs::rename(&old, &new).unwrap();
    put(&new, "2024/01/01/01/late.log.gz", &log(900, 2));
    let (_, report) = convert(&[&new], &lake, &[]);
    assert_eq!(report["files"], json!(3));
    assert_eq!(
        report["vanished"],
        json!([]),
        "a moved file is not a vanished one"
    );
    assert_eq!(count(&lake), 22);
}

// ---- 2. inputs that are gone keep their rows ---------------------------------------------------

#[test]
fn rows_of_expired_inputs_stay_through_late_files_rebuilds_and_setting_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    for i in 0..4u64 {
        put(&day, &format!("f{i}.log.gz"), &log(i * 100, 10 + i));
    }
    let lake = tmp.path().join("lake");
    let knobs = ["--target-file-size", "2KiB", "--row-group-rows", "7"]; // several output files
    convert(&[&tmp.path().join("in")], &lake, &knobs);
    let total = count(&lake);
    let sum = sum_bytes(&lake);
    assert_eq!(total, 10 + 11 + 12 + 13);

    // A lifecycle rule expires f1 and f2; nothing else changes: nothing is rewritten.
    std::fs::remove_file(day.join("f1.log.gz")).unwrap();
    std::fs::remove_file(day.join("f2.log.gz")).unwrap();
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &knobs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions_unchanged"], json!(1));
    assert_eq!(report["vanished"].as_array().unwrap().len(), 2);
    assert_eq!(count(&lake), total);

    // A late file rebuilds the day: the expired files' rows are carried over from the lake.
    put(&day, "late.log.gz", &log(7000, 4));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &knobs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions"], json!(1));
    assert_eq!(report["rows_carried_over"], json!(11 + 12));
    let vanished = &report["vanished"];
    assert_eq!(
        paths_of(vanished),
        [
            day.join("f1.log.gz").display().to_string(),
            day.join("f2.log.gz").display().to_string()
        ]
    );
    assert!(vanished
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["kept"] == json!(true)));
    assert_eq!(count(&lake), total + 4);
    let with_late = sum + (0..4).map(|i| 7000 + i).sum::<u64>();
    assert_eq!(sum_bytes(&lake), with_late);
    expect_clean_verify(&lake);

    // --rebuild, and a changed setting that rebuilds: still there, carried again from the new files.
    for extra in [&["--rebuild"][..], &["--max-line-size", "32KiB"][..]] {
        let mut args = knobs.to_vec();
        args.extend_from_slice(extra);
        let (run, report) = convert(&[&tmp.path().join("in")], &lake, &args);
        assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
        assert_eq!(report["partitions"], json!(1), "{extra:?}");
        assert_eq!(report["rows_carried_over"], json!(23), "{extra:?}");
        assert_eq!(count(&lake), total + 4, "{extra:?}");
        assert_eq!(sum_bytes(&lake), with_late, "{extra:?}");
    }
    // The per-row values survive, not only the counts.
    let f2_rows = duckdb_one(
        &lake,
        "SELECT count(*) FROM {lake} WHERE bytes BETWEEN 200 AND 211 AND srcport BETWEEN 1024 AND 1035",
    );
    assert_eq!(f2_rows, json!(12));

    // Mirroring deletions, asked for explicitly, drops them.
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &[
            "--mirror-deletions",
            "--target-file-size",
            "2KiB",
            "--row-group-rows",
            "7",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(report["vanished"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["kept"] == json!(false)));
    assert_eq!(count(&lake), 10 + 13 + 4);
    expect_clean_verify(&lake);
}

#[test]
fn rows_of_an_expired_input_delivered_the_next_day_stay_with_partition_time_start() {
    let tmp = tempfile::tempdir().unwrap();
    // Day 1's file holds rows of 2024-01-01; day 2's file holds late rows of 2024-01-01 too.
    let late_rows = (0..6).map(|i| V2 {
        eni: "eni-1".into(),
        srcport: 1,
        dstport: 2,
        bytes: 50 + i,
        start: 1704153500,
        end: 1704153590,
        ..V2::default()
    });
    put(tmp.path(), "in/2024/01/01/a.log.gz", &log(0, 5));
    put(tmp.path(), "in/2024/01/02/b.log.gz", &v2_gz(late_rows));
    let lake = tmp.path().join("lake");
    convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--partition-time", "start"],
    );
    assert_eq!(count(&lake), 11);
    std::fs::remove_file(tmp.path().join("in/2024/01/02/b.log.gz")).unwrap();
    put(tmp.path(), "in/2024/01/01/late.log.gz", &log(100, 2));
    let (run, report) = convert(
        &[&tmp.path().join("in")],
        &lake,
        &["--partition-time", "start"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(6));
    assert_eq!(count(&lake), 13);
    expect_clean_verify(&lake);
}

#[test]
fn an_entry_without_row_positions_leaves_its_partition_as_it_is_rather_than_drop_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(0, 5));
    put(&day, "b.log.gz", &log(100, 7));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    // The entry as an earlier flowlake wrote it: inputs with path, size and mtime only.
    let entry_path = lake.join("_flowlake/manifest/year=2024/month=01/day=01.json");
    let mut entry: Value = serde_json::from_slice(&std::fs::read(&entry_path).unwrap()).unwrap();
    entry.as_object_mut().unwrap().remove("row_map");
    for input in entry["inputs"].as_array_mut().unwrap() {
        let o = input.as_object_mut().unwrap();
        o.retain(|k, _| matches!(k.as_str(), "path" | "size" | "mtime"));
    }
    std::fs::write(&entry_path, serde_json::to_vec_pretty(&entry).unwrap()).unwrap();
    let (_, again) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(
        again["partitions_unchanged"],
        json!(1),
        "old entries stay valid"
    );

    std::fs::remove_file(day.join("a.log.gz")).unwrap();
    put(&day, "late.log.gz", &log(900, 1));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    // Not converting the late file is not a clean run: exit 3, named on stderr and in the report.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["partitions"], json!(0));
    assert_eq!(
        report["held"][0]["path"],
        json!("year=2024/month=01/day=01"),
        "{report}"
    );
    assert!(
        report["held"][0]["reason"]
            .to_string()
            .contains("does not say how many rows are theirs"),
        "{report}"
    );
    assert_eq!(count(&lake), 12, "nothing lost");
    // Every run says so, until the user decides.
    let run = flowlake([
        "convert",
        tmp.path().join("in").to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("NOT REBUILT: year=2024/month=01/day=01"),
        "{}",
        run.stderr
    );
}

// ---- 3. names that are not UTF-8 ---------------------------------------------------------------

#[test]
fn paths_that_are_not_utf8_convert_and_are_recorded_losslessly() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let odd_dir = std::ffi::OsStr::from_bytes(b"copy-\xff\xfe");
    let odd_name = std::ffi::OsStr::from_bytes(b"flows-\x80.log.gz");
    let day = tmp.path().join("in").join(odd_dir).join("2024/01/01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join(odd_name), log(0, 9)).unwrap();
    put(&day, "plain.log.gz", &log(100, 3));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(12));
    assert!(report["file_details"]
        .to_string()
        .contains("flows-\u{fffd}.log.gz"));
    expect_clean_verify(&lake);
    let (_, again) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(
        again["partitions_unchanged"],
        json!(1),
        "the manifest kept the exact name"
    );
    assert_eq!(count(&lake), 12);
}

// ---- 4. one bad entry below the root -----------------------------------------------------------

#[test]
fn dangling_links_loops_and_unreadable_folders_are_named_and_the_rest_converts() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    put(&input, "2024/01/01/good.log.gz", &log(0, 4));
    put(&input, "2024/01/02/locked/x.log.gz", &log(100, 4));
    put(&input, "2024/01/02/open.log.gz", &log(200, 4));
    std::os::unix::fs::symlink(
        tmp.path().join("nowhere.log.gz"),
        input.join("2024/01/01/dangling.log.gz"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&input, input.join("2024/01/01/loop")).unwrap();
    let lake = tmp.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    make_reachable(tmp.path(), &lake);
    let locked = input.join("2024/01/02/locked");
    set_mode(&locked, 0o000);
    let run = flowlake_unprivileged(&[
        "convert",
        input.to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
        "--json",
        "--quiet",
    ]);
    set_mode(&locked, 0o755);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["rows_written"], json!(8));
    let failed = report["failed"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = failed
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(failed.len(), 3, "{kinds:?}");
    assert!(
        failed.iter().all(|f| f["kind"] == json!("listing")),
        "{kinds:?}"
    );
    let text = report["failed"].to_string();
    assert!(
        text.contains("dangling.log.gz") && text.contains("dangling"),
        "{text}"
    );
    assert!(text.contains("loop"), "{text}");
    assert!(
        text.contains("locked") && text.contains("ermission denied"),
        "{text}"
    );
    assert_eq!(count(&lake), 8);
}

#[test]
fn an_unreadable_root_is_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let run = convert_expecting_failure(
        &[&tmp.path().join("missing")],
        &tmp.path().join("lake"),
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
}

// ---- 6. keys from the path as given ------------------------------------------------------------

#[test]
fn keys_come_from_the_path_as_given_and_only_where_the_layout_fits() {
    let tmp = tempfile::tempdir().unwrap();
    // A plain tree under a folder named `vpcflowlogs`: plain keys, not invented ones.
    put(
        tmp.path(),
        "x/team/vpcflowlogs/2024/01/01/a.log.gz",
        &log(0, 3),
    );
    let lake = tmp.path().join("lake1");
    let (_, report) = convert(&[&tmp.path().join("x")], &lake, &[]);
    let parts: Vec<&str> = report["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["year=2024/month=01/day=01"]);

    // A day folder that is a symbolic link to a folder without a date keeps the link's date.
    put(tmp.path(), "store/blob-17/b.log.gz", &log(10, 2));
    std::fs::create_dir_all(tmp.path().join("y/2024/02")).unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("store/blob-17"),
        tmp.path().join("y/2024/02/03"),
    )
    .unwrap();
    let lake = tmp.path().join("lake2");
    let (run, report) = convert(&[&tmp.path().join("y")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        report["partition_details"][0]["path"],
        json!("year=2024/month=02/day=03")
    );
    // The same through a root that is itself the link.
    let lake = tmp.path().join("lake3");
    let (_, report) = convert(&[&tmp.path().join("y/2024/02/03")], &lake, &[]);
    assert_eq!(
        report["partition_details"][0]["path"],
        json!("year=2024/month=02/day=03")
    );

    // The AWS layout where it fits, at any root level; a folder date and a file name date that
    // disagree: the folder wins and the disagreement is reported.
    let aws = "z/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/03/04";
    put(
        tmp.path(),
        &format!("{aws}/123456789012_vpcflowlogs_eu-west-1_fl-1_20240305T0000Z_ab.log.gz"),
        &log(0, 2),
    );
    for root in ["z", "z/AWSLogs/123456789012", aws] {
        let lake = tmp.path().join(format!("lake-{}", root.len()));
        let (_, report) = convert(&[&tmp.path().join(root)], &lake, &[]);
        assert_eq!(
            report["partition_details"][0]["path"],
            json!("aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=03/day=04"),
            "{root}"
        );
        assert!(
            report["warnings"]
                .to_string()
                .contains("the folder's date is used"),
            "{root}"
        );
    }
}

// ---- 7. years and values that cannot be partitions ---------------------------------------------

#[test]
fn impossible_years_and_unsafe_key_values_are_skipped_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "in/0000/01/01/a.log.gz", &log(0, 2));
    put(tmp.path(), "in/9999/12/31/b.log.gz", &log(0, 2));
    put(
        tmp.path(),
        "in/aws-account-id=1,2/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=01/day=01/c.log.gz",
        &log(0, 2),
    );
    put(tmp.path(), "in/2024/01/01/ok.log.gz", &log(0, 2));
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(2));
    let skipped = report["skipped"].to_string();
    assert!(
        skipped.contains("year 0") && skipped.contains("year 9999"),
        "{skipped}"
    );
    assert!(skipped.contains("aws-account-id"), "{skipped}");
    let ddl = flowlake(["ddl", lake.to_str().unwrap()]);
    assert_eq!(ddl.code, 0, "{}", ddl.stderr);
    assert!(
        !ddl.stdout.contains("9999") && !ddl.stdout.contains("'0000'"),
        "{}",
        ddl.stdout
    );
}

// ---- rough edges -------------------------------------------------------------------------------

#[test]
fn case_variants_unpadded_hive_folders_hidden_folders_bom_and_foreign_gz() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    put(&input, "year=2024/month=3/day=9/A.LOG.GZ", &log(0, 3));
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(format!("{HEADER}{}", v2_lines(records(10, 2))).as_bytes());
    put(&input, "year=2024/month=3/day=9/bom.log", &bom);
    put(&input, "year=2024/month=3/day=9/_tmp/x.log.gz", &log(0, 50));
    put(
        &input,
        "year=2024/month=3/day=9/.cache/y.log.gz",
        &log(0, 50),
    );
    let billing: String = (0..3000)
        .map(|i| format!("\"2024-03-09\",\"AmazonEC2\",\"{i}\",\"0.42\"\n"))
        .collect();
    put(
        &input,
        "year=2024/month=3/day=9/billing.csv.gz",
        &gzip(format!("\"date\",\"service\",\"id\",\"cost\"\n{billing}").as_bytes()),
    );
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&input], &lake, &[]);
    assert_eq!(report["rows_written"], json!(5), "{report}");
    assert_eq!(report["rejected"], json!(0));
    assert!(
        lake.join("year=2024/month=03/day=09").is_dir(),
        "written zero-padded"
    );
    let skipped = report["skipped"].as_array().unwrap();
    let reasons = report["skipped"].to_string();
    assert!(
        reasons.contains("_tmp") && reasons.contains(".cache"),
        "{reasons}"
    );
    assert!(reasons.contains("billing.csv.gz"), "{reasons}");
    assert_eq!(skipped.len(), 3, "each hidden folder once: {reasons}");
    assert!(
        skipped.iter().all(|s| s["flow_log"] == json!(false)),
        "{reasons}"
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The same bytes named like a flow log: still skipped, but the run is not clean (exit 3).
    let odd = tmp.path().join("odd");
    put(
        &odd,
        "2024/03/09/flows.log.gz",
        &gzip(format!("\"date\",\"service\"\n{billing}").as_bytes()),
    );
    let (run, report) = convert(&[&odd], &tmp.path().join("lake2"), &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["rejected"], json!(0));
    assert_eq!(report["skipped"][0]["flow_log"], json!(true), "{report}");
}

#[test]
fn the_summary_names_the_real_reason_a_partition_was_withheld() {
    let tmp = tempfile::tempdir().unwrap();
    put(
        tmp.path(),
        "in/2024/01/01/bad.log.gz",
        b"\x1f\x8b\x08\x00garbage",
    );
    let lake = tmp.path().join("lake");
    let run = flowlake([
        "convert",
        tmp.path().join("in").to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 4);
    assert!(
        run.stderr
            .contains("every input file delivered for this partition failed to read"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("reject ratio above"), "{}", run.stderr);
}

#[test]
fn a_swap_stopped_before_its_manifest_write_is_finished_without_losing_expired_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a.log.gz", &log(0, 6));
    put(&day, "b.log.gz", &log(100, 7));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    let entry_path = lake.join("_flowlake/manifest/year=2024/month=01/day=01.json");
    let old_entry = std::fs::read(&entry_path).unwrap();
    put(&day, "late.log.gz", &log(500, 3));
    convert(&[&tmp.path().join("in")], &lake, &[]);
    // As if the second run was killed after its swap and before its manifest write: the old entry,
    // and the journal mark holding the new one.
    let new_entry = std::fs::read(&entry_path).unwrap();
    std::fs::write(&entry_path, &old_entry).unwrap();
    let mark = put(
        &lake,
        "_flowlake/journal/year=2024/month=01/day=01.pending",
        &new_entry,
    );
    std::fs::remove_file(day.join("a.log.gz")).unwrap(); // and then a.log.gz expired
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!mark.exists(), "the publish was finished: {report}");
    assert_eq!(report["partitions_unchanged"], json!(1), "{report}");
    assert_eq!(report["warnings"], json!([]));
    assert_eq!(count(&lake), 16);
    expect_clean_verify(&lake);
    // A later rebuild carries a.log.gz's rows over.
    let (_, report) = convert(&[&tmp.path().join("in")], &lake, &["--rebuild"]);
    assert_eq!(report["rows_carried_over"], json!(6));
    assert_eq!(count(&lake), 16);
}

#[test]
fn empty_and_header_only_inputs_that_vanish_carry_nothing_and_the_next_run_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(&day, "a-empty.log.gz", b"");
    put(&day, "b-header.log.gz", &gzip(HEADER.as_bytes()));
    put(&day, "c-rows.log.gz", &log(0, 9));
    put(&day, "d-rows.log.gz", &log(100, 4));
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    for f in ["a-empty.log.gz", "b-header.log.gz", "c-rows.log.gz"] {
        std::fs::remove_file(day.join(f)).unwrap();
    }
    put(&day, "e-late.log.gz", &log(500, 2));
    let (run, report) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["vanished"].as_array().unwrap().len(), 3);
    assert_eq!(report["rows_carried_over"], json!(9));
    assert_eq!(count(&lake), 15);
    assert_eq!(
        sum_bytes(&lake),
        (0..9).sum::<u64>() + (100..104).sum::<u64>() + (500..502).sum::<u64>()
    );
    expect_clean_verify(&lake);
    // Nothing new: nothing rewritten, though three of its inputs are still gone.
    let before = std::fs::metadata(lake.join("year=2024/month=01/day=01/part-00000.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    let (_, again) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert_eq!(again["partitions_unchanged"], json!(1), "{again}");
    assert_eq!(again["rows_carried_over"], json!(0));
    let after = std::fs::metadata(lake.join("year=2024/month=01/day=01/part-00000.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(count(&lake), 15);
}
