//! Input: from files under the input roots to Arrow batches of their records.
//!
//! [`discover`] walks the roots (through [`crate::storage`]) and keys every file by its partition
//! ([`crate::lake::partition`]) from the path as typed, or classifies the objects an S3 Inventory
//! report lists ([`inventory`]) the same way; [`copies`] keeps one of an input listed twice;
//! [`read`] decompresses one file whole (gzip members through `inflate`'s libdeflate fast path);
//! [`envelope`] decodes CloudWatch Logs and Firehose envelopes (with `json`'s small reader) and export
//! lines; [`parse`] drives one file's text through the tokenizer and batch builder of [`crate::text`]
//! and records its rejects. Uses `text`, `lake`, `storage` and the base modules, nothing above.

pub mod copies;
pub mod discover;
pub mod envelope;
pub(crate) mod inflate;
pub mod inventory;
pub(crate) mod json;
pub mod parse;
pub mod read;
