//! OCSF output (`convert --schema ocsf`): OCSF 1.1.0 Network Activity in Amazon Security Lake's
//! custom-source layout. Every field of the mapping is checked against values a Python reference
//! computes from the input text (every VPC field version, every action and log status), every row
//! against the OCSF 1.1.0 JSON schema (the `ocsf-json-schema` package's offline export: the checks of
//! AWS's validation tool, stricter), and the files against Security Lake's rules.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::*;

const SOURCE: &str = "vpc_archive";

/// Every VPC flow log field of versions 2 to 11, in AWS's order.
const ALL_FIELDS: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol \
packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr \
pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service \
flow-direction traffic-path ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn \
ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name \
ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason resource-id encryption-status \
instance-tag instance-tag-2 interface-tag interface-tag-2 asg-tag asg-tag-2 interface-type \
next-hop-interface-id next-hop-subnet-id next-hop-az-id next-hop-vpc-id next-hop-interface-type";

/// Writes 40 gzipped deliveries of every field version (2, 3, 4, 5, 7, 8, 9, 10, 11 and 11 with a field no
/// version documents, some in a shuffled order) for two accounts and regions and two days: ACCEPT,
/// REJECT, NODATA and SKIPDATA records, NAT'd packet addresses, every traffic path and direction, a
/// flow that started the day before its delivery, an action no version documents and a start too
/// large to be milliseconds. Returns the input root.
fn inputs(root: &Path) -> PathBuf {
    let input = root.join("in");
    let script = format!(
        r#"
import gzip, json, os, random
random.seed(7)
root = {root:?}
ALL = {all:?}.split()
upto = lambda last: ALL[:ALL.index(last) + 1]
formats = {{
    "v2": upto("log-status"), "v3": upto("pkt-dstaddr"), "v4": upto("sublocation-id"),
    "v5": upto("traffic-path"), "v7": upto("ecs-task-id"), "v8": upto("reject-reason"),
    "v9": upto("resource-id"), "v10": upto("encryption-status"), "v11": ALL, "v11x": ALL + ["future-field"],
}}
version_of = {{"v2": 2, "v3": 3, "v4": 4, "v5": 5, "v7": 7, "v8": 8, "v9": 9, "v10": 10, "v11": 11, "v11x": 11}}
def record(fmt, account, region, day0, i):
    kind = random.choice(["ACCEPT"] * 5 + ["REJECT"] * 4 + ["NODATA", "SKIPDATA"])
    src = f"10.0.{{random.randint(0, 3)}}.{{random.randint(1, 20)}}"
    dst = random.choice([f"172.16.0.{{random.randint(1, 9)}}", "2600:1f18:abcd::5", "52.95.128.179"])
    start = day0 - random.choice([0, 0, 0, 30, 600]) + random.randint(0, 3000)
    r = {{f: "-" for f in formats[fmt]}}
    r.update({{"version": str(version_of[fmt]), "account-id": account, "interface-id": f"eni-{{i % 7:017x}}",
              "start": str(start), "end": str(start + random.randint(1, 60))}})
    if kind in ("ACCEPT", "REJECT"):
        r.update({{"srcaddr": src, "dstaddr": dst, "srcport": str(random.choice([22, 443, 3389, 51515])),
                  "dstport": str(random.choice([22, 80, 3389, 443])), "protocol": random.choice(["6", "17", "1"]),
                  "packets": str(random.randint(1, 99)), "bytes": str(random.randint(40, 99999)),
                  "action": kind, "log-status": "OK"}})
    else:
        r["log-status"] = kind
    extra = {{
        "vpc-id": f"vpc-{{i % 3:08x}}", "subnet-id": f"subnet-{{i % 5:08x}}",
        "instance-id": random.choice(["-", f"i-{{i % 4:017x}}"]), "tcp-flags": random.choice(["-", "2", "19", "18"]),
        "type": random.choice(["IPv4", "IPv6", "EFA", "-"]),
        "region": region, "az-id": "use1-az1", "sublocation-type": random.choice(["-", "outpost"]),
        "sublocation-id": random.choice(["-", "op-0123456789abcdef0"]),
        "pkt-src-aws-service": random.choice(["-", "S3", "AMAZON"]), "pkt-dst-aws-service": random.choice(["-", "DYNAMODB"]),
        "flow-direction": random.choice(["ingress", "egress", "-", "ingress", "egress", "sideways"]),
        "traffic-path": random.choice(["-", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
        "ecs-cluster-name": random.choice(["-", "web"]), "ecs-task-id": random.choice(["-", "t-1"]),
        "reject-reason": random.choice(["-", "BPA"]), "resource-id": random.choice(["-", "eni-res"]),
        "encryption-status": random.choice(["-", "0", "1", "2"]), "instance-tag": random.choice(["-", "team=a"]),
        "next-hop-interface-type": random.choice(["-", "nat_gateway"]), "future-field": random.choice(["-", "v"]),
    }}
    for f, v in extra.items():
        if f in r and kind in ("ACCEPT", "REJECT") or f in r and f in ("vpc-id", "subnet-id", "region", "az-id"):
            r[f] = v
    if "pkt-srcaddr" in r and kind in ("ACCEPT", "REJECT"):
        r["pkt-srcaddr"] = random.choice([src, src, "-", "192.168.9.9"])
        r["pkt-dstaddr"] = random.choice([dst, "-", "10.9.9.9"])
    return r
files = 0
for account, region in [("123456789012", "us-east-1"), ("210987654321", "eu-west-1")]:
    for d, day in enumerate(["2024/05/01", "2024/05/02"]):
        day0 = 1714521600 + 86400 * d
        for n, fmt in enumerate(formats):
            fields = list(formats[fmt])
            if n % 2:
                random.shuffle(fields)
            rows = [record(fmt, account, region, day0, i) for i in range(40)]
            if fmt == "v11x" and d == 1:
                rows[0].update({{"action": "ALLOW", "log-status": "OK", "srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2"}})
                rows[1]["start"] = "9999999999999999"
                rows[2].update({{"start": "-", "end": "-"}})
            lines = [" ".join(fields)] + [" ".join(r[f] for f in fields) for r in rows]
            folder = os.path.join(root, "AWSLogs", account, "vpcflowlogs", region, day)
            os.makedirs(folder, exist_ok=True)
            name = f"{{account}}_vpcflowlogs_{{region}}_fl-0{{n:016x}}_{{day.replace('/', '')}}T0005Z_{{n:08x}}.log.gz"
            with gzip.open(os.path.join(folder, name), "wt") as g:
                g.write("\n".join(lines) + "\n")
            files += 1
print(json.dumps(files))
"#,
        root = input.display().to_string(),
        all = ALL_FIELDS,
    );
    assert_eq!(py(&script), json!(40));
    input
}

/// The reference mapping, written from the mapping table (README, "OCSF output"), not from the
/// code: each input line's OCSF record, and the lake's rows, both as canonical JSON; plus the JSON
/// schema errors of the lake's rows and where each row's file is.
const CHECK: &str = r#"
import datetime, glob, gzip, json, os, sys
import pyarrow.parquet as pq
args = json.load(sys.stdin)
inp, lake = args["input"], args["lake"]
MAPPED = set("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start "
             "end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region "
             "az-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path".split())
BOUNDARY = {1: (4, "Same VPC"), 2: (5, "Internet/VPC Gateway"), 3: (6, "Virtual Private Gateway"),
            4: (7, "Intra-region VPC"), 5: (8, "Inter-region VPC"), 6: (9, "Local Gateway"), 7: (10, "Gateway VPC"),
            8: (11, "Internet Gateway")}
def expected(rec, path_account, path_region, delivery_ms):
    v = lambda f: None if rec.get(f, "-") == "-" else rec[f]
    n = lambda f: None if v(f) is None else int(v(f))
    ms = lambda f: None if n(f) is None or n(f) * 1000 > 2**63 - 1 else n(f) * 1000
    action = v("action")
    outcome = {"ACCEPT": (6, "Traffic", 1, "Allowed", "Allowed"), "REJECT": (5, "Refuse", 2, "Denied", "Blocked"),
               None: (0, "Unknown", 0, "Unknown", "Unknown")}.get(action, (99, "Other", 99, "Other", "Other"))
    direction = {"ingress": (1, "Inbound"), "egress": (2, "Outbound"), None: (0, "Unknown")}.get(v("flow-direction"), (99, "Other"))
    # Values OCSF has no id for are kept in unmapped.
    odd = {}
    if direction[0] == 99:
        odd["flow_direction"] = v("flow-direction")
    tp = n("traffic-path")
    boundary = (0, "Unknown") if tp is None else BOUNDARY.get(tp, (99, "Other"))
    if boundary[0] == 99:
        odd["traffic_path"] = str(tp)
    no_address = all(v(f) is None for f in ("srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"))
    def endpoint(side, is_interface):
        addr, pkt = v(side + "addr"), v("pkt-" + side + "addr")
        ids = is_interface or no_address
        return {"port": n(side + "port"), "svc_name": v(f"pkt-{side}-aws-service"), "ip": pkt or addr,
                "intermediate_ips": [addr] if pkt and addr and pkt != addr else None,
                "interface_uid": v("interface-id") if ids else None, "vpc_uid": v("vpc-id") if ids else None,
                "instance_uid": v("instance-id") if ids else None, "subnet_uid": v("subnet-id") if ids else None}
    ingress = v("flow-direction") == "ingress"
    src, dst = endpoint("src", not ingress), endpoint("dst", ingress)
    observables = []
    for name, e in (("src_endpoint", src), ("dst_endpoint", dst)):
        for attr, kind in (("ip", ("IP Address", 2)), ("intermediate_ips", ("IP Address", 2)), ("instance_uid", ("Resource UID", 10))):
            value = e[attr][0] if attr == "intermediate_ips" and e[attr] else (None if attr == "intermediate_ips" else e[attr])
            if value is not None:
                observables.append({"name": f"{name}.{attr}", "value": value, "type": kind[0], "type_id": kind[1]})
    # Fields of the catalogue by their column name, fields no version documents by their own.
    unmapped = {f.replace("-", "_") if f in ALLKNOWN else f: rec[f] for f in rec if f not in MAPPED and rec[f] != "-"}
    if action is not None and action not in ("ACCEPT", "REJECT"):
        unmapped["action"] = action
    unmapped.update(odd)
    for f in ("start", "end"):
        if n(f) is not None and ms(f) is None:
            unmapped[f] = rec[f]
    # The start, else the end, else the first millisecond of the delivery day (the row's partition).
    time = ms("start") if ms("start") is not None else ms("end") if ms("end") is not None else delivery_ms
    return {
        "metadata": {"product": {"version": v("version"), "name": "Amazon VPC", "feature": {"name": "Flowlogs"},
                                 "vendor_name": "AWS"},
                     "profiles": ["cloud", "security_control", "datetime"], "version": "1.1.0"},
        "cloud": {"account": {"uid": v("account-id") or path_account}, "region": v("region") or path_region,
                  "zone": v("az-id"), "provider": "AWS"},
        "src_endpoint": src, "dst_endpoint": dst,
        "connection_info": {"protocol_num": n("protocol"), "tcp_flags": n("tcp-flags"), "protocol_ver": v("type"),
                            "boundary_id": boundary[0], "boundary": boundary[1],
                            "direction_id": direction[0], "direction": direction[1]},
        "traffic": {"packets": n("packets"), "bytes": n("bytes")},
        "time": time, "time_dt": time, "start_time_dt": ms("start"), "end_time_dt": ms("end"),
        "status_code": v("log-status"), "severity_id": 1, "severity": "Informational",
        "class_name": "Network Activity", "class_uid": 4001, "category_name": "Network Activity", "category_uid": 4,
        "activity_name": outcome[1], "activity_id": outcome[0], "action": outcome[3], "action_id": outcome[2],
        "disposition": outcome[4], "type_uid": 400100 + outcome[0], "type_name": "Network Activity: " + outcome[1],
        "unmapped": unmapped or None, "observables": sorted(observables, key=json.dumps),
        "start_time": ms("start"), "end_time": ms("end"),
    }
ALLKNOWN = set(args["all"].split())
want = []
for path in sorted(glob.glob(os.path.join(inp, "**", "*.log.gz"), recursive=True)):
    parts = path.split(os.sep)
    at = parts.index("AWSLogs")
    account, region = parts[at + 1], parts[at + 3]
    y, m, d = (int(x) for x in parts[at + 4:at + 7])
    delivery_ms = int(datetime.datetime(y, m, d, tzinfo=datetime.timezone.utc).timestamp()) * 1000
    lines = gzip.open(path, "rt").read().splitlines()
    header = lines[0].split()
    for line in lines[1:]:
        want.append(expected(dict(zip(header, line.split())), account, region, delivery_ms))
def ms_of(x):
    return None if x is None else int(x.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) if x.tzinfo is None else int(x.timestamp() * 1000)
got, places, schema_errors = [], [], []
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
import jsonschema
embedded = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.1.0"))
validators = {}
def clean(x):
    if isinstance(x, dict):
        return {k: clean(y) for k, y in x.items() if y is not None}
    if isinstance(x, list):
        return [clean(y) for y in x if y is not None]
    if isinstance(x, datetime.datetime):
        return x.strftime("%Y-%m-%dT%H:%M:%S.") + f"{x.microsecond // 1000:03d}Z"
    return x
for path in sorted(glob.glob(os.path.join(lake, "**", "*.parquet"), recursive=True)):
    rel = os.path.relpath(path, lake)
    for row in pq.read_table(path).to_pylist():
        if row["unmapped"] is not None:
            row["unmapped"] = dict(row["unmapped"])
        profiles = tuple(row["metadata"]["profiles"])
        if profiles not in validators:
            validators[profiles] = jsonschema.Draft202012Validator(
                embedded.get_class_schema(class_name="network_activity", profiles=list(profiles)))
        for e in validators[profiles].iter_errors(clean(row)):
            schema_errors.append(f"{rel}: {e.json_path}: {e.message[:160]}")
        places.append([rel, row["time"], row["cloud"]["account"]["uid"], row["cloud"]["region"]])
        for k in ("time_dt", "start_time_dt", "end_time_dt"):
            row[k] = ms_of(row[k])
        row["observables"] = sorted(row["observables"] or [], key=json.dumps)
        got.append(row)
canon = lambda rows: sorted(json.dumps(r, sort_keys=True) for r in rows)
w, g = canon(want), canon(got)
missing = [x for x in w if x not in set(g)][:3]
extra = [x for x in g if x not in set(w)][:3]
print(json.dumps({"want": len(w), "got": len(g), "same": w == g, "missing": missing, "extra": extra,
                  "schema_errors": schema_errors[:5], "schema_error_count": len(schema_errors),
                  "places": places, "versions": sorted({r["metadata"]["product"]["version"] for r in got}),
                  "statuses": sorted({r["status_code"] for r in got}),
                  "activities": sorted({r["activity_id"] for r in got}),
                  "boundaries": sorted({r["connection_info"]["boundary_id"] for r in got}),
                  "nat": sum(1 for r in got if r["src_endpoint"]["intermediate_ips"] or r["dst_endpoint"]["intermediate_ips"])}))
"#;

/// `YYYYMMDD` of a Unix time, UTC (Howard Hinnant's civil-from-days).
fn utc_day(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

fn check(input: &Path, lake: &Path) -> Value {
    py_stdin(
        CHECK,
        &json!({"input": input, "lake": lake, "all": ALL_FIELDS}),
    )
}

#[test]
fn every_field_of_every_version_maps_as_aws_maps_it_and_every_row_is_valid_ocsf() {
    assert_eq!(utc_day(1714521599), "20240430");
    assert_eq!(utc_day(1714521600), "20240501");
    let tmp = tempfile::tempdir().unwrap();
    let input = inputs(tmp.path());
    let out = tmp.path().join("bucket");
    let (_, report) = convert(
        &[&input],
        &out,
        &["--schema", "ocsf", "--source-name", SOURCE],
    );
    assert_eq!(report["lines_read"], json!(40 * 40));
    assert_eq!(report["rows_written"], json!(40 * 40));
    let lake = out.join("ext").join(SOURCE);
    let c = check(&input, &lake);
    assert_eq!(c["want"], json!(40 * 40));
    assert!(
        c["same"].as_bool().unwrap(),
        "OCSF rows differ from the reference mapping:\nmissing {}\nextra {}",
        c["missing"],
        c["extra"]
    );
    assert_eq!(
        c["schema_error_count"],
        json!(0),
        "rows the OCSF 1.1.0 schema refuses: {}",
        c["schema_errors"]
    );
    // The inputs covered what they were meant to.
    assert_eq!(
        c["versions"],
        json!(["10", "11", "2", "3", "4", "5", "7", "8", "9"])
    );
    assert_eq!(c["statuses"], json!(["NODATA", "OK", "SKIPDATA"]));
    assert_eq!(c["activities"], json!([0, 5, 6, 99]));
    assert_eq!(c["boundaries"], json!([0, 4, 5, 6, 7, 8, 9, 10, 11, 99]));
    assert!(c["nat"].as_u64().unwrap() > 10);
    // Security Lake's layout: ext/<source>/region=/accountId=/eventDay=, each row in the day of its
    // own time (UTC) but the one whose start is too large to be a time (its delivery day).
    let mut days = std::collections::BTreeSet::new();
    for place in c["places"].as_array().unwrap() {
        let rel = place[0].as_str().unwrap();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 4, "{rel}");
        assert_eq!(parts[0], format!("region={}", place[3].as_str().unwrap()));
        assert_eq!(
            parts[1],
            format!("accountId={}", place[2].as_str().unwrap())
        );
        assert!(parts[3].starts_with("part-") && parts[3].ends_with(".parquet"));
        let day = parts[2].strip_prefix("eventDay=").unwrap();
        days.insert(day.to_string());
        let time = place[1].as_i64().unwrap();
        if time < 4_000_000_000_000 {
            assert_eq!(day, utc_day(time / 1000), "{rel} holds a row of {time}");
        }
    }
    assert_eq!(
        days.into_iter().collect::<Vec<_>>(),
        ["20240430", "20240501", "20240502"]
    );
}

/// Every file of `lake` holds its rows in `time` order.
fn assert_sorted_by_time(lake: &Path) {
    let unsorted = py(&format!(
        "import glob, json, pyarrow.parquet as pq\n\
         bad = [f for f in glob.glob('{}/**/*.parquet', recursive=True)\n\
                if (lambda t: t != sorted(t))(pq.read_table(f, columns=['time']).column('time').to_pylist())]\n\
         print(json.dumps(bad))",
        lake.display()
    ));
    assert_eq!(unsorted, json!([]), "files not sorted by time");
}

/// Checks the Parquet rules Security Lake sets for custom sources in every file of `lake`, read from
/// the files: ZSTD, pages of at most 1 MB uncompressed, row groups of at most 256 MB, rows sorted by
/// time and declared so. Returns the number of pages read.
fn check_security_lake_rules(lake: &Path) -> usize {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let files = parquet_files(lake);
    assert!(!files.is_empty());
    let mut pages = 0;
    for f in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let time_leaf = (0..schema.num_columns())
            .find(|&i| schema.column(i).path().string() == "time")
            .unwrap();
        for g in 0..meta.num_row_groups() {
            let rg = meta.row_group(g);
            assert!(
                rg.total_byte_size() <= 256 * 1000 * 1000,
                "{}: a row group of {} bytes",
                f.display(),
                rg.total_byte_size()
            );
            let sorting = rg.sorting_columns().expect("sorting_columns");
            assert_eq!(sorting.len(), 1);
            assert_eq!(sorting[0].column_idx as usize, time_leaf);
            assert!(!sorting[0].descending);
            for c in 0..rg.num_columns() {
                assert!(
                    matches!(
                        rg.column(c).compression(),
                        parquet::basic::Compression::ZSTD(_)
                    ),
                    "{}",
                    rg.column(c).column_path()
                );
                let mut page_reader = reader
                    .get_row_group(g)
                    .unwrap()
                    .get_column_page_reader(c)
                    .unwrap();
                while let Some(page) = page_reader.get_next_page().unwrap() {
                    assert!(
                        page.buffer().len() <= 1_000_000,
                        "{}: a page of {} bytes",
                        rg.column(c).column_path(),
                        page.buffer().len()
                    );
                    pages += 1;
                }
            }
        }
    }
    // Sorted by time within each file (and so within each partition, written in order).
    assert_sorted_by_time(lake);
    pages
}

#[test]
fn files_follow_security_lakes_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(
        &input,
        &[
            "--format",
            "v5",
            "--files-per-day",
            "4",
            "--lines-per-file",
            "30000",
        ],
    );
    let out = tmp.path().join("bucket");
    convert(
        &[&input],
        &out,
        &["--schema", "ocsf", "--source-name", SOURCE],
    );
    assert!(check_security_lake_rules(&out.join("ext").join(SOURCE)) > 100);
}

