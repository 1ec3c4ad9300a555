//! Fuzzes one file through read (gzip when the input starts with the gzip magic) → layout → tokenize →
//! batch: never a panic, and every record line is a row or a reject.

#![no_main]

use std::path::PathBuf;

use flowlake::input::discover::{Compression, InputFile};
use flowlake::input::parse::{BadFilePolicy, FileParser, ParseSettings};
use flowlake::lake::partition::PartitionKey;
use flowlake::storage::LocalStore;
use flowlake::text::layout::FieldLayout;
use flowlake::text::rejects::RejectLog;
use flowlake::Day;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input as a real file, read through the same store as a run's.
    let path: PathBuf = std::env::temp_dir().join(format!("flowlake-fuzz-{}.log", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let file = InputFile {
        path: path.clone(),
        rel: "fuzz.log".into(),
        size: data.len() as u64,
        mtime: None,
        version: None,
        compression: if gzip { Compression::Gzip } else { Compression::Plain },
        key: PartitionKey { account: None, region: None, day: Day::new(2024, 1, 1).unwrap(), hour: None },
        undated: None,
    };
    let settings = ParseSettings {
        fields: data.first().is_some_and(|b| b % 2 == 0).then(|| FieldLayout::parse_format("default").unwrap()),
        batch_rows: 7,
        max_file_bytes: 1 << 20,
        max_line_bytes: 512,
        on_bad_line: Default::default(),
        on_bad_file: if data.len() % 3 == 0 { BadFilePolicy::Salvage } else { Default::default() },
    };
    let outcome = FileParser::new().parse(&LocalStore, &file, &settings, &RejectLog::discard()).unwrap();
    assert_eq!(outcome.lines, outcome.rows + outcome.rejected);
    let rows: usize = outcome.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as u64, outcome.rows);
});
