//! [`Enricher`]: a batch of the lake's own columns in, the same batch with the enrichment columns
//! appended out. Each distinct address of a batch (source and destination together) is looked up once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringArray,
    StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, SchemaRef};
use arrow::error::ArrowError;

use crate::enrich::address::public;
use crate::enrich::geoip::{AutonomousSystem, GeoDb};
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
    /// Addresses enriched (two per row) and lookups made (one per distinct public address of a batch).
    addresses: AtomicU64,
    lookups: AtomicU64,
}

/// What an address's lookups found.
#[derive(Debug, Default)]
struct Found<'a> {
    range: Option<&'a Range>,
    country: Option<String>,
    asn: AutonomousSystem,
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

    /// Looks up every distinct public address of the batch's `srcaddr` and `dstaddr` once.
    fn look_up(&self, batch: &RecordBatch) -> Result<Addresses<'_>, ArrowError> {
        let src = strings(batch, SRCADDR)?;
        let dst = strings(batch, DSTADDR)?;
        let rows = batch.num_rows();
        let mut seen = Seen {
            index: HashMap::default(),
            found: vec![Found::default()],
        };
        let rows_of = [
            self.index(src.as_ref(), rows, &mut seen),
            self.index(dst.as_ref(), rows, &mut seen),
        ];
        let lookups = seen.found.len() as u64 - 1;
        self.lookups.fetch_add(lookups, Ordering::Relaxed);
        self.addresses.fetch_add(2 * rows as u64, Ordering::Relaxed);
        Ok(Addresses {
            found: seen.found,
            rows_of,
        })
    }

    /// Each row's index into `seen.found`, looking up the addresses not seen before.
    fn index<'s, 'e>(
        &'e self,
        column: Option<&'s StringArray>,
        rows: usize,
        seen: &mut Seen<'s, 'e>,
    ) -> Vec<u32> {
        let Some(column) = column else {
            return vec![0; rows];
        };
        column
            .iter()
            .map(|value| {
                let Some(text) = value else { return 0 };
                if let Some(&i) = seen.index.get(text) {
                    return i;
                }
                let i = match text.parse::<IpAddr>().ok().and_then(public) {
                    None => 0,
                    Some(ip) => {
                        seen.found.push(self.find(ip));
                        (seen.found.len() - 1) as u32
                    }
                };
                seen.index.insert(text, i);
                i
            })
            .collect()
    }

    fn find(&self, ip: IpAddr) -> Found<'_> {
        let wants = |e| self.set.contains(e);
        Found {
            range: self
                .ip_ranges
                .as_ref()
                .filter(|_| wants(Enrichment::AwsService))
                .and_then(|r| r.lookup(ip)),
            country: self
                .country
                .as_ref()
                .filter(|_| wants(Enrichment::Country))
                .and_then(|d| d.country(ip)),
            asn: self
                .asn
                .as_ref()
                .filter(|_| wants(Enrichment::Asn))
                .map(|d| d.asn(ip))
                .unwrap_or_default(),
        }
    }
}

/// The distinct addresses of a batch so far: text -> index into `found`.
struct Seen<'s, 'e> {
    index: HashMap<&'s str, u32, ahash::RandomState>,
    found: Vec<Found<'e>>,
}

/// The lookups of a batch's addresses: `found[0]` is "nothing" (NULL, private, reserved, not an
/// address), `rows_of[0]` and `rows_of[1]` the index into `found` of each row's source and destination.
struct Addresses<'a> {
    found: Vec<Found<'a>>,
    rows_of: [Vec<u32>; 2],
}

impl Addresses<'_> {
    /// The columns of one address enrichment, as [`Enrichment::fields`] lists them.
    fn columns(&self, e: Enrichment) -> Vec<ArrayRef> {
        let text = |pick: &dyn for<'f> Fn(&'f Found<'f>) -> Option<&'f str>| -> Vec<ArrayRef> {
            self.rows_of
                .iter()
                .map(|rows| {
                    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 4);
                    for &i in rows {
                        b.append_option(pick(&self.found[i as usize]));
                    }
                    Arc::new(b.finish()) as ArrayRef
                })
                .collect()
        };
        match e {
            Enrichment::AwsService => {
                let mut c = text(&|f| f.range.map(|r| &*r.service));
                c.extend(text(&|f| f.range.map(|r| &*r.region)));
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
                            b.append_option(self.found[i as usize].asn.number.map(i64::from));
                        }
                        Arc::new(b.finish()) as ArrayRef
                    })
                    .collect();
                c.extend(text(&|f| f.asn.organization.as_deref()));
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
