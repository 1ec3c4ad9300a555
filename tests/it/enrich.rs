//! Enrichment (`--enrich`): every value checked against an independent source (IANA's registry list,
//! the TCP flag bits by value, a brute-force scan of `ip-ranges.json`, MaxMind's test databases' source
//! JSON), the lake remembering its set, the data files' versions recorded per partition, bad data files
//! refused before any work, and the enriched lake read through `ddl` and the shipped queries.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::common::*;
use serde_json::{json, Value};

fn enrich_dir() -> PathBuf {
    fixtures().join("enrich")
}

fn ip_ranges() -> String {
    enrich_dir()
        .join("ip-ranges-sample.json")
        .display()
        .to_string()
}

fn country_db() -> String {
    enrich_dir()
        .join("maxmind/GeoIP2-Country-Test.mmdb")
        .display()
        .to_string()
}

fn asn_db() -> String {
    enrich_dir()
        .join("maxmind/GeoLite2-ASN-Test.mmdb")
        .display()
        .to_string()
}

/// Every enrichment, with the test data files.
fn all_flags() -> Vec<String> {
    vec![
        "--enrich".into(),
        "all".into(),
        "--ip-ranges".into(),
        ip_ranges(),
        "--geoip-country".into(),
        country_db(),
        "--geoip-asn".into(),
        asn_db(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A day folder of account 123456789012 with one delivery of `text` (gzipped).
fn delivery(root: &Path, day: &str, name: &str, text: &str) -> PathBuf {
    put(
        root,
        &format!("AWSLogs/123456789012/vpcflowlogs/us-east-1/{day}/{name}.log.gz"),
        &gzip(text.as_bytes()),
    )
}

/// A delivery of `records` (AWS's default format, with its header) in `day` of `root`.
fn records_in(
    root: &Path,
    day: &str,
    name: &str,
    records: impl IntoIterator<Item = V2>,
) -> PathBuf {
    delivery(root, day, name, &format!("{HEADER}{}", v2_lines(records)))
}

/// The TCP flag bits by value (RFC 9293 section 3.1; ECE and CWR: RFC 3168 section 23.2).
const FLAG_VALUES: [(u32, &str); 8] = [
    (0x01, "FIN"),
    (0x02, "SYN"),
    (0x04, "RST"),
    (0x08, "PSH"),
    (0x10, "ACK"),
    (0x20, "URG"),
    (0x40, "ECE"),
    (0x80, "CWR"),
];

/// IANA's keyword of each number in the registry's CSV (`fixtures/enrich/iana-protocol-numbers.csv`);
/// a number with an empty keyword, or none in the file, has no name. The registry's last row, 255, is
/// "Reserved" (not in that copy).
fn iana_keywords() -> BTreeMap<i64, Option<String>> {
    let mut reader =
        csv::Reader::from_path(enrich_dir().join("iana-protocol-numbers.csv")).unwrap();
    let mut names = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        if let Ok(n) = row[0].parse::<i64>() {
            let keyword = row[1].trim();
            names.insert(n, (!keyword.is_empty()).then(|| keyword.to_string()));
        }
    }
    names.insert(255, Some("Reserved".into()));
    names
}

#[test]
fn every_protocol_number_is_named_as_ianas_registry_does_and_every_flag_mask_in_bit_order() {
    let tmp = tempfile::tempdir().unwrap();
    let header =
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
                  bytes start end action log-status tcp-flags\n";
    let mut text = header.to_string();
    for i in 0..256 {
        text.push_str(&format!(
            "3 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 {i} 1 1 1704067200 1704067260 ACCEPT OK {i}\n"
        ));
    }
    text.push_str("3 123456789012 eni-1 - - - - - - - 1704067200 1704067260 - NODATA -\n");
    let input = tmp.path().join("in");
    delivery(&input, "2024/01/01", "all-numbers", &text);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&input], &lake, &["--enrich", "protocol,tcp-flags"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(257));
    assert_eq!(
        report["enrichment"]["enrich"],
        json!(["protocol", "tcp-flags"])
    );
    assert_eq!(report["enrichment"]["data"], json!([]));
    let rows = duckdb(
        &lake,
        "SELECT protocol, protocol_name, tcp_flags, tcp_flags_names FROM {lake} \
         ORDER BY protocol NULLS LAST",
    );
    assert_eq!(rows.len(), 257);
    let iana = iana_keywords();
    assert!(
        iana.len() >= 149,
        "the registry list was read: {}",
        iana.len()
    );
    let mut named = 0;
    for (i, row) in rows.iter().take(256).enumerate() {
        let n = i as i64;
        assert_eq!(row[0], json!(n));
        let want = iana.get(&n).cloned().flatten();
        named += usize::from(want.is_some());
        assert_eq!(row[1], json!(want), "protocol {n}");
        assert_eq!(row[2], json!(n));
        let flags: Vec<&str> = FLAG_VALUES
            .iter()
            .filter(|(bit, _)| (n as u32) & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        assert_eq!(row[3], json!(flags), "tcp-flags {n}");
    }
    assert!(named > 140, "{named} numbers have a keyword");
    // pyarrow reads the same values and the Parquet types: a list of strings, INT32 protocol.
    let files: Vec<String> = parquet_files(&lake)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let read = py(&format!(
        "import json, pyarrow.parquet as pq\nt = pq.read_table({files:?}[0])\n\
         rows = sorted(zip(t['protocol'].to_pylist(), t['tcp_flags_names'].to_pylist()), key=lambda r: (r[0] is None, r[0]))\n\
         print(json.dumps([str(t.schema.field('tcp_flags_names').type), str(t.schema.field('protocol_name').type), rows[19], rows[0], rows[256]]))"
    ));
    assert_eq!(
        read,
        json!([
            "list<element: string>",
            "string",
            [19, ["FIN", "SYN", "ACK"]],
            [0, []],
            [null, null]
        ])
    );
    assert_eq!(rows[6][1], json!("TCP"));
    assert_eq!(rows[58][1], json!("IPv6-ICMP"));
    assert_eq!(rows[19][3], json!(["FIN", "SYN", "ACK"]));
    assert_eq!(
        rows[0][3],
        json!([]),
        "no flag set: an empty list, not NULL"
    );
    // NODATA: no protocol and no flags, so neither name.
    assert_eq!(
        rows[256],
        vec![Value::Null, Value::Null, Value::Null, Value::Null]
    );
}

/// An IP network as the tests' own scan reads it: address bits, prefix length, IPv4 or not.
#[derive(Clone, Copy, Debug)]
struct Net {
    bits: u128,
    len: u32,
    v4: bool,
}

impl Net {
    /// `a.b.c.d/n`, `x::/n`, and MaxMind's IPv4-compatible `::a.b.c.d/n` (n >= 96) as IPv4.
    fn parse(text: &str) -> Net {
        let (addr, len) = text.split_once('/').unwrap();
        let len: u32 = len.parse().unwrap();
        match addr.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => Net {
                bits: u128::from(u32::from(a)),
                len,
                v4: true,
            },
            IpAddr::V6(a) if addr.starts_with("::") && addr.contains('.') => Net {
                bits: u128::from(a) & 0xffff_ffff,
                len: len - 96,
                v4: true,
            },
            IpAddr::V6(a) => Net {
                bits: u128::from(a),
                len,
                v4: false,
            },
        }
    }

    fn width(&self) -> u32 {
        if self.v4 {
            32
        } else {
            128
        }
    }

    fn mask(&self) -> u128 {
        let ones = if self.v4 { u32::MAX as u128 } else { u128::MAX };
        if self.len == 0 {
            0
        } else {
            ones & !((1u128 << (self.width() - self.len)) - 1)
        }
    }

    fn first(&self) -> u128 {
        self.bits & self.mask()
    }

    fn last(&self) -> u128 {
        let ones = if self.v4 { u32::MAX as u128 } else { u128::MAX };
        self.first() | (ones & !self.mask())
    }

    fn holds(&self, v4: bool, bits: u128) -> bool {
        self.v4 == v4 && bits & self.mask() == self.first()
    }

    fn addresses(&self) -> f64 {
        2f64.powi((self.width() - self.len) as i32)
    }
}

fn text_of_ip(v4: bool, bits: u128) -> String {
    if v4 {
        std::net::Ipv4Addr::from(bits as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(bits).to_string()
    }
}

/// Addresses never looked up, by the special-purpose registries (RFC 6890 and later), written out
/// here independently of the code: IPv4 blocks, and for IPv6 anything outside 2000::/3 or in its
/// documentation and protocol-assignment blocks.
fn reserved(v4: bool, bits: u128) -> bool {
    if v4 {
        [
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/3",
        ]
        .iter()
        .any(|n| Net::parse(n).holds(true, bits))
    } else {
        !Net::parse("2000::/3").holds(false, bits)
            || ["2001::/23", "2001:db8::/32", "3fff::/20"]
                .iter()
                .any(|n| Net::parse(n).holds(false, bits))
    }
}

/// The service and region of an address by scanning every entry of `ip-ranges.json`: the entries of
/// services other than AMAZON that hold it, the longest of their prefixes, and there the service
/// whose ranges cover the fewest addresses (then the first name); AMAZON's longest prefix otherwise.
fn scan_ip_ranges(
    entries: &[(Net, String, String)],
    v4: bool,
    bits: u128,
) -> Option<(String, String)> {
    if reserved(v4, bits) {
        return None;
    }
    let mut cover: BTreeMap<(bool, &str), f64> = BTreeMap::new();
    for (net, _, service) in entries {
        *cover.entry((net.v4, service.as_str())).or_default() += net.addresses();
    }
    let holding: Vec<&(Net, String, String)> = entries
        .iter()
        .filter(|(n, _, _)| n.holds(v4, bits))
        .collect();
    let others: Vec<&&(Net, String, String)> =
        holding.iter().filter(|(_, _, s)| s != "AMAZON").collect();
    let pick = if others.is_empty() {
        holding.iter().max_by_key(|(n, _, _)| n.len).copied()
    } else {
        let longest = others.iter().map(|(n, _, _)| n.len).max().unwrap();
        others
            .iter()
            .filter(|(n, _, _)| n.len == longest)
            .min_by(|a, b| {
                let ca = cover[&(a.0.v4, a.2.as_str())];
                let cb = cover[&(b.0.v4, b.2.as_str())];
                ca.partial_cmp(&cb).unwrap().then(a.2.cmp(&b.2))
            })
            .map(|e| **e)
    };
    pick.map(|(_, region, service)| (service.clone(), region.clone()))
}

/// The value of the longest network of MaxMind source data (`[{network: value}]`) holding an address.
fn scan_maxmind(networks: &[(Net, Value)], v4: bool, bits: u128) -> Option<&Value> {
    if reserved(v4, bits) {
        return None;
    }
    networks
        .iter()
        .filter(|(n, _)| n.holds(v4, bits))
        .max_by_key(|(n, _)| n.len)
        .map(|(_, v)| v)
}

fn maxmind_source(name: &str) -> Vec<(Net, Value)> {
    let path = enrich_dir().join("maxmind").join(name);
    let mut text = String::new();
    let file = std::fs::File::open(&path).unwrap();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    } else {
        std::io::BufReader::new(file)
            .read_to_string(&mut text)
            .unwrap();
    }
    let list: Vec<BTreeMap<String, Value>> = serde_json::from_str(&text).unwrap();
    list.into_iter()
        .flat_map(|m| m.into_iter())
        .map(|(net, v)| (Net::parse(&net), v))
        .collect()
}

#[test]
fn addresses_are_enriched_as_brute_force_scans_of_ip_ranges_and_maxminds_source_data_say() {
    let tmp = tempfile::tempdir().unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(ip_ranges()).unwrap()).unwrap();
    let mut entries = Vec::new();
    for (list, key) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
        for e in file[list].as_array().unwrap() {
            entries.push((
                Net::parse(e[key].as_str().unwrap()),
                e["region"].as_str().unwrap().to_string(),
                e["service"].as_str().unwrap().to_string(),
            ));
        }
    }
    let countries = maxmind_source("GeoIP2-Country-Test.json.gz");
    let systems = maxmind_source("GeoLite2-ASN-Test.json");
    // The edges of every network, and the addresses just outside them; the anchors of the samples.
    let mut addresses: Vec<(bool, u128)> = Vec::new();
    let nets = entries
        .iter()
        .map(|(n, _, _)| *n)
        .chain(countries.iter().map(|(n, _)| *n))
        .chain(systems.iter().map(|(n, _)| *n));
    for n in nets {
        let top = if n.v4 { u32::MAX as u128 } else { u128::MAX };
        addresses.push((n.v4, n.first()));
        addresses.push((n.v4, n.last()));
        addresses.push((n.v4, n.first() + (n.last() - n.first()) / 2));
        if n.first() > 0 {
            addresses.push((n.v4, n.first() - 1));
        }
        if n.last() < top {
            addresses.push((n.v4, n.last() + 1));
        }
    }
    for a in [
        "52.95.128.179",
        "3.5.140.1",
        "13.32.0.1",
        "15.177.0.1",
        "54.239.0.1",
        "10.0.0.1",
    ] {
        let IpAddr::V4(v4) = a.parse::<IpAddr>().unwrap() else {
            unreachable!()
        };
        addresses.push((true, u128::from(u32::from(v4))));
    }
    addresses.sort();
    addresses.dedup();
    let texts: Vec<String> = addresses
        .iter()
        .map(|(v4, b)| text_of_ip(*v4, *b))
        .collect();
    let records = (0..texts.len()).map(|i| V2 {
        srcaddr: texts[i].clone(),
        dstaddr: texts[(i + 1) % texts.len()].clone(),
        srcport: i as u64,
        ..V2::default()
    });
    let input = tmp.path().join("in");
    records_in(&input, "2024/01/01", "addresses", records);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&input], &lake, &strs(&all_flags()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let n = texts.len() as u64;
    assert_eq!(report["rows_written"], json!(n));
    // One lookup per distinct public address (sources and destinations are the same set).
    let public = addresses
        .iter()
        .filter(|(v4, b)| !reserved(*v4, *b))
        .count() as u64;
    assert_eq!(report["enrichment"]["addresses"], json!(2 * n));
    assert_eq!(
        report["enrichment"]["lookups"],
        json!(public),
        "{}",
        report["enrichment"]
    );

    let rows = duckdb(
        &lake,
        "SELECT srcport, src_aws_service, src_aws_region, src_country, src_asn, src_as_org, \
                dst_aws_service, dst_aws_region, dst_country, dst_asn, dst_as_org \
         FROM {lake} ORDER BY srcport",
    );
    assert_eq!(rows.len() as u64, n);
    let (mut services, mut found_countries, mut found_systems) = (0, 0, 0);
    for row in &rows {
        let i = row[0].as_u64().unwrap() as usize;
        for (side, at) in [(1, i), (6, (i + 1) % texts.len())] {
            let (v4, bits) = addresses[at];
            let what = format!("{} ({})", texts[at], if side == 1 { "src" } else { "dst" });
            let service = scan_ip_ranges(&entries, v4, bits);
            services += usize::from(service.is_some());
            assert_eq!(
                (row[side].clone(), row[side + 1].clone()),
                match &service {
                    Some((s, r)) => (json!(s), json!(r)),
                    None => (Value::Null, Value::Null),
                },
                "aws service of {what}"
            );
            let country = scan_maxmind(&countries, v4, bits)
                .and_then(|v| v["country"]["iso_code"].as_str())
                .map(str::to_string);
            found_countries += usize::from(country.is_some());
            assert_eq!(row[side + 2], json!(country), "country of {what}");
            let system = scan_maxmind(&systems, v4, bits);
            found_systems += usize::from(system.is_some());
            let number = system.and_then(|v| v.get("autonomous_system_number").cloned());
            let org = system.and_then(|v| v.get("autonomous_system_organization").cloned());
            assert_eq!(
                row[side + 3],
                number.unwrap_or(Value::Null),
                "ASN of {what}"
            );
            assert_eq!(
                row[side + 4],
                org.unwrap_or(Value::Null),
                "AS org of {what}"
            );
        }
    }
    assert!(
        services > 200 && found_countries > 200 && found_systems > 500,
        "the scans found values to compare: {services} services, {found_countries} countries, \
         {found_systems} systems"
    );
}

