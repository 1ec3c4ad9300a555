//! JSON envelopes of flow log records, as Kinesis Data Firehose writes them to S3: objects back to
//! back, `{...}{...}`, with no delimiter ("By default, Firehose concatenates data without any
//! delimiters", Firehose developer guide, *basic-deliver*), or one per line.
//!
//! - **CloudWatch Logs subscription** (flow logs to CloudWatch Logs, a subscription filter to Firehose
//!   or Data Streams): `{"messageType":"DATA_MESSAGE","owner":"<account>","logGroup":"...",
//!   "logStream":"eni-...-all","subscriptionFilters":[...],"logEvents":[{"id":"...","timestamp":<ms>,
//!   "message":"<one flow log record>"}]}` in any key order (CloudWatch Logs user guide,
//!   *SubscriptionFilters*). `CONTROL_MESSAGE` objects are health checks: they carry one event of their
//!   own ("CWL CONTROL MESSAGE: Checking health of destination Firehose."), are counted, never rows.
//! - **Flow logs delivered straight to Firehose**: AWS's guide says "plain text"; what reaches S3 is one
//!   `{"message":"<one flow log record>"}` per record (captures in splunk-aws-firehose-flowlogs-processor
//!   and aws-samples/aws-vpc-flowlogs-enricher).
//!
//! Decoding reads the objects in one pass over the decompressed bytes with borrowed strings (`json.rs`:
//! no tree per event, no allocation per event, fields the envelope does not use skipped): each event's message is appended to one text buffer, one line
//! per event, which the tokenizer then splits without copying. After the lines, the same buffer holds
//! each envelope's owner, log group and log stream and each event's timestamp, so that a line's extra
//! values are spans of the buffer like its fields.

use std::borrow::Cow;

pub use super::json::BadText;
use super::json::{JsonError, Reader, Text};
use crate::text::tokenize::Span;

/// The events of every data envelope of one object, as lines of text, and where each came from.
#[derive(Debug, Default)]
pub struct Decoded {
    /// One line per event (its message and `\n`) up to `lines_end`; after it, the values `lines` and
    /// `origins` point to.
    pub text: Vec<u8>,
    /// Where the lines end in `text`.
    pub lines_end: usize,
    /// Per line: the index of its envelope in `origins`, and its event timestamp (ms since the epoch,
    /// as text; `-` when the event has none).
    pub lines: Vec<(u32, Span)>,
    /// Per envelope with events: its owner (the account), log group and log stream (`-` when absent).
    pub origins: Vec<Origin>,
    /// Data envelopes read (direct records included).
    pub data_messages: u64,
    /// `CONTROL_MESSAGE` envelopes (health checks), skipped.
    pub control_messages: u64,
    /// The lines (0-based, in order) whose message is well-formed JSON but not text (a lone
    /// surrogate escape, bytes that are not UTF-8), and why: such a line holds the message's source,
    /// escapes as written, and is a bad record (a reject), not a broken envelope.
    pub bad: Vec<(u32, BadText)>,
    /// Each line's event time until the lines are done (kept to reuse its room).
    times: Vec<Option<i64>>,
}

/// Where the events of one envelope come from, as spans of [`Decoded::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub owner: Span,
    pub log_group: Span,
    pub log_stream: Span,
}

/// Why an object's envelopes could not all be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Bytes that are not a JSON object, or an object cut short (an interrupted write).
    #[error("envelope {index} at byte {offset}: not a CloudWatch Logs envelope ({reason})")]
    Malformed {
        index: u64,
        offset: usize,
        #[source]
        reason: JsonError,
    },
    /// An object with a `messageType` this reader does not know.
    #[error("envelope {index} at byte {offset}: unknown messageType `{message_type}`")]
    UnknownType {
        index: u64,
        offset: usize,
        message_type: String,
    },
}

/// The fields of one envelope this reader keeps (any others are skipped).
#[derive(Default)]
struct Envelope<'a> {
    /// Absent in a record delivered straight to Firehose (`{"message":"..."}`).
    message_type: Option<Cow<'a, str>>,
    /// The record of a direct delivery.
    message: Option<Text<'a>>,
    owner: Option<Cow<'a, str>>,
    log_group: Option<Cow<'a, str>>,
    log_stream: Option<Cow<'a, str>>,
}

