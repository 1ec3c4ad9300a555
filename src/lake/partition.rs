//! Partition keys: what a folder path or an AWS file name says about a file's account, region, day
//! and hour, and the folder of a partition in the lake.
//!
//! Understands AWS's S3 layouts at any depth, from the bucket copy down to one day folder:
//! `AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/]`, the Hive-compatible
//! `aws-account-id=/aws-service=vpcflowlogs/aws-region=/year=/month=/day=/[hour=/]`, and any tree whose
//! folders end in `YYYY/MM/DD` or `year=YYYY/month=MM/day=DD`. When the path has no date (or no
//! account/region, or no hour), the AWS file name (`<account>_vpcflowlogs_<region>_<id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz`)
//! supplies it. Input discovery keys files with it, and the lake reader prunes folders by day with it
//! (AWS's native Parquet deliveries use the same layouts). Pure functions of paths: nothing here lists
//! or reads anything.

use std::path::Path;

use crate::date::{self, Day};

/// Which Hive keys the partitions get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionLayout {
    /// AWS's keys when every input names its account and region, plain otherwise.
    #[default]
    Auto,
    /// `aws-account-id=/aws-service=vpcflowlogs/aws-region=/year=/month=/day=`.
    Aws,
    /// `year=/month=/day=`.
    Plain,
    /// Amazon Security Lake's custom-source keys, `region=/accountId=/eventDay=YYYYMMDD` (the lake
    /// of `--schema ocsf`, whose root is the source's `ext/<source>/` folder).
    #[serde(rename = "security-lake")]
    SecurityLake,
}

impl PartitionLayout {
    /// The name flags and `lake.json` use.
    pub fn name(self) -> &'static str {
        match self {
            PartitionLayout::Auto => "auto",
            PartitionLayout::Aws => "aws",
            PartitionLayout::Plain => "plain",
            PartitionLayout::SecurityLake => "security-lake",
        }
    }
}

impl std::fmt::Display for PartitionLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which time decides a row's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionTime {
    /// The delivery folder (or file name) of the row's file, as AWS partitions.
    #[default]
    Delivery,
    /// The row's own `start`, when it lies in its file's delivery day (hour) or the one before.
    Start,
}

impl PartitionTime {
    /// The name flags and `lake.json` use.
    pub fn name(self) -> &'static str {
        match self {
            PartitionTime::Delivery => "delivery",
            PartitionTime::Start => "start",
        }
    }
}

impl std::fmt::Display for PartitionTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a partition's time slot is: a day, or with `--hourly` an hour (an `hour=` key).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// `year=/month=/day=` partitions.
    #[default]
    Day,
    /// `year=/month=/day=/hour=` partitions.
    Hour,
}

impl Grain {
    /// The grain `--hourly` (and a lake's recorded `hourly`) asks for.
    pub fn from_hourly(hourly: bool) -> Grain {
        if hourly {
            Grain::Hour
        } else {
            Grain::Day
        }
    }

    /// True for hour partitions.
    pub fn is_hourly(self) -> bool {
        self == Grain::Hour
    }

    /// Seconds per slot.
    pub fn seconds(self) -> i64 {
        match self {
            Grain::Day => date::SECS_PER_DAY,
            Grain::Hour => date::SECS_PER_HOUR,
        }
    }

    /// The hour a key of this grain keeps (`Some` only for [`Grain::Hour`]): `None` when an hourly
    /// key has no hour to give.
    fn hour_of(self, hour: Option<u8>) -> Option<Option<u8>> {
        match self {
            Grain::Day => Some(None),
            Grain::Hour => hour.map(Some),
        }
    }
}

/// The output partition of an input file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    pub account: Option<String>,
    pub region: Option<String>,
    pub day: Day,
    pub hour: Option<u8>,
}

