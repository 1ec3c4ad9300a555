//! Text: from decompressed flow log text to Arrow batches.
//!
//! [`tokenize`] splits lines and fields without copying; [`layout`] maps a header (or `--fields`) to
//! catalogue columns; [`batch`] parses values into Arrow arrays; [`parse`] drives one file through them
//! and records [`rejects`]; [`route`] sends rows to their partitions. Uses `lake::schema` (the field
//! catalogue), `input` and `storage`, nothing above.

pub mod batch;
pub mod layout;
pub mod parse;
pub(crate) mod rejects;
pub(crate) mod route;
pub mod tokenize;
