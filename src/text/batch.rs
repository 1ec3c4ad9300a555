//! Records → Arrow [`RecordBatch`] in the lake schema, parsed straight from the file buffer.
//!
//! [`BatchBuilder::append`] takes one record's field [`Span`]s and the file's [`FieldLayout`]: integers are
//! parsed from the bytes into plain `Vec`s, string fields are kept as spans; nothing is allocated per
//! line or per field; string fields are interned as they are parsed ([`KeyedStrings`]: a key per row
//! into the batch's distinct values, each value copied and checked once). [`BatchBuilder::finish`] then
//! builds each column in one go (the arrow-csv way): integer buffers handed over as they are, string
//! columns as `Dictionary(UInt32, Utf8)` arrays ([`RecordKind::batch_schema`]), columns the format
//! does not have as all-NULL arrays, which cost nothing to build or store. The builder is reused for
//! every batch of every file a worker handles, so its vectors stay warm.
//!
//! A record is validated completely before any of it is stored, so a rejected line leaves no trace in
//! the batch: `-` is NULL for every column; anything else in an integer column must be decimal digits
//! within the column's range.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    new_null_array, Array, ArrayRef, Int32Array, Int64Array, MapArray, StringArray, StructArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::lake::schema::{self, Kind, RecordKind};
use crate::text::keyed::{random_seed, KeyedStrings};
use crate::text::layout::{FieldLayout, FieldSlot};
use crate::text::tokenize::Span;

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// Fewer fields than the header names.
    TooFewFields,
    /// More fields than the header names.
    TooManyFields,
    /// An integer column holds something other than `-` or decimal digits.
    BadInteger,
    /// An integer is outside its column's range (a port above 65535, an overflow).
    OutOfRange,
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// The line is longer than `--max-line-size` (no real flow log line comes close).
    LineTooLong,
    /// A headerless file and no `--fields`: the line's fields cannot be named.
    NoLayout,
}

/// A rejected line's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub kind: RejectKind,
    /// The column (or unknown field name) at fault, when one is.
    pub column: Option<String>,
    /// Human-readable detail.
    pub message: String,
}

/// An integer field that is not a valid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    NotANumber,
    TooLarge,
}

/// Parses an unsigned decimal integer from bytes (digits only, at most `max`).
#[inline]
pub fn parse_uint(bytes: &[u8], max: u64) -> Result<u64, IntError> {
    if bytes.is_empty() || bytes.len() > 20 {
        return Err(
            if bytes.iter().all(u8::is_ascii_digit) && !bytes.is_empty() {
                IntError::TooLarge
            } else {
                IntError::NotANumber
            },
        );
    }
    let mut value: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(IntError::NotANumber);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(IntError::TooLarge)?;
    }
    if value > max {
        return Err(IntError::TooLarge);
    }
    Ok(value)
}

const NULL_SPAN: Span = Span {
    start: u32::MAX,
    end: u32::MAX,
};

/// What to do with one field of a record, fixed per layout by [`BatchBuilder::start_layout`], so that
/// appending a record is one pass over its fields with one decision per field.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Parse into `int32[column]`, rejecting values above `max`.
    Int32 { column: u16, max: u32 },
    /// Parse into `int64[column]`.
    Int64 { column: u16 },
    /// Intern the value into `utf8[column]`.
    Utf8 { column: u16 },
    /// An unknown field: the index of its name in the layout's unknown names.
    Unknown { name: u32 },
}

/// An integer column being built: values (0 under a NULL) and validity.
struct IntColumn<T> {
    /// Its index in the catalogue (and the lake schema).
    catalogue: usize,
    values: Vec<T>,
    nulls: NullBufferBuilder,
}

impl<T> IntColumn<T> {
    fn new(catalogue: usize, capacity: usize) -> Self {
        IntColumn {
            catalogue,
            values: Vec::with_capacity(capacity),
            nulls: NullBufferBuilder::new(capacity),
        }
    }
}

