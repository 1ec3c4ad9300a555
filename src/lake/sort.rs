//! Row order of the lake's files (`--sort-by`): which columns, and the external sort that puts all
//! the rows of a partition in that order within a memory bound.
//!
//! Rows are buffered as they come; when the buffer passes its memory bound it is sorted and spilled
//! to the run's staging folder as an Arrow IPC stream (a sorted *run*); at the end the runs and the
//! last buffer are merged. A partition that fits in memory is never spilled. The order is stable:
//! rows with equal keys keep the order they were given in. Each row keeps the *source* (an input's
//! number) it was given with, so the caller can record which input's rows ended up where.

use std::cmp::Ordering;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
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
use crate::lake::commit::Lake;
use crate::lake::schema::CATALOGUE;

/// Rows per sorted batch handed on (to the encoder, or to a spill file).
pub const SORTED_BATCH_ROWS: usize = 16 * 1024;

/// Memory a partition's unsorted rows may take before they are sorted and spilled (Arrow bytes).
pub const DEFAULT_SORT_MEMORY: usize = 128 * 1024 * 1024;

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
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if text.trim() == "none" {
            return Ok(Self::none());
        }
        let mut columns = Vec::new();
        for name in text.split(',').map(str::trim) {
            let index = CATALOGUE
                .iter()
                .position(|f| f.column == name || f.header == name)
                .ok_or_else(|| format!("--sort-by: no column named {name:?}"))?;
            if columns.contains(&index) {
                return Err(format!("--sort-by: {name} is named twice"));
            }
            columns.push(index);
        }
        Ok(SortColumns(columns))
    }

    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// The columns' names, comma-separated (`none` for arrival order), as `--sort-by` takes them.
    pub fn names(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.0.iter().map(|&i| CATALOGUE[i].column).collect();
        names.join(",")
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

/// Batches with one source number per row.
struct Sourced {
    batch: RecordBatch,
    sources: UInt32Array,
}

/// Sorted rows in batches, each row with its source.
pub type SortedRows = Box<dyn Iterator<Item = Result<(RecordBatch, UInt32Array)>> + Send>;

/// Sorts a partition's rows (see the module doc).
pub struct Sorter {
    columns: SortColumns,
    memory: usize,
    buffered: Vec<Sourced>,
    buffered_bytes: usize,
    /// Spilled sorted runs, in the order they were written.
    runs: Vec<PathBuf>,
    /// Where runs are spilled: the partition's staging folder.
    partition: String,
    schema: SchemaRef,
}

impl Sorter {
    pub fn new(columns: SortColumns, memory: usize, partition: String, schema: SchemaRef) -> Self {
        Sorter {
            columns,
            memory: memory.max(1),
            buffered: Vec::new(),
            buffered_bytes: 0,
            runs: Vec::new(),
            partition,
            schema,
        }
    }

    /// Adds rows, all of `source`; spills a sorted run when the buffer passes the memory bound.
    pub fn push(&mut self, lake: &Lake, batches: &[RecordBatch], source: u32) -> Result<()> {
        for batch in batches {
            self.push_sourced(
                lake,
                batch.clone(),
                UInt32Array::from(vec![source; batch.num_rows()]),
            )?;
        }
        Ok(())
    }

    /// Adds rows with a source per row.
    pub fn push_sourced(
        &mut self,
        lake: &Lake,
        batch: RecordBatch,
        sources: UInt32Array,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.buffered_bytes += batch.get_array_memory_size() + sources.get_array_memory_size();
        self.buffered.push(Sourced { batch, sources });
        if self.buffered_bytes >= self.memory {
            self.spill(lake)?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it to a new run file.
    fn spill(&mut self, lake: &Lake) -> Result<()> {
        let buffered = std::mem::take(&mut self.buffered);
        self.buffered_bytes = 0;
        let name = format!("sort-run-{:05}.arrow", self.runs.len());
        let path = lake.staged_file(&self.partition, &name);
        let staged = lake.create_staged(&self.partition, &name)?;
        let spill_schema = spill_schema(&self.schema);
        let ipc = |e: arrow::error::ArrowError| Error::output(&path, std::io::Error::other(e));
        let mut writer =
            StreamWriter::try_new(std::io::BufWriter::new(staged), &spill_schema).map_err(ipc)?;
        for sorted in SortedBuffer::new(buffered, &self.columns)? {
            let sorted = sorted?;
            writer
                .write(&with_sources(&spill_schema, &sorted)?)
                .map_err(ipc)?;
        }
        writer.finish().map_err(ipc)?;
        self.runs.push(path);
        Ok(())
    }

    /// All the rows, sorted, in batches of up to [`SORTED_BATCH_ROWS`], each row with its source.
    pub fn finish(self) -> Result<SortedRows> {
        let last = SortedBuffer::new(self.buffered, &self.columns)?
            .map(|r| r.map(|s| (s.batch, s.sources)));
        if self.runs.is_empty() {
            return Ok(Box::new(last));
        }
        let mut inputs: Vec<SortedRows> = Vec::new();
        for path in &self.runs {
            inputs.push(Box::new(RunReader::open(path, self.schema.clone())?));
        }
        inputs.push(Box::new(last));
        Ok(Box::new(Merge::new(inputs, self.columns, self.runs)?))
    }
}

fn spill_schema(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        "__flowlake_source",
        DataType::UInt32,
        false,
    )));
    Arc::new(Schema::new(fields))
}

