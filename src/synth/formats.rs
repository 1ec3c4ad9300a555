//! The record formats: which catalogue fields a flow log writes, in which order, and how a [`Record`]
//! becomes a line.
//!
//! Field names, orders and versions come from the field catalogue (`lake::schema`), not from lists of
//! our own: the v2 format is the catalogue's [`schema::DEFAULT_FORMAT`], the v5 format is
//! [`V5_FORMAT`], and [`LineLayout::new`] resolves a format against the catalogue once per run: the
//! header line is made of the catalogue's names, `version` is the highest version among the fields
//! (AWS's rule for custom formats), and a name the catalogue does not know is an error, never a
//! column. What the generator adds is how it fills each catalogue field ([`filler`]). A line is written
//! by walking the layout's fields, so the header and every line agree by construction.

use std::io;

use crate::lake::schema::{self, FieldDef, RecordKind};

use super::render::{push_addr, push_i64, push_id, push_opt_u64, push_u64, DASH};
use super::traffic::{Record, Status};
use super::world::{Account, Addr, EniKind};
use super::{GenFormat, V5_FORMAT};

/// Record format of one flow log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineFormat {
    /// AWS's default format, [`schema::DEFAULT_FORMAT`].
    V2,
    /// A custom format with every field of versions 2–5, [`V5_FORMAT`].
    V5,
    /// AWS's default Transit Gateway format: every field of [`schema::TGW_CATALOGUE`], in order.
    Tgw,
}

impl LineFormat {
    /// The format as a header line of catalogue names.
    fn fields(self) -> String {
        match self {
            LineFormat::V2 => schema::DEFAULT_FORMAT.to_string(),
            LineFormat::V5 => V5_FORMAT.to_string(),
            LineFormat::Tgw => {
                let names: Vec<&str> = schema::TGW_CATALOGUE.iter().map(|f| f.header).collect();
                names.join(" ")
            }
        }
    }
}

/// The flow logs each account has, by format.
pub(super) fn flow_log_formats(format: GenFormat) -> &'static [LineFormat] {
    match format {
        GenFormat::V2 => &[LineFormat::V2],
        GenFormat::V5 => &[LineFormat::V5],
        GenFormat::Mixed => &[LineFormat::V2, LineFormat::V5],
        GenFormat::Tgw => &[LineFormat::Tgw],
    }
}

