//! What a run lists: every input below the roots in its range, and for a shard without a plan only
//! the key tree down to the folders whose path decides their files' shard (cheap delimiter listings),
//! and below those only the ones of partitions it builds. So N shards together list about what one run
//! lists, not N times as much.
//!
//! # When a folder may be left unlisted
//! Only when the shard is certain that no file below it feeds a partition it builds:
//! - In a lake with AWS's keys a partition's shard is its account's ([`crate::convert::shard`]): an
//!   account folder (`AWSLogs/<account>/`, `aws-account-id=<account>/`, see [`account_folder`]) is
//!   listed by its account's shard only, so each shard lists the folder of accounts and its own
//!   accounts' trees. Every shard lists the rest of the tree (paths that name no account folder).
//! - A day folder (its last three names a date) gives every file below it its day, and when its path
//!   names them its account and region: a file's name decides neither then (the walk takes the path's
//!   keys first, see [`day_folder_key`]). In the lake's partition layout that is the folder's day
//!   partition, and [`Shard::owns`], the one test of ownership that also decides what the shard builds
//!   and recovers, says whose it is. A day folder is listed whenever that is not certain: in a lake
//!   with AWS's keys, a folder whose path names no account or region (file names may); with
//!   `--partition-time start`, when either its day or the day before is the shard's (the rule of
//!   `plan::partitions_fed`).
//! - Files whose date comes from their name only, and files with no date at all (read for the slots of
//!   their records), are never below a day folder: listed unless below another shard's account folder.
//!
//! The layout is the lake's own when it has one (`lake.json`) or when `--partition-layout` names it. A
//! new lake with `auto` gets AWS's keys when every listed input names an account and region: folders
//! are left out as if it will; if an input listed outside every account folder names none, the lake
//! will be plain and the shard lists everything again (every shard lists such a file, so all agree).
//!
//! Below a folder a shard listed for its account or day, everything is listed, and a file whose own
//! folders or name give it another account or partition (a copy of a tree kept inside a day folder, a
//! file with no account below an account folder) is not converted but reported as failed: other
//! shards may not have listed it, and it must never be built by some shards and lost by others.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::convert::plan::partitions_fed;
use crate::convert::shard::Shard;
use crate::convert::Run;
use crate::error::Result;
use crate::input::discover::{discover_pruned, Discovery, InputFile};
use crate::lake::partition::{
    account_folder, day_folder_key, Grain, PartitionKey, PartitionLayout, PartitionTime,
};
use crate::storage::ListProblem;
use crate::text::route::TimeSlot;

/// What a listed folder decided for the files below it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decided {
    /// An account folder: its files are of this account.
    Account(String),
    /// A day folder: its files are of this day partition (a path in the lake's layout).
    Day(String),
}

/// The folders one shard lists and leaves out, decided from their paths during the walk.
pub(super) struct DayFolders {
    shard: Shard,
    /// `Aws` or `Plain`.
    layout: PartitionLayout,
    time: PartitionTime,
    /// The account and day folders listed, each with what it decides for the files below it.
    listed: Mutex<HashMap<PathBuf, Decided>>,
    /// Account and day folders left unlisted.
    left_out: AtomicU64,
    /// The accounts of the account folders met, listed or not.
    accounts: Mutex<BTreeSet<String>>,
}

impl DayFolders {
    pub(super) fn new(shard: Shard, layout: PartitionLayout, time: PartitionTime) -> DayFolders {
        DayFolders {
            shard,
            layout,
            time,
            listed: Mutex::new(HashMap::new()),
            left_out: AtomicU64::new(0),
            accounts: Mutex::new(BTreeSet::new()),
        }
    }

    /// The key of the day partition every file below `dir` goes to, when its path decides it.
    fn key_of(&self, dir: &Path) -> Option<PartitionKey> {
        let key = day_folder_key(dir)?;
        let keyed = key.account.is_some() && key.region.is_some();
        (keyed || self.layout == PartitionLayout::Plain).then_some(key)
    }

