//! What the generated records hold: realistic values and mixes, and the runs of capture windows a
//! real delivery has.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::date;
use crate::synth::traffic::MAX_PACKETS;
use crate::synth::world::REGIONS;

/// What a sample of records holds, counted while each record is checked.
#[derive(Default)]
struct Sample {
    total: u64,
    /// Records by kind: `nodata`, `skipdata`, `tcp`, `udp`, `icmp`, `ipv6`, `reject`, and for v5
    /// `pkt_differs` and `service`.
    counts: BTreeMap<&'static str, u64>,
    enis: BTreeSet<String>,
    max_packets: u64,
    /// Records whose window starts on the day before the file's.
    previous_day: u64,
}

impl Sample {
    fn count(&mut self, kind: &'static str) {
        *self.counts.entry(kind).or_default() += 1;
    }

    /// The share of the records of `kind`, in percent.
    fn pct(&self, kind: &str) -> f64 {
        *self.counts.get(kind).unwrap_or(&0) as f64 * 100.0 / self.total as f64
    }

    /// Checks and counts one record of a file whose slot starts at `slot` (seconds since the epoch),
    /// on the day starting at `day_start`; `f` gives a field by name.
    fn add<'l>(
        &mut self,
        format: GenFormat,
        slot: i64,
        day_start: i64,
        f: impl Fn(&str) -> &'l str,
    ) {
        self.total += 1;
        let start: i64 = f("start").parse().unwrap();
        let end: i64 = f("end").parse().unwrap();
        assert!(start >= slot - 60 && start < slot + 300, "{start}");
        assert!(end >= start && end <= start + 60, "{start} {end}");
        if start < day_start {
            self.previous_day += 1;
        }
        let id = f("interface-id");
        assert!(id.starts_with("eni-") && is_hex(&id[4..], 17));
        self.enis.insert(id.to_string());
        let acct = f("account-id");
        assert!(is_digits(acct, 12) || acct == "unknown", "{acct}");
        match f("log-status") {
            "OK" => {}
            s @ ("NODATA" | "SKIPDATA") => {
                self.count(if s == "NODATA" { "nodata" } else { "skipdata" });
                for name in [
                    "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
                    "action",
                ] {
                    assert_eq!(f(name), "-", "{name} of a {s} record");
                }
                return;
            }
            s => panic!("bad status {s}"),
        }
        let v4 = self.add_traffic(&f);
        if format == GenFormat::V5 {
            self.add_v5(v4, &f);
        }
    }

    /// Checks and counts the traffic of an `OK` record; true for IPv4.
    fn add_traffic<'l>(&mut self, f: &impl Fn(&str) -> &'l str) -> bool {
        let (src, dst) = (f("srcaddr"), f("dstaddr"));
        let v4 = src.parse::<Ipv4Addr>().is_ok();
        assert!(v4 || src.parse::<Ipv6Addr>().is_ok(), "{src}");
        assert_eq!(v4, dst.parse::<Ipv4Addr>().is_ok(), "{src} {dst}");
        let proto = f("protocol");
        let (sp, dp): (u16, u16) = (f("srcport").parse().unwrap(), f("dstport").parse().unwrap());
        match proto {
            "6" | "17" => {}
            "1" => assert!(v4 && sp == 0 && dp == 0),
            "58" => assert!(!v4 && sp == 0 && dp == 0),
            p => panic!("protocol {p}"),
        }
        self.count(match proto {
            "6" => "tcp",
            "17" => "udp",
            _ => "icmp",
        });
        if !v4 {
            self.count("ipv6");
        }
        let packets: u64 = f("packets").parse().unwrap();
        let bytes: u64 = f("bytes").parse().unwrap();
        assert!((1..=MAX_PACKETS).contains(&packets));
        assert!(
            bytes >= packets * 40 && bytes <= packets * 1500,
            "{packets} {bytes}"
        );
        self.max_packets = self.max_packets.max(packets);
        match f("action") {
            "ACCEPT" => {}
            "REJECT" => self.count("reject"),
            a => panic!("action {a}"),
        }
        v4
    }

    /// Checks and counts the fields of versions 3 to 5 of an `OK` record.
    fn add_v5<'l>(&mut self, v4: bool, f: &impl Fn(&str) -> &'l str) {
        assert_eq!(f("type"), if v4 { "IPv4" } else { "IPv6" });
        let (ps, pd) = (f("pkt-srcaddr"), f("pkt-dstaddr"));
        assert_eq!(ps.parse::<Ipv4Addr>().is_ok(), v4, "{ps}");
        assert_eq!(pd.parse::<Ipv4Addr>().is_ok(), v4, "{pd}");
        if ps != f("srcaddr") || pd != f("dstaddr") {
            self.count("pkt_differs");
        }
        let flags = f("tcp-flags");
        if f("protocol") == "6" {
            assert!(["0", "1", "2", "3", "18", "19", "-"].contains(&flags));
        } else {
            assert_eq!(flags, "0");
        }
        assert!(f("vpc-id").starts_with("vpc-") && is_hex(&f("vpc-id")[4..], 17));
        assert!(f("subnet-id").starts_with("subnet-"));
        let inst = f("instance-id");
        assert!(inst == "-" || (inst.starts_with("i-") && is_hex(&inst[2..], 17)));
        let region = REGIONS.iter().find(|r| r.name == f("region")).unwrap();
        assert!(region.azs.contains(&f("az-id")), "{}", f("az-id"));
        assert_eq!(f("sublocation-type"), "-");
        assert_eq!(f("sublocation-id"), "-");
        let path = f("traffic-path");
        match f("flow-direction") {
            "ingress" => assert_eq!(path, "-"),
            "egress" => assert!(path == "-" || (1..=8).contains(&path.parse::<u8>().unwrap())),
            d => panic!("direction {d}"),
        }
        if f("pkt-src-aws-service") != "-" || f("pkt-dst-aws-service") != "-" {
            self.count("service");
        }
    }
}