/// One event of an envelope's `logEvents`.
struct Event<'a> {
    timestamp: Option<i64>,
    message: Text<'a>,
}

/// Reads one envelope object; its events go to `events` (cleared first).
fn read_envelope<'a>(
    r: &mut Reader<'a>,
    events: &mut Vec<Event<'a>>,
) -> Result<Envelope<'a>, JsonError> {
    events.clear();
    let mut envelope = Envelope::default();
    r.object(|r, key| {
        match key.as_ref() {
            b"messageType" => envelope.message_type = r.nullable_string()?,
            b"message" => envelope.message = r.nullable_text()?,
            b"owner" => envelope.owner = r.nullable_string()?,
            b"logGroup" => envelope.log_group = r.nullable_string()?,
            b"logStream" => envelope.log_stream = r.nullable_string()?,
            b"logEvents" => {
                events.clear();
                r.array(|r| {
                    let at = r.pos();
                    let (mut timestamp, mut message) = (None, None);
                    r.object(|r, key| {
                        match key.as_ref() {
                            b"timestamp" => timestamp = r.nullable_integer()?,
                            b"message" => message = Some(r.text()?),
                            _ => r.skip_value()?,
                        }
                        Ok(())
                    })?;
                    let message = message.ok_or(JsonError::Missing {
                        object: "an event",
                        member: "a message",
                        at,
                    })?;
                    events.push(Event { timestamp, message });
                    Ok(())
                })?;
            }
            _ => r.skip_value()?,
        }
        Ok(())
    })?;
    Ok(envelope)
}

/// True when `text` (decompressed) starts like a stream of envelopes: a JSON object that names a
/// `messageType`, `logEvents` or `message` within its first kilobytes.
pub fn looks_like_envelopes(text: &[u8]) -> bool {
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start.filter(|&i| text[i] == b'{') else {
        return false;
    };
    let head = &text[start..text.len().min(start + 4096)];
    [&b"\"messageType\""[..], b"\"logEvents\"", b"\"message\""]
        .iter()
        .any(|key| memchr::memmem::find(head, key).is_some())
}

/// Decodes every envelope of `text` into `out` (cleared first). Stops at the first object that is not
/// an envelope: what was decoded before it stays in `out` (for a salvage), and the error says where.
pub fn decode(text: &[u8], out: &mut Decoded) -> Result<(), EnvelopeError> {
    out.text.clear();
    out.lines.clear();
    out.origins.clear();
    out.data_messages = 0;
    out.control_messages = 0;
    out.bad.clear();
    // Owner, group and stream of each envelope, and each event's timestamp, until the lines are done.
    let mut origins: Vec<[Option<Cow<'_, str>>; 3]> = Vec::new();
    let mut timestamps = std::mem::take(&mut out.times);
    timestamps.clear();
    let mut reader = Reader::new(text);
    let mut events = Vec::new();
    let mut index = 0u64;
    let mut failed = None;
    while !reader.at_end() {
        let offset = reader.pos();
        let envelope = match read_envelope(&mut reader, &mut events) {
            Ok(envelope) => envelope,
            Err(reason) => {
                failed = Some(EnvelopeError::Malformed {
                    index,
                    offset,
                    reason,
                });
                break;
            }
        };
        let origin = origins.len() as u32;
        match (envelope.message_type.as_deref(), envelope.message) {
            (Some("DATA_MESSAGE"), _) => {
                for event in &events {
                    push_message(out, &event.message);
                    out.lines.push((origin, Span::default()));
                    timestamps.push(event.timestamp);
                }
                origins.push([envelope.owner, envelope.log_group, envelope.log_stream]);
            }
            (Some("CONTROL_MESSAGE"), _) => {
                out.control_messages += 1;
                index += 1;
                continue;
            }
            (None, Some(message)) => {
                push_message(out, &message);
                out.lines.push((origin, Span::default()));
                timestamps.push(None);
                origins.push([None, None, None]);
            }
            (other, _) => {
                failed = Some(EnvelopeError::UnknownType {
                    index,
                    offset,
                    message_type: other.unwrap_or("(none, and no message)").to_string(),
                });
                break;
            }
        }
        out.data_messages += 1;
        index += 1;
    }
    // The values after the lines: `-` once, then each origin's strings, then each timestamp.
    out.lines_end = out.text.len();
    let dash = append(&mut out.text, "-");
    for [owner, group, stream] in &origins {
        let mut value = |v: &Option<Cow<'_, str>>| match v.as_deref() {
            Some(v) if !v.is_empty() => append(&mut out.text, v),
            _ => dash,
        };
        let origin = Origin {
            owner: value(owner),
            log_group: value(group),
            log_stream: value(stream),
        };
        out.origins.push(origin);
    }
    for (line, ts) in out.lines.iter_mut().zip(&timestamps) {
        line.1 = match *ts {
            Some(ms) => append_int(&mut out.text, ms),
            None => dash,
        };
    }
    out.times = timestamps;
    failed.map_or(Ok(()), Err)
}

