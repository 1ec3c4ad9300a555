//! A file's header line → [`FieldLayout`]: which lake column each input field goes to.
//!
//! Every S3 text delivery starts with a header naming its fields in format order (`version account-id
//! ...`); formats differ between flow logs sharing a bucket, and a custom format may omit `version`, so
//! the layout is taken per file. Headerless input (CloudWatch exports, Firehose) gets its layout from the
//! user's `--fields`. The names decide the kind of the records ([`RecordKind::of_names`]: Transit
//! Gateway fields make a Transit Gateway layout), and each name is looked up in that kind's catalogue. A
//! field the catalogue does not know becomes a [`FieldSlot::Unknown`] and its values are kept in the
//! `unknown_fields` map column.

use crate::lake::schema::{self, RecordKind};
use crate::text::tokenize::Span;

/// Where one input field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSlot {
    /// A catalogue field: its index in its kind's catalogue (= its column index in its lake's schema).
    Known(usize),
    /// An unknown field: its index in [`FieldLayout::unknown`].
    Unknown(usize),
}

/// The field order of one flow log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    /// The kind of records it holds: whose catalogue [`FieldSlot::Known`] indexes.
    pub kind: RecordKind,
    /// One [`FieldSlot`] per input field, in input order.
    pub field_slots: Vec<FieldSlot>,
    /// Names of the unknown fields, in input order.
    pub unknown: Vec<String>,
}

/// Why a header or field list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldLayoutError {
    #[error("the field list is empty")]
    Empty,
    #[error("field `{0}` appears twice in the field list")]
    Duplicate(String),
    #[error("`{0}` is not a field name (names are lowercase letters, digits and '-')")]
    BadName(String),
}

impl FieldLayout {
    /// Builds a layout from field names (header tokens).
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a [u8]> + Clone,
    ) -> Result<FieldLayout, FieldLayoutError> {
        let kind = RecordKind::of_names(names.clone());
        let mut slots = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut seen_known = vec![false; kind.catalogue().len()];
        for name in names {
            if !is_name(name) {
                return Err(FieldLayoutError::BadName(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
            // is_name guarantees ASCII.
            let text = String::from_utf8_lossy(name).into_owned();
            match kind.lookup(name) {
                Some(i) if seen_known[i] => return Err(FieldLayoutError::Duplicate(text)),
                Some(i) => {
                    seen_known[i] = true;
                    slots.push(FieldSlot::Known(i));
                }
                None if unknown.contains(&text) => return Err(FieldLayoutError::Duplicate(text)),
                None => {
                    slots.push(FieldSlot::Unknown(unknown.len()));
                    unknown.push(text);
                }
            }
        }
        if slots.is_empty() {
            return Err(FieldLayoutError::Empty);
        }
        Ok(FieldLayout {
            kind,
            field_slots: slots,
            unknown,
        })
    }

    /// Parses a user-given field list: `default` (VPC flow logs' default format), `tgw-default`
    /// (Transit Gateway flow logs' default format: every field, in AWS's order), `version account-id
    /// ...`, or AWS's `${version} ${account-id} ...` format string.
    pub fn parse_format(format: &str) -> Result<FieldLayout, FieldLayoutError> {
        let format = format.trim();
        let tgw_default;
        let format = match format {
            "default" => schema::DEFAULT_FORMAT,
            "tgw-default" => {
                let names: Vec<&str> = schema::TGW_CATALOGUE.iter().map(|f| f.header).collect();
                tgw_default = names.join(" ");
                &tgw_default
            }
            _ => format,
        };
        let names: Vec<&[u8]> = format
            .split_whitespace()
            .map(|t| {
                t.strip_prefix("${")
                    .and_then(|t| t.strip_suffix('}'))
                    .unwrap_or(t)
                    .as_bytes()
            })
            .collect();
        FieldLayout::from_names(names)
    }

    /// Builds a layout from a header line's fields.
    pub fn from_header(buf: &[u8], fields: &[Span]) -> Result<FieldLayout, FieldLayoutError> {
        FieldLayout::from_names(fields.iter().map(|s| s.of(buf)))
    }

    /// The field names, in order, as a header line.
    pub fn header_line(&self) -> String {
        let names: Vec<&str> = self
            .field_slots
            .iter()
            .map(|s| match *s {
                FieldSlot::Known(i) => self.kind.catalogue()[i].header,
                FieldSlot::Unknown(u) => self.unknown[u].as_str(),
            })
            .collect();
        names.join(" ")
    }

    /// Number of fields a record of this layout has.
    pub fn len(&self) -> usize {
        self.field_slots.len()
    }

    /// Always false: a layout has at least one field.
    pub fn is_empty(&self) -> bool {
        self.field_slots.is_empty()
    }
}

/// A field list is stored as its header line (a plan's `--fields`), read back as `--fields` is.
impl serde::Serialize for FieldLayout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.header_line())
    }
}

