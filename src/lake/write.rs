//! One partition's batches → a few large Parquet files, encoded with all cores.
//!
//! [`PartitionWriter`] streams batches into the open row group's column writers (arrow-rs's
//! `ArrowColumnWriter`, and the lake's own `StringColumn` for the dictionary string columns),
//! encoding the columns of each chunk of rows in parallel, so even a single
//! partition (the nightly case) keeps every core busy, and memory holds encoded pages rather than a
//! whole row group of Arrow data. A row group closes at `row_group_rows` rows, or earlier when the file
//! is near its target size (the rows/bytes ratio of earlier row groups predicts where); a file closes
//! once it reaches the target, and the next one starts. Files are written to the lake's staging area
//! and named `part-00000.parquet`, `part-00001.parquet`, ... in order, so a rebuild of the same input
//! gives the same names and replaces rather than adds. The caller publishes them. With a sort order
//! (`--sort-by`), rows go to `sort.rs` first and are encoded once every row is in. Every row keeps
//! the caller's number for its input, so the caller can record which input's rows went where.
//!
//! rayon parallelises the engines across files (`convert/mod.rs`, the generator) and this module across
//! the columns of one row group; `threads.rs` builds the pool.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory, ArrowWriterOptions,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, SchemaDescriptor};
use rayon::prelude::*;

use crate::enrich::is_enrichment_column;
use crate::error::{Error, Result};
use crate::lake::ledger::commit::{Lake, StagedFile};
use crate::lake::ocsf::{self, mapping::Mapping};
use crate::lake::part_file_name;
use crate::lake::schema::{
    column_list, ColumnCompression, ColumnEncoding, Kind, RecordKind, UnknownColumn, CATALOGUE,
    TGW_CATALOGUE,
};
use crate::lake::sort::{SortColumns, SortMemory, SortedRows, Sorter, DEFAULT_SORT_MEMORY};
use crate::lake::strings::StringColumn;

/// Target size of one output Parquet file (about 256 MiB): large enough for scan engines, small
/// enough to split work across them.
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Upper bound on rows per Parquet row group (scan engines parallelise by row group). Measured on 25.9 M
/// generated rows: 256 Ki rows gives the smallest files (572 MB; 1 Mi rows: 636 MB, because larger
/// row groups overflow the dictionary pages of the address columns and fall back to plain encoding;
/// 128 Ki: 596 MB) at the same speed and memory. See `benches/README.md`.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 256 * 1024;
/// ZSTD level of the pages of the columns that it makes smaller ([`ColumnCompression::Thorough`]).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// ZSTD level of the other columns' pages ([`ColumnCompression::Fast`]).
pub const FAST_ZSTD_LEVEL: i32 = 1;
/// Smallest `target_file_bytes` accepted.
pub const MIN_TARGET_FILE_BYTES: u64 = 1024;
/// Smallest row group the size-targeting will cut (tiny row groups cost more than a slightly large file).
pub const MIN_ROW_GROUP_ROWS: usize = 8 * 1024;
/// Compressed bytes per row assumed before the first row group of a partition tells the real figure.
pub const DEFAULT_ESTIMATED_BYTES_PER_ROW: f64 = 24.0;
/// Rows a partition's writer lets wait before encoding them (unless a row group fills first).
const ENCODE_ROWS: usize = 8 * 1024;
/// Memory the batches behind the waiting rows may hold (a slice keeps its whole batch alive: rows
/// carried over from a partition's earlier files come as slices of large batches).
const ENCODE_BYTES: usize = 16 * 1024 * 1024;
/// Pending batches smaller than this on average are concatenated before encoding.
const SMALL_BATCH_ROWS: usize = 1024;

/// Target false positive rate of the Bloom filters (parquet-rs's default; a filter is sized for its
/// row group's distinct values, so a lower rate costs bytes in every row group).
pub const BLOOM_FILTER_FPP: f64 = 0.05;

/// The columns that get a Bloom filter unless told otherwise: the addresses people look up one at a
/// time. Measured with `scripts/bench-query` (benches/README.md): one address over a month reads a
/// tenth of the row groups, for about 1% more bytes and 1-7% more conversion time.
pub const DEFAULT_BLOOM_FILTER: &str = "srcaddr,dstaddr";

/// The columns that get a Parquet Bloom filter in every row group (`--bloom-filter`): catalogue
/// indices, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BloomColumns(Vec<usize>);

impl Default for BloomColumns {
    /// [`DEFAULT_BLOOM_FILTER`].
    fn default() -> Self {
        BloomColumns(column_list("--bloom-filter", DEFAULT_BLOOM_FILTER).unwrap_or_default())
    }
}

impl BloomColumns {
    /// No Bloom filters.
    pub fn none() -> Self {
        BloomColumns(Vec::new())
    }

