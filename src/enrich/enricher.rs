//! [`Enricher`]: a batch of the lake's own columns in, the same batch with the enrichment columns
//! appended out. Each distinct address is looked up once per run (source and destination together; a
//! run-wide cache, shared by the workers, remembers the answers).

use hashbrown::HashTable;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int64Array, ListArray, ListBuilder, RecordBatch,
    StringArray, StringBuilder, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, Schema, SchemaRef, UInt32Type};
use arrow::error::ArrowError;

use crate::enrich::address::public;
use crate::enrich::geoip::GeoDb;
use crate::enrich::ip_ranges::{IpRanges, Range};
use crate::enrich::{
    is_enrichment_column, protocol, tcp_flags, DataVersion, EnrichSet, Enrichment, DSTADDR,
    PROTOCOL, SRCADDR, TCP_FLAGS,
};

/// The enrichments of a run with their data, shared by every worker.
#[derive(Debug)]
pub struct Enricher {
    set: EnrichSet,
    ip_ranges: Option<IpRanges>,
    country: Option<GeoDb>,
    asn: Option<GeoDb>,
    /// Addresses enriched (two per row) and lookups made (one per distinct public address of the
    /// run, while the cache holds it).
    addresses: AtomicU64,
    lookups: AtomicU64,
    /// What the run's address texts are (`None`: not a public address), shared by the workers.
    cache: Mutex<HashTable<Cached>>,
    /// `protocol_name` and `tcp_flags_names` of each value 0-255, keyed by the value, then NULL
    /// (see [`byte_keys`]).
    protocol_names: Arc<StringArray>,
    flag_lists: ListArray,
}

/// What an address's lookups found.
#[derive(Debug, Default)]
struct Found {
    range: Option<Range>,
    country: Option<Arc<str>>,
    asn: Option<u32>,
    as_org: Option<Arc<str>>,
}

/// How many addresses the enrichment saw and how many lookups that took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LookupCount {
    pub addresses: u64,
    pub lookups: u64,
}

impl LookupCount {
    /// What was counted after `before`.
    pub fn since(self, before: LookupCount) -> LookupCount {
        LookupCount {
            addresses: self.addresses - before.addresses,
            lookups: self.lookups - before.lookups,
        }
    }
}

impl Enricher {
    /// The enricher of `set` with its data (each present exactly when `set` needs it; see
    /// [`EnrichSet::check`]).
    pub fn new(
        set: EnrichSet,
        ip_ranges: Option<IpRanges>,
        country: Option<GeoDb>,
        asn: Option<GeoDb>,
    ) -> Enricher {
        Enricher {
            set,
            ip_ranges,
            country,
            asn,
            addresses: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            cache: Mutex::new(HashTable::new()),
            protocol_names: Arc::new((0..=256).map(protocol::name).collect()),
            flag_lists: flag_lists(),
        }
    }

    pub fn set(&self) -> &EnrichSet {
        &self.set
    }

    /// The versions of the data files in use, in order.
    pub fn versions(&self) -> Vec<DataVersion> {
        let mut v: Vec<DataVersion> = self
            .ip_ranges
            .iter()
            .map(|r| r.version().clone())
            .chain(self.country.iter().map(|d| d.version().clone()))
            .chain(self.asn.iter().map(|d| d.version().clone()))
            .collect();
        v.sort();
        v
    }

    pub fn lookup_count(&self) -> LookupCount {
        LookupCount {
            addresses: self.addresses.load(Ordering::Relaxed),
            lookups: self.lookups.load(Ordering::Relaxed),
        }
    }

