//! `convert --inventory`: an S3 Inventory report (CSV gzip or Parquet, written here from the
//! loopback S3 server's own listing, as AWS writes them) instead of listing the logs bucket. The
//! lake equals a listed run's, rows and sums per partition, with no LIST request; `--from/--to`
//! filter it; an object deleted since the inventory was made is a failed file, the rest converts;
//! an inventory of all versions reads only the latest versions that are not delete markers.

use std::path::Path;

use serde_json::Value;

use crate::common::*;
use crate::s3::{contents, Moto};

/// The logs' prefix: a space and a `+` in it, and the Hive tree below adds `=` (all URL-encoded in
/// a CSV inventory).
const PREFIX: &str = "arch ive+1";
const ROOT: &str = "s3://logs/arch ive+1";

/// Uploads a Hive-style AWS tree of `days` days (2 accounts, 3 files a day) under `PREFIX` of the
/// bucket `logs`.
fn logs(moto: &Moto, dir: &Path, days: u32) {
    let input = dir.join("input");
    generate(
        &input,
        &[
            "--hive",
            "--days",
            &days.to_string(),
            "--accounts",
            "2",
            "--files-per-day",
            "3",
            "--lines-per-file",
            "200",
        ],
    );
    moto.upload(&input, "logs", PREFIX);
}

/// Writes an S3 Inventory report of the bucket `logs` into the bucket `inv` as AWS lays it out
/// (`inv/logs/<config>/data/...`, `inv/logs/<config>/<time>/manifest.json`), in two data files:
/// `format` CSV (gzipped, every field quoted, keys form-encoded) or Parquet (typed columns); with
/// `versions`, every version and delete marker with IsLatest and IsDeleteMarker. Returns the
/// manifest's URL.
fn inventory(moto: &Moto, format: &str, versions: bool, config: &str) -> String {
    let versions = versions.to_string();
    let manifest = moto.boto(&format!(
        r#"import gzip, io, hashlib, urllib.parse
import pyarrow as pa, pyarrow.parquet as pq
fmt, versions, config = {format:?}, {versions:?} == 'true', {config:?}
rows = []
if versions:
    for page in s3.get_paginator('list_object_versions').paginate(Bucket='logs'):
        for o in page.get('Versions', []):
            rows.append(dict(key=o['Key'], version=o['VersionId'], latest=o['IsLatest'], marker=False,
                             size=o['Size'], modified=o['LastModified'], etag=o['ETag'].strip('"')))
        for d in page.get('DeleteMarkers', []):
            rows.append(dict(key=d['Key'], version=d['VersionId'], latest=d['IsLatest'], marker=True,
                             size=None, modified=d['LastModified'], etag=None))
else:
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket='logs'):
        for o in page.get('Contents', []):
            rows.append(dict(key=o['Key'], size=o['Size'], modified=o['LastModified'],
                             etag=o['ETag'].strip('"')))
half = (len(rows) + 1) // 2
files = []
for i, chunk in enumerate([rows[:half], rows[half:]]):
    if fmt == 'CSV':
        def q(v):
            return '"' + ('' if v is None else str(v)).replace('"', '""') + '"'
        lines = []
        for r in chunk:
            f = ['logs', urllib.parse.quote_plus(r['key'], safe='')]
            if versions:
                f += [r['version'], str(r['latest']).lower(), str(r['marker']).lower()]
            f += [r['size'], r['modified'].strftime('%Y-%m-%dT%H:%M:%S.000Z'), r['etag'], 'STANDARD']
            lines.append(','.join(q(x) for x in f))
        body = gzip.compress(('\n'.join(lines) + '\n').encode())
        ext = 'csv.gz'
    else:
        cols = {{'bucket': ['logs'] * len(chunk), 'key': [r['key'] for r in chunk]}}
        if versions:
            cols['version_id'] = [r['version'] for r in chunk]
            cols['is_latest'] = pa.array([r['latest'] for r in chunk], pa.bool_())
            cols['is_delete_marker'] = pa.array([r['marker'] for r in chunk], pa.bool_())
        cols['size'] = pa.array([r['size'] for r in chunk], pa.int64())
        cols['last_modified_date'] = pa.array([r['modified'] for r in chunk], pa.timestamp('ms', tz='UTC'))
        cols['e_tag'] = pa.array([r['etag'] for r in chunk], pa.string())
        cols['storage_class'] = ['STANDARD'] * len(chunk)
        b = io.BytesIO()
        pq.write_table(pa.table(cols), b, compression='snappy')
        body = b.getvalue()
        ext = 'parquet'
    key = 'inv/logs/%s/data/part-%d.%s' % (config, i, ext)
    s3.put_object(Bucket='inv', Key=key, Body=body)
    files.append({{'key': key, 'size': len(body), 'MD5checksum': hashlib.md5(body).hexdigest()}})
if fmt == 'CSV':
    schema = 'Bucket, Key, ' + ('VersionId, IsLatest, IsDeleteMarker, ' if versions else '') + \
        'Size, LastModifiedDate, ETag, StorageClass'
else:
    schema = 'message s3.inventory {{ required binary bucket (UTF8); required binary key (UTF8); ' + \
        ('optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; '
         if versions else '') + \
        'optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); ' + \
        'optional binary e_tag (UTF8); optional binary storage_class (UTF8);}}'
manifest = {{'sourceBucket': 'logs', 'destinationBucket': 'arn:aws:s3:::inv', 'version': '2016-11-30',
            'creationTimestamp': '1710201600000', 'fileFormat': fmt, 'fileSchema': schema, 'files': files}}
mkey = 'inv/logs/%s/2024-03-12T00-00Z/manifest.json' % config
s3.put_object(Bucket='inv', Key=mkey, Body=json.dumps(manifest).encode())
print(json.dumps('s3://inv/' + mkey))"#
    ));
    manifest.as_str().unwrap().to_string()
}