/// Wide rows after narrow ones (sorted by time: a row group's size cannot be judged from its first
/// rows) and long values (a page's size is checked between batches of values): row groups stay under
/// 256 MB and pages under 1 MB, every value kept.
#[test]
fn wide_rows_keep_row_groups_and_pages_within_security_lakes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let file = input.join(
        "AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/03/09/\
         111122223333_vpcflowlogs_us-east-1_fl-1_20240309T1000Z_x.log.gz",
    );
    let written = py(&format!(
        r#"
import gzip, json, os, random
random.seed(3)
path = {file:?}
os.makedirs(os.path.dirname(path), exist_ok=True)
head = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status ecs-task-arn big"
total = 0
with gzip.open(path, "wt", compresslevel=1) as g:
    g.write(head + "\n")
    for i in range(20000):
        g.write(f"7 111122223333 eni-a 10.0.0.1 10.0.1.1 {{i % 60000}} 443 6 1 100 1709978400 1709978405 ACCEPT OK - -\n")
    for i in range(12000):
        big = "%x" % random.getrandbits(4 * 20000)
        arn = "arn:aws:ecs:us-east-1:111122223333:task/cluster/" + "%032x" % random.getrandbits(128) * 40
        total += len(big)
        g.write(f"7 111122223333 eni-a 10.0.0.1 10.0.1.1 {{i}} 443 6 1 100 1709978500 1709978505 ACCEPT OK {{arn}} {{big}}\n")
print(json.dumps(total))
"#,
        file = file.display().to_string()
    ));
    let out = tmp.path().join("bucket");
    let (_, report) = convert(
        &[&input],
        &out,
        &["--schema", "ocsf", "--source-name", SOURCE],
    );
    assert_eq!(report["rows_written"], json!(32000));
    let lake = out.join("ext").join(SOURCE);
    check_security_lake_rules(&lake);
    let groups = py(&format!(
        "import glob, json, pyarrow.parquet as pq\n\
         print(json.dumps(sum(pq.ParquetFile(f).metadata.num_row_groups for f in glob.glob('{}/**/*.parquet', recursive=True))))",
        lake.display()
    ));
    assert!(groups.as_u64().unwrap() >= 2, "{groups}");
    assert_eq!(
        duckdb_one(&lake, "SELECT sum(length(unmapped['big'])) FROM {lake}"),
        written
    );
}

