//! Reads one input file, decompressed, into a caller-owned buffer that is reused from file to file.
//!
//! A whole file is decompressed before any of its lines is parsed. gzip checks a member's CRC only at
//! its end, so this is what guarantees that no row of a truncated or corrupt file is ever published:
//! the file fails here, before the tokenizer sees it. AWS caps delivered files at 75 MB, so one buffer
//! per worker is small; `max_bytes` bounds it for anything else.
//!
//! gzip files may hold several members (`cat a.gz b.gz`, some writers' output), so members are decoded
//! one after another until the end of the file (a decoder that stops after the first member would
//! silently drop the rest). The compressed file is read whole and each member is decoded in one
//! libdeflate call (`inflate`); a member that fails there is decoded again by
//! `flate2`'s streaming decoder, which tells a truncated member from a corrupt one and keeps the text
//! decoded before the damage for `--on-bad-file salvage` (nothing of a member whose checksum fails:
//! its text is wrong somewhere). A file gzipped twice (a Firehose object of
//! CloudWatch Logs records) has its inner layer read the same way, also when its outer layer broke.
//!
//! Decoding stops at `max_bytes` (`--max-file-size`) and the buffer never grows past it: a gzip bomb
//! costs at most the limit, whatever it decompresses to.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::GzDecoder;

pub use crate::error::ReadErrorKind;
use crate::input::discover::{Compression, InputFile};
use crate::input::inflate::{Inflater, MemberError};
use crate::storage::{read_full, Store};

/// Size of the read buffer between the file and the decompressor.
pub const DEFAULT_READ_BUFFER_BYTES: usize = 256 * 1024;

/// A file that could not be read completely.
///
/// The buffer then holds the text decoded before the damage (possibly nothing); the caller decides
/// whether any of it is used (by default none is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub kind: ReadErrorKind,
    pub message: String,
}

impl ReadError {
    pub(crate) fn new(kind: ReadErrorKind, message: impl Into<String>) -> Self {
        ReadError {
            kind,
            message: message.into(),
        }
    }

    /// The same error, its message naming the gzip layer of a file gzipped twice.
    fn in_layer(self, layer: &str) -> Self {
        ReadError {
            message: format!("{layer} (the file is gzipped twice): {}", self.message),
            ..self
        }
    }

    /// The error of a file decompressed past `--max-file-size`.
    fn too_large(max_bytes: u64) -> Self {
        ReadError::new(
            ReadErrorKind::TooLarge,
            format!("decompresses to more than {max_bytes} bytes (raise --max-file-size)"),
        )
    }
}

/// One worker's reading state, reused from file to file: the libdeflate decompressor and the
/// compressed bytes of the current file.
#[derive(Default)]
pub struct FileReader {
    inflater: Inflater,
    compressed: Vec<u8>,
}

