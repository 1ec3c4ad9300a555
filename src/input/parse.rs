//! One input file → Arrow batches, with an account of every line.
//!
//! [`FileParser`] is one worker's reusable state (file buffer, field spans, batch builder). For each
//! file it reads the whole decompressed text ([`read`](crate::input::read)), walks its lines, takes the layout
//! from the header (or from `--fields` for headerless files), and appends records to the builder.
//! Blank lines and a repeated header are skipped and counted; a different header mid-file (two files
//! concatenated) switches the layout. Every other line is a record: it becomes a row or a reject, so a
//! file's `lines == rows + rejected` by construction, and that is checked again before publishing.
//!
//! Objects of JSON envelopes and CloudWatch Logs exports are decoded to lines first (one per event).
//! One loop (`Pass::walk`) reads both kinds of line source: blank lines, counting (an undated file's
//! slots), rows, batches and rejects are the same; a `LineSource` says what differs (`TextLines`: a
//! header sets the layout; `EventLines`: every line is a `--fields` record, completed with values
//! from its envelope).

use std::path::PathBuf;
use std::time::Instant;

use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::input::discover::InputFile;
use crate::input::envelope::{self, looks_like_envelopes, looks_like_export, Decoded};
use crate::input::read::{FileReader, ReadError, ReadErrorKind};
use crate::lake::filter::Filters;
use crate::lake::partition::Grain;
use crate::lake::schema::RecordKind;
use crate::storage::Store;
use crate::text::batch::{parse_uint, BatchBuilder, LineError, RejectKind};
use crate::text::layout::{looks_like_header, FieldLayout, FieldSlot};
use crate::text::rejects::{Reject, RejectLog};
use crate::text::route::TimeSlot;
use crate::text::tokenize::{split_fields, Line, Lines, Span};

/// What a bad line does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadLinePolicy {
    /// Record it in the rejects sidecar and go on (the partition's reject ratio still applies).
    #[default]
    Reject,
    /// Stop the run with an error before the partition is published.
    Abort,
}

/// What a file that cannot be read completely (truncated, corrupt, not gzip, ...) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ParseSettings {
    /// The field list (`--fields`) of files whose first line is not a header.
    pub fields: Option<FieldLayout>,
    pub batch_rows: usize,
    pub max_file_bytes: u64,
    pub max_line_bytes: usize,
    pub on_bad_line: BadLinePolicy,
    pub on_bad_file: BadFilePolicy,
    /// The records the lake keeps (`--action`, `--drop-log-status`).
    pub filters: Filters,
    /// The kind of records the lake holds: a file of the other kind is not read past its header
    /// ([`FileOutcome::other_kind`]).
    #[serde(default)]
    pub record_kind: RecordKind,
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
    pub line_slots: std::collections::BTreeSet<TimeSlot>,
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
    /// The file holds records of another kind than the lake's (its first header, or `--fields`,
    /// names Transit Gateway fields and the lake is a VPC lake, or the other way round): none of its
    /// lines were read or counted; it belongs in a lake of its kind.
    pub other_kind: Option<RecordKind>,
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
    /// The grain of the slots [`slots_of`](Self::slots_of) is collecting from a file's lines.
    collect: Option<Grain>,
}

