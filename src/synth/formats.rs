//! The record formats: which catalogue fields a flow log writes, in which order, and how a [`Record`]
//! becomes a line.
//!
//! Field names and orders come from the field catalogue (`lake::schema`), not from text of our own:
//! the v2 format is the catalogue's [`schema::DEFAULT_FORMAT`], the v5 format is a list of [`Field`]s,
//! each naming one catalogue entry. [`Layout::new`] resolves a format against the catalogue once per
//! run: the header line is made of the catalogue's names, `version` is the highest version among the
//! fields (AWS's rule for custom formats), and a field the catalogue does not know is an error, never
//! a column. A line is written by walking the layout's fields, so the header and every line agree by
//! construction.

use std::io;

use crate::lake::schema::{self, FieldDef};

use super::render::{push_addr, push_i64, push_id, push_opt_u64, push_u64, DASH};
use super::traffic::{Record, Status};
use super::world::{Account, Addr, EniKind};
use super::GenFormat;

/// Record format of one flow log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineFormat {
    /// AWS's default format, [`schema::DEFAULT_FORMAT`].
    V2,
    /// A custom format with every field of versions 2–5, [`V5_FIELDS`].
    V5,
}

/// The flow logs each account has, by format.
pub(super) fn flow_log_formats(format: GenFormat) -> &'static [LineFormat] {
    match format {
        GenFormat::V2 => &[LineFormat::V2],
        GenFormat::V5 => &[LineFormat::V5],
        GenFormat::Mixed => &[LineFormat::V2, LineFormat::V5],
    }
}

/// A catalogue field the generator can fill: every field of versions 2 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Field {
    Version,
    AccountId,
    InterfaceId,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    VpcId,
    SubnetId,
    InstanceId,
    TcpFlags,
    Type,
    PktSrcAddr,
    PktDstAddr,
    Region,
    AzId,
    SublocationType,
    SublocationId,
    PktSrcAwsService,
    PktDstAwsService,
    FlowDirection,
    TrafficPath,
}

/// The custom version 5 format generated for [`GenFormat::V5`]: all 29 fields of versions 2–5 in the
/// non-table order of AWS's own example (`awsdocs-v5-service-traffic-path.log`).
const V5_FIELDS: [Field; 29] = {
    use Field::*;
    [
        Version,
        SrcAddr,
        DstAddr,
        SrcPort,
        DstPort,
        Protocol,
        Start,
        End,
        Type,
        Packets,
        Bytes,
        AccountId,
        VpcId,
        SubnetId,
        InstanceId,
        InterfaceId,
        Region,
        AzId,
        SublocationType,
        SublocationId,
        Action,
        TcpFlags,
        PktSrcAddr,
        PktDstAddr,
        PktSrcAwsService,
        PktDstAwsService,
        TrafficPath,
        FlowDirection,
        LogStatus,
    ]
};

impl Field {
    /// Every field, in catalogue order.
    const ALL: [Field; 29] = {
        use Field::*;
        [
            Version,
            AccountId,
            InterfaceId,
            SrcAddr,
            DstAddr,
            SrcPort,
            DstPort,
            Protocol,
            Packets,
            Bytes,
            Start,
            End,
            Action,
            LogStatus,
            VpcId,
            SubnetId,
            InstanceId,
            TcpFlags,
            Type,
            PktSrcAddr,
            PktDstAddr,
            Region,
            AzId,
            SublocationType,
            SublocationId,
            PktSrcAwsService,
            PktDstAwsService,
            FlowDirection,
            TrafficPath,
        ]
    };