#[test]
fn the_lake_remembers_its_schema_and_runs_again_incrementally() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copy_tree(&fixtures().join("aws"), &input);
    let out = tmp.path().join("bucket");
    let ocsf = ["--schema", "ocsf", "--source-name", SOURCE];
    let (_, first) = convert(&[&input], &out, &ocsf);
    assert_eq!(first["rows_written"], json!(6000));
    let lake = out.join("ext").join(SOURCE);
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(lake.join("_flowlake/lake.json")).unwrap())
            .unwrap();
    assert_eq!(settings["schema"], json!("ocsf"));
    assert_eq!(settings["partition_layout"], json!("security-lake"));
    assert_eq!(settings["partition_time"], json!("start"));
    // Again: nothing to do. Given the source's own folder as --out: the same lake.
    let (_, again) = convert(&[&input], &lake, &ocsf);
    assert_eq!(again["partitions"], json!(0));
    assert_eq!(again["rows_written"], json!(0));
    // AWS's schema into it is refused, naming both.
    let refused = convert_expecting_failure(&[&input], &lake, &[]);
    assert!(
        refused.stderr.contains("ocsf") && refused.stderr.contains("--schema"),
        "{}",
        refused.stderr
    );
    // And OCSF into an AWS-schema lake.
    let aws = tmp.path().join("aws-lake");
    convert(&[&input], &aws.join("ext").join(SOURCE), &[]);
    let refused = convert_expecting_failure(&[&input], &aws, &ocsf);
    assert!(refused.stderr.contains("schema"), "{}", refused.stderr);
    // A late file rebuilds only the partitions it feeds (its delivery day and the day before).
    let day = input.join("AWSLogs/662306410322/vpcflowlogs/us-east-1/2024/03/10");
    let late = V2 {
        start: 1710028700,
        end: 1710028760,
        ..V2::default()
    };
    put(
        &day,
        "662306410322_vpcflowlogs_us-east-1_fl-0late_20240310T2355Z_0000late.log.gz",
        &v2_gz([late]),
    );
    let (_, late_run) = convert(&[&input], &out, &ocsf);
    assert!(late_run["rows_written"].as_u64().unwrap() > 0);
    let rebuilt: Vec<String> = late_run["partition_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rebuilt.len(), 2, "{rebuilt:?}");
    assert_eq!(
        rebuilt,
        [
            "region=us-east-1/accountId=662306410322/eventDay=20240309",
            "region=us-east-1/accountId=662306410322/eventDay=20240310"
        ]
    );
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["rows"], json!(6001));
}

