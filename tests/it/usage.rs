//! Usage errors: `convert` and `compact` check their shared writer flags one way (same message, exit
//! code 2, nothing written), `--max-line-size 0` is refused, and `--threads` above the limit is a usage
//! error on `convert`, `compact` and `inflate` instead of a long stall starting threads.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs `flowlake <args>`, expecting a usage error whose stderr is exactly `flowlake: error: <message>`.
fn assert_usage_error(args: &[&str], message: &str) {
    let started = Instant::now();
    let run = flowlake(args);
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        format!("flowlake: error: {message}"),
        "{args:?}"
    );
    assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{args:?} took {:?}",
        started.elapsed()
    );
}

/// The writer and range flags that `convert` and `compact` share, with the message each bad value gets.
const SHARED: &[(&[&str], &str)] = &[
    (
        &["--target-file-size", "1000"],
        "invalid configuration: --target-file-size must be at least 1KiB",
    ),
    (
        &["--target-file-size", "0"],
        "invalid configuration: --target-file-size must be at least 1KiB",
    ),
    (
        &["--zstd-level", "0"],
        "invalid configuration: --zstd-level 0 is outside 1..=22",
    ),
    (
        &["--zstd-level", "23"],
        "invalid configuration: --zstd-level 23 is outside 1..=22",
    ),
    (
        &["--row-group-rows", "0"],
        "invalid configuration: --row-group-rows must be positive",
    ),
    (
        &["--from", "2024-03-10", "--to", "2024-03-09"],
        "invalid configuration: --from 2024-03-10 is after --to 2024-03-09",
    ),
    (
        &["--threads", "257"],
        "invalid configuration: --threads 257 is above the limit of 256 (0 = one per core)",
    ),
    (
        &["-j", "100000"],
        "invalid configuration: --threads 100000 is above the limit of 256 (0 = one per core)",
    ),
];

fn lake_str(lake: &Path) -> &str {
    lake.to_str().unwrap()
}

#[test]
fn convert_and_compact_refuse_the_same_bad_writer_flags_with_the_same_message() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("aws");
    for (flags, message) in SHARED {
        let mut convert = vec!["convert", input.to_str().unwrap(), "--out", lake_str(&lake)];
        convert.extend_from_slice(flags);
        assert_usage_error(&convert, message);
        let mut compact = vec!["compact", lake_str(&lake)];
        compact.extend_from_slice(flags);
        assert_usage_error(&compact, message);
    }
    assert!(!lake.exists(), "no usage error wrote anything");
}

#[test]
fn max_line_size_zero_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("aws");
    assert_usage_error(
        &[
            "convert",
            input.to_str().unwrap(),
            "--out",
            lake_str(&lake),
            "--max-line-size",
            "0",
        ],
        "invalid configuration: --max-line-size must be at least 1 byte",
    );
    assert!(!lake.exists());
    // One byte is a valid (if useless) limit: every line is then rejected as too long.
    let (run, report) = convert(&[&input], &lake, &["--max-line-size", "1"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(report["rows_written"], 0);
}

#[test]
fn inflate_refuses_too_many_threads() {
    assert_usage_error(
        &[
            "inflate",
            fixtures().join("aws").to_str().unwrap(),
            "--threads",
            "300",
        ],
        "invalid configuration: --threads 300 is above the limit of 256 (0 = one per core)",
    );
}

#[test]
fn the_thread_limit_itself_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&fixtures().join("aws")], &lake, &["--threads", "256"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], 6000);
    let run = flowlake(["compact", lake_str(&lake), "--threads", "256", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `--account` and `--region` only ever give AWS's keys together: one alone is refused (it was
/// silently ignored).
#[test]
fn account_without_region_or_region_without_account_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let input = fixtures().join("aws");
    let base = ["convert", input.to_str().unwrap(), "--out", lake_str(&lake)];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    assert_usage_error(
        &with(&["--account", "123456789012"]),
        "invalid configuration: --account 123456789012 needs --region: a partition gets AWS's keys \
         (aws-account-id=/aws-region=) only with both, so one alone would be ignored",
    );
    assert_usage_error(
        &with(&["--region", "eu-west-1"]),
        "invalid configuration: --region eu-west-1 needs --account: a partition gets AWS's keys \
         (aws-account-id=/aws-region=) only with both, so one alone would be ignored",
    );
    assert!(!lake.exists(), "no usage error wrote anything");
}