/// Requests of a run whose lake is local: all of them went to the logs and inventory buckets.
fn requests(report: &Value) -> (u64, u64) {
    let r = &report["s3_requests"];
    (r["list"].as_u64().unwrap(), r["get"].as_u64().unwrap())
}

#[test]
fn an_inventory_run_equals_a_listed_run_without_listing_the_logs_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    logs(&moto, tmp.path(), 3);
    let csv = inventory(&moto, "CSV", false, "daily-csv");
    let parquet = inventory(&moto, "Parquet", false, "daily-parquet");

    let listed = tmp.path().join("listed");
    let reference = moto.convert(ROOT, listed.to_str().unwrap(), &[]);
    assert_eq!(reference["files"], 18);
    assert!(requests(&reference).0 > 0, "the listed run lists");
    let expected = contents(&listed).0;
    assert_eq!(expected.len(), 6, "{expected:?}");

    for (name, manifest) in [("csv", &csv), ("parquet", &parquet)] {
        let lake = tmp.path().join(name);
        let report = moto.convert(ROOT, lake.to_str().unwrap(), &["--inventory", manifest]);
        assert_eq!(report["files"], 18, "{name}: {report}");
        assert_eq!(report["rows_written"], reference["rows_written"], "{name}");
        let (list, get) = requests(&report);
        assert_eq!(list, 0, "{name}: no listing of the logs bucket");
        assert_eq!(
            get,
            18 + 1 + 2,
            "{name}: the logs, the manifest, two data files"
        );
        assert_eq!(
            contents(&lake).0,
            expected,
            "{name}: rows and sums per partition"
        );
    }

    // The lake a listing built is up to date for the inventory (same sizes and times): nothing read.
    let rerun = moto.convert(ROOT, listed.to_str().unwrap(), &["--inventory", &csv]);
    assert_eq!(rerun["rows_written"], 0, "{rerun}");
    assert_eq!(rerun["partitions_unchanged"], 6, "{rerun}");
    assert_eq!(requests(&rerun), (0, 3), "{rerun}");

    // --from/--to filter the inventory as they prune a listing: one day, only its objects read.
    let day = ["--from", "2024-01-16", "--to", "2024-01-16"];
    let one = tmp.path().join("one-day");
    let mut args = vec!["--inventory", csv.as_str()];
    args.extend(day);
    let report = moto.convert(ROOT, one.to_str().unwrap(), &args);
    assert_eq!(report["files"], 6, "{report}");
    assert_eq!(requests(&report), (0, 6 + 3), "{report}");
    let (rows, _) = contents(&one);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r[3] == "16"), "{rows:?}");
    assert!(
        rows.iter().all(|r| expected.contains(r)),
        "{rows:?} vs {expected:?}"
    );

    // A root below the bucket's top: only the objects under it.
    let account = duckdb_one(
        &listed,
        &format!(
            "SELECT min(\"aws-account-id\") FROM read_parquet('{}/aws-account-id=*/*/*/*/*/*/*.parquet', \
             hive_partitioning=true, hive_types_autocast=false)",
            listed.display()
        ),
    );
    let account = account.as_str().unwrap();
    let below = format!("{ROOT}/AWSLogs/aws-account-id={account}");
    let report = moto.convert(
        &below,
        tmp.path().join("account").to_str().unwrap(),
        &["--inventory", &parquet],
    );
    assert_eq!(report["files"], 9, "{report}");
}