impl FileParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `file` to collect the slots (of `grain`) of its lines' times in the outcome's
    /// `line_slots`: where an undated file's lines go, rows, rejects and filtered records alike. The
    /// lines are split and counted, not made into rows (the outcome has none, and `rows`, `rejected`
    /// and `filtered` stay 0); nothing is recorded (pass a discarding `rejects`).
    pub fn slots_of(
        &mut self,
        source: &dyn Store,
        file: &InputFile,
        settings: &ParseSettings,
        rejects: &RejectLog,
        grain: Grain,
    ) -> Result<FileOutcome> {
        self.collect = Some(grain);
        let outcome = self.parse(source, file, settings, rejects);
        self.collect = None;
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
        let shape = Shape::of(&self.buf);
        if salvaging && shape != Some(Shape::Envelopes) {
            // Lines: the complete ones. (Envelopes are not lines: the envelope reader keeps the whole
            // ones and stops at the first that is cut.)
            let complete = memchr::memrchr(b'\n', &self.buf).map_or(0, |i| i + 1);
            self.buf.truncate(complete);
        }
        out.text_bytes = self.buf.len() as u64;
        let mut pass = Pass {
            file,
            settings,
            rejects,
            builder: &mut self.builder,
            spans: &mut self.spans,
            out: &mut out,
            slot_filter: SlotFilter::of(file),
            collect: self.collect,
            started: false,
        };
        match shape {
            Some(shape) => read_events(&mut pass, shape, &self.buf, &mut self.decoded)?,
            None => read_text(&mut pass, &self.buf)?,
        }
        out.tokenize_seconds = started.elapsed().as_secs_f64() - out.build_seconds;
        out.salvaged = out.error.is_some() && out.lines > 0;
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

impl Shape {
    /// The shape of a file's text, or `None` for the lines of a text delivery.
    fn of(text: &[u8]) -> Option<Shape> {
        if looks_like_envelopes(text) {
            Some(Shape::Envelopes)
        } else if looks_like_export(text) {
            Some(Shape::Export)
        } else {
            None
        }
    }
}

/// Keys of the `unknown_fields` map under which an envelope's record keeps where it came from.
pub const LOG_GROUP_KEY: &str = "cloudwatch-log-group";
pub const LOG_STREAM_KEY: &str = "cloudwatch-log-stream";
/// The CloudWatch Logs event's timestamp (milliseconds since the epoch).
pub const EVENT_TIMESTAMP_KEY: &str = "cloudwatch-timestamp";

/// Parses the lines of a text delivery ([`TextLines`]), unless its first line shows it is not a flow
/// log at all.
fn read_text(pass: &mut Pass<'_>, buf: &[u8]) -> Result<()> {
    let fields = pass.settings.fields.as_ref();
    if let Some(why) = not_a_flow_log(buf, pass.spans, fields) {
        // A damaged file is failed with its damage, whatever its text looks like (a cut can leave
        // anything before it): never skipped as "not a flow log".
        if pass.out.error.is_none() {
            pass.out.not_flow_log = Some(why);
        }
        return Ok(());
    }
    // Each string value is checked for UTF-8 where the batch builder first sees it (once per
    // distinct value of a batch), integers are digits: no pass over the whole buffer first.
    pass.walk(&mut TextLines::new(), buf, Lines::new(buf), true)
}

/// Parses an object of JSON envelopes or a CloudWatch Logs export (see [`crate::input::envelope`]):
/// each event's message is a record of the `--fields` layout ([`EventLines`]). A record's line number
/// is its event's position in the object (1 = the first event).
fn read_events(pass: &mut Pass<'_>, shape: Shape, raw: &[u8], decoded: &mut Decoded) -> Result<()> {
    // Export lines are raw bytes (envelopes are JSON, so valid UTF-8).
    let mut check_utf8 = false;
    let decoding = if shape == Shape::Envelopes {
        envelope::decode(raw, decoded)
    } else {
        // A CloudWatch Logs export: `<task>/<log stream>/000000.gz`.
        let stream = pass
            .file
            .path
            .parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        envelope::decode_export(raw, &stream, decoded);
        check_utf8 = std::str::from_utf8(&decoded.text).is_err();
        Ok(())
    };
    // The events of the whole envelopes before the first that is not one are kept with salvage. A
    // damaged gzip stream (already the file's error) ends in a cut envelope.
    if let (Err(e), None) = (decoding, &pass.out.error) {
        pass.out.error = Some(ReadError::new(ReadErrorKind::BadEnvelope, e.to_string()));
        if pass.settings.on_bad_file != BadFilePolicy::Salvage {
            return Ok(());
        }
    }
    pass.out.control_messages = decoded.control_messages;
    let Some(mut events) = EventLines::new(pass, decoded) else {
        return Ok(());
    };
    let buf = decoded.text.as_slice();
    let lines = Lines::new(&buf[..decoded.lines_end]).take(decoded.lines.len());
    pass.walk(&mut events, buf, lines, check_utf8)
}

/// One read of one file: where its records go (the batch builder, the outcome, the rejects) and
/// which of them it keeps (an undated file's slot, or only the slots of its lines' times).
struct Pass<'p> {
    file: &'p InputFile,
    settings: &'p ParseSettings,
    rejects: &'p RejectLog,
    builder: &'p mut BatchBuilder,
    /// The fields of the line being read.
    spans: &'p mut Vec<Span>,
    out: &'p mut FileOutcome,
    /// The lines an undated file's read keeps.
    slot_filter: Option<SlotFilter>,
    /// The grain of the slots [`FileParser::slots_of`] is collecting from the lines' times.
    collect: Option<Grain>,
    /// A layout was started: a layout of another kind after it makes the file one of mixed kinds.
    started: bool,
}