/// Builds lake-schema batches from records of one layout at a time.
pub struct BatchBuilder {
    /// The kind of the records of the layout started (whose catalogue the columns index).
    kind: RecordKind,
    schema: SchemaRef,
    ops: Vec<Op>,
    int32: Vec<IntColumn<i32>>,
    int64: Vec<IntColumn<i64>>,
    /// Each string column of the layout.
    utf8: Vec<KeyedStrings>,
    /// The seed of the string columns' hashes.
    seed: u64,
    /// For each row, the end of its entries in `unknown_entries` (the map's offsets).
    unknown_offsets: Vec<i32>,
    /// (index into the layout's unknown names, value span) for every non-`-` unknown value.
    unknown_entries: Vec<(u32, Span)>,
    unknown_names: Vec<String>,
    null_arrays: NullArrays,
    rows: usize,
    /// Rows of the last batch finished (at most [`MAX_CAPACITY_HINT`]): the columns of the next
    /// layout (the next file) start with room for as many, instead of growing from nothing (files of
    /// a few hundred records are common in Firehose and export deliveries).
    capacity_hint: usize,
}

/// Most rows a new batch's columns make room for before any is appended.
const MAX_CAPACITY_HINT: usize = 16 * 1024;

/// All-NULL arrays for the fields a layout does not have (most of the catalogue for a v2 file), one
/// per type and shared by every such column: arrays are immutable, and making ~40 zeroed buffers per
/// batch cost more than building the real columns.
#[derive(Default)]
struct NullArrays {
    int32: Option<ArrayRef>,
    int64: Option<ArrayRef>,
    utf8: Option<ArrayRef>,
}

impl NullArrays {
    fn get(&mut self, kind: Kind, rows: usize) -> ArrayRef {
        let slot = match kind {
            Kind::Int32 { .. } => &mut self.int32,
            Kind::Int64 => &mut self.int64,
            Kind::Utf8 => &mut self.utf8,
        };
        match slot {
            Some(a) if a.len() == rows => a.clone(),
            Some(a) if a.len() > rows => a.slice(0, rows),
            _ => slot
                .insert(new_null_array(&schema::batch_data_type(kind), rows))
                .clone(),
        }
    }
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    pub fn new() -> Self {
        BatchBuilder {
            kind: RecordKind::Vpc,
            schema: RecordKind::Vpc.batch_schema(),
            ops: Vec::new(),
            int32: Vec::new(),
            int64: Vec::new(),
            utf8: Vec::new(),
            seed: random_seed(),
            unknown_offsets: Vec::new(),
            unknown_entries: Vec::new(),
            unknown_names: Vec::new(),
            null_arrays: NullArrays::default(),
            rows: 0,
            capacity_hint: 0,
        }
    }

    /// Number of rows appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Prepares for records of `layout`. Must be called with no rows pending (after `finish`).
    pub fn start_layout(&mut self, layout: &FieldLayout) {
        debug_assert_eq!(self.rows, 0);
        self.ops.clear();
        self.int32.clear();
        self.int64.clear();
        self.utf8.clear();
        if self.kind != layout.kind {
            self.kind = layout.kind;
            self.schema = layout.kind.batch_schema();
        }
        let catalogue = layout.kind.catalogue();
        for slot in &layout.field_slots {
            let op = match *slot {
                // A catalogue field appears at most once in a layout (FieldLayout rejects duplicates).
                FieldSlot::Known(i) => match catalogue[i].kind {
                    Kind::Int32 { max } => {
                        self.int32.push(IntColumn::new(i, self.capacity_hint));
                        Op::Int32 {
                            column: (self.int32.len() - 1) as u16,
                            max: u32::try_from(max).unwrap_or(u32::MAX),
                        }
                    }
                    Kind::Int64 => {
                        self.int64.push(IntColumn::new(i, self.capacity_hint));
                        Op::Int64 {
                            column: (self.int64.len() - 1) as u16,
                        }
                    }
                    Kind::Utf8 => {
                        self.utf8
                            .push(KeyedStrings::new(i, self.capacity_hint, self.seed));
                        Op::Utf8 {
                            column: (self.utf8.len() - 1) as u16,
                        }
                    }
                },
                FieldSlot::Unknown(u) => Op::Unknown { name: u as u32 },
            };
            self.ops.push(op);
        }
        self.unknown_names.clone_from(&layout.unknown);
        self.unknown_offsets.clear();
        self.unknown_entries.clear();
    }