impl FileReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `file` into `buf` (cleared first), decompressing gzip.
    pub fn read(
        &mut self,
        source: &dyn Store,
        file: &InputFile,
        buf: &mut Vec<u8>,
        max_bytes: u64,
    ) -> Result<(), ReadError> {
        buf.clear();
        let io_error =
            |e: io::Error| ReadError::new(ReadErrorKind::Io, format!("read failed: {e}"));
        let mut raw = source
            .open(
                &file.path,
                file.version.as_deref(),
                max_bytes.saturating_add(1),
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => ReadError::new(ReadErrorKind::Gone, GONE_MESSAGE),
                _ => ReadError::new(ReadErrorKind::Io, format!("cannot open: {e}")),
            })?;
        let compressed = &mut self.compressed;
        let gzip = match file.compression {
            Compression::Plain => false,
            Compression::Gzip => true,
            Compression::Sniff => {
                // Firehose objects carry no extension unless Firehose compresses them: the bytes say.
                let mut head = [0u8; 2];
                let n = read_full(&mut raw, &mut head).map_err(io_error)?;
                compressed.clear();
                compressed.extend_from_slice(&head[..n]);
                head[..n] == GZIP_MAGIC
            }
        };
        if !gzip {
            buf.reserve(file.size.min(max_bytes) as usize);
            if file.compression == Compression::Sniff {
                buf.extend_from_slice(compressed);
            }
            (&mut raw)
                .take((max_bytes + 1).saturating_sub(buf.len() as u64))
                .read_to_end(buf)
                .map_err(io_error)?;
        } else {
            if file.compression != Compression::Sniff {
                compressed.clear();
            }
            compressed.reserve(file.size.min(max_bytes) as usize);
            (&mut raw)
                .take((max_bytes + 1).saturating_sub(compressed.len() as u64))
                .read_to_end(compressed)
                .map_err(io_error)?;
            if compressed.len() as u64 > max_bytes {
                // Too big to hold; stream it (this ends in TooLarge unless it is incompressible).
                let mut rest = BufReader::with_capacity(
                    DEFAULT_READ_BUFFER_BYTES,
                    (&compressed[..]).chain(raw),
                );
                read_gzip_members(&mut rest, buf, max_bytes, 0)?;
            } else {
                let outer = inflate_members(&mut self.inflater, compressed, buf, max_bytes);
                // Gzipped twice: CloudWatch Logs gzips each record it sends to Firehose, and Firehose
                // may gzip the object again. The inner layer is read the same way, also when the
                // outer one broke: the inner members decoded before its damage are what a salvage
                // keeps, and the file's error is the outer layer's.
                let damaged = outer.as_ref().err().is_none_or(|e| e.kind.is_damage());
                if damaged && buf.starts_with(&GZIP_MAGIC) {
                    std::mem::swap(compressed, buf);
                    buf.clear();
                    let inner = inflate_members(&mut self.inflater, compressed, buf, max_bytes);
                    return match (outer, inner) {
                        (Err(e), _) => Err(e.in_layer("the outer gzip layer")),
                        (Ok(()), Err(e)) => Err(e.in_layer("the inner gzip layer")),
                        (Ok(()), Ok(())) => Ok(()),
                    };
                }
                outer?;
            }
        }
        if buf.len() as u64 > max_bytes {
            return Err(ReadError::too_large(max_bytes));
        }
        Ok(())
    }
}

/// The message of a file that was listed but no longer exists ([`ReadErrorKind::Gone`]).
pub const GONE_MESSAGE: &str = "no longer exists: listed, then deleted before it was read";

/// The first two bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `file` into `buf` with a one-off [`FileReader`] (tests and tools; workers keep their own).
pub fn read_file(
    source: &dyn Store,
    file: &InputFile,
    buf: &mut Vec<u8>,
    max_bytes: u64,
) -> Result<(), ReadError> {
    FileReader::new().read(source, file, buf, max_bytes)
}

/// Decodes every gzip member of `data` into `buf`, each in one libdeflate call.
///
/// The output space for a member is first guessed from the file's trailer (the last member's length,
/// which is the whole file's for the usual single-member file) and doubled while too small, up to
/// `max_bytes` for the whole file: a member that needs more is [`ReadErrorKind::TooLarge`] at once,
/// without decoding it further (a gzip bomb costs at most `max_bytes` of memory, whatever it decodes
/// to). A member libdeflate cannot decode is decoded again, from its start, by the streaming decoder,
/// which tells a truncated member from a corrupt one and keeps the text decoded before the damage
/// (salvage).
fn inflate_members(
    inflater: &mut Inflater,
    data: &[u8],
    buf: &mut Vec<u8>,
    max_bytes: u64,
) -> Result<(), ReadError> {
    let limit = usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
    let trailer_len = match data {
        [.., a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]) as usize,
        _ => 0,
    };
    let mut pos = 0;
    let mut member = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest[0] != 0x1f || rest.get(1).is_some_and(|&b| b != 0x8b) {
            return Err(not_a_member(member));
        }
        let room = limit.saturating_sub(buf.len());
        let mut space = trailer_len.max(64 * 1024).min(room);
        loop {
            // Room for the member, grown as a vector grows (so that many small members do not
            // copy the text before them again and again) but never past the limit; what the
            // growth gives beyond the guess is offered too.
            reserve_within(buf, space, limit);
            space = space.max(buf.capacity() - buf.len()).min(room);
            match inflater.gzip_member(rest, buf, space) {
                Ok(used) => {
                    pos += used;
                    break;
                }
                Err(MemberError::NoSpace) if space < room => {
                    space = space.saturating_mul(2).min(room);
                }
                Err(MemberError::NoSpace) => return Err(ReadError::too_large(max_bytes)),
                Err(MemberError::BadData) => {
                    // Damaged: let the streaming decoder classify it exactly.
                    return read_gzip_members(&mut &data[pos..], buf, max_bytes, member);
                }
            }
        }
        member += 1;
    }
    Ok(())
}

