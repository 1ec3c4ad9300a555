//! flowlake turns AWS VPC Flow Logs, as AWS delivers them (gzipped space-separated text under
//! `YYYY/MM/DD/` folders), into a Hive-partitioned, compacted Parquet lake that Athena, Trino, Spark
//! and DuckDB query directly.
//!
//! The pipeline is one straight line, one module per step:
//!
//! ```text
//! discover -> read -> layout -> tokenize -> batch -> write -> publish
//! (folders)   (gzip)  (header)  (spans)     (Arrow)  (Parquet) (rename into the partition)
//! ```
//!
//! [`convert`] runs it for a [`ConvertConfig`] and returns a [`Report`] in which every line read is
//! accounted for: `lines_read == rows_written + rows_not_published + rows_in_unchanged_partitions +
//! rejected`. Every lake file has the same schema
//! ([`schema::lake_schema`]): AWS's Parquet schema for flow logs, all known fields, in AWS's order.
//! [`compact::compact`] rewrites partitions of small Parquet files (flowlake's, or AWS's native Parquet
//! deliveries) into files at the target size with the same writer and publish.
//! [`ddl::ddl`] prints the Athena table (with partition projection) or DuckDB view of a lake.
//! [`generate`] writes realistic synthetic AWS deliveries for tests and benchmarks.
//!
//! Inputs and lakes are local paths or `s3://` URLs: the storage seam ([`storage`]: `Source`, `Lake`;
//! [`meta`] for bookkeeping, [`dataset`] for reading a lake) has a local and an S3 side ([`s3`],
//! [`s3lock`]), so the pipeline does not fork. [`shard`] splits a run across processes by partition.

pub mod batch;
pub mod compact;
pub mod config;
pub mod dataset;
pub mod date;
pub mod ddl;
pub mod discover;
pub mod error;
pub mod generate;
pub mod inflate;
pub mod layout;
pub mod manifest;
pub mod meta;
pub mod parse;
pub mod paths;
pub mod pipeline;
pub mod read;
pub mod rejects;
pub mod report;
pub mod route;
pub mod s3;
pub mod s3lock;
pub mod schema;
pub mod shard;
pub mod storage;
#[cfg(test)]
mod testutil;
pub mod tokenize;
pub mod verify;
pub mod write;

pub use config::{ConvertConfig, PartitionLayout};
pub use error::{Error, Result};
pub use pipeline::{convert, NoProgress, Progress};
pub use report::Report;
