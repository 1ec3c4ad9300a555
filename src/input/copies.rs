//! Identical copies of one input listed twice in one run (a tree and its backup given as two roots, a
//! folder reached through two symbolic links): read once, the others listed as skipped copies.
//!
//! Two listed files are the same input when they have the same partition slot, the same identity
//! (the path below their date folders, see [`InputFile::rel`]) and size, and the same bytes: the rule
//! a later run uses to recognise a tree moved or copied elsewhere, applied within one run. Bytes are
//! compared only between files whose slot, identity and size agree, so a run without copies reads
//! nothing here.

use std::collections::HashMap;

use crate::input::discover::{InputFile, Skipped};
use crate::storage::Store;

/// Removes from `files` each file that is a copy of another of them, keeping one per input: the one
/// whose path names an account and region (a copy in a plain tree may not), then the first by path,
/// so every run over the same roots keeps the same one. Returns the removed files, as skipped, each
/// naming the copy that is read. A comparison that fails keeps both (never a loss).
pub fn drop_copies(store: &dyn Store, files: &mut Vec<InputFile>) -> Vec<Skipped> {
    let mut groups: HashMap<(_, _, &str, u64), Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        groups
            .entry((f.key.day, f.key.hour, f.rel.as_str(), f.size))
            .or_default()
            .push(i);
    }
    let mut copy_of: Vec<(usize, usize)> = Vec::new();
    for mut members in groups.into_values().filter(|m| m.len() > 1) {
        members.sort_by_key(|&i| (files[i].key.account.is_none(), &files[i].path));
        let mut kept: Vec<usize> = Vec::new();
        for m in members {
            let f = &files[m];
            let same = kept.iter().copied().find(|&k| {
                let original = &files[k];
                let fits = |a: &Option<String>, b: &Option<String>| b.is_none() || a == b;
                fits(&original.key.account, &f.key.account)
                    && fits(&original.key.region, &f.key.region)
                    && store
                        .same_content(&original.entry(), &f.entry())
                        .unwrap_or(false)
            });
            match same {
                Some(k) => copy_of.push((m, k)),
                None => kept.push(m),
            }
        }
    }
    if copy_of.is_empty() {
        return Vec::new();
    }
    copy_of.sort_unstable();
    let skipped = copy_of
        .iter()
        .map(|&(m, k)| Skipped {
            path: files[m].path.clone(),
            reason: format!(
                "an identical copy of {} (same path below the date folders, size and bytes): that \
                 one is read",
                files[k].path.display()
            ),
            flow_log: false,
        })
        .collect();
    let mut dropped = copy_of.iter().map(|&(m, _)| m).peekable();
    let mut i = 0;
    files.retain(|_| {
        let drop = dropped.next_if_eq(&i).is_some();
        i += 1;
        !drop
    });
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Day;
    use crate::input::discover::Compression;
    use crate::lake::partition::PartitionKey;
    use crate::storage::LocalStore;
    use std::path::Path;

    fn input(path: &Path, rel: &str, account: Option<&str>) -> InputFile {
        InputFile {
            path: path.to_path_buf(),
            rel: rel.into(),
            size: std::fs::metadata(path).unwrap().len(),
            mtime: None,
            version: None,
            compression: Compression::Plain,
            key: PartitionKey {
                account: account.map(String::from),
                region: account.map(|_| "us-east-1".to_string()),
                day: Day::new(2024, 1, 15).unwrap(),
                hour: None,
            },
            undated: None,
        }
    }

    #[test]
    fn copies_are_read_once_and_look_alikes_twice() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, body: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, body).unwrap();
            p
        };
        let a = write("a/2024/01/15/x.log", "same bytes\n");
        let b = write("b/2024/01/15/x.log", "same bytes\n");
        let keyed = write("k/2024/01/15/x.log", "same bytes\n");
        // Same identity and size, other bytes: another input.
        let c = write("c/2024/01/15/x.log", "SAME BYTES\n");
        let other = write("a/2024/01/15/y.log", "same bytes\n");
        let mut files = vec![
            input(&a, "x.log", None),
            input(&other, "y.log", None),
            input(&b, "x.log", None),
            input(&c, "x.log", None),
            input(&keyed, "x.log", Some("123456789012")),
        ];
        let skipped = drop_copies(&LocalStore, &mut files);
        let left: Vec<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        assert_eq!(left, [other.as_path(), &c, &keyed]);
        let named: Vec<(&Path, bool)> = skipped
            .iter()
            .map(|s| {
                (
                    s.path.as_path(),
                    s.reason.contains(&keyed.display().to_string()),
                )
            })
            .collect();
        assert_eq!(named, [(a.as_path(), true), (b.as_path(), true)]);
        assert!(skipped.iter().all(|s| !s.flow_log));
        // Run again over what is left: nothing more to drop.
        assert!(drop_copies(&LocalStore, &mut files).is_empty());
        assert_eq!(files.len(), 3);
    }
}
