//! Publishing on a local disk: a folder's files replaced by staged ones in one atomic exchange of the
//! two folders (Linux `renameat2(RENAME_EXCHANGE)`), so a reader sees the old files or the new ones,
//! never a mix; file by file where the exchange is impossible or not wanted.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::{Swap, Swapped};
use crate::error::{Error, Result};
use crate::storage::local::file_id;

/// Makes the staged files `names` the files of the local folder `target` (see
/// [`Policy::replace_files`](super::Policy::replace_files)).
pub(super) fn replace_files(
    staged: &Path,
    target: &Path,
    names: &[String],
    replaced: &dyn Fn(&str) -> bool,
    swap: Swap,
    guard: &dyn Fn() -> Result<()>,
) -> Result<Swapped> {
    guard()?;
    let parent = target.parent().unwrap_or(target).to_path_buf();
    if !target.exists() {
        if !names.is_empty() {
            fs::create_dir_all(&parent).map_err(|e| Error::output(&parent, e))?;
            fs::rename(staged, target).map_err(|e| Error::output(target, e))?;
            sync_dir(&parent)?;
        }
        return Ok(Swapped::Exchanged);
    }
    if swap == Swap::OneByOne {
        replace_file_by_file(staged, target, names, replaced)?;
        return Ok(Swapped::OneByOne(
            "the folder holds the lake's bookkeeping and cannot be exchanged".into(),
        ));
    }
    // A partition folder reached through a symbolic link is exchanged where it is (the link
    // stays), when that is on the staging folder's filesystem.
    let real = fs::symlink_metadata(target)
        .is_ok_and(|m| m.file_type().is_symlink())
        .then(|| fs::canonicalize(target).ok())
        .flatten();
    let folder = real.as_deref().unwrap_or(target);
    // Whatever of the partition folder this publish does not replace goes into the new folder
    // too, as hard links (files flowlake did not write, and folders with everything in them),
    // and the new folder takes the old one's owner and permissions.
    fs::create_dir_all(staged).map_err(|e| Error::output(staged, e))?;
    let exchanged = match link_contents(folder, staged, replaced) {
        Ok(()) => match exchange(staged, folder) {
            Ok(()) => Ok(folder),
            Err(_) if real.is_some() => exchange(staged, target)
                .map(|()| target)
                .map_err(|e| format!("the folder exchange failed ({e})")),
            Err(e) => Err(format!("the folder exchange failed ({e})")),
        },
        Err(Unlinkable::Mount(at)) => Err(format!(
            "{} is a mount point inside the partition folder",
            at.display()
        )),
        Err(Unlinkable::Io(at, e)) => return Err(Error::output(&at, e)),
    };
    match exchanged {
        Ok(at) => {
            // The one step a reader sees: the old folder left the lake as the new one entered
            // it; from the staging folder beside the lake neither is within a glob's reach.
            sync_dir(at.parent().unwrap_or(at))?;
            // `staged` now holds the old files: rescue any that arrived after the links.
            move_missing(staged, at, replaced)?;
            fs::remove_dir_all(staged).map_err(|e| Error::output(staged, e))?;
            Ok(Swapped::Exchanged)
        }
        Err(why) => {
            replace_file_by_file(staged, target, names, replaced)?;
            Ok(Swapped::OneByOne(why))
        }
    }
}

/// Why a folder's contents could not be linked into a new folder.
enum Unlinkable {
    /// A folder inside is another filesystem's mount point: its files cannot be linked, and an
    /// exchange would carry the mount out of the lake.
    Mount(PathBuf),
    /// An operation failed at this path.
    Io(PathBuf, io::Error),
}

