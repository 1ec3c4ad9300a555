//! Firehose deliveries: the records of an S3 text file, framed as Kinesis Data Firehose writes them
//! to S3 (README, "Inputs"; `input/envelope.rs` reads them).
//!
//! An object's key is `firehose/YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>` (Firehose
//! guide, *s3-object-name*), with `.gz` when Firehose compresses it, the time being the UTC start of
//! the object's 5-minute slot and the uuid a deterministic random (version 4) uuid.
//!
//! Through CloudWatch Logs, a log stream is one network interface (`eni-...-all`) and a subscription
//! sends batches of one log stream's events: the records of an object are grouped by interface, in
//! the order each interface first appears, each interface's records in their own order, into
//! envelopes of at most [`MAX_EVENTS`] events. An event's `timestamp` is its record's `start` in
//! milliseconds, its `id` 56 decimal digits counting up by one within an envelope. The first object of each day of a flow log starts
//! with a `CONTROL_MESSAGE` (CloudWatch Logs' health check of the destination). CloudWatch Logs gzips
//! each envelope, so a Firehose object is gzip members back to back; Firehose may gzip it once more,
//! decompress it (plain JSON, one envelope per line), or also extract the messages (the records, one
//! per line). A flow log delivered straight to Firehose writes `{"message":"<record>"}` per record,
//! back to back, in the records' order.
//!
//! An object's records are rendered in memory before it is written (they are regrouped), so a Firehose
//! delivery holds one object per worker thread in memory (its text, 150 to 400 bytes per record).

use std::fmt::Write as _;
use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

use super::records::{log_stream, Records};
use super::rng::Rng;
use super::Delivery;
use crate::date;

/// The S3 prefix of the delivery stream: objects go to `<out>/firehose/YYYY/MM/DD/HH/`.
pub(super) const PREFIX: &str = "firehose/";
/// The delivery stream's name, the start of every object name.
pub(super) const STREAM: &str = "vpc-flow-logs";
/// The version of the stream's configuration, in every object name.
const STREAM_VERSION: u32 = 1;
/// The flow log's CloudWatch Logs log group.
pub(super) const LOG_GROUP: &str = "/vpc/flowlogs";
/// The subscription filter that sends the log group to Firehose.
pub(super) const SUBSCRIPTION_FILTER: &str = "to-firehose";
/// Most events in one envelope.
pub(super) const MAX_EVENTS: usize = 100;
/// The owner of a control message.
const CONTROL_OWNER: &str = "CloudwatchLogs";
/// The one event of a control message.
pub(super) const CONTROL_TEXT: &str =
    "CWL CONTROL MESSAGE: Checking health of destination Firehose.";
/// Digits of a CloudWatch Logs event id.
pub(super) const EVENT_ID_DIGITS: usize = 56;
/// Output is handed to the writer in chunks of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// True when Firehose gzips the object itself (its name then ends in `.gz`).
pub(super) fn gzipped_by_firehose(delivery: Delivery) -> bool {
    matches!(
        delivery,
        Delivery::CloudWatchFirehoseGzip | Delivery::FirehoseDirect
    )
}

/// Key of an object relative to `out` for the slot starting at `slot_start` (Unix seconds).
pub(super) fn key(delivery: Delivery, slot_start: i64, uuid: &str) -> String {
    let (y, mo, d, h) = date::unix_to_civil_hour(slot_start);
    let mi = slot_start.rem_euclid(date::SECS_PER_HOUR) / 60;
    let s = slot_start.rem_euclid(60);
    let ext = if gzipped_by_firehose(delivery) {
        ".gz"
    } else {
        ""
    };
    format!(
        "{PREFIX}{y:04}/{mo:02}/{d:02}/{h:02}/{STREAM}-{STREAM_VERSION}-{y:04}-{mo:02}-{d:02}-{h:02}-{mi:02}-{s:02}-{uuid}{ext}"
    )
}