fn with_sources(spill_schema: &SchemaRef, sorted: &Sourced) -> Result<RecordBatch> {
    let mut columns = sorted.batch.columns().to_vec();
    columns.push(Arc::new(sorted.sources.clone()));
    Ok(RecordBatch::try_new(spill_schema.clone(), columns)?)
}

/// The buffered rows in key order, handed out in batches.
struct SortedBuffer {
    buffered: Vec<Sourced>,
    /// (batch, row) in key order.
    order: Vec<(u32, u32)>,
    at: usize,
}

impl SortedBuffer {
    fn new(buffered: Vec<Sourced>, columns: &SortColumns) -> Result<SortedBuffer> {
        let keys: Vec<Keys<'_>> = buffered
            .iter()
            .map(|s| Keys::of(&s.batch, columns))
            .collect::<Result<_>>()?;
        // The first key's prefix decides most comparisons without touching the arrays; with one
        // key column of short values it decides all of them, and the sort is one of integers.
        let mut order: Vec<(Prefix, u32, u32)> =
            Vec::with_capacity(buffered.iter().map(|s| s.batch.num_rows()).sum::<usize>());
        let mut exact = true;
        for (b, k) in keys.iter().enumerate() {
            let Some(first) = k.0.first() else { continue };
            for r in 0..buffered[b].batch.num_rows() {
                let p = first.prefix(r);
                exact &= p.exact();
                order.push((p, b as u32, r as u32));
            }
        }
        let more_columns = columns.0.len() > 1;
        if exact && !more_columns {
            // Stable: equal keys keep the order the rows came in (batch, then row).
            order.par_sort_unstable();
        } else {
            order.par_sort_unstable_by(|x, y| {
                let (kx, ky) = (&keys[x.1 as usize], &keys[y.1 as usize]);
                let (rx, ry) = (x.2 as usize, y.2 as usize);
                x.0.bytes
                    .cmp(&y.0.bytes)
                    .then_with(|| {
                        if x.0.exact() && y.0.exact() {
                            x.0.len
                                .cmp(&y.0.len)
                                .then_with(|| kx.cmp_from(1, rx, ky, ry))
                        } else {
                            kx.cmp(rx, ky, ry)
                        }
                    })
                    .then_with(|| (x.1, x.2).cmp(&(y.1, y.2)))
            });
        }
        drop(keys);
        Ok(SortedBuffer {
            order: order.into_iter().map(|(_, b, r)| (b, r)).collect(),
            buffered,
            at: 0,
        })
    }
}

impl Iterator for SortedBuffer {
    type Item = Result<Sourced>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.order.len() {
            return None;
        }
        let end = (self.at + SORTED_BATCH_ROWS).min(self.order.len());
        let indices: Vec<(usize, usize)> = self.order[self.at..end]
            .iter()
            .map(|&(b, r)| (b as usize, r as usize))
            .collect();
        self.at = end;
        let from: Vec<&Sourced> = self.buffered.iter().collect();
        Some(take_rows(&from, &indices))
    }
}

