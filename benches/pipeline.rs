//! Criterion benchmarks of each pipeline stage on the bundled fixture text, in bytes of text per
//! second. Every benchmark checks its own answer inside the timed loop, so a fast wrong result fails.
//!
//! Run: `cargo bench --bench pipeline`. End-to-end comparisons against DuckDB live in `scripts/`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowlake::lake::ledger::Lake;
use flowlake::lake::schema;
use flowlake::lake::write::{writer_properties, PartitionWriter, WriteSettings};
use flowlake::storage::{policy::LockScope, LocalStore};
use flowlake::text::batch::{parse_uint, BatchBuilder};
use flowlake::text::layout::FieldLayout;
use flowlake::text::tokenize::{split_fields, Lines};
use flowlake::{convert, ConvertConfig, NoProgress};

/// The decompressed text of the fixture's default-format (v2) files, one header, and its record count.
fn v2_text() -> (Vec<u8>, u64) {
    let mut files: Vec<PathBuf> = Vec::new();
    collect(&fixtures().join("aws"), &mut files);
    files.sort();
    let mut text = schema::DEFAULT_FORMAT.as_bytes().to_vec();
    text.push(b'\n');
    let mut records = 0;
    for f in files {
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap()),
            &mut s,
        )
        .unwrap();
        if s.starts_with("version account-id interface-id") {
            for line in s.lines().skip(1) {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
                records += 1;
            }
        }
    }
    (text, records)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.to_string_lossy().ends_with(".log.gz") {
            out.push(p);
        }
    }
}

fn stages(c: &mut Criterion) {
    let (text, records) = v2_text();
    let layout = FieldLayout::parse_format("default").unwrap();
    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Bytes(text.len() as u64));

    group.bench_function("tokenize", |b| {
        let mut spans = Vec::new();
        b.iter(|| {
            let mut fields = 0usize;
            for line in Lines::new(black_box(&text)) {
                split_fields(line.text, line.offset, &mut spans);
                fields += spans.len();
            }
            assert_eq!(fields as u64, (records + 1) * 14);
        })
    });

    group.bench_function("parse_integers", |b| {
        let numbers: Vec<&[u8]> = text
            .split(|&c| c == b' ' || c == b'\n')
            .filter(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
            .collect();
        let expected: u64 = numbers
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap().parse::<u64>().unwrap())
            .fold(0, u64::wrapping_add);
        b.iter(|| {
            let sum = numbers
                .iter()
                .map(|n| parse_uint(black_box(n), u64::MAX).unwrap())
                .fold(0, u64::wrapping_add);
            assert_eq!(sum, expected);
        })
    });

    group.bench_function("build_batches", |b| {
        let mut builder = BatchBuilder::new();
        let mut spans = Vec::new();
        b.iter(|| {
            builder.start_layout(&layout);
            let mut rows = 0;
            for line in Lines::new(&text).skip(1) {
                split_fields(line.text, line.offset, &mut spans);
                builder.append(&text, &spans, &layout, false).unwrap();
            }
            rows += builder.finish(&text).unwrap().num_rows();
            assert_eq!(rows as u64, records);
        })
    });

    let batch = {
        let mut builder = BatchBuilder::new();
        let mut spans = Vec::new();
        builder.start_layout(&layout);
        for line in Lines::new(&text).skip(1) {
            split_fields(line.text, line.offset, &mut spans);
            builder.append(&text, &spans, &layout, false).unwrap();
        }
        builder.finish(&text).unwrap()
    };
    group.bench_function("encode_parquet", |b| {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(
            std::sync::Arc::new(LocalStore),
            dir.path(),
            "bench",
            LockScope::Whole,
            "bench",
        )
        .unwrap();
        let settings = WriteSettings {
            row_group_rows: 1 << 20,
            ..WriteSettings::default()
        };
        let props = Arc::new(writer_properties(&settings).unwrap());
        b.iter(|| {
            let mut w = PartitionWriter::new(
                &lake,
                "p".into(),
                schema::lake_schema(),
                props.clone(),
                settings.clone(),
            );
            w.write(std::slice::from_ref(&batch), 0).unwrap();
            let written = w.finish().unwrap();
            assert_eq!(written.files.iter().map(|f| f.rows).sum::<u64>(), records);
        })
    });
    group.finish();

    let mut e2e = c.benchmark_group("end_to_end");
    let input = fixtures().join("aws");
    let gz_bytes: u64 = {
        let mut files = Vec::new();
        collect(&input, &mut files);
        files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum()
    };
    e2e.throughput(Throughput::Bytes(gz_bytes));
    e2e.sample_size(20);
    e2e.bench_function("convert_fixture_gzip_bytes", |b| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ConvertConfig::new(vec![input.clone()], dir.path().join("lake"));
        b.iter(|| {
            let report = convert(&cfg, &NoProgress).unwrap();
            assert_eq!(report.rows_written, 6000);
        })
    });
    e2e.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
