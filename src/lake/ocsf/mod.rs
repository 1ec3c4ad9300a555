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
/// Largest uncompressed data or dictionary page Security Lake accepts (1 MB), less a margin: arrow-rs
/// checks a page's size after each batch of values it writes.
pub const MAX_PAGE_BYTES: usize = 1_000_000 - 64 * 1024;
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
/// will have ([`mapping::time_of`]).
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

/// `batch`, rows of AWS's VPC flow log schema, with [`TIME_KEY_COLUMN`] added.
pub fn with_time_key(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(mapping::time_of(batch)?));
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
    for leaf in settings.bloom_filter.columns().flat_map(leaves_of) {
        let path = ColumnPath::new(leaf.split('.').map(String::from).collect());
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
            .set_column_bloom_filter_max_ndv(path, settings.row_group_rows as u64);
    }
    Ok(builder.build())
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
