//! S3's lake policy: the lock objects of `s3lock.rs`, staging under the system's temporary folder (out
//! of every reader's reach), and a partition published object by object (S3 has no folder exchange):
//! the new objects are uploaded, then the replaced ones deleted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::locks::{Lock, LockScope};
use super::s3lock::{live_holders, S3Lock};
use super::{Policy, StagingRoot, Swap, Swapped};
use crate::error::{Error, Result};
use crate::storage::s3::S3Url;
use crate::storage::{not_mine, Store};

/// The policy of a lake on S3, through its store.
#[derive(Debug)]
pub(super) struct S3Policy {
    store: Arc<dyn Store>,
    lake: PathBuf,
    meta_dir: PathBuf,
}

impl S3Policy {
    pub(super) fn new(store: Arc<dyn Store>, lake: &Path, meta_dir: &Path) -> S3Policy {
        S3Policy {
            store,
            lake: lake.to_path_buf(),
            meta_dir: meta_dir.to_path_buf(),
        }
    }
}

fn url_of(path: &Path) -> std::io::Result<S3Url> {
    S3Url::from_path(path).ok_or_else(|| not_mine(path, "an s3:// URL"))
}

impl Policy for S3Policy {
    fn staging_root(&self) -> StagingRoot {
        // A private folder under the system's temporary directory: out of every reader's reach.
        let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
        StagingRoot {
            path: std::env::temp_dir().join(format!("flowlake-staging-{user}")),
            inside_lake: None,
            also: None,
        }
    }

    fn lock(&self, scope: LockScope, holder: &str, token: &str) -> Result<Lock> {
        let meta = url_of(&self.meta_dir).map_err(|e| Error::output(&self.meta_dir, e))?;
        S3Lock::take(self.store.clone(), &meta, holder, token, scope, &self.lake).map(Lock::held)
    }

    fn live_writers(&self) -> Result<Vec<String>> {
        let meta = url_of(&self.meta_dir).map_err(|e| Error::Lake {
            path: self.meta_dir.clone(),
            message: e.to_string(),
        })?;
        live_holders(&*self.store, &meta)
    }

    fn replace_files(
        &self,
        staged: &Path,
        dir: &Path,
        names: &[String],
        replaced: &dyn Fn(&str) -> bool,
        _swap: Swap,
        guard: &dyn Fn() -> Result<()>,
    ) -> Result<Swapped> {
        let dir_url = url_of(dir).map_err(|e| Error::output(dir, e))?;
        for name in names {
            guard()?;
            let target = dir_url.join(name).to_path();
            let local = staged.join(name);
            self.store
                .upload(&local, &target)
                .map_err(|e| Error::output(&target, e))?;
            // Uploaded: the local copy is not needed any more (staging stays small however big the run).
            let _ = std::fs::remove_file(&local);
        }
        let dir = dir_url.to_path();
        let present = self
            .store
            .list_dir(&dir)
            .map_err(|e| Error::output(&dir, e))?;
        for object in present {
            let path = object.path.to_string_lossy();
            let name = path.rsplit('/').next().unwrap_or_default();
            if replaced(name) && !names.iter().any(|n| n == name) {
                guard()?;
                self.store
                    .delete(&object.path)
                    .map_err(|e| Error::output(&object.path, e))?;
            }
        }
        guard()?;
        Ok(Swapped::Objects)
    }
}
