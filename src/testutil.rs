//! Helpers shared by the unit tests of several modules (compiled only for `cargo test`).

use std::io::Write;

use flate2::write::GzEncoder;

/// `data` as one gzip member.
pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write to a Vec");
    e.finish().expect("finish a Vec")
}

/// The files under `dir`, as paths relative to it with `/` between folders.
pub(crate) fn walk_names(dir: &std::path::Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let rel = e.path().strip_prefix(dir).ok()?;
            Some(rel.to_string_lossy().into_owned())
        })
        .collect()
}