    /// `none`, or column names separated by commas (the lake's `srcaddr`, `interface_id`, or the
    /// flow log's `interface-id`); only string columns, whose values people look up one by one.
    pub fn parse(text: &str) -> std::result::Result<Self, BloomColumnsError> {
        let mut columns = column_list("--bloom-filter", text)?;
        if let Some(&c) = columns.iter().find(|&&c| CATALOGUE[c].kind != Kind::Utf8) {
            return Err(BloomColumnsError::NotString(CATALOGUE[c].column));
        }
        columns.sort_unstable();
        columns.dedup();
        Ok(BloomColumns(columns))
    }

    /// The lake's names of the columns, in catalogue order.
    pub fn columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|&c| CATALOGUE[c].column)
    }

    /// The lake's names of the columns, in catalogue order (`none` when there are none), as
    /// [`BloomColumns::parse`] reads them.
    pub fn names(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.0.iter().map(|&c| CATALOGUE[c].column).collect();
        names.join(",")
    }
}

/// Stored as the names `--bloom-filter` takes (a plan's settings).
impl serde::Serialize for BloomColumns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.names())
    }
}

impl<'de> serde::Deserialize<'de> for BloomColumns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        BloomColumns::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a `--bloom-filter` list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BloomColumnsError {
    /// A name that is not a lake column.
    #[error(transparent)]
    Unknown(#[from] UnknownColumn),
    /// A column that is not a string column.
    #[error(
        "--bloom-filter: {0} is not a string column (Bloom filters are written for string columns)"
    )]
    NotString(&'static str),
}

/// Encoding settings shared by every file of a run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WriteSettings {
    pub target_file_bytes: u64,
    pub row_group_rows: usize,
    /// ZSTD level of every column (`--zstd-level`); `None`: each column's level from the catalogue.
    pub zstd_level: Option<i32>,
    /// Columns with a Bloom filter in every row group.
    pub bloom_filter: BloomColumns,
    /// The order of the rows across each partition (and so each file); none: arrival order.
    pub sort_by: SortColumns,
    /// Memory the rows being sorted may take (all partitions of the run together) before the sort
    /// spills them to staging.
    pub sort_memory: SortMemory,
}

impl Default for WriteSettings {
    /// The defaults of `--target-file-size`, `--row-group-rows`, `--zstd-level`, `--bloom-filter`,
    /// `--sort-by` and `--sort-memory`.
    fn default() -> Self {
        WriteSettings {
            target_file_bytes: DEFAULT_TARGET_FILE_BYTES,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            zstd_level: None,
            bloom_filter: BloomColumns::default(),
            sort_by: SortColumns::none(),
            sort_memory: SortMemory::new(DEFAULT_SORT_MEMORY),
        }
    }
}

impl WriteSettings {
    /// The same settings with a sort memory budget of their own (nothing used yet): one run's.
    pub fn for_run(&self) -> Self {
        WriteSettings {
            sort_memory: self.sort_memory.fresh(),
            ..self.clone()
        }
    }

    /// Checks the output file settings `convert` and `compact` share (`--target-file-size`,
    /// `--row-group-rows`, `--zstd-level`); the error names the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.target_file_bytes < MIN_TARGET_FILE_BYTES {
            return bad("--target-file-size must be at least 1KiB".into());
        }
        if self.row_group_rows == 0 {
            return bad("--row-group-rows must be positive".into());
        }
        if let Some(level) = self.zstd_level.filter(|l| !(1..=22).contains(l)) {
            return bad(format!("--zstd-level {level} is outside 1..=22"));
        }
        Ok(())
    }
}

/// Parquet writer properties for the lake: ZSTD, dictionaries, page-level statistics and the page
/// index, Parquet format 1.0 data pages (readable by every engine, Hive's included).
pub fn writer_properties(settings: &WriteSettings) -> Result<WriterProperties> {
    let zstd = |level: i32| {
        ZstdLevel::try_new(level)
            .map(Compression::ZSTD)
            .map_err(|e| Error::Config(format!("--zstd-level {level}: {e}")))
    };
    let level = settings.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL);
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd(level)?)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(settings.row_group_rows))
        .set_sorting_columns(
            (!settings.sort_by.is_none()).then(|| settings.sort_by.sorting_columns()),
        )
        .set_created_by(concat!("flowlake version ", env!("CARGO_PKG_VERSION")).to_string());
    // Per column, as the catalogues say (measured: benches/README.md); a column both kinds of lake
    // have is written the same way in both.
    for field in CATALOGUE.iter().chain(TGW_CATALOGUE) {
        let path = ColumnPath::from(field.column);
        if settings.zstd_level.is_none() && field.compression == ColumnCompression::Fast {
            builder = builder.set_column_compression(path.clone(), zstd(FAST_ZSTD_LEVEL)?);
        }
        if settings
            .bloom_filter
            .0
            .iter()
            .any(|&i| CATALOGUE[i].column == field.column)
        {
            // Sized for a whole row group of distinct values, then folded to the chunk's own.
            builder = builder
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
                .set_column_bloom_filter_max_ndv(path.clone(), settings.row_group_rows as u64);
        }
        builder = match field.encoding {
            ColumnEncoding::Dictionary => builder,
            ColumnEncoding::Plain => builder.set_column_dictionary_enabled(path, false),
            ColumnEncoding::Delta => builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
        };
    }
    Ok(builder.build())
}

