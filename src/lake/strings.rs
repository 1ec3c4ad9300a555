//! A string column chunk written with one dictionary: each value hashed once, page and chunk
//! statistics taken from the dictionary and the keys present instead of comparing every value.
//!
//! arrow-rs's writer interns every value of a string column into its dictionary and compares it twice
//! for the page's min and max; for the lake's columns (account, interface, addresses, action, status,
//! ids: few distinct values, each repeated many times) that was a quarter of a conversion's CPU.
//! [`StringColumn`] keeps the chunk as keys into a dictionary (a value equal to the previous one
//! costs one comparison; any other one hash lookup), and at close writes what arrow-rs would: a PLAIN
//! dictionary page, Parquet format 1.0 data pages of RLE/bit-packed keys (`RLE_DICTIONARY`, levels
//! `RLE`) compressed with ZSTD, chunk statistics, the column index (page min/max from each page's
//! distinct keys), the offset index and the level histograms. The bytes are spliced into the row
//! group with the parquet crate's public `append_column`.
//!
//! Once the dictionary outgrows its page limit (1 MiB: the address columns of a busy day), it stops
//! growing and the rest of the chunk is written as PLAIN pages whose statistics compare every value,
//! as arrow-rs does. A chunk holding a value longer than the statistics may keep untruncated (64
//! bytes: ECS ARNs) is handed back ([`Overflow`]) with its values, and the caller writes it with
//! arrow-rs, which truncates them.

