//! The lock of an S3 lake: an object that only one run can create, kept alive by a heartbeat.
//!
//! `_flowlake/lock` for a whole-lake run, `_flowlake/locks/shard-K-of-N` for a shard. It is created with
//! a conditional PUT (only if absent) and rewritten every `stale_after / 4` by a background thread with
//! a PUT conditional on the ETag of the last write, so exactly one run owns it. A lock whose heartbeat
//! is older than `stale_after` (default 120 s, `FLOWLAKE_S3_LOCK_STALE_SECS`) belongs to a run that died
//! and is taken over, again with a conditional PUT. A run that cannot prove it still owns its lock (no
//! successful heartbeat for `3/4 stale_after`, or another run took it over) stops before its next upload,
//! delete or manifest write ([`S3Lock::check`]). On release the lock is deleted only if it still holds
//! this run's token.
//!
//! A shard that finds its own lock held waits up to `stale_after` for it to go stale (a retried task
//! usually starts while its killed predecessor's lock still looks alive), then gives up.
//!
//! Runs exclude each other as on a local disk: a whole-lake run excludes every shard, and shards
//! exclude shards of a different count N (only shards of one N split the partitions disjointly).
//!
//! The lock object is read and written through the lake's [`Store`], whose conditional writes are S3's
//! conditional PUTs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::locks::{Held, LockFile, LockScope, MEMBER_LOCKS};
use crate::error::{Error, Result};
use crate::storage::s3::S3Url;
use crate::storage::{is_conflict, Expect, Hidden, Store, Version};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Body {
    holder: String,
    /// Unique per run: tells this run's own writes from another's.
    #[serde(default)]
    token: String,
    heartbeat: u64,
    /// The group of a member lock (see [`LockScope::Member`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

/// A held S3 lake lock; released on drop.
#[derive(Debug)]
pub(super) struct S3Lock {
    store: Arc<dyn Store>,
    /// The lock object's `s3://` URL.
    url: PathBuf,
    token: String,
    /// Milliseconds since the epoch of the last successful write of the lock.
    last_ok: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Body {
    /// Whether a member's lock is in the group of `count` (its group is written as the count's
    /// decimal text); `None` for a lock that names no group. A group that is not a count (no run
    /// writes one) is another group.
    fn in_group(&self, count: u32) -> Option<bool> {
        let group = self.group.as_deref()?;
        Some(group.parse::<u32>().is_ok_and(|g| g == count))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds without a heartbeat after which a lock is abandoned.
pub(super) fn stale_after() -> u64 {
    std::env::var("FLOWLAKE_S3_LOCK_STALE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&s| s >= 1)
        .unwrap_or(120)
}

fn fresh(body: &Body) -> bool {
    (now_ms() / 1000).saturating_sub(body.heartbeat) <= stale_after()
}

fn encode(holder: &str, token: &str, group: Option<&str>) -> Vec<u8> {
    let body = Body {
        holder: holder.to_string(),
        token: token.to_string(),
        group: group.map(String::from),
        heartbeat: now_ms() / 1000,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The ETag of a version (`None` where the store gave none).
fn tag_of(version: Version) -> Option<String> {
    match version {
        Version::Tag(tag) => Some(tag),
        Version::Absent | Version::Untracked => None,
    }
}

/// A write conditional on the ETag last seen: only if absent when there is none.
fn replacing(tag: Option<String>) -> Expect {
    Expect::Version(tag.map_or(Version::Absent, Version::Tag))
}

impl Held for S3Lock {
    fn check(&self) -> Result<()> {
        S3Lock::check(self)
    }
}

impl S3Lock {
    /// Takes the lock of the lake whose bookkeeping prefix is `meta` for `holder`.
    pub(super) fn take(
        store: Arc<dyn Store>,
        meta: &S3Url,
        holder: &str,
        token: &str,
        scope: LockScope,
        lake: &Path,
    ) -> Result<S3Lock> {
        let url = meta.join(&LockFile::of(scope).path()).to_path();
        let group = match scope {
            LockScope::Whole => None,
            LockScope::Member { count, .. } => Some(count.to_string()),
        };
        let group = group.as_deref();
        let err = |e: io::Error| Error::output(&url, e);
        let locked = |holder: String| Error::Locked {
            lake: lake.to_path_buf(),
            holder,
        };
        let read = |u: &Path| -> Result<Option<(Option<Body>, Option<String>)>> {
            match store.get(u) {
                Ok(Some((bytes, version))) => {
                    Ok(Some((serde_json::from_slice(&bytes).ok(), tag_of(version))))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(Error::output(u, e)),
            }
        };
        let mut tag = None;
        // A shard's own lock held by a live-looking run is most likely its killed predecessor (a
        // scheduler retrying the task): wait for that lock to go stale rather than fail every retry.
        let wait_until = std::time::Instant::now() + Duration::from_secs(stale_after() + 5);
        let mut attempts = 0;
        while attempts < 3 {
            attempts += 1;
            match store.put(&url, &encode(holder, token, group), replacing(None)) {
                Ok(v) => {
                    tag = Some(tag_of(v));
                    break;
                }
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(err(e)),
            }
            match read(&url)? {
                None => continue, // released meanwhile: try to create it again
                Some((Some(body), _)) if fresh(&body) => {
                    if scope == LockScope::Whole || std::time::Instant::now() >= wait_until {
                        return Err(locked(body.holder));
                    }
                    std::thread::sleep(Duration::from_secs(2));
                    attempts -= 1;
                    continue;
                }
                Some((_, Some(old))) => {
                    // Abandoned (or unreadable): take it over, conditionally on the version seen.
                    match store.put(&url, &encode(holder, token, group), replacing(Some(old))) {
                        Ok(v) => {
                            tag = Some(tag_of(v));
                            break;
                        }
                        Err(e) if is_conflict(&e) => continue,
                        Err(e) => return Err(err(e)),
                    }
                }
                Some((_, None)) => {
                    return Err(locked(
                        "an unreadable lock object (the store gives no ETag to take it over)"
                            .into(),
                    ))
                }
            }
        }
        let Some(tag) = tag else {
            return Err(locked("other runs competing for the same lock".into()));
        };
        let lock = S3Lock::start(store.clone(), url.clone(), holder, token, group, tag);
        // Runs that must not overlap with this one: a whole-lake run excludes every shard; a shard
        // excludes whole-lake runs and shards of another count.
        let mut others = vec![meta.join(&LockFile::Lake.path()).to_path()];
        others.extend(
            store
                .list_below(&meta.join(MEMBER_LOCKS).to_path(), Hidden::Include)
                .map_err(err)?
                .into_iter()
                .map(|o| o.path),
        );
        for other in others {
            if other == url {
                continue;
            }
            // Whether `other` excludes this run, from its name where the name tells (a whole-lake
            // lock; a member's lock, which names its group), else from its body: only locks that may
            // conflict are read.
            let other_url = other.to_string_lossy();
            let name = other_url.rsplit('/').next().unwrap_or_default();
            let by_name = match (scope, LockFile::parse(name)) {
                (LockScope::Whole, _) | (_, Some(LockFile::Lake)) => Some(true),
                (LockScope::Member { count, .. }, Some(LockFile::Member { count: other, .. })) => {
                    Some(other != count)
                }
                (LockScope::Member { .. }, _) => None,
            };
            if by_name == Some(false) {
                continue;
            }
            let Some((Some(body), _)) = read(&other)? else {
                continue;
            };
            let conflicting = by_name.unwrap_or_else(|| match scope {
                LockScope::Whole => true,
                LockScope::Member { count, .. } => body.in_group(count) == Some(false),
            });
            if conflicting && fresh(&body) {
                return Err(locked(body.holder)); // dropping `lock` releases ours
            }
        }
        Ok(lock)
    }

    fn start(
        store: Arc<dyn Store>,
        url: PathBuf,
        holder: &str,
        token: &str,
        group: Option<&str>,
        tag: Option<String>,
    ) -> S3Lock {
        let tag = Arc::new(Mutex::new(tag));
        let last_ok = Arc::new(AtomicU64::new(now_ms()));
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        let interval = Duration::from_millis(stale_after() * 1000 / 4);
        let thread = {
            let (store, url, tag, last_ok, stop, lost) = (
                store.clone(),
                url.clone(),
                tag.clone(),
                last_ok.clone(),
                stop.clone(),
                lost.clone(),
            );
            let (holder, token) = (holder.to_string(), token.to_string());
            let group = group.map(String::from);
            std::thread::spawn(move || {
                let mut last = std::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() < interval {
                        continue;
                    }
                    last = std::time::Instant::now();
                    let expected = tag.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    match store.put(
                        &url,
                        &encode(&holder, &token, group.as_deref()),
                        replacing(expected),
                    ) {
                        Ok(new) => {
                            *tag.lock().unwrap_or_else(|p| p.into_inner()) = tag_of(new);
                            last_ok.store(now_ms(), Ordering::Relaxed);
                        }
                        Err(e) if is_conflict(&e) => {
                            // Our own earlier write may have landed after a timeout: adopt it if the
                            // lock still holds our token; otherwise another run took it over.
                            match store.get(&url) {
                                Ok(Some((bytes, new)))
                                    if serde_json::from_slice::<Body>(&bytes)
                                        .is_ok_and(|b| b.token == token) =>
                                {
                                    *tag.lock().unwrap_or_else(|p| p.into_inner()) = tag_of(new);
                                }
                                Ok(_) => {
                                    lost.store(true, Ordering::Relaxed);
                                    return;
                                }
                                Err(_) => {}
                            }
                        }
                        Err(_) => {} // transient: `check` fails if this goes on too long
                    }
                }
            })
        };
        S3Lock {
            store,
            url,
            token: token.to_string(),
            last_ok,
            stop,
            lost,
            thread: Some(thread),
        }
    }

    /// Fails unless this run still owns the lock: called before every upload, delete and manifest write.
    pub(super) fn check(&self) -> Result<()> {
        let silent_ms = now_ms().saturating_sub(self.last_ok.load(Ordering::Relaxed));
        let lost = self.lost.load(Ordering::Relaxed);
        if lost || silent_ms > stale_after() * 1000 * 3 / 4 {
            return Err(Error::Locked {
                lake: self.url.clone(),
                holder: if lost {
                    "another run, which took over this run's lock".into()
                } else {
                    format!(
                        "nobody for sure: this run could not renew its lock for {} s, so another run \
                         may take it over; stopping before writing more",
                        silent_ms / 1000
                    )
                },
            });
        }
        Ok(())
    }
}

/// The holders of the live locks of the S3 lake whose bookkeeping prefix is `meta` (`_flowlake/lock`
/// and `_flowlake/locks/*`), found by reading them, never writing (for `verify`, which may run with
/// read-only access). A lock is live when its heartbeat is at most `stale_after` old, the rule runs
/// apply before taking a lock over; an unreadable lock object is not live (a run would take it over).
pub(super) fn live_holders(store: &dyn Store, meta: &S3Url) -> Result<Vec<String>> {
    let read_err = |u: &Path, e: io::Error| Error::Lake {
        path: u.to_path_buf(),
        message: format!("cannot tell whether a run is writing the lake: {e}"),
    };
    let locks = meta.join(MEMBER_LOCKS).to_path();
    let mut urls = vec![meta.join(&LockFile::Lake.path()).to_path()];
    urls.extend(
        store
            .list_below(&locks, Hidden::Include)
            .map_err(|e| read_err(&locks, e))?
            .into_iter()
            .map(|o| o.path),
    );
    let mut holders = Vec::new();
    for url in urls {
        match store.get(&url) {
            Ok(Some((bytes, _))) => {
                if let Ok(body) = serde_json::from_slice::<Body>(&bytes) {
                    if fresh(&body) {
                        holders.push(body.holder);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => return Err(read_err(&url, e)),
        }
    }
    Ok(holders)
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Delete only our own lock (S3 has no conditional delete: check the token first).
        if let Ok(Some((bytes, _))) = self.store.get(&self.url) {
            if serde_json::from_slice::<Body>(&bytes).is_ok_and(|b| b.token == self.token) {
                let _ = self.store.delete(&self.url);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_body_names_its_group_by_count() {
        let body = |group: Option<&str>| Body {
            holder: "h".into(),
            token: "t".into(),
            heartbeat: 0,
            group: group.map(String::from),
        };
        assert_eq!(body(Some("7")).in_group(7), Some(true));
        assert_eq!(body(Some("7")).in_group(4), Some(false));
        assert_eq!(body(Some("x")).in_group(7), Some(false));
        assert_eq!(body(None).in_group(7), None);
        let written: Body = serde_json::from_slice(&encode("h", "t", Some("7"))).unwrap();
        assert_eq!(written.group.as_deref(), Some("7"));
    }
}