/// A file written to staging, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFile {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub row_groups: usize,
}

struct OpenRowGroup {
    /// One per leaf column of the schema, in order.
    writers: Vec<ColumnWriter>,
    rows: usize,
    target_rows: usize,
}

/// The writer of one leaf column of a row group: the lake's own for the catalogue's dictionary
/// string columns, arrow-rs's for the others.
enum ColumnWriter {
    Arrow(Box<ArrowColumnWriter>),
    Strings(Box<StringColumn>),
}

/// The rows a column writer is given: arrays for a [`StringColumn`], levels and values for arrow-rs.
enum ColumnInput {
    Arrays(Vec<ArrayRef>),
    Leaves(Vec<ArrowLeafColumn>),
}

/// A column chunk ready to append to the row group.
enum ClosedColumn {
    Arrow(ArrowColumnChunk),
    Strings(bytes::Bytes, ColumnCloseResult),
}

impl ColumnWriter {
    fn write(&mut self, input: ColumnInput) -> std::result::Result<(), ParquetError> {
        match (self, input) {
            (ColumnWriter::Arrow(w), ColumnInput::Leaves(leaves)) => {
                leaves.iter().try_for_each(|leaf| w.write(leaf))
            }
            (ColumnWriter::Strings(w), ColumnInput::Arrays(arrays)) => {
                arrays.iter().try_for_each(|a| {
                    if let Some(values) = a.as_string_opt::<i32>() {
                        w.write(values)
                    } else if let Some(keyed) = a.as_dictionary_opt::<UInt32Type>() {
                        w.write_keyed(keyed)
                    } else {
                        Err(ParquetError::General(format!(
                            "a string column of type {}",
                            a.data_type()
                        )))
                    }
                })
            }
            _ => Err(ParquetError::General(
                "a column given the wrong input".into(),
            )),
        }
    }

    fn close(self) -> std::result::Result<ClosedColumn, ParquetError> {
        match self {
            ColumnWriter::Arrow(w) => Ok(ClosedColumn::Arrow(w.close()?)),
            ColumnWriter::Strings(w) => {
                let (bytes, close) = w.close()?;
                Ok(ClosedColumn::Strings(bytes, close))
            }
        }
    }
}

struct OpenFile {
    name: String,
    writer: SerializedFileWriter<StagedFile>,
    factory: ArrowRowGroupWriterFactory,
    row_group: Option<OpenRowGroup>,
    row_groups: usize,
    rows: u64,
}

/// Writes one partition's rows into size-targeted Parquet files in the staging area.
pub struct PartitionWriter<'a> {
    lake: &'a Lake,
    partition: String,
    schema: SchemaRef,
    props: Arc<WriterProperties>,
    settings: WriteSettings,
    file: Option<OpenFile>,
    files: Vec<WrittenFile>,
    /// The index of the first file's name (`part-NNNNN.parquet`).
    first_file: usize,
    bytes_per_row: f64,
    pending: Vec<RecordBatch>,
    /// The rows waiting to be sorted (with `--sort-by`).
    sorter: Option<Sorter>,
    /// Which source (the caller's number for an input) each row came from: runs of (source, rows)
    /// in the order the rows are written.
    sources: Vec<(u32, u64)>,
    /// An OCSF writer's mapping of the rows [`write`](Self::write) is given (see
    /// [`PartitionWriter::ocsf`]).
    ocsf: Option<OcsfRows>,
    /// Largest estimated uncompressed size of a row group ([`ocsf::row_sizes`]); no bound but the
    /// settings' rows when `None`.
    max_row_group_bytes: Option<u64>,
    /// The estimated size of the open row group's rows.
    row_group_bytes: u64,
    encode_seconds: f64,
    write_seconds: f64,
    sort_seconds: f64,
    /// All-NULL columns shared by the batches cast to the file's types (see [`NullColumns`]).
    nulls: NullColumns,
}

/// What a [`PartitionWriter`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The files, in the order written (their part numbers ascending).
    pub files: Vec<WrittenFile>,
    /// Seconds spent encoding columns (summed over the columns encoded in parallel: CPU time).
    pub encode_seconds: f64,
    /// Seconds spent assembling row groups and finishing files.
    pub write_seconds: f64,
    /// Seconds spent sorting the rows (spilling and merging included).
    pub sort_seconds: f64,
    /// The source of every row, in the files' row order (files in the order written): runs of (source,
    /// rows), as the sources were given to [`PartitionWriter::write`].
    pub sources: Vec<(u32, u64)>,
}