/// A random (version 4, RFC 9562 variant) uuid drawn from `rng`: 8-4-4-4-12 lowercase hex digits.
pub(super) fn uuid(rng: &mut Rng) -> String {
    let hi = (rng.next_u64() & !0xf000) | 0x4000;
    let lo = (rng.next_u64() & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// Appends the ids of `events` consecutive CloudWatch Logs events: 56 decimal digits each, a base
/// drawn from `rng` and then counting up by one, as in the example envelope of AWS's guide
/// (*SubscriptionFilters*: `...4298221568`, `...4298221569`, `...4298221570`). Real ids of one batch
/// share their leading digits; 56 random digits per event would compress like no real delivery.
fn push_event_ids(rng: &mut Rng, events: usize, out: &mut String) {
    const E18: u64 = 1_000_000_000_000_000_000;
    let (lead, a, b) = (30 + rng.below(10), rng.below(E18), rng.below(E18));
    // The last 18 digits leave room to count up without a carry.
    let low = rng.below(E18 - MAX_EVENTS as u64);
    for k in 0..events as u64 {
        let _ = write!(out, "{lead:02}{a:018}{b:018}{:018}", low + k);
    }
}

/// What an object is, besides its records.
pub(super) struct Object<'a> {
    pub(super) delivery: Delivery,
    /// The account id as 12 digits (the envelopes' `owner`).
    pub(super) owner: &'a str,
    /// Start of the object's slot (Unix seconds): the control message's time.
    pub(super) slot_start: i64,
    /// Whether the object starts with a control message.
    pub(super) control: bool,
}

/// Totals of one object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    /// Bytes before any gzip.
    pub(super) text_bytes: u64,
    pub(super) control_messages: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    message_type: &'a str,
    owner: &'a str,
    log_group: &'a str,
    log_stream: &'a str,
    subscription_filters: &'a [&'a str],
    log_events: Vec<Event<'a>>,
}

#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    timestamp: i64,
    message: &'a str,
}

/// A record delivered straight to Firehose.
#[derive(Serialize)]
struct Direct<'a> {
    message: &'a str,
}

/// Output of one object: chunks to `out`, counting the bytes before any gzip.
struct Sink<'w, W: Write> {
    out: &'w mut W,
    chunk: Vec<u8>,
    written: Written,
}

impl<W: Write> Sink<'_, W> {
    /// Appends `bytes` as they are.
    fn plain(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.chunk.extend_from_slice(bytes);
        self.written.text_bytes += bytes.len() as u64;
        self.flush_full()
    }

    /// Appends `bytes` as one gzip member (no timestamp in its header).
    fn member(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut gz = GzEncoder::new(&mut self.chunk, Compression::default());
        gz.write_all(bytes)?;
        gz.finish()?;
        self.written.text_bytes += bytes.len() as u64;
        self.flush_full()
    }

    fn flush_full(&mut self) -> io::Result<()> {
        if self.chunk.len() >= WRITE_CHUNK {
            self.out.write_all(&self.chunk)?;
            self.chunk.clear();
        }
        Ok(())
    }

    fn finish(self) -> io::Result<Written> {
        self.out.write_all(&self.chunk)?;
        Ok(self.written)
    }
}

