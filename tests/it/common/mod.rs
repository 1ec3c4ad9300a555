//! Test helpers: write input records (`V2`, the one generator of default-format lines), run the real
//! `flowlake` binary in a temporary directory, read the lake back with real DuckDB and pyarrow
//! (through `python3`), and compute expected values straight from the input text with a deliberately
//! simple reference parser.
//!
//! DuckDB and pyarrow must be installed (`pip install -r scripts/requirements-test.txt`); a missing
//! module fails the test loudly rather than skipping it.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The header line of AWS's default (version 2) format (`tests/it/convert.rs` checks it against the
/// catalogue's `DEFAULT_FORMAT`).
pub const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";

/// One flow log record of AWS's default format (version 2), the generator of the tests' input text:
/// `Display` writes it as one line (no line break), in the order of `HEADER`. `V2::default()` is one
/// accepted TCP packet of 100 bytes from 10.0.0.1:1024 to 10.0.1.1:443 on one interface of account
/// 123456789012, in the capture window 2024-01-01 00:00-00:01 UTC; a test sets the fields its
/// assertions read (`V2 { bytes: i, ..V2::default() }`). A record whose `log_status` is not `OK`
/// (`NODATA`, `SKIPDATA`) is written as AWS writes one: `-` for every field but the account, the
/// interface and the times.
#[derive(Clone, Debug)]
pub struct V2 {
    pub account: &'static str,
    pub eni: String,
    pub srcaddr: String,
    pub dstaddr: String,
    pub srcport: u64,
    pub dstport: u64,
    pub protocol: u64,
    pub packets: u64,
    pub bytes: u64,
    pub start: u64,
    pub end: u64,
    pub action: &'static str,
    pub log_status: &'static str,
}

impl Default for V2 {
    fn default() -> V2 {
        V2 {
            account: "123456789012",
            eni: "eni-0a1b2c3d4e5f60718".into(),
            srcaddr: "10.0.0.1".into(),
            dstaddr: "10.0.1.1".into(),
            srcport: 1024,
            dstport: 443,
            protocol: 6,
            packets: 1,
            bytes: 100,
            start: 1704067200,
            end: 1704067260,
            action: "ACCEPT",
            log_status: "OK",
        }
    }
}

impl std::fmt::Display for V2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let V2 {
            account,
            eni,
            start,
            end,
            log_status,
            ..
        } = self;
        if *log_status != "OK" {
            return write!(
                f,
                "2 {account} {eni} - - - - - - - {start} {end} - {log_status}"
            );
        }
        let V2 {
            srcaddr,
            dstaddr,
            srcport,
            dstport,
            protocol,
            packets,
            bytes,
            action,
            ..
        } = self;
        write!(
            f,
            "2 {account} {eni} {srcaddr} {dstaddr} {srcport} {dstport} {protocol} {packets} {bytes} \
             {start} {end} {action} {log_status}"
        )
    }
}

/// The records' lines, each ended by a line break (no header).
pub fn v2_lines(records: impl IntoIterator<Item = V2>) -> String {
    records.into_iter().map(|r| format!("{r}\n")).collect()
}

/// A delivery file as AWS writes one: `HEADER`, then the records' lines, gzipped.
pub fn v2_gz(records: impl IntoIterator<Item = V2>) -> Vec<u8> {
    gzip(format!("{HEADER}{}", v2_lines(records)).as_bytes())
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_flowlake")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// Runs the calling test, named `test` (`module::function`), again in a process of its own with
/// `env` added to the environment, and returns whether this is that process: there the test goes on;
/// in the test binary's own process this checks that the child passed and returns false. For tests
/// of library code that reads the environment: `std::env::set_var` would reach every test running
/// beside it in this process.
pub fn in_own_process(test: &str, env: &[(&str, &str)]) -> bool {
    const CHILD: &str = "FLOWLAKE_TEST_OWN_PROCESS";
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads", "1"])
        .env(CHILD, test)
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Result of one `flowlake` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The `--json` report.
    pub fn report(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn flowlake<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(bin())
        .args(args)
        .output()
        .expect("run flowlake")
        .into()
}

/// `flowlake convert <inputs> --out <lake> --json <extra>`, asserting the accounting invariant.
pub fn convert(inputs: &[&Path], lake: &Path, extra: &[&str]) -> (Run, Value) {
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into()];
    args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    args.extend([
        "--out".into(),
        lake.as_os_str().to_owned(),
        "--json".into(),
        "--quiet".into(),
    ]);
    args.extend(extra.iter().map(|s| (*s).into()));
    let run = flowlake(&args);
    assert!(
        matches!(run.code, 0 | 3 | 4),
        "convert failed ({}):\n{}",
        run.code,
        run.stderr
    );
    let report = run.report();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("lines_read"),
        n("rows_written")
            + n("rows_not_published")
            + n("rows_in_unchanged_partitions")
            + n("rejected")
            + n("filtered"),
        "lines = rows (published, withheld, or already in an unchanged partition) + rejects + filtered"
    );
    (run, report)
}

