//! Sharding: splitting one conversion across N processes (AWS Batch array jobs, Kubernetes Indexed
//! Jobs) without a coordinator.
//!
//! The unit of work is a whole output partition, assigned by a stable hash of what owns it
//! ([`owner_of`]): in a lake with AWS's keys its account (every partition of one account goes to
//! one shard), in a plain lake its day (the partition itself, or for an hour partition its day's).
//! Shard K of N builds exactly the partitions whose hash is K modulo N. Every shard computes the same
//! assignment on its own, so N shards never write the same partition and together write what one run
//! writes. A hash (rather than, say, sorting the partitions and dealing them out) keeps the assignment
//! of a partition fixed even when shards list at different moments and see different days. Hashing
//! what a folder's path names (an account folder `AWSLogs/<account>/`, a day folder) lets a shard tell
//! from the path alone whether any file below it is its own, so it lists only its own accounts' trees
//! and, in a plain lake, its own day folders (`listing.rs`): N shards together list about what one
//! run lists. The price is balance: a hash spreads accounts and days by count, not bytes, and one
//! account's partitions share a shard; `flowlake plan` balances by bytes. A retried shard is a rerun
//! of the same shard: the manifest makes it skip what it already published.
//!
//! A shard of a plan (`flowlake plan`, then `convert --plan ID --shard K/N`) builds the partitions the
//! plan gave it instead: [`Assignment`] is the one answer to "does this process build that partition".

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use crate::lake::partition::{day_partition, PartitionKey, PartitionLayout};

/// One shard of a sharded run: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// A checked shard; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// True when this shard builds `partition` (a partition path relative to the lake root). The one
    /// test of ownership: what a shard builds, recovers and lists all follow from it.
    pub fn owns(&self, partition: &str) -> bool {
        shard_of(partition, self.count) == self.index
    }

    /// True when this shard builds the partition of `key` in a lake of `layout` (`Aws` or `Plain`).
    pub fn owns_key(&self, key: &PartitionKey, layout: PartitionLayout) -> bool {
        self.owns(&key.path(layout))
    }

    /// True when this shard builds the partitions of `account` in a lake with AWS's keys.
    pub fn owns_account(&self, account: &str) -> bool {
        self.owns(&format!("aws-account-id={account}"))
    }
}

/// Which partitions a run builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Every partition (an unsharded run, or `flowlake plan`, which decides for all shards).
    All,
    /// Those whose path hashes to the shard ([`shard_of`]).
    Hash(Shard),
    /// Those a plan gave the shard (`plan` is the plan's id).
    Planned {
        shard: Shard,
        plan: String,
        partitions: HashSet<String>,
    },
}

impl Assignment {
    /// True when this run builds `partition` (a partition path relative to the lake root).
    pub fn owns(&self, partition: &str) -> bool {
        match self {
            Assignment::All => true,
            Assignment::Hash(shard) => shard.owns(partition),
            Assignment::Planned { partitions, .. } => partitions.contains(partition),
        }
    }

    /// The shard this run is, if it is one.
    pub fn shard(&self) -> Option<Shard> {
        match self {
            Assignment::All => None,
            Assignment::Hash(shard) | Assignment::Planned { shard, .. } => Some(*shard),
        }
    }

    /// The id of the plan this run builds a part of, if any.
    pub fn plan(&self) -> Option<&str> {
        match self {
            Assignment::Planned { plan, .. } => Some(plan),
            _ => None,
        }
    }
}

/// The shard (`0..count`) that builds `partition`: FNV-1a 64 of [`owner_of`] it, modulo `count`.
/// Stable across platforms and runs (it is part of the contract that a retried shard rebuilds the
/// partitions it built before). Plain day partitions have kept their shard since sharding began;
/// hour partitions follow their day's, and partitions with AWS's keys their account's, since #24.
pub fn shard_of(partition: &str, count: u32) -> u32 {
    (crate::hash::fnv1a(owner_of(partition).as_bytes()) % u64::from(count.max(1))) as u32
}