/// MaxMind's own published lookups (fixtures/enrich/maxmind/LOOKUPS.md, checked there against the
/// databases with MaxMind's Python reader) for the Country and ASN test databases.
#[test]
fn maxminds_published_lookups_of_the_test_databases_are_the_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let table = std::fs::read_to_string(enrich_dir().join("maxmind/LOOKUPS.md")).unwrap();
    let mut want: BTreeMap<String, (Value, Value, Value)> = BTreeMap::new();
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ip"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [ip, db, _, summary] = cells[..] else {
            continue;
        };
        let summary: Value = serde_json::from_str(summary).unwrap_or(Value::Null);
        let entry = want
            .entry(ip.to_string())
            .or_insert((Value::Null, Value::Null, Value::Null));
        match db {
            "GeoIP2-Country-Test" => entry.0 = summary["country"].clone(),
            "GeoLite2-ASN-Test" => {
                entry.1 = summary["autonomous_system_number"].clone();
                entry.2 = summary["autonomous_system_organization"].clone();
            }
            _ => {}
        }
    }
    assert!(want.len() >= 15, "{want:?}");
    let ips: Vec<&String> = want.keys().collect();
    let records = ips.iter().map(|ip| V2 {
        srcaddr: ip.to_string(),
        action: "REJECT",
        ..V2::default()
    });
    let input = tmp.path().join("in");
    records_in(&input, "2024/01/01", "lookups", records);
    let lake = tmp.path().join("lake");
    let (run, _) = convert(
        &[&input],
        &lake,
        &[
            "--enrich",
            "geo",
            "--geoip-country",
            &country_db(),
            "--geoip-asn",
            &asn_db(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = duckdb(
        &lake,
        "SELECT srcaddr, src_country, src_asn, src_as_org, dst_country, dst_asn FROM {lake}",
    );
    assert_eq!(rows.len(), want.len());
    for row in rows {
        let (country, asn, org) = &want[row[0].as_str().unwrap()];
        assert_eq!(
            (&row[1], &row[2], &row[3]),
            (country, asn, org),
            "{}",
            row[0]
        );
        // The destination, 10.0.1.1, is private: never looked up.
        assert_eq!((&row[4], &row[5]), (&Value::Null, &Value::Null));
    }
    assert_eq!(want["81.2.69.142"].0, json!("GB"));
    assert_eq!(want["89.160.20.112"].1, json!(29518));
}

/// `ip-ranges.json` with another sync token and create date (a newer download).
fn newer_ip_ranges(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(ip_ranges()).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["syncToken"] = json!("1790000000");
    v["createDate"] = json!("2026-09-21-10-00-00");
    let path = dir.join("ip-ranges.json");
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    path
}

fn entries(lake: &Path) -> BTreeMap<String, Value> {
    let manifest = lake.join("_flowlake/manifest");
    walk(&manifest)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let entry: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (entry["partition"].as_str().unwrap().to_string(), entry)
        })
        .collect()
}

