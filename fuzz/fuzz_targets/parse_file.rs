//! Fuzzes one file through read (gzip when the input starts with the gzip magic) → layout → tokenize →
//! batch: never a panic, and every record line is a row or a reject.

#![no_main]

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use flowlake::discover::{Compression, Day, InputFile, PartitionKey};
use flowlake::layout::Layout;
use flowlake::parse::{FileParser, ParseSettings};
use flowlake::rejects::RejectLog;
use flowlake::storage::{Entry, Source};
use libfuzzer_sys::fuzz_target;

struct Bytes(Vec<u8>);

impl Source for Bytes {
    fn list(&self, _: &Path, _: &dyn Fn(&Path) -> bool) -> flowlake::Result<Vec<Entry>> {
        Ok(vec![])
    }
    fn open(&self, _: &Path) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(Cursor::new(self.0.clone())))
    }
    fn stat(&self, path: &Path) -> std::io::Result<Entry> {
        Ok(Entry { path: path.to_path_buf(), size: self.0.len() as u64, mtime: None })
    }
}

fuzz_target!(|data: &[u8]| {
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let file = InputFile {
        path: PathBuf::from("fuzz.log"),
        size: data.len() as u64,
        mtime: None,
        compression: if gzip { Compression::Gzip } else { Compression::Plain },
        key: PartitionKey { account: None, region: None, day: Day::new(2024, 1, 1).unwrap(), hour: None },
    };
    let settings = ParseSettings {
        fields: data.first().is_some_and(|b| b % 2 == 0).then(|| Layout::parse_format("default").unwrap()),
        batch_rows: 7,
        max_file_bytes: 1 << 20,
        max_line_bytes: 512,
        on_bad_line: Default::default(),
        on_bad_file: if data.len() % 3 == 0 { flowlake::config::BadFilePolicy::Salvage } else { Default::default() },
    };
    let outcome = FileParser::new().parse(&Bytes(data.to_vec()), &file, &settings, &RejectLog::discard()).unwrap();
    assert_eq!(outcome.lines, outcome.rows + outcome.rejected);
    let rows: usize = outcome.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as u64, outcome.rows);
});
