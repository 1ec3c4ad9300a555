//! Enrichment: columns derived at conversion from a record's own fields (`--enrich`), appended after
//! AWS's columns, NULL where unknown. Protocol and TCP flag names need nothing else; an address's AWS
//! service and region come from AWS's `ip-ranges.json` ([`ip_ranges`]), its country and network from
//! MaxMind DB files the user supplies ([`geoip`]). [`Enricher`] applies them to a batch, looking each
//! distinct address up once; which data files (and their own versions) enriched a partition is
//! recorded with it ([`DataVersion`]).
//!
//! This layer knows Arrow batches and column names, nothing of the lake or of where a data file's
//! bytes come from (the engine reads them through storage).

pub mod address;
pub mod enricher;
pub mod geoip;
pub mod ip_ranges;
pub mod protocol;
pub mod tcp_flags;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field};

pub use enricher::Enricher;

/// One enrichment, as the lake records it. `--enrich geo` stands for [`Country`](Self::Country)
/// and/or [`Asn`](Self::Asn), whichever MaxMind files are given.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Enrichment {
    /// `protocol_name`: IANA's keyword of `protocol`.
    Protocol,
    /// `tcp_flags_names`: the names of the bits of `tcp-flags`.
    TcpFlags,
    /// `src/dst_aws_service`, `src/dst_aws_region` (`--ip-ranges`).
    AwsService,
    /// `src/dst_country` (`--geoip-country`).
    Country,
    /// `src/dst_asn`, `src/dst_as_org` (`--geoip-asn`).
    Asn,
}

impl Enrichment {
    pub const ALL: [Enrichment; 5] = [
        Enrichment::Protocol,
        Enrichment::TcpFlags,
        Enrichment::AwsService,
        Enrichment::Country,
        Enrichment::Asn,
    ];

    /// How `--enrich` and the lake's settings name it.
    pub fn name(self) -> &'static str {
        match self {
            Enrichment::Protocol => "protocol",
            Enrichment::TcpFlags => "tcp-flags",
            Enrichment::AwsService => "aws-service",
            Enrichment::Country => "country",
            Enrichment::Asn => "asn",
        }
    }

    /// Its columns, in order, with their types (all nullable): its names in [`COLUMNS`].
    pub fn fields(self) -> Vec<Field> {
        let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
        let int64 = |name: &str| Field::new(name, DataType::Int64, true);
        match self {
            Enrichment::Protocol => vec![utf8(COLUMNS[0])],
            Enrichment::TcpFlags => vec![Field::new(COLUMNS[1], flag_list_type(), true)],
            Enrichment::AwsService => COLUMNS[2..6].iter().map(|c| utf8(c)).collect(),
            Enrichment::Country => COLUMNS[6..8].iter().map(|c| utf8(c)).collect(),
            Enrichment::Asn => vec![
                int64(COLUMNS[8]),
                int64(COLUMNS[9]),
                utf8(COLUMNS[10]),
                utf8(COLUMNS[11]),
            ],
        }
    }

    /// The field of the record it reads (a column of the lake), for a lake kind to say whether it has it.
    pub fn reads(self) -> &'static [&'static str] {
        match self {
            Enrichment::Protocol => &[PROTOCOL],
            Enrichment::TcpFlags => &[TCP_FLAGS],
            _ => &[SRCADDR, DSTADDR],
        }
    }
}

/// Column names the enrichments read.
pub const PROTOCOL: &str = "protocol";
pub const TCP_FLAGS: &str = "tcp_flags";
pub const SRCADDR: &str = "srcaddr";
pub const DSTADDR: &str = "dstaddr";
/// Columns they write whose names other code needs.
pub const PROTOCOL_NAME: &str = "protocol_name";
pub const TCP_FLAGS_NAMES: &str = "tcp_flags_names";

/// `tcp_flags_names`'s type: a list of strings whose element is named as Parquet's LIST spec names it.
pub fn flag_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
}