#[test]
fn settings_ocsf_cannot_serve_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("aws");
    let out = tmp.path().join("bucket");
    for (extra, says) in [
        (vec!["--schema", "ocsf"], "--source-name"),
        (vec!["--source-name", "x"], "--schema ocsf"),
        (
            vec!["--schema", "ocsf", "--source-name", "a/b"],
            "source name",
        ),
        (vec!["--schema", "ocsf", "--source-name", ""], "source name"),
        (
            vec!["--schema", "ocsf", "--source-name", "s", "--hourly"],
            "--hourly",
        ),
        (
            vec![
                "--schema",
                "ocsf",
                "--source-name",
                "s",
                "--partition-layout",
                "aws",
            ],
            "--partition-layout",
        ),
        (
            vec![
                "--schema",
                "ocsf",
                "--source-name",
                "s",
                "--partition-time",
                "delivery",
            ],
            "--partition-time delivery",
        ),
        (
            vec![
                "--schema",
                "ocsf",
                "--source-name",
                "s",
                "--enrich",
                "protocol",
            ],
            "--enrich",
        ),
        (
            vec![
                "--schema",
                "ocsf",
                "--source-name",
                "s",
                "--sort-by",
                "srcaddr",
            ],
            "--sort-by",
        ),
        (
            vec![
                "--schema",
                "ocsf",
                "--source-name",
                "s",
                "--tgw-out",
                "/tmp/x",
            ],
            "--tgw-out",
        ),
    ] {
        let run = convert_expecting_failure(&[&input], &out, &extra);
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{extra:?}: {}", run.stderr);
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
}