use arrow::array::{Array, BooleanBufferBuilder, StringArray};
use arrow::buffer::BooleanBuffer;
use bytes::Bytes;
use hashbrown::HashTable;
use parquet::basic::{BoundaryOrder, Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{
    ColumnChunkMetaData, ColumnIndexBuilder, LevelHistogram, OffsetIndexBuilder, PageEncodingStats,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::lake::rle;

/// The chunk cannot be written here: its rows so far, for arrow-rs to write.
#[derive(Debug)]
pub struct Overflow(pub StringArray);

/// One string column of the open row group (see the module doc).
pub struct StringColumn {
    descr: ColumnDescPtr,
    compression: Compression,
    compressor: zstd::bulk::Compressor<'static>,
    page_rows: usize,
    page_bytes: usize,
    dictionary_limit: usize,
    longest_allowed: usize,
    /// Lookup from a value's hash to its key.
    table: HashTable<u32>,
    hasher: ahash::RandomState,
    /// The dictionary: entry `k` is `bytes[ends[k - 1]..ends[k]]` (from 0 for the first).
    dictionary: Values,
    hashes: Vec<u64>,
    /// Which rows have a value.
    valid: BooleanBufferBuilder,
    /// The key of every value (not row) before the dictionary filled up.
    keys: Vec<u32>,
    /// The row from which values are kept in `plain` (the dictionary was full).
    plain_from: Option<usize>,
    plain: Values,
    /// The key of the last value interned (values repeat in runs: one comparison instead of a lookup).
    last: Option<u32>,
    longest: usize,
}

/// Byte strings end to end.
#[derive(Default)]
struct Values {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Values {
    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Bytes of these values PLAIN-encoded (each with its 4-byte length).
    fn plain_size(&self) -> usize {
        self.bytes.len() + 4 * self.ends.len()
    }
}

impl StringColumn {
    /// A writer for the column `descr`, or `None` when the properties ask for something it does not
    /// write (another compression than ZSTD, page-header statistics, Parquet 2.0 pages, Bloom filters).
    pub fn new(descr: ColumnDescPtr, props: &WriterProperties) -> Option<Self> {
        let path = descr.path();
        let compression = props.compression(path);
        let Compression::ZSTD(level) = compression else {
            return None;
        };
        if props.writer_version() != WriterVersion::PARQUET_1_0
            || !props.dictionary_enabled(path)
            || props.bloom_filter_properties(path).is_some()
            || props.statistics_enabled(path) != EnabledStatistics::Page
            || props.write_page_header_statistics(path)
            || descr.max_rep_level() != 0
            || descr.max_def_level() != 1
        {
            return None;
        }
        let compressor = zstd::bulk::Compressor::new(level.compression_level()).ok()?;
        let longest_allowed = [
            props.column_index_truncate_length(),
            props.statistics_truncate_length(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(usize::MAX);
        Some(StringColumn {
            descr,
            compression,
            compressor,
            page_rows: props.data_page_row_count_limit().max(1),
            page_bytes: props.data_page_size_limit().max(1),
            dictionary_limit: props.dictionary_page_size_limit(),
            longest_allowed,
            table: HashTable::new(),
            // Fixed seeds: keys are numbered in order of first appearance whatever the hash, and a
            // fixed hash keeps runs reproducible to the instruction.
            hasher: ahash::RandomState::with_seeds(
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ),
            dictionary: Values::default(),
            hashes: Vec::new(),
            valid: BooleanBufferBuilder::new(0),
            keys: Vec::new(),
            plain_from: None,
            plain: Values::default(),
            last: None,
            longest: 0,
        })
    }

    /// Appends the values of `array` to the chunk.
    pub fn write(&mut self, array: &StringArray) -> std::result::Result<(), Overflow> {
        let offsets = array.value_offsets();
        let data = array.value_data();
        let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
        match array.nulls() {
            Some(nulls) if nulls.null_count() == array.len() => {
                self.valid.append_n(array.len(), false);
            }
            Some(nulls) => {
                self.valid.append_buffer(nulls.inner());
                for i in nulls.valid_indices() {
                    self.add(value(i));
                }
            }
            None => {
                self.valid.append_n(array.len(), true);
                for i in 0..array.len() {
                    self.add(value(i));
                }
            }
        }
        if self.longest > self.longest_allowed {
            return Err(Overflow(self.values()));
        }
        if self.plain_from.is_none() && self.dictionary.plain_size() > self.dictionary_limit {
            self.plain_from = Some(self.valid.len());
        }
        Ok(())
    }

    #[inline]
    fn add(&mut self, value: &[u8]) {
        self.longest = self.longest.max(value.len());
        if self.plain_from.is_some() {
            self.plain.push(value);
        } else {
            let key = self.intern(value);
            self.keys.push(key);
        }
    }

    #[inline]
    fn intern(&mut self, value: &[u8]) -> u32 {
        if let Some(last) = self.last {
            if same(self.dictionary.get(last as usize), value) {
                return last;
            }
        }
        let hash = self.hasher.hash_one(value);
        let StringColumn {
            table,
            dictionary,
            hashes,
            ..
        } = self;
        let key = match table.find(hash, |&k| same(dictionary.get(k as usize), value)) {
            Some(&key) => key,
            None => {
                let key = dictionary.len() as u32;
                dictionary.push(value);
                hashes.push(hash);
                table.insert_unique(hash, key, |&k| hashes[k as usize]);
                key
            }
        };
        self.last = Some(key);
        key
    }

    /// The chunk's rows as an Arrow array (for the arrow-rs writer to take over).
    pub fn values(&self) -> StringArray {
        let mut keys = self.keys.iter();
        let mut plain = 0..self.plain.len();
        let valid = self.valid.finish_cloned();
        valid
            .iter()
            .map(|v| {
                v.then(|| {
                    let bytes = match keys.next() {
                        Some(&k) => self.dictionary.get(k as usize),
                        None => self.plain.get(plain.next().unwrap_or_default()),
                    };
                    // The values came from `StringArray`s: valid UTF-8.
                    std::str::from_utf8(bytes).unwrap_or_default()
                })
            })
            .collect()
    }

    /// Encodes the chunk: its bytes (dictionary page first) and what the row group needs to splice them.
    pub fn close(mut self) -> Result<(Bytes, ColumnCloseResult)> {
        let valid = self.valid.finish();
        let rows = valid.len();
        let entries = self.dictionary.len();
        let mut chunk = Chunk::new(self.descr.physical_type())?;

        // The dictionary page.
        let mut plain = Vec::with_capacity(self.dictionary.plain_size());
        for k in 0..entries {
            put_plain(self.dictionary.get(k), &mut plain);
        }
        let page = Page::DictionaryPage {
            buf: compress(&mut self.compressor, &plain)?,
            num_values: entries as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        };
        chunk.write(CompressedPage::new(page, plain.len()))?;

        // Pages of keys, up to the row where the dictionary filled up.
        let dictionary_rows = self.plain_from.unwrap_or(rows);
        let width = rle::bit_width(entries.saturating_sub(1) as u32);
        // `seen[k]` is the last page whose values include key `k`.
        let mut seen = vec![usize::MAX; entries];
        let mut distinct = Vec::new();
        let mut buf = Vec::new();
        let mut first_value = 0;
        let mut start = 0;
        while start < dictionary_rows {
            let len = self.page_rows.min(dictionary_rows - start);
            let page_valid = valid.slice(start, len);
            let values = page_valid.count_set_bits();
            let keys = &self.keys[first_value..first_value + values];
            distinct.clear();
            let mut unencoded = 0;
            let page = chunk.pages;
            for &k in keys {
                let k = k as usize;
                if seen[k] != page {
                    seen[k] = page;
                    distinct.push(k);
                }
            }
            for &k in &distinct {
                let bytes = self.dictionary.get(k);
                chunk.bound(bytes);
            }
            for &k in keys {
                unencoded += self.dictionary.get(k as usize).len();
            }
            buf.clear();
            put_levels(&page_valid, values, &mut buf);
            buf.push(width);
            rle::encode(keys, width, &mut buf);
            let bounds = min_max(distinct.iter().map(|&k| self.dictionary.get(k)));
            let page = Page::DataPage {
                buf: compress(&mut self.compressor, &buf)?,
                num_values: len as u32,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            chunk.data_page(
                CompressedPage::new(page, buf.len()),
                len,
                values,
                unencoded,
                bounds,
            )?;
            first_value += values;
            start += len;
        }

        // PLAIN pages for the rest, cut by rows and by bytes.
        let mut first_value = 0;
        while start < rows {
            let mut len = 0;
            let mut values = 0;
            let mut bytes = 0;
            while start + len < rows && len < self.page_rows && bytes < self.page_bytes {
                if valid.value(start + len) {
                    bytes += 4 + self.plain.get(first_value + values).len();
                    values += 1;
                }
                len += 1;
            }
            let page_valid = valid.slice(start, len);
            buf.clear();
            put_levels(&page_valid, values, &mut buf);
            let mut unencoded = 0;
            for i in first_value..first_value + values {
                let value = self.plain.get(i);
                unencoded += value.len();
                put_plain(value, &mut buf);
            }
            let page_values = (first_value..first_value + values).map(|i| self.plain.get(i));
            let bounds = min_max(page_values);
            if let Some((min, max)) = bounds {
                chunk.bound(min);
                chunk.bound(max);
            }
            let page = Page::DataPage {
                buf: compress(&mut self.compressor, &buf)?,
                num_values: len as u32,
                encoding: Encoding::PLAIN,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            chunk.data_page(
                CompressedPage::new(page, buf.len()),
                len,
                values,
                unencoded,
                bounds,
            )?;
            first_value += values;
            start += len;
        }
        chunk.finish(self.descr, self.compression, rows)
    }
}

/// `a == b`, inline for the short values of flow logs (ids, addresses: 1 to 21 bytes) instead of a
/// call to `memcmp` per value.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    #[inline]
    fn word(s: &[u8], at: usize) -> u64 {
        <[u8; 8]>::try_from(&s[at..at + 8]).map_or(0, u64::from_ne_bytes)
    }
    #[inline]
    fn half(s: &[u8], at: usize) -> u32 {
        <[u8; 4]>::try_from(&s[at..at + 4]).map_or(0, u32::from_ne_bytes)
    }
    match n {
        // Two overlapping loads cover the value.
        16..=24 => {
            word(a, 0) == word(b, 0) && word(a, 8) == word(b, 8) && word(a, n - 8) == word(b, n - 8)
        }
        8..=15 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

/// The smallest and largest of `values`.
fn min_max<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Option<(&'a [u8], &'a [u8])> {
    let first = values.next()?;
    Some(values.fold((first, first), |(min, max), v| {
        (if v < min { v } else { min }, if v > max { v } else { max })
    }))
}

fn put_plain(value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// The definition levels of a page (`values` of its rows have one), RLE with their 4-byte length.
fn put_levels(valid: &BooleanBuffer, values: usize, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    if values == 0 || values == valid.len() {
        rle::rle(u32::from(values > 0), valid.len(), 1, out);
    } else {
        let levels: Vec<u8> = valid.iter().map(u8::from).collect();
        rle::encode(&levels, 1, out);
    }
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A column chunk's pages as they are written, and the metadata they add up to.
struct Chunk {
    sink: TrackedWrite<Vec<u8>>,
    column_index: ColumnIndexBuilder,
    offset_index: OffsetIndexBuilder,
    levels: LevelHistogram,
    unencoded: i64,
    compressed: i64,
    uncompressed: i64,
    data_page_offset: Option<i64>,
    /// Data pages written, by encoding: RLE_DICTIONARY, PLAIN.
    pages: usize,
    plain_pages: i32,
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
    ascending: bool,
    descending: bool,
    last_bounds: Option<(Vec<u8>, Vec<u8>)>,
}

impl Chunk {
    fn new(physical_type: parquet::basic::Type) -> Result<Self> {
        Ok(Chunk {
            sink: TrackedWrite::new(Vec::new()),
            column_index: ColumnIndexBuilder::new(physical_type),
            offset_index: OffsetIndexBuilder::new(),
            levels: level_histogram()?,
            unencoded: 0,
            compressed: 0,
            uncompressed: 0,
            data_page_offset: None,
            pages: 0,
            plain_pages: 0,
            min: None,
            max: None,
            ascending: true,
            descending: true,
            last_bounds: None,
        })
    }

    fn write(&mut self, page: CompressedPage) -> Result<PageWriteSpec> {
        let spec = SerializedPageWriter::new(&mut self.sink).write_page(page)?;
        self.compressed += spec.compressed_size as i64;
        self.uncompressed += spec.uncompressed_size as i64;
        Ok(spec)
    }

    /// Widens the chunk's min and max to include `value`.
    fn bound(&mut self, value: &[u8]) {
        if self.min.as_deref().is_none_or(|min| value < min) {
            self.min = Some(value.to_vec());
        }
        if self.max.as_deref().is_none_or(|max| value > max) {
            self.max = Some(value.to_vec());
        }
    }

    /// Writes a data page of `rows` rows, `values` of them not NULL, and indexes it.
    fn data_page(
        &mut self,
        page: CompressedPage,
        rows: usize,
        values: usize,
        unencoded: usize,
        bounds: Option<(&[u8], &[u8])>,
    ) -> Result<()> {
        if page.encoding() == Encoding::PLAIN {
            self.plain_pages += 1;
        }
        let spec = self.write(page)?;
        self.pages += 1;
        self.data_page_offset.get_or_insert(spec.offset as i64);
        self.offset_index
            .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        self.offset_index.append_row_count(rows as i64);
        self.offset_index
            .append_unencoded_byte_array_data_bytes(Some(unencoded as i64));
        self.unencoded += unencoded as i64;
        let nulls = (rows - values) as i64;
        let mut levels = level_histogram()?;
        levels.increment_by(0, nulls);
        levels.increment_by(1, values as i64);
        self.levels.add(&levels);
        match bounds {
            None => self.column_index.append(true, vec![], vec![], nulls, None),
            Some((min, max)) => {
                if let Some((last_min, last_max)) = &self.last_bounds {
                    let (last_min, last_max) = (last_min.as_slice(), last_max.as_slice());
                    self.ascending &= last_min <= min && last_max <= max;
                    self.descending &= last_min >= min && last_max >= max;
                }
                self.last_bounds = Some((min.to_vec(), max.to_vec()));
                self.column_index
                    .append(false, min.to_vec(), max.to_vec(), nulls, None);
            }
        }
        self.column_index.append_histograms(&None, &Some(levels));
        Ok(())
    }

    fn finish(
        mut self,
        descr: ColumnDescPtr,
        compression: Compression,
        rows: usize,
    ) -> Result<(Bytes, ColumnCloseResult)> {
        self.column_index
            .set_boundary_order(match (self.ascending, self.descending) {
                (true, _) => BoundaryOrder::ASCENDING,
                (false, true) => BoundaryOrder::DESCENDING,
                (false, false) => BoundaryOrder::UNORDERED,
            });
        let nulls = self.levels.get(0).unwrap_or(0) as u64;
        let statistics = Statistics::ByteArray(ValueStatistics::new(
            self.min.map(ByteArray::from),
            self.max.map(ByteArray::from),
            None,
            Some(nulls),
            false,
        ));
        let dictionary_pages = self.pages as i32 - self.plain_pages;
        let mut encoding_stats = vec![PageEncodingStats {
            page_type: PageType::DICTIONARY_PAGE,
            encoding: Encoding::PLAIN,
            count: 1,
        }];
        if dictionary_pages > 0 {
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::RLE_DICTIONARY,
                count: dictionary_pages,
            });
        }
        if self.plain_pages > 0 {
            encoding_stats.push(PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::PLAIN,
                count: self.plain_pages,
            });
        }
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(compression)
            .set_encodings_mask(EncodingMask::new_from_encodings(
                [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY].iter(),
            ))
            .set_page_encoding_stats(encoding_stats)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_num_values(rows as i64)
            .set_dictionary_page_offset(Some(0))
            .set_data_page_offset(self.data_page_offset.unwrap_or(self.compressed))
            .set_statistics(statistics)
            .set_unencoded_byte_array_data_bytes(Some(self.unencoded))
            .set_definition_level_histogram(Some(self.levels))
            .build()?;
        let bytes = Bytes::from(self.sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index: Some(self.column_index.build()?),
            offset_index: Some(self.offset_index.build()),
        };
        Ok((bytes, close))
    }
}

fn level_histogram() -> Result<LevelHistogram> {
    LevelHistogram::try_new(1)
        .ok_or_else(|| ParquetError::General("no histogram for definition level 1".into()))
}

fn compress(compressor: &mut zstd::bulk::Compressor<'static>, data: &[u8]) -> Result<Bytes> {
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
    compressor
        .compress_to_buffer(data, &mut out)
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::arrow::ArrowSchemaConverter;
    use parquet::basic::ZstdLevel;
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::page_index::column_index::ColumnIndexMetaData;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use proptest::prelude::*;

    fn props(page_rows: usize, dictionary_limit: usize) -> WriterProperties {
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(page_rows)
            .set_dictionary_page_size_limit(dictionary_limit)
            .build()
    }

    /// Writes `batches` as one column chunk of a one-column file and returns the file.
    fn write(
        batches: &[Vec<Option<String>>],
        props: WriterProperties,
    ) -> std::result::Result<Bytes, Overflow> {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
        let parquet = ArrowSchemaConverter::new().convert(&schema).unwrap();
        let props = Arc::new(props);
        let mut column = StringColumn::new(parquet.column(0), &props).unwrap();
        for batch in batches {
            column.write(&StringArray::from(batch.clone()))?;
        }
        let mut file =
            SerializedFileWriter::new(Vec::new(), parquet.root_schema_ptr(), props).unwrap();
        let (bytes, close) = column.close().unwrap();
        let mut row_group = file.next_row_group().unwrap();
        row_group.append_column(&bytes, close).unwrap();
        row_group.close().unwrap();
        Ok(Bytes::from(file.into_inner().unwrap()))
    }

    /// Reads the file back and checks values, chunk statistics and every page's index entry against
    /// `rows`; returns the encodings of the data pages in order (repeats removed).
    fn check(file: Bytes, rows: &[Option<String>]) -> Vec<Encoding> {
        let reader = SerializedFileReader::new(file.clone()).unwrap();
        let mut encodings: Vec<Encoding> = Vec::new();
        for page in reader
            .get_row_group(0)
            .unwrap()
            .get_column_page_reader(0)
            .unwrap()
        {
            let page = page.unwrap();
            if page.page_type() == PageType::DATA_PAGE && encodings.last() != Some(&page.encoding())
            {
                encodings.push(page.encoding());
            }
        }
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).unwrap();
        let metadata = builder.metadata().clone();
        let mut read: Vec<Option<String>> = Vec::new();
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            read.extend(column.iter().map(|v| v.map(str::to_string)));
        }
        assert_eq!(read, rows);

        let chunk = metadata.row_group(0).column(0);
        let present: Vec<&[u8]> = rows.iter().flatten().map(|v| v.as_bytes()).collect();
        let stats = chunk.statistics().unwrap();
        assert_eq!(
            stats.null_count_opt(),
            Some((rows.len() - present.len()) as u64)
        );
        assert_eq!(stats.min_bytes_opt(), present.iter().min().copied());
        assert_eq!(stats.max_bytes_opt(), present.iter().max().copied());

        let index = metadata.page_index_for_row_group(0);
        let Some(ColumnIndexMetaData::BYTE_ARRAY(pages)) = index.column_index(0) else {
            panic!("no column index");
        };
        let locations = &index.offset_index(0).unwrap().page_locations;
        for (p, location) in locations.iter().enumerate() {
            let start = location.first_row_index as usize;
            let end = locations
                .get(p + 1)
                .map_or(rows.len(), |l| l.first_row_index as usize);
            let page: Vec<&[u8]> = rows[start..end]
                .iter()
                .flatten()
                .map(|v| v.as_bytes())
                .collect();
            assert_eq!(pages.null_count(p), Some((end - start - page.len()) as i64));
            assert_eq!(pages.is_null_page(p), page.is_empty());
            assert_eq!(pages.min_value(p), page.iter().min().copied());
            assert_eq!(pages.max_value(p), page.iter().max().copied());
        }
        encodings
    }

    #[test]
    fn dictionary_pages_then_plain_pages_once_the_dictionary_is_full() {
        let batch = |from: usize| -> Vec<Option<String>> {
            (from..from + 100)
                .map(|i| (i % 7 != 0).then(|| format!("10.0.{}.{}", i / 256, i % 256)))
                .collect()
        };
        let batches = [batch(0), batch(100), batch(200)];
        let rows: Vec<_> = batches.concat();
        // Room for about 100 values: the first batch fills the dictionary.
        let file = write(&batches, props(30, 1500)).unwrap();
        assert_eq!(
            check(file, &rows),
            [Encoding::RLE_DICTIONARY, Encoding::PLAIN]
        );
        // A dictionary with room for everything: keys only.
        let file = write(&batches, props(30, 1 << 20)).unwrap();
        assert_eq!(check(file, &rows), [Encoding::RLE_DICTIONARY]);
    }

    #[test]
    fn all_null_and_single_value_chunks() {
        let nulls = vec![None; 70];
        assert_eq!(
            check(
                write(std::slice::from_ref(&nulls), props(20, 1 << 20)).unwrap(),
                &nulls
            ),
            [Encoding::RLE_DICTIONARY]
        );
        let same = vec![Some("ACCEPT".to_string()); 70];
        check(
            write(std::slice::from_ref(&same), props(20, 1 << 20)).unwrap(),
            &same,
        );
    }

    #[test]
    fn a_value_too_long_for_untruncated_statistics_hands_the_chunk_back() {
        let long = "arn:aws:ecs:us-east-1:123456789012:container-instance/cluster/0123456789abcdef";
        let rows = vec![Some("a".to_string()), None, Some(long.to_string())];
        let Err(Overflow(values)) = write(std::slice::from_ref(&rows), props(20, 1 << 20)) else {
            panic!(
                "a {}-byte value was written with untruncated statistics",
                long.len()
            );
        };
        let values: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(values, rows);
    }

    proptest! {
        #[test]
        fn same_is_equality(a in prop::collection::vec(0u8..3, 0..30), b in prop::collection::vec(0u8..3, 0..30)) {
            prop_assert_eq!(same(&a, &b), a == b);
            prop_assert!(same(&a, &a.clone()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn reads_back_with_exact_statistics(
            batches in prop::collection::vec(
                prop::collection::vec(prop::option::weighted(0.8, "[a-c]{0,3}|[0-9.]{7,15}"), 0..80),
                1..5,
            ),
            page_rows in 1usize..40,
            dictionary_limit in 0usize..400,
        ) {
            let rows: Vec<_> = batches.concat();
            prop_assume!(!rows.is_empty());
            let file = write(&batches, props(page_rows, dictionary_limit)).unwrap();
            check(file, &rows);
        }
    }
}
