//! `flowlake compact`: hundreds of small files from flowlake and from AWS-native-shaped Parquet (made
//! here with pyarrow) become few files at the target size with identical contents (DuckDB EXCEPT ALL
//! both ways), the lake schema, a clean verify, and nothing to do on a rerun.

use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

fn compact(lake: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["compact", lake.to_str().unwrap(), "--json", "--quiet"];
    args.extend_from_slice(extra);
    let run = flowlake(&args);
    assert!(
        matches!(run.code, 0 | 3),
        "compact failed ({}): {}",
        run.code,
        run.stderr
    );
    let report = run.report();
    (run.code, report, run.stderr)
}

/// Rows of `a` missing from `b` plus rows of `b` missing from `a` (multiset difference), over `columns`.
fn difference(a: &Path, b: &Path, columns: &str) -> Value {
    let script = format!(
        r#"
import duckdb, json
con = duckdb.connect()
a = "read_parquet('{a}/**/*.parquet', hive_partitioning=false, union_by_name=true)"
b = "read_parquet('{b}/**/*.parquet', hive_partitioning=false, union_by_name=true)"
cols = {columns:?}
q = lambda x, y: con.execute(f"SELECT count(*) FROM (SELECT {{cols}} FROM {{x}} EXCEPT ALL SELECT {{cols}} FROM {{y}})").fetchone()[0]
print(json.dumps([con.execute(f"SELECT count(*) FROM {{a}}").fetchone()[0], q(a, b) + q(b, a)]))
"#,
        a = a.display(),
        b = b.display(),
    );
    py(&script)
}

fn file_sizes(dir: &Path) -> Vec<u64> {
    parquet_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect()
}

#[test]
fn hundreds_of_small_flowlake_files_become_few_at_the_target_size() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(
        &logs,
        &["--files-per-day", "240", "--lines-per-file", "1000"],
    );
    // One-row-group files of 1000 rows: 240 small files in the day's partition.
    convert(
        &[&logs],
        &lake,
        &["--target-file-size", "1KiB", "--row-group-rows", "1000"],
    );
    let before_files = parquet_files(&lake);
    assert_eq!(before_files.len(), 240);
    let before = tmp.path().join("before");
    copy_tree(&lake, &before);

    // The dry run plans and changes nothing.
    let (code, plan, _) = compact(&lake, &["--dry-run", "--target-file-size", "2MiB"]);
    assert_eq!(code, 0);
    assert_eq!(plan["compacted"].as_array().unwrap().len(), 1);
    assert_eq!(plan["compacted"][0]["files_in"], json!(240));
    assert_eq!(plan["compacted"][0]["rows"], json!(240_000));
    assert_eq!(parquet_files(&lake), before_files);

    let (code, report, _) = compact(&lake, &["--target-file-size", "2MiB"]);
    assert_eq!(code, 0, "{report}");
    let part = &report["compacted"][0];
    assert_eq!(part["files_in"], json!(240));
    let sizes = file_sizes(&lake);
    assert_eq!(part["files_out"], json!(sizes.len()));
    assert!(
        (2..=4).contains(&sizes.len()),
        "240 files of ~40 KB at a 2 MiB target: {sizes:?}"
    );
    for s in &sizes[..sizes.len() - 1] {
        assert!(
            (1_000_000..=3_200_000).contains(s),
            "every file but the last is near the 2 MiB target: {sizes:?}"
        );
    }
    assert_eq!(difference(&before, &lake, "*"), json!([240_000, 0]));
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["rows"], json!(240_000));

    // Nothing to do on a rerun, for compact and for convert.
    let mtimes: Vec<_> = parquet_files(&lake)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let (_, again, _) = compact(&lake, &["--target-file-size", "2MiB"]);
    assert_eq!(again["compacted"], json!([]));
    let (_, rerun) = convert(&[&logs], &lake, &[]);
    assert_eq!(rerun["partitions_unchanged"], json!(1));
    let after: Vec<_> = parquet_files(&lake)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(mtimes, after, "no file rewritten");
}

const NATIVE_COLUMNS: &str =
    "version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, \
     protocol, packets, bytes, start, \"end\", action, log_status";

