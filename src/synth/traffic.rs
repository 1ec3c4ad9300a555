//! Traffic: the records of one file, drawn from one [`Rng`].
//!
//! Each record is an ENI of the account (a few busy, a long quiet tail) talking to another ENI, an
//! on-premises host or a public peer: TCP/UDP/ICMP/ICMPv6 with well-known service ports and ephemeral
//! client ports, heavy-tailed packet counts, ~15 % `REJECT` (mostly port scans), ~1 % `NODATA` and
//! ~0.2 % `SKIPDATA`, plus what the version 5 fields say about it: `tcp-flags`, NAT/EKS-style packet
//! addresses, AWS service names, direction and `traffic-path`. A [`Record`] holds every value any
//! format may write; `formats` decides which ones a line shows.
//!
//! Records come the way a real delivery holds them (`samples/cribl-real-capture-v2-header.log`): in
//! runs of one ENI's capture window (its records share `start` and `end`), the windows in roughly
//! time order through the file's 5 minutes; port scans from a long tail of internet scanners (a few
//! seen all day, most once); `NODATA` from the quiet tail of the ENIs and `SKIPDATA` from a few
//! troubled ones, not from any ENI at random.

use super::rng::Rng;
use super::world::{
    public_ip4, Account, Addr, Eni, EniKind, Peer, PEER_POOL, PUBLIC_OCTETS, PUBLIC_V6_PREFIXES,
};

/// How far before its file's slot a record's `start` may lie.
const START_LEAD_SECS: u64 = 60;
/// Length of one S3 delivery slot (AWS publishes files at 5-minute intervals): the traffic of one
/// file.
pub(super) const SLOT_SECS: i64 = 300;
/// Longest flow duration (`end - start`) within one aggregation interval.
const MAX_FLOW_SECS: u64 = 60;
/// Cap of the heavy-tailed packet count.
pub(super) const MAX_PACKETS: u64 = 1_000_000;

/// Internet scanners: scans come from the first ones far more often than from the rest.
const SCANNERS: u64 = 50_000;
/// Longest run of records of one ENI's capture window.
const MAX_RUN: u64 = 64;
/// How far a window's start may stray from its place in the file's time order.
const WINDOW_JITTER_SECS: u64 = 20;

// Rates, in units of 1/10 000 of all lines.
const NODATA_RATE: u64 = 100;
const SKIPDATA_RATE: u64 = 20;
const REJECT_RATE: u64 = 1_500;

/// Service ports of TCP flows, weighted.
const TCP_PORTS: &[(u16, u32)] = &[
    (443, 40),
    (80, 10),
    (22, 6),
    (5432, 6),
    (3306, 5),
    (8080, 5),
    (6379, 4),
    (9092, 3),
    (3389, 3),
    (8443, 3),
    (2049, 3),
    (9200, 2),
    (27017, 2),
    (1433, 2),
    (445, 1),
    (25, 1),
    (11211, 1),
];
/// Service ports of UDP flows, weighted.
const UDP_PORTS: &[(u16, u32)] = &[
    (53, 60),
    (123, 20),
    (443, 6),
    (161, 3),
    (500, 3),
    (4500, 3),
    (514, 2),
    (1194, 1),
    (51820, 1),
    (137, 1),
];
/// Destination ports of rejected scans, weighted.
const SCAN_PORTS: &[(u16, u32)] = &[
    (22, 25),
    (3389, 15),
    (23, 10),
    (445, 10),
    (80, 8),
    (443, 6),
    (8080, 5),
    (1433, 4),
    (3306, 4),
    (21, 3),
    (5900, 3),
    (6379, 3),
    (9200, 2),
    (25, 2),
];
/// `tcp-flags` values of ordinary TCP flows, weighted (FIN 1, SYN 2, SYN-ACK 18, OR-ed).
const TCP_FLAGS: &[(u8, u32)] = &[(0, 25), (1, 10), (2, 10), (3, 20), (18, 10), (19, 25)];

/// The `log-status` of a record: traffic, or an interval without traffic (NODATA) or with records
/// AWS could not capture (SKIPDATA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    NoData,
    SkipData,
}

/// The far end of a flow, as seen from the ENI.
struct Remote {
    addr: Addr,
    service: Option<&'static str>,
    /// `traffic-path` if the flow is egress.
    path: u8,
    private: bool,
}

