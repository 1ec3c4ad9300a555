//! The mapping of VPC flow log rows (AWS's schema) onto OCSF 1.1.0 Network Activity rows
//! ([`super::schema`]), as AWS maps its native VPC flow source into Security Lake.
//!
//! Every field of every version has a home: the fields OCSF models go to their attributes, the
//! others (`sublocation-*`, `ecs-*`, `reject-reason`, the version 9-11 fields, fields no version
//! documents) to `unmapped`, a map of strings keyed by AWS's column name. `srcaddr`/`dstaddr` stay
//! recoverable: they are the endpoint's `ip`, or its `intermediate_ips` when the packet's own
//! address (`pkt-srcaddr`/`pkt-dstaddr`) differs.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, ListArray, MapArray, StringArray,
    StructArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Fields, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;

use super::{
    cloud_fields, connection_fields, endpoint_fields, metadata_fields, observable_fields, schema,
    traffic_fields, CATEGORY_NAME, CATEGORY_UID, CLASS_NAME, CLASS_UID, OCSF_VERSION,
};
use crate::error::{Error, Result};
use crate::lake::schema::{catalogue_index, Kind, CATALOGUE, UNKNOWN_FIELDS_COLUMN};

/// `metadata.product` of every record.
pub const PRODUCT_NAME: &str = "Amazon VPC";
pub const VENDOR_NAME: &str = "AWS";
pub const FEATURE_NAME: &str = "Flowlogs";
/// `metadata.profiles`: the profiles whose attributes the records use.
pub const PROFILES: [&str; 3] = ["cloud", "security_control", "datetime"];
/// `cloud.provider`.
pub const PROVIDER: &str = "AWS";
/// `severity_id` and `severity` of every record.
pub const SEVERITY_ID: i32 = 1;
pub const SEVERITY: &str = "Informational";

/// The catalogue columns the mapping gives an OCSF attribute; every other field goes to `unmapped`.
pub const MAPPED: [&str; 27] = [
    "version",
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log_status",
    "vpc_id",
    "subnet_id",
    "instance_id",
    "tcp_flags",
    "type",
    "pkt_srcaddr",
    "pkt_dstaddr",
    "region",
    "az_id",
    "pkt_src_aws_service",
    "pkt_dst_aws_service",
    "flow_direction",
    "traffic_path",
];

/// What a record's `action` makes of its activity, action and disposition (AWS's mapping writes no
/// `disposition_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub activity_id: i32,
    pub activity_name: &'static str,
    pub action_id: i32,
    pub action: &'static str,
    pub disposition: &'static str,
}

impl Outcome {
    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub fn type_uid(self) -> i64 {
        i64::from(CLASS_UID) * 100 + i64::from(self.activity_id)
    }

    /// `type_name`: the class's name and the activity's.
    pub fn type_name(self) -> &'static str {
        match self.activity_id {
            5 => "Network Activity: Refuse",
            6 => "Network Activity: Traffic",
            99 => "Network Activity: Other",
            _ => "Network Activity: Unknown",
        }
    }
}

/// ACCEPT: traffic, allowed.
pub const ACCEPTED: Outcome = Outcome {
    activity_id: 6,
    activity_name: "Traffic",
    action_id: 1,
    action: "Allowed",
    disposition: "Allowed",
};
/// REJECT: a connection refused, denied and blocked.
pub const REJECTED: Outcome = Outcome {
    activity_id: 5,
    activity_name: "Refuse",
    action_id: 2,
    action: "Denied",
    disposition: "Blocked",
};
/// No action (NODATA and SKIPDATA records, whose action is `-`): the schema's default, unknown.
pub const NO_ACTION: Outcome = Outcome {
    activity_id: 0,
    activity_name: "Unknown",
    action_id: 0,
    action: "Unknown",
    disposition: "Unknown",
};
/// An action that is neither ACCEPT nor REJECT (none is documented): other, the action itself kept
/// in `unmapped`.
pub const OTHER_ACTION: Outcome = Outcome {
    activity_id: 99,
    activity_name: "Other",
    action_id: 99,
    action: "Other",
    disposition: "Other",
};

/// The outcome of a record's `action`.
pub fn outcome(action: Option<&str>) -> Outcome {
    match action {
        Some("ACCEPT") => ACCEPTED,
        Some("REJECT") => REJECTED,
        None => NO_ACTION,
        Some(_) => OTHER_ACTION,
    }
}