/// What decides a partition's shard: its account folder (`aws-account-id=<account>`, the first folder
/// of a partition with AWS's keys), else its day partition ([`day_partition`]).
pub fn owner_of(partition: &str) -> &str {
    let first = partition.split('/').next().unwrap_or(partition);
    if first.starts_with("aws-account-id=") {
        first
    } else {
        day_partition(partition)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a process cannot tell which shard it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not a shard: expected K/N with 0 <= K < N, e.g. 0/3")]
    NotAShard(String),
    #[error("--shard {shard} and --shards {shards} disagree")]
    Disagree { shard: Shard, shards: u32 },
    #[error("{name}={value} is not a number")]
    NotANumber { name: &'static str, value: String },
    #[error("AWS_BATCH_JOB_ARRAY_INDEX is set but not AWS_BATCH_JOB_ARRAY_SIZE: pass --shards N")]
    NoBatchSize,
    #[error(
        "JOB_COMPLETION_INDEX is set: pass --shards N (the Job's completions) to shard the run"
    )]
    NoCompletions,
    #[error("--shards {0} needs a shard index: --shard K/{0}, AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX")]
    NoIndex(u32),
    #[error("shard index {index} is not below the shard count {count}")]
    OutOfRange { index: u32, count: u32 },
    #[error("plan {plan} has {planned} shards, not {count}: run its shards as K/{planned}")]
    NotThePlans {
        plan: String,
        planned: u32,
        count: u32,
    },
    #[error("--plan {plan} needs a shard index: --shard K/{planned}, AWS_BATCH_JOB_ARRAY_INDEX or JOB_COMPLETION_INDEX")]
    NoPlannedIndex { plan: String, planned: u32 },
}

impl FromStr for Shard {
    type Err = ShardError;

    /// `K/N` with `0 <= K < N` (zero-based, as `AWS_BATCH_JOB_ARRAY_INDEX` and `JOB_COMPLETION_INDEX`).
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::NotAShard(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(k, n).ok_or_else(bad)
    }
}

/// The shard a process is, from `--shard`, `--shards` and the schedulers' environment.
///
/// `--shard K/N` wins. Otherwise AWS Batch's `AWS_BATCH_JOB_ARRAY_INDEX` (with `AWS_BATCH_JOB_ARRAY_SIZE`,
/// or `--shards`) or Kubernetes' `JOB_COMPLETION_INDEX` (with `--shards`, since Indexed Jobs do not
/// export their completion count). `env` looks a variable up (the process environment in the CLI).
pub fn resolve(
    flag: Option<Shard>,
    shards: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, ShardError> {
    if let Some(shard) = flag {
        if let Some(n) = shards.filter(|&n| n != shard.count) {
            return Err(ShardError::Disagree { shard, shards: n });
        }
        return Ok(Some(shard));
    }
    let number = |name: &'static str, value: String| -> Result<u32, ShardError> {
        value
            .trim()
            .parse()
            .map_err(|_| ShardError::NotANumber { name, value })
    };
    let (index, count) = if let Some(index) = env("AWS_BATCH_JOB_ARRAY_INDEX") {
        let index = number("AWS_BATCH_JOB_ARRAY_INDEX", index)?;
        let count = match (shards, env("AWS_BATCH_JOB_ARRAY_SIZE")) {
            (Some(n), _) => n,
            (None, Some(size)) => number("AWS_BATCH_JOB_ARRAY_SIZE", size)?,
            (None, None) => return Err(ShardError::NoBatchSize),
        };
        (index, count)
    } else if let Some(index) = env("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", index)?;
        let count = shards.ok_or(ShardError::NoCompletions)?;
        (index, count)
    } else if let Some(n) = shards {
        return Err(ShardError::NoIndex(n));
    } else {
        return Ok(None);
    };
    Shard::new(index, count)
        .map(Some)
        .ok_or(ShardError::OutOfRange { index, count })
}