/// Appends the message of the next line (noting it in `out.bad` when it is not text).
fn push_message(out: &mut Decoded, message: &Text<'_>) {
    match message {
        Text::Valid(message) => push_line(&mut out.text, message.as_bytes()),
        Text::Invalid { raw, why } => {
            out.bad.push((out.lines.len() as u32, *why));
            push_line(&mut out.text, raw);
        }
    }
}

/// Appends one event's message as a line: a message is one record, so a line break inside it (or at
/// its end) does not make a second line.
fn push_line(text: &mut Vec<u8>, message: &[u8]) {
    let end = message.len()
        - message
            .iter()
            .rev()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
    let message = &message[..end];
    let start = text.len();
    text.extend_from_slice(message);
    if memchr::memchr2(b'\n', b'\r', message).is_some() {
        for b in &mut text[start..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
    }
    text.push(b'\n');
}

/// Appends `value` and returns its span.
fn append(text: &mut Vec<u8>, value: &str) -> Span {
    let start = text.len() as u32;
    text.extend_from_slice(value.as_bytes());
    Span {
        start,
        end: text.len() as u32,
    }
}

/// Appends `n` in decimal (no allocation) and returns its span.
fn append_int(text: &mut Vec<u8>, n: i64) -> Span {
    let start = text.len() as u32;
    if n < 0 {
        text.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.extend_from_slice(&digits[i..]);
    Span {
        start,
        end: text.len() as u32,
    }
}

/// True when `text` starts like a CloudWatch Logs export (CreateExportTask): lines of
/// `<ISO-8601 UTC time>Z <message>` (`2024-05-01T13:05:11.000Z 2 123456789012 eni-...`).
pub fn looks_like_export(text: &[u8]) -> bool {
    let line = text
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace));
    line.is_some_and(|l| export_time(l).is_some())
}