    /// `batch` (the lake's own columns) with the enrichment columns appended: `batch`'s fields as
    /// they are (strings keyed or not), then the enrichment fields of `schema` (the lake's), the
    /// string ones keyed (see [`keyed_schema`]). A column an enrichment reads that the batch lacks
    /// gives NULLs.
    pub fn enrich(
        &self,
        batch: &RecordBatch,
        schema: &SchemaRef,
    ) -> Result<RecordBatch, ArrowError> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        let addresses = self
            .needs_addresses()
            .then(|| self.look_up(batch))
            .transpose()?;
        for e in self.set.iter() {
            match e {
                Enrichment::Protocol => {
                    let keys = byte_keys(integers(batch, PROTOCOL)?, rows);
                    let names = DictionaryArray::try_new(keys, self.protocol_names.clone())?;
                    columns.push(Arc::new(names));
                }
                Enrichment::TcpFlags => {
                    let keys = byte_keys(integers(batch, TCP_FLAGS)?, rows);
                    columns.push(take(&self.flag_lists, &keys, None)?);
                }
                Enrichment::AwsService | Enrichment::Country | Enrichment::Asn => {
                    if let Some(a) = &addresses {
                        columns.extend(a.columns(e)?);
                    }
                }
            }
        }
        let keyed = keyed_schema(schema);
        let mut fields: Vec<FieldRef> = batch.schema().fields().iter().cloned().collect();
        fields.extend(keyed.fields().iter().skip(batch.num_columns()).cloned());
        let schema = Schema::new_with_metadata(fields, keyed.metadata().clone());
        RecordBatch::try_new(Arc::new(schema), columns)
    }

    fn needs_addresses(&self) -> bool {
        [Enrichment::AwsService, Enrichment::Country, Enrichment::Asn]
            .iter()
            .any(|e| self.set.contains(*e))
    }

    /// What each row's `srcaddr` and `dstaddr` are: each distinct text of the batch is looked up in
    /// the run's cache once; a text not there is parsed, and looked up when it is a public address.
    fn look_up(&self, batch: &RecordBatch) -> Result<Addresses, ArrowError> {
        let src = texts(batch, SRCADDR)?;
        let dst = texts(batch, DSTADDR)?;
        let rows = batch.num_rows();
        let mut seen = Seen {
            // Sized for about one distinct address in six (generated days have that many);
            // growing costs more.
            short: HashTable::with_capacity(rows / 2),
            long: HashTable::new(),
            distinct: Vec::with_capacity(rows / 2),
        };
        let rows_of = [
            ScalarBuffer::from(seen.index(&src, rows)),
            ScalarBuffer::from(seen.index(&dst, rows)),
        ];
        // found[0] is "nothing"; found[i + 1] is what seen.distinct[i] is.
        let mut found: Vec<Option<Arc<Found>>> = vec![None; seen.distinct.len() + 1];
        let mut missing: Vec<usize> = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (i, d) in seen.distinct.iter().enumerate() {
                match cache.find(d.hash, |c| d.is(&c.text)) {
                    Some(c) => found[i + 1] = c.found.clone(),
                    None => missing.push(i),
                }
            }
        }
        let mut lookups = 0;
        let looked: Vec<Cached> = missing
            .iter()
            .map(|&i| {
                let d = &seen.distinct[i];
                let f = d.text.parse::<IpAddr>().ok().and_then(public).map(|ip| {
                    lookups += 1;
                    Arc::new(self.find(ip))
                });
                found[i + 1] = f.clone();
                Cached {
                    hash: d.hash,
                    text: d.key(),
                    found: f,
                }
            })
            .collect();
        self.lookups.fetch_add(lookups, Ordering::Relaxed);
        self.addresses.fetch_add(2 * rows as u64, Ordering::Relaxed);
        if !looked.is_empty() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() + looked.len() > CACHE_ADDRESSES {
                cache.clear();
            }
            for c in looked {
                cache.insert_unique(c.hash, c, |c| c.hash);
            }
        }
        Ok(Addresses { found, rows_of })
    }

    fn find(&self, ip: IpAddr) -> Found {
        let wants = |e| self.set.contains(e);
        let asn = self
            .asn
            .as_ref()
            .filter(|_| wants(Enrichment::Asn))
            .map(|d| d.asn(ip))
            .unwrap_or_default();
        Found {
            range: self
                .ip_ranges
                .as_ref()
                .filter(|_| wants(Enrichment::AwsService))
                .and_then(|r| r.lookup(ip))
                .cloned(),
            country: self
                .country
                .as_ref()
                .filter(|_| wants(Enrichment::Country))
                .and_then(|d| d.country(ip))
                .map(Arc::from),
            asn: asn.number,
            as_org: asn.organization.map(Arc::from),
        }
    }
}

