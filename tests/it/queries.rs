//! The shipped queries (`scripts/queries/*.sql`), run by `scripts/query` on real DuckDB over a converted
//! lake, return the answers computed here independently from the input text.
//!
//! The input is the committed AWS fixture plus one hand-written delivery with a brute-force pattern
//! (one source trying SSH on three hosts 30 times, another RDP 12 times), so the SSH/RDP query has
//! more to rank than single attempts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

type Record = BTreeMap<String, String>;

fn rows<const N: usize>(rows: Vec<[String; N]>) -> Vec<Vec<String>> {
    rows.into_iter().map(|r| r.to_vec()).collect()
}

fn int(r: &Record, f: &str) -> Option<i64> {
    r.get(f).and_then(|v| v.parse().ok())
}

fn field<'a>(r: &'a Record, f: &str) -> &'a str {
    r.get(f).map_or("-", String::as_str)
}

/// The fixture's records, each with the `(year, month, day)` of its delivery folder.
fn records(input: &Path) -> Vec<(Record, [String; 3])> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = walk(input)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
        .collect();
    files.sort();
    for f in files {
        let dirs: Vec<String> = f
            .parent()
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let day = [
            dirs[dirs.len() - 3].clone(),
            dirs[dirs.len() - 2].clone(),
            dirs[dirs.len() - 1].clone(),
        ];
        for r in reference_records(std::slice::from_ref(&f)) {
            out.push((r, day.clone()));
        }
    }
    out
}

/// The first `limit` rows after sorting by their ORDER BY key.
fn top<T: Ord + Clone, R>(mut v: Vec<(T, R)>, limit: usize) -> Vec<R> {
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().take(limit).map(|(_, r)| r).collect()
}

/// One hand-written delivery: 30 rejected SSH attempts from 203.0.113.5 on three hosts, 12 rejected
/// RDP attempts from 198.51.100.7, one accepted SSH session, and a large accepted transfer.
fn brute_force_file(input: &Path) {
    let t0 = 1_709_985_600; // 2024-03-09 12:00 UTC
    let record = V2 {
        account: "662306410322",
        eni: "eni-0bf00000000000000".into(),
        srcaddr: "203.0.113.5".into(),
        action: "REJECT",
        ..V2::default()
    };
    let ssh = (0..30).map(|i| V2 {
        eni: format!("eni-0bf0000000000000{}", i % 3),
        dstaddr: format!("10.68.0.{}", 10 + i % 3),
        srcport: 40000 + i,
        dstport: 22,
        bytes: 60,
        start: t0 + i * 7,
        end: t0 + i * 7 + 5,
        ..record.clone()
    });
    let rdp = (0..12).map(|i| V2 {
        eni: "eni-0bf00000000000009".into(),
        srcaddr: "198.51.100.7".into(),
        dstaddr: "10.68.0.20".into(),
        srcport: 50000 + i,
        dstport: 3389,
        packets: 2,
        bytes: 104,
        start: t0 + 3600 + i * 60,
        end: t0 + 3600 + i * 60 + 9,
        ..record.clone()
    });
    let session = V2 {
        dstaddr: "10.68.0.10".into(),
        srcport: 40100,
        dstport: 22,
        packets: 40,
        bytes: 9000,
        start: t0 + 400,
        end: t0 + 460,
        action: "ACCEPT",
        ..record.clone()
    };
    let transfer = V2 {
        srcaddr: "10.68.0.10".into(),
        dstaddr: "203.0.113.5".into(),
        srcport: 443,
        dstport: 40200,
        packets: 90000,
        bytes: 130000000,
        start: t0 + 500,
        end: t0 + 560,
        action: "ACCEPT",
        ..record.clone()
    };
    put(
        input,
        "AWSLogs/662306410322/vpcflowlogs/us-east-1/2024/03/09/\
         662306410322_vpcflowlogs_us-east-1_fl-0bf00000000000001_20240309T1200Z_0badf00d.log.gz",
        &v2_gz(ssh.chain(rdp).chain([session, transfer])),
    );
}