/// The enrichments of a lake (empty: none, the columns are AWS's alone).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EnrichSet(BTreeSet<Enrichment>);

impl EnrichSet {
    pub fn none() -> Self {
        EnrichSet::default()
    }

    pub fn of(items: impl IntoIterator<Item = Enrichment>) -> Self {
        EnrichSet(items.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, e: Enrichment) -> bool {
        self.0.contains(&e)
    }

    pub fn iter(&self) -> impl Iterator<Item = Enrichment> + '_ {
        self.0.iter().copied()
    }

    /// The columns appended after AWS's, in order.
    pub fn fields(&self) -> Vec<Field> {
        self.iter().flat_map(Enrichment::fields).collect()
    }

    /// `protocol,tcp-flags,...`, or `none`.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        self.iter()
            .map(Enrichment::name)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The set `--enrich TEXT` asks for: a comma-separated list of `protocol`, `tcp-flags`,
    /// `aws-service`, `geo` (the MaxMind files given: `country` with `--geoip-country`, `asn` with
    /// `--geoip-asn`), `country`, `asn`, `all` (every one whose data is given), or `none`.
    pub fn parse(text: &str, data: &Given) -> Result<EnrichSet, String> {
        let mut set = BTreeSet::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "none" => {}
                "protocol" => {
                    set.insert(Enrichment::Protocol);
                }
                "tcp-flags" => {
                    set.insert(Enrichment::TcpFlags);
                }
                "aws-service" => {
                    set.insert(Enrichment::AwsService);
                }
                "country" => {
                    set.insert(Enrichment::Country);
                }
                "asn" => {
                    set.insert(Enrichment::Asn);
                }
                "geo" => {
                    if !data.country && !data.asn {
                        return Err(
                            "--enrich geo needs --geoip-country and/or --geoip-asn (MaxMind DB files)"
                                .into(),
                        );
                    }
                    set.extend(data.country.then_some(Enrichment::Country));
                    set.extend(data.asn.then_some(Enrichment::Asn));
                }
                "all" => {
                    set.extend([Enrichment::Protocol, Enrichment::TcpFlags]);
                    set.extend(data.ip_ranges.then_some(Enrichment::AwsService));
                    set.extend(data.country.then_some(Enrichment::Country));
                    set.extend(data.asn.then_some(Enrichment::Asn));
                }
                other => {
                    return Err(format!(
                    "--enrich: unknown enrichment `{other}` (expected a comma-separated list of \
                         protocol, tcp-flags, aws-service, geo, country, asn, all, none)"
                ))
                }
            }
        }
        let set = EnrichSet(set);
        set.check(data)?;
        Ok(set)
    }

    /// Every enrichment has its data file and every data file given is used.
    pub fn check(&self, data: &Given) -> Result<(), String> {
        let needs = [
            (Enrichment::AwsService, data.ip_ranges, "--ip-ranges"),
            (Enrichment::Country, data.country, "--geoip-country"),
            (Enrichment::Asn, data.asn, "--geoip-asn"),
        ];
        for (e, given, flag) in needs {
            match (self.contains(e), given) {
                (true, false) => {
                    return Err(format!("--enrich {} needs {flag}", e.name()));
                }
                (false, true) => {
                    return Err(format!(
                        "{flag} is only read with --enrich {} (or geo, or all)",
                        e.name()
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Every column some enrichment writes, in the order of [`Enrichment::ALL`] and of each one's fields.
pub const COLUMNS: [&str; 12] = [
    PROTOCOL_NAME,
    TCP_FLAGS_NAMES,
    "src_aws_service",
    "dst_aws_service",
    "src_aws_region",
    "dst_aws_region",
    "src_country",
    "dst_country",
    "src_asn",
    "dst_asn",
    "src_as_org",
    "dst_as_org",
];

/// True when `name` is a column some enrichment writes.
pub fn is_enrichment_column(name: &str) -> bool {
    COLUMNS.contains(&name)
}

/// `batch` without the columns enrichments write (what is left is the record's own).
pub fn without_enrichment(batch: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !is_enrichment_column(f.name()))
        .map(|(i, _)| i)
        .collect();
    if keep.len() == batch.num_columns() {
        return batch.clone();
    }
    batch
        .project(&keep)
        .expect("indices of the batch's own columns")
}

/// Which data files a run was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    pub ip_ranges: bool,
    pub country: bool,
    pub asn: bool,
}

/// The data files an enrichment reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    /// AWS's `ip-ranges.json`.
    IpRanges,
    /// A MaxMind DB with countries (Country, City).
    GeoipCountry,
    /// A MaxMind DB with autonomous systems (ASN, ISP).
    GeoipAsn,
}

impl DataKind {
    /// The flag that names such a file.
    pub fn flag(self) -> &'static str {
        match self {
            DataKind::IpRanges => "--ip-ranges",
            DataKind::GeoipCountry => "--geoip-country",
            DataKind::GeoipAsn => "--geoip-asn",
        }
    }
}

/// The data file that enriched a partition, by its own version, as the partition's manifest entry
/// records it: a nightly run with a newer file enriches new partitions with it and leaves history
/// alone, and `verify` tells which partitions were enriched with which.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct DataVersion {
    pub data: DataKind,
    /// The file's name (the last part of its path or URL).
    pub file: String,
    /// Its own version: `ip-ranges.json`'s `syncToken`; a MaxMind DB's build epoch.
    pub version: String,
    /// When it was made: `ip-ranges.json`'s `createDate`; a MaxMind DB's build time (UTC) and type.
    pub made: String,
}

impl DataVersion {
    /// `ip-ranges.json 1784861225 (2026-07-24-02-47-05)`.
    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.file, self.version, self.made)
    }
}