#[test]
fn an_object_deleted_after_the_inventory_is_a_failed_file_and_the_rest_converts() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    logs(&moto, tmp.path(), 2);
    let manifest = inventory(&moto, "CSV", false, "daily");
    let gone = moto.boto(
        "keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='logs')['Contents'])\n\
         s3.delete_object(Bucket='logs', Key=keys[3])\nprint(json.dumps(keys[3]))",
    );
    let gone = format!("s3://logs/{}", gone.as_str().unwrap());

    // A local copy of the inventory bucket: the data files are found next to the manifest's folders.
    let copy = tmp.path().join("inv");
    moto.download("inv", "inv", &copy);
    let local = copy.join(manifest.strip_prefix("s3://inv/inv/").unwrap());
    assert!(local.is_file(), "{}", local.display());

    let lake = tmp.path().join("lake");
    let run = moto.flowlake(
        &[
            "convert",
            ROOT,
            "--out",
            lake.to_str().unwrap(),
            "--json",
            "--quiet",
            "--inventory",
            local.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = run.report();
    assert_eq!(report["files_failed"], 1, "{report}");
    let failed = &report["failed"][0];
    assert_eq!(failed["path"], gone.as_str(), "{report}");
    assert_eq!(failed["kind"], "gone", "{report}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("listed by the inventory {}", local.display()))
            && message.contains("no longer exists"),
        "{message}"
    );
    assert_eq!(report["files"], 11, "{report}");
    assert_eq!(report["rows_written"], 11 * 200, "the rest converts");
    assert_eq!(requests(&report).0, 0, "{report}");

    // The same lake as a listing made after the deletion.
    let listed = tmp.path().join("listed");
    moto.convert(ROOT, listed.to_str().unwrap(), &[]);
    assert_eq!(contents(&lake).0, contents(&listed).0);
}

#[test]
fn a_versioned_inventory_reads_the_latest_versions_only() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    moto.boto(
        "s3.put_bucket_versioning(Bucket='logs', VersioningConfiguration={'Status': 'Enabled'})\nprint(1)",
    );
    logs(&moto, tmp.path(), 2);
    // One object replaced by other records (two versions), one deleted (a delete marker on top).
    let keys = moto.boto(&format!(
        "import gzip\nkeys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='logs')['Contents'])\n\
         s3.put_object(Bucket='logs', Key=keys[0], Body=gzip.compress({:?}.encode()))\n\
         s3.delete_object(Bucket='logs', Key=keys[5])\nprint(json.dumps([keys[0], keys[5]]))",
        format!(
            "{HEADER}{}",
            v2_lines((0..7).map(|i| V2 {
                bytes: 1000 + i,
                ..V2::default()
            }))
        )
    ));
    assert_eq!(keys.as_array().unwrap().len(), 2);
    let listed = tmp.path().join("listed");
    let reference = moto.convert(ROOT, listed.to_str().unwrap(), &[]);
    assert_eq!(reference["files"], 11);

    for format in ["CSV", "Parquet"] {
        let manifest = inventory(&moto, format, true, &format!("all-versions-{format}"));
        let lake = tmp.path().join(format);
        let report = moto.convert(ROOT, lake.to_str().unwrap(), &["--inventory", &manifest]);
        assert_eq!(report["files"], 11, "{format}: {report}");
        assert_eq!(report["files_failed"], 0, "{format}: {report}");
        assert_eq!(
            report["rows_written"], reference["rows_written"],
            "{format}"
        );
        assert_eq!(requests(&report).0, 0, "{format}");
        assert_eq!(contents(&lake).0, contents(&listed).0, "{format}");
    }
}

/// The library's view: the inventory's listing is the store's listing, entry for entry (paths with
/// the decoded keys, sizes, modification times, and versions quoted as S3 lists ETags, so every
/// GET stays conditional on the version the inventory saw).
#[test]
fn an_inventory_lists_what_the_store_lists() {
    use flowlake::input::discover::discover;
    use flowlake::input::inventory;
    use flowlake::storage::{S3Settings, S3Store};
    use flowlake::Grain;

    let keys = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    if !in_own_process("inventory::an_inventory_lists_what_the_store_lists", &keys) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    logs(&moto, tmp.path(), 2);
    let store = S3Store::new(&S3Settings {
        endpoint: Some(moto.endpoint.clone()),
    })
    .unwrap();
    let roots = [std::path::PathBuf::from(ROOT)];
    let view = |found: flowlake::input::discover::Discovery| -> Vec<String> {
        found
            .files
            .iter()
            .map(|f| {
                format!(
                    "{} {} {:?} {:?} {:?}",
                    f.path.display(),
                    f.size,
                    f.mtime,
                    f.version,
                    f.key
                )
            })
            .collect()
    };
    let listed = view(discover(&store, &roots, None, None, Grain::Day).unwrap());
    assert_eq!(listed.len(), 12);
    assert!(
        listed[0].contains("Some(\"\\\""),
        "S3 lists quoted ETags: {}",
        listed[0]
    );
    let lists = || flowlake::storage::Store::requests(&store).unwrap().list;
    let listing_pages = lists();
    for format in ["CSV", "Parquet"] {
        let manifest = inventory(&moto, format, false, format);
        let found = inventory::discover(
            &store,
            std::path::Path::new(&manifest),
            &roots,
            None,
            None,
            Grain::Day,
        )
        .unwrap();
        assert_eq!(view(found), listed, "{format}");
    }
    assert_eq!(lists(), listing_pages, "the inventories listed nothing");
}

