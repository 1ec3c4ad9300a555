//! Deliveries: which files a config makes, where AWS would put them, and writing each one.
//!
//! A [`Plan`] numbers the files (account × flow log × day × file of the day) so any file can be made
//! on its own, in parallel. For the S3 delivery, a file's key follows AWS's plain or Hive-compatible
//! layout, its name carries a fixed flow log id, the 5-minute slot and a hash, and it is written
//! gzipped (no timestamp in the gzip header) as `<name>.tmp`, then renamed. A Firehose delivery makes
//! one object of the same records per file (`firehose.rs` frames them), an export one object per
//! interface of them (`export.rs`), written the same way.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::export;
use super::firehose::{self, Object};
use super::formats::{flow_log_formats, LineLayout, LineWriter};
use super::records::{log_stream, Records};
use super::render::push_id;
use super::rng::{key, permute32, Rng, TAG_FILE, TAG_FLOW_LOG, TAG_NAME, TAG_OBJECT, TAG_TASK};
use super::traffic::{Traffic, SLOT_SECS};
use super::world::Account;
use super::{Delivery, GenFormat, GenerateConfig, GenerateReport};
use crate::date;

/// Number of 5-minute slots in a day.
const SLOTS_PER_DAY: u64 = 288;
/// Text is handed to the gzip encoder in chunks of about this size.
const WRITE_CHUNK: usize = 64 * 1024;
/// Buffer between the gzip encoder and the file.
const FILE_BUFFER: usize = 128 * 1024;

/// One file to write.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileJob {
    account: u32,
    flow_log: u32,
    /// Absolute day number (days since 1970-01-01).
    day: i64,
    /// Index of the file within its flow log and day.
    index: u32,
}

/// Validated config, each flow log's resolved format, and the derived file count.
pub(super) struct Plan<'a> {
    cfg: &'a GenerateConfig,
    first_day: i64,
    /// One layout per flow log of an account.
    layouts: Vec<LineLayout>,
    pub(super) total_files: u64,
}

impl<'a> Plan<'a> {
    pub(super) fn new(cfg: &'a GenerateConfig) -> io::Result<Self> {
        let (y, m, d) = cfg.start;
        if !date::is_valid_date(y, m, d) {
            return Err(invalid_input(format!(
                "invalid start date {y:04}-{m:02}-{d:02}"
            )));
        }
        if cfg.delivery.is_headerless() {
            if cfg.format == GenFormat::Mixed {
                return Err(invalid_input(
                    "a Firehose or export delivery takes one format (v2 or v5), not mixed: its \
                     records carry no header, and a convert run reads them with one --fields list"
                        .to_string(),
                ));
            }
            if cfg.hive || cfg.grain.is_hourly() {
                return Err(invalid_input(
                    "hive and hourly apply to the S3 delivery only: Firehose's keys are \
                     firehose/YYYY/MM/DD/HH/, an export's exportedlogs/<task>/<stream>/"
                        .to_string(),
                ));
            }
        }
        let layouts = flow_log_formats(cfg.format)
            .iter()
            .map(|&format| LineLayout::new(format))
            .collect::<io::Result<Vec<LineLayout>>>()?;
        let total_files = if cfg.enis == 0 {
            0
        } else {
            [cfg.days, cfg.files_per_day, layouts.len() as u32]
                .iter()
                .try_fold(u64::from(cfg.accounts), |acc, &n| {
                    acc.checked_mul(u64::from(n))
                })
                .ok_or_else(|| invalid_input("file count overflows u64".to_string()))?
        };
        Ok(Plan {
            cfg,
            first_day: date::days_from_civil(y, m, d),
            layouts,
            total_files,
        })
    }

