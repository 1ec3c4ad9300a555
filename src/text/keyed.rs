//! A string column of a batch as it is parsed: a key per row into the batch's distinct values, each
//! value of the file buffer hashed once, copied once when it is new and checked for UTF-8 once.
//!
//! Flow log string fields repeat (one account, a few hundred interfaces and addresses, two actions
//! per file): copying every value into an Arrow `StringArray` and hashing it again in the lake's
//! dictionary writer was a third of a conversion's CPU after decompression. [`KeyedStrings`] interns
//! each value where the tokenizer finds it (a value equal to the previous row's costs one comparison,
//! any other one hash probe) and hands over a `Dictionary(UInt32, Utf8)` array, which the lake's
//! writer (`lake/strings.rs`) encodes a distinct value at a time and arrow casts to strings where a
//! consumer wants them (sort, OCSF mapping, enrichment of carried-over rows).

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{DictionaryArray, StringArray, UInt32Array};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::UInt32Type;
use arrow::error::ArrowError;
use hashbrown::HashTable;

use crate::lake::strings::same;

/// No previous value ([`KeyedStrings::last`]).
const NONE: u32 = u32::MAX;

/// One string column of the batch being built (see the module doc).
pub struct KeyedStrings {
    /// Its index in the catalogue (and the lake schema).
    pub catalogue: usize,
    /// One key per row (0 under a NULL).
    keys: Vec<u32>,
    nulls: NullBufferBuilder,
    /// The distinct values end to end: value `k` is `bytes[offsets[k]..offsets[k + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<i32>,
    hashes: Vec<u64>,
    /// From a value's hash to its key.
    table: HashTable<u32>,
    /// The key of the last value pushed ([`NONE`] before the first).
    last: u32,
    seed: u64,
}

/// A value that is not UTF-8 (nothing was appended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

impl KeyedStrings {
    /// A column with room for `rows` rows; `seed` keys its hash (a process-wide random value, so
    /// input cannot be made to collide).
    pub fn new(catalogue: usize, rows: usize, seed: u64) -> Self {
        KeyedStrings {
            catalogue,
            keys: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
            bytes: Vec::new(),
            offsets: vec![0],
            hashes: Vec::new(),
            table: HashTable::new(),
            last: NONE,
            seed,
        }
    }

    #[inline]
    fn value(&self, k: u32) -> &[u8] {
        let k = k as usize;
        &self.bytes[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }

    /// Appends a row holding `value`. A value not seen before in the batch is checked for UTF-8 when
    /// `check_utf8` (the file buffer was not valid UTF-8 as a whole).
    #[inline]
    pub fn push(&mut self, value: &[u8], check_utf8: bool) -> Result<(), NotUtf8> {
        if self.last != NONE && same(self.value(self.last), value) {
            self.keys.push(self.last);
            self.nulls.append_non_null();
            return Ok(());
        }
        let hash = hash(value, self.seed);
        let KeyedStrings {
            table,
            bytes,
            offsets,
            hashes,
            ..
        } = self;
        let found = table.find(hash, |&k| {
            let k = k as usize;
            same(&bytes[offsets[k] as usize..offsets[k + 1] as usize], value)
        });
        let key = match found {
            Some(&key) => key,
            None => {
                if check_utf8 && std::str::from_utf8(value).is_err() {
                    return Err(NotUtf8);
                }
                let key = hashes.len() as u32;
                bytes.extend_from_slice(value);
                offsets.push(bytes.len() as i32);
                hashes.push(hash);
                table.insert_unique(hash, key, |&k| hashes[k as usize]);
                key
            }
        };
        self.last = key;
        self.keys.push(key);
        self.nulls.append_non_null();
        Ok(())
    }

    /// Appends a NULL row.
    #[inline]
    pub fn push_null(&mut self) {
        self.keys.push(0);
        self.nulls.append_null();
    }

    /// Keeps the first `rows` rows (the values the dropped rows added stay, unused: no writer or cast
    /// sees a value no row has).
    pub fn truncate(&mut self, rows: usize) {
        self.keys.truncate(rows);
        self.nulls.truncate(rows);
    }

    /// The rows so far as a dictionary array, and an empty column for the next batch.
    pub fn finish(&mut self) -> Result<DictionaryArray<UInt32Type>, ArrowError> {
        let keys = UInt32Array::new(
            ScalarBuffer::from(std::mem::take(&mut self.keys)),
            self.nulls.finish(),
        );
        let bytes = std::mem::take(&mut self.bytes);
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        self.hashes.clear();
        self.table.clear();
        self.last = NONE;
        if i32::try_from(bytes.len()).is_err() {
            // (Offsets past 2 GiB wrapped: only a batch of 2 GiB of distinct values gets here.)
            return Err(ArrowError::InvalidArgumentError(format!(
                "{} bytes of distinct string values in one batch (at most 2 GiB); use a smaller --batch-rows",
                bytes.len()
            )));
        }
        // Every value was checked, or the whole buffer was UTF-8; `try_new` checks again, once per
        // distinct value.
        let values = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(bytes),
            None,
        )?;
        DictionaryArray::try_new(keys, std::sync::Arc::new(values))
    }
}

