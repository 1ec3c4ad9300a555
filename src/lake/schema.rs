//! The flow-log field catalogues and the lakes' Parquet schemas, one per [`RecordKind`].
//!
//! Every VPC flow log field AWS documents (versions 2 to 11, AWS's VPC User Guide, *Flow log records*, "Available fields") is one row of
//! [`CATALOGUE`]: the name as written in a file's header, the column name (AWS's hyphen → underscore rule),
//! the type AWS uses in its native Parquet delivery, and the version that introduced it. Every Transit
//! Gateway flow log field (AWS's Transit Gateway guide, "Transit Gateway Flow Logs records": version 6
//! records, 36 fields, no `action`) is one row of [`TGW_CATALOGUE`], in AWS's default-format order with
//! the types of AWS's Parquet delivery (`protocol` is INT64 there, INT32 for VPC flow logs). A lake holds
//! records of one kind; its schema is its kind's whole catalogue in AWS's order plus one
//! `unknown_fields` map column, so every file of a lake has the same schema whatever format its input
//! had: absent fields are NULL columns, which cost almost nothing in Parquet, and DuckDB can read
//! `**/*.parquet` without `union_by_name`.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

use crate::enrich::EnrichSet;

/// The Arrow/Parquet type of a catalogue field, with the value range accepted for integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INT32; values outside `0..=max` are rejected as out of range.
    Int32 { max: i64 },
    /// INT64; values outside `0..=i64::MAX` are rejected.
    Int64,
    /// UTF8 string.
    Utf8,
}

/// One VPC flow log field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Name as written in a file's header and in `${...}` format strings (`log-status`).
    pub header: &'static str,
    /// Column name in the lake (`log_status`).
    pub column: &'static str,
    /// Type in the lake.
    pub kind: Kind,
    /// Flow log version that introduced the field.
    pub version: u8,
    /// How the lake's writer encodes the column.
    pub encoding: ColumnEncoding,
    /// How hard ZSTD works on the column's pages (unless `--zstd-level` says).
    pub compression: ColumnCompression,
}

/// How a column's values are encoded in the lake's Parquet pages, chosen per column by measurement
/// (`benches/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnEncoding {
    /// A dictionary page, then the values as keys (falls back to plain when the dictionary grows
    /// past its page limit): few distinct values per row group, as most columns have.
    Dictionary,
    /// The values as they are: ports compress as well plain as with a dictionary and skip the
    /// dictionary's hashing.
    Plain,
    /// Deltas (`DELTA_BINARY_PACKED`): timestamps, near-sorted within a file, are smaller as deltas.
    Delta,
}

/// The ZSTD level of a column's pages, chosen per column by measurement (`benches/README.md`): ZSTD
/// level 3 makes the ports 3-4% and the source address 1% smaller than level 1, and every other
/// column less than 0.5%, at the cost of a sixth of a conversion's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnCompression {
    /// Level 3 (`DEFAULT_ZSTD_LEVEL` in `lake::write`).
    Thorough,
    /// Level 1 (`FAST_ZSTD_LEVEL`).
    Fast,
}

const fn field(header: &'static str, column: &'static str, kind: Kind, version: u8) -> FieldDef {
    FieldDef {
        header,
        column,
        kind,
        version,
        encoding: ColumnEncoding::Dictionary,
        compression: ColumnCompression::Fast,
    }
}

impl FieldDef {
    const fn encoded(mut self, encoding: ColumnEncoding) -> FieldDef {
        self.encoding = encoding;
        self
    }

    const fn thorough(mut self) -> FieldDef {
        self.compression = ColumnCompression::Thorough;
        self
    }
}

