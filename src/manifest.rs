//! The ledger: which input files built which output files of each partition.
//!
//! One small JSON file per partition, `<lake>/_flowlake/manifest/<partition path>.json`, where no
//! reader looks (Hive, Trino and Spark skip `_` folders; DuckDB's `**/*.parquet` glob matches no
//! `.json`). An entry lists the partition's inputs (path, size, mtime), its outputs (name, rows,
//! bytes) and a fingerprint of what shapes the output (the schema, the field list for headerless
//! files). It is what makes runs incremental and crash-safe:
//!
//! - a partition whose inputs, fingerprint and output files all match its entry is not rewritten;
//! - the entry is removed just before a partition's files are swapped and written again after, so a
//!   crash at any point of the swap leaves no entry, and the next run rebuilds the partition;
//! - entries are written to a temporary name, flushed and renamed, so an entry is whole or absent.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Version of the entry format.
pub const MANIFEST_VERSION: u32 = 1;

/// One input file as it was when it was converted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct InputRecord {
    pub path: PathBuf,
    pub size: u64,
    pub mtime: Option<i64>,
}

/// One output file of the partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputRecord {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// An input file that could not be read when the partition was built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedRecord {
    pub path: PathBuf,
    pub kind: String,
    pub message: String,
}

/// What built one partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionEntry {
    pub version: u32,
    pub partition: String,
    /// Fingerprint of the settings that shape the output (see `pipeline.rs`).
    pub fingerprint: String,
    /// Inputs, sorted by path.
    pub inputs: Vec<InputRecord>,
    pub outputs: Vec<OutputRecord>,
    pub lines: u64,
    pub rows: u64,
    pub rejected: u64,
    pub failed: Vec<FailedRecord>,
}

/// The manifest folder of a lake.
#[derive(Debug, Clone)]
pub struct Manifest {
    dir: PathBuf,
}

impl Manifest {
    /// The manifest of the lake whose bookkeeping folder is `meta_dir` (`<lake>/_flowlake`).
    pub fn new(meta_dir: &Path) -> Manifest {
        Manifest {
            dir: meta_dir.join("manifest"),
        }
    }

    fn path(&self, partition: &str) -> PathBuf {
        self.dir.join(format!("{partition}.json"))
    }

    /// The entry of `partition`, if there is a readable one. An unreadable or foreign entry counts as
    /// none (the partition is then rebuilt), never as an error.
    pub fn get(&self, partition: &str) -> Option<PartitionEntry> {
        let bytes = fs::read(self.path(partition)).ok()?;
        serde_json::from_slice::<PartitionEntry>(&bytes)
            .ok()
            .filter(|e| e.version == MANIFEST_VERSION && e.partition == partition)
    }

    /// Writes the entry of its partition atomically.
    pub fn put(&self, entry: &PartitionEntry) -> Result<()> {
        let path = self.path(&entry.partition);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(entry)
            .map_err(|e| Error::output(&path, io::Error::other(e)))?;
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            if let Ok(d) = File::open(&dir) {
                d.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| Error::output(&path, e))
    }

    /// Removes the entry of `partition` (before its files are swapped).
    pub fn remove(&self, partition: &str) -> Result<()> {
        let path = self.path(partition);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::output(&path, e)),
        }
    }

    /// Every readable entry, by partition.
    pub fn all(&self) -> BTreeMap<String, PartitionEntry> {
        let mut out = BTreeMap::new();
        let walk = walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_map(|e| e.ok());
        for entry in walk {
            let rel = entry
                .path()
                .strip_prefix(&self.dir)
                .ok()
                .and_then(|r| r.to_str());
            if let Some(partition) = rel.and_then(|r| r.strip_suffix(".json")) {
                if let Some(e) = self.get(partition) {
                    out.insert(partition.to_string(), e);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(partition: &str) -> PartitionEntry {
        PartitionEntry {
            version: MANIFEST_VERSION,
            partition: partition.into(),
            fingerprint: "f".into(),
            inputs: vec![InputRecord {
                path: "/in/a.log.gz".into(),
                size: 10,
                mtime: Some(5),
            }],
            outputs: vec![OutputRecord {
                name: "part-00000.parquet".into(),
                rows: 3,
                bytes: 100,
            }],
            lines: 4,
            rows: 3,
            rejected: 1,
            failed: vec![],
        }
    }

    #[test]
    fn put_get_remove_all() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(dir.path());
        let p = "aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2024/month=01/day=02";
        assert_eq!(m.get(p), None);
        m.put(&entry(p)).unwrap();
        m.put(&entry("year=2024/month=01/day=03")).unwrap();
        assert_eq!(m.get(p), Some(entry(p)));
        assert_eq!(m.all().len(), 2);
        m.remove(p).unwrap();
        m.remove(p).unwrap();
        assert_eq!(m.get(p), None);
        assert_eq!(
            m.all().keys().collect::<Vec<_>>(),
            ["year=2024/month=01/day=03"]
        );
    }

    #[test]
    fn damaged_entry_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::new(dir.path());
        m.put(&entry("year=2024/month=01/day=02")).unwrap();
        fs::write(
            dir.path().join("manifest/year=2024/month=01/day=02.json"),
            b"{\"version\": 1, trunc",
        )
        .unwrap();
        assert_eq!(m.get("year=2024/month=01/day=02"), None);
    }
}