/// What a line that is not blank is, as its source reads it.
enum Opened {
    /// A record: to count, and then to make a row of or reject.
    Record,
    /// Not a record, or one already dealt with (a header, a line too long for the text reader).
    Done,
    /// The file cannot be read on (the lake's filters cannot apply to it); its outcome says why.
    Stop,
}

/// What a counted record becomes.
enum Verdict<'l> {
    /// A row, read with this layout (the spans are complete).
    Row(&'l FieldLayout),
    /// A record the lake's filters drop.
    Filtered,
    /// A bad record.
    Reject(LineError),
}

/// Where a file's records come from: the lines of a text delivery ([`TextLines`]) or the events of
/// envelopes and export lines ([`EventLines`]). [`Pass::walk`] reads either the same way.
trait LineSource {
    /// Reads a line that is not blank, before it is counted: splits it into `pass.spans` and says
    /// whether it is a record.
    fn open(&mut self, pass: &mut Pass<'_>, buf: &[u8], line: &Line<'_>) -> Result<Opened>;

    /// The time of the record `index` (`start`, else its event's timestamp), in seconds since the
    /// epoch, for the slot of an undated file's line.
    fn time(&self, buf: &[u8], index: usize, spans: &[Span]) -> Option<i64>;

    /// What the counted record `index` becomes; a row's spans are completed (with the values it takes
    /// from elsewhere than its line).
    fn row(
        &mut self,
        pass: &mut Pass<'_>,
        buf: &[u8],
        index: usize,
        line: &Line<'_>,
    ) -> Verdict<'_>;

    /// Notes what is worth telling about the file once every line is read.
    fn finish(&self, buf: &[u8], out: &mut FileOutcome);
}

impl Pass<'_> {
    /// Reads `lines` (of `buf`) from `source`: each line that is not blank is a record to count and
    /// then a row, a filtered record or a reject (so `lines == rows + rejected + filtered`), or a
    /// line of another kind its source deals with (a header).
    fn walk<'b>(
        &mut self,
        source: &mut impl LineSource,
        buf: &'b [u8],
        lines: impl Iterator<Item = Line<'b>>,
        check_utf8: bool,
    ) -> Result<()> {
        for (index, line) in lines.enumerate() {
            if line.is_blank() {
                if self.owns_file_lines() {
                    self.out.blank_lines += 1;
                }
                continue;
            }
            match source.open(self, buf, &line)? {
                Opened::Record => {}
                Opened::Done => continue,
                Opened::Stop => return Ok(()),
            }
            let time = if self.slot_filter.is_some() || self.collect.is_some() {
                source.time(buf, index, self.spans)
            } else {
                None
            };
            if !count_line(self.slot_filter.as_ref(), self.collect, time, self.out) {
                continue;
            }
            let layout = match source.row(self, buf, index, &line) {
                Verdict::Row(layout) => layout,
                Verdict::Filtered => {
                    self.out.filtered += 1;
                    continue;
                }
                Verdict::Reject(e) => {
                    self.reject(&line, e)?;
                    continue;
                }
            };
            match self.builder.append(buf, self.spans, layout, check_utf8) {
                Ok(()) => {
                    self.out.rows += 1;
                    if self.builder.len() >= self.settings.batch_rows {
                        self.flush(buf)?;
                    }
                }
                Err(e) => self.reject(&line, e)?,
            }
        }
        if !self.builder.is_empty() {
            self.flush(buf)?;
        }
        source.finish(buf, self.out);
        Ok(())
    }

    /// True when this read counts the file's headers and blank lines (an undated file's are counted
    /// by the read for its designated slot).
    fn owns_file_lines(&self) -> bool {
        self.slot_filter
            .as_ref()
            .is_none_or(SlotFilter::owns_file_lines)
    }

    /// Builds the pending rows into a batch of the outcome.
    fn flush(&mut self, buf: &[u8]) -> Result<()> {
        flush(self.builder, buf, self.out)
    }

    /// Records a bad line (or stops the run, with `--on-bad-line abort`).
    fn reject(&mut self, line: &Line<'_>, e: LineError) -> Result<()> {
        reject(self.file, line, e, self.settings, self.rejects, self.out)
    }

    /// Starts reading records with `layout`; false when the lake's filters cannot be applied to it
    /// (then the file is failed and none of its lines are used). `filter` is where they read it.
    fn start_layout(
        &mut self,
        buf: &[u8],
        layout: &FieldLayout,
        filter: &mut Option<FilterAt>,
    ) -> bool {
        let first = !std::mem::replace(&mut self.started, true);
        if layout.kind != self.settings.record_kind {
            if first && self.out.lines == 0 {
                self.out.other_kind = Some(layout.kind);
            } else {
                let why = format!(
                    "its headers switch between {} and {} records; split it into one file of each",
                    self.settings.record_kind.describe(),
                    layout.kind.describe()
                );
                unusable(
                    self.builder,
                    buf,
                    ReadError::new(ReadErrorKind::MixedKinds, why),
                    self.out,
                );
            }
            return false;
        }
        self.builder.start_layout(layout);
        match filter_at(layout, &self.settings.filters) {
            Ok(at) => {
                *filter = at;
                true
            }
            Err(why) => {
                unfilterable(self.builder, buf, why, self.out);
                false
            }
        }
    }
}