impl<'a> PartitionWriter<'a> {
    pub fn new(
        lake: &'a Lake,
        partition: String,
        schema: SchemaRef,
        props: Arc<WriterProperties>,
        settings: WriteSettings,
    ) -> Self {
        let sorter = (!settings.sort_by.is_none()).then(|| {
            Sorter::new(
                settings.sort_by.clone(),
                settings.sort_memory.clone(),
                partition.clone(),
                schema.clone(),
            )
        });
        PartitionWriter {
            lake,
            partition,
            schema,
            props,
            settings,
            file: None,
            files: Vec::new(),
            first_file: 0,
            bytes_per_row: DEFAULT_ESTIMATED_BYTES_PER_ROW,
            pending: Vec::new(),
            sorter,
            sources: Vec::new(),
            ocsf: None,
            max_row_group_bytes: None,
            row_group_bytes: 0,
            encode_seconds: 0.0,
            write_seconds: 0.0,
            sort_seconds: 0.0,
            nulls: NullColumns::default(),
        }
    }

    /// A writer of an OCSF lake's partition ([`ocsf::schema`]): every file's rows sorted by `time`,
    /// row groups under Security Lake's size limit; `props` are [`ocsf::writer_properties`].
    ///
    /// With a `mapping` (a conversion), [`write`](Self::write) takes rows of AWS's VPC flow log
    /// schema: they are sorted by the time they will have (a narrow key on rows still narrow) and
    /// mapped once sorted; rows given to [`write_sourced`](Self::write_sourced) (carried over from
    /// the lake's files) are OCSF rows, sorted apart and merged with the others at the end. Without
    /// (a compaction), both take OCSF rows.
    pub fn ocsf(
        lake: &'a Lake,
        partition: String,
        props: Arc<WriterProperties>,
        settings: WriteSettings,
        mapping: Option<Mapping>,
    ) -> Self {
        let schema = ocsf::schema();
        let mut writer = PartitionWriter::new(
            lake,
            partition.clone(),
            schema.clone(),
            props,
            WriteSettings {
                sort_by: SortColumns::none(),
                ..settings.clone()
            },
        );
        writer.sorter = Some(match &mapping {
            Some(_) => Sorter::new(
                SortColumns::at(vec![ocsf::keyed_time_index()]),
                settings.sort_memory.clone(),
                partition,
                ocsf::keyed_input_schema(),
            ),
            None => Sorter::new(
                SortColumns::at(vec![ocsf::time_index()]),
                settings.sort_memory.clone(),
                partition,
                schema,
            ),
        });
        writer.ocsf = mapping.map(|mapping| OcsfRows {
            mapping,
            carried: None,
        });
        writer.max_row_group_bytes = Some(ocsf::MAX_ROW_GROUP_BYTES);
        writer
    }

    /// Names the files from `part-<first>.parquet` on instead of `part-00000.parquet` (a compaction
    /// never gives a new file the name of one it replaces).
    pub fn numbered_from(mut self, first: usize) -> Self {
        self.first_file = first;
        self
    }