/// The time at the start of an export line, in milliseconds since the epoch, and where its message
/// starts.
fn export_time(line: &[u8]) -> Option<(i64, usize)> {
    // YYYY-MM-DDTHH:MM:SS[.fff...]Z and a space
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = line.get(r)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, b: u8| line.get(i) == Some(&b);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut i = 19;
    let mut millis = 0i64;
    if at(i, b'.') {
        let start = i + 1;
        let end = start
            + line[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        if end == start {
            return None;
        }
        let frac = &line[start..end.min(start + 3)];
        millis = frac.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'))
            * 10i64.pow(3 - frac.len() as u32);
        i = end;
    }
    if !(at(i, b'Z') && at(i + 1, b' ')) {
        return None;
    }
    let valid =
        crate::date::is_valid_date(y as i32, mo as u32, d as u32) && h < 24 && mi < 60 && sec < 61;
    if !valid {
        return None;
    }
    let days = crate::date::days_from_civil(y as i32, mo as u32, d as u32);
    let secs = days * crate::date::SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    Some((secs * 1000 + millis, i + 2))
}

/// Decodes a CloudWatch Logs export object of log stream `log_stream` (its folder, the network
/// interface for flow logs) into `out` (cleared first): each line's message becomes a line, its time
/// the event timestamp. A line without the time prefix (a message that continued on a new line) is
/// kept as it is, with no timestamp.
pub fn decode_export(text: &[u8], log_stream: &str, out: &mut Decoded) {
    out.text.clear();
    out.lines.clear();
    out.origins.clear();
    out.data_messages = 0;
    out.control_messages = 0;
    out.bad.clear();
    let mut times = std::mem::take(&mut out.times);
    times.clear();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let (time, message) = match export_time(line) {
            Some((ms, at)) => (Some(ms), &line[at..]),
            None => (None, line),
        };
        out.text.extend_from_slice(message);
        out.text.push(b'\n');
        out.lines.push((0, Span::default()));
        times.push(time);
    }
    out.lines_end = out.text.len();
    let dash = append(&mut out.text, "-");
    let stream = if log_stream.is_empty() {
        dash
    } else {
        append(&mut out.text, log_stream)
    };
    out.origins.push(Origin {
        owner: dash,
        log_group: dash,
        log_stream: stream,
    });
    for (line, time) in out.lines.iter_mut().zip(&times) {
        line.1 = match *time {
            Some(ms) => append_int(&mut out.text, ms),
            None => dash,
        };
    }
    out.times = times;
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789010","logGroup":"/aws/vpc/flowlogs","logStream":"eni-1235b8ca123456789","subscriptionFilters":["MyFlowLogSubscription"],"logEvents":[{"id":"eventId1","timestamp":1418530010000,"message":"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"},{"id":"eventId2","timestamp":1418530010000,"message":"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"}]}"#;
    const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

    fn text_of(out: &Decoded, span: Span) -> &str {
        std::str::from_utf8(span.of(&out.text)).unwrap()
    }

    fn lines(out: &Decoded) -> Vec<&str> {
        std::str::from_utf8(&out.text[..out.lines_end])
            .unwrap()
            .lines()
            .collect()
    }

    #[test]
    fn back_to_back_objects_with_control_messages_and_any_key_order() {
        let reordered = r#"{"logEvents":[{"message":"2 1 eni-a 1.1.1.1 2.2.2.2 1 2 6 1 1 10 20 ACCEPT OK","timestamp":5,"id":"x"}],"logStream":"eni-a-all","owner":"111122223333","messageType":"DATA_MESSAGE","logGroup":"g","subscriptionFilters":[]}"#;
        let text = format!("{DEFAULT}{CONTROL}{reordered}\n{DEFAULT}");
        assert!(looks_like_envelopes(text.as_bytes()));
        let mut out = Decoded::default();
        decode(text.as_bytes(), &mut out).unwrap();
        assert_eq!(out.data_messages, 3);
        assert_eq!(out.control_messages, 1);
        assert_eq!(out.lines.len(), 5);
        let l = lines(&out);
        assert_eq!(l[1], "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK");
        assert_eq!(l[2], "2 1 eni-a 1.1.1.1 2.2.2.2 1 2 6 1 1 10 20 ACCEPT OK");
        let (origin, ts) = out.lines[2];
        assert_eq!(origin, 1);
        assert_eq!(text_of(&out, ts), "5");
        assert_eq!(text_of(&out, out.lines[4].1), "1418530010000");
        let o = out.origins[1];
        assert_eq!(text_of(&out, o.owner), "111122223333");
        assert_eq!(text_of(&out, o.log_stream), "eni-a-all");
        assert_eq!(text_of(&out, out.origins[0].log_group), "/aws/vpc/flowlogs");
    }

    #[test]
    fn direct_firehose_records_escapes_and_line_breaks_in_a_message() {
        let text = r#"{"message":"2 647604195155 eni-05fdd58317a3a58e4 10.30.2.238 10.30.1.217 8089 39016 6 22 10527 1643160732 1643160792 ACCEPT OK"}{"message":"a\u0020b\nc\n"}"#;
        assert!(looks_like_envelopes(text.as_bytes()));
        let mut out = Decoded::default();
        decode(text.as_bytes(), &mut out).unwrap();
        assert_eq!(out.data_messages, 2);
        assert_eq!(lines(&out)[1], "a b c");
        let o = out.origins[0];
        assert_eq!(text_of(&out, o.owner), "-");
        assert_eq!(text_of(&out, out.lines[1].1), "-");
    }

    #[test]
    fn a_cut_object_or_foreign_bytes_name_where_the_damage_is_and_keep_what_came_before() {
        let cut = &DEFAULT[..DEFAULT.len() - 10];
        let text = format!("{DEFAULT}\n{cut}");
        let mut out = Decoded::default();
        let err = decode(text.as_bytes(), &mut out).unwrap_err();
        match err {
            EnvelopeError::Malformed { index, offset, .. } => {
                assert_eq!(index, 1);
                assert_eq!(offset, DEFAULT.len() + 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out.lines.len(),
            2,
            "the first envelope's events were decoded"
        );
        assert_eq!(text_of(&out, out.origins[0].owner), "123456789010");
        let unknown = r#"{"messageType":"SOMETHING_ELSE","logEvents":[]}"#;
        let err = decode(unknown.as_bytes(), &mut out).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::UnknownType { index: 0, .. }),
            "{err}"
        );
        let foreign = r#"{"errorCode":"Lambda.FunctionError","rawData":"eyJ9"}"#;
        assert!(matches!(
            decode(foreign.as_bytes(), &mut out),
            Err(EnvelopeError::UnknownType { .. })
        ));
        assert!(!looks_like_envelopes(b"2 123 eni-x 1.1.1.1"));
        assert!(!looks_like_envelopes(b"{\"a\":1}"));
        assert!(looks_like_envelopes(b"  \n{\"logEvents\":[]}"));
    }

    #[test]
    fn bytes_that_are_not_utf8_make_a_bad_line_in_a_message_and_damage_elsewhere_not_a_panic() {
        let mut text =
            br#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":[{"message":"2 a"}]}"#
                .to_vec();
        text.extend_from_slice(
            b"{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"message\":\"\xff\xfe\"}]}",
        );
        let mut out = Decoded::default();
        // In a message: that record is bad (its bytes kept for the rejects), the envelope is whole.
        decode(&text, &mut out).unwrap();
        assert_eq!(out.lines.len(), 2);
        assert_eq!(out.bad, [(1, BadText::NotUtf8 { at: 0 })]);
        assert_eq!(&out.text[..out.lines_end], b"2 a\n\xff\xfe\n");
        // Elsewhere (a log group): the envelope is damage.
        text.extend_from_slice(
            b"{\"logGroup\":\"\xff\",\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[]}",
        );
        let err = decode(&text, &mut out).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::Malformed { index: 2, .. }),
            "{err}"
        );
        assert_eq!(out.lines.len(), 2);
        // Nothing at all, or only whitespace: no envelopes, no error.
        decode(b"", &mut out).unwrap();
        decode(b" \n ", &mut out).unwrap();
        assert_eq!((out.lines.len(), out.data_messages), (0, 0));
    }

    #[test]
    fn timestamps_are_written_as_decimal_text() {
        let mut text = Vec::new();
        for n in [0, 7, -5, 1418530010000, i64::MIN, i64::MAX] {
            let span = append_int(&mut text, n);
            assert_eq!(span.of(&text), n.to_string().as_bytes());
        }
    }

    #[test]
    fn export_lines_keep_their_time_and_stream() {
        let text = b"2024-05-01T13:05:11.000Z 2 123456789012 eni-1 10.0.0.1 10.0.1.1 1 2 6 1 1 1714568711 1714568771 ACCEPT OK\n\
2024-05-01T13:04:59.5Z 2 123456789012 eni-1 - - - - - - - 1714568699 1714568759 - NODATA\r\n\
continued without a time\n";
        assert!(looks_like_export(text));
        assert!(!looks_like_export(b"version account-id\n2 1"));
        assert!(!looks_like_export(b"2024-05-01T13:05:11.000 no zone\n"));
        assert!(!looks_like_export(b"2024-13-01T13:05:11Z bad month\n"));
        let mut out = Decoded::default();
        decode_export(text, "eni-1-all", &mut out);
        assert_eq!(lines(&out).len(), 3);
        assert!(lines(&out)[0].starts_with("2 123456789012 eni-1 10.0.0.1"));
        assert_eq!(text_of(&out, out.lines[0].1), "1714568711000");
        assert_eq!(text_of(&out, out.lines[1].1), "1714568699500");
        assert_eq!(text_of(&out, out.lines[2].1), "-");
        assert_eq!(text_of(&out, out.origins[0].log_stream), "eni-1-all");
        assert_eq!(text_of(&out, out.origins[0].owner), "-");
    }
}