    /// Decodes file number `i` (0 ≤ i < total_files) into its job.
    pub(super) fn job(&self, i: u64) -> FileJob {
        let per_day = u64::from(self.cfg.files_per_day);
        let days = u64::from(self.cfg.days);
        let flow_logs = self.layouts.len() as u64;
        let rest = i / per_day;
        let (day, rest) = (rest % days, rest / days);
        FileJob {
            index: (i % per_day) as u32,
            day: self.first_day + day as i64,
            flow_log: (rest % flow_logs) as u32,
            account: (rest / flow_logs) as u32,
        }
    }

    /// Unix time of the start of the file's 5-minute slot.
    fn slot_start(&self, job: &FileJob) -> i64 {
        let slot = u64::from(job.index) * SLOTS_PER_DAY / u64::from(self.cfg.files_per_day);
        job.day * date::SECS_PER_DAY + slot as i64 * SLOT_SECS
    }

    /// Key of the file relative to `out`, `/`-separated, exactly as AWS lays it out (for an export,
    /// which makes one object per log stream, its task's folder: see [`Plan::export_key`]).
    pub(super) fn key(&self, job: &FileJob) -> String {
        if self.cfg.delivery == Delivery::CloudWatchExport {
            return format!("{}{}/", export::PREFIX, self.export_task(job));
        }
        if self.cfg.delivery.is_firehose() {
            let uuid = firehose::uuid(&mut object_rng(self.cfg.seed, job));
            return firehose::key(self.cfg.delivery, self.slot_start(job), &uuid);
        }
        let account = Account::new(self.cfg.seed, job.account);
        let acct = account.id;
        let region = account.region.name;
        let slot_start = self.slot_start(job);
        let (y, mo, d, h) = date::unix_to_civil_hour(slot_start);
        let minute = slot_start.rem_euclid(date::SECS_PER_HOUR) / 60;
        // A Transit Gateway flow log is another flow log than the VPC ones of the account: generated
        // into the same folders, its files never take their names.
        let index = match self.cfg.format {
            GenFormat::Tgw => job.flow_log + TGW_FLOW_LOG,
            _ => job.flow_log,
        };
        let flow_log = flow_log_id(self.cfg.seed, job.account, index);
        let hash = file_hash(self.cfg.seed, job);
        let mut key = if self.cfg.hive {
            format!(
                "AWSLogs/aws-account-id={acct}/aws-service=vpcflowlogs/aws-region={region}/year={y:04}/month={mo:02}/day={d:02}/"
            )
        } else {
            format!("AWSLogs/{acct}/vpcflowlogs/{region}/{y:04}/{mo:02}/{d:02}/")
        };
        if self.cfg.grain.is_hourly() {
            key.push_str(&if self.cfg.hive {
                format!("hour={h:02}/")
            } else {
                format!("{h:02}/")
            });
        }
        key.push_str(&format!(
            "{acct}_vpcflowlogs_{region}_{flow_log}_{y:04}{mo:02}{d:02}T{h:02}{minute:02}Z_{hash:08x}.log.gz"
        ));
        key
    }

    /// The id of the export task of the job's flow log and day: a random uuid.
    fn export_task(&self, job: &FileJob) -> String {
        let mut rng = Rng::new(key(&[
            self.cfg.seed,
            TAG_TASK,
            job.account.into(),
            job.flow_log.into(),
            job.day as u64,
        ]));
        firehose::uuid(&mut rng)
    }

    /// Key of the job's export object of `log_stream`: in the task of the job's flow log and day,
    /// numbered by the job's index in the day.
    pub(super) fn export_key(&self, job: &FileJob, log_stream: &str) -> String {
        export::key(&self.export_task(job), log_stream, job.index)
    }

    /// Generates and writes one file (via `<name>.tmp` + rename), returning its totals.
    pub(super) fn write_file(&self, job: &FileJob) -> io::Result<GenerateReport> {
        if self.cfg.delivery == Delivery::CloudWatchExport {
            return self.write_export(job);
        }
        let firehose = self.cfg.delivery.is_firehose();
        write_atomically(&self.cfg.out.join(self.key(job)), |tmp| {
            if firehose {
                self.write_firehose(job, tmp)
            } else {
                self.write_gzip(job, tmp)
            }
        })
    }