    /// Adds `batches`, rows of `source` (a number of the caller's, recorded with each row: see
    /// [`Written::sources`]), to the partition: encoded into its files in order, or, with a sort
    /// order, once every row is in ([`finish`](Self::finish)).
    pub fn write(&mut self, batches: &[RecordBatch], source: u32) -> Result<()> {
        if let (Some(ocsf), Some(sorter)) = (&self.ocsf, self.sorter.as_mut()) {
            // Rows of AWS's schema, with the key they are sorted by; mapped once sorted.
            let started = Instant::now();
            let aws = RecordKind::Vpc.schema();
            let keyed = batches
                .iter()
                .map(|b| {
                    ocsf::with_time_key(&with_file_types(b, &aws, &mut self.nulls)?, &ocsf.mapping)
                })
                .collect::<Result<Vec<_>>>()?;
            sorter.push(self.lake, &keyed, source)?;
            self.sort_seconds += started.elapsed().as_secs_f64();
            return Ok(());
        }
        if let Some(sorter) = self.sorter.as_mut() {
            let started = Instant::now();
            let batches = batches
                .iter()
                .map(|b| with_file_types(b, &self.schema, &mut self.nulls))
                .collect::<Result<Vec<_>>>()?;
            sorter.push(self.lake, &batches, source)?;
            self.sort_seconds += started.elapsed().as_secs_f64();
            return Ok(());
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        add_run(&mut self.sources, source, rows as u64);
        self.encode(batches)
    }

    /// Adds the rows of `batch`, each of the source at the same place in `sources`.
    pub fn write_sourced(&mut self, batch: RecordBatch, sources: UInt32Array) -> Result<()> {
        if sources.len() != batch.num_rows() || sources.null_count() > 0 {
            return Err(Error::Accounting {
                what: format!(
                    "partition {} (the sources of a batch's rows)",
                    self.partition
                ),
                lines: batch.num_rows() as u64,
                rows: sources.len() as u64,
                rejected: 0,
            });
        }
        if let Some(ocsf) = self.ocsf.as_mut() {
            // OCSF rows carried over, beside the mapped rows' sorter.
            let started = Instant::now();
            let carried = ocsf.carried.get_or_insert_with(|| {
                Sorter::new(
                    SortColumns::at(vec![ocsf::time_index()]),
                    self.settings.sort_memory.clone(),
                    self.partition.clone(),
                    self.schema.clone(),
                )
                .named("carried-")
            });
            carried.push_sourced(self.lake, batch, sources)?;
            self.sort_seconds += started.elapsed().as_secs_f64();
            return Ok(());
        }
        if let Some(sorter) = self.sorter.as_mut() {
            let started = Instant::now();
            let batch = with_file_types(&batch, &self.schema, &mut self.nulls)?;
            sorter.push_sourced(self.lake, batch, sources)?;
            self.sort_seconds += started.elapsed().as_secs_f64();
            return Ok(());
        }
        add_sources(&mut self.sources, &sources);
        self.encode(std::slice::from_ref(&batch))
    }

    /// Encodes `batches` (in order) into the partition's files. Small batches (rows of small input
    /// files) wait until [`ENCODE_ROWS`] rows (or [`ENCODE_BYTES`] of batches) are pending and are
    /// encoded as one.
    fn encode(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let sizes = self.max_row_group_bytes.map(|_| ocsf::row_sizes(batch));
            let mut offset = 0;
            while offset < batch.num_rows() {
                let (room, filled) = {
                    let rg = self.row_group()?;
                    (rg.target_rows - rg.rows, rg.rows)
                };
                let mut take = room.min(batch.num_rows() - offset);
                let mut full = take == room;
                if let (Some(max), Some(sizes)) = (self.max_row_group_bytes, &sizes) {
                    // The rows that keep the row group under its size (a row larger than that
                    // alone in a row group of its own).
                    let mut fit = 0;
                    while fit < take
                        && (self.row_group_bytes + sizes[offset + fit] <= max
                            || (filled == 0 && fit == 0))
                    {
                        self.row_group_bytes += sizes[offset + fit];
                        fit += 1;
                    }
                    if fit < take {
                        take = fit;
                        full = true;
                    }
                }
                if take > 0 {
                    self.pending.push(batch.slice(offset, take));
                    offset += take;
                    self.row_group()?.rows = filled + take;
                }
                if full {
                    self.encode_pending()?;
                    self.close_row_group()?;
                }
            }
        }
        let rows: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
        if rows >= ENCODE_ROWS
            || self
                .pending
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum::<usize>()
                >= ENCODE_BYTES
        {
            self.encode_pending()?;
        }
        Ok(())
    }

    /// Closes the last row group and file; returns the files written, in name order, and timings.
    pub fn finish(mut self) -> Result<Written> {
        if let Some(ocsf) = self.ocsf.take() {
            if let Some(sorter) = self.sorter.take() {
                self.finish_ocsf(sorter, ocsf)?;
            }
        }
        if let Some(sorter) = self.sorter.take() {
            // The next sorted batch is merged while this one is encoded.
            let timed = |rows: &mut SortedRows| {
                let started = Instant::now();
                (rows.next(), started.elapsed().as_secs_f64())
            };
            let mut rows = sorter.finish()?;
            let (mut next, seconds) = timed(&mut rows);
            self.sort_seconds += seconds;
            while let Some(sorted) = next {
                let (batch, sources) = sorted?;
                add_sources(&mut self.sources, &sources);
                let (encoded, (upcoming, seconds)) = rayon::join(
                    || self.encode(std::slice::from_ref(&batch)),
                    || timed(&mut rows),
                );
                encoded?;
                self.sort_seconds += seconds;
                next = upcoming;
            }
        }
        self.encode_pending()?;
        if self.file.as_ref().is_some_and(|f| f.row_group.is_some()) {
            self.close_row_group()?;
        }
        self.close_file()?;
        Ok(Written {
            files: self.files,
            encode_seconds: self.encode_seconds,
            write_seconds: self.write_seconds,
            sort_seconds: self.sort_seconds,
            sources: self.sources,
        })
    }

    /// Maps the sorted rows of an OCSF conversion and encodes them, merged with the carried-over
    /// rows by time when there are any.
    fn finish_ocsf(&mut self, sorter: Sorter, mut ocsf: OcsfRows) -> Result<()> {
        let started = Instant::now();
        let mut rows = sorter.finish()?;
        self.sort_seconds += started.elapsed().as_secs_f64();
        loop {
            let started = Instant::now();
            let Some(sorted) = rows.next() else { break };
            let (batch, sources) = sorted?;
            self.sort_seconds += started.elapsed().as_secs_f64();
            let started = Instant::now();
            let mapped = ocsf.mapping.map(&batch)?;
            self.encode_seconds += started.elapsed().as_secs_f64();
            match ocsf.carried.as_mut() {
                Some(carried) => {
                    let started = Instant::now();
                    carried.push_sourced(self.lake, mapped, sources)?;
                    self.sort_seconds += started.elapsed().as_secs_f64();
                }
                None => {
                    add_sources(&mut self.sources, &sources);
                    self.encode(std::slice::from_ref(&mapped))?;
                }
            }
        }
        if let Some(carried) = ocsf.carried.take() {
            for sorted in carried.finish()? {
                let (batch, sources) = sorted?;
                add_sources(&mut self.sources, &sources);
                self.encode(std::slice::from_ref(&batch))?;
            }
        }
        Ok(())
    }

