//! A plan of a sharded run (`flowlake plan`): its files, and the assignment of work to shards by bytes.
//!
//! A plan lives in the lake's bookkeeping, `_flowlake/plans/<id>/`, and is never changed once written:
//! `plan.json` ([`PlanSummary`]: the settings every shard uses, inputs made absolute, and for each
//! shard its partitions, files and input bytes, the list a scheduler fans out over) and one
//! `shard-<K>.json.gz` per shard ([`ShardPart`]: its partitions, each with its inputs as they were
//! listed: path, size, modification time, ETag). A shard reads those two files and lists nothing.
//!
//! # The assignment
//! Work goes to shards in whole units: a partition, or with `--partition-time start` a run of
//! neighbouring partitions (they share input files, which one shard then reads once). Units are taken
//! largest first and each goes to the shard with the fewest bytes so far ([`assign_by_bytes`], the
//! "longest processing time" rule): the largest shard is then at most the mean plus the largest unit,
//! and within 4/3 of the best split. Ties (equal bytes, equal loads) are broken by the unit's first
//! partition path and the lower shard number, so one listing always gives one plan.
//!
//! Everything here is pure (types, encoding, the assignment); `planning.rs` lists, decides and reads
//! and writes the files.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::convert::config::ConvertConfig;
use crate::storage::Entry;

/// The `format` of a plan's files.
pub const PLAN_FORMAT: &str = "flowlake-plan/1";
/// The folder of plans in a lake's bookkeeping folder (`_flowlake/plans/<id>/`).
pub const PLANS_DIR: &str = "plans";
/// The name of a plan's summary.
pub const SUMMARY_NAME: &str = "plan.json";
/// The longest plan id accepted.
const MAX_ID_CHARS: usize = 64;

/// The name of shard `shard`'s part of a plan.
pub fn part_name(shard: u32) -> String {
    format!("shard-{shard}.json.gz")
}

/// How much work: partitions, distinct input files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
}

/// One shard of a plan, as a scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardFigures {
    /// K of `convert --plan ID --shard K/N`.
    pub shard: u32,
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
    /// Its part's name in the plan's folder (`shard-K.json.gz`).
    pub part: String,
}

/// A listed entry that will not be converted (skipped, or that could not be listed), as the plan
/// keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Noted {
    pub path: String,
    pub reason: String,
}

/// `plan.json`: what every shard of a plan shares.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PlanSummary {
    /// [`PLAN_FORMAT`].
    pub format: String,
    pub id: String,
    /// When the plan was made (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub created: String,
    /// The lake it was made for (absolute).
    #[serde(with = "crate::paths::lossless")]
    pub lake: PathBuf,
    /// N of `--shard K/N`.
    pub shard_count: u32,
    /// The convert settings every shard uses (inputs absolute, the lake's partition layout
    /// resolved); the process's own settings (threads, read-ahead, endpoint) are not here.
    pub settings: ConvertConfig,
    /// One per shard, in shard order.
    pub shards: Vec<ShardFigures>,
    pub total: Figures,
    /// Listed files that are not converted, and entries that could not be listed.
    pub skipped: Vec<Noted>,
    pub failed: Vec<Noted>,
}

/// `shard-<K>.json.gz`: what one shard builds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardPart {
    /// [`PLAN_FORMAT`].
    pub format: String,
    pub id: String,
    pub shard: u32,
    pub shard_count: u32,
    pub partitions: Vec<PlannedPartition>,
}

/// A partition of a shard's part, with every input it is built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedPartition {
    /// Its folder, relative to the lake root.
    pub path: String,
    pub inputs: Vec<PlannedInput>,
}

/// An input as the plan's listing saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedInput {
    #[serde(with = "crate::paths::lossless")]
    pub path: PathBuf,
    pub size: u64,
    pub mtime: Option<i64>,
    /// The S3 ETag listed (none on a local disk).
    pub version: Option<String>,
    /// For a file with no date of its own: the slots its records fall in (their indices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeds: Option<Vec<i64>>,
}