/// The lines of a text delivery: a header line sets the layout of the records after it (a different
/// header mid-file, as when two files were concatenated, switches it); a file without one is read
/// with `--fields`.
struct TextLines {
    layout: Option<FieldLayout>,
    /// Where the filtered fields are in `layout` (`None`: the lake keeps every record).
    filter: Option<FilterAt>,
    /// Where `start` is in `layout` (for the time of an undated file's lines).
    start_at: Option<usize>,
    /// No line that is not blank seen yet.
    first: bool,
}

impl TextLines {
    fn new() -> Self {
        TextLines {
            layout: None,
            filter: None,
            start_at: None,
            first: true,
        }
    }

    /// A header line: its field list becomes the layout (a repeated header changes nothing), or an
    /// unusable one leaves the records after it without a layout.
    fn header(&mut self, pass: &mut Pass<'_>, buf: &[u8], line: &Line<'_>) -> Result<Opened> {
        match FieldLayout::from_header(buf, pass.spans) {
            Ok(new) if self.layout.as_ref() == Some(&new) => {}
            Ok(new) => {
                if self.layout.is_some() {
                    pass.out.warnings.push(format!(
                        "line {}: a header with another field list; the lines after it use it",
                        line.number
                    ));
                }
                if !pass.builder.is_empty() {
                    pass.flush(buf)?;
                }
                if !pass.start_layout(buf, &new, &mut self.filter) {
                    return Ok(Opened::Stop);
                }
                self.start_at = start_position(&new);
                for name in &new.unknown {
                    if !pass.out.unknown_fields.contains(name) {
                        pass.out.unknown_fields.push(name.clone());
                    }
                }
                self.layout = Some(new);
            }
            Err(e) => {
                if !pass.builder.is_empty() {
                    pass.flush(buf)?;
                }
                pass.out.warnings.push(format!(
                    "line {}: unusable header ({e}); its records are rejected",
                    line.number
                ));
                self.layout = None;
            }
        }
        Ok(Opened::Done)
    }
}

