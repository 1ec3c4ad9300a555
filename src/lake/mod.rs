//! The lake: the Parquet files, their schema and the bookkeeping that makes runs incremental.
//!
//! [`schema`] is the one field catalogue everything reads; [`write`] encodes partitions into Parquet
//! part files; [`manifest`] is the ledger of which inputs built which outputs; [`dataset`] reads an
//! existing lake. Uses `input` (partition keys), `storage` and the base modules, nothing above.

pub mod dataset;
pub mod manifest;
pub mod schema;
pub mod write;