/// One generated record (fields not in the output format are simply not written).
pub(super) struct Record {
    pub(super) status: Status,
    pub(super) eni: Eni,
    pub(super) src: Addr,
    pub(super) dst: Addr,
    pub(super) pkt_src: Addr,
    pub(super) pkt_dst: Addr,
    pub(super) src_service: Option<&'static str>,
    pub(super) dst_service: Option<&'static str>,
    pub(super) srcport: u16,
    pub(super) dstport: u16,
    pub(super) protocol: u8,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) reject: bool,
    pub(super) tcp_flags: Option<u8>,
    pub(super) egress: bool,
    pub(super) traffic_path: Option<u8>,
}

/// One ENI's capture window: the records of a run share the interface and the times.
struct Run {
    eni: Eni,
    left: u64,
    start: i64,
    end: i64,
}

/// Generates the records of one file.
pub(super) struct Traffic {
    rng: Rng,
    account: Account,
    enis: u64,
    slot_start: i64,
    /// Records the file will hold (to pace the windows through the slot), and records so far.
    lines: u64,
    made: u64,
    run: Option<Run>,
}

impl Traffic {
    /// The `lines` records of `account`'s first `enis` interfaces for the 5-minute slot starting at
    /// `slot_start`.
    pub(super) fn new(rng: Rng, account: Account, enis: u64, slot_start: i64, lines: u64) -> Self {
        Traffic {
            rng,
            account,
            enis: enis.max(1),
            slot_start,
            lines: lines.max(1),
            made: 0,
            run: None,
        }
    }

    /// Seconds into the file's window (from a minute before its slot to the slot's end) that the
    /// record being made has reached: the windows advance through it as the file fills.
    fn clock(&self) -> u64 {
        (START_LEAD_SECS + SLOT_SECS as u64) * self.made.min(self.lines) / self.lines
    }

    /// The next record.
    pub(super) fn record(&mut self) -> Record {
        self.made += 1;
        let roll = self.rng.below(10_000);
        if roll < NODATA_RATE {
            // An ENI of the quiet tail (the last quarter).
            let quiet = self.enis - 1 - self.rng.skewed(self.enis.div_ceil(4));
            return self.empty(self.account.eni(quiet), Status::NoData);
        } else if roll < NODATA_RATE + SKIPDATA_RATE {
            // One of the few ENIs whose capture has trouble.
            let troubled = self.enis - 1 - self.rng.below(self.enis.min(3));
            return self.empty(self.account.eni(troubled), Status::SkipData);
        }
        let eni = self.next_in_run();
        if roll < NODATA_RATE + SKIPDATA_RATE + REJECT_RATE {
            if self.rng.chance(800) {
                self.scan(eni)
            } else {
                let mut r = self.flow(eni);
                r.reject = true;
                r
            }
        } else {
            self.flow(eni)
        }
    }

    /// The ENI of the next record: the current run's, or a new run's (a busy ENI, its window at
    /// the file's clock give or take [`WINDOW_JITTER_SECS`], up to [`MAX_RUN`] records, longer for
    /// the busier ENIs).
    fn next_in_run(&mut self) -> Eni {
        if let Some(run) = self.run.as_mut().filter(|r| r.left > 0) {
            run.left -= 1;
            return run.eni;
        }
        let index = self.rng.skewed(self.enis);
        let busy = index < self.enis.div_ceil(10);
        let left = 1 + self.rng.below(if busy { MAX_RUN } else { MAX_RUN / 8 });
        let window = START_LEAD_SECS + SLOT_SECS as u64;
        let at = (self.clock() + self.rng.below(2 * WINDOW_JITTER_SECS + 1))
            .saturating_sub(WINDOW_JITTER_SECS)
            .min(window - 1);
        let start = self.slot_start - START_LEAD_SECS as i64 + at as i64;
        let end = start + self.rng.below(MAX_FLOW_SECS + 1) as i64;
        let eni = self.account.eni(index);
        self.run = Some(Run {
            eni,
            left: left - 1,
            start,
            end,
        });
        eni
    }

    /// `(start, end)` of a flow: its run's window.
    fn times(&mut self) -> (i64, i64) {
        match &self.run {
            Some(run) => (run.start, run.end),
            None => {
                let start = self.slot_start - START_LEAD_SECS as i64
                    + self.rng.below(START_LEAD_SECS + SLOT_SECS as u64) as i64;
                (start, start + self.rng.below(MAX_FLOW_SECS + 1) as i64)
            }
        }
    }

