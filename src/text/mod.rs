//! Text: from decompressed flow log text to Arrow batches (reading no file; `rejects` appends to the
//! run's rejects sidecar).
//!
//! [`tokenize`] splits lines and fields without copying; [`layout`] maps a header (or `--fields`) to
//! catalogue columns; [`batch`] parses values into Arrow arrays ([`keyed`]: string
//! columns as keys into each batch's distinct values); [`rejects`] records the lines that do
//! not parse; `route` sends rows to their partitions. Uses `lake` (the field catalogue, partition
//! keys) and the base modules, nothing above.

pub mod batch;
pub mod keyed;
pub mod layout;
pub mod rejects;
pub mod route;
pub mod tokenize;
