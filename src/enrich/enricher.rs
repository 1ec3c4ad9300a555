//! [`Enricher`]: a batch of the lake's own columns in, the same batch with the enrichment columns
//! appended out. Each distinct address is looked up once per run (source and destination together; a
//! run-wide cache, shared by the workers, remembers the answers).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, SchemaRef};
use arrow::error::ArrowError;

use crate::enrich::address::public;
use crate::enrich::geoip::GeoDb;
use crate::enrich::ip_ranges::{IpRanges, Range};
use crate::enrich::{
    protocol, tcp_flags, DataVersion, EnrichSet, Enrichment, DSTADDR, PROTOCOL, SRCADDR, TCP_FLAGS,
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
    cache: Mutex<HashMap<Box<str>, Option<Arc<Found>>, ahash::RandomState>>,
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
            cache: Mutex::new(HashMap::default()),
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

    /// `batch` (the lake's own columns) with the enrichment columns appended: a batch of `schema`,
    /// whose first fields are `batch`'s. A column an enrichment reads that the batch lacks gives NULLs.
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
                    let values = integers(batch, PROTOCOL)?;
                    let names: StringArray = match &values {
                        Some(v) => v.iter().map(|n| n.and_then(protocol::name)).collect(),
                        None => StringArray::new_null(rows),
                    };
                    columns.push(Arc::new(names));
                }
                Enrichment::TcpFlags => columns.push(flag_names(integers(batch, TCP_FLAGS)?, rows)),
                Enrichment::AwsService | Enrichment::Country | Enrichment::Asn => {
                    if let Some(a) = &addresses {
                        columns.extend(a.columns(e));
                    }
                }
            }
        }
        RecordBatch::try_new(schema.clone(), columns)
    }

    fn needs_addresses(&self) -> bool {
        [Enrichment::AwsService, Enrichment::Country, Enrichment::Asn]
            .iter()
            .any(|e| self.set.contains(*e))
    }

    /// What each row's `srcaddr` and `dstaddr` are: each distinct text of the batch is looked up in
    /// the run's cache once; a text not there is parsed, and looked up when it is a public address.
    fn look_up(&self, batch: &RecordBatch) -> Result<Addresses, ArrowError> {
        let src = strings(batch, SRCADDR)?;
        let dst = strings(batch, DSTADDR)?;
        let rows = batch.num_rows();
        let mut seen = Seen {
            index: HashMap::default(),
            texts: Vec::new(),
        };
        let rows_of = [
            seen.index(src.as_ref(), rows),
            seen.index(dst.as_ref(), rows),
        ];
        // found[0] is "nothing"; found[i + 1] is what seen.texts[i] is.
        let mut found: Vec<Option<Arc<Found>>> = vec![None; seen.texts.len() + 1];
        let mut missing: Vec<usize> = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (i, text) in seen.texts.iter().enumerate() {
                match cache.get(*text) {
                    Some(f) => found[i + 1] = f.clone(),
                    None => missing.push(i),
                }
            }
        }
        let mut lookups = 0;
        let looked: Vec<(Box<str>, Option<Arc<Found>>)> = missing
            .iter()
            .map(|&i| {
                let text = seen.texts[i];
                let f = text.parse::<IpAddr>().ok().and_then(public).map(|ip| {
                    lookups += 1;
                    Arc::new(self.find(ip))
                });
                found[i + 1] = f.clone();
                (Box::from(text), f)
            })
            .collect();
        self.lookups.fetch_add(lookups, Ordering::Relaxed);
        self.addresses.fetch_add(2 * rows as u64, Ordering::Relaxed);
        if !looked.is_empty() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() + looked.len() > CACHE_ADDRESSES {
                cache.clear();
            }
            cache.extend(looked);
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

/// The distinct texts of a batch's address columns so far: text -> its index in `found` (one more
/// than its place in `texts`; 0 is NULL).
struct Seen<'s> {
    index: HashMap<&'s str, u32, ahash::RandomState>,
    texts: Vec<&'s str>,
}

