//! Helpers shared by the unit tests of several modules (compiled only for `cargo test`).

use std::io::Write;

use flate2::write::GzEncoder;

/// `data` as one gzip member.
pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("write to a Vec");
    e.finish().expect("finish a Vec")
}