    /// The name of the field's catalogue entry ([`FieldDef::header`]); only used to find the entry.
    const fn name(self) -> &'static str {
        match self {
            Field::Version => "version",
            Field::AccountId => "account-id",
            Field::InterfaceId => "interface-id",
            Field::SrcAddr => "srcaddr",
            Field::DstAddr => "dstaddr",
            Field::SrcPort => "srcport",
            Field::DstPort => "dstport",
            Field::Protocol => "protocol",
            Field::Packets => "packets",
            Field::Bytes => "bytes",
            Field::Start => "start",
            Field::End => "end",
            Field::Action => "action",
            Field::LogStatus => "log-status",
            Field::VpcId => "vpc-id",
            Field::SubnetId => "subnet-id",
            Field::InstanceId => "instance-id",
            Field::TcpFlags => "tcp-flags",
            Field::Type => "type",
            Field::PktSrcAddr => "pkt-srcaddr",
            Field::PktDstAddr => "pkt-dstaddr",
            Field::Region => "region",
            Field::AzId => "az-id",
            Field::SublocationType => "sublocation-type",
            Field::SublocationId => "sublocation-id",
            Field::PktSrcAwsService => "pkt-src-aws-service",
            Field::PktDstAwsService => "pkt-dst-aws-service",
            Field::FlowDirection => "flow-direction",
            Field::TrafficPath => "traffic-path",
        }
    }

    /// The field whose catalogue name is `name`, if the generator can fill it.
    fn named(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field's catalogue entry, if the catalogue knows it.
    fn def(self) -> Option<&'static FieldDef> {
        schema::lookup(self.name().as_bytes()).map(|i| &schema::CATALOGUE[i])
    }

    /// True for the fields that describe traffic, which are `-` on NODATA and SKIPDATA lines (the
    /// others name the interface and the interval).
    fn describes_traffic(self) -> bool {
        matches!(
            self,
            Field::SrcAddr
                | Field::DstAddr
                | Field::SrcPort
                | Field::DstPort
                | Field::Protocol
                | Field::Packets
                | Field::Bytes
                | Field::Action
                | Field::TcpFlags
                | Field::Type
                | Field::PktSrcAddr
                | Field::PktDstAddr
                | Field::PktSrcAwsService
                | Field::PktDstAwsService
                | Field::FlowDirection
                | Field::TrafficPath
        )
    }
}

/// A format resolved against the catalogue: the fields of a line, the header line, the `version`.
#[derive(Debug)]
pub(super) struct Layout {
    fields: Vec<Field>,
    header: String,
    version: u8,
}