/// Address texts a run remembers (about 100 bytes each); past it the cache starts again.
const CACHE_ADDRESSES: usize = 1 << 20;

/// An address text as the run's cache keeps it: most packed into one word.
#[derive(Debug)]
enum Text {
    Short(Packed),
    Long(Box<str>),
}

/// What the cache knows of one address text (`found`: `None` when it is no public address).
#[derive(Debug)]
struct Cached {
    hash: u64,
    text: Text,
    found: Option<Arc<Found>>,
}

/// The distinct texts of a batch's address columns so far, each numbered by its index in `found`
/// (one more than its place in `distinct`; 0 is NULL).
struct Seen<'s> {
    /// Short texts with their number: one comparison in the table itself matches one.
    short: HashTable<(Packed, u32)>,
    /// The numbers of longer texts.
    long: HashTable<u32>,
    distinct: Vec<Distinct<'s>>,
}

/// One distinct text of a batch, with its hash (the run's cache's too).
struct Distinct<'s> {
    text: &'s str,
    hash: u64,
    short: Option<Packed>,
}

impl Distinct<'_> {
    fn is(&self, text: &Text) -> bool {
        match text {
            Text::Short(p) => self.short == Some(*p),
            Text::Long(t) => self.short.is_none() && **t == *self.text,
        }
    }

    fn key(&self) -> Text {
        match self.short {
            Some(p) => Text::Short(p),
            None => Text::Long(Box::from(self.text)),
        }
    }
}

/// A text of at most 15 bytes and its length in one word: bytes 0-14 the text (zero after it),
/// byte 15 the length. Every IPv4 address fits, and most IPv6 ones in their short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed(u128);

impl Packed {
    /// The text at `data[start..end]`, `None` when it is longer than 15 bytes.
    #[inline]
    fn of(data: &[u8], start: usize, end: usize) -> Option<Packed> {
        let len = end - start;
        if len > 15 {
            return None;
        }
        let bytes = match data.get(start..start + 16) {
            // One load; the bytes after the text masked off.
            Some(word) => {
                let word = u128::from_le_bytes(word.try_into().ok()?);
                word & ((1u128 << (8 * len)) - 1)
            }
            None => {
                let mut b = [0u8; 16];
                b[..len].copy_from_slice(&data[start..end]);
                u128::from_le_bytes(b)
            }
        };
        Some(Packed(bytes | (len as u128) << 120))
    }

    /// One multiplication, folded.
    #[inline]
    fn hash(self) -> u64 {
        let (low, high) = (self.0 as u64, (self.0 >> 64) as u64);
        let folded = u128::from(low ^ high.rotate_left(32)) * 0x9e37_79b9_7f4a_7c15;
        (folded as u64) ^ ((folded >> 64) as u64)
    }
}

/// The hash of a text longer than a [`Packed`] one.
fn long_hash(text: &str) -> u64 {
    // Fixed seeds: a run's hashes are the same in every worker.
    static HASHER: std::sync::LazyLock<ahash::RandomState> = std::sync::LazyLock::new(|| {
        ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        )
    });
    HASHER.hash_one(text)
}

impl<'s> Seen<'s> {
    /// Each row's index into the batch's `found`.
    fn index(&mut self, column: &'s Texts<'s>, rows: usize) -> Vec<u32> {
        match column {
            Texts::Absent => vec![0; rows],
            Texts::Plain(column) => self.index_plain(column),
            Texts::Keyed(column) => self.index_keyed(column),
        }
    }

    /// Each row's index into the batch's `found`, a distinct value of the dictionary numbered on
    /// its first row (no hash per row: the parser interned the column already).
    fn index_keyed(&mut self, column: &'s DictionaryArray<UInt32Type>) -> Vec<u32> {
        const UNSEEN: u32 = u32::MAX;
        let Some(values) = column.values().as_string_opt::<i32>() else {
            return vec![0; column.len()];
        };
        let mut numbers_of = vec![UNSEEN; values.len()];
        let keys = column.keys();
        let mut numbers = Vec::with_capacity(keys.len());
        for (i, &k) in keys.values().iter().enumerate() {
            let n = match numbers_of.get(k as usize) {
                _ if keys.is_null(i) => 0,
                Some(&UNSEEN) => {
                    let n = if values.is_null(k as usize) {
                        0
                    } else {
                        self.number(values, k as usize)
                    };
                    numbers_of[k as usize] = n;
                    n
                }
                Some(&n) => n,
                None => 0,
            };
            numbers.push(n);
        }
        numbers
    }