/// Writes one field of a record.
type WriteField = fn(&LineWriter<'_>, &mut Vec<u8>, &Record);

/// How the generator fills one catalogue field.
#[derive(Debug, Clone, Copy)]
struct Filler {
    /// The field describes traffic: it is `-` on NODATA and SKIPDATA lines (the others name the
    /// interface and the interval).
    traffic: bool,
    write: WriteField,
}

/// How the generator fills the catalogue field `def`: every field of versions 2 to 5; `None` for the
/// others.
fn filler(def: &FieldDef) -> Option<Filler> {
    let (traffic, write): (bool, WriteField) = match def.header {
        "version" => (false, |w, buf, _| push_u64(buf, w.layout.version.into())),
        "account-id" => (false, |w, buf, r| {
            let endpoint = r.eni.kind == EniKind::Endpoint;
            buf.extend_from_slice(if endpoint { b"unknown" } else { &w.account })
        }),
        "interface-id" => (false, |_, buf, r| push_id(buf, b"eni-", r.eni.id)),
        "srcaddr" => (true, |_, buf, r| push_addr(buf, r.src)),
        "dstaddr" => (true, |_, buf, r| push_addr(buf, r.dst)),
        "srcport" => (true, |_, buf, r| push_u64(buf, r.srcport.into())),
        "dstport" => (true, |_, buf, r| push_u64(buf, r.dstport.into())),
        "protocol" => (true, |_, buf, r| push_u64(buf, r.protocol.into())),
        "packets" => (true, |_, buf, r| push_u64(buf, r.packets)),
        "bytes" => (true, |_, buf, r| push_u64(buf, r.bytes)),
        "start" => (false, |_, buf, r| push_i64(buf, r.start)),
        "end" => (false, |_, buf, r| push_i64(buf, r.end)),
        "action" => (true, |_, buf, r| {
            buf.extend_from_slice(if r.reject { b"REJECT" } else { b"ACCEPT" })
        }),
        "log-status" => (false, |_, buf, r| {
            buf.extend_from_slice(log_status(r.status))
        }),
        "vpc-id" => (false, |_, buf, r| push_id(buf, b"vpc-", r.eni.vpc_hash)),
        "subnet-id" => (false, |_, buf, r| {
            push_id(buf, b"subnet-", r.eni.subnet_hash)
        }),
        "instance-id" => (false, |_, buf, r| match r.eni.instance {
            Some(id) => push_id(buf, b"i-", id),
            None => buf.extend_from_slice(DASH),
        }),
        "tcp-flags" => (true, |_, buf, r| {
            push_opt_u64(buf, r.tcp_flags.map(u64::from))
        }),
        "type" => (true, |_, buf, r| {
            buf.extend_from_slice(match r.src {
                Addr::V4(_) => b"IPv4",
                Addr::V6(_) => b"IPv6",
            })
        }),
        "pkt-srcaddr" => (true, |_, buf, r| push_addr(buf, r.pkt_src)),
        "pkt-dstaddr" => (true, |_, buf, r| push_addr(buf, r.pkt_dst)),
        "region" => (false, |w, buf, _| {
            buf.extend_from_slice(w.region.as_bytes())
        }),
        "az-id" => (false, |_, buf, r| {
            buf.extend_from_slice(r.eni.az.as_bytes())
        }),
        // No generated interface is in a Wavelength Zone, Outpost or Local Zone.
        "sublocation-type" | "sublocation-id" => (false, |_, buf, _| buf.extend_from_slice(DASH)),
        "pkt-src-aws-service" => (true, |_, buf, r| {
            buf.extend_from_slice(r.src_service.map_or(DASH, str::as_bytes))
        }),
        "pkt-dst-aws-service" => (true, |_, buf, r| {
            buf.extend_from_slice(r.dst_service.map_or(DASH, str::as_bytes))
        }),
        "flow-direction" => (true, |_, buf, r| {
            buf.extend_from_slice(if r.egress {
                b"egress".as_slice()
            } else {
                b"ingress"
            })
        }),
        "traffic-path" => (true, |_, buf, r| {
            push_opt_u64(buf, r.traffic_path.map(u64::from))
        }),
        // Transit Gateway records: the interface's traffic seen by the account's transit gateway,
        // whose attachment to a VPC is named after the VPC; the far side is another VPC of the
        // account (derived from the peer address), and a rejected flow is packets lost to a
        // blackhole route.
        "resource-type" => (false, |_, buf, _| buf.extend_from_slice(b"TransitGateway")),
        "tgw-id" => (false, |w, buf, _| push_id(buf, b"tgw-", w.account_hash())),
        "tgw-attachment-id" => (false, |_, buf, r| {
            push_id(buf, b"tgw-attach-", r.eni.vpc_hash)
        }),
        "tgw-pair-attachment-id" => (true, |_, buf, r| push_id(buf, b"tgw-attach-", far_vpc(r))),
        "tgw-src-vpc-account-id" | "tgw-dst-vpc-account-id" => {
            (false, |w, buf, _| buf.extend_from_slice(&w.account))
        }
        "tgw-src-vpc-id" => (false, |_, buf, r| push_id(buf, b"vpc-", r.eni.vpc_hash)),
        "tgw-dst-vpc-id" => (true, |_, buf, r| push_id(buf, b"vpc-", far_vpc(r))),
        "tgw-src-subnet-id" => (false, |_, buf, r| {
            push_id(buf, b"subnet-", r.eni.subnet_hash)
        }),
        "tgw-dst-subnet-id" => (true, |_, buf, r| {
            push_id(buf, b"subnet-", far_vpc(r).rotate_left(17))
        }),
        "tgw-src-eni" => (false, |_, buf, r| push_id(buf, b"eni-", r.eni.id)),
        "tgw-dst-eni" => (true, |_, buf, r| {
            push_id(buf, b"eni-", far_vpc(r).rotate_left(31))
        }),
        "tgw-src-az-id" => (false, |_, buf, r| {
            buf.extend_from_slice(r.eni.az.as_bytes())
        }),
        "tgw-dst-az-id" => (true, |_, buf, r| buf.extend_from_slice(r.eni.az.as_bytes())),
        "packets-lost-blackhole" => (true, |_, buf, r| {
            push_u64(buf, if r.reject { r.packets } else { 0 })
        }),
        "packets-lost-no-route" | "packets-lost-mtu-exceeded" | "packets-lost-ttl-expired" => {
            (true, |_, buf, _| push_u64(buf, 0))
        }
        _ => return None,
    };
    Some(Filler { traffic, write })
}

/// A format resolved against the catalogue: the fields of a line, the header line, the `version`.
#[derive(Debug)]
pub(super) struct LineLayout {
    fields: Vec<Filler>,
    header: String,
    version: u8,
}

impl LineLayout {
    /// Resolves `format`; an error if it names a field that the catalogue or the generator lacks.
    pub(super) fn new(format: LineFormat) -> io::Result<LineLayout> {
        let names = format.fields();
        let kind = RecordKind::of_names(names.split(' ').map(str::as_bytes));
        let defs = names
            .split(' ')
            .map(|name| {
                let i = kind.lookup(name.as_bytes()).ok_or_else(|| {
                    io::Error::other(format!("field {name} is not in the catalogue"))
                })?;
                Ok(&kind.catalogue()[i])
            })
            .collect::<io::Result<Vec<&FieldDef>>>()?;
        let fields = defs
            .iter()
            .map(|d| {
                filler(d).ok_or_else(|| {
                    io::Error::other(format!("the generator cannot fill field {}", d.header))
                })
            })
            .collect::<io::Result<Vec<Filler>>>()?;
        Ok(LineLayout {
            header: defs.iter().map(|d| d.header).collect::<Vec<_>>().join(" "),
            version: defs.iter().map(|d| d.version).fold(0, u8::max),
            fields,
        })
    }

    /// The header line (without its newline).
    pub(super) fn header(&self) -> &str {
        &self.header
    }
}

/// Writes the records of one account's flow log as lines of its layout.
pub(super) struct LineWriter<'a> {
    layout: &'a LineLayout,
    /// The account id as 12 digits.
    account: [u8; 12],
    region: &'static str,
}

