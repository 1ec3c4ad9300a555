//! Values as AWS writes them, appended to a line buffer without allocating: decimal integers, `-` for
//! a missing value, IPv4 and RFC 5952 IPv6 addresses, and the 17 hex digits of resource ids.

use super::rng::mix64;
use super::world::Addr;

/// The text of a missing value.
pub(super) const DASH: &[u8] = b"-";

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An AWS resource id: `prefix` (`eni-`, `vpc-`, …), then 17 hex digits derived from `v`.
pub(super) fn push_id(buf: &mut Vec<u8>, prefix: &[u8], v: u64) {
    buf.extend_from_slice(prefix);
    push_hex17(buf, v);
}

/// 17 lowercase hex digits (AWS resource id suffix): one derived nibble, then the 16 of `v`.
fn push_hex17(buf: &mut Vec<u8>, v: u64) {
    buf.push(HEX[(mix64(v) & 0xf) as usize]);
    for shift in (0..16).rev() {
        buf.push(HEX[((v >> (shift * 4)) & 0xf) as usize]);
    }
}

pub(super) fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub(super) fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

pub(super) fn push_opt_u64(buf: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_u64(buf, v),
        None => buf.extend_from_slice(DASH),
    }
}

pub(super) fn push_addr(buf: &mut Vec<u8>, a: Addr) {
    match a {
        Addr::V4(ip) => push_ipv4(buf, ip),
        Addr::V6(ip) => push_ipv6(buf, ip),
    }
}

fn push_ipv4(buf: &mut Vec<u8>, ip: u32) {
    for (i, octet) in ip.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, octet.into());
    }
}

/// RFC 5952 text: lowercase, no leading zeros, longest run (≥ 2) of zero groups as `::`.
fn push_ipv6(buf: &mut Vec<u8>, ip: u128) {
    let groups: [u16; 8] = std::array::from_fn(|i| (ip >> (112 - 16 * i)) as u16);
    let (mut best_start, mut best_len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_start, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        (best_start, best_len) = (8, 0);
    }
    for (i, &g) in groups.iter().enumerate() {
        if i == best_start {
            buf.extend_from_slice(b"::");
        } else if i > best_start && i < best_start + best_len {
            continue;
        } else {
            if i > 0 && i != best_start + best_len {
                buf.push(b':');
            }
            push_hex_group(buf, g);
        }
    }
}

fn push_hex_group(buf: &mut Vec<u8>, g: u16) {
    let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        buf.push(HEX[((g >> (shift * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::rng::Rng;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn address_formatting_matches_std() {
        let mut rng = Rng::new(1);
        let mut samples: Vec<u128> = vec![0, 1, u128::MAX, 1 << 112, (0x2001_0db8 << 96) | 1];
        samples.extend((0..2000).map(|_| {
            let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            // Zero some groups to exercise `::` placement.
            let mask = (0..8).fold(0u128, |m, g| {
                if rng.chance(400) {
                    m
                } else {
                    m | (0xffff << (16 * g))
                }
            });
            r & mask
        }));
        for ip in samples {
            let std_text = Ipv6Addr::from(ip);
            // std prints IPv4-mapped/compatible forms differently; skip those.
            if std_text.to_ipv4_mapped().is_some() || (ip >> 32) == 0 {
                continue;
            }
            let mut buf = Vec::new();
            push_ipv6(&mut buf, ip);
            assert_eq!(String::from_utf8(buf).unwrap(), std_text.to_string());
        }
        for ip in [0u32, 0x0a00_0004, 0xffff_ffff, 0xc0a8_0101] {
            let mut buf = Vec::new();
            push_ipv4(&mut buf, ip);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                Ipv4Addr::from(ip).to_string()
            );
        }
        let mut buf = Vec::new();
        push_i64(&mut buf, -1_234_567);
        buf.push(b' ');
        push_u64(&mut buf, u64::MAX);
        assert_eq!(buf, b"-1234567 18446744073709551615");
    }
}
