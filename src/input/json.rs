//! A small JSON reader for the envelopes of `envelope.rs`: one pass over the bytes, strings borrowed
//! where they hold no escape, values the caller does not want skipped without building anything.
//!
//! It reads JSON (RFC 8259) values one after another: objects member by member (a callback per key,
//! given as bytes), arrays element by element, strings (escapes, `\u` surrogate pairs, UTF-8
//! checked), integers, `true`/`false`/`null`, and skips any value (a skipped string is only checked
//! for its end and the shape of its escapes). What it does not accept is an error naming what was
//! expected at which byte. Raw control characters inside strings are let through (a strict reader
//! refuses them; a record with one is still a record). Nesting deeper than [`MAX_DEPTH`] is refused,
//! so hostile input cannot exhaust the stack.

use std::borrow::Cow;

/// Deepest nesting of arrays and objects read (serde_json's default limit).
pub const MAX_DEPTH: usize = 128;

/// Why the bytes are not the JSON expected, with the byte where it shows (`at`: from the start of
/// the text the [`Reader`] reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Something else than the grammar allows there.
    #[error("expected {expected} at byte {at}, found {found}")]
    Expected {
        expected: &'static str,
        at: usize,
        found: Found,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels at byte {at}")]
    TooDeep { at: usize },
    /// A string holding bytes that are not UTF-8, from byte `at`.
    #[error("a string that is not UTF-8 at byte {at}")]
    NotUtf8 { at: usize },
    /// A string with escapes that unescapes to bytes that are not UTF-8; `at` is its end.
    #[error("a string that is not UTF-8 before byte {at}")]
    NotUtf8Before { at: usize },
    /// An integer outside `i64`.
    #[error("an integer too large at byte {at}")]
    TooLarge { at: usize },
    /// A number with a fraction or an exponent, where an integer was expected.
    #[error("a number that is not an integer at byte {at}")]
    NotInteger { at: usize },
    /// A number that is not one (`1-2`, `--1`).
    #[error("a malformed number at byte {at}")]
    BadNumber { at: usize },
    /// An object without a member its reader needs (`an event` without `a message`).
    #[error("{object} without {member} at byte {at}")]
    Missing {
        object: &'static str,
        member: &'static str,
        at: usize,
    },
}

/// What the reader found where it expected something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A printable ASCII character.
    Char(char),
    /// Any other byte.
    Byte(u8),
    /// The end of the text.
    End,
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Char(c) => write!(f, "`{c}`"),
            Found::Byte(b) => write!(f, "byte {b:#04x}"),
            Found::End => f.write_str("the end"),
        }
    }
}

/// Why a string that is well-formed JSON is not text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadText {
    /// A `\uD800`-`\uDFFF` escape that is not half of a surrogate pair (it stands for no
    /// character); `at` is the byte of its `\` in the string's source.
    LoneSurrogate { at: usize },
    /// Bytes that are not UTF-8, from byte `at` of the string's source.
    NotUtf8 { at: usize },
}

impl std::fmt::Display for BadText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadText::LoneSurrogate { at } => write!(
                f,
                "a lone surrogate escape (half of a UTF-16 pair, no character) at byte {at}"
            ),
            BadText::NotUtf8 { at } => write!(f, "bytes that are not UTF-8 at byte {at}"),
        }
    }
}