/// The rows at `indices` ((batch, row) pairs) of `from`, with their sources.
fn take_rows(from: &[&Sourced], indices: &[(usize, usize)]) -> Result<Sourced> {
    let Some(first) = from.first() else {
        return Err(Error::Config("sort: rows taken from no batch".into()));
    };
    let schema = first.batch.schema();
    // Columns in parallel (the encoder that takes the rows is parallel by column too).
    let columns = schema
        .fields()
        .par_iter()
        .enumerate()
        .map(|(c, field)| {
            let arrays: Vec<&dyn Array> = from.iter().map(|s| s.batch.column(c).as_ref()).collect();
            // Most columns of a lake are the fields a format lacks: NULL in every row.
            if arrays.iter().all(|a| a.null_count() == a.len()) {
                Ok(new_null_array(field.data_type(), indices.len()))
            } else {
                interleave(&arrays, indices)
            }
        })
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    let batch = RecordBatch::try_new(schema, columns)?;
    let sources: Vec<&dyn Array> = from.iter().map(|s| &s.sources as &dyn Array).collect();
    let sources = interleave(&sources, indices)?;
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
        let rows = RecordBatch::try_new(self.schema.clone(), batch.columns()[..n - 1].to_vec());
        Some(match (rows, sources) {
            (Ok(rows), Some(sources)) => Ok((rows, sources)),
            _ => Err(Error::output(
                &self.path,
                std::io::Error::other("a spilled run does not have the lake's columns"),
            )),
        })
    }
}

/// One sorted input of a merge and its current batch.
struct Cursor {
    input: SortedRows,
    current: Option<Sourced>,
    row: usize,
}

/// A k-way merge of sorted inputs (earlier inputs first among equal keys: stable).
struct Merge {
    cursors: Vec<Cursor>,
    columns: SortColumns,
    /// The spilled runs, removed once the merge is done.
    spilled: Vec<PathBuf>,
}

impl Merge {
    fn new(inputs: Vec<SortedRows>, columns: SortColumns, spilled: Vec<PathBuf>) -> Result<Merge> {
        let mut cursors = Vec::with_capacity(inputs.len());
        for mut input in inputs {
            let current = input
                .next()
                .transpose()?
                .map(|(batch, sources)| Sourced { batch, sources });
            cursors.push(Cursor {
                input,
                current,
                row: 0,
            });
        }
        Ok(Merge {
            cursors,
            columns,
            spilled,
        })
    }

    /// The next batch of merged rows: up to [`SORTED_BATCH_ROWS`], or fewer when an input's batch
    /// ends (its next batch replaces it, and the rows taken so far refer to the old one).
    fn next_batch(&mut self) -> Result<Option<Sourced>> {
        let keys: Vec<Option<Keys<'_>>> = self
            .cursors
            .iter()
            .map(|c| {
                c.current
                    .as_ref()
                    .map(|s| Keys::of(&s.batch, &self.columns))
                    .transpose()
            })
            .collect::<Result<_>>()?;
        let mut rows: Vec<usize> = self.cursors.iter().map(|c| c.row).collect();
        let mut indices: Vec<(usize, usize)> = Vec::new();
        let mut ended = None;
        while indices.len() < SORTED_BATCH_ROWS {
            let mut best: Option<(usize, &Keys<'_>)> = None;
            for (i, k) in keys.iter().enumerate() {
                let Some(k) = k else { continue };
                // Strictly less: among equal keys the earlier input wins.
                if best.is_none_or(|(b, bk)| k.cmp(rows[i], bk, rows[b]) == Ordering::Less) {
                    best = Some((i, k));
                }
            }
            let Some((b, _)) = best else { break };
            indices.push((b, rows[b]));
            rows[b] += 1;
            let len = self.cursors[b]
                .current
                .as_ref()
                .map_or(0, |s| s.batch.num_rows());
            if rows[b] == len {
                ended = Some(b);
                break;
            }
        }
        drop(keys);
        if indices.is_empty() {
            return Ok(None);
        }
        let current: Vec<&Sourced> = self
            .cursors
            .iter()
            .filter_map(|c| c.current.as_ref())
            .collect();
        // Cursors without a batch are left out: renumber the indices.
        let mut slot = vec![usize::MAX; self.cursors.len()];
        let mut n = 0;
        for (i, c) in self.cursors.iter().enumerate() {
            if c.current.is_some() {
                slot[i] = n;
                n += 1;
            }
        }
        let remapped: Vec<(usize, usize)> = indices.iter().map(|&(c, r)| (slot[c], r)).collect();
        let merged = take_rows(&current, &remapped)?;
        for (c, r) in self.cursors.iter_mut().zip(rows) {
            c.row = r;
        }
        if let Some(b) = ended {
            let cursor = &mut self.cursors[b];
            cursor.current = cursor
                .input
                .next()
                .transpose()?
                .map(|(batch, sources)| Sourced { batch, sources });
            cursor.row = 0;
        }
        Ok(Some(merged))
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