    /// What `dir`'s own path decides for the files below it, and whether they are this shard's.
    fn decide(&self, dir: &Path) -> Option<(Decided, bool)> {
        if self.layout == PartitionLayout::Aws {
            if let Some(account) = account_folder(dir) {
                let mine = self.shard.owns_account(&account);
                self.accounts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(account.clone());
                return Some((Decided::Account(account), mine));
            }
        }
        let key = self.key_of(dir)?;
        let mine = partitions_fed(TimeSlot::of_key(&key, Grain::Day), self.time)
            .into_iter()
            .any(|slot| self.shard.owns_key(&slot.key(&key), self.layout));
        Some((Decided::Day(key.path(self.layout)), mine))
    }

    /// False for a folder none of whose files feeds a partition of this shard; true for every other
    /// folder, and for every folder below one listed for its account or day.
    pub(super) fn keep(&self, dir: &Path) -> bool {
        let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        if dir.ancestors().skip(1).any(|a| listed.contains_key(a)) {
            return true;
        }
        let Some((decided, mine)) = self.decide(dir) else {
            return true;
        };
        if mine {
            listed.insert(dir.to_path_buf(), decided);
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
        }
        mine
    }

    /// A warning when the accounts are fewer than the shards, so that some shards have nothing to
    /// build: the accounts of the account folders met, or when none was (a root inside an account),
    /// those of the files found.
    fn too_few_accounts(&self, found: &Discovery, roots: &[PathBuf]) -> Option<(PathBuf, String)> {
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if accounts.is_empty() {
            let files = found.files.iter().chain(&found.undated);
            accounts.extend(files.filter_map(|f| f.key.account.clone()));
        }
        let (n, shards) = (accounts.len() as u64, u64::from(self.shard.count));
        (self.layout == PartitionLayout::Aws && n > 0 && n < shards).then(|| {
            let root = roots.first().cloned().unwrap_or_default();
            let message = format!(
                "{n} account(s) for {shards} shards: a shard without a plan builds whole accounts \
                 in a lake with AWS's keys, so {} shard(s) have nothing to build; `flowlake plan` \
                 spreads the days of an account over the shards by bytes",
                shards - n
            );
            (root, message)
        })
    }

    /// Account and day folders left unlisted so far.
    pub(super) fn left_out(&self) -> u64 {
        self.left_out.load(Ordering::Relaxed)
    }

    /// Takes out of `found` the files below a listed folder whose own account or day partition is
    /// another (see the module's last paragraph), each reported as failed.
    pub(super) fn take_strays(&self, found: &mut Discovery) {
        let listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        let mut strays = Vec::new();
        let mut stray = |file: &InputFile| -> bool {
            let Some((dir, decided)) = file
                .path
                .ancestors()
                .skip(1)
                .find_map(|dir| listed.get(dir).map(|d| (dir, d)))
            else {
                return false;
            };
            let own = PartitionKey {
                hour: None,
                ..file.key.clone()
            }
            .path(self.layout);
            let why = match decided {
                Decided::Day(partition) if *partition != own => format!(
                    "below the day folder {} (partition {partition}) but its folders make it an \
                     input of {own}",
                    dir.display()
                ),
                Decided::Account(account) if file.key.account.as_deref() != Some(account) => {
                    let its = match &file.key.account {
                        Some(other) => format!("an input of account {other}"),
                        None => "name no account".to_string(),
                    };
                    format!(
                        "below the folder of account {account} ({}) but its folders or name make it \
                         {its}",
                        dir.display()
                    )
                }
                _ => return false,
            };
            strays.push(ListProblem {
                path: file.path.clone(),
                message: format!(
                    "{why}, whose shard may not list that folder: not converted by a shard without \
                     a plan; convert this tree without --shard, or with a plan"
                ),
            });
            true
        };
        found.files.retain(|file| !stray(file));
        found.undated.retain(|file| !stray(file));
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
        folders.take_strays(&mut found);
        let unkeyed = found.files.iter().chain(&found.undated).any(|f| !keyed(f));
        if known.is_none() && folders.left_out() > 0 && unkeyed {
            // A new lake that will not get AWS's keys: the folders left out hold its partitions too.
            return list(&|_| true);
        }
        if known.is_some() || !unkeyed {
            found
                .warnings
                .extend(folders.too_few_accounts(&found, &cfg.inputs));
        }
        Ok(found)
    }