/// The catalogue index of `column`; a name that is not in the catalogue fails to compile where it is
/// used in a constant (see [`START`]).
pub const fn catalogue_index(column: &str) -> usize {
    let mut i = 0;
    while i < CATALOGUE.len() {
        if eq(CATALOGUE[i].column.as_bytes(), column.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a column of the flow log catalogue")
}

/// The catalogue entry of `column` (see [`catalogue_index`]).
pub const fn catalogue_field(column: &str) -> &'static FieldDef {
    &CATALOGUE[catalogue_index(column)]
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The field that holds a record's start time (partition time, late rows).
pub const START: &FieldDef = catalogue_field("start");
/// The catalogue index of [`START`].
pub const START_INDEX: usize = catalogue_index("start");
/// The catalogue index of `account-id` (filled from a CloudWatch Logs envelope's owner when a format
/// lacks it).
pub const ACCOUNT_ID: usize = catalogue_index("account_id");
/// The catalogue indexes of the fields the lake's filters read.
pub const ACTION: usize = catalogue_index("action");
pub const LOG_STATUS: usize = catalogue_index("log_status");

const I32: Kind = Kind::Int32 {
    max: i32::MAX as i64,
};
const PORT: Kind = Kind::Int32 { max: 65_535 };
const PROTOCOL: Kind = Kind::Int32 { max: 255 };
const I64: Kind = Kind::Int64;
/// Transit Gateway records' `protocol` is INT64 in AWS's Parquet; the values are IANA numbers all the same.
const TGW_PROTOCOL: Kind = Kind::Int64;
const STR: Kind = Kind::Utf8;

/// Every known VPC flow log field, in AWS's table order (the order of the lake's columns).
pub const CATALOGUE: &[FieldDef] = &[
    // version 2: the default format
    field("version", "version", I32, 2),
    field("account-id", "account_id", STR, 2),
    field("interface-id", "interface_id", STR, 2),
    field("srcaddr", "srcaddr", STR, 2).thorough(),
    field("dstaddr", "dstaddr", STR, 2),
    field("srcport", "srcport", PORT, 2)
        .encoded(ColumnEncoding::Plain)
        .thorough(),
    field("dstport", "dstport", PORT, 2)
        .encoded(ColumnEncoding::Plain)
        .thorough(),
    field("protocol", "protocol", PROTOCOL, 2),
    field("packets", "packets", I64, 2),
    field("bytes", "bytes", I64, 2),
    field("start", "start", I64, 2).encoded(ColumnEncoding::Delta),
    field("end", "end", I64, 2).encoded(ColumnEncoding::Delta),
    field("action", "action", STR, 2),
    field("log-status", "log_status", STR, 2),
    // version 3
    field("vpc-id", "vpc_id", STR, 3),
    field("subnet-id", "subnet_id", STR, 3),
    field("instance-id", "instance_id", STR, 3),
    field("tcp-flags", "tcp_flags", I32, 3),
    field("type", "type", STR, 3),
    field("pkt-srcaddr", "pkt_srcaddr", STR, 3),
    field("pkt-dstaddr", "pkt_dstaddr", STR, 3),
    // version 4
    field("region", "region", STR, 4),
    field("az-id", "az_id", STR, 4),
    field("sublocation-type", "sublocation_type", STR, 4),
    field("sublocation-id", "sublocation_id", STR, 4),
    // version 5
    field("pkt-src-aws-service", "pkt_src_aws_service", STR, 5),
    field("pkt-dst-aws-service", "pkt_dst_aws_service", STR, 5),
    field("flow-direction", "flow_direction", STR, 5),
    field("traffic-path", "traffic_path", I32, 5),
    // version 7: ECS
    field("ecs-cluster-arn", "ecs_cluster_arn", STR, 7),
    field("ecs-cluster-name", "ecs_cluster_name", STR, 7),
    field(
        "ecs-container-instance-arn",
        "ecs_container_instance_arn",
        STR,
        7,
    ),
    field(
        "ecs-container-instance-id",
        "ecs_container_instance_id",
        STR,
        7,
    ),
    field("ecs-container-id", "ecs_container_id", STR, 7),
    field("ecs-second-container-id", "ecs_second_container_id", STR, 7),
    field("ecs-service-name", "ecs_service_name", STR, 7),
    field("ecs-task-definition-arn", "ecs_task_definition_arn", STR, 7),
    field("ecs-task-arn", "ecs_task_arn", STR, 7),
    field("ecs-task-id", "ecs_task_id", STR, 7),
    // version 8
    field("reject-reason", "reject_reason", STR, 8),
    // versions 9 and 10
    field("resource-id", "resource_id", STR, 9),
    field("encryption-status", "encryption_status", I32, 10),
    // version 11 (June 2026): tags and next hop
    field("instance-tag", "instance_tag", STR, 11),
    field("instance-tag-2", "instance_tag_2", STR, 11),
    field("interface-tag", "interface_tag", STR, 11),
    field("interface-tag-2", "interface_tag_2", STR, 11),
    field("asg-tag", "asg_tag", STR, 11),
    field("asg-tag-2", "asg_tag_2", STR, 11),
    field("interface-type", "interface_type", STR, 11),
    field("next-hop-interface-id", "next_hop_interface_id", STR, 11),
    field("next-hop-subnet-id", "next_hop_subnet_id", STR, 11),
    field("next-hop-az-id", "next_hop_az_id", STR, 11),
    field("next-hop-vpc-id", "next_hop_vpc_id", STR, 11),
    field(
        "next-hop-interface-type",
        "next_hop_interface_type",
        STR,
        11,
    ),
];

/// Every Transit Gateway flow log field, in AWS's default-format order (the order of a TGW lake's
/// columns), with the types of AWS's Parquet delivery.
pub const TGW_CATALOGUE: &[FieldDef] = &[
    field("version", "version", I32, 2),
    field("resource-type", "resource_type", STR, 6),
    field("account-id", "account_id", STR, 2),
    field("tgw-id", "tgw_id", STR, 6),
    field("tgw-attachment-id", "tgw_attachment_id", STR, 6),
    field("tgw-src-vpc-account-id", "tgw_src_vpc_account_id", STR, 6),
    field("tgw-dst-vpc-account-id", "tgw_dst_vpc_account_id", STR, 6),
    field("tgw-src-vpc-id", "tgw_src_vpc_id", STR, 6),
    field("tgw-dst-vpc-id", "tgw_dst_vpc_id", STR, 6),
    field("tgw-src-subnet-id", "tgw_src_subnet_id", STR, 6),
    field("tgw-dst-subnet-id", "tgw_dst_subnet_id", STR, 6),
    field("tgw-src-eni", "tgw_src_eni", STR, 6),
    field("tgw-dst-eni", "tgw_dst_eni", STR, 6),
    field("tgw-src-az-id", "tgw_src_az_id", STR, 6),
    field("tgw-dst-az-id", "tgw_dst_az_id", STR, 6),
    field("tgw-pair-attachment-id", "tgw_pair_attachment_id", STR, 6),
    field("srcaddr", "srcaddr", STR, 2).thorough(),
    field("dstaddr", "dstaddr", STR, 2),
    field("srcport", "srcport", PORT, 2)
        .encoded(ColumnEncoding::Plain)
        .thorough(),
    field("dstport", "dstport", PORT, 2)
        .encoded(ColumnEncoding::Plain)
        .thorough(),
    field("protocol", "protocol", TGW_PROTOCOL, 2),
    field("packets", "packets", I64, 2),
    field("bytes", "bytes", I64, 2),
    field("start", "start", I64, 2).encoded(ColumnEncoding::Delta),
    field("end", "end", I64, 2).encoded(ColumnEncoding::Delta),
    field("log-status", "log_status", STR, 2),
    field("type", "type", STR, 3),
    field("packets-lost-no-route", "packets_lost_no_route", I64, 6),
    field("packets-lost-blackhole", "packets_lost_blackhole", I64, 6),
    field(
        "packets-lost-mtu-exceeded",
        "packets_lost_mtu_exceeded",
        I64,
        6,
    ),
    field(
        "packets-lost-ttl-expired",
        "packets_lost_ttl_expired",
        I64,
        6,
    ),
    field("tcp-flags", "tcp_flags", I32, 3),
    field("region", "region", STR, 4),
    field("flow-direction", "flow_direction", STR, 5),
    field("pkt-src-aws-service", "pkt_src_aws_service", STR, 5),
    field("pkt-dst-aws-service", "pkt_dst_aws_service", STR, 5),
];

/// The kind of records a flow log holds, and so the lake (catalogue, schema) they go to.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// VPC flow logs (network interfaces, subnets, VPCs): [`CATALOGUE`].
    #[default]
    Vpc,
    /// Transit Gateway flow logs: [`TGW_CATALOGUE`].
    TransitGateway,
}

impl RecordKind {
    /// Its fields, in the order of its lake's columns.
    pub const fn catalogue(self) -> &'static [FieldDef] {
        match self {
            RecordKind::Vpc => CATALOGUE,
            RecordKind::TransitGateway => TGW_CATALOGUE,
        }
    }

    /// The kind of a field list (a header's names): Transit Gateway when a name is a field only
    /// Transit Gateway records have (`resource-type`, `tgw-*`, `packets-lost-*`); else VPC. The field
    /// sets are distinct, so the header decides, never the path.
    pub fn of_names<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> RecordKind {
        let tgw_only = |name: &[u8]| {
            RecordKind::TransitGateway.lookup(name).is_some()
                && RecordKind::Vpc.lookup(name).is_none()
        };
        if names.into_iter().any(tgw_only) {
            RecordKind::TransitGateway
        } else {
            RecordKind::Vpc
        }
    }

    /// Index in [`catalogue`](Self::catalogue) of a header field name, if known.
    pub fn lookup(self, header_name: &[u8]) -> Option<usize> {
        self.catalogue()
            .iter()
            .position(|f| f.header.as_bytes() == header_name)
    }

    /// Index of a lake column (`interface_id`) or a field (`interface-id`), if known.
    pub fn column_index(self, name: &str) -> Option<usize> {
        self.catalogue()
            .iter()
            .position(|f| f.column == name || f.header == name)
    }

    /// Index of `start` (partition time, late rows).
    pub fn start_index(self) -> usize {
        match self {
            RecordKind::Vpc => START_INDEX,
            RecordKind::TransitGateway => TGW_START_INDEX,
        }
    }

    /// Index of `account-id` (filled from a CloudWatch Logs envelope's owner when a format lacks it).
    pub fn account_index(self) -> usize {
        match self {
            RecordKind::Vpc => ACCOUNT_ID,
            RecordKind::TransitGateway => TGW_ACCOUNT_ID,
        }
    }

    /// Index of `action`: Transit Gateway records have none.
    pub fn action_index(self) -> Option<usize> {
        match self {
            RecordKind::Vpc => Some(ACTION),
            RecordKind::TransitGateway => None,
        }
    }

    /// Index of `log-status`.
    pub fn log_status_index(self) -> usize {
        match self {
            RecordKind::Vpc => LOG_STATUS,
            RecordKind::TransitGateway => TGW_LOG_STATUS,
        }
    }

    /// Its lake's schema: every field of its catalogue (nullable, AWS's order and types) plus
    /// `unknown_fields`.
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: [OnceLock<SchemaRef>; 2] = [OnceLock::new(), OnceLock::new()];
        self.schema_of(&SCHEMAS, data_type)
    }

    /// The schema of the batches parsed from text ([`crate::text::batch`]): the lake's, with every
    /// string column keyed (`Dictionary(UInt32, Utf8)`: a key per row into the batch's distinct
    /// values), which the lake's string writer encodes a distinct value at a time.
    pub fn batch_schema(self) -> SchemaRef {
        static SCHEMAS: [OnceLock<SchemaRef>; 2] = [OnceLock::new(), OnceLock::new()];
        self.schema_of(&SCHEMAS, batch_data_type)
    }

    /// The catalogue's columns typed by `type_of`, then `unknown_fields`; built once per kind into
    /// `cells` (one per kind).
    fn schema_of(
        self,
        cells: &'static [OnceLock<SchemaRef>; 2],
        type_of: fn(Kind) -> DataType,
    ) -> SchemaRef {
        let cell = match self {
            RecordKind::Vpc => &cells[0],
            RecordKind::TransitGateway => &cells[1],
        };
        cell.get_or_init(|| {
            let mut fields: Vec<Field> = self
                .catalogue()
                .iter()
                .map(|f| Field::new(f.column, type_of(f.kind), true))
                .collect();
            fields.push(unknown_fields_field());
            Arc::new(Schema::new(fields))
        })
        .clone()
    }

    /// What a user calls it.
    pub fn describe(self) -> &'static str {
        match self {
            RecordKind::Vpc => "VPC flow log",
            RecordKind::TransitGateway => "Transit Gateway flow log",
        }
    }
}

