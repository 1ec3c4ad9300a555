//! One input file → Arrow batches, with an account of every line.
//!
//! [`FileParser`] is one worker's reusable state (file buffer, field spans, batch builder). For each
//! file it reads the whole decompressed text ([`read`](crate::input::read)), walks its lines, takes the layout
//! from the header (or from `--fields` for headerless files), and appends records to the builder.
//! Blank lines and a repeated header are skipped and counted; a different header mid-file (two files
//! concatenated) switches the layout. Every other line is a record: it becomes a row or a reject, so a
//! file's `lines == rows + rejected` by construction, and that is checked again before publishing.

use std::path::PathBuf;
use std::time::Instant;

use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::input::discover::InputFile;
use crate::input::envelope::{self, looks_like_envelopes, looks_like_export, Decoded};
use crate::input::read::{FileReader, ReadError, ReadErrorKind};
use crate::lake::filter::Filters;
use crate::lake::schema;
use crate::storage::Store;
use crate::text::batch::{parse_uint, BatchBuilder, LineError, RejectKind};
use crate::text::layout::{looks_like_header, Layout, Slot};
use crate::text::rejects::{Reject, RejectLog};
use crate::text::route::{slot_of, slot_seconds};
use crate::text::tokenize::{split_fields, Line, Lines, Span};

/// What a bad line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadLinePolicy {
    /// Record it in the rejects sidecar and go on (the partition's reject ratio still applies).
    #[default]
    Reject,
    /// Stop the run with an error before the partition is published.
    Abort,
}

/// What a file that cannot be read completely (truncated, corrupt, not gzip, ...) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadFilePolicy {
    /// List it in the report and convert the other files without it (none of its rows are published).
    #[default]
    Quarantine,
    /// Like `Quarantine`, but publish the complete lines decoded before the damage.
    Salvage,
    /// Stop the run with an error before the partition is published.
    Abort,
}

/// Settings the parser needs.
#[derive(Debug, Clone)]
pub struct ParseSettings {
    /// Layout for files whose first line is not a header.
    pub fields: Option<Layout>,
    pub batch_rows: usize,
    pub max_file_bytes: u64,
    pub max_line_bytes: usize,
    pub on_bad_line: BadLinePolicy,
    pub on_bad_file: BadFilePolicy,
    /// The records the lake keeps (`--action`, `--drop-log-status`).
    pub filters: Filters,
}

/// What became of one file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    pub path: PathBuf,
    /// The file has no date of its own (an export object, undated text): it is read once for each
    /// partition it feeds, each read keeping that partition's lines.
    pub undated: bool,
    /// Compressed (on-disk) size.
    pub input_bytes: u64,
    /// Decompressed size.
    pub text_bytes: u64,
    /// Record lines (every line that is neither blank nor a header).
    pub lines: u64,
    pub rows: u64,
    pub rejected: u64,
    /// Records dropped by the lake's filters (`--action`, `--drop-log-status`).
    pub filtered: u64,
    pub headers: u64,
    pub blank_lines: u64,
    /// CloudWatch Logs `CONTROL_MESSAGE` envelopes (health checks, no records) skipped.
    pub control_messages: u64,
    /// With [`FileParser::slots_of`]: the slots (days or hours) of the times of the file's counted
    /// lines (`start`, else the event timestamp).
    pub line_slots: std::collections::BTreeSet<i64>,
    /// Header fields the catalogue does not know.
    pub unknown_fields: Vec<String>,
    /// Things worth telling the user that are not errors (empty file, header-only file, ...).
    pub warnings: Vec<String>,
    /// Set when the file could not be read completely; then it contributes no lines, unless `salvaged`.
    pub error: Option<ReadError>,
    /// With `--on-bad-file salvage`, lines from before the damage were kept (`lines` of them): the
    /// complete lines, or the records of the whole envelopes, decoded before it. False when none was.
    pub salvaged: bool,
    /// The file is clearly not a flow log (why): its first line is neither a flow log header, nor a
    /// record of `--fields`, nor shaped like a record (a CSV or JSON file among the logs). None of
    /// its lines were used or rejected.
    pub not_flow_log: Option<String>,
    pub batches: Vec<RecordBatch>,
    /// Seconds spent reading and decompressing the file.
    pub read_seconds: f64,
    /// Seconds spent splitting lines and parsing fields into the builder.
    pub tokenize_seconds: f64,
    /// Seconds spent building Arrow arrays from the parsed fields.
    pub build_seconds: f64,
}

