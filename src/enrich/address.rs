//! Addresses: which are public (worth a lookup: private, shared, loopback, link-local, documentation,
//! multicast and other reserved ranges never are), and a longest-prefix table over IPv4 and IPv6.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address to look up for `ip`, or `None` when it is private or reserved. An IPv4-mapped IPv6
/// address (`::ffff:a.b.c.d`) and one of the NAT64 well-known prefix (`64:ff9b::/96`) stand for their
/// IPv4 address.
pub fn public(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) => public_v4(v4).then_some(ip),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            if bits >> 32 == 0xffff || bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
                let v4 = Ipv4Addr::from(bits as u32);
                return public_v4(v4).then_some(IpAddr::V4(v4));
            }
            public_v6(v6).then_some(ip)
        }
    }
}

/// Not in any IANA special-purpose block that is never globally routed (RFC 6890 and successors).
fn public_v4(ip: Ipv4Addr) -> bool {
    const RESERVED: [(u32, u8); 14] = [
        (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
        (0x0a00_0000, 8),  // 10.0.0.0/8 private
        (0x6440_0000, 10), // 100.64.0.0/10 shared (carrier-grade NAT)
        (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
        (0xa9fe_0000, 16), // 169.254.0.0/16 link-local
        (0xac10_0000, 12), // 172.16.0.0/12 private
        (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
        (0xc000_0200, 24), // 192.0.2.0/24 documentation
        (0xc0a8_0000, 16), // 192.168.0.0/16 private
        (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
        (0xc633_6400, 24), // 198.51.100.0/24 documentation
        (0xcb00_7100, 24), // 203.0.113.0/24 documentation
        (0xe000_0000, 4),  // 224.0.0.0/4 multicast
        (0xf000_0000, 4),  // 240.0.0.0/4 reserved, broadcast
    ];
    let bits = u32::from(ip);
    !RESERVED
        .iter()
        .any(|&(net, len)| bits >> (32 - len) == net >> (32 - len))
}

/// In global unicast (2000::/3) and not in its documentation or IETF protocol blocks.
fn public_v6(ip: Ipv6Addr) -> bool {
    const RESERVED: [(u128, u8); 3] = [
        (0x2001_0000 << 96, 23), // 2001::/23 IETF protocol assignments (Teredo, ...)
        (0x2001_0db8 << 96, 32), // 2001:db8::/32 documentation
        (0x3fff_0000 << 96, 20), // 3fff::/20 documentation
    ];
    let bits = u128::from(ip);
    bits >> 125 == 0b001
        && !RESERVED
            .iter()
            .any(|&(net, len)| bits >> (128 - len) == net >> (128 - len))
}

/// Values by network, answering with the value of the longest prefix that holds an address.
#[derive(Debug, Clone)]
pub struct PrefixTable<T> {
    /// By prefix length, longest first: network bits (host bits zero) -> value.
    v4: Vec<(u8, HashMap<u32, T, ahash::RandomState>)>,
    v6: Vec<(u8, HashMap<u128, T, ahash::RandomState>)>,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        PrefixTable {
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

/// A network: an address and a prefix length valid for its family, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    V4(u32, u8),
    V6(u128, u8),
}

impl Network {
    /// Parses `a.b.c.d/n` or `x:y::/n` (host bits set are cleared).
    pub fn parse(text: &str) -> Option<Network> {
        let (addr, len) = text.trim().split_once('/')?;
        let len: u8 = len.parse().ok()?;
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) if len <= 32 => Some(Network::V4(u32::from(a) & mask32(len), len)),
            IpAddr::V6(a) if len <= 128 => Some(Network::V6(u128::from(a) & mask128(len), len)),
            _ => None,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Network::V4(net, len), IpAddr::V4(a)) => u32::from(a) & mask32(len) == net,
            (Network::V6(net, len), IpAddr::V6(a)) => u128::from(a) & mask128(len) == net,
            _ => false,
        }
    }

    pub fn prefix_len(&self) -> u8 {
        match *self {
            Network::V4(_, len) | Network::V6(_, len) => len,
        }
    }

    /// Its number of addresses, as a float (an IPv6 /0 has 2^128).
    pub fn size(&self) -> f64 {
        match *self {
            Network::V4(_, len) => 2f64.powi(32 - i32::from(len)),
            Network::V6(_, len) => 2f64.powi(128 - i32::from(len)),
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl<T> PrefixTable<T> {
    /// Sets the value of `network` (replacing one it had) and returns a mutable reference to it.
    pub fn entry(&mut self, network: Network, value: impl FnOnce() -> T) -> &mut T {
        type Level<K, T> = HashMap<K, T, ahash::RandomState>;
        fn level<K, T>(levels: &mut Vec<(u8, Level<K, T>)>, len: u8) -> &mut Level<K, T> {
            let at = match levels.binary_search_by(|(l, _)| len.cmp(l)) {
                Ok(at) => at,
                Err(at) => {
                    levels.insert(at, (len, HashMap::default()));
                    at
                }
            };
            &mut levels[at].1
        }
        match network {
            Network::V4(net, len) => level(&mut self.v4, len).entry(net).or_insert_with(value),
            Network::V6(net, len) => level(&mut self.v6, len).entry(net).or_insert_with(value),
        }
    }

    /// The value of the longest prefix holding `ip`, with that prefix's length.
    pub fn longest(&self, ip: IpAddr) -> Option<(u8, &T)> {
        self.holding(ip).next()
    }

    /// The values of every prefix holding `ip`, longest first, with their lengths.
    pub fn holding(&self, ip: IpAddr) -> Box<dyn Iterator<Item = (u8, &T)> + '_> {
        match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                Box::new(
                    self.v4.iter().filter_map(move |(len, m)| {
                        m.get(&(bits & mask32(*len))).map(|v| (*len, v))
                    }),
                )
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                Box::new(
                    self.v6.iter().filter_map(move |(len, m)| {
                        m.get(&(bits & mask128(*len))).map(|v| (*len, v))
                    }),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_reserved_addresses_are_not_looked_up() {
        for s in [
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.251",
            "192.0.2.7",
            "198.51.100.1",
            "203.0.113.9",
            "198.19.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "2001:0:1::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert_eq!(public(ip(s)), None, "{s}");
        }
        for s in [
            "52.95.128.179",
            "172.32.0.1",
            "8.8.8.8",
            "2600:1f18::1",
            "2a02:cf40::",
        ] {
            assert_eq!(public(ip(s)), Some(ip(s)), "{s}");
        }
        assert_eq!(public(ip("::ffff:81.2.69.142")), Some(ip("81.2.69.142")));
        assert_eq!(public(ip("64:ff9b::5102:458e")), Some(ip("81.2.69.142")));
    }

    #[test]
    fn the_longest_prefix_answers() {
        let mut t = PrefixTable::default();
        for (net, v) in [
            ("10.0.0.0/8", 1),
            ("10.1.0.0/16", 2),
            ("10.1.2.3/32", 3),
            ("0.0.0.0/0", 0),
        ] {
            *t.entry(Network::parse(net).unwrap(), || 0) = v;
        }
        *t.entry(Network::parse("2600:1f00::/24").unwrap(), || 0) = 6;
        assert_eq!(t.longest(ip("10.1.2.3")), Some((32, &3)));
        assert_eq!(t.longest(ip("10.1.2.4")), Some((16, &2)));
        assert_eq!(t.longest(ip("10.2.0.0")), Some((8, &1)));
        assert_eq!(t.longest(ip("11.0.0.0")), Some((0, &0)));
        assert_eq!(t.longest(ip("2600:1fff::1")), Some((24, &6)));
        assert_eq!(t.longest(ip("2601::1")), None);
        assert_eq!(Network::parse("10.1.2.3/8"), Network::parse("10.0.0.0/8"));
        assert_eq!(Network::parse("10.0.0.0/33"), None);
        assert_eq!(Network::parse("10.0.0.0"), None);
    }
}
