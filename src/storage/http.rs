//! One object read whole from an `http://` or `https://` URL (a data file such as AWS's
//! `ip-ranges.json`), through object_store's HTTP client.

use std::io;

use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStoreExt};

/// True when `location` is an `http://` or `https://` URL.
pub fn is_url(location: &str) -> bool {
    let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The bytes at `url` (a GET; redirects followed). A status other than success is an error whose
/// message names it.
pub fn get(url: &str) -> io::Result<Vec<u8>> {
    let (base, name) = match url.rfind('/') {
        Some(i) if i > url.find("://").map_or(0, |s| s + 2) => (&url[..i], &url[i + 1..]),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{url} names no file"),
            ))
        }
    };
    let store = HttpBuilder::new()
        .with_url(base)
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()
        .map_err(io::Error::other)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let path = ObjectPath::from_url_path(name).map_err(io::Error::other)?;
    runtime.block_on(async {
        let result = store.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => {
                io::Error::new(io::ErrorKind::NotFound, format!("{url}: not found"))
            }
            other => io::Error::other(other),
        })?;
        let bytes = result.bytes().await.map_err(io::Error::other)?;
        Ok(bytes.to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("https://ip-ranges.amazonaws.com/ip-ranges.json"));
        assert!(is_url("HTTP://127.0.0.1:8080/x.json"));
        assert!(!is_url("s3://bucket/ip-ranges.json"));
        assert!(!is_url("/data/ip-ranges.json"));
        assert!(!is_url("http"));
    }
}