impl LineSource for TextLines {
    fn open(&mut self, pass: &mut Pass<'_>, buf: &[u8], line: &Line<'_>) -> Result<Opened> {
        let max = pass.settings.max_line_bytes;
        if line.text.len() > max {
            if pass.slot_filter.as_ref().is_some_and(|s| !s.keeps(None)) {
                return Ok(Opened::Done); // another partition's read counts it
            }
            pass.out.lines += 1;
            let e = LineError {
                kind: RejectKind::LineTooLong,
                column: None,
                message: format!(
                    "line of {} bytes is longer than --max-line-size {max}",
                    line.text.len()
                ),
            };
            pass.reject(line, e)?;
            return Ok(Opened::Done);
        }
        split_fields(line.text, line.offset, pass.spans);
        let fields = pass.settings.fields.as_ref();
        let expected = self.layout.as_ref().or(fields.filter(|_| self.first));
        if looks_like_header(buf, pass.spans, expected) {
            if pass.owns_file_lines() {
                pass.out.headers += 1;
            }
            self.first = false;
            return self.header(pass, buf, line);
        }
        if std::mem::replace(&mut self.first, false) {
            if let Some(fields) = fields {
                if !pass.start_layout(buf, fields, &mut self.filter) {
                    return Ok(Opened::Stop);
                }
                self.start_at = start_position(fields);
                self.layout = Some(fields.clone());
            }
        }
        Ok(Opened::Record)
    }

    fn time(&self, buf: &[u8], _index: usize, spans: &[Span]) -> Option<i64> {
        let layout = self.layout.as_ref()?;
        (spans.len() == layout.len()).then_some(())?;
        let start = parse_uint(spans[self.start_at?].of(buf), i64::MAX as u64).ok()?;
        Some(start as i64)
    }

    fn row(&mut self, pass: &mut Pass<'_>, buf: &[u8], _: usize, _: &Line<'_>) -> Verdict<'_> {
        let Some(layout) = &self.layout else {
            return Verdict::Reject(LineError {
                kind: RejectKind::NoLayout,
                column: None,
                message: "no header line before this record and no --fields given".into(),
            });
        };
        let filters = &pass.settings.filters;
        let spans = pass.spans.as_slice();
        if spans.len() == layout.len()
            && (self.filter.as_ref()).is_some_and(|at| at.drops(buf, spans, filters))
        {
            return Verdict::Filtered;
        }
        Verdict::Row(layout)
    }

    fn finish(&self, buf: &[u8], out: &mut FileOutcome) {
        // A damaged file's news is its damage, not what little came before it.
        if out.error.is_none() {
            if buf.is_empty() {
                out.warnings.push("file is empty".into());
            } else if out.lines == 0 && out.headers > 0 {
                out.warnings.push("file has a header but no records".into());
            }
        }
    }
}

/// The events of an object of envelopes (or the lines of an export), one record each: envelopes carry
/// no header, so each message is a record of `--fields`; the envelope's owner fills `account_id` when
/// the layout has no `account-id`, and its log group, log stream and the event's timestamp go to
/// `unknown_fields` ([`LOG_GROUP_KEY`], [`LOG_STREAM_KEY`], [`EVENT_TIMESTAMP_KEY`]).
struct EventLines<'d> {
    decoded: &'d Decoded,
    /// `--fields` and the values each record takes from its envelope (`None` without `--fields`).
    layout: Option<EventFieldLayout>,
    /// Where the filtered fields are (`None`: the lake keeps every record).
    filter: Option<FilterAt>,
    /// Where `start` is among the user's fields.
    start_at: Option<usize>,
    /// Owners that are not account ids, warned about once each.
    odd_owners: Vec<Vec<u8>>,
}

/// The field layout of an envelope's records: the user's fields, then the values from the envelope.
struct EventFieldLayout {
    /// The user's fields (a record's own), which come first: their positions are the same.
    fields: usize,
    /// The user's fields have `account-id`: the envelope's owner is not added.
    own_account: bool,
    layout: FieldLayout,
}

