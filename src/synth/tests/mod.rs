//! End-to-end tests of the generator: files written by [`generate`], read back as text. One file per
//! delivery (`s3`, `firehose`, `export`) and one for what the records hold (`records`); the helpers
//! that read a generated tree back are here.

use super::delivery::Plan;
use super::*;
use flate2::read::MultiGzDecoder;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

mod export;
mod firehose;
mod records;
mod s3;

/// A fresh, unique scratch folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "flowlake-generate-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn small(out: &Path, format: GenFormat) -> GenerateConfig {
    GenerateConfig {
        files_per_day: 3,
        lines_per_file: 300,
        enis: 50,
        format,
        ..GenerateConfig::new(out.to_path_buf())
    }
}

/// All files under `root`, keyed by `/`-separated relative path.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
                out.insert(rel.join("/"), fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    MultiGzDecoder::new(bytes).read_to_string(&mut s).unwrap();
    s
}

/// Every decompressed file: (relative path, header fields, data lines split on single spaces).
fn parsed(root: &Path) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    files(root)
        .into_iter()
        .map(|(path, gz)| {
            let text = gunzip(&gz);
            assert!(text.ends_with('\n'), "{path}: no final newline");
            let mut lines = text.lines();
            let header = lines.next().unwrap().split(' ').map(String::from).collect();
            let data = lines
                .map(|l| l.split(' ').map(String::from).collect())
                .collect();
            (path, header, data)
        })
        .collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn gunzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gunzip_if(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip_bytes(bytes)
    } else {
        bytes.to_vec()
    }
}

/// The record lines of every S3 text file of `root` (headers dropped), by the file's slot
/// `YYYYMMDDTHHmm` and account.
fn s3_records(root: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut out = BTreeMap::new();
    for (path, _, data) in parsed(root) {
        let name: Vec<&str> = path.rsplit('/').next().unwrap().split('_').collect();
        let key = (name[4][..13].to_string(), name[0].to_string());
        let old = out.insert(key, data.into_iter().map(|l| l.join(" ")).collect());
        assert!(old.is_none(), "{path}: two files of one slot and account");
    }
    out
}

/// The positions of the fields the tests look at in a generated line (v2 or v5 format).
struct Columns {
    account: usize,
    interface: usize,
    start: usize,
}

impl Columns {
    fn of(format: GenFormat) -> Columns {
        if format == GenFormat::V2 {
            Columns {
                account: 1,
                interface: 2,
                start: 10,
            }
        } else {
            Columns {
                account: 11,
                interface: 15,
                start: 6,
            }
        }
    }
}