/// Statistics over a sample of ~60 000 records of each format.
#[test]
fn records_are_realistic() {
    for format in [GenFormat::V2, GenFormat::V5] {
        let dir = TempDir::new("realism");
        let cfg = GenerateConfig {
            files_per_day: 6,
            lines_per_file: 10_000,
            format,
            ..GenerateConfig::new(dir.0.clone())
        };
        generate(&cfg).unwrap();
        let day_start = date::days_from_civil(2024, 1, 15) * 86_400;
        let mut sample = Sample::default();
        for (path, head, data) in parsed(&dir.0) {
            let col = |name: &str| head.iter().position(|h| h == name).unwrap();
            let stamp = path.split('_').nth(4).unwrap();
            let hh: i64 = stamp[9..11].parse().unwrap();
            let mm: i64 = stamp[11..13].parse().unwrap();
            let slot = day_start + hh * 3600 + mm * 60;
            for line in &data {
                sample.add(format, slot, day_start, |name| line[col(name)].as_str());
            }
        }
        let (pct, counts) = (|k: &str| sample.pct(k), &sample.counts);
        assert_eq!(sample.total, 60_000);
        assert!((0.6..1.5).contains(&pct("nodata")), "{counts:?}");
        assert!((0.05..0.5).contains(&pct("skipdata")), "{counts:?}");
        assert!((10.0..20.0).contains(&pct("reject")), "{counts:?}");
        assert!(
            pct("tcp") > 60.0 && pct("udp") > 8.0 && pct("icmp") > 1.0,
            "{counts:?}"
        );
        assert!(pct("ipv6") > 2.0, "{counts:?}");
        assert!(sample.enis.len() > 150, "{}", sample.enis.len());
        assert!(sample.max_packets > 10_000, "{}", sample.max_packets);
        assert!(
            sample.previous_day > 0,
            "no record starts on the previous day"
        );
        if format == GenFormat::V5 {
            assert!(pct("pkt_differs") > 1.0, "{counts:?}");
            assert!(pct("service") > 5.0, "{counts:?}");
        }
    }
}

/// Records come as real deliveries hold them: runs of one interface's capture window (shared `start`
/// and `end`), windows in time order through the file give or take the jitter, scans from a long tail
/// of scanners that repeat, `NODATA` from a quiet tail of the interfaces and `SKIPDATA` from a few.
#[test]
fn records_come_in_runs_of_capture_windows_like_a_real_delivery() {
    let dir = TempDir::new("runs");
    let cfg = GenerateConfig {
        files_per_day: 4,
        lines_per_file: 10_000,
        enis: 400,
        format: GenFormat::V2,
        ..GenerateConfig::new(dir.0.clone())
    };
    generate(&cfg).unwrap();
    let (mut records, mut runs, mut out_of_order) = (0usize, 0usize, 0usize);
    let mut scanners: BTreeMap<String, usize> = BTreeMap::new();
    let (mut nodata, mut skipdata, mut all) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (_, head, data) in parsed(&dir.0) {
        let col = |name: &str| head.iter().position(|h| h == name).unwrap();
        let (eni, start, end, status, action, src, dst) = (
            col("interface-id"),
            col("start"),
            col("end"),
            col("log-status"),
            col("action"),
            col("srcaddr"),
            col("dstaddr"),
        );
        let mut previous: Option<(&str, &str, &str)> = None;
        let mut latest_start = 0i64;
        for line in &data {
            records += 1;
            all.insert(line[eni].clone());
            match line[status].as_str() {
                "NODATA" => {
                    nodata.insert(line[eni].clone());
                    continue;
                }
                "SKIPDATA" => {
                    skipdata.insert(line[eni].clone());
                    continue;
                }
                _ => {}
            }
            let key = (line[eni].as_str(), line[start].as_str(), line[end].as_str());
            if previous != Some(key) {
                runs += 1;
                let t: i64 = line[start].parse().unwrap();
                // A window starts at most 2 x 20 s before the latest one so far (the jitter).
                if t < latest_start - 40 {
                    out_of_order += 1;
                }
                latest_start = latest_start.max(t);
            }
            previous = Some(key);
            // A scan: a rejected inbound flow from a public IPv4 address to the ENI.
            let public =
                |a: &str| !a.starts_with("10.") && !a.starts_with("192.168.") && !a.contains(':');
            if line[action] == "REJECT" && public(&line[src]) && !public(&line[dst]) {
                *scanners.entry(line[src].clone()).or_default() += 1;
            }
        }
    }
    // Runs of several records each, windows in time order.
    assert!(records / runs >= 4, "{records} records in {runs} runs");
    assert_eq!(out_of_order, 0, "windows out of time order");
    // Scanners repeat: far fewer addresses than scans, the busiest seen dozens of times.
    let scans: usize = scanners.values().sum();
    let busiest = scanners.values().max().copied().unwrap_or(0);
    assert!(
        scans > 1_000 && scanners.len() * 4 < scans * 3 && busiest >= 20,
        "{scans} scans, {} scanners, busiest {busiest}",
        scanners.len()
    );
    // NODATA from the quiet quarter, SKIPDATA from at most three interfaces.
    assert!(
        !nodata.is_empty() && nodata.len() <= 100,
        "{} NODATA interfaces",
        nodata.len()
    );
    assert!(
        !skipdata.is_empty() && skipdata.len() <= 3,
        "{} SKIPDATA interfaces",
        skipdata.len()
    );
    assert!(all.len() > 200, "{} interfaces", all.len());
}