    /// A NODATA or SKIPDATA line: only the interface and an interval-like start/end, at the file's
    /// clock.
    fn empty(&mut self, eni: Eni, status: Status) -> Record {
        let start = self.slot_start - START_LEAD_SECS as i64
            + self.clock().min(SLOT_SECS as u64 - 1) as i64;
        let end = start + 50 + self.rng.below(11) as i64;
        let none = Addr::V4(0);
        Record {
            status,
            eni,
            src: none,
            dst: none,
            pkt_src: none,
            pkt_dst: none,
            src_service: None,
            dst_service: None,
            srcport: 0,
            dstport: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            start,
            end,
            reject: false,
            tcp_flags: None,
            egress: false,
            traffic_path: None,
        }
    }

    /// A rejected inbound probe from an internet scanner (a long tail: the first scanners of the pool
    /// probe all day, most of the others once).
    fn scan(&mut self, eni: Eni) -> Record {
        // Scanner `i` with probability (i / SCANNERS)^(1/4) of a lower one: a few seen all day.
        let u = self.rng.next_u64() >> 32;
        let u2 = (u * u) >> 32;
        let u4 = (u2 * u2) >> 32;
        let scanner = (u4 * SCANNERS) >> 32;
        let r = super::rng::mix64(0x5ca0_0000_0000 + scanner);
        let first = PUBLIC_OCTETS[(r % PUBLIC_OCTETS.len() as u64) as usize];
        let (src, dst) = match eni.ip6 {
            Some(ip6) if self.rng.chance(100) => {
                let prefix = PUBLIC_V6_PREFIXES[(r >> 40) as usize % PUBLIC_V6_PREFIXES.len()];
                let host = u128::from(super::rng::mix64(r)) | (u128::from(r as u32) << 64);
                (Addr::V6((u128::from(prefix) << 96) | host), Addr::V6(ip6))
            }
            _ => (Addr::V4(public_ip4(first, r >> 8)), Addr::V4(eni.ip4)),
        };
        let tcp = self.rng.chance(900);
        let dstport = if self.rng.chance(150) {
            1 + self.rng.below(65_535) as u16
        } else {
            self.rng.pick(SCAN_PORTS)
        };
        let packets = 1 + self.rng.below(3);
        let (start, end) = self.times();
        Record {
            status: Status::Ok,
            eni,
            src,
            dst,
            pkt_src: src,
            pkt_dst: dst,
            src_service: None,
            dst_service: None,
            srcport: self.ephemeral_port(),
            dstport,
            protocol: if tcp { 6 } else { 17 },
            packets,
            bytes: packets
                * if tcp {
                    40 + 4 * self.rng.below(6)
                } else {
                    60 + self.rng.below(200)
                },
            start,
            end,
            reject: true,
            tcp_flags: Some(if tcp { 2 } else { 0 }),
            egress: false,
            traffic_path: None,
        }
    }

    /// An ordinary flow between the ENI and a remote host, in either direction and role.
    fn flow(&mut self, eni: Eni) -> Record {
        let v6 = eni.ip6.is_some() && self.rng.chance(300);
        let protocol = self.protocol(v6);
        let icmp = protocol == 1 || protocol == 58;
        let service_port = match protocol {
            6 => self.rng.pick(TCP_PORTS),
            17 => self.rng.pick(UDP_PORTS),
            _ => 0,
        };
        let client_port = if icmp { 0 } else { self.ephemeral_port() };
        let remote = self.remote(&eni, v6);
        let local = match (v6, eni.ip6) {
            (true, Some(ip6)) => Addr::V6(ip6),
            _ => Addr::V4(eni.ip4),
        };
        let (pkt_local, local_service) = self.packet_local(&eni, local, remote.private);
        let egress = self.rng.chance(500);
        let eni_is_client = self.rng.chance(600);
        let (local_port, remote_port) = if eni_is_client {
            (client_port, service_port)
        } else {
            (service_port, client_port)
        };
        let (packets, per_packet) = self.volume(protocol, service_port);
        let (start, end) = self.times();
        let (src, dst, pkt_src, pkt_dst, srcport, dstport, src_service, dst_service) = if egress {
            let (ls, rs) = (local_service, remote.service);
            (
                local,
                remote.addr,
                pkt_local,
                remote.addr,
                local_port,
                remote_port,
                ls,
                rs,
            )
        } else {
            let (rs, ls) = (remote.service, local_service);
            (
                remote.addr,
                local,
                remote.addr,
                pkt_local,
                remote_port,
                local_port,
                rs,
                ls,
            )
        };
        let tcp_flags = if protocol != 6 {
            Some(0)
        } else if self.rng.chance(1) {
            None
        } else {
            Some(self.rng.pick(TCP_FLAGS))
        };
        let traffic_path = (egress && !self.rng.chance(20)).then_some(remote.path);
        Record {
            status: Status::Ok,
            eni,
            src,
            dst,
            pkt_src,
            pkt_dst,
            src_service,
            dst_service,
            srcport,
            dstport,
            protocol,
            packets,
            bytes: packets * per_packet,
            start,
            end,
            reject: false,
            tcp_flags,
            egress,
            traffic_path,
        }
    }