impl<'d> EventLines<'d> {
    /// The reader of `decoded`'s events, its layout started; `None` when the file cannot be read with
    /// `--fields` (a name clashes with the envelope's values, or the lake's filters cannot apply): its
    /// outcome says why.
    fn new(pass: &mut Pass<'_>, decoded: &'d Decoded) -> Option<EventLines<'d>> {
        let layout = match &pass.settings.fields {
            Some(fields) => {
                let account = fields.kind.account_index();
                let own_account = fields.field_slots.contains(&FieldSlot::Known(account));
                let header = fields.header_line();
                let mut names: Vec<&str> = header.split(' ').collect();
                if !own_account {
                    names.push(fields.kind.catalogue()[account].header);
                }
                names.extend([LOG_GROUP_KEY, LOG_STREAM_KEY, EVENT_TIMESTAMP_KEY]);
                match FieldLayout::from_names(names.iter().map(|n| n.as_bytes())) {
                    Ok(layout) => Some(EventFieldLayout {
                        fields: fields.len(),
                        own_account,
                        layout,
                    }),
                    Err(e) => {
                        pass.out.error = Some(ReadError::new(
                            ReadErrorKind::BadEnvelope,
                            format!("--fields cannot be used for CloudWatch Logs envelopes: {e}"),
                        ));
                        return None;
                    }
                }
            }
            None => None,
        };
        let mut events = EventLines {
            decoded,
            layout,
            filter: None,
            start_at: pass.settings.fields.as_ref().and_then(start_position),
            odd_owners: Vec::new(),
        };
        if let Some(layout) = &events.layout {
            if !pass.start_layout(&decoded.text, &layout.layout, &mut events.filter) {
                return None;
            }
        }
        Some(events)
    }
}

impl LineSource for EventLines<'_> {
    fn open(&mut self, pass: &mut Pass<'_>, _buf: &[u8], line: &Line<'_>) -> Result<Opened> {
        split_fields(line.text, line.offset, pass.spans);
        Ok(Opened::Record)
    }

    fn time(&self, buf: &[u8], index: usize, spans: &[Span]) -> Option<i64> {
        let start = match (&self.layout, self.start_at) {
            (Some(layout), Some(at)) if spans.len() == layout.fields => spans
                .get(at)
                .and_then(|s| parse_uint(s.of(buf), i64::MAX as u64).ok())
                .map(|v| v as i64),
            _ => None,
        };
        start.or_else(|| {
            let timestamp = self.decoded.lines[index].1;
            let ms = parse_uint(timestamp.of(buf), i64::MAX as u64).ok()?;
            Some(ms as i64 / 1000)
        })
    }

    fn row(
        &mut self,
        pass: &mut Pass<'_>,
        buf: &[u8],
        index: usize,
        line: &Line<'_>,
    ) -> Verdict<'_> {
        let bad = &self.decoded.bad;
        if let Ok(i) = bad.binary_search_by_key(&index, |&(at, _)| at as usize) {
            // One bad value in a whole envelope: that record is rejected, as a line that is not
            // UTF-8 is in a text file (the line holds the message as written, escapes and all).
            return Verdict::Reject(LineError {
                kind: RejectKind::InvalidUtf8,
                column: None,
                message: format!("the record's message is not text: {}", bad[i].1),
            });
        }
        let max = pass.settings.max_line_bytes;
        if line.text.len() > max {
            return Verdict::Reject(LineError {
                kind: RejectKind::LineTooLong,
                column: None,
                message: format!(
                    "record of {} bytes is longer than --max-line-size {max}",
                    line.text.len()
                ),
            });
        }
        let Some(EventFieldLayout {
            fields,
            own_account,
            layout,
        }) = &self.layout
        else {
            return Verdict::Reject(LineError {
                kind: RejectKind::NoLayout,
                column: None,
                message: "CloudWatch Logs and Firehose records carry no header: give --fields"
                    .into(),
            });
        };
        let spans = &mut *pass.spans;
        if spans.len() != *fields {
            let kind = if spans.len() < *fields {
                RejectKind::TooFewFields
            } else {
                RejectKind::TooManyFields
            };
            return Verdict::Reject(LineError {
                kind,
                column: None,
                message: format!("expected {fields} fields, found {}", spans.len()),
            });
        }
        let filters = &pass.settings.filters;
        if (self.filter.as_ref()).is_some_and(|at| at.drops(buf, spans, filters)) {
            return Verdict::Filtered;
        }
        let (origin, timestamp) = self.decoded.lines[index];
        let from = self.decoded.origins[origin as usize];
        if !own_account {
            spans.push(from.owner);
            note_odd_owner(from.owner.of(buf), &mut self.odd_owners, pass.out);
        }
        spans.extend([from.log_group, from.log_stream, timestamp]);
        Verdict::Row(layout)
    }

    fn finish(&self, _buf: &[u8], out: &mut FileOutcome) {
        if self.decoded.lines.is_empty() && out.error.is_none() {
            out.warnings.push(if self.decoded.control_messages > 0 {
                "only CloudWatch Logs control messages, no records".into()
            } else {
                "no records".into()
            });
        }
    }
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
fn start_position(layout: &FieldLayout) -> Option<usize> {
    layout
        .field_slots
        .iter()
        .position(|s| *s == FieldSlot::Known(layout.kind.start_index()))
}