#[test]
fn aws_native_parquet_deliveries_are_compacted_into_the_lake_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("native");
    let rows = make_native(&lake, 210);
    let before = tmp.path().join("before");
    copy_tree(&lake, &before);
    assert_eq!(parquet_files(&lake).len(), 420);

    let (code, report, _) = compact(&lake, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["compacted"].as_array().unwrap().len(), 2);
    for p in report["compacted"].as_array().unwrap() {
        assert_eq!(p["files_in"], json!(210));
        assert_eq!(p["files_out"], json!(1));
    }
    let files = parquet_files(&lake);
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert!(f.file_name().unwrap().to_str().unwrap() == "part-00000.parquet");
        assert!(f.parent().unwrap().join("notes.txt").exists());
    }
    assert_eq!(difference(&before, &lake, NATIVE_COLUMNS), json!([rows, 0]));

    // The output has flowlake's schema: the same as a converted lake's files.
    let converted = tmp.path().join("converted");
    convert(&[&fixtures().join("aws")], &converted, &[]);
    let schema_of = |p: &Path| {
        py(&format!(
            "import json, pyarrow.parquet as pq\nprint(json.dumps(str(pq.read_schema({:?}))))",
            p.display().to_string()
        ))
    };
    let lake_schema = schema_of(&parquet_files(&converted)[0]);
    for f in &files {
        assert_eq!(schema_of(f), lake_schema);
    }
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["rows"], json!(rows));
    let (_, again, _) = compact(&lake, &[]);
    assert_eq!(again["compacted"], json!([]));
}

#[test]
fn date_range_and_columns_the_lake_cannot_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("native");
    make_native(&lake, 5);
    // Only 2024-05-02 (the hourly plain folder) is in range.
    let (code, report, _) = compact(&lake, &["--from", "2024-05-02", "--to", "2024-05-02"]);
    assert_eq!(code, 0);
    let paths: Vec<&str> = report["compacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/07"]
    );
    assert_eq!(parquet_files(&lake).len(), 6);

    // A file with a column that is not a flow log field: the partition is left as it was, exit 3.
    let day1 = lake.join(
        "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01",
    );
    py(&format!(
        "import pyarrow as pa, pyarrow.parquet as pq\npq.write_table(pa.table({{'srcaddr': ['1.2.3.4'], 'mystery': [1]}}), {:?})\nprint(1)",
        day1.join("zz.log.parquet").display().to_string()
    ));
    let before = parquet_files(&day1);
    let (code, report, _) = compact(&lake, &[]);
    assert_eq!(code, 3);
    assert_eq!(report["compacted"], json!([]));
    let message = report["failed"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("zz.log.parquet") && message.contains("`mystery`"),
        "{message}"
    );
    assert_eq!(parquet_files(&day1), before, "nothing changed");
}

#[test]
fn an_interrupted_compaction_is_recorded_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(
        &logs,
        &["--files-per-day", "20", "--lines-per-file", "1000"],
    );
    convert(
        &[&logs],
        &lake,
        &["--target-file-size", "1KiB", "--row-group-rows", "1000"],
    );
    let manifest_dir = lake.join("_flowlake/manifest");
    let saved = tmp.path().join("saved-manifest");
    copy_tree(&manifest_dir, &saved);
    compact(&lake, &[]);
    // Simulate a stop between the swap and the manifest update: the old entry and the journal mark.
    std::fs::remove_dir_all(&manifest_dir).unwrap();
    copy_tree(&saved, &manifest_dir);
    let partition = walk(&manifest_dir)[0]
        .strip_prefix(&manifest_dir)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".json")
        .to_string();
    put(
        &lake.join("_flowlake/journal"),
        &format!("{partition}.compacting"),
        b"",
    );
    let (code, _) = verify(&lake);
    assert_eq!(code, 3, "the stale entry lists the 20 small files");
    let (_, report, _) = compact(&lake, &[]);
    assert_eq!(report["repaired"], json!([partition]));
    assert_eq!(report["compacted"], json!([]));
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["rows"], json!(20_000));
}

/// The gzipped flow log files under `logs`, in path order.
fn inputs_of(logs: &Path) -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = walk(logs)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
        .collect();
    inputs.sort();
    inputs
}

/// The first partition of `lake` with a manifest entry, and the entry's file.
fn first_entry(lake: &Path) -> (String, PathBuf) {
    let manifest = lake.join("_flowlake/manifest");
    let entry_file = walk(&manifest)[0].clone();
    let partition = entry_file
        .strip_prefix(&manifest)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".json")
        .to_string();
    (partition, entry_file)
}

/// How far a stopped compaction's swap got.
#[derive(Debug, Clone, Copy)]
enum Stopped {
    /// Before it: the old files.
    Before,
    /// Done file by file, cut after the first new file was placed: the old files and that one.
    Placing,
    /// Cut while removing the old files: the new files and the old ones.
    Removing,
    /// After it: the new files.
    After,
}