/// `connection_info.direction_id` and `direction` of a `flow-direction` (unknown for records
/// without one).
pub fn direction(flow_direction: Option<&str>) -> (i32, &'static str) {
    match flow_direction {
        Some("ingress") => (1, "Inbound"),
        Some("egress") => (2, "Outbound"),
        Some(_) => (99, "Other"),
        None => (0, "Unknown"),
    }
}

/// `connection_info.boundary_id` and `boundary` of a `traffic-path`: AWS's codes 1-8 are OCSF's
/// boundaries 4-11 (unknown for records without one).
pub fn boundary(traffic_path: Option<i32>) -> (i32, &'static str) {
    match traffic_path {
        None => (0, "Unknown"),
        Some(1) => (4, "Same VPC"),
        Some(2) => (5, "Internet/VPC Gateway"),
        Some(3) => (6, "Virtual Private Gateway"),
        Some(4) => (7, "Intra-region VPC"),
        Some(5) => (8, "Inter-region VPC"),
        Some(6) => (9, "Local Gateway"),
        Some(7) => (10, "Gateway VPC"),
        Some(8) => (11, "Internet Gateway"),
        Some(_) => (99, "Other"),
    }
}

/// Maps flow log rows onto OCSF rows. The account and region of the rows' partition fill
/// `cloud.account.uid` and `cloud.region` where a record's format has no `account-id` or `region`
/// (the default format has no region).
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub account: Option<String>,
    pub region: Option<String>,
    /// The first millisecond of the rows' partition day (UTC): the `time` of a record with neither
    /// start nor end (OCSF requires one).
    pub day_start_ms: Option<i64>,
}

/// A catalogue column of a batch, by name.
struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn array(&self, name: &str) -> Result<&'a ArrayRef> {
        let i = catalogue_index(name);
        let schema = self.batch.schema_ref();
        match schema.fields().get(i) {
            Some(f) if f.name() == name => Ok(self.batch.column(i)),
            _ => Err(not_flow_log(format!("no column {name} at position {i}"))),
        }
    }

    fn text(&self, name: &str) -> Result<&'a StringArray> {
        self.array(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| not_flow_log(format!("column {name} is not a string column")))
    }

    fn int(&self, name: &str) -> Result<&'a Int32Array> {
        self.array(name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| not_flow_log(format!("column {name} is not an INT32 column")))
    }

    fn long(&self, name: &str) -> Result<&'a Int64Array> {
        self.array(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| not_flow_log(format!("column {name} is not an INT64 column")))
    }
}

fn not_flow_log(message: String) -> Error {
    Error::Config(format!(
        "OCSF mapping: the rows are not of AWS's VPC flow log schema: {message}"
    ))
}

