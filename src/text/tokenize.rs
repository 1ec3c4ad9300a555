//! Zero-copy tokenizer: lines and fields of one decompressed file as positions in its buffer.
//!
//! A file's text lives in one reused buffer. [`Lines`] finds line ends with `memchr` and yields each line
//! without its `\n` (and without a trailing `\r`, so CRLF files work). [`split_fields`] splits a line on
//! runs of spaces (found eight bytes at a time) into [`Span`]s, offsets into the same buffer, written into a caller-owned `Vec` that is
//! cleared, never reallocated once warm. Nothing here allocates per line or per field, and nothing
//! interprets values: that is `batch.rs`'s job.

/// A field's position in the file buffer: `buf[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The bytes of this span in `buf`.
    #[inline]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// One line of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line's bytes without the line terminator.
    pub text: &'a [u8],
    /// Byte offset of the line's first byte in the file's decompressed text.
    pub offset: usize,
    /// 1-based line number.
    pub number: u64,
}

impl Line<'_> {
    /// True when the line holds nothing but spaces.
    pub fn is_blank(&self) -> bool {
        self.text.iter().all(|&b| b == b' ')
    }
}

/// Iterator over the lines of a buffer; handles `\n`, `\r\n` and a missing final newline.
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    number: u64,
}

impl<'a> Lines<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            number: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    #[inline]
    fn next(&mut self) -> Option<Line<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let mut text = &rest[..len];
        if let [head @ .., b'\r'] = text {
            text = head;
        }
        let line = Line {
            text,
            offset: self.pos,
            number: self.number + 1,
        };
        self.number += 1;
        self.pos += len + 1;
        Some(line)
    }
}

/// Splits `line` (which starts at byte `line_offset` of the buffer) on runs of spaces into `out`.
///
/// `out` is cleared first. Leading and trailing spaces produce no empty fields. One pass over the
/// line, eight bytes at a time: each word gives a bit mask of its spaces (SWAR, no `unsafe`), and the
/// field boundaries are read off the mask, instead of one `memchr` call per field (a flow log line
/// has 14 to 60 short fields, so the call overhead was most of the tokenizer's time).
#[inline]
pub fn split_fields(line: &[u8], line_offset: usize, out: &mut Vec<Span>) {
    out.clear();
    let base = line_offset as u32;
    let mut start = 0usize;
    let mut field_end = |space: usize, out: &mut Vec<Span>| {
        if space > start {
            out.push(Span {
                start: base + start as u32,
                end: base + space as u32,
            });
        }
        start = space + 1;
    };
    let mut words = line.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut mask = space_mask(u64::from_le_bytes(
            <[u8; 8]>::try_from(word).unwrap_or_default(),
        ));
        while mask != 0 {
            field_end(at + (mask.trailing_zeros() / 8) as usize, out);
            mask &= mask - 1;
        }
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b' ' {
            field_end(at + i, out);
        }
    }
    field_end(line.len(), out);
}

/// The high bit of each byte of `word` that is a space, exactly (no false positives from borrows).
#[inline]
fn space_mask(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ 0x2020_2020_2020_2020; // spaces become zero bytes
    !(((x & LOW7) + LOW7) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Just;

    fn fields_of(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_fields(line.as_bytes(), 0, &mut out);
        out.iter()
            .map(|s| String::from_utf8(s.of(line.as_bytes()).to_vec()).unwrap())
            .collect()
    }

    /// Reference splitter: the obvious allocating version.
    fn reference(line: &str) -> Vec<String> {
        line.split(' ')
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn splits_on_runs_of_spaces() {
        assert_eq!(fields_of("2 123 eni-1"), ["2", "123", "eni-1"]);
        assert_eq!(
            fields_of("5001 43638  10.0.0.62"),
            ["5001", "43638", "10.0.0.62"]
        );
        assert_eq!(fields_of("  a   b  "), ["a", "b"]);
        assert!(fields_of("").is_empty());
        assert!(fields_of("    ").is_empty());
        assert_eq!(fields_of("-"), ["-"]);
    }

    #[test]
    fn agrees_with_reference_splitter() {
        let cases = [
            "x",
            " x",
            "x ",
            "a b c",
            "a  b   c    ",
            "ä ö  ü",
            "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
        ];
        for c in cases {
            assert_eq!(fields_of(c), reference(c), "{c:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_on_any_bytes(
            line in proptest::collection::vec(
                proptest::prop_oneof![Just(b' '), Just(b'a'), Just(0x20 ^ 0x80), Just(0u8), proptest::num::u8::ANY],
                0..80,
            ),
            offset in 0usize..1000,
        ) {
            let mut out = Vec::new();
            split_fields(&line, offset, &mut out);
            let mut expected = Vec::new();
            let mut start = None;
            for (i, &b) in line.iter().chain(std::iter::once(&b' ')).enumerate() {
                match (b == b' ', start) {
                    (true, Some(s)) => {
                        expected.push(Span { start: (offset + s) as u32, end: (offset + i) as u32 });
                        start = None;
                    }
                    (false, None) => start = Some(i),
                    _ => {}
                }
            }
            proptest::prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn spans_are_offsets_into_the_buffer() {
        let buf = b"header\n1 22 333\n";
        let line = Lines::new(buf).nth(1).unwrap();
        let mut out = Vec::new();
        split_fields(line.text, line.offset, &mut out);
        assert_eq!(
            out,
            [
                Span { start: 7, end: 8 },
                Span { start: 9, end: 11 },
                Span { start: 12, end: 15 }
            ]
        );
        assert_eq!(out[2].of(buf), b"333");
    }

    #[test]
    fn lines_handle_crlf_blank_and_missing_final_newline() {
        let buf = b"a b\r\n\n  \nc d";
        let lines: Vec<_> = Lines::new(buf).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].text, b"a b");
        assert!(lines[1].is_blank() && lines[2].is_blank());
        assert_eq!(lines[3].text, b"c d");
        assert_eq!(lines[3].number, 4);
        assert_eq!(lines[3].offset, 9);
    }

    #[test]
    fn trailing_newline_yields_no_extra_line() {
        assert_eq!(Lines::new(b"a\nb\n").count(), 2);
        assert_eq!(Lines::new(b"").count(), 0);
        assert_eq!(Lines::new(b"\n").count(), 1);
    }
}
