//! OCSF output (`--schema ocsf`): the schema of an OCSF lake, OCSF 1.1.0 Network Activity (class
//! 4001) as Amazon Security Lake's own VPC flow source declares it, and the class's constants.
//!
//! [`mapping`] turns rows of AWS's schema into rows of this one, as AWS maps its native VPC flow
//! source (and the OCSF project's "AWS VPC Flowlogs" mapping): see `../README.md`, "OCSF output", for
//! the field-by-field table. An OCSF lake is Security Lake's custom-source location
//! (`ext/<source>/`): partitions `region=/accountId=/eventDay=YYYYMMDD` (`PartitionLayout::SecurityLake`),
//! ZSTD pages of at most [`MAX_PAGE_BYTES`] uncompressed, row groups of at most [`MAX_ROW_GROUP_BYTES`],
//! each partition's rows sorted by `time`.

pub mod mapping;

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::lake::schema::RecordKind;
use crate::lake::write::{WriteSettings, BLOOM_FILTER_FPP, DEFAULT_ZSTD_LEVEL};

/// The OCSF schema version written in `metadata.version`.
pub const OCSF_VERSION: &str = "1.1.0";
/// Network Activity.
pub const CLASS_UID: i32 = 4001;
pub const CLASS_NAME: &str = "Network Activity";
/// Network Activity's category.
pub const CATEGORY_UID: i32 = 4;
pub const CATEGORY_NAME: &str = "Network Activity";
/// The page size arrow-rs is asked for: the largest uncompressed data or dictionary page Security
/// Lake accepts (1 MB) less a margin, since arrow-rs checks a page's size only after each batch of
/// [`WRITE_BATCH_VALUES`] values (a page ends at most that many values past it: under 1 MB for values
/// up to 780 bytes, while flow log values are ids, addresses and tags of at most a few hundred bytes;
/// `unmapped`'s values, of any length, are plain-encoded, whose pages arrow-rs cuts by their bytes).
pub const MAX_PAGE_BYTES: usize = 900_000;
/// Values arrow-rs writes between two checks of a page's size.
pub const WRITE_BATCH_VALUES: usize = 128;
/// Largest row group Security Lake accepts (256 MB): the writer closes a row group before its
/// uncompressed size can pass this.
pub const MAX_ROW_GROUP_BYTES: u64 = 256 * 1000 * 1000;
/// The column the files are sorted by (Security Lake: "records sorted by time within a file").
pub const TIME_COLUMN: &str = "time";

fn string(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}

fn long(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn strings(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
        true,
    )
}

fn object(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

fn timestamp(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        true,
    )
}

/// The fields of `src_endpoint` and `dst_endpoint` (OCSF `network_endpoint`).
pub fn endpoint_fields() -> Fields {
    Fields::from(vec![
        int("port"),
        string("svc_name"),
        string("ip"),
        strings("intermediate_ips"),
        string("interface_uid"),
        string("vpc_uid"),
        string("instance_uid"),
        string("subnet_uid"),
    ])
}

/// The fields of `connection_info` (OCSF `network_connection_info`).
pub fn connection_fields() -> Fields {
    Fields::from(vec![
        int("protocol_num"),
        int("tcp_flags"),
        string("protocol_ver"),
        int("boundary_id"),
        string("boundary"),
        int("direction_id"),
        string("direction"),
    ])
}

/// The fields of `metadata`.
pub fn metadata_fields() -> Fields {
    Fields::from(vec![
        object(
            "product",
            vec![
                string("version"),
                string("name"),
                object("feature", vec![string("name")]),
                string("vendor_name"),
            ],
        ),
        strings("profiles"),
        string("version"),
    ])
}

/// The fields of `cloud`.
pub fn cloud_fields() -> Fields {
    Fields::from(vec![
        object("account", vec![string("uid")]),
        string("region"),
        string("zone"),
        string("provider"),
    ])
}

/// The fields of `traffic` (OCSF `network_traffic`).
pub fn traffic_fields() -> Fields {
    Fields::from(vec![long("packets"), long("bytes")])
}

/// The fields of an element of `observables`.
pub fn observable_fields() -> Fields {
    Fields::from(vec![
        string("name"),
        string("value"),
        string("type"),
        int("type_id"),
    ])
}

