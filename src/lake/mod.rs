//! The lake: the Parquet files, their schema and partitions, and the bookkeeping that makes runs
//! incremental.
//!
//! [`schema`] is the one field catalogue everything reads; [`partition`] says what a path means for
//! account, region, day and hour, and where a partition's folder is; [`write`](mod@write) encodes a partition into
//! Parquet part files in the staging folder (the string columns through `strings`, the lake's own
//! dictionary writer, with `rle` for its keys and levels), in the row order [`sort`] gives them;
//! [`ledger`] is a partition's history (entries, row maps, the journal and recovery) and the commit
//! that writes it; [`dataset`] reads an existing lake (or any Hive-style Parquet folder) and `conform`
//! maps its rows onto the lake schema. Uses `storage` and the base modules, nothing above.

pub(crate) mod conform;
pub mod dataset;
pub mod filter;
pub mod ledger;
pub mod ocsf;
pub mod partition;
mod rle;
pub mod schema;
pub mod sort;
pub(crate) mod strings;
pub mod write;

/// Name of the lake's bookkeeping folder (manifest, journal, staging, rejects, locks), which Hive,
/// Trino and Spark skip.
pub const META_DIR: &str = "_flowlake";

/// Name of the `index`-th output file of a partition.
pub fn part_file_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// True for names produced by [`part_file_name`].
pub fn is_part_file(name: &str) -> bool {
    name.strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_file_name(3), "part-00003.parquet");
        assert!(is_part_file("part-00003.parquet"));
        assert!(!is_part_file("part-.parquet"));
        assert!(!is_part_file("other.parquet"));
        assert!(!is_part_file("part-00001.parquet.tmp"));
    }
}