impl<'de> serde::Deserialize<'de> for FieldLayout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldLayout, D::Error> {
        let text = String::deserialize(d)?;
        FieldLayout::parse_format(&text).map_err(serde::de::Error::custom)
    }
}

/// True if `name` is a field of either kind of flow log.
fn is_known(name: &[u8]) -> bool {
    RecordKind::Vpc.lookup(name).is_some() || RecordKind::TransitGateway.lookup(name).is_some()
}

/// True if `token` looks like a field name: `[a-z][a-z0-9-]*`.
fn is_name(token: &[u8]) -> bool {
    matches!(token.first(), Some(b'a'..=b'z'))
        && token
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True if a line's fields read as a header, given the layout in force (`None` at a file's start when
/// no `--fields` was given).
///
/// Every token must be name-shaped (`[a-z][a-z0-9-]*`); records almost always carry digits, `-`,
/// dots or upper case. At a file's start, where AWS always writes its header, one known field name is
/// enough. Once a layout is in force, a record whose values happen to be name-shaped (`eni-0a1 region
/// ingress`: tag values are user text) must not switch it, so a header there must repeat the current
/// one, or consist of known names only, or have a majority of known names and a field count the
/// current layout cannot have.
pub fn looks_like_header(buf: &[u8], fields: &[Span], current: Option<&FieldLayout>) -> bool {
    if fields.is_empty() || !fields.iter().all(|s| is_name(s.of(buf))) {
        return false;
    }
    let known = fields.iter().filter(|s| is_known(s.of(buf))).count();
    match current {
        None => known > 0,
        Some(layout) => {
            let repeats = FieldLayout::from_header(buf, fields).is_ok_and(|l| &l == layout);
            repeats
                || known == fields.len()
                || (2 * known > fields.len() && fields.len() != layout.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize::split_fields;

    fn spans(line: &[u8]) -> Vec<Span> {
        let mut v = Vec::new();
        split_fields(line, 0, &mut v);
        v
    }

    #[test]
    fn default_header_maps_to_first_fourteen_columns() {
        let line = schema::DEFAULT_FORMAT.as_bytes();
        let layout = FieldLayout::from_header(line, &spans(line)).unwrap();
        assert_eq!(layout.len(), 14);
        assert_eq!(
            layout.field_slots,
            (0..14).map(FieldSlot::Known).collect::<Vec<_>>(),
            "default order = catalogue order"
        );
    }

    #[test]
    fn custom_order_and_unknown_fields() {
        let line = b"srcaddr future-field version other-new-field";
        let layout = FieldLayout::from_header(line, &spans(line)).unwrap();
        assert_eq!(layout.kind, RecordKind::Vpc);
        assert_eq!(
            layout.field_slots,
            [
                FieldSlot::Known(3),
                FieldSlot::Unknown(0),
                FieldSlot::Known(0),
                FieldSlot::Unknown(1)
            ]
        );
        assert_eq!(layout.unknown, ["future-field", "other-new-field"]);
    }

    #[test]
    fn transit_gateway_fields_make_a_transit_gateway_layout() {
        // OpenTelemetry's TGW test file's header (no resource-type, custom order).
        let line = b"version account-id tgw-id srcaddr packets-lost-mtu-exceeded start mystery";
        let layout = FieldLayout::from_header(line, &spans(line)).unwrap();
        assert_eq!(layout.kind, RecordKind::TransitGateway);
        let tgw = |c: &str| FieldSlot::Known(RecordKind::TransitGateway.column_index(c).unwrap());
        assert_eq!(
            layout.field_slots,
            [
                tgw("version"),
                tgw("account_id"),
                tgw("tgw_id"),
                tgw("srcaddr"),
                tgw("packets_lost_mtu_exceeded"),
                tgw("start"),
                FieldSlot::Unknown(0)
            ]
        );
        assert_eq!(layout.header_line(), std::str::from_utf8(line).unwrap());
        assert!(looks_like_header(line, &spans(line), None));
        // `--fields` with TGW names, and AWS's format string form.
        let fields = FieldLayout::parse_format("${version} ${resource-type} ${srcaddr}").unwrap();
        assert_eq!(fields.kind, RecordKind::TransitGateway);
    }

    #[test]
    fn format_strings_and_default_alias() {
        let a = FieldLayout::parse_format("${version} ${interface-id} ${srcaddr}").unwrap();
        let b = FieldLayout::parse_format("version interface-id srcaddr").unwrap();
        assert_eq!(a, b);
        assert_eq!(FieldLayout::parse_format("default").unwrap().len(), 14);
        assert_eq!(
            FieldLayout::parse_format("${ecs-task-id} ${reject-reason}")
                .unwrap()
                .header_line(),
            "ecs-task-id reject-reason"
        );
    }

    #[test]
    fn bad_field_lists_are_errors() {
        assert_eq!(
            FieldLayout::parse_format("  "),
            Err(FieldLayoutError::Empty)
        );
        assert_eq!(
            FieldLayout::parse_format("srcaddr srcaddr"),
            Err(FieldLayoutError::Duplicate("srcaddr".into()))
        );
        assert_eq!(
            FieldLayout::parse_format("x-y x-y"),
            Err(FieldLayoutError::Duplicate("x-y".into()))
        );
        assert!(matches!(
            FieldLayout::parse_format("Version"),
            Err(FieldLayoutError::BadName(_))
        ));
    }

    #[test]
    fn mid_file_headers_need_more_evidence() {
        let custom = FieldLayout::parse_format("interface-id instance-tag flow-direction").unwrap();
        let record = b"eni-0a1 region ingress";
        assert!(
            looks_like_header(record, &spans(record), None),
            "lenient at a file's start"
        );
        assert!(
            !looks_like_header(record, &spans(record), Some(&custom)),
            "a record, not a header"
        );
        let same = b"interface-id instance-tag flow-direction";
        assert!(looks_like_header(same, &spans(same), Some(&custom)));
        let v2 = FieldLayout::parse_format("default").unwrap();
        let tgw = b"version tgw-id tgw-attachment-id srcaddr dstaddr";
        assert!(
            looks_like_header(tgw, &spans(tgw), Some(&v2)),
            "3 of 5 known, another field count"
        );
        let tgw_layout = FieldLayout::from_header(tgw, &spans(tgw)).unwrap();
        assert!(
            looks_like_header(tgw, &spans(tgw), Some(&tgw_layout)),
            "a repeated header"
        );
        let all_known = schema::DEFAULT_FORMAT.as_bytes();
        assert!(looks_like_header(
            all_known,
            &spans(all_known),
            Some(&custom)
        ));
    }

    #[test]
    fn header_detection() {
        let yes: &[&[u8]] = &[
            b"version account-id interface-id",
            b"instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr",
            b"tgw-id srcaddr",
        ];
        for l in yes {
            assert!(
                looks_like_header(l, &spans(l), None),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        let no: &[&[u8]] = &[
            b"2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA",
            b"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
            b"vpc-0abc subnet-0def",
            b"ingress egress",
            b"Phony unsupported log format.",
            b"",
        ];
        for l in no {
            assert!(
                !looks_like_header(l, &spans(l), None),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
    }
}