#[cfg(test)]
mod differential {
    //! The envelope reader against serde_json (a complete JSON parser) on generated streams: every
    //! key order, escapes, whitespace, extra members, and streams cut anywhere.

    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[derive(Debug, Clone)]
    enum Spec {
        Data {
            owner: Option<String>,
            stream: String,
            events: Vec<(Option<i64>, String)>,
        },
        Control,
        Direct(String),
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~é😀\n\r\t\"\\\\/\u{1}\u{8}\u{c}]{0,24}"
    }

    fn spec() -> impl Strategy<Value = Spec> {
        prop_oneof![
            4 => (
                proptest::option::of("[0-9]{12}"),
                "eni-[0-9a-f]{3}-all",
                proptest::collection::vec((proptest::option::of(any::<i64>()), text()), 0..4)
            )
                .prop_map(|(owner, stream, events)| Spec::Data { owner, stream, events }),
            1 => Just(Spec::Control),
            2 => text().prop_map(Spec::Direct),
        ]
    }

    /// Every character as `\uXXXX` (surrogate pairs beyond the BMP).
    fn all_escaped(s: &str) -> String {
        let mut out = String::from("\"");
        for unit in s.encode_utf16() {
            out.push_str(&format!("\\u{unit:04x}"));
        }
        out.push('"');
        out
    }