/// Makes room in `buf` for `additional` more bytes: its capacity at least doubles when it must grow
/// (amortised, as `Vec::reserve`), but never past `max_len` (unless `additional` needs more).
fn reserve_within(buf: &mut Vec<u8>, additional: usize, max_len: usize) {
    let (len, capacity) = (buf.len(), buf.capacity());
    if capacity - len >= additional {
        return;
    }
    let needed = len.saturating_add(additional);
    let target = capacity.saturating_mul(2).min(max_len).max(needed);
    buf.reserve_exact(target - len);
}

/// The error for bytes that should start gzip member number `member` (0-based) but do not.
fn not_a_member(member: usize) -> ReadError {
    if member == 0 {
        ReadError::new(
            ReadErrorKind::NotGzip,
            "not a gzip file (no gzip magic bytes)",
        )
    } else {
        ReadError::new(
            ReadErrorKind::TrailingGarbage,
            format!("bytes after gzip member {member} are not a gzip member"),
        )
    }
}

/// Decodes every gzip member of `reader` into `buf` with the streaming decoder; `first` is the number
/// of members decoded before `reader`'s start (for messages).
fn read_gzip_members<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max_bytes: u64,
    first: usize,
) -> Result<(), ReadError> {
    let io_error = |e: io::Error| ReadError::new(ReadErrorKind::Io, format!("read failed: {e}"));
    let limit = usize::try_from(max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
    for member in first.. {
        let head = reader.fill_buf().map_err(io_error)?;
        if head.is_empty() {
            return Ok(()); // end of file (a zero-byte file has no members and no lines)
        }
        if head[0] != 0x1f || head.get(1).is_some_and(|&b| b != 0x8b) {
            return Err(not_a_member(member));
        }
        let start = buf.len();
        let result = read_within(&mut GzDecoder::new(&mut *reader), buf, limit);
        if let Err(e) = result {
            return Err(match e.kind() {
                io::ErrorKind::UnexpectedEof => ReadError::new(
                    ReadErrorKind::Truncated,
                    format!("gzip member {} is truncated: {e}", member + 1),
                ),
                io::ErrorKind::InvalidInput if buf.len() > start => {
                    // After the member's whole text (flate2 reports a bad header, which comes
                    // before any text, and a CRC or length mismatch this way): the checksum says
                    // the text is wrong somewhere, so none of it is kept.
                    buf.truncate(start);
                    ReadError::new(
                        ReadErrorKind::Corrupt,
                        format!("gzip member {} is corrupt: {e}", member + 1),
                    )
                }
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => ReadError::new(
                    ReadErrorKind::Corrupt,
                    format!("gzip member {} is corrupt: {e}", member + 1),
                ),
                _ => io_error(e),
            });
        }
        if buf.len() >= limit {
            return Err(ReadError::too_large(max_bytes));
        }
    }
    Ok(())
}

/// Appends what `reader` gives to `buf` until its end, or until `buf` holds `max_len` bytes: the
/// decoder stops there (a gzip bomb is not decoded further) and `buf` never grows past `max_len`.
/// Bytes read before an error stay in `buf`.
fn read_within(reader: &mut impl Read, buf: &mut Vec<u8>, max_len: usize) -> io::Result<()> {
    let mut chunk = [0u8; 32 * 1024];
    loop {
        let want = max_len.saturating_sub(buf.len()).min(chunk.len());
        if want == 0 {
            return Ok(());
        }
        match reader.read(&mut chunk[..want]) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                reserve_within(buf, n, max_len);
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Day;
    use crate::lake::partition::PartitionKey;
    use crate::storage::LocalStore;
    use crate::testutil::gz;
    use std::path::Path;

    fn read(dir: &Path, bytes: &[u8], compression: Compression) -> Result<Vec<u8>, ReadError> {
        read_limited(dir, bytes, compression, 1 << 20)
    }

    fn read_limited(
        dir: &Path,
        bytes: &[u8],
        compression: Compression,
        limit: u64,
    ) -> Result<Vec<u8>, ReadError> {
        let file = input_file(dir, bytes, compression);
        let mut buf = vec![b'x'; 3];
        read_file(&LocalStore, &file, &mut buf, limit).map(|_| buf)
    }

    /// `bytes` written to a file in `dir`, as an input of 2024-01-01.
    fn input_file(dir: &Path, bytes: &[u8], compression: Compression) -> InputFile {
        let path = dir.join("f");
        std::fs::write(&path, bytes).unwrap();
        InputFile {
            path,
            rel: "f".into(),
            size: bytes.len() as u64,
            mtime: None,
            version: None,
            compression,
            key: PartitionKey {
                account: None,
                region: None,
                day: Day::new(2024, 1, 1).unwrap(),
                hour: None,
            },
            undated: None,
        }
    }

    #[test]
    fn reads_multi_member_gzip_and_plain() {
        let dir = tempfile::tempdir().unwrap();
        let mut two = gz(b"a\nb\n");
        two.extend(gz(b"c\n"));
        assert_eq!(
            read(dir.path(), &two, Compression::Gzip).unwrap(),
            b"a\nb\nc\n"
        );
        assert_eq!(
            read(dir.path(), b"plain\n", Compression::Plain).unwrap(),
            b"plain\n"
        );
        assert_eq!(read(dir.path(), b"", Compression::Gzip).unwrap(), b"");
    }

    #[test]
    fn extensionless_objects_are_sniffed_and_a_second_gzip_layer_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // CloudWatch Logs gzips each record; Firehose concatenates them, and may gzip the whole again.
        let mut members = gz(b"{\"a\":1}");
        members.extend(gz(b"{\"b\":2}"));
        for compression in [Compression::Sniff, Compression::Gzip] {
            assert_eq!(
                read(dir.path(), &members, compression).unwrap(),
                b"{\"a\":1}{\"b\":2}"
            );
            assert_eq!(
                read(dir.path(), &gz(&members), compression).unwrap(),
                b"{\"a\":1}{\"b\":2}"
            );
        }
        assert_eq!(
            read(dir.path(), b"{\"message\":\"x\"}", Compression::Sniff).unwrap(),
            b"{\"message\":\"x\"}"
        );
        assert_eq!(read(dir.path(), b"x", Compression::Sniff).unwrap(), b"x");
        assert_eq!(read(dir.path(), b"", Compression::Sniff).unwrap(), b"");
        // The size limit holds whichever way the bytes came.
        let big = vec![b'x'; 100];
        assert_eq!(
            read_limited(dir.path(), &big, Compression::Sniff, 99)
                .unwrap_err()
                .kind,
            ReadErrorKind::TooLarge
        );
    }

    #[test]
    fn damaged_gzip_is_classified() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let good = gz(&data);
        for cut in [10, good.len() / 2, good.len() - 4] {
            let e = read(dir.path(), &good[..cut], Compression::Gzip).unwrap_err();
            assert_eq!(e.kind, ReadErrorKind::Truncated, "cut at {cut}: {e}");
        }
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff; // inside the CRC32 trailer
        assert_eq!(
            read(dir.path(), &flipped, Compression::Gzip)
                .unwrap_err()
                .kind,
            ReadErrorKind::Corrupt
        );
        assert_eq!(
            read(dir.path(), b"hello", Compression::Gzip)
                .unwrap_err()
                .kind,
            ReadErrorKind::NotGzip
        );
        let mut garbage = good.clone();
        garbage.extend_from_slice(b"garbage after the member");
        assert_eq!(
            read(dir.path(), &garbage, Compression::Gzip)
                .unwrap_err()
                .kind,
            ReadErrorKind::TrailingGarbage
        );
        let mut second_bad = good.clone();
        let mut bad = gz(b"second member\n");
        let n = bad.len();
        bad[n - 8] ^= 1; // the second member's CRC
        second_bad.extend(bad);
        assert_eq!(
            read(dir.path(), &second_bad, Compression::Gzip)
                .unwrap_err()
                .kind,
            ReadErrorKind::Corrupt
        );
        // What a salvage gets: the first member's text, nothing of the one whose checksum fails.
        let (result, buf) = read_into(dir.path(), &second_bad, 1 << 20);
        assert_eq!(result.unwrap_err().kind, ReadErrorKind::Corrupt);
        assert_eq!(buf, data, "the whole first member only");
    }

    #[test]
    fn size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'a'; (1 << 20) + 1];
        assert_eq!(
            read(dir.path(), &gz(&big), Compression::Gzip)
                .unwrap_err()
                .kind,
            ReadErrorKind::TooLarge
        );
    }

    /// Reads `bytes` as a gzip file with the limit `limit`: the result and the buffer, whatever the
    /// result (the text decoded before a failure is what a salvage keeps).
    fn read_into(dir: &Path, bytes: &[u8], limit: u64) -> (Result<(), ReadError>, Vec<u8>) {
        let mut buf = Vec::new();
        let file = input_file(dir, bytes, Compression::Sniff);
        let result = FileReader::new().read(&LocalStore, &file, &mut buf, limit);
        (result, buf)
    }

    /// Past `--max-file-size` the decoder stops, and the buffer never grows past the limit: not for
    /// a bomb, and not for members that each fit but together do not (where doubling the buffer for
    /// the second member would allocate past the limit).
    #[test]
    fn a_file_past_the_limit_stops_there_and_its_buffer_stays_within_it() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 1u64 << 20;
        let bomb = gz(&vec![0u8; 256 << 20]);
        let mut two = gz(&vec![b'a'; 600 << 10]);
        two.extend(gz(&vec![b'b'; 600 << 10]));
        for (what, bytes) in [("bomb", &bomb), ("two members", &two)] {
            let (result, buf) = read_into(dir.path(), bytes, limit);
            assert_eq!(result.unwrap_err().kind, ReadErrorKind::TooLarge, "{what}");
            assert!(
                buf.capacity() as u64 <= limit + 1,
                "{what}: capacity {} past the limit {limit}",
                buf.capacity()
            );
        }
        // The same bomb gzipped once more: the inner layer stops at the limit too.
        let (result, buf) = read_into(dir.path(), &gz(&bomb), limit);
        assert_eq!(result.unwrap_err().kind, ReadErrorKind::TooLarge);
        assert!(buf.capacity() as u64 <= limit + 1, "{}", buf.capacity());
    }

    /// A file gzipped twice whose outer layer is cut (or corrupt): the inner members decoded before
    /// the damage are the file's text (what a salvage keeps), and the error is the outer layer's.
    #[test]
    fn a_twice_gzipped_file_damaged_in_its_outer_layer_keeps_the_inner_text_before_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        // Text that does not compress, so that the outer layer's bytes follow the inner ones.
        let mut state = 7u64;
        let mut text = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if i % 60 == 59 {
                        b'\n'
                    } else {
                        b'!' + (state >> 58) as u8
                    }
                })
                .collect()
        };
        let (a, b, c) = (text(20_000), text(20_000), text(20_000));
        let mut inner = gz(&a);
        inner.extend(gz(&b));
        let third = inner.len();
        inner.extend(gz(&c));
        let outer = gz(&inner);
        let cut = &outer[..outer.len() - (inner.len() - third) / 2];
        let (result, buf) = read_into(dir.path(), cut, 1 << 20);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Truncated, "{e}");
        assert!(e.message.contains("outer gzip layer"), "{e}");
        let ab = [&a[..], &b[..]].concat();
        assert!(buf.starts_with(&ab), "the two whole inner members");
        assert!(buf.len() < ab.len() + c.len(), "{}", buf.len());
        let mut corrupt = outer.clone();
        let n = corrupt.len();
        corrupt[n - 8] ^= 1; // the outer CRC
                             // The outer checksum fails: its one member's text is wrong somewhere, so none of it is used.
        let (result, buf) = read_into(dir.path(), &corrupt, 1 << 20);
        assert_eq!(result.unwrap_err().kind, ReadErrorKind::Corrupt);
        assert!(buf.is_empty(), "{} bytes", buf.len());
        // Damage in the inner layer is named as such.
        let mut inner_cut = inner.clone();
        inner_cut.truncate(inner.len() - 10);
        let (result, buf) = read_into(dir.path(), &gz(&inner_cut), 1 << 20);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Truncated);
        assert!(e.message.contains("inner gzip layer"), "{e}");
        assert!(buf.starts_with(&ab));
    }
}