impl PartitionKey {
    /// The key of a partition folder path written by [`PartitionKey::path`].
    pub fn from_path(partition: &str, grain: Grain) -> Option<PartitionKey> {
        let dirs: Vec<String> = partition.split('/').map(String::from).collect();
        let info = path_info(&dirs);
        Some(PartitionKey {
            account: info.account,
            region: info.region,
            day: info.day?,
            hour: grain.hour_of(info.hour)?,
        })
    }

    /// The grain of the key's partition: hourly when it has an hour.
    pub fn grain(&self) -> Grain {
        Grain::from_hourly(self.hour.is_some())
    }

    /// The partition's folder, relative to the lake root, in the given layout (`Auto` is resolved by
    /// the caller; here it means `Aws` when account and region are known).
    pub fn path(&self, layout: PartitionLayout) -> String {
        if layout == PartitionLayout::SecurityLake {
            // Keys the layout needs are checked before (files without them are skipped).
            let unknown = || "unknown".to_string();
            return format!(
                "region={}/accountId={}/eventDay={:04}{:02}{:02}",
                self.region.clone().unwrap_or_else(unknown),
                self.account.clone().unwrap_or_else(unknown),
                self.day.year,
                self.day.month,
                self.day.day
            );
        }
        let mut p = String::new();
        if layout != PartitionLayout::Plain {
            if let (Some(account), Some(region)) = (&self.account, &self.region) {
                p.push_str(&format!(
                    "aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/"
                ));
            }
        }
        p.push_str(&format!(
            "year={:04}/month={:02}/day={:02}",
            self.day.year, self.day.month, self.day.day
        ));
        if let Some(h) = self.hour {
            p.push_str(&format!("/hour={h:02}"));
        }
        p
    }
}

/// The day partition an hour partition belongs to (`.../day=02/hour=17` -> `.../day=02`); a day
/// partition's path is its own. Shards are assigned by it (see `convert::shard`), so the hours of a day
/// go to one shard and a day folder can be tested before it is listed.
pub fn day_partition(partition: &str) -> &str {
    match partition.rsplit_once('/') {
        Some((day, last)) if last.starts_with("hour=") => day,
        _ => partition,
    }
}

/// The key a day folder's own path gives the files below it: its day, and its account and region when
/// the path names them (no hour). `None` unless the folder's last three names are a date (plain or
/// Hive) of the flow log era, or when it holds a value that cannot be a partition value.
///
/// A file below the folder takes this key ([`key_for_path`]: the path's keys come before the file
/// name's), except where the name fills what the path leaves out (account and region), where folders
/// between add a later date, or where they name another account or region (then they decide).
pub fn day_folder_key(dir: &Path) -> Option<PartitionKey> {
    let dirs = components(dir);
    let info = path_info(&dirs);
    if info.refused.is_some() || info.below != Some(dirs.len()) {
        return None;
    }
    Some(PartitionKey {
        account: info.account,
        region: info.region,
        day: info.day?,
        hour: None,
    })
}

/// The account a folder names by its own name: `AWSLogs/<12 digits>` as AWS delivers, or
/// `aws-account-id=<value>` as Hive-style deliveries and this lake write. The files below it take that
/// account unless folders between, or a file's name where the path names none, say otherwise.
pub fn account_folder(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    if let Some(v) = hive_value(name, "aws-account-id") {
        return is_safe_value(v).then(|| v.to_string());
    }
    let parent = dir.parent()?.file_name()?;
    (is_account(name) && parent == "AWSLogs").then(|| name.to_string())
}

/// The delivery partition of a file, from its path and name alone (as the walk classifies it).
pub fn key_for_path(path: &Path, grain: Grain) -> Option<PartitionKey> {
    let (from_path, from_name) = path_and_name_info(path);
    if from_path.refused.is_some() || from_name.refused.is_some() {
        return None;
    }
    Some(PartitionKey {
        account: from_path.account.or(from_name.account),
        region: from_path.region.or(from_name.region),
        day: from_path.day.or(from_name.day)?,
        hour: grain.hour_of(from_path.hour.or(from_name.hour))?,
    })
}

