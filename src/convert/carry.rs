//! Rows of vanished inputs carried over: an input an earlier build of a partition read that this
//! run's walk does not list is found again (moved, copied, still at its old path) or, when it is
//! gone, its rows are found in the partition's published files through the ledger's row runs and
//! copied into the rebuild (unless `--mirror-deletions` drops them), so a narrower input root or an
//! expired input never drops rows from the lake.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{BooleanArray, BooleanBufferBuilder, UInt32Array};
use arrow::compute::filter_record_batch;

use crate::convert::build::Building;
use crate::convert::plan::{Output, Survey};
use crate::convert::report::{Report, VanishedInput, Warning};
use crate::convert::Run;
use crate::enrich::without_enrichment;
use crate::error::{Error, Result};
use crate::input::discover::{compression_of, InputFile};
use crate::lake::conform::to_lake_batch;
use crate::lake::dataset::{Dataset, ParquetFile};
use crate::lake::ledger::rowmap::Runs;
use crate::lake::ledger::{self, InputRecord, PartitionEntry};
use crate::lake::ocsf;
use crate::lake::partition::{key_for_path, Grain, PartitionKey};
use crate::lake::schema::OutputSchema;
use crate::storage::Entry;
use crate::text::route::TimeSlot;

impl Survey<'_> {
    /// Settles the inputs an earlier run built this partition from that this run's walk did not list
    /// (a narrower input root must not drop rows from the lake): one still there is added to `files`;
    /// one that is gone is returned, to have its rows carried over from the lake (or, with
    /// `--mirror-deletions`, dropped), and reported; one whose existence cannot be checked is
    /// returned too (a failed check is never read as a deletion).
    ///
    /// An input is known by its path, or, for a tree moved, copied or re-synced elsewhere, by its
    /// identity (the path below its date folders) and size: a file elsewhere with the same identity
    /// and size is the same input when the old path is gone or holds the same bytes.
    pub(super) fn resolve_remembered(
        &self,
        files: &mut Vec<InputFile>,
        entry: &PartitionEntry,
        report: &mut Report,
    ) -> Vec<InputRecord> {
        let grain = self.cfg.partitioning.grain;
        let fallback = files
            .first()
            .map(|f| f.key.clone())
            .or_else(|| PartitionKey::from_path(&entry.partition, grain));
        let mut carried = Vec::new();
        let listed: HashSet<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        for rec in &entry.inputs {
            if listed.contains(&rec.path) {
                continue;
            }
            let twin = |size: u64| files.iter().find(|f| f.rel == rec.rel && f.size == size);
            match self.store.stat(&rec.path) {
                Ok(stat) => {
                    if let Some(twin) = twin(stat.size) {
                        let twin = Entry {
                            path: twin.path.clone(),
                            size: twin.size,
                            mtime: twin.mtime,
                            version: twin.version.clone(),
                        };
                        if self.store.same_content(&stat, &twin).unwrap_or(false) {
                            continue; // a copy of a listed file
                        }
                    }
                    if let Some(file) = still_there(rec, stat, fallback.as_ref(), grain) {
                        files.push(file);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if twin(rec.size).is_some() {
                        continue; // moved or re-synced: the listed twin is this input
                    }
                    let kept = !self.cfg.mirror_deletions;
                    report.vanished.push(VanishedInput {
                        path: rec.path.clone(),
                        partition: entry.partition.clone(),
                        rows: rec.rows,
                        kept,
                    });
                    if kept {
                        carried.push(InputRecord {
                            vanished: true,
                            ..rec.clone()
                        });
                    }
                }
                Err(e) => {
                    report.warnings.push(Warning {
                        path: rec.path.clone(),
                        message: format!(
                            "cannot tell whether this input of {} still exists ({e}): its rows stay \
                             as they are",
                            entry.partition
                        ),
                    });
                    carried.push(rec.clone());
                }
            }
        }
        carried
    }

    /// Which carried input each row of the partition's published files belongs to (see
    /// [`Output::carried_runs`]), from the ledger's row runs of its entry; `Err` says why the rows
    /// cannot be found.
    pub(super) fn carried_runs(
        &self,
        entry: &PartitionEntry,
        carried: &[InputRecord],
        published: &[(String, u64)],
    ) -> std::result::Result<Vec<(Option<usize>, u64)>, Untraceable> {
        if published != entry.output_files() {
            return Err(Untraceable::Files);
        }
        if carried.iter().any(|r| r.rows.is_none()) {
            return Err(Untraceable::Rows(ledger::RowRunsError::NoRowCounts));
        }
        let runs = self.manifest.row_runs(entry)?;
        let carried_index = |path: &Path| carried.iter().position(|r| r.path == path);
        Ok(runs
            .into_iter()
            .map(|(input, rows)| {
                let who = entry
                    .inputs
                    .get(input as usize)
                    .and_then(|r| carried_index(&r.path));
                (who, rows)
            })
            .collect())
    }
}