    /// The open row group, opening a file and a row group if needed.
    fn row_group(&mut self) -> Result<&mut OpenRowGroup> {
        let file = match self.file.take() {
            Some(file) => file,
            None => self.open_file()?,
        };
        let file = self.file.insert(file);
        let row_group = match file.row_group.take() {
            Some(row_group) => row_group,
            None => {
                let written = file.writer.bytes_written() as u64;
                let arrow = file
                    .factory
                    .create_column_writers(file.row_groups)
                    .map_err(|e| parquet_err(&self.partition, &file.name, e))?;
                let writers =
                    column_writers(arrow, &self.schema, file.writer.schema_descr(), &self.props);
                OpenRowGroup {
                    writers,
                    rows: 0,
                    target_rows: next_row_group_rows(&self.settings, written, self.bytes_per_row),
                }
            }
        };
        Ok(file.row_group.insert(row_group))
    }

    fn open_file(&mut self) -> Result<OpenFile> {
        let name = part_file_name(self.first_file + self.files.len());
        let staged = self.lake.create_staged(&self.partition, &name)?;
        let options = ArrowWriterOptions::new().with_properties((*self.props).clone());
        let (writer, factory) =
            ArrowWriter::try_new_with_options(staged, self.schema.clone(), options)
                .and_then(ArrowWriter::into_serialized_writer)
                .map_err(|e| parquet_err(&self.partition, &name, e))?;
        Ok(OpenFile {
            name,
            writer,
            factory,
            row_group: None,
            row_groups: 0,
            rows: 0,
        })
    }