#[test]
fn every_shipped_query_returns_the_answer_computed_from_the_text() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    let lake = tmp.path().join("lake");
    copy_tree(&fixtures().join("aws"), &input);
    brute_force_file(&input);
    let (_, report) = convert(&[&input], &lake, &[]);
    assert_eq!(report["rejected"], 0);
    let recs = records(&input);
    assert_eq!(report["rows_written"].as_u64().unwrap(), recs.len() as u64);
    let s = |v: i64| v.to_string();

    // rejected_by_port
    let mut groups: BTreeMap<(i64, i64), (i64, i64, BTreeSet<String>)> = BTreeMap::new();
    for (r, _) in recs.iter().filter(|(r, _)| field(r, "action") == "REJECT") {
        let g = groups
            .entry((int(r, "dstport").unwrap(), int(r, "protocol").unwrap()))
            .or_default();
        g.0 += 1;
        g.1 += int(r, "packets").unwrap_or(0);
        g.2.insert(field(r, "srcaddr").to_string());
    }
    let expected = top(
        groups
            .into_iter()
            .map(|((port, proto), (flows, packets, sources))| {
                (
                    (-flows, port, proto),
                    [
                        s(port),
                        s(proto),
                        s(flows),
                        s(packets),
                        s(sources.len() as i64),
                    ],
                )
            })
            .collect(),
        20,
    );
    assert_eq!(expected.len(), 20);
    assert_eq!(query(&lake, "rejected_by_port", &[]), rows(expected));

    // failed_ssh_rdp
    // (attempts, targets, first start, last start) by (source, port)
    type Attempts = (i64, BTreeSet<String>, i64, i64);
    let mut groups: BTreeMap<(String, i64), Attempts> = BTreeMap::new();
    for (r, _) in recs.iter().filter(|(r, _)| {
        field(r, "action") == "REJECT"
            && int(r, "protocol") == Some(6)
            && matches!(int(r, "dstport"), Some(22 | 3389))
    }) {
        let start = int(r, "start").unwrap();
        let g = groups
            .entry((field(r, "srcaddr").to_string(), int(r, "dstport").unwrap()))
            .or_insert((0, BTreeSet::new(), i64::MAX, i64::MIN));
        g.0 += 1;
        g.1.insert(field(r, "dstaddr").to_string());
        g.2 = g.2.min(start);
        g.3 = g.3.max(start);
    }
    let expected = top(
        groups
            .into_iter()
            .map(|((src, port), (n, targets, first, last))| {
                let service = if port == 22 { "ssh" } else { "rdp" };
                (
                    (-n, src.clone(), service),
                    [
                        src,
                        service.to_string(),
                        s(n),
                        s(targets.len() as i64),
                        s(first),
                        s(last),
                    ],
                )
            })
            .collect(),
        50,
    );
    assert_eq!(
        expected[0][..4],
        ["203.0.113.5", "ssh", "30", "3"].map(String::from)
    );
    assert_eq!(
        expected[1][..4],
        ["198.51.100.7", "rdp", "12", "1"].map(String::from)
    );
    assert_eq!(query(&lake, "failed_ssh_rdp", &[]), rows(expected));

    // top_talkers
    let mut groups: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (r, _) in recs.iter().filter(|(r, _)| field(r, "log-status") == "OK") {
        let g = groups.entry(field(r, "srcaddr").to_string()).or_default();
        g.0 += int(r, "bytes").unwrap_or(0);
        g.1 += int(r, "packets").unwrap_or(0);
        g.2 += 1;
    }
    let expected = top(
        groups
            .into_iter()
            .map(|(src, (bytes, packets, flows))| {
                ((-bytes, src.clone()), [src, s(bytes), s(packets), s(flows)])
            })
            .collect(),
        10,
    );
    assert_eq!(expected[0][0], "10.68.0.10", "the hand-written transfer");
    assert_eq!(query(&lake, "top_talkers", &[]), rows(expected));

    // ip_activity: the busiest source address, over 2024-03-09 00:00 to 2024-03-10 12:00.
    let mut flows_by_ip: BTreeMap<&str, i64> = BTreeMap::new();
    for (r, _) in &recs {
        *flows_by_ip.entry(field(r, "srcaddr")).or_default() += 1;
    }
    flows_by_ip.remove("-");
    let ip = top(
        flows_by_ip
            .into_iter()
            .map(|(ip, n)| ((-n, ip), ip))
            .collect(),
        1,
    )[0];
    let (from, to) = (1_709_942_400_i64, 1_710_072_000_i64);
    let mut groups: BTreeMap<i64, (i64, i64, BTreeSet<String>, i64)> = BTreeMap::new();
    for (r, _) in recs.iter().filter(|(r, _)| {
        (field(r, "srcaddr") == ip || field(r, "dstaddr") == ip)
            && int(r, "start").is_some_and(|t| (from..to).contains(&t))
    }) {
        let start = int(r, "start").unwrap();
        let g = groups.entry(start - start % 3600).or_default();
        g.0 += 1;
        g.1 += int(r, "bytes").unwrap_or(0);
        let peer = if field(r, "srcaddr") == ip {
            "dstaddr"
        } else {
            "srcaddr"
        };
        g.2.insert(field(r, peer).to_string());
        g.3 += i64::from(field(r, "action") == "REJECT");
    }
    let expected: Vec<[String; 5]> = groups
        .into_iter()
        .map(|(hour, (flows, bytes, peers, rejected))| {
            [
                s(hour),
                s(flows),
                s(bytes),
                s(peers.len() as i64),
                s(rejected),
            ]
        })
        .collect();
    assert!(expected.len() >= 5, "{ip}: {expected:?}");
    let params = [
        format!("ip={ip}"),
        format!("from={from}"),
        format!("to={to}"),
    ];
    assert_eq!(query(&lake, "ip_activity", &params), rows(expected));

    // log_status_health, per delivery day.
    let mut groups: BTreeMap<([String; 3], String), (i64, BTreeSet<String>)> = BTreeMap::new();
    for (r, day) in recs
        .iter()
        .filter(|(r, _)| matches!(field(r, "log-status"), "NODATA" | "SKIPDATA"))
    {
        let g = groups
            .entry((day.clone(), field(r, "log-status").to_string()))
            .or_default();
        g.0 += 1;
        g.1.insert(field(r, "interface-id").to_string());
    }
    let expected: Vec<[String; 6]> = groups
        .into_iter()
        .map(|(([y, m, d], status), (n, enis))| [y, m, d, status, s(n), s(enis.len() as i64)])
        .collect();
    assert_eq!(expected.len(), 4, "NODATA and SKIPDATA on both days");
    assert_eq!(query(&lake, "log_status_health", &[]), rows(expected));
}