/// A lake converted from `logs` in small files, the compaction of a copy of it (into files of 16 KiB,
/// so several), and what that compaction stopped mid-commit leaves in `lake`: the old entry, the
/// journal mark holding the new entry (with its row map, written first) and the files it replaces,
/// and the files as far as the swap got. Returns the partition.
fn stopped_compaction(tmp: &Path, logs: &Path, lake: &Path, stopped: Stopped) -> String {
    convert(
        &[logs],
        lake,
        &["--target-file-size", "1KiB", "--row-group-rows", "1000"],
    );
    let done = tmp.join("compacted");
    copy_tree(lake, &done);
    let (code, _, stderr) = compact(
        &done,
        &[
            "--sort-by",
            "srcaddr",
            "--target-file-size",
            "16KiB",
            "--row-group-rows",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (partition, entry_file) = first_entry(&done);
    let entry: Value = serde_json::from_slice(&std::fs::read(&entry_file).unwrap()).unwrap();
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let old = names(&lake.join(&partition));
    let new = names(&done.join(&partition));
    assert!(new.len() > 1, "{new:?}");
    assert!(new.iter().all(|n| !old.contains(n)), "{old:?} {new:?}");
    let folder = lake.join(&partition);
    let place = |name: &String| {
        std::fs::copy(done.join(&partition).join(name), folder.join(name)).unwrap();
    };
    match stopped {
        Stopped::Before => {}
        Stopped::Placing => place(&new[0]),
        Stopped::Removing => new.iter().for_each(place),
        Stopped::After => {
            old.iter()
                .for_each(|n| std::fs::remove_file(folder.join(n)).unwrap());
            new.iter().for_each(place);
        }
    }
    copy_tree(&done.join("_flowlake/rows"), &lake.join("_flowlake/rows"));
    put(
        &lake.join("_flowlake/journal"),
        &format!("{partition}.compacting"),
        &serde_json::to_vec(&json!({"entry": entry, "replaces": old})).unwrap(),
    );
    partition
}

#[test]
fn a_compaction_stopped_anywhere_in_its_swap_is_finished_or_undone_and_keeps_where_rows_are() {
    for stopped in [
        Stopped::Before,
        Stopped::Placing,
        Stopped::Removing,
        Stopped::After,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        let lake = tmp.path().join("lake");
        generate(&logs, &["--files-per-day", "6", "--lines-per-file", "1000"]);
        let partition = stopped_compaction(tmp.path(), &logs, &lake, stopped);
        let (code, report, stderr) = compact(&lake, &[]);
        assert_eq!(code, 0, "{stopped:?}: {stderr}");
        assert_eq!(report["repaired"], json!([partition]), "{stopped:?}");
        let (code, v) = verify(&lake);
        assert_eq!(code, 0, "{stopped:?}: {v}");
        assert_eq!(
            duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
            json!(6000),
            "{stopped:?}"
        );
        // An input expires and a late one arrives: the expired input's rows are found in the files
        // the repaired entry lists, wherever the sort put them.
        let inputs = inputs_of(&logs);
        std::fs::remove_file(&inputs[0]).unwrap();
        let late = inputs[1].with_file_name("zz-late.log.gz");
        std::fs::copy(&inputs[1], &late).unwrap();
        let (run, report) = convert(&[&logs], &lake, &[]);
        assert_eq!(run.code, 0, "{stopped:?}: {}", run.stderr);
        assert_eq!(report["rows_carried_over"], json!(1000), "{report}");
        assert_eq!(
            duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
            json!(7000),
            "{stopped:?}"
        );
        let (code, v) = verify(&lake);
        assert_eq!(code, 0, "{v}");
    }
}

#[test]
fn a_file_flowlake_did_not_write_is_not_merged_into_a_converted_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(&logs, &["--files-per-day", "6", "--lines-per-file", "1000"]);
    convert(
        &[&logs],
        &lake,
        &["--target-file-size", "1KiB", "--row-group-rows", "1000"],
    );
    let files = parquet_files(&lake);
    let foreign = files[0].with_file_name("zz-extra.parquet");
    std::fs::copy(&files[0], &foreign).unwrap();
    let rows = duckdb_one(&lake, "SELECT count(*) FROM {lake}");
    let (code, report, _) = compact(&lake, &[]);
    assert_eq!(code, 3, "{report}");
    assert!(
        report["failed"][0]["message"]
            .to_string()
            .contains("not listed: zz-extra.parquet"),
        "{report}"
    );
    assert!(foreign.exists());
    assert_eq!(duckdb_one(&lake, "SELECT count(*) FROM {lake}"), rows);
    // The next rebuild keeps the foreign file as it is (convert replaces only its own files).
    let inputs = inputs_of(&logs);
    std::fs::remove_file(&inputs[0]).unwrap();
    std::fs::copy(&inputs[1], inputs[1].with_file_name("zz-late.log.gz")).unwrap();
    let (run, report) = convert(&[&logs], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(1000), "{report}");
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(rows.as_u64().unwrap() + 1000)
    );
    assert!(foreign.exists());
}

