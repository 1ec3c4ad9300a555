//! The row map codec: which input each row of a partition came from: runs of (input, rows) over the partition's rows
//! (its files in the order its manifest entry lists them), kept in the bookkeeping folder next to its manifest entry, so that a
//! later rebuild can carry over the rows of inputs that have vanished whatever order the rows were
//! written in (`--sort-by` interleaves the inputs' rows).
//!
//! Stored as `rows/<partition>/<hash>.bin`, named by the FNV-1a hash of its bytes (a new map never
//! overwrites the one the current entry names): `flowlake-rows 1\n`, then ZSTD of LEB128 numbers:
//! the count of runs, then each run's input (an index into the entry's `inputs`, or [`NO_INPUT`])
//! and rows.

use std::io::Read;

/// What is wrong with a row map, or with the row ranges an older entry records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowMapError {
    #[error("not a flowlake row map (or a newer version)")]
    Foreign,
    #[error("damaged ({0})")]
    Damaged(String),
    #[error("its row map is damaged (row counts overflow)")]
    Overflow,
    #[error("its row map names an input its entry does not list")]
    UnknownInput,
    #[error("its row map covers {mapped} rows and its files hold {total}")]
    Covers { mapped: u64, total: u64 },
    #[error("its row map gives input {input} {mapped} rows and its entry {listed}")]
    InputRows {
        input: usize,
        mapped: u64,
        listed: u64,
    },
    #[error("its manifest entry places rows of two inputs at the same place")]
    Overlap,
    #[error("its manifest entry places rows past any file")]
    PastAnyFile,
}

/// The input of rows that came from no input the entry lists (rows of foreign files a compaction
/// merged in).
pub const NO_INPUT: u32 = u32::MAX;

const MAGIC: &[u8] = b"flowlake-rows 1\n";

/// Most runs a map may claim (a damaged count must not allocate the machine away).
const MAX_RUNS: u64 = 1 << 40;

/// Most bytes a map's runs may take once decompressed (a damaged or hostile map must not fill memory).
const MAX_RAW_BYTES: u64 = 1 << 30;

/// Checks `runs` against what the entry says: every run names one of its `inputs` (or
/// [`NO_INPUT`]), the runs cover `total` rows, and each input with a known row count holds exactly
/// that many. The error says what disagrees.
pub fn check(runs: &[(u32, u64)], inputs: &[Option<u64>], total: u64) -> Result<(), RowMapError> {
    let mut per_input = vec![0u64; inputs.len()];
    let mut sum = 0u64;
    for &(input, rows) in runs {
        sum = sum.checked_add(rows).ok_or(RowMapError::Overflow)?;
        if input == NO_INPUT {
            continue;
        }
        let slot = per_input
            .get_mut(input as usize)
            .ok_or(RowMapError::UnknownInput)?;
        *slot += rows;
    }
    if sum != total {
        return Err(RowMapError::Covers { mapped: sum, total });
    }
    for (i, (&mapped, &listed)) in per_input.iter().zip(inputs).enumerate() {
        if listed.is_some_and(|listed| listed != mapped) {
            return Err(RowMapError::InputRows {
                input: i,
                mapped,
                listed: listed.unwrap_or(0),
            });
        }
    }
    Ok(())
}

/// The name of the map with these bytes, for `partition`.
pub fn name(partition: &str, bytes: &[u8]) -> String {
    format!("rows/{partition}/{:016x}.bin", crate::hash::fnv1a(bytes))
}

/// The bytes of a map.
pub fn encode(runs: &[(u32, u64)]) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(runs.len() * 3 + 10);
    leb128(&mut raw, runs.len() as u64);
    for &(input, rows) in runs {
        leb128(&mut raw, u64::from(input));
        leb128(&mut raw, rows);
    }
    let mut out = MAGIC.to_vec();
    out.extend(zstd::bulk::compress(&raw, 3)?);
    Ok(out)
}

/// The runs of a map's bytes; the error says what is wrong with them.
pub fn decode(bytes: &[u8]) -> Result<Vec<(u32, u64)>, RowMapError> {
    let body = bytes.strip_prefix(MAGIC).ok_or(RowMapError::Foreign)?;
    let damaged = |why: &str| RowMapError::Damaged(why.to_string());
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(body)
        .and_then(|d| d.take(MAX_RAW_BYTES + 1).read_to_end(&mut raw))
        .map_err(|e| RowMapError::Damaged(e.to_string()))?;
    if raw.len() as u64 > MAX_RAW_BYTES {
        return Err(damaged("larger than any map"));
    }
    let mut at = 0;
    let mut next = || read_leb128(&raw, &mut at).ok_or(RowMapError::Damaged("cut short".into()));
    let count = next()?;
    if count > MAX_RUNS {
        return Err(damaged("too many runs"));
    }
    let mut runs = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let input = u32::try_from(next()?).map_err(|_| damaged("input number"))?;
        runs.push((input, next()?));
    }
    Ok(runs)
}

