//! The private staging folder of each run, on this machine whatever the lake's side: made under the
//! [`StagingRoot`] the lake's policy chose, locked for as long as the run lives, and removed by a later
//! run once its run is gone (a killed run leaves it behind).

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::local::{lock_file, Kind};
use super::locks::Lock;
use super::StagingRoot;
use crate::error::{Error, Result};

/// Makes this run's private staging folder `<root>/<run_id>`, locked (`<run_id>.lock`) for as long as
/// the returned lock lives, after removing the folders of runs that are gone (whose lock is not held)
/// from the root and from [`StagingRoot::also`], each handed to `salvage` first (which may move what
/// must not be lost out of it). Other live runs' folders are kept.
pub fn staging_folder(
    lake: &Path,
    root: &StagingRoot,
    run_id: &str,
    holder: &str,
    salvage: &dyn Fn(&Path) -> Result<()>,
) -> Result<(PathBuf, Lock)> {
    for folder in std::iter::once(&root.path).chain(&root.also) {
        remove_abandoned_staging(folder, salvage)?;
    }
    let staging_root = &root.path;
    // Lock before creating: another run's cleanup must never see this folder unlocked. The lock file
    // is ours once we hold a lock on the file at its path (see `lock_file`): a cleanup may remove the
    // file between our open and our lock, never after.
    let staging = staging_root.join(run_id);
    let lock = lock_file(lake, &lock_path_of(&staging), holder, Kind::Private)?;
    fs::create_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
    Ok((staging, Lock::files(vec![lock])))
}

/// True while the run that made the staging folder `folder` is alive (its lock is held): found
/// without taking it, for `verify`.
pub fn staging_in_use(folder: &Path) -> bool {
    File::open(lock_path_of(folder)).is_ok_and(|f| f.try_lock_shared().is_err())
}

/// `<folder>.lock`, the lock file of a staging folder.
fn lock_path_of(folder: &Path) -> PathBuf {
    let mut path = folder.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Removes a run's staging folder and its lock file (the lock itself lasts until dropped).
pub fn remove_staging_folder(staging: &Path) -> Result<()> {
    for result in [
        fs::remove_dir_all(staging),
        fs::remove_file(lock_path_of(staging)),
    ] {
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::output(staging, e)),
            _ => {}
        }
    }
    Ok(())
}

/// Removes the staging folders (and lock files) of runs that are no longer running: those whose
/// `<run>.lock` is missing or not held.
///
/// The probe keeps the lock it took while it removes the folder and then the lock file: a run makes
/// its folder only after it holds the lock on the file at the lock's path, so nothing a run owns can
/// appear or vanish while the probe holds it. (Letting go before removing would let a starting run
/// take the lock and make its folder in between, and then lose its lock file, and with it its folder
/// to the next cleanup.)
fn remove_abandoned_staging(
    staging_root: &Path,
    salvage: &dyn Fn(&Path) -> Result<()>,
) -> Result<()> {
    let Ok(entries) = fs::read_dir(staging_root) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let is_lock = !is_dir && path.extension().is_some_and(|e| e == "lock");
        if !is_dir && !is_lock {
            continue;
        }
        let folder = if is_dir {
            path.clone()
        } else {
            path.with_extension("")
        };
        let lock_path = lock_path_of(&folder);
        let probe = match File::open(&lock_path) {
            Ok(file) => match file.try_lock() {
                Ok(()) => Some(file),
                Err(_) => continue, // alive, or being probed by another cleanup
            },
            // No lock file: a run makes it before its folder and removes it after, so nobody owns
            // this folder.
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(_) => continue,
        };
        if folder.is_dir() {
            salvage(&folder)?;
        }
        // Another run may be removing the same folder: one already gone is fine.
        match fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Error::output(&folder, e)),
            _ => {}
        }
        if probe.is_some() {
            let _ = fs::remove_file(&lock_path);
        }
        drop(probe);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Runs starting and ending side by side, each cleaning up after dead runs as it starts: no run
    /// ever loses its staging folder. (Before the cleanup kept its probe lock while removing a lock
    /// file, a run starting in that instant lost its lock file and then its folder; seen as a shard
    /// failing with "No such file or directory" on its own staging folder.)
    #[test]
    fn starting_runs_never_remove_a_live_runs_staging_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Arc::new(StagingRoot {
            path: dir.path().join("staging"),
            inside_lake: None,
            also: None,
        });
        // A dead run's leftovers, with and without their lock file, and an orphan lock file.
        let dead = &root.path;
        fs::create_dir_all(dead.join("dead-1/p")).unwrap();
        fs::write(dead.join("dead-1.lock"), "pid 1").unwrap();
        fs::create_dir_all(dead.join("dead-2")).unwrap();
        fs::write(dead.join("dead-3.lock"), "pid 3").unwrap();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || {
                    for i in 0..150 {
                        let id = format!("run-{t}-{i}");
                        let (staging, lock) =
                            staging_folder(Path::new("lake"), &root, &id, "test", &|_| Ok(()))
                                .unwrap();
                        let part = staging.join("year=2024");
                        fs::create_dir_all(&part).unwrap();
                        fs::write(part.join("f.parquet"), b"x").unwrap();
                        for _ in 0..3 {
                            std::thread::yield_now();
                            assert!(part.join("f.parquet").exists(), "{id} lost its staging");
                            assert!(lock_path_of(&staging).exists(), "{id} lost its lock");
                        }
                        remove_staging_folder(&staging).unwrap();
                        drop(lock);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let left: Vec<_> = fs::read_dir(&root.path).unwrap().flatten().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