impl PlannedInput {
    /// The file as the plan's listing saw it.
    pub fn entry(&self) -> Entry {
        Entry {
            path: self.path.clone(),
            size: self.size,
            mtime: self.mtime,
            version: self.version.clone(),
        }
    }

    /// How the file `now` (its state now, or why it cannot be had) differs from what the plan
    /// listed; `None` when it is the same. The modification time counts where there is no version
    /// (a local file).
    pub fn change(&self, now: &io::Result<Entry>) -> Option<String> {
        let now = match now {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Some("it is gone".into()),
            Err(e) => return Some(format!("it cannot be checked ({e})")),
            Ok(now) => now,
        };
        if now.size != self.size {
            return Some(format!("its size is {}, not {}", now.size, self.size));
        }
        match (&self.version, &now.version) {
            (Some(then), Some(was)) if then != was => {
                Some(format!("its ETag is {was}, not {then}"))
            }
            (None, _) if now.mtime != self.mtime => Some("its modification time changed".into()),
            _ => None,
        }
    }
}

/// The inputs of a shard's part, by path.
#[derive(Debug, Default)]
pub struct PlannedInputs(HashMap<PathBuf, PlannedInput>);

impl PlannedInputs {
    /// The paths of `part`'s partitions and their distinct inputs (the part is taken apart: a
    /// shard's part of a large plan holds millions of inputs, kept once).
    pub fn of(part: ShardPart) -> (Vec<String>, Self) {
        let mut inputs = HashMap::new();
        let mut paths = Vec::with_capacity(part.partitions.len());
        for partition in part.partitions {
            paths.push(partition.path);
            for input in partition.inputs {
                inputs.entry(input.path.clone()).or_insert(input);
            }
        }
        (paths, PlannedInputs(inputs))
    }

    pub fn get(&self, path: &Path) -> Option<&PlannedInput> {
        self.0.get(path)
    }

    /// Every input, sorted by path.
    pub fn sorted(&self) -> Vec<&PlannedInput> {
        let mut all: Vec<&PlannedInput> = self.0.values().collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }
}

/// Why a plan's file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a plan file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a gzip file: {0}")]
    Gzip(#[from] io::Error),
    #[error("its format is `{found}`, this flowlake reads `{PLAN_FORMAT}` (make the plan again with this version)")]
    Format { found: String },
    #[error("it is the file of plan {found}")]
    OtherPlan { found: String },
}

/// `plan.json`'s bytes.
pub fn encode_summary(summary: &PlanSummary) -> Result<Vec<u8>, PlanFileError> {
    let mut bytes = serde_json::to_vec_pretty(summary)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads `plan.json` of plan `id`.
pub fn decode_summary(bytes: &[u8], id: &str) -> Result<PlanSummary, PlanFileError> {
    match serde_json::from_slice::<PlanSummary>(bytes) {
        Ok(summary) => check(&summary.format, &summary.id, id).map(|()| summary),
        Err(e) => Err(why_not(bytes, id, e)),
    }
}

/// A shard's part's bytes (gzipped JSON).
pub fn encode_part(part: &ShardPart) -> Result<Vec<u8>, PlanFileError> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut gz, part)?;
    gz.flush()?;
    Ok(gz.finish()?)
}

/// Reads a shard's part of plan `id` (decoded as it is decompressed).
pub fn decode_part(bytes: &[u8], id: &str) -> Result<ShardPart, PlanFileError> {
    let gz = io::BufReader::new(flate2::read::MultiGzDecoder::new(bytes));
    match serde_json::from_reader::<_, ShardPart>(gz) {
        Ok(part) => check(&part.format, &part.id, id).map(|()| part),
        Err(e) if e.is_io() => Err(PlanFileError::Gzip(e.into())),
        Err(e) => {
            let mut json = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut json)?;
            Err(why_not(&json, id, e))
        }
    }
}

