//! Parquet's RLE / bit-packing hybrid encoding, for the dictionary keys and definition levels of the
//! string columns the lake writes itself ([`strings`](super::strings)).
//!
//! The format (parquet-format `Encodings.md`): a sequence of runs, each headed by a ULEB128 varint.
//! An RLE run is `count << 1` followed by the repeated value in `ceil(bit_width / 8)` little-endian
//! bytes; a bit-packed run is `groups << 1 | 1` followed by `groups` groups of 8 values, each group
//! `bit_width` bytes, values packed from the least significant bit. The reader knows how many values
//! to take (the page's value count), so the last group may be padded with zeros.

use arrow::buffer::BooleanBuffer;

/// Bit-packed runs are cut at 63 groups (504 values) so that every run header is one byte, as
/// parquet-mr writes them (some readers have assumed it).
const MAX_GROUPS_PER_RUN: usize = 63;

/// Bits needed to hold values `0..=max` (0 for a dictionary of one value, as parquet-rs writes it).
pub fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Appends `values` (each below `2^bit_width`) to `out` in the hybrid encoding: runs of 8 or more
/// equal values as RLE runs, everything else bit-packed.
pub fn encode<T: Copy + Eq + Into<u32>>(values: &[T], bit_width: u8, out: &mut Vec<u8>) {
    debug_assert!(bit_width <= 32);
    let n = values.len();
    // Values from `literal` up to `i` wait to be bit-packed.
    let mut literal = 0;
    let mut i = 0;
    while i < n {
        let value = values[i];
        let mut end = i + 1;
        while end < n && values[end] == value {
            end += 1;
        }
        // A run may only start on a group boundary of the literals before it: those are padded
        // to whole groups with the run's first values.
        let pad = (8 - (i - literal) % 8) % 8;
        if end - i >= pad + 8 {
            bit_pack(&values[literal..i + pad], bit_width, out);
            rle(value.into(), end - i - pad, bit_width, out);
            literal = end;
        }
        i = end;
    }
    bit_pack(&values[literal..], bit_width, out);
}