/// The identity of an input file across runs, with its size: the path below its date folders
/// (`17/part.log.gz`, so hour folders that each hold `part.log.gz` stay apart), or its name when the
/// date comes from the name. A tree moved, copied or re-synced elsewhere keeps it; two files of one
/// partition never share it unless they sit at the same place below their dates.
pub fn identity_of(path: &Path) -> String {
    let (from_path, _) = path_and_name_info(path);
    from_path.rel.unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

pub(crate) fn path_and_name_info(path: &Path) -> (Info, Info) {
    let mut dirs = path.parent().map(components).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = path_info(&dirs);
    if let Some(below) = info.below {
        dirs.push(name.clone());
        info.rel = Some(dirs[below.min(dirs.len() - 1)..].join("/"));
    }
    (info, name_info(&name))
}

pub(crate) fn components(path: &Path) -> Vec<String> {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// What a path or file name says about partitioning.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) account: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) day: Option<Day>,
    pub(crate) hour: Option<u8>,
    /// Index of the first folder below the day folder (the hour folder, if any, is part of the rest).
    pub(crate) below: Option<usize>,
    /// The path below the date folders, file name included.
    pub(crate) rel: Option<String>,
    /// A date whose year is outside [`FIRST_YEAR`]..=[`last_year`].
    pub(crate) bad_year: Option<i32>,
    /// A key value that cannot be a partition value, and why.
    pub(crate) refused: Option<String>,
}

/// The first year a flow log date may have (flow logs began in 2015; earlier is a wrong folder).
pub const FIRST_YEAR: i32 = 2010;

/// The last year a flow log date may have: next year (UTC), so clocks running ahead still fit.
pub fn last_year() -> i32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    date::civil_from_days(now.div_euclid(date::SECS_PER_DAY)).0 + 1
}

fn digits(s: &str, n: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn hive_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.strip_prefix(key)?.strip_prefix('=')
}

/// Year, month and day of three folder names, all plain (`2024/03/09`) or all Hive
/// (`year=2024/month=3/day=9`: Hive writers do not always pad); true for the Hive form.
fn date_at(dirs: &[String], i: usize) -> Option<(i32, u32, u32, bool)> {
    let (y, m, d) = (dirs.get(i)?, dirs.get(i + 1)?, dirs.get(i + 2)?);
    let hive = y.starts_with("year=");
    if m.starts_with("month=") != hive || d.starts_with("day=") != hive {
        return None; // no mixed forms
    }
    Some((year_of(y)?, month_of(m)?, day_of(d)?, hive))
}

/// The hour of a folder name below a day folder of the same form (`17`, or `hour=17` / `hour=7`).
fn hour_of(s: &str, hive: bool) -> Option<u8> {
    let h = match hive_value(s, "hour") {
        Some(v) if hive => digits(v, 1..=2)?,
        None if !hive => digits(s, 2..=2)?,
        _ => return None,
    };
    (h < 24).then_some(h as u8)
}

/// An AWS account id: twelve digits.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS region name (`--region`, a folder of AWS's layout): `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && digits(parts[parts.len() - 1], 1..=2).is_some()
}