/// The format and id of a plan's file, read alone.
#[derive(serde::Deserialize)]
struct Head {
    format: Option<String>,
    id: Option<String>,
}

/// Why a file that does not parse as this format's is refused: another format (a later flowlake's
/// plan) or plan when its head says so, else the parse error.
fn why_not(json: &[u8], id: &str, error: serde_json::Error) -> PlanFileError {
    match serde_json::from_slice::<Head>(json) {
        Ok(Head { format, id: found }) => {
            let (format, found) = (format.unwrap_or_default(), found.unwrap_or_default());
            check(&format, &found, id)
                .err()
                .unwrap_or(PlanFileError::Json(error))
        }
        Err(_) => PlanFileError::Json(error),
    }
}

fn check(format: &str, found: &str, id: &str) -> Result<(), PlanFileError> {
    if format != PLAN_FORMAT {
        return Err(PlanFileError::Format {
            found: format.to_string(),
        });
    }
    if found != id {
        return Err(PlanFileError::OtherPlan {
            found: found.to_string(),
        });
    }
    Ok(())
}

/// The shard (`0..shards`) of each unit, in the order of `units` (each its input bytes and its first
/// partition's path): largest unit first onto the shard with the fewest bytes (see the module's
/// text). Deterministic.
pub fn assign_by_bytes(units: &[(u64, &str)], shards: u32) -> Vec<u32> {
    let shards = shards.max(1);
    let mut order: Vec<usize> = (0..units.len()).collect();
    order.sort_by(|&a, &b| {
        let ((ba, pa), (bb, pb)) = (units[a], units[b]);
        bb.cmp(&ba).then_with(|| pa.cmp(pb))
    });
    // The lightest shard on top; of equal loads, the lowest number.
    let mut loads: BinaryHeap<Reverse<(u64, u32)>> = (0..shards).map(|k| Reverse((0, k))).collect();
    let mut shard_of = vec![0; units.len()];
    for i in order {
        if let Some(Reverse((load, k))) = loads.pop() {
            shard_of[i] = k;
            loads.push(Reverse((load.saturating_add(units[i].0), k)));
        }
    }
    shard_of
}

/// How many distinct files (by path) `inputs` name, and their bytes: a file that feeds two partitions
/// of one unit (or shard) is read once.
pub fn distinct<'a>(inputs: impl IntoIterator<Item = (&'a Path, u64)>) -> (u64, u64) {
    let mut seen = std::collections::HashSet::new();
    inputs
        .into_iter()
        .filter(|(path, _)| seen.insert(*path))
        .fold((0, 0), |(files, bytes), (_, size)| {
            (files + 1, bytes + size)
        })
}

/// A new plan id: the time (UTC, to the second) and 32 random bits, e.g. `20261205T101500Z-3fa2c1d0`.
/// Returns it with the time as `plan.json` writes it.
pub fn new_plan_id() -> (String, String) {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // A hasher seeded at random per process, fed the time and the process id.
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u128(now.as_nanos());
    random.write_u32(std::process::id());
    let secs = now.as_secs() as i64;
    let (y, mo, d) = crate::date::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, mi, se) = (s / 3600, s / 60 % 60, s % 60);
    (
        format!(
            "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{se:02}Z-{:08x}",
            random.finish() as u32
        ),
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z"),
    )
}