/// Writes the content of one object to `out` (Firehose's own gzip, if any, is the caller's `out`),
/// drawing event ids from `ids`.
pub(super) fn write_object<W: Write>(
    obj: &Object<'_>,
    records: &Records,
    ids: &mut Rng,
    out: &mut W,
) -> io::Result<Written> {
    let text = records.text()?;
    let line = |i: usize| &text[records.line(i)];
    let mut sink = Sink {
        out,
        chunk: Vec::with_capacity(WRITE_CHUNK + 16 * 1024),
        written: Written::default(),
    };
    let mut json = Vec::new();
    match obj.delivery {
        Delivery::S3 | Delivery::CloudWatchExport => {
            return Err(io::Error::other("not a Firehose delivery"))
        }
        Delivery::FirehoseDirect => {
            for i in 0..records.len() {
                json.clear();
                serde_json::to_writer(&mut json, &Direct { message: line(i) })?;
                sink.plain(&json)?;
            }
        }
        Delivery::CloudWatchFirehoseExtracted => {
            for group in records.by_interface() {
                for &i in &group {
                    sink.plain(line(i).as_bytes())?;
                    sink.plain(b"\n")?;
                }
            }
        }
        Delivery::CloudWatchFirehose
        | Delivery::CloudWatchFirehoseGzip
        | Delivery::CloudWatchFirehoseJson => {
            let mut emit = |sink: &mut Sink<'_, W>, envelope: &Envelope<'_>| -> io::Result<()> {
                json.clear();
                serde_json::to_writer(&mut json, envelope)?;
                if obj.delivery == Delivery::CloudWatchFirehoseJson {
                    json.push(b'\n');
                    sink.plain(&json)
                } else {
                    sink.member(&json)
                }
            };
            if obj.control {
                let control = Envelope {
                    message_type: "CONTROL_MESSAGE",
                    owner: CONTROL_OWNER,
                    log_group: "",
                    log_stream: "",
                    subscription_filters: &[],
                    log_events: vec![Event {
                        id: "",
                        timestamp: obj.slot_start.saturating_mul(1000),
                        message: CONTROL_TEXT,
                    }],
                };
                emit(&mut sink, &control)?;
                sink.written.control_messages += 1;
            }
            let mut id_text = String::with_capacity(MAX_EVENTS * EVENT_ID_DIGITS);
            for group in records.by_interface() {
                let stream = log_stream(records.eni(group[0]));
                let log_stream = stream.as_str();
                for batch in group.chunks(MAX_EVENTS) {
                    id_text.clear();
                    push_event_ids(ids, batch.len(), &mut id_text);
                    let log_events = batch
                        .iter()
                        .enumerate()
                        .map(|(k, &i)| Event {
                            id: &id_text[k * EVENT_ID_DIGITS..(k + 1) * EVENT_ID_DIGITS],
                            timestamp: records.start(i).saturating_mul(1000),
                            message: line(i),
                        })
                        .collect();
                    let envelope = Envelope {
                        message_type: "DATA_MESSAGE",
                        owner: obj.owner,
                        log_group: LOG_GROUP,
                        log_stream,
                        subscription_filters: &[SUBSCRIPTION_FILTER],
                        log_events,
                    };
                    emit(&mut sink, &envelope)?;
                }
            }
        }
    }
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_event_ids_have_their_shape() {
        let mut rng = Rng::new(5);
        for _ in 0..1000 {
            let u = uuid(&mut rng);
            let groups: Vec<&str> = u.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(u
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert!(groups[2].starts_with('4'), "{u}");
            assert!("89ab".contains(&groups[3][..1]), "{u}");
            let mut ids = String::new();
            push_event_ids(&mut rng, MAX_EVENTS, &mut ids);
            assert_eq!(ids.len(), MAX_EVENTS * EVENT_ID_DIGITS);
            assert!(ids.bytes().all(|b| b.is_ascii_digit()), "{ids}");
            // One batch counts up by one from its base: the same leading digits, the tail + k.
            let (first, last) = (&ids[..EVENT_ID_DIGITS], &ids[ids.len() - EVENT_ID_DIGITS..]);
            assert_eq!(first[..38], last[..38]);
            let tail = |id: &str| id[38..].parse::<u64>().unwrap();
            assert_eq!(tail(last) - tail(first), MAX_EVENTS as u64 - 1);
        }
    }

    #[test]
    fn keys_have_firehose_names_with_the_slot_time() {
        let t = date::days_from_civil(2024, 1, 15) * date::SECS_PER_DAY + 6 * 3600 + 35 * 60;
        let u = "0a1b2c3d-4e5f-4789-abcd-ef0123456789";
        assert_eq!(
            key(Delivery::CloudWatchFirehose, t, u),
            format!("firehose/2024/01/15/06/vpc-flow-logs-1-2024-01-15-06-35-00-{u}")
        );
        assert!(key(Delivery::CloudWatchFirehoseGzip, t, u).ends_with(&format!("{u}.gz")));
        assert!(key(Delivery::FirehoseDirect, t, u).ends_with(".gz"));
        assert!(!key(Delivery::CloudWatchFirehoseJson, t, u).ends_with(".gz"));
        assert!(!key(Delivery::CloudWatchFirehoseExtracted, t, u).ends_with(".gz"));
    }

    #[test]
    fn envelopes_hold_at_most_max_events_of_one_stream() {
        let enis: Vec<u64> = (0..250).map(|i| if i % 5 == 0 { 2 } else { 1 }).collect();
        let r = Records::of_interfaces(&enis);
        let obj = Object {
            delivery: Delivery::CloudWatchFirehoseJson,
            owner: "123456789012",
            slot_start: 1_700_000_100,
            control: true,
        };
        let mut out = Vec::new();
        let w = write_object(&obj, &r, &mut Rng::new(1), &mut out).unwrap();
        assert_eq!(w.control_messages, 1);
        assert_eq!(w.text_bytes, out.len() as u64);
        let text = String::from_utf8(out).unwrap();
        let envelopes: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let sizes: Vec<usize> = envelopes
            .iter()
            .map(|e| e["logEvents"].as_array().unwrap().len())
            .collect();
        // The control message, then ENI 2 (first seen) with its 50 records in one envelope, ENI 1
        // with its 200 in two.
        assert_eq!(sizes, [1, 50, 100, 100]);
        assert_eq!(envelopes[0]["messageType"], "CONTROL_MESSAGE");
        assert_eq!(
            envelopes[0]["logEvents"][0]["timestamp"],
            1_700_000_100_000i64
        );
        assert_eq!(envelopes[1]["logEvents"][1]["message"], "line 5 of 2");
        assert_eq!(envelopes[2]["logEvents"][0]["message"], "line 1 of 1");
        assert_eq!(
            envelopes[2]["logEvents"][1]["timestamp"],
            1_700_000_002_000i64
        );
        assert_eq!(envelopes[3]["logEvents"][0]["message"], "line 126 of 1");
        assert_eq!(envelopes[1]["logStream"].as_str().unwrap(), log_stream(2));
        assert_ne!(envelopes[1]["logStream"], envelopes[2]["logStream"]);
        assert_eq!(envelopes[2]["logStream"], envelopes[3]["logStream"]);
    }
}
