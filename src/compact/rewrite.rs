//! The rewrite of one chosen partition: its files read into the lake's schema, the rows (sorted when
//! `--sort-by` asks) written to staged files at the target size with the input each row came from,
//! and the staged files read back and checked against what was read.

use std::fs::File;
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

use super::fingerprint::Fingerprint;
use super::PartitionError;
use crate::error::Error;
use crate::lake::conform::to_lake_batch;
use crate::lake::dataset::{Dataset, ParquetFile, READ_BATCH_ROWS};
use crate::lake::is_part_file;
use crate::lake::ledger::rowmap::{Runs, NO_INPUT};
use crate::lake::ledger::Lake;
use crate::lake::write::{PartitionWriter, WriteSettings, Written};

/// How a compaction writes: the writer's properties and settings, and the lake's schema (the kind of
/// records it holds and its enrichment columns).
pub(super) struct Writing {
    pub props: Arc<WriterProperties>,
    pub settings: WriteSettings,
    pub schema: SchemaRef,
    /// The lake's files are OCSF's ([`PartitionWriter::ocsf`]: sorted by time).
    pub ocsf: bool,
}

/// Reads every file of the partition (in the order of `files`) into staged files at the target size
/// and checks that the staged files hold exactly what was read. `sources` (which
/// input each row came from, see `plan::sources_of`) follow the rows into the new files' order ([`Written::sources`]).
pub(super) fn rewrite(
    lake: &Lake,
    partition: &str,
    dataset: &Dataset,
    files: &[ParquetFile],
    sources: Option<&[(u32, u64)]>,
    writing: &Writing,
) -> Result<Written, PartitionError> {
    let mut runs = Runs::new(sources.unwrap_or_default());
    let schema = writing.schema.clone();
    let mut before = Fingerprint::new(&schema);
    let props = writing.props.clone();
    let writer = if writing.ocsf {
        PartitionWriter::ocsf(
            lake,
            partition.to_string(),
            props,
            writing.settings.clone(),
            None,
        )
    } else {
        PartitionWriter::new(
            lake,
            partition.to_string(),
            schema.clone(),
            props,
            writing.settings.clone(),
        )
    };
    let mut writer = writer.numbered_from(first_free_part(files));
    for f in files {
        let path = dataset.file(partition, &f.name);
        let reader = dataset
            .batches(partition, f)
            .map_err(|source| PartitionError::Open {
                path: path.clone(),
                source,
            })?;
        for batch in reader {
            let batch = batch.map_err(|source| PartitionError::Read {
                path: path.clone(),
                source,
            })?;
            let batch =
                to_lake_batch(&batch, &schema).map_err(|source| PartitionError::Conform {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            before.add(&batch);
            let mut of_rows = Vec::with_capacity(batch.num_rows());
            runs.take(batch.num_rows() as u64, |input, rows| {
                of_rows.extend(std::iter::repeat_n(
                    input.unwrap_or(NO_INPUT),
                    rows as usize,
                ));
            });
            writer.write_sourced(batch, UInt32Array::from(of_rows))?;
        }
    }
    let written = writer.finish()?;
    let after = read_back(lake, partition, &written, &schema)?;
    if let Some(column) = before.differs(&after) {
        return Err(PartitionError::Differs { column });
    }
    Ok(written)
}

/// The fingerprint of the staged files, read back from disk.
fn read_back(
    lake: &Lake,
    partition: &str,
    written: &Written,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<Fingerprint, Error> {
    let mut after = Fingerprint::new(schema);
    for f in &written.files {
        let path = lake.staged_file(partition, &f.name);
        let read_back = File::open(&path)
            .map_err(|e| Error::output(&path, e))
            .and_then(|file| {
                ParquetRecordBatchReaderBuilder::try_new(file)
                    .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
                    .map_err(|source| Error::Parquet {
                        path: path.clone(),
                        source,
                    })
            })?;
        for batch in read_back {
            after.add(&batch.map_err(Error::Arrow)?);
        }
    }
    Ok(after)
}

/// The index of the first part file `part-NNNNN.parquet` after every one among `files`: the names a
/// compaction gives its new files, so that they never replace a file of the partition under the same
/// name (which a swap cut short could not undo).
fn first_free_part(files: &[ParquetFile]) -> usize {
    files
        .iter()
        .filter(|f| is_part_file(&f.name))
        .filter_map(|f| {
            f.name
                .strip_prefix("part-")?
                .strip_suffix(".parquet")?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<ParquetFile> {
        names
            .iter()
            .map(|n| ParquetFile {
                name: n.to_string(),
                bytes: 1,
            })
            .collect()
    }

    #[test]
    fn new_files_are_numbered_after_every_part_file_of_the_partition() {
        assert_eq!(first_free_part(&[]), 0);
        assert_eq!(
            first_free_part(&files(&["part-00000.parquet", "part-00007.parquet"])),
            8
        );
        // AWS's own names do not count.
        assert_eq!(
            first_free_part(&files(&["x_20240101T0000Z_abcd.log.parquet"])),
            0
        );
    }
}
