//! Lake policy: how runs share a lake, above the object store ([`Store`]), which knows nothing of it.
//!
//! A run locks the lake ([`Policy::lock`] for a [`LockScope`]: the whole lake, or one member of a group
//! of runs that split it), stages the files bound for the lake in a private folder on this machine
//! ([`Policy::staging_root`], [`staging_folder`]), and publishes a partition by making the staged files
//! its files ([`Policy::replace_files`]); `verify` takes no lock and only asks who is writing
//! ([`Policy::live_writers`]). [`for_lake`] gives a lake its side:
//!
//! - `local.rs`, a local disk: OS file locks, released by the kernel however a run ends; a staging
//!   folder beside the lake on its filesystem; one atomic folder exchange per partition
//!   (`exchange.rs`).
//! - `s3.rs`, S3: lock objects kept alive by a heartbeat (`s3lock.rs`); staging under the system's
//!   temporary folder; new objects uploaded, then the replaced ones deleted.
//!
//! `locks.rs` holds what both sides share (the [`Lock`] a run holds, its [`LockScope`], and the names of
//! lock files and objects); `staging.rs` the run's staging folder, which is on this machine whatever the
//! lake's side. The policy reaches the lake only through its [`Store`] (and the local disk's own calls
//! for what a store does not offer: OS locks, folder exchange).

mod exchange;
mod local;
mod locks;
mod s3;
mod s3lock;
mod staging;

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Store;
use crate::error::Result;
pub use exchange::move_missing;
pub use local::LocalPolicy;
pub use locks::{Lock, LockScope};
pub use staging::{remove_staging_folder, staging_folder, staging_in_use};

/// Where a run stages the files bound for a lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingRoot {
    /// The folder holding each run's staging folder (`<path>/<run>`).
    pub path: PathBuf,
    /// Set (to the reason) when `path` is inside the lake's tree because no folder outside it on the
    /// lake's filesystem could be used: a `<lake>/**/*.parquet` glob then reaches the new files of a
    /// partition from the instant they get their names to its exchange, and the replaced ones until
    /// they are removed, so a kill there leaves rows a reader counts twice until the next run.
    pub inside_lake: Option<String>,
    /// Another folder where runs may have staged this lake's files (an earlier version's, or a run
    /// that could not stage beside the lake): runs that are gone are cleaned from it too.
    pub also: Option<PathBuf>,
}

/// How [`Policy::replace_files`] may swap a folder's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// In one exchange of the whole folder, where the store can.
    Exchange,
    /// File by file: a folder that must not move (a lake's root folder, which holds its bookkeeping).
    OneByOne,
}

/// How [`Policy::replace_files`] swapped a folder's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swapped {
    /// In one atomic exchange, or the folder was new: a reader saw the old files or the new ones.
    Exchanged,
    /// Object by object, as S3 does (no folder exchange there).
    Objects,
    /// File by file on a local disk, with the reason: a reader may have seen new and replaced files
    /// side by side for that moment.
    OneByOne(String),
}

/// How the runs of one lake keep apart and publish (see the module documentation).
pub trait Policy: Debug + Send + Sync {
    /// The local folder where files bound for the lake are staged: on a local disk, a folder beside
    /// the lake on its filesystem (publishing is a rename, and a `<lake>/**/*.parquet` glob never
    /// reaches a staged or a replaced file), or inside the lake where that is impossible (see
    /// [`StagingRoot::inside_lake`]); for S3, under the system's temporary directory.
    fn staging_root(&self) -> StagingRoot;
    /// Takes the lake's lock for `scope`, for `holder` (a text other runs show when they find it
    /// held); `token` is unique to this run. Fails with [`Error::Locked`](crate::error::Error::Locked)
    /// when a run that excludes this one holds it.
    fn lock(&self, scope: LockScope, holder: &str, token: &str) -> Result<Lock>;
    /// Who is writing the lake now, found without writing anything.
    fn live_writers(&self) -> Result<Vec<String>>;
    /// Makes the staged files `names` (complete, in the local folder `staged`) the files of `dir`, a
    /// folder of the lake, removing the files of `dir` for which `replaced` is true and that `names`
    /// does not replace. `guard` is called before each change that others can see; its error stops
    /// the replacement.
    ///
    /// A local disk exchanges the two folders in one atomic `renameat2(RENAME_EXCHANGE)` (the other
    /// files and the folders of `dir` are linked into the new folder first, and any that arrive
    /// meanwhile are moved over after), so a reader sees the old files or the new ones, never a mix,
    /// unless `swap` is [`Swap::OneByOne`] or the exchange is impossible (see [`Swapped`]); S3
    /// uploads the new files, then deletes the replaced ones.
    fn replace_files(
        &self,
        staged: &Path,
        dir: &Path,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
        swap: Swap,
        guard: &dyn Fn() -> Result<()>,
    ) -> Result<Swapped>;
}

/// The policy of the lake at `lake` (its bookkeeping in `meta_dir`) in `store`: the local disk's for a
/// lake on this machine, else S3's.
pub fn for_lake(store: &Arc<dyn Store>, lake: &Path, meta_dir: &Path) -> Box<dyn Policy> {
    match store.local_file(lake) {
        Some(_) => Box::new(LocalPolicy::new(lake, meta_dir)),
        None => Box::new(s3::S3Policy::new(store.clone(), lake, meta_dir)),
    }
}