/// A data file that cannot serve its enrichment.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {file}: {message}")]
pub struct DataError {
    pub flag: &'static str,
    pub file: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_DATA: Given = Given {
        ip_ranges: true,
        country: true,
        asn: true,
    };

    #[test]
    fn geo_stands_for_the_databases_given() {
        let country_only = Given {
            country: true,
            ..Given::default()
        };
        let set = EnrichSet::parse("protocol,geo", &country_only).unwrap();
        assert_eq!(set.describe(), "protocol,country");
        assert_eq!(
            EnrichSet::parse("all", &ALL_DATA).unwrap().describe(),
            "protocol,tcp-flags,aws-service,country,asn"
        );
        assert!(EnrichSet::parse("geo", &Given::default()).is_err());
    }

    #[test]
    fn an_enrichment_without_its_data_or_data_without_its_enrichment_is_refused() {
        let e = EnrichSet::parse("aws-service", &Given::default()).unwrap_err();
        assert!(e.contains("--ip-ranges"), "{e}");
        let e = EnrichSet::parse("protocol", &ALL_DATA).unwrap_err();
        assert!(e.contains("only read with"), "{e}");
        let e = EnrichSet::parse("protocols", &Given::default()).unwrap_err();
        assert!(e.contains("unknown enrichment `protocols`"), "{e}");
    }

    #[test]
    fn columns_in_order() {
        let set = EnrichSet::parse("all", &ALL_DATA).unwrap();
        let names: Vec<String> = set.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "protocol_name",
                "tcp_flags_names",
                "src_aws_service",
                "dst_aws_service",
                "src_aws_region",
                "dst_aws_region",
                "src_country",
                "dst_country",
                "src_asn",
                "dst_asn",
                "src_as_org",
                "dst_as_org"
            ]
        );
        assert_eq!(
            names, COLUMNS,
            "the list of every column is every enrichment's"
        );
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"["protocol","tcp-flags","aws-service","country","asn"]"#
        );
        assert_eq!(serde_json::from_str::<EnrichSet>(&json).unwrap(), set);
    }
}
