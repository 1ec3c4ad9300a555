//! CloudWatch Logs exports: the records of an S3 text file as `CreateExportTask` writes them to S3
//! (README, "Inputs"; `input/envelope.rs` reads them).
//!
//! A flow log publishing to CloudWatch Logs has one log stream per network interface
//! (`eni-...-all`). One export task per flow log and day (its id a deterministic random uuid) writes
//! `exportedlogs/<task-id>/<log-stream>/NNNNNN.gz`: each file of the S3 delivery becomes one object
//! per interface it holds, numbered by the file's index in the day (so a stream's numbers skip where
//! its interface sent nothing in a slot). An object holds its records, in their order, as gzipped
//! lines `<event time, ISO-8601 UTC with milliseconds>Z <record>`, the event time being the record's
//! `start`. Every task first writes `exportedlogs/aws-logs-write-test` ("Permission Check
//! Successful"), CloudWatch Logs' check that it may write to the bucket: one such object in all.

use std::io::{self, Write};

use super::records::Records;
use crate::date;

/// The export's destination prefix (CloudWatch Logs' default).
pub(super) const PREFIX: &str = "exportedlogs/";
/// The permission probe's name, directly under the prefix.
pub(super) const PROBE: &str = "aws-logs-write-test";
/// The permission probe's content.
pub(super) const PROBE_TEXT: &str = "Permission Check Successful";

/// Key of object `index` of log stream `log_stream` in task `task`, relative to the output root.
pub(super) fn key(task: &str, log_stream: &str, index: u32) -> String {
    format!("{PREFIX}{task}/{log_stream}/{index:06}.gz")
}

/// Appends `secs` (Unix seconds) as an export line's time: `YYYY-MM-DDTHH:MM:SS.000Z`.
fn push_time(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(date::SECS_PER_DAY);
    let rest = secs.rem_euclid(date::SECS_PER_DAY);
    let (y, mo, d) = date::civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
}

/// Writes the lines of `records` listed in `group` (one interface's) to `out`; returns the bytes of
/// text written.
pub(super) fn write_object<W: Write>(
    records: &Records,
    group: &[usize],
    out: &mut W,
) -> io::Result<u64> {
    let text = records.text()?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut written = 0u64;
    for &i in group {
        push_time(&mut buf, records.start(i));
        buf.push(b' ');
        buf.extend_from_slice(text[records.line(i)].as_bytes());
        buf.push(b'\n');
        if buf.len() >= 60 * 1024 {
            out.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(written + buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_records_start_as_an_iso_time() {
        let mut records = Records::default();
        let t = date::days_from_civil(2024, 5, 1) * date::SECS_PER_DAY + 13 * 3600 + 5 * 60 + 11;
        records.push(7, t, |b| {
            b.extend_from_slice(b"2 123456789012 eni-a ACCEPT OK\n")
        });
        records.push(8, t + 1, |b| b.extend_from_slice(b"other"));
        records.push(7, t - 86_400, |b| {
            b.extend_from_slice(b"2 123456789012 eni-a - NODATA")
        });
        let mut out = Vec::new();
        let n = write_object(&records, &[0, 2], &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-01T13:05:11.000Z 2 123456789012 eni-a ACCEPT OK\n\
             2024-04-30T13:05:11.000Z 2 123456789012 eni-a - NODATA\n"
        );
        assert_eq!(
            key("0a1b", "eni-0123456789abcdef0-all", 7),
            "exportedlogs/0a1b/eni-0123456789abcdef0-all/000007.gz"
        );
    }
}
