//! Loading a run's enrichment data (`--enrich` with `--ip-ranges`, `--geoip-country`,
//! `--geoip-asn`) through storage, once, before any work: a file that cannot be read or is not what
//! its flag asks for stops the run with a usage error naming it.

use std::path::Path;
use std::sync::Arc;

use crate::convert::config::{ConvertConfig, EnrichConfig};
use crate::enrich::geoip::GeoDb;
use crate::enrich::ip_ranges::IpRanges;
use crate::enrich::{DataError, DataKind, Enricher};
use crate::error::{Error, Result};
use crate::storage::{self, S3Settings};

/// The run's enricher, `None` without `--enrich`.
pub fn load(cfg: &ConvertConfig) -> Result<Option<Arc<Enricher>>> {
    let e: &EnrichConfig = &cfg.enrich;
    if e.set.is_empty() {
        return Ok(None);
    }
    let settings = S3Settings {
        endpoint: cfg.endpoint.clone(),
    };
    let ip_ranges = match &e.ip_ranges {
        Some(at) => {
            let bytes = read(at, DataKind::IpRanges, &settings)?;
            Some(IpRanges::from_json(&file_name(at), &bytes).map_err(named(at))?)
        }
        None => None,
    };
    let geo = |at: &Option<String>, kind: DataKind| -> Result<Option<GeoDb>> {
        match at {
            Some(at) => {
                let bytes = read(at, kind, &settings)?;
                Ok(Some(
                    GeoDb::from_bytes(&file_name(at), bytes, kind).map_err(named(at))?,
                ))
            }
            None => Ok(None),
        }
    };
    let country = geo(&e.geoip_country, DataKind::GeoipCountry)?;
    let asn = geo(&e.geoip_asn, DataKind::GeoipAsn)?;
    Ok(Some(Arc::new(Enricher::new(
        e.set.clone(),
        ip_ranges,
        country,
        asn,
    ))))
}

/// The whole data file at `at` (a path, an `s3://` URL or an `http(s)://` URL).
fn read(at: &str, kind: DataKind, settings: &S3Settings) -> Result<Vec<u8>> {
    let failed = |message: String| {
        data_error(DataError {
            flag: kind.flag(),
            file: at.to_string(),
            message,
        })
    };
    if storage::http::is_url(at) {
        return storage::http::get(at).map_err(|e| failed(format!("cannot download it: {e}")));
    }
    let path = Path::new(at);
    let store = storage::open(&[path], settings)?;
    match store.get(path) {
        Ok(Some((bytes, _))) => Ok(bytes),
        Ok(None) => Err(failed("no such file".into())),
        Err(e) => Err(failed(format!("cannot read it: {e}"))),
    }
}

/// The last part of a path or URL, as the lake records the file.
fn file_name(at: &str) -> String {
    at.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(at)
        .to_string()
}

/// The error of the file at `at`, named as the user gave it.
fn named(at: &str) -> impl Fn(DataError) -> Error + '_ {
    move |e| {
        data_error(DataError {
            file: at.to_string(),
            ..e
        })
    }
}

fn data_error(e: DataError) -> Error {
    Error::DataFile(Box::new(e))
}