/// One worker's reusable parsing state.
#[derive(Default)]
pub struct FileParser {
    reader: FileReader,
    buf: Vec<u8>,
    spans: Vec<Span>,
    builder: BatchBuilder,
    /// The lines of an object of JSON envelopes, when the file is one.
    decoded: Decoded,
    /// Seconds per slot when [`slots_of`](Self::slots_of) is collecting the slots of a file's lines.
    collect_per: Option<i64>,
}

impl FileParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `file` to collect the slots of its lines' times (`per` seconds a slot) in the outcome's
    /// `line_slots`: where an undated file's lines go, rows, rejects and filtered records alike. The
    /// lines are split and counted, not made into rows (the outcome has none, and `rows`, `rejected`
    /// and `filtered` stay 0); nothing is recorded (pass a discarding `rejects`).
    pub fn slots_of(
        &mut self,
        source: &dyn Store,
        file: &InputFile,
        settings: &ParseSettings,
        rejects: &RejectLog,
        per: i64,
    ) -> Result<FileOutcome> {
        self.collect_per = Some(per);
        let outcome = self.parse(source, file, settings, rejects);
        self.collect_per = None;
        outcome
    }

    /// Reads and parses one file. Rejected lines go to `rejects`; an unreadable file is reported in
    /// the outcome's `error`, never as an `Err` (which means the run itself cannot go on).
    pub fn parse(
        &mut self,
        source: &dyn Store,
        file: &InputFile,
        settings: &ParseSettings,
        rejects: &RejectLog,
    ) -> Result<FileOutcome> {
        let mut out = FileOutcome {
            path: file.path.clone(),
            undated: file.undated.is_some(),
            input_bytes: file.size,
            ..FileOutcome::default()
        };
        let started = Instant::now();
        let read = self
            .reader
            .read(source, file, &mut self.buf, settings.max_file_bytes);
        out.read_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        // With `--on-bad-file salvage`, a damaged gzip stream's text decoded before the damage is
        // read: what of it is whole (lines, envelopes) is kept.
        let mut salvaging = false;
        if let Err(e) = read {
            salvaging = settings.on_bad_file == BadFilePolicy::Salvage && e.kind.is_damage();
            out.error = Some(e);
            if !salvaging {
                return Ok(out);
            }
        }
        // A UTF-8 byte order mark (an editor or a Windows tool wrote the file) is not data.
        if self.buf.starts_with(UTF8_BOM) {
            self.buf.drain(..UTF8_BOM.len());
        }
        let shape = if looks_like_envelopes(&self.buf) {
            Some(Shape::Envelopes)
        } else if looks_like_export(&self.buf) {
            Some(Shape::Export)
        } else {
            None
        };
        if salvaging && shape != Some(Shape::Envelopes) {
            // Lines: the complete ones. (Envelopes are not lines: the envelope reader keeps the whole
            // ones and stops at the first that is cut.)
            let complete = memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1);
            self.buf.truncate(complete);
        }
        out.text_bytes = self.buf.len() as u64;
        if let Some(shape) = shape {
            parse_envelopes(self, shape, file, settings, rejects, &mut out)?;
            out.tokenize_seconds = started.elapsed().as_secs_f64() - out.build_seconds;
            out.salvaged = out.error.is_some() && out.lines > 0;
            return Ok(out);
        }
        if let Some(why) = not_a_flow_log(&self.buf, &mut self.spans, settings.fields.as_ref()) {
            // A damaged file is failed with its damage, whatever its text looks like (a cut can leave
            // anything before it): never skipped as "not a flow log".
            if out.error.is_none() {
                out.not_flow_log = Some(why);
            }
            return Ok(out);
        }
        let collect_per = self.collect_per;
        let buf = self.buf.as_slice();
        let check_utf8 = std::str::from_utf8(buf).is_err();
        let builder = &mut self.builder;
        let spans = &mut self.spans;
        let mut layout: Option<Layout> = None;
        // Where the filtered fields are in the layout in force (`None`: the lake keeps every record).
        let mut filter: Option<FilterAt> = None;
        let slots = SlotFilter::of(file);
        // Where `start` is in the layout in force (for the time of an undated file's lines).
        let mut start_at: Option<usize> = None;
        let mut first = true;
        for line in Lines::new(buf) {
            if line.is_blank() {
                if slots.as_ref().is_none_or(SlotFilter::owns_file_lines) {
                    out.blank_lines += 1;
                }
                continue;
            }
            if line.text.len() > settings.max_line_bytes {
                if slots.as_ref().is_some_and(|s| !s.keeps(None)) {
                    continue; // another partition's read counts it
                }
                out.lines += 1;
                let e = LineError {
                    kind: RejectKind::LineTooLong,
                    column: None,
                    message: format!(
                        "line of {} bytes is longer than --max-line-size {}",
                        line.text.len(),
                        settings.max_line_bytes
                    ),
                };
                reject(file, &line, e, settings, rejects, &mut out)?;
                continue;
            }
            split_fields(line.text, line.offset, spans);
            let expected = layout.as_ref().or(if first {
                settings.fields.as_ref()
            } else {
                None
            });
            if looks_like_header(buf, spans, expected) {
                if slots.as_ref().is_none_or(SlotFilter::owns_file_lines) {
                    out.headers += 1;
                }
                first = false;
                match Layout::from_header(buf, spans) {
                    Ok(new) if layout.as_ref() == Some(&new) => {}
                    Ok(new) => {
                        if layout.is_some() {
                            out.warnings.push(format!(
                                "line {}: a header with another field list; the lines after it use it",
                                line.number
                            ));
                        }
                        if !builder.is_empty() {
                            flush(builder, buf, &mut out)?;
                        }
                        builder.start_layout(&new);
                        match filter_at(&new, &settings.filters) {
                            Ok(at) => filter = at,
                            Err(why) => {
                                unfilterable(builder, buf, why, &mut out);
                                return Ok(out);
                            }
                        }
                        start_at = start_position(&new);
                        for name in &new.unknown {
                            if !out.unknown_fields.contains(name) {
                                out.unknown_fields.push(name.clone());
                            }
                        }
                        layout = Some(new);
                    }
                    Err(e) => {
                        if !builder.is_empty() {
                            flush(builder, buf, &mut out)?;
                        }
                        out.warnings.push(format!(
                            "line {}: unusable header ({e}); its records are rejected",
                            line.number
                        ));
                        layout = None;
                    }
                }
                continue;
            }
            if first {
                first = false;
                if let Some(fields) = &settings.fields {
                    builder.start_layout(fields);
                    start_at = start_position(fields);
                    match filter_at(fields, &settings.filters) {
                        Ok(at) => filter = at,
                        Err(why) => {
                            unfilterable(builder, buf, why, &mut out);
                            return Ok(out);
                        }
                    }
                    layout = Some(fields.clone());
                }
            }
            let time = if slots.is_some() || collect_per.is_some() {
                let start = layout.as_ref().and_then(|l| {
                    (spans.len() == l.len()).then_some(())?;
                    parse_uint(spans[start_at?].of(buf), i64::MAX as u64).ok()
                });
                start.map(|v| v as i64)
            } else {
                None
            };
            if !count_line(slots.as_ref(), collect_per, time, &mut out) {
                continue;
            }
            if let (Some(l), Some(at)) = (&layout, &filter) {
                if spans.len() == l.len() && at.drops(buf, spans, &settings.filters) {
                    out.filtered += 1;
                    continue;
                }
            }
            let result = match &layout {
                Some(l) => builder.append(buf, spans, l, check_utf8),
                None => Err(LineError {
                    kind: RejectKind::NoLayout,
                    column: None,
                    message: "no header line before this record and no --fields given".into(),
                }),
            };
            match result {
                Ok(()) => {
                    out.rows += 1;
                    if builder.len() >= settings.batch_rows {
                        flush(builder, buf, &mut out)?;
                    }
                }
                Err(e) => reject(file, &line, e, settings, rejects, &mut out)?,
            }
        }
        if !builder.is_empty() {
            flush(builder, buf, &mut out)?;
        }
        out.tokenize_seconds = started.elapsed().as_secs_f64() - out.build_seconds;
        out.salvaged = out.error.is_some() && out.lines > 0;
        // A damaged file's news is its damage, not what little came before it.
        if out.error.is_none() {
            if buf.is_empty() {
                out.warnings.push("file is empty".into());
            } else if out.lines == 0 && out.headers > 0 {
                out.warnings.push("file has a header but no records".into());
            }
        }
        Ok(out)
    }
}