#[test]
fn a_foreign_file_in_a_partition_whose_inputs_gave_no_rows_is_not_merged_either() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("in/2024/01/01");
    put(
        &day,
        "empty.log.gz",
        &gzip(b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"),
    );
    let lake = tmp.path().join("lake");
    convert(&[&tmp.path().join("in")], &lake, &[]);
    // Parquet from elsewhere lands in the partition folder.
    let other = tmp.path().join("other");
    convert(&[&fixtures().join("aws")], &other, &[]);
    let folder = lake.join("year=2024/month=01/day=01");
    std::fs::create_dir_all(&folder).unwrap();
    for (i, f) in parquet_files(&other).iter().take(2).enumerate() {
        std::fs::copy(f, folder.join(format!("foreign-{i}.parquet"))).unwrap();
    }
    let rows = duckdb_one(&lake, "SELECT count(*) FROM {lake}");
    let (code, report, _) = compact(&lake, &[]);
    assert_eq!(code, 3, "{report}");
    assert!(
        report["failed"][0]["message"]
            .to_string()
            .contains("not listed: foreign-0.parquet, foreign-1.parquet"),
        "{report}"
    );
    // A later delivery to that day keeps them: convert replaces only its own files.
    put(
        &day,
        "late.log.gz",
        &std::fs::read(
            walk(&fixtures().join("aws"))
                .iter()
                .find(|p| p.to_string_lossy().ends_with(".log.gz"))
                .unwrap(),
        )
        .unwrap(),
    );
    let (run, _) = convert(&[&tmp.path().join("in")], &lake, &[]);
    assert!(matches!(run.code, 0 | 3), "{}", run.stderr);
    assert!(folder.join("foreign-0.parquet").exists());
    assert!(duckdb_one(&lake, "SELECT count(*) FROM {lake}").as_u64() > rows.as_u64());
}

