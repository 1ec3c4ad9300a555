//! The world the traffic happens in: accounts, their region and VPCs, ENIs with fixed addresses, and
//! a pool of public peers.
//!
//! Everything here is a pure function of (seed, indices), hashed with [`key`], so any file can build
//! the account or ENI it needs without shared state: hundreds of ENIs per account with fixed private
//! addresses (some dual-stack) in consistent VPCs, subnets and availability zones, and public peers in
//! AWS-owned or other public ranges, some of them AWS services.

use super::rng::{
    key, mix64, weighted, TAG_ACCOUNT, TAG_ENI, TAG_INSTANCE, TAG_PEER, TAG_REGION, TAG_SUBNET,
    TAG_VPC,
};

/// Number of distinct public peers (shared by all accounts, like the internet).
pub(super) const PEER_POOL: u64 = 5_000;
/// Account ids are `ACCOUNT_BASE + (x mod ACCOUNT_SPAN)`, always 12 digits.
const ACCOUNT_BASE: u64 = 100_000_000_000;
const ACCOUNT_SPAN: u64 = 900_000_000_000;
/// Odd, not a multiple of 3 or 5, hence coprime with `ACCOUNT_SPAN`: distinct accounts get distinct ids.
const ACCOUNT_STRIDE: u64 = 123_456_789_011;
/// IPv4 host slots per /20 subnet used for ENI addresses, and a prime stride coprime with it.
const HOST_SLOTS: u64 = 4_000;
const HOST_STRIDE: u64 = 2_503;

/// An AWS region and its availability zone ids.
pub(super) struct Region {
    pub(super) name: &'static str,
    pub(super) azs: &'static [&'static str],
}

pub(super) const REGIONS: &[Region] = &[
    Region {
        name: "us-east-1",
        azs: &["use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"],
    },
    Region {
        name: "eu-west-1",
        azs: &["euw1-az1", "euw1-az2", "euw1-az3"],
    },
    Region {
        name: "ap-southeast-2",
        azs: &["apse2-az1", "apse2-az2", "apse2-az3"],
    },
    Region {
        name: "us-west-2",
        azs: &["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"],
    },
    Region {
        name: "eu-central-1",
        azs: &["euc1-az1", "euc1-az2", "euc1-az3"],
    },
    Region {
        name: "ap-northeast-1",
        azs: &["apne1-az1", "apne1-az2", "apne1-az4"],
    },
];

/// Service names of `pkt-*-aws-service` for public peers in AWS ranges, weighted.
const AWS_SERVICES: &[(&str, u32)] = &[
    ("S3", 35),
    ("AMAZON", 25),
    ("EC2", 15),
    ("DYNAMODB", 8),
    ("CLOUDFRONT", 6),
    ("API_GATEWAY", 3),
    ("ROUTE53", 2),
    ("ROUTE53_HEALTHCHECKS", 2),
    ("EC2_INSTANCE_CONNECT", 2),
    ("GLOBALACCELERATOR", 1),
    ("CODEBUILD", 1),
];

/// First octets of AWS-owned public IPv4 space.
const AWS_OCTETS: &[u32] = &[3, 13, 15, 18, 34, 35, 44, 52, 54, 99];
/// First octets of other public IPv4 space (no private, CGNAT, link-local or benchmark ranges).
pub(super) const PUBLIC_OCTETS: &[u32] = &[
    8, 17, 20, 23, 31, 37, 40, 45, 64, 66, 72, 77, 81, 89, 91, 104, 108, 142, 151, 157, 162, 173,
    185, 195, 203, 209, 216,
];
/// Top 32 bits of AWS-owned public IPv6 space.
const AWS_V6_PREFIXES: &[u32] = &[0x2600_1f18, 0x2600_1f14, 0x2a05_d018, 0x2406_da1c];
/// Top 32 bits of other public IPv6 space.
pub(super) const PUBLIC_V6_PREFIXES: &[u32] = &[
    0x2a00_1450,
    0x2606_4700,
    0x2620_0100,
    0x2a03_2880,
    0x2404_6800,
];

/// An IPv4 or IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addr {
    V4(u32),
    V6(u128),
}

/// What kind of resource owns an ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EniKind {
    /// EC2 instance.
    Instance,
    /// EC2 instance running pods on secondary IPs (pkt addresses differ).
    EksNode,
    /// NAT gateway (requester-managed; pkt addresses reveal the public side).
    NatGateway,
    /// Load balancer, Lambda, … (requester-managed, no instance id).
    Managed,
    /// Interface endpoint created by an AWS service (`account-id` is `unknown`).
    Endpoint,
}

/// An AWS account and its fixed attributes.
pub(super) struct Account {
    pub(super) seed: u64,
    index: u32,
    pub(super) id: u64,
    pub(super) region: &'static Region,
    vpcs: u64,
}

/// A VPC of an account.
struct Vpc {
    hash: u64,
    /// `a.b.0.0` of its /16.
    ip4_base: u32,
    /// Top 64 bits of its IPv6 /56 (low byte = subnet), if dual-stack.
    ip6_prefix: Option<u64>,
    subnets: u64,
}

/// A network interface and everything the records say about it.
#[derive(Clone, Copy)]
pub(super) struct Eni {
    pub(super) id: u64,
    pub(super) vpc: u64,
    pub(super) vpc_hash: u64,
    pub(super) subnet_hash: u64,
    pub(super) az: &'static str,
    pub(super) ip4: u32,
    pub(super) ip6: Option<u128>,
    pub(super) kind: EniKind,
    pub(super) instance: Option<u64>,
}

