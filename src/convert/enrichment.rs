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

/// Largest data file read (AWS's ip-ranges.json is about 2 MB; MaxMind's largest database, Enterprise,
/// under 2 GB).
pub const MAX_DATA_FILE_BYTES: u64 = 4 << 30;

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
    // Only a regular file, of a size a data file has: never a FIFO (whose open waits for a writer),
    // a device (`/dev/zero` never ends) or a folder.
    let size = if storage::is_local(path) {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Err(failed("not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(failed("no such file".into()))
            }
            Err(e) => return Err(failed(format!("cannot read it: {e}"))),
        }
    } else {
        match store.stat(path) {
            Ok(entry) => entry.size,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(failed("no such file".into()))
            }
            Err(e) => return Err(failed(format!("cannot read it: {e}"))),
        }
    };
    if size > MAX_DATA_FILE_BYTES {
        return Err(failed(format!(
            "{size} bytes, more than a data file of its kind has ({MAX_DATA_FILE_BYTES} at most)"
        )));
    }
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
