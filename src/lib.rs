//! flowlake turns AWS VPC Flow Logs, as AWS delivers them (gzipped space-separated text under
//! `YYYY/MM/DD/` folders), into a Hive-partitioned, compacted Parquet lake that Athena, Trino, Spark
//! and DuckDB query directly.
//!
//! The folders are layers, each importing only those below it (`tests/it/layering.rs` checks it):
//!
//! ```text
//! main cli progress render           the binary: flags -> config -> library -> report -> exit code
//! convert/ compact verify ddl synth/ engines, one per command (they do not use each other)
//! ddl/      sqltext                          SQL text from outside data, inert or refused
//! input/    discover, inventory, copies, read, inflate, envelope, json, parse   files -> text -> Arrow batches
//! text/     tokenize, layout, batch, rejects, route   text -> Arrow batches (+ the rejects sidecar)
//! lake/     schema, partition, filter, write, strings, rle, sort, commit, manifest, rowmap,
//!           dataset, conform                 the Parquet lake
//! enrich/   protocol, tcp_flags, address, ip_ranges, geoip, enricher   derived columns (--enrich)
//! storage/  Store (objects): local, s3 (client) + s3store   knows no stage; only user of object_store/tokio/rustix
//!   policy/ locks, local + exchange, s3 + s3lock, staging   above the Store: how runs share a lake
//! date error paths hash threads                   base
//! ```
//!
//! [`convert()`] runs the pipeline for a [`ConvertConfig`] and returns a [`Report`] in which every line
//! read is accounted for: `lines_read == rows_written + rows_not_published +
//! rows_in_unchanged_partitions + rejected + filtered`. Every lake file has the same schema
//! ([`lake::schema::lake_schema`]): AWS's Parquet schema for flow logs, all known fields, in AWS's order,
//! then the columns of the lake's enrichments ([`enrich`]) if it has any.
//! [`compact::compact`] rewrites partitions of small Parquet files (flowlake's, or AWS's native Parquet
//! deliveries) into files at the target size with the same writer and publish.
//! [`ddl::ddl`] prints the Athena table (with partition projection) or DuckDB view of a lake.
//! [`synth::generate`] writes realistic synthetic AWS deliveries for tests and benchmarks.

pub mod compact;
pub mod convert;
pub mod date;
pub mod ddl;
pub mod enrich;
pub mod error;
pub(crate) mod hash;
pub mod input;
pub mod lake;
pub(crate) mod paths;
pub mod storage;
pub mod synth;
#[cfg(test)]
mod testutil;
pub mod text;
pub mod threads;
pub mod verify;

pub use convert::config::ConvertConfig;
pub use convert::report::Report;
pub use convert::{convert, NoProgress, Progress};
pub use date::Day;
pub use error::{Error, Result};
pub use lake::partition::{Grain, PartitionLayout, PartitionTime};