/// Fills the new folder `to` with the contents of `from` that a publish keeps: every file for which
/// `replaced` is false and every folder (their whole trees), as hard links (copies where links fail;
/// symbolic links recreated), with the old folders' owners and permissions.
fn link_contents(
    from: &Path,
    to: &Path,
    replaced: &dyn Fn(&str) -> bool,
) -> std::result::Result<(), Unlinkable> {
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Unlinkable::Io(p, e)
    };
    let meta = fs::metadata(from).map_err(at(from))?;
    for entry in fs::read_dir(from).map_err(at(from))? {
        let entry = entry.map_err(at(from))?;
        let kind = entry.file_type().map_err(at(&entry.path()))?;
        let path = to.join(entry.file_name());
        if kind.is_dir() {
            let inner = entry.metadata().map_err(at(&entry.path()))?;
            if file_id(&inner).map(|(dev, _)| dev) != file_id(&meta).map(|(dev, _)| dev) {
                return Err(Unlinkable::Mount(entry.path()));
            }
            fs::create_dir(&path).map_err(at(&path))?;
            link_contents(&entry.path(), &path, &|_| false)?;
        } else if !replaced(&entry.file_name().to_string_lossy()) {
            link_entry(&entry.path(), &path, kind).map_err(at(&path))?;
        }
    }
    keep_attributes(&meta, to);
    Ok(())
}

/// Gives the folder `to` the owner, group and permissions (setgid included) of the folder `meta`
/// describes, as far as this user may: a partition folder keeps them through an exchange.
fn keep_attributes(meta: &fs::Metadata, to: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid())).is_err() {
            let _ = std::os::unix::fs::chown(to, None, Some(meta.gid()));
        }
    }
    let _ = fs::set_permissions(to, meta.permissions());
}

/// Links (or copies, where hard links fail) the file, or recreates the symbolic link, `from` at `to`.
fn link_entry(from: &Path, to: &Path, kind: fs::FileType) -> io::Result<()> {
    #[cfg(unix)]
    if kind.is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(from)?, to);
    }
    let _ = kind;
    fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(|_| ()))
}

/// Moves into the folder `new` what it lacks of the folder `old` (at any depth), except the files at
/// the top for which `skip` is true: after an exchange, a file delivered into the partition after its
/// links were made; after a stopped run, such a file left in its staging folder.
pub fn move_missing(old: &Path, new: &Path, skip: &dyn Fn(&str) -> bool) -> Result<()> {
    for entry in fs::read_dir(old).map_err(|e| Error::output(old, e))? {
        let entry = entry.map_err(|e| Error::output(old, e))?;
        let to = new.join(entry.file_name());
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && skip(&entry.file_name().to_string_lossy()) {
            continue;
        }
        match fs::symlink_metadata(&to) {
            Ok(meta) if is_dir && meta.is_dir() => move_missing(&entry.path(), &to, &|_| false)?,
            Ok(_) => {}
            Err(_) => fs::rename(entry.path(), &to).map_err(|e| Error::output(&to, e))?,
        }
    }
    Ok(())
}

/// Where the atomic exchange is not available (not Linux, a filesystem without it, a mount point inside
/// the folder) or not wanted ([`Swap::OneByOne`]): the new files are renamed in one by one (each
/// rename atomic), then the stale ones removed, so a reader may see both for that moment; the
/// caller's journal repairs a replacement cut short.
fn replace_file_by_file(
    staged: &Path,
    dir: &Path,
    names: &[String],
    replaced: &dyn Fn(&str) -> bool,
) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    for name in names {
        let from = staged.join(name);
        let to = dir.join(name);
        fs::rename(&from, &to).map_err(|e| Error::output(&to, e))?;
    }
    let stale: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::output(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            replaced(&name) && !names.contains(&name)
        })
        .collect();
    for path in stale {
        fs::remove_file(&path).map_err(|e| Error::output(&path, e))?;
    }
    sync_dir(dir)
}

/// Atomically exchanges two folders (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no atomic folder exchange on this platform",
    ))
}

/// Makes the renames in `dir` durable; not every platform allows opening a folder.
fn sync_dir(dir: &Path) -> Result<()> {
    if let Ok(d) = File::open(dir) {
        d.sync_all().map_err(|e| Error::output(dir, e))?;
    }
    Ok(())
}