/// The schema of an OCSF lake's files: OCSF 1.1.0 Network Activity with the attributes a VPC flow log
/// fills, in the order and with the types of Security Lake's VPC flow source 2.0 table
/// (`amazon_security_lake_table_<region>_vpc_flow_2_0`), then `start_time` and `end_time` (epoch
/// milliseconds, attributes of the class that table leaves out).
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let structure =
                |name: &str, fields: Fields| Field::new(name, DataType::Struct(fields), true);
            Arc::new(Schema::new(vec![
                structure("metadata", metadata_fields()),
                structure("cloud", cloud_fields()),
                structure("src_endpoint", endpoint_fields()),
                structure("dst_endpoint", endpoint_fields()),
                structure("connection_info", connection_fields()),
                structure("traffic", traffic_fields()),
                long("time"),
                timestamp("time_dt"),
                timestamp("start_time_dt"),
                timestamp("end_time_dt"),
                string("status_code"),
                int("severity_id"),
                string("severity"),
                string("class_name"),
                int("class_uid"),
                string("category_name"),
                int("category_uid"),
                string("activity_name"),
                int("activity_id"),
                string("action"),
                int("action_id"),
                string("disposition"),
                long("type_uid"),
                string("type_name"),
                Field::new_map(
                    "unmapped",
                    "key_value",
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Utf8, true),
                    false,
                    true,
                ),
                Field::new(
                    "observables",
                    DataType::List(Arc::new(Field::new(
                        "element",
                        DataType::Struct(observable_fields()),
                        true,
                    ))),
                    true,
                ),
                long("start_time"),
                long("end_time"),
            ]))
        })
        .clone()
}

/// The column a conversion sorts rows of AWS's schema by before they are mapped: the `time` each
/// will have ([`mapping::Mapping::time_of`]).
pub const TIME_KEY_COLUMN: &str = "__flowlake_time";

/// AWS's VPC flow log schema with [`TIME_KEY_COLUMN`] last: the rows an OCSF conversion sorts.
pub fn keyed_input_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let vpc = RecordKind::Vpc.schema();
            let mut fields: Vec<Field> = vpc.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(long(TIME_KEY_COLUMN));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// The position of [`TIME_KEY_COLUMN`] in [`keyed_input_schema`].
pub fn keyed_time_index() -> usize {
    keyed_input_schema().fields().len() - 1
}

/// `batch`, rows of AWS's VPC flow log schema, with [`TIME_KEY_COLUMN`] added: the time `mapping`
/// gives them.
pub fn with_time_key(batch: &RecordBatch, mapping: &mapping::Mapping) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(mapping.time_of(batch)?));
    Ok(RecordBatch::try_new(keyed_input_schema(), columns)?)
}

/// The position of [`TIME_COLUMN`] among the schema's fields.
pub fn time_index() -> usize {
    schema()
        .index_of(TIME_COLUMN)
        .expect("the OCSF schema has a time column")
}

/// The Parquet leaf index of [`TIME_COLUMN`] (the leaves of the struct columns before it come first).
pub fn time_leaf() -> usize {
    fn leaves(data_type: &DataType) -> usize {
        match data_type {
            DataType::Struct(fields) => fields.iter().map(|f| leaves(f.data_type())).sum(),
            DataType::Map(entries, _) => leaves(entries.data_type()),
            DataType::List(item) => leaves(item.data_type()),
            _ => 1,
        }
    }
    schema().fields()[..time_index()]
        .iter()
        .map(|f| leaves(f.data_type()))
        .sum()
}

/// Where the value of a flow log field lands in an OCSF file (the Parquet column paths), for the
/// flow log columns `--bloom-filter` names.
fn leaves_of(column: &str) -> &'static [&'static str] {
    match column {
        "srcaddr" | "pkt_srcaddr" => &["src_endpoint.ip"],
        "dstaddr" | "pkt_dstaddr" => &["dst_endpoint.ip"],
        "interface_id" => &["src_endpoint.interface_uid", "dst_endpoint.interface_uid"],
        "vpc_id" => &["src_endpoint.vpc_uid", "dst_endpoint.vpc_uid"],
        "subnet_id" => &["src_endpoint.subnet_uid", "dst_endpoint.subnet_uid"],
        "instance_id" => &["src_endpoint.instance_uid", "dst_endpoint.instance_uid"],
        "account_id" => &["cloud.account.uid"],
        _ => &[],
    }
}