    fn write_gzip(&self, job: &FileJob, path: &Path) -> io::Result<GenerateReport> {
        let layout = &self.layouts[job.flow_log as usize];
        let file = BufWriter::with_capacity(FILE_BUFFER, File::create(path)?);
        let mut gz = GzEncoder::new(file, Compression::default());
        let mut buf = Vec::with_capacity(WRITE_CHUNK + 1024);
        buf.extend_from_slice(layout.header().as_bytes());
        buf.push(b'\n');
        let mut text_bytes = 0u64;
        let account = Account::new(self.cfg.seed, job.account);
        let lines = LineWriter::new(layout, &account);
        let mut traffic = self.traffic(job, account);
        for _ in 0..self.cfg.lines_per_file {
            lines.write(&mut buf, &traffic.record());
            if buf.len() >= WRITE_CHUNK {
                gz.write_all(&buf)?;
                text_bytes = text_bytes.saturating_add(buf.len() as u64);
                buf.clear();
            }
        }
        gz.write_all(&buf)?;
        text_bytes = text_bytes.saturating_add(buf.len() as u64);
        let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        let gzip_bytes = file.metadata()?.len();
        Ok(GenerateReport {
            files: 1,
            lines: self.cfg.lines_per_file,
            text_bytes,
            gzip_bytes,
            control_messages: 0,
        })
    }

    /// The traffic of the job's file (its own random stream, its slot, its number of records).
    fn traffic(&self, job: &FileJob, account: Account) -> Traffic {
        Traffic::new(
            Rng::new(file_seed(self.cfg.seed, job)),
            account,
            self.cfg.enis.into(),
            self.slot_start(job),
            self.cfg.lines_per_file,
        )
    }

    /// The records of the job's file, as the S3 delivery's file holds them.
    fn records(&self, job: &FileJob) -> Records {
        let layout = &self.layouts[job.flow_log as usize];
        let account = Account::new(self.cfg.seed, job.account);
        let lines = LineWriter::new(layout, &account);
        let mut traffic = self.traffic(job, account);
        let mut records =
            Records::with_capacity(usize::try_from(self.cfg.lines_per_file).unwrap_or(0));
        for _ in 0..self.cfg.lines_per_file {
            let r = traffic.record();
            records.push(r.eni.id, r.start, |buf| lines.write(buf, &r));
        }
        records
    }

    /// Writes the file's records as one Firehose object of the config's delivery.
    fn write_firehose(&self, job: &FileJob, path: &Path) -> io::Result<GenerateReport> {
        let account = Account::new(self.cfg.seed, job.account);
        let owner = format!("{:012}", account.id);
        let slot_start = self.slot_start(job);
        let records = self.records(job);
        let obj = Object {
            delivery: self.cfg.delivery,
            owner: &owner,
            slot_start,
            // CloudWatch Logs checks the destination's health now and then: here in the first
            // object of each day of each flow log.
            control: job.index == 0,
        };
        // The uuid of the key comes first, then the event ids.
        let mut ids = object_rng(self.cfg.seed, job);
        firehose::uuid(&mut ids);
        let mut file = BufWriter::with_capacity(FILE_BUFFER, File::create(path)?);
        let written = if firehose::gzipped_by_firehose(self.cfg.delivery) {
            let mut gz = GzEncoder::new(file, Compression::default());
            let written = firehose::write_object(&obj, &records, &mut ids, &mut gz)?;
            file = gz.finish()?;
            written
        } else {
            firehose::write_object(&obj, &records, &mut ids, &mut file)?
        };
        let file = file.into_inner().map_err(|e| e.into_error())?;
        Ok(GenerateReport {
            files: 1,
            lines: self.cfg.lines_per_file,
            text_bytes: written.text_bytes,
            gzip_bytes: file.metadata()?.len(),
            control_messages: written.control_messages,
        })
    }