/// Which lines of an undated file (no date in its path or name) one read keeps: those whose time
/// (`start`, else the event timestamp) falls in the slot of the partition it is read for; lines with
/// no time, and the file's headers and blank lines, belong to its designated slot.
struct SlotFilter {
    wanted: TimeSlot,
    designated: TimeSlot,
}

impl SlotFilter {
    fn of(file: &InputFile) -> Option<SlotFilter> {
        let designated = *file.undated.as_ref()?.first()?;
        Some(SlotFilter {
            wanted: TimeSlot::of_key(&file.key, file.key.grain()),
            designated,
        })
    }

    /// True when a line with this time (seconds since the epoch) is this read's.
    fn keeps(&self, time: Option<i64>) -> bool {
        match time.filter(|&t| plausible(t)) {
            Some(t) => self.wanted.holds(t),
            None => self.owns_file_lines(),
        }
    }

    fn owns_file_lines(&self) -> bool {
        self.wanted == self.designated
    }
}

/// Counts a record line whose time (`start`, else the event timestamp) is `time`, and says whether to
/// go on with it. An undated file read for one partition (`slot_filter`) counts only the lines of
/// that partition's slot; a read that finds slots (of grain `collect`, [`FileParser::slots_of`])
/// notes the line's slot and goes no further (the reads for each partition make the rows).
fn count_line(
    slot_filter: Option<&SlotFilter>,
    collect: Option<Grain>,
    time: Option<i64>,
    out: &mut FileOutcome,
) -> bool {
    if slot_filter.is_some_and(|s| !s.keeps(time)) {
        return false;
    }
    out.lines += 1;
    match collect {
        Some(grain) => {
            if let Some(t) = time.filter(|&t| plausible(t)) {
                out.line_slots.insert(TimeSlot::at(t, grain));
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
    layout: &FieldLayout,
    filters: &Filters,
) -> std::result::Result<Option<FilterAt>, Unfilterable> {
    if filters.keeps_all() {
        return Ok(None);
    }
    let position = |column: Option<usize>| {
        layout
            .field_slots
            .iter()
            .position(|s| Some(*s) == column.map(FieldSlot::Known))
    };
    let kind = layout.kind;
    let (action, log_status) = (
        position(kind.action_index()),
        position(Some(kind.log_status_index())),
    );
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
    let error = ReadError::new(ReadErrorKind::Unfilterable, why.to_string());
    unusable(builder, buf, error, out);
}

/// Fails a file none of whose lines can be used (`error` says why).
fn unusable(builder: &mut BatchBuilder, buf: &[u8], error: ReadError, out: &mut FileOutcome) {
    if !builder.is_empty() {
        let _ = builder.finish(buf); // its rows are not used
    }
    out.batches.clear();
    (out.lines, out.rows, out.rejected, out.filtered) = (0, 0, 0, 0);
    out.error = Some(error);
}

/// The UTF-8 byte order mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a file is clearly not a flow log, judged from its first non-blank line: not a header, not a
/// record of the `--fields` layout (field count), and not even shaped like a record (at least three
/// space-separated fields, printable ASCII, no `,` `"` `{`), as a CSV or JSON file's first line is.
/// A flow log that merely lacks its header (no `--fields` given) is still read, so its lines are
/// rejected with the reason (`no_layout`) rather than skipped unseen.
fn not_a_flow_log(
    buf: &[u8],
    spans: &mut Vec<Span>,
    fields: Option<&FieldLayout>,
) -> Option<String> {
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
