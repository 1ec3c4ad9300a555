//! Paths as data: stored losslessly in the manifest (a name that is not UTF-8 keeps its bytes), shown
//! lossily in reports (which are for people and JSON readers, and must never fail to print).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serializer};

/// Serializes a path for a report: its text, with bytes that are not UTF-8 replaced by U+FFFD.
pub fn lossy<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// [`lossy`] for an optional path.
pub fn lossy_opt<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

/// Lossless serde for a path in a stored record: a UTF-8 path is its text; any other is
/// `{"bytes": [..]}` (Unix) so it reads back as the same path.
pub mod lossless {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Bytes { bytes: Vec<u8> },
    }

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        use serde::Serialize;
        match path.to_str() {
            Some(text) => s.serialize_str(text),
            None => Stored::Bytes {
                bytes: bytes_of(path),
            }
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Stored::deserialize(d)? {
            Stored::Text(text) => PathBuf::from(text),
            Stored::Bytes { bytes } => path_of(bytes),
        })
    }

    #[cfg(unix)]
    fn bytes_of(path: &Path) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }

    #[cfg(not(unix))]
    fn bytes_of(path: &Path) -> Vec<u8> {
        path.to_string_lossy().into_owned().into_bytes()
    }

    #[cfg(unix)]
    fn path_of(bytes: Vec<u8>) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }

    #[cfg(not(unix))]
    fn path_of(bytes: Vec<u8>) -> PathBuf {
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// [`lossless`] for a list of paths (a plan's input roots).
pub mod lossless_all {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored(#[serde(with = "super::lossless")] PathBuf);

    pub fn serialize<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(paths.len()))?;
        for path in paths {
            seq.serialize_element(&Stored(path.clone()))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        let stored: Vec<Stored> = Vec::deserialize(d)?;
        Ok(stored.into_iter().map(|Stored(p)| p).collect())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Record {
        #[serde(with = "lossless")]
        path: PathBuf,
    }

    #[test]
    fn paths_that_are_not_utf8_round_trip() {
        for raw in [
            &b"/in/2024/01/01/a.log.gz"[..],
            b"/in/\xff\xfe/2024/01/01/x\x80.log.gz",
        ] {
            let r = Record {
                path: PathBuf::from(std::ffi::OsStr::from_bytes(raw)),
            };
            let json = serde_json::to_string(&r).unwrap();
            let back: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(back, r, "{json}");
        }
        let text = serde_json::to_string(&Record {
            path: "/a/b".into(),
        })
        .unwrap();
        assert_eq!(text, r#"{"path":"/a/b"}"#, "UTF-8 paths stay plain strings");
    }
}