/// A string value read by [`Reader::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text<'a> {
    /// Its characters (borrowed when it holds no escape).
    Valid(Cow<'a, str>),
    /// Well-formed JSON that is not text: its source between the quotes, escapes as written.
    Invalid { raw: &'a [u8], why: BadText },
}

/// Reads JSON values from `text`, front to back.
pub struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// The byte the reader is at.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Skips whitespace; true when nothing but whitespace was left.
    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.text.len()
    }

    /// The next byte after whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn error(&self, expected: &'static str) -> JsonError {
        let found = match self.text.get(self.pos) {
            Some(&b) if b.is_ascii_graphic() => Found::Char(b as char),
            Some(&b) => Found::Byte(b),
            None => Found::End,
        };
        JsonError::Expected {
            expected,
            at: self.pos,
            found,
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(JsonError::TooDeep { at: self.pos });
        }
        Ok(())
    }

    /// Reads an object, calling `member` with each key (its bytes, unescaped; not checked to be
    /// UTF-8, which comparing it with the keys one wants does not need); `member` must read (or skip)
    /// the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, [u8]>) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'{', "`{`")?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("a key"));
            }
            let key = self.raw_string()?;
            self.expect(b':', "`:`")?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("`,` or `}`")),
            }
        }
    }

    /// Reads an array, calling `element` for each element (which it must read or skip); `null`
    /// reads as an empty array.
    pub fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if self.null()? {
            return Ok(());
        }
        self.expect(b'[', "`[`")?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("`,` or `]`")),
            }
        }
    }

    /// Reads `null` (true) or nothing (false, when the next value is something else).
    fn null(&mut self) -> Result<bool, JsonError> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("a value"))
        }
    }

    /// Reads a string, or `null` (None).
    pub fn nullable_string(&mut self) -> Result<Option<Cow<'a, str>>, JsonError> {
        if self.null()? {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// Reads a string: borrowed from the text when it holds no escape.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.pos;
        match self.raw_string()? {
            Cow::Borrowed(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Cow::Borrowed(s)),
                Err(e) => Err(JsonError::NotUtf8 {
                    at: start + 1 + e.valid_up_to(),
                }),
            },
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| JsonError::NotUtf8Before { at: self.pos }),
        }
    }

    /// Reads a string, or `null` (None), telling a string that is well-formed JSON but not text (a
    /// lone surrogate escape, bytes that are not UTF-8) from one that is not JSON at all (an error):
    /// the first is one bad value, the second breaks everything after it.
    pub fn nullable_text(&mut self) -> Result<Option<Text<'a>>, JsonError> {
        if self.null()? {
            return Ok(None);
        }
        self.text().map(Some)
    }

    /// Reads a string as [`Text`] (see [`Reader::nullable_text`]).
    pub fn text(&mut self) -> Result<Text<'a>, JsonError> {
        self.skip_ws();
        let start = self.pos;
        let error = match self.string() {
            Ok(s) => return Ok(Text::Valid(s)),
            Err(e) => e,
        };
        // Its shape may still be right: then only its meaning is wrong.
        self.pos = start;
        if self.skip_string().is_err() {
            return Err(error);
        }
        let raw = &self.text[start + 1..self.pos - 1];
        let why = match std::str::from_utf8(raw) {
            Err(e) => BadText::NotUtf8 {
                at: e.valid_up_to(),
            },
            Ok(_) => BadText::LoneSurrogate {
                at: lone_surrogate(raw).unwrap_or(0),
            },
        };
        Ok(Text::Invalid { raw, why })
    }

    /// Reads a string's bytes, unescaped (borrowed when it holds no escape), without checking
    /// that they are UTF-8.
    fn raw_string(&mut self) -> Result<Cow<'a, [u8]>, JsonError> {
        self.expect(b'"', "a string")?;
        let start = self.pos;
        let text = self.text;
        let Some(end) = memchr::memchr2(b'"', b'\\', &text[start..]).map(|i| start + i) else {
            self.pos = text.len();
            return Err(self.error("the end of a string"));
        };
        if text[end] == b'"' {
            self.pos = end + 1;
            return Ok(Cow::Borrowed(&text[start..end]));
        }
        // Escapes: unescape into owned bytes.
        let mut out = text[start..end].to_vec();
        self.pos = end;
        loop {
            match text.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    let rest = &text[self.pos..];
                    let n = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    out.extend_from_slice(&rest[..n]);
                    self.pos += n;
                }
                None => return Err(self.error("the end of a string")),
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Skips a string: its end found, its escapes checked for shape only (a lone surrogate in a
    /// member nobody reads is not worth refusing the envelope for, and a full parser ignoring the
    /// member lets it through too).
    fn skip_string(&mut self) -> Result<(), JsonError> {
        self.expect(b'"', "a string")?;
        let text = self.text;
        loop {
            let rest = &text[self.pos..];
            let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                self.pos = text.len();
                return Err(self.error("the end of a string"));
            };
            self.pos += i + 1;
            if rest[i] == b'"' {
                return Ok(());
            }
            match text.get(self.pos) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                Some(b'u') => {
                    self.pos += 1;
                    self.hex4()?;
                }
                _ => return Err(self.error("an escape (`\\\"`, `\\\\`, `\\n`, `\\u0041`, ...)")),
            }
        }
    }

    /// Appends the character of the escape after a `\`.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        let Some(&b) = self.text.get(self.pos) else {
            return Err(self.error("an escape"));
        };
        self.pos += 1;
        let simple = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.hex4()?;
                let c = match unit {
                    0xd800..=0xdbff => {
                        // A high surrogate: a low one must follow.
                        if !self.text[self.pos..].starts_with(b"\\u") {
                            return Err(self.error("the low surrogate of a pair"));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.error("a low surrogate"));
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(self.error("a high surrogate first")),
                    _ => unit,
                };
                let c = char::from_u32(c).ok_or_else(|| self.error("a character"))?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                return Ok(());
            }
            _ => {
                self.pos -= 1;
                return Err(self.error("an escape (`\\\"`, `\\\\`, `\\n`, `\\u0041`, ...)"));
            }
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("four hex digits"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("four hex digits"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Reads an integer that fits an `i64`, or `null` (None).
    pub fn nullable_integer(&mut self) -> Result<Option<i64>, JsonError> {
        if self.null()? {
            return Ok(None);
        }
        let start = self.pos;
        let negative = self.text.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        // Accumulated as a negative number, so that i64::MIN fits.
        let mut v: i64 = 0;
        while let Some(&d) = self.text.get(self.pos).filter(|d| d.is_ascii_digit()) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_sub(i64::from(d - b'0')))
                .ok_or(JsonError::TooLarge { at: start })?;
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error("an integer"));
        }
        if let Some(b'.' | b'e' | b'E') = self.text.get(self.pos) {
            return Err(JsonError::NotInteger { at: start });
        }
        if negative {
            return Ok(Some(v));
        }
        v.checked_neg()
            .map(Some)
            .ok_or(JsonError::TooLarge { at: start })
    }

    /// Skips one value of any kind.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{') => self.object(|r, _| r.skip_value()),
            Some(b'[') => self.array(|r| r.skip_value()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') =
                    self.text.get(self.pos)
                {
                    self.pos += 1;
                }
                let number = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
                if number.parse::<f64>().is_err() {
                    return Err(JsonError::BadNumber { at: start });
                }
                Ok(())
            }
            _ => Err(self.error("a value")),
        }
    }
}