/// Parquet writer properties of an OCSF lake's files: ZSTD (level 3 unless `--zstd-level`),
/// dictionaries, page statistics and index, pages under [`MAX_PAGE_BYTES`], the times as deltas,
/// `sorting_columns` declaring the order by `time`, and Bloom filters on the columns that hold the
/// fields `--bloom-filter` names (the addresses by default).
pub fn writer_properties(settings: &WriteSettings) -> Result<WriterProperties> {
    let level = settings.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL);
    let zstd = ZstdLevel::try_new(level)
        .map(Compression::ZSTD)
        .map_err(|e| Error::Config(format!("--zstd-level {level}: {e}")))?;
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(zstd)
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(settings.row_group_rows))
        .set_data_page_size_limit(MAX_PAGE_BYTES)
        .set_dictionary_page_size_limit(MAX_PAGE_BYTES)
        .set_write_batch_size(WRITE_BATCH_VALUES)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_leaf() as i32,
            descending: false,
            nulls_first: true,
        }]))
        .set_created_by(concat!("flowlake version ", env!("CARGO_PKG_VERSION")).to_string());
    for column in [
        "time",
        "start_time",
        "end_time",
        "time_dt",
        "start_time_dt",
        "end_time_dt",
    ] {
        let path = ColumnPath::from(column);
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    // The values of `unmapped` are of any length (unknown fields, tags, ARNs) and mostly distinct:
    // PLAIN, whose pages arrow-rs cuts by their bytes (a dictionary page is checked only between
    // batches of values, and could pass Security Lake's limit by a batch of long values).
    // Pages of a quarter of the limit: arrow-rs cuts plain pages a few values past it (measured:
    // about 150 KB past with 20 KB values).
    let unmapped = ColumnPath::new(vec!["unmapped".into(), "key_value".into(), "value".into()]);
    builder = builder
        .set_column_dictionary_enabled(unmapped.clone(), false)
        .set_column_data_page_size_limit(unmapped, MAX_PAGE_BYTES / 4);
    for leaf in settings.bloom_filter.columns().flat_map(leaves_of) {
        let path = ColumnPath::new(leaf.split('.').map(String::from).collect());
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
            .set_column_bloom_filter_max_ndv(path, settings.row_group_rows as u64);
    }
    Ok(builder.build())
}

/// An upper estimate of each row's uncompressed size in a Parquet file: every leaf value as PLAIN
/// encoding writes it (a string 4 bytes and its length, a number its width) and two bytes of levels;
/// a dictionary-encoded column takes less. The writer closes a row group before this sum passes
/// [`MAX_ROW_GROUP_BYTES`].
pub fn row_sizes(batch: &RecordBatch) -> Vec<u64> {
    let mut sizes = vec![0u64; batch.num_rows()];
    let rows: Vec<usize> = (0..batch.num_rows()).collect();
    for column in batch.columns() {
        add_sizes(column.as_ref(), &rows, &mut sizes);
    }
    sizes
}

/// Adds the sizes of `array`'s values to `sizes`, element `i` of `array` belonging to row `rows[i]`.
fn add_sizes(array: &dyn Array, rows: &[usize], sizes: &mut [u64]) {
    const LEVELS: u64 = 2;
    let nested = |offsets: &[i32], child: &dyn Array, sizes: &mut [u64]| {
        let mut child_rows = vec![0usize; child.len()];
        for (i, w) in offsets.windows(2).enumerate() {
            let (a, b) = (
                w[0].max(0) as usize,
                (w[1].max(0) as usize).min(child.len()),
            );
            for r in child_rows.iter_mut().take(b).skip(a) {
                *r = rows[i];
            }
            sizes[rows[i]] += LEVELS;
        }
        let start = offsets.first().map_or(0, |&o| o.max(0) as usize);
        let end = offsets
            .last()
            .map_or(0, |&o| (o.max(0) as usize).min(child.len()));
        if start < end {
            add_sizes(
                &child.slice(start, end - start),
                &child_rows[start..end],
                sizes,
            );
        }
    };
    match array.data_type() {
        DataType::Struct(_) => {
            for child in array.as_struct().columns() {
                add_sizes(child.as_ref(), rows, sizes);
            }
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            nested(list.value_offsets(), list.values().as_ref(), sizes);
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            nested(map.value_offsets(), map.entries(), sizes);
        }
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            for (i, &row) in rows.iter().enumerate() {
                sizes[row] += LEVELS
                    + if strings.is_valid(i) {
                        4 + strings.value_length(i) as u64
                    } else {
                        0
                    };
            }
        }
        other => {
            let width = other.primitive_width().unwrap_or(8) as u64;
            for (i, &row) in rows.iter().enumerate() {
                sizes[row] += LEVELS + if array.is_valid(i) { width } else { 0 };
            }
        }
    }
}

/// True when `schema` is an OCSF lake's.
pub fn is_ocsf(schema: &Schema) -> bool {
    *schema == *self::schema()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_found_by_position_and_leaf() {
        let schema = schema();
        assert_eq!(schema.field(time_index()).name(), "time");
        // metadata 6 leaves, cloud 4, two endpoints 8 each, connection_info 7, traffic 2.
        assert_eq!(time_leaf(), 6 + 4 + 8 + 8 + 7 + 2);
    }
}