    /// The number of `column`'s value `i` (not NULL).
    #[inline]
    fn number(&mut self, column: &'s StringArray, i: usize) -> u32 {
        let offsets = column.value_offsets();
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        match Packed::of(column.value_data(), start, end) {
            Some(p) => self.short_text(p, || column.value(i)),
            None => self.long_text(column.value(i)),
        }
    }

    /// Each row's index into the batch's `found`.
    fn index_plain(&mut self, column: &'s StringArray) -> Vec<u32> {
        let rows = column.len();
        let offsets = column.value_offsets();
        let data: &'s [u8] = column.value_data();
        // Addresses repeat in runs (an interface's flows): the previous row's costs one comparison.
        let mut last: Option<(Packed, u32)> = None;
        let mut numbers = Vec::with_capacity(rows);
        for i in 0..column.len() {
            if column.is_null(i) {
                numbers.push(0);
                continue;
            }
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            let n = match Packed::of(data, start, end) {
                Some(p) => match last {
                    Some((q, n)) if q == p => n,
                    _ => {
                        let n = self.short_text(p, || column.value(i));
                        last = Some((p, n));
                        n
                    }
                },
                None => self.long_text(column.value(i)),
            };
            numbers.push(n);
        }
        numbers
    }

    /// The number of the short text `p` (`text` its text), numbered now if it is new.
    #[inline]
    fn short_text(&mut self, p: Packed, text: impl FnOnce() -> &'s str) -> u32 {
        let hash = p.hash();
        match self.short.find(hash, |(q, _)| *q == p) {
            Some(&(_, n)) => n,
            None => {
                let n = self.add(text(), hash, Some(p));
                self.short.insert_unique(hash, (p, n), |(q, _)| q.hash());
                n
            }
        }
    }

    /// The number of `text`, longer than a short one, numbered now if it is new.
    fn long_text(&mut self, text: &'s str) -> u32 {
        let hash = long_hash(text);
        let Seen { long, distinct, .. } = self;
        match long.find(hash, |&n| distinct[n as usize - 1].text == text) {
            Some(&n) => n,
            None => {
                let n = self.add(text, hash, None);
                let Seen { long, distinct, .. } = self;
                long.insert_unique(hash, n, |&n| distinct[n as usize - 1].hash);
                n
            }
        }
    }

    fn add(&mut self, text: &'s str, hash: u64, short: Option<Packed>) -> u32 {
        self.distinct.push(Distinct { text, hash, short });
        self.distinct.len() as u32
    }
}

/// The lookups of a batch's addresses: `found[0]` is "nothing" (NULL, private, reserved, not an
/// address), `rows_of[0]` and `rows_of[1]` the index into `found` of each row's source and destination.
struct Addresses {
    found: Vec<Option<Arc<Found>>>,
    rows_of: [ScalarBuffer<u32>; 2],
}

impl Addresses {
    fn at(&self, i: u32) -> Option<&Found> {
        self.found[i as usize].as_deref()
    }