    /// Appends one record, or says why it is rejected (and appends nothing).
    ///
    /// `fields` must be split from a record of the layout last given to
    /// [`start_layout`](Self::start_layout). `check_utf8` is false when the whole buffer is known to be
    /// valid UTF-8; when true, a string column's value is checked the first time the batch sees it
    /// and an unknown field's every time.
    pub fn append(
        &mut self,
        buf: &[u8],
        fields: &[Span],
        layout: &FieldLayout,
        check_utf8: bool,
    ) -> Result<(), LineError> {
        if fields.len() != self.ops.len() {
            let kind = if fields.len() < self.ops.len() {
                RejectKind::TooFewFields
            } else {
                RejectKind::TooManyFields
            };
            return Err(LineError {
                kind,
                column: None,
                message: format!("expected {} fields, found {}", self.ops.len(), fields.len()),
            });
        }
        // One pass: values are stored as they are parsed; a bad field rolls the row back.
        let unknown_before = self.unknown_entries.len();
        let mut has_unknown = false;
        for (op, span) in self.ops.iter().zip(fields) {
            let bytes = span.of(buf);
            let null = bytes == b"-";
            match *op {
                Op::Int32 { column, max } => {
                    let c = &mut self.int32[usize::from(column)];
                    if null {
                        c.values.push(0);
                        c.nulls.append_null();
                    } else {
                        match parse_uint(bytes, u64::from(max)) {
                            Ok(v) => {
                                c.values.push(v as i32);
                                c.nulls.append_non_null();
                            }
                            Err(e) => {
                                let name = self.kind.catalogue()[c.catalogue].column;
                                let error = int_error(e, bytes, name, u64::from(max));
                                return Err(self.roll_back(unknown_before, error));
                            }
                        }
                    }
                }
                Op::Int64 { column } => {
                    let c = &mut self.int64[usize::from(column)];
                    if null {
                        c.values.push(0);
                        c.nulls.append_null();
                    } else {
                        match parse_uint(bytes, i64::MAX as u64) {
                            Ok(v) => {
                                c.values.push(v as i64);
                                c.nulls.append_non_null();
                            }
                            Err(e) => {
                                let name = self.kind.catalogue()[c.catalogue].column;
                                let error = int_error(e, bytes, name, i64::MAX as u64);
                                return Err(self.roll_back(unknown_before, error));
                            }
                        }
                    }
                }
                Op::Utf8 { column } => {
                    let c = &mut self.utf8[usize::from(column)];
                    if null {
                        c.push_null();
                    } else if c.push(bytes, check_utf8).is_err() {
                        let error = utf8_error(self.kind.catalogue()[c.catalogue].column);
                        return Err(self.roll_back(unknown_before, error));
                    }
                }
                Op::Unknown { name } => {
                    has_unknown = true;
                    if null {
                        continue;
                    }
                    if check_utf8 && std::str::from_utf8(bytes).is_err() {
                        let error = utf8_error(&layout.unknown[name as usize]);
                        return Err(self.roll_back(unknown_before, error));
                    }
                    self.unknown_entries.push((name, *span));
                }
            }
        }
        if has_unknown {
            self.unknown_offsets.push(self.unknown_entries.len() as i32);
        }
        self.rows += 1;
        Ok(())
    }

    /// Removes whatever a rejected record stored, so every column holds `rows` values again.
    #[cold]
    fn roll_back(&mut self, unknown_before: usize, error: LineError) -> LineError {
        let rows = self.rows;
        for c in &mut self.int32 {
            c.values.truncate(rows);
            c.nulls.truncate(rows);
        }
        for c in &mut self.int64 {
            c.values.truncate(rows);
            c.nulls.truncate(rows);
        }
        for c in &mut self.utf8 {
            c.truncate(rows);
        }
        self.unknown_entries.truncate(unknown_before);
        error
    }