/// `flowlake generate --out <dir> <args>`, asserting success.
pub fn generate(dir: &Path, args: &[&str]) {
    let mut all = vec!["generate", "--out", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = flowlake(&all);
    assert_eq!(run.code, 0, "generate failed: {}", run.stderr);
}

/// `flowlake convert <inputs> --out <lake> <extra>` for runs expected to fail: no report is parsed.
pub fn convert_expecting_failure(inputs: &[&Path], lake: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec!["convert".into()];
    args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    args.extend(["--out".into(), lake.as_os_str().to_owned()]);
    args.extend(extra.iter().map(|s| (*s).into()));
    let run = flowlake(&args);
    assert_ne!(run.code, 0, "expected a failure:\n{}", run.stdout);
    run
}

/// `flowlake verify <lake> --json`: (exit code, report). Panics, showing stdout and stderr, when
/// stdout is not one JSON object (a verify that failed before reporting never passes silently).
pub fn verify(lake: &Path) -> (i32, Value) {
    let run = flowlake(["verify".as_ref(), lake.as_os_str(), "--json".as_ref()]);
    let report = run.report();
    assert!(
        report.is_object(),
        "verify printed no JSON object (exit {}):\n{}\nstderr:\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    (run.code, report)
}

fn python() -> String {
    std::env::var("FLOWLAKE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs a Python snippet that prints one JSON value; returns it.
pub fn py(script: &str) -> Value {
    run_python(script, None)
}

/// `py` with `input` as JSON on the snippet's standard input (data passed there is not spliced into
/// the script: Rust's `{:?}` escapes are not Python's).
pub fn py_stdin(script: &str, input: &Value) -> Value {
    run_python(script, Some(serde_json::to_vec(input).unwrap()))
}

/// DuckDB draws a progress bar on the process's standard output for a query that runs long (a
/// loaded machine), from C, with no line break before what the script prints next: the script's
/// own `print`s go to the original standard output, whatever else is written there to stderr.
const PYTHON_PRELUDE: &str = "import os as _os, sys as _sys\n\
                              _sys.stdout = _os.fdopen(_os.dup(1), 'w')\n\
                              _os.dup2(2, 1)\n";

fn run_python(script: &str, input: Option<Vec<u8>>) -> Value {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(python())
        .arg("-c")
        .arg(format!("{PYTHON_PRELUDE}{script}"))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed (are duckdb and pyarrow installed? `pip install -r scripts/requirements-test.txt`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python printed no JSON ({e}):\n{stdout}"))
}

/// Runs SQL in DuckDB; `{lake}` in the SQL becomes `read_parquet('<lake>/**/*.parquet', hive_partitioning=true)`.
/// Returns the rows as JSON arrays.
pub fn duckdb(lake: &Path, sql: &str) -> Vec<Vec<Value>> {
    let source = format!(
        "read_parquet('{}/**/*.parquet', hive_partitioning=true)",
        lake.display()
    );
    let sql = sql.replace("{lake}", &source);
    let script = format!(
        "import duckdb, json\nrows = duckdb.connect().sql({sql:?}).fetchall()\nprint(json.dumps([list(r) for r in rows], default=str))"
    );
    match py(&script) {
        Value::Array(rows) => rows
            .into_iter()
            .map(|r| match r {
                Value::Array(v) => v,
                other => vec![other],
            })
            .collect(),
        other => panic!("unexpected {other}"),
    }
}

/// One value of a one-row DuckDB result.
pub fn duckdb_one(lake: &Path, sql: &str) -> Value {
    duckdb(lake, sql).remove(0).remove(0)
}

/// Every `.parquet` file under `dir`, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Decompressed text of a `.gz` or plain file.
pub fn text_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

/// Reference parse of AWS text logs: records as field-name → value maps (header-driven, `split_whitespace`).
pub fn reference_records(files: &[PathBuf]) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for f in files {
        let text = text_of(f);
        let mut header: Vec<String> = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            if fields
                .iter()
                .any(|f| *f == "version" || *f == "srcaddr" || *f == "interface-id")
            {
                header = fields.iter().map(|s| s.to_string()).collect();
                continue;
            }
            assert_eq!(fields.len(), header.len(), "reference parser: {line}");
            out.push(
                header
                    .iter()
                    .cloned()
                    .zip(fields.iter().map(|s| s.to_string()))
                    .collect(),
            );
        }
    }
    out
}

/// Sum of an integer field over reference records (`-` and absent count as nothing).
pub fn ref_sum(records: &[BTreeMap<String, String>], field: &str) -> i64 {
    records
        .iter()
        .filter_map(|r| r.get(field))
        .filter_map(|v| v.parse::<i64>().ok())
        .sum()
}

/// Number of records whose field is `-` or absent (expected NULLs).
pub fn ref_nulls(records: &[BTreeMap<String, String>], field: &str) -> usize {
    records
        .iter()
        .filter(|r| r.get(field).is_none_or(|v| v == "-"))
        .count()
}

/// Copies `src` into `dst` (creating folders).
pub fn copy_tree(src: &Path, dst: &Path) {
    for f in walk(src) {
        let to = dst.join(f.strip_prefix(src).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
}

/// gzip-compresses `data` (one member).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes `bytes` to `dir/rel`, creating folders; returns the path.
pub fn put(dir: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `flowlake <args>` as a user without privileges: `nobody` (via setpriv) when the tests run as
/// root, as CI does, so that permissions matter; else as the current user.
pub fn flowlake_unprivileged(args: &[&str]) -> Run {
    let mut cmd = if is_root() {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
        c
    } else {
        Command::new(bin())
    };
    cmd.args(args).output().expect("run flowlake").into()
}

// ---- runs as an unprivileged user ----------------------------------------------------------

pub fn is_root() -> bool {
    let probe = tempfile::tempfile().unwrap();
    probe.metadata().unwrap().uid() == 0
}

/// A temporary folder the unprivileged user can reach (tempdir makes it 0700).
pub fn reachable_tempdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// Sets every folder under `root` (and `root`) to `dir_mode` and every file to `file_mode`.
pub fn chmod_tree(root: &Path, dir_mode: u32, file_mode: u32) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(file_mode)).unwrap();
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Lets user `nobody` reach and read everything under `tmp` (and its parents), and write `lake`.
pub fn make_reachable(tmp: &Path, lake: &Path) {
    for dir in tmp.ancestors() {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode();
        if mode & 0o001 == 0 {
            set_mode(dir, mode | 0o001);
        }
    }
    for (mode, dir) in [("a+rX", tmp), ("a+rwX", lake)] {
        let status = std::process::Command::new("chmod")
            .args(["-R", mode, dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// AWS's native Parquet delivery, written by pyarrow under `root` (returns its rows): Hive-compatible
/// daily folders and plain hourly folders of `*.log.parquet` files holding a subset of the fields
/// (INT32/INT64/string), some NULLs.
const MAKE_NATIVE: &str = r#"
import json, os, random, sys
import pyarrow as pa, pyarrow.parquet as pq
root, files = sys.argv[1], int(sys.argv[2])
random.seed(7)
schema = pa.schema([
    ("version", pa.int32()), ("account_id", pa.string()), ("interface_id", pa.string()),
    ("srcaddr", pa.string()), ("dstaddr", pa.string()), ("srcport", pa.int32()), ("dstport", pa.int32()),
    ("protocol", pa.int32()), ("packets", pa.int64()), ("bytes", pa.int64()), ("start", pa.int64()),
    ("end", pa.int64()), ("action", pa.string()), ("log_status", pa.string()),
])
folders = [
    "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01",
    "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/07",
]
total = 0
for folder in folders:
    os.makedirs(os.path.join(root, folder))
    with open(os.path.join(root, folder, "notes.txt"), "w") as f:
        f.write("not Parquet: left alone\n")
    for i in range(files):
        n = random.randint(20, 60)
        rows = {
            "version": [2] * n, "account_id": ["123456789012"] * n,
            "interface_id": [f"eni-{random.randint(0, 30):017x}" for _ in range(n)],
            "srcaddr": [None if random.random() < 0.05 else f"10.0.{random.randint(0, 255)}.{random.randint(0, 255)}" for _ in range(n)],
            "dstaddr": [f"172.16.{random.randint(0, 255)}.{random.randint(0, 255)}" for _ in range(n)],
            "srcport": [None if random.random() < 0.05 else random.randint(0, 65535) for _ in range(n)],
            "dstport": [random.choice([22, 443, 3389, 53]) for _ in range(n)],
            "protocol": [random.choice([6, 17]) for _ in range(n)],
            "packets": [random.randint(1, 10**6) for _ in range(n)],
            "bytes": [random.randint(40, 10**10) for _ in range(n)],
            "start": [1714521600 + random.randint(0, 86000) for _ in range(n)],
            "end": [1714521660 + random.randint(0, 86000) for _ in range(n)],
            "action": [random.choice(["ACCEPT", "REJECT"]) for _ in range(n)],
            "log_status": ["OK"] * n,
        }
        name = f"123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20240501T{i:04d}Z_{i:08x}.log.parquet"
        pq.write_table(pa.table(rows, schema=schema), os.path.join(root, folder, name), compression="gzip")
        total += n
print(json.dumps(total))
"#;

pub fn make_native(root: &Path, files: usize) -> u64 {
    let script = format!(
        "import sys\nsys.argv = ['x', {:?}, '{files}']\n{MAKE_NATIVE}",
        root.display().to_string()
    );
    py(&script).as_u64().unwrap()
}

/// Rows printed by `scripts/query NAME --lake LAKE PARAMS` (tab-separated, header dropped).
pub fn query(lake: &Path, name: &str, params: &[String]) -> Vec<Vec<String>> {
    let out = Command::new(repo().join("scripts/query"))
        .arg(name)
        .arg("--lake")
        .arg(lake)
        .args(params)
        .env("FLOWLAKE", bin())
        .output()
        .expect("run scripts/query");
    assert!(
        out.status.success(),
        "scripts/query {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    lines.next().expect("header line");
    lines
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