impl<'s> Seen<'s> {
    /// Each row's index into the batch's `found`.
    fn index(&mut self, column: Option<&'s StringArray>, rows: usize) -> Vec<u32> {
        let Some(column) = column else {
            return vec![0; rows];
        };
        // Addresses repeat in runs (an interface's flows): the previous row's costs one comparison.
        let mut last: Option<(&str, u32)> = None;
        column
            .iter()
            .map(|value| {
                let Some(text) = value else { return 0 };
                if let Some((_, i)) = last.filter(|(t, _)| *t == text) {
                    return i;
                }
                let i = *self.index.entry(text).or_insert_with(|| {
                    self.texts.push(text);
                    self.texts.len() as u32
                });
                last = Some((text, i));
                i
            })
            .collect()
    }
}

/// The lookups of a batch's addresses: `found[0]` is "nothing" (NULL, private, reserved, not an
/// address), `rows_of[0]` and `rows_of[1]` the index into `found` of each row's source and destination.
struct Addresses {
    found: Vec<Option<Arc<Found>>>,
    rows_of: [Vec<u32>; 2],
}

impl Addresses {
    fn at(&self, i: u32) -> Option<&Found> {
        self.found[i as usize].as_deref()
    }

    /// The columns of one address enrichment, as [`Enrichment::fields`] lists them.
    fn columns(&self, e: Enrichment) -> Vec<ArrayRef> {
        let text = |pick: &dyn Fn(&Found) -> Option<&str>| -> Vec<ArrayRef> {
            // Each distinct address's value once, then each row's by its index.
            let values: Vec<Option<&str>> = (0..self.found.len() as u32)
                .map(|i| self.at(i).and_then(pick))
                .collect();
            self.rows_of
                .iter()
                .map(|rows| {
                    let bytes = rows
                        .iter()
                        .map(|&i| values[i as usize].map_or(0, str::len))
                        .sum();
                    let mut b = StringBuilder::with_capacity(rows.len(), bytes);
                    for &i in rows {
                        b.append_option(values[i as usize]);
                    }
                    Arc::new(b.finish()) as ArrayRef
                })
                .collect()
        };
        match e {
            Enrichment::AwsService => {
                let mut c = text(&|f| f.range.as_ref().map(|r| &*r.service));
                c.extend(text(&|f| f.range.as_ref().map(|r| &*r.region)));
                c
            }
            Enrichment::Country => text(&|f| f.country.as_deref()),
            Enrichment::Asn => {
                let mut c: Vec<ArrayRef> = self
                    .rows_of
                    .iter()
                    .map(|rows| {
                        let mut b = Int64Builder::with_capacity(rows.len());
                        for &i in rows {
                            b.append_option(self.at(i).and_then(|f| f.asn).map(i64::from));
                        }
                        Arc::new(b.finish()) as ArrayRef
                    })
                    .collect();
                c.extend(text(&|f| f.as_org.as_deref()));
                c
            }
            Enrichment::Protocol | Enrichment::TcpFlags => Vec::new(),
        }
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

/// The string column `name`, `None` when the batch has no such column.
fn strings(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>, ArrowError> {
    let Some(column) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let text = cast(column, &DataType::Utf8)?;
    Ok(Some(text.as_string::<i32>().clone()))
}

/// `tcp_flags_names` of the `tcp-flags` values: NULL for NULL or a value that is no 8-bit mask.
fn flag_names(values: Option<Int64Array>, rows: usize) -> ArrayRef {
    let element = Field::new("element", DataType::Utf8, true);
    let mut b = ListBuilder::with_capacity(StringBuilder::new(), rows).with_field(element);
    for i in 0..rows {
        let mask = values
            .as_ref()
            .and_then(|v| v.is_valid(i).then(|| v.value(i)));
        match mask.and_then(tcp_flags::names) {
            Some(names) => {
                for name in names {
                    b.values().append_value(name);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}