    /// The columns of one address enrichment, as [`Enrichment::fields`] lists them: its strings
    /// keyed (one value per distinct address, each row's key its address's index).
    fn columns(&self, e: Enrichment) -> Result<Vec<ArrayRef>, ArrowError> {
        let text = |pick: &dyn Fn(&Found) -> Option<&str>| -> Result<Vec<ArrayRef>, ArrowError> {
            // The value of each distinct address (NULL where it has none), each row keyed by its
            // address: no work per row here.
            let values: StringArray = (0..self.found.len() as u32)
                .map(|i| self.at(i).and_then(pick))
                .collect();
            let values = Arc::new(values);
            self.rows_of
                .iter()
                .map(|rows| {
                    let keys = UInt32Array::new(rows.clone(), None);
                    let keyed = DictionaryArray::try_new(keys, values.clone())?;
                    Ok(Arc::new(keyed) as ArrayRef)
                })
                .collect()
        };
        Ok(match e {
            Enrichment::AwsService => {
                let mut c = text(&|f| f.range.as_ref().map(|r| &*r.service))?;
                c.extend(text(&|f| f.range.as_ref().map(|r| &*r.region))?);
                c
            }
            Enrichment::Country => text(&|f| f.country.as_deref())?,
            Enrichment::Asn => {
                let numbers: Vec<Option<i64>> = (0..self.found.len() as u32)
                    .map(|i| self.at(i).and_then(|f| f.asn).map(i64::from))
                    .collect();
                let mut c: Vec<ArrayRef> = self
                    .rows_of
                    .iter()
                    .map(|rows| {
                        let values: ScalarBuffer<i64> = rows
                            .iter()
                            .map(|&i| numbers[i as usize].unwrap_or(0))
                            .collect();
                        let valid = BooleanBuffer::collect_bool(rows.len(), |r| {
                            numbers[rows[r] as usize].is_some()
                        });
                        let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);
                        Arc::new(Int64Array::new(values, nulls)) as ArrayRef
                    })
                    .collect();
                c.extend(text(&|f| f.as_org.as_deref())?);
                c
            }
            Enrichment::Protocol | Enrichment::TcpFlags => Vec::new(),
        })
    }
}

/// The integer column `name` as 64-bit values, `None` when the batch has no such column.
fn integers(batch: &RecordBatch, name: &str) -> Result<Option<Int64Array>, ArrowError> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let wide = cast(column, &DataType::Int64)?;
    Ok(Some(wide.as_primitive::<Int64Type>().clone()))
}

/// An address column as a batch holds it.
enum Texts<'b> {
    /// The batch has no such column.
    Absent,
    /// Strings (rows carried over from the lake's files).
    Plain(StringArray),
    /// Keyed strings (rows parsed from text): a key per row into the batch's distinct values.
    Keyed(&'b DictionaryArray<UInt32Type>),
}

/// The string column `name` as the batch holds it (cast to strings when it is neither).
fn texts<'b>(batch: &'b RecordBatch, name: &str) -> Result<Texts<'b>, ArrowError> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(Texts::Absent);
    };
    if let Some(keyed) = column.as_dictionary_opt::<UInt32Type>() {
        if keyed.values().data_type() == &DataType::Utf8 {
            return Ok(Texts::Keyed(keyed));
        }
    }
    let text = cast(column, &DataType::Utf8)?;
    Ok(Texts::Plain(text.as_string::<i32>().clone()))
}

/// Each row's key into a table of the 256 values of a byte and NULL after them (key 256): the
/// value itself, or 256 for NULL and a value outside 0-255.
fn byte_keys(values: Option<Int64Array>, rows: usize) -> UInt32Array {
    const NULL: u32 = 256;
    let key = |n: i64| u8::try_from(n).map_or(NULL, u32::from);
    let keys: ScalarBuffer<u32> = match &values {
        None => vec![NULL; rows].into(),
        Some(v) => match v.nulls() {
            None => v.values().iter().map(|&n| key(n)).collect(),
            Some(nulls) => v
                .values()
                .iter()
                .zip(nulls.iter())
                .map(|(&n, valid)| if valid { key(n) } else { NULL })
                .collect(),
        },
    };
    UInt32Array::new(keys, None)
}

/// `tcp_flags_names` of each 8-bit mask, 0 to 255, then NULL.
fn flag_lists() -> ListArray {
    let element = Field::new("element", DataType::Utf8, true);
    let mut b = ListBuilder::with_capacity(StringBuilder::new(), 257).with_field(element);
    for mask in 0..=255 {
        for name in tcp_flags::names(mask).into_iter().flatten() {
            b.values().append_value(name);
        }
        b.append(true);
    }
    b.append(false);
    b.finish()
}

/// `schema` (the lake's) with the enrichment string columns keyed, as [`Enricher::enrich`] builds
/// them: `Dictionary(UInt32, Utf8)`, which the lake's writer encodes a distinct value at a time.
pub fn keyed_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_enrichment_column(f.name()) && f.data_type() == &DataType::Utf8 {
                let keyed =
                    DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8));
                Arc::new(f.as_ref().clone().with_data_type(keyed))
            } else {
                f.clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