impl Run<'_> {
    /// Hands the rows of the partition's carried inputs, read from its published files, to its
    /// writer (before any row read now), each as rows of its own input.
    pub(super) fn carry_over(&self, output: &Output, building: &mut Building<'_>) -> Result<()> {
        if output.carried.is_empty() {
            return Ok(());
        }
        let partition = output.path.as_str();
        let ids: Vec<u32> = output
            .carried
            .iter()
            .map(|r| building.source(&r.path))
            .collect();
        let mut copied = vec![0u64; output.carried.len()];
        let dataset = Dataset::open(self.store.clone(), &self.cfg.out)?;
        let ocsf = self.cfg.schema == OutputSchema::Ocsf;
        let schema = if ocsf {
            ocsf::schema()
        } else {
            self.cfg.parse.record_kind.schema()
        };
        let mut runs = Runs::new(&output.carried_runs);
        for out in &output.before {
            // Only the files that hold carried rows are read.
            let mut ahead = runs.clone();
            let mut wanted = false;
            ahead.take(out.rows, |who, _| wanted |= who.flatten().is_some());
            if !wanted {
                runs = ahead;
                continue;
            }
            let file = ParquetFile {
                name: out.name.clone(),
                bytes: out.bytes,
            };
            let path = dataset.file(partition, &out.name);
            let lake_err = |message: String| Error::Lake {
                path: path.clone(),
                message: format!("carrying over the rows of vanished inputs: {message}"),
            };
            let reader = dataset
                .batches(partition, &file)
                .map_err(|e| lake_err(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| lake_err(e.to_string()))?;
                // The derived columns are derived again, with this run's data (as the rest of the
                // partition's rows are).
                let batch = if ocsf {
                    batch
                } else {
                    without_enrichment(&batch)
                };
                let batch = to_lake_batch(&batch, &schema).map_err(|e| lake_err(e.to_string()))?;
                let batch = match &self.enricher {
                    Some(e) if !ocsf => e.enrich(&batch, &self.schema)?,
                    _ => batch,
                };
                let mut keep = BooleanBufferBuilder::new(batch.num_rows());
                let mut sources: Vec<u32> = Vec::new();
                runs.take(batch.num_rows() as u64, |who, rows| {
                    let who = who.flatten();
                    keep.append_n(rows as usize, who.is_some());
                    if let Some(i) = who {
                        sources.extend(std::iter::repeat_n(ids[i], rows as usize));
                        copied[i] += rows;
                    }
                });
                if sources.is_empty() {
                    continue;
                }
                let kept = filter_record_batch(&batch, &BooleanArray::new(keep.finish(), None))?;
                building.carried_rows += kept.num_rows() as u64;
                building
                    .writer
                    .write_sourced(kept, UInt32Array::from(sources))?;
            }
        }
        for (r, copied) in output.carried.iter().zip(copied) {
            if copied != r.rows.unwrap_or(0) {
                return Err(Error::Accounting {
                    what: format!(
                        "{} (rows of a vanished input carried over in {partition})",
                        r.path.display()
                    ),
                    lines: r.rows.unwrap_or(0),
                    rows: copied,
                    rejected: 0,
                });
            }
        }
        building.carried = output
            .carried
            .iter()
            .map(|r| InputRecord {
                first_row: None,
                ..r.clone()
            })
            .collect();
        Ok(())
    }
}

/// Why the rows of a partition's vanished inputs cannot be found in its files.
#[derive(Debug, thiserror::Error)]
pub(super) enum Untraceable {
    #[error("its Parquet files are not the ones its manifest entry lists")]
    Files,
    #[error(transparent)]
    Rows(#[from] ledger::RowRunsError),
}

/// An input an entry remembers, found at its old path (`stat`) though the walk did not list it: the
/// file to read, keyed by its own date or else the partition's (`fallback`); `None` for a name that
/// is not an input's.
fn still_there(
    rec: &InputRecord,
    stat: Entry,
    fallback: Option<&PartitionKey>,
    grain: Grain,
) -> Option<InputFile> {
    let name = rec.path.file_name().unwrap_or_default().to_string_lossy();
    let dated = key_for_path(&rec.path, grain);
    // An input with no date of its own keeps only this partition's records.
    let undated = match (&dated, fallback) {
        (None, Some(key)) => Some(match rec.feeds.as_deref() {
            Some(feeds) => feeds.iter().map(|&i| TimeSlot::new(grain, i)).collect(),
            None => Arc::from([TimeSlot::of_key(key, grain)]),
        }),
        _ => None,
    };
    let key = dated.or_else(|| fallback.cloned())?;
    Some(InputFile {
        path: stat.path,
        rel: rec.rel.clone(),
        size: stat.size,
        mtime: stat.mtime,
        version: stat.version,
        compression: compression_of(&name)?,
        key,
        undated,
    })
}