/// Inputs with no account and region in their path or name have no Security Lake partition: skipped
/// and named (the run is not clean) unless --account and --region give them.
#[test]
fn inputs_without_account_and_region_are_skipped_unless_given() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    put(&input, "2024/05/01/flows.log.gz", &v2_gz([V2::default()]));
    let out = tmp.path().join("bucket");
    let ocsf = ["--schema", "ocsf", "--source-name", SOURCE];
    let (run, report) = convert(&[&input], &out, &ocsf);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(report["files_skipped"], json!(1));
    let reason = report["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("--account") && reason.contains("accountId="),
        "{reason}"
    );
    let mut given = ocsf.to_vec();
    given.extend(["--account", "111122223333", "--region", "ap-south-1"]);
    let (run, report) = convert(&[&input], &out, &given);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report["rows_written"], json!(1));
    let files = parquet_files(&out.join("ext").join(SOURCE));
    assert_eq!(files.len(), 1);
    assert!(files[0]
        .to_string_lossy()
        .contains("/region=ap-south-1/accountId=111122223333/eventDay="));
}

/// Compaction of an OCSF lake: small files become few, the rows and their values unchanged and
/// still sorted by time; verify is clean; `ddl` gives the table and view, and the shipped OCSF
/// queries answer as the AWS-schema ones over the same input.
#[test]
fn compaction_ddl_and_queries_of_an_ocsf_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("aws");
    let out = tmp.path().join("bucket");
    convert(
        &[&input],
        &out,
        &[
            "--schema",
            "ocsf",
            "--source-name",
            SOURCE,
            "--target-file-size",
            "16KiB",
            "--row-group-rows",
            "300",
        ],
    );
    let lake = out.join("ext").join(SOURCE);
    let before = parquet_files(&lake).len();
    let sums =
        "SELECT count(*), sum(traffic.bytes), sum(time), count(unmapped), sum(len(observables)), \
                count(DISTINCT src_endpoint.ip) FROM {lake}";
    let values = duckdb(&lake, sums);
    let run = flowlake(["compact".as_ref(), lake.as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = parquet_files(&lake).len();
    assert!(before > 12 && after == 6, "{before} -> {after} files");
    assert_eq!(duckdb(&lake, sums), values);
    assert_sorted_by_time(&lake);
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");

    let ddl = flowlake(["ddl".as_ref(), lake.as_os_str()]);
    assert_eq!(ddl.code, 0, "{}", ddl.stderr);
    for line in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS `ocsf_vpc_flow` (",
        "  `src_endpoint` struct<`port`:int,`svc_name`:string,`ip`:string,`intermediate_ips`:array<string>,`interface_uid`:string,`vpc_uid`:string,`instance_uid`:string,`subnet_uid`:string>,",
        "  `time_dt` timestamp,",
        "  `type_uid` bigint,",
        "  `unmapped` map<string,string>,",
        "  `region` string,",
        "  `accountid` string,",
        "  `eventday` string",
        "  'projection.eventday.type' = 'date',",
        "  'projection.eventday.format' = 'yyyyMMdd',",
        "  'projection.eventday.range' = '20240308,NOW',",
    ] {
        assert!(ddl.stdout.contains(line), "no {line:?} in\n{}", ddl.stdout);
    }
    assert!(ddl
        .stdout
        .contains("region=${region}/accountId=${accountid}/eventDay=${eventday}/'"));

    let aws = tmp.path().join("aws-lake");
    convert(&[&input], &aws, &[]);
    for name in ["rejected_by_port", "failed_ssh_rdp", "top_talkers"] {
        let ocsf_rows = query(&lake, &format!("ocsf/{name}"), &[]);
        let aws_rows = query(&aws, name, &[]);
        assert!(!aws_rows.is_empty(), "{name}");
        assert_eq!(ocsf_rows, aws_rows, "{name}");
    }
}

/// An input of a published partition that vanished (a lifecycle rule) keeps its rows when the
/// partition is rebuilt: they are carried over from the OCSF files, merged by time with the rows
/// mapped now, and the partition's files stay sorted.
#[test]
fn rows_of_vanished_inputs_are_carried_over_in_time_order() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copy_tree(&fixtures().join("aws"), &input);
    let out = tmp.path().join("bucket");
    let ocsf = ["--schema", "ocsf", "--source-name", SOURCE];
    convert(&[&input], &out, &ocsf);
    let lake = out.join("ext").join(SOURCE);
    let sums = "SELECT count(*), sum(traffic.bytes), sum(time), count(DISTINCT src_endpoint.ip) FROM {lake}";
    let before = duckdb(&lake, sums);
    let day = input.join("AWSLogs/662306410322/vpcflowlogs/us-east-1/2024/03/09");
    let gone = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::remove_file(&gone).unwrap();
    let late = V2 {
        start: 1709942500,
        end: 1709942560,
        bytes: 7,
        ..V2::default()
    };
    put(
        &day,
        "662306410322_vpcflowlogs_us-east-1_fl-0late_20240309T2355Z_0000late.log.gz",
        &v2_gz([late]),
    );
    let (_, report) = convert(&[&input], &out, &ocsf);
    assert!(
        report["rows_carried_over"].as_u64().unwrap() > 0,
        "{report}"
    );
    let after = duckdb(&lake, sums);
    assert_eq!(after[0][0], json!(before[0][0].as_i64().unwrap() + 1));
    assert_eq!(after[0][1], json!(before[0][1].as_i64().unwrap() + 7));
    assert_sorted_by_time(&lake);
    let (code, v) = verify(&lake);
    assert_eq!(code, 0, "{v}");
}