fn get(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

fn get_int(a: &Int32Array, i: usize) -> Option<i32> {
    a.is_valid(i).then(|| a.value(i))
}

fn get_long(a: &Int64Array, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

fn repeat(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
}

fn repeat_int(value: i32, n: usize) -> ArrayRef {
    Arc::new(Int32Array::from_value(value, n))
}

fn structure(fields: Fields, children: Vec<ArrayRef>) -> Result<ArrayRef> {
    Ok(Arc::new(StructArray::try_new(fields, children, None)?))
}

/// Lists of at most one string per row (`intermediate_ips`): NULL where `values` has none.
fn one_or_none(values: &[Option<&str>], item: &DataType) -> Result<ArrayRef> {
    let DataType::List(field) = item else {
        return Err(not_flow_log("intermediate_ips is not a list".into()));
    };
    let nulls = NullBuffer::from_iter(values.iter().map(Option::is_some));
    let offsets = OffsetBuffer::from_lengths(values.iter().map(|v| usize::from(v.is_some())));
    let items = StringArray::from_iter_values(values.iter().flatten());
    Ok(Arc::new(ListArray::try_new(
        field.clone(),
        offsets,
        Arc::new(items),
        Some(nulls),
    )?))
}

/// The children of the struct field at `index` of `fields`.
fn struct_fields(fields: &Fields, index: usize) -> Result<Fields> {
    match fields.get(index).map(|f| f.data_type()) {
        Some(DataType::Struct(children)) => Ok(children.clone()),
        _ => Err(not_flow_log(format!(
            "OCSF schema: field {index} is not a struct"
        ))),
    }
}

/// The item field of the list field at `index` of `fields`.
fn list_item(fields: &Fields, index: usize) -> Result<arrow::datatypes::FieldRef> {
    match fields.get(index).map(|f| f.data_type()) {
        Some(DataType::List(item)) => Ok(item.clone()),
        _ => Err(not_flow_log(format!(
            "OCSF schema: field {index} is not a list"
        ))),
    }
}

/// One side's endpoint (`src_endpoint` or `dst_endpoint`), column by column.
struct Endpoint<'a> {
    side: &'static str,
    port: ArrayRef,
    svc_name: ArrayRef,
    ip: StringArray,
    /// The interface's address where the packet's differs from it.
    intermediate: Vec<Option<&'a str>>,
    /// interface, VPC, instance and subnet ids, where this endpoint is the interface.
    ids: [StringArray; 4],
}

impl<'a> Endpoint<'a> {
    /// Side `side` (`src` or `dst`) of the rows; `here` says whether the side is the interface of
    /// ingress (true: the destination) or of other traffic; rows with `no_address` name the
    /// interface on both sides.
    fn of(
        c: &Columns<'a>,
        side: &'static str,
        ingress: &[bool],
        no_address: &[bool],
        here: bool,
    ) -> Result<Self> {
        let n = ingress.len();
        let addr = c.text(&format!("{side}addr"))?;
        let pkt = c.text(&format!("pkt_{side}addr"))?;
        let ip: StringArray = (0..n).map(|i| get(pkt, i).or(get(addr, i))).collect();
        let intermediate = (0..n)
            .map(|i| match (get(pkt, i), get(addr, i)) {
                (Some(p), Some(a)) if p != a => Some(a),
                _ => None,
            })
            .collect();
        let id = |name: &str| -> Result<StringArray> {
            let a = c.text(name)?;
            Ok((0..n)
                .map(|i| {
                    (ingress[i] == here || no_address[i])
                        .then(|| get(a, i))
                        .flatten()
                })
                .collect())
        };
        Ok(Endpoint {
            side: if side == "src" {
                "src_endpoint"
            } else {
                "dst_endpoint"
            },
            port: c.array(&format!("{side}port"))?.clone(),
            svc_name: c.array(&format!("pkt_{side}_aws_service"))?.clone(),
            ip,
            intermediate,
            ids: [
                id("interface_id")?,
                id("vpc_id")?,
                id("instance_id")?,
                id("subnet_id")?,
            ],
        })
    }

    fn array(&self) -> Result<ArrayRef> {
        let fields = endpoint_fields();
        let [interface, vpc, instance, subnet] = self.ids.clone();
        structure(
            fields.clone(),
            vec![
                self.port.clone(),
                self.svc_name.clone(),
                Arc::new(self.ip.clone()),
                one_or_none(&self.intermediate, fields[3].data_type())?,
                Arc::new(interface),
                Arc::new(vpc),
                Arc::new(instance),
                Arc::new(subnet),
            ],
        )
    }
}

/// `observables`: every address of the endpoints (type 2, "IP Address") and every instance id
/// (type 10, "Resource UID"), named by their attribute, source first.
fn observables(endpoints: &[&Endpoint<'_>], n: usize) -> Result<ArrayRef> {
    let mut names: Vec<String> = Vec::new();
    let mut values: Vec<&str> = Vec::new();
    let mut kinds: Vec<(&str, i32)> = Vec::new();
    let mut lengths = Vec::with_capacity(n);
    for i in 0..n {
        let before = names.len();
        for e in endpoints {
            let instance = &e.ids[2];
            for (attribute, value, kind) in [
                ("ip", get(&e.ip, i), ("IP Address", 2)),
                ("intermediate_ips", e.intermediate[i], ("IP Address", 2)),
                ("instance_uid", get(instance, i), ("Resource UID", 10)),
            ] {
                if let Some(value) = value {
                    names.push(format!("{}.{attribute}", e.side));
                    values.push(value);
                    kinds.push(kind);
                }
            }
        }
        lengths.push(names.len() - before);
    }
    let element = Arc::new(arrow::datatypes::Field::new(
        "element",
        DataType::Struct(observable_fields()),
        true,
    ));
    let items = StructArray::try_new(
        observable_fields(),
        vec![
            Arc::new(StringArray::from_iter_values(names)),
            Arc::new(StringArray::from_iter_values(values)),
            Arc::new(StringArray::from_iter_values(kinds.iter().map(|k| k.0))),
            Arc::new(Int32Array::from_iter_values(kinds.iter().map(|k| k.1))),
        ],
        None,
    )?;
    Ok(Arc::new(ListArray::try_new(
        element,
        OffsetBuffer::from_lengths(lengths),
        Arc::new(items),
        None,
    )?))
}

/// Seconds to milliseconds; `None` past what an INT64 of milliseconds holds.
fn millis(secs: Option<i64>) -> Option<i64> {
    secs.and_then(|s| s.checked_mul(1000))
}

impl Mapping {
    /// The mapping of the rows of a partition with `account` and `region` keys.
    pub fn new(account: Option<String>, region: Option<String>) -> Mapping {
        Mapping {
            account,
            region,
            day_start_ms: None,
        }
    }

    /// The same mapping with `day_start_ms` as the time of records with neither start nor end.
    pub fn in_day(mut self, day_start_ms: i64) -> Mapping {
        self.day_start_ms = Some(day_start_ms);
        self
    }

    /// The `time` the rows of `batch` (AWS's VPC flow log schema) have once mapped.
    pub fn time_of(&self, batch: &RecordBatch) -> Result<Int64Array> {
        let c = Columns { batch };
        let (start, end) = (c.long("start")?, c.long("end")?);
        let n = batch.num_rows();
        let start_ms: Int64Array = (0..n).map(|i| millis(get_long(start, i))).collect();
        let end_ms: Int64Array = (0..n).map(|i| millis(get_long(end, i))).collect();
        Ok(self.times(&start_ms, &end_ms))
    }

    /// `time` of each row: its start, or its end for a row without a start, or the partition day's
    /// first millisecond for a row with neither (milliseconds).
    fn times(&self, start_ms: &Int64Array, end_ms: &Int64Array) -> Int64Array {
        (0..start_ms.len())
            .map(|i| {
                get_long(start_ms, i)
                    .or(get_long(end_ms, i))
                    .or(self.day_start_ms)
            })
            .collect()
    }

    /// The OCSF rows of `batch`, rows of AWS's VPC flow log schema (its columns by name and type as
    /// `RecordKind::Vpc.schema()` has them), in the same order.
    pub fn map(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let c = Columns { batch };

        // metadata
        let version = c.int("version")?;
        let product_version: StringArray =
            version.iter().map(|v| v.map(|v| v.to_string())).collect();
        let metadata_f = metadata_fields();
        let product_f = struct_fields(&metadata_f, 0)?;
        let product = structure(
            product_f.clone(),
            vec![
                Arc::new(product_version),
                repeat(PRODUCT_NAME, n),
                structure(struct_fields(&product_f, 2)?, vec![repeat(FEATURE_NAME, n)])?,
                repeat(VENDOR_NAME, n),
            ],
        )?;
        let profiles = ListArray::try_new(
            list_item(&metadata_f, 1)?,
            OffsetBuffer::from_lengths(std::iter::repeat_n(PROFILES.len(), n)),
            Arc::new(StringArray::from_iter_values(
                std::iter::repeat_n(PROFILES, n).flatten(),
            )),
            None,
        )?;
        let metadata = structure(
            metadata_f,
            vec![product, Arc::new(profiles), repeat(OCSF_VERSION, n)],
        )?;

        // cloud
        let account_id = c.text("account_id")?;
        let region = c.text("region")?;
        let accounts: StringArray = (0..n)
            .map(|i| get(account_id, i).or(self.account.as_deref()))
            .collect();
        let regions: StringArray = (0..n)
            .map(|i| get(region, i).or(self.region.as_deref()))
            .collect();
        let cloud_f = cloud_fields();
        let cloud = structure(
            cloud_f.clone(),
            vec![
                structure(struct_fields(&cloud_f, 0)?, vec![Arc::new(accounts)])?,
                Arc::new(regions),
                c.array("az_id")?.clone(),
                repeat(PROVIDER, n),
            ],
        )?;

        // endpoints: the packet's address, with the interface's as an intermediate address where
        // they differ; the resource ids on the endpoint that is the interface (the destination of
        // ingress traffic, the source of any other)
        let flow_direction = c.text("flow_direction")?;
        let ingress: Vec<bool> = (0..n)
            .map(|i| get(flow_direction, i) == Some("ingress"))
            .collect();
        // A record with no address (NODATA, SKIPDATA: no traffic) names its interface on both
        // endpoints, the only end it has (OCSF asks every endpoint for an address or an id).
        let addresses = [
            c.text("srcaddr")?,
            c.text("dstaddr")?,
            c.text("pkt_srcaddr")?,
            c.text("pkt_dstaddr")?,
        ];
        let no_address: Vec<bool> = (0..n)
            .map(|i| addresses.iter().all(|a| a.is_null(i)))
            .collect();
        let src = Endpoint::of(&c, "src", &ingress, &no_address, false)?;
        let dst = Endpoint::of(&c, "dst", &ingress, &no_address, true)?;
        let observables = observables(&[&src, &dst], n)?;
        let src_endpoint = src.array()?;
        let dst_endpoint = dst.array()?;

        // connection_info
        let traffic_path = c.int("traffic_path")?;
        let (boundary_ids, boundaries): (Vec<i32>, Vec<&str>) =
            (0..n).map(|i| boundary(get_int(traffic_path, i))).unzip();
        let (direction_ids, directions): (Vec<i32>, Vec<&str>) =
            (0..n).map(|i| direction(get(flow_direction, i))).unzip();
        let connection_info = structure(
            connection_fields(),
            vec![
                c.array("protocol")?.clone(),
                c.array("tcp_flags")?.clone(),
                c.array("type")?.clone(),
                Arc::new(Int32Array::from(boundary_ids)),
                Arc::new(StringArray::from(boundaries)),
                Arc::new(Int32Array::from(direction_ids)),
                Arc::new(StringArray::from(directions)),
            ],
        )?;
        let traffic = structure(
            traffic_fields(),
            vec![c.array("packets")?.clone(), c.array("bytes")?.clone()],
        )?;

        // times: milliseconds; `time` is the start (the end for a record without one)
        let (start, end) = (c.long("start")?, c.long("end")?);
        let start_ms: Int64Array = (0..n).map(|i| millis(get_long(start, i))).collect();
        let end_ms: Int64Array = (0..n).map(|i| millis(get_long(end, i))).collect();
        let time = self.times(&start_ms, &end_ms);
        let dt = |ms: &Int64Array| -> ArrayRef {
            Arc::new(
                TimestampMillisecondArray::new(ms.values().clone(), ms.nulls().cloned())
                    .with_timezone("UTC"),
            )
        };

        // activity, action, disposition
        let action = c.text("action")?;
        let outcomes: Vec<Outcome> = (0..n).map(|i| outcome(get(action, i))).collect();
        let ids = |f: &dyn Fn(&Outcome) -> i32| -> ArrayRef {
            Arc::new(
                outcomes
                    .iter()
                    .map(f)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect::<Int32Array>(),
            )
        };
        let names = |f: &dyn Fn(&Outcome) -> &'static str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(outcomes.iter().map(f)))
        };
        let type_uids = Int64Array::from_iter_values(outcomes.iter().map(|o| o.type_uid()));

        let unmapped = self.unmapped(batch, start, end, &start_ms, &end_ms)?;
        let columns: Vec<ArrayRef> = vec![
            metadata,
            cloud,
            src_endpoint,
            dst_endpoint,
            connection_info,
            traffic,
            Arc::new(time.clone()),
            dt(&time),
            dt(&start_ms),
            dt(&end_ms),
            c.array("log_status")?.clone(),
            repeat_int(SEVERITY_ID, n),
            repeat(SEVERITY, n),
            repeat(CLASS_NAME, n),
            repeat_int(CLASS_UID, n),
            repeat(CATEGORY_NAME, n),
            repeat_int(CATEGORY_UID, n),
            names(&|o| o.activity_name),
            ids(&|o| o.activity_id),
            names(&|o| o.action),
            ids(&|o| o.action_id),
            names(&|o| o.disposition),
            Arc::new(type_uids),
            names(&|o| o.type_name()),
            unmapped,
            observables,
            Arc::new(start_ms),
            Arc::new(end_ms),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?)
    }

    /// `unmapped`: the fields with no OCSF attribute (by AWS's column name, integers as decimal
    /// text), the record's unknown fields, an action, flow direction or traffic path OCSF has no id
    /// for, and a `start` or `end` too large to be milliseconds; NULL for a record with none.
    fn unmapped(
        &self,
        batch: &RecordBatch,
        start: &Int64Array,
        end: &Int64Array,
        start_ms: &Int64Array,
        end_ms: &Int64Array,
    ) -> Result<ArrayRef> {
        let n = batch.num_rows();
        let c = Columns { batch };
        enum Source<'a> {
            Text(&'a StringArray),
            Int(&'a Int32Array),
            Long(&'a Int64Array),
        }
        let mut sources: Vec<(&'static str, Source<'_>)> = Vec::new();
        for f in CATALOGUE.iter().filter(|f| !MAPPED.contains(&f.column)) {
            let source = match f.kind {
                Kind::Utf8 => Source::Text(c.text(f.column)?),
                Kind::Int32 { .. } => Source::Int(c.int(f.column)?),
                Kind::Int64 => Source::Long(c.long(f.column)?),
            };
            sources.push((f.column, source));
        }
        let action = c.text("action")?;
        let flow_direction = c.text("flow_direction")?;
        let traffic_path = c.int("traffic_path")?;
        let unknown = batch
            .schema_ref()
            .index_of(UNKNOWN_FIELDS_COLUMN)
            .ok()
            .and_then(|i| batch.column(i).as_map_opt().cloned());
        let mut keys: Vec<String> = Vec::new();
        let mut values: Vec<Option<String>> = Vec::new();
        let mut lengths: Vec<usize> = Vec::with_capacity(n);
        for i in 0..n {
            let before = keys.len();
            for (name, source) in &sources {
                let value = match source {
                    Source::Text(a) => get(a, i).map(str::to_string),
                    Source::Int(a) => get_int(a, i).map(|v| v.to_string()),
                    Source::Long(a) => get_long(a, i).map(|v| v.to_string()),
                };
                if let Some(value) = value {
                    keys.push((*name).to_string());
                    values.push(Some(value));
                }
            }
            // Values the OCSF attributes have no id for, kept as they were.
            if let Some(a) = get(action, i).filter(|a| !matches!(*a, "ACCEPT" | "REJECT")) {
                keys.push("action".into());
                values.push(Some(a.to_string()));
            }
            if let Some(d) = get(flow_direction, i).filter(|d| !matches!(*d, "ingress" | "egress"))
            {
                keys.push("flow_direction".into());
                values.push(Some(d.to_string()));
            }
            if let Some(p) = get_int(traffic_path, i).filter(|p| !(1..=8).contains(p)) {
                keys.push("traffic_path".into());
                values.push(Some(p.to_string()));
            }
            for (name, secs, ms) in [("start", start, start_ms), ("end", end, end_ms)] {
                if let (Some(s), None) = (get_long(secs, i), get_long(ms, i)) {
                    keys.push(name.into());
                    values.push(Some(s.to_string()));
                }
            }
            if let Some(map) = unknown.as_ref().filter(|m| m.is_valid(i)) {
                let entries = map.value(i);
                let (k, v) = (entries.column(0), entries.column(1));
                let (k, v) = (
                    k.as_string_opt::<i32>()
                        .ok_or_else(|| not_flow_log("unknown_fields keys".into()))?,
                    v.as_string_opt::<i32>()
                        .ok_or_else(|| not_flow_log("unknown_fields values".into()))?,
                );
                for j in 0..k.len() {
                    keys.push(k.value(j).to_string());
                    values.push(get(v, j).map(str::to_string));
                }
            }
            lengths.push(keys.len() - before);
        }
        let DataType::Map(entries_f, sorted) =
            schema().field_with_name("unmapped")?.data_type().clone()
        else {
            return Err(not_flow_log("unmapped is not a map".into()));
        };
        let DataType::Struct(entry_fields) = entries_f.data_type() else {
            return Err(not_flow_log("unmapped's entries are not a struct".into()));
        };
        let nulls = NullBuffer::from_iter(lengths.iter().map(|&l| l > 0));
        let entries = StructArray::try_new(
            entry_fields.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(keys)),
                Arc::new(StringArray::from(values)),
            ],
            None,
        )?;
        Ok(Arc::new(MapArray::try_new(
            entries_f.clone(),
            OffsetBuffer::from_lengths(lengths),
            entries,
            Some(nulls),
            sorted,
        )?))
    }
}