    fn protocol(&mut self, v6: bool) -> u8 {
        let roll = self.rng.below(100);
        match (v6, roll) {
            (_, 0..=79) => 6,
            (_, 80..=94) => 17,
            (false, _) => 1,
            (true, _) => 58,
        }
    }

    fn ephemeral_port(&mut self) -> u16 {
        if self.rng.chance(700) {
            32_768 + self.rng.below(28_232) as u16 // Linux
        } else {
            49_152 + self.rng.below(16_384) as u16 // Windows
        }
    }

    /// `(packets, bytes per packet)` for a flow.
    fn volume(&mut self, protocol: u8, service_port: u16) -> (u64, u64) {
        match (protocol, service_port) {
            (1 | 58, _) => (1 + self.rng.below(10), 64 + self.rng.below(41)),
            (17, 53 | 123) => (1 + self.rng.below(4), 60 + self.rng.below(450)),
            (17, _) => (self.rng.pareto(MAX_PACKETS), 60 + self.rng.below(1_141)),
            _ => (self.rng.pareto(MAX_PACKETS), 40 + self.rng.below(1_461)),
        }
    }

    /// Picks the far end: another ENI of the account, an on-premises host, or a public host.
    fn remote(&mut self, eni: &Eni, v6: bool) -> Remote {
        let roll = self.rng.below(100);
        if roll < 40 {
            let other = self.account.eni(self.rng.skewed(self.enis));
            let addr = match (v6, other.ip6, eni.ip6) {
                (false, _, _) => Addr::V4(other.ip4),
                (true, Some(ip6), _) => Addr::V6(ip6),
                (true, None, Some(own)) => Addr::V6(own ^ u128::from(self.rng.next_u64())),
                (true, None, None) => Addr::V4(other.ip4),
            };
            let path = if other.vpc == eni.vpc {
                1
            } else if self.rng.chance(800) {
                4
            } else {
                5
            };
            Remote {
                addr,
                service: None,
                path,
                private: true,
            }
        } else if roll < 45 {
            let r = self.rng.next_u64();
            let addr = if v6 {
                Addr::V6((0xfd00_u128 << 112) | u128::from(r))
            } else {
                Addr::V4((192 << 24) | (168 << 16) | ((r as u32) & 0xffff))
            };
            Remote {
                addr,
                service: None,
                path: 3,
                private: true,
            }
        } else {
            let peer = Peer::new(self.account.seed, self.rng.skewed(PEER_POOL));
            let gateway_endpoint = matches!(peer.service, Some("S3" | "DYNAMODB"));
            let path = match (gateway_endpoint, self.rng.chance(500)) {
                (true, true) => 7,
                (false, true) => 8,
                (_, false) => 2,
            };
            Remote {
                addr: if v6 {
                    Addr::V6(peer.ip6)
                } else {
                    Addr::V4(peer.ip4)
                },
                service: peer.service,
                path,
                private: false,
            }
        }
    }

    /// The packet-level address on the ENI's side (`pkt-*addr`) and its AWS service, if any:
    /// a pod IP for EKS nodes, the real public host behind a NAT gateway, else the ENI's own address.
    fn packet_local(
        &mut self,
        eni: &Eni,
        local: Addr,
        remote_private: bool,
    ) -> (Addr, Option<&'static str>) {
        match (eni.kind, local) {
            (EniKind::EksNode, Addr::V4(ip)) if self.rng.chance(600) => (
                Addr::V4(ip.wrapping_add(1 + self.rng.below(30) as u32)),
                None,
            ),
            (EniKind::NatGateway, Addr::V4(_)) if remote_private => {
                let peer = Peer::new(self.account.seed, self.rng.skewed(PEER_POOL));
                (Addr::V4(peer.ip4), peer.service)
            }
            _ => (local, None),
        }
    }
}