/// A lake is never written inside another, whose readers would read both: an OCSF lake below an
/// AWS-schema lake's root (`--out` the same folder), or a source below another source's lake.
#[test]
fn a_lake_inside_another_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = fixtures().join("aws");
    let aws = tmp.path().join("lake");
    convert(&[&input], &aws, &[]);
    let run = convert_expecting_failure(
        &[&input],
        &aws,
        &["--schema", "ocsf", "--source-name", SOURCE],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("inside the lake"), "{}", run.stderr);
    assert!(!aws.join("ext").exists());
    let (code, v) = verify(&aws);
    assert_eq!(code, 0, "{v}");

    let bucket = tmp.path().join("bucket");
    let a = bucket.join("ext/a");
    convert(&[&input], &a, &["--schema", "ocsf", "--source-name", "a"]);
    let run = convert_expecting_failure(&[&input], &a, &["--schema", "ocsf", "--source-name", "b"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("inside the lake"), "{}", run.stderr);
    assert!(!a.join("ext").exists());
}

/// Bytes that are not UTF-8 reject their line (named in the rejects file, counted); odd but valid
/// text (a line separator, accents) is kept as it is in `unmapped`.
#[test]
fn odd_bytes_are_rejected_and_counted_and_odd_text_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let head = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets \
bytes start end action log-status odd-field";
    let row = |addr: &[u8], odd: &[u8]| -> Vec<u8> {
        let mut line = b"2 111122223333 eni-a ".to_vec();
        line.extend_from_slice(addr);
        line.extend_from_slice(b" 10.0.1.1 1 443 6 1 100 1709978400 1709978405 ACCEPT OK ");
        line.extend_from_slice(odd);
        line
    };
    let lines: Vec<Vec<u8>> = vec![
        head.to_vec(),
        row(b"10.0.0.1", "caf\u{e9}".as_bytes()),
        row(b"10.0.0.\xff", b"x"),
        row(b"10.0.0.1", b"\xfe\xfe"),
        row(b"10.0.0.1", "\u{2028}".as_bytes()),
    ];
    put(
        tmp.path(),
        "in/AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/03/09/\
         111122223333_vpcflowlogs_us-east-1_fl-1_20240309T1000Z_x.log.gz",
        &gzip(&lines.join(&b"\n"[..])),
    );
    let out = tmp.path().join("bucket");
    let (_, report) = convert(
        &[&tmp.path().join("in")],
        &out,
        &[
            "--schema",
            "ocsf",
            "--source-name",
            SOURCE,
            "--max-reject-ratio",
            "1",
        ],
    );
    assert_eq!(report["lines_read"], json!(4));
    assert_eq!(report["rows_written"], json!(2));
    assert_eq!(report["rejected"], json!(2));
    let lake = out.join("ext").join(SOURCE);
    let kept = duckdb(&lake, "SELECT unmapped['odd-field'] FROM {lake} ORDER BY 1");
    assert_eq!(
        kept,
        vec![vec![json!("caf\u{e9}")], vec![json!("\u{2028}")]]
    );
    let rejects = std::fs::read_dir(lake.join("_flowlake/rejects"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert_eq!(rejects.matches("invalid_utf8").count(), 2, "{rejects}");
}