/// The shard a process of plan `plan` (of `planned` shards) is: as [`resolve`], with the plan's count
/// where the scheduler's environment gives none (an Indexed Job, a Batch index without its size); a
/// count that is not the plan's is refused.
pub fn resolve_planned(
    flag: Option<Shard>,
    shards: Option<u32>,
    env: &dyn Fn(&str) -> Option<String>,
    plan: &str,
    planned: u32,
) -> Result<Shard, ShardError> {
    let shard = match resolve(flag, shards, env) {
        Err(ShardError::NoBatchSize | ShardError::NoCompletions) => {
            resolve(flag, Some(planned), env)
        }
        other => other,
    }?;
    let shard = shard.ok_or_else(|| ShardError::NoPlannedIndex {
        plan: plan.to_string(),
        planned,
    })?;
    if shard.count != planned {
        return Err(ShardError::NotThePlans {
            plan: plan.to_string(),
            planned,
            count: shard.count,
        });
    }
    Ok(shard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::partition::Grain;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn every_partition_has_exactly_one_shard_and_the_hash_is_stable() {
        let parts: Vec<String> = (1..=28)
            .map(|d| format!("year=2024/month=02/day={d:02}"))
            .collect();
        for n in [1, 3, 7] {
            for p in &parts {
                let owners = (0..n)
                    .filter(|&k| Shard::new(k, n).unwrap().owns(p))
                    .count();
                assert_eq!(owners, 1, "{p} in {n} shards");
            }
        }
        // Pinned values: changing the hash would make retried shards rebuild other partitions.
        assert_eq!(shard_of("year=2024/month=02/day=01", 7), 5);
        assert_eq!(shard_of("", 7), (0xcbf2_9ce4_8422_2325_u64 % 7) as u32);
        // The hours of a day go to its day's shard.
        for h in 0..24 {
            let hour = format!("year=2024/month=02/day=01/hour={h:02}");
            assert_eq!(shard_of(&hour, 7), 5);
        }
        // With AWS's keys, every partition of an account goes to its account's shard.
        let account = "aws-account-id=123456789012";
        let of_account = (crate::hash::fnv1a(account.as_bytes()) % 7) as u32;
        for d in 1..=28 {
            for tail in ["", "/hour=05"] {
                let p = format!(
                    "{account}/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=02/day={d:02}{tail}"
                );
                assert_eq!(shard_of(&p, 7), of_account, "{p}");
            }
        }
        assert_eq!(shard_of(account, 7), 1);
        let key =
            PartitionKey::from_path("year=2024/month=02/day=01/hour=05", Grain::Hour).unwrap();
        assert!(Shard::new(5, 7)
            .unwrap()
            .owns_key(&key, PartitionLayout::Plain));
        // 28 days over 3 shards: none empty.
        for k in 0..3 {
            assert!(parts.iter().any(|p| shard_of(p, 3) == k));
        }
    }

    #[test]
    fn parses_and_resolves_from_flags_and_environment() {
        assert_eq!("2/7".parse(), Ok(Shard { index: 2, count: 7 }));
        assert!("7/7".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        let none = env(&[]);
        assert_eq!(resolve(None, None, &none), Ok(None));
        assert!(resolve(None, Some(3), &none).is_err());
        let flag = Shard::new(1, 3);
        assert_eq!(resolve(flag, None, &none), Ok(flag));
        assert!(resolve(flag, Some(4), &none).is_err());
        let batch = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "4"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "5"),
        ]);
        assert_eq!(resolve(None, None, &batch), Ok(Shard::new(4, 5)));
        assert_eq!(resolve(flag, None, &batch), Ok(flag), "the flag wins");
        let batch_no_size = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "4")]);
        assert!(resolve(None, None, &batch_no_size).is_err());
        assert_eq!(resolve(None, Some(6), &batch_no_size), Ok(Shard::new(4, 6)));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(resolve(None, None, &k8s), Err(ShardError::NoCompletions));
        assert!(resolve(None, None, &k8s)
            .unwrap_err()
            .to_string()
            .contains("--shards"));
        assert_eq!(resolve(None, Some(3), &k8s), Ok(Shard::new(2, 3)));
        assert!(resolve(None, Some(2), &k8s).is_err(), "index 2 of 2");
        let junk = env(&[("JOB_COMPLETION_INDEX", "x")]);
        assert!(resolve(None, Some(2), &junk).is_err());
    }

    #[test]
    fn a_planned_shard_takes_its_count_from_the_plan_and_refuses_another() {
        let none = env(&[]);
        let planned = |flag, shards, env: &dyn Fn(&str) -> Option<String>| {
            resolve_planned(flag, shards, env, "p1", 4)
        };
        assert_eq!(
            planned(Shard::new(1, 4), None, &none),
            Ok(Shard { index: 1, count: 4 })
        );
        let other = planned(Shard::new(1, 3), None, &none).unwrap_err();
        assert!(matches!(
            other,
            ShardError::NotThePlans {
                planned: 4,
                count: 3,
                ..
            }
        ));
        assert!(
            other.to_string().contains("plan p1 has 4 shards"),
            "{other}"
        );
        assert!(matches!(
            planned(None, None, &none),
            Err(ShardError::NoPlannedIndex { .. })
        ));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(planned(None, None, &k8s), Ok(Shard { index: 2, count: 4 }));
        assert!(
            planned(None, Some(5), &k8s).is_err(),
            "--shards 5 is not the plan's 4"
        );
        let batch = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "3")]);
        assert_eq!(
            planned(None, None, &batch),
            Ok(Shard { index: 3, count: 4 })
        );
        let sized = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "3"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "8"),
        ]);
        assert!(
            planned(None, None, &sized).is_err(),
            "an array of 8 over a plan of 4"
        );
    }

    #[test]
    fn an_assignment_owns_what_its_kind_says() {
        let p = "year=2024/month=02/day=01";
        assert!(Assignment::All.owns(p));
        let hash = Assignment::Hash(Shard { index: 5, count: 7 });
        assert!(hash.owns(p), "shard_of pinned above: 5 of 7");
        assert_eq!(hash.plan(), None);
        let planned = Assignment::Planned {
            shard: Shard { index: 0, count: 7 },
            plan: "p".into(),
            partitions: [p.to_string()].into_iter().collect(),
        };
        assert!(planned.owns(p) && !planned.owns("year=2024/month=02/day=02"));
        assert_eq!(
            (planned.plan(), planned.shard()),
            (Some("p"), Shard::new(0, 7))
        );
    }
}