/// The schema a lake's files follow: AWS's (the flow log fields as AWS's Parquet delivery names and
/// types them) or OCSF 1.1.0 Network Activity (`lake::ocsf`, Amazon Security Lake's custom-source
/// shape). A lake keeps the one it was first written with.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OutputSchema {
    /// AWS's flow log schema ([`table_schema`]).
    #[default]
    Aws,
    /// OCSF 1.1.0 Network Activity (class 4001), as Security Lake's VPC flow source writes it.
    Ocsf,
}

impl OutputSchema {
    /// The name flags and `lake.json` use.
    pub fn name(self) -> &'static str {
        match self {
            OutputSchema::Aws => "aws",
            OutputSchema::Ocsf => "ocsf",
        }
    }

    /// True for [`OutputSchema::Aws`] (the default, not written in `lake.json`).
    pub fn is_aws(&self) -> bool {
        *self == OutputSchema::Aws
    }
}

impl std::fmt::Display for OutputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Index in [`TGW_CATALOGUE`] of a column.
const fn tgw_index(column: &str) -> usize {
    let mut i = 0;
    while i < TGW_CATALOGUE.len() {
        if eq(TGW_CATALOGUE[i].column.as_bytes(), column.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a column of the Transit Gateway catalogue")
}

const TGW_START_INDEX: usize = tgw_index("start");
const TGW_ACCOUNT_ID: usize = tgw_index("account_id");
const TGW_LOG_STATUS: usize = tgw_index("log_status");

/// Name of the map column that keeps header fields the catalogue does not know (`name -> value`).
pub const UNKNOWN_FIELDS_COLUMN: &str = "unknown_fields";

/// The AWS default (version 2) format, as a header line.
pub const DEFAULT_FORMAT: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Index in [`CATALOGUE`] of a header field name, if known.
pub fn lookup(header_name: &[u8]) -> Option<usize> {
    CATALOGUE
        .iter()
        .position(|f| f.header.as_bytes() == header_name)
}

/// A flag's list of columns names one the lake does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: no column named {name:?}")]
pub struct UnknownColumn {
    /// The flag (`--sort-by`).
    pub flag: &'static str,
    pub name: String,
}

/// The catalogue indices of a flag's list of columns, in the order given: `none`, or names separated
/// by commas, each a lake column (`interface_id`) or a flow log field (`interface-id`). `flag` names
/// the flag in the error.
pub fn column_list(flag: &'static str, text: &str) -> Result<Vec<usize>, UnknownColumn> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(str::trim)
        .map(|name| {
            CATALOGUE
                .iter()
                .position(|f| f.column == name || f.header == name)
                .ok_or_else(|| UnknownColumn {
                    flag,
                    name: name.to_string(),
                })
        })
        .collect()
}

/// The Arrow type of a catalogue kind.
pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int32 { .. } => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Utf8 => DataType::Utf8,
    }
}