    /// Renders `spec` with its members rotated by `turn`, pretty or not, strings escaped fully or not.
    fn render(spec: &Spec, turn: usize, pretty: bool, escape_all: bool) -> String {
        let string = |s: &str| {
            if escape_all {
                all_escaped(s)
            } else {
                serde_json::to_string(s).unwrap()
            }
        };
        let mut members: Vec<(String, String)> = match spec {
            Spec::Data {
                owner,
                stream,
                events,
            } => {
                let events: Vec<String> = events
                    .iter()
                    .map(|(ts, m)| {
                        let ts = ts.map_or("null".to_string(), |t| t.to_string());
                        format!(
                            r#"{{"id":"3195","timestamp":{ts},"message":{},"extra":[1,{{"a":null}}]}}"#,
                            string(m)
                        )
                    })
                    .collect();
                let mut m = vec![
                    ("messageType".into(), string("DATA_MESSAGE")),
                    ("logGroup".into(), string("/vpc/flow logs")),
                    ("logStream".into(), string(stream)),
                    (
                        "subscriptionFilters".into(),
                        r#"["to-firehose", 2.5e3, true]"#.into(),
                    ),
                    ("logEvents".into(), format!("[{}]", events.join(","))),
                ];
                if let Some(o) = owner {
                    m.push(("owner".into(), string(o)));
                }
                m
            }
            Spec::Control => vec![
                ("messageType".into(), string("CONTROL_MESSAGE")),
                ("owner".into(), string("CloudwatchLogs")),
                (
                    "logEvents".into(),
                    r#"[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE"}]"#
                        .into(),
                ),
            ],
            Spec::Direct(m) => vec![("message".into(), string(m))],
        };
        let n = members.len();
        members.rotate_left(turn % n);
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", string(k)))
            .collect();
        if pretty {
            format!("{{\n  {}\n}}", body.join(",\n  "))
        } else {
            format!("{{{}}}", body.join(","))
        }
    }

    /// What serde_json makes of a stream: lines, (owner, group, stream) per line, timestamp per line,
    /// control messages, and the index of the first envelope that is not one.
    type Expected = (Vec<String>, Vec<[String; 3]>, Vec<String>, u64, Option<u64>);