/// The versions (`syncToken`s of `--ip-ranges`) each partition's entry records.
fn ranges_versions(lake: &Path) -> BTreeMap<String, String> {
    entries(lake)
        .into_iter()
        .map(|(p, e)| {
            let v = e["enriched_with"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["data"] == "ip-ranges")
                .map(|d| d["version"].as_str().unwrap().to_string())
                .unwrap_or_default();
            (p, v)
        })
        .collect()
}

#[test]
fn the_lake_remembers_its_enrichments_and_each_partition_the_data_files_that_enriched_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let day1 = [V2 {
        dstaddr: "52.95.128.179".into(),
        ..V2::default()
    }];
    records_in(&input, "2024/01/01", "a", day1);
    let lake = tmp.path().join("lake");
    let flags = ["--enrich", "protocol,aws-service", "--ip-ranges"];
    let (run, _) = convert(&[&input], &lake, &[&flags[..], &[&ip_ranges()]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let settings: Value =
        serde_json::from_slice(&std::fs::read(lake.join("_flowlake/lake.json")).unwrap()).unwrap();
    assert_eq!(settings["enrich"], json!(["protocol", "aws-service"]));
    assert_eq!(
        duckdb_one(
            &lake,
            "SELECT dst_aws_service || ' ' || dst_aws_region FROM {lake}"
        ),
        json!("S3 ap-southeast-2")
    );

    // The next night: a newer ip-ranges.json enriches the new day; the first day is left alone.
    let newer = newer_ip_ranges(tmp.path());
    let day2 = [V2 {
        start: 1704153600,
        end: 1704153660,
        ..V2::default()
    }];
    records_in(&input, "2024/01/02", "b", day2);
    let (run, report) = convert(
        &[&input],
        &lake,
        &[&flags[..], &[newer.to_str().unwrap()]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["partitions_unchanged"], json!(1));
    assert_eq!(
        report["enrichment"]["data"][0]["version"],
        json!("1790000000")
    );
    let versions: Vec<String> = ranges_versions(&lake).into_values().collect();
    assert_eq!(versions, ["1784861225", "1790000000"]);
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["enrich"], json!(["protocol", "aws-service"]));
    let listed: Vec<(Value, Value, Value)> = check["enriched_with"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].clone(),
                e["version"].clone(),
                e["partitions"].clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                json!("ip-ranges-sample.json"),
                json!("1784861225"),
                json!(1)
            ),
            (json!("ip-ranges.json"), json!("1790000000"), json!(1)),
        ]
    );

    // Another set of enrichments, or none, is refused: the lake stays as it is.
    let before = entries(&lake);
    for other in [
        vec!["--enrich", "protocol"],
        vec![],
        vec![
            "--enrich",
            "protocol,tcp-flags,aws-service",
            "--ip-ranges",
            newer.to_str().unwrap(),
        ],
    ] {
        let run = convert_expecting_failure(&[&input], &lake, &other);
        assert_eq!(run.code, 1, "{other:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is enriched with protocol,aws-service"),
            "{other:?}: {}",
            run.stderr
        );
    }
    assert_eq!(entries(&lake), before);

    // Asked to, a rebuild enriches history with the newer file.
    let (run, _) = convert(
        &[&input],
        &lake,
        &[&flags[..], &[newer.to_str().unwrap(), "--rebuild"]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let versions: Vec<String> = ranges_versions(&lake).into_values().collect();
    assert_eq!(versions, ["1790000000", "1790000000"]);
}

#[test]
fn a_data_file_that_cannot_serve_its_enrichment_is_a_usage_error_naming_it_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    records_in(&input, "2024/01/01", "a", [V2::default()]);
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let not_json = write("ranges-not-json.json", b"<html>rate limited</html>");
    let wrong_shape = write("ranges-shape.json", br#"{"prefixes": "none"}"#);
    let bad_prefix = write(
        "ranges-prefix.json",
        br#"{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"3.5.0.0/99","region":"r","service":"S3"}]}"#,
    );
    let truncated_db = write(
        "truncated.mmdb",
        &std::fs::read(country_db()).unwrap()[..1000],
    );
    let missing = tmp.path().join("nowhere.json").display().to_string();
    // A FIFO (opening it would wait for a writer) and a device that never ends.
    let fifo = tmp.path().join("ranges.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.display().to_string();
    let dir = tmp.path().display().to_string();
    let (asn, country, ranges) = (asn_db(), country_db(), ip_ranges());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--enrich", "aws-service", "--ip-ranges", &not_json],
            &not_json,
        ),
        (
            vec!["--enrich", "aws-service", "--ip-ranges", &wrong_shape],
            &wrong_shape,
        ),
        (
            vec!["--enrich", "aws-service", "--ip-ranges", &bad_prefix],
            "3.5.0.0/99",
        ),
        (
            vec!["--enrich", "aws-service", "--ip-ranges", &missing],
            &missing,
        ),
        (vec!["--enrich", "aws-service", "--ip-ranges", &dir], &dir),
        (
            vec!["--enrich", "aws-service", "--ip-ranges", &fifo],
            "not a regular file",
        ),
        (
            vec!["--enrich", "geo", "--geoip-asn", "/dev/zero"],
            "/dev/zero: not a regular file",
        ),
        (
            vec!["--enrich", "geo", "--geoip-country", &truncated_db],
            &truncated_db,
        ),
        (
            vec!["--enrich", "geo", "--geoip-country", &not_json],
            &not_json,
        ),
        // An ASN database where countries are asked for, and the other way round.
        (
            vec!["--enrich", "geo", "--geoip-country", &asn],
            "GeoLite2-ASN",
        ),
        (
            vec!["--enrich", "geo", "--geoip-asn", &country],
            "GeoIP2-Country",
        ),
        (vec!["--enrich", "aws-service"], "--ip-ranges"),
        (vec!["--enrich", "geo"], "--geoip-country"),
        (
            vec!["--enrich", "protocol", "--ip-ranges", &ranges],
            "--ip-ranges",
        ),
        (vec!["--enrich", "protocols"], "protocols"),
    ];
    let lake = tmp.path().join("lake");
    for (flags, named) in cases {
        let run = convert_expecting_failure(&[&input], &lake, &flags);
        assert_eq!(run.code, 2, "{flags:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(named),
            "{flags:?} names {named}: {}",
            run.stderr
        );
        assert!(!lake.exists(), "{flags:?}: nothing written");
    }
    // `flowlake plan` checks them too, before writing a plan.
    let run = flowlake([
        "plan",
        input.to_str().unwrap(),
        "--out",
        lake.to_str().unwrap(),
        "--shards",
        "2",
        "--enrich",
        "aws-service",
        "--ip-ranges",
        &not_json,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&not_json), "{}", run.stderr);
}

