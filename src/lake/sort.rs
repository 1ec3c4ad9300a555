//! Row order of the lake's files (`--sort-by`): which columns, and the external sort that puts all
//! the rows of a partition in that order within a memory bound.
//!
//! Rows are sorted as they come, a group of [`RUN_ROWS`] at a time (a group fits in the CPU's
//! caches, so gathering its rows into key order is cheap), into sorted *runs* kept in memory; when
//! the runs pass the memory bound they are merged into one run spilled to the staging folder as an
//! Arrow IPC stream. At the end every run is merged (a heap of runs; each run is read in order, so
//! the merge's gathers stream through memory instead of jumping around it). A partition that fits in
//! memory is never spilled. The order is stable: rows with equal keys keep the order they were given
//! in. Each row keeps the *source* (an input's number) it was given with, so the caller can record
//! which input's rows ended up where.

use std::cmp::Ordering;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use arrow::array::new_null_array;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use parquet::file::metadata::SortingColumn;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::lake::ledger::commit::Lake;
use crate::lake::schema::{column_list, UnknownColumn, CATALOGUE};

/// Rows per sorted batch handed on (to the encoder, or to a spill file).
pub const SORTED_BATCH_ROWS: usize = 16 * 1024;

/// Rows per batch of a spilled run: the merge of the spilled runs holds one batch of each, so the
/// batches are small enough for many runs (4 Ki rows: about 1 MiB).
pub const SPILL_BATCH_ROWS: usize = 4 * 1024;

/// Rows sorted together into one in-memory run (a few MiB of Arrow data).
pub const RUN_ROWS: usize = 16 * 1024;

/// Memory (Arrow bytes of the columns with values) the rows held by a run's sorters may take before
/// the sorter adding rows merges its runs and spills them to staging.
pub const DEFAULT_SORT_MEMORY: usize = 128 * 1024 * 1024;

/// Spilled runs merged at once: as soon as this many runs of one level are spilled, they are merged
/// into one run of the next level (each row is rewritten once a level, and a partition holds at most
/// `MERGE_FAN_IN - 1` runs a level: a few dozen files open, and one [`SPILL_BATCH_ROWS`] batch of
/// each in memory, at the final merge).
pub const MERGE_FAN_IN: usize = 16;

/// The memory bound shared by every sorter of a run (`--sort-memory`): partitions built side by side
/// share it, so the bound is the run's, not each partition's.
#[derive(Debug, Clone)]
pub struct SortMemory {
    limit: usize,
    used: Arc<AtomicUsize>,
}