    fn reference(text: &[u8]) -> Expected {
        let mut out: Expected = Default::default();
        let dash = |v: &Value| match v.as_str() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => "-".to_string(),
        };
        let line = |m: &str| m.trim_end_matches(['\n', '\r']).replace(['\n', '\r'], " ");
        for (index, v) in serde_json::Deserializer::from_slice(text)
            .into_iter::<Value>()
            .enumerate()
        {
            let Ok(v) = v else {
                out.4 = Some(index as u64);
                break;
            };
            match (&v["messageType"], &v["message"]) {
                (Value::String(t), _) if t == "DATA_MESSAGE" => {
                    let origin = [
                        dash(&v["owner"]),
                        dash(&v["logGroup"]),
                        dash(&v["logStream"]),
                    ];
                    for e in v["logEvents"].as_array().unwrap() {
                        out.0.push(line(e["message"].as_str().unwrap()));
                        out.1.push(origin.clone());
                        out.2.push(
                            e["timestamp"]
                                .as_i64()
                                .map_or("-".into(), |t| t.to_string()),
                        );
                    }
                }
                (Value::String(t), _) if t == "CONTROL_MESSAGE" => out.3 += 1,
                (Value::Null, Value::String(m)) => {
                    out.0.push(line(m));
                    out.1.push(["-".into(), "-".into(), "-".into()]);
                    out.2.push("-".into());
                }
                _ => {
                    out.4 = Some(index as u64);
                    break;
                }
            }
        }
        out
    }

    fn decoded(text: &[u8]) -> Expected {
        let mut d = Decoded::default();
        let failed = match decode(text, &mut d) {
            Ok(()) => None,
            Err(
                EnvelopeError::Malformed { index, .. } | EnvelopeError::UnknownType { index, .. },
            ) => Some(index),
        };
        let s = |span: Span| String::from_utf8(span.of(&d.text).to_vec()).unwrap();
        let lines: Vec<String> = if d.lines.is_empty() {
            Vec::new()
        } else {
            String::from_utf8(d.text[..d.lines_end].to_vec())
                .unwrap()
                .split_terminator('\n')
                .map(String::from)
                .collect()
        };
        let origins = d
            .lines
            .iter()
            .map(|&(o, _)| {
                let o = d.origins[o as usize];
                [s(o.owner), s(o.log_group), s(o.log_stream)]
            })
            .collect();
        let times = d.lines.iter().map(|&(_, t)| s(t)).collect();
        (lines, origins, times, d.control_messages, failed)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_reader_agrees_with_serde_json(
            specs in proptest::collection::vec((spec(), 0usize..6, any::<bool>(), any::<bool>()), 0..5),
            separator in prop_oneof![Just(""), Just("\n"), Just(" \r\n\t")],
            cut in proptest::option::of(any::<proptest::sample::Index>()),
        ) {
            let mut text: String = specs
                .iter()
                .map(|(spec, turn, pretty, escape)| render(spec, *turn, *pretty, *escape))
                .collect::<Vec<_>>()
                .join(separator);
            if let Some(cut) = cut {
                let mut at = cut.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            prop_assert_eq!(decoded(text.as_bytes()), reference(text.as_bytes()), "{}", text);
        }
    }

    #[test]
    fn members_nobody_reads_may_hold_odd_escapes_and_deep_values() {
        // A lone surrogate in an event id (serde_json, skipping the member, let it through too), a
        // duplicate key (the last one counts), nested values.
        let text = br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a","id":"\ud800"}],"x":{"y":[[[{"z":null}]]]},"logStream":"s1","logStream":"s2"}"#;
        let (lines, origins, _, _, failed) = decoded(text);
        assert_eq!((lines, failed), (vec!["a".to_string()], None));
        assert_eq!(origins[0][2], "s2");
        // A lone surrogate in a message that is read makes that line a bad one, not the envelope.
        let text = br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"a"},{"message":"x \ud800 y"},{"message":"b"}]}{"message":"\udc00"}"#;
        let (lines, _, _, _, failed) = decoded(text);
        assert_eq!(
            (lines, failed),
            (
                vec![
                    "a".to_string(),
                    r"x \ud800 y".into(),
                    "b".into(),
                    r"\udc00".into()
                ],
                None
            )
        );
        let mut d = Decoded::default();
        decode(text, &mut d).unwrap();
        assert_eq!(
            d.bad,
            [
                (1, BadText::LoneSurrogate { at: 2 }),
                (3, BadText::LoneSurrogate { at: 0 })
            ]
        );
    }

    #[test]
    fn a_null_timestamp_or_owner_reads_as_none() {
        let text = json!({"messageType":"DATA_MESSAGE","owner":null,"logEvents":[{"timestamp":null,"message":"x"}]})
            .to_string();
        let (lines, origins, times, _, failed) = decoded(text.as_bytes());
        assert_eq!((lines, failed), (vec!["x".to_string()], None));
        assert_eq!(origins[0][0], "-");
        assert_eq!(times[0], "-");
    }
}
