//! MaxMind DB files (GeoIP2 / GeoLite2, or any database of the same shape): the country of an address
//! (`country.iso_code` of a Country or City database) and its autonomous system
//! (`autonomous_system_number` and `_organization` of an ASN or ISP database).

use std::net::IpAddr;

use maxminddb::{geoip2, Reader};

use crate::enrich::{DataError, DataKind, DataVersion};

/// An address's autonomous system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutonomousSystem {
    pub number: Option<u32>,
    pub organization: Option<String>,
}

/// One MaxMind DB, checked to hold what its flag asks for.
pub struct GeoDb {
    reader: Reader<Vec<u8>>,
    kind: DataKind,
    version: DataVersion,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish()
    }
}

/// Addresses the check at load time looks up (any answer, or none, is fine; an error is not).
const PROBES: [&str; 2] = ["81.2.69.142", "2a02:cf40::"];

impl GeoDb {
    /// Opens the bytes of `file` as the database `kind` (`GeoipCountry` or `GeoipAsn`).
    pub fn from_bytes(file: &str, bytes: Vec<u8>, kind: DataKind) -> Result<GeoDb, DataError> {
        let err = |message: String| DataError {
            flag: kind.flag(),
            file: file.to_string(),
            message,
        };
        let reader =
            Reader::from_source(bytes).map_err(|e| err(format!("not a MaxMind DB file: {e}")))?;
        let meta = reader.metadata();
        let kind_of = meta.database_type.to_ascii_lowercase();
        let fits = match kind {
            DataKind::GeoipCountry => ["country", "city", "enterprise"]
                .iter()
                .any(|w| kind_of.contains(w)),
            DataKind::GeoipAsn => ["asn", "isp", "enterprise"]
                .iter()
                .any(|w| kind_of.contains(w)),
            DataKind::IpRanges => false,
        };
        if !fits {
            return Err(err(format!(
                "a {} database holds no {}; {} needs {}",
                meta.database_type,
                match kind {
                    DataKind::GeoipAsn => "autonomous systems",
                    _ => "countries",
                },
                kind.flag(),
                match kind {
                    DataKind::GeoipAsn => "a GeoLite2-ASN or GeoIP2-ISP database",
                    _ => "a GeoIP2/GeoLite2 Country or City database",
                }
            )));
        }
        let built = utc(meta.build_epoch);
        let version = DataVersion {
            data: kind,
            file: file.to_string(),
            version: meta.build_epoch.to_string(),
            made: format!("{} {built}", meta.database_type),
        };
        let db = GeoDb {
            reader,
            kind,
            version,
        };
        // An IPv4 database answers no IPv6 lookup (those rows get NULL): it is probed with IPv4 only.
        let ipv4_only = db.reader.metadata().ip_version == 4;
        for probe in PROBES {
            let ip: IpAddr = probe.parse().expect("a valid probe address");
            if ipv4_only && ip.is_ipv6() {
                continue;
            }
            let answer = match kind {
                DataKind::GeoipAsn => db.try_asn(ip).map(|_| ()),
                _ => db.try_country(ip).map(|_| ()),
            };
            answer.map_err(|e| err(format!("looking up {probe}: {e}")))?;
        }
        Ok(db)
    }

    pub fn version(&self) -> &DataVersion {
        &self.version
    }

    /// The ISO 3166 alpha-2 code of the country an address is in, when the database knows it.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        self.try_country(ip).ok().flatten()
    }

    /// The autonomous system of an address, when the database knows it.
    pub fn asn(&self, ip: IpAddr) -> AutonomousSystem {
        self.try_asn(ip).ok().flatten().unwrap_or_default()
    }

    fn try_country(&self, ip: IpAddr) -> Result<Option<String>, maxminddb::MaxMindDbError> {
        let found = self.reader.lookup(ip)?;
        // Only the code is decoded (a record's names in every language are not).
        found.decode_path::<String>(&maxminddb::path!["country", "iso_code"])
    }

    fn try_asn(&self, ip: IpAddr) -> Result<Option<AutonomousSystem>, maxminddb::MaxMindDbError> {
        let found = self.reader.lookup(ip)?;
        Ok(found.decode::<geoip2::Asn>()?.map(|a| AutonomousSystem {
            number: a.autonomous_system_number,
            organization: a.autonomous_system_organization.map(str::to_string),
        }))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
fn utc(epoch: u64) -> String {
    let secs = i64::try_from(epoch).unwrap_or(0);
    let (y, m, d) = crate::date::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}