/// Where the first `\u` escape of a lone surrogate is in a string's source (escapes as written).
fn lone_surrogate(raw: &[u8]) -> Option<usize> {
    let unit = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(raw.get(at + 2..at + 6)?).ok()?;
        (raw.get(at..at + 2)? == b"\\u")
            .then(|| u32::from_str_radix(digits, 16).ok())
            .flatten()
    };
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(i) {
            Some(0xd800..=0xdbff) => match unit(i + 6) {
                Some(0xdc00..=0xdfff) => i += 12,
                _ => return Some(i),
            },
            Some(0xdc00..=0xdfff) => return Some(i),
            Some(_) => i += 6,
            None => i += 2,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(text: &str) -> Result<Vec<String>, JsonError> {
        let mut r = Reader::new(text.as_bytes());
        let mut out = Vec::new();
        r.array(|r| {
            out.push(r.string()?.into_owned());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn strings_borrow_when_they_can_and_unescape_when_they_must() {
        let text = br#""plain" "a\"b\\c\/d\n\t\u0041\u00e9\ud83d\ude00 end""#;
        let mut r = Reader::new(text);
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
        assert_eq!(r.string().unwrap(), "a\"b\\c/d\n\tAé😀 end");
        assert!(r.at_end());
        assert_eq!(strings(r#"[]"#).unwrap(), Vec::<String>::new());
        assert_eq!(strings(r#"null"#).unwrap(), Vec::<String>::new());
        for bad in [
            r#"["\ud83d"]"#,
            r#"["\ude00"]"#,
            r#"["\x"]"#,
            r#"["\u12"]"#,
            r#"["cut"#,
            r#"["a" "b"]"#,
            r#"["a",]"#,
        ] {
            assert!(strings(bad).is_err(), "{bad}");
        }
        let not_utf8 = b"\"\xff\"";
        assert!(Reader::new(not_utf8).string().is_err());
        let not_utf8_escaped = b"\"\\n\xff\"";
        assert!(Reader::new(not_utf8_escaped).string().is_err());
    }

    #[test]
    fn integers_skips_and_depth() {
        let mut r = Reader::new(b" 1418530010000 -5 null 1.5 99999999999999999999");
        assert_eq!(r.nullable_integer().unwrap(), Some(1418530010000));
        assert_eq!(r.nullable_integer().unwrap(), Some(-5));
        assert_eq!(r.nullable_integer().unwrap(), None);
        assert!(r.nullable_integer().is_err());
        let mut r = Reader::new(b"99999999999999999999");
        assert!(r.nullable_integer().is_err());
        let mut r = Reader::new(b"-9223372036854775808 9223372036854775807 9223372036854775808");
        assert_eq!(r.nullable_integer().unwrap(), Some(i64::MIN));
        assert_eq!(r.nullable_integer().unwrap(), Some(i64::MAX));
        assert!(r.nullable_integer().is_err());
        // A skipped string's escapes are checked for shape, not meaning.
        let mut r = Reader::new(br#"{"id":"\ud800 \\ \" \/ \u00e9"} {"x":"\q"}"#);
        r.object(|r, _| r.skip_value()).unwrap();
        let err = r.object(|r, _| r.skip_value()).unwrap_err();
        assert!(
            matches!(err, JsonError::Expected { expected, .. } if expected.starts_with("an escape")),
            "{err}"
        );
        let mut r = Reader::new(br#"{"a":[1,-2.5e3,true,false,null,{"b":{}},[]],"c":"d"} {"x":1}"#);
        r.skip_value().unwrap();
        let mut keys = Vec::new();
        r.object(|r, k| {
            keys.push(k.into_owned());
            r.skip_value()
        })
        .unwrap();
        assert_eq!(keys, [b"x".to_vec()]);
        assert!(r.at_end());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = Reader::new(deep.as_bytes()).skip_value().unwrap_err();
        assert!(matches!(err, JsonError::TooDeep { .. }), "{err}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        Reader::new(ok.as_bytes()).skip_value().unwrap();
        for bad in ["tru", "{\"a\" 1}", "{1:2}", "-", "1.2.3", "}"] {
            assert!(Reader::new(bad.as_bytes()).skip_value().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_string_of_good_shape_that_is_not_text_is_one_bad_value() {
        let text = br#"["ok\u00e9" "a\ud800b" "\ude00" "x\\ud800\ud83d\ude00\udbff" null "cut"#;
        let mut r = Reader::new(text);
        r.expect(b'[', "`[`").unwrap();
        assert_eq!(
            r.nullable_text().unwrap(),
            Some(Text::Valid(Cow::Owned("ok\u{e9}".into())))
        );
        let bad = |raw: &'static [u8], at| {
            Some(Text::Invalid {
                raw,
                why: BadText::LoneSurrogate { at },
            })
        };
        assert_eq!(r.nullable_text().unwrap(), bad(br"a\ud800b", 1));
        assert_eq!(r.nullable_text().unwrap(), bad(br"\ude00", 0));
        // `\\ud800` is a backslash and text; the pair is a character; the last one is alone.
        assert_eq!(
            r.nullable_text().unwrap(),
            bad(br"x\\ud800\ud83d\ude00\udbff", 20)
        );
        assert_eq!(r.nullable_text().unwrap(), None);
        assert!(r.nullable_text().is_err(), "a cut string is not JSON");
        let mut r = Reader::new(b"\"a\xffb\"");
        assert_eq!(
            r.text().unwrap(),
            Text::Invalid {
                raw: b"a\xffb",
                why: BadText::NotUtf8 { at: 1 }
            }
        );
        assert!(r.at_end());
        let mut r = Reader::new(br#""\x""#);
        assert!(r.text().is_err(), "a bad escape's shape is not JSON");
    }
}