/// The Arrow type of a column of `kind` in a batch parsed from text ([`RecordKind::batch_schema`]).
pub fn batch_data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Utf8 => keyed_strings(),
        other => data_type(other),
    }
}

/// `Dictionary(UInt32, Utf8)`: strings as a key per row into a batch's distinct values.
pub fn keyed_strings() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8))
}

/// Fields of the `unknown_fields` map's entries (Parquet's `key_value { key, value }` convention).
pub fn unknown_fields_entries() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
    ])
}

/// The `unknown_fields` map field.
pub fn unknown_fields_field() -> Field {
    Field::new_map(
        UNKNOWN_FIELDS_COLUMN,
        "key_value",
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
        false,
        true,
    )
}

/// The schema of a lake of `kind` records enriched with `enrich`: the kind's own columns
/// ([`RecordKind::schema`]), then the enrichment columns in [`EnrichSet::fields`]'s order.
pub fn table_schema(kind: RecordKind, enrich: &EnrichSet) -> SchemaRef {
    if enrich.is_empty() {
        return kind.schema();
    }
    let own = kind.schema();
    let fields: Vec<Field> = own
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .chain(enrich.fields())
        .collect();
    Arc::new(Schema::new(fields))
}

/// The VPC lake's schema ([`RecordKind::schema`] of [`RecordKind::Vpc`]).
pub fn lake_schema() -> SchemaRef {
    RecordKind::Vpc.schema()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_follow_aws_hyphen_rule_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in CATALOGUE {
            assert_eq!(f.column, f.header.replace('-', "_"));
            assert!(seen.insert(f.column), "duplicate {}", f.column);
        }
        assert_eq!(CATALOGUE.len(), 54);
    }

    #[test]
    fn types_match_aws_parquet_delivery() {
        let schema = lake_schema();
        let ty = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
        for c in [
            "version",
            "srcport",
            "dstport",
            "protocol",
            "tcp_flags",
            "traffic_path",
        ] {
            assert_eq!(ty(c), DataType::Int32, "{c}");
        }
        for c in ["packets", "bytes", "start", "end"] {
            assert_eq!(ty(c), DataType::Int64, "{c}");
        }
        assert_eq!(ty("account_id"), DataType::Utf8);
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
        assert_eq!(schema.fields().len(), CATALOGUE.len() + 1);
        // The first 29 columns are AWS's Athena table order.
        let first: Vec<&str> = schema.fields()[..14]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(first.join(" "), DEFAULT_FORMAT.replace('-', "_"));
        assert_eq!(schema.field(28).name(), "traffic_path");
    }

    #[test]
    fn the_transit_gateway_catalogue_is_aws_default_format_with_aws_parquet_types() {
        // AWS's Transit Gateway guide: the default format, every field in this order.
        let default = "version resource-type account-id tgw-id tgw-attachment-id \
            tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id \
            tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id \
            tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
            log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded \
            packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service \
            pkt-dst-aws-service";
        let names: Vec<&str> = TGW_CATALOGUE.iter().map(|f| f.header).collect();
        assert_eq!(names.join(" "), default);
        let schema = RecordKind::TransitGateway.schema();
        let ty = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
        for c in ["version", "srcport", "dstport", "tcp_flags"] {
            assert_eq!(ty(c), DataType::Int32, "{c}");
        }
        for c in [
            "protocol",
            "packets",
            "bytes",
            "start",
            "end",
            "packets_lost_no_route",
            "packets_lost_blackhole",
            "packets_lost_mtu_exceeded",
            "packets_lost_ttl_expired",
        ] {
            assert_eq!(ty(c), DataType::Int64, "{c}");
        }
        for f in TGW_CATALOGUE {
            assert_eq!(f.column, f.header.replace('-', "_"));
            if !matches!(f.kind, Kind::Int32 { .. } | Kind::Int64) {
                assert_eq!(ty(f.column), DataType::Utf8, "{}", f.column);
            }
        }
        assert_eq!(schema.fields().len(), 37);
        assert_eq!(schema.field(36).name(), UNKNOWN_FIELDS_COLUMN);
        let tgw = RecordKind::TransitGateway;
        assert_eq!(TGW_CATALOGUE[tgw.start_index()].column, "start");
        assert_eq!(TGW_CATALOGUE[tgw.account_index()].column, "account_id");
        assert_eq!(TGW_CATALOGUE[tgw.log_status_index()].column, "log_status");
        assert_eq!(tgw.action_index(), None);
        assert_eq!(
            CATALOGUE[RecordKind::Vpc.action_index().unwrap()].column,
            "action"
        );
    }

    #[test]
    fn the_header_decides_the_kind() {
        let kind = |h: &str| RecordKind::of_names(h.split(' ').map(str::as_bytes));
        assert_eq!(kind(DEFAULT_FORMAT), RecordKind::Vpc);
        // OpenTelemetry's TGW test file: no resource-type, but tgw-* fields.
        assert_eq!(
            kind("version account-id tgw-id srcaddr dstaddr start end log-status"),
            RecordKind::TransitGateway
        );
        assert_eq!(kind("resource-type srcaddr"), RecordKind::TransitGateway);
        assert_eq!(
            kind("packets-lost-blackhole start"),
            RecordKind::TransitGateway
        );
        // Fields both kinds have, and fields neither has, are VPC's.
        assert_eq!(kind("version srcaddr dstaddr start end"), RecordKind::Vpc);
        assert_eq!(kind("version tgw-something-new"), RecordKind::Vpc);
    }

    #[test]
    fn lookup_by_header_and_column() {
        assert_eq!(lookup(b"log-status"), Some(13));
        assert_eq!(lookup(b"tgw-id"), None);
    }
}