    /// Feeds the pending slices to the open row group's column writers, columns in parallel.
    fn encode_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        let schema = self.schema.clone();
        let partition = self.partition.clone();
        // Each batch costs the column writers a fixed amount of work: small ones are encoded as one
        // (a copy of a few MiB, far from the 2 GiB a string column's offsets allow, is cheaper
        // than hundreds of tiny writes).
        let rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
        let bytes: usize = pending.iter().map(RecordBatch::get_array_memory_size).sum();
        if pending.len() > 1 && rows / pending.len() < SMALL_BATCH_ROWS && bytes <= 4 * ENCODE_BYTES
        {
            let started = Instant::now();
            let first = pending[0].schema();
            let one = if pending.iter().all(|b| *b.schema_ref() == first) {
                arrow::compute::concat_batches(&first, &pending)?
            } else {
                let pending = pending
                    .iter()
                    .map(|b| with_file_types(b, &schema, &mut self.nulls))
                    .collect::<Result<Vec<_>>>()?;
                arrow::compute::concat_batches(&schema, &pending)?
            };
            pending = vec![one];
            self.encode_seconds += started.elapsed().as_secs_f64();
        }
        let nulls = &mut self.nulls;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let name = file.name.clone();
        let Some(rg) = file.row_group.as_mut() else {
            return Ok(());
        };
        let mut inputs: Vec<ColumnInput> = rg
            .writers
            .iter()
            .map(|w| match w {
                ColumnWriter::Strings(_) => ColumnInput::Arrays(Vec::new()),
                ColumnWriter::Arrow(_) => ColumnInput::Leaves(Vec::new()),
            })
            .collect();
        let misaligned = || {
            let e = ParquetError::General("the batch's columns do not match the writers".into());
            parquet_err(&partition, &name, e)
        };
        for batch in &pending {
            let mut w = 0;
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                if let Some(ColumnInput::Arrays(arrays)) = inputs.get_mut(w) {
                    arrays.push(column.clone());
                    w += 1;
                    continue;
                }
                let column = cast_to(column, field.data_type(), nulls)?;
                for leaf in
                    compute_leaves(field, &column).map_err(|e| parquet_err(&partition, &name, e))?
                {
                    // Only single-leaf string columns are given arrays.
                    match inputs.get_mut(w) {
                        Some(ColumnInput::Leaves(leaves)) => leaves.push(leaf),
                        _ => return Err(misaligned()),
                    }
                    w += 1;
                }
            }
        }
        let seconds: f64 = rg
            .writers
            .par_iter_mut()
            .zip(inputs.into_par_iter())
            .map(|(writer, input)| {
                let started = Instant::now();
                writer.write(input)?;
                Ok(started.elapsed().as_secs_f64())
            })
            .sum::<std::result::Result<f64, ParquetError>>()
            .map_err(|e| parquet_err(&partition, &name, e))?;
        self.encode_seconds += seconds;
        Ok(())
    }

    /// Closes the open row group (columns in parallel), appends it to the file, maybe closes the file.
    fn close_row_group(&mut self) -> Result<()> {
        let partition = self.partition.clone();
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let Some(rg) = file.row_group.take() else {
            return Ok(());
        };
        self.row_group_bytes = 0;
        let err = |e| parquet_err(&partition, &file.name, e);
        let before = file.writer.bytes_written();
        let timed: Vec<(ClosedColumn, f64)> = rg
            .writers
            .into_par_iter()
            .map(|w| {
                let started = Instant::now();
                w.close().map(|c| (c, started.elapsed().as_secs_f64()))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        self.encode_seconds += timed.iter().map(|(_, s)| s).sum::<f64>();
        let started = Instant::now();
        let chunks = timed.into_iter().map(|(c, _)| c);
        let mut row_group = file.writer.next_row_group().map_err(err)?;
        for chunk in chunks {
            match chunk {
                ClosedColumn::Arrow(chunk) => chunk.append_to_row_group(&mut row_group),
                ClosedColumn::Strings(bytes, close) => row_group.append_column(&bytes, close),
            }
            .map_err(err)?;
        }
        row_group.close().map_err(err)?;
        file.row_groups += 1;
        file.rows += rg.rows as u64;
        let bytes = (file.writer.bytes_written() - before) as f64;
        if rg.rows > 0 {
            self.bytes_per_row = bytes / rg.rows as f64;
        }
        self.write_seconds += started.elapsed().as_secs_f64();
        if file.writer.bytes_written() as u64 >= self.settings.target_file_bytes {
            self.close_file()?;
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let err = |e| parquet_err(&self.partition, &file.name, e);
        file.writer.finish().map_err(err)?;
        let bytes = file.writer.bytes_written() as u64;
        file.writer.inner_mut().commit()?;
        self.files.push(WrittenFile {
            name: file.name,
            rows: file.rows,
            bytes,
            row_groups: file.row_groups,
        });
        self.write_seconds += started.elapsed().as_secs_f64();
        Ok(())
    }
}

/// What an OCSF conversion's writer does with its rows ([`PartitionWriter::ocsf`]).
struct OcsfRows {
    mapping: Mapping,
    /// The carried-over rows (OCSF already), sorted apart and merged with the mapped ones at the end.
    carried: Option<Sorter>,
}

/// `batch` with the column types of the file's `schema`. String columns parsed from text and the
/// enricher's come keyed (a dictionary of the batch's distinct values and a key per row), which the
/// lake's string writer takes as they are; the sort, the OCSF mapping and arrow-rs's writers take
/// them as strings.
fn with_file_types(
    batch: &RecordBatch,
    schema: &SchemaRef,
    nulls: &mut NullColumns,
) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast_to(column, field.data_type(), nulls))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `column` as `to` (an all-NULL column, a field the records lack, without reading it).
fn cast_to(
    column: &ArrayRef,
    to: &DataType,
    nulls: &mut NullColumns,
) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    if column.data_type() == to {
        Ok(column.clone())
    } else if column.null_count() == column.len() {
        Ok(nulls.get(to, column.len()))
    } else {
        arrow::compute::cast(column, to)
    }
}

/// One all-NULL array per type, sliced for each batch: the fields a format lacks (most of the
/// catalogue for a v2 file) cost one array per partition writer, not one per column and batch (the
/// sort keeps every batch's columns and counts only the others against its memory).
#[derive(Default)]
struct NullColumns(Vec<ArrayRef>);

/// Rows of a [`NullColumns`] array at least.
const NULL_COLUMN_ROWS: usize = 64 * 1024;

impl NullColumns {
    fn get(&mut self, to: &DataType, rows: usize) -> ArrayRef {
        if let Some(a) = self
            .0
            .iter()
            .find(|a| a.data_type() == to && a.len() >= rows)
        {
            return a.slice(0, rows);
        }
        self.0.retain(|a| a.data_type() != to);
        // Room for a whole batch of parsed rows (64 Ki by default) from the start.
        let array = arrow::array::new_null_array(to, rows.max(NULL_COLUMN_ROWS));
        self.0.push(array.clone());
        array.slice(0, rows)
    }
}

/// Appends `rows` rows of `source` to the runs `runs`.
fn add_run(runs: &mut Vec<(u32, u64)>, source: u32, rows: u64) {
    if rows == 0 {
        return;
    }
    match runs.last_mut() {
        Some((s, n)) if *s == source => *n += rows,
        _ => runs.push((source, rows)),
    }
}

/// Appends the rows' sources, one per row, to the runs `runs`.
fn add_sources(runs: &mut Vec<(u32, u64)>, sources: &UInt32Array) {
    let values = sources.values();
    let mut i = 0;
    while i < values.len() {
        let source = values[i];
        let start = i;
        while i < values.len() && values[i] == source {
            i += 1;
        }
        add_run(runs, source, (i - start) as u64);
    }
}

