//! The integration tests, one test binary (linked once) with a module per topic. Most run the real
//! `flowlake` binary in temporary folders and read the lake back with DuckDB and pyarrow; `common`
//! holds the helpers and the flow log record generator they share.
//!
//! The tests of all modules run in one process, on parallel threads: a test changes no process-wide
//! state (environment, current folder, signal handlers); code that reads the environment runs in a
//! child process (`common::in_own_process`).

mod common;

mod archive_trees;
mod bad_input;
mod compact;
mod convert;
mod ddl;
mod enrich;
mod envelopes;
mod faults;
mod filters;
mod inventory;
mod layering;
mod nightly;
mod ocsf;
mod packaging;
mod partition_time;
mod plan;
mod properties;
mod queries;
mod s3;
mod samples;
mod shard_listing;
mod shards;
mod sort;
mod tgw;
mod usage;
mod verify_readonly;
