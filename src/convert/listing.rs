//! What a run lists: every input below the roots in its range, and for a shard without a plan only
//! the key tree down to the day folders (cheap delimiter listings) and the day folders whose files feed
//! a partition it builds. So N shards together list about what one run lists, not N times as much.
//!
//! # When a day folder may be left unlisted
//! Only when the shard is certain that no file below it feeds a partition it builds. A day folder (its
//! last three names a date) gives every file below it its day, and when its path names them its account
//! and region: a file's name decides neither then (the walk takes the path's keys first, see
//! [`day_folder_key`]). In the lake's partition layout that is the folder's day partition, and
//! [`Shard::owns`], the one test of ownership that also decides what the shard builds and recovers,
//! says whose it is. A folder is listed whenever that is not certain:
//! - a lake with AWS's keys, and a folder whose path names no account or region (file names may);
//! - `--partition-time start`: a day's files also feed the day before, so a folder is listed when
//!   either day is the shard's (the rule of `plan::partitions_fed`);
//! - files whose date comes from their name only, and files with no date at all (read for the slots
//!   of their records), are never below a day folder: always listed.
//!
//! The layout is the lake's own when it has one (`lake.json`) or when `--partition-layout` names it. A
//! new lake with `auto` gets AWS's keys when every listed input names an account and region: folders
//! are left out as if it will, which holds for the folders left out (their paths name both); if a
//! listed input names none, the lake will be plain and the shard lists everything again.
//!
//! A folder between a day folder and a file that names another date, account or region (a copy of a
//! tree kept inside a day folder) gives the file another partition than the day folder's, and other
//! shards may not have listed it: such a file is not converted but reported as failed by the shards
//! that see it, never built by some shards and lost by others.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::convert::plan::partitions_fed;
use crate::convert::shard::Shard;
use crate::convert::Run;
use crate::error::Result;
use crate::input::discover::{discover_pruned, Discovery, InputFile};
use crate::lake::partition::{day_folder_key, Grain, PartitionKey, PartitionLayout, PartitionTime};
use crate::storage::ListProblem;
use crate::text::route::TimeSlot;

/// The day folders one shard lists and leaves out, decided from their paths during the walk.
pub(super) struct DayFolders {
    shard: Shard,
    /// `Aws` or `Plain`.
    layout: PartitionLayout,
    time: PartitionTime,
    /// The day folders listed, each with the day partition of the files below it.
    listed: Mutex<HashMap<PathBuf, String>>,
    /// Day folders left unlisted.
    left_out: AtomicU64,
}

impl DayFolders {
    pub(super) fn new(shard: Shard, layout: PartitionLayout, time: PartitionTime) -> DayFolders {
        DayFolders {
            shard,
            layout,
            time,
            listed: Mutex::new(HashMap::new()),
            left_out: AtomicU64::new(0),
        }
    }

    /// The key of the day partition every file below `dir` goes to, when its path decides it.
    fn key_of(&self, dir: &Path) -> Option<PartitionKey> {
        let key = day_folder_key(dir)?;
        let keyed = key.account.is_some() && key.region.is_some();
        (keyed || self.layout == PartitionLayout::Plain).then_some(key)
    }

    /// False for a day folder none of whose files feeds a partition of this shard; true for every
    /// other folder.
    pub(super) fn keep(&self, dir: &Path) -> bool {
        let Some(key) = self.key_of(dir) else {
            return true;
        };
        let mine = partitions_fed(TimeSlot::of_key(&key, Grain::Day), self.time)
            .into_iter()
            .any(|slot| self.shard.owns_key(&slot.key(&key), self.layout));
        if mine {
            self.listed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(dir.to_path_buf(), key.path(self.layout));
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
        }
        mine
    }

    /// Day folders left unlisted so far.
    pub(super) fn left_out(&self) -> u64 {
        self.left_out.load(Ordering::Relaxed)
    }

    /// Takes out of `found` the files below a listed day folder whose own day partition is another
    /// (see the module's last paragraph), each reported as failed.
    pub(super) fn take_strays(&self, found: &mut Discovery) {
        let listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        let mut strays = Vec::new();
        found.files.retain(|file| {
            let own = PartitionKey {
                hour: None,
                ..file.key.clone()
            }
            .path(self.layout);
            let folder = file
                .path
                .ancestors()
                .skip(1)
                .find_map(|dir| listed.get(dir).filter(|p| **p != own).map(|p| (dir, p)));
            match folder {
                Some((dir, partition)) => {
                    strays.push(ListProblem {
                        path: file.path.clone(),
                        message: format!(
                            "below the day folder {} (partition {partition}) but its folders make it \
                             an input of {own}, whose shard may not list that day folder: not \
                             converted by a shard without a plan; convert this tree without --shard, \
                             or with a plan",
                            dir.display()
                        ),
                    });
                    false
                }
                None => true,
            }
        });
        found.failed.extend(strays);
    }
}

/// True when the input names an account and a region (AWS's keys can hold it).
fn keyed(file: &InputFile) -> bool {
    file.key.account.is_some() && file.key.region.is_some()
}