#[test]
fn an_inventory_of_local_inputs_is_refused_before_anything_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let run = flowlake([
        "convert",
        input.to_str().unwrap(),
        "--out",
        tmp.path().join("lake").to_str().unwrap(),
        "--inventory",
        "s3://inv/inv/logs/daily/2024-03-12T00-00Z/manifest.json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is not an s3:// URL: an S3 Inventory report lists"),
        "{}",
        run.stderr
    );
}

/// `plan --inventory` lists nothing of the logs bucket: the plan comes from the report, its shards
/// build what a listed run builds, and a shard of a plan refuses `--inventory` (the plan decided).
#[test]
fn a_plan_from_an_inventory_builds_what_a_listed_run_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    logs(&moto, tmp.path(), 2);
    let csv = inventory(&moto, "CSV", false, "daily-csv");
    let listed = tmp.path().join("listed");
    let reference = moto.convert(ROOT, listed.to_str().unwrap(), &[]);
    assert_eq!(reference["files"], 12);

    let lake = tmp.path().join("planned");
    let lake_str = lake.to_str().unwrap();
    let made = moto.flowlake(
        &[
            "plan",
            ROOT,
            "--out",
            lake_str,
            "--shards",
            "2",
            "--inventory",
            &csv,
            "--json",
        ],
        &[],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let plan = made.report();
    let id = plan["id"].as_str().unwrap().to_string();
    let shards = plan["shards"].as_array().unwrap();
    let files: u64 = shards.iter().map(|s| s["files"].as_u64().unwrap()).sum();
    assert_eq!(files, 12, "{plan}");
    let pages = plan["s3_requests"]["list"].as_u64();
    assert_eq!(
        pages,
        Some(0),
        "the plan read the inventory, not a listing: {plan}"
    );

    let refused = moto.flowlake(
        &[
            "convert",
            "--out",
            lake_str,
            "--plan",
            &id,
            "--shard",
            "0/2",
            "--inventory",
            &csv,
        ],
        &[],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--inventory"), "{}", refused.stderr);

    let mut rows = 0;
    for k in 0..2 {
        let shard = format!("{k}/2");
        let run = moto.flowlake(
            &[
                "convert", "--out", lake_str, "--plan", &id, "--shard", &shard, "--json", "--quiet",
            ],
            &[],
        );
        assert_eq!(run.code, 0, "shard {shard}: {}", run.stderr);
        let report = run.report();
        assert_eq!(report["plan"], id.as_str(), "{report}");
        assert_eq!(
            requests(&report).0,
            0,
            "a planned shard lists nothing: {report}"
        );
        rows += report["rows_written"].as_u64().unwrap();
    }
    assert_eq!(rows, reference["rows_written"].as_u64().unwrap());
    assert_eq!(contents(&lake).0, contents(&listed).0);
}

/// Unplanned shards reading one inventory (no listing pruning applies: the report is read whole by
/// each) build disjoint partitions that together are a listed run's lake.
#[test]
fn unplanned_shards_over_an_inventory_write_what_one_listed_run_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.bucket("logs");
    moto.bucket("inv");
    logs(&moto, tmp.path(), 3);
    let parquet = inventory(&moto, "Parquet", false, "daily-parquet");
    let listed = tmp.path().join("listed");
    let reference = moto.convert(ROOT, listed.to_str().unwrap(), &[]);
    let lake = tmp.path().join("sharded");
    let lake_str = lake.to_str().unwrap();
    let (mut rows, mut partitions) = (0, 0);
    for k in 0..2 {
        let shard = format!("{k}/2");
        let extra = ["--inventory", parquet.as_str(), "--shard", shard.as_str()];
        let report = moto.convert(ROOT, lake_str, &extra);
        assert_eq!(report["shard"], shard.as_str(), "{report}");
        assert_eq!(requests(&report).0, 0, "{report}");
        rows += report["rows_written"].as_u64().unwrap();
        partitions += report["partitions"].as_u64().unwrap();
    }
    assert_eq!(rows, reference["rows_written"].as_u64().unwrap());
    assert_eq!(partitions, reference["partitions"].as_u64().unwrap());
    assert_eq!(contents(&lake).0, contents(&listed).0);
}