/// A public internet host.
pub(super) struct Peer {
    pub(super) ip4: u32,
    pub(super) ip6: u128,
    pub(super) service: Option<&'static str>,
}

impl Account {
    pub(super) fn new(seed: u64, index: u32) -> Self {
        let offset = key(&[seed, TAG_ACCOUNT]) % ACCOUNT_SPAN;
        let id = (u128::from(offset) + u128::from(index) * u128::from(ACCOUNT_STRIDE))
            % u128::from(ACCOUNT_SPAN);
        let h = key(&[seed, TAG_REGION, index.into()]);
        Account {
            seed,
            index,
            id: ACCOUNT_BASE + id as u64,
            region: &REGIONS[(h % REGIONS.len() as u64) as usize],
            vpcs: 1 + (h >> 32) % 3,
        }
    }

    fn vpc(&self, j: u64) -> Vpc {
        let h = key(&[self.seed, TAG_VPC, self.index.into(), j]);
        let b = ((h >> 8) & 0xff) as u32;
        let ip4_base = match h % 10 {
            0..=6 => (10 << 24) | (b << 16),
            7 | 8 => (172 << 24) | ((16 + b % 16) << 16),
            _ => (192 << 24) | (168 << 16),
        };
        let ip6_prefix = (!(h >> 16).is_multiple_of(3)).then_some(
            0x2001_0db8_0000_0000 | (((h >> 24) & 0xffff) << 16) | ((h >> 40) & 0xff) << 8,
        );
        Vpc {
            hash: h,
            ip4_base,
            ip6_prefix,
            subnets: 2 + (h >> 48) % 5,
        }
    }

    /// ENI number `i`: VPC `i mod vpcs`, then subnet, then a unique host slot in the subnet's /20.
    pub(super) fn eni(&self, i: u64) -> Eni {
        let j = i % self.vpcs;
        let vpc = self.vpc(j);
        let rest = i / self.vpcs;
        let (k, q) = (rest % vpc.subnets, rest / vpc.subnets);
        let subnet_hash = key(&[self.seed, TAG_SUBNET, self.index.into(), j, k]);
        let slot = ((q % HOST_SLOTS) * HOST_STRIDE + subnet_hash % HOST_SLOTS) % HOST_SLOTS;
        let ip4 = vpc.ip4_base | (((k * 16 + slot / 250) as u32) << 8) | (4 + (slot % 250) as u32);
        let h = key(&[self.seed, TAG_ENI, self.index.into(), i]);
        let ip6 = vpc
            .ip6_prefix
            .filter(|_| !h.is_multiple_of(3))
            .map(|p| (u128::from(p | k) << 64) | u128::from(mix64(h)));
        let kind = match (h >> 8) % 100 {
            0..=69 => EniKind::Instance,
            70..=79 => EniKind::EksNode,
            80..=85 => EniKind::NatGateway,
            86..=98 => EniKind::Managed,
            _ => EniKind::Endpoint,
        };
        let instance = matches!(kind, EniKind::Instance | EniKind::EksNode)
            .then(|| key(&[self.seed, TAG_INSTANCE, self.index.into(), i]));
        let azs = self.region.azs;
        Eni {
            id: h,
            vpc: j,
            vpc_hash: vpc.hash,
            subnet_hash,
            az: azs[(((vpc.hash >> 32) + k) % azs.len() as u64) as usize],
            ip4,
            ip6,
            kind,
            instance,
        }
    }
}

impl Peer {
    pub(super) fn new(seed: u64, k: u64) -> Self {
        let h = key(&[seed, TAG_PEER, k]);
        let h2 = mix64(h);
        let service = (h % 100 < 30).then(|| weighted(AWS_SERVICES, h >> 8));
        let (octets, v6s) = if service.is_some() {
            (AWS_OCTETS, AWS_V6_PREFIXES)
        } else {
            (PUBLIC_OCTETS, PUBLIC_V6_PREFIXES)
        };
        let first = octets[((h >> 20) % octets.len() as u64) as usize];
        let v6 = v6s[((h >> 28) % v6s.len() as u64) as usize];
        Peer {
            ip4: public_ip4(first, h2),
            ip6: (u128::from(v6) << 96) | u128::from(mix64(h2)) | (u128::from(h2 as u32) << 64),
            service,
        }
    }
}

/// `first.x.y.z` with `z` in 1..=254.
pub(super) fn public_ip4(first: u32, r: u64) -> u32 {
    (first << 24) | (((r >> 8) as u32 & 0xffff) << 8) | (1 + (r % 254) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::DEFAULT_SEED;
    use std::collections::BTreeSet;

    #[test]
    fn accounts_and_eni_addresses_are_distinct() {
        let accounts: BTreeSet<u64> = (0..1000)
            .map(|i| Account::new(DEFAULT_SEED, i).id)
            .collect();
        assert_eq!(accounts.len(), 1000);
        assert!(accounts
            .iter()
            .all(|&a| (ACCOUNT_BASE..ACCOUNT_BASE + ACCOUNT_SPAN).contains(&a)));
        let a = Account::new(DEFAULT_SEED, 0);
        let ips: BTreeSet<u32> = (0..200).map(|i| a.eni(i).ip4).collect();
        let vpcs: BTreeSet<u32> = (0..a.vpcs).map(|j| a.vpc(j).ip4_base).collect();
        // ENI addresses are unique unless two VPCs of the account share a CIDR.
        if vpcs.len() as u64 == a.vpcs {
            assert_eq!(ips.len(), 200);
        }
    }
}