#[test]
fn an_unenriched_lake_has_exactly_the_kinds_columns_and_settings_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let (run, report) = convert(&[&fixtures().join("aws")], &lake, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(report.get("enrichment").is_none(), "{report}");
    let columns = duckdb(
        &lake,
        "SELECT column_name FROM (DESCRIBE SELECT * FROM {lake})",
    );
    let names: Vec<&str> = columns.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(names.contains(&"unknown_fields"));
    for derived in [
        "protocol_name",
        "tcp_flags_names",
        "src_aws_service",
        "src_country",
        "src_asn",
    ] {
        assert!(!names.contains(&derived), "{derived} in {names:?}");
    }
    let settings = std::fs::read_to_string(lake.join("_flowlake/lake.json")).unwrap();
    assert!(!settings.contains("enrich"), "{settings}");
    for (_, entry) in entries(&lake) {
        assert!(entry.get("enriched_with").is_none(), "{entry}");
    }
}

/// The enrichment columns are built a value per distinct address and written by key; sorted rows
/// (which the sort takes as plain strings), small row groups and pages, and one thread must give
/// every row the same values.
#[test]
fn enriched_values_are_the_same_sorted_in_small_row_groups_and_as_written_by_key() {
    let tmp = tempfile::tempdir().unwrap();
    // Public addresses AWS, MaxMind's test data or both know, private and documentation ones, IPv6
    // short and long (past 15 characters), and a NULL address ("-"); repeated in runs and not.
    let pool = [
        "52.95.128.179",
        "3.5.140.1",
        "13.32.0.1",
        "15.177.0.1",
        "54.239.0.1",
        "81.2.69.142",
        "1.0.0.1",
        "2.125.160.216",
        "2001:218::1",
        "2a02:cf40::1",
        "2600:1f14:fff:f800:0:0:0:1",
        "2001:480:0:0:0:0:0:10",
        "10.0.0.1",
        "192.168.1.1",
        "172.19.6.54",
        "203.0.113.9",
        "fd00::1",
        "-",
    ];
    let records = (0..6000u64).map(|i| V2 {
        srcaddr: pool[(i / 3) as usize % pool.len()].into(),
        dstaddr: pool[(i * 7 + 5) as usize % pool.len()].into(),
        srcport: i,
        protocol: [6, 17, 1, 58, 0, 255, 143][i as usize % 7],
        ..V2::default()
    });
    let input = tmp.path().join("in");
    records_in(&input, "2024/01/01", "pool", records);
    let query = "SELECT srcport, protocol_name, src_aws_service, src_aws_region, src_country, \
                        src_asn, src_as_org, dst_aws_service, dst_aws_region, dst_country, \
                        dst_asn, dst_as_org \
                 FROM {lake} ORDER BY srcport";
    let mut answers = Vec::new();
    for (name, extra) in [
        ("default", vec![]),
        ("sorted", vec!["--sort-by", "srcaddr,dstaddr"]),
        ("small", vec!["--row-group-rows", "700", "--threads", "1"]),
    ] {
        let lake = tmp.path().join(name);
        let mut flags = all_flags();
        flags.extend(extra.iter().map(|s| s.to_string()));
        let (run, report) = convert(&[&input], &lake, &strs(&flags));
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(report["rows_written"], json!(6000), "{name}");
        answers.push((name, duckdb(&lake, query)));
    }
    let (_, first) = &answers[0];
    assert_eq!(first.len(), 6000);
    for (name, rows) in &answers[1..] {
        for (a, b) in first.iter().zip(rows) {
            assert_eq!(a, b, "{name} differs from default");
        }
    }
    // Values, NULLs and names each appear (the comparison above compares something).
    let column = |i: usize| -> Vec<&Value> { first.iter().map(|r| &r[i]).collect() };
    for (i, what) in [
        (2, "src_aws_service"),
        (4, "src_country"),
        (5, "src_asn"),
        (8, "dst_aws_region"),
    ] {
        let values = column(i);
        assert!(values.iter().any(|v| v.is_null()), "{what}: no NULL");
        assert!(values.iter().any(|v| !v.is_null()), "{what}: no value");
    }
    let row = |port: usize| &first[port];
    // Row 0: source 52.95.128.179 (S3 in us-east-1 in the sample), protocol 6.
    assert_eq!(row(0)[1], json!("TCP"));
    assert_eq!(row(0)[2], json!("S3"));
    // Row 36: source 10.0.0.1 is private: NULL everywhere.
    assert_eq!(
        row(36)[2..7],
        [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    // The NULL address ("-", rows 51-53) has nothing either.
    assert_eq!(
        row(51)[2..7],
        [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
}

#[test]
fn rows_carried_over_from_a_vanished_input_are_enriched_again_and_compaction_keeps_the_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let to_s3 = |i: u64| V2 {
        dstaddr: "52.95.128.179".into(),
        srcport: i,
        protocol: 17,
        ..V2::default()
    };
    let first = delivery(
        &input,
        "2024/01/01",
        "a",
        &format!("{HEADER}{}", v2_lines((0..3).map(to_s3))),
    );
    delivery(
        &input,
        "2024/01/01",
        "b",
        &format!("{HEADER}{}", v2_lines((3..5).map(to_s3))),
    );
    let lake = tmp.path().join("lake");
    let flags = [
        "--enrich",
        "protocol,aws-service",
        "--ip-ranges",
        &ip_ranges(),
        "--target-file-size",
        "1KiB",
    ];
    let (run, _) = convert(&[&input], &lake, &flags);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One input gone, a late one come: the partition is rebuilt, the gone input's rows carried over.
    std::fs::remove_file(&first).unwrap();
    delivery(
        &input,
        "2024/01/01",
        "c",
        &format!("{HEADER}{}", v2_lines((5..6).map(to_s3))),
    );
    let (run, report) = convert(&[&input], &lake, &flags);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_carried_over"], json!(3), "{report}");
    let check = |lake: &Path| {
        duckdb(
            lake,
            "SELECT count(*), count(DISTINCT srcport), min(protocol_name), max(protocol_name), \
             count(dst_aws_service), min(dst_aws_service), min(dst_aws_region) FROM {lake}",
        )
        .remove(0)
    };
    assert_eq!(
        check(&lake),
        [
            json!(6),
            json!(6),
            json!("UDP"),
            json!("UDP"),
            json!(6),
            json!("S3"),
            json!("ap-southeast-2")
        ]
    );
    let run = flowlake([
        "compact",
        lake.to_str().unwrap(),
        "--min-files",
        "1",
        "--target-file-size",
        "64MiB",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        check(&lake),
        [
            json!(6),
            json!(6),
            json!("UDP"),
            json!("UDP"),
            json!(6),
            json!("S3"),
            json!("ap-southeast-2")
        ]
    );
    let (code, check) = verify(&lake);
    assert_eq!(code, 0, "{check}");
    assert_eq!(
        check["enriched_with"][0]["partitions"],
        json!(1),
        "compaction keeps the record"
    );
}

#[test]
fn a_transit_gateway_lake_is_enriched_too() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    put(
        &input,
        "AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14/tgw.log.gz",
        &gzip(&bytes),
    );
    let (lake, tgw) = (tmp.path().join("vpc"), tmp.path().join("tgw"));
    let (run, report) = convert(
        &[&input],
        &lake,
        &[
            "--tgw-out",
            tgw.to_str().unwrap(),
            "--enrich",
            "protocol,tcp-flags",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["transit_gateway"]["rows_written"], json!(1));
    let settings: Value =
        serde_json::from_slice(&std::fs::read(tgw.join("_flowlake/lake.json")).unwrap()).unwrap();
    assert_eq!(settings["enrich"], json!(["protocol", "tcp-flags"]));
    let row = duckdb(
        &tgw,
        "SELECT protocol, protocol_name, tcp_flags_names, typeof(protocol) FROM {lake}",
    )
    .remove(0);
    let (protocol, name) = (row[0].as_i64().unwrap(), row[1].clone());
    assert_eq!(
        row[3],
        json!("BIGINT"),
        "the Transit Gateway schema's protocol"
    );
    let want = iana_keywords().get(&protocol).cloned().flatten();
    assert_eq!(name, json!(want));
    let ddl = flowlake(["ddl", tgw.to_str().unwrap()]);
    assert!(
        ddl.stdout.contains("`tcp_flags_names` array<string>"),
        "{}",
        ddl.stdout
    );
    assert!(
        ddl.stdout.contains("`protocol_name` string"),
        "{}",
        ddl.stdout
    );
}

#[test]
fn the_shipped_enriched_queries_give_the_answers_computed_from_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let mut records = Vec::new();
    // To S3 (52.95.128.179: S3 in ap-southeast-2) three flows, from CloudFront's 13.32.0.1 one.
    for bytes in [100, 200, 300] {
        records.push(V2 {
            dstaddr: "52.95.128.179".into(),
            bytes,
            ..V2::default()
        });
    }
    records.push(V2 {
        srcaddr: "13.32.0.1".into(),
        bytes: 50,
        ..V2::default()
    });
    // Rejected: two sources in Sweden (AS29518), one of them twice; one in the US (AS209, no org).
    for src in [
        "89.160.20.112",
        "89.160.20.112",
        "89.160.20.129",
        "216.160.83.56",
    ] {
        records.push(V2 {
            srcaddr: src.into(),
            action: "REJECT",
            packets: 2,
            ..V2::default()
        });
    }
    records_in(&input, "2024/01/01", "a", records);
    let lake = tmp.path().join("lake");
    let (run, _) = convert(&[&input], &lake, &strs(&all_flags()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let services = query(&lake, "enriched/aws_services", &[]);
    assert_eq!(
        services,
        [
            vec!["to", "S3", "ap-southeast-2", "3", "3", "600"],
            vec!["from", "CLOUDFRONT", "GLOBAL", "1", "1", "50"],
        ]
    );
    let rejected = query(&lake, "enriched/rejected_by_country_asn", &[]);
    assert_eq!(
        rejected,
        [
            vec!["SE", "29518", "Bredband2 AB", "3", "2", "6"],
            vec!["US", "209", "", "1", "1", "2"],
        ]
    );
}

/// A run whose Transit Gateway lake would refuse it (enriched otherwise) is refused before the VPC
/// pass changes anything: never one lake converted and the other not.
#[test]
fn a_transit_gateway_lake_enriched_otherwise_refuses_the_run_before_the_vpc_lake_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let bytes = std::fs::read(fixtures().join("samples/otel-tgw-v6-header.log")).unwrap();
    let day = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14";
    put(&input, &format!("{day}/tgw.log.gz"), &gzip(&bytes));
    put(
        &input,
        &format!("{day}/vpc.log.gz"),
        &v2_gz([V2 {
            start: 1699999990,
            end: 1700000050,
            ..V2::default()
        }]),
    );
    let tgw = tmp.path().join("tgw");
    let (run, _) = convert(
        &[&input],
        &tmp.path().join("first"),
        &["--tgw-out", tgw.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let vpc = tmp.path().join("vpc");
    let run = convert_expecting_failure(
        &[&input],
        &vpc,
        &["--tgw-out", tgw.to_str().unwrap(), "--enrich", "protocol"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("the lake {} is enriched with none", tgw.display())),
        "{}",
        run.stderr
    );
    assert!(
        parquet_files(&vpc).is_empty(),
        "the VPC lake was not written"
    );
}

/// A local HTTP server (Python's) serving `dir`, stopped when dropped.
struct Served {
    child: std::process::Child,
    port: u16,
}

impl Served {
    fn dir(dir: &Path) -> Served {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Served { child, port }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ip_ranges_are_downloaded_from_a_url_and_a_missing_one_is_a_usage_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let records = [V2 {
        dstaddr: "52.95.128.179".into(),
        ..V2::default()
    }];
    records_in(&input, "2024/01/01", "a", records);
    let served = Served::dir(&enrich_dir());
    let url = format!("http://127.0.0.1:{}/ip-ranges-sample.json", served.port);
    let lake = tmp.path().join("lake");
    let (run, report) = convert(
        &[&input],
        &lake,
        &["--enrich", "aws-service", "--ip-ranges", &url],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        report["enrichment"]["data"][0]["file"],
        json!("ip-ranges-sample.json")
    );
    assert_eq!(
        report["enrichment"]["data"][0]["version"],
        json!("1784861225")
    );
    assert_eq!(
        duckdb_one(&lake, "SELECT dst_aws_service FROM {lake}"),
        json!("S3")
    );
    let gone = format!("http://127.0.0.1:{}/no-such-ip-ranges.json", served.port);
    let run = convert_expecting_failure(
        &[&input],
        &tmp.path().join("other"),
        &["--enrich", "aws-service", "--ip-ranges", &gone],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(&gone), "{}", run.stderr);
    assert!(!tmp.path().join("other").exists());
}

#[test]
fn data_files_are_read_from_s3_and_a_missing_object_is_a_usage_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let records = [V2 {
        srcaddr: "89.160.20.112".into(),
        dstaddr: "52.95.128.179".into(),
        ..V2::default()
    }];
    records_in(&input, "2024/01/01", "a", records);
    let moto = crate::s3::Moto::start();
    moto.bucket("data");
    moto.upload(&enrich_dir(), "data", "enrich");
    let lake = tmp.path().join("lake");
    let run = |lake: &Path, ranges: &str| {
        let args = [
            "convert",
            input.to_str().unwrap(),
            "--out",
            lake.to_str().unwrap(),
            "--json",
            "--quiet",
            "--enrich",
            "aws-service,geo",
            "--ip-ranges",
            ranges,
            "--geoip-asn",
            "s3://data/enrich/maxmind/GeoLite2-ASN-Test.mmdb",
        ];
        moto.command(&args, &[]).output().unwrap()
    };
    let out = run(&lake, "s3://data/enrich/ip-ranges-sample.json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        duckdb(
            &lake,
            "SELECT dst_aws_service, src_asn, src_as_org FROM {lake}"
        ),
        [vec![json!("S3"), json!(29518), json!("Bredband2 AB")]]
    );
    let out = run(&tmp.path().join("other"), "s3://data/enrich/nothing.json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("s3://data/enrich/nothing.json"), "{stderr}");
}