/// A fresh random seed for [`KeyedStrings`] hashes.
pub fn random_seed() -> u64 {
    ahash::RandomState::new().hash_one(0x5eed_u64)
}

/// The hash of a value: two overlapping loads and a folded multiply for the short values of flow logs
/// (ids, addresses: 1 to 21 bytes), 16 bytes a step beyond.
#[inline]
fn hash(v: &[u8], seed: u64) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    #[inline]
    fn word(s: &[u8], at: usize) -> u64 {
        <[u8; 8]>::try_from(&s[at..at + 8]).map_or(0, u64::from_le_bytes)
    }
    #[inline]
    fn half(s: &[u8], at: usize) -> u64 {
        <[u8; 4]>::try_from(&s[at..at + 4]).map_or(0, |b| u64::from(u32::from_le_bytes(b)))
    }
    #[inline]
    fn fold(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    }
    let n = v.len();
    let (a, b) = match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(v[0]) | u64::from(v[n / 2]) << 8 | u64::from(v[n - 1]) << 16,
            0,
        ),
        4..=7 => (half(v, 0), half(v, n - 4)),
        8..=16 => (word(v, 0), word(v, n - 8)),
        _ => {
            let mut h = seed;
            let mut at = 0;
            while at + 16 < n {
                h = fold(word(v, at) ^ K0 ^ h, word(v, at + 8) ^ K1);
                at += 16;
            }
            (word(v, n - 16) ^ h, word(v, n - 8))
        }
    };
    fold(a ^ K0 ^ seed ^ (n as u64).rotate_left(32), b ^ K1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use proptest::prelude::*;

    fn rows_of(array: &DictionaryArray<UInt32Type>) -> Vec<Option<String>> {
        let values = array.values().as_string::<i32>();
        array
            .keys()
            .iter()
            .map(|k| k.map(|k| values.value(k as usize).to_string()))
            .collect()
    }

    #[test]
    fn repeated_values_share_a_key_and_nulls_stay_null() {
        let mut c = KeyedStrings::new(0, 4, 7);
        for v in [Some("a"), Some("a"), None, Some("bb"), Some("a"), Some("")] {
            match v {
                Some(v) => c.push(v.as_bytes(), true).unwrap(),
                None => c.push_null(),
            }
        }
        let array = c.finish().unwrap();
        assert_eq!(array.values().len(), 3, "a, bb and the empty string");
        assert_eq!(array.keys().values().to_vec(), vec![0, 0, 0, 1, 0, 2]);
        assert_eq!(array.null_count(), 1);
        let next = c.finish().unwrap();
        assert_eq!((next.len(), next.values().len()), (0, 0));
    }

    #[test]
    fn a_new_value_that_is_not_utf8_appends_nothing() {
        let mut c = KeyedStrings::new(0, 4, 7);
        c.push(b"ok", true).unwrap();
        assert_eq!(c.push(b"\xff\xfe", true), Err(NotUtf8));
        c.push(b"ok", true).unwrap();
        let array = c.finish().unwrap();
        assert_eq!(rows_of(&array), vec![Some("ok".into()), Some("ok".into())]);
    }

    #[test]
    fn truncated_rows_leave_unused_values() {
        let mut c = KeyedStrings::new(0, 4, 7);
        c.push(b"x", true).unwrap();
        c.push(b"y", true).unwrap();
        c.truncate(1);
        c.push(b"y", true).unwrap();
        let array = c.finish().unwrap();
        assert_eq!(rows_of(&array), vec![Some("x".into()), Some("y".into())]);
    }

    proptest! {
        /// Any values (lengths 0 to 40, from a small alphabet so that they repeat and share prefixes
        /// and suffixes) come back as they went in.
        #[test]
        fn rows_come_back_as_pushed(
            rows in prop::collection::vec(prop::option::of(prop::collection::vec(b'a'..b'd', 0..40)), 0..300),
            seed in any::<u64>(),
        ) {
            let mut c = KeyedStrings::new(0, 0, seed);
            for v in &rows {
                match v {
                    Some(v) => c.push(v, false).unwrap(),
                    None => c.push_null(),
                }
            }
            let array = c.finish().unwrap();
            let want: Vec<Option<String>> =
                rows.iter().map(|v| v.as_ref().map(|v| String::from_utf8(v.clone()).unwrap())).collect();
            prop_assert_eq!(rows_of(&array), want);
            // Each distinct value once.
            let values = array.values().as_string::<i32>();
            let mut distinct: Vec<&str> = values.iter().flatten().collect();
            distinct.sort_unstable();
            let n = distinct.len();
            distinct.dedup();
            prop_assert_eq!(distinct.len(), n);
        }
    }
}