/// Records that are not lines of a text delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// JSON envelopes (CloudWatch Logs subscription, direct Firehose delivery).
    Envelopes,
    /// A CloudWatch Logs export: `<time> <record>` lines.
    Export,
}

/// Keys of the `unknown_fields` map under which an envelope's record keeps where it came from.
pub const LOG_GROUP_KEY: &str = "cloudwatch-log-group";
pub const LOG_STREAM_KEY: &str = "cloudwatch-log-stream";
/// The CloudWatch Logs event's timestamp (milliseconds since the epoch).
pub const EVENT_TIMESTAMP_KEY: &str = "cloudwatch-timestamp";

/// Parses an object of JSON envelopes (see [`crate::input::envelope`]): each event's message is a
/// record of the `--fields` layout (envelopes carry no header); the envelope's owner fills
/// `account_id` when the layout has no `account-id`, and its log group, log stream and the event's
/// timestamp go to `unknown_fields` ([`LOG_GROUP_KEY`], [`LOG_STREAM_KEY`], [`EVENT_TIMESTAMP_KEY`]).
/// A record's line number is its event's position in the object (1 = the first event).
fn parse_envelopes(
    parser: &mut FileParser,
    shape: Shape,
    file: &InputFile,
    settings: &ParseSettings,
    rejects: &RejectLog,
    out: &mut FileOutcome,
) -> Result<()> {
    let collect_per = parser.collect_per;
    let decoded = &mut parser.decoded;
    // Export lines are raw bytes (envelopes are JSON, so valid UTF-8).
    let mut check_utf8 = false;
    let decoding = if shape == Shape::Envelopes {
        envelope::decode(&parser.buf, decoded)
    } else {
        // A CloudWatch Logs export: `<task>/<log stream>/000000.gz`.
        let stream = file
            .path
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        envelope::decode_export(&parser.buf, &stream, decoded);
        check_utf8 = std::str::from_utf8(&decoded.text).is_err();
        Ok(())
    };
    // The events of the whole envelopes before the first that is not one are kept with salvage. A
    // damaged gzip stream (already the file's error) ends in a cut envelope.
    if let (Err(e), None) = (decoding, &out.error) {
        out.error = Some(ReadError::new(ReadErrorKind::BadEnvelope, e.to_string()));
        if settings.on_bad_file != BadFilePolicy::Salvage {
            return Ok(());
        }
    }
    out.control_messages = decoded.control_messages;
    let buf = decoded.text.as_slice();
    let (builder, spans) = (&mut parser.builder, &mut parser.spans);
    // The user's fields, then the values each record takes from its envelope.
    let layout = match &settings.fields {
        Some(fields) => {
            let own_account = fields.slots.contains(&Slot::Known(schema::ACCOUNT_ID));
            let header = fields.header_line();
            let mut names: Vec<&str> = header.split(' ').collect();
            if !own_account {
                names.push(schema::CATALOGUE[schema::ACCOUNT_ID].header);
            }
            names.extend([LOG_GROUP_KEY, LOG_STREAM_KEY, EVENT_TIMESTAMP_KEY]);
            match Layout::from_names(names.iter().map(|n| n.as_bytes())) {
                Ok(layout) => Some((fields.len(), own_account, layout)),
                Err(e) => {
                    out.error = Some(ReadError::new(
                        ReadErrorKind::BadEnvelope,
                        format!("--fields cannot be used for CloudWatch Logs envelopes: {e}"),
                    ));
                    return Ok(());
                }
            }
        }
        None => None,
    };
    let mut filter = None;
    let slots = SlotFilter::of(file);
    let start_at = settings.fields.as_ref().and_then(start_position);
    if let Some((_, _, layout)) = &layout {
        builder.start_layout(layout);
        // The user's fields come first in the envelope layout: their positions are the same.
        match filter_at(layout, &settings.filters) {
            Ok(at) => filter = at,
            Err(why) => {
                unfilterable(builder, buf, why, out);
                return Ok(());
            }
        }
    }
    // Owners that are not account ids, warned about once each.
    let mut odd_owners: Vec<Vec<u8>> = Vec::new();
    // The lines whose message is not text, in order.
    let mut bad = decoded.bad.iter().peekable();
    let lines = Lines::new(&buf[..decoded.lines_end]).zip(&decoded.lines);
    for (index, (line, &(origin, timestamp))) in lines.enumerate() {
        let not_text = match bad.peek() {
            Some(&&(at, why)) if at as usize == index => {
                bad.next();
                Some(why)
            }
            _ => None,
        };
        if line.is_blank() {
            if slots.as_ref().is_none_or(SlotFilter::owns_file_lines) {
                out.blank_lines += 1;
            }
            continue;
        }
        let split = slots.is_some() || collect_per.is_some();
        let time = if split {
            split_fields(line.text, line.offset, spans);
            let start = match (&layout, start_at) {
                (Some((n, _, _)), Some(at)) if spans.len() == *n => spans
                    .get(at)
                    .and_then(|s| parse_uint(s.of(buf), i64::MAX as u64).ok())
                    .map(|v| v as i64),
                _ => None,
            };
            start.or_else(|| {
                parse_uint(timestamp.of(buf), i64::MAX as u64)
                    .ok()
                    .map(|ms| ms as i64 / 1000)
            })
        } else {
            None
        };
        if !count_line(slots.as_ref(), collect_per, time, out) {
            continue;
        }
        if let Some(why) = not_text {
            // One bad value in a whole envelope: that record is rejected, as a line that is not
            // UTF-8 is in a text file (the line holds the message as written, escapes and all).
            let e = LineError {
                kind: RejectKind::InvalidUtf8,
                column: None,
                message: format!("the record's message is not text: {why}"),
            };
            reject(file, &line, e, settings, rejects, out)?;
            continue;
        }
        if line.text.len() > settings.max_line_bytes {
            let e = LineError {
                kind: RejectKind::LineTooLong,
                column: None,
                message: format!(
                    "record of {} bytes is longer than --max-line-size {}",
                    line.text.len(),
                    settings.max_line_bytes
                ),
            };
            reject(file, &line, e, settings, rejects, out)?;
            continue;
        }
        let Some((fields, own_account, layout)) = &layout else {
            let e = LineError {
                kind: RejectKind::NoLayout,
                column: None,
                message: "CloudWatch Logs and Firehose records carry no header: give --fields"
                    .into(),
            };
            reject(file, &line, e, settings, rejects, out)?;
            continue;
        };
        if !split {
            split_fields(line.text, line.offset, spans);
        }
        if spans.len() != *fields {
            let kind = if spans.len() < *fields {
                RejectKind::TooFewFields
            } else {
                RejectKind::TooManyFields
            };
            let e = LineError {
                kind,
                column: None,
                message: format!("expected {fields} fields, found {}", spans.len()),
            };
            reject(file, &line, e, settings, rejects, out)?;
            continue;
        }
        if filter
            .as_ref()
            .is_some_and(|at| at.drops(buf, spans, &settings.filters))
        {
            out.filtered += 1;
            continue;
        }
        let from = decoded.origins[origin as usize];
        if !own_account {
            spans.push(from.owner);
            note_odd_owner(from.owner.of(buf), &mut odd_owners, out);
        }
        spans.extend([from.log_group, from.log_stream, timestamp]);
        match builder.append(buf, spans, layout, check_utf8) {
            Ok(()) => {
                out.rows += 1;
                if builder.len() >= settings.batch_rows {
                    flush(builder, buf, out)?;
                }
            }
            Err(e) => reject(file, &line, e, settings, rejects, out)?,
        }
    }
    if !builder.is_empty() {
        flush(builder, buf, out)?;
    }
    if decoded.lines.is_empty() && out.error.is_none() {
        out.warnings.push(if decoded.control_messages > 0 {
            "only CloudWatch Logs control messages, no records".into()
        } else {
            "no records".into()
        });
    }
    Ok(())
}