impl SortMemory {
    pub fn new(limit: usize) -> Self {
        SortMemory {
            limit: limit.max(1),
            used: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The same bound with nothing used yet: the bound of a run of its own.
    pub fn fresh(&self) -> Self {
        SortMemory::new(self.limit)
    }

    fn add(&self, bytes: usize) {
        self.used.fetch_add(bytes, AtomicOrdering::Relaxed);
    }

    fn release(&self, bytes: usize) {
        // Never below zero, whatever the order of the updates.
        let _ = self
            .used
            .fetch_update(AtomicOrdering::Relaxed, AtomicOrdering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }

    /// Whether a sorter holding `mine` bytes should spill: the run's sorters are past the bound, and
    /// this one holds a fair part of it (so a small sorter does not spill tiny runs for a big one).
    fn over(&self, mine: usize) -> bool {
        mine >= self.limit
            || (self.used.load(AtomicOrdering::Relaxed) >= self.limit && mine >= self.limit / 4)
    }
}

/// Why a `--sort-by` list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SortColumnsError {
    /// A name that is not a lake column.
    #[error(transparent)]
    Unknown(#[from] UnknownColumn),
    /// A column named twice (by either of its names).
    #[error("--sort-by: {0} is named twice")]
    Twice(&'static str),
}

/// The columns a lake's rows are sorted by (`--sort-by`), most significant first: catalogue indices
/// (the lake schema's column and Parquet leaf index too). Ascending, NULLs first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SortColumns(Vec<usize>);

impl SortColumns {
    /// Arrival order: no sort.
    pub fn none() -> Self {
        SortColumns(Vec::new())
    }

    /// `none`, or column names separated by commas (the lake's `srcaddr`, or the flow log's
    /// `interface-id`), most significant first.
    pub fn parse(text: &str) -> std::result::Result<Self, SortColumnsError> {
        let columns = column_list("--sort-by", text)?;
        for (n, &c) in columns.iter().enumerate() {
            if columns[..n].contains(&c) {
                return Err(SortColumnsError::Twice(CATALOGUE[c].column));
            }
        }
        Ok(SortColumns(columns))
    }

    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// The columns at these positions of the rows' schema (a schema other than the catalogue's: an
    /// OCSF lake's `time`). Not for settings that are written down ([`names`](Self::names) reads
    /// the catalogue).
    pub(crate) fn at(positions: Vec<usize>) -> Self {
        SortColumns(positions)
    }

    /// The lake's names of the key columns, most significant first.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|&i| CATALOGUE[i].column.to_string())
            .collect()
    }

    /// The Parquet `sorting_columns` of a row group sorted this way.
    pub fn sorting_columns(&self) -> Vec<SortingColumn> {
        self.0
            .iter()
            .map(|&i| SortingColumn {
                column_idx: i as i32,
                descending: false,
                nulls_first: true,
            })
            .collect()
    }
}

/// Stored as the names `--sort-by` takes (`none`, or names separated by commas).
impl serde::Serialize for SortColumns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.is_none() {
            true => s.serialize_str("none"),
            false => s.serialize_str(&self.names().join(",")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SortColumns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        SortColumns::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Stored as its limit in bytes (nothing used: a bound read back is a run's own).
impl serde::Serialize for SortMemory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u64(self.limit as u64)
    }
}

impl<'de> serde::Deserialize<'de> for SortMemory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let bytes = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(SortMemory::new(
            usize::try_from(bytes).unwrap_or(usize::MAX),
        ))
    }
}

/// One key column of a batch, typed.
enum KeyColumn<'a> {
    Utf8(&'a arrow::array::StringArray),
    Int32(&'a arrow::array::Int32Array),
    Int64(&'a arrow::array::Int64Array),
}

impl<'a> KeyColumn<'a> {
    fn of(array: &'a ArrayRef) -> Result<KeyColumn<'a>> {
        match array.data_type() {
            DataType::Utf8 => Ok(KeyColumn::Utf8(array.as_string::<i32>())),
            DataType::Int32 => Ok(KeyColumn::Int32(array.as_primitive::<Int32Type>())),
            DataType::Int64 => Ok(KeyColumn::Int64(array.as_primitive::<Int64Type>())),
            other => Err(Error::Config(format!(
                "--sort-by: a column of type {other} cannot be sorted"
            ))),
        }
    }

    /// Orders row `i` of `self` against row `j` of `other` (same type): NULLs first, strings by
    /// their bytes (as Parquet's statistics order them), integers by value.
    fn cmp(&self, i: usize, other: &KeyColumn<'_>, j: usize) -> Ordering {
        fn nulls(a: &dyn Array, i: usize, b: &dyn Array, j: usize) -> Option<Ordering> {
            match (a.is_null(i), b.is_null(j)) {
                (false, false) => None,
                (x, y) => Some(y.cmp(&x)),
            }
        }
        match (self, other) {
            (KeyColumn::Utf8(a), KeyColumn::Utf8(b)) => nulls(*a, i, *b, j)
                .unwrap_or_else(|| a.value(i).as_bytes().cmp(b.value(j).as_bytes())),
            (KeyColumn::Int32(a), KeyColumn::Int32(b)) => {
                nulls(*a, i, *b, j).unwrap_or_else(|| a.value(i).cmp(&b.value(j)))
            }
            (KeyColumn::Int64(a), KeyColumn::Int64(b)) => {
                nulls(*a, i, *b, j).unwrap_or_else(|| a.value(i).cmp(&b.value(j)))
            }
            _ => Ordering::Equal, // never: both sides come from the lake schema
        }
    }

    /// A number pair whose order is [`cmp`](Self::cmp)'s wherever the pairs differ, and which
    /// decides it alone when it is [`exact`](Prefix::exact): the first 16 bytes of a string and its
    /// length (0 for NULL; 1 + the length for a value), an integer shifted to unsigned (0 for NULL).
    fn prefix(&self, i: usize) -> Prefix {
        match self {
            KeyColumn::Utf8(a) if a.is_valid(i) => {
                let bytes = a.value(i).as_bytes();
                let mut p = [0u8; 16];
                let n = bytes.len().min(16);
                p[..n].copy_from_slice(&bytes[..n]);
                Prefix {
                    bytes: u128::from_be_bytes(p),
                    len: u32::try_from(bytes.len()).map_or(u32::MAX, |l| l.saturating_add(1)),
                }
            }
            KeyColumn::Int32(a) if a.is_valid(i) => Prefix {
                bytes: ((a.value(i) as u32 ^ 1 << 31) as u128) + 1,
                len: 0,
            },
            KeyColumn::Int64(a) if a.is_valid(i) => Prefix {
                bytes: ((a.value(i) as u64 ^ 1 << 63) as u128) + 1,
                len: 0,
            },
            _ => Prefix { bytes: 0, len: 0 },
        }
    }
}

/// The start of a key value (see [`KeyColumn::prefix`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Prefix {
    bytes: u128,
    /// 0 for NULLs and integers, else 1 + the string's length.
    len: u32,
}

impl Prefix {
    /// True when the prefix is the whole value (a NULL, an integer, a string of at most 16 bytes):
    /// then two values compare as their prefixes do. (A string of up to 16 bytes, zero-padded, with
    /// its length, orders exactly as its bytes do.)
    fn exact(self) -> bool {
        self.len <= 17
    }
}

/// The key columns of one batch.
struct Keys<'a>(Vec<KeyColumn<'a>>);

impl<'a> Keys<'a> {
    fn of(batch: &'a RecordBatch, columns: &SortColumns) -> Result<Keys<'a>> {
        columns
            .0
            .iter()
            .map(|&c| {
                let array = batch.columns().get(c).ok_or_else(|| {
                    Error::Config(format!("--sort-by: the rows have no column {c}"))
                })?;
                KeyColumn::of(array)
            })
            .collect::<Result<Vec<_>>>()
            .map(Keys)
    }

    fn cmp(&self, i: usize, other: &Keys<'_>, j: usize) -> Ordering {
        self.cmp_from(0, i, other, j)
    }

    /// [`cmp`](Self::cmp) from the `first`-th key column on.
    fn cmp_from(&self, first: usize, i: usize, other: &Keys<'_>, j: usize) -> Ordering {
        for (a, b) in self.0.iter().zip(&other.0).skip(first) {
            match a.cmp(i, b, j) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    }
}

/// Rows with one source number per row.
#[derive(Clone)]
struct Sourced {
    batch: RecordBatch,
    sources: UInt32Array,
}

impl Sourced {
    /// Memory the rows hold: the columns with values (NULL columns of sorted rows share one buffer,
    /// see [`nulls`]) and the sources.
    fn bytes(&self) -> usize {
        let columns: usize = self
            .batch
            .columns()
            .iter()
            .filter(|c| c.null_count() < c.len())
            .map(|c| c.get_array_memory_size())
            .sum();
        columns + self.sources.get_array_memory_size()
    }
}

/// `len` NULLs of type `data_type`, sliced from one array per type shared by every sorted batch (a
/// lake's rows have dozens of NULL columns: the fields their format lacks).
fn nulls(data_type: &DataType, len: usize) -> ArrayRef {
    static SHARED: std::sync::Mutex<Vec<ArrayRef>> = std::sync::Mutex::new(Vec::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    match shared.iter().position(|a| a.data_type() == data_type) {
        Some(i) if shared[i].len() >= len => shared[i].slice(0, len),
        found => {
            let array = new_null_array(data_type, len.max(4 * SORTED_BATCH_ROWS));
            let out = array.slice(0, len);
            match found {
                Some(i) => shared[i] = array,
                None => shared.push(array),
            }
            out
        }
    }
}

/// Sorted rows in batches, each row with its source.
pub type SortedRows = Box<dyn Iterator<Item = Result<(RecordBatch, UInt32Array)>> + Send>;

/// A sorted run in a file of the staging folder.
struct Spilled {
    path: PathBuf,
    /// Its columns that are NULL in every row (spilled as Arrow's Null type).
    all_null: Vec<bool>,
    /// 0 for a run spilled from memory, k + 1 for a merge of runs of level k.
    level: u32,
}

/// Sorts a partition's rows (see the module doc).
pub struct Sorter {
    columns: SortColumns,
    memory: SortMemory,
    /// Rows not sorted yet (fewer than [`RUN_ROWS`]).
    pending: Vec<Sourced>,
    pending_rows: usize,
    /// Sorted runs in memory, in the order their rows came.
    runs: Vec<Sourced>,
    /// Bytes of `pending` and `runs`.
    bytes: usize,
    /// Spilled sorted runs, in the order their rows came.
    spilled: Vec<Spilled>,
    /// Run files written so far (their names count up).
    runs_written: usize,
    /// Begins the names of its run files (two sorters of one partition name theirs apart).
    prefix: &'static str,
    /// Where runs are spilled: the partition's staging folder.
    partition: String,
    schema: SchemaRef,
}

impl Sorter {
    pub fn new(
        columns: SortColumns,
        memory: SortMemory,
        partition: String,
        schema: SchemaRef,
    ) -> Self {
        Sorter {
            columns,
            memory,
            pending: Vec::new(),
            pending_rows: 0,
            runs: Vec::new(),
            bytes: 0,
            spilled: Vec::new(),
            runs_written: 0,
            prefix: "",
            partition,
            schema,
        }
    }

    /// The same sorter with run files named `sort-<prefix>run-NNNNN.arrow`.
    pub fn named(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// Adds rows, all of `source`.
    pub fn push(&mut self, lake: &Lake, batches: &[RecordBatch], source: u32) -> Result<()> {
        for batch in batches {
            let sources = UInt32Array::from(vec![source; batch.num_rows()]);
            self.push_sourced(lake, batch.clone(), sources)?;
        }
        Ok(())
    }

    /// Adds rows with a source per row; sorts a group once [`RUN_ROWS`] are pending, and spills the
    /// runs once they pass the memory bound.
    pub fn push_sourced(
        &mut self,
        lake: &Lake,
        batch: RecordBatch,
        sources: UInt32Array,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rows = Sourced { batch, sources };
        let bytes = rows.bytes();
        self.bytes += bytes;
        self.memory.add(bytes);
        self.pending_rows += rows.batch.num_rows();
        self.pending.push(rows);
        if self.pending_rows >= RUN_ROWS {
            self.seal()?;
        }
        if self.memory.over(self.bytes) {
            self.spill(lake)?;
        }
        Ok(())
    }

    /// Sorts the pending rows into a run.
    fn seal(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let unsorted: usize = pending.iter().map(Sourced::bytes).sum();
        let run = sort_group(&pending, &self.columns)?;
        let sorted = run.bytes();
        self.bytes = self.bytes - unsorted + sorted;
        self.memory.release(unsorted);
        self.memory.add(sorted);
        self.runs.push(run);
        Ok(())
    }

    /// Merges the runs in memory into a new run file; once [`MERGE_FAN_IN`] runs of one level are
    /// spilled, merges those into one of the next level.
    fn spill(&mut self, lake: &Lake) -> Result<()> {
        self.seal()?;
        let runs = std::mem::take(&mut self.runs);
        self.memory.release(self.bytes);
        self.bytes = 0;
        // Columns NULL in every row (the fields the inputs' format lacks) are spilled as Arrow's
        // Null type, which takes no bytes.
        let all_null: Vec<bool> = (0..self.schema.fields().len())
            .map(|c| {
                runs.iter().all(|r| {
                    let a = r.batch.column(c);
                    a.null_count() == a.len()
                })
            })
            .collect();
        let inputs: Vec<SortedRows> = runs.into_iter().map(in_memory).collect();
        let merged = Merge::new(inputs, self.columns.clone(), SPILL_BATCH_ROWS, Vec::new())?;
        self.write_run(lake, merged, all_null, 0)?;
        // Levels only fall from the first run to the last, so the last MERGE_FAN_IN runs of one
        // level are consecutive: merged, their run takes their place and the sort stays stable.
        while self.spilled.len() >= MERGE_FAN_IN {
            let tail = self.spilled.len() - MERGE_FAN_IN;
            let level = self.spilled[tail].level;
            if self.spilled[tail..].iter().any(|r| r.level != level) {
                break;
            }
            let runs = self.spilled.split_off(tail);
            let all_null = (0..self.schema.fields().len())
                .map(|c| runs.iter().all(|r| r.all_null[c]))
                .collect();
            let mut inputs: Vec<SortedRows> = Vec::with_capacity(runs.len());
            for r in &runs {
                inputs.push(Box::new(RunReader::open(&r.path, self.schema.clone())?));
            }
            let paths = runs.into_iter().map(|r| r.path).collect();
            let merged = Merge::new(inputs, self.columns.clone(), SPILL_BATCH_ROWS, paths)?;
            self.write_run(lake, merged, all_null, level + 1)?;
        }
        Ok(())
    }

    /// Writes sorted rows to a new run file in the partition's staging folder.
    fn write_run(
        &mut self,
        lake: &Lake,
        rows: Merge,
        all_null: Vec<bool>,
        level: u32,
    ) -> Result<()> {
        self.runs_written += 1;
        let name = format!("sort-{}run-{:05}.arrow", self.prefix, self.runs_written);
        let path = lake.staged_file(&self.partition, &name);
        let staged = lake.create_staged(&self.partition, &name)?;
        let spill_schema = spill_schema(&self.schema, &all_null);
        let ipc = |e: arrow::error::ArrowError| Error::output(&path, std::io::Error::other(e));
        let mut writer =
            StreamWriter::try_new(std::io::BufWriter::new(staged), &spill_schema).map_err(ipc)?;
        for merged in rows {
            let (batch, sources) = merged?;
            writer
                .write(&with_sources(&spill_schema, &Sourced { batch, sources })?)
                .map_err(ipc)?;
        }
        writer.finish().map_err(ipc)?;
        self.spilled.push(Spilled {
            path,
            all_null,
            level,
        });
        Ok(())
    }

    /// All the rows, sorted, in batches, each row with its source.
    pub fn finish(mut self) -> Result<SortedRows> {
        self.seal()?;
        // From here the rows are the merge's, which holds a batch of each run at a time.
        self.memory.release(std::mem::take(&mut self.bytes));
        let mut inputs: Vec<SortedRows> = Vec::new();
        for r in &self.spilled {
            inputs.push(Box::new(RunReader::open(&r.path, self.schema.clone())?));
        }
        if self.spilled.is_empty() && self.runs.len() == 1 {
            // One sorted run: handed on in slices, not copied again.
            let run = self.runs.remove(0);
            let n = run.batch.num_rows();
            return Ok(Box::new((0..n).step_by(SORTED_BATCH_ROWS).map(move |at| {
                let len = SORTED_BATCH_ROWS.min(n - at);
                Ok((run.batch.slice(at, len), run.sources.slice(at, len)))
            })));
        }
        inputs.extend(std::mem::take(&mut self.runs).into_iter().map(in_memory));
        let spilled = std::mem::take(&mut self.spilled)
            .into_iter()
            .map(|r| r.path)
            .collect();
        Ok(Box::new(Merge::new(
            inputs,
            self.columns.clone(),
            SORTED_BATCH_ROWS,
            spilled,
        )?))
    }
}

/// A run in memory as sorted input.
fn in_memory(run: Sourced) -> SortedRows {
    Box::new(std::iter::once(Ok((run.batch, run.sources))))
}

/// The schema of a spilled run: the lake's, with the `all_null` columns of Arrow's Null type, and the
/// rows' sources.
impl Drop for Sorter {
    /// A sorter dropped before its end (a failed partition) gives its share of the bound back.
    fn drop(&mut self) {
        self.memory.release(self.bytes);
    }
}

fn spill_schema(schema: &SchemaRef, all_null: &[bool]) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .zip(all_null)
        .map(|(f, &null)| match null {
            true => Arc::new(Field::new(f.name(), DataType::Null, true)),
            false => f.clone(),
        })
        .collect();
    fields.push(Arc::new(Field::new(
        "__flowlake_source",
        DataType::UInt32,
        false,
    )));
    Arc::new(Schema::new(fields))
}

fn with_sources(spill_schema: &SchemaRef, sorted: &Sourced) -> Result<RecordBatch> {
    let n = sorted.batch.num_rows();
    let mut columns: Vec<ArrayRef> = sorted
        .batch
        .columns()
        .iter()
        .zip(spill_schema.fields())
        .map(|(c, f)| match f.data_type() {
            DataType::Null => nulls(&DataType::Null, n),
            _ => c.clone(),
        })
        .collect();
    columns.push(Arc::new(sorted.sources.clone()));
    Ok(RecordBatch::try_new(spill_schema.clone(), columns)?)
}

/// The rows of `group` in key order, as one batch.
fn sort_group(group: &[Sourced], columns: &SortColumns) -> Result<Sourced> {
    let keys: Vec<Keys<'_>> = group
        .iter()
        .map(|s| Keys::of(&s.batch, columns))
        .collect::<Result<_>>()?;
    // The first key's prefix decides most comparisons without touching the arrays; with one key
    // column of short values it decides all of them, and the sort is one of integers.
    let mut order: Vec<(Prefix, u32, u32)> =
        Vec::with_capacity(group.iter().map(|s| s.batch.num_rows()).sum::<usize>());
    for (b, k) in keys.iter().enumerate() {
        let Some(first) = k.0.first() else { continue };
        for r in 0..group[b].batch.num_rows() {
            order.push((first.prefix(r), b as u32, r as u32));
        }
    }
    // An integer sort by prefix, then (batch, row): stable, and final wherever the prefixes decide.
    order.sort_unstable();
    // Where they do not (values longer than 16 bytes with a common prefix, or ties on the first
    // column with more columns to go), the rows of each stretch of equal prefix bytes are ordered
    // by their whole keys.
    let more_columns = columns.0.len() > 1;
    let mut at = 0;
    while at < order.len() {
        let bytes = order[at].0.bytes;
        let end = at
            + order[at..]
                .iter()
                .take_while(|o| o.0.bytes == bytes)
                .count();
        let decided = !more_columns && order[at..end].iter().all(|o| o.0.exact());
        if end - at > 1 && !decided {
            order[at..end].sort_unstable_by(|x, y| {
                let (kx, ky) = (&keys[x.1 as usize], &keys[y.1 as usize]);
                let (rx, ry) = (x.2 as usize, y.2 as usize);
                compare(x.0, kx, rx, y.0, ky, ry).then_with(|| (x.1, x.2).cmp(&(y.1, y.2)))
            });
        }
        at = end;
    }
    let indices: Vec<(usize, usize)> = order
        .iter()
        .map(|&(_, b, r)| (b as usize, r as usize))
        .collect();
    let from: Vec<&Sourced> = group.iter().collect();
    take_rows(&from, &indices)
}

/// Orders two rows by their keys, the first column's prefixes first.
fn compare(px: Prefix, kx: &Keys<'_>, rx: usize, py: Prefix, ky: &Keys<'_>, ry: usize) -> Ordering {
    px.bytes.cmp(&py.bytes).then_with(|| {
        if px.exact() && py.exact() {
            px.len.cmp(&py.len).then_with(|| kx.cmp_from(1, rx, ky, ry))
        } else {
            kx.cmp(rx, ky, ry)
        }
    })
}

/// The rows at `indices` ((batch, row) pairs) of `from`, with their sources.
fn take_rows(from: &[&Sourced], indices: &[(usize, usize)]) -> Result<Sourced> {
    let Some(first) = from.first() else {
        return Err(Error::Config("sort: rows taken from no batch".into()));
    };
    let schema = first.batch.schema();
    // From one batch (a group of rows sorted as they came): arrow's `take`, faster than `interleave`.
    let single = (from.len() == 1)
        .then(|| UInt32Array::from_iter_values(indices.iter().map(|&(_, r)| r as u32)));
    // Columns in parallel (the encoder that takes the rows is parallel by column too).
    let columns = schema
        .fields()
        .par_iter()
        .enumerate()
        .map(|(c, field)| {
            let arrays: Vec<&ArrayRef> = from.iter().map(|s| s.batch.column(c)).collect();
            // Most columns of a lake are the fields a format lacks: NULL in every row.
            if arrays.iter().all(|a| a.null_count() == a.len()) {
                Ok(nulls(field.data_type(), indices.len()))
            } else if let Some(rows) = &single {
                arrow::compute::take(arrays[0].as_ref(), rows, None)
            } else {
                let arrays: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                interleave(&arrays, indices)
            }
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    let batch = RecordBatch::try_new(schema, columns)?;
    let sources = match &single {
        Some(rows) => arrow::compute::take(&first.sources, rows, None)?,
        None => {
            let sources: Vec<&dyn Array> = from.iter().map(|s| &s.sources as &dyn Array).collect();
            interleave(&sources, indices)?
        }
    };
    let sources = sources
        .as_any()
        .downcast_ref::<UInt32Array>()
        .cloned()
        .ok_or_else(|| Error::Config("sort: sources are not UInt32".into()))?;
    Ok(Sourced { batch, sources })
}

/// Reads back a spilled run.
struct RunReader {
    reader: StreamReader<BufReader<File>>,
    schema: SchemaRef,
    path: PathBuf,
}

impl RunReader {
    fn open(path: &PathBuf, schema: SchemaRef) -> Result<RunReader> {
        let file = File::open(path).map_err(|e| Error::output(path, e))?;
        let reader = StreamReader::try_new(BufReader::new(file), None)
            .map_err(|e| Error::output(path, std::io::Error::other(e)))?;
        Ok(RunReader {
            reader,
            schema,
            path: path.clone(),
        })
    }
}

impl Iterator for RunReader {
    type Item = Result<(RecordBatch, UInt32Array)>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(Error::output(&self.path, std::io::Error::other(e)))),
        };
        let n = batch.num_columns();
        let sources = batch
            .column(n - 1)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .cloned();
        // Columns spilled as the Null type come back as NULLs of the lake's type.
        let columns: Vec<ArrayRef> = batch.columns()[..n - 1]
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| match c.data_type() {
                DataType::Null => nulls(f.data_type(), c.len()),
                _ => c.clone(),
            })
            .collect();
        let rows = RecordBatch::try_new(self.schema.clone(), columns);
        Some(match (rows, sources) {
            (Ok(rows), Some(sources)) => Ok((rows, sources)),
            _ => Err(Error::output(
                &self.path,
                std::io::Error::other("a spilled run does not have the lake's columns"),
            )),
        })
    }
}

/// One sorted input of a merge, its current batch and the first key's prefix of each of its rows.
struct Cursor {
    input: SortedRows,
    current: Option<Sourced>,
    prefixes: Vec<Prefix>,
    /// The next row of `current`.
    row: usize,
}

impl Cursor {
    /// Moves to the input's next non-empty batch (none at its end).
    fn load(&mut self, columns: &SortColumns) -> Result<()> {
        self.row = 0;
        self.prefixes.clear();
        self.current = None;
        for next in self.input.by_ref() {
            let (batch, sources) = next?;
            if batch.num_rows() == 0 {
                continue;
            }
            let keys = Keys::of(&batch, columns)?;
            if let Some(first) = keys.0.first() {
                self.prefixes = (0..batch.num_rows()).map(|r| first.prefix(r)).collect();
            }
            drop(keys);
            self.current = Some(Sourced { batch, sources });
            break;
        }
        Ok(())
    }
}

/// A k-way merge of sorted inputs through a binary heap of the inputs by their current row (earlier
/// inputs first among equal keys: stable). Its batches are full ([`Merge::new`]'s `batch_rows`) but
/// the last: an input's batch that ends is kept until the merged batch that took its last rows is out.
struct Merge {
    cursors: Vec<Cursor>,
    /// Inputs with rows left, as a min-heap.
    heap: Vec<usize>,
    columns: SortColumns,
    batch_rows: usize,
    /// The spilled runs, removed once the merge is done.
    spilled: Vec<PathBuf>,
}

impl Merge {
    fn new(
        inputs: Vec<SortedRows>,
        columns: SortColumns,
        batch_rows: usize,
        spilled: Vec<PathBuf>,
    ) -> Result<Merge> {
        let mut cursors = Vec::with_capacity(inputs.len());
        for input in inputs {
            let mut cursor = Cursor {
                input,
                current: None,
                prefixes: Vec::new(),
                row: 0,
            };
            cursor.load(&columns)?;
            cursors.push(cursor);
        }
        let mut heap = Vec::new();
        for i in 0..cursors.len() {
            if cursors[i].current.is_some() {
                heap.push(i);
                sift_up(&mut heap, &cursors, &columns);
            }
        }
        Ok(Merge {
            cursors,
            heap,
            columns,
            batch_rows: batch_rows.max(1),
            spilled,
        })
    }

    /// The next batch of merged rows.
    fn next_batch(&mut self) -> Result<Option<Sourced>> {
        // The batches rows are taken from: each input's current one, then those that ended.
        let mut from: Vec<Sourced> = Vec::with_capacity(self.cursors.len() + 4);
        let mut slot = vec![usize::MAX; self.cursors.len()];
        for (i, c) in self.cursors.iter().enumerate() {
            if let Some(s) = &c.current {
                slot[i] = from.len();
                from.push(s.clone());
            }
        }
        let mut indices: Vec<(usize, usize)> = Vec::with_capacity(self.batch_rows);
        while indices.len() < self.batch_rows {
            let Some(&top) = self.heap.first() else { break };
            let cursor = &mut self.cursors[top];
            let len = cursor.current.as_ref().map_or(0, |s| s.batch.num_rows());
            indices.push((slot[top], cursor.row));
            cursor.row += 1;
            if cursor.row < len {
                sift_down(&mut self.heap, &self.cursors, &self.columns);
                continue;
            }
            // Its batch is done: the next one takes its place (the old one stays in `from`).
            cursor.load(&self.columns)?;
            match &cursor.current {
                Some(s) => {
                    slot[top] = from.len();
                    from.push(s.clone());
                    sift_down(&mut self.heap, &self.cursors, &self.columns);
                }
                None => {
                    let last = self.heap.len() - 1;
                    self.heap.swap(0, last);
                    self.heap.pop();
                    sift_down(&mut self.heap, &self.cursors, &self.columns);
                }
            }
        }
        if indices.is_empty() {
            return Ok(None);
        }
        let from: Vec<&Sourced> = from.iter().collect();
        take_rows(&from, &indices).map(Some)
    }
}

/// Orders row `i` of `a` against row `j` of `b` by the sort columns.
fn compare_rows(
    a: &RecordBatch,
    i: usize,
    b: &RecordBatch,
    j: usize,
    columns: &SortColumns,
) -> Ordering {
    for &c in &columns.0 {
        let (Some(x), Some(y)) = (a.columns().get(c), b.columns().get(c)) else {
            return Ordering::Equal;
        };
        let (Ok(x), Ok(y)) = (KeyColumn::of(x), KeyColumn::of(y)) else {
            return Ordering::Equal;
        };
        match x.cmp(i, &y, j) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

/// Whether input `a`'s current row comes before input `b`'s.
fn before(a: usize, b: usize, cursors: &[Cursor], columns: &SortColumns) -> bool {
    let (ca, cb) = (&cursors[a], &cursors[b]);
    let (Some(sa), Some(sb)) = (&ca.current, &cb.current) else {
        return ca.current.is_some();
    };
    let none = Prefix { bytes: 0, len: 0 };
    let pa = ca.prefixes.get(ca.row).copied().unwrap_or(none);
    let pb = cb.prefixes.get(cb.row).copied().unwrap_or(none);
    let by_prefix = pa.bytes.cmp(&pb.bytes).then_with(|| {
        if pa.exact() && pb.exact() {
            pa.len.cmp(&pb.len)
        } else {
            Ordering::Equal
        }
    });
    let decided =
        by_prefix != Ordering::Equal || (pa.exact() && pb.exact() && columns.0.len() == 1);
    let order = if decided {
        by_prefix
    } else {
        compare_rows(&sa.batch, ca.row, &sb.batch, cb.row, columns)
    };
    order.then(a.cmp(&b)) == Ordering::Less
}

fn sift_up(heap: &mut [usize], cursors: &[Cursor], columns: &SortColumns) {
    let mut i = heap.len().saturating_sub(1);
    while i > 0 {
        let parent = (i - 1) / 2;
        if !before(heap[i], heap[parent], cursors, columns) {
            break;
        }
        heap.swap(i, parent);
        i = parent;
    }
}

fn sift_down(heap: &mut [usize], cursors: &[Cursor], columns: &SortColumns) {
    let mut i = 0;
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut least = i;
        if l < heap.len() && before(heap[l], heap[least], cursors, columns) {
            least = l;
        }
        if r < heap.len() && before(heap[r], heap[least], cursors, columns) {
            least = r;
        }
        if least == i {
            return;
        }
        heap.swap(i, least);
        i = least;
    }
}

impl Iterator for Merge {
    type Item = Result<(RecordBatch, UInt32Array)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Some(s)) => Some(Ok((s.batch, s.sources))),
            Ok(None) => {
                for path in self.spilled.drain(..) {
                    let _ = std::fs::remove_file(path);
                }
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::schema::lake_schema;
    use crate::storage::{policy::LockScope, LocalStore};
    use arrow::array::{Int64Array, StringArray};
    use proptest::prelude::*;

    /// A lake batch whose `srcaddr` (3) and `start` (10) are given, every other column NULL.
    fn batch(addrs: &[Option<String>], starts: &[Option<i64>]) -> RecordBatch {
        let schema = lake_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match i {
                3 => Arc::new(StringArray::from(addrs.to_vec())) as ArrayRef,
                10 => Arc::new(Int64Array::from(starts.to_vec())) as ArrayRef,
                _ => new_null_array(f.data_type(), addrs.len()),
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        // Short values (decided by their prefix), long ones sharing 16-byte prefixes, empty, NULL.
        prop_oneof![
            4 => (0u8..4, 0u8..4).prop_map(|(a, b)| Some(format!("10.0.{a}.{b}"))),
            2 => (0u8..3).prop_map(|a| Some(format!("2001:db8:0:0:0:0:0:{a}"))),
            1 => Just(Some(String::new())),
            1 => Just(None),
        ]
    }

    /// A lake in `dir/lake` whose staging the sorters spill to (see [`spills`]).
    fn test_lake(dir: &std::path::Path) -> Lake {
        Lake::open(
            Arc::new(LocalStore),
            &dir.join("lake"),
            "sort-test",
            LockScope::Whole,
            "test",
        )
        .unwrap()
    }

    /// Where the sorters of partition `p` of [`test_lake`] spill: the run's staging folder, beside the
    /// lake.
    fn spills(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join(".lake.flowlake-staging/sort-test/p")
    }

    #[test]
    fn spilled_runs_are_merged_level_by_level_and_the_sort_stays_stable() {
        let dir = tempfile::tempdir().unwrap();
        let lake = test_lake(dir.path());
        let columns = SortColumns::parse("srcaddr").unwrap();
        // Memory for nothing: every batch is spilled as a run of its own.
        let mut sorter = Sorter::new(columns, SortMemory::new(1), "p".into(), lake_schema());
        let staging = spills(dir.path());
        // Two levels of merges, and runs of every level left at the end.
        let batches = MERGE_FAN_IN * MERGE_FAN_IN + 3 * MERGE_FAN_IN + 5;
        let mut expected = Vec::new();
        let mut most_files = 0;
        for source in 0..batches {
            let addrs: Vec<Option<String>> = (0..7)
                .map(|i| (i != 3).then(|| format!("10.0.{}.{}", (source * 7 + i) % 5, i % 2)))
                .collect();
            let starts = vec![Some(source as i64); addrs.len()];
            sorter
                .push(&lake, &[batch(&addrs, &starts)], source as u32)
                .unwrap();
            for a in addrs {
                expected.push((a, source as u32));
            }
            let files = std::fs::read_dir(&staging).map_or(0, |d| d.count());
            most_files = most_files.max(files);
        }
        assert!(
            most_files <= 3 * MERGE_FAN_IN,
            "{most_files} run files at once"
        );
        expected.sort_by(|x, y| x.0.cmp(&y.0));
        let mut got = Vec::new();
        for sorted in sorter.finish().unwrap() {
            let (batch, sources) = sorted.unwrap();
            let addrs = batch.column(3).as_string::<i32>();
            for r in 0..batch.num_rows() {
                let a = addrs.is_valid(r).then(|| addrs.value(r).to_string());
                got.push((a, sources.value(r)));
            }
        }
        assert_eq!(got, expected);
        let left = std::fs::read_dir(&staging).map_or(0, |d| d.count());
        assert_eq!(left, 0, "spilled runs left");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever the batches, keys, run sizes and memory bound (spilling or not), the rows come
        /// out as a stable sort of the input would give them, each with its source.
        #[test]
        fn the_external_sort_is_a_stable_sort(
            batches in proptest::collection::vec(
                proptest::collection::vec((value(), proptest::option::of(0i64..5)), 0..300),
                1..12,
            ),
            two_columns in any::<bool>(),
            memory in prop_oneof![Just(1usize), Just(40_000), Just(usize::MAX)],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let lake = test_lake(dir.path());
            let columns = SortColumns::parse(if two_columns { "srcaddr,start" } else { "srcaddr" })
                .unwrap();
            let mut sorter = Sorter::new(columns, SortMemory::new(memory), "p".into(), lake_schema());
            let mut expected = Vec::new();
            for (source, rows) in batches.iter().enumerate() {
                let addrs: Vec<Option<String>> = rows.iter().map(|r| r.0.clone()).collect();
                let starts: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
                sorter.push(&lake, &[batch(&addrs, &starts)], source as u32).unwrap();
                for (a, s) in addrs.into_iter().zip(starts) {
                    expected.push((a, if two_columns { s } else { None }, s, source as u32));
                }
            }
            // Stable: sort_by keeps equal keys in the order they were pushed. NULL first.
            expected.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
            let mut got = Vec::new();
            for sorted in sorter.finish().unwrap() {
                let (batch, sources) = sorted.unwrap();
                let addrs = batch.column(3).as_string::<i32>();
                let starts = batch.column(10).as_primitive::<Int64Type>();
                for r in 0..batch.num_rows() {
                    let a = addrs.is_valid(r).then(|| addrs.value(r).to_string());
                    let s = starts.is_valid(r).then(|| starts.value(r));
                    got.push((a, if two_columns { s } else { None }, s, sources.value(r)));
                }
            }
            prop_assert_eq!(got, expected);
            let left: Vec<_> = std::fs::read_dir(spills(dir.path()))
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            prop_assert!(left.is_empty(), "spilled runs left: {:?}", left);
        }
    }
}