/// The runs of a partition's rows from row ranges, as entries before row maps recorded them (each
/// input's `first_row` and `rows`): `(first, rows, owner)` in any order, rows in no range owned by
/// `gap`, up to `total` rows. `Err` when ranges overlap.
pub fn from_ranges<T: Copy>(
    mut ranges: Vec<(u64, u64, T)>,
    gap: T,
    total: u64,
) -> Result<Vec<(T, u64)>, RowMapError> {
    ranges.sort_unstable_by_key(|r| (r.0, r.1));
    let mut runs = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut at = 0u64;
    for (first, rows, owner) in ranges {
        if rows == 0 {
            continue;
        }
        if first < at {
            return Err(RowMapError::Overlap);
        }
        if first > at {
            runs.push((gap, first - at));
        }
        runs.push((owner, rows));
        at = first.checked_add(rows).ok_or(RowMapError::PastAnyFile)?;
    }
    if at < total {
        runs.push((gap, total - at));
    }
    Ok(runs)
}

/// A walk over a partition's rows by runs of (owner, rows).
#[derive(Debug, Clone)]
pub struct Runs<'a, T> {
    runs: &'a [(T, u64)],
    at: usize,
    used: u64,
}

impl<'a, T: Copy> Runs<'a, T> {
    pub fn new(runs: &'a [(T, u64)]) -> Self {
        Runs {
            runs,
            at: 0,
            used: 0,
        }
    }

    /// Walks over the next `rows` rows, calling `f` with each piece's owner and length (`None` for
    /// rows past the end of the runs).
    pub fn take(&mut self, mut rows: u64, mut f: impl FnMut(Option<T>, u64)) {
        while rows > 0 {
            let Some(&(who, len)) = self.runs.get(self.at) else {
                f(None, rows);
                return;
            };
            let n = (len - self.used).min(rows);
            if n > 0 {
                f(Some(who), n);
            }
            self.used += n;
            rows -= n;
            if self.used >= len {
                self.at += 1;
                self.used = 0;
            }
        }
    }
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(raw: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *raw.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_is_checked_against_its_entry_and_files() {
        let runs = [(0, 5), (1, 3), (0, 2), (NO_INPUT, 4)];
        assert_eq!(check(&runs, &[Some(7), Some(3)], 14), Ok(()));
        assert_eq!(check(&runs, &[None, Some(3)], 14), Ok(()));
        // Rows the entry gives another input, rows past the files, an input it does not list.
        assert!(check(&runs, &[Some(6), Some(3)], 14).is_err());
        assert!(check(&runs, &[Some(7), Some(3)], 15).is_err());
        assert!(check(&runs, &[Some(7)], 14).is_err());
        assert!(check(&[(0, u64::MAX), (0, 2)], &[None], 1).is_err());
        // A bomb: a few bytes that inflate past any map.
        let mut encoder = zstd::stream::Encoder::new(MAGIC.to_vec(), 1).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_RAW_BYTES >> 20) {
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert_eq!(
            decode(&bomb),
            Err(RowMapError::Damaged("larger than any map".into()))
        );
    }

    #[test]
    fn maps_read_back_and_damage_is_an_error() {
        let runs = vec![(0, 5), (3, 1), (NO_INPUT, 2), (1, u64::MAX), (0, 1)];
        let bytes = encode(&runs).unwrap();
        assert_eq!(decode(&bytes).unwrap(), runs);
        assert_eq!(decode(&encode(&[]).unwrap()).unwrap(), vec![]);
        assert!(decode(b"something else").is_err());
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        let mut raw = Vec::new();
        leb128(&mut raw, 3);
        leb128(&mut raw, 1);
        let mut cut = MAGIC.to_vec();
        cut.extend(zstd::bulk::compress(&raw, 1).unwrap());
        assert_eq!(decode(&cut), Err(RowMapError::Damaged("cut short".into())));
        let name = name("year=2024/month=01/day=02", &bytes);
        assert_eq!(
            from_ranges(vec![(5, 2, 1), (0, 3, 0), (9, 0, 7)], NO_INPUT, 8),
            Ok(vec![(0, 3), (NO_INPUT, 2), (1, 2), (NO_INPUT, 1)])
        );
        assert!(from_ranges(vec![(0, 3, 0), (2, 2, 1)], NO_INPUT, 8).is_err());
        assert!(from_ranges(vec![(u64::MAX - 1, 3, 0)], NO_INPUT, 8).is_err());
        let mut walk = Runs::new(&runs[..2]);
        let mut seen = Vec::new();
        walk.take(3, |w, n| seen.push((w, n)));
        walk.take(5, |w, n| seen.push((w, n)));
        assert_eq!(seen, [(Some(0), 3), (Some(0), 2), (Some(3), 1), (None, 2)]);
        assert!(name.starts_with("rows/year=2024/month=01/day=02/") && name.ends_with(".bin"));
    }
}