/// Warns, once per file and value, about an envelope owner stored as `account_id` that is not a
/// 12-digit AWS account id (it is kept as it is: the lake does not invent or drop values).
fn note_odd_owner(owner: &[u8], warned: &mut Vec<Vec<u8>>, out: &mut FileOutcome) {
    let account = owner.len() == 12 && owner.iter().all(u8::is_ascii_digit);
    if account || owner == b"-" || warned.iter().any(|w| w == owner) {
        return;
    }
    warned.push(owner.to_vec());
    out.warnings.push(format!(
        "envelope owner `{}` is not a 12-digit AWS account id; stored as account_id as it is",
        String::from_utf8_lossy(owner)
    ));
}

/// Where `start` is among a layout's fields.
fn start_position(layout: &Layout) -> Option<usize> {
    layout
        .slots
        .iter()
        .position(|s| *s == Slot::Known(schema::START_INDEX))
}

/// Which lines of an undated file (no date in its path or name) one read keeps: those whose time
/// (`start`, else the event timestamp) falls in the slot of the partition it is read for; lines with
/// no time, and the file's headers and blank lines, belong to its designated slot.
struct SlotFilter {
    wanted: i64,
    designated: i64,
    /// Seconds per slot: a day, or an hour in an hourly lake.
    per: i64,
}

