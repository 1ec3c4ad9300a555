//! What the lake policies of both sides share: the [`Lock`] a run holds, who may hold a lake beside
//! whom ([`LockScope`]), and the names of lock files and objects ([`LockFile`]).
//!
//! A lake is held by one whole-lake run at a time (convert, compact), or by the members of one group
//! side by side (the shards of a sharded run: they never write the same partition). Members of
//! different groups, and a whole-lake run and any member, exclude each other; a member never runs twice
//! at once. On a local disk the locks are OS file locks under `<meta>/lock` and `<meta>/locks/` (see
//! `local.rs`), released by the kernel however the process ends, so a killed run leaves no stale lock;
//! on S3 they are objects kept alive by a heartbeat (see `s3lock.rs`). `verify` takes no lock: it only
//! probes them ([`Policy::live_writers`](super::Policy::live_writers)).

use std::fs::File;

use crate::error::Result;

/// Who may hold a lake at the same time as whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// The whole lake, alone.
    Whole,
    /// Member `index` (`0..count`) of a group of `count` runs that split the lake between them (the
    /// shards of a sharded run): the members of one group run side by side, each at most once.
    Member { index: u32, count: u32 },
}

/// The folder of member and group locks, below a lake's bookkeeping folder.
pub(super) const MEMBER_LOCKS: &str = "locks";

/// A lock file (local disk) or lock object (S3) of a lake, as named below its bookkeeping folder.
///
/// The names are a stored format that runs of other versions read: they are written from
/// [`LockFile::path`] and read back by [`LockFile::parse`], nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockFile {
    /// `lock`: held by a whole-lake run, or (shared, on a local disk) by every member.
    Lake,
    /// `locks/shard-K-of-N`: member K of a group of N.
    Member { index: u32, count: u32 },
    /// `locks/count-N`: held (shared, on a local disk) by every running member of a group of N.
    Group { count: u32 },
}

impl LockFile {
    /// The lock a run of `scope` holds as its own.
    pub(super) fn of(scope: LockScope) -> LockFile {
        match scope {
            LockScope::Whole => LockFile::Lake,
            LockScope::Member { index, count } => LockFile::Member { index, count },
        }
    }

    /// Its path below the bookkeeping folder: `lock`, `locks/shard-2-of-4`, `locks/count-4`.
    pub(super) fn path(self) -> String {
        match self {
            LockFile::Lake => "lock".to_string(),
            LockFile::Member { index, count } => format!("{MEMBER_LOCKS}/shard-{index}-of-{count}"),
            LockFile::Group { count } => format!("{MEMBER_LOCKS}/count-{count}"),
        }
    }

    /// The lock a file or object named `name` (its last path segment) is; `None` for a name no run
    /// writes.
    pub(super) fn parse(name: &str) -> Option<LockFile> {
        if name == "lock" {
            return Some(LockFile::Lake);
        }
        if let Some(count) = name.strip_prefix("count-") {
            return Some(LockFile::Group {
                count: count.parse().ok()?,
            });
        }
        let (index, count) = name.strip_prefix("shard-")?.split_once("-of-")?;
        Some(LockFile::Member {
            index: index.parse().ok()?,
            count: count.parse().ok()?,
        })
    }
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    held: Box<dyn Held>,
}

/// What holds a lock: open files holding OS locks (here), or an S3 lock object kept alive by its
/// heartbeat (`s3lock.rs`).
pub(super) trait Held: std::fmt::Debug + Send + Sync {
    /// Fails if this run no longer owns the lock.
    fn check(&self) -> Result<()>;
}

/// Open files holding OS locks, released by the kernel however the process ends.
#[derive(Debug)]
struct Files(#[allow(dead_code)] Vec<File>);

impl Held for Files {
    fn check(&self) -> Result<()> {
        Ok(()) // an OS file lock cannot be lost
    }
}

impl Lock {
    pub(super) fn files(files: Vec<File>) -> Lock {
        Lock::held(Files(files))
    }

    pub(super) fn held(held: impl Held + 'static) -> Lock {
        Lock {
            held: Box::new(held),
        }
    }

    /// Fails if this run no longer owns the lock. An OS file lock cannot be lost; an S3 lock can (see
    /// `s3lock.rs`): called before every upload, delete and manifest write.
    pub fn check(&self) -> Result<()> {
        self.held.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_written_and_read_back_in_one_place() {
        let member = LockScope::Member { index: 2, count: 7 };
        assert_eq!(LockFile::of(member).path(), "locks/shard-2-of-7");
        assert_eq!(LockFile::of(LockScope::Whole).path(), "lock");
        assert_eq!(LockFile::Group { count: 7 }.path(), "locks/count-7");
        for file in [
            LockFile::Lake,
            LockFile::of(member),
            LockFile::Group { count: 7 },
        ] {
            let path = file.path();
            let name = path.rsplit('/').next().unwrap();
            assert_eq!(LockFile::parse(name), Some(file), "{path}");
        }
        for stranger in ["shard-x-of-7", "count-", "shard-1-of", "other", "lock.tmp"] {
            assert_eq!(LockFile::parse(stranger), None, "{stranger}");
        }
    }
}