#[test]
fn a_compaction_of_aws_files_stopped_while_placing_its_files_is_undone_without_an_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("native");
    let rows = make_native(&lake, 30);
    let done = tmp.path().join("done");
    copy_tree(&lake, &done);
    let (code, _, stderr) = compact(
        &done,
        &["--target-file-size", "16KiB", "--row-group-rows", "200"],
    );
    assert_eq!(code, 0, "{stderr}");
    // The first partition, stopped after its first new file was placed (a file-by-file swap).
    let (partition, entry_file) = first_entry(&done);
    let entry: Value = serde_json::from_slice(&std::fs::read(&entry_file).unwrap()).unwrap();
    let new: Vec<String> = entry["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert!(new.len() > 1, "{new:?}");
    let old: Vec<String> = std::fs::read_dir(lake.join(&partition))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::copy(
        done.join(&partition).join(&new[0]),
        lake.join(&partition).join(&new[0]),
    )
    .unwrap();
    put(
        &lake.join("_flowlake/journal"),
        &format!("{partition}.compacting"),
        &serde_json::to_vec(&json!({"entry": entry, "replaces": old})).unwrap(),
    );
    let (code, v) = verify(&lake);
    assert_eq!(code, 3, "{v}");
    // Undone, then compacted for real: every row once.
    let (code, report, stderr) = compact(&lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["repaired"], json!([partition]));
    let in_files = py(&format!(
        "import glob, json, pyarrow.parquet as pq\nprint(json.dumps(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob({:?} + '/**/*.parquet', recursive=True))))",
        lake.display().to_string()
    ));
    assert_eq!(in_files, json!(rows));
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn a_stopped_compaction_never_touches_files_a_stopped_convert_published_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(&logs, &["--files-per-day", "4", "--lines-per-file", "1000"]);
    let small = ["--target-file-size", "1KiB", "--row-group-rows", "500"];
    convert(&[&logs], &lake, &small);
    let (partition, entry_file) = first_entry(&lake);
    let old: Value = serde_json::from_slice(&std::fs::read(&entry_file).unwrap()).unwrap();
    let old_files = old["outputs"].as_array().unwrap().len();
    // A compaction stops after writing its mark (its new file would be the next part number)...
    let mut planned = old.clone();
    planned["outputs"] =
        json!([{"name": format!("part-{old_files:05}.parquet"), "rows": 1, "bytes": 1}]);
    let replaces: Vec<Value> = old["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    // ... then a convert with a late file stops after its swap, before its manifest write: the
    // folder holds more part files than before, one of them with the compaction's planned name.
    let inputs = inputs_of(&logs);
    std::fs::copy(&inputs[0], inputs[0].with_file_name("zz-late.log.gz")).unwrap();
    convert(&[&logs], &lake, &small);
    let new: Value = serde_json::from_slice(&std::fs::read(&entry_file).unwrap()).unwrap();
    assert!(new["outputs"].as_array().unwrap().len() > old_files);
    std::fs::write(&entry_file, serde_json::to_vec(&old).unwrap()).unwrap();
    let journal = lake.join("_flowlake/journal");
    put(
        &journal,
        &format!("{partition}.pending"),
        &serde_json::to_vec(&new).unwrap(),
    );
    put(
        &journal,
        &format!("{partition}.compacting"),
        &serde_json::to_vec(&json!({"entry": planned, "replaces": replaces})).unwrap(),
    );
    // The convert's swap is done (the folder holds exactly its mark's files): compact records it
    // (a rebuild's mark wins over the compaction's, whose planned file it never touches), forgets
    // both marks, then compacts the partition.
    let (code, report, stderr) = compact(&lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["repaired"], json!([partition]), "{report}");
    assert!(walk(&journal).is_empty(), "{:?}", walk(&journal));
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(5000)
    );
    let (run, report) = convert(&[&logs], &lake, &small);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions_unchanged"], json!(1), "{report}");
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(5000)
    );
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
}

/// A mark in a shape this version does not read (a development version's bare entry) is a mark
/// without contents: the partition is recorded as its folder now is, every row once.
#[test]
fn a_compaction_mark_in_a_foreign_shape_is_repaired_from_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(&logs, &["--files-per-day", "6", "--lines-per-file", "1000"]);
    let partition = stopped_compaction(tmp.path(), &logs, &lake, Stopped::After);
    let mark_file = lake
        .join("_flowlake/journal")
        .join(format!("{partition}.compacting"));
    let mark: Value = serde_json::from_slice(&std::fs::read(&mark_file).unwrap()).unwrap();
    std::fs::write(&mark_file, serde_json::to_vec(&mark["entry"]).unwrap()).unwrap();
    // Repaired only: its files no longer say whose rows they hold, so it cannot be compacted again.
    let (code, report, stderr) = compact(&lake, &["--min-files", "1000"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["repaired"], json!([partition]));
    assert!(!mark_file.exists());
    let entry: Value = serde_json::from_slice(
        &std::fs::read(
            lake.join("_flowlake/manifest")
                .join(format!("{partition}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(entry["outputs"], mark["entry"]["outputs"]);
    assert_eq!(
        entry["row_map"],
        Value::Null,
        "whose rows are where is not known"
    );
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(6000)
    );
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn a_compaction_mark_of_damaged_bytes_is_repaired_from_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let lake = tmp.path().join("lake");
    generate(&logs, &["--files-per-day", "6", "--lines-per-file", "1000"]);
    let partition = stopped_compaction(tmp.path(), &logs, &lake, Stopped::Before);
    let mark_file = lake
        .join("_flowlake/journal")
        .join(format!("{partition}.compacting"));
    std::fs::write(&mark_file, b"\xff\xfe{\"entry\": \x00 cut").unwrap();
    let (code, report, stderr) = compact(&lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["repaired"], json!([partition]));
    assert!(!mark_file.exists());
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(6000)
    );
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
    // The current entry was kept, row map included: an expired input's rows are carried over.
    let inputs = inputs_of(&logs);
    std::fs::remove_file(&inputs[0]).unwrap();
    std::fs::copy(&inputs[1], inputs[1].with_file_name("zz-late.log.gz")).unwrap();
    let (run, report) = convert(&[&logs], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(1000), "{report}");
    assert_eq!(
        duckdb_one(&lake, "SELECT count(*) FROM {lake}"),
        json!(7000)
    );
}