impl Layout {
    /// Resolves `format`; an error if it names a field that the catalogue or the generator lacks.
    pub(super) fn new(format: LineFormat) -> io::Result<Layout> {
        let fields = match format {
            LineFormat::V2 => schema::DEFAULT_FORMAT
                .split(' ')
                .map(|name| {
                    Field::named(name).ok_or_else(|| {
                        io::Error::other(format!("the generator cannot fill field {name}"))
                    })
                })
                .collect::<io::Result<Vec<Field>>>()?,
            LineFormat::V5 => V5_FIELDS.to_vec(),
        };
        let defs = fields
            .iter()
            .map(|f| {
                f.def().ok_or_else(|| {
                    io::Error::other(format!("field {} is not in the catalogue", f.name()))
                })
            })
            .collect::<io::Result<Vec<&FieldDef>>>()?;
        Ok(Layout {
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
    layout: &'a Layout,
    /// The account id as 12 digits.
    account: [u8; 12],
    region: &'static str,
}

impl<'a> LineWriter<'a> {
    pub(super) fn new(layout: &'a Layout, account: &Account) -> Self {
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

    /// Appends `r` as one line: its layout's fields separated by single spaces, then `\n`.
    pub(super) fn write(&self, buf: &mut Vec<u8>, r: &Record) {
        for (i, &field) in self.layout.fields.iter().enumerate() {
            if i > 0 {
                buf.push(b' ');
            }
            self.write_field(buf, field, r);
        }
        buf.push(b'\n');
    }

    fn write_field(&self, buf: &mut Vec<u8>, field: Field, r: &Record) {
        if r.status != Status::Ok && field.describes_traffic() {
            buf.extend_from_slice(DASH);
            return;
        }
        let eni = &r.eni;
        match field {
            Field::Version => push_u64(buf, self.layout.version.into()),
            Field::AccountId => buf.extend_from_slice(if eni.kind == EniKind::Endpoint {
                b"unknown"
            } else {
                &self.account
            }),
            Field::InterfaceId => push_id(buf, b"eni-", eni.id),
            Field::SrcAddr => push_addr(buf, r.src),
            Field::DstAddr => push_addr(buf, r.dst),
            Field::SrcPort => push_u64(buf, r.srcport.into()),
            Field::DstPort => push_u64(buf, r.dstport.into()),
            Field::Protocol => push_u64(buf, r.protocol.into()),
            Field::Packets => push_u64(buf, r.packets),
            Field::Bytes => push_u64(buf, r.bytes),
            Field::Start => push_i64(buf, r.start),
            Field::End => push_i64(buf, r.end),
            Field::Action => buf.extend_from_slice(if r.reject { b"REJECT" } else { b"ACCEPT" }),
            Field::LogStatus => buf.extend_from_slice(log_status(r.status)),
            Field::VpcId => push_id(buf, b"vpc-", eni.vpc_hash),
            Field::SubnetId => push_id(buf, b"subnet-", eni.subnet_hash),
            Field::InstanceId => match eni.instance {
                Some(id) => push_id(buf, b"i-", id),
                None => buf.extend_from_slice(DASH),
            },
            Field::TcpFlags => push_opt_u64(buf, r.tcp_flags.map(u64::from)),
            Field::Type => buf.extend_from_slice(match r.src {
                Addr::V4(_) => b"IPv4",
                Addr::V6(_) => b"IPv6",
            }),
            Field::PktSrcAddr => push_addr(buf, r.pkt_src),
            Field::PktDstAddr => push_addr(buf, r.pkt_dst),
            Field::Region => buf.extend_from_slice(self.region.as_bytes()),
            Field::AzId => buf.extend_from_slice(eni.az.as_bytes()),
            // No generated interface is in a Wavelength Zone, Outpost or Local Zone.
            Field::SublocationType | Field::SublocationId => buf.extend_from_slice(DASH),
            Field::PktSrcAwsService => {
                buf.extend_from_slice(r.src_service.map_or(DASH, str::as_bytes))
            }
            Field::PktDstAwsService => {
                buf.extend_from_slice(r.dst_service.map_or(DASH, str::as_bytes))
            }
            Field::FlowDirection => buf.extend_from_slice(if r.egress {
                b"egress".as_slice()
            } else {
                b"ingress"
            }),
            Field::TrafficPath => push_opt_u64(buf, r.traffic_path.map(u64::from)),
        }
    }
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
        for f in Field::ALL {
            let def = f
                .def()
                .unwrap_or_else(|| panic!("{f:?}: not in the catalogue"));
            assert_eq!(def.header, f.name());
            assert_eq!(Field::named(f.name()), Some(f));
        }
        let catalogue: Vec<&str> = schema::CATALOGUE
            .iter()
            .filter(|d| d.version <= 5)
            .map(|d| d.header)
            .collect();
        assert_eq!(Field::ALL.map(Field::name).to_vec(), catalogue);
    }

    #[test]
    fn every_format_names_only_catalogue_fields() {
        for format in [LineFormat::V2, LineFormat::V5] {
            let layout = Layout::new(format).unwrap();
            let mut seen = std::collections::HashSet::new();
            for &f in &layout.fields {
                assert!(
                    schema::lookup(f.name().as_bytes()).is_some(),
                    "{format:?} names {}, which the catalogue does not know",
                    f.name()
                );
                assert!(seen.insert(f), "{format:?} names {f:?} twice");
            }
            for name in layout.header().split(' ') {
                assert!(schema::lookup(name.as_bytes()).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn v2_header_is_the_catalogues_default_format() {
        let v2 = Layout::new(LineFormat::V2).unwrap();
        assert_eq!(v2.header(), schema::DEFAULT_FORMAT);
        assert_eq!(v2.fields.len(), 14);
        assert_eq!(v2.version, 2);
    }

    #[test]
    fn v5_header_matches_the_aws_example() {
        // The header of AWS's own v5 example (flow-logs-records-examples, "service and traffic path").
        let aws = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status";
        let v5 = Layout::new(LineFormat::V5).unwrap();
        assert_eq!(v5.header(), aws);
        assert_eq!(v5.fields.len(), 29);
        assert_eq!(v5.version, 5);
    }
}