    /// Builds the batch of the rows appended so far (of [`RecordKind::batch_schema`]) and resets.
    pub fn finish(&mut self, buf: &[u8]) -> Result<RecordBatch, ArrowError> {
        let rows = self.rows;
        self.capacity_hint = rows.min(MAX_CAPACITY_HINT);
        let catalogue = self.kind.catalogue();
        let mut arrays: Vec<Option<ArrayRef>> = vec![None; catalogue.len()];
        for c in &mut self.int32 {
            let values = ScalarBuffer::from(std::mem::take(&mut c.values));
            arrays[c.catalogue] = Some(Arc::new(Int32Array::new(values, c.nulls.finish())));
        }
        for c in &mut self.int64 {
            let values = ScalarBuffer::from(std::mem::take(&mut c.values));
            arrays[c.catalogue] = Some(Arc::new(Int64Array::new(values, c.nulls.finish())));
        }
        for c in &mut self.utf8 {
            arrays[c.catalogue] = Some(Arc::new(c.finish()?));
        }
        let nulls = &mut self.null_arrays;
        let mut columns: Vec<ArrayRef> = arrays
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.unwrap_or_else(|| nulls.get(catalogue[i].kind, rows)))
            .collect();
        columns.push(self.finish_unknown(buf, rows)?);
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns)
    }

    fn finish_unknown(&mut self, buf: &[u8], rows: usize) -> Result<ArrayRef, ArrowError> {
        let map_type = self
            .schema
            .field(self.kind.catalogue().len())
            .data_type()
            .clone();
        if self.unknown_names.is_empty() || self.unknown_entries.is_empty() {
            self.unknown_offsets.clear();
            self.unknown_entries.clear();
            return Ok(new_null_array(&map_type, rows));
        }
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i32);
        let mut nulls = NullBufferBuilder::new(rows);
        for &end in &self.unknown_offsets {
            if end == *offsets.last().unwrap_or(&0) {
                nulls.append_null();
            } else {
                nulls.append_non_null();
            }
            offsets.push(end);
        }
        let names = &self.unknown_names;
        let mut key_bytes = Vec::new();
        let mut key_offsets = Vec::with_capacity(self.unknown_entries.len() + 1);
        key_offsets.push(0i32);
        for (name, _) in &self.unknown_entries {
            key_bytes.extend_from_slice(names[*name as usize].as_bytes());
            key_offsets.push(key_bytes.len() as i32);
        }
        let keys = StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(key_offsets)),
            Buffer::from_vec(key_bytes),
            None,
        )?;
        let values = string_array(buf, self.unknown_entries.iter().map(|(_, s)| *s))?;
        let entries = StructArray::try_new(
            schema::unknown_fields_entries(),
            vec![Arc::new(keys) as ArrayRef, Arc::new(values) as ArrayRef],
            None,
        )?;
        let entries_field = match &map_type {
            DataType::Map(f, _) => f.clone(),
            _ => Arc::new(Field::new("key_value", entries.data_type().clone(), false)),
        };
        let map = MapArray::try_new(
            entries_field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            entries,
            nulls.finish(),
            false,
        )?;
        self.unknown_offsets.clear();
        self.unknown_entries.clear();
        Ok(Arc::new(map))
    }
}

#[cold]
fn int_error(e: IntError, bytes: &[u8], name: &str, max: u64) -> LineError {
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
    match e {
        IntError::NotANumber => LineError {
            kind: RejectKind::BadInteger,
            column: Some(name.to_string()),
            message: format!("`{shown}` in column {name} is not an integer or `-`"),
        },
        IntError::TooLarge => LineError {
            kind: RejectKind::OutOfRange,
            column: Some(name.to_string()),
            message: format!("`{shown}` in column {name} is out of range (0..={max})"),
        },
    }
}

#[cold]
fn utf8_error(column: &str) -> LineError {
    LineError {
        kind: RejectKind::InvalidUtf8,
        column: Some(column.to_string()),
        message: format!("column {column} is not valid UTF-8"),
    }
}