/// Appends one RLE run: `count` times `value`.
pub fn rle(value: u32, count: usize, bit_width: u8, out: &mut Vec<u8>) {
    varint((count as u64) << 1, out);
    let bytes = usize::from(bit_width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// Bit-packs `values` in runs of at most [`MAX_GROUPS_PER_RUN`] groups; a last partial group is
/// padded with zeros.
fn bit_pack<T: Copy + Into<u32>>(values: &[T], bit_width: u8, out: &mut Vec<u8>) {
    for run in values.chunks(MAX_GROUPS_PER_RUN * 8) {
        let groups = run.len().div_ceil(8);
        varint(((groups as u64) << 1) | 1, out);
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        for group in run.chunks(8) {
            for k in 0..8 {
                let v = group.get(k).map_or(0, |&v| v.into());
                acc |= u64::from(v) << bits;
                bits += u32::from(bit_width);
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
        }
        debug_assert_eq!(bits, 0, "8 values of any width fill whole bytes");
    }
}

/// [`encode`] of values 0 and 1 at width 1 given as bits (value `i` is `bits[i]`, as a page's
/// definition levels are its validity): the same bytes, worked out a run and a byte at a time
/// instead of a value at a time.
pub fn encode_bits(bits: &BooleanBuffer, out: &mut Vec<u8>) {
    let n = bits.len();
    let mut literal = 0;
    // Each maximal run of equal values, as `encode` finds them: the runs of ones and the gaps.
    let mut run = |start: usize, end: usize, value: u32, literal: &mut usize| {
        let pad = (8 - (start - *literal) % 8) % 8;
        if end - start >= pad + 8 {
            bit_pack_bits(bits, *literal, start + pad, out);
            rle(value, end - start - pad, 1, out);
            *literal = end;
        }
    };
    let mut at = 0;
    for (start, end) in bits.set_slices() {
        if start > at {
            run(at, start, 0, &mut literal);
        }
        run(start, end, 1, &mut literal);
        at = end;
    }
    if n > at {
        run(at, n, 0, &mut literal);
    }
    bit_pack_bits(bits, literal, n, out);
}

/// [`bit_pack`] at width 1 of `bits[from..to]`: each group of 8 values is one byte of the bits.
fn bit_pack_bits(bits: &BooleanBuffer, from: usize, to: usize, out: &mut Vec<u8>) {
    let bytes = bits.values();
    // Eight bits from bit `at` of the values (bits past the end are zero).
    let byte_at = |at: usize| {
        let bit = bits.offset() + at;
        let low = u16::from(bytes.get(bit / 8).copied().unwrap_or(0));
        let high = u16::from(bytes.get(bit / 8 + 1).copied().unwrap_or(0));
        ((low | high << 8) >> (bit % 8)) as u8
    };
    let mut at = from;
    while at < to {
        let end = to.min(at + MAX_GROUPS_PER_RUN * 8);
        varint(((((end - at).div_ceil(8)) as u64) << 1) | 1, out);
        while at < end {
            let take = (end - at).min(8);
            let mask = if take == 8 { 0xff } else { (1u8 << take) - 1 };
            out.push(byte_at(at) & mask);
            at += take;
        }
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A decoder for tests: the inverse of [`encode`], `count` values.
#[cfg(test)]
pub fn decode(mut bytes: &[u8], bit_width: u8, count: usize) -> Vec<u32> {
    fn read_varint(bytes: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = bytes[0];
            *bytes = &bytes[1..];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let mut values = Vec::new();
    let width = usize::from(bit_width);
    while values.len() < count {
        let header = read_varint(&mut bytes);
        if header & 1 == 0 {
            let nbytes = width.div_ceil(8);
            let mut buf = [0u8; 4];
            buf[..nbytes].copy_from_slice(&bytes[..nbytes]);
            bytes = &bytes[nbytes..];
            let v = u32::from_le_bytes(buf);
            values.extend(std::iter::repeat_n(v, (header >> 1) as usize));
        } else {
            let n = (header >> 1) as usize * 8;
            let packed = &bytes[..n * width / 8];
            bytes = &bytes[n * width / 8..];
            for k in 0..n {
                let mut v = 0u32;
                for b in 0..width {
                    let bit = k * width + b;
                    v |= u32::from((packed[bit / 8] >> (bit % 8)) & 1) << b;
                }
                values.push(v);
            }
        }
    }
    values.truncate(count);
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths() {
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(2), 2);
        assert_eq!(bit_width(255), 8);
        assert_eq!(bit_width(256), 9);
        assert_eq!(bit_width(u32::MAX), 32);
    }

    #[test]
    fn known_encodings() {
        // Eight 1s of width 1: one RLE run (header 8<<1, one value byte).
        let mut out = Vec::new();
        encode(&[1u8; 8], 1, &mut out);
        assert_eq!(out, [16, 1]);
        // parquet-format's example: 0..8 at width 3 is one bit-packed group.
        out.clear();
        encode(&[0u32, 1, 2, 3, 4, 5, 6, 7], 3, &mut out);
        assert_eq!(out, [3, 0b1000_1000, 0b1100_0110, 0b1111_1010]);
        // Width 0 (a dictionary of one value): a run of 1000 zeros takes a header and no value.
        out.clear();
        encode(&[0u32; 1000], 0, &mut out);
        assert_eq!(out, [0xd0, 0x0f]);
        // Nothing to encode, nothing written.
        out.clear();
        encode::<u32>(&[], 5, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_run_after_odd_literals_starts_on_a_group_boundary() {
        let mut values = vec![1u32, 2, 3];
        values.extend([7; 20]);
        let mut out = Vec::new();
        encode(&values, 3, &mut out);
        // One bit-packed group (3 literals + 5 sevens), then RLE of the other 15 sevens.
        assert_eq!(out[0], 3);
        assert_eq!(&out[4..], [30, 7]);
        assert_eq!(decode(&out, 3, values.len()), values);
    }

    proptest! {
        #[test]
        fn bits_encode_as_their_values_do(
            runs in prop::collection::vec((any::<bool>(), 1usize..40), 0..60),
            noise in prop::collection::vec(any::<bool>(), 0..700),
            offset in 0usize..9,
        ) {
            // Runs and noise (long literal stretches, past one bit-packed run's 504 values), seen
            // through a slice that starts inside a byte.
            let values: Vec<bool> = runs
                .iter()
                .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
                .chain(noise)
                .collect();
            let whole: Vec<bool> = std::iter::repeat_n(true, offset).chain(values.iter().copied()).collect();
            let bits = BooleanBuffer::from(whole).slice(offset, values.len());
            let levels: Vec<u8> = values.iter().map(|&v| u8::from(v)).collect();
            let (mut expected, mut got) = (Vec::new(), Vec::new());
            encode(&levels, 1, &mut expected);
            encode_bits(&bits, &mut got);
            prop_assert_eq!(got, expected);
        }
    }

    proptest! {
        #[test]
        fn decodes_to_the_values(
            width in 0u8..=32,
            runs in prop::collection::vec((any::<u32>(), 1usize..40), 0..60),
        ) {
            let mask = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
            let values: Vec<u32> = runs
                .iter()
                .flat_map(|&(v, n)| std::iter::repeat_n(v & mask, n))
                .collect();
            let mut out = Vec::new();
            encode(&values, width, &mut out);
            prop_assert_eq!(decode(&out, width, values.len()), values);
        }
    }
}