/// A value that can be a partition folder value and a quoted literal in generated DDL.
fn is_safe_value(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Reads the deepest `YYYY/MM/DD[/HH]` (plain or Hive) and the account/region from folder names:
/// Hive keys anywhere, and AWS's `<12-digit account>/vpcflowlogs/<region>/` only right above the date.
fn path_info(dirs: &[String]) -> Info {
    let mut info = Info::default();
    let mut year_at = None;
    for i in (0..dirs.len().saturating_sub(2)).rev() {
        let Some((y, m, d, hive)) = date_at(dirs, i) else {
            continue;
        };
        let Some(day) = Day::new(y, m, d) else {
            continue;
        };
        if !(FIRST_YEAR..=last_year()).contains(&y) {
            info.bad_year.get_or_insert(y);
            continue;
        }
        info.day = Some(day);
        info.hour = dirs.get(i + 3).and_then(|h| hour_of(h, hive));
        info.below = Some(i + 3);
        year_at = Some(i);
        break;
    }
    if info.day.is_none() {
        // Security Lake's one-folder day key (`eventDay=20240309`), as an OCSF lake writes it.
        for (i, dir) in dirs.iter().enumerate().rev() {
            let Some((y, m, d)) = event_day(dir) else {
                continue;
            };
            match Day::new(y, m, d) {
                Some(day) if (FIRST_YEAR..=last_year()).contains(&y) => {
                    info.day = Some(day);
                    info.below = Some(i + 1);
                    break;
                }
                Some(_) => {
                    info.bad_year.get_or_insert(y);
                }
                None => {}
            }
        }
    }
    if info.day.is_some() {
        info.bad_year = None;
    }
    for dir in dirs {
        // AWS's Hive keys, and Security Lake's (an OCSF lake's).
        for (key, is_account) in [
            ("aws-account-id", true),
            ("aws-region", false),
            ("accountId", true),
            ("region", false),
        ] {
            if let Some(v) = hive_value(dir, key) {
                if is_safe_value(v) {
                    let slot = if is_account {
                        &mut info.account
                    } else {
                        &mut info.region
                    };
                    *slot = Some(v.to_string());
                } else {
                    info.refused = Some(format!(
                        "folder `{dir}`: a {key} value may hold only letters, digits, `-`, `_` and `.`"
                    ));
                }
            }
        }
    }
    if let Some(i) = year_at.filter(|&i| i >= 3) {
        let (account, service, region) = (&dirs[i - 3], &dirs[i - 2], &dirs[i - 1]);
        if service == "vpcflowlogs" && is_account(account) && is_region(region) {
            info.account = Some(account.clone());
            info.region = Some(region.clone());
        }
    }
    info
}

/// Reads account, region, day and hour from an AWS file name
/// (`123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz`).
fn name_info(name: &str) -> Info {
    let mut info = Info::default();
    if let Some((y, m, d, h)) = firehose_time(name) {
        match Day::new(y, m, d) {
            Some(day) if (FIRST_YEAR..=last_year()).contains(&y) => {
                info.day = Some(day);
                info.hour = Some(h as u8);
            }
            Some(_) => info.bad_year = Some(y),
            None => {}
        }
        return info;
    }
    let parts: Vec<&str> = name.split('_').collect();
    if parts.len() >= 5 && parts[1] == "vpcflowlogs" && is_account(parts[0]) && is_region(parts[2])
    {
        info.account = Some(parts[0].to_string());
        info.region = Some(parts[2].to_string());
    }
    for p in &parts {
        let b = p.as_bytes();
        if p.is_ascii() && b.len() == 14 && b[8] == b'T' && b[13] == b'Z' {
            let (Some(y), Some(m), Some(d), Some(h)) = (
                digits(&p[0..4], 4..=4),
                digits(&p[4..6], 2..=2),
                digits(&p[6..8], 2..=2),
                digits(&p[9..11], 2..=2),
            ) else {
                continue;
            };
            let Some(day) = Day::new(y as i32, m, d).filter(|_| h < 24) else {
                continue;
            };
            if (FIRST_YEAR..=last_year()).contains(&(y as i32)) {
                info.day = Some(day);
                info.hour = Some(h as u8);
            } else {
                info.bad_year = Some(y as i32);
            }
        }
    }
    info
}

/// The delivery time in a Kinesis Data Firehose object name,
/// `<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.<ext>]` (Firehose guide, *s3-object-name*): UTC
/// unless the stream sets a time zone, and the arrival of the object's oldest record, as AWS's own
/// delivery folders are.
fn firehose_time(name: &str) -> Option<(i32, u32, u32, u32)> {
    // A stream's name may hold dots; Firehose's extension (`.gz`) comes after the uuid.
    firehose_stem_time(name).or_else(|| firehose_stem_time(name.rsplit_once('.')?.0))
}

fn firehose_stem_time(stem: &str) -> Option<(i32, u32, u32, u32)> {
    let parts: Vec<&str> = stem.rsplitn(13, '-').collect();
    // Reversed: uuid (5 groups), SS MM HH DD MM YYYY, version, then the stream's name.
    if parts.len() != 13 || parts[12].is_empty() {
        return None;
    }
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let uuid = [12, 4, 4, 4, 8]
        .iter()
        .zip(&parts[..5])
        .all(|(n, p)| hex(p, *n));
    let version = !parts[11].is_empty() && parts[11].bytes().all(|b| b.is_ascii_digit());
    if !uuid || !version {
        return None;
    }
    let two = |s: &str| digits(s, 2..=2);
    let (second, minute, hour) = (two(parts[5])?, two(parts[6])?, two(parts[7])?);
    let (day, month, year) = (two(parts[8])?, two(parts[9])?, digits(parts[10], 4..=4)?);
    (hour < 24 && minute < 60 && second < 60).then_some((year as i32, month, day, hour))
}

/// True for the name of an object Kinesis Data Firehose wrote (see [`firehose_time`]).
pub fn is_firehose_object(name: &str) -> bool {
    firehose_time(name).is_some()
}

fn last_day_of_month(y: i32, m: u32) -> Option<Day> {
    (28..=31).rev().find_map(|d| Day::new(y, m, d))
}

/// Year, month and day of one folder name, in plain (`2024`, `03`) or Hive (`year=2024`, `month=3`)
/// form: Hive values may be unpadded, plain ones may not.
/// Year, month and day of a Security Lake `eventDay=YYYYMMDD` folder name.
fn event_day(s: &str) -> Option<(i32, u32, u32)> {
    let v = hive_value(s, "eventDay")?;
    if v.len() != 8 {
        return None;
    }
    let (y, md) = v.split_at(4);
    let (m, d) = md.split_at(2);
    Some((
        digits(y, 4..=4)? as i32,
        digits(m, 2..=2).filter(|m| (1..=12).contains(m))?,
        digits(d, 2..=2).filter(|d| (1..=31).contains(d))?,
    ))
}

fn year_of(s: &str) -> Option<i32> {
    digits(hive_value(s, "year").unwrap_or(s), 4..=4).map(|y| y as i32)
}

fn month_of(s: &str) -> Option<u32> {
    padded_or_hive(s, "month").filter(|m| (1..=12).contains(m))
}

fn day_of(s: &str) -> Option<u32> {
    padded_or_hive(s, "day").filter(|d| (1..=31).contains(d))
}

fn padded_or_hive(s: &str, key: &str) -> Option<u32> {
    match hive_value(s, key) {
        Some(v) => digits(v, 1..=2),
        None => digits(s, 2..=2),
    }
}

/// False when a folder's trailing date components put it wholly outside `[from, to]`.
pub fn dir_in_range(dirs: &[String], from: Option<Day>, to: Option<Day>) -> bool {
    if from.is_none() && to.is_none() {
        return true;
    }
    let n = dirs.len();
    let at = |k: usize| (n >= k).then(|| dirs[n - k].as_str());
    // (first day, last day) covered by the folder, judged from its last one to three names.
    let span = if let (Some(y), Some(m), Some(d)) = (
        at(3).and_then(year_of),
        at(2).and_then(month_of),
        at(1).and_then(day_of),
    ) {
        Day::new(y, m, d).map(|day| (day, day))
    } else if let (Some(y), Some(m)) = (at(2).and_then(year_of), at(1).and_then(month_of)) {
        Some((Day::new(y, m, 1), last_day_of_month(y, m))).and_then(|(a, b)| Some((a?, b?)))
    } else if let Some(y) = at(1).and_then(year_of) {
        Some((Day::new(y, 1, 1), Day::new(y, 12, 31))).and_then(|(a, b)| Some((a?, b?)))
    } else {
        None
    };
    match span {
        Some((first, last)) => !(from.is_some_and(|f| last < f) || to.is_some_and(|t| first > t)),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn aws_plain_layout() {
        let i = path_info(&dirs(
            "/data/bucket/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02",
        ));
        assert_eq!(i.account.as_deref(), Some("123456789012"));
        assert_eq!(i.region.as_deref(), Some("us-east-1"));
        assert_eq!(i.day, Some(day("2024-01-02")));
        assert_eq!(i.hour, None);
        let h = path_info(&dirs(
            "/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2024/01/02/17",
        ));
        assert_eq!(h.hour, Some(17));
    }

    #[test]
    fn aws_hive_layout() {
        let i = path_info(&dirs(
            "/x/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2023/month=12/day=31/hour=23",
        ));
        assert_eq!(i.account.as_deref(), Some("123456789012"));
        assert_eq!(i.region.as_deref(), Some("eu-west-1"));
        assert_eq!(i.day, Some(day("2023-12-31")));
        assert_eq!(i.hour, Some(23));
    }

    #[test]
    fn plain_trees_and_bad_dates() {
        assert_eq!(
            path_info(&dirs("/logs/2024/02/29")).day,
            Some(day("2024-02-29"))
        );
        assert_eq!(path_info(&dirs("/logs/2023/02/29")).day, None);
        // Hive writers do not always pad; plain folders must be padded.
        assert_eq!(
            path_info(&dirs("/logs/year=2024/month=3/day=1")).day,
            Some(day("2024-03-01"))
        );
        assert_eq!(path_info(&dirs("/logs/2024/3/01")).day, None);
        assert_eq!(
            path_info(&dirs("/logs/year=2024/03/01")).day,
            None,
            "no mixed forms"
        );
        assert_eq!(path_info(&dirs("/logs/2024/01")).day, None);
        let i = path_info(&dirs("/logs/2024/01/05"));
        assert_eq!((i.account, i.region), (None, None));
    }

    #[test]
    fn aws_keys_only_where_the_layout_fits() {
        // A plain tree under a folder that happens to be called `vpcflowlogs`: no invented keys.
        let i = path_info(&dirs("/tmp/xyz/vpcflowlogs/2024/01/02"));
        assert_eq!((i.account, i.region), (None, None));
        assert_eq!(i.day, Some(day("2024-01-02")));
        for p in [
            "/a/AWSLogs/12345/vpcflowlogs/us-east-1/2024/01/02", // not 12 digits
            "/a/AWSLogs/123456789012/vpcflowlogs/not_a_region/2024/01/02",
            "/a/AWSLogs/123456789012/vpcflowlogs/us-east-1/extra/2024/01/02", // not right above the date
        ] {
            let i = path_info(&dirs(p));
            assert_eq!((i.account, i.region), (None, None), "{p}");
        }
        let i = path_info(&dirs(
            "/AWSLogs/123456789012/vpcflowlogs/us-gov-west-1/2024/01/02/17",
        ));
        assert_eq!(i.account.as_deref(), Some("123456789012"));
        assert_eq!(i.region.as_deref(), Some("us-gov-west-1"));
        // A Hive value that would break a partition folder or a DDL literal is refused.
        let i = path_info(&dirs(
            "/x/aws-account-id=1,2/aws-region=us-east-1/year=2024/month=01/day=02",
        ));
        assert!(i.refused.is_some());
        let i = path_info(&dirs("/x/aws-account-id=12'3/year=2024/month=01/day=02"));
        assert!(i.refused.is_some());
    }

    #[test]
    fn years_outside_the_flow_log_era_are_not_dates() {
        for p in [
            "/l/0000/01/01",
            "/l/9999/01/01",
            "/l/2009/12/31",
            "/l/year=1970/month=01/day=01",
        ] {
            let i = path_info(&dirs(p));
            assert_eq!(i.day, None, "{p}");
            assert!(i.bad_year.is_some(), "{p}");
        }
        let next = last_year();
        assert!(path_info(&dirs(&format!("/l/{next}/01/01"))).day.is_some());
        assert!(path_info(&dirs(&format!("/l/{}/01/01", next + 1)))
            .day
            .is_none());
        assert_eq!(
            name_info("123456789012_vpcflowlogs_us-east-1_fl-1_99990620T1620Z_fe.log.gz").day,
            None
        );
    }

    #[test]
    fn identity_is_the_path_below_the_date() {
        assert_eq!(
            identity_of(Path::new(
                "/r/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02/17/part.log.gz"
            )),
            "17/part.log.gz"
        );
        assert_eq!(
            identity_of(Path::new("/a/year=2024/month=1/day=2/x.log.gz")),
            "x.log.gz"
        );
        assert_eq!(
            identity_of(Path::new(
                "/flat/123456789012_vpcflowlogs_us-east-1_fl-1_20240102T1620Z_fe.log.gz"
            )),
            "123456789012_vpcflowlogs_us-east-1_fl-1_20240102T1620Z_fe.log.gz"
        );
    }

    #[test]
    fn aws_file_name() {
        let i = name_info(
            "123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz",
        );
        assert_eq!(i.account.as_deref(), Some("123456789012"));
        assert_eq!(i.region.as_deref(), Some("us-east-1"));
        assert_eq!(i.day, Some(day("2018-06-20")));
        assert_eq!(i.hour, Some(16));
        assert_eq!(name_info("flows.log.gz"), Info::default());
        // Non-ASCII where the timestamp would be: no panic, no date.
        let hostile = "20€567T1234Z"; // 14 bytes, 'T' at byte 8, 'Z' at byte 13, '€' across byte 4
        assert_eq!(
            (hostile.len(), hostile.as_bytes()[8], hostile.as_bytes()[13]),
            (14, b'T', b'Z')
        );
        assert_eq!(
            name_info(&format!("1_vpcflowlogs_r_fl_{hostile}_h.log.gz")).day,
            None
        );
    }

    #[test]
    fn partition_paths() {
        let mut k = PartitionKey {
            account: Some("123".into()),
            region: Some("us-east-1".into()),
            day: day("2024-01-02"),
            hour: None,
        };
        assert_eq!(
            k.path(PartitionLayout::Aws),
            "aws-account-id=123/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=01/day=02"
        );
        assert_eq!(k.path(PartitionLayout::Plain), "year=2024/month=01/day=02");
        assert_eq!(
            PartitionKey::from_path(&k.path(PartitionLayout::Aws), Grain::Day),
            Some(k.clone())
        );
        k.hour = Some(7);
        assert!(k.path(PartitionLayout::Plain).ends_with("day=02/hour=07"));
        let plain = PartitionKey::from_path(&k.path(PartitionLayout::Plain), Grain::Hour).unwrap();
        assert_eq!(
            (plain.account, plain.day, plain.hour),
            (None, k.day, Some(7))
        );
    }

    #[test]
    fn account_folders() {
        let of = |p: &str| account_folder(Path::new(p));
        assert_eq!(
            of("/b/AWSLogs/123456789012").as_deref(),
            Some("123456789012")
        );
        assert_eq!(of("s3://b/x/aws-account-id=1").as_deref(), Some("1"));
        for p in [
            "/b/logs/123456789012",
            "/b/AWSLogs/12345678901",
            "/b/AWSLogs/123456789012/vpcflowlogs",
            "/b/aws-account-id=",
            "/b/aws-account-id=a b",
            "/b/AWSLogs",
        ] {
            assert_eq!(of(p), None, "{p}");
        }
    }

    #[test]
    fn day_folders_and_day_partitions() {
        let key = |p: &str| day_folder_key(Path::new(p));
        let k = key("/b/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02").unwrap();
        assert_eq!(
            (k.account.as_deref(), k.region.as_deref(), k.day, k.hour),
            (
                Some("123456789012"),
                Some("us-east-1"),
                day("2024-01-02"),
                None
            )
        );
        let hive = key("/x/aws-account-id=1/aws-region=eu-west-1/year=2024/month=1/day=2").unwrap();
        assert_eq!(
            (hive.account.as_deref(), hive.region.as_deref()),
            (Some("1"), Some("eu-west-1"))
        );
        let plain = key("/logs/2024/01/02").unwrap();
        assert_eq!((plain.account, plain.day), (None, day("2024-01-02")));
        // Not a day folder: above the day, below it (an hour), not a date, a refused value.
        for p in [
            "/b/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01",
            "/b/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02/17",
            "/logs/2024/01/02/extra",
            "/logs/2009/01/02",
            "/x/aws-account-id=1,2/year=2024/month=01/day=02",
        ] {
            assert_eq!(key(p), None, "{p}");
        }
        // A file directly in (or below) a day folder gets the folder's key.
        let file = key_for_path(
            Path::new("/b/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02/17/f.log.gz"),
            Grain::Day,
        )
        .unwrap();
        assert_eq!(file, k);
        assert_eq!(
            day_partition("aws-account-id=1/year=2024/month=01/day=02/hour=17"),
            "aws-account-id=1/year=2024/month=01/day=02"
        );
        assert_eq!(
            day_partition("year=2024/month=01/day=02"),
            "year=2024/month=01/day=02"
        );
    }

    #[test]
    fn range_pruning() {
        let (f, t) = (Some(day("2024-01-10")), Some(day("2024-02-05")));
        assert!(dir_in_range(&dirs("/a/AWSLogs/1/vpcflowlogs/r"), f, t));
        assert!(dir_in_range(&dirs("/a/2024"), f, t));
        assert!(!dir_in_range(&dirs("/a/2023"), f, t));
        assert!(!dir_in_range(&dirs("/a/2024/03"), f, t));
        assert!(dir_in_range(&dirs("/a/year=2024/month=02"), f, t));
        assert!(!dir_in_range(&dirs("/a/2024/01/09"), f, t));
        assert!(dir_in_range(&dirs("/a/2024/01/10"), f, t));
        assert!(!dir_in_range(&dirs("/a/year=2024/month=02/day=06"), f, t));
        assert!(dir_in_range(&dirs("/a/2024/01/10/23"), f, t));
        assert!(dir_in_range(&dirs("/a/2023"), None, None));
    }

    #[test]
    fn firehose_object_names() {
        let name = "flowlogs-stream-1-2024-05-01-13-05-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        assert_eq!(firehose_time(name), Some((2024, 5, 1, 13)));
        assert_eq!(firehose_time(&format!("{name}.gz")), Some((2024, 5, 1, 13)));
        assert_eq!(
            firehose_time(
                "vpc.flow-logs-3-2024-12-31-23-59-59-0a1b2c3d-4e5f-6789-abcd-ef0123456789.gz"
            ),
            Some((2024, 12, 31, 23))
        );
        let key = key_for_path(Path::new(&format!("/b/firehose/{name}")), Grain::Hour).unwrap();
        assert_eq!((key.day, key.hour), (day("2024-05-01"), Some(13)));
        // The 2015 example of AWS's guide has no version: not this layout.
        assert_eq!(
            firehose_time(
                "my-delivery-stream-2015-10-29-00-01-21-a188030a-62d2-49e6-b7c2-b11f1a7ba250"
            ),
            None
        );
        for bad in [
            "s-1-2024-05-01-25-05-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "s-x-2024-05-01-13-05-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "-1-2024-05-01-13-05-11-0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "s-1-2024-05-01-13-05-11-0a1b2c3d-4e5f-6789-abcd-ef012345678",
            "part.log",
        ] {
            assert_eq!(firehose_time(bad), None, "{bad}");
        }
    }
}