impl<'a> LineWriter<'a> {
    pub(super) fn new(layout: &'a LineLayout, account: &Account) -> Self {
        let mut text = [b'0'; 12];
        let mut id = account.id;
        for c in text.iter_mut().rev() {
            *c = b'0' + (id % 10) as u8;
            id /= 10;
        }
        LineWriter {
            layout,
            account: text,
            region: account.region.name,
        }
    }

    /// A stable number of the account (its transit gateway's id).
    fn account_hash(&self) -> u64 {
        crate::hash::fnv1a(&self.account)
    }

    /// Appends `r` as one line: its layout's fields separated by single spaces, then `\n`.
    pub(super) fn write(&self, buf: &mut Vec<u8>, r: &Record) {
        for (i, field) in self.layout.fields.iter().enumerate() {
            if i > 0 {
                buf.push(b' ');
            }
            if field.traffic && r.status != Status::Ok {
                buf.extend_from_slice(DASH);
            } else {
                (field.write)(self, buf, r);
            }
        }
        buf.push(b'\n');
    }
}

/// The VPC at the far side of a Transit Gateway record: another VPC of the account, chosen by the peer
/// address (stable for a peer).
fn far_vpc(r: &Record) -> u64 {
    let peer = match if r.egress { r.dst } else { r.src } {
        Addr::V4(ip) => u64::from(ip),
        Addr::V6(ip) => (ip >> 64) as u64 ^ ip as u64,
    };
    (r.eni.vpc_hash ^ peer.wrapping_mul(0x9e37_79b9_7f4a_7c15)).rotate_left(7)
}

fn log_status(status: Status) -> &'static [u8] {
    match status {
        Status::Ok => b"OK",
        Status::NoData => b"NODATA",
        Status::SkipData => b"SKIPDATA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_fills_every_catalogue_field_of_versions_2_to_5() {
        for def in schema::CATALOGUE {
            assert_eq!(
                filler(def).is_some(),
                def.version <= 5,
                "{}: version {}",
                def.header,
                def.version
            );
        }
        // And every Transit Gateway field: the generator writes AWS's default Transit Gateway format.
        for def in schema::TGW_CATALOGUE {
            assert!(filler(def).is_some(), "{}", def.header);
        }
        let tgw = LineLayout::new(LineFormat::Tgw).unwrap();
        assert_eq!(tgw.version, 6);
        let names = tgw.header().split(' ').map(str::as_bytes);
        assert_eq!(RecordKind::of_names(names), RecordKind::TransitGateway);
    }

    #[test]
    fn every_format_names_catalogue_fields_once() {
        for format in [LineFormat::V2, LineFormat::V5] {
            let layout = LineLayout::new(format).unwrap();
            let mut seen = std::collections::HashSet::new();
            for name in layout.header().split(' ') {
                assert!(schema::lookup(name.as_bytes()).is_some(), "{name}");
                assert!(seen.insert(name), "{format:?} names {name} twice");
            }
            assert_eq!(layout.fields.len(), seen.len());
        }
    }

    #[test]
    fn v2_header_is_the_catalogues_default_format() {
        let v2 = LineLayout::new(LineFormat::V2).unwrap();
        assert_eq!(v2.header(), schema::DEFAULT_FORMAT);
        assert_eq!(v2.fields.len(), 14);
        assert_eq!(v2.version, 2);
    }

    #[test]
    fn v5_header_matches_the_aws_example() {
        // The header of AWS's own v5 example (flow-logs-records-examples, "service and traffic path").
        let aws = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";
        let v5 = LineLayout::new(LineFormat::V5).unwrap();
        assert_eq!(v5.header(), aws);
        assert_eq!(v5.fields.len(), 29);
        assert_eq!(v5.version, 5);
    }
}