/// One string array from spans of `buf` ([`NULL_SPAN`] = NULL), one copy per value.
fn string_array(
    buf: &[u8],
    spans: impl Iterator<Item = Span> + Clone,
) -> Result<StringArray, ArrowError> {
    let mut total = 0usize;
    let mut rows = 0usize;
    for s in spans.clone() {
        rows += 1;
        if s != NULL_SPAN {
            total += (s.end - s.start) as usize;
        }
    }
    let mut values = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i32);
    let mut nulls = NullBufferBuilder::new(rows);
    for s in spans {
        if s == NULL_SPAN {
            nulls.append_null();
        } else {
            values.extend_from_slice(s.of(buf));
            nulls.append_non_null();
        }
        offsets.push(values.len() as i32);
    }
    let nulls: Option<NullBuffer> = nulls.finish();
    StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(values),
        nulls,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize::{split_fields, Lines};
    use arrow::array::AsArray;
    use arrow::datatypes::{Int32Type, Int64Type};

    fn build(text: &str, format: &str) -> (RecordBatch, Vec<LineError>) {
        let layout = FieldLayout::parse_format(format).unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut fields = Vec::new();
        let mut errors = Vec::new();
        for line in Lines::new(text.as_bytes()) {
            split_fields(line.text, line.offset, &mut fields);
            if let Err(e) = b.append(text.as_bytes(), &fields, &layout, true) {
                errors.push(e);
            }
        }
        (plain(&b.finish(text.as_bytes()).unwrap()), errors)
    }

    /// A built batch with its keyed string columns as strings (the lake schema of its kind).
    fn plain(batch: &RecordBatch) -> RecordBatch {
        let kind = if batch.column_by_name("tgw_id").is_some() {
            RecordKind::TransitGateway
        } else {
            RecordKind::Vpc
        };
        assert_eq!(batch.schema(), kind.batch_schema());
        let schema = kind.schema();
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()).unwrap())
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn string_columns_are_keys_into_the_batch_distinct_values() {
        let text = "a 10.0.0.1\na 10.0.0.2\nb 10.0.0.1\na -\n";
        let layout = FieldLayout::parse_format("account-id srcaddr").unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut fields = Vec::new();
        for line in Lines::new(text.as_bytes()) {
            split_fields(line.text, line.offset, &mut fields);
            b.append(text.as_bytes(), &fields, &layout, true).unwrap();
        }
        let batch = b.finish(text.as_bytes()).unwrap();
        let keyed = |name: &str| {
            let c = batch.column_by_name(name).unwrap();
            let d = c.as_dictionary::<arrow::datatypes::UInt32Type>();
            let values: Vec<&str> = d.values().as_string::<i32>().iter().flatten().collect();
            let keys: Vec<Option<u32>> = d.keys().iter().collect();
            (values.join(","), keys)
        };
        assert_eq!(
            keyed("account_id"),
            ("a,b".to_string(), vec![Some(0), Some(0), Some(1), Some(0)])
        );
        assert_eq!(
            keyed("srcaddr"),
            (
                "10.0.0.1,10.0.0.2".to_string(),
                vec![Some(0), Some(1), Some(0), None]
            )
        );
        // A field the layout lacks: all NULL, of the same keyed type.
        let vpc = batch.column_by_name("vpc_id").unwrap();
        assert_eq!(vpc.data_type(), &schema::keyed_strings());
        assert_eq!(vpc.null_count(), 4);
    }

    #[test]
    fn parse_uint_cases() {
        assert_eq!(parse_uint(b"0", 10), Ok(0));
        assert_eq!(parse_uint(b"65535", 65535), Ok(65535));
        assert_eq!(parse_uint(b"65536", 65535), Err(IntError::TooLarge));
        assert_eq!(
            parse_uint(b"9223372036854775807", i64::MAX as u64),
            Ok(i64::MAX as u64)
        );
        assert_eq!(
            parse_uint(b"9223372036854775808", i64::MAX as u64),
            Err(IntError::TooLarge)
        );
        assert_eq!(
            parse_uint(b"99999999999999999999999", u64::MAX),
            Err(IntError::TooLarge)
        );
        assert_eq!(
            parse_uint(b"18446744073709551616", u64::MAX),
            Err(IntError::TooLarge)
        );
        for junk in [&b""[..], b"-1", b"+1", b"1.5", b"12a", b"abc", b" 1", b"--"] {
            assert_eq!(
                parse_uint(junk, u64::MAX),
                Err(IntError::NotANumber),
                "{junk:?}"
            );
        }
    }

    proptest::proptest! {
        /// Agrees with the obvious definition (`str::parse` of digits, then the bound) on any bytes.
        #[test]
        fn parse_uint_agrees_with_the_standard_parser(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![8 => b'0'..=b'9', 1 => proptest::num::u8::ANY],
                0..24,
            ),
            max in proptest::prop_oneof![
                proptest::strategy::Just(u64::MAX),
                proptest::strategy::Just(i64::MAX as u64),
                proptest::strategy::Just(65_535u64),
                proptest::num::u64::ANY,
            ],
        ) {
            let digits = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
            let expected = if !digits {
                Err(IntError::NotANumber)
            } else {
                match std::str::from_utf8(&bytes).unwrap().parse::<u64>() {
                    Ok(v) if v <= max => Ok(v),
                    _ => Err(IntError::TooLarge),
                }
            };
            // A non-digit after digits that already overflow is reported as too large; compare
            // only where the kind of error is not that ambiguity.
            let got = parse_uint(&bytes, max);
            if digits || bytes.len() <= 19 {
                proptest::prop_assert_eq!(got, expected);
            } else {
                proptest::prop_assert!(got.is_err());
            }
        }
    }

    #[test]
    fn default_format_values_and_nulls() {
        let text = "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n\
                    2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n";
        let (batch, errors) = build(text, "default");
        assert!(errors.is_empty());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), schema::CATALOGUE.len() + 1);
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let dstport = col("dstport");
        let dstport = dstport.as_primitive::<Int32Type>();
        assert_eq!(dstport.value(0), 22);
        assert!(dstport.is_null(1));
        let bytes = col("bytes");
        assert_eq!(bytes.as_primitive::<Int64Type>().value(0), 4249);
        assert_eq!(col("end").as_primitive::<Int64Type>().value(1), 1431280934);
        let srcaddr = col("srcaddr");
        assert_eq!(srcaddr.as_string::<i32>().value(0), "172.31.16.139");
        assert!(srcaddr.is_null(1));
        assert_eq!(col("log_status").as_string::<i32>().value(1), "NODATA");
        assert_eq!(col("vpc_id").null_count(), 2, "absent columns are NULL");
        assert_eq!(col("unknown_fields").null_count(), 2);
    }

    #[test]
    fn rejects_leave_no_trace() {
        let text = "2 a x 70000\n2 a x 1\n3 b\nx a x 5\n2 a x 1 extra\n";
        let (batch, errors) = build(text, "version account-id interface-id dstport");
        assert_eq!(batch.num_rows(), 1);
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                RejectKind::OutOfRange,
                RejectKind::TooFewFields,
                RejectKind::BadInteger,
                RejectKind::TooManyFields
            ]
        );
        assert_eq!(errors[0].column.as_deref(), Some("dstport"));
        assert_eq!(
            batch
                .column_by_name("account_id")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "a"
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_with_its_column() {
        let text = b"2 \xff\xfe\n2 ok\n";
        let layout = FieldLayout::parse_format("version account-id").unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        for line in Lines::new(text) {
            split_fields(line.text, line.offset, &mut fields);
            if let Err(e) = b.append(text, &fields, &layout, true) {
                kinds.push((e.kind, e.column));
            }
        }
        assert_eq!(
            kinds,
            [(RejectKind::InvalidUtf8, Some("account_id".to_string()))]
        );
        let batch = plain(&b.finish(text).unwrap());
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "ok");
    }

    #[test]
    fn a_repeated_invalid_value_is_rejected_every_time_and_valid_ones_kept() {
        // The invalid value is never interned, so its second line is checked again; a value cut
        // inside a multi-byte character is invalid; the whole character is kept.
        let text = b"2 a\xff x\n2 ok x\n2 a\xff x\n2 \xc3 \xa9\n2 \xc3\xa9 x\n2 ok x\n";
        let layout = FieldLayout::parse_format("version account-id interface-id").unwrap();
        let mut b = BatchBuilder::new();
        b.start_layout(&layout);
        let mut fields = Vec::new();
        let mut rejected = Vec::new();
        for (n, line) in Lines::new(text).enumerate() {
            split_fields(line.text, line.offset, &mut fields);
            if let Err(e) = b.append(text, &fields, &layout, true) {
                rejected.push((n + 1, e.kind, e.column));
            }
        }
        let utf8 = |n: usize| (n, RejectKind::InvalidUtf8, Some("account_id".to_string()));
        assert_eq!(rejected, [utf8(1), utf8(3), utf8(4)]);
        let batch = plain(&b.finish(text).unwrap());
        let values: Vec<&str> = batch
            .column(1)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(values, ["ok", "\u{e9}", "ok"]);
    }

    #[test]
    fn unknown_fields_go_to_the_map() {
        let text = "x-1 10.0.0.1 3\n- 10.0.0.2 -\n";
        let (batch, errors) = build(text, "future-id srcaddr future-count");
        assert!(errors.is_empty());
        let map = batch
            .column_by_name("unknown_fields")
            .unwrap()
            .as_map()
            .clone();
        assert!(map.is_null(1), "all unknown values `-` → NULL map");
        let row0 = map.value(0);
        let keys = row0.column(0).as_string::<i32>();
        let values = row0.column(1).as_string::<i32>();
        assert_eq!(
            keys.iter().flatten().collect::<Vec<_>>(),
            ["future-id", "future-count"]
        );
        assert_eq!(values.iter().flatten().collect::<Vec<_>>(), ["x-1", "3"]);
    }

    #[test]
    fn a_transit_gateway_layout_builds_the_transit_gateway_schema() {
        let text = "6 tgw-0a 10.0.0.1 6 7 1700000000\n6 tgw-0b 10.0.0.2 17 - 1700000060\n";
        let (batch, errors) = build(
            text,
            "version tgw-id srcaddr protocol packets-lost-blackhole start",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(batch.schema(), RecordKind::TransitGateway.schema());
        let protocol = batch
            .column_by_name("protocol")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(protocol.values().to_vec(), [6, 17]);
        let lost = batch
            .column_by_name("packets_lost_blackhole")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!((lost.value(0), lost.is_null(1)), (7, true));
        let tgw = batch.column_by_name("tgw_id").unwrap().as_string::<i32>();
        assert_eq!(
            tgw.iter().flatten().collect::<Vec<_>>(),
            ["tgw-0a", "tgw-0b"]
        );
        assert!(batch.column_by_name("action").is_none());
        // A VPC layout builds the VPC schema.
        let (batch, _) = build("2 10.0.0.1\n", "version srcaddr");
        assert_eq!(batch.schema(), RecordKind::Vpc.schema());
    }

    #[test]
    fn builder_is_reusable_across_layouts() {
        let mut b = BatchBuilder::new();
        let a = FieldLayout::parse_format("srcport").unwrap();
        let c = FieldLayout::parse_format("dstaddr").unwrap();
        let mut f = Vec::new();
        b.start_layout(&a);
        split_fields(b"7", 0, &mut f);
        b.append(b"7", &f, &a, false).unwrap();
        let first = b.finish(b"7").unwrap();
        assert_eq!(first.column(5).as_primitive::<Int32Type>().value(0), 7);
        b.start_layout(&c);
        b.append(b"x", &f, &c, false).unwrap();
        let second = plain(&b.finish(b"x").unwrap());
        assert_eq!(second.column(4).as_string::<i32>().value(0), "x");
        assert_eq!(second.column(5).null_count(), 1);
    }
}
