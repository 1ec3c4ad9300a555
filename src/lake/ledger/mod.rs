//! The ledger: a partition's history, in one place. Which inputs built which files ([`entry`]),
//! which rows came from which input ([`rowmap`], [`Manifest::row_runs`]), where it is all kept
//! ([`manifest`]), the one protocol that commits a partition ([`commit`]: stage, journal, publish,
//! record, prune), and how a commit a stopped run left half-done is finished or undone
//! ([`journal`]). Convert, compact and verify read and write a partition's history only through it.
//!
//! It is what makes runs incremental and crash-safe: a partition whose inputs, fingerprint and
//! output files all match its entry is not rewritten; a partition is marked in the journal before
//! its files are swapped and unmarked after its new entry is written, and the next run recovers
//! every marked partition, whatever its `--from`/`--to`.

pub mod commit;
pub mod entry;
pub mod journal;
pub mod manifest;
pub mod rowmap;

pub use commit::{new_run_id, Journal, Lake, Replaces};
pub use entry::{
    CompactionMark, FailedRecord, Fingerprint, InputRecord, LakeSettings, OutputRecord,
    PartitionEntry, MANIFEST_VERSION,
};
pub use journal::{marks, recover, Marks, Recovery};
pub use manifest::{Manifest, RowRunsError};