impl SlotFilter {
    fn of(file: &InputFile) -> Option<SlotFilter> {
        let designated = *file.undated.as_ref()?.first()?;
        let hourly = file.key.hour.is_some();
        Some(SlotFilter {
            wanted: slot_of(&file.key, hourly),
            designated,
            per: slot_seconds(hourly),
        })
    }

    /// True when a line with this time (seconds since the epoch) is this read's.
    fn keeps(&self, time: Option<i64>) -> bool {
        match time.filter(|&t| plausible(t)) {
            Some(t) => t.div_euclid(self.per) == self.wanted,
            None => self.owns_file_lines(),
        }
    }

    fn owns_file_lines(&self) -> bool {
        self.wanted == self.designated
    }
}

/// Counts a record line whose time (`start`, else the event timestamp) is `time`, and says whether to
/// go on with it. An undated file read for one partition (`slots`) counts only the lines of that
/// partition's slot; a read that finds slots (`collect_per` seconds a slot, [`FileParser::slots_of`])
/// notes the line's slot and goes no further (the reads for each partition make the rows).
fn count_line(
    slots: Option<&SlotFilter>,
    collect_per: Option<i64>,
    time: Option<i64>,
    out: &mut FileOutcome,
) -> bool {
    if slots.is_some_and(|s| !s.keeps(time)) {
        return false;
    }
    out.lines += 1;
    match collect_per {
        Some(per) => {
            if let Some(t) = time.filter(|&t| plausible(t)) {
                out.line_slots.insert(t.div_euclid(per));
            }
            false
        }
        None => true,
    }
}