impl Run<'_> {
    /// Lists the inputs below the roots in the run's range, keys an input lacks filled from
    /// `--account`/`--region`; a shard of several lists only its own day folders (see the module).
    pub(super) fn discover_inputs(&self) -> Result<Discovery> {
        let cfg = self.cfg;
        let list = |keep: &dyn Fn(&Path) -> bool| -> Result<Discovery> {
            let mut found = discover_pruned(
                self.store.as_ref(),
                &cfg.inputs,
                cfg.from,
                cfg.to,
                cfg.partitioning.grain,
                keep,
            )?;
            super::plan::fill_keys(cfg, &mut found);
            Ok(found)
        };
        let Some(shard) = cfg.shard.filter(|s| s.count > 1) else {
            return list(&|_| true);
        };
        let known = self.layout_before_listing()?;
        let folders = DayFolders::new(
            shard,
            known.unwrap_or(PartitionLayout::Aws),
            cfg.partitioning.time,
        );
        let mut found = list(&|dir| folders.keep(dir))?;
        let unkeyed = found.files.iter().chain(&found.undated).any(|f| !keyed(f));
        if known.is_none() && folders.left_out() > 0 && unkeyed {
            // A new lake that will not get AWS's keys: the folders left out hold its day partitions too.
            return list(&|_| true);
        }
        folders.take_strays(&mut found);
        Ok(found)
    }

    /// The partition layout this run will use, when it is known before listing: the lake's own, else
    /// the one `--partition-layout` names (`partition_layout` refuses the run if the two differ).
    fn layout_before_listing(&self) -> Result<Option<PartitionLayout>> {
        if let Some(stored) = self.manifest.settings()? {
            return Ok(Some(match stored.partition_layout {
                PartitionLayout::Plain => PartitionLayout::Plain,
                PartitionLayout::Aws | PartitionLayout::Auto => PartitionLayout::Aws,
            }));
        }
        Ok(match self.cfg.partitioning.layout {
            PartitionLayout::Auto => None,
            chosen => Some(chosen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/b/AWSLogs/123456789012/vpcflowlogs/us-east-1";

    /// Shards (of 3) that list the folder.
    fn listers(dir: &str, layout: PartitionLayout, time: PartitionTime) -> Vec<u32> {
        (0..3)
            .filter(|&k| {
                DayFolders::new(Shard::new(k, 3).unwrap(), layout, time).keep(Path::new(dir))
            })
            .collect()
    }

    fn owner(partition: &str) -> u32 {
        crate::convert::shard::shard_of(partition, 3)
    }

    #[test]
    fn a_day_folder_is_listed_by_the_shard_of_its_partition_only() {
        let aws = "aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/";
        for d in 1..=9 {
            let dir = format!("{A}/2024/03/{d:02}");
            let day = format!("year=2024/month=03/day={d:02}");
            let mine = listers(&dir, PartitionLayout::Aws, PartitionTime::Delivery);
            assert_eq!(mine, [owner(&format!("{aws}{day}"))], "{dir}");
            let mine = listers(&dir, PartitionLayout::Plain, PartitionTime::Delivery);
            assert_eq!(mine, [owner(&day)], "{dir}");
            // With start times, the shards of its day and of the day before.
            let before = format!("{aws}year=2024/month=03/day={:02}", d - 1);
            let before = if d == 1 {
                format!("{aws}year=2024/month=02/day=29")
            } else {
                before
            };
            let mut both = vec![owner(&format!("{aws}{day}")), owner(&before)];
            both.sort_unstable();
            both.dedup();
            assert_eq!(
                listers(&dir, PartitionLayout::Aws, PartitionTime::Start),
                both,
                "{dir}"
            );
        }
    }

    #[test]
    fn folders_whose_path_does_not_decide_the_partition_are_listed_by_every_shard() {
        let all = [0, 1, 2];
        for dir in [
            "/b/AWSLogs",
            &format!("{A}/2024"),
            &format!("{A}/2024/03"),
            &format!("{A}/2024/03/02/17"),
            "/logs/2024/03/02/extra",
        ] {
            assert_eq!(
                listers(dir, PartitionLayout::Aws, PartitionTime::Delivery),
                all,
                "{dir}"
            );
        }
        // A day folder with no account in its path: its files' names may name one.
        assert_eq!(
            listers(
                "/logs/2024/03/02",
                PartitionLayout::Aws,
                PartitionTime::Delivery
            ),
            all
        );
        assert_eq!(
            listers(
                "/logs/2024/03/02",
                PartitionLayout::Plain,
                PartitionTime::Delivery
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_file_moved_into_another_partition_by_folders_below_a_day_folder_is_failed() {
        let shard = Shard::new(0, 1).unwrap();
        let folders = DayFolders::new(shard, PartitionLayout::Aws, PartitionTime::Delivery);
        let day = format!("{A}/2024/03/02");
        let hive = "/x/aws-account-id=1/aws-region=us-east-1/year=2024/month=03/day=02";
        assert!(folders.keep(Path::new(&day)) && folders.keep(Path::new(hive)));
        let file = |rel: &str| {
            let path = PathBuf::from(rel.replace("{day}", &day).replace("{hive}", hive));
            InputFile {
                key: crate::lake::partition::key_for_path(&path, Grain::Day).unwrap(),
                rel: rel.into(),
                path,
                size: 1,
                mtime: None,
                version: None,
                compression: crate::input::discover::Compression::Gzip,
                undated: None,
            }
        };
        let mut found = Discovery {
            files: vec![
                file("{day}/17/a.log.gz"),
                file("{day}/copy/2024/03/05/b.log.gz"),
                file("{hive}/aws-account-id=2/c.log.gz"),
                file("{hive}/hour=17/d.log.gz"),
            ],
            ..Discovery::default()
        };
        folders.take_strays(&mut found);
        let kept: Vec<_> = found.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(kept, ["{day}/17/a.log.gz", "{hive}/hour=17/d.log.gz"]);
        assert_eq!(found.failed.len(), 2);
        assert!(
            found.failed[0].message.contains("day=05"),
            "{:?}",
            found.failed
        );
        assert!(found.failed[1].message.contains("aws-account-id=2/"));
    }
}