/// The column writers of a row group: arrow-rs's (`arrow`, one per leaf), with a [`StringColumn`]
/// instead for each string column the catalogue dictionary-encodes and each enrichment string column
/// (few distinct values).
fn column_writers(
    arrow: Vec<ArrowColumnWriter>,
    schema: &SchemaRef,
    parquet: &SchemaDescriptor,
    props: &WriterProperties,
) -> Vec<ColumnWriter> {
    // Leaf `w` belongs to field `fields[w]` (a map has two leaves, every other field of the lake one).
    let mut fields = Vec::with_capacity(arrow.len());
    for field in schema.fields() {
        let leaves = match field.data_type() {
            DataType::Map(..) => 2,
            _ => 1,
        };
        fields.extend(std::iter::repeat_n(field.clone(), leaves));
    }
    let aligned = fields.len() == arrow.len() && arrow.len() == parquet.num_columns();
    arrow
        .into_iter()
        .enumerate()
        .map(|(w, arrow)| {
            let own = fields.get(w).is_some_and(|field| {
                aligned
                    && field.data_type() == &DataType::Utf8
                    && (CATALOGUE.iter().chain(TGW_CATALOGUE).any(|f| {
                        f.column == field.name()
                            && f.kind == Kind::Utf8
                            && f.encoding == ColumnEncoding::Dictionary
                    }) || is_enrichment_column(field.name()))
            });
            match own
                .then(|| StringColumn::new(parquet.column(w), props))
                .flatten()
            {
                Some(strings) => ColumnWriter::Strings(Box::new(strings)),
                None => ColumnWriter::Arrow(Box::new(arrow)),
            }
        })
        .collect()
}

/// Rows for a new row group of a file with `written` bytes so far: the configured maximum, or fewer to
/// land the file near its target size.
fn next_row_group_rows(settings: &WriteSettings, written: u64, bytes_per_row: f64) -> usize {
    let remaining = settings.target_file_bytes.saturating_sub(written) as f64;
    let fit = (remaining / bytes_per_row.max(1.0)) as usize;
    fit.clamp(
        MIN_ROW_GROUP_ROWS.min(settings.row_group_rows),
        settings.row_group_rows,
    )
}

fn parquet_err(partition: &str, name: &str, source: ParquetError) -> Error {
    Error::Parquet {
        path: format!("{partition}/{name}").into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_batches_cast_to_file_types_share_their_null_columns() {
        // Batches as the text layer builds them: every string column keyed, the fields the records
        // lack all NULL.
        let keyed_batch = |addrs: &[Option<&str>]| {
            let batch_schema = RecordKind::Vpc.batch_schema();
            let columns: Vec<ArrayRef> = batch_schema
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "srcaddr" {
                        let keyed: arrow::array::DictionaryArray<UInt32Type> =
                            addrs.iter().copied().collect();
                        Arc::new(keyed) as ArrayRef
                    } else {
                        arrow::array::new_null_array(f.data_type(), addrs.len())
                    }
                })
                .collect();
            RecordBatch::try_new(batch_schema, columns).unwrap()
        };
        let batches = [
            keyed_batch(&[Some("10.0.0.1"), Some("10.0.0.1")]),
            keyed_batch(&[Some("10.0.0.2"), None, Some("10.0.0.3")]),
        ];
        let schema = RecordKind::Vpc.schema();
        let mut nulls = NullColumns::default();
        let cast: Vec<RecordBatch> = batches
            .iter()
            .map(|b| with_file_types(b, &schema, &mut nulls).unwrap())
            .collect();
        for b in &cast {
            assert_eq!(b.schema(), schema);
        }
        let addrs: Vec<Option<&str>> = cast
            .iter()
            .flat_map(|b| b.column(3).as_string::<i32>().iter())
            .collect();
        assert_eq!(
            addrs,
            [
                Some("10.0.0.1"),
                Some("10.0.0.1"),
                Some("10.0.0.2"),
                None,
                Some("10.0.0.3")
            ]
        );
        // `vpc_id`, absent: all NULL, one array for both batches.
        let vpc = schema.index_of("vpc_id").unwrap();
        let buffer = |b: &RecordBatch| b.column(vpc).to_data().buffers()[0].as_ptr();
        assert_eq!(cast[0].column(vpc).null_count(), 2);
        assert_eq!(cast[1].column(vpc).null_count(), 3);
        assert_eq!(buffer(&cast[0]), buffer(&cast[1]));
    }

    #[test]
    fn the_default_bloom_columns_are_the_addresses() {
        let names =
            |b: &BloomColumns| -> Vec<&str> { b.0.iter().map(|&i| CATALOGUE[i].column).collect() };
        assert_eq!(names(&BloomColumns::default()), ["srcaddr", "dstaddr"]);
        assert_eq!(
            BloomColumns::parse(DEFAULT_BLOOM_FILTER).unwrap(),
            BloomColumns::default()
        );
        assert_eq!(
            names(&BloomColumns::parse("none").unwrap()),
            Vec::<&str>::new()
        );
    }
}