    /// The partition layout this run will use, when it is known before listing: the lake's own, else
    /// the one `--partition-layout` names (`partition_layout` refuses the run if the two differ).
    fn layout_before_listing(&self) -> Result<Option<PartitionLayout>> {
        if let Some(stored) = self.manifest.settings()? {
            return Ok(Some(match stored.partition_layout {
                PartitionLayout::Plain => PartitionLayout::Plain,
                PartitionLayout::Aws | PartitionLayout::Auto => PartitionLayout::Aws,
                PartitionLayout::SecurityLake => PartitionLayout::SecurityLake,
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

    /// A listed file of one byte at `path` with `key`.
    fn listed(path: PathBuf, key: PartitionKey, rel: &str) -> InputFile {
        InputFile {
            key,
            rel: rel.into(),
            path,
            size: 1,
            mtime: None,
            version: None,
            compression: crate::input::discover::Compression::Gzip,
            undated: None,
        }
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
    fn with_aws_keys_an_account_folder_is_listed_by_its_accounts_shard_only() {
        for dir in ["/b/AWSLogs/123456789012", "/h/aws-account-id=123456789012"] {
            let partition = "aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=x/year=2024/month=03/day=01";
            for time in [PartitionTime::Delivery, PartitionTime::Start] {
                assert_eq!(
                    listers(dir, PartitionLayout::Aws, time),
                    [owner(partition)],
                    "{dir}"
                );
            }
            // A plain lake's shards own days, not accounts.
            assert_eq!(
                listers(dir, PartitionLayout::Plain, PartitionTime::Delivery),
                [0, 1, 2]
            );
        }
        // Below a listed account folder everything is listed: a copy of another account's day
        // folders inside it is seen (then failed as a stray), never left out by every shard.
        let k = owner("aws-account-id=123456789012");
        let other = (1..=99)
            .map(|n| format!("{n:012}"))
            .find(|a| owner(&format!("aws-account-id={a}")) != k)
            .unwrap();
        let folders = DayFolders::new(
            Shard::new(k, 3).unwrap(),
            PartitionLayout::Aws,
            PartitionTime::Delivery,
        );
        let nested =
            format!("{A}/2024/03/02/copy/AWSLogs/{other}/vpcflowlogs/us-east-1/2024/03/05");
        assert!(folders.keep(Path::new("/b/AWSLogs/123456789012")));
        assert!(folders.keep(Path::new(&format!("{A}/2024/03/02"))));
        assert!(folders.keep(Path::new(&format!(
            "/b/AWSLogs/123456789012/x/AWSLogs/{other}"
        ))));
        assert!(folders.keep(Path::new(&nested)));
        assert!(!folders.keep(Path::new(&format!("/b/AWSLogs/{other}"))));
        assert_eq!(folders.left_out(), 1);
        let file = |path: &str| {
            let path = PathBuf::from(path);
            let key =
                crate::lake::partition::key_for_path(&path, Grain::Day).unwrap_or(PartitionKey {
                    account: None,
                    region: None,
                    day: crate::date::Day::new(2024, 3, 2).unwrap(),
                    hour: None,
                });
            listed(path, key, "")
        };
        let mut found = Discovery {
            files: vec![
                file(&format!("{A}/2024/03/02/a.log.gz")),
                file(&format!("{nested}/b.log.gz")),
                file("/b/AWSLogs/123456789012/other/2024/03/02/c.log.gz"),
            ],
            undated: vec![file(
                "/b/AWSLogs/123456789012/vpcflowlogs/us-east-1/d.log.gz",
            )],
            ..Discovery::default()
        };
        folders.take_strays(&mut found);
        let kept: Vec<_> = found.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(kept, [PathBuf::from(format!("{A}/2024/03/02/a.log.gz"))]);
        assert!(found.undated.is_empty());
        let messages: Vec<_> = found.failed.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages[0].contains(&format!("account {other}")),
            "{messages:?}"
        );
        assert!(messages[1].contains("name no account"), "{messages:?}");
        assert!(messages[2].contains("name no account"), "{messages:?}");
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
            let key = crate::lake::partition::key_for_path(&path, Grain::Day).unwrap();
            listed(path, key, rel)
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