/// True for a record time within the years flow logs can have (as folder dates are checked): a time
/// outside them partitions nothing, and its line counts as one with no time.
fn plausible(t: i64) -> bool {
    use crate::date::{days_from_civil, SECS_PER_DAY};
    use crate::lake::partition::{last_year, FIRST_YEAR};
    // The clock is read once per process, not once per line.
    static RANGE: std::sync::OnceLock<std::ops::Range<i64>> = std::sync::OnceLock::new();
    RANGE
        .get_or_init(|| {
            days_from_civil(FIRST_YEAR, 1, 1) * SECS_PER_DAY
                ..days_from_civil(last_year() + 1, 1, 1) * SECS_PER_DAY
        })
        .contains(&t)
}

/// Where the fields the lake's filters read are in one layout.
struct FilterAt {
    action: Option<usize>,
    log_status: Option<usize>,
}

impl FilterAt {
    /// True when the record split into `spans` is one the lake does not keep.
    fn drops(&self, buf: &[u8], spans: &[Span], filters: &Filters) -> bool {
        let value = |at: Option<usize>| at.and_then(|i| spans.get(i)).map(|s| s.of(buf));
        filters
            .check(value(self.action), value(self.log_status))
            .is_err()
    }
}

/// Why the lake's filters cannot be applied to a file: its format lacks the field they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Unfilterable {
    #[error(
        "the lake keeps records by action (--action) and this file's format has no `action` field"
    )]
    NoAction,
    #[error(
        "the lake drops records by log-status (--drop-log-status) and this file's format has no \
         `log-status` field"
    )]
    NoLogStatus,
}