/// True for a text that can be a plan id (and so a folder name): 1 to 64 ASCII letters, digits, `-`,
/// `_` and `.`, not starting with `.`.
pub fn is_plan_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest shard's bytes over the mean.
    fn skew(units: &[(u64, &str)], shards: u32) -> f64 {
        let mut loads = vec![0u64; shards as usize];
        for (i, k) in assign_by_bytes(units, shards).into_iter().enumerate() {
            loads[k as usize] += units[i].0;
        }
        let mean = loads.iter().sum::<u64>() as f64 / shards as f64;
        *loads.iter().max().unwrap() as f64 / mean
    }

    #[test]
    fn largest_first_onto_the_lightest_shard() {
        let units = [(10, "a"), (70, "b"), (40, "c"), (30, "d"), (50, "e")];
        // 70 -> 0, 50 -> 1, 40 -> 2, 30 -> 2 (40 is lightest), 10 -> 1 (50 < 70).
        assert_eq!(assign_by_bytes(&units, 3), [1, 0, 2, 2, 1]);
        assert_eq!(assign_by_bytes(&units, 1), [0; 5]);
        assert!(assign_by_bytes(&[], 4).is_empty());
        // More shards than units: one unit each, the rest empty.
        assert_eq!(assign_by_bytes(&[(5, "a"), (9, "b")], 4), [1, 0]);
    }

    #[test]
    fn the_assignment_is_deterministic_whatever_the_order_of_equal_units() {
        let units: Vec<(u64, String)> = (0..40).map(|i| (100, format!("day={i:02}"))).collect();
        let refs: Vec<(u64, &str)> = units.iter().map(|(b, p)| (*b, p.as_str())).collect();
        let mut reversed = refs.clone();
        reversed.reverse();
        let forward = assign_by_bytes(&refs, 3);
        let backward = assign_by_bytes(&reversed, 3);
        for (i, (_, p)) in refs.iter().enumerate() {
            let j = reversed.iter().position(|(_, q)| q == p).unwrap();
            assert_eq!(forward[i], backward[j], "{p}");
        }
        assert_eq!(forward, assign_by_bytes(&refs, 3), "same input, same plan");
        // Equal units by path: day=00 -> 0, day=01 -> 1, day=02 -> 2, day=03 -> 0, ...
        assert_eq!(&forward[..4], [0, 1, 2, 0]);
    }

    #[test]
    fn a_skewed_organisation_is_balanced_by_bytes() {
        // One account 100 times the size of each of 30 small ones, over 20 days.
        let mut units: Vec<(u64, String)> = Vec::new();
        for day in 0..20 {
            units.push((
                1_000_000,
                format!("aws-account-id=000000000000/day={day:02}"),
            ));
            for a in 1..=30 {
                units.push((
                    10_000 + a * 7,
                    format!("aws-account-id={a:012}/day={day:02}"),
                ));
            }
        }
        let refs: Vec<(u64, &str)> = units.iter().map(|(b, p)| (*b, p.as_str())).collect();
        for shards in [2, 4, 8, 10] {
            let s = skew(&refs, shards);
            assert!(s <= 1.2, "{shards} shards: largest {s:.3} x the mean");
        }
        // Fewer units than make a balance: the largest shard holds the largest unit, no more.
        let lopsided = [(900, "big"), (50, "a"), (50, "b")];
        let k = assign_by_bytes(&lopsided, 2);
        assert_eq!(k, [0, 1, 1]);
    }

    #[test]
    fn a_file_shared_by_two_partitions_counts_once() {
        // With --partition-time start a file delivered on day 2 feeds days 1 and 2 of one unit.
        let a = Path::new("/in/2024/01/02/a.log.gz");
        let b = Path::new("/in/2024/01/03/b.log.gz");
        assert_eq!(distinct([(a, 10), (b, 5), (a, 10)]), (2, 15));
        assert_eq!(distinct([]), (0, 0));
    }

    #[test]
    fn files_round_trip_and_other_formats_or_plans_are_refused() {
        let mut settings = ConvertConfig::new(vec!["/in".into()], "/lake".into());
        settings.threads = 3;
        settings.from = crate::Day::new(2024, 1, 2);
        settings.parse.fields = crate::text::layout::FieldLayout::parse_format("default").ok();
        let summary = PlanSummary {
            format: PLAN_FORMAT.into(),
            id: "p1".into(),
            created: "2026-12-05T10:15:00Z".into(),
            lake: "/lake".into(),
            shard_count: 1,
            settings,
            shards: vec![ShardFigures {
                shard: 0,
                partitions: 1,
                files: 1,
                bytes: 9,
                part: part_name(0),
            }],
            total: Figures {
                partitions: 1,
                files: 1,
                bytes: 9,
            },
            skipped: Vec::new(),
            failed: Vec::new(),
        };
        let bytes = encode_summary(&summary).unwrap();
        let back = decode_summary(&bytes, "p1").unwrap();
        assert_eq!(back.shards, summary.shards);
        assert_eq!(back.settings.threads, 0, "threads are the process's own");
        assert_eq!(back.settings.from, summary.settings.from);
        assert_eq!(
            serde_json::to_value(&back.settings).unwrap(),
            serde_json::to_value(&summary.settings).unwrap()
        );
        assert!(matches!(
            decode_summary(&bytes, "p2"),
            Err(PlanFileError::OtherPlan { .. })
        ));
        let later = String::from_utf8(bytes)
            .unwrap()
            .replace(PLAN_FORMAT, "flowlake-plan/9");
        assert!(decode_summary(later.as_bytes(), "p1")
            .unwrap_err()
            .to_string()
            .contains("flowlake-plan/9"));

        let part = ShardPart {
            format: PLAN_FORMAT.into(),
            id: "p1".into(),
            shard: 0,
            shard_count: 1,
            partitions: vec![PlannedPartition {
                path: "year=2024/month=01/day=02".into(),
                inputs: vec![PlannedInput {
                    path: "s3://logs/2024/01/02/a.log.gz".into(),
                    size: 9,
                    mtime: Some(1),
                    version: Some("\"e1\"".into()),
                    feeds: None,
                }],
            }],
        };
        let gz = encode_part(&part).unwrap();
        assert_eq!(decode_part(&gz, "p1").unwrap(), part);
        assert!(decode_part(b"{}", "p1").is_err(), "not gzip");
    }

    #[test]
    fn a_change_is_named_and_the_same_file_is_not_one() {
        let planned = PlannedInput {
            path: "/in/a.log.gz".into(),
            size: 10,
            mtime: Some(5),
            version: None,
            feeds: None,
        };
        let same = Ok(planned.entry());
        assert_eq!(planned.change(&same), None);
        let grown = Ok(Entry {
            size: 11,
            ..planned.entry()
        });
        assert!(planned.change(&grown).unwrap().contains("size is 11"));
        let touched = Ok(Entry {
            mtime: Some(6),
            ..planned.entry()
        });
        assert!(
            planned.change(&touched).is_some(),
            "no version: the mtime counts"
        );
        let gone = Err(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(planned.change(&gone).as_deref(), Some("it is gone"));
        let tagged = PlannedInput {
            version: Some("a".into()),
            ..planned.clone()
        };
        let retagged = Ok(Entry {
            version: Some("b".into()),
            mtime: Some(99),
            ..planned.entry()
        });
        assert!(tagged.change(&retagged).unwrap().contains("ETag is b"));
        let same_tag = Ok(Entry {
            version: Some("a".into()),
            mtime: Some(99),
            ..planned.entry()
        });
        assert_eq!(
            tagged.change(&same_tag),
            None,
            "an ETag wins over the mtime"
        );
    }

    #[test]
    fn ids_are_new_each_time_and_safe_as_folder_names() {
        let (a, created) = new_plan_id();
        let (b, _) = new_plan_id();
        assert_ne!(a, b);
        assert!(is_plan_id(&a), "{a}");
        assert_eq!(created.len(), "2026-12-05T10:15:00Z".len());
        assert_eq!(&a[..8], created[..10].replace('-', ""));
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(65)] {
            assert!(!is_plan_id(bad), "{bad:?}");
        }
    }
}