#[test]
fn a_query_names_its_missing_parameters_and_refuses_quotes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let run = |params: &[&str]| {
        Command::new(repo().join("scripts/query"))
            .args(["ip_activity", "--lake", lake.to_str().unwrap()])
            .args(params)
            .env("FLOWLAKE", bin())
            .output()
            .unwrap()
    };
    let out = run(&["ip=10.0.0.1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("from=...") && err.contains("to=..."), "{err}");
    let out = run(&["ip=x' OR 1=1 --", "from=1", "to=2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only letters"));
}

#[test]
fn a_lake_path_or_a_parameter_is_never_sql_in_scripts_query() {
    let tmp = tempfile::tempdir().unwrap();
    // A path whose line break would start a statement that leaves a file behind.
    let lake = tmp.path().join("lake\nCOPY (SELECT 42) TO 'pwned.csv'; --");
    convert(&[&fixtures().join("aws")], &lake, &[]);
    let run = |params: &[&str]| {
        Command::new(repo().join("scripts/query"))
            .args(["ip_activity", "--lake"])
            .arg(&lake)
            .args(params)
            .current_dir(tmp.path())
            .env("FLOWLAKE", bin())
            .output()
            .unwrap()
    };
    let out = run(&["ip=10.68.86.222", "from=0", "to=9999999999"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let flows: u64 = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    let records = reference_records(
        &walk(&fixtures().join("aws"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".gz"))
            .collect::<Vec<_>>(),
    );
    let want = records
        .iter()
        .filter(|r| {
            r.get("srcaddr").map(String::as_str) == Some("10.68.86.222")
                || r.get("dstaddr").map(String::as_str) == Some("10.68.86.222")
        })
        .count() as u64;
    assert!(want > 0);
    assert_eq!(flows, want, "the view over the real folder");
    assert!(
        !tmp.path().join("pwned.csv").exists(),
        "a statement from the lake path ran"
    );

    // A value in quotes: no line break (a regex `$` matches before a final one) or quote.
    for (params, message) in [
        (["ip=10.0.0.1\n", "from=0", "to=1"], "only letters, digits"),
        (
            ["ip=10.0.0.1", "from=start", "to=1"],
            "an integer is needed",
        ),
        (
            ["ip=10.0.0.1", "from=0", "to=1 OR 1=1"],
            "an integer is needed",
        ),
        (["ip=10.0.0.1", "from=0", "to=1\n"], "an integer is needed"),
    ] {
        let out = run(&params);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{params:?} ran");
        assert!(err.contains(message), "{params:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{params:?}: {err}");
    }
}