/// The positions the filters need in `layout`: `Ok(None)` when the lake keeps every record; an error
/// naming the field the layout lacks.
fn filter_at(
    layout: &Layout,
    filters: &Filters,
) -> std::result::Result<Option<FilterAt>, Unfilterable> {
    if filters.keeps_all() {
        return Ok(None);
    }
    let position = |column: usize| layout.slots.iter().position(|s| *s == Slot::Known(column));
    let (action, log_status) = (position(schema::ACTION), position(schema::LOG_STATUS));
    if filters.needs_action() && action.is_none() {
        return Err(Unfilterable::NoAction);
    }
    if filters.needs_log_status() && log_status.is_none() {
        return Err(Unfilterable::NoLogStatus);
    }
    Ok(Some(FilterAt { action, log_status }))
}

/// Fails a file the lake's filters cannot be applied to: none of its lines are used.
fn unfilterable(builder: &mut BatchBuilder, buf: &[u8], why: Unfilterable, out: &mut FileOutcome) {
    if !builder.is_empty() {
        let _ = builder.finish(buf); // its rows are not used
    }
    out.batches.clear();
    (out.lines, out.rows, out.rejected, out.filtered) = (0, 0, 0, 0);
    out.error = Some(ReadError::new(ReadErrorKind::Unfilterable, why.to_string()));
}

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a file is clearly not a flow log, judged from its first non-blank line: not a header, not a
/// record of the `--fields` layout (field count), and not even shaped like a record (at least three
/// space-separated fields, printable ASCII, no `,` `"` `{`), as a CSV or JSON file's first line is.
/// A flow log that merely lacks its header (no `--fields` given) is still read, so its lines are
/// rejected with the reason (`no_layout`) rather than skipped unseen.
fn not_a_flow_log(buf: &[u8], spans: &mut Vec<Span>, fields: Option<&Layout>) -> Option<String> {
    let line = Lines::new(buf).find(|l| !l.is_blank())?;
    split_fields(line.text, line.offset, spans);
    if looks_like_header(buf, spans, None) || fields.is_some_and(|f| f.len() == spans.len()) {
        return None;
    }
    let record_like = spans.len() >= 3
        && line.text.iter().all(|&b| {
            (b.is_ascii_graphic() || b == b' ' || b == b'\t' || b == b'\r')
                && !matches!(b, b',' | b'"' | b'{')
        });
    (!record_like).then(|| {
        "not a flow log: its first line is neither a flow log header nor a space-separated record"
            .to_string()
    })
}

/// Builds the pending rows into a batch of the outcome, timing it.
fn flush(builder: &mut BatchBuilder, buf: &[u8], out: &mut FileOutcome) -> Result<()> {
    let started = Instant::now();
    out.batches.push(builder.finish(buf)?);
    out.build_seconds += started.elapsed().as_secs_f64();
    Ok(())
}

/// Records a rejected line, or stops the run with `--on-bad-line abort`.
fn reject(
    file: &InputFile,
    line: &Line<'_>,
    e: LineError,
    settings: &ParseSettings,
    rejects: &RejectLog,
    out: &mut FileOutcome,
) -> Result<()> {
    if settings.on_bad_line == BadLinePolicy::Abort {
        return Err(Error::BadLine {
            path: file.path.clone(),
            line: line.number,
            message: e.message,
        });
    }
    out.rejected += 1;
    rejects.record(&Reject::new(&file.path, line, e))
}