    /// Writes the file's records as export objects, one per interface (log stream), and the first
    /// job writes the export's permission probe.
    fn write_export(&self, job: &FileJob) -> io::Result<GenerateReport> {
        if (job.account, job.flow_log, job.day, job.index) == (0, 0, self.first_day, 0) {
            let probe = self.cfg.out.join(export::PREFIX).join(export::PROBE);
            write_atomically(&probe, |tmp| fs::write(tmp, export::PROBE_TEXT))?;
        }
        let records = self.records(job);
        let mut report = GenerateReport {
            lines: self.cfg.lines_per_file,
            ..GenerateReport::default()
        };
        for group in records.by_interface() {
            let path = self
                .cfg
                .out
                .join(self.export_key(job, &log_stream(records.eni(group[0]))));
            let (text_bytes, gzip_bytes) = write_atomically(&path, |tmp| {
                let file = BufWriter::with_capacity(FILE_BUFFER, File::create(tmp)?);
                let mut gz = GzEncoder::new(file, Compression::default());
                let text_bytes = export::write_object(&records, &group, &mut gz)?;
                let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
                Ok((text_bytes, file.metadata()?.len()))
            })?;
            report.files += 1;
            report.text_bytes = report.text_bytes.saturating_add(text_bytes);
            report.gzip_bytes = report.gzip_bytes.saturating_add(gzip_bytes);
        }
        Ok(report)
    }
}

/// Creates `path`'s folders, has `write` write `<path>.tmp`, then renames it to `path`; on an error
/// the temporary file is removed.
fn write_atomically<T>(path: &Path, write: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = tmp_path(path);
    match write(&tmp) {
        Ok(value) => {
            fs::rename(&tmp, path)?;
            Ok(value)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `<path>.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".tmp");
    PathBuf::from(s)
}

/// Where the flow log numbers of Transit Gateway flow logs start (the VPC ones count from 0).
const TGW_FLOW_LOG: u32 = 1 << 16;

/// `fl-` + 17 hex digits, fixed per (seed, account, flow log).
fn flow_log_id(seed: u64, account: u32, flow_log: u32) -> String {
    let mut id = Vec::new();
    push_id(
        &mut id,
        b"fl-",
        key(&[seed, TAG_FLOW_LOG, account.into(), flow_log.into()]),
    );
    String::from_utf8_lossy(&id).into_owned()
}

/// The 8-hex-digit hash of a file name: a keyed bijection of the file index, so files of the same
/// flow log and day never collide even when several share a 5-minute slot.
fn file_hash(seed: u64, job: &FileJob) -> u32 {
    let k = key(&[
        seed,
        TAG_NAME,
        job.account.into(),
        job.flow_log.into(),
        job.day as u64,
    ]);
    permute32(job.index ^ k as u32)
}

/// The PRNG of a Firehose object's uuid, then its event ids (apart from the records' PRNG, so the
/// records are those of the S3 delivery).
fn object_rng(seed: u64, job: &FileJob) -> Rng {
    Rng::new(key(&[
        seed,
        TAG_OBJECT,
        job.account.into(),
        job.flow_log.into(),
        job.day as u64,
        job.index.into(),
    ]))
}

/// Seed of the PRNG that draws the records of one file.
fn file_seed(seed: u64, job: &FileJob) -> u64 {
    key(&[
        seed,
        TAG_FILE,
        job.account.into(),
        job.flow_log.into(),
        job.day as u64,
        job.index.into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_log_ids_are_distinct() {
        assert_ne!(flow_log_id(1, 0, 0), flow_log_id(1, 0, 1));
        assert_ne!(flow_log_id(1, 0, 0), flow_log_id(1, 1, 0));
        assert_ne!(flow_log_id(1, 0, 0), flow_log_id(2, 0, 0));
    }
}
