//! Input: finding flow log files under a root and reading them as text.
//!
//! [`discover`] walks a root (through [`crate::storage`]) and keys every file by its partition (account,
//! region, day, hour) from the path as typed; [`read`] decompresses one file whole (gzip members through
//! [`inflate`]'s libdeflate fast path). Uses `storage` and the base modules (`date`, `error`, `paths`),
//! nothing above.

pub mod discover;
pub(crate) mod inflate;
pub mod read;
